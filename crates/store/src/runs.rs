//! Runs and their memoized steps: queued, leased, retried, dead-lettered, replayed, pruned.

use std::future::Future;

use crate::error::StoreError;
use crate::inbox::InboxEvent;
use paybridge_model::{FailureKind, StepError};
use serde::Serialize;
use std::time::Duration;

/// A step to begin (attempt 1) in the same write as something else.
#[derive(Debug, Clone)]
pub struct NewStep {
    pub key: String,
    pub name: String,
    /// What the step is asked to do (scanned for card numbers before it comes here).
    pub input: serde_json::Value,
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

    pub(crate) fn parse(s: &str) -> Result<RunStatus, StoreError> {
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
    /// How long the run has waited in all because it was told to slow down (see [`Retry`]).
    pub throttled_ms: i64,
    /// The run's event, read with the claim (`None` if it could not be read: the worker reads
    /// it again to say why).
    pub event: Option<InboxEvent>,
}

/// When a run goes again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Not before (Unix ms).
    pub at: i64,
    /// The run was told to slow down (a 429, a spent budget) and waits this long (ms): being
    /// told to wait is not a failure, so the attempt is not counted; the wait is added to the
    /// run's `throttled_ms`, whose total has a ceiling of its own.
    pub throttled_ms: Option<i64>,
}

/// A step with nothing to call, recorded as succeeded with its value (a flow's `outputs:`),
/// unless its key holds a result already (then that one stands).
#[derive(Debug, Clone, Copy)]
pub struct RecordedStep<'a> {
    pub key: &'a str,
    pub name: &'a str,
    pub value: &'a serde_json::Value,
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

impl From<&StepError> for FailureRecord {
    fn from(error: &StepError) -> FailureRecord {
        FailureRecord {
            message: error.to_string(),
            kind: error.kind,
            http_status: error.http_status,
            request_id: error.request_id.clone(),
            step: error.step.clone(),
        }
    }
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

/// What history to let go (see the retention settings).
#[derive(Debug, Clone, Copy)]
pub struct PruneCutoffs {
    pub now_ms: i64,
    /// Finished runs (succeeded, discarded) last changed before this go…
    pub finished_before_ms: i64,
    /// …and so do all but the newest this many.
    pub keep_runs: u64,
    /// The dedupe keys of pruned events are kept until this, so that a delivery seen before is
    /// still known as one.
    pub seen_before_ms: i64,
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

/// Runs and their memoized steps: queued, leased, retried, dead-lettered, replayed, pruned.
pub trait RunStore: Sync {
    /// Leases the next due run: the earliest whose entity has no earlier unfinished run.
    fn claim_run(
        &self,
        owner: &str,
        now: i64,
        lease: Duration,
    ) -> impl Future<Output = Result<Option<ClaimedRun>, StoreError>> + Send {
        self.claim_run_of(owner, now, lease, None)
    }

    /// Like [`claim_run`](RunStore::claim_run), of the runs of these flows only (`None`: any):
    /// a lane of workers kept for work that must not wait behind the rest.
    fn claim_run_of(
        &self,
        owner: &str,
        now: i64,
        lease: Duration,
        flows: Option<&[&str]>,
    ) -> impl Future<Output = Result<Option<ClaimedRun>, StoreError>> + Send;

    /// Extends a lease; false if the run is no longer leased to `owner`.
    fn renew_lease(
        &self,
        run_id: i64,
        owner: &str,
        now: i64,
        lease: Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records a run's success. The outcomes (`finish_run`, `retry_run`, `dead_letter_run`)
    /// also note the flow version the run executed (`flow_version`, unless it is pinned).
    /// Ends a run as succeeded, with what it leaves besides its steps (`record`: its flow's
    /// outputs) in the same write. `false` when the run is no longer `owner`'s.
    fn finish_run(
        &self,
        run_id: i64,
        owner: &str,
        flow_version: Option<&str>,
        record: Option<RecordedStep<'_>>,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn retry_run(
        &self,
        run_id: i64,
        owner: &str,
        flow_version: Option<&str>,
        retry: Retry,
        failure: &FailureRecord,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Dead-letters a run. With `order_failed` (an order id and why), an order still
    /// `approved` becomes `sync_failed` in the same transaction, so that no crash can leave it
    /// approved with nothing left to run.
    fn dead_letter_run(
        &self,
        run_id: i64,
        owner: &str,
        flow_version: Option<&str>,
        failure: &FailureRecord,
        order_failed: Option<(&str, &str)>,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Puts a finished or dead run back in the queue (replay, re-delivery). Its finished steps
    /// are reused, so nothing already done is done again.
    fn requeue_run(
        &self,
        run_id: i64,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn discard_run(
        &self,
        run_id: i64,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn find_runs(
        &self,
        filter: &RunFilter,
    ) -> impl Future<Output = Result<Vec<RunRecord>, StoreError>> + Send;

    fn run(
        &self,
        run_id: i64,
    ) -> impl Future<Output = Result<Option<RunRecord>, StoreError>> + Send;

    fn runs(
        &self,
        status: Option<RunStatus>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<RunRecord>, StoreError>> + Send;

    /// When the next queued run becomes due (or a lease expires), if any.
    fn next_wakeup(&self) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send;

    /// Pins a run to the flow version it last executed (a replay "on the original version"),
    /// or unpins it (`false`: the deployed version).
    fn pin_run_flow_version(
        &self,
        run_id: i64,
        pinned: bool,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Notes the flow version a run executed (unless it is pinned to another). Workers note it
    /// with the run's outcome; this is for a run whose history is written by hand (tests,
    /// repairs).
    fn set_run_flow_version(
        &self,
        run_id: i64,
        version: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn step(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<StepRecord>, StoreError>> + Send;

    fn steps_of_run(
        &self,
        run_id: i64,
    ) -> impl Future<Output = Result<Vec<StepRecord>, StoreError>> + Send;

    /// Marks a step as begun (committed before the call is made), in one write: a new step, or
    /// another attempt of one that did not succeed; a step that succeeded is left as it is and
    /// its result returned.
    fn begin_step(
        &self,
        run_id: Option<i64>,
        key: &str,
        name: &str,
        input: Option<&serde_json::Value>,
        now: i64,
    ) -> impl Future<Output = Result<StepStart, StoreError>> + Send;

    /// Records a step that has nothing to call (a flow's outputs) as succeeded with `output`,
    /// unless the key is already taken (then what it holds stands).
    fn record_step(
        &self,
        run_id: Option<i64>,
        key: &str,
        name: &str,
        output: &serde_json::Value,
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn succeed_step(
        &self,
        key: &str,
        output: &serde_json::Value,
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Marks a step succeeded, for a run that writes again before anything can depend on it:
    /// SQLite queues the write (its single writer commits writes in the order they come, so the
    /// run's next write is committed with it or after it) instead of waiting for its commit;
    /// PostgreSQL commits it now. A crash before the commit leaves the step begun, so that its
    /// next attempt looks its effect up first, as after any crash during a step.
    fn succeed_step_in_run(
        &self,
        key: &str,
        output: &serde_json::Value,
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn fail_step(
        &self,
        key: &str,
        failure: &FailureRecord,
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn prune(
        &self,
        cutoffs: &PruneCutoffs,
    ) -> impl Future<Output = Result<PruneReport, StoreError>> + Send;

    fn counts(&self) -> impl Future<Output = Result<Counts, StoreError>> + Send;
}
