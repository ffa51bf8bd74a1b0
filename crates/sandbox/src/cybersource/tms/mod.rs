//! Token Management Service (reference §3.6): customers, their payment instruments and shipping
//! addresses, and instrument identifiers (a card number → a stable id). Updates honour
//! `if-match` (412 on a stale version); errors use TMS's own body
//! `{"errors":[{"type","message","details":[{"name","location"}]}]}`.

mod addresses;
mod customers;
mod identifiers;
mod instruments;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::RngExt as _;
use serde_json::{Value, json};
use std::collections::HashMap;

pub(crate) use addresses::{create_address, delete_address, list_addresses};
pub(crate) use customers::{create_customer, delete_customer, get_customer, update_customer};
pub(crate) use identifiers::{create_identifier, delete_identifier, get_identifier};
pub(crate) use instruments::{
    create_instrument, delete_instrument, get_instrument, list_instruments, update_instrument,
};

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

pub(crate) fn not_found(what: &str) -> Response {
    tms_error(
        StatusCode::NOT_FOUND,
        "notFound",
        &format!("{what} not found"),
        &[],
    )
}

pub(crate) fn hex_id() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

pub(crate) fn answer(status: StatusCode, body: Value, version: Option<u64>) -> Response {
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
pub(crate) fn precondition_holds(headers: &HeaderMap, version: u64) -> bool {
    headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.trim().trim_start_matches("W/").trim_matches('"') == version.to_string())
}

pub(crate) fn stale() -> Response {
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

pub(crate) struct CustomerRecord {
    id: String,
    merchant_id: String,
    body: Value,
    default_instrument: Option<String>,
    default_address: Option<String>,
    version: u64,
}

pub(crate) struct Instrument {
    id: String,
    customer_id: String,
    identifier_id: String,
    card: Value,
    bill_to: Value,
    version: u64,
}

pub(crate) struct Address {
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
    ) -> (String, String, String, bool) {
        let (identifier_id, identifier_created) = self.identify(merchant_id, number);
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
        (
            customer_id,
            instrument_id,
            identifier_id,
            identifier_created,
        )
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

pub(crate) fn body_json(body: &Bytes) -> Option<Value> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
}

pub(crate) fn bad_body() -> Response {
    tms_error(
        StatusCode::BAD_REQUEST,
        "invalidFields",
        "The request body is not a JSON object.",
        &[],
    )
}
