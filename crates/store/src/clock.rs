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
    /// The date now in time zone `zone` (IANA, e.g. `Europe/Berlin`), or in UTC when the zone
    /// is unknown.
    pub fn today_in(&self, zone: &str) -> String {
        date_at(self.now_ms(), zone).unwrap_or_else(|| self.today())
    }

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

/// The date (`yyyy-mm-dd`) at Unix milliseconds `ms` in time zone `zone`.
pub fn date_at(ms: i64, zone: &str) -> Option<String> {
    let now = jiff::Timestamp::from_millisecond(ms).ok()?;
    let zone = jiff::tz::TimeZone::get(zone).ok()?;
    Some(now.to_zoned(zone).date().to_string())
}

#[cfg(test)]
mod zone_tests {
    use super::date_at;

    #[test]
    fn the_date_is_the_time_zones() {
        // 2025-11-26 00:30 UTC.
        let ms: i64 = "2025-11-26T00:30:00Z"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_millisecond();
        assert_eq!(date_at(ms, "UTC").as_deref(), Some("2025-11-26"));
        assert_eq!(
            date_at(ms, "America/Chicago").as_deref(),
            Some("2025-11-25")
        );
        assert_eq!(date_at(ms, "Asia/Kolkata").as_deref(), Some("2025-11-26"));
        assert_eq!(date_at(ms, "Mars/Olympus"), None);
    }
}
