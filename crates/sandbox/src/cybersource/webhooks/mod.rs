//! Webhooks (reference §5): signing keys (`/kms/egress/v2/keys-sym`), the product catalogue,
//! subscriptions (`/notification-subscriptions/v2/webhooks`), test deliveries (v1 path), and
//! deliveries of real events with every `v-c-*` header, a valid `v-c-signature`, and the
//! subscription's retry policy.
//!
//! Not simulated: message-level encryption of `payments`-product events (the service encrypts
//! them as JWE; this sandbox sends them in the clear) and subscription review delays
//! (subscriptions are `ACTIVE` at once).

mod subscriptions;

use super::CybersourceSandbox;
use super::ledger::{Kind, Transaction};
use super::wire::{hal, now_utc};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::time::Duration;
use time::OffsetDateTime;
use time::macros::format_description;

pub(crate) use subscriptions::{
    create_key, create_subscription, delete_subscription, get_subscription, list_subscriptions,
    products, set_status, test_delivery, update_subscription,
};

/// A subscription's retry policy (§5.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    #[serde(default = "arithmetic")]
    pub algorithm: String,
    #[serde(default = "one")]
    pub first_retry: u64,
    #[serde(default = "one")]
    pub interval: u64,
    #[serde(default = "three")]
    pub number_of_retries: u32,
    /// A boolean, or the string the official SDK sends (`"true"`, `"false"`).
    #[serde(default, deserialize_with = "flag")]
    pub deactivate_flag: bool,
    #[serde(default)]
    pub repeat_sequence_count: u32,
    #[serde(default)]
    pub repeat_sequence_wait_time: u64,
}

/// `true`, `false`, `"true"` or `"false"` (any case): Cybersource's SDKs send the flag as a
/// string, its documentation as a boolean.
fn flag<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Text(String),
    }
    match Flag::deserialize(deserializer)? {
        Flag::Bool(b) => Ok(b),
        Flag::Text(t) if t.eq_ignore_ascii_case("true") => Ok(true),
        Flag::Text(t) if t.eq_ignore_ascii_case("false") => Ok(false),
        Flag::Text(t) => Err(serde::de::Error::custom(format!(
            "deactivateFlag must be true or false, not {t:?}"
        ))),
    }
}

/// The signing key a security policy names: `config.keyId` as the reference shows it, or
/// `config.additionalConfig.keyId` where the official SDK's model puts it.
pub(super) fn policy_key_id(policy: &Value) -> Option<&str> {
    policy
        .pointer("/config/keyId")
        .or_else(|| policy.pointer("/config/additionalConfig/keyId"))
        .and_then(Value::as_str)
}

fn arithmetic() -> String {
    "ARITHMETIC".into()
}

fn one() -> u64 {
    1
}

fn three() -> u32 {
    3
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            algorithm: arithmetic(),
            first_retry: 1,
            interval: 1,
            number_of_retries: 3,
            deactivate_flag: false,
            repeat_sequence_count: 0,
            repeat_sequence_wait_time: 0,
        }
    }
}

/// When each retry fires, in minutes after the first failed delivery: ARITHMETIC at
/// `firstRetry + interval·(n−1)`, GEOMETRIC at `firstRetry · interval^(n−1)`; the whole sequence
/// repeats `repeatSequenceCount` times, `repeatSequenceWaitTime` minutes apart.
pub fn retry_schedule(policy: &RetryPolicy) -> Vec<u64> {
    let geometric = policy.algorithm.eq_ignore_ascii_case("GEOMETRIC");
    let one_sequence: Vec<u64> = (1..=policy.number_of_retries)
        .map(|n| {
            let n = u64::from(n);
            if geometric {
                policy.first_retry.saturating_mul(
                    policy
                        .interval
                        .saturating_pow(u32::try_from(n - 1).unwrap_or(u32::MAX)),
                )
            } else {
                policy
                    .first_retry
                    .saturating_add(policy.interval.saturating_mul(n - 1))
            }
        })
        .collect();
    let mut schedule = one_sequence.clone();
    let mut offset = one_sequence.last().copied().unwrap_or(0);
    for _ in 0..policy.repeat_sequence_count {
        offset = offset.saturating_add(policy.repeat_sequence_wait_time);
        schedule.extend(one_sequence.iter().map(|m| offset.saturating_add(*m)));
        offset = offset.saturating_add(one_sequence.last().copied().unwrap_or(0));
    }
    schedule
}

/// A signing key, kept for verifying nothing and signing everything.
#[derive(Clone)]
pub(super) struct SigningKey {
    pub organization_id: String,
    pub key: Vec<u8>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub webhook_id: String,
    pub name: String,
    pub description: String,
    pub organization_id: String,
    pub products: Vec<ProductEvents>,
    pub webhook_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check_url: Option<String>,
    pub notification_scope: String,
    pub retry_policy: RetryPolicy,
    pub security_policy: Value,
    pub status: String,
    pub created_on: String,
    pub updated_on: String,
    pub version: String,
    pub delivery_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductEvents {
    pub product_id: String,
    pub event_types: Vec<String>,
}

/// One delivery attempt, as the control API reports it.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub webhook_id: String,
    pub event_type: String,
    pub resource_id: Option<String>,
    pub retry_number: u32,
    pub transaction_trace_id: String,
    /// The receiver's HTTP status, or none when it could not be reached.
    pub status: Option<u16>,
}

/// The event catalogue (§5.4) this sandbox emits, per product.
pub(crate) fn catalogue() -> Vec<(&'static str, bool, Vec<&'static str>)> {
    vec![
        (
            "payments",
            true,
            vec![
                "payments.authorization.status.accepted",
                "payments.authorization.status.reviewed",
                "payments.authorization.status.rejected",
                "payments.authorization.status.partiallyApproved",
                "payments.capture.status.accepted",
                "payments.capture.status.updated",
                "payments.refund.status.accepted",
                "payments.refund.status.updated",
                "payments.credit.status.accepted",
                "payments.credit.status.updated",
                "payments.void.status.accepted",
                "payments.void.status.rejected",
                "payments.reversal.status.accepted",
                "payments.reversal.status.rejected",
            ],
        ),
        (
            "cardProcessing",
            false,
            vec![
                "payments.payments.accept",
                "payments.payments.review",
                "payments.payments.reject",
                "payments.payments.partial.approval",
                "payments.captures.accept",
                "payments.captures.review",
                "payments.captures.reject",
                "payments.refunds.accept",
                "payments.refunds.reject",
                "payments.refunds.partial.approval",
                "payments.credits.accept",
                "payments.credits.review",
                "payments.credits.reject",
                "payments.credits.partial.approval",
                "payments.reversals.accept",
                "payments.reversals.reject",
                "payments.voids.accept",
                "payments.voids.reject",
            ],
        ),
        (
            "decisionManager",
            false,
            vec![
                "risk.casemanagement.decision.accept",
                "risk.casemanagement.decision.reject",
                "risk.profile.decision.reject",
            ],
        ),
        (
            "tokenManagement",
            false,
            vec![
                "tms.networktoken.provisioned",
                "tms.networktoken.updated",
                "tms.networktoken.binding",
                "tms.token.created",
                "tms.token.updated",
            ],
        ),
    ]
}

/// The events a transaction produces: (product, event type).
pub(super) fn events_for(t: &Transaction) -> Vec<(&'static str, &'static str)> {
    let mut events = Vec::new();
    match t.kind {
        Kind::Authorization => {
            let (current, legacy) = match t.status.as_str() {
                "AUTHORIZED" => (
                    "payments.authorization.status.accepted",
                    "payments.payments.accept",
                ),
                "AUTHORIZED_PENDING_REVIEW" | "PENDING_REVIEW" => (
                    "payments.authorization.status.reviewed",
                    "payments.payments.review",
                ),
                "PARTIAL_AUTHORIZED" => (
                    "payments.authorization.status.partiallyApproved",
                    "payments.payments.partial.approval",
                ),
                _ => (
                    "payments.authorization.status.rejected",
                    "payments.payments.reject",
                ),
            };
            events.push(("payments", current));
            events.push(("cardProcessing", legacy));
            if t.sale {
                events.push(("payments", "payments.capture.status.accepted"));
                events.push(("cardProcessing", "payments.captures.accept"));
            }
        }
        Kind::Capture => {
            events.push(("payments", "payments.capture.status.accepted"));
            events.push(("cardProcessing", "payments.captures.accept"));
        }
        Kind::Refund => {
            events.push(("payments", "payments.refund.status.accepted"));
            events.push(("cardProcessing", "payments.refunds.accept"));
        }
        Kind::Credit => {
            events.push(("payments", "payments.credit.status.accepted"));
            events.push(("cardProcessing", "payments.credits.accept"));
        }
        Kind::Void => {
            events.push(("payments", "payments.void.status.accepted"));
            events.push(("cardProcessing", "payments.voids.accept"));
        }
        Kind::Reversal => {
            events.push(("payments", "payments.reversal.status.accepted"));
            events.push(("cardProcessing", "payments.reversals.accept"));
        }
    }
    events
}

/// What a payment event's `payload.data` holds: the resource and where to read it.
pub(super) fn event_data(t: &Transaction) -> Value {
    json!({
        "id": t.id,
        "type": t.kind.segment(),
        "version": "1.0",
        "status": t.status,
        "clientReferenceInformation": {"code": t.merchant_reference},
        "_links": {
            "self": {"href": format!("/pts/v2/{}/{}", t.kind.segment(), t.id)},
            "transactionDetails": {"href": format!("/tss/v2/transactions/{}", t.id)}
        }
    })
}

fn event_date(at: OffsetDateTime) -> String {
    at.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]"
    ))
    .unwrap_or_default()
}

impl CybersourceSandbox {
    /// Sends `data` as `event_type` to every active subscription of `merchant` that asked for it.
    pub(super) fn emit(&self, merchant_id: &str, product_id: &str, event_type: &str, data: Value) {
        let subscriptions: Vec<Subscription> = self
            .webhooks()
            .subscriptions
            .values()
            .filter(|s| {
                s.organization_id == merchant_id
                    && s.status == "ACTIVE"
                    && s.products.iter().any(|p| {
                        p.product_id == product_id && p.event_types.iter().any(|e| e == event_type)
                    })
            })
            .cloned()
            .collect();
        let faults = self.webhooks().faults.clone();
        for subscription in subscriptions {
            // Fault injection: some events go out twice, and each may be held back a while so
            // that deliveries arrive out of order (draws from the seeded fault generator).
            let copies = if faults.duplicate_probability > 0.0
                && self.inner.faults.chance(faults.duplicate_probability)
            {
                2
            } else {
                1
            };
            for _ in 0..copies {
                let sandbox = self.clone();
                let subscription = subscription.clone();
                let event_type = event_type.to_string();
                let product_id = product_id.to_string();
                let data = data.clone();
                let hold = Duration::from_millis(self.inner.faults.up_to(faults.max_jitter_ms));
                tokio::spawn(async move {
                    tokio::time::sleep(hold).await;
                    sandbox
                        .deliver(subscription, product_id, event_type, data)
                        .await;
                });
            }
        }
    }

    /// `tms.token.created` for a new customer, payment instrument or instrument identifier.
    pub(super) fn emit_token_created(&self, merchant_id: &str, kind: &str, id: &str, href: String) {
        let data =
            json!({"id": id, "type": kind, "version": "1.0", "_links": {"self": {"href": href}}});
        self.emit(merchant_id, "tokenManagement", "tms.token.created", data);
    }

    /// Emits the events of a new transaction.
    pub(super) fn emit_transaction(&self, t: &Transaction) {
        for (product, event_type) in events_for(t) {
            self.emit(&t.merchant_id, product, event_type, event_data(t));
        }
    }

    /// Delivers one event, retrying on the subscription's schedule until the receiver answers 2xx.
    async fn deliver(
        &self,
        subscription: Subscription,
        product_id: String,
        event_type: String,
        data: Value,
    ) {
        let schedule = retry_schedule(&subscription.retry_policy);
        let minute = Duration::from_millis(self.inner.config.webhook_minute_ms);
        let mut waited = 0u64;
        for retry_number in 0..=schedule.len() {
            if retry_number > 0 {
                let at = schedule[retry_number - 1];
                tokio::time::sleep(
                    minute.saturating_mul(u32::try_from(at - waited).unwrap_or(u32::MAX)),
                )
                .await;
                waited = at;
            }
            let status = self
                .send_once(
                    &subscription,
                    &product_id,
                    &event_type,
                    &data,
                    u32::try_from(retry_number).unwrap_or(u32::MAX),
                )
                .await;
            if status.is_some_and(|s| (200..300).contains(&s)) {
                return;
            }
        }
        // Every retry failed: the subscription is suspended (§5.5).
        if let Some(s) = self
            .webhooks()
            .subscriptions
            .get_mut(&subscription.webhook_id)
        {
            s.status = "SUSPENDED".into();
        }
    }

    async fn send_once(
        &self,
        subscription: &Subscription,
        product_id: &str,
        event_type: &str,
        data: &Value,
        retry_number: u32,
    ) -> Option<u16> {
        let key = {
            let webhooks = self.webhooks();
            let key_id = policy_key_id(&subscription.security_policy)
                .unwrap_or_default()
                .to_string();
            webhooks.keys.get(&key_id).cloned().map(|k| (key_id, k))
        };
        let trace = uuid::Uuid::new_v4().to_string();
        let request_type = if retry_number == 0 { "NEW" } else { "RETRY" };
        let payload = json!({"data": data, "organizationId": subscription.organization_id});
        let body = json!({
            "eventType": event_type,
            "webhookId": subscription.webhook_id,
            "productId": product_id,
            "organizationId": subscription.organization_id,
            "eventDate": event_date(OffsetDateTime::now_utc()),
            "transactionTraceId": trace,
            "retryNumber": retry_number,
            "requestType": request_type,
            "payload": payload,
        });
        // Every attempt is signed at its own millisecond, as separate deliveries are.
        let t = {
            let mut webhooks = self.webhooks();
            let now = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
            webhooks.last_signed_ms = now.max(webhooks.last_signed_ms + 1);
            webhooks.last_signed_ms
        };
        let mut request = self
            .inner
            .http
            .post(&subscription.webhook_url)
            .header("Content-Type", "application/json")
            .header("v-c-event-type", event_type)
            .header("v-c-organization-id", &subscription.organization_id)
            .header("v-c-product-name", product_id)
            .header("v-c-request-type", request_type)
            .header("v-c-retry-count", retry_number.to_string())
            .header("v-c-transaction-trace-id", &trace)
            .header("v-c-webhook-id", &subscription.webhook_id)
            .body(body.to_string());
        if let Some((key_id, key)) = key {
            let mut mac =
                Hmac::<Sha256>::new_from_slice(&key.key).expect("HMAC takes any key length");
            mac.update(format!("{t}.{payload}").as_bytes());
            let sig = BASE64.encode(mac.finalize().into_bytes());
            request = request.header("v-c-signature", format!("t={t};keyId={key_id};sig={sig}"));
        }
        let status = request.send().await.ok().map(|r| r.status().as_u16());
        tracing::debug!(webhook = %subscription.webhook_id, event_type, retry_number, ?status, "webhook delivered");
        self.webhooks().deliveries.push(Delivery {
            webhook_id: subscription.webhook_id.clone(),
            event_type: event_type.to_string(),
            resource_id: data.get("id").and_then(Value::as_str).map(str::to_string),
            retry_number,
            transaction_trace_id: trace,
            status,
        });
        status
    }
}

/// Delivery faults: duplicates and out-of-order arrivals.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WebhookFaults {
    /// The chance (0–1) that an event is delivered twice.
    #[serde(default)]
    pub duplicate_probability: f64,
    /// Each delivery waits a random 0..=this many milliseconds before going out.
    #[serde(default)]
    pub max_jitter_ms: u64,
}

/// The webhook side of the simulator's state.
#[derive(Default)]
pub(super) struct WebhookState {
    pub keys: BTreeMap<String, SigningKey>,
    pub subscriptions: BTreeMap<String, Subscription>,
    pub deliveries: Vec<Delivery>,
    pub faults: WebhookFaults,
    pub last_signed_ms: i128,
}

/// `POST /__sandbox/webhooks/faults`: sets the delivery faults.
pub(super) async fn control_faults(
    State(sandbox): State<CybersourceSandbox>,
    axum::Json(faults): axum::Json<WebhookFaults>,
) -> StatusCode {
    sandbox.webhooks().faults = faults;
    StatusCode::NO_CONTENT
}

pub(crate) fn not_found() -> Response {
    hal(
        StatusCode::NOT_FOUND,
        json!({"submitTimeUtc": now_utc(), "status": "NOT_FOUND", "reason": "NOT_FOUND", "message": "The webhook subscription does not exist"}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cybersource::webhooks::subscriptions::loopback_url;

    #[test]
    fn the_reference_schedules() {
        let arithmetic = RetryPolicy {
            first_retry: 10,
            interval: 30,
            number_of_retries: 3,
            ..RetryPolicy::default()
        };
        assert_eq!(retry_schedule(&arithmetic), [10, 40, 70]);
        let geometric = RetryPolicy {
            algorithm: "GEOMETRIC".into(),
            ..arithmetic.clone()
        };
        assert_eq!(retry_schedule(&geometric), [10, 300, 9000]);
        assert_eq!(retry_schedule(&RetryPolicy::default()), [1, 2, 3]);
        let repeated = RetryPolicy {
            repeat_sequence_count: 1,
            repeat_sequence_wait_time: 60,
            ..RetryPolicy::default()
        };
        assert_eq!(retry_schedule(&repeated), [1, 2, 3, 64, 65, 66]);
    }

    #[test]
    fn only_loopback_receivers() {
        assert!(loopback_url("http://127.0.0.1:8080/hooks"));
        assert!(loopback_url("http://localhost/hooks"));
        assert!(!loopback_url("https://merchant.example/webhooks"));
        assert!(!loopback_url("ftp://127.0.0.1/"));
    }
}
