//! A flow run on paper: every step's conditions and mappings evaluated over a sample event,
//! showing the request each action would make — and calling nobody, writing nothing.
//! `paybridge flows test` and the console's mapping editor show this.

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::definition::Definition;

/// One step as it would run.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StepPreview {
    pub name: String,
    pub action: &'static str,
    /// Its `when` was false.
    pub skipped: bool,
    /// The mapped fields: the request the action would make.
    pub request: Option<Value>,
    /// What the step's output is taken to be for the steps after it.
    pub output: Option<Value>,
    /// Why a condition or a mapping failed.
    pub error: Option<String>,
    /// A condition or mapping that needs a real output of an earlier step to be judged.
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Preview {
    pub flow: String,
    pub version: String,
    pub steps: Vec<StepPreview>,
    pub outputs: Map<String, Value>,
    /// Whether every condition and mapping evaluated.
    pub ok: bool,
}

/// What `run` holds in a preview: the facts a real run takes from the engine.
pub fn run_facts(flow: &Definition, connected: &Value, books_currency: &str) -> Value {
    let now = jiff::Timestamp::now();
    json!({
        "flow": flow.name,
        "version": flow.version,
        "id": null,
        "event_id": 0,
        "event_type": flow.events.first(),
        "now_ms": now.as_millisecond(),
        "today": now.to_zoned(jiff::tz::TimeZone::UTC).date().to_string(),
        "connected": connected,
        "books": {"organization_id": "<organization_id>", "currency": books_currency},
    })
}

/// Evaluates `flow` over `event`. An action's output is taken from `samples` (by step name)
/// or stood in for by placeholders (`"<steps.invoice.invoice_id>"`), so later mappings can be
/// read through.
pub fn preview(
    flow: &Definition,
    event: &Value,
    run: &Value,
    samples: &Map<String, Value>,
) -> Preview {
    let mut context = flow.mapper.context();
    context.set("event", event);
    context.set("run", run);
    let mut outputs = Map::new();
    let mut steps = Vec::new();
    let mut ok = true;
    for step in &flow.steps {
        context.set("steps", &Value::Object(outputs.clone()));
        let mut shown = StepPreview {
            name: step.name.clone(),
            action: step.action.name,
            skipped: false,
            request: None,
            output: None,
            error: None,
            note: None,
        };
        // A failure caused by a placeholder is not the mapping's fault.
        let mut failed = |shown: &mut StepPreview, message: String| {
            if message.contains("<steps.") {
                shown.note = Some(format!(
                    "{message} — this depends on what an earlier step returns; give sample outputs to judge it"
                ));
            } else {
                shown.error = Some(message);
                ok = false;
            }
        };
        if let Some(when) = &step.when {
            match flow.mapper.eval_condition(when, &context) {
                Ok(true) => {}
                Ok(false) => {
                    shown.skipped = true;
                    outputs.insert(step.name.clone(), json!({"skipped": true}));
                    steps.push(shown);
                    continue;
                }
                Err(e) => {
                    failed(&mut shown, format!("field `when`: {e}"));
                    steps.push(shown);
                    continue;
                }
            }
        }
        match step
            .map_fields(&flow.mapper, &context)
            .map_err(|(field, e)| format!("field `{field}`: {e}"))
        {
            Ok(request) => {
                let output = if let Some(sample) = samples.get(&step.name) {
                    sample.clone()
                } else if step.action.has_effect() {
                    let mut placeholder = Map::new();
                    for field in step.action.outputs {
                        placeholder.insert(
                            field.name.to_string(),
                            Value::String(format!("<steps.{}.{}>", step.name, field.name)),
                        );
                    }
                    Value::Object(placeholder)
                } else if step.action.name == "check" {
                    if request.get("that") != Some(&Value::Bool(true)) {
                        failed(
                            &mut shown,
                            format!(
                                "the check would stop the run: {}",
                                request
                                    .get("message")
                                    .and_then(Value::as_str)
                                    .unwrap_or("(no message)")
                            ),
                        );
                    }
                    json!({"ok": true})
                } else {
                    request.clone()
                };
                outputs.insert(step.name.clone(), output.clone());
                shown.request = Some(request);
                shown.output = Some(output);
            }
            Err(e) => failed(&mut shown, e),
        }
        steps.push(shown);
    }
    context.set("steps", &Value::Object(outputs));
    let mut values = Map::new();
    for (name, expression) in &flow.outputs {
        let value = flow.mapper.eval(expression, &context).unwrap_or_else(|e| {
            ok = false;
            json!({"error": e.to_string()})
        });
        values.insert(name.clone(), value);
    }
    Preview {
        flow: flow.name.clone(),
        version: flow.version.clone(),
        steps,
        outputs: values,
        ok,
    }
}
