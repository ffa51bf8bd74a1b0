//! Books workflow webhooks from the sandbox, verified by the connector: signed with the
//! webhook's secret, or carrying a secret token in the URL.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::RawQuery;
use axum::http::HeaderMap;
use axum::routing::post;
use paybridge_sandbox::server::RunningServer;
use paybridge_zoho::webhooks::{BooksWebhookAuth, Delivery, WebhookError};
use secrecy::SecretString;
use serde_json::json;
use tokio::sync::mpsc;

use crate::{ORG, client, config, contact, invoice, sandbox};

type Received = (Vec<(String, String)>, Vec<(String, String)>, Bytes);

async fn receiver() -> (RunningServer, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let router = Router::new().route(
        "/hooks/books",
        post(
            move |RawQuery(query): RawQuery, headers: HeaderMap, body: Bytes| {
                let tx = tx.clone();
                async move {
                    let headers = headers
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.as_str().to_string(),
                                v.to_str().unwrap_or_default().to_string(),
                            )
                        })
                        .collect();
                    let query = serde_urlencoded::from_str(query.as_deref().unwrap_or_default())
                        .unwrap_or_default();
                    let _ = tx.send((headers, query, body));
                    "ok"
                }
            },
        ),
    );
    let server = RunningServer::start(router, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap();
    (server, rx)
}

async fn register(server: &RunningServer, webhook: serde_json::Value) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let answer = http
        .post(server.url().join("__sandbox/books/webhooks").unwrap())
        .json(&webhook)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
}

#[tokio::test]
async fn signed_invoice_webhooks_verify_and_tampering_does_not() {
    let (_zoho, server) = sandbox(config()).await;
    let (hooks, mut received) = receiver().await;
    register(
        &server,
        json!({"organization_id": ORG, "module": "invoice", "events": ["create"],
               "url": format!("{}hooks/books?source=zoho", hooks.url()),
               "secret": "whsec-0123456789abcdef"}),
    )
    .await;
    let books = client(&server, "1000.CLIENT").books(ORG);
    let ada = books
        .create_contact(&contact("Ada Lovelace", "ada@example.com"))
        .await
        .unwrap();
    let made = books
        .create_invoice(&invoice(&ada.contact_id, "ORDER-1", "12.00"))
        .await
        .unwrap();
    let (headers, query, body) = tokio::time::timeout(Duration::from_secs(10), received.recv())
        .await
        .expect("a delivery arrives")
        .unwrap();
    let auth = BooksWebhookAuth::Signature {
        secret: SecretString::from("whsec-0123456789abcdef"),
        tolerance: Duration::from_secs(300),
    };
    let delivery = Delivery {
        headers,
        query,
        body: &body,
        ..Delivery::default()
    };
    let event = auth.verify(&delivery).unwrap();
    assert_eq!(event.module, "invoice");
    assert_eq!(event.record["invoice_id"], made.invoice_id.as_str());

    let wrong_key = BooksWebhookAuth::Signature {
        secret: SecretString::from("whsec-somebody-else"),
        tolerance: Duration::from_secs(300),
    };
    assert_eq!(
        wrong_key.verify(&delivery),
        Err(WebhookError::WrongSignature)
    );
}

#[tokio::test]
async fn token_webhooks_carry_the_secret_in_the_url() {
    let (_zoho, server) = sandbox(config()).await;
    let (hooks, mut received) = receiver().await;
    register(
        &server,
        json!({"organization_id": ORG, "module": "contact",
               "url": format!("{}hooks/books?token=tok-5544", hooks.url())}),
    )
    .await;
    client(&server, "1000.CLIENT")
        .books(ORG)
        .create_contact(&contact("Grace Hopper", "grace@example.com"))
        .await
        .unwrap();
    let (headers, query, body) = tokio::time::timeout(Duration::from_secs(10), received.recv())
        .await
        .expect("a delivery arrives")
        .unwrap();
    let auth = BooksWebhookAuth::Token {
        secret: SecretString::from("tok-5544"),
        header: "x-paybridge-token".into(),
        query: "token".into(),
    };
    let event = auth
        .verify(&Delivery {
            headers,
            query,
            body: &body,
            ..Delivery::default()
        })
        .unwrap();
    assert_eq!(event.module, "contact");
    assert_eq!(event.record["contact_name"], "Grace Hopper");
}
