//! Reading an action's mapped fields.

use paybridge_flows::ActionSpec;
use paybridge_model::StepError;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The mapped fields read as what `action` takes (unknown fields refused).
pub(crate) fn read<T: DeserializeOwned>(action: &ActionSpec, input: Value) -> Result<T, StepError> {
    paybridge_flows::control::read(action, input)
}

/// A text field taken out of the mapped fields (for the fields an action sends apart from the
/// record: a path segment, a header), if it is there.
pub(crate) fn take_text(input: &mut Value, name: &str) -> Option<String> {
    input
        .as_object_mut()
        .and_then(|fields| fields.remove(name))
        .and_then(|v| match v {
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .filter(|v| !v.trim().is_empty())
}

/// [`take_text`], required.
pub(crate) fn take_required(
    action: &ActionSpec,
    input: &mut Value,
    name: &str,
) -> Result<String, StepError> {
    take_text(input, name)
        .ok_or_else(|| StepError::permanent("engine", format!("{action} needs `{name}`")))
}

/// A short stable id for a step key (Desk custom fields are short; callback delivery ids):
/// the key's SHA-256, 32 hex digits.
pub(crate) fn short_id(key: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(key.as_bytes())[..16])
}
