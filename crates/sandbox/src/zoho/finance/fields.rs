//! Reading and writing Books records' fields: texts, amounts rounded to the currency, dates, custom fields, unique keys for upserts, paging and filters.

use axum::http::StatusCode;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;
use time::OffsetDateTime;
use time::macros::format_description;

use super::errors::BooksError;
use super::{Ctx, Organization, Record, settings};

/// Books' `price_precision`: 0 for JPY-like currencies, 3 for BHD/KWD/OMR/JOD/TND, else 2.
pub(crate) fn currency_precision(code: &str) -> u32 {
    match code {
        "JPY" | "KRW" | "VND" | "CLP" | "ISK" | "XAF" | "XOF" | "UGX" => 0,
        "BHD" | "KWD" | "OMR" | "JOD" | "TND" | "LYD" | "IQD" => 3,
        _ => 2,
    }
}

// ---------------------------------------------------------------------------------------------
// Fields, money and dates

/// A trimmed string field ("" when absent or not a string).
pub(crate) fn text(record: &Record, key: &str) -> String {
    record
        .get(key)
        .and_then(Value::as_str)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// A string field as stored, without copying ("" when absent or not a string); for loops over
/// many records.
pub(crate) fn field<'a>(record: &'a Record, key: &str) -> &'a str {
    record.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// A decimal field given as a JSON number or a numeric string; `None` when absent or empty.
pub(crate) fn decimal(value: Option<&Value>) -> Option<Result<Decimal, ()>> {
    match value? {
        Value::Number(n) => Some(
            Decimal::from_str(&n.to_string())
                .or_else(|_| Decimal::from_scientific(&n.to_string()))
                .map_err(|_| ()),
        ),
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(Decimal::from_str(s.trim()).map_err(|_| ())),
        Value::Null => None,
        _ => Some(Err(())),
    }
}

/// An amount the simulator itself wrote (always valid).
pub(crate) fn amount(record: &Record, key: &str) -> Decimal {
    decimal(record.get(key))
        .and_then(Result::ok)
        .unwrap_or_default()
}

/// An amount as Books writes it: a JSON number.
pub(crate) fn money(amount: Decimal) -> Value {
    let normalized = amount.normalize();
    if normalized.scale() == 0
        && let Some(whole) = normalized.to_i64()
    {
        return json!(whole);
    }
    normalized.to_f64().map_or(Value::Null, |f| json!(f))
}

pub(crate) fn round(amount: Decimal, precision: u32) -> Decimal {
    amount.round_dp_with_strategy(precision, RoundingStrategy::MidpointAwayFromZero)
}

pub(crate) fn today() -> String {
    OffsetDateTime::now_utc()
        .format(format_description!("[year]-[month]-[day]"))
        .unwrap_or_default()
}

/// Books timestamps: `2013-11-18T02:02:51+0000` (offset without a colon).
pub(crate) fn timestamp() -> String {
    OffsetDateTime::now_utc()
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]+0000"
        ))
        .unwrap_or_default()
}

pub(crate) fn valid_date(date: &str) -> bool {
    time::Date::parse(date, format_description!("[year]-[month]-[day]")).is_ok()
}

/// A `yyyy-mm-dd` date field, today when absent.
pub(crate) fn date_or_today(body: &Record, key: &str, label: &str) -> Result<String, BooksError> {
    match text(body, key) {
        d if d.is_empty() => Ok(today()),
        d if valid_date(&d) => Ok(d),
        _ => Err(BooksError::invalid(label)),
    }
}

/// `page`/`per_page` (default 1/200, at most 200) and the `page_context` for a result.
pub(crate) fn paginate<T>(
    rows: Vec<T>,
    query: &HashMap<String, String>,
) -> Result<(Vec<T>, Value), BooksError> {
    let number = |key: &str, default: usize| match query.get(key) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| BooksError::invalid(key)),
    };
    let page = number("page", 1)?;
    let per_page = number("per_page", 200)?;
    if per_page > 200 {
        return Err(BooksError::invalid("per_page"));
    }
    let start = (page - 1).saturating_mul(per_page);
    let has_more = rows.len() > start.saturating_add(per_page);
    let page_rows = rows.into_iter().skip(start).take(per_page).collect();
    let context = json!({"page": page, "per_page": per_page, "has_more_page": has_more,
                         "report_name": "", "applied_filter": "", "sort_column": "created_time", "sort_order": "D"});
    Ok((page_rows, context))
}

/// The list filters a record passes: exact (case-insensitive) matches on the named fields,
/// `<field>_startswith` and `<field>_contains` variants, and `search_text` over `searchable`.
pub(crate) fn matches(
    query: &HashMap<String, String>,
    record: &Record,
    exact: &[&str],
    searchable: &[&str],
) -> bool {
    fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
        needle.is_empty()
            || haystack
                .as_bytes()
                .windows(needle.len())
                .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
    }
    fn starts_with_ignore_case(value: &str, prefix: &str) -> bool {
        value
            .as_bytes()
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
    }
    if query.is_empty() {
        return true;
    }
    exact.iter().all(|key| {
        let value = field(record, key).trim();
        query
            .get(*key)
            .is_none_or(|wanted| wanted.trim().eq_ignore_ascii_case(value))
            && query
                .get(&format!("{key}_startswith"))
                .is_none_or(|p| starts_with_ignore_case(value, p))
            && query
                .get(&format!("{key}_contains"))
                .is_none_or(|p| contains_ignore_case(value, p))
    }) && query.get("search_text").is_none_or(|needle| {
        searchable
            .iter()
            .any(|key| contains_ignore_case(field(record, key), needle))
    })
}

/// The records a list returns, newest first, as Books sorts by default.
pub(crate) fn newest_first(records: Vec<Value>) -> Vec<Value> {
    let mut records = records;
    records.reverse();
    records
}

// ---------------------------------------------------------------------------------------------
// Line items

/// Lines of an invoice, sales order or credit note, priced and rounded; item ids must exist
/// and lend their name and rate when the line has none.
pub(crate) fn price_lines(
    ctx: &Ctx<'_>,
    body: &Record,
    precision: u32,
) -> Result<(Vec<Value>, Decimal), BooksError> {
    let Some(raw_lines) = body
        .get("line_items")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
    else {
        return Err(BooksError::invalid("line_items"));
    };
    let mut lines = Vec::with_capacity(raw_lines.len());
    let mut sub_total = Decimal::ZERO;
    for (order, line) in raw_lines.iter().enumerate() {
        let Some(line) = line.as_object() else {
            return Err(BooksError::invalid("line_items"));
        };
        let item_id = text(line, "item_id");
        let item = if item_id.is_empty() {
            None
        } else {
            Some(
                ctx.org
                    .items
                    .iter()
                    .find(|i| field(i, "item_id") == item_id)
                    .ok_or_else(|| BooksError::missing("Item"))?,
            )
        };
        let mut name = text(line, "name");
        if name.is_empty()
            && let Some(item) = item
        {
            name = text(item, "name");
        }
        if name.is_empty() {
            return Err(BooksError::invalid("Item Name"));
        }
        let rate = match decimal(line.get("rate")) {
            None => item.map_or(Decimal::ZERO, |i| amount(i, "rate")),
            Some(Ok(rate)) if rate >= Decimal::ZERO => rate,
            _ => return Err(BooksError::invalid("Rate")),
        };
        let quantity = match decimal(line.get("quantity")) {
            None => Decimal::ONE,
            Some(Ok(q)) if q > Decimal::ZERO => q,
            _ => return Err(BooksError::invalid("Quantity")),
        };
        let item_total = round(rate * quantity, precision);
        sub_total += item_total;
        let mut rendered = line.clone();
        rendered.insert("line_item_id".into(), json!(ctx.id()));
        rendered.insert("item_id".into(), json!(item_id));
        rendered.insert("name".into(), json!(name));
        rendered.insert("description".into(), json!(text(line, "description")));
        rendered.insert("rate".into(), money(rate));
        rendered.insert("quantity".into(), money(quantity));
        rendered.insert("item_total".into(), money(item_total));
        rendered.insert("item_order".into(), json!(order + 1));
        lines.push(Value::Object(rendered));
    }
    Ok((lines, sub_total))
}

// ---------------------------------------------------------------------------------------------
// Custom fields and upserts by a unique one

/// `custom_fields` as Books echoes them: each with `customfield_id`, `api_name`, `label`,
/// `value`. Fields are named by `api_name` (or `label`, or `customfield_id`); values given
/// again replace the earlier ones.
pub(crate) fn merge_custom_fields(
    existing: Option<&Value>,
    incoming: Option<&Value>,
) -> Result<Value, BooksError> {
    let mut fields: Vec<Value> = existing
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let Some(incoming) = incoming else {
        return Ok(Value::Array(fields));
    };
    let Some(incoming) = incoming.as_array() else {
        return Err(BooksError::invalid("custom_fields"));
    };
    for field in incoming {
        let Some(field) = field.as_object() else {
            return Err(BooksError::invalid("custom_fields"));
        };
        let name = [
            text(field, "api_name"),
            text(field, "label"),
            text(field, "customfield_id"),
        ]
        .into_iter()
        .find(|n| !n.is_empty())
        .ok_or_else(|| BooksError::invalid("custom_fields"))?;
        let api_name = if name.starts_with("cf_") {
            name.clone()
        } else {
            format!("cf_{}", name.to_ascii_lowercase().replace(' ', "_"))
        };
        let value = field.get("value").cloned().unwrap_or(Value::Null);
        let value = match value {
            Value::String(s) => json!(s.trim()),
            Value::Number(n) => json!(n.to_string()),
            Value::Bool(b) => json!(b.to_string()),
            _ => json!(""),
        };
        fields.retain(|f| f.get("api_name").and_then(Value::as_str) != Some(api_name.as_str()));
        fields.push(json!({
            "customfield_id": format!("{}", 9_100_000_000_000_000u64 + u64::from(crc(&api_name))),
            "api_name": api_name,
            "label": api_name.trim_start_matches("cf_").replace('_', " "),
            "value": value,
            "data_type": "string",
            "index": fields.len() + 1,
        }));
    }
    Ok(Value::Array(fields))
}

/// A stable small number for a field name (its id across records).
pub(crate) fn crc(name: &str) -> u32 {
    name.bytes().fold(2_166_136_261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16_777_619)
    }) % 1_000_000
}

/// The value of a custom field on a record.
pub(crate) fn custom_value(record: &Record, api_name: &str) -> Option<String> {
    record
        .get("custom_fields")?
        .as_array()?
        .iter()
        .find(|f| f.get("api_name").and_then(Value::as_str) == Some(api_name))
        .and_then(|f| f.get("value").and_then(Value::as_str))
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// Refuses a record whose unique custom fields repeat another record's values.
pub(crate) fn check_unique(
    unique: &BTreeSet<String>,
    records: &[Record],
    id_key: &str,
    record: &Record,
) -> Result<(), BooksError> {
    let id = record.get(id_key).and_then(Value::as_str);
    for api_name in unique {
        let Some(value) = custom_value(record, api_name) else {
            continue;
        };
        if records.iter().any(|r| {
            custom_value(r, api_name).as_deref() == Some(&value)
                && r.get(id_key).and_then(Value::as_str) != id
        }) {
            // The exact wording is not documented (zoho.md §2.4); the code is Books' validator's.
            return Err(BooksError::new(
                StatusCode::BAD_REQUEST,
                1001,
                format!(
                    "The value \"{value}\" already exists for the custom field {api_name}. Please enter a unique value."
                ),
            ));
        }
    }
    Ok(())
}

/// What an upsert by a unique custom field names: the field, its value, and whether to create
/// when nothing has it.
pub(crate) struct UpsertKey {
    pub api_name: String,
    pub value: String,
    pub create: bool,
}

pub(crate) fn upsert_key(ctx: &Ctx<'_>) -> Result<UpsertKey, BooksError> {
    let api_name = ctx
        .header("x-unique-identifier-key")
        .ok_or_else(|| BooksError::invalid("X-Unique-Identifier-Key"))?;
    let value = ctx
        .header("x-unique-identifier-value")
        .ok_or_else(|| BooksError::invalid("X-Unique-Identifier-Value"))?;
    if !ctx.org.unique_custom_fields.contains(&api_name) {
        return Err(BooksError::new(
            StatusCode::BAD_REQUEST,
            2,
            format!(
                "Invalid value passed for X-Unique-Identifier-Key: {api_name} is not a custom field that disallows duplicate values"
            ),
        ));
    }
    let create = ctx
        .header("x-upsert")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    Ok(UpsertKey {
        api_name,
        value,
        create,
    })
}

/// The body of an upsert, with the unique field's value set in its `custom_fields`.
pub(crate) fn upsert_body(ctx: &Ctx<'_>, key: &UpsertKey) -> Result<Record, BooksError> {
    let mut body = ctx.json()?;
    let fields = merge_custom_fields(
        body.get("custom_fields"),
        Some(&json!([{"api_name": key.api_name, "value": key.value}])),
    )?;
    body.insert("custom_fields".into(), fields);
    Ok(body)
}

/// Index of the record whose unique field has the upsert's value.
pub(crate) fn find_by_unique(records: &[Record], key: &UpsertKey) -> Option<usize> {
    records
        .iter()
        .position(|r| custom_value(r, &key.api_name).as_deref() == Some(key.value.as_str()))
}

/// Copies the fields of an update onto a record, except those the simulator computes.
pub(crate) fn apply_update(record: &mut Record, body: &Record, computed: &[&str]) {
    for (key, value) in body {
        if key == "custom_fields" || computed.contains(&key.as_str()) {
            continue;
        }
        record.insert(key.clone(), value.clone());
    }
    record.insert("last_modified_time".into(), json!(timestamp()));
}

/// Finds a record by its id field, or says it does not exist.
pub(crate) fn position(
    records: &[Record],
    id_key: &str,
    id: &str,
    entity: &str,
) -> Result<usize, BooksError> {
    // Records are appended as they are made and ids only grow (all the same width), so a
    // module's records are sorted by id: search, then scan as a safety net.
    let by_search = records.binary_search_by(|r| field(r, id_key).cmp(id)).ok();
    by_search
        .or_else(|| records.iter().position(|r| field(r, id_key) == id))
        .ok_or_else(|| BooksError::missing(entity))
}

/// The customer a transaction is for; it must exist and be a customer.
pub(crate) fn customer<'r>(
    org: &'r Organization,
    customer_id: &str,
) -> Result<&'r Record, BooksError> {
    if customer_id.is_empty() {
        return Err(BooksError::invalid("Customer"));
    }
    let index = position(&org.contacts, "contact_id", customer_id, "Customer")?;
    let contact = &org.contacts[index];
    if field(contact, "contact_type") != "customer" {
        return Err(BooksError::missing("Customer"));
    }
    Ok(contact)
}

/// The currency and exchange rate of a transaction for `customer`: the customer's currency, at
/// the rate given, or else the latest rate effective on `date` (1 in the base currency).
pub(crate) fn currency_for(
    org: &Organization,
    customer: &Record,
    body: &Record,
    date: &str,
) -> Result<(String, String, Decimal), BooksError> {
    let currency_id = match text(body, "currency_id") {
        id if id.is_empty() => text(customer, "currency_id"),
        id => id,
    };
    let currency_id = if currency_id.is_empty() {
        org.currency_id.clone()
    } else {
        currency_id
    };
    let currency = org
        .currency(&currency_id)
        .ok_or_else(|| BooksError::invalid("Currency"))?;
    let code = text(currency, "currency_code");
    if currency_id == org.currency_id {
        return Ok((currency_id, code, Decimal::ONE));
    }
    let rate = match decimal(body.get("exchange_rate")) {
        Some(Ok(rate)) if rate > Decimal::ZERO => rate,
        Some(_) => return Err(BooksError::invalid("Exchange Rate")),
        None => settings::rate_on(org, &currency_id, date)
            .ok_or_else(|| BooksError::invalid("Exchange Rate"))?,
    };
    Ok((currency_id, code, rate))
}
