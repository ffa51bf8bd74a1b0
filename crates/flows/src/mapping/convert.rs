//! JSON in and out of the mapping sandbox, without binary floats: a JSON number with a fraction
//! becomes a decimal, a decimal leaves as a JSON string (the way amounts travel on the wire).

use std::str::FromStr;

use rhai::{Array, Dynamic, Map};
use rust_decimal::Decimal;

/// A JSON value as a rhai value.
pub fn to_dynamic(value: &serde_json::Value) -> Dynamic {
    match value {
        serde_json::Value::Null => Dynamic::UNIT,
        serde_json::Value::Bool(b) => Dynamic::from_bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            // Through the number's text: `102.21` stays 102.21.
            None => Decimal::from_str(&n.to_string())
                .or_else(|_| Decimal::from_scientific(&n.to_string()))
                .map(Dynamic::from_decimal)
                .unwrap_or_else(|_| Dynamic::from(n.to_string())),
        },
        serde_json::Value::String(s) => Dynamic::from(s.clone()),
        serde_json::Value::Array(items) => {
            Dynamic::from_array(items.iter().map(to_dynamic).collect::<Array>())
        }
        serde_json::Value::Object(fields) => {
            let mut map = Map::new();
            for (key, value) in fields {
                map.insert(key.as_str().into(), to_dynamic(value));
            }
            Dynamic::from_map(map)
        }
    }
}

/// A rhai value as JSON; decimals become strings.
pub fn from_dynamic(value: &Dynamic) -> Result<serde_json::Value, String> {
    if value.is_unit() {
        return Ok(serde_json::Value::Null);
    }
    if let Ok(b) = value.as_bool() {
        return Ok(serde_json::Value::Bool(b));
    }
    if let Ok(i) = value.as_int() {
        return Ok(serde_json::Value::from(i));
    }
    if let Ok(d) = value.as_decimal() {
        return Ok(serde_json::Value::String(d.to_string()));
    }
    if let Ok(c) = value.as_char() {
        return Ok(serde_json::Value::String(c.to_string()));
    }
    if value.is_string() {
        let text = value
            .clone()
            .into_immutable_string()
            .map_err(|e| e.to_string())?;
        return Ok(serde_json::Value::String(text.to_string()));
    }
    if value.is_array() {
        let items = value.clone().into_array().map_err(|e| e.to_string())?;
        return items
            .iter()
            .map(from_dynamic)
            .collect::<Result<Vec<_>, _>>()
            .map(serde_json::Value::Array);
    }
    if value.is_map() {
        let map = value.as_map_ref().map_err(|e| e.to_string())?;
        let mut object = serde_json::Map::new();
        for (key, value) in map.iter() {
            object.insert(key.to_string(), from_dynamic(value)?);
        }
        return Ok(serde_json::Value::Object(object));
    }
    Err(format!(
        "a value of type {} has no JSON form",
        value.type_name()
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_round_trips_with_fractions_as_decimal_strings() {
        let value = json!({"a": 1, "b": [true, null, "x"], "c": {"d": 102.21}});
        assert_eq!(
            from_dynamic(&to_dynamic(&value)).unwrap(),
            json!({"a": 1, "b": [true, null, "x"], "c": {"d": "102.21"}})
        );
    }
}
