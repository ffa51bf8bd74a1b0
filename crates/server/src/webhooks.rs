//! Inbound webhooks: verified, committed to the inbox, acknowledged, and processed later.
//!
//! `POST /webhooks/cybersource` checks the `v-c-signature` HMAC against the subscription's
//! signing keys and its timestamp window, commits the notification (duplicates collapse on
//! webhook, resource and event type), and answers `202` — or `200` for a duplicate — only once
//! the event is committed. A delivery that is malformed (`400`) or unverifiable (`401`) is
//! refused with the reason and counted, and nothing of it is stored; a store that cannot
//! commit answers `503` so that Cybersource delivers again.
//!
//! `POST /webhooks/zoho/crm` takes the callbacks of the CRM notification channel paybridge
//! keeps (`[zoho.crm_notifications]`), proven by the channel's token, the same way.
//!
//! `POST /webhooks/zoho/desk` takes Zoho Desk webhook deliveries (an array of events), proven
//! by the secret in the webhook's URL (`?secret=`, `[zoho.desk_webhooks]`); each event is
//! committed on its own.
//!
//! `POST /webhooks/zoho/books` takes Zoho Books workflow-rule webhooks (the record as the
//! default payload, JSON or the `JSONString` form field), proven by a shared secret in a header
//! or query parameter, or by `X-Zoho-Webhook-Signature` (`[zoho.webhooks]`); the same rules
//! hold: committed before `202`, the same delivery again `200`, refused with the reason.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use paybridge_cybersource::webhooks::WebhookError;
use serde_json::json;

use crate::AppState;

pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/webhooks/cybersource", post(cybersource))
        .route("/webhooks/zoho/books", post(zoho_books))
        .route("/webhooks/zoho/crm", post(zoho_crm))
        .route("/webhooks/zoho/desk", post(zoho_desk))
}

fn refused(status: StatusCode, reason: &'static str, message: String) -> Response {
    refused_from("cybersource", status, reason, message)
}

fn refused_from(
    source: &'static str,
    status: StatusCode,
    reason: &'static str,
    message: String,
) -> Response {
    metrics::counter!("paybridge_webhooks_total", "source" => source, "outcome" => "refused", "reason" => reason)
        .increment(1);
    tracing::warn!(source, reason, %message, "a webhook delivery was refused");
    (
        status,
        Json(json!({"error": {"code": reason, "message": message}})),
    )
        .into_response()
}

/// A delivery that carries a card number is refused, naming where (`$.payload.note`; the path
/// only, never the digits): paybridge stores no card.
fn card_refusal(source: &'static str, what: &str, value: &serde_json::Value) -> Option<Response> {
    let found = paybridge_model::pan::find_in_json(value);
    (!found.is_empty()).then(|| {
        refused_from(
            source,
            StatusCode::BAD_REQUEST,
            "card_number",
            format!(
                "{what} carries a card number (at {}); paybridge stores none",
                found.join(", ")
            ),
        )
    })
}

async fn cybersource(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(verifier) = &state.cybersource_webhooks else {
        return refused(
            StatusCode::NOT_FOUND,
            "not_configured",
            "Cybersource webhooks are not configured here (cybersource.webhooks in paybridge.toml)"
                .into(),
        );
    };
    let signature = headers.get("v-c-signature").and_then(|v| v.to_str().ok());
    let notification = match verifier.verify(signature, &body, state.engine.clock.now_ms()) {
        // A delivery seen before is recognised by the store when it is committed (200
        // duplicate), never before: a delivery answered 503 and sent again is taken.
        Ok(notification) => notification,
        Err(e @ WebhookError::InvalidBody(_)) => {
            return refused(StatusCode::BAD_REQUEST, "invalid_body", e.to_string());
        }
        Err(e) => {
            let reason = match e {
                WebhookError::MissingSignature => "missing_signature",
                WebhookError::MalformedSignature(_) => "malformed_signature",
                WebhookError::UnknownKey(_) => "unknown_key",
                WebhookError::Stale(_) => "stale",
                _ => "bad_signature",
            };
            return refused(StatusCode::UNAUTHORIZED, reason, e.to_string());
        }
    };
    let stored = serde_json::to_value(&notification).unwrap_or_default();
    if let Some(refusal) = card_refusal("cybersource", "the notification", &stored) {
        return refusal;
    }
    let result = state
        .engine
        .accept_cybersource_event(
            notification.dedupe_key(),
            notification.event_type.to_string(),
            notification.resource_id(),
            stored,
        )
        .await;
    committed("cybersource", result, None)
}

fn pairs(text: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(text.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn zoho_books(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    use paybridge_zoho::webhooks::{Delivery, WebhookError};
    const SOURCE: &str = "zoho-books";
    let Some(auth) = &state.zoho_books_webhooks else {
        return refused_from(
            SOURCE,
            StatusCode::NOT_FOUND,
            "not_configured",
            "Zoho Books webhooks are not configured here (zoho.webhooks in paybridge.toml)".into(),
        );
    };
    let query = pairs(query.as_deref().unwrap_or_default());
    let form_body = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    // A form body carries the record as its `JSONString` field; the other fields are signed
    // with the query's.
    let (form, json) = if form_body {
        let Ok(text) = std::str::from_utf8(&body) else {
            return refused_from(
                SOURCE,
                StatusCode::BAD_REQUEST,
                "invalid_body",
                "the form body is not UTF-8".into(),
            );
        };
        let mut form = pairs(text);
        let Some(at) = form.iter().position(|(name, _)| name == "JSONString") else {
            return refused_from(
                SOURCE,
                StatusCode::BAD_REQUEST,
                "invalid_body",
                "the form body has no JSONString field (use the default payload)".into(),
            );
        };
        let (_, json) = form.remove(at);
        (form, Bytes::from(json))
    } else {
        (Vec::new(), body.clone())
    };
    let delivery = Delivery {
        headers: headers
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect(),
        query,
        form,
        body: &json,
        now_ms: state.engine.clock.now_ms(),
    };
    let verified = crate::read(auth).verify(&delivery);
    let event = match verified {
        Ok(event) => event,
        Err(e @ WebhookError::Malformed(_)) => {
            return refused_from(
                SOURCE,
                StatusCode::BAD_REQUEST,
                "invalid_body",
                e.to_string(),
            );
        }
        Err(e) => {
            let reason = match e {
                WebhookError::Missing(_) => "missing_proof",
                WebhookError::WrongToken => "wrong_token",
                WebhookError::MalformedSignature(_) => "malformed_signature",
                WebhookError::Stale(_) => "stale",
                _ => "bad_signature",
            };
            return refused_from(SOURCE, StatusCode::UNAUTHORIZED, reason, e.to_string());
        }
    };
    if let Some(refusal) = card_refusal(
        SOURCE,
        "the record",
        &serde_json::Value::Object(event.record.clone()),
    ) {
        return refusal;
    }
    let module = event.module.clone();
    let result = state
        .engine
        .accept_zoho_books_event(&module, event.record, &json)
        .await;
    committed(SOURCE, result, Some(format!("books.{module}")))
}

/// How far a CRM notification's `server_time` may be from now. zoho.md does not say how late
/// CRM may deliver (or retry) one; an hour admits any clock skew and delay seen, and refuses a
/// capture sent again later.
const CRM_NOTIFICATION_WINDOW: std::time::Duration = std::time::Duration::from_secs(3600);

async fn zoho_crm(State(state): State<AppState>, body: Bytes) -> Response {
    use paybridge_zoho::crm::{Notification, NotificationError};
    use secrecy::ExposeSecret as _;
    const SOURCE: &str = "zoho-crm";
    let Some(channel) = &state.zoho_crm_channel else {
        return refused_from(
            SOURCE,
            StatusCode::NOT_FOUND,
            "not_configured",
            "Zoho CRM notifications are not configured here (zoho.crm_notifications in paybridge.toml)".into(),
        );
    };
    let registered = [(channel.0.clone(), channel.1.expose_secret().to_string())];
    let notification = match Notification::verify(&body, &registered) {
        Ok(notification) => notification,
        Err(e @ NotificationError::Malformed(_)) => {
            return refused_from(
                SOURCE,
                StatusCode::BAD_REQUEST,
                "invalid_body",
                e.to_string(),
            );
        }
        Err(e @ NotificationError::UnknownChannel(_)) => {
            return refused_from(
                SOURCE,
                StatusCode::UNAUTHORIZED,
                "unknown_channel",
                e.to_string(),
            );
        }
        Err(e) => {
            return refused_from(
                SOURCE,
                StatusCode::UNAUTHORIZED,
                "wrong_token",
                e.to_string(),
            );
        }
    };
    if let Err(e) = notification.check_recent(state.engine.clock.now_ms(), CRM_NOTIFICATION_WINDOW)
    {
        return refused_from(SOURCE, StatusCode::UNAUTHORIZED, "stale", e.to_string());
    }
    let stored = serde_json::to_value(&notification).unwrap_or_default();
    if let Some(refusal) = card_refusal(SOURCE, "the notification", &stored) {
        return refusal;
    }
    let event_type = format!("crm.{}.{}", notification.module, notification.operation);
    let result = state
        .engine
        .accept_zoho_crm_event(&notification, &body)
        .await;
    committed(SOURCE, result, Some(event_type))
}

/// The answer to a verified delivery, once the store has it: `202` (new), `200` (already in),
/// or `503` so that the sender delivers it again.
fn committed(
    source: &'static str,
    result: Result<paybridge_store::Accepted, paybridge_store::StoreError>,
    event_type: Option<String>,
) -> Response {
    match result {
        Ok(accepted) if accepted.duplicate => {
            metrics::counter!("paybridge_webhooks_total", "source" => source, "outcome" => "duplicate")
                .increment(1);
            (
                StatusCode::OK,
                Json(json!({"duplicate": true, "event_id": accepted.event_id})),
            )
                .into_response()
        }
        Ok(accepted) => {
            metrics::counter!("paybridge_webhooks_total", "source" => source, "outcome" => "accepted")
                .increment(1);
            let mut body = json!({"accepted": true, "event_id": accepted.event_id});
            if let Some(event_type) = event_type {
                body["event_type"] = json!(event_type);
            }
            (StatusCode::ACCEPTED, Json(body)).into_response()
        }
        Err(e) => {
            tracing::error!(source, error = %e, "cannot commit a webhook delivery; it will be delivered again");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"error": {"code": "unavailable", "message": "the event could not be stored; deliver it again"}})),
            )
                .into_response()
        }
    }
}

async fn zoho_desk(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    use paybridge_zoho::desk::{DeliveryError, verify_delivery};
    use secrecy::ExposeSecret as _;
    const SOURCE: &str = "zoho-desk";
    let Some(desk) = &state.zoho_desk_webhooks else {
        return refused_from(
            SOURCE,
            StatusCode::NOT_FOUND,
            "not_configured",
            "Zoho Desk webhooks are not configured here (zoho.desk_webhooks in paybridge.toml)"
                .into(),
        );
    };
    let query = pairs(query.as_deref().unwrap_or_default());
    let given = query
        .iter()
        .find(|(name, _)| name == "secret")
        .map(|(_, v)| v.as_str());
    let events = match verify_delivery(desk.1.expose_secret(), given, &desk.0, &body) {
        Ok(events) => events,
        Err(e @ DeliveryError::Malformed(_)) => {
            return refused_from(
                SOURCE,
                StatusCode::BAD_REQUEST,
                "invalid_body",
                e.to_string(),
            );
        }
        Err(e @ DeliveryError::WrongOrganization(_)) => {
            return refused_from(
                SOURCE,
                StatusCode::UNAUTHORIZED,
                "wrong_organization",
                e.to_string(),
            );
        }
        Err(e) => {
            return refused_from(
                SOURCE,
                StatusCode::UNAUTHORIZED,
                "wrong_secret",
                e.to_string(),
            );
        }
    };
    let values = serde_json::to_value(&events).unwrap_or_default();
    if let Some(refusal) = card_refusal(SOURCE, "the delivery", &values) {
        return refusal;
    }
    // Each event on its own; the delivery is answered once all are in.
    let mut last = None;
    let mut new = 0;
    for event in &events {
        match state.engine.accept_zoho_desk_event(event).await {
            Ok(accepted) => {
                if !accepted.duplicate {
                    new += 1;
                }
                last = Some(accepted);
            }
            Err(e) => return committed(SOURCE, Err(e), None),
        }
    }
    match last {
        Some(mut accepted) => {
            accepted.duplicate = new == 0;
            let kinds: Vec<String> = events
                .iter()
                .map(|e| format!("desk.{}", e.event_type))
                .collect();
            committed(SOURCE, Ok(accepted), Some(kinds.join(",")))
        }
        None => refused_from(
            SOURCE,
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "the delivery holds no event".into(),
        ),
    }
}
