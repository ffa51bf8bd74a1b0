//! `POST /webhooks/cybersource`: verified, committed, then acknowledged; duplicates collapse;
//! bad deliveries are refused with the reason, counted, and never stored.

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

    let counts = engine.store.counts().await.unwrap();
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
        engine.store.counts().await.unwrap().inbox_events,
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
