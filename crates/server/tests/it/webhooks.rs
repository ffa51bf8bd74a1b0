//! `POST /webhooks/cybersource`: verified, committed, then acknowledged; duplicates collapse;
//! bad deliveries are refused with the reason, counted, and never stored.

use paybridge_store::{InboxStore as _, RunStore as _};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use paybridge_cybersource::webhooks::{WebhookVerifier, compact, sign};
use secrecy::SecretString;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::app_with;

const KEY: &str = "c2lnbmluZy1rZXktZm9yLXRoZS13ZWJob29rLXRlc3Q=";

fn notification(resource: &str) -> String {
    json!({
        "eventType": "payments.payments.accept",
        "webhookId": "wh-1",
        "productId": "payments",
        "organizationId": "merchant",
        "eventDate": "2026-11-26T00:00:00Z",
        "transactionTraceId": "trace-1",
        "retryNumber": 0,
        "requestType": "new",
        "payload": {"data": {"id": resource, "type": "payments",
                             "clientReferenceInformation": {"code": "R-1"}},
                    "organizationId": "merchant"}
    })
    .to_string()
}

fn signed(body: &str, at_ms: i64, key_id: &str) -> String {
    let value: Value = serde_json::from_str(body).unwrap();
    let payload = compact(&value["payload"].to_string());
    let key = base64::engine::general_purpose::STANDARD
        .decode(KEY)
        .unwrap();
    format!(
        "t={at_ms};keyId={key_id};sig={}",
        sign(&key, at_ms, &payload)
    )
}

async fn deliver(
    app: &axum::Router,
    signature: Option<String>,
    body: String,
) -> (StatusCode, Value) {
    let mut request =
        Request::post("/webhooks/cybersource").header("content-type", "application/json");
    if let Some(signature) = signature {
        request = request.header("v-c-signature", signature);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn deliveries_are_committed_once_and_bad_ones_refused_with_the_reason() {
    let mut verifier = WebhookVerifier::new(Duration::from_secs(300));
    verifier.add_key("key-1", &SecretString::from(KEY)).unwrap();
    let (_dir, app, engine) = app_with(false, Some(verifier)).await;
    let now = engine.clock.now_ms();
    let body = notification("7000000000000000000001");

    let (status, answer) = deliver(&app, Some(signed(&body, now, "key-1")), body.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["accepted"], true);
    let event_id = answer["event_id"].as_i64().unwrap();
    // Cybersource's retry: signed again a moment later. The event is in already.
    let (status, answer) = deliver(
        &app,
        Some(signed(&body, now + 1_000, "key-1")),
        body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer, json!({"duplicate": true, "event_id": event_id}));
    // The very same delivery again (a replay): acknowledged, nothing new.
    let (status, answer) = deliver(&app, Some(signed(&body, now, "key-1")), body.clone()).await;
    assert_eq!(
        (status, answer["duplicate"].clone()),
        (StatusCode::OK, json!(true))
    );

    let counts = engine.store().counts().await.unwrap();
    assert_eq!(counts.inbox_events, 1);
    assert_eq!(
        counts.runs_by_status.values().sum::<u64>(),
        1,
        "one run to process it"
    );

    // Refusals: each with its reason, nothing stored.
    let other = notification("7000000000000000000002");
    for (signature, status, reason) in [
        (None, StatusCode::UNAUTHORIZED, "missing_signature"),
        (
            Some("garbage".to_string()),
            StatusCode::UNAUTHORIZED,
            "malformed_signature",
        ),
        (
            Some(signed(&other, now, "key-9")),
            StatusCode::UNAUTHORIZED,
            "unknown_key",
        ),
        (
            Some(signed(&other, now - 3_600_000, "key-1")),
            StatusCode::UNAUTHORIZED,
            "stale",
        ),
        (
            Some(signed(&body, now, "key-1")),
            StatusCode::UNAUTHORIZED,
            "bad_signature",
        ),
    ] {
        let (got, answer) = deliver(&app, signature, other.clone()).await;
        assert_eq!(got, status, "{reason}: {answer}");
        assert_eq!(answer["error"]["code"], reason);
        assert!(!answer["error"]["message"].as_str().unwrap().contains(KEY));
    }
    let (got, answer) = deliver(&app, Some(signed(&other, now, "key-1")), "{not json".into()).await;
    assert_eq!(
        (got, answer["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_body"))
    );
    assert_eq!(
        engine.store().counts().await.unwrap().inbox_events,
        1,
        "nothing refused is stored"
    );
}

#[tokio::test]
async fn without_signing_keys_webhooks_are_off_and_say_so() {
    let (_dir, app, _engine) = app_with(false, None).await;
    let (status, answer) = deliver(&app, None, notification("1")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cybersource.webhooks")
    );
}

// Zoho Books workflow webhooks ------------------------------------------------------------------

const BOOKS_TOKEN: &str = "books-webhook-token-0123456789";

async fn books_app(
    auth: Option<paybridge_zoho::webhooks::BooksWebhookAuth>,
) -> (tempfile::TempDir, axum::Router, paybridge_engine::Engine) {
    let (dir, mut state, engine) = crate::app_state(false).await;
    state.zoho_books_webhooks = auth.map(paybridge_server::shared);
    (dir, paybridge_server::router(state), engine)
}

fn token_auth() -> paybridge_zoho::webhooks::BooksWebhookAuth {
    paybridge_zoho::webhooks::BooksWebhookAuth::Token {
        secret: SecretString::from(BOOKS_TOKEN),
        header: "x-paybridge-token".into(),
        query: "token".into(),
    }
}

async fn books_deliver(
    app: &axum::Router,
    uri: &str,
    headers: &[(&str, &str)],
    body: String,
) -> (StatusCode, Value) {
    let mut request = Request::post(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn contact(email: &str) -> String {
    json!({"contact": {"contact_id": "460000000026049", "contact_name": "Ada Lovelace",
                       "email": email, "custom_fields": []}})
    .to_string()
}

const JSON: (&str, &str) = ("content-type", "application/json");

#[tokio::test]
async fn books_webhooks_with_the_token_are_committed_once_and_others_refused_with_the_reason() {
    let (_dir, app, engine) = books_app(Some(token_auth())).await;
    let body = contact("ada@example.com");

    let (status, answer) = books_deliver(
        &app,
        "/webhooks/zoho/books",
        &[JSON, ("X-Paybridge-Token", BOOKS_TOKEN)],
        body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["event_type"], "books.contact");
    let event_id = answer["event_id"].as_i64().unwrap();
    let stored = engine.store().inbox_event(event_id).await.unwrap();
    assert_eq!(stored.source, "zoho-webhook");
    assert_eq!(stored.event_type, "books.contact");
    assert_eq!(stored.payload["record"]["email"], "ada@example.com");
    assert_eq!(stored.payload["module"], "contact");

    // Books delivers again: the same event.
    let uri = format!("/webhooks/zoho/books?token={BOOKS_TOKEN}");
    let (status, answer) = books_deliver(&app, &uri, &[JSON], body.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer, json!({"duplicate": true, "event_id": event_id}));

    // The form body Books can send instead: the record in `JSONString`.
    let edited = contact("ada.lovelace@example.com");
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("JSONString", &edited)
        .finish();
    let (status, answer) = books_deliver(
        &app,
        &uri,
        &[("content-type", "application/x-www-form-urlencoded")],
        form,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let stored = engine
        .store()
        .inbox_event(answer["event_id"].as_i64().unwrap())
        .await
        .unwrap();
    assert_eq!(
        stored.payload["record"]["email"],
        "ada.lovelace@example.com"
    );

    // Refusals, each with its reason; nothing of them stored.
    let other = contact("someone@example.com");
    for (uri, headers, body, status, reason) in [
        (
            "/webhooks/zoho/books",
            vec![JSON],
            other.clone(),
            StatusCode::UNAUTHORIZED,
            "missing_proof",
        ),
        (
            "/webhooks/zoho/books?token=guess",
            vec![JSON],
            other.clone(),
            StatusCode::UNAUTHORIZED,
            "wrong_token",
        ),
        (
            uri.as_str(),
            vec![JSON],
            "{not json".to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            uri.as_str(),
            vec![JSON],
            json!({"a": {}, "b": {}}).to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            uri.as_str(),
            vec![("content-type", "application/x-www-form-urlencoded")],
            "other=1".to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            uri.as_str(),
            vec![JSON],
            json!({"contact": {"contact_id": "1", "notes": "card 4111 1111 1111 1111"}})
                .to_string(),
            StatusCode::BAD_REQUEST,
            "card_number",
        ),
    ] {
        let (got, answer) = books_deliver(&app, uri, &headers, body).await;
        assert_eq!(got, status, "{reason}: {answer}");
        assert_eq!(answer["error"]["code"], reason, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            !message.contains(BOOKS_TOKEN) && !message.contains("4111"),
            "{message}"
        );
    }
    assert_eq!(engine.store().counts().await.unwrap().inbox_events, 2);
}

#[tokio::test]
async fn signed_books_webhooks_are_checked_and_unconfigured_ones_refused() {
    use paybridge_zoho::webhooks::{BooksWebhookAuth, SIGNATURE_HEADER, sign};
    let secret = "whsec-0123456789ab";
    let (_dir, app, engine) = books_app(Some(BooksWebhookAuth::Signature {
        secret: SecretString::from(secret),
        tolerance: Duration::from_secs(300),
    }))
    .await;
    let body = json!({"creditnote": {"creditnote_id": "9001", "status": "open"}}).to_string();
    let query = vec![("org".to_string(), "10234695".to_string())];
    let signature = sign(secret.as_bytes(), &query, &[], body.as_bytes());
    let (status, answer) = books_deliver(
        &app,
        "/webhooks/zoho/books?org=10234695",
        &[JSON, (SIGNATURE_HEADER, &signature)],
        body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["event_type"], "books.creditnote");
    // The credit note is read by the engine's own flow (is it a refund asked for in Books?).
    assert_eq!(
        engine.store().counts().await.unwrap().runs_by_status["queued"],
        1
    );

    let tampered = body.replace("9001", "9002");
    let (status, answer) = books_deliver(
        &app,
        "/webhooks/zoho/books?org=10234695",
        &[JSON, (SIGNATURE_HEADER, &signature)],
        tampered,
    )
    .await;
    assert_eq!(
        (status, answer["error"]["code"].clone()),
        (StatusCode::UNAUTHORIZED, json!("bad_signature"))
    );

    let (_dir, off, _) = books_app(None).await;
    let (status, answer) = books_deliver(&off, "/webhooks/zoho/books", &[JSON], body).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("zoho.webhooks")
    );
}

// Zoho CRM notifications ------------------------------------------------------------------------

#[tokio::test]
async fn crm_notifications_with_the_channels_token_are_committed_once_and_others_refused() {
    let (_dir, mut state, engine) = crate::app_state(false).await;
    state.zoho_crm_channel = Some(std::sync::Arc::new((
        "1000000068001".to_string(),
        SecretString::from("crm-channel-token-0123"),
    )));
    let app = paybridge_server::router(state);
    let notification = |token: &str, channel: &str| {
        json!({"server_time": engine.clock.now_ms(), "query_params": {}, "module": "Contacts",
               "resource_uri": "https://www.zohoapis.com/crm/v8/Contacts",
               "ids": ["5725767000003000010"], "affected_fields": [{"5725767000003000010": ["Email"]}],
               "operation": "update", "channel_id": channel, "token": token})
        .to_string()
    };
    let good = notification("crm-channel-token-0123", "1000000068001");
    let (status, answer) = books_deliver(&app, "/webhooks/zoho/crm", &[JSON], good.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["event_type"], "crm.Contacts.update");
    let stored = engine
        .store()
        .inbox_event(answer["event_id"].as_i64().unwrap())
        .await
        .unwrap();
    assert_eq!(stored.source, "zoho-webhook");
    assert_eq!(stored.payload["ids"][0], "5725767000003000010");
    // The token proved the callback; it is not kept (a viewer reading the run would see it).
    assert!(stored.payload.get("token").is_none(), "{}", stored.payload);
    assert!(
        !stored
            .payload
            .to_string()
            .contains("crm-channel-token-0123")
    );
    let (status, answer) = books_deliver(&app, "/webhooks/zoho/crm", &[JSON], good).await;
    assert_eq!(
        (status, answer["duplicate"].clone()),
        (StatusCode::OK, json!(true))
    );

    for (body, status, reason) in [
        (
            notification("guess", "1000000068001"),
            StatusCode::UNAUTHORIZED,
            "wrong_token",
        ),
        (
            notification("crm-channel-token-0123", "999"),
            StatusCode::UNAUTHORIZED,
            "unknown_channel",
        ),
        ("{}".to_string(), StatusCode::BAD_REQUEST, "invalid_body"),
        // Captured and sent again hours later: refused by Zoho's own clock in it.
        (
            {
                let mut late: serde_json::Value =
                    serde_json::from_str(&notification("crm-channel-token-0123", "1000000068001"))
                        .unwrap();
                late["server_time"] = json!(engine.clock.now_ms() - 3 * 3_600_000);
                late.to_string()
            },
            StatusCode::UNAUTHORIZED,
            "stale",
        ),
    ] {
        let (got, answer) = books_deliver(&app, "/webhooks/zoho/crm", &[JSON], body).await;
        assert_eq!(got, status, "{reason}: {answer}");
        assert_eq!(answer["error"]["code"], reason);
        assert!(!answer.to_string().contains("crm-channel-token-0123"));
    }
    assert_eq!(engine.store().counts().await.unwrap().inbox_events, 1);
    // A record id that happens to pass Luhn is an id, not a card (it was refused as one).
    let luhn_id = notification("crm-channel-token-0123", "1000000068001")
        .replace("5725767000003000010", "5725767000003000015");
    let (status, answer) = books_deliver(&app, "/webhooks/zoho/crm", &[JSON], luhn_id).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");

    let (_dir, off, _) = books_app(None).await;
    let (status, _) = books_deliver(&off, "/webhooks/zoho/crm", &[JSON], "{}".into()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

// Zoho Desk webhooks ----------------------------------------------------------------------------

#[tokio::test]
async fn desk_deliveries_with_the_urls_secret_commit_each_event_once() {
    let (_dir, mut state, engine) = crate::app_state(false).await;
    state.zoho_desk_webhooks = Some(std::sync::Arc::new((
        "60001234567".to_string(),
        SecretString::from("desk-webhook-secret-0123"),
    )));
    let app = paybridge_server::router(state);
    let delivery = json!([
        {"eventType": "Ticket_Update", "orgId": "60001234567", "eventTime": "1764115200000",
         "payload": {"id": "1892000000093001", "status": "Closed", "cf": {"cf_decision": "accept"}},
         "prevState": {"status": "Open"}},
        {"eventType": "Ticket_Thread_Add", "orgId": "60001234567", "eventTime": "1764115200001",
         "payload": {"id": "1892000000093005", "ticketId": "1892000000093001"}}
    ])
    .to_string();
    let uri = "/webhooks/zoho/desk?secret=desk-webhook-secret-0123";
    let (status, answer) = books_deliver(&app, uri, &[JSON], delivery.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(
        answer["event_type"],
        "desk.Ticket_Update,desk.Ticket_Thread_Add"
    );
    assert_eq!(engine.store().counts().await.unwrap().inbox_events, 2);
    // Desk delivers again: nothing new.
    let (status, answer) = books_deliver(&app, uri, &[JSON], delivery.clone()).await;
    assert_eq!(
        (status, answer["duplicate"].clone()),
        (StatusCode::OK, json!(true))
    );

    let other_org = delivery.replace("60001234567", "99999");
    for (uri, body, status, reason) in [
        (
            "/webhooks/zoho/desk?secret=guess",
            delivery.clone(),
            StatusCode::UNAUTHORIZED,
            "wrong_secret",
        ),
        (
            "/webhooks/zoho/desk",
            delivery.clone(),
            StatusCode::UNAUTHORIZED,
            "wrong_secret",
        ),
        (
            uri,
            other_org,
            StatusCode::UNAUTHORIZED,
            "wrong_organization",
        ),
        (
            uri,
            "{}".to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            uri,
            "[]".to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
    ] {
        let (got, answer) = books_deliver(&app, uri, &[JSON], body).await;
        assert_eq!(got, status, "{reason}: {answer}");
        assert_eq!(answer["error"]["code"], reason);
        assert!(!answer.to_string().contains("desk-webhook-secret-0123"));
    }
    assert_eq!(engine.store().counts().await.unwrap().inbox_events, 2);
}
