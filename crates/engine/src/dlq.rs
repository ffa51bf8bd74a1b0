//! Runs and dead letters as operators handle them: list, show (the step timeline with each
//! step's input, output and error), replay from the failed step, discard, and both in bulk by
//! filter.
//!
//! A dead letter is a run whose status is `dead`. Replaying it queues it again: the steps that
//! succeeded are reused (never repeated), so it resumes at the step that failed. Discarding
//! sets it aside as `discarded` (kept as history; it can still be replayed later). These work
//! on the store alone, so the CLI and the admin API act the same way, and the workers of any
//! node on the store pick the replayed runs up.

use serde::Serialize;

use crate::clock::Clock;
use crate::store::{RunFilter, RunRecord, RunStatus, StepRecord, Store, StoreError};

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
#[derive(Debug, Clone, Serialize)]
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

pub async fn show(store: &Store, id: i64) -> Result<RunDetail, DlqError> {
    let run = store.run(id).await?.ok_or(DlqError::NotFound(id))?;
    let event = store.inbox_event(run.inbox_id).await?;
    let steps = store.steps_of_run(id).await?;
    Ok(RunDetail {
        run,
        event_type: event.event_type,
        event_source: event.source,
        received_at: event.received_at,
        event: event.payload,
        steps,
    })
}

pub async fn list(store: &Store, filter: &RunFilter) -> Result<Vec<RunRecord>, DlqError> {
    Ok(store.find_runs(filter).await?)
}

/// Queues a dead (or discarded) run again; it resumes at the step that failed.
pub async fn replay(store: &Store, clock: &Clock, id: i64) -> Result<(), DlqError> {
    replay_on(store, clock, id, false).await
}

/// Replays a dead letter on the flow version it ran (not the one deployed now): for a failure
/// that a new version would handle differently, or before a fix is deployed.
pub async fn replay_original(store: &Store, clock: &Clock, id: i64) -> Result<(), DlqError> {
    replay_on(store, clock, id, true).await
}

async fn replay_on(store: &Store, clock: &Clock, id: i64, original: bool) -> Result<(), DlqError> {
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
pub async fn discard(store: &Store, clock: &Clock, id: i64) -> Result<(), DlqError> {
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

/// What a bulk action did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Bulk {
    pub done: Vec<i64>,
    /// Changed by someone else meanwhile.
    pub skipped: Vec<i64>,
}

/// Replays (or discards) every dead letter matching `filter` (its status is ignored: dead
/// letters are what is acted on), a page at a time.
pub async fn bulk(
    store: &Store,
    clock: &Clock,
    filter: &RunFilter,
    discard_them: bool,
) -> Result<Bulk, DlqError> {
    let mut page = RunFilter {
        status: Some(RunStatus::Dead),
        limit: 500,
        ..filter.clone()
    };
    let mut result = Bulk::default();
    loop {
        let runs = store.find_runs(&page).await?;
        let Some(last) = runs.last() else {
            return Ok(result);
        };
        page.before_id = Some(last.id);
        for run in runs {
            let outcome = if discard_them {
                discard(store, clock, run.id).await
            } else {
                replay(store, clock, run.id).await
            };
            match outcome {
                Ok(()) => result.done.push(run.id),
                Err(DlqError::NotDead { .. }) => result.skipped.push(run.id),
                Err(e) => return Err(e),
            }
        }
    }
}
