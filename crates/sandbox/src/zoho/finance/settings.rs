//! Currencies and exchange rates (zoho.md §2.8), and the bank and cash accounts refunds are
//! paid from. The organization's base currency is fixed; other currencies carry rates
//! effective from a date, and a transaction in one uses the rate given or the latest effective
//! on its date.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::{
    BooksError, Ctx, Organization, Record, Reply, decimal, field, money, position, text, valid_date,
};

pub(super) fn currency_record(id: &str, code: &str, precision: u32, is_base: bool) -> Record {
    let mut record = Record::new();
    record.insert("currency_id".into(), json!(id));
    record.insert("currency_code".into(), json!(code));
    record.insert("currency_name".into(), json!(code));
    record.insert("currency_symbol".into(), json!(code));
    record.insert("price_precision".into(), json!(precision));
    record.insert("currency_format".into(), json!("1,234,567.89"));
    record.insert("is_base_currency".into(), json!(is_base));
    record.insert("exchange_rate".into(), json!(1));
    record.insert("effective_date".into(), json!(""));
    record
}

/// The latest rate of a currency effective on `date`.
pub(super) fn rate_on(org: &Organization, currency_id: &str, date: &str) -> Option<Decimal> {
    org.exchange_rates
        .iter()
        .filter(|r| {
            text(r, "currency_id") == currency_id && text(r, "effective_date").as_str() <= date
        })
        .max_by(|a, b| text(a, "effective_date").cmp(&text(b, "effective_date")))
        .and_then(|r| decimal(r.get("rate")).and_then(Result::ok))
}

pub(super) fn currencies(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let rows = ctx
        .org
        .currencies
        .iter()
        .filter(|c| match ctx.query.get("filter_by").map(String::as_str) {
            Some("Currencies.ExcludeBaseCurrency") => {
                c.get("is_base_currency") != Some(&json!(true))
            }
            _ => true,
        })
        .cloned()
        .map(Value::Object)
        .collect();
    Ok(Reply::List {
        key: "currencies",
        rows,
    })
}

pub(super) fn add_currency(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let body = ctx.json()?;
    let code = text(&body, "currency_code").to_ascii_uppercase();
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(BooksError::invalid("Currency Code"));
    }
    if ctx
        .org
        .currencies
        .iter()
        .any(|c| field(c, "currency_code") == code)
    {
        return Err(BooksError::refused(format!(
            "The currency {code} has already been added."
        )));
    }
    let precision = match body.get("price_precision") {
        None => super::currency_precision(&code),
        Some(p) => p
            .as_u64()
            .and_then(|p| u32::try_from(p).ok())
            .filter(|p| *p <= 3)
            .ok_or_else(|| BooksError::invalid("Decimal Places"))?,
    };
    let mut record = currency_record(&ctx.id(), &code, precision, false);
    for key in ["currency_symbol", "currency_format", "currency_name"] {
        let value = text(&body, key);
        if !value.is_empty() {
            record.insert(key.into(), json!(value));
        }
    }
    ctx.org.currencies.push(record.clone());
    Ok(Reply::created(
        "The currency has been added.",
        "currency",
        &record,
    ))
}

pub(super) fn exchange_rates(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let currency_id = ctx.param(0).to_string();
    position(&ctx.org.currencies, "currency_id", &currency_id, "Currency")?;
    let mut rows: Vec<&Record> = ctx
        .org
        .exchange_rates
        .iter()
        .filter(|r| field(r, "currency_id") == currency_id)
        .filter(|r| {
            ctx.query
                .get("from_date")
                .is_none_or(|from| text(r, "effective_date") >= *from)
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(text(r, "effective_date")));
    if ctx.query_flag("is_current_date") {
        rows.truncate(1);
    }
    Ok(Reply::List {
        key: "exchange_rates",
        rows: rows.into_iter().cloned().map(Value::Object).collect(),
    })
}

pub(super) fn add_exchange_rate(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let currency_id = ctx.param(0).to_string();
    let index = position(&ctx.org.currencies, "currency_id", &currency_id, "Currency")?;
    if currency_id == ctx.org.currency_id {
        return Err(BooksError::refused(
            "Exchange rates cannot be added for the base currency.",
        ));
    }
    let body = ctx.json()?;
    let date = text(&body, "effective_date");
    if !valid_date(&date) {
        return Err(BooksError::invalid("Effective Date"));
    }
    let rate = match decimal(body.get("rate")) {
        Some(Ok(rate)) if rate > Decimal::ZERO => rate,
        _ => return Err(BooksError::invalid("Rate")),
    };
    let code = text(&ctx.org.currencies[index], "currency_code");
    // One rate per currency and day: a second replaces the first.
    ctx.org
        .exchange_rates
        .retain(|r| !(text(r, "currency_id") == currency_id && text(r, "effective_date") == date));
    let mut record = Record::new();
    record.insert("exchange_rate_id".into(), json!(ctx.id()));
    record.insert("currency_id".into(), json!(currency_id));
    record.insert("currency_code".into(), json!(code));
    record.insert("effective_date".into(), json!(date));
    record.insert("rate".into(), money(rate));
    ctx.org.exchange_rates.push(record.clone());
    let latest = rate_on(ctx.org, &currency_id, "9999-12-31").unwrap_or(rate);
    let currency = &mut ctx.org.currencies[index];
    currency.insert("exchange_rate".into(), money(latest));
    currency.insert("effective_date".into(), json!(date));
    Ok(Reply::created(
        "Exchange rate successfully added.",
        "exchange_rate",
        &record,
    ))
}

pub(super) fn bank_accounts(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    Ok(Reply::List {
        key: "bankaccounts",
        rows: ctx
            .org
            .accounts
            .iter()
            .cloned()
            .map(Value::Object)
            .collect(),
    })
}
