//! The engine's settings.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::retry::RetryPolicy;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSettings {
    /// Runs executed at once by this process.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Workers besides those that take only payment work — lost payments' look-ups and
    /// Cybersource webhooks ([`crate::services::Service::PAYMENT_LANE`]) — so that it never
    /// waits behind runs held up by a vendor's budget. 0 turns the lane off.
    #[serde(default = "default_payment_workers")]
    pub payment_workers: usize,
    /// How long a worker holds a run before another may take it over; renewed while it works.
    #[serde(
        default = "default_lease_ms",
        rename = "lease_ms",
        with = "crate::retry::millis"
    )]
    pub lease: Duration,
    #[serde(default)]
    pub retry: RetryPolicy,
    /// Accept raw test card numbers on the order API (sandboxes and the demo only; production
    /// takes Cybersource tokens so that no card number ever reaches paybridge).
    #[serde(default)]
    pub test_mode: bool,
    /// How long to wait before looking up a payment whose answer never came (Cybersource
    /// prescribes 60 s, reference §4.3).
    #[serde(
        default = "default_resolution_delay",
        rename = "payment_resolution_delay_ms",
        with = "crate::retry::millis"
    )]
    pub payment_resolution_delay: Duration,
    /// How much run history to keep.
    #[serde(default)]
    pub retention: Retention,
    /// A payment still unanswered this long after it was started is one whose request died
    /// (a crash, a restart): the watchdog then looks it up in Cybersource instead of waiting.
    #[serde(
        default = "default_payment_stale",
        rename = "payment_stale_ms",
        with = "crate::retry::millis"
    )]
    pub payment_stale: Duration,
    /// How often one node looks for such payments.
    #[serde(
        default = "default_watchdog_every",
        rename = "watchdog_every_ms",
        with = "crate::retry::millis"
    )]
    pub watchdog_every: Duration,
    /// Periodic work (see [`crate::schedule`]); pruning hourly and keeping the Zoho token fresh
    /// every ten minutes unless configured otherwise.
    #[serde(default = "crate::schedule::default_schedules")]
    pub schedules: Vec<crate::schedule::Schedule>,
    /// The most one order may total (`[orders] max_amount`, set from that section).
    #[serde(skip)]
    pub order_limits: paybridge_commerce::OrderLimits,
    /// An order on hold this long is told to a person again (`[orders] hold_alert_minutes`).
    #[serde(skip, default = "default_hold_alert_after")]
    pub hold_alert_after: Duration,
}

/// A day: Decision Manager reviews take hours, not days.
pub fn default_hold_alert_after() -> Duration {
    Duration::from_secs(24 * 3600)
}

fn default_payment_stale() -> Duration {
    Duration::from_secs(120)
}

fn default_watchdog_every() -> Duration {
    Duration::from_secs(30)
}

/// Run history kept: finished runs (succeeded, discarded) for `keep_days` and at most the
/// newest `keep_runs` of them; their steps and events go with them. Dead letters stay until
/// replayed or discarded, orders stay. Pruned when the `prune` schedule fires (hourly by
/// default), after which the SQLite file gives the freed space back.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    #[serde(default = "default_keep_days")]
    pub keep_days: u32,
    #[serde(default = "default_keep_runs")]
    pub keep_runs: u64,
    /// How long the dedupe keys of pruned events are kept, so that a delivery seen before (a
    /// replay, a vendor's late retry) is still refused as one.
    #[serde(default = "default_keep_seen_days")]
    pub keep_seen_days: u32,
}

fn default_keep_seen_days() -> u32 {
    400
}

fn default_keep_days() -> u32 {
    30
}

fn default_keep_runs() -> u64 {
    1_000_000
}

impl Retention {
    /// What to let go of at `now_ms`.
    pub fn cutoffs(&self, now_ms: i64) -> paybridge_store::PruneCutoffs {
        paybridge_store::PruneCutoffs {
            now_ms,
            finished_before_ms: now_ms - i64::from(self.keep_days) * 86_400_000,
            keep_runs: self.keep_runs,
            seen_before_ms: now_ms
                - i64::from(self.keep_days.max(self.keep_seen_days)) * 86_400_000,
        }
    }
}

impl Default for Retention {
    fn default() -> Retention {
        Retention {
            keep_days: default_keep_days(),
            keep_runs: default_keep_runs(),
            keep_seen_days: default_keep_seen_days(),
        }
    }
}

fn default_resolution_delay() -> Duration {
    Duration::from_secs(60)
}

fn default_workers() -> usize {
    16
}

fn default_payment_workers() -> usize {
    2
}

fn default_lease_ms() -> Duration {
    Duration::from_secs(60)
}

impl Default for EngineSettings {
    fn default() -> EngineSettings {
        EngineSettings {
            workers: default_workers(),
            payment_workers: default_payment_workers(),
            lease: default_lease_ms(),
            retry: RetryPolicy::default(),
            test_mode: false,
            payment_resolution_delay: default_resolution_delay(),
            retention: Retention::default(),
            payment_stale: default_payment_stale(),
            watchdog_every: default_watchdog_every(),
            schedules: crate::schedule::default_schedules(),
            order_limits: paybridge_commerce::OrderLimits::default(),
            hold_alert_after: default_hold_alert_after(),
        }
    }
}
