//! Steps, each done exactly once: the store's record of a side effect, around the effect.
//!
//! A step is a side effect with a deterministic idempotency key. Its start is committed before
//! the call; its result after. A step that already succeeded — in this run, an earlier attempt
//! of it, or a run of a re-delivered event — returns its stored result without calling anyone.
//! A step whose previous attempt may have taken effect (interrupted, or failed with an unknown
//! outcome) is told so, and looks the effect up before doing it again.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use paybridge_model::FailureKind;
use serde::Serialize;
use serde::de::DeserializeOwned;

use paybridge_model::StepError;

use crate::clock::Clock;
use crate::runs::{RunStore as _, StepStart};
use crate::store::Store;

/// What a step knows about its own history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// 1 for the first attempt.
    pub number: u32,
    /// An earlier attempt may have taken effect: look it up before writing again.
    pub uncertain: bool,
}

/// Told of every step that fails (the connections' health keeps the last error of each).
pub trait StepObserver: Send + Sync {
    fn step_failed(&self, error: &StepError, now_ms: i64);
}

/// Nobody is told.
impl StepObserver for () {
    fn step_failed(&self, _: &StepError, _: i64) {}
}

/// Whether the worker running a run still holds its lease: its heartbeat says when the lease is
/// lost (a renewal refused, or none for a whole lease). Steps look before they begin, so a run
/// another worker may have taken over stops at the next step boundary rather than run beside
/// the new owner (steps without a look-up — a callback, an e-mail — would otherwise go twice).
#[derive(Debug, Default)]
pub struct Lease {
    lost: AtomicBool,
}

impl Lease {
    pub fn mark_lost(&self) {
        self.lost.store(true, Ordering::SeqCst);
    }

    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }
}

/// One run's steps: each effect done once per key, its result kept in the store.
#[derive(Clone, Copy)]
pub struct Steps<'a> {
    pub store: &'a Store,
    pub clock: &'a Clock,
    /// `None` for steps taken before any run exists (the order API's payment).
    pub run_id: Option<i64>,
    pub observer: &'a dyn StepObserver,
    /// The run's lease, when a worker holds one.
    pub lease: Option<&'a Lease>,
}

impl Steps<'_> {
    /// Runs `effect` once for `key`, or returns what it returned before. `input` is what the
    /// step is asked to do, kept with it for whoever reads a dead letter (it is scanned: a card
    /// number in it fails the step before any call); once kept, it is handed to `effect`.
    pub async fn step<T, F, Fut>(
        &self,
        name: &str,
        key: &str,
        input: serde_json::Value,
        effect: F,
    ) -> Result<T, StepError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(Attempt, serde_json::Value) -> Fut,
        Fut: Future<Output = Result<T, StepError>>,
    {
        let store = self.store;
        if self.lease.is_some_and(Lease::is_lost) {
            return Err(StepError::new(
                FailureKind::Transient,
                "engine",
                format!(
                    "this worker lost the run's lease (another may be running it): stopped before step {key}"
                ),
            ));
        }
        refuse_card_number(&input, name, key)?;
        let (number, uncertain) = match store
            .begin_step(self.run_id, key, name, Some(&input), self.clock.now_ms())
            .await?
        {
            StepStart::Begun { attempt, uncertain } => (attempt, uncertain),
            StepStart::Succeeded(output) => {
                tracing::debug!(step = name, key, "step done before; its result is reused");
                metrics::counter!("paybridge_steps_total", "step" => name.to_string(), "outcome" => "reused")
                    .increment(1);
                return serde_json::from_value(output.unwrap_or(serde_json::Value::Null)).map_err(
                    |e| {
                        StepError::permanent(
                            "store",
                            format!("stored result of step {key} is unreadable: {e}"),
                        )
                    },
                );
            }
        };
        self.run_begun(name, key, input, Attempt { number, uncertain }, effect)
            .await
    }

    /// Runs `effect` for step `key`, begun already (`attempt`) in another write (the order
    /// API's payment step is begun with the order's admission), and records what it came to.
    /// `input` was scanned for card numbers before it was stored.
    pub async fn run_begun<T, F, Fut>(
        &self,
        name: &str,
        key: &str,
        input: serde_json::Value,
        attempt: Attempt,
        effect: F,
    ) -> Result<T, StepError>
    where
        T: Serialize,
        F: FnOnce(Attempt, serde_json::Value) -> Fut,
        Fut: Future<Output = Result<T, StepError>>,
    {
        let store = self.store;
        let Attempt { number, uncertain } = attempt;
        tracing::debug!(step = name, key, attempt = number, uncertain, run_id = ?self.run_id, "step started");
        let started = std::time::Instant::now();
        let result = effect(attempt, input).await.map_err(|mut error| {
            error.step.get_or_insert_with(|| name.to_string());
            error
        });
        count_step(name, started, result.is_ok());
        match result {
            Ok(value) => {
                let output = serde_json::to_value(&value).map_err(|e| {
                    StepError::permanent("engine", format!("cannot store the result of {key}: {e}"))
                })?;
                if let Some(error) = card_number_in(&output, name, |at| {
                    format!("refused to store a card number from step {key} (at {at})")
                }) {
                    store
                        .fail_step(key, &(&error).into(), self.clock.now_ms())
                        .await?;
                    return Err(error);
                }
                // The run writes again before anything depends on it (the next step, its
                // outputs, its end), so the success need not be waited for.
                store
                    .succeed_step_in_run(key, &output, self.clock.now_ms())
                    .await?;
                Ok(value)
            }
            Err(error) => {
                tracing::warn!(step = name, key, attempt = number, kind = error.kind.as_str(), %error, "step failed");
                self.observer.step_failed(&error, self.clock.now_ms());
                let mut record = crate::runs::FailureRecord::from(&error);
                if uncertain {
                    // An earlier attempt may have taken effect and this one did not settle
                    // whether it did (its look-up failed too): the next attempt must still
                    // look before it writes.
                    record.kind = FailureKind::OutcomeUnknown;
                }
                store.fail_step(key, &record, self.clock.now_ms()).await?;
                Err(error)
            }
        }
    }

    /// Runs a step whose effect records the step itself, in the same write to the store (see
    /// `Action::records_its_own_step`): no begin, no success of its own. Its input is scanned
    /// for card numbers first, as every step's is.
    pub async fn own_step<F, Fut>(
        &self,
        name: &str,
        key: &str,
        input: serde_json::Value,
        effect: F,
    ) -> Result<serde_json::Value, StepError>
    where
        F: FnOnce(serde_json::Value) -> Fut,
        Fut: Future<Output = Result<serde_json::Value, StepError>>,
    {
        refuse_card_number(&input, name, key)?;
        let started = std::time::Instant::now();
        let result = effect(input).await;
        count_step(name, started, result.is_ok());
        if let Err(error) = &result {
            tracing::warn!(step = name, key, kind = error.kind.as_str(), %error, "step failed");
        }
        result
    }
}

/// Fails step `key` before anything is stored or sent when its `input` holds a card number: a
/// card number never reaches the store or a vendor.
fn refuse_card_number(input: &serde_json::Value, name: &str, key: &str) -> Result<(), StepError> {
    match card_number_in(input, name, |at| {
        format!("refused to run step {key}: its input holds a card number (at {at})")
    }) {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// A step's duration and outcome, in `/metrics`.
fn count_step(name: &str, started: std::time::Instant, succeeded: bool) {
    metrics::histogram!("paybridge_step_duration_seconds", "step" => name.to_string())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(
        "paybridge_steps_total",
        "step" => name.to_string(),
        "outcome" => if succeeded { "succeeded" } else { "failed" }
    )
    .increment(1);
}

/// The error for a card number found in what step `name` would send or keep, if there is one
/// (`message` is told where it is).
pub fn card_number_in(
    value: &serde_json::Value,
    name: &str,
    message: impl FnOnce(String) -> String,
) -> Option<StepError> {
    let pans = paybridge_model::pan::find_in_json(value);
    if pans.is_empty() {
        return None;
    }
    let mut error = StepError::permanent("engine", message(pans.join(", ")));
    error.step = Some(name.to_string());
    Some(error)
}
