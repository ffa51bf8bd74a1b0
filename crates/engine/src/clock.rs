//! The engine's notion of "now", in Unix milliseconds, readable by tests.
//!
//! It is anchored to the wall clock once and then advanced by tokio's clock, so that stored
//! times (leases, retry schedules) move with `tokio::time::pause`/`advance` in tests and with
//! real time in production.

use std::time::{SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    anchor_ms: i64,
    anchor: Instant,
}

impl Clock {
    pub fn new() -> Clock {
        let anchor_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Clock {
            anchor_ms,
            anchor: Instant::now(),
        }
    }

    /// Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        let elapsed = i64::try_from(self.anchor.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.anchor_ms.saturating_add(elapsed)
    }

    /// The tokio instant at which the clock reads `at_ms` (now, if that is in the past).
    pub fn instant_at(&self, at_ms: i64) -> Instant {
        let wait = at_ms.saturating_sub(self.now_ms()).max(0);
        Instant::now() + std::time::Duration::from_millis(u64::try_from(wait).unwrap_or(0))
    }

    /// Today's date (UTC) as `yyyy-mm-dd`.
    pub fn today(&self) -> String {
        let now = time::OffsetDateTime::from_unix_timestamp(self.now_ms() / 1000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        now.format(time::macros::format_description!("[year]-[month]-[day]"))
            .unwrap_or_default()
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::new()
    }
}
