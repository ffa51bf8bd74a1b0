//! TMS instrument identifiers (the card, tokenized): created once per card number, read, deleted.

use super::super::payments::luhn;
use super::super::{CybersourceSandbox, Merchant};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::{answer, bad_body, body_json, not_found, tms_error};

// ---------------------------------------------------------------------------------------------
// Instrument identifiers
pub(crate) async fn create_identifier(
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

pub(crate) async fn get_identifier(
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

pub(crate) async fn delete_identifier(
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
