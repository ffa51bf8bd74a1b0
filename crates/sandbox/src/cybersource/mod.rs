//! The Cybersource simulator: the REST paths, HTTP Signature verification, JSON shapes, status
//! codes and error bodies of `reference/cybersource.md`, with the test environment's magic
//! amounts (§3.9) deciding outcomes (see [`payments`] for the table).
//!
//! - Payments (`/pts/v2/payments`), captures, refunds, credits, voids, reversals, timeout
//!   reversals and voids, with the rules between them ([`ledger`]).
//! - Transaction details and search (`/tss/v2/…`); Token Management (`/tms/…`), whose tokens pay
//!   like cards.
//! - Control API, for tests and the demo only: `POST /__sandbox/reset`, `GET /__sandbox/transactions`,
//!   `GET /__sandbox/payments` (authorizations and sales), `GET /__sandbox/stats`,
//!   `POST /__sandbox/settle` (close a settlement batch now), `GET /__sandbox/cases`,
//!   `POST /__sandbox/transient-tokens` (what Microform does in a browser),
//!   `POST /__sandbox/cases/{id}/decide` (a reviewer's decision), `POST|GET|DELETE /__sandbox/faults`.

mod cards;
mod followons;
mod iso4217;
pub mod ledger;
pub mod payments;
pub mod reports;
pub mod risk;
mod search;
pub mod signature;
mod tms;
mod transient;
mod webhooks;
mod wire;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::faults::{self, FaultRule, Faults};
use ledger::{Batch, Kind, Ledger, Transaction};
use signature::{RegisteredKey, VerifyOptions};
use wire::Refusal;

pub use payments::magic_amount_outcome;
pub use webhooks::{Delivery, RetryPolicy, WebhookFaults, retry_schedule};

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
    /// Refuse a merchant transaction id used before (`INVALID_DATA`, reference §4.2).
    #[serde(default = "yes")]
    pub unique_transaction_ids: bool,
    /// The optional account-level duplicate check: refuse an authorization whose merchant
    /// reference matches a successful one within this many seconds (`DUPLICATE_REQUEST`; the
    /// service's window is 900). Off unless set.
    #[serde(default)]
    pub duplicate_reference_window_secs: Option<u64>,
    /// Length of a webhook retry-policy "minute" in milliseconds (60000); tests shorten it.
    #[serde(default = "default_minute_ms")]
    pub webhook_minute_ms: u64,
    /// Close a settlement batch every day at this UTC time (`"HH:MM"`), as processors do;
    /// batches are closed only on demand (`POST /__sandbox/settle`) when absent.
    #[serde(default)]
    pub settlement_cutoff_utc: Option<String>,
    /// Make a day's reports available the same day (tests and demos) instead of the next.
    #[serde(default)]
    pub reports_ready_same_day: bool,
    /// The report subscriptions downloads are named by (`reportName`).
    #[serde(default = "reports::default_subscriptions")]
    pub report_subscriptions: Vec<reports::ReportSubscription>,
    /// Serve the control API under `/__sandbox/` (reset, settle, decide, faults). Turn it off
    /// when the simulator is shared with people who should see only the vendor's API; its
    /// paths then answer 404 like any unknown path.
    #[serde(default = "yes")]
    pub control_api: bool,
    /// How long a transient token (Microform / Unified Checkout) can be spent: 15 minutes.
    #[serde(default = "default_transient_lifetime")]
    pub transient_token_lifetime_secs: u64,
}

fn default_transient_lifetime() -> u64 {
    15 * 60
}

fn default_minute_ms() -> u64 {
    60_000
}

fn default_skew() -> u64 {
    15 * 60
}

fn yes() -> bool {
    true
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
            unique_transaction_ids: true,
            duplicate_reference_window_secs: None,
            webhook_minute_ms: default_minute_ms(),
            settlement_cutoff_utc: None,
            reports_ready_same_day: false,
            report_subscriptions: reports::default_subscriptions(),
            control_api: true,
            transient_token_lifetime_secs: default_transient_lifetime(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the shared secret of key {0} is not base64")]
    SecretNotBase64(String),
    #[error("settlement_cutoff_utc {0:?} is not HH:MM")]
    BadCutoff(String),
}

/// Counters the control API reports.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    pub requests: u64,
    pub authentication_failures: u64,
    /// Created transactions by kind and status (`AUTHORIZED`, `CAPTURE:PENDING`, …).
    pub transactions_by_status: BTreeMap<String, u64>,
    /// Error answers by reason.
    pub errors_by_reason: BTreeMap<String, u64>,
}

/// The merchant a request authenticated as.
#[derive(Debug, Clone)]
pub struct Merchant(pub String);

/// A running simulator's shared state. Cheap to clone.
#[derive(Clone)]
pub struct CybersourceSandbox {
    inner: Arc<Shared>,
}

struct Shared {
    config: CybersourceConfig,
    keys: HashMap<String, RegisteredKey>,
    options: VerifyOptions,
    ledger: Mutex<Ledger>,
    stats: Mutex<Stats>,
    searches: Mutex<HashMap<(String, String), Value>>,
    webhooks: Mutex<webhooks::WebhookState>,
    vault: Mutex<tms::Vault>,
    captures: Mutex<transient::Captures>,
    cases: Mutex<BTreeMap<String, risk::Case>>,
    http: reqwest::Client,
    faults: Arc<Faults>,
    sequence: AtomicU64,
}

/// The client webhook deliveries go out with (loopback receivers only).
fn delivery_client() -> reqwest::Client {
    // reqwest is built without a bundled crypto provider (STACK.md): install ring once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .build()
        .expect("a client with default TLS settings builds")
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
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
                config: config.clone(),
                keys,
                options: VerifyOptions {
                    accept_legacy_paren_request_target: config.accept_legacy_paren_request_target,
                    max_clock_skew: Duration::from_secs(config.max_clock_skew_secs),
                },
                ledger: Mutex::new(Ledger::default()),
                stats: Mutex::new(Stats::default()),
                searches: Mutex::new(HashMap::new()),
                webhooks: Mutex::new(webhooks::WebhookState::default()),
                vault: Mutex::new(tms::Vault::default()),
                captures: Mutex::new(transient::Captures::new()),
                cases: Mutex::new(BTreeMap::new()),
                http: delivery_client(),
                faults: Arc::new(Faults::default()),
                sequence: AtomicU64::new(0),
            }),
        })
    }

    pub fn router(&self) -> Router {
        let error_body: faults::ErrorBody = wire::server_error;
        let api = Router::new()
            .route("/pts/v2/payments", post(payments::create))
            .route("/pts/v2/payments/{id}", patch(followons::increment))
            .route("/pts/v2/payments/{id}/captures", post(followons::capture))
            .route(
                "/pts/v2/payments/{id}/refunds",
                post(followons::refund_payment),
            )
            .route(
                "/pts/v2/captures/{id}/refunds",
                post(followons::refund_capture),
            )
            .route("/pts/v2/credits", post(followons::credit))
            .route("/pts/v2/payments/{id}/voids", post(followons::void_payment))
            .route("/pts/v2/captures/{id}/voids", post(followons::void_capture))
            .route("/pts/v2/refunds/{id}/voids", post(followons::void_refund))
            .route("/pts/v2/credits/{id}/voids", post(followons::void_credit))
            .route("/pts/v2/payments/{id}/reversals", post(followons::reverse))
            .route("/pts/v2/reversals", post(followons::timeout_reversal))
            .route("/pts/v2/voids", post(followons::timeout_void))
            .route("/tss/v2/transactions/{id}", get(search::transaction))
            .route("/tss/v2/searches", post(search::create_search))
            .route("/tss/v2/searches/{id}", get(search::get_search))
            .route(
                "/tms/v1/instrumentidentifiers",
                post(tms::create_identifier),
            )
            .route(
                "/tms/v1/instrumentidentifiers/{id}",
                get(tms::get_identifier).delete(tms::delete_identifier),
            )
            .route("/tms/v2/customers", post(tms::create_customer))
            .route(
                "/tms/v2/customers/{id}",
                get(tms::get_customer)
                    .patch(tms::update_customer)
                    .delete(tms::delete_customer),
            )
            .route(
                "/tms/v2/customers/{id}/payment-instruments",
                post(tms::create_instrument).get(tms::list_instruments),
            )
            .route(
                "/tms/v2/customers/{id}/payment-instruments/{instrument}",
                get(tms::get_instrument)
                    .patch(tms::update_instrument)
                    .delete(tms::delete_instrument),
            )
            .route(
                "/tms/v2/customers/{id}/shipping-addresses",
                post(tms::create_address).get(tms::list_addresses),
            )
            .route(
                "/tms/v2/customers/{id}/shipping-addresses/{address}",
                axum::routing::delete(tms::delete_address),
            )
            .route("/reporting/v3/report-downloads", get(reports::download))
            .route(
                "/reporting/v3/purchase-refund-details",
                get(reports::purchase_refund_details),
            )
            .route("/reporting/v3/net-fundings", get(reports::net_fundings))
            .route("/risk/v1/decisions", post(risk::create_decision))
            .route("/risk/v1/decisions/{id}/actions", post(risk::case_action))
            .route("/risk/v1/decisions/{id}/comments", post(risk::comment))
            .route("/kms/egress/v2/keys-sym", post(webhooks::create_key))
            .route(
                "/notification-subscriptions/v2/products/{organization_id}",
                get(webhooks::products),
            )
            .route(
                "/notification-subscriptions/v2/webhooks",
                post(webhooks::create_subscription).get(webhooks::list_subscriptions),
            )
            .route(
                "/notification-subscriptions/v2/webhooks/{id}",
                get(webhooks::get_subscription)
                    .patch(webhooks::update_subscription)
                    .delete(webhooks::delete_subscription),
            )
            .route(
                "/notification-subscriptions/v2/webhooks/{id}/status",
                axum::routing::put(webhooks::set_status),
            )
            .route(
                "/notification-subscriptions/v1/webhooks/{id}",
                post(webhooks::test_delivery),
            )
            .route_layer(axum::middleware::from_fn_with_state(
                self.clone(),
                authenticate,
            ));
        let control = Router::new()
            .route("/__sandbox/transactions", get(control_transactions))
            .route("/__sandbox/payments", get(control_payments))
            .route("/__sandbox/stats", get(control_stats))
            .route("/__sandbox/reset", post(control_reset))
            .route("/__sandbox/webhooks/deliveries", get(control_deliveries))
            .route("/__sandbox/webhooks/faults", post(webhooks::control_faults))
            .route("/__sandbox/settle", post(control_settle))
            .route("/__sandbox/cases", get(risk::control_cases))
            .route("/__sandbox/cases/{id}/decide", post(risk::control_decide))
            .route(
                "/__sandbox/faults",
                post(control_add_fault)
                    .delete(control_clear_faults)
                    .get(control_faults),
            )
            .route("/__sandbox/faults/seed", post(control_seed_faults))
            .route(
                "/__sandbox/transient-tokens",
                post(transient::control_capture),
            );
        let router = if self.inner.config.control_api {
            api.merge(control)
        } else {
            api
        };
        router
            .fallback(not_found)
            .layer(axum::middleware::from_fn_with_state(
                (self.inner.faults.clone(), error_body),
                faults::inject,
            ))
            .with_state(self.clone())
    }

    /// Forgets everything: transactions, tokens, cases, searches, subscriptions and keys,
    /// counters and fault rules. The configuration stays.
    pub fn reset(&self) {
        *lock(&self.inner.ledger) = Ledger::default();
        *lock(&self.inner.stats) = Stats::default();
        lock(&self.inner.searches).clear();
        *lock(&self.inner.webhooks) = webhooks::WebhookState::default();
        *lock(&self.inner.vault) = tms::Vault::default();
        lock(&self.inner.captures).clear();
        lock(&self.inner.cases).clear();
        self.inner.faults.clear();
    }

    /// Every transaction, in the order they were made.
    pub fn transactions(&self) -> Vec<Transaction> {
        self.ledger().all().to_vec()
    }

    /// Authorizations and sales (each payment request that was not refused).
    pub fn payments(&self) -> Vec<Transaction> {
        self.ledger()
            .all()
            .iter()
            .filter(|t| t.kind == Kind::Authorization)
            .cloned()
            .collect()
    }

    pub fn stats(&self) -> Stats {
        lock(&self.inner.stats).clone()
    }

    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// Closes a settlement batch now with everything captured, refunded or credited since the
    /// last one (captures then emit `payments.capture.status.updated`). `None` when there was
    /// nothing to settle.
    pub fn settle(&self) -> Option<Batch> {
        self.settle_on(time::OffsetDateTime::now_utc().date())
    }

    /// Closes a batch every day at the configured cut-off, until the task is dropped; `None`
    /// when no cut-off is configured. Fails when the cut-off is not `HH:MM`.
    pub fn spawn_settlement_clock(
        &self,
    ) -> Result<Option<tokio::task::JoinHandle<()>>, ConfigError> {
        let Some(cutoff) = self.inner.config.settlement_cutoff_utc.as_deref() else {
            return Ok(None);
        };
        let at = time::Time::parse(cutoff, time::macros::format_description!("[hour]:[minute]"))
            .map_err(|_| ConfigError::BadCutoff(cutoff.to_string()))?;
        let sandbox = self.clone();
        Ok(Some(tokio::spawn(async move {
            loop {
                let now = time::OffsetDateTime::now_utc();
                let mut next = now.replace_time(at);
                if next <= now {
                    next += time::Duration::days(1);
                }
                let wait = std::time::Duration::try_from(next - now).unwrap_or_default();
                tokio::time::sleep(wait).await;
                if let Some(batch) = sandbox.settle() {
                    tracing::info!(batch = %batch.batch_id, transactions = batch.transaction_ids.len(), "settlement batch closed at the cut-off");
                }
            }
        })))
    }

    /// [`settle`](Self::settle), dating the batch `date` (so that a test can fetch yesterday's
    /// reports today).
    pub fn settle_on(&self, date: time::Date) -> Option<Batch> {
        let (batch, settled) = {
            let mut ledger = lock(&self.inner.ledger);
            let batch_id = format!("{:06}", ledger.batches().len() + 1);
            let batch = ledger.settle(batch_id, date)?;
            let settled: Vec<Transaction> = batch
                .transaction_ids
                .iter()
                .filter_map(|id| ledger.all().iter().find(|t| &t.id == id).cloned())
                .collect();
            (batch, settled)
        };
        for t in settled.iter().filter(|t| t.kind == Kind::Capture) {
            self.emit(
                &t.merchant_id,
                "payments",
                "payments.capture.status.updated",
                webhooks::event_data(t),
            );
        }
        Some(batch)
    }

    /// Sets webhook delivery faults (duplicates, out-of-order arrivals).
    pub fn set_webhook_faults(&self, faults: WebhookFaults) {
        self.webhooks().faults = faults;
    }

    /// Every webhook delivery attempt so far.
    pub fn deliveries(&self) -> Vec<webhooks::Delivery> {
        self.webhooks().deliveries.clone()
    }

    fn cases(&self) -> MutexGuard<'_, BTreeMap<String, risk::Case>> {
        lock(&self.inner.cases)
    }

    fn vault(&self) -> MutexGuard<'_, tms::Vault> {
        lock(&self.inner.vault)
    }

    fn webhooks(&self) -> MutexGuard<'_, webhooks::WebhookState> {
        lock(&self.inner.webhooks)
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        lock(&self.inner.ledger)
    }

    fn refuse(&self, refusal: &Refusal) -> Response {
        self.count_error(refusal.reason);
        refusal.response()
    }

    fn count_error(&self, reason: &str) {
        *lock(&self.inner.stats)
            .errors_by_reason
            .entry(reason.to_string())
            .or_insert(0) += 1;
    }

    fn count_payment(&self, status: &str) {
        *lock(&self.inner.stats)
            .transactions_by_status
            .entry(status.to_string())
            .or_insert(0) += 1;
    }

    fn remember_search(&self, merchant_id: &str, search_id: &str, answer: Value) {
        lock(&self.inner.searches).insert((merchant_id.to_string(), search_id.to_string()), answer);
    }

    fn search(&self, merchant_id: &str, search_id: &str) -> Option<Value> {
        lock(&self.inner.searches)
            .get(&(merchant_id.to_string(), search_id.to_string()))
            .cloned()
    }
}

/// Verifies the HTTP Signature of every API request (§2.1); 401 with the `rmsg` envelope when
/// it does not verify. The authenticated merchant travels on as a request extension.
async fn authenticate(
    State(sandbox): State<CybersourceSandbox>,
    request: Request,
    next: Next,
) -> Response {
    lock(&sandbox.inner.stats).requests += 1;
    let (mut parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return wire::unauthorized();
    };
    let keys = &sandbox.inner.keys;
    let verified = signature::verify(
        &parts.method,
        &parts.uri,
        &parts.headers,
        &bytes,
        |id| keys.get(id).cloned(),
        sandbox.inner.options,
        SystemTime::now(),
    );
    match verified {
        Ok(merchant) => {
            parts.extensions.insert(Merchant(merchant));
            next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
        Err(rejection) => {
            tracing::info!(%rejection, path = %parts.uri.path(), "Cybersource sandbox refused a signature");
            lock(&sandbox.inner.stats).authentication_failures += 1;
            wire::unauthorized()
        }
    }
}

async fn control_transactions(State(sandbox): State<CybersourceSandbox>) -> Json<Vec<Transaction>> {
    Json(sandbox.transactions())
}

async fn control_payments(State(sandbox): State<CybersourceSandbox>) -> Json<Vec<Transaction>> {
    Json(sandbox.payments())
}

async fn control_deliveries(
    State(sandbox): State<CybersourceSandbox>,
) -> Json<Vec<webhooks::Delivery>> {
    Json(sandbox.deliveries())
}

async fn control_reset(State(sandbox): State<CybersourceSandbox>) -> StatusCode {
    sandbox.reset();
    StatusCode::NO_CONTENT
}

async fn control_stats(State(sandbox): State<CybersourceSandbox>) -> Json<Stats> {
    Json(sandbox.stats())
}

#[derive(Debug, Default, Deserialize)]
struct SettleRequest {
    /// The batch date, `yyyy-mm-dd` (today when absent).
    #[serde(default)]
    date: Option<String>,
}

async fn control_settle(
    State(sandbox): State<CybersourceSandbox>,
    body: axum::body::Bytes,
) -> Response {
    let request: SettleRequest = if body.is_empty() {
        SettleRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        }
    };
    let date =
        match request.date.as_deref().map(|d| {
            time::Date::parse(d, time::macros::format_description!("[year]-[month]-[day]"))
        }) {
            None => time::OffsetDateTime::now_utc().date(),
            Some(Ok(date)) => date,
            Some(Err(_)) => {
                return (StatusCode::BAD_REQUEST, "date must be yyyy-mm-dd").into_response();
            }
        };
    match sandbox.settle_on(date) {
        Some(batch) => (StatusCode::CREATED, Json(batch)).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

async fn control_add_fault(
    State(sandbox): State<CybersourceSandbox>,
    Json(rule): Json<FaultRule>,
) -> StatusCode {
    sandbox.inner.faults.add(rule);
    StatusCode::NO_CONTENT
}

#[derive(Debug, Deserialize)]
struct Seed {
    seed: u64,
}

async fn control_seed_faults(
    State(sandbox): State<CybersourceSandbox>,
    Json(seed): Json<Seed>,
) -> StatusCode {
    sandbox.inner.faults.seed(seed.seed);
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

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn sale(id: &str) -> Transaction {
        Transaction {
            id: id.into(),
            kind: Kind::Authorization,
            merchant_id: "m".into(),
            merchant_reference: "R".into(),
            transaction_id: None,
            parent_id: None,
            root_id: id.into(),
            amount: Decimal::TEN,
            authorized: Decimal::TEN,
            currency: "USD".into(),
            status: "AUTHORIZED".into(),
            reason: None,
            processor_code: None,
            submit_time_utc: String::new(),
            submitted_at: 0,
            reconciliation_id: "R".into(),
            card_type: None,
            card_suffix: None,
            card_expiration: None,
            bill_to: None,
            risk: None,
            sale: true,
            captured: Decimal::TEN,
            refunded: Decimal::ZERO,
            reversed: Decimal::ZERO,
            voided: false,
            batch_id: None,
            batch_date: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_daily_cutoff_closes_a_batch() {
        let mut config = CybersourceConfig::with_key("m", "k", "AAAA");
        let soon = time::OffsetDateTime::now_utc() + time::Duration::minutes(2);
        config.settlement_cutoff_utc = Some(format!("{:02}:{:02}", soon.hour(), soon.minute()));
        let sandbox = CybersourceSandbox::new(&config).unwrap();
        sandbox.ledger().insert(sale("1"));
        let clock = sandbox
            .spawn_settlement_clock()
            .unwrap()
            .expect("a cut-off is configured");
        tokio::time::sleep(std::time::Duration::from_secs(3 * 60)).await;
        assert_eq!(sandbox.ledger().batches().len(), 1);
        assert!(sandbox.transactions()[0].batch_id.is_some());
        clock.abort();
        config.settlement_cutoff_utc = Some("25:99".into());
        assert!(
            CybersourceSandbox::new(&config)
                .unwrap()
                .spawn_settlement_clock()
                .is_err()
        );
    }
}
