//! Rotating a secret through the admin API: a value the connection cannot use is refused and
//! nothing changes; a usable one is stored sealed and in use at once on this node, and another
//! node on the same store takes it up on its next look at the vault — no restart.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use paybridge_engine::tokens::{Role, Tokens};
use paybridge_server::admin::connections::{ConnectionInfo, SecretSlot};
use paybridge_server::{Admin, AppState};
use paybridge_vault::{KeySource, Vault};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};
use tower::ServiceExt as _;

const OLD: &str = "storefront-key-0123456789abcdef";
const NEW: &str = "storefront-key-rotated-000000000";

fn storefront_connection() -> ConnectionInfo {
    ConnectionInfo {
        name: "storefront".into(),
        vendor: "storefront".into(),
        endpoint: "(none)".into(),
        data_centre: String::new(),
        account: String::new(),
        products: Vec::new(),
        secrets: vec![SecretSlot {
            key: "storefront.api_keys".into(),
            source: "vault".into(),
            reference: "storefront/api_keys".into(),
        }],
    }
}

async fn node(state: &AppState) -> AppState {
    let vault = Vault::open(
        state.engine.store().clone(),
        state.engine.clock,
        KeySource::Passphrase(SecretString::from("a master key for the test")),
        Vec::new(),
    )
    .await
    .unwrap();
    AppState {
        storefront_keys: paybridge_server::shared(vec![SecretString::from(OLD)]),
        admin: Arc::new(Admin {
            connections: vec![storefront_connection()],
            vault: Some(vault),
            ..Admin::default()
        }),
        ..state.clone()
    }
}

async fn send(
    app: &axum::Router,
    method: Method,
    path: &str,
    bearer: &str,
    body: Value,
) -> (StatusCode, Value) {
    let response = app
        .clone()
        .oneshot(
            Request::builder()
                .method(method)
                .uri(path)
                .header(header::AUTHORIZATION, format!("Bearer {bearer}"))
                .header(header::CONTENT_TYPE, "application/json")
                .header("idempotency-key", "k-1")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
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

/// Whether the order API takes `key` (an empty order is refused for its content, not the key).
async fn takes(app: &axum::Router, key: &str) -> bool {
    send(app, Method::POST, "/api/v1/orders", key, json!({}))
        .await
        .0
        != StatusCode::UNAUTHORIZED
}

#[tokio::test]
async fn a_rotated_storefront_key_is_in_use_at_once_here_and_on_the_next_look_elsewhere() {
    let (_dir, base, engine) = crate::app_state(false).await;
    let here = node(&base).await;
    let there = node(&base).await;
    let (app, other) = (
        paybridge_server::router(here.clone()),
        paybridge_server::router(there.clone()),
    );
    let vault = here.admin.vault.clone().unwrap();
    vault
        .set("storefront/api_keys", &SecretString::from(OLD))
        .await
        .unwrap();
    // The other node notes what the vault holds.
    paybridge_server::admin::live_secrets::pick_up_rotations(&there).await;
    let (_, admin) = Tokens::new(engine.store().clone(), engine.clock)
        .create("ops", Role::Admin)
        .await
        .unwrap();
    let admin = admin.expose_secret().to_string();
    let rotate = "/api/v1/admin/connections/storefront/secrets/storefront.api_keys";

    // Too short for a storefront key: refused, nothing stored, the old key still works.
    let (status, answer) = send(&app, Method::PUT, rotate, &admin, json!({"value": "short"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(!answer.to_string().contains("short\""), "{answer}");
    assert_eq!(
        vault
            .get("storefront/api_keys")
            .await
            .unwrap()
            .unwrap()
            .expose_secret(),
        OLD
    );
    assert!(takes(&app, OLD).await);

    let (status, answer) = send(&app, Method::PUT, rotate, &admin, json!({"value": NEW})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(
        answer["takes_effect"].as_str().unwrap().starts_with("now"),
        "{answer}"
    );
    assert!(!answer.to_string().contains(NEW), "write-only: {answer}");
    assert!(takes(&app, NEW).await && !takes(&app, OLD).await);

    // The other node still has the old key until it looks; then the new one.
    assert!(takes(&other, OLD).await);
    paybridge_server::admin::live_secrets::pick_up_rotations(&there).await;
    assert!(takes(&other, NEW).await && !takes(&other, OLD).await);
}
