//! Zoho Books v3: contacts, invoices and customer payments, with Zoho's rules (zoho.md §2):
//! `organization_id` on every call, the `{code, message, <entity>}` envelope, contact names
//! unique across the organization (3062), invoice balances and statuses moved by payments,
//! `page`/`per_page` (≤ 200) with `page_context`.

use std::collections::HashMap;
use std::str::FromStr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

use super::{OrganizationConfig, ZohoSandbox, limits};
use crate::ids;

pub(super) fn routes() -> Router<ZohoSandbox> {
    Router::new()
        .route(
            "/books/v3/contacts",
            post(create_contact).get(list_contacts),
        )
        .route("/books/v3/contacts/{id}", get(get_contact))
        .route(
            "/books/v3/invoices",
            post(create_invoice).get(list_invoices),
        )
        .route("/books/v3/invoices/{id}", get(get_invoice))
        .route("/books/v3/invoices/{id}/status/sent", post(mark_sent))
        .route(
            "/books/v3/customerpayments",
            post(create_payment).get(list_payments),
        )
        .route("/books/v3/customerpayments/{id}", get(get_payment))
}

/// One organization's books.
pub(super) struct Organization {
    currency_code: String,
    precision: u32,
    contacts: Vec<ContactRecord>,
    invoices: Vec<InvoiceRecord>,
    payments: Vec<PaymentRecord>,
    invoice_numbers: u64,
    payment_numbers: u64,
}

/// Everything one organization holds, rendered as its API renders it.
#[derive(Debug, Clone, Default)]
pub struct BooksRecords {
    pub contacts: Vec<Value>,
    pub invoices: Vec<Value>,
    pub customer_payments: Vec<Value>,
}

impl Organization {
    pub(super) fn records(&self) -> BooksRecords {
        BooksRecords {
            contacts: self
                .contacts
                .iter()
                .map(|c| contact_json(c, &self.currency_code))
                .collect(),
            invoices: self
                .invoices
                .iter()
                .map(|i| invoice_json(i, &self.currency_code, self.precision))
                .collect(),
            customer_payments: self
                .payments
                .iter()
                .map(|p| payment_json(p, &self.currency_code))
                .collect(),
        }
    }

    pub(super) fn new(config: &OrganizationConfig) -> Organization {
        Organization {
            precision: currency_precision(&config.currency_code),
            currency_code: config.currency_code.clone(),
            contacts: Vec::new(),
            invoices: Vec::new(),
            payments: Vec::new(),
            invoice_numbers: 0,
            payment_numbers: 0,
        }
    }
}

/// Books' `price_precision`: 0 for JPY-like currencies, 3 for BHD/KWD/OMR/JOD/TND, else 2.
fn currency_precision(code: &str) -> u32 {
    match code {
        "JPY" | "KRW" | "VND" | "CLP" | "ISK" | "XAF" | "XOF" | "UGX" => 0,
        "BHD" | "KWD" | "OMR" | "JOD" | "TND" | "LYD" | "IQD" => 3,
        _ => 2,
    }
}

struct ContactRecord {
    contact_id: String,
    contact_name: String,
    company_name: String,
    contact_type: String,
    customer_sub_type: String,
    email: String,
    phone: String,
    first_name: String,
    last_name: String,
    billing_address: Value,
    contact_persons: Vec<Value>,
    notes: String,
    custom_fields: Value,
    created_time: String,
}

struct LineRecord {
    line_item_id: String,
    item_id: String,
    name: String,
    description: String,
    rate: Decimal,
    quantity: Decimal,
    item_total: Decimal,
}

struct InvoiceRecord {
    invoice_id: String,
    invoice_number: String,
    customer_id: String,
    customer_name: String,
    date: String,
    reference_number: String,
    status: String,
    line_items: Vec<LineRecord>,
    total: Decimal,
    payment_made: Decimal,
    balance: Decimal,
    notes: String,
    custom_fields: Value,
    created_time: String,
    last_modified_time: String,
}

struct PaymentRecord {
    payment_id: String,
    payment_number: String,
    customer_id: String,
    customer_name: String,
    payment_mode: String,
    amount: Decimal,
    date: String,
    reference_number: String,
    description: String,
    invoices: Vec<(String, String, Decimal)>,
    created_time: String,
}

// ---------------------------------------------------------------------------------------------
// Envelope, errors and request plumbing

fn envelope(status: StatusCode, message: &str, key: &str, value: Value) -> Response {
    let mut body = Map::new();
    body.insert("code".into(), json!(0));
    body.insert("message".into(), json!(message));
    if !key.is_empty() {
        body.insert(key.into(), value);
    }
    (status, axum::Json(Value::Object(body))).into_response()
}

struct BooksError {
    status: StatusCode,
    code: i64,
    message: String,
    headers: Vec<(&'static str, String)>,
}

impl BooksError {
    fn new(status: StatusCode, code: i64, message: impl Into<String>) -> BooksError {
        BooksError {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    /// 429 over the organization's limits, with the `X-Rate-Limit-*` headers Books was seen
    /// sending (zoho.md §2.3).
    fn throttled(code: i64, throttle: &limits::Throttle) -> BooksError {
        let reset = throttle.reset.as_secs_f64().ceil().to_string();
        BooksError {
            headers: vec![
                ("x-rate-limit-limit", throttle.limit.to_string()),
                ("x-rate-limit-remaining", "0".into()),
                ("x-rate-limit-reset", reset),
            ],
            ..BooksError::new(
                StatusCode::TOO_MANY_REQUESTS,
                code,
                "You have made too many requests. Please try again after some time.",
            )
        }
    }

    fn invalid(field: &str) -> BooksError {
        BooksError::new(
            StatusCode::BAD_REQUEST,
            2,
            format!("Invalid value passed for {field}"),
        )
    }

    fn missing(entity: &str) -> BooksError {
        BooksError::new(
            StatusCode::NOT_FOUND,
            1002,
            format!("{entity} does not exist."),
        )
    }

    fn into_response(self, sandbox: &ZohoSandbox) -> Response {
        *sandbox
            .world()
            .stats
            .books_errors
            .entry(self.code)
            .or_insert(0) += 1;
        let mut response = (
            self.status,
            axum::Json(json!({"code": self.code, "message": self.message})),
        )
            .into_response();
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

/// 500 with Books' internal-error body (used by fault injection).
pub(super) fn server_error(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // Zoho's 429 code is undocumented (zoho.md §2.2): any non-zero code, with its message.
    let body = if status == StatusCode::TOO_MANY_REQUESTS {
        json!({"code": 44, "message": "You have made too many requests. Please try again after some time."})
    } else {
        json!({"code": 1000, "message": "Internal error"})
    };
    (status, axum::Json(body)).into_response()
}

pub(super) async fn invalid_url() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"code": 5, "message": "Invalid URL Passed"})),
    )
        .into_response()
}

/// Checks the `Zoho-oauthtoken` header and `organization_id`; returns the organization id.
fn authorize(
    sandbox: &ZohoSandbox,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<String, BooksError> {
    sandbox.world().stats.books_requests += 1;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Zoho-oauthtoken "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let unauthenticated = |code, message: &str| {
        sandbox.world().stats.books_auth_failures += 1;
        BooksError::new(StatusCode::UNAUTHORIZED, code, message)
    };
    let Some(token) = token else {
        return Err(unauthenticated(
            14,
            "The request could not be authenticated as the authentication value you entered is invalid. Please enter a valid authentication value.",
        ));
    };
    if !sandbox.token_is_live(token) {
        return Err(unauthenticated(
            57,
            "You are not authorized to perform this operation",
        ));
    }
    let org = query
        .get("organization_id")
        .map(|s| s.trim())
        .unwrap_or_default();
    if org.is_empty() || !org.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BooksError::invalid("organization_id"));
    }
    let mut world = sandbox.world();
    if !world.organizations.contains_key(org) {
        return Err(BooksError::new(
            StatusCode::BAD_REQUEST,
            6041,
            format!("This user is not associated with the CompanyID/CompanyName:{org}."),
        ));
    }
    let limits = &sandbox.inner.config.limits;
    world
        .spending
        .spend(limits, limits::Meter::Books, org, 1)
        .map_err(|t| BooksError::throttled(limits.books_throttle_code, &t))?;
    Ok(org.to_string())
}

/// A JSON body, or the legacy `JSONString=<json>` form field.
fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<Map<String, Value>, BooksError> {
    let malformed = || BooksError::new(StatusCode::BAD_REQUEST, 1038, "JSON is not well formed");
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let json_bytes = if is_form {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(body).map_err(|_| malformed())?;
        pairs
            .into_iter()
            .find(|(k, _)| k == "JSONString")
            .map(|(_, v)| v.into_bytes())
            .ok_or_else(malformed)?
    } else {
        body.to_vec()
    };
    match serde_json::from_slice::<Value>(&json_bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(malformed()),
    }
}

fn str_field(body: &Map<String, Value>, key: &str) -> String {
    body.get(key)
        .and_then(Value::as_str)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn decimal_field(value: Option<&Value>) -> Option<Result<Decimal, ()>> {
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

/// An amount as Books writes it: a JSON number at the currency's precision.
fn money(amount: Decimal) -> Value {
    let normalized = amount.normalize();
    if normalized.scale() == 0
        && let Some(whole) = normalized.to_i64()
    {
        return json!(whole);
    }
    normalized.to_f64().map_or(Value::Null, |f| json!(f))
}

fn round(amount: Decimal, precision: u32) -> Decimal {
    amount.round_dp_with_strategy(precision, RoundingStrategy::MidpointAwayFromZero)
}

fn today() -> String {
    OffsetDateTime::now_utc()
        .format(format_description!("[year]-[month]-[day]"))
        .unwrap_or_default()
}

/// Books timestamps: `2013-11-18T02:02:51+0000` (offset without a colon).
fn timestamp() -> String {
    OffsetDateTime::now_utc()
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]+0000"
        ))
        .unwrap_or_default()
}

fn valid_date(date: &str) -> bool {
    time::Date::parse(date, format_description!("[year]-[month]-[day]")).is_ok()
}

/// `page`/`per_page` (default 1/200, at most 200) and the `page_context` for a result.
fn paginate<T>(
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

fn list(key: &str, rows: Vec<Value>, context: Value) -> Response {
    (
        StatusCode::OK,
        axum::Json(json!({"code": 0, "message": "success", key: rows, "page_context": context})),
    )
        .into_response()
}

fn filter_matches(query: &HashMap<String, String>, key: &str, value: &str) -> bool {
    query
        .get(key)
        .is_none_or(|wanted| wanted.eq_ignore_ascii_case(value))
}

macro_rules! try_books {
    ($sandbox:expr, $e:expr) => {
        match $e {
            Ok(value) => value,
            Err(error) => return error.into_response(&$sandbox),
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Contacts

fn contact_json(c: &ContactRecord, currency_code: &str) -> Value {
    json!({
        "contact_id": c.contact_id, "contact_name": c.contact_name, "company_name": c.company_name,
        "contact_type": c.contact_type, "customer_sub_type": c.customer_sub_type, "status": "active",
        "first_name": c.first_name, "last_name": c.last_name, "email": c.email, "phone": c.phone,
        "currency_code": currency_code, "billing_address": c.billing_address,
        "contact_persons": c.contact_persons, "notes": c.notes, "custom_fields": c.custom_fields,
        "outstanding_receivable_amount": 0, "unused_credits_receivable_amount": 0,
        "created_time": c.created_time, "last_modified_time": c.created_time,
    })
}

fn contact_row(c: &ContactRecord, currency_code: &str) -> Value {
    json!({
        "contact_id": c.contact_id, "contact_name": c.contact_name, "company_name": c.company_name,
        "contact_type": c.contact_type, "status": "active", "currency_code": currency_code,
        "first_name": c.first_name, "last_name": c.last_name, "email": c.email, "phone": c.phone,
        "outstanding_receivable_amount": 0, "unused_credits_receivable_amount": 0,
        "created_time": c.created_time, "last_modified_time": c.created_time,
    })
}

async fn create_contact(
    State(sandbox): State<ZohoSandbox>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let org_id = try_books!(sandbox, authorize(&sandbox, &headers, &query));
    let body = try_books!(sandbox, parse_body(&headers, &body));
    let name = str_field(&body, "contact_name");
    if name.is_empty() || name.chars().count() > 200 {
        return BooksError::invalid("Contact Name").into_response(&sandbox);
    }
    let contact_type = match str_field(&body, "contact_type").as_str() {
        "" | "customer" => "customer",
        "vendor" => "vendor",
        _ => return BooksError::invalid("contact_type").into_response(&sandbox),
    };
    let persons: Vec<Value> = body
        .get("contact_persons")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let primary = persons
        .iter()
        .find(|p| {
            p.get("is_primary_contact")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        })
        .or(persons.first())
        .cloned()
        .unwrap_or(Value::Null);
    let person_text = |k: &str| {
        primary
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };

    let mut world = sandbox.world();
    let org = world
        .organizations
        .get_mut(&org_id)
        .expect("authorized organization exists");
    // Display names are unique across customers and vendors of the organization.
    if org
        .contacts
        .iter()
        .any(|c| c.contact_name.eq_ignore_ascii_case(&name))
    {
        drop(world);
        let noun = if contact_type == "vendor" {
            "vendor"
        } else {
            "customer"
        };
        return BooksError::new(
            StatusCode::BAD_REQUEST,
            3062,
            format!("The {noun} \"{name}\" already exists. Please specify a different name."),
        )
        .into_response(&sandbox);
    }
    let contact_persons = persons
        .iter()
        .map(|p| {
            let mut p = p.clone();
            if let Some(obj) = p.as_object_mut() {
                obj.insert(
                    "contact_person_id".into(),
                    json!(ids::zoho_id(&sandbox.inner.ids)),
                );
            }
            p
        })
        .collect();
    let record = ContactRecord {
        contact_id: ids::zoho_id(&sandbox.inner.ids),
        contact_name: name,
        company_name: str_field(&body, "company_name"),
        contact_type: contact_type.into(),
        customer_sub_type: match str_field(&body, "customer_sub_type").as_str() {
            "" => "business".into(),
            other => other.into(),
        },
        email: person_text("email"),
        phone: person_text("phone"),
        first_name: person_text("first_name"),
        last_name: person_text("last_name"),
        billing_address: body
            .get("billing_address")
            .cloned()
            .unwrap_or_else(|| json!({})),
        contact_persons,
        notes: str_field(&body, "notes"),
        custom_fields: body
            .get("custom_fields")
            .cloned()
            .unwrap_or_else(|| json!([])),
        created_time: timestamp(),
    };
    let value = contact_json(&record, &org.currency_code);
    org.contacts.push(record);
    drop(world);
    envelope(
        StatusCode::CREATED,
        "The contact has been created",
        "contact",
        value,
    )
}

async fn list_contacts(
    State(sandbox): State<ZohoSandbox>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let org_id = try_books!(sandbox, authorize(&sandbox, &headers, &query));
    let world = sandbox.world();
    let org = &world.organizations[&org_id];
    let rows: Vec<Value> = org
        .contacts
        .iter()
        .filter(|c| {
            filter_matches(&query, "email", &c.email)
                && filter_matches(&query, "contact_name", &c.contact_name)
                && filter_matches(&query, "contact_type", &c.contact_type)
                && query.get("contact_name_contains").is_none_or(|part| {
                    c.contact_name
                        .to_ascii_lowercase()
                        .contains(&part.to_ascii_lowercase())
                })
        })
        .map(|c| contact_row(c, &org.currency_code))
        .collect();
    drop(world);
    let (rows, context) = try_books!(sandbox, paginate(rows, &query));
    list("contacts", rows, context)
}

async fn get_contact(
    State(sandbox): State<ZohoSandbox>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let org_id = try_books!(sandbox, authorize(&sandbox, &headers, &query));
    let world = sandbox.world();
    let org = &world.organizations[&org_id];
    let found = org
        .contacts
        .iter()
        .find(|c| c.contact_id == id)
        .map(|c| contact_json(c, &org.currency_code));
    drop(world);
    match found {
        Some(value) => envelope(StatusCode::OK, "success", "contact", value),
        None => BooksError::missing("Contact").into_response(&sandbox),
    }
}

// ---------------------------------------------------------------------------------------------
// Invoices

fn invoice_json(i: &InvoiceRecord, currency_code: &str, precision: u32) -> Value {
    let lines: Vec<Value> = i
        .line_items
        .iter()
        .map(|l| {
            json!({"line_item_id": l.line_item_id, "item_id": l.item_id, "name": l.name,
                   "description": l.description, "rate": money(l.rate), "quantity": money(l.quantity),
                   "item_total": money(l.item_total)})
        })
        .collect();
    json!({
        "invoice_id": i.invoice_id, "invoice_number": i.invoice_number, "date": i.date, "due_date": i.date,
        "status": i.status, "customer_id": i.customer_id, "customer_name": i.customer_name,
        "currency_code": currency_code, "exchange_rate": 1, "reference_number": i.reference_number,
        "line_items": lines, "sub_total": money(i.total), "total": money(i.total),
        "payment_made": money(i.payment_made), "credits_applied": 0, "balance": money(i.balance),
        "write_off_amount": 0, "price_precision": precision, "is_emailed": false,
        "invoice_url": format!("https://books.zoho.com/portal/invoice/{}", i.invoice_id),
        "notes": i.notes, "custom_fields": i.custom_fields,
        "created_time": i.created_time, "last_modified_time": i.last_modified_time,
    })
}

fn invoice_row(i: &InvoiceRecord, currency_code: &str) -> Value {
    json!({
        "invoice_id": i.invoice_id, "invoice_number": i.invoice_number, "customer_id": i.customer_id,
        "customer_name": i.customer_name, "status": i.status, "reference_number": i.reference_number,
        "date": i.date, "due_date": i.date, "currency_code": currency_code,
        "total": money(i.total), "balance": money(i.balance),
        "created_time": i.created_time, "last_modified_time": i.last_modified_time,
    })
}

async fn create_invoice(
    State(sandbox): State<ZohoSandbox>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let org_id = try_books!(sandbox, authorize(&sandbox, &headers, &query));
    let body = try_books!(sandbox, parse_body(&headers, &body));
    let customer_id = str_field(&body, "customer_id");
    if customer_id.is_empty() {
        return BooksError::invalid("Customer").into_response(&sandbox);
    }
    let date = match str_field(&body, "date") {
        d if d.is_empty() => today(),
        d if valid_date(&d) => d,
        _ => return BooksError::invalid("Invoice Date").into_response(&sandbox),
    };
    let Some(raw_lines) = body
        .get("line_items")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
    else {
        return BooksError::invalid("line_items").into_response(&sandbox);
    };

    let mut world = sandbox.world();
    let org = world
        .organizations
        .get_mut(&org_id)
        .expect("authorized organization exists");
    let Some(customer) = org
        .contacts
        .iter()
        .find(|c| c.contact_id == customer_id && c.contact_type == "customer")
    else {
        drop(world);
        return BooksError::missing("Customer").into_response(&sandbox);
    };
    let customer_name = customer.contact_name.clone();
    let mut lines = Vec::with_capacity(raw_lines.len());
    for line in raw_lines {
        let Some(line) = line.as_object() else {
            drop(world);
            return BooksError::invalid("line_items").into_response(&sandbox);
        };
        let name = str_field(line, "name");
        let item_id = str_field(line, "item_id");
        let rate = match decimal_field(line.get("rate")) {
            None => Decimal::ZERO,
            Some(Ok(rate)) if rate >= Decimal::ZERO => rate,
            _ => {
                drop(world);
                return BooksError::invalid("Rate").into_response(&sandbox);
            }
        };
        let quantity = match decimal_field(line.get("quantity")) {
            None => Decimal::ONE,
            Some(Ok(q)) if q > Decimal::ZERO => q,
            _ => {
                drop(world);
                return BooksError::invalid("Quantity").into_response(&sandbox);
            }
        };
        if name.is_empty() && item_id.is_empty() {
            drop(world);
            return BooksError::invalid("Item Name").into_response(&sandbox);
        }
        lines.push(LineRecord {
            line_item_id: ids::zoho_id(&sandbox.inner.ids),
            item_id,
            name,
            description: str_field(line, "description"),
            rate,
            quantity,
            item_total: round(rate * quantity, org.precision),
        });
    }
    let total: Decimal = lines.iter().map(|l| l.item_total).sum();
    org.invoice_numbers += 1;
    let now = timestamp();
    let record = InvoiceRecord {
        invoice_id: ids::zoho_id(&sandbox.inner.ids),
        invoice_number: format!("INV-{:06}", org.invoice_numbers),
        customer_id,
        customer_name,
        date,
        reference_number: str_field(&body, "reference_number"),
        status: "draft".into(),
        line_items: lines,
        total,
        payment_made: Decimal::ZERO,
        balance: total,
        notes: str_field(&body, "notes"),
        custom_fields: body
            .get("custom_fields")
            .cloned()
            .unwrap_or_else(|| json!([])),
        created_time: now.clone(),
        last_modified_time: now,
    };
    let value = invoice_json(&record, &org.currency_code, org.precision);
    org.invoices.push(record);
    drop(world);
    envelope(
        StatusCode::CREATED,
        "The invoice has been created.",
        "invoice",
        value,
    )
}

async fn list_invoices(
    State(sandbox): State<ZohoSandbox>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let org_id = try_books!(sandbox, authorize(&sandbox, &headers, &query));
    let world = sandbox.world();
    let org = &world.organizations[&org_id];
    let rows: Vec<Value> = org
        .invoices
        .iter()
        .filter(|i| {
            filter_matches(&query, "reference_number", &i.reference_number)
                && filter_matches(&query, "invoice_number", &i.invoice_number)
                && filter_matches(&query, "customer_id", &i.customer_id)
                && filter_matches(&query, "status", &i.status)
        })
        .map(|i| invoice_row(i, &org.currency_code))
        .collect();
    drop(world);
    let (rows, context) = try_books!(sandbox, paginate(rows, &query));
    list("invoices", rows, context)
}

async fn get_invoice(
    State(sandbox): State<ZohoSandbox>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let org_id = try_books!(sandbox, authorize(&sandbox, &headers, &query));
    let world = sandbox.world();
    let org = &world.organizations[&org_id];
    let found = org
        .invoices
        .iter()
        .find(|i| i.invoice_id == id)
        .map(|i| invoice_json(i, &org.currency_code, org.precision));
    drop(world);
    match found {
        Some(value) => envelope(StatusCode::OK, "success", "invoice", value),
        None => BooksError::missing("Invoice").into_response(&sandbox),
    }
}

async fn mark_sent(
    State(sandbox): State<ZohoSandbox>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let org_id = try_books!(sandbox, authorize(&sandbox, &headers, &query));
    let mut world = sandbox.world();
    let org = world
        .organizations
        .get_mut(&org_id)
        .expect("authorized organization exists");
    let Some(invoice) = org.invoices.iter_mut().find(|i| i.invoice_id == id) else {
        drop(world);
        return BooksError::missing("Invoice").into_response(&sandbox);
    };
    match invoice.status.as_str() {
        "draft" => {
            invoice.status = "sent".into();
            invoice.last_modified_time = timestamp();
        }
        "void" => {
            drop(world);
            return BooksError::new(
                StatusCode::BAD_REQUEST,
                4,
                "A voided invoice cannot be marked as sent.",
            )
            .into_response(&sandbox);
        }
        // Already sent, or further along: nothing to change.
        _ => {}
    }
    drop(world);
    envelope(
        StatusCode::OK,
        "Invoice status has been changed to Sent.",
        "",
        Value::Null,
    )
}

// ---------------------------------------------------------------------------------------------
// Customer payments

fn payment_json(p: &PaymentRecord, currency_code: &str) -> Value {
    let applied: Decimal = p.invoices.iter().map(|(_, _, a)| *a).sum();
    let invoices: Vec<Value> = p
        .invoices
        .iter()
        .map(|(id, number, amount)| json!({"invoice_id": id, "invoice_number": number, "amount_applied": money(*amount)}))
        .collect();
    json!({
        "payment_id": p.payment_id, "payment_number": p.payment_number, "customer_id": p.customer_id,
        "customer_name": p.customer_name, "payment_mode": p.payment_mode, "amount": money(p.amount),
        "unused_amount": money(p.amount - applied), "amount_refunded": 0, "bank_charges": 0,
        "date": p.date, "status": "success", "reference_number": p.reference_number,
        "description": p.description, "invoices": invoices, "currency_code": currency_code,
        "exchange_rate": 1, "created_time": p.created_time, "last_modified_time": p.created_time,
    })
}

async fn create_payment(
    State(sandbox): State<ZohoSandbox>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let org_id = try_books!(sandbox, authorize(&sandbox, &headers, &query));
    let body = try_books!(sandbox, parse_body(&headers, &body));
    let customer_id = str_field(&body, "customer_id");
    let payment_mode = str_field(&body, "payment_mode");
    let date = str_field(&body, "date");
    if customer_id.is_empty() {
        return BooksError::invalid("Customer").into_response(&sandbox);
    }
    if payment_mode.is_empty() {
        return BooksError::invalid("Payment Mode").into_response(&sandbox);
    }
    if !valid_date(&date) {
        return BooksError::invalid("Payment Date").into_response(&sandbox);
    }
    let amount = match decimal_field(body.get("amount")) {
        Some(Ok(amount)) if amount > Decimal::ZERO => amount,
        _ => return BooksError::invalid("Amount").into_response(&sandbox),
    };
    let Some(applications) = body.get("invoices").and_then(Value::as_array) else {
        return BooksError::invalid("invoices").into_response(&sandbox);
    };
    let mut wanted = Vec::with_capacity(applications.len());
    for application in applications {
        let invoice_id = application
            .get("invoice_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        match decimal_field(application.get("amount_applied")) {
            Some(Ok(applied)) if applied > Decimal::ZERO && !invoice_id.is_empty() => {
                wanted.push((invoice_id, applied))
            }
            _ => return BooksError::invalid("Amount Applied").into_response(&sandbox),
        }
    }

    let allow_draft = sandbox.inner.config.allow_payments_on_draft_invoices;
    let mut world = sandbox.world();
    let org = world
        .organizations
        .get_mut(&org_id)
        .expect("authorized organization exists");
    let precision = org.precision;
    let Some(customer) = org.contacts.iter().find(|c| c.contact_id == customer_id) else {
        drop(world);
        return BooksError::missing("Customer").into_response(&sandbox);
    };
    let customer_name = customer.contact_name.clone();
    let applied_total: Decimal = wanted.iter().map(|(_, a)| *a).sum();
    if round(applied_total, precision) > round(amount, precision) {
        drop(world);
        return BooksError::new(
            StatusCode::BAD_REQUEST,
            4,
            "The amount applied to invoices is more than the amount received.",
        )
        .into_response(&sandbox);
    }
    // Check every application before changing anything.
    let mut applied = Vec::with_capacity(wanted.len());
    for (invoice_id, amount_applied) in &wanted {
        let Some(invoice) = org.invoices.iter().find(|i| &i.invoice_id == invoice_id) else {
            drop(world);
            return BooksError::missing("Invoice").into_response(&sandbox);
        };
        let refusal = if invoice.customer_id != customer_id {
            Some(format!(
                "Invoice {} does not belong to this customer.",
                invoice.invoice_number
            ))
        } else if invoice.status == "void" {
            Some(format!(
                "Payments cannot be recorded for the void invoice {}.",
                invoice.invoice_number
            ))
        } else if invoice.status == "draft" && !allow_draft {
            Some(format!(
                "Payments cannot be recorded for the draft invoice {}. Mark it as sent first.",
                invoice.invoice_number
            ))
        } else if round(*amount_applied, precision) > invoice.balance {
            Some(format!(
                "The amount applied exceeds the balance due of invoice {}.",
                invoice.invoice_number
            ))
        } else {
            None
        };
        if let Some(message) = refusal {
            drop(world);
            return BooksError::new(StatusCode::BAD_REQUEST, 4, message).into_response(&sandbox);
        }
        applied.push((
            invoice.invoice_id.clone(),
            invoice.invoice_number.clone(),
            round(*amount_applied, precision),
        ));
    }
    let now = timestamp();
    for (invoice_id, _, amount_applied) in &applied {
        if let Some(invoice) = org
            .invoices
            .iter_mut()
            .find(|i| &i.invoice_id == invoice_id)
        {
            invoice.payment_made += *amount_applied;
            invoice.balance -= *amount_applied;
            invoice.status = if invoice.balance == Decimal::ZERO {
                "paid"
            } else {
                "partially_paid"
            }
            .into();
            invoice.last_modified_time = now.clone();
        }
    }
    org.payment_numbers += 1;
    let record = PaymentRecord {
        payment_id: ids::zoho_id(&sandbox.inner.ids),
        payment_number: org.payment_numbers.to_string(),
        customer_id,
        customer_name,
        payment_mode,
        amount: round(amount, precision),
        date,
        reference_number: str_field(&body, "reference_number"),
        description: str_field(&body, "description"),
        invoices: applied,
        created_time: now,
    };
    let value = payment_json(&record, &org.currency_code);
    org.payments.push(record);
    drop(world);
    envelope(
        StatusCode::CREATED,
        "The payment has been created.",
        "payment",
        value,
    )
}

async fn list_payments(
    State(sandbox): State<ZohoSandbox>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let org_id = try_books!(sandbox, authorize(&sandbox, &headers, &query));
    let world = sandbox.world();
    let org = &world.organizations[&org_id];
    let rows: Vec<Value> = org
        .payments
        .iter()
        .filter(|p| {
            filter_matches(&query, "reference_number", &p.reference_number)
                && filter_matches(&query, "customer_id", &p.customer_id)
                && filter_matches(&query, "payment_mode", &p.payment_mode)
        })
        .map(|p| payment_json(p, &org.currency_code))
        .collect();
    drop(world);
    let (rows, context) = try_books!(sandbox, paginate(rows, &query));
    list("customerpayments", rows, context)
}

async fn get_payment(
    State(sandbox): State<ZohoSandbox>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let org_id = try_books!(sandbox, authorize(&sandbox, &headers, &query));
    let world = sandbox.world();
    let org = &world.organizations[&org_id];
    let found = org
        .payments
        .iter()
        .find(|p| p.payment_id == id)
        .map(|p| payment_json(p, &org.currency_code));
    drop(world);
    match found {
        Some(value) => envelope(StatusCode::OK, "success", "payment", value),
        None => BooksError::missing("Customer payment").into_response(&sandbox),
    }
}
