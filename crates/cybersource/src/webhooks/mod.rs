//! Webhooks (reference §5): verifying deliveries, their typed events, and managing signing keys
//! and subscriptions.
//!
//! A delivery carries `v-c-signature: t=<ms>;keyId=<id>;sig=<base64>`; the signature is
//! `HMAC-SHA256(base64decode(key), t + "." + payload)` where `payload` is the JSON text of the
//! notification's `payload` member (§5.3). [`WebhookVerifier`] checks it in constant time and
//! refuses deliveries outside a timestamp window. It remembers nothing: a delivery seen before (a
//! replay, or Cybersource's retry after an answer it did not get) is recognised by the store,
//! which keeps each delivery's dedupe key when it commits the event, across processes and
//! restarts, and beyond retention — never before the event is committed.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::Sha256;

use crate::client::{Client, segment};
use crate::error::Error;

paybridge_model::open_enum! {
    /// Every event type of the catalogue (§5.4), current and legacy, and `Unknown` for the rest.
    pub enum EventType {
        AuthorizationAccepted = "payments.authorization.status.accepted",
        AuthorizationReviewed = "payments.authorization.status.reviewed",
        AuthorizationRejected = "payments.authorization.status.rejected",
        AuthorizationPartiallyApproved = "payments.authorization.status.partiallyApproved",
        CaptureAccepted = "payments.capture.status.accepted",
        CaptureUpdated = "payments.capture.status.updated",
        RefundAccepted = "payments.refund.status.accepted",
        RefundUpdated = "payments.refund.status.updated",
        CreditAccepted = "payments.credit.status.accepted",
        CreditUpdated = "payments.credit.status.updated",
        VoidAccepted = "payments.void.status.accepted",
        VoidRejected = "payments.void.status.rejected",
        ReversalAccepted = "payments.reversal.status.accepted",
        ReversalRejected = "payments.reversal.status.rejected",
        LegacyPaymentAccept = "payments.payments.accept",
        LegacyPaymentReview = "payments.payments.review",
        LegacyPaymentReject = "payments.payments.reject",
        LegacyPaymentPartialApproval = "payments.payments.partial.approval",
        LegacyCaptureAccept = "payments.captures.accept",
        LegacyCaptureReview = "payments.captures.review",
        LegacyCaptureReject = "payments.captures.reject",
        LegacyRefundAccept = "payments.refunds.accept",
        LegacyRefundReject = "payments.refunds.reject",
        LegacyRefundPartialApproval = "payments.refunds.partial.approval",
        LegacyCreditAccept = "payments.credits.accept",
        LegacyCreditReview = "payments.credits.review",
        LegacyCreditReject = "payments.credits.reject",
        LegacyCreditPartialApproval = "payments.credits.partial.approval",
        LegacyReversalAccept = "payments.reversals.accept",
        LegacyReversalReject = "payments.reversals.reject",
        LegacyVoidAccept = "payments.voids.accept",
        LegacyVoidReject = "payments.voids.reject",
        AlternativePaymentUpdated = "payments.payments.updated",
        EcheckPaymentAccepted = "payments.payments.accepted",
        EcheckPaymentFailed = "payments.payments.failed",
        EcheckCreditAccepted = "payments.credits.accepted",
        EcheckCreditFailed = "payments.credits.failed",
        EcheckVoidAccepted = "payments.voids.accepted",
        EcheckVoidFailed = "payments.voids.failed",
        CaseDecisionAccept = "risk.casemanagement.decision.accept",
        CaseDecisionReject = "risk.casemanagement.decision.reject",
        CaseNoteAdded = "risk.casemanagement.addnote",
        ProfileDecisionReject = "risk.profile.decision.reject",
        ProfileDecisionReview = "risk.profile.decision.review",
        ProfileDecisionMonitor = "risk.profile.decision.monitor",
        NetworkTokenProvisioned = "tms.networktoken.provisioned",
        NetworkTokenUpdated = "tms.networktoken.updated",
        NetworkTokenBinding = "tms.networktoken.binding",
        TokenCreated = "tms.token.created",
        TokenUpdated = "tms.token.updated",
        TokenPanUpdated = "tms.token.pan_updated",
        SubscriptionChargeCreated = "rbs.subscriptions.charge.created",
        SubscriptionChargeFailed = "rbs.subscriptions.charge.failed",
        SubscriptionChargePreNotified = "rbs.subscriptions.charge.pre-notified",
        InvoiceSend = "invoicing.customer.invoice.send",
        InvoiceCancel = "invoicing.customer.invoice.cancel",
        InvoicePaid = "invoicing.customer.invoice.paid",
        InvoicePartialPayment = "invoicing.customer.invoice.partial-payment",
        InvoiceReminder = "invoicing.customer.invoice.reminder",
        InvoiceOverdueReminder = "invoicing.customer.invoice.overdue-reminder",
        PayByLinkCustomerPayment = "payByLink.customer.payment",
        PayByLinkMerchantPayment = "payByLink.merchant.payment",
        UnifiedCheckoutResults = "uc.orders.transactionresults",
    }
}

/// What an event means for an order, whatever catalogue it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventMeaning {
    PaymentApproved,
    PaymentHeld,
    PaymentDeclined,
    PaymentPartiallyApproved,
    Captured,
    Refunded,
    RefundFailed,
    Credited,
    Voided,
    Reversed,
    ReviewAccepted,
    ReviewRejected,
    RiskFlagged,
    Token,
    Other,
}

impl EventType {
    pub fn meaning(&self) -> EventMeaning {
        use EventType::*;
        match self {
            AuthorizationAccepted | LegacyPaymentAccept | EcheckPaymentAccepted => {
                EventMeaning::PaymentApproved
            }
            AuthorizationReviewed | LegacyPaymentReview => EventMeaning::PaymentHeld,
            AuthorizationRejected | LegacyPaymentReject | EcheckPaymentFailed => {
                EventMeaning::PaymentDeclined
            }
            AuthorizationPartiallyApproved | LegacyPaymentPartialApproval => {
                EventMeaning::PaymentPartiallyApproved
            }
            CaptureAccepted | CaptureUpdated | LegacyCaptureAccept => EventMeaning::Captured,
            RefundAccepted | RefundUpdated | LegacyRefundAccept | LegacyRefundPartialApproval => {
                EventMeaning::Refunded
            }
            LegacyRefundReject => EventMeaning::RefundFailed,
            CreditAccepted
            | CreditUpdated
            | LegacyCreditAccept
            | LegacyCreditPartialApproval
            | EcheckCreditAccepted => EventMeaning::Credited,
            VoidAccepted | LegacyVoidAccept | EcheckVoidAccepted => EventMeaning::Voided,
            ReversalAccepted | LegacyReversalAccept => EventMeaning::Reversed,
            CaseDecisionAccept => EventMeaning::ReviewAccepted,
            CaseDecisionReject => EventMeaning::ReviewRejected,
            ProfileDecisionReject | ProfileDecisionReview | ProfileDecisionMonitor => {
                EventMeaning::RiskFlagged
            }
            NetworkTokenProvisioned
            | NetworkTokenUpdated
            | NetworkTokenBinding
            | TokenCreated
            | TokenUpdated
            | TokenPanUpdated => EventMeaning::Token,
            _ => EventMeaning::Other,
        }
    }
}

/// One element of a notification's payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayloadItem {
    #[serde(default)]
    pub data: Value,
    #[serde(default)]
    pub organization_id: Option<String>,
}

/// A verified notification (webhook API version 3, §5.2).
#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    pub event_type: EventType,
    pub webhook_id: String,
    pub product_id: String,
    pub organization_id: String,
    pub event_date: String,
    /// Unique per delivery attempt.
    pub transaction_trace_id: String,
    pub retry_number: u32,
    pub request_type: String,
    /// `payload` is an object in most products and an array in some: always a list here.
    pub payload: Vec<PayloadItem>,
}

impl Notification {
    /// The id of the resource the event is about (`payload.data.id`), if it names one.
    pub fn resource_id(&self) -> Option<&str> {
        self.payload.first()?.data.get("id")?.as_str()
    }

    /// Repeats of one event collapse on (webhook, resource, event type); the trace id changes
    /// with every retry and is not part of it (§5.3).
    pub fn dedupe_key(&self) -> String {
        format!(
            "cybersource:{}:{}:{}",
            self.webhook_id,
            self.resource_id().unwrap_or("-"),
            self.event_type
        )
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireNotification<'a> {
    event_type: String,
    #[serde(default)]
    webhook_id: String,
    #[serde(default)]
    product_id: String,
    #[serde(default)]
    organization_id: String,
    #[serde(default)]
    event_date: String,
    #[serde(default)]
    transaction_trace_id: String,
    #[serde(default)]
    retry_number: u32,
    #[serde(default)]
    request_type: String,
    #[serde(borrow)]
    payload: &'a RawValue,
}

/// Why a delivery was refused. The messages name the problem, never a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("no v-c-signature header")]
    MissingSignature,
    #[error("malformed v-c-signature header: {0}")]
    MalformedSignature(String),
    #[error("unknown signing key {0}")]
    UnknownKey(String),
    #[error("the signature timestamp is {0:?} away from now, outside the accepted window")]
    Stale(Duration),
    #[error("the signature does not match the payload")]
    BadSignature,
    #[error("the body is not a notification: {0}")]
    InvalidBody(String),
}

/// `t`, `keyId` and `sig` of a `v-c-signature` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    pub timestamp_ms: i64,
    pub key_id: String,
    pub signature: Vec<u8>,
}

/// Splits on `;`, then each part on its first `=` only (base64 ends in `=`).
pub fn parse_signature_header(value: &str) -> Result<SignatureHeader, WebhookError> {
    let malformed = |what: &str| WebhookError::MalformedSignature(what.to_string());
    let (mut t, mut key_id, mut sig) = (None, None, None);
    for part in value.split(';') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (name, v) = part
            .split_once('=')
            .ok_or_else(|| malformed("a part is not name=value"))?;
        match name.trim() {
            "t" => {
                t = Some(
                    v.trim()
                        .parse::<i64>()
                        .map_err(|_| malformed("t is not a millisecond time"))?,
                )
            }
            "keyId" => key_id = Some(v.trim().to_string()),
            "sig" => {
                sig = Some(
                    BASE64
                        .decode(v.trim())
                        .map_err(|_| malformed("sig is not base64"))?,
                )
            }
            _ => {}
        }
    }
    Ok(SignatureHeader {
        timestamp_ms: t.ok_or_else(|| malformed("no t"))?,
        key_id: key_id
            .filter(|k| !k.is_empty())
            .ok_or_else(|| malformed("no keyId"))?,
        signature: sig.ok_or_else(|| malformed("no sig"))?,
    })
}

/// `base64(HMAC-SHA256(key, t + "." + payload))`.
pub fn sign(key: &[u8], timestamp_ms: i64, payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(format!("{timestamp_ms}.{payload}").as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// JSON text without insignificant whitespace, members in their original order.
pub fn compact(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut in_string = false;
    let mut escaped = false;
    for ch in json.chars() {
        if in_string {
            out.push(ch);
            if escaped {
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '"' {
                in_string = false;
            }
        } else if ch == '"' {
            in_string = true;
            out.push(ch);
        } else if !ch.is_whitespace() {
            out.push(ch);
        }
    }
    out
}

/// Verifies deliveries against the signing keys of one or more subscriptions.
pub struct WebhookVerifier {
    /// By key id; a rotated key replaces its entry ([`WebhookVerifier::set_key`]).
    keys: std::sync::RwLock<HashMap<String, SecretBox<[u8]>>>,
    window: Duration,
}

impl fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("key_ids", &self.key_ids())
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl WebhookVerifier {
    /// `window`: how far a signature's timestamp may be from now (the docs' sample uses 60
    /// minutes; shorter is safer).
    pub fn new(window: Duration) -> WebhookVerifier {
        WebhookVerifier {
            keys: std::sync::RwLock::new(HashMap::new()),
            window,
        }
    }

    /// Adds a digital-signature key (`keyInformation.key` of `/kms/egress/v2/keys-sym`).
    pub fn add_key(&mut self, key_id: impl Into<String>, key: &SecretString) -> Result<(), Error> {
        self.set_key(key_id, key)
    }

    /// Adds a key, or replaces the key of that id (a rotated key), from now on.
    pub fn set_key(&self, key_id: impl Into<String>, key: &SecretString) -> Result<(), Error> {
        let bytes = BASE64
            .decode(key.expose_secret().trim())
            .map_err(|_| Error::Config("the webhook signing key is not base64".into()))?;
        self.keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key_id.into(), SecretBox::from(bytes.into_boxed_slice()));
        Ok(())
    }

    /// The ids of the keys it takes.
    pub fn key_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        ids.sort();
        ids
    }

    /// Checks a delivery and returns its notification. `now_ms` is the receiver's clock.
    pub fn verify(
        &self,
        signature_header: Option<&str>,
        body: &[u8],
        now_ms: i64,
    ) -> Result<Notification, WebhookError> {
        let header =
            parse_signature_header(signature_header.ok_or(WebhookError::MissingSignature)?)?;
        let keys = self
            .keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = keys
            .get(&header.key_id)
            .ok_or_else(|| WebhookError::UnknownKey(header.key_id.clone()))?;
        let age = Duration::from_millis(now_ms.abs_diff(header.timestamp_ms));
        if age > self.window {
            return Err(WebhookError::Stale(age));
        }
        let text =
            std::str::from_utf8(body).map_err(|_| WebhookError::InvalidBody("not UTF-8".into()))?;
        let wire: WireNotification<'_> =
            serde_json::from_str(text).map_err(|e| WebhookError::InvalidBody(e.to_string()))?;
        // The documented message is `t.` + the payload member's JSON; senders emit it compact.
        // The raw member and the whole body are tried too, for senders that differ.
        let candidates = [
            compact(wire.payload.get()),
            wire.payload.get().to_string(),
            text.to_string(),
        ];
        let matches = candidates.iter().any(|payload| {
            let mut mac = Hmac::<Sha256>::new_from_slice(key.expose_secret())
                .expect("HMAC takes any key length");
            mac.update(format!("{}.{payload}", header.timestamp_ms).as_bytes());
            mac.verify_slice(&header.signature).is_ok()
        });
        drop(keys);
        if !matches {
            return Err(WebhookError::BadSignature);
        }
        let payload = match serde_json::from_str::<Value>(wire.payload.get()) {
            Ok(Value::Array(items)) => items
                .into_iter()
                .map(serde_json::from_value)
                .collect::<Result<Vec<PayloadItem>, _>>()
                .map_err(|e| WebhookError::InvalidBody(e.to_string()))?,
            Ok(item @ Value::Object(_)) => {
                vec![
                    serde_json::from_value(item)
                        .map_err(|e| WebhookError::InvalidBody(e.to_string()))?,
                ]
            }
            Ok(_) | Err(_) => {
                return Err(WebhookError::InvalidBody(
                    "payload is neither an object nor an array".into(),
                ));
            }
        };
        Ok(Notification {
            event_type: EventType::from(wire.event_type),
            webhook_id: wire.webhook_id,
            product_id: wire.product_id,
            organization_id: wire.organization_id,
            event_date: wire.event_date,
            transaction_trace_id: wire.transaction_trace_id,
            retry_number: wire.retry_number,
            request_type: wire.request_type,
            payload,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Keys and subscriptions

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRequest {
    pub client_request_action: String,
    pub key_information: KeyRequestInformation,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRequestInformation {
    pub provider: String,
    pub tenant: String,
    pub key_type: String,
    pub organization_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiry_duration: Option<String>,
}

impl KeyRequest {
    /// A new digital-signature key for the organization's webhooks (§5.1 step 1).
    pub fn signing_key(organization_id: &str) -> KeyRequest {
        KeyRequest {
            client_request_action: "CREATE".into(),
            key_information: KeyRequestInformation {
                provider: "nrtd".into(),
                tenant: organization_id.into(),
                key_type: "sharedSecret".into(),
                organization_id: organization_id.into(),
                expiry_duration: Some("365".into()),
            },
        }
    }
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyInformation {
    #[serde(default)]
    pub key_id: String,
    /// The base64 key: a secret.
    #[serde(default)]
    pub key: Option<SecretString>,
    #[serde(default)]
    pub key_type: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub expiration_date: Option<String>,
}

impl fmt::Debug for KeyInformation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyInformation")
            .field("key_id", &self.key_id)
            .field("key", &self.key.as_ref().map(|_| "**REDACTED**"))
            .field("status", &self.status)
            .field("expiration_date", &self.expiration_date)
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyResponse {
    #[serde(default)]
    pub status: Option<String>,
    pub key_information: KeyInformation,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ProductEvents {
    pub product_id: String,
    pub event_types: Vec<String>,
}

/// When Cybersource retries a delivery that was not acknowledged (§5.5).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WebhookRetryPolicy {
    /// `ARITHMETIC` or `GEOMETRIC`.
    pub algorithm: String,
    pub first_retry: u32,
    pub interval: u32,
    pub number_of_retries: u32,
    pub deactivate_flag: bool,
    pub repeat_sequence_count: u32,
    pub repeat_sequence_wait_time: u32,
}

impl Default for WebhookRetryPolicy {
    fn default() -> WebhookRetryPolicy {
        WebhookRetryPolicy {
            algorithm: "ARITHMETIC".into(),
            first_retry: 1,
            interval: 1,
            number_of_retries: 3,
            deactivate_flag: false,
            repeat_sequence_count: 0,
            repeat_sequence_wait_time: 0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SecurityPolicy {
    pub security_type: String,
    #[serde(default)]
    pub config: SecurityConfig,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SecurityConfig {
    #[serde(default)]
    pub key_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateWebhook {
    pub name: String,
    pub description: String,
    pub organization_id: String,
    pub products: Vec<ProductEvents>,
    pub webhook_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check_url: Option<String>,
    pub notification_scope: String,
    pub retry_policy: WebhookRetryPolicy,
    pub security_policy: SecurityPolicy,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub webhook_id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub organization_id: Option<String>,
    #[serde(default)]
    pub products: Vec<ProductEvents>,
    #[serde(default)]
    pub webhook_url: Option<String>,
    #[serde(default)]
    pub retry_policy: Option<WebhookRetryPolicy>,
    #[serde(default)]
    pub security_policy: Option<SecurityPolicy>,
    #[serde(default)]
    pub created_on: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductCatalogue {
    pub product_id: String,
    #[serde(default)]
    pub event_types: Vec<CatalogueEvent>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogueEvent {
    pub event_name: String,
    #[serde(default)]
    pub payload_encryption: bool,
}

impl Client {
    /// Creates a webhook signing key (`POST /kms/egress/v2/keys-sym`).
    pub async fn create_signing_key(&self, organization_id: &str) -> Result<KeyInformation, Error> {
        let (answer, _): (KeyResponse, _) = self
            .post_json(
                "/kms/egress/v2/keys-sym",
                &KeyRequest::signing_key(organization_id),
            )
            .await?;
        Ok(answer.key_information)
    }

    /// The products and event types the organization may subscribe to.
    pub async fn webhook_products(
        &self,
        organization_id: &str,
    ) -> Result<Vec<ProductCatalogue>, Error> {
        let path = format!(
            "/notification-subscriptions/v2/products/{}",
            segment(organization_id)?
        );
        Ok(self.get_json(&path, &[]).await?.0)
    }

    pub async fn create_webhook(&self, request: &CreateWebhook) -> Result<Webhook, Error> {
        Ok(self
            .post_json("/notification-subscriptions/v2/webhooks", request)
            .await?
            .0)
    }

    pub async fn webhooks(&self, organization_id: &str) -> Result<Vec<Webhook>, Error> {
        Ok(self
            .get_json(
                "/notification-subscriptions/v2/webhooks",
                &[("organizationId", organization_id)],
            )
            .await?
            .0)
    }

    pub async fn webhook(&self, webhook_id: &str) -> Result<Webhook, Error> {
        let path = format!(
            "/notification-subscriptions/v2/webhooks/{}",
            segment(webhook_id)?
        );
        Ok(self.get_json(&path, &[]).await?.0)
    }

    /// Changes some of a subscription's settings (`PATCH`), e.g. its URL or event types.
    pub async fn update_webhook(
        &self,
        webhook_id: &str,
        changes: &Value,
    ) -> Result<Webhook, Error> {
        let path = format!(
            "/notification-subscriptions/v2/webhooks/{}",
            segment(webhook_id)?
        );
        Ok(self.send_json(http::Method::PATCH, &path, changes).await?.0)
    }

    /// `ACTIVE` or `INACTIVE`.
    pub async fn set_webhook_status(
        &self,
        webhook_id: &str,
        status: &str,
    ) -> Result<Webhook, Error> {
        let path = format!(
            "/notification-subscriptions/v2/webhooks/{}/status",
            segment(webhook_id)?
        );
        Ok(self
            .send_json(
                http::Method::PUT,
                &path,
                &serde_json::json!({"status": status}),
            )
            .await?
            .0)
    }

    pub async fn delete_webhook(&self, webhook_id: &str) -> Result<(), Error> {
        let path = format!(
            "/notification-subscriptions/v2/webhooks/{}",
            segment(webhook_id)?
        );
        self.send(http::Method::DELETE, &path, &[], None).await?;
        Ok(())
    }

    /// Asks Cybersource to send a sample notification now (note: the v1 path).
    pub async fn test_webhook(&self, webhook_id: &str) -> Result<Value, Error> {
        let path = format!(
            "/notification-subscriptions/v1/webhooks/{}",
            segment(webhook_id)?
        );
        Ok(self.post_json(&path, &serde_json::json!({})).await?.0)
    }
}

#[cfg(test)]
mod tests;
