//! Running a flow file's steps over one event: conditions, mappings, the language's own actions
//! here, and every other action handed to the [`Host`] — which runs it exactly once per
//! idempotency key. The interpreter knows no vendor and no store.

use std::future::Future;

use paybridge_model::{FailureKind, StepError};
use serde_json::{Map, Value, json};

use crate::control;
use crate::definition::{Definition, OnFailure, Step};
use crate::mapping::{Context, MappingError};
use crate::spec::ActionSpec;

/// A run's outputs (the flow's `outputs:`), kept as a step of the run under `key` when the
/// run is finished, in the same write.
#[derive(Debug)]
pub struct Outputs {
    pub key: String,
    pub value: Value,
}

/// The run a flow executes for, as mappings see it (`run.…`, `event`).
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    /// `None` outside a run (a preview).
    pub id: Option<i64>,
    pub event_id: i64,
    pub event_type: &'a str,
    /// What mappings see as `event` (for an order: its payment's outcome too).
    pub event: &'a Value,
}

/// One step's call of an action with an effect.
#[derive(Debug, Clone, Copy)]
pub struct StepCall<'a> {
    /// The step's name in its flow.
    pub step: &'a str,
    pub action: &'static ActionSpec,
    /// The step's idempotency key.
    pub key: &'a str,
}

/// What the interpreter runs on: it does what steps with an effect ask, each once per key.
pub trait Host: Sync {
    /// The facts a run takes from where it runs, under `run` (besides the flow's name and
    /// version and the run's ids): `now_ms`, `today`, `connected`, `books`.
    fn run_facts(&self) -> Map<String, Value>;

    /// Does `call`'s action with the step's mapped `input` — once per key: a step that
    /// succeeded before returns its stored result — and says how many attempts the step has
    /// had, this one included (for its `on_error.retries`).
    fn act(
        &self,
        call: StepCall<'_>,
        input: Value,
    ) -> impl Future<Output = (Result<Value, StepError>, u32)> + Send;
}

/// Runs `flow` for `run`'s event on `host`; what it gives is the run's outputs, if the flow has
/// any.
pub async fn execute<H: Host>(
    flow: &Definition,
    host: &H,
    run: &Run<'_>,
) -> Result<Option<Outputs>, StepError> {
    let mut context = base_context(flow, run, host.run_facts());
    // Each step's output joins `steps` as it comes (converted once, not the whole map per step).
    context.set("steps", &json!({}));
    let mut index = 0;
    while let Some(step) = flow.steps.get(index) {
        index += 1;
        if let Some(when) = &step.when {
            let go = flow
                .mapper
                .eval_condition(when, &context)
                .map_err(|e| mapping_failed(step, "when", e))?;
            if !go {
                context.insert("steps", &step.name, &json!({"skipped": true}));
                continue;
            }
        }
        let input = step
            .map_fields(&flow.mapper, &context)
            .map_err(|(field, e)| mapping_failed(step, &field, e))?;
        let key = match &step.key {
            Some(key) => match flow
                .mapper
                .eval(key, &context)
                .map_err(|e| mapping_failed(step, "key", e))?
            {
                Value::String(key) if !key.trim().is_empty() => key,
                other => {
                    return Err(step_error(
                        step,
                        format!("the key must be a non-empty text, not {other}"),
                    ));
                }
            },
            None => format!("flow:{}:event:{}:{}", flow.name, run.event_id, step.name),
        };
        let (result, attempts) = if step.action.has_effect() {
            let call = StepCall {
                step: &step.name,
                action: step.action,
                key: &key,
            };
            host.act(call, input).await
        } else {
            (control::execute(step.action, input), 1)
        };
        let output = match result {
            Ok(output) => output,
            Err(mut error) => {
                error.step = Some(step.name.clone());
                if error.kind.is_retryable() && step.retries.is_some_and(|limit| attempts >= limit)
                {
                    error.message = format!(
                        "{} (gave up after {} attempts of this step)",
                        error.message, attempts
                    );
                    error.kind = FailureKind::Permanent;
                }
                if error.kind.is_retryable() {
                    return Err(error);
                }
                match &step.on_failure {
                    OnFailure::Fail => return Err(error),
                    OnFailure::Continue => {}
                    OnFailure::GoTo(target) => {
                        index = flow
                            .steps
                            .iter()
                            .position(|s| &s.name == target)
                            .unwrap_or(flow.steps.len());
                    }
                }
                tracing::warn!(step = %step.name, %error, "step failed; the flow goes on as its on_error says");
                json!({"error": error.message, "failed": true})
            }
        };
        if std::ptr::eq(step.action, &control::BRANCH)
            && let Some(to) = output["to"].as_str().filter(|to| !to.is_empty())
        {
            // Only forward: a flow never loops.
            match flow.steps.iter().position(|s| s.name == to) {
                Some(at) if at >= index => index = at,
                Some(_) => {
                    return Err(step_error(
                        step,
                        format!("branch to {to:?}: a branch goes only to a later step"),
                    ));
                }
                None => {
                    return Err(step_error(
                        step,
                        format!("branch to {to:?}: there is no such step"),
                    ));
                }
            }
        }
        context.insert("steps", &step.name, &output);
    }
    if flow.outputs.is_empty() {
        return Ok(None);
    }
    let mut values = Map::new();
    for (name, expression) in &flow.outputs {
        let value = flow
            .mapper
            .eval(expression, &context)
            .map_err(|e| StepError::permanent("engine", format!("output `{name}`: {e}")))?;
        values.insert(name.clone(), value);
    }
    let key = format!("flow:{}:event:{}:outputs", flow.name, run.event_id);
    let value = Value::Object(values);
    let pans = paybridge_model::pan::find_in_json(&value);
    if !pans.is_empty() {
        let mut error = StepError::permanent(
            "engine",
            format!(
                "refused to store step {key}: it holds a card number (at {})",
                pans.join(", ")
            ),
        );
        error.step = Some("outputs".into());
        return Err(error);
    }
    Ok(Some(Outputs { key, value }))
}

/// The variables every step of a run sees, besides `steps`.
pub fn base_context(flow: &Definition, run: &Run<'_>, facts: Map<String, Value>) -> Context {
    let mut context = flow.mapper.context();
    context.set("event", run.event);
    let mut values = json!({
        "flow": flow.name,
        "version": flow.version,
        "id": run.id,
        "event_id": run.event_id,
        "event_type": run.event_type,
    });
    if let Value::Object(fields) = &mut values {
        fields.extend(facts);
    }
    context.set("run", &values);
    context
}

fn mapping_failed(step: &Step, field: &str, error: MappingError) -> StepError {
    step_error(step, format!("field `{field}`: {error}"))
}

fn step_error(step: &Step, message: String) -> StepError {
    let mut error = StepError::permanent("mapping", format!("step `{}`, {message}", step.name));
    error.step = Some(step.name.clone());
    error
}

/// A Unix-milliseconds time as RFC 3339 (UTC).
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}
