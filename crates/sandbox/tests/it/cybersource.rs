use paybridge_sandbox::cybersource::{CybersourceConfig, CybersourceSandbox};
use serde_json::Value;

use crate::{http, serve};

const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Reference §2.3 vector B, byte for byte as the official Python SDK sent it (extra headers,
/// spaces in the body, `Host: apitest.cybersource.com` whatever the address).
#[tokio::test]
async fn the_official_sdk_wire_capture_authenticates() {
    let mut config = CybersourceConfig::with_key(
        "test_merchant",
        "11111111-2222-3333-4444-555555555555",
        SECRET,
    );
    // The capture is dated 2024-10-14: widen the clock window to replay it.
    config.max_clock_skew_secs = 100 * 365 * 24 * 3600;
    let sandbox = CybersourceSandbox::new(&config).unwrap();
    let server = serve(sandbox.router()).await;
    let body = r#"{"clientReferenceInformation": {"code": "ORDER-1001", "partner": {"developerId": "J0TV2I9S"}}, "processingInformation": {"capture": true}, "orderInformation": {"amountDetails": {"totalAmount": "102.21", "currency": "USD"}}}"#;
    let response = http()
        .post(server.url().join("pts/v2/payments").unwrap())
        .header("Accept", "application/hal+json")
        .header("Content-Type", "application/json")
        .header("v-c-client-id", "cybs-rest-sdk-python-0.0.80")
        .header("Accept-Encoding", "*")
        .header("v-c-merchant-id", "test_merchant")
        .header("Date", "Mon, 14 Oct 2024 12:00:00 GMT")
        .header("Host", "apitest.cybersource.com")
        .header("User-Agent", "Swagger-Codegen/1.0.0/python")
        .header("Digest", "SHA-256=QMCezqQCiy3h5132eidiAhNvVTLHdD78c6pclxQLlfs=")
        .header("Signature", r#"keyid="11111111-2222-3333-4444-555555555555", algorithm="HmacSHA256", headers="host date request-target digest v-c-merchant-id", signature="9Od1y5BOnK3KO7UijEW8FAX/7mwUk4JP9d339cVjnx4=""#)
        .body(body)
        .send()
        .await
        .unwrap();
    // Authenticated; then refused because the SDK sample carries no card and no billTo.
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["content-type"], "application/hal+json");
    assert!(response.headers().contains_key("v-c-correlation-id"));
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["status"], "INVALID_REQUEST");
    assert_eq!(answer["reason"], "MISSING_FIELD");
    let fields: Vec<&str> = answer["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"paymentInformation.card.number"),
        "{fields:?}"
    );
    assert!(
        fields.contains(&"orderInformation.billTo.email"),
        "{fields:?}"
    );
    assert_eq!(sandbox.stats().authentication_failures, 0);
}

#[tokio::test]
async fn an_unsigned_request_gets_the_rmsg_envelope() {
    let sandbox = CybersourceSandbox::new(&CybersourceConfig::with_key("m", "k", SECRET)).unwrap();
    let server = serve(sandbox.router()).await;
    let response = http()
        .post(server.url().join("pts/v2/payments").unwrap())
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"response":{"rmsg":"Authentication Failed"}}"#
    );
    assert_eq!(sandbox.stats().authentication_failures, 1);
}

#[test]
fn a_secret_that_is_not_base64_is_refused_at_start() {
    assert!(
        CybersourceSandbox::new(&CybersourceConfig::with_key("m", "k", "not base64!")).is_err()
    );
}

#[tokio::test]
async fn reset_forgets_everything_but_the_configuration() {
    let sandbox = CybersourceSandbox::new(&CybersourceConfig::with_key("m", "k", SECRET)).unwrap();
    let server = serve(sandbox.router()).await;
    // An unsigned request still counts.
    http()
        .post(server.url().join("pts/v2/payments").unwrap())
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(sandbox.stats().requests, 1);
    let answer = http()
        .post(server.url().join("__sandbox/reset").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 204);
    assert_eq!(sandbox.stats().requests, 0);
    assert!(sandbox.transactions().is_empty());
}

#[tokio::test]
async fn without_the_control_api_its_paths_are_unknown() {
    let config = CybersourceConfig {
        control_api: false,
        ..CybersourceConfig::with_key("m", "k", SECRET)
    };
    let sandbox = CybersourceSandbox::new(&config).unwrap();
    let server = serve(sandbox.router()).await;
    for (method, path) in [
        (reqwest::Method::POST, "__sandbox/reset"),
        (reqwest::Method::POST, "__sandbox/settle"),
        (reqwest::Method::GET, "__sandbox/transactions"),
        (reqwest::Method::POST, "__sandbox/faults"),
    ] {
        let answer = http()
            .request(method, server.url().join(path).unwrap())
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 404, "{path}");
    }
}
