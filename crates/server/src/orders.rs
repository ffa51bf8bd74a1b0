//! The storefront's door (the order API).
//!
//! `POST /api/v1/orders` takes an order with an `Idempotency-Key` header and answers as soon as
//! Cybersource has: 201 approved (or held), 402 declined, 502/503 when the payment could not be
//! completed. Repeating a request with the same key returns the same order (header
//! `Idempotent-Replayed: true`), never a second charge. `GET /api/v1/orders/{id}` shows an
//! order (by id or reference) across both systems, refunds included.
//! `POST /api/v1/orders/{id}/refunds` asks for a refund (partial or the rest), once per
//! `Idempotency-Key`; an over-refund is refused before anything is called.
//!
//! Storefronts authenticate with `Authorization: Bearer <api key>`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use paybridge_commerce::refunds::{RefundError, RefundRequest};
use paybridge_commerce::{CardInput, PaymentMethod, PlaceError, PlaceOrder, Placed};
use paybridge_model::order::FieldError;
use paybridge_model::{
    Address, Currency, Customer, FailureKind, Money, Order, OrderLine, OrderStatus,
};
use paybridge_store::{OrderRecord, RefundRecord};
use rust_decimal::Decimal;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::AppState;

pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/v1/orders", post(place_order))
        .route("/api/v1/orders/{id}", get(get_order))
        .route("/api/v1/orders/{id}/refunds", post(refund_order))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RefundBody {
    /// Decimal text; absent: whatever is left.
    #[serde(default)]
    amount: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

async fn refund_order(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Some(response) = refusal(&state, &headers) {
        return response;
    }
    let Some(key) = idempotency_key(&headers) else {
        return key_required("unique per refund) so that a repeated request never refunds twice");
    };
    let request: RefundBody = if body.iter().all(u8::is_ascii_whitespace) {
        RefundBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(request) => request,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "malformed_json",
                    format!("the body is not a refund: {e}"),
                    &[],
                );
            }
        }
    };
    let asked = RefundRequest {
        order: id.clone(),
        idempotency_key: key.to_string(),
        amount: request.amount,
        reason: request.reason,
    };
    match state.engine.request_refund(asked).await {
        Ok(done) => {
            let status = if done.replayed {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            let mut response = (status, Json(refund_json(&done.refund))).into_response();
            if done.replayed {
                response
                    .headers_mut()
                    .insert("idempotent-replayed", HeaderValue::from_static("true"));
            }
            response
        }
        Err(RefundError::Invalid(fields)) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_refund",
            "the refund has invalid fields",
            &fields,
        ),
        Err(RefundError::NoOrder(_)) => error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no order with id or reference {id:?}"),
            &[],
        ),
        Err(RefundError::TooMuch { asked, refundable }) => {
            let mut response = error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "over_refund",
                format!(
                    "{asked} is more than the {refundable} that can still be refunded; nothing was refunded"
                ),
                &[],
            );
            if let Ok(value) = HeaderValue::from_str(&refundable.to_decimal_string()) {
                response.headers_mut().insert("refundable-amount", value);
            }
            response
        }
        Err(e @ RefundError::NotRefundable { .. }) => {
            error(StatusCode::CONFLICT, "not_refundable", e.to_string(), &[])
        }
        Err(e @ RefundError::CurrencyDiffers { .. }) => {
            error(StatusCode::CONFLICT, "currency_differs", e.to_string(), &[])
        }
        Err(e @ RefundError::KeyReused) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            e.to_string(),
            &[],
        ),
        Err(RefundError::Store(e)) => {
            tracing::error!(error = %e, "cannot admit a refund");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the store does not answer; try again with the same Idempotency-Key",
                &[],
            )
        }
    }
}

/// A refund as the storefront sees it.
pub fn refund_json(refund: &RefundRecord) -> Value {
    let amount = Currency::from_code(&refund.currency)
        .map(|c| Money::from_minor(refund.amount_minor, c).to_decimal_string())
        .unwrap_or_default();
    json!({
        "id": refund.id,
        "order_id": refund.order_id,
        "status": refund.status,
        "amount": amount,
        "currency": refund.currency,
        "reason": refund.reason,
        "source": refund.source,
        "cybersource_refund_id": refund.cybersource_refund_id,
        "zoho_creditnote_id": refund.zoho_creditnote_id,
        "detail": refund.status_detail,
        "created_at": iso(refund.created_at),
        "updated_at": iso(refund.updated_at),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderRequest {
    reference: String,
    currency: String,
    customer: CustomerRequest,
    lines: Vec<LineRequest>,
    payment: PaymentRequest,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerRequest {
    email: String,
    first_name: String,
    last_name: String,
    #[serde(default)]
    company: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    billing_address: AddressRequest,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddressRequest {
    line1: String,
    #[serde(default)]
    line2: Option<String>,
    city: String,
    #[serde(default)]
    region: Option<String>,
    postal_code: String,
    country: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LineRequest {
    #[serde(default)]
    sku: Option<String>,
    name: String,
    /// A decimal string such as `"2"` (a JSON number is accepted too).
    quantity: Decimal,
    /// A decimal string such as `"19.99"`.
    unit_price: Decimal,
}

/// Exactly one way to pay.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PaymentRequest {
    #[serde(default)]
    card: Option<CardRequest>,
    #[serde(default)]
    transient_token: Option<String>,
    #[serde(default)]
    customer_id: Option<String>,
    #[serde(default)]
    payment_instrument_id: Option<String>,
    #[serde(default)]
    instrument_identifier: Option<String>,
    /// Keep the card as a Cybersource TMS customer and payment instrument (card or transient
    /// token only).
    #[serde(default)]
    save_card: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CardRequest {
    number: SecretString,
    expiration_month: String,
    expiration_year: String,
    #[serde(default)]
    security_code: Option<SecretString>,
}

fn error(
    status: StatusCode,
    code: &str,
    message: impl Into<String>,
    fields: &[FieldError],
) -> Response {
    (status, Json(error_body(code, &message.into(), fields))).into_response()
}

/// An error answer's body: the message and every field's, card numbers masked (a value the
/// storefront sent may be quoted back).
pub fn error_body(code: &str, message: &str, fields: &[FieldError]) -> Value {
    let redact = paybridge_model::pan::redact;
    let mut body = json!({"error": {"code": code, "message": redact(message)}});
    if !fields.is_empty() {
        let fields: Vec<Value> = fields
            .iter()
            .map(|f| json!({"field": redact(&f.field), "message": redact(&f.message)}))
            .collect();
        body["error"]["fields"] = json!(fields);
    }
    body
}

/// The request's `Idempotency-Key`, if it sent one.
fn idempotency_key(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

/// The 400 that asks for an `Idempotency-Key` (`why` ends the sentence "send an
/// `Idempotency-Key` header (…").
fn key_required(why: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "idempotency_key_required",
        format!("send an `Idempotency-Key` header ({why}"),
        &[],
    )
}

/// The 401 answer for a request without a known storefront key, if it has none.
fn refusal(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let known = presented.is_some_and(|key| {
        crate::read(&state.storefront_keys)
            .iter()
            .any(|k| bool::from(k.expose_secret().as_bytes().ct_eq(key.as_bytes())))
    });
    if known {
        return None;
    }
    let mut response = error(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        if presented.is_some() {
            "the storefront API key is not valid"
        } else {
            "send the storefront API key as `Authorization: Bearer <key>`"
        },
        &[],
    );
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    Some(response)
}

fn into_place_order(key: String, request: OrderRequest) -> Result<PlaceOrder, Vec<FieldError>> {
    let mut problems = Vec::new();
    let currency = Currency::from_code(&request.currency)
        .map_err(|e| problems.push(FieldError::new("currency", e.to_string())))
        .ok();
    let p = request.payment;
    let save_card = p.save_card;
    let methods = [
        p.card.is_some(),
        p.transient_token.is_some(),
        p.customer_id.is_some(),
        p.instrument_identifier.is_some(),
    ]
    .into_iter()
    .filter(|given| *given)
    .count();
    if methods != 1 {
        problems.push(FieldError::new(
            "payment",
            "give exactly one of card (test mode), transient_token, customer_id or instrument_identifier",
        ));
    }
    if p.payment_instrument_id.is_some() && p.customer_id.is_none() {
        problems.push(FieldError::new(
            "payment.payment_instrument_id",
            "needs customer_id",
        ));
    }
    let payment = if let Some(card) = p.card {
        Some(PaymentMethod::Card(CardInput {
            number: SecretString::from(card.number.expose_secret().replace([' ', '-'], "")),
            expiration_month: card.expiration_month.trim().to_string(),
            expiration_year: card.expiration_year.trim().to_string(),
            security_code: card.security_code,
        }))
    } else if let Some(token) = p.transient_token {
        Some(PaymentMethod::TransientToken(token))
    } else if let Some(customer_id) = p.customer_id {
        Some(PaymentMethod::TmsCustomer {
            customer_id,
            payment_instrument_id: p.payment_instrument_id,
        })
    } else {
        p.instrument_identifier
            .map(PaymentMethod::InstrumentIdentifier)
    };
    let (Some(currency), Some(payment), true) = (currency, payment, problems.is_empty()) else {
        return Err(problems);
    };
    let c = request.customer;
    let a = c.billing_address;
    let order = Order {
        reference: request.reference,
        currency,
        customer: Customer {
            email: c.email,
            first_name: c.first_name,
            last_name: c.last_name,
            company: c.company,
            phone: c.phone,
            billing_address: Address {
                line1: a.line1,
                line2: a.line2,
                city: a.city,
                region: a.region,
                postal_code: a.postal_code,
                country: a.country.trim().to_ascii_uppercase(),
            },
        },
        lines: request
            .lines
            .into_iter()
            .map(|l| OrderLine {
                sku: l.sku,
                name: l.name,
                quantity: l.quantity,
                unit_price: l.unit_price,
            })
            .collect(),
    };
    Ok(PlaceOrder {
        idempotency_key: key,
        order,
        payment,
        save_card,
    })
}

/// Why an order body was refused before anything was called.
#[derive(Debug)]
pub enum OrderBodyError {
    /// Not JSON, or not an order's shape (400 `invalid_json`).
    Json(String),
    /// An order, with these fields wrong (422 `invalid_order`).
    Invalid(Vec<FieldError>),
}

/// Reads an order API body sent with Idempotency-Key `key`: the order to place, or why not. No
/// I/O; whatever the bytes, an answer and never a panic (the `order_body` fuzz target drives it,
/// with [`PlaceOrder::admission`] after it).
pub fn read_order(key: &str, body: &[u8]) -> Result<PlaceOrder, OrderBodyError> {
    let request: OrderRequest = serde_json::from_slice(body)
        .map_err(|e| OrderBodyError::Json(format!("the body is not a valid order: {e}")))?;
    into_place_order(key.to_string(), request).map_err(OrderBodyError::Invalid)
}

async fn place_order(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(response) = refusal(&state, &headers) {
        return response;
    }
    let Some(key) = idempotency_key(&headers) else {
        return key_required("unique per order) so that a repeated request never charges twice");
    };
    let place = match read_order(key, &body) {
        Ok(place) => place,
        Err(OrderBodyError::Json(message)) => {
            return error(StatusCode::BAD_REQUEST, "invalid_json", message, &[]);
        }
        Err(OrderBodyError::Invalid(fields)) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_order",
                "the order is invalid",
                &fields,
            );
        }
    };
    match state.engine.place_order(place).await {
        Ok(Placed::New(record)) => order_response(&record, false),
        Ok(Placed::Replayed(record)) => order_response(&record, true),
        Err(PlaceError::Invalid(fields)) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_order",
            "the order is invalid",
            &fields,
        ),
        Err(e @ PlaceError::CardsNotAccepted) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "card_not_accepted",
            e.to_string(),
            &[],
        ),
        Err(e @ PlaceError::KeyReused(_)) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            e.to_string(),
            &[],
        ),
        Err(e @ PlaceError::InProgress(_)) => {
            error(StatusCode::CONFLICT, "in_progress", e.to_string(), &[])
        }
        Err(e @ PlaceError::DuplicateReference(_)) => error(
            StatusCode::CONFLICT,
            "duplicate_reference",
            e.to_string(),
            &[],
        ),
        Err(PlaceError::Store(e)) => {
            tracing::error!(error = %e, "an order could not be recorded");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the order could not be recorded and nothing was charged; retry with the same Idempotency-Key",
                &[],
            )
        }
    }
}

async fn get_order(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(response) = refusal(&state, &headers) {
        return response;
    }
    let commerce = state.engine.commerce();
    match commerce.find_order(&id).await {
        Ok(Some(record)) => {
            let mut body = order_json(&record);
            match commerce.refunds_of(&record.id).await {
                Ok(refunds) => {
                    body["refunds"] = Value::Array(refunds.iter().map(refund_json).collect());
                }
                Err(e) => tracing::warn!(error = %e, "cannot read an order's refunds"),
            }
            (StatusCode::OK, Json(body)).into_response()
        }
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no order with id or reference {id:?}"),
            &[],
        ),
        Err(e) => {
            tracing::error!(error = %e, "cannot read an order");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the store does not answer; try again",
                &[],
            )
        }
    }
}

/// The HTTP status that tells a storefront what happened to the payment.
fn payment_http_status(record: &OrderRecord) -> StatusCode {
    match record.status {
        OrderStatus::Approved
        | OrderStatus::Completed
        | OrderStatus::OnHold
        | OrderStatus::SyncFailed => StatusCode::CREATED,
        OrderStatus::Declined => StatusCode::PAYMENT_REQUIRED,
        OrderStatus::PaymentFailed if record.failure_kind == Some(FailureKind::Transient) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        OrderStatus::PaymentFailed | OrderStatus::PaymentUnknown => StatusCode::BAD_GATEWAY,
        OrderStatus::PendingPayment => StatusCode::ACCEPTED,
    }
}

fn order_response(record: &OrderRecord, replayed: bool) -> Response {
    let status = payment_http_status(record);
    let mut response = (status, Json(order_json(record))).into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/orders/{}", record.id)) {
        headers.insert(header::LOCATION, location);
    }
    if replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    response
}

fn iso(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// An order as the storefront sees it.
pub fn order_json(record: &OrderRecord) -> Value {
    let amount = Currency::from_code(&record.currency)
        .map(|c| Money::from_minor(record.amount_minor, c).to_decimal_string())
        .unwrap_or_default();
    let zoho_status = match record.status {
        OrderStatus::Completed => "synced",
        OrderStatus::Approved => "pending",
        OrderStatus::SyncFailed => "failed",
        _ => "not_applicable",
    };
    let card = record
        .card_last4
        .as_ref()
        .map(|last4| json!({"brand": record.card_brand, "last4": last4}));
    json!({
        "id": record.id,
        "reference": record.reference,
        "status": record.status,
        "amount": amount,
        "currency": record.currency,
        "payment": {
            "status": record.payment_status,
            "transaction_id": record.payment_id,
            "decline_reason": record.decline_reason,
            "card": card,
        },
        "zoho": {
            "status": zoho_status,
            "contact_id": record.zoho_contact_id,
            "invoice_id": record.zoho_invoice_id,
            "customer_payment_id": record.zoho_payment_id,
        },
        "detail": record.status_detail,
        "created_at": iso(record.created_at),
        "updated_at": iso(record.updated_at),
    })
}
