//! Zoho Books v3 and Zoho Inventory v1: two front-ends over one finance organization
//! (reference zoho.md §2–§3). The same organization's contacts, items, sales orders, invoices,
//! payments and credit notes answer under `/books/v3` and `/inventory/v1`; Inventory adds
//! packages and shipments, and confirms sales orders where Books "opens" them.
//!
//! Zoho's conventions: `organization_id` on every call, the `{code, message, <entity>}`
//! envelope, any non-zero `code` an error, ids as long numeric strings, amounts rounded to the
//! currency's precision, `page`/`per_page` (≤ 200) with `page_context`, raw JSON or the legacy
//! `JSONString` form field, and upserts by a unique custom field (`X-Unique-Identifier-Key`,
//! `X-Unique-Identifier-Value`, `X-Upsert`).

mod contacts;
mod creditnotes;
mod invoices;
mod items;
mod payments;
mod salesorders;
mod settings;
mod webhooks;

pub use webhooks::{BooksDelivery, BooksWebhook};
pub(super) use webhooks::{
    control_add as webhooks_control_add, control_deliveries as webhooks_control_deliveries,
};

use std::collections::{BTreeSet, HashMap, HashSet};
use std::str::FromStr;
use std::sync::atomic::AtomicU64;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, RawPathParams, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

use super::{OrganizationConfig, ZohoConfig, ZohoSandbox, limits};
use crate::ids;

/// Which front-end a request came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Api {
    Books,
    Inventory,
}

/// A record as the API renders it.
pub(super) type Record = Map<String, Value>;

/// One organization's finance data.
pub(super) struct Organization {
    pub currency_code: String,
    pub currency_id: String,
    pub unique_custom_fields: BTreeSet<String>,
    pub contacts: Vec<Record>,
    /// Contact display names (lower case) to contact ids: names are unique (3062).
    pub contact_names: HashMap<String, String>,
    /// Primary e-mails (lower case) to contact ids: list filters by e-mail read it.
    pub contact_emails: HashMap<String, Vec<String>>,
    /// Each customer's invoices, payments and credit notes (positions in their lists).
    pub transactions_of: HashMap<String, Transactions>,
    pub items: Vec<Record>,
    pub salesorders: Vec<Record>,
    pub invoices: Vec<Record>,
    /// Invoice numbers (ASCII lower case), which are unique: a new invoice checks here.
    pub invoice_numbers: HashSet<String>,
    pub payments: Vec<Record>,
    pub payment_refunds: Vec<Record>,
    pub creditnotes: Vec<Record>,
    pub creditnote_refunds: Vec<Record>,
    pub packages: Vec<Record>,
    pub shipments: Vec<Record>,
    pub currencies: Vec<Record>,
    pub exchange_rates: Vec<Record>,
    pub accounts: Vec<Record>,
    numbers: HashMap<&'static str, u64>,
}

/// Where a customer's transactions are in the organization's lists.
#[derive(Debug, Default)]
pub(super) struct Transactions {
    pub invoices: Vec<usize>,
    pub payments: Vec<usize>,
    pub creditnotes: Vec<usize>,
}

/// Everything one organization holds, rendered as its API renders it.
#[derive(Debug, Clone, Default)]
pub struct BooksRecords {
    pub contacts: Vec<Value>,
    pub invoices: Vec<Value>,
    pub customer_payments: Vec<Value>,
    pub credit_notes: Vec<Value>,
    pub items: Vec<Value>,
    pub sales_orders: Vec<Value>,
    pub packages: Vec<Value>,
    pub shipments: Vec<Value>,
}

fn values(records: &[Record]) -> Vec<Value> {
    records.iter().cloned().map(Value::Object).collect()
}

impl Organization {
    pub(super) fn records(&self) -> BooksRecords {
        BooksRecords {
            contacts: values(&self.contacts),
            invoices: values(&self.invoices),
            customer_payments: values(&self.payments),
            credit_notes: values(&self.creditnotes),
            items: values(&self.items),
            sales_orders: values(&self.salesorders),
            packages: values(&self.packages),
            shipments: values(&self.shipments),
        }
    }

    pub(super) fn new(config: &OrganizationConfig, ids: &AtomicU64) -> Organization {
        let precision = currency_precision(&config.currency_code);
        let currency_id = ids::zoho_id(ids);
        let base = settings::currency_record(&currency_id, &config.currency_code, precision, true);
        let account = |name: &str, kind: &str| {
            let mut record = Record::new();
            record.insert("account_id".into(), json!(ids::zoho_id(ids)));
            record.insert("account_name".into(), json!(name));
            record.insert("account_type".into(), json!(kind));
            record.insert("currency_code".into(), json!(config.currency_code));
            record.insert("is_active".into(), json!(true));
            record
        };
        Organization {
            currency_code: config.currency_code.clone(),
            currency_id,
            unique_custom_fields: config.unique_custom_fields.iter().cloned().collect(),
            contacts: Vec::new(),
            contact_names: HashMap::new(),
            contact_emails: HashMap::new(),
            transactions_of: HashMap::new(),
            items: Vec::new(),
            salesorders: Vec::new(),
            invoices: Vec::new(),
            invoice_numbers: HashSet::new(),
            payments: Vec::new(),
            payment_refunds: Vec::new(),
            creditnotes: Vec::new(),
            creditnote_refunds: Vec::new(),
            packages: Vec::new(),
            shipments: Vec::new(),
            currencies: vec![base],
            exchange_rates: Vec::new(),
            accounts: vec![
                account("Undeposited Funds", "cash"),
                account("Petty Cash", "cash"),
                account("Operating Account", "bank"),
            ],
            numbers: HashMap::new(),
        }
    }

    /// The next number of a series (`INV-000001`, `SO-00001`, …).
    fn next_number(&mut self, series: &'static str) -> u64 {
        let n = self.numbers.entry(series).or_insert(0);
        *n += 1;
        *n
    }

    /// Adds an invoice and indexes it under its customer.
    pub(super) fn push_invoice(&mut self, invoice: Record) {
        let customer = field(&invoice, "customer_id").to_string();
        self.transactions_of
            .entry(customer)
            .or_default()
            .invoices
            .push(self.invoices.len());
        self.invoice_numbers
            .insert(field(&invoice, "invoice_number").to_ascii_lowercase());
        self.invoices.push(invoice);
    }

    /// Adds a customer payment and indexes it under its customer.
    pub(super) fn push_payment(&mut self, payment: Record) {
        let customer = field(&payment, "customer_id").to_string();
        self.transactions_of
            .entry(customer)
            .or_default()
            .payments
            .push(self.payments.len());
        self.payments.push(payment);
    }

    /// Adds a credit note and indexes it under its customer.
    pub(super) fn push_creditnote(&mut self, note: Record) {
        let customer = field(&note, "customer_id").to_string();
        self.transactions_of
            .entry(customer)
            .or_default()
            .creditnotes
            .push(self.creditnotes.len());
        self.creditnotes.push(note);
    }

    /// The currency record with this id.
    fn currency(&self, currency_id: &str) -> Option<&Record> {
        self.currencies
            .iter()
            .find(|c| field(c, "currency_id") == currency_id)
    }
}

/// Books' `price_precision`: 0 for JPY-like currencies, 3 for BHD/KWD/OMR/JOD/TND, else 2.
pub(super) fn currency_precision(code: &str) -> u32 {
    match code {
        "JPY" | "KRW" | "VND" | "CLP" | "ISK" | "XAF" | "XOF" | "UGX" => 0,
        "BHD" | "KWD" | "OMR" | "JOD" | "TND" | "LYD" | "IQD" => 3,
        _ => 2,
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

pub(super) struct BooksError {
    status: StatusCode,
    code: i64,
    message: String,
    headers: Vec<(&'static str, String)>,
}

impl BooksError {
    pub fn new(status: StatusCode, code: i64, message: impl Into<String>) -> BooksError {
        BooksError {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    /// Code 2, `Invalid value passed for <Field Label>`.
    pub fn invalid(field: &str) -> BooksError {
        BooksError::new(
            StatusCode::BAD_REQUEST,
            2,
            format!("Invalid value passed for {field}"),
        )
    }

    /// Code 1002, `<Entity> does not exist.`
    pub fn missing(entity: &str) -> BooksError {
        BooksError::new(
            StatusCode::NOT_FOUND,
            1002,
            format!("{entity} does not exist."),
        )
    }

    /// A business rule refused the request (code 4, HTTP 400).
    pub fn refused(message: impl Into<String>) -> BooksError {
        BooksError::new(StatusCode::BAD_REQUEST, 4, message)
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

/// An error answer for fault injection, in the words of the product the path belongs to:
/// CRM's `{code, details, message, status}`, Desk's `{errorCode, message}`, else Books'
/// `{code, message}`.
pub(super) fn server_error(path: &str, status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let throttled = status == StatusCode::TOO_MANY_REQUESTS;
    if path.starts_with("/crm/") {
        let (code, message) = if throttled {
            (
                "RATE_LIMIT_EXCEEDED",
                "Too many requests. Please try again later.",
            )
        } else {
            ("INTERNAL_ERROR", "Internal server error occurred.")
        };
        let body = json!({"code": code, "details": {}, "message": message, "status": "error"});
        return (status, axum::Json(body)).into_response();
    }
    if path.starts_with("/api/v1/") {
        let (code, message) = if throttled {
            (
                "TOO_MANY_REQUESTS",
                "You have exceeded the API credit limit. Please try again later.",
            )
        } else {
            (
                "INTERNAL_SERVER_ERROR",
                "An internal server error occurred.",
            )
        };
        return (
            status,
            axum::Json(json!({"errorCode": code, "message": message})),
        )
            .into_response();
    }
    // Zoho's 429 code is undocumented (zoho.md §2.2): any non-zero code, with its message.
    let body = if throttled {
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

// ---------------------------------------------------------------------------------------------
// Requests and replies

/// What an operation sees: the organization, the request, and the simulator's id source.
pub(super) struct Ctx<'a> {
    pub api: Api,
    pub org: &'a mut Organization,
    pub query: &'a HashMap<String, String>,
    pub headers: &'a HeaderMap,
    body: &'a Bytes,
    /// Path parameters, in order.
    pub path: Vec<String>,
    pub ids: &'a AtomicU64,
    pub config: &'a ZohoConfig,
}

impl Ctx<'_> {
    /// The JSON body, or the legacy `JSONString=<json>` form field.
    pub fn json(&self) -> Result<Record, BooksError> {
        let malformed =
            || BooksError::new(StatusCode::BAD_REQUEST, 1038, "JSON is not well formed");
        let is_form = self
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let json_bytes = if is_form {
            let pairs: Vec<(String, String)> =
                serde_urlencoded::from_bytes(self.body).map_err(|_| malformed())?;
            pairs
                .into_iter()
                .find(|(k, _)| k == "JSONString")
                .map(|(_, v)| v.into_bytes())
                .ok_or_else(malformed)?
        } else {
            self.body.to_vec()
        };
        match serde_json::from_slice::<Value>(&json_bytes) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(malformed()),
        }
    }

    pub fn id(&self) -> String {
        ids::zoho_id(self.ids)
    }

    pub fn param(&self, index: usize) -> &str {
        self.path.get(index).map_or("", String::as_str)
    }

    pub fn query_flag(&self, key: &str) -> bool {
        self.query
            .get(key)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }
}

pub(super) enum Reply {
    /// `{code: 0, message, <key>: value}` (no key: just code and message).
    One {
        status: StatusCode,
        message: &'static str,
        key: &'static str,
        value: Value,
        /// Whether a record came to be (workflow webhooks fire `create`, else `edit`).
        created: bool,
    },
    /// A page of a list, with `page_context`.
    List { key: &'static str, rows: Vec<Value> },
}

impl Reply {
    pub fn created(message: &'static str, key: &'static str, record: &Record) -> Reply {
        Reply::One {
            status: StatusCode::CREATED,
            message,
            key,
            value: Value::Object(record.clone()),
            created: true,
        }
    }

    /// A record made, answered 200 as the API files document for upserts (`PUT` by a unique
    /// field) and Inventory's item create.
    pub fn upserted(message: &'static str, key: &'static str, record: &Record) -> Reply {
        Reply::One {
            status: StatusCode::OK,
            message,
            key,
            value: Value::Object(record.clone()),
            created: true,
        }
    }

    pub fn ok(message: &'static str, key: &'static str, record: &Record) -> Reply {
        Reply::One {
            status: StatusCode::OK,
            message,
            key,
            value: Value::Object(record.clone()),
            created: false,
        }
    }

    pub fn done(message: &'static str) -> Reply {
        Reply::done_with(StatusCode::OK, message)
    }

    /// A status change answered with `status` (some are documented as 201).
    pub fn done_with(status: StatusCode, message: &'static str) -> Reply {
        Reply::One {
            status,
            message,
            key: "",
            value: Value::Null,
            created: false,
        }
    }
}

pub(super) type Op = fn(&mut Ctx<'_>) -> Result<Reply, BooksError>;

/// Authenticates, meters and runs one operation against its organization.
#[expect(
    clippy::too_many_arguments,
    reason = "the request's parts, straight from axum"
)]
async fn run(
    sandbox: ZohoSandbox,
    api: Api,
    method: axum::http::Method,
    params: RawPathParams,
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: Bytes,
    op: Op,
) -> Response {
    let org_id = match authorize(&sandbox, &headers, &query) {
        Ok(org) => org,
        Err(error) => return error.into_response(&sandbox),
    };
    let path: Vec<String> = params.iter().map(|(_, v)| v.to_string()).collect();
    let result = {
        let mut world = sandbox.world();
        let org = world
            .organizations
            .get_mut(&org_id)
            .expect("authorized organization exists");
        let mut ctx = Ctx {
            api,
            org,
            query: &query,
            headers: &headers,
            body: &body,
            path,
            ids: &sandbox.inner.ids,
            config: &sandbox.inner.config,
        };
        op(&mut ctx)
    };
    match result {
        Ok(Reply::One {
            status,
            message,
            key,
            value,
            created,
        }) => {
            if method != axum::http::Method::GET && !key.is_empty() && value.is_object() {
                let event = if created { "create" } else { "edit" };
                sandbox.books_webhook(&org_id, key, event, &value);
            }
            let mut body = Map::new();
            body.insert("code".into(), json!(0));
            body.insert("message".into(), json!(message));
            if !key.is_empty() {
                body.insert(key.into(), value);
            }
            (status, axum::Json(Value::Object(body))).into_response()
        }
        Ok(Reply::List { key, rows }) => match paginate(rows, &query) {
            Ok((rows, context)) => (
                StatusCode::OK,
                axum::Json(
                    json!({"code": 0, "message": "success", key: rows, "page_context": context}),
                ),
            )
                .into_response(),
            Err(error) => error.into_response(&sandbox),
        },
        Err(error) => error.into_response(&sandbox),
    }
}

macro_rules! op {
    ($api:expr, $op:path) => {{
        let api = $api;
        move |State(sandbox): State<ZohoSandbox>,
              method: axum::http::Method,
              params: RawPathParams,
              Query(query): Query<HashMap<String, String>>,
              headers: HeaderMap,
              body: Bytes| async move {
            run(sandbox, api, method, params, query, headers, body, $op).await
        }
    }};
}

pub(super) fn routes() -> Router<ZohoSandbox> {
    let mut router = Router::new();
    for (prefix, api) in [("/books/v3", Api::Books), ("/inventory/v1", Api::Inventory)] {
        router = router
            .route(
                &format!("{prefix}/contacts"),
                post(op!(api, contacts::create))
                    .get(op!(api, contacts::list))
                    .put(op!(api, contacts::upsert)),
            )
            .route(
                &format!("{prefix}/contacts/{{id}}"),
                get(op!(api, contacts::get)).put(op!(api, contacts::update)),
            )
            .route(
                &format!("{prefix}/items"),
                post(op!(api, items::create))
                    .get(op!(api, items::list))
                    .put(op!(api, items::upsert)),
            )
            .route(
                &format!("{prefix}/items/{{id}}"),
                get(op!(api, items::get)).put(op!(api, items::update)),
            )
            .route(
                &format!("{prefix}/salesorders"),
                post(op!(api, salesorders::create))
                    .get(op!(api, salesorders::list))
                    .put(op!(api, salesorders::upsert)),
            )
            .route(
                &format!("{prefix}/salesorders/{{id}}"),
                get(op!(api, salesorders::get)),
            )
            .route(
                &format!("{prefix}/salesorders/{{id}}/status/void"),
                post(op!(api, salesorders::void)),
            )
            .route(
                &format!("{prefix}/invoices"),
                post(op!(api, invoices::create))
                    .get(op!(api, invoices::list))
                    .put(op!(api, invoices::upsert)),
            )
            .route(
                &format!("{prefix}/invoices/{{id}}"),
                get(op!(api, invoices::get)).put(op!(api, invoices::update)),
            )
            .route(
                &format!("{prefix}/invoices/{{id}}/status/sent"),
                post(op!(api, invoices::mark_sent)),
            )
            .route(
                &format!("{prefix}/invoices/{{id}}/status/void"),
                post(op!(api, invoices::void)),
            )
            .route(
                &format!("{prefix}/invoices/{{id}}/status/draft"),
                post(op!(api, invoices::draft)),
            )
            .route(
                &format!("{prefix}/customerpayments"),
                post(op!(api, payments::create))
                    .get(op!(api, payments::list))
                    .put(op!(api, payments::upsert)),
            )
            .route(
                &format!("{prefix}/customerpayments/{{id}}"),
                get(op!(api, payments::get)),
            )
            .route(
                &format!("{prefix}/customerpayments/{{id}}/refunds"),
                post(op!(api, payments::refund)).get(op!(api, payments::refunds)),
            )
            .route(
                &format!("{prefix}/creditnotes"),
                post(op!(api, creditnotes::create))
                    .get(op!(api, creditnotes::list))
                    .put(op!(api, creditnotes::upsert)),
            )
            .route(
                &format!("{prefix}/creditnotes/refunds"),
                get(op!(api, creditnotes::all_refunds)),
            )
            .route(
                &format!("{prefix}/creditnotes/{{id}}"),
                get(op!(api, creditnotes::get)),
            )
            .route(
                &format!("{prefix}/creditnotes/{{id}}/status/void"),
                post(op!(api, creditnotes::void)),
            )
            .route(
                &format!("{prefix}/creditnotes/{{id}}/invoices"),
                post(op!(api, creditnotes::apply)),
            )
            .route(
                &format!("{prefix}/creditnotes/{{id}}/refunds"),
                post(op!(api, creditnotes::refund)).get(op!(api, creditnotes::refunds)),
            );
    }
    router
        // Books only: opening a sales order, invoicing one, currencies and bank accounts.
        .route(
            "/books/v3/salesorders/{id}/status/open",
            post(op!(Api::Books, salesorders::confirm)),
        )
        .route(
            "/books/v3/invoices/fromsalesorder",
            post(op!(Api::Books, invoices::from_sales_order)),
        )
        .route(
            "/books/v3/settings/currencies",
            get(op!(Api::Books, settings::currencies))
                .post(op!(Api::Books, settings::add_currency)),
        )
        .route(
            "/books/v3/settings/currencies/{id}/exchangerates",
            get(op!(Api::Books, settings::exchange_rates))
                .post(op!(Api::Books, settings::add_exchange_rate)),
        )
        .route(
            "/books/v3/bankaccounts",
            get(op!(Api::Books, settings::bank_accounts)),
        )
        // Inventory only: confirming, packing and shipping.
        .route(
            "/inventory/v1/salesorders/{id}/status/confirmed",
            post(op!(Api::Inventory, salesorders::confirm)),
        )
        .route(
            "/inventory/v1/packages",
            post(op!(Api::Inventory, salesorders::create_package))
                .get(op!(Api::Inventory, salesorders::list_packages)),
        )
        .route(
            "/inventory/v1/packages/{id}",
            get(op!(Api::Inventory, salesorders::get_package)),
        )
        .route(
            "/inventory/v1/shipmentorders",
            post(op!(Api::Inventory, salesorders::create_shipment)),
        )
        .route(
            "/inventory/v1/shipmentorders/{id}",
            get(op!(Api::Inventory, salesorders::get_shipment)),
        )
        .route(
            "/inventory/v1/shipmentorders/{id}/status/delivered",
            post(op!(Api::Inventory, salesorders::mark_delivered)),
        )
        .route(
            "/inventory/v1/itemadjustments",
            post(op!(Api::Inventory, items::adjust_stock)),
        )
}

/// Checks the `Zoho-oauthtoken` header, `organization_id` and the organization's limits;
/// returns the organization id.
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

// ---------------------------------------------------------------------------------------------
// Fields, money and dates

/// A trimmed string field ("" when absent or not a string).
pub(super) fn text(record: &Record, key: &str) -> String {
    record
        .get(key)
        .and_then(Value::as_str)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// A string field as stored, without copying ("" when absent or not a string); for loops over
/// many records.
pub(super) fn field<'a>(record: &'a Record, key: &str) -> &'a str {
    record.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// A decimal field given as a JSON number or a numeric string; `None` when absent or empty.
pub(super) fn decimal(value: Option<&Value>) -> Option<Result<Decimal, ()>> {
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
pub(super) fn amount(record: &Record, key: &str) -> Decimal {
    decimal(record.get(key))
        .and_then(Result::ok)
        .unwrap_or_default()
}

/// An amount as Books writes it: a JSON number.
pub(super) fn money(amount: Decimal) -> Value {
    let normalized = amount.normalize();
    if normalized.scale() == 0
        && let Some(whole) = normalized.to_i64()
    {
        return json!(whole);
    }
    normalized.to_f64().map_or(Value::Null, |f| json!(f))
}

pub(super) fn round(amount: Decimal, precision: u32) -> Decimal {
    amount.round_dp_with_strategy(precision, RoundingStrategy::MidpointAwayFromZero)
}

pub(super) fn today() -> String {
    OffsetDateTime::now_utc()
        .format(format_description!("[year]-[month]-[day]"))
        .unwrap_or_default()
}

/// Books timestamps: `2013-11-18T02:02:51+0000` (offset without a colon).
pub(super) fn timestamp() -> String {
    OffsetDateTime::now_utc()
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]+0000"
        ))
        .unwrap_or_default()
}

pub(super) fn valid_date(date: &str) -> bool {
    time::Date::parse(date, format_description!("[year]-[month]-[day]")).is_ok()
}

/// A `yyyy-mm-dd` date field, today when absent.
pub(super) fn date_or_today(body: &Record, key: &str, label: &str) -> Result<String, BooksError> {
    match text(body, key) {
        d if d.is_empty() => Ok(today()),
        d if valid_date(&d) => Ok(d),
        _ => Err(BooksError::invalid(label)),
    }
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

/// The list filters a record passes: exact (case-insensitive) matches on the named fields,
/// `<field>_startswith` and `<field>_contains` variants, and `search_text` over `searchable`.
pub(super) fn matches(
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
pub(super) fn newest_first(records: Vec<Value>) -> Vec<Value> {
    let mut records = records;
    records.reverse();
    records
}

// ---------------------------------------------------------------------------------------------
// Line items

/// Lines of an invoice, sales order or credit note, priced and rounded; item ids must exist
/// and lend their name and rate when the line has none.
pub(super) fn price_lines(
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
pub(super) fn merge_custom_fields(
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
fn crc(name: &str) -> u32 {
    name.bytes().fold(2_166_136_261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16_777_619)
    }) % 1_000_000
}

/// The value of a custom field on a record.
pub(super) fn custom_value(record: &Record, api_name: &str) -> Option<String> {
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
pub(super) fn check_unique(
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
pub(super) struct UpsertKey {
    pub api_name: String,
    pub value: String,
    pub create: bool,
}

pub(super) fn upsert_key(ctx: &Ctx<'_>) -> Result<UpsertKey, BooksError> {
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
pub(super) fn upsert_body(ctx: &Ctx<'_>, key: &UpsertKey) -> Result<Record, BooksError> {
    let mut body = ctx.json()?;
    let fields = merge_custom_fields(
        body.get("custom_fields"),
        Some(&json!([{"api_name": key.api_name, "value": key.value}])),
    )?;
    body.insert("custom_fields".into(), fields);
    Ok(body)
}

/// Index of the record whose unique field has the upsert's value.
pub(super) fn find_by_unique(records: &[Record], key: &UpsertKey) -> Option<usize> {
    records
        .iter()
        .position(|r| custom_value(r, &key.api_name).as_deref() == Some(key.value.as_str()))
}

/// Copies the fields of an update onto a record, except those the simulator computes.
pub(super) fn apply_update(record: &mut Record, body: &Record, computed: &[&str]) {
    for (key, value) in body {
        if key == "custom_fields" || computed.contains(&key.as_str()) {
            continue;
        }
        record.insert(key.clone(), value.clone());
    }
    record.insert("last_modified_time".into(), json!(timestamp()));
}

/// Finds a record by its id field, or says it does not exist.
pub(super) fn position(
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
pub(super) fn customer<'r>(
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
pub(super) fn currency_for(
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
