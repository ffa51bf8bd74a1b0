//! Schedules: periodic work (pruning history, keeping the Zoho token fresh, and any flow) fired
//! by cron expressions, each firing run by exactly one node.
//!
//! A firing is an inbox event whose dedupe key is the schedule and the minute it fires for:
//! every node's scheduler offers it, the inbox keeps one, and its run is a run like any other —
//! listed, retried, dead-lettered, replayable. Firings of one schedule share an entity, so they
//! never overlap.
//!
//! Cron expressions have five fields — minute, hour, day of month, month, day of week (0 or 7
//! is Sunday) — each `*`, a number, a range `a-b`, a list `a,b`, or a step `*/n` / `a-b/n`;
//! times are UTC. As in cron, when both day fields are restricted a day matching either fires.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A parsed cron expression.
#[derive(Clone, PartialEq, Eq)]
pub struct Cron {
    text: String,
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    days_restricted: bool,
    weekdays_restricted: bool,
}

impl fmt::Debug for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cron({:?})", self.text)
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cron expression {expression:?}: {problem}")]
pub struct CronError {
    pub expression: String,
    pub problem: String,
}

/// The set of values `field` allows in `min..=max`, as bits.
fn field(text: &str, min: u32, max: u32, name: &str) -> Result<(u64, bool), String> {
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step
                    .parse()
                    .map_err(|_| format!("{name}: bad step in {part:?}"))?;
                if step == 0 {
                    return Err(format!("{name}: a step of 0 in {part:?}"));
                }
                (range, step)
            }
            None => (part, 1),
        };
        let (low, high) = if range == "*" {
            (min, max)
        } else if let Some((low, high)) = range.split_once('-') {
            let low = low
                .parse()
                .map_err(|_| format!("{name}: bad range {range:?}"))?;
            let high = high
                .parse()
                .map_err(|_| format!("{name}: bad range {range:?}"))?;
            (low, high)
        } else {
            let value = range
                .parse()
                .map_err(|_| format!("{name}: {range:?} is not a number"))?;
            // `5/15` means from 5 to the end in steps of 15.
            (value, if step > 1 { max } else { value })
        };
        if low < min || high > max || low > high {
            return Err(format!("{name}: {range:?} is outside {min}-{max}"));
        }
        let mut value = low;
        while value <= high {
            bits |= 1 << value;
            value += step;
        }
    }
    Ok((bits, text != "*"))
}

impl FromStr for Cron {
    type Err = CronError;

    fn from_str(text: &str) -> Result<Cron, CronError> {
        let error = |problem: String| CronError {
            expression: text.to_string(),
            problem,
        };
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = fields[..] else {
            return Err(error(format!(
                "five fields (minute hour day month weekday), not {}",
                fields.len()
            )));
        };
        let (minutes, _) = field(minute, 0, 59, "minute").map_err(error)?;
        let (hours, _) = field(hour, 0, 23, "hour").map_err(error)?;
        let (days, days_restricted) = field(day, 1, 31, "day of month").map_err(error)?;
        let (months, _) = field(month, 1, 12, "month").map_err(error)?;
        let (weekdays, weekdays_restricted) = field(weekday, 0, 7, "day of week").map_err(error)?;
        // 7 is Sunday too.
        let weekdays = (weekdays | (weekdays >> 7)) & 0x7f;
        Ok(Cron {
            text: fields.join(" "),
            minutes,
            hours: u32::try_from(hours).expect("hours fit 24 bits"),
            days: u32::try_from(days).expect("days fit 32 bits"),
            months: u16::try_from(months).expect("months fit 13 bits"),
            weekdays: u8::try_from(weekdays).expect("weekdays fit 7 bits"),
            days_restricted,
            weekdays_restricted,
        })
    }
}

impl Cron {
    fn day_matches(&self, at: OffsetDateTime) -> bool {
        let day = self.days & (1 << at.day()) != 0;
        let weekday = self.weekdays & (1 << at.weekday().number_days_from_sunday()) != 0;
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => day || weekday,
            _ => day && weekday,
        }
    }

    fn matches(&self, at: OffsetDateTime) -> bool {
        self.minutes & (1 << at.minute()) != 0
            && self.hours & (1 << at.hour()) != 0
            && self.months & (1 << u8::from(at.month())) != 0
            && self.day_matches(at)
    }

    /// The first firing strictly after `after_ms` (Unix ms), within the next five years.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        let start = after_ms.div_euclid(60_000) * 60_000 + 60_000;
        let mut at =
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(start) * 1_000_000).ok()?;
        let limit = at + time::Duration::days(5 * 366);
        while at < limit {
            if self.months & (1 << u8::from(at.month())) == 0 || !self.day_matches(at) {
                // Skip to the next day's midnight.
                at = at.replace_time(time::Time::MIDNIGHT) + time::Duration::days(1);
                continue;
            }
            if self.hours & (1 << at.hour()) == 0 {
                at = at.replace_minute(0).ok()? + time::Duration::hours(1);
                continue;
            }
            if self.matches(at) {
                return i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok();
            }
            at += time::Duration::minutes(1);
        }
        None
    }
}

/// What a schedule does when it fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Unique; names the firings (`schedule:<name>:<minute>`).
    pub name: String,
    /// When, as a cron expression (UTC).
    pub cron: String,
    /// The flow each firing runs: `prune`, `zoho-token-refresh`, `payment-watchdog`.
    pub flow: String,
}

/// The schedules a node keeps when none are configured.
pub fn default_schedules() -> Vec<Schedule> {
    vec![
        Schedule {
            name: "prune".into(),
            cron: "7 * * * *".into(),
            flow: "prune".into(),
        },
        Schedule {
            name: "zoho-token-refresh".into(),
            cron: "*/10 * * * *".into(),
            flow: "zoho-token-refresh".into(),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> i64 {
        let at =
            OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap();
        i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap()
    }

    fn next(cron: &str, after: &str) -> i64 {
        cron.parse::<Cron>().unwrap().next_after(ms(after)).unwrap()
    }

    #[test]
    fn firings_follow_the_fields() {
        assert_eq!(
            next("* * * * *", "2026-11-26T10:15:30Z"),
            ms("2026-11-26T10:16:00Z")
        );
        assert_eq!(
            next("7 * * * *", "2026-11-26T10:07:00Z"),
            ms("2026-11-26T11:07:00Z")
        );
        assert_eq!(
            next("*/10 * * * *", "2026-11-26T10:41:00Z"),
            ms("2026-11-26T10:50:00Z")
        );
        assert_eq!(
            next("30 2 * * *", "2026-11-26T10:00:00Z"),
            ms("2026-11-27T02:30:00Z")
        );
        // Mondays and Fridays at 09:00; 2026-11-26 is a Thursday.
        assert_eq!(
            next("0 9 * * 1,5", "2026-11-26T10:00:00Z"),
            ms("2026-11-27T09:00:00Z")
        );
        // 7 is Sunday as well as 0.
        assert_eq!(
            next("0 0 * * 7", "2026-11-26T10:00:00Z"),
            ms("2026-11-29T00:00:00Z")
        );
        // The 1st of each quarter.
        assert_eq!(
            next("0 0 1 1-12/3 *", "2026-11-26T10:00:00Z"),
            ms("2027-01-01T00:00:00Z")
        );
        // Day of month or day of week, when both are restricted: the 13th or a Friday.
        assert_eq!(
            next("0 0 13 * 5", "2026-11-26T10:00:00Z"),
            ms("2026-11-27T00:00:00Z")
        );
        // February 30th never comes.
        assert_eq!("0 0 30 2 *".parse::<Cron>().unwrap().next_after(0), None);
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        for (text, problem) in [
            ("* * * *", "five fields"),
            ("60 * * * *", "minute"),
            ("* 24 * * *", "hour"),
            ("*/0 * * * *", "step of 0"),
            ("* * 0 * *", "day of month"),
            ("* * * 13 *", "month"),
            ("a * * * *", "not a number"),
        ] {
            let error = text.parse::<Cron>().unwrap_err().to_string();
            assert!(error.contains(problem), "{text}: {error}");
        }
    }
}
