//! TMS shipping addresses of a customer: created, listed, deleted.

use super::super::{CybersourceSandbox, Merchant};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::instruments::listing;
use super::{Address, answer, bad_body, body_json, hex_id, not_found, tms_error};

// ---------------------------------------------------------------------------------------------
// Shipping addresses
pub(crate) async fn create_address(
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

pub(crate) async fn list_addresses(
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

pub(crate) async fn delete_address(
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
