//! `[cybersource]`: the merchant, its REST key and the webhook signing keys.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CybersourceSection {
    /// `sandbox` (apitest.cybersource.com), `production`, `production-india`, or a URL.
    pub environment: String,
    pub merchant_id: String,
    /// The REST key's id (its serial number in the Business Center).
    pub key_id: String,
    /// Environment variable holding the key's base64 shared secret…
    #[serde(default)]
    pub shared_secret_env: Option<String>,
    /// …or its vault entry.
    #[serde(default)]
    pub shared_secret_vault: Option<String>,
    /// Webhook subscriptions' signing keys (`POST /webhooks/cybersource` is off without them).
    #[serde(default)]
    pub webhooks: Option<WebhooksSection>,
}

/// `[cybersource.webhooks]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksSection {
    /// How far a delivery's signature timestamp may be from now.
    #[serde(default = "five_minutes")]
    pub window_secs: u64,
    pub keys: Vec<WebhookKeySection>,
}

/// One digital-signature key (`/kms/egress/v2/keys-sym`), by its id.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookKeySection {
    pub key_id: String,
    #[serde(default)]
    pub key_env: Option<String>,
    #[serde(default)]
    pub key_vault: Option<String>,
}

pub(crate) fn five_minutes() -> u64 {
    300
}
