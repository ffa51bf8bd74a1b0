//! Token Management Service (reference §3.6): customers, their payment instruments and shipping
//! addresses, and instrument identifiers (a card number → a stable id). Updates honour
//! `if-match` (412 on a stale version); errors use TMS's own body
//! `{"errors":[{"type","message","details":[{"name","location"}]}]}`.

use std::collections::HashMap;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::RngExt as _;
use serde_json::{Value, json};

use super::payments::luhn;
use super::{CybersourceSandbox, Merchant};

/// A TMS error answer.
pub(super) fn tms_error(
    status: StatusCode,
    kind: &str,
    message: &str,
    fields: &[&str],
) -> Response {
    let details: Vec<Value> = fields
        .iter()
        .map(|f| json!({"name": f, "location": "body"}))
        .collect();
    let mut error = json!({"type": kind, "message": message});
    if !details.is_empty() {
        error["details"] = Value::Array(details);
    }
    (
        status,
        [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
        json!({"errors": [error]}).to_string(),
    )
        .into_response()
}

fn not_found(what: &str) -> Response {
    tms_error(
        StatusCode::NOT_FOUND,
        "notFound",
        &format!("{what} not found"),
        &[],
    )
}

fn hex_id() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn answer(status: StatusCode, body: Value, version: Option<u64>) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
        body.to_string(),
    )
        .into_response();
    if let Some(version) = version
        && let Ok(etag) = HeaderValue::from_str(&format!("\"{version}\""))
    {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

/// Whether an `if-match` header (if any) names the current version.
fn precondition_holds(headers: &HeaderMap, version: u64) -> bool {
    headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.trim().trim_start_matches("W/").trim_matches('"') == version.to_string())
}

fn stale() -> Response {
    tms_error(
        StatusCode::PRECONDITION_FAILED,
        "conflict",
        "The resource has been changed since it was read (if-match).",
        &[],
    )
}

/// The simulated vault. Card numbers live here, inside the simulated Cybersource, as they do at
/// the real one; nothing outside it ever sees them again.
#[derive(Default)]
pub(super) struct Vault {
    identifiers: HashMap<String, Identifier>,
    by_number: HashMap<(String, String), String>,
    customers: HashMap<String, CustomerRecord>,
    instruments: HashMap<String, Instrument>,
    addresses: HashMap<String, Address>,
    next_identifier: u64,
}

struct Identifier {
    id: String,
    merchant_id: String,
    number: String,
}

struct CustomerRecord {
    id: String,
    merchant_id: String,
    body: Value,
    default_instrument: Option<String>,
    default_address: Option<String>,
    version: u64,
}

struct Instrument {
    id: String,
    customer_id: String,
    identifier_id: String,
    card: Value,
    bill_to: Value,
    version: u64,
}

struct Address {
    id: String,
    customer_id: String,
    ship_to: Value,
}

/// A card a token stands for, as a payment needs it.
pub(super) struct VaultCard {
    pub number: String,
    pub expiration: Option<(String, String)>,
    pub card_type: Option<String>,
    /// The payment instrument's billing address, if it has one.
    pub bill_to: Option<Value>,
}

fn masked(number: &str) -> String {
    let n = number.len();
    format!(
        "{}{}{}",
        &number[..6.min(n)],
        "X".repeat(n.saturating_sub(10)),
        &number[n.saturating_sub(4)..]
    )
}

impl Vault {
    fn identifier_json(&self, identifier: &Identifier) -> Value {
        json!({
            "_links": {"self": {"href": format!("/tms/v1/instrumentidentifiers/{}", identifier.id)},
                       "paymentInstruments": {"href": format!("/tms/v1/instrumentidentifiers/{}/paymentinstruments", identifier.id)}},
            "id": identifier.id, "object": "instrumentIdentifier", "state": "ACTIVE",
            "card": {"number": masked(&identifier.number)},
            "metadata": {"creator": "paybridge_sandbox"}
        })
    }

    /// The identifier of a card number: the existing one, or a new one (`true`).
    pub(super) fn identify(&mut self, merchant_id: &str, number: &str) -> (String, bool) {
        if let Some(id) = self
            .by_number
            .get(&(merchant_id.to_string(), number.to_string()))
        {
            return (id.clone(), false);
        }
        self.next_identifier += 1;
        // 19 digits, as the service's (`7010000000016241111`).
        let id = format!("70100000{:011}", self.next_identifier);
        self.identifiers.insert(
            id.clone(),
            Identifier {
                id: id.clone(),
                merchant_id: merchant_id.into(),
                number: number.into(),
            },
        );
        self.by_number
            .insert((merchant_id.into(), number.into()), id.clone());
        (id, true)
    }

    fn customer_json(&self, c: &CustomerRecord) -> Value {
        let mut body = c.body.clone();
        body["id"] = json!(c.id);
        body["_links"] = json!({
            "self": {"href": format!("/tms/v2/customers/{}", c.id)},
            "paymentInstruments": {"href": format!("/tms/v2/customers/{}/payment-instruments", c.id)},
            "shippingAddresses": {"href": format!("/tms/v2/customers/{}/shipping-addresses", c.id)}
        });
        if let Some(pi) = &c.default_instrument {
            body["defaultPaymentInstrument"] = json!({"id": pi});
        }
        if let Some(sa) = &c.default_address {
            body["defaultShippingAddress"] = json!({"id": sa});
        }
        body["metadata"] = json!({"creator": "paybridge_sandbox"});
        body
    }

    fn instrument_json(&self, pi: &Instrument, default: bool) -> Value {
        let identifier = self.identifiers.get(&pi.identifier_id);
        json!({
            "_links": {"self": {"href": format!("/tms/v2/customers/{}/payment-instruments/{}", pi.customer_id, pi.id)},
                       "customer": {"href": format!("/tms/v2/customers/{}", pi.customer_id)}},
            "id": pi.id, "default": default, "state": "ACTIVE",
            "card": pi.card, "billTo": pi.bill_to,
            "instrumentIdentifier": {"id": pi.identifier_id},
            "_embedded": {"instrumentIdentifier": identifier.map(|i| self.identifier_json(i))}
        })
    }

    fn address_json(&self, a: &Address, default: bool) -> Value {
        json!({
            "_links": {"self": {"href": format!("/tms/v2/customers/{}/shipping-addresses/{}", a.customer_id, a.id)},
                       "customer": {"href": format!("/tms/v2/customers/{}", a.customer_id)}},
            "id": a.id, "default": default, "shipTo": a.ship_to
        })
    }

    fn customer_of(&self, merchant_id: &str, id: &str) -> Option<&CustomerRecord> {
        self.customers
            .get(id)
            .filter(|c| c.merchant_id == merchant_id)
    }

    /// Creates a customer with one payment instrument for a card (payments' `TOKEN_CREATE`).
    pub(super) fn create_for_payment(
        &mut self,
        merchant_id: &str,
        number: &str,
        card: Value,
        bill_to: Value,
        email: Option<&str>,
    ) -> (String, String, String) {
        let (identifier_id, _) = self.identify(merchant_id, number);
        let customer_id = hex_id();
        let instrument_id = hex_id();
        self.customers.insert(
            customer_id.clone(),
            CustomerRecord {
                id: customer_id.clone(),
                merchant_id: merchant_id.into(),
                body: json!({"buyerInformation": {"email": email}}),
                default_instrument: Some(instrument_id.clone()),
                default_address: None,
                version: 1,
            },
        );
        self.instruments.insert(
            instrument_id.clone(),
            Instrument {
                id: instrument_id.clone(),
                customer_id: customer_id.clone(),
                identifier_id: identifier_id.clone(),
                card,
                bill_to,
                version: 1,
            },
        );
        (customer_id, instrument_id, identifier_id)
    }

    /// The card behind a customer (its default or the named instrument), an instrument, or an
    /// identifier; the error names the field that did not resolve.
    pub(super) fn resolve(
        &self,
        merchant_id: &str,
        customer: Option<&str>,
        instrument: Option<&str>,
        identifier: Option<&str>,
    ) -> Result<VaultCard, &'static str> {
        let instrument = match (customer, instrument) {
            (Some(customer_id), instrument_id) => {
                let customer = self
                    .customer_of(merchant_id, customer_id)
                    .ok_or("paymentInformation.customer.id")?;
                let id = instrument_id
                    .map(str::to_string)
                    .or_else(|| customer.default_instrument.clone())
                    .ok_or("paymentInformation.customer.id")?;
                let pi = self
                    .instruments
                    .get(&id)
                    .filter(|pi| pi.customer_id == customer.id)
                    .ok_or("paymentInformation.paymentInstrument.id")?;
                Some(pi)
            }
            (None, Some(instrument_id)) => {
                let pi = self
                    .instruments
                    .get(instrument_id)
                    .ok_or("paymentInformation.paymentInstrument.id")?;
                self.customer_of(merchant_id, &pi.customer_id)
                    .ok_or("paymentInformation.paymentInstrument.id")?;
                Some(pi)
            }
            (None, None) => None,
        };
        let identifier_id = match (instrument, identifier) {
            (Some(pi), _) => pi.identifier_id.clone(),
            (None, Some(id)) => id.to_string(),
            (None, None) => return Err("paymentInformation.card.number"),
        };
        let identifier = self
            .identifiers
            .get(&identifier_id)
            .filter(|i| i.merchant_id == merchant_id)
            .ok_or("paymentInformation.instrumentIdentifier.id")?;
        let expiration = instrument.and_then(|pi| {
            Some((
                pi.card["expirationMonth"].as_str()?.to_string(),
                pi.card["expirationYear"].as_str()?.to_string(),
            ))
        });
        Ok(VaultCard {
            number: identifier.number.clone(),
            expiration,
            card_type: instrument.and_then(|pi| pi.card["type"].as_str().map(str::to_string)),
            bill_to: instrument
                .map(|pi| pi.bill_to.clone())
                .filter(|b| b.as_object().is_some_and(|o| !o.is_empty())),
        })
    }
}

fn body_json(body: &Bytes) -> Option<Value> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
}

fn bad_body() -> Response {
    tms_error(
        StatusCode::BAD_REQUEST,
        "invalidFields",
        "The request body is not a JSON object.",
        &[],
    )
}

// ---------------------------------------------------------------------------------------------
// Instrument identifiers

pub(super) async fn create_identifier(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    body: Bytes,
) -> Response {
    let Some(request) = body_json(&body) else {
        return bad_body();
    };
    let Some(number) = request
        .pointer("/card/number")
        .and_then(Value::as_str)
        .map(|n| n.replace([' ', '-'], ""))
    else {
        return tms_error(
            StatusCode::BAD_REQUEST,
            "missingFields",
            "Missing field",
            &["card.number"],
        );
    };
    if !(12..=19).contains(&number.len())
        || !number.bytes().all(|b| b.is_ascii_digit())
        || !luhn(&number)
    {
        return tms_error(
            StatusCode::BAD_REQUEST,
            "invalidFields",
            "Invalid field value",
            &["card.number"],
        );
    }
    let mut vault = sandbox.vault();
    let (id, created) = vault.identify(&merchant.0, &number);
    let body = vault.identifier_json(&vault.identifiers[&id]);
    drop(vault);
    if created {
        sandbox.emit_token_created(
            &merchant.0,
            "instrumentIdentifier",
            &id,
            format!("/tms/v1/instrumentidentifiers/{id}"),
        );
    }
    // An existing card gives back its identifier, with 200 instead of 201.
    answer(
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        body,
        Some(1),
    )
}

pub(super) async fn get_identifier(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Path(id): Path<String>,
) -> Response {
    let vault = sandbox.vault();
    match vault
        .identifiers
        .get(&id)
        .filter(|i| i.merchant_id == merchant.0)
    {
        Some(identifier) => answer(StatusCode::OK, vault.identifier_json(identifier), Some(1)),
        None => not_found("Instrument identifier"),
    }
}

pub(super) async fn delete_identifier(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Path(id): Path<String>,
) -> Response {
    let mut vault = sandbox.vault();
    let Some(identifier) = vault
        .identifiers
        .get(&id)
        .filter(|i| i.merchant_id == merchant.0)
    else {
        return not_found("Instrument identifier");
    };
    if vault.instruments.values().any(|pi| pi.identifier_id == id) {
        return tms_error(
            StatusCode::CONFLICT,
            "instrumentIdentifierDeletionError",
            "The instrument identifier is used by payment instruments.",
            &[],
        );
    }
    let key = (identifier.merchant_id.clone(), identifier.number.clone());
    vault.by_number.remove(&key);
    vault.identifiers.remove(&id);
    StatusCode::NO_CONTENT.into_response()
}

// ---------------------------------------------------------------------------------------------
// Customers

pub(super) async fn create_customer(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    body: Bytes,
) -> Response {
    let Some(request) = body_json(&body) else {
        return bad_body();
    };
    if let Some(email) = request
        .pointer("/buyerInformation/email")
        .and_then(Value::as_str)
        && !email.contains('@')
    {
        return tms_error(
            StatusCode::BAD_REQUEST,
            "invalidFields",
            "Invalid field value",
            &["buyerInformation.email"],
        );
    }
    let mut body = json!({});
    for key in [
        "buyerInformation",
        "clientReferenceInformation",
        "merchantDefinedInformation",
    ] {
        if let Some(value) = request.get(key) {
            body[key] = value.clone();
        }
    }
    let record = CustomerRecord {
        id: hex_id(),
        merchant_id: merchant.0,
        body,
        default_instrument: None,
        default_address: None,
        version: 1,
    };
    let mut vault = sandbox.vault();
    let json = vault.customer_json(&record);
    let (id, merchant_id) = (record.id.clone(), record.merchant_id.clone());
    vault.customers.insert(record.id.clone(), record);
    drop(vault);
    sandbox.emit_token_created(
        &merchant_id,
        "customer",
        &id,
        format!("/tms/v2/customers/{id}"),
    );
    answer(StatusCode::CREATED, json, Some(1))
}

pub(super) async fn get_customer(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Path(id): Path<String>,
) -> Response {
    let vault = sandbox.vault();
    match vault.customer_of(&merchant.0, &id) {
        Some(c) => answer(StatusCode::OK, vault.customer_json(c), Some(c.version)),
        None => not_found("Customer"),
    }
}

pub(super) async fn update_customer(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(request) = body_json(&body) else {
        return bad_body();
    };
    let mut vault = sandbox.vault();
    let Some(customer) = vault
        .customers
        .get_mut(&id)
        .filter(|c| c.merchant_id == merchant.0)
    else {
        return not_found("Customer");
    };
    if !precondition_holds(&headers, customer.version) {
        return stale();
    }
    for key in [
        "buyerInformation",
        "clientReferenceInformation",
        "merchantDefinedInformation",
    ] {
        if let Some(value) = request.get(key) {
            customer.body[key] = value.clone();
        }
    }
    if let Some(pi) = request
        .pointer("/defaultPaymentInstrument/id")
        .and_then(Value::as_str)
    {
        customer.default_instrument = Some(pi.to_string());
    }
    customer.version += 1;
    let version = customer.version;
    let customer = &vault.customers[&id];
    answer(StatusCode::OK, vault.customer_json(customer), Some(version))
}

pub(super) async fn delete_customer(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Path(id): Path<String>,
) -> Response {
    let mut vault = sandbox.vault();
    if vault.customer_of(&merchant.0, &id).is_none() {
        return not_found("Customer");
    }
    vault.customers.remove(&id);
    vault.instruments.retain(|_, pi| pi.customer_id != id);
    vault.addresses.retain(|_, a| a.customer_id != id);
    StatusCode::NO_CONTENT.into_response()
}

// ---------------------------------------------------------------------------------------------
// Payment instruments

pub(super) async fn create_instrument(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Path(customer_id): Path<String>,
    body: Bytes,
) -> Response {
    let Some(request) = body_json(&body) else {
        return bad_body();
    };
    let mut vault = sandbox.vault();
    if vault.customer_of(&merchant.0, &customer_id).is_none() {
        return not_found("Customer");
    }
    let identifier_id = match (
        request
            .pointer("/instrumentIdentifier/id")
            .and_then(Value::as_str),
        request
            .pointer("/instrumentIdentifier/card/number")
            .and_then(Value::as_str),
    ) {
        (Some(id), _) => {
            if vault
                .identifiers
                .get(id)
                .is_none_or(|i| i.merchant_id != merchant.0)
            {
                return tms_error(
                    StatusCode::BAD_REQUEST,
                    "invalidFields",
                    "Invalid field value",
                    &["instrumentIdentifier.id"],
                );
            }
            id.to_string()
        }
        (None, Some(number)) if luhn(number) && number.bytes().all(|b| b.is_ascii_digit()) => {
            vault.identify(&merchant.0, number).0
        }
        (None, Some(_)) => {
            return tms_error(
                StatusCode::BAD_REQUEST,
                "invalidFields",
                "Invalid field value",
                &["instrumentIdentifier.card.number"],
            );
        }
        (None, None) => {
            return tms_error(
                StatusCode::BAD_REQUEST,
                "missingFields",
                "Missing field",
                &["instrumentIdentifier.id"],
            );
        }
    };
    let card = request.get("card").cloned().unwrap_or_else(|| json!({}));
    let instrument = Instrument {
        id: hex_id(),
        customer_id: customer_id.clone(),
        identifier_id,
        card,
        bill_to: request.get("billTo").cloned().unwrap_or_else(|| json!({})),
        version: 1,
    };
    let customer = vault
        .customers
        .get_mut(&customer_id)
        .expect("checked above");
    let make_default =
        customer.default_instrument.is_none() || request["default"].as_bool() == Some(true);
    if make_default {
        customer.default_instrument = Some(instrument.id.clone());
    }
    let json = vault.instrument_json(&instrument, make_default);
    let href = format!(
        "/tms/v2/customers/{customer_id}/payment-instruments/{}",
        instrument.id
    );
    let id = instrument.id.clone();
    vault.instruments.insert(instrument.id.clone(), instrument);
    drop(vault);
    sandbox.emit_token_created(&merchant.0, "paymentInstrument", &id, href);
    answer(StatusCode::CREATED, json, Some(1))
}

fn listing(path: String, key: &str, items: Vec<Value>) -> Response {
    let count = items.len();
    answer(
        StatusCode::OK,
        json!({"_links": {"self": {"href": path}}, "offset": 0, "limit": 100, "count": count, "total": count, "_embedded": {key: items}}),
        None,
    )
}

pub(super) async fn list_instruments(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Path(customer_id): Path<String>,
) -> Response {
    let vault = sandbox.vault();
    let Some(customer) = vault.customer_of(&merchant.0, &customer_id) else {
        return not_found("Customer");
    };
    let mut items: Vec<&Instrument> = vault
        .instruments
        .values()
        .filter(|pi| pi.customer_id == customer_id)
        .collect();
    items.sort_by(|a, b| a.id.cmp(&b.id));
    let items = items
        .into_iter()
        .map(|pi| {
            vault.instrument_json(
                pi,
                customer.default_instrument.as_deref() == Some(pi.id.as_str()),
            )
        })
        .collect();
    listing(
        format!("/tms/v2/customers/{customer_id}/payment-instruments"),
        "paymentInstruments",
        items,
    )
}

pub(super) async fn get_instrument(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Path((customer_id, id)): Path<(String, String)>,
) -> Response {
    let vault = sandbox.vault();
    let Some(customer) = vault.customer_of(&merchant.0, &customer_id) else {
        return not_found("Customer");
    };
    match vault
        .instruments
        .get(&id)
        .filter(|pi| pi.customer_id == customer_id)
    {
        Some(pi) => answer(
            StatusCode::OK,
            vault.instrument_json(
                pi,
                customer.default_instrument.as_deref() == Some(id.as_str()),
            ),
            Some(pi.version),
        ),
        None => not_found("Payment instrument"),
    }
}

pub(super) async fn update_instrument(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Path((customer_id, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(request) = body_json(&body) else {
        return bad_body();
    };
    let mut vault = sandbox.vault();
    if vault.customer_of(&merchant.0, &customer_id).is_none() {
        return not_found("Customer");
    }
    let Some(pi) = vault
        .instruments
        .get_mut(&id)
        .filter(|pi| pi.customer_id == customer_id)
    else {
        return not_found("Payment instrument");
    };
    if !precondition_holds(&headers, pi.version) {
        return stale();
    }
    if let Some(card) = request.get("card").and_then(Value::as_object) {
        for (k, v) in card {
            pi.card[k] = v.clone();
        }
    }
    if let Some(bill_to) = request.get("billTo") {
        pi.bill_to = bill_to.clone();
    }
    pi.version += 1;
    let version = pi.version;
    if request["default"].as_bool() == Some(true)
        && let Some(customer) = vault.customers.get_mut(&customer_id)
    {
        customer.default_instrument = Some(id.clone());
    }
    let default = vault.customers[&customer_id].default_instrument.as_deref() == Some(id.as_str());
    answer(
        StatusCode::OK,
        vault.instrument_json(&vault.instruments[&id], default),
        Some(version),
    )
}

pub(super) async fn delete_instrument(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Path((customer_id, id)): Path<(String, String)>,
) -> Response {
    let mut vault = sandbox.vault();
    if vault.customer_of(&merchant.0, &customer_id).is_none() {
        return not_found("Customer");
    }
    if vault
        .instruments
        .get(&id)
        .is_none_or(|pi| pi.customer_id != customer_id)
    {
        return not_found("Payment instrument");
    }
    vault.instruments.remove(&id);
    if let Some(customer) = vault.customers.get_mut(&customer_id)
        && customer.default_instrument.as_deref() == Some(id.as_str())
    {
        customer.default_instrument = None;
    }
    StatusCode::NO_CONTENT.into_response()
}

// ---------------------------------------------------------------------------------------------
// Shipping addresses

pub(super) async fn create_address(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Path(customer_id): Path<String>,
    body: Bytes,
) -> Response {
    let Some(request) = body_json(&body) else {
        return bad_body();
    };
    let Some(ship_to) = request.get("shipTo").filter(|s| s.is_object()).cloned() else {
        return tms_error(
            StatusCode::BAD_REQUEST,
            "missingFields",
            "Missing field",
            &["shipTo"],
        );
    };
    let mut vault = sandbox.vault();
    let Some(customer) = vault
        .customers
        .get_mut(&customer_id)
        .filter(|c| c.merchant_id == merchant.0)
    else {
        return not_found("Customer");
    };
    let address = Address {
        id: hex_id(),
        customer_id: customer_id.clone(),
        ship_to,
    };
    let make_default =
        customer.default_address.is_none() || request["default"].as_bool() == Some(true);
    if make_default {
        customer.default_address = Some(address.id.clone());
    }
    let json = vault.address_json(&address, make_default);
    vault.addresses.insert(address.id.clone(), address);
    answer(StatusCode::CREATED, json, Some(1))
}

pub(super) async fn list_addresses(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Path(customer_id): Path<String>,
) -> Response {
    let vault = sandbox.vault();
    let Some(customer) = vault.customer_of(&merchant.0, &customer_id) else {
        return not_found("Customer");
    };
    let mut items: Vec<&Address> = vault
        .addresses
        .values()
        .filter(|a| a.customer_id == customer_id)
        .collect();
    items.sort_by(|a, b| a.id.cmp(&b.id));
    let items = items
        .into_iter()
        .map(|a| {
            vault.address_json(
                a,
                customer.default_address.as_deref() == Some(a.id.as_str()),
            )
        })
        .collect();
    listing(
        format!("/tms/v2/customers/{customer_id}/shipping-addresses"),
        "shippingAddresses",
        items,
    )
}

pub(super) async fn delete_address(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Path((customer_id, id)): Path<(String, String)>,
) -> Response {
    let mut vault = sandbox.vault();
    if vault.customer_of(&merchant.0, &customer_id).is_none()
        || vault
            .addresses
            .get(&id)
            .is_none_or(|a| a.customer_id != customer_id)
    {
        return not_found("Shipping address");
    }
    vault.addresses.remove(&id);
    if let Some(customer) = vault.customers.get_mut(&customer_id)
        && customer.default_address.as_deref() == Some(id.as_str())
    {
        customer.default_address = None;
    }
    StatusCode::NO_CONTENT.into_response()
}
