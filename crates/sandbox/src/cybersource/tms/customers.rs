//! TMS customers: created, read, changed under `if-match`, deleted.

use super::super::{CybersourceSandbox, Merchant};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{
    CustomerRecord, answer, bad_body, body_json, hex_id, not_found, precondition_holds, stale,
    tms_error,
};

// ---------------------------------------------------------------------------------------------
// Customers
pub(crate) async fn create_customer(
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

pub(crate) async fn get_customer(
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

pub(crate) async fn update_customer(
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

pub(crate) async fn delete_customer(
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
