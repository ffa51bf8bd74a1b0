//! The order API's contract, through the router without a socket. These requests are all
//! refused before any vendor is called, so the connectors point at nothing.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use paybridge_actions::Connectors;
use paybridge_engine::{Engine, EngineSettings};
use paybridge_model::Currency;
use paybridge_server::{AppState, router};
use paybridge_store::Store;
use secrecy::SecretString;
use serde_json::{Value, json};
use tower::ServiceExt as _;
use url::Url;

const KEY: &str = "storefront-key-0123456789abcdef";

mod admin;
mod admin_api;
mod console;
mod order_body;
mod rotation;
mod webhooks;

async fn app(test_mode: bool) -> (tempfile::TempDir, axum::Router) {
    let (dir, router, _) = app_parts(test_mode).await;
    (dir, router)
}

/// The router over a fresh store, and its engine (to make tokens with).
async fn app_parts(test_mode: bool) -> (tempfile::TempDir, axum::Router, Engine) {
    app_with(test_mode, None).await
}

/// The router with Cybersource webhook signing keys, if any.
async fn app_with(
    test_mode: bool,
    webhooks: Option<paybridge_cybersource::webhooks::WebhookVerifier>,
) -> (tempfile::TempDir, axum::Router, Engine) {
    let (dir, mut state, engine) = app_state(test_mode).await;
    state.cybersource_webhooks = webhooks.map(Arc::new);
    (dir, router(state), engine)
}

/// The application's state over a fresh store, its webhooks off.
async fn app_state(test_mode: bool) -> (tempfile::TempDir, AppState, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("paybridge.db"))
        .await
        .unwrap();
    let nowhere = Url::parse("http://127.0.0.1:9/").unwrap();
    let cybersource = paybridge_cybersource::Client::new(paybridge_cybersource::ClientConfig::new(
        paybridge_cybersource::Environment::Custom(nowhere.clone()),
        paybridge_cybersource::Credentials {
            merchant_id: "m".into(),
            key_id: "k".into(),
            shared_secret: SecretString::from("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
        },
    ))
    .unwrap();
    let zoho = paybridge_zoho::Client::new(paybridge_zoho::ClientConfig::new(
        paybridge_zoho::OAuthCredentials {
            accounts_url: nowhere.clone(),
            client_id: "c".into(),
            client_secret: SecretString::from("s"),
            refresh_token: SecretString::from("r"),
        },
        nowhere,
    ))
    .unwrap();
    let books = zoho.books("1");
    let engine = Engine::new(
        store,
        Connectors::new(cybersource, zoho, books, Currency::USD),
        EngineSettings {
            test_mode,
            ..EngineSettings::default()
        },
    );
    let state = AppState {
        engine: engine.clone(),
        storefront_keys: paybridge_server::shared(vec![SecretString::from(KEY)]),
        metrics: None,
        cybersource_webhooks: None,
        zoho_books_webhooks: None,
        zoho_crm_channel: None,
        zoho_desk_webhooks: None,
        admin: Arc::default(),
    };
    (dir, state, engine)
}

fn order() -> Value {
    json!({
        "reference": "R-1",
        "currency": "USD",
        "customer": {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace",
                     "billing_address": {"line1": "1 Market St", "city": "San Francisco", "region": "CA",
                                         "postal_code": "94105", "country": "US"}},
        "lines": [{"name": "Tea", "quantity": "1", "unit_price": "9.75"}],
        "payment": {"card": {"number": "4111111111111111", "expiration_month": "12", "expiration_year": "2031"}}
    })
}

async fn post(
    app: &axum::Router,
    key: Option<&str>,
    idempotency_key: Option<&str>,
    body: String,
) -> (StatusCode, Value, axum::http::HeaderMap) {
    let mut request =
        Request::post("/api/v1/orders").header(header::CONTENT_TYPE, "application/json");
    if let Some(key) = key {
        request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    if let Some(idempotency_key) = idempotency_key {
        request = request.header("Idempotency-Key", idempotency_key);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        headers,
    )
}

#[tokio::test]
async fn storefronts_need_a_known_key() {
    let (_dir, app) = app(true).await;
    let (status, body, headers) = post(&app, None, Some("k"), order().to_string()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
    assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
    let (status, body, _) = post(&app, Some("wrong-key"), Some("k"), order().to_string()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid")
    );

    let get = Request::get("/api/v1/orders/R-1")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.clone().oneshot(get).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn an_idempotency_key_is_required() {
    let (_dir, app) = app(true).await;
    let (status, body, _) = post(&app, Some(KEY), None, order().to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "idempotency_key_required");
}

#[tokio::test]
async fn a_malformed_body_is_explained_without_echoing_a_card() {
    let (_dir, app) = app(true).await;
    let mut bad = order();
    bad["payment"]["card"]["number"] = json!(4111111111111111u64);
    let (status, body, _) = post(&app, Some(KEY), Some("k"), bad.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_json");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("expected a string"), "{message}");
    assert!(!message.contains("4111111111111111"), "{message}");

    let mut unknown = order();
    unknown["customer"]["emial"] = json!("typo");
    let (status, body, _) = post(&app, Some(KEY), Some("k"), unknown.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["message"].as_str().unwrap().contains("emial"));
}

#[tokio::test]
async fn an_invalid_order_lists_every_field() {
    let (_dir, app) = app(true).await;
    let mut bad = order();
    bad["currency"] = json!("ZZZ");
    bad["payment"] = json!({});
    let (status, body, _) = post(&app, Some(KEY), Some("k"), bad.to_string()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "invalid_order");
    let fields: Vec<&str> = body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["currency", "payment"]);

    let mut bad = order();
    bad["customer"]["billing_address"]["region"] = Value::Null;
    bad["lines"][0]["unit_price"] = json!("-1");
    let (status, body, _) = post(&app, Some(KEY), Some("k"), bad.to_string()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["customer.billing_address.region", "lines[0].unit_price"]
    );
}

/// The fields an answer names, in its order.
fn field_names(body: &Value) -> Vec<String> {
    body["error"]["fields"]
        .as_array()
        .map(|fields| {
            fields
                .iter()
                .map(|f| f["field"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn an_order_that_would_be_charged_rounded_is_refused_naming_the_line() {
    let (_dir, app) = app(true).await;
    // Half a unit at 1.01: 0.505 USD, which would be charged (and booked) rounded.
    let mut bad = order();
    bad["lines"][0]["quantity"] = json!("0.5");
    bad["lines"][0]["unit_price"] = json!("1.01");
    let (status, body, _) = post(&app, Some(KEY), Some("k1"), bad.to_string()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(field_names(&body), ["lines[0]"]);
    // Yen have no decimals.
    let mut bad = order();
    bad["currency"] = json!("JPY");
    bad["lines"][0]["unit_price"] = json!("100.5");
    let (status, body, _) = post(&app, Some(KEY), Some("k2"), bad.to_string()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(field_names(&body), ["lines[0].unit_price"]);
}

#[tokio::test]
async fn huge_amounts_are_refused_not_a_dropped_connection() {
    let (_dir, app) = app(true).await;
    // quantity × unit_price overflows a decimal: once a panic that dropped the connection.
    let mut bad = order();
    bad["lines"][0]["quantity"] = json!("79228162514264337593543950335");
    bad["lines"][0]["unit_price"] = json!("2");
    let (status, body, _) = post(&app, Some(KEY), Some("k1"), bad.to_string()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(field_names(&body), ["lines[0]"]);
    // A billion is computable, and more than one order may total by default.
    let mut bad = order();
    bad["lines"][0]["unit_price"] = json!("1000000000.00");
    let (status, body, _) = post(&app, Some(KEY), Some("k2"), bad.to_string()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(field_names(&body), ["lines"]);
    let message = body["error"]["fields"][0]["message"].as_str().unwrap();
    assert!(message.contains("max_amount"), "{message}");
}

#[tokio::test]
async fn raw_cards_are_refused_outside_test_mode() {
    let (_dir, app) = app(false).await;
    let (status, body, _) = post(&app, Some(KEY), Some("k"), order().to_string()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "card_not_accepted");
}

#[tokio::test]
async fn unknown_orders_are_404_and_health_checks_are_open() {
    let (_dir, app) = app(true).await;
    let get = Request::get("/api/v1/orders/NOPE")
        .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(get).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    for path in ["/healthz", "/readyz"] {
        let response = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    // The simulators' control API belongs to the simulators, never to paybridge.
    let response = app
        .clone()
        .oneshot(
            Request::post("/__sandbox/reset")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_order_that_cannot_reach_cybersource_asks_for_a_retry_and_charges_nothing() {
    let (_dir, app) = app(true).await;
    let (status, body, headers) = post(&app, Some(KEY), Some("k-1"), order().to_string()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "payment_failed");
    assert_eq!(headers[header::RETRY_AFTER], "5");
    assert_eq!(body["payment"]["card"]["last4"], "1111");
    assert!(!body.to_string().contains("4111111111111111"));
}
