//! Callbacks to the storefront: every change of an order's state is POSTed, signed, to the
//! storefront's callback URL and retried like any other step until it is taken.
//!
//! The signature (documented in README "The order API"): with the shared secret, the storefront
//! computes `HMAC-SHA256(secret, "{Paybridge-Timestamp}.{raw body}")`, hex, and compares it in
//! constant time with the `v1=` value of `Paybridge-Signature`; it refuses timestamps more than
//! five minutes from its clock, and handles each `Paybridge-Delivery` id once (a retry after a
//! lost answer sends the same id and body again).

use std::time::Duration;

use hmac::{KeyInit, Mac};
use paybridge_model::FailureKind;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use url::Url;

use paybridge_flows::spec::{ActionSpec, Effect, Recovery, Type, opt, out, req};
use paybridge_model::StepError;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::input::short_id;
use crate::{Action, Call, Runnable};

/// The storefront's action.
pub static ACTIONS: &[&dyn Runnable] = &[&Callback];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackInput {
    status: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    details: Option<Value>,
}

/// `storefront.callback`: a signed callback to the storefront about the trigger's order.
pub struct Callback;

impl Action for Callback {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "storefront.callback",
        summary: "tell the storefront about the order (signed POST; retried until taken)",
        fields: Some(&[req("status"), opt("reason"), opt("message"), opt("details")]),
        outputs: &[
            out("delivery", Type::Text),
            out("http_status", Type::Integer),
        ],
        effect: Effect::Call,
        recovery: Recovery::SameKey(
            "every attempt carries the same Paybridge-Delivery id, which the storefront takes once",
        ),
    };
    type Input = CallbackInput;

    async fn run(&self, call: &Call<'_>, callback: CallbackInput) -> Result<Value, StepError> {
        let env = call.env;
        let storefront = env.connectors.storefront()?;
        let payload = &call.event.payload;
        // The same delivery id on every attempt: the storefront takes each once.
        let delivery = short_id(call.key);
        let body = json!({
            "delivery": delivery,
            "order_id": payload.get("order_id"),
            "reference": payload.pointer("/order/reference"),
            "status": callback.status,
            "reason": callback.reason,
            "message": callback.message,
            "details": callback.details,
            "at": paybridge_flows::interpreter::rfc3339(env.clock.now_ms()),
        });
        let status = storefront
            .deliver(&delivery, &body, env.clock.now_ms())
            .await?;
        Ok(json!({"delivery": delivery, "http_status": status}))
    }
}

/// Where callbacks go, and the secret that signs them.
#[derive(Clone)]
pub struct Storefront {
    url: Url,
    /// Shared by clones; replaced when the secret is rotated ([`Storefront::set_secret`]).
    secret: std::sync::Arc<std::sync::RwLock<SecretString>>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Storefront {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A URL may carry credentials (`https://user:password@…`): never print the password.
        let mut url = self.url.clone();
        let _ = url.set_password(None);
        f.debug_struct("Storefront")
            .field("url", &url.as_str())
            .field("secret", &"**REDACTED**")
            .finish()
    }
}

/// `v1=` and the hex HMAC-SHA256 of `"{timestamp}.{body}"`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

impl Storefront {
    pub fn new(url: Url, secret: SecretString) -> Storefront {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client with timeouts builds");
        Storefront {
            url,
            secret: std::sync::Arc::new(std::sync::RwLock::new(secret)),
            http,
        }
    }

    /// Signs callbacks with `secret` from now on (a rotated secret).
    pub fn set_secret(&self, secret: SecretString) {
        *self
            .secret
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = secret;
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// POSTs one callback. 2xx: taken. 408, 429 and 5xx, or no answer: retried (honouring
    /// `Retry-After`). Other statuses: the storefront refused it for good.
    pub async fn deliver(
        &self,
        delivery_id: &str,
        body: &serde_json::Value,
        now_ms: i64,
    ) -> Result<u16, StepError> {
        let body = serde_json::to_vec(body)
            .map_err(|e| StepError::permanent("storefront", e.to_string()))?;
        let timestamp = now_ms / 1000;
        let signature = {
            let secret = self
                .secret
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            signature(secret.expose_secret().as_bytes(), timestamp, &body)
        };
        let answer = self
            .http
            .post(self.url.clone())
            .header("Content-Type", "application/json")
            .header("Paybridge-Delivery", delivery_id)
            .header("Paybridge-Timestamp", timestamp.to_string())
            .header("Paybridge-Signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                // Whether the storefront took it is unknown; the same delivery id goes again.
                StepError::new(
                    FailureKind::OutcomeUnknown,
                    "storefront",
                    format!("the storefront callback got no answer: {e}"),
                )
            })?;
        let status = answer.status();
        if status.is_success() {
            return Ok(status.as_u16());
        }
        let retry_after = answer
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = answer.text().await.unwrap_or_default();
        let excerpt: String = text.chars().take(300).collect();
        let kind = if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
            FailureKind::Transient
        } else {
            FailureKind::Permanent
        };
        let mut error = StepError::new(
            kind,
            "storefront",
            format!("the storefront answered the callback with {status}: {excerpt}"),
        );
        error.http_status = Some(status.as_u16());
        error.retry_after = retry_after;
        error.throttled = status.as_u16() == 429;
        Err(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_neither_the_secret_nor_a_password_in_the_url() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let storefront = Storefront::new(
            Url::parse("https://shop:hunter2hunter2@example.com/cb").unwrap(),
            SecretString::from("the-callback-secret-of-24"),
        );
        let shown = format!("{storefront:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("the-callback-secret"),
            "{shown}"
        );
        assert!(shown.contains("example.com/cb"), "{shown}");
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently (Python's hmac module) from the documented recipe.
        assert_eq!(
            signature(b"secret", 1_700_000_000, br#"{"a":1}"#),
            "v1=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686"
        );
    }
}
