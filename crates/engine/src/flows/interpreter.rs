//! Running a flow file's steps over one event: conditions, mappings, the action, each step
//! memoized by its idempotency key through [`RunContext::step`].

use std::sync::atomic::{AtomicU32, Ordering};

use paybridge_model::FailureKind;
use serde_json::{Map, Value, json};

use crate::Engine;
use crate::error::StepError;
use crate::flows::catalogue::{Action, Call};
use crate::flows::definition::{Definition, OnFailure, Step};
use crate::mapping::{Context, MappingError};
use crate::runtime::{Attempt, RunContext, card_number_in};
use crate::store::InboxEvent;

/// A run's outputs (the flow's `outputs:`), kept as a step of the run under `key` when the
/// run is finished, in the same write.
#[derive(Debug)]
pub struct Outputs {
    pub key: String,
    pub value: Value,
}

/// Runs `flow` for `event`; what it gives is the run's outputs, if the flow has any.
pub async fn execute(
    flow: &Definition,
    ctx: &RunContext<'_>,
    event: &InboxEvent,
) -> Result<Option<Outputs>, StepError> {
    let engine = ctx.engine;
    if ctx.run_id.is_some() {
        // Which version ran is part of the run's history (and what a replay can ask for): its
        // text is kept once, and the run notes the version with its outcome.
        engine.record_flow_version(flow).await?;
    }
    let trigger = event_view(engine, event).await?;
    let mut context = base_context(flow, engine, event, ctx.run_id, &trigger);
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
            None => format!("flow:{}:event:{}:{}", flow.name, event.id, step.name),
        };
        let attempt = AtomicU32::new(0);
        let once = Attempt {
            number: 1,
            uncertain: false,
        };
        let call = |attempt| Call {
            engine,
            run_id: ctx.run_id,
            step: &step.name,
            attempt,
            key: &key,
            event,
            trigger: &trigger,
        };
        let result = if !step.action.has_effect() {
            step.action.execute(&call(once), input).await
        } else if step.action.records_its_own_step() {
            ctx.own_step(&step.name, &key, input, |input| async {
                step.action.execute(&call(once), input).await
            })
            .await
        } else {
            ctx.step(&step.name, &key, input, |a, input| {
                attempt.store(a.number, Ordering::Relaxed);
                let call = call(a);
                let action = step.action;
                async move { action.execute(&call, input).await }
            })
            .await
        };
        let output = match result {
            Ok(output) => output,
            Err(mut error) => {
                error.step = Some(step.name.clone());
                if error.kind.is_retryable()
                    && step
                        .retries
                        .is_some_and(|limit| attempt.load(Ordering::Relaxed) >= limit)
                {
                    error.message = format!(
                        "{} (gave up after {} attempts of this step)",
                        error.message,
                        attempt.load(Ordering::Relaxed)
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
        if step.action == Action::Branch
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
    let key = format!("flow:{}:event:{}:outputs", flow.name, event.id);
    let value = Value::Object(values);
    if let Some(error) = card_number_in(&value, "outputs", |at| {
        format!("refused to store step {key}: it holds a card number (at {at})")
    }) {
        return Err(error);
    }
    Ok(Some(Outputs { key, value }))
}

/// What mappings see as `event`. Order API events carry the order and, once Cybersource has
/// answered, the payment's outcome.
pub async fn event_view(engine: &Engine, event: &InboxEvent) -> Result<Value, StepError> {
    let mut view = event.payload.clone();
    if event.source != "order-api" {
        return Ok(view);
    }
    let Some(order_id) = view.get("order_id").and_then(Value::as_str) else {
        return Ok(view);
    };
    let record = engine.store.order(order_id).await?.ok_or_else(|| {
        StepError::permanent("engine", format!("order {order_id} is not in the store"))
    })?;
    // Decision Manager's verdict and the tokens, from the payment step's stored result.
    let payment_step = engine
        .store
        .step(&crate::payments::payment_step_key(&record.reference))
        .await?;
    let output = payment_step.as_ref().and_then(|step| step.output.as_ref());
    let risk = output
        .and_then(|output| output.get("risk").cloned())
        .filter(|risk| !risk.is_null())
        .unwrap_or_else(|| json!({}));
    // Made by the payment (`save_card`), or the TMS customer the storefront paid with.
    let tokens = output
        .and_then(|output| output.get("tokens").cloned())
        .filter(|tokens| !tokens.is_null())
        .or_else(|| {
            let paid_with = &payment_step.as_ref()?.input.as_ref()?["payment"];
            let customer = paid_with["tms_customer"].as_str()?;
            Some(json!({
                "customer_id": customer,
                "payment_instrument_id": paid_with["payment_instrument"],
                "instrument_identifier_id": null,
            }))
        })
        .unwrap_or(Value::Null);
    let amount = paybridge_model::Currency::from_code(&record.currency)
        .map(|c| paybridge_model::Money::from_minor(record.amount_minor, c).to_decimal_string())
        .ok();
    if let Value::Object(fields) = &mut view {
        fields.insert("status".into(), json!(record.status.as_str()));
        fields.insert(
            "zoho".into(),
            json!({
                "contact_id": record.zoho_contact_id,
                "invoice_id": record.zoho_invoice_id,
                "payment_id": record.zoho_payment_id,
            }),
        );
        fields.insert(
            "payment".into(),
            json!({
                "transaction_id": record.payment_id,
                "status": record.payment_status,
                "reason": record.decline_reason,
                "message": record.status_detail,
                "amount": amount,
                "currency": record.currency,
                "risk": risk,
                "tokens": tokens,
            }),
        );
    }
    Ok(view)
}

/// The variables every step of a run sees, besides `steps`.
pub fn base_context(
    flow: &Definition,
    engine: &Engine,
    event: &InboxEvent,
    run_id: Option<i64>,
    trigger: &Value,
) -> Context {
    let mut context = flow.mapper.context();
    context.set("event", trigger);
    let now_ms = engine.clock.now_ms();
    context.set(
        "run",
        &json!({
            "flow": flow.name,
            "version": flow.version,
            "id": run_id,
            "event_id": event.id,
            "event_type": event.event_type,
            "now_ms": now_ms,
            "today": engine.clock.today_in(&engine.connectors.books_time_zone),
            "connected": engine.connectors.connected(),
            "books": {
                "organization_id": engine.connectors.books.organization_id(),
                "currency": engine.connectors.books_currency.code(),
                "time_zone": engine.connectors.books_time_zone,
            },
        }),
    );
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

/// The order a flow file's run is about (order API events), which becomes `sync_failed` when
/// the run is dead-lettered while the order is still `approved`.
pub fn order_of(event: &InboxEvent) -> Option<&str> {
    if event.source != "order-api" {
        return None;
    }
    event.payload.get("order_id").and_then(Value::as_str)
}

/// A Unix-milliseconds time as RFC 3339 (UTC).
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}
