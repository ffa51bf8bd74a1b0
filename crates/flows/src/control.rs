//! The language's own actions, which call nobody: `map` (shape data for later steps), `check`
//! (stop the run unless a condition holds), `branch` (go on at a later step) and `lookup` (a
//! key in a table or an earlier output).

use paybridge_model::StepError;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::spec::{ActionSpec, Effect, Recovery, Type, opt, out, req};

pub static MAP: ActionSpec = ActionSpec {
    name: "map",
    summary: "no call; the mapped fields become the step's output",
    fields: None,
    outputs: &[],
    effect: Effect::None,
    recovery: Recovery::NotNeeded,
};

pub static CHECK: ActionSpec = ActionSpec {
    name: "check",
    summary: "no call; stops the run with `message` unless `that` is true (`message` is read only then)",
    fields: Some(&[req("that"), req("message")]),
    outputs: &[out("ok", Type::Boolean)],
    effect: Effect::None,
    recovery: Recovery::NotNeeded,
};

pub static BRANCH: ActionSpec = ActionSpec {
    name: "branch",
    summary: "no call; goes on at the later step named by `to` (the next when empty)",
    fields: Some(&[opt("to")]),
    outputs: &[out("to", Type::Text)],
    effect: Effect::None,
    recovery: Recovery::NotNeeded,
};

pub static LOOKUP: ActionSpec = ActionSpec {
    name: "lookup",
    summary: "no call; `key` looked up in the object `in` (a table, an output), else `default`",
    fields: Some(&[req("in"), req("key"), opt("default")]),
    outputs: &[out("value", Type::Any), out("found", Type::Boolean)],
    effect: Effect::None,
    recovery: Recovery::NotNeeded,
};

/// The language's own actions.
pub static ACTIONS: &[&ActionSpec] = &[&MAP, &CHECK, &BRANCH, &LOOKUP];

/// Runs one of the language's own actions on its mapped fields.
pub fn execute(action: &ActionSpec, input: Value) -> Result<Value, StepError> {
    match action.name {
        "map" => Ok(input),
        "branch" => {
            let Branch { to } = read(action, input)?;
            Ok(json!({"to": to.unwrap_or_default().trim()}))
        }
        "lookup" => {
            let Lookup {
                within,
                key,
                default,
            } = read(action, input)?;
            let key = match key {
                Value::String(s) => s,
                other => other.to_string(),
            };
            Ok(match within.get(&key).filter(|v| !v.is_null()) {
                Some(value) => json!({"value": value, "found": true}),
                None => json!({"value": default, "found": false}),
            })
        }
        "check" => {
            let Check { that, message } = read(action, input)?;
            if that {
                Ok(json!({"ok": true}))
            } else {
                Err(StepError::permanent("flow", message))
            }
        }
        other => Err(StepError::permanent(
            "engine",
            format!("{other} is not one of the language's own actions"),
        )),
    }
}

/// The mapped fields read as what `action` takes (unknown fields refused).
pub fn read<T: DeserializeOwned>(action: &ActionSpec, input: Value) -> Result<T, StepError> {
    serde_json::from_value(input).map_err(|e| {
        StepError::permanent(
            "engine",
            format!("the mapped fields do not fit {action}: {e}"),
        )
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Branch {
    #[serde(default)]
    to: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Lookup {
    #[serde(rename = "in")]
    within: serde_json::Map<String, Value>,
    key: Value,
    #[serde(default)]
    default: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Check {
    that: bool,
    /// Read only when `that` is false.
    #[serde(default)]
    message: String,
}
