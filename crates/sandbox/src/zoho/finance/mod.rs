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

mod errors;
mod fields;

use super::{OrganizationConfig, ZohoConfig, ZohoSandbox, limits};
use crate::ids;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, RawPathParams, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::AtomicU64;
pub use webhooks::{BooksDelivery, BooksWebhook};

pub(crate) use errors::{BooksError, invalid_url, server_error};
use fields::paginate;
pub(crate) use fields::{
    amount, apply_update, check_unique, currency_for, currency_precision, customer, date_or_today,
    decimal, field, find_by_unique, matches, merge_custom_fields, money, newest_first, position,
    price_lines, round, text, timestamp, today, upsert_body, upsert_key, valid_date,
};

mod contacts;

mod creditnotes;

mod invoices;

mod items;

mod payments;

mod salesorders;

mod settings;

mod webhooks;

pub(super) use webhooks::{
    control_add as webhooks_control_add, control_deliveries as webhooks_control_deliveries,
};

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

pub(crate) fn values(records: &[Record]) -> Vec<Value> {
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
    let (org_id, standing) = match authorize(&sandbox, &headers, &query) {
        Ok(authorized) => authorized,
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
    let mut response = match result {
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
    };
    // Every answer says where the organization stands in its daily allowance.
    if let Some((limit, remaining, reset)) = standing {
        let headers = response.headers_mut();
        for (name, value) in [
            ("x-rate-limit-limit", limit),
            ("x-rate-limit-remaining", remaining),
            ("x-rate-limit-reset", reset),
        ] {
            headers.insert(name, axum::http::HeaderValue::from(value));
        }
    }
    response
}

pub(super) fn routes() -> Router<ZohoSandbox> {
    let mut router = Router::new();
    for (prefix, api) in [("/books/v3", Api::Books), ("/inventory/v1", Api::Inventory)] {
        router = router
            .route(&format!("{prefix}/organizations"), get(organizations))
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
/// `GET /organizations`: the organizations the token's user belongs to — what `connect zoho`
/// offers to choose from. It takes no `organization_id`.
async fn organizations(State(sandbox): State<ZohoSandbox>, headers: HeaderMap) -> Response {
    if let Err(error) = authenticate(&sandbox, &headers) {
        return error.into_response(&sandbox);
    }
    let config = &sandbox.inner.config;
    let organizations: Vec<Value> = config
        .organizations
        .iter()
        .enumerate()
        .map(|(i, org)| {
            json!({
                "organization_id": org.organization_id, "name": org.name,
                "contact_name": "Sandbox Admin", "email": "admin@sandbox.example",
                "is_default_org": i == 0, "currency_code": org.currency_code,
                "is_org_active": true, "time_zone": "Etc/UTC", "language_code": "en",
                "fiscal_year_start_month": 0, "plan_type": 0, "plan_name": "STANDARD",
            })
        })
        .collect();
    (
        StatusCode::OK,
        axum::Json(json!({"code": 0, "message": "success", "organizations": organizations})),
    )
        .into_response()
}

/// The token must be a live access token (Books' codes 14 and 57 otherwise).
fn authenticate(sandbox: &ZohoSandbox, headers: &HeaderMap) -> Result<(), BooksError> {
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
    Ok(())
}

/// The organization a call is for, once its token, organization and allowance are checked, and
/// where that allowance then stands (limit, remaining, seconds to reset) for the answer's
/// `X-Rate-Limit-*` headers.
fn authorize(
    sandbox: &ZohoSandbox,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<(String, Option<limits::Standing>), BooksError> {
    authenticate(sandbox, headers)?;
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
    let standing = world.spending.standing(limits, limits::Meter::Books, org);
    Ok((org.to_string(), standing))
}
