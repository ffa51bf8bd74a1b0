//! The functions every mapping can call, besides rhai's own string, array and map methods.
//!
//! | function | gives |
//! |---|---|
//! | `dec(x)` | `x` (text, integer or decimal) as a decimal |
//! | `money(x, "JPY")` | `x` rounded half away from zero to the currency's minor units |
//! | `minor_units("KWD")` | 3 |
//! | `convert(amount, rate, "USD")` | `amount × rate` as money in the target currency |
//! | `status_map("table", value)` | `value` looked up in a flow table or a built-in status table; an error if absent |
//! | `lookup(map_or_table, key, default)` | the entry, or `default` |
//! | `default_to(x, fallback)` | `x`, or `fallback` when `x` is missing or empty |
//! | `split_address(text)` / `split_address(text, width)` | `#{line1, line2}` from a one-line address |
//! | `join(array, separator)` | the non-empty entries joined |
//! | `reasons(codes)` | Cybersource reason codes merged into one readable sentence |
//! | `reason_text(code)` | one reason code in words |
//! | `date_in_tz(timestamp, "Europe/Berlin")` | `yyyy-mm-dd` of an epoch-milliseconds or RFC 3339 timestamp in a time zone |
//! | `last4(text)` / `mask(text)` | the last four digits / `**** 1111` |
//! | `s.trim()`, `s.to_lower()`, `s.to_upper()` | a new string (rhai's own change `s` in place) |

use std::str::FromStr;
use std::sync::Arc;

use paybridge_model::{Currency, Money};
use rhai::{Array, Dynamic, Engine, EvalAltResult, INT, ImmutableString, Map};
use rust_decimal::Decimal;

use super::{Tables, convert};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

pub(super) fn register(engine: &mut Engine, tables: Arc<Tables>) {
    // rhai's own `trim`, `to_lower` and `to_upper` change a string in place and return
    // nothing, which cannot work on the (constant) event; mappings get the pure kind.
    engine.register_fn("trim", |s: ImmutableString| s.trim().to_string());
    engine.register_fn("to_lower", |s: ImmutableString| s.to_lowercase());
    engine.register_fn("to_upper", |s: ImmutableString| s.to_uppercase());
    engine.register_fn("dec", decimal);
    engine.register_fn("money", money);
    engine.register_fn("minor_units", |code: &str| -> Result<INT> {
        Ok(INT::from(currency(code)?.minor_units()))
    });
    engine.register_fn(
        "convert",
        |amount: Dynamic, rate: Dynamic, to: &str| -> Result<Decimal> {
            let (amount, rate) = (decimal(amount)?, decimal(rate)?);
            let converted = amount
                .checked_mul(rate)
                .ok_or_else(|| format!("convert: {amount} × {rate} is out of range"))?;
            Ok(Money::rounded(converted, currency(to)?).amount())
        },
    );
    let for_status = tables.clone();
    engine.register_fn(
        "status_map",
        move |table: &str, value: Dynamic| -> Result<Dynamic> {
            let key = text(&value);
            if let Some(rows) = for_status.get(table) {
                return rows
                    .get(&key)
                    .map(convert::to_dynamic)
                    .ok_or_else(|| format!("status {key:?} is not in table {table:?}").into());
            }
            match paybridge_model::status::map_status(table, &key) {
                Some(to) => Ok(Dynamic::from(to.to_string())),
                None if paybridge_model::status::TABLES
                    .iter()
                    .any(|(name, _)| *name == table) =>
                {
                    Err(format!("status {key:?} is not in table {table:?}").into())
                }
                None => Err(format!("there is no status table {table:?}").into()),
            }
        },
    );
    engine.register_fn(
        "lookup",
        |map: Map, key: Dynamic, default: Dynamic| -> Dynamic {
            map.get(text(&key).as_str())
                .filter(|v| !v.is_unit())
                .cloned()
                .unwrap_or(default)
        },
    );
    let for_lookup = tables;
    engine.register_fn(
        "lookup",
        move |table: &str, key: Dynamic, default: Dynamic| -> Result<Dynamic> {
            let rows = for_lookup
                .get(table)
                .ok_or_else(|| format!("lookup: the flow has no table {table:?}"))?;
            Ok(rows
                .get(&text(&key))
                .filter(|v| !v.is_null())
                .map(convert::to_dynamic)
                .unwrap_or(default))
        },
    );
    engine.register_fn(
        "default_to",
        |value: Dynamic, fallback: Dynamic| -> Dynamic {
            if is_blank(&value) { fallback } else { value }
        },
    );
    engine.register_fn("split_address", |address: &str| split_address(address, 100));
    engine.register_fn("split_address", |address: &str, width: INT| {
        split_address(address, usize::try_from(width).unwrap_or(1).max(1))
    });
    engine.register_fn("join", |items: Array, separator: &str| -> String {
        items
            .iter()
            .filter(|v| !is_blank(v))
            .map(text)
            .collect::<Vec<_>>()
            .join(separator)
    });
    engine.register_fn("reasons", |codes: Array| -> String {
        let codes: Vec<String> = codes.iter().filter(|v| !is_blank(v)).map(text).collect();
        paybridge_model::status::merge_reasons(&codes)
    });
    engine.register_fn("reasons", |codes: &str| -> String {
        let codes: Vec<&str> = codes.split([',', ' ']).collect();
        paybridge_model::status::merge_reasons(&codes)
    });
    engine.register_fn("reasons", |_: ()| String::new());
    engine.register_fn("reason_text", |code: &str| {
        paybridge_model::status::reason_text(code)
    });
    // Zoho's custom fields: `[{api_name, value, …}]` (Books) — the value of one, or ().
    engine.register_fn("custom_field", |fields: Array, api_name: &str| -> Dynamic {
        fields
            .iter()
            .filter_map(|f| f.read_lock::<Map>().map(|m| m.clone()))
            .find(|f| {
                ["api_name", "label", "customfield_id"]
                    .iter()
                    .any(|k| f.get(*k).is_some_and(|v| text(v) == api_name))
            })
            .and_then(|f| f.get("value").cloned())
            .filter(|v| !is_blank(v))
            .unwrap_or(Dynamic::UNIT)
    });
    engine.register_fn("custom_field", |_: (), _: &str| Dynamic::UNIT);
    // `{{name}}` in a text replaced by the map's value (a template kept in a flow table).
    engine.register_fn("fill", |template: &str, values: Map| -> String {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            match after.find("}}") {
                Some(end) => {
                    let name = after[..end].trim();
                    out.push_str(&values.get(name).map(text).unwrap_or_default());
                    rest = &after[end + 2..];
                }
                None => {
                    out.push_str(&rest[start..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    });
    engine.register_fn("date_in_tz", date_in_tz);
    engine.register_fn("last4", |value: Dynamic| last4(&text(&value)));
    engine.register_fn("mask", |value: Dynamic| masked(&text(&value)));
}

fn text(value: &Dynamic) -> String {
    if value.is_string() {
        value.clone().into_string().unwrap_or_default()
    } else if value.is_unit() {
        String::new()
    } else {
        value.to_string()
    }
}

fn is_blank(value: &Dynamic) -> bool {
    value.is_unit() || (value.is_string() && text(value).trim().is_empty())
}

fn currency(code: &str) -> Result<Currency> {
    Currency::from_code(code).map_err(|e| e.to_string().into())
}

/// A decimal from text, an integer or a decimal.
fn decimal(value: Dynamic) -> Result<Decimal> {
    if let Ok(d) = value.as_decimal() {
        return Ok(d);
    }
    if let Ok(i) = value.as_int() {
        return Ok(Decimal::from(i));
    }
    if value.is_string() {
        let text = text(&value);
        return decimal_text(&text)
            .ok_or_else(|| format!("dec: {text:?} is not a decimal number").into());
    }
    if value.is_unit() {
        return Err("dec: the value is missing (it is ())".into());
    }
    Err(format!(
        "dec: a value of type {} is not a decimal number",
        value.type_name()
    )
    .into())
}

fn money(amount: Dynamic, code: &str) -> Result<Decimal> {
    Ok(Money::rounded(decimal(amount)?, currency(code)?).amount())
}

/// Splits a one-line address into two lines of at most `width` characters, at commas or
/// newlines when there are any, else at a space.
fn split_address(address: &str, width: usize) -> Map {
    let parts: Vec<&str> = address
        .split([',', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let (first, rest) = match parts.split_first() {
        Some((first, rest)) if !rest.is_empty() => (first.to_string(), rest.join(", ")),
        _ => {
            let whole = parts.first().copied().unwrap_or("");
            if whole.chars().count() <= width {
                (whole.to_string(), String::new())
            } else {
                let cut: String = whole.chars().take(width).collect();
                let at = cut.rfind(' ').unwrap_or(cut.len());
                (
                    whole[..at].trim().to_string(),
                    whole[at..].trim().to_string(),
                )
            }
        }
    };
    let mut map = Map::new();
    map.insert("line1".into(), Dynamic::from(first));
    map.insert(
        "line2".into(),
        if rest.is_empty() {
            Dynamic::UNIT
        } else {
            Dynamic::from(rest)
        },
    );
    map
}

/// The calendar date of a timestamp in a time zone (IANA name, or `UTC`).
fn date_in_tz(timestamp: Dynamic, zone: &str) -> Result<ImmutableString> {
    let instant = if let Ok(ms) = timestamp.as_int() {
        jiff::Timestamp::from_millisecond(ms).map_err(|e| format!("date_in_tz: {e}"))?
    } else {
        let text = text(&timestamp);
        jiff::Timestamp::from_str(text.trim())
            .map_err(|e| format!("date_in_tz: {text:?} is not a timestamp: {e}"))?
    };
    let zone = jiff::tz::TimeZone::get(zone)
        .map_err(|_| format!("date_in_tz: {zone:?} is not a time zone"))?;
    Ok(instant.to_zoned(zone).date().to_string().into())
}

/// The card number's last four digits, masked (`**** 1111`), or nothing when it has no digits.
pub(super) fn masked(value: &str) -> String {
    let last = last4(value);
    if last.is_empty() {
        String::new()
    } else {
        format!("**** {last}")
    }
}

/// `text` read as a decimal (`dec`): plain or scientific notation, spaces around it ignored.
pub(super) fn decimal_text(text: &str) -> Option<Decimal> {
    let trimmed = text.trim();
    Decimal::from_str(trimmed)
        .or_else(|_| Decimal::from_scientific(trimmed))
        .ok()
}

fn last4(value: &str) -> String {
    let digits: Vec<char> = value.chars().filter(char::is_ascii_digit).collect();
    digits[digits.len().saturating_sub(4)..].iter().collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::super::{Context, Limits, Mapper, MappingError};
    use super::*;

    fn eval(source: &str) -> std::result::Result<serde_json::Value, MappingError> {
        let mut tables = Tables::new();
        tables.insert(
            "payment_modes".into(),
            BTreeMap::from([("visa".to_string(), json!("creditcard"))]),
        );
        tables.insert(
            "cybersource_payment".into(),
            BTreeMap::from([("AUTHORIZED".to_string(), json!("good"))]),
        );
        let mapper = Mapper::new(Limits::default(), tables);
        let expression = mapper.compile(source)?;
        mapper.eval(&expression, &Context::new())
    }

    #[test]
    fn custom_fields_are_read_by_api_name() {
        let mapper = Mapper::new(Limits::default(), Tables::new());
        let mut context = Context::new();
        context.set(
            "record",
            &json!({"custom_fields": [
                {"api_name": "cf_card_last4", "label": "Card last4", "value": "1111"},
                {"api_name": "cf_blank", "value": ""},
            ]}),
        );
        let get = |source: &str| {
            let expression = mapper.compile(source).unwrap();
            mapper.eval(&expression, &context).unwrap()
        };
        assert_eq!(
            get("custom_field(record.custom_fields, \"cf_card_last4\")"),
            json!("1111")
        );
        assert_eq!(
            get("custom_field(record.custom_fields, \"Card last4\")"),
            json!("1111")
        );
        assert_eq!(
            get("custom_field(record.custom_fields, \"cf_blank\")"),
            json!(null)
        );
        assert_eq!(
            get("custom_field(record.missing, \"cf_card_last4\")"),
            json!(null)
        );
    }

    #[test]
    fn fill_puts_values_into_a_template() {
        assert_eq!(
            eval(
                r#"fill("Dear {{ name }}, order {{ref}}: {{missing}}{{", #{name: "Ada", ref: 42})"#
            )
            .unwrap(),
            json!("Dear Ada, order 42: {{")
        );
    }

    #[test]
    fn money_rounds_to_the_currency() {
        assert_eq!(eval("money(\"10.005\", \"USD\")").unwrap(), json!("10.01"));
        assert_eq!(eval("money(\"1234.5\", \"JPY\")").unwrap(), json!("1235"));
        assert_eq!(eval("money(7, \"KWD\")").unwrap(), json!("7.000"));
        assert_eq!(eval("minor_units(\"KWD\")").unwrap(), json!(3));
        assert_eq!(
            eval("convert(\"100.00\", \"1.0836\", \"USD\")").unwrap(),
            json!("108.36")
        );
        assert_eq!(
            eval("convert(\"1999\", \"0.0067\", \"USD\")").unwrap(),
            json!("13.39")
        );
        assert!(
            eval("money(\"1\", \"ABC\")")
                .unwrap_err()
                .to_string()
                .contains("unknown currency code")
        );
    }

    #[test]
    fn status_maps_prefer_the_flow_tables() {
        assert_eq!(
            eval("status_map(\"cybersource_payment\", \"AUTHORIZED\")").unwrap(),
            json!("good")
        );
        assert_eq!(
            eval("status_map(\"zoho_sales_order\", \"review\")").unwrap(),
            json!("draft")
        );
        assert_eq!(
            eval("status_map(\"zoho_sales_order\", \"weird\")")
                .unwrap_err()
                .to_string(),
            "status \"weird\" is not in table \"zoho_sales_order\""
        );
        assert_eq!(
            eval("status_map(\"nope\", \"x\")").unwrap_err().to_string(),
            "there is no status table \"nope\""
        );
    }

    #[test]
    fn lookups_fall_back_to_their_default() {
        assert_eq!(
            eval("lookup(\"payment_modes\", \"visa\", \"cash\")").unwrap(),
            json!("creditcard")
        );
        assert_eq!(
            eval("lookup(\"payment_modes\", \"amex\", \"cash\")").unwrap(),
            json!("cash")
        );
        assert_eq!(eval("lookup(#{a: 1}, \"b\", 2)").unwrap(), json!(2));
        assert_eq!(eval("default_to(\"\", \"x\")").unwrap(), json!("x"));
        assert_eq!(eval("default_to((), \"x\")").unwrap(), json!("x"));
        assert_eq!(eval("default_to(\"y\", \"x\")").unwrap(), json!("y"));
    }

    #[test]
    fn addresses_split_and_join() {
        assert_eq!(
            eval("split_address(\"1 Main St, Apt 4, Rear\")").unwrap(),
            json!({"line1": "1 Main St", "line2": "Apt 4, Rear"})
        );
        assert_eq!(
            eval("split_address(\"12 Long Road Name Here\", 12)").unwrap(),
            json!({"line1": "12 Long", "line2": "Road Name Here"})
        );
        assert_eq!(
            eval("split_address(\"1 Main St\")").unwrap(),
            json!({"line1": "1 Main St", "line2": null})
        );
        assert_eq!(
            eval("join([\"a\", (), \"\", \"b\"], \", \")").unwrap(),
            json!("a, b")
        );
    }

    #[test]
    fn reasons_read_as_a_sentence() {
        assert_eq!(
            eval("reasons([\"AVS_FAILED\", \"SCORE_EXCEEDS_THRESHOLD\"])").unwrap(),
            json!(
                "The billing address does not match the card's, and the fraud score is above the accepted threshold."
            )
        );
        assert_eq!(eval("reasons(())").unwrap(), json!(""));
    }

    #[test]
    fn dates_are_taken_in_the_organizations_zone() {
        // 2026-03-01T02:30:00Z is still February 28 in Los Angeles.
        assert_eq!(
            eval("date_in_tz(\"2026-03-01T02:30:00Z\", \"America/Los_Angeles\")").unwrap(),
            json!("2026-02-28")
        );
        assert_eq!(
            eval("date_in_tz(1772332200000, \"Asia/Tokyo\")").unwrap(),
            json!("2026-03-01")
        );
        assert!(
            eval("date_in_tz(0, \"Mars/Olympus\")")
                .unwrap_err()
                .to_string()
                .contains("not a time zone")
        );
    }

    #[test]
    fn string_methods_give_new_strings() {
        assert_eq!(
            eval("let s = \"  Ada \"; s.trim().to_upper() + s.to_lower()").unwrap(),
            json!("ADA  ada ")
        );
    }

    #[test]
    fn cards_show_only_their_last_four() {
        assert_eq!(eval("last4(\"tok-4111\")").unwrap(), json!("4111"));
        assert_eq!(eval("mask(\"xxxx1111\")").unwrap(), json!("**** 1111"));
        assert_eq!(eval("mask(\"\")").unwrap(), json!(""));
    }
}
