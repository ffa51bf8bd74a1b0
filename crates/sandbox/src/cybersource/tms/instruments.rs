//! TMS payment instruments of a customer: created (the default first), listed, read, changed, deleted.

use super::super::payments::luhn;
use super::super::{CybersourceSandbox, Merchant};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{
    Instrument, answer, bad_body, body_json, hex_id, not_found, precondition_holds, stale,
    tms_error,
};

// ---------------------------------------------------------------------------------------------
// Payment instruments
pub(crate) async fn create_instrument(
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

pub(crate) fn listing(path: String, key: &str, items: Vec<Value>) -> Response {
    let count = items.len();
    answer(
        StatusCode::OK,
        json!({"_links": {"self": {"href": path}}, "offset": 0, "limit": 100, "count": count, "total": count, "_embedded": {key: items}}),
        None,
    )
}

pub(crate) async fn list_instruments(
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

pub(crate) async fn get_instrument(
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

pub(crate) async fn update_instrument(
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

pub(crate) async fn delete_instrument(
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
