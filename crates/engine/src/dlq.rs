//! Runs and dead letters as operators handle them: list, show (the step timeline with each
//! step's input, output and error), replay from the failed step, discard, and both in bulk by
//! filter.
//!
//! A dead letter is a run whose status is `dead`. Replaying it queues it again: the steps that
//! succeeded are reused (never repeated), so it resumes at the step that failed. Discarding
//! sets it aside as `discarded` (kept as history; it can still be replayed later). These work
//! on the store alone, so the CLI and the admin API act the same way, and the workers of any
//! node on the store pick the replayed runs up.

use paybridge_model::secrets::{redact_json, redact_query};
use serde::Serialize;

use paybridge_store::{
    Clock, Counts, InboxStore as _, RunFilter, RunRecord, RunStatus, RunStore as _, StepRecord,
    Store, StoreError,
};

#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    #[error("no run {0}")]
    NotFound(i64),
    #[error("run {id} is {status}, not a dead letter: only dead (or discarded) runs are {action}")]
    NotDead {
        id: i64,
        status: &'static str,
        action: &'static str,
    },
    #[error(
        "run {0} did not run a flow file version: there is no original version to replay it on"
    )]
    NoVersion(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A run with its event and its step timeline.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RunDetail {
    pub run: RunRecord,
    pub event_type: String,
    pub event_source: String,
    pub received_at: i64,
    /// The event as it was accepted (never holds a card number: those are refused at the door).
    pub event: serde_json::Value,
    /// In the order they started.
    pub steps: Vec<StepRecord>,
}

impl RunDetail {
    /// The step whose failure put the run where it is, if one did.
    pub fn failed_step(&self) -> Option<&StepRecord> {
        let name = self.run.last_error_step.as_deref()?;
        self.steps.iter().rev().find(|s| s.name == name)
    }
}

/// Runs and dead letters, as operators handle them (the admin API, the console and the CLI
/// act through it alike). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Runs {
    store: Store,
    clock: Clock,
}

/// What a bulk action did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Bulk {
    pub done: Vec<i64>,
    /// Changed by someone else meanwhile.
    pub skipped: Vec<i64>,
}

impl Runs {
    pub fn new(store: Store, clock: Clock) -> Runs {
        Runs { store, clock }
    }

    /// What the store holds, counted (orders, runs and inbox events by status and source).
    pub async fn counts(&self) -> Result<Counts, StoreError> {
        self.store.counts().await
    }

    /// A run with its event and its steps.
    pub async fn show(&self, id: i64) -> Result<RunDetail, DlqError> {
        let store = &self.store;
        let mut run = store.run(id).await?.ok_or(DlqError::NotFound(id))?;
        let mut event = store.inbox_event(run.inbox_id).await?;
        let mut steps = store.steps_of_run(id).await?;
        // Whoever reads a run — a viewer in the console, the API, the CLI — sees no credential,
        // whatever a vendor or an older version put in the event or a step.
        redact_json(&mut event.payload);
        for step in &mut steps {
            for value in [&mut step.input, &mut step.output].into_iter().flatten() {
                redact_json(value);
            }
            if let Some(error) = &mut step.error {
                *error = redact_query(error);
            }
        }
        if let Some(error) = &mut run.last_error {
            *error = redact_query(error);
        }
        Ok(RunDetail {
            run,
            event_type: event.event_type,
            event_source: event.source,
            received_at: event.received_at,
            event: event.payload,
            steps,
        })
    }

    /// The runs `filter` selects, newest first.
    pub async fn list(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, DlqError> {
        let mut runs = self.store.find_runs(filter).await?;
        for run in &mut runs {
            if let Some(error) = &mut run.last_error {
                *error = redact_query(error);
            }
        }
        Ok(runs)
    }

    /// Queues a dead (or discarded) run again; it resumes at the step that failed.
    pub async fn replay(&self, id: i64) -> Result<(), DlqError> {
        self.replay_on(id, false).await
    }

    /// Replays a dead letter on the flow version it ran (not the one deployed now): for a failure
    /// that a new version would handle differently, or before a fix is deployed.
    pub async fn replay_original(&self, id: i64) -> Result<(), DlqError> {
        self.replay_on(id, true).await
    }

    async fn replay_on(&self, id: i64, original: bool) -> Result<(), DlqError> {
        let (store, clock) = (&self.store, &self.clock);
        let run = store.run(id).await?.ok_or(DlqError::NotFound(id))?;
        if original && run.flow_version.is_none() {
            return Err(DlqError::NoVersion(id));
        }
        if !matches!(run.status, RunStatus::Dead | RunStatus::Discarded) {
            return Err(DlqError::NotDead {
                id,
                status: run.status.as_str(),
                action: "replayed",
            });
        }
        store.pin_run_flow_version(id, original).await?;
        if !store.requeue_run(id, clock.now_ms()).await? {
            // Replayed by someone else in between.
            let now = store.run(id).await?.ok_or(DlqError::NotFound(id))?;
            return Err(DlqError::NotDead {
                id,
                status: now.status.as_str(),
                action: "replayed",
            });
        }
        tracing::info!(run_id = id, flow = %run.flow, "dead letter replayed");
        metrics::counter!("paybridge_replays_total", "flow" => run.flow).increment(1);
        Ok(())
    }

    /// Sets a dead letter aside.
    pub async fn discard(&self, id: i64) -> Result<(), DlqError> {
        let (store, clock) = (&self.store, &self.clock);
        if store.discard_run(id, clock.now_ms()).await? {
            tracing::info!(run_id = id, "dead letter discarded");
            return Ok(());
        }
        let run = store.run(id).await?.ok_or(DlqError::NotFound(id))?;
        Err(DlqError::NotDead {
            id,
            status: run.status.as_str(),
            action: "discarded",
        })
    }

    /// Replays (or discards) each of `ids`; a run that is not a dead letter (any more) or no longer
    /// exists is skipped. `original`: replay on the flow version each run ran.
    pub async fn act_on(
        &self,
        ids: Vec<i64>,
        discard_them: bool,
        original: bool,
    ) -> Result<Bulk, DlqError> {
        let mut result = Bulk::default();
        for id in ids {
            let outcome = if discard_them {
                self.discard(id).await
            } else {
                self.replay_on(id, original).await
            };
            match outcome {
                Ok(()) => result.done.push(id),
                Err(DlqError::NotDead { .. } | DlqError::NotFound(_) | DlqError::NoVersion(_)) => {
                    result.skipped.push(id);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(result)
    }

    /// Replays (or discards) every dead letter matching `filter` (its status is ignored: dead
    /// letters are what is acted on), a page at a time.
    pub async fn bulk(
        &self,
        filter: &RunFilter,
        discard_them: bool,
        original: bool,
    ) -> Result<Bulk, DlqError> {
        let mut page = RunFilter {
            status: Some(RunStatus::Dead),
            limit: 500,
            ..filter.clone()
        };
        let mut result = Bulk::default();
        loop {
            let runs = self.store.find_runs(&page).await?;
            let Some(last) = runs.last() else {
                return Ok(result);
            };
            page.before_id = Some(last.id);
            let done = self
                .act_on(runs.iter().map(|r| r.id).collect(), discard_them, original)
                .await?;
            result.done.extend(done.done);
            result.skipped.extend(done.skipped);
        }
    }
}

/// Why a run is where it is, in words an operator can act on (for the console and the admin
/// API); `None` for a run that has not failed.
pub fn cause_in_words(run: &RunRecord) -> Option<String> {
    let error = run.last_error.as_deref()?;
    let step = run
        .last_error_step
        .as_deref()
        .map(|s| format!("Step “{s}” failed"))
        .unwrap_or_else(|| "The run failed".to_string());
    let status = run
        .last_error_status
        .map(|s| format!(" (HTTP {s})"))
        .unwrap_or_default();
    let what_now = match (run.status, run.last_error_kind) {
        (RunStatus::Queued | RunStatus::Running, _) => {
            "It will be tried again on its retry schedule; nothing to do yet."
        }
        (_, Some(paybridge_model::FailureKind::Configuration)) => {
            "The credentials, permissions or account settings are wrong: fix the connection, then replay."
        }
        (_, Some(paybridge_model::FailureKind::Permanent)) => {
            "Repeating the same request cannot succeed: fix the data or the flow's mapping, then replay (steps that succeeded are not repeated)."
        }
        (_, Some(paybridge_model::FailureKind::OutcomeUnknown)) => {
            "The vendor may have acted on the last attempt: a replay looks the effect up before writing, so it is safe."
        }
        _ => "Its retries ran out: once the vendor answers again, replay it.",
    };
    Some(format!("{step}{status}: {error}. {what_now}"))
}

/// When a queued run tries again, and the most the later waits can be (full jitter: each wait
/// is random up to its ceiling), for the console's retry schedule.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RetrySchedule {
    /// The attempt the run is on, and the most it gets.
    pub attempt: u32,
    pub max_attempts: u32,
    /// When the next attempt may start (Unix ms); none once the run is finished.
    pub next_attempt_at: Option<i64>,
    /// The ceiling of each wait after that, in milliseconds.
    pub later_wait_ceilings_ms: Vec<u64>,
}

pub fn retry_schedule(run: &RunRecord, policy: &crate::retry::RetryPolicy) -> RetrySchedule {
    let pending = matches!(run.status, RunStatus::Queued | RunStatus::Running);
    // `attempt` counts the attempts begun; the next one is scheduled, and each that fails
    // after it (while the policy allows another) waits up to its ceiling.
    let later = (run.attempt + 1..policy.max_attempts)
        .map(|made| {
            u64::try_from(crate::retry::ceiling(policy, made).as_millis()).unwrap_or(u64::MAX)
        })
        .collect();
    RetrySchedule {
        attempt: run.attempt,
        max_attempts: policy.max_attempts,
        next_attempt_at: pending.then_some(run.next_attempt_at),
        later_wait_ceilings_ms: if pending { later } else { Vec::new() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::RetryPolicy;
    use std::time::Duration;

    fn run(status: RunStatus, attempt: u32) -> RunRecord {
        RunRecord {
            id: 1,
            inbox_id: 1,
            flow: "order-to-cash".into(),
            entity_key: "order:R-1".into(),
            status,
            attempt,
            next_attempt_at: 5_000,
            last_error: None,
            last_error_kind: None,
            last_error_status: None,
            last_error_step: None,
            last_error_request_id: None,
            created_at: 0,
            updated_at: 0,
            finished_at: None,
            flow_version: None,
            flow_version_pinned: false,
        }
    }

    #[test]
    fn the_retry_schedule_lists_the_waits_the_policy_still_allows() {
        let policy = RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_millis(1_500),
            ..RetryPolicy::default()
        };
        // One attempt failed; the second is due at 5 s. If it fails, the wait before the third
        // is at most 1 s (500 ms · 2), before the fourth 1.5 s (capped); after that, none.
        let schedule = retry_schedule(&run(RunStatus::Queued, 1), &policy);
        assert_eq!(schedule.next_attempt_at, Some(5_000));
        assert_eq!(schedule.later_wait_ceilings_ms, vec![1_000, 1_500]);
        // The ceilings are the retry policy's own.
        assert_eq!(
            crate::retry::ceiling(&policy, 2),
            Duration::from_millis(1_000)
        );
        assert!(
            retry_schedule(&run(RunStatus::Queued, 3), &policy)
                .later_wait_ceilings_ms
                .is_empty()
        );
        let dead = retry_schedule(&run(RunStatus::Dead, 4), &policy);
        assert_eq!(dead.next_attempt_at, None);
        assert!(dead.later_wait_ceilings_ms.is_empty());
    }
}
