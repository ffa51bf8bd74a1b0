//! The store: inbox, orders, runs, steps and cross-references.
//!
//! [`Store`] is an enum over backends (SQLite today; PostgreSQL joins it for several nodes),
//! each written in its own SQL and held to the same behaviour by the same tests.

mod postgres;
mod rows;
mod sqlite;

use std::path::Path;
use std::time::Duration;

use paybridge_model::{FailureKind, OrderStatus};
use serde::Serialize;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error(
        "order reference {reference:?} is already used by another order (Idempotency-Key differs)"
    )]
    ReferenceTaken { reference: String },
    #[error("{0} not found")]
    NotFound(String),
}

/// An input to commit before acknowledging it.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub source: String,
    pub dedupe_key: String,
    pub event_type: String,
    pub entity_key: String,
    pub payload: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct InboxEvent {
    pub id: i64,
    pub source: String,
    pub dedupe_key: String,
    pub event_type: String,
    pub entity_key: String,
    pub payload: serde_json::Value,
    pub received_at: i64,
}

/// The inbox's answer to an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Accepted {
    pub event_id: i64,
    /// An event with its dedupe key was in already: nothing new was queued.
    pub duplicate: bool,
}

/// An order to admit, with the event that records it.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub id: String,
    pub reference: String,
    pub idempotency_key: String,
    pub request_fingerprint: String,
    pub currency: String,
    pub amount_minor: i64,
    pub customer_email: String,
    pub card_brand: Option<String>,
    pub card_last4: Option<String>,
    pub event: NewEvent,
    /// The order's payment step, begun in the admission's own write (one write less on the
    /// storefront's path).
    pub payment_step: NewStep,
}

/// A cross-reference to keep: `key` (of `kind`) → `value`.
#[derive(Debug, Clone, Copy)]
pub struct XrefEntry<'a> {
    pub kind: &'a str,
    pub key: &'a str,
    pub value: &'a str,
}

/// A step to begin (attempt 1) in the same write as something else.
#[derive(Debug, Clone)]
pub struct NewStep {
    pub key: String,
    pub name: String,
    /// What the step is asked to do (scanned for card numbers before it comes here).
    pub input: serde_json::Value,
}

impl NewOrder {
    /// The record of this order just admitted under `inbox_id`, as the store holds it.
    fn admitted(&self, inbox_id: i64, now: i64) -> OrderRecord {
        OrderRecord {
            id: self.id.clone(),
            reference: self.reference.clone(),
            idempotency_key: self.idempotency_key.clone(),
            request_fingerprint: self.request_fingerprint.clone(),
            inbox_id,
            status: OrderStatus::PendingPayment,
            currency: self.currency.clone(),
            amount_minor: self.amount_minor,
            customer_email: self.customer_email.clone(),
            card_brand: self.card_brand.clone(),
            card_last4: self.card_last4.clone(),
            payment_id: None,
            payment_status: None,
            decline_reason: None,
            status_detail: None,
            failure_kind: None,
            zoho_contact_id: None,
            zoho_invoice_id: None,
            zoho_payment_id: None,
            created_at: now,
            updated_at: now,
        }
    }
}

/// A refund to admit, with the event that starts its flows.
#[derive(Debug, Clone)]
pub struct NewRefund {
    pub id: String,
    pub order_id: String,
    pub idempotency_key: String,
    pub request_fingerprint: String,
    pub amount_minor: i64,
    pub currency: String,
    pub reason: Option<String>,
    /// `api` (asked for through paybridge), `books` (a credit note in Zoho Books) or
    /// `cybersource` (made there, learnt by webhook).
    pub source: String,
    pub cybersource_refund_id: Option<String>,
    pub event: NewEvent,
    /// The flows the event starts, and the entity their runs are ordered by.
    pub flows: Vec<String>,
    pub entity_key: String,
}

/// Where a refund stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// Admitted; its flow is running.
    Requested,
    /// Cybersource refunded it and Zoho Books has it.
    Refunded,
    /// Cybersource refused it; it counts for nothing.
    Failed,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Requested => "requested",
            RefundStatus::Refunded => "refunded",
            RefundStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Result<RefundStatus, StoreError> {
        match text {
            "requested" => Ok(RefundStatus::Requested),
            "refunded" => Ok(RefundStatus::Refunded),
            "failed" => Ok(RefundStatus::Failed),
            other => Err(StoreError::Corrupt(format!("refund status {other:?}"))),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RefundRecord {
    pub id: String,
    pub order_id: String,
    pub idempotency_key: String,
    pub request_fingerprint: String,
    pub inbox_id: i64,
    pub amount_minor: i64,
    pub currency: String,
    pub reason: Option<String>,
    pub source: String,
    pub status: RefundStatus,
    pub cybersource_refund_id: Option<String>,
    pub status_detail: Option<String>,
    pub zoho_creditnote_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The result of admitting a refund.
#[derive(Debug, Clone)]
pub enum RefundAdmission {
    Admitted(RefundRecord),
    /// The same Idempotency-Key (or Cybersource refund) was seen before: the first refund.
    Existing(RefundRecord),
    /// It would refund more than was charged and not yet refunded: nothing was written.
    TooMuch {
        refundable_minor: i64,
    },
    /// The order has no payment to refund.
    NotRefundable {
        status: OrderStatus,
    },
}

/// How a refund ended.
#[derive(Debug, Clone)]
pub struct RefundOutcome<'a> {
    pub status: RefundStatus,
    pub cybersource_refund_id: Option<&'a str>,
    pub zoho_creditnote_id: Option<&'a str>,
    pub detail: Option<&'a str>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OrderRecord {
    pub id: String,
    pub reference: String,
    pub idempotency_key: String,
    pub request_fingerprint: String,
    pub inbox_id: i64,
    pub status: OrderStatus,
    pub currency: String,
    pub amount_minor: i64,
    pub customer_email: String,
    pub card_brand: Option<String>,
    pub card_last4: Option<String>,
    pub payment_id: Option<String>,
    pub payment_status: Option<String>,
    pub decline_reason: Option<String>,
    pub status_detail: Option<String>,
    pub failure_kind: Option<FailureKind>,
    pub zoho_contact_id: Option<String>,
    pub zoho_invoice_id: Option<String>,
    pub zoho_payment_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The result of admitting an order.
#[derive(Debug, Clone)]
pub enum Admission {
    /// New: committed with its inbox event, status `pending_payment`; `payment_begun` when its
    /// payment step was begun with it (attempt 1), as it is unless the step's key was taken.
    Admitted {
        order: OrderRecord,
        payment_begun: bool,
    },
    /// The Idempotency-Key was seen before: the first order, as it stands.
    Existing(OrderRecord),
}

/// What the payment request decided for an order.
#[derive(Debug, Clone)]
pub struct PaymentUpdate {
    pub status: OrderStatus,
    pub payment_id: Option<String>,
    pub payment_status: Option<String>,
    pub decline_reason: Option<String>,
    pub status_detail: Option<String>,
    pub failure_kind: Option<FailureKind>,
}

/// A run to create, for an event already in the inbox.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub inbox_id: i64,
    pub flow: String,
    pub entity_key: String,
    /// Not before this time (Unix ms); `None` for now.
    pub not_before: Option<i64>,
}

/// Lifecycle of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Waiting for `next_attempt_at` (and for earlier runs of its entity).
    Queued,
    /// Leased by a worker.
    Running,
    Succeeded,
    /// Failed for good; in the dead-letter queue until replayed or discarded.
    Dead,
    /// A dead letter set aside by an operator (kept as history).
    Discarded,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Dead => "dead",
            RunStatus::Discarded => "discarded",
        }
    }

    /// From its name (`queued`, `running`, `succeeded`, `dead`, `discarded`).
    pub fn from_name(s: &str) -> Option<RunStatus> {
        RunStatus::parse(s).ok()
    }

    fn parse(s: &str) -> Result<RunStatus, StoreError> {
        match s {
            "queued" => Ok(RunStatus::Queued),
            "running" => Ok(RunStatus::Running),
            "succeeded" => Ok(RunStatus::Succeeded),
            "dead" => Ok(RunStatus::Dead),
            "discarded" => Ok(RunStatus::Discarded),
            other => Err(StoreError::Corrupt(format!("run status {other:?}"))),
        }
    }
}

/// A run leased to a worker.
#[derive(Debug, Clone)]
pub struct ClaimedRun {
    pub id: i64,
    pub inbox_id: i64,
    pub flow: String,
    pub entity_key: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The flow version the run last executed, and whether a replay pinned it to that one.
    pub flow_version: Option<String>,
    pub flow_version_pinned: bool,
    /// The run's event, read with the claim (`None` if it could not be read: the worker reads
    /// it again to say why).
    pub event: Option<InboxEvent>,
}

/// A step with nothing to call, recorded as succeeded with its value (a flow's `outputs:`),
/// unless its key holds a result already (then that one stands).
#[derive(Debug, Clone, Copy)]
pub struct RecordedStep<'a> {
    pub key: &'a str,
    pub name: &'a str,
    pub value: &'a serde_json::Value,
}

/// An order's records in Zoho once it is synced.
#[derive(Debug, Clone)]
pub struct ZohoIds {
    pub contact_id: String,
    pub invoice_id: String,
    pub payment_id: String,
}

/// A step whose whole effect is a write to this store (`order.synced`): recorded as succeeded
/// in that same write, so the write is done once per key and needs no begin of its own.
#[derive(Debug, Clone, Copy)]
pub struct OwnStep<'a> {
    pub run_id: Option<i64>,
    pub key: &'a str,
    pub name: &'a str,
    pub input: &'a serde_json::Value,
    pub output: &'a serde_json::Value,
}

/// What beginning a step found.
#[derive(Debug, Clone, PartialEq)]
pub enum StepStart {
    /// This attempt may go ahead: its number (1 for the first), and whether an earlier attempt
    /// may have taken effect (then it looks the effect up before writing again).
    Begun { attempt: u32, uncertain: bool },
    /// The step succeeded before: its stored result, not to be done again.
    Succeeded(Option<serde_json::Value>),
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RunRecord {
    pub id: i64,
    pub inbox_id: i64,
    pub flow: String,
    pub entity_key: String,
    pub status: RunStatus,
    pub attempt: u32,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub last_error_kind: Option<FailureKind>,
    pub last_error_status: Option<u16>,
    /// The step that failed last, and the vendor's id for its request.
    pub last_error_step: Option<String>,
    pub last_error_request_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
    /// The version of the flow file it last executed (flow files only).
    pub flow_version: Option<String>,
    /// A replay asked for `flow_version` rather than the version deployed now.
    pub flow_version_pinned: bool,
}

/// A console session, shared by every node: the SHA-256 of its id (the cookie's value), the
/// token signed in with, its CSRF token, when it was last used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    pub id_hash: String,
    pub token_id: String,
    pub csrf: String,
    pub last_seen_ms: i64,
}

/// A flow version as recorded when it was deployed.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FlowVersionRecord {
    pub name: String,
    pub version: String,
    pub text: String,
    pub origin: String,
    pub recorded_ms: i64,
}

/// Which version of a flow an environment runs, since when.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct DeploymentRecord {
    pub env: String,
    pub name: String,
    pub version: String,
    pub deployed_ms: i64,
    pub note: Option<String>,
}

/// Why a run attempt failed, as stored with the run and its step.
#[derive(Debug, Clone)]
pub struct FailureRecord {
    pub message: String,
    pub kind: FailureKind,
    pub http_status: Option<u16>,
    /// The vendor's id for the failed request (Cybersource's `v-c-correlation-id`).
    pub request_id: Option<String>,
    /// The step that failed.
    pub step: Option<String>,
}

/// Which runs to list.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub status: Option<RunStatus>,
    pub flow: Option<String>,
    pub entity: Option<String>,
    /// Created at or after (Unix ms).
    pub since_ms: Option<i64>,
    /// Created before (Unix ms).
    pub until_ms: Option<i64>,
    /// Only runs older than this id (paging: the last id of the previous page).
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// Lifecycle of a memoized step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Begun and not finished: the call may have taken effect.
    Started,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StepRecord {
    pub idempotency_key: String,
    pub run_id: Option<i64>,
    pub name: String,
    pub status: StepStatus,
    pub attempts: u32,
    /// What the step was asked to do (redacted: never a card number or a secret).
    pub input: Option<serde_json::Value>,
    pub output: Option<serde_json::Value>,
    pub error: Option<String>,
    pub error_kind: Option<FailureKind>,
    pub error_status: Option<u16>,
    pub error_request_id: Option<String>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
}

/// A secret as the vault stores it: sealed with its data key, the data key wrapped with the
/// master key `key_id`. Nothing here is readable without the master key.
#[derive(Clone)]
pub struct SealedSecret {
    pub name: String,
    pub key_id: String,
    pub wrapped_key: Vec<u8>,
    pub sealed: Vec<u8>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl std::fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedSecret")
            .field("name", &self.name)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// A connection to a vendor account: its non-secret settings (secrets live in the vault).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionRecord {
    /// Unique across vendors, e.g. `zoho/main`.
    pub name: String,
    pub vendor: String,
    pub settings: serde_json::Value,
    pub updated_ms: i64,
}

/// An admin API token as stored: its secret only as a SHA-256.
#[derive(Clone)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    pub role: String,
    pub secret_hash: Vec<u8>,
    pub created_ms: i64,
    pub last_used_ms: Option<i64>,
    pub revoked_ms: Option<i64>,
}

impl std::fmt::Debug for TokenRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// What history to let go (see the retention settings).
#[derive(Debug, Clone, Copy)]
pub struct PruneCutoffs {
    pub now_ms: i64,
    /// Finished runs (succeeded, discarded) last changed before this go…
    pub finished_before_ms: i64,
    /// …and so do all but the newest this many.
    pub keep_runs: u64,
}

/// What a prune removed.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct PruneReport {
    pub runs: u64,
    pub steps: u64,
    pub inbox_events: u64,
    /// Given back to the file system.
    pub bytes_freed: u64,
}

/// Counts for summaries and health.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub orders_by_status: std::collections::BTreeMap<String, u64>,
    pub runs_by_status: std::collections::BTreeMap<String, u64>,
    pub inbox_events: u64,
    /// Inbox events per source (`order-api`, `cybersource-webhook`, …).
    pub inbox_by_source: std::collections::BTreeMap<String, u64>,
}

/// The store, over one backend.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

macro_rules! delegate {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            Store::Sqlite($store) => $call,
            Store::Postgres($store) => $call,
        }
    };
}

impl Store {
    /// Opens (creating if needed) the SQLite store at `path` and brings its schema up to date.
    pub async fn open_sqlite(path: &Path) -> Result<Store, StoreError> {
        Ok(Store::Sqlite(SqliteStore::open(path).await?))
    }

    /// A description of where the data lives, for people.
    /// Connects to PostgreSQL at `url` (in `schema` when given) and brings its schema up to
    /// date.
    pub async fn open_postgres(url: &str, schema: Option<&str>) -> Result<Store, StoreError> {
        Ok(Store::Postgres(PostgresStore::open(url, schema).await?))
    }

    /// Calls `wake` whenever another process queues a run: PostgreSQL's `LISTEN/NOTIFY`. `None`
    /// on SQLite, whose other processes are noticed by polling.
    pub async fn listen(
        &self,
        wake: impl Fn() + Send + 'static,
    ) -> Result<Option<tokio::task::JoinHandle<()>>, StoreError> {
        match self {
            Store::Sqlite(_) => Ok(None),
            Store::Postgres(store) => Ok(Some(store.listen(wake).await?)),
        }
    }

    pub fn location(&self) -> String {
        delegate!(self, s => s.location())
    }

    pub async fn admit_order(&self, order: &NewOrder, now: i64) -> Result<Admission, StoreError> {
        delegate!(self, s => s.admit_order(order, now).await)
    }

    /// Records a flow version (its text, once) and deploys it to `env`, unless `env` runs it
    /// already. Returns whether the deployment changed anything.
    pub async fn deploy_flow(
        &self,
        env: &str,
        version: &FlowVersionRecord,
        note: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        delegate!(self, s => s.deploy_flow(env, version, note, now).await)
    }

    /// Keeps a flow version's text (once), so that runs of it can be replayed on it later.
    /// Opens a console session, and forgets those idle since before `expired_before_ms`.
    pub async fn open_session(
        &self,
        session: &ConsoleSession,
        expired_before_ms: i64,
    ) -> Result<(), StoreError> {
        delegate!(self, s => s.open_session(session, expired_before_ms).await)
    }

    pub async fn session(&self, id_hash: &str) -> Result<Option<ConsoleSession>, StoreError> {
        delegate!(self, s => s.session(id_hash).await)
    }

    pub async fn touch_session(&self, id_hash: &str, now_ms: i64) -> Result<(), StoreError> {
        delegate!(self, s => s.touch_session(id_hash, now_ms).await)
    }

    pub async fn close_session(&self, id_hash: &str) -> Result<(), StoreError> {
        delegate!(self, s => s.close_session(id_hash).await)
    }

    /// Keeps a console overview reading for its minute (`false`: another node took that
    /// minute's), and drops those before `keep_after_ms`.
    pub async fn record_sample(
        &self,
        at_ms: i64,
        sample: &str,
        keep_after_ms: i64,
    ) -> Result<bool, StoreError> {
        delegate!(self, s => s.record_sample(at_ms, sample, keep_after_ms).await)
    }

    /// The overview readings from `since_ms` on, oldest first.
    pub async fn samples_since(
        &self,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        delegate!(self, s => s.samples_since(since_ms, limit).await)
    }

    pub async fn record_flow_version(&self, version: &FlowVersionRecord) -> Result<(), StoreError> {
        delegate!(self, s => s.record_flow_version(version).await)
    }

    /// What `env` runs: the newest deployment of each flow.
    pub async fn deployments(&self, env: &str) -> Result<Vec<DeploymentRecord>, StoreError> {
        delegate!(self, s => s.deployments(env).await)
    }

    /// Every deployment of a flow to any environment, newest first.
    pub async fn deployment_history(
        &self,
        name: &str,
    ) -> Result<Vec<DeploymentRecord>, StoreError> {
        delegate!(self, s => s.deployment_history(name).await)
    }

    pub async fn flow_version(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Option<FlowVersionRecord>, StoreError> {
        delegate!(self, s => s.flow_version(name, version).await)
    }

    /// Pins a run to the flow version it last executed (a replay "on the original version"),
    /// or unpins it (`false`: the deployed version).
    pub async fn pin_run_flow_version(&self, run_id: i64, pinned: bool) -> Result<(), StoreError> {
        delegate!(self, s => s.pin_run_flow_version(run_id, pinned).await)
    }

    /// Notes the flow version a run executed (unless it is pinned to another). Workers note it
    /// with the run's outcome; this is for a run whose history is written by hand (tests,
    /// repairs).
    pub async fn set_run_flow_version(&self, run_id: i64, version: &str) -> Result<(), StoreError> {
        delegate!(self, s => s.set_run_flow_version(run_id, version).await)
    }

    /// Admits a refund with its event and runs, unless it would refund more than the order's
    /// charge minus its other refunds that did not fail (checked in the same transaction).
    pub async fn admit_refund(
        &self,
        refund: &NewRefund,
        now: i64,
    ) -> Result<RefundAdmission, StoreError> {
        delegate!(self, s => s.admit_refund(refund, now).await)
    }

    pub async fn refund(&self, id: &str) -> Result<Option<RefundRecord>, StoreError> {
        delegate!(self, s => s.refund(id).await)
    }

    pub async fn refund_by_cybersource_id(
        &self,
        cybersource_refund_id: &str,
    ) -> Result<Option<RefundRecord>, StoreError> {
        delegate!(self, s => s.refund_by_cybersource_id(cybersource_refund_id).await)
    }

    /// An order's refunds, oldest first.
    pub async fn refunds_of(&self, order_id: &str) -> Result<Vec<RefundRecord>, StoreError> {
        delegate!(self, s => s.refunds_of(order_id).await)
    }

    pub async fn finish_refund(
        &self,
        id: &str,
        outcome: &RefundOutcome<'_>,
        now: i64,
    ) -> Result<(), StoreError> {
        delegate!(self, s => s.finish_refund(id, outcome, now).await)
    }

    /// Records the payment's outcome and, in the same transaction, the run that follows it.
    pub async fn accept_event(
        &self,
        event: &NewEvent,
        flows: &[&str],
        now: i64,
    ) -> Result<Accepted, StoreError> {
        delegate!(self, s => s.accept_event(event, flows, now).await)
    }

    pub async fn record_payment(
        &self,
        order_id: &str,
        update: &PaymentUpdate,
        runs: &[NewRun],
        now: i64,
    ) -> Result<OrderRecord, StoreError> {
        delegate!(self, s => s.record_payment(order_id, update, runs, now).await)
    }

    pub async fn order(&self, id: &str) -> Result<Option<OrderRecord>, StoreError> {
        delegate!(self, s => s.order(id).await)
    }

    pub async fn order_by_reference(
        &self,
        reference: &str,
    ) -> Result<Option<OrderRecord>, StoreError> {
        delegate!(self, s => s.order_by_reference(reference).await)
    }

    /// The order whose Zoho Books invoice this is.
    pub async fn order_by_zoho_invoice(
        &self,
        invoice_id: &str,
    ) -> Result<Option<OrderRecord>, StoreError> {
        delegate!(self, s => s.order_by_zoho_invoice(invoice_id).await)
    }

    pub async fn stale_pending_orders(
        &self,
        before_ms: i64,
        limit: u32,
    ) -> Result<Vec<OrderRecord>, StoreError> {
        delegate!(self, s => s.stale_pending_orders(before_ms, limit).await)
    }

    pub async fn orders(&self, limit: u32) -> Result<Vec<OrderRecord>, StoreError> {
        delegate!(self, s => s.orders(limit).await)
    }

    pub async fn set_order_status(
        &self,
        order_id: &str,
        status: OrderStatus,
        detail: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        delegate!(self, s => s.set_order_status(order_id, status, detail, now).await)
    }

    /// Marks the order synced (completed, with its Zoho ids) as `step`, in one write: `None`
    /// when done now, or the step's stored output when it had succeeded before (then nothing
    /// is written).
    pub async fn complete_order_sync(
        &self,
        order_id: &str,
        ids: &ZohoIds,
        step: OwnStep<'_>,
        now: i64,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        delegate!(self, s => s.complete_order_sync(order_id, ids, step, now).await)
    }

    pub async fn inbox_event(&self, id: i64) -> Result<InboxEvent, StoreError> {
        delegate!(self, s => s.inbox_event(id).await)
    }

    /// Leases the next due run: the earliest whose entity has no earlier unfinished run.
    pub async fn claim_run(
        &self,
        owner: &str,
        now: i64,
        lease: Duration,
    ) -> Result<Option<ClaimedRun>, StoreError> {
        delegate!(self, s => s.claim_run(owner, now, lease).await)
    }

    /// Extends a lease; false if the run is no longer leased to `owner`.
    pub async fn renew_lease(
        &self,
        run_id: i64,
        owner: &str,
        now: i64,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        delegate!(self, s => s.renew_lease(run_id, owner, now, lease).await)
    }

    /// Records a run's success. The outcomes (`finish_run`, `retry_run`, `dead_letter_run`)
    /// also note the flow version the run executed (`flow_version`, unless it is pinned).
    /// Ends a run as succeeded, with what it leaves besides its steps (`record`: its flow's
    /// outputs) in the same write. `false` when the run is no longer `owner`'s.
    pub async fn finish_run(
        &self,
        run_id: i64,
        owner: &str,
        flow_version: Option<&str>,
        record: Option<RecordedStep<'_>>,
        now: i64,
    ) -> Result<bool, StoreError> {
        delegate!(self, s => s.finish_run(run_id, owner, flow_version, record, now).await)
    }

    pub async fn retry_run(
        &self,
        run_id: i64,
        owner: &str,
        flow_version: Option<&str>,
        at: i64,
        failure: &FailureRecord,
        now: i64,
    ) -> Result<bool, StoreError> {
        delegate!(self, s => s.retry_run(run_id, owner, flow_version, at, failure, now).await)
    }

    /// Dead-letters a run. With `order_failed` (an order id and why), an order still
    /// `approved` becomes `sync_failed` in the same transaction, so that no crash can leave it
    /// approved with nothing left to run.
    pub async fn dead_letter_run(
        &self,
        run_id: i64,
        owner: &str,
        flow_version: Option<&str>,
        failure: &FailureRecord,
        order_failed: Option<(&str, &str)>,
        now: i64,
    ) -> Result<bool, StoreError> {
        delegate!(self, s => s.dead_letter_run(run_id, owner, flow_version, failure, order_failed, now).await)
    }

    /// Puts a finished or dead run back in the queue (replay, re-delivery). Its finished steps
    /// are reused, so nothing already done is done again.
    pub async fn requeue_run(&self, run_id: i64, now: i64) -> Result<bool, StoreError> {
        delegate!(self, s => s.requeue_run(run_id, now).await)
    }

    pub async fn discard_run(&self, run_id: i64, now: i64) -> Result<bool, StoreError> {
        delegate!(self, s => s.discard_run(run_id, now).await)
    }

    pub async fn find_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        delegate!(self, s => s.find_runs(filter).await)
    }

    pub async fn run(&self, run_id: i64) -> Result<Option<RunRecord>, StoreError> {
        delegate!(self, s => s.run(run_id).await)
    }

    pub async fn runs(
        &self,
        status: Option<RunStatus>,
        limit: u32,
    ) -> Result<Vec<RunRecord>, StoreError> {
        delegate!(self, s => s.runs(status, limit).await)
    }

    /// When the next queued run becomes due (or a lease expires), if any.
    pub async fn next_wakeup(&self) -> Result<Option<i64>, StoreError> {
        delegate!(self, s => s.next_wakeup().await)
    }

    pub async fn step(&self, key: &str) -> Result<Option<StepRecord>, StoreError> {
        delegate!(self, s => s.step(key).await)
    }

    pub async fn steps_of_run(&self, run_id: i64) -> Result<Vec<StepRecord>, StoreError> {
        delegate!(self, s => s.steps_of_run(run_id).await)
    }

    /// Marks a step as begun (committed before the call is made), in one write: a new step, or
    /// another attempt of one that did not succeed; a step that succeeded is left as it is and
    /// its result returned.
    pub async fn begin_step(
        &self,
        run_id: Option<i64>,
        key: &str,
        name: &str,
        input: Option<&serde_json::Value>,
        now: i64,
    ) -> Result<StepStart, StoreError> {
        // `None`: the step had succeeded, so nothing was written; its result is read instead.
        let begun = delegate!(self, s => s.begin_step(run_id, key, name, input, now).await)?;
        match begun {
            Some(start) => Ok(start),
            None => {
                let done = self.step(key).await?.ok_or_else(|| {
                    StoreError::Corrupt(format!("step {key} neither begun nor found"))
                })?;
                Ok(StepStart::Succeeded(done.output))
            }
        }
    }

    /// Records a step that has nothing to call (a flow's outputs) as succeeded with `output`,
    /// unless the key is already taken (then what it holds stands).
    pub async fn record_step(
        &self,
        run_id: Option<i64>,
        key: &str,
        name: &str,
        output: &serde_json::Value,
        now: i64,
    ) -> Result<(), StoreError> {
        delegate!(self, s => s.record_step(run_id, key, name, output, now).await)
    }

    pub async fn succeed_step(
        &self,
        key: &str,
        output: &serde_json::Value,
        now: i64,
    ) -> Result<(), StoreError> {
        delegate!(self, s => s.succeed_step(key, output, now).await)
    }

    /// Marks a step succeeded, for a run that writes again before anything can depend on it:
    /// SQLite queues the write (its single writer commits writes in the order they come, so the
    /// run's next write is committed with it or after it) instead of waiting for its commit;
    /// PostgreSQL commits it now. A crash before the commit leaves the step begun, so that its
    /// next attempt looks its effect up first, as after any crash during a step.
    pub async fn succeed_step_in_run(
        &self,
        key: &str,
        output: &serde_json::Value,
        now: i64,
    ) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.queue_step_success(key, output, now),
            Store::Postgres(s) => s.succeed_step(key, output, now).await,
        }
    }

    pub async fn fail_step(
        &self,
        key: &str,
        failure: &FailureRecord,
        now: i64,
    ) -> Result<(), StoreError> {
        delegate!(self, s => s.fail_step(key, failure, now).await)
    }

    pub async fn vault_put(&self, secret: &SealedSecret, now: i64) -> Result<(), StoreError> {
        delegate!(self, s => s.vault_put(secret, now).await)
    }

    pub async fn vault_get(&self, name: &str) -> Result<Option<SealedSecret>, StoreError> {
        delegate!(self, s => s.vault_get(name).await)
    }

    pub async fn vault_all(&self) -> Result<Vec<SealedSecret>, StoreError> {
        delegate!(self, s => s.vault_all().await)
    }

    pub async fn vault_rewrap(
        &self,
        name: &str,
        old_key_id: &str,
        new_key_id: &str,
        wrapped_key: &[u8],
        now: i64,
    ) -> Result<bool, StoreError> {
        delegate!(self, s => s.vault_rewrap(name, old_key_id, new_key_id, wrapped_key, now).await)
    }

    pub async fn vault_delete(&self, name: &str) -> Result<bool, StoreError> {
        delegate!(self, s => s.vault_delete(name).await)
    }

    pub async fn vault_meta_or_insert(
        &self,
        name: &str,
        value: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        delegate!(self, s => s.vault_meta_or_insert(name, value).await)
    }

    pub async fn prune(&self, cutoffs: &PruneCutoffs) -> Result<PruneReport, StoreError> {
        delegate!(self, s => s.prune(cutoffs).await)
    }

    pub async fn put_connection(&self, connection: &ConnectionRecord) -> Result<(), StoreError> {
        delegate!(self, s => s.put_connection(connection).await)
    }

    pub async fn delete_connection(&self, name: &str) -> Result<bool, StoreError> {
        delegate!(self, s => s.delete_connection(name).await)
    }

    pub async fn connection(&self, name: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        delegate!(self, s => s.connection(name).await)
    }

    pub async fn put_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        delegate!(self, s => s.put_token(token).await)
    }

    pub async fn token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        delegate!(self, s => s.token(id).await)
    }

    pub async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        delegate!(self, s => s.tokens().await)
    }

    pub async fn touch_token(&self, id: &str, now: i64) -> Result<(), StoreError> {
        delegate!(self, s => s.touch_token(id, now).await)
    }

    pub async fn revoke_token(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        delegate!(self, s => s.revoke_token(id, now).await)
    }

    pub async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        delegate!(self, s => s.try_lease(name, holder, now, ttl_ms).await)
    }

    pub async fn shared_token(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        delegate!(self, s => s.shared_token(name).await)
    }

    pub async fn share_token(&self, name: &str, sealed: &[u8], now: i64) -> Result<(), StoreError> {
        delegate!(self, s => s.share_token(name, sealed, now).await)
    }

    pub async fn leases_held(&self, prefix: &str, now: i64) -> Result<Vec<String>, StoreError> {
        delegate!(self, s => s.leases_held(prefix, now).await)
    }

    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        delegate!(self, s => s.release_lease(name, holder).await)
    }

    pub async fn quota_take(
        &self,
        key: &str,
        windows: &[(u64, i64)],
        cost: u64,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        delegate!(self, s => s.quota_take(key, windows, cost, now).await)
    }

    pub async fn quota_used(
        &self,
        key: &str,
        windows: &[i64],
        now: i64,
    ) -> Result<Vec<u64>, StoreError> {
        delegate!(self, s => s.quota_used(key, windows, now).await)
    }

    pub async fn quota_pause(&self, key: &str, until_ms: i64) -> Result<(), StoreError> {
        delegate!(self, s => s.quota_pause(key, until_ms).await)
    }

    pub async fn xref(
        &self,
        system: &str,
        kind: &str,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        delegate!(self, s => s.xref(system, kind, key).await)
    }

    /// Records a cross-reference; the first value recorded for a key wins and is returned.
    pub async fn put_xref(
        &self,
        system: &str,
        kind: &str,
        key: &str,
        value: &str,
        now: i64,
    ) -> Result<String, StoreError> {
        let mut held = self
            .put_xrefs(system, &[XrefEntry { kind, key, value }], now)
            .await?;
        held.pop()
            .ok_or_else(|| StoreError::Corrupt(format!("xref {system}/{kind}/{key} vanished")))
    }

    /// [`Store::put_xref`] for several entries of `system` in one write: the value each key
    /// holds afterwards, in their order.
    pub async fn put_xrefs(
        &self,
        system: &str,
        entries: &[XrefEntry<'_>],
        now: i64,
    ) -> Result<Vec<String>, StoreError> {
        delegate!(self, s => s.put_xrefs(system, entries, now).await)
    }

    pub async fn counts(&self) -> Result<Counts, StoreError> {
        delegate!(self, s => s.counts().await)
    }

    pub async fn close(&self) {
        delegate!(self, s => s.close().await)
    }
}

fn parse_kind(text: Option<String>) -> Option<FailureKind> {
    match text.as_deref()? {
        "transient" => Some(FailureKind::Transient),
        "outcome_unknown" => Some(FailureKind::OutcomeUnknown),
        "permanent" => Some(FailureKind::Permanent),
        "configuration" => Some(FailureKind::Configuration),
        _ => None,
    }
}
