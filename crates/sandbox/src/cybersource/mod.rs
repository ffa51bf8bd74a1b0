//! The Cybersource simulator: the REST paths, HTTP Signature verification, JSON shapes, status
//! codes and error bodies of `reference/cybersource.md`, with the test environment's magic
//! amounts (§3.9) deciding outcomes.
//!
//! Control API (tests and the demo only): `GET /__sandbox/payments`, `GET /__sandbox/stats`,
//! `POST|DELETE /__sandbox/faults`.

mod payments;
pub mod signature;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use crate::faults::{self, FaultRule, Faults};
use signature::{RegisteredKey, VerifyOptions};

pub use payments::{PaymentRecord, magic_amount_outcome};

/// A REST API key the simulator accepts.
#[derive(Clone, Deserialize, Serialize)]
pub struct KeyConfig {
    pub merchant_id: String,
    pub key_id: String,
    /// Base64, as the Business Center shows it.
    pub shared_secret: String,
}

impl std::fmt::Debug for KeyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyConfig")
            .field("merchant_id", &self.merchant_id)
            .field("key_id", &self.key_id)
            .field("shared_secret", &"**REDACTED**")
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CybersourceConfig {
    pub keys: Vec<KeyConfig>,
    /// Accept the deprecated `(request-target)` signature form (reference §2.1).
    #[serde(default)]
    pub accept_legacy_paren_request_target: bool,
    /// Largest accepted distance between the signed `Date` and the simulator's clock, in seconds
    /// (the service's tolerance is undocumented; reference §2.1 suggests ±15 minutes).
    #[serde(default = "default_skew")]
    pub max_clock_skew_secs: u64,
}

fn default_skew() -> u64 {
    15 * 60
}

impl CybersourceConfig {
    pub fn with_key(merchant_id: &str, key_id: &str, shared_secret: &str) -> CybersourceConfig {
        CybersourceConfig {
            keys: vec![KeyConfig {
                merchant_id: merchant_id.into(),
                key_id: key_id.into(),
                shared_secret: shared_secret.into(),
            }],
            accept_legacy_paren_request_target: false,
            max_clock_skew_secs: default_skew(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the shared secret of key {0} is not base64")]
    SecretNotBase64(String),
}

/// Counters the control API reports.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    pub requests: u64,
    pub authentication_failures: u64,
    /// Created payments by `status`.
    pub payments_by_status: BTreeMap<String, u64>,
    /// Answers that were 4xx/5xx errors, by reason.
    pub errors_by_reason: BTreeMap<String, u64>,
}

#[derive(Default)]
struct Ledger {
    payments: Vec<PaymentRecord>,
    stats: Stats,
}

/// A running simulator's shared state. Cheap to clone.
#[derive(Clone)]
pub struct CybersourceSandbox {
    inner: Arc<Shared>,
}

struct Shared {
    keys: HashMap<String, RegisteredKey>,
    options: VerifyOptions,
    state: Mutex<Ledger>,
    faults: Arc<Faults>,
    sequence: AtomicU64,
}

impl CybersourceSandbox {
    pub fn new(config: &CybersourceConfig) -> Result<CybersourceSandbox, ConfigError> {
        let mut keys = HashMap::new();
        for key in &config.keys {
            let secret = BASE64
                .decode(key.shared_secret.trim())
                .map_err(|_| ConfigError::SecretNotBase64(key.key_id.clone()))?;
            keys.insert(
                key.key_id.clone(),
                RegisteredKey {
                    merchant_id: key.merchant_id.clone(),
                    secret,
                },
            );
        }
        Ok(CybersourceSandbox {
            inner: Arc::new(Shared {
                keys,
                options: VerifyOptions {
                    accept_legacy_paren_request_target: config.accept_legacy_paren_request_target,
                    max_clock_skew: Duration::from_secs(config.max_clock_skew_secs),
                },
                state: Mutex::new(Ledger::default()),
                faults: Arc::new(Faults::default()),
                sequence: AtomicU64::new(0),
            }),
        })
    }

    pub fn router(&self) -> Router {
        let error_body: faults::ErrorBody = payments::server_error;
        Router::new()
            .route("/pts/v2/payments", post(payments::create))
            .route("/__sandbox/payments", get(control_payments))
            .route("/__sandbox/stats", get(control_stats))
            .route(
                "/__sandbox/faults",
                post(control_add_fault)
                    .delete(control_clear_faults)
                    .get(control_faults),
            )
            .fallback(not_found)
            .layer(axum::middleware::from_fn_with_state(
                (self.inner.faults.clone(), error_body),
                faults::inject,
            ))
            .with_state(self.clone())
    }

    pub fn payments(&self) -> Vec<PaymentRecord> {
        self.state().payments.clone()
    }

    pub fn stats(&self) -> Stats {
        self.state().stats.clone()
    }

    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    fn state(&self) -> MutexGuard<'_, Ledger> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

async fn control_payments(State(sandbox): State<CybersourceSandbox>) -> Json<Vec<PaymentRecord>> {
    Json(sandbox.payments())
}

async fn control_stats(State(sandbox): State<CybersourceSandbox>) -> Json<Stats> {
    Json(sandbox.stats())
}

async fn control_add_fault(
    State(sandbox): State<CybersourceSandbox>,
    Json(rule): Json<FaultRule>,
) -> StatusCode {
    sandbox.inner.faults.add(rule);
    StatusCode::NO_CONTENT
}

async fn control_clear_faults(State(sandbox): State<CybersourceSandbox>) -> StatusCode {
    sandbox.inner.faults.clear();
    StatusCode::NO_CONTENT
}

async fn control_faults(State(sandbox): State<CybersourceSandbox>) -> Json<Vec<FaultRule>> {
    Json(sandbox.inner.faults.rules())
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({"status": "NOT_FOUND", "message": "The requested resource does not exist"})),
    )
        .into_response()
}
