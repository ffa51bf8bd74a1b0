//! Amounts and quantities as Zoho's JSON numbers, exactly: written in their shortest form (`1`,
//! not `1.0`; `102.21`), read back through their decimal text, never through binary
//! arithmetic. Use as `#[serde(with = "crate::number")]` (or `crate::number::option`).

use std::str::FromStr as _;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive as _;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The JSON number for an amount: an integer when it is whole, else the shortest decimal.
pub(crate) fn to_json(amount: Decimal) -> serde_json::Number {
    let normalized = amount.normalize();
    if normalized.scale() == 0
        && let Some(whole) = normalized.to_i64()
    {
        return serde_json::Number::from(whole);
    }
    normalized
        .to_f64()
        .and_then(serde_json::Number::from_f64)
        .unwrap_or_else(|| serde_json::Number::from(0))
}

pub fn serialize<S: Serializer>(amount: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
    to_json(*amount).serialize(serializer)
}

struct AmountVisitor;

impl Visitor<'_> for AmountVisitor {
    type Value = Decimal;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an amount (a JSON number or a numeric string)")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal, E> {
        // `f64`'s Display is the shortest text that reads back as the same number: `102.21`.
        let text = v.to_string();
        Decimal::from_str(&text)
            .or_else(|_| Decimal::from_scientific(&text))
            .map_err(|_| E::custom(format!("{v} is not an amount")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
        let v = v.trim();
        Decimal::from_str(v)
            .or_else(|_| Decimal::from_scientific(v))
            .map_err(|_| E::custom(format!("{v:?} is not an amount")))
    }
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    deserializer.deserialize_any(AmountVisitor)
}

/// The same for optional amounts (absent, `null` or `""` read as `None`).
pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(
        amount: &Option<Decimal>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match amount {
            Some(amount) => super::to_json(*amount).serialize(serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Decimal>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Amount(#[serde(with = "super")] Decimal),
            Other(serde_json::Value),
        }
        match Option::<Raw>::deserialize(deserializer)? {
            Some(Raw::Amount(amount)) => Ok(Some(amount)),
            Some(Raw::Other(serde_json::Value::Null)) | None => Ok(None),
            Some(Raw::Other(serde_json::Value::String(s))) if s.trim().is_empty() => Ok(None),
            Some(Raw::Other(other)) => Err(de::Error::custom(format!("{other} is not an amount"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Line {
        #[serde(with = "crate::number")]
        rate: Decimal,
        #[serde(default, with = "crate::number::option")]
        discount: Option<Decimal>,
    }

    #[test]
    fn whole_amounts_are_integers_and_reads_are_exact() {
        let line = Line {
            rate: Decimal::new(100, 2),
            discount: Some(Decimal::new(10221, 2)),
        };
        assert_eq!(
            serde_json::to_string(&line).unwrap(),
            r#"{"rate":1,"discount":102.21}"#
        );
        let read: Line = serde_json::from_str(r#"{"rate":0.1,"discount":"3.30"}"#).unwrap();
        assert_eq!(read.rate, Decimal::new(1, 1));
        assert_eq!(read.discount, Some(Decimal::new(330, 2)));
        let read: Line = serde_json::from_str(r#"{"rate":7,"discount":null}"#).unwrap();
        assert_eq!((read.rate, read.discount), (Decimal::new(7, 0), None));
        let read: Line = serde_json::from_str(r#"{"rate":1e2,"discount":""}"#).unwrap();
        assert_eq!((read.rate, read.discount), (Decimal::new(100, 0), None));
        assert!(serde_json::from_str::<Line>(r#"{"rate":"ten"}"#).is_err());
    }
}
