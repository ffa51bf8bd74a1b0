//! Webhook setup as a merchant does it (reference §5): signing keys, the products and event types on offer, subscriptions created, listed, changed, paused and deleted, and a test delivery.

use super::super::wire::{FieldCheck, Refusal, hal, now_utc, text};
use super::super::{CybersourceSandbox, Merchant};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::RngExt as _;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use url::Url;

use super::{RetryPolicy, SigningKey, Subscription, catalogue, not_found};

pub(crate) async fn create_key(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    body: Bytes,
) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return sandbox.refuse(&Refusal::new("INVALID_DATA"));
    };
    let mut check = FieldCheck::default();
    let action = check
        .text(&request, "clientRequestAction", true)
        .unwrap_or_default();
    let key_type = check
        .text(&request, "keyInformation.keyType", true)
        .unwrap_or_default();
    let organization = check
        .text(&request, "keyInformation.organizationId", true)
        .unwrap_or_default();
    check.text(&request, "keyInformation.provider", true);
    check.text(&request, "keyInformation.tenant", true);
    if !action.is_empty() && action != "CREATE" {
        check.invalid.push("clientRequestAction".into());
    }
    if !key_type.is_empty() && key_type != "sharedSecret" {
        check.invalid.push("keyInformation.keyType".into());
    }
    if !organization.is_empty() && organization != merchant.0 {
        check.invalid.push("keyInformation.organizationId".into());
    }
    if let Some(refusal) = check.refusal() {
        return sandbox.refuse(&refusal);
    }
    let key: [u8; 32] = rand::rng().random();
    let key_id = uuid::Uuid::new_v4().to_string();
    let days: i64 = text(&request, "keyInformation.expiryDuration")
        .and_then(|d| d.parse().ok())
        .unwrap_or(365);
    let expires = OffsetDateTime::now_utc() + time::Duration::days(days);
    sandbox.webhooks().keys.insert(
        key_id.clone(),
        SigningKey {
            organization_id: merchant.0.clone(),
            key: key.to_vec(),
        },
    );
    hal(
        StatusCode::CREATED,
        json!({
            "submitTimeUtc": now_utc(),
            "status": "SUCCESS",
            "keyInformation": {
                "provider": "NRTD", "tenant": text(&request, "keyInformation.tenant"), "organizationId": merchant.0,
                "keyId": key_id, "key": BASE64.encode(key), "keyType": "sharedSecret", "status": "Active",
                "expirationDate": super::super::wire::utc(expires)
            }
        }),
    )
}

pub(crate) async fn products(
    Path(organization_id): Path<String>,
    Extension(merchant): Extension<Merchant>,
) -> Response {
    if organization_id != merchant.0 {
        return not_found();
    }
    let products: Vec<Value> = catalogue()
        .into_iter()
        .map(|(product, encrypted, events)| {
            let events: Vec<Value> = events
                .into_iter()
                .map(|e| json!({"eventName": e, "payloadEncryption": encrypted}))
                .collect();
            json!({"productId": product, "eventTypes": events})
        })
        .collect();
    hal(StatusCode::OK, Value::Array(products))
}

pub(crate) fn loopback_url(raw: &str) -> bool {
    Url::parse(raw).ok().is_some_and(|url| {
        matches!(url.scheme(), "http" | "https")
            && match url.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(d)) => d == "localhost",
                None => false,
            }
    })
}

/// Checks the parts of a subscription request that are given; `creating` requires them all.
pub(crate) fn check_subscription(
    sandbox: &CybersourceSandbox,
    merchant: &Merchant,
    request: &Value,
    creating: bool,
) -> Result<(), Refusal> {
    let mut check = FieldCheck::default();
    check.text(request, "name", creating);
    if creating {
        match check.text(request, "organizationId", true) {
            Some(org) if org != merchant.0 => check.invalid.push("organizationId".into()),
            _ => {}
        }
    }
    if let Some(url) = check.text(request, "webhookUrl", creating)
        && !loopback_url(&url)
    {
        check.invalid.push("webhookUrl".into());
    }
    if let Some(products) = request.get("products") {
        let known = catalogue();
        let valid = products.as_array().is_some_and(|list| {
            !list.is_empty()
                && list.iter().all(|p| {
                    let id = p["productId"].as_str().unwrap_or_default();
                    known
                        .iter()
                        .find(|(product, _, _)| *product == id)
                        .is_some_and(|(_, _, events)| {
                            p["eventTypes"].as_array().is_some_and(|es| {
                                !es.is_empty()
                                    && es
                                        .iter()
                                        .all(|e| events.contains(&e.as_str().unwrap_or_default()))
                            })
                        })
                })
        });
        if !valid {
            check.invalid.push("products".into());
        }
    } else if creating {
        check.missing.push("products".into());
    }
    if let Some(key_id) = request.get("securityPolicy").and_then(super::policy_key_id) {
        let owned = sandbox
            .webhooks()
            .keys
            .get(key_id)
            .is_some_and(|k| k.organization_id == merchant.0);
        if !owned {
            check.invalid.push("securityPolicy.config.keyId".into());
        }
    } else if creating {
        check.missing.push("securityPolicy.config.keyId".into());
    }
    if let Some(policy) = request.get("retryPolicy")
        && serde_json::from_value::<RetryPolicy>(policy.clone()).is_err()
    {
        check.invalid.push("retryPolicy".into());
    }
    check.refusal().map_or(Ok(()), Err)
}

pub(crate) fn subscription_json(s: &Subscription) -> Value {
    serde_json::to_value(s).unwrap_or(Value::Null)
}

pub(crate) async fn create_subscription(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    body: Bytes,
) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return sandbox.refuse(&Refusal::new("INVALID_DATA"));
    };
    if let Err(refusal) = check_subscription(&sandbox, &merchant, &request, true) {
        return sandbox.refuse(&refusal);
    }
    let now = now_utc();
    let mut security_policy = request["securityPolicy"].clone();
    security_policy["digitalSignatureEnabled"] = json!("yes");
    let subscription = Subscription {
        webhook_id: uuid::Uuid::new_v4().to_string(),
        name: text(&request, "name").unwrap_or_default().to_string(),
        description: text(&request, "description")
            .unwrap_or_default()
            .to_string(),
        organization_id: merchant.0.clone(),
        products: serde_json::from_value(request["products"].clone()).unwrap_or_default(),
        webhook_url: text(&request, "webhookUrl").unwrap_or_default().to_string(),
        health_check_url: text(&request, "healthCheckUrl").map(str::to_string),
        notification_scope: text(&request, "notificationScope")
            .unwrap_or("DESCENDANTS")
            .to_string(),
        retry_policy: request
            .get("retryPolicy")
            .and_then(|p| serde_json::from_value(p.clone()).ok())
            .unwrap_or_default(),
        security_policy,
        status: "ACTIVE".into(),
        created_on: now.clone(),
        updated_on: now,
        version: "3".into(),
        delivery_type: "HTTPS".into(),
    };
    let body = subscription_json(&subscription);
    sandbox
        .webhooks()
        .subscriptions
        .insert(subscription.webhook_id.clone(), subscription);
    hal(StatusCode::CREATED, body)
}

pub(crate) async fn list_subscriptions(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let list: Vec<Value> = sandbox
        .webhooks()
        .subscriptions
        .values()
        .filter(|s| s.organization_id == merchant.0)
        .filter(|s| {
            query
                .get("productId")
                .is_none_or(|p| s.products.iter().any(|sp| &sp.product_id == p))
        })
        .filter(|s| {
            query
                .get("eventType")
                .is_none_or(|e| s.products.iter().any(|sp| sp.event_types.contains(e)))
        })
        .map(subscription_json)
        .collect();
    hal(StatusCode::OK, Value::Array(list))
}

pub(crate) async fn get_subscription(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Path(id): Path<String>,
) -> Response {
    let found = sandbox
        .webhooks()
        .subscriptions
        .get(&id)
        .filter(|s| s.organization_id == merchant.0)
        .map(subscription_json);
    found.map_or_else(not_found, |body| hal(StatusCode::OK, body))
}

pub(crate) async fn update_subscription(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(changes) = serde_json::from_slice::<Value>(&body) else {
        return sandbox.refuse(&Refusal::new("INVALID_DATA"));
    };
    if let Err(refusal) = check_subscription(&sandbox, &merchant, &changes, false) {
        return sandbox.refuse(&refusal);
    }
    let mut webhooks = sandbox.webhooks();
    let Some(s) = webhooks
        .subscriptions
        .get_mut(&id)
        .filter(|s| s.organization_id == merchant.0)
    else {
        drop(webhooks);
        return not_found();
    };
    if let Some(v) = text(&changes, "name") {
        s.name = v.into();
    }
    if let Some(v) = text(&changes, "description") {
        s.description = v.into();
    }
    if let Some(v) = text(&changes, "webhookUrl") {
        s.webhook_url = v.into();
    }
    if let Some(v) = text(&changes, "healthCheckUrl") {
        s.health_check_url = Some(v.into());
    }
    if let Some(products) = changes
        .get("products")
        .and_then(|p| serde_json::from_value(p.clone()).ok())
    {
        s.products = products;
    }
    if let Some(policy) = changes
        .get("retryPolicy")
        .and_then(|p| serde_json::from_value(p.clone()).ok())
    {
        s.retry_policy = policy;
    }
    if let Some(policy) = changes.get("securityPolicy") {
        s.security_policy = policy.clone();
        s.security_policy["digitalSignatureEnabled"] = json!("yes");
    }
    s.updated_on = now_utc();
    let body = subscription_json(s);
    drop(webhooks);
    hal(StatusCode::OK, body)
}

pub(crate) async fn set_status(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let status = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["status"].as_str().map(str::to_string));
    let Some(status) = status.filter(|s| s == "ACTIVE" || s == "INACTIVE") else {
        return sandbox.refuse(&Refusal::new("INVALID_DATA").field("status", "INVALID_DATA"));
    };
    let mut webhooks = sandbox.webhooks();
    let Some(s) = webhooks
        .subscriptions
        .get_mut(&id)
        .filter(|s| s.organization_id == merchant.0)
    else {
        drop(webhooks);
        return not_found();
    };
    s.status = status;
    s.updated_on = now_utc();
    let body = subscription_json(s);
    drop(webhooks);
    hal(StatusCode::OK, body)
}

pub(crate) async fn delete_subscription(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Path(id): Path<String>,
) -> Response {
    let mut webhooks = sandbox.webhooks();
    let owned = webhooks
        .subscriptions
        .get(&id)
        .is_some_and(|s| s.organization_id == merchant.0);
    if !owned {
        drop(webhooks);
        return not_found();
    }
    webhooks.subscriptions.remove(&id);
    drop(webhooks);
    hal(StatusCode::OK, json!({"status": "successfully deleted"}))
}

/// `POST /notification-subscriptions/v1/webhooks/{id}`: sends a sample notification now.
pub(crate) async fn test_delivery(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Path(id): Path<String>,
) -> Response {
    let subscription = sandbox
        .webhooks()
        .subscriptions
        .get(&id)
        .filter(|s| s.organization_id == merchant.0)
        .cloned();
    let Some(subscription) = subscription else {
        return not_found();
    };
    let product = subscription
        .products
        .first()
        .map(|p| p.product_id.clone())
        .unwrap_or_default();
    let event_type = subscription
        .products
        .first()
        .and_then(|p| p.event_types.first().cloned())
        .unwrap_or_default();
    let data = json!({"id": uuid::Uuid::new_v4().simple().to_string(), "type": "test", "version": "1.0",
                      "message": "This is a test notification from the Cybersource sandbox."});
    let status = sandbox
        .send_once(&subscription, &product, &event_type, &data, 0)
        .await;
    hal(
        StatusCode::OK,
        json!({
            "eventType": event_type, "webhookId": id, "organizationId": merchant.0,
            "payloads": {"testPayload": {"message": "This is a test notification from the Cybersource sandbox.", "deliveryStatus": status}}
        }),
    )
}
