//! Webhooks end to end: a signing key and a subscription made through the connector, real
//! events delivered by the sandbox to a receiver on loopback, verified by the connector.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use paybridge_cybersource::webhooks::{
    CreateWebhook, EventMeaning, EventType, ProductEvents, SecurityConfig, SecurityPolicy,
    WebhookRetryPolicy, WebhookVerifier,
};
use paybridge_cybersource::{Client, Error};
use paybridge_sandbox::cybersource::{CybersourceConfig, CybersourceSandbox};
use paybridge_sandbox::server::RunningServer;
use tokio::sync::mpsc;

use crate::{SECRET, client, sale};

pub type Received = (HeaderMap, Bytes);

/// A receiver that answers `failures` 500s before it acknowledges.
pub async fn receiver(failures: u32) -> (RunningServer, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let left = Arc::new(AtomicU32::new(failures));
    let router = Router::new()
        .route(
            "/hooks",
            post(
                |State((tx, left)): State<(mpsc::UnboundedSender<Received>, Arc<AtomicU32>)>,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    let _ = tx.send((headers, body));
                    if left.load(Ordering::SeqCst) > 0 {
                        left.fetch_sub(1, Ordering::SeqCst);
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::OK
                    }
                },
            ),
        )
        .with_state((tx, left));
    let server = RunningServer::start(router, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap();
    (server, rx)
}

pub async fn sandbox_with_fast_minutes() -> (CybersourceSandbox, RunningServer) {
    let mut config = CybersourceConfig::with_key("test_merchant", "key-1", SECRET);
    config.webhook_minute_ms = 1;
    let sandbox = CybersourceSandbox::new(&config).unwrap();
    let server = RunningServer::start(sandbox.router(), SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap();
    (sandbox, server)
}

pub fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

pub async fn next(rx: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a delivery arrives")
        .unwrap()
}

pub async fn subscribe(
    client: &Client,
    url: String,
    product: &str,
    events: &[&str],
) -> (String, WebhookVerifier) {
    let key = client.create_signing_key("test_merchant").await.unwrap();
    let mut verifier = WebhookVerifier::new(Duration::from_secs(300));
    verifier
        .add_key(key.key_id.clone(), key.key.as_ref().unwrap())
        .unwrap();
    let webhook = client
        .create_webhook(&CreateWebhook {
            name: "paybridge".into(),
            description: "payments to Zoho".into(),
            organization_id: "test_merchant".into(),
            products: vec![ProductEvents {
                product_id: product.into(),
                event_types: events.iter().map(|e| e.to_string()).collect(),
            }],
            webhook_url: url,
            health_check_url: None,
            notification_scope: "SELF".into(),
            retry_policy: WebhookRetryPolicy::default(),
            security_policy: SecurityPolicy {
                security_type: "key".into(),
                config: SecurityConfig {
                    key_id: Some(key.key_id),
                },
            },
        })
        .await
        .unwrap();
    assert_eq!(webhook.status.as_deref(), Some("ACTIVE"));
    (webhook.webhook_id, verifier)
}

#[tokio::test]
async fn payment_events_arrive_signed_in_both_catalogues() {
    let (_sandbox, server) = sandbox_with_fast_minutes().await;
    let client = client(&server, SECRET);
    let (hooks, mut rx) = receiver(0).await;
    let url = format!("{}hooks", hooks.url());
    let (current_id, verifier) = subscribe(
        &client,
        url.clone(),
        "payments",
        &["payments.authorization.status.accepted"],
    )
    .await;
    let (legacy_id, legacy_verifier) = subscribe(
        &client,
        url,
        "cardProcessing",
        &["payments.payments.accept"],
    )
    .await;

    let payment = client.create_payment(&sale("20.00")).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..2 {
        let (headers, body) = next(&mut rx).await;
        let signature = headers.get("v-c-signature").and_then(|v| v.to_str().ok());
        let notification = verifier
            .verify(signature, &body, now_ms())
            .or_else(|_| legacy_verifier.verify(signature, &body, now_ms()))
            .expect("a valid signature");
        assert_eq!(notification.resource_id(), Some(payment.id.as_str()));
        assert_eq!(
            notification.event_type.meaning(),
            EventMeaning::PaymentApproved
        );
        for header in [
            "v-c-event-type",
            "v-c-organization-id",
            "v-c-product-name",
            "v-c-request-type",
            "v-c-retry-count",
            "v-c-transaction-trace-id",
            "v-c-webhook-id",
        ] {
            assert!(headers.contains_key(header), "{header}");
        }
        assert_eq!(headers["v-c-request-type"], "NEW");
        seen.push((
            notification.webhook_id.clone(),
            notification.event_type.clone(),
        ));
    }
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected = vec![
        (current_id, EventType::AuthorizationAccepted),
        (legacy_id, EventType::LegacyPaymentAccept),
    ];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn a_failed_delivery_is_retried_with_a_new_trace_and_signature() {
    let (sandbox, server) = sandbox_with_fast_minutes().await;
    let client = client(&server, SECRET);
    let (hooks, mut rx) = receiver(1).await;
    let (_, verifier) = subscribe(
        &client,
        format!("{}hooks", hooks.url()),
        "cardProcessing",
        &["payments.payments.accept"],
    )
    .await;
    client.create_payment(&sale("21.00")).await.unwrap();
    let (first_headers, first_body) = next(&mut rx).await;
    let (retry_headers, retry_body) = next(&mut rx).await;
    assert_eq!(retry_headers["v-c-request-type"], "RETRY");
    assert_eq!(retry_headers["v-c-retry-count"], "1");
    assert_ne!(
        first_headers["v-c-transaction-trace-id"],
        retry_headers["v-c-transaction-trace-id"]
    );
    let first = verifier
        .verify(
            first_headers
                .get("v-c-signature")
                .and_then(|v| v.to_str().ok()),
            &first_body,
            now_ms(),
        )
        .unwrap();
    let retry = verifier
        .verify(
            retry_headers
                .get("v-c-signature")
                .and_then(|v| v.to_str().ok()),
            &retry_body,
            now_ms(),
        )
        .unwrap();
    assert_eq!(
        first.dedupe_key(),
        retry.dedupe_key(),
        "a retry is the same event"
    );
    // The first signed delivery, sent again as is, verifies: the store knows it by its dedupe
    // key when it is committed.
    let again = verifier
        .verify(
            first_headers
                .get("v-c-signature")
                .and_then(|v| v.to_str().ok()),
            &first_body,
            now_ms(),
        )
        .unwrap();
    assert_eq!(again.dedupe_key(), first.dedupe_key());
    // The first attempt was recorded with the receiver's refusal before the retry went out.
    assert_eq!(sandbox.deliveries()[0].status, Some(500));
}

#[tokio::test]
async fn subscriptions_are_managed_and_tested_through_the_api() {
    let (_sandbox, server) = sandbox_with_fast_minutes().await;
    let client = client(&server, SECRET);
    let (hooks, mut rx) = receiver(0).await;
    let (id, verifier) = subscribe(
        &client,
        format!("{}hooks", hooks.url()),
        "cardProcessing",
        &["payments.refunds.accept"],
    )
    .await;

    let products = client.webhook_products("test_merchant").await.unwrap();
    assert!(
        products
            .iter()
            .any(|p| p.product_id == "payments"
                && p.event_types.iter().all(|e| e.payload_encryption))
    );
    assert_eq!(client.webhooks("test_merchant").await.unwrap().len(), 1);
    let updated = client
        .update_webhook(&id, &serde_json::json!({"name": "renamed"}))
        .await
        .unwrap();
    assert_eq!(updated.name.as_deref(), Some("renamed"));

    let answer = client.test_webhook(&id).await.unwrap();
    assert!(answer["payloads"]["testPayload"]["message"].is_string());
    let (headers, body) = next(&mut rx).await;
    assert!(
        verifier
            .verify(
                headers.get("v-c-signature").and_then(|v| v.to_str().ok()),
                &body,
                now_ms()
            )
            .is_ok()
    );

    assert_eq!(
        client
            .set_webhook_status(&id, "INACTIVE")
            .await
            .unwrap()
            .status
            .as_deref(),
        Some("INACTIVE")
    );
    client.delete_webhook(&id).await.unwrap();
    assert!(matches!(
        client.webhook(&id).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn subscriptions_refuse_unknown_events_foreign_keys_and_remote_urls() {
    let (_sandbox, server) = sandbox_with_fast_minutes().await;
    let client = client(&server, SECRET);
    let key = client.create_signing_key("test_merchant").await.unwrap();
    let request = |url: &str, event: &str, key_id: &str| CreateWebhook {
        name: "x".into(),
        description: String::new(),
        organization_id: "test_merchant".into(),
        products: vec![ProductEvents {
            product_id: "cardProcessing".into(),
            event_types: vec![event.into()],
        }],
        webhook_url: url.into(),
        health_check_url: None,
        notification_scope: "SELF".into(),
        retry_policy: WebhookRetryPolicy::default(),
        security_policy: SecurityPolicy {
            security_type: "key".into(),
            config: SecurityConfig {
                key_id: Some(key_id.into()),
            },
        },
    };
    let field_of = |e: Error| match e {
        Error::InvalidRequest { details, .. } => details[0].field.clone().unwrap_or_default(),
        other => panic!("{other}"),
    };
    assert_eq!(
        field_of(
            client
                .create_webhook(&request(
                    "http://127.0.0.1:1/h",
                    "payments.nope",
                    &key.key_id
                ))
                .await
                .unwrap_err()
        ),
        "products"
    );
    assert_eq!(
        field_of(
            client
                .create_webhook(&request(
                    "https://merchant.example/h",
                    "payments.payments.accept",
                    &key.key_id
                ))
                .await
                .unwrap_err()
        ),
        "webhookUrl"
    );
    assert_eq!(
        field_of(
            client
                .create_webhook(&request(
                    "http://127.0.0.1:1/h",
                    "payments.payments.accept",
                    "no-such-key"
                ))
                .await
                .unwrap_err()
        ),
        "securityPolicy.config.keyId"
    );
}

#[tokio::test]
async fn duplicated_deliveries_are_the_same_event() {
    let (sandbox, server) = sandbox_with_fast_minutes().await;
    sandbox.set_webhook_faults(paybridge_sandbox::cybersource::WebhookFaults {
        duplicate_probability: 1.0,
        max_jitter_ms: 5,
    });
    let client = client(&server, SECRET);
    let (hooks, mut rx) = receiver(0).await;
    let (_, verifier) = subscribe(
        &client,
        format!("{}hooks", hooks.url()),
        "cardProcessing",
        &["payments.payments.accept"],
    )
    .await;
    client.create_payment(&sale("22.00")).await.unwrap();
    let mut keys = Vec::new();
    for _ in 0..2 {
        let (headers, body) = next(&mut rx).await;
        let n = verifier
            .verify(
                headers.get("v-c-signature").and_then(|v| v.to_str().ok()),
                &body,
                now_ms(),
            )
            .unwrap();
        keys.push(n.dedupe_key());
    }
    assert_eq!(keys[0], keys[1], "a duplicate collapses on the dedupe key");
}
