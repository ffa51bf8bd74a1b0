//! Zoho's rate limits (reference zoho.md §2.3, §4.4, §5): Books and Inventory share an
//! organization's 100 requests a minute and its plan's daily cap; CRM spends credits from a
//! 24-hour allowance and caps simultaneous calls; Desk spends credits from a daily allowance.
//! Windows slide, on the simulator's clock (tokio's, so paused-clock tests control it).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ZohoLimits {
    /// Enforce the limits below (off: serve as fast as possible, for benchmarks and demos).
    pub enabled: bool,
    /// Books + Inventory requests per organization per minute (Zoho: 100).
    pub books_per_minute: u64,
    /// Books + Inventory requests per organization per day (the plan's cap: 1,000 Free to
    /// 10,000 Premium).
    pub books_per_day: u64,
    /// The `code` of Books' 429 body (undocumented: any non-zero code).
    pub books_throttle_code: i64,
    /// CRM credits per organization per 24 hours (Enterprise with 10 users: 60,000).
    pub crm_credits_per_day: u64,
    /// Simultaneous CRM calls per organization (Enterprise: 20).
    pub crm_concurrency: u32,
    /// The `code` of CRM's 429 body: `RATE_LIMIT_EXCEEDED` (v8) or `TOO_MANY_REQUESTS` (older).
    pub crm_throttle_code: String,
    /// Desk credits per organization per day (Professional with 5 agents: 77,500).
    pub desk_credits_per_day: u64,
    /// Simultaneous Desk calls per organization (Professional: 15).
    pub desk_concurrency: u32,
}

impl Default for ZohoLimits {
    fn default() -> ZohoLimits {
        ZohoLimits {
            enabled: true,
            books_per_minute: 100,
            books_per_day: 10_000,
            books_throttle_code: 44,
            crm_credits_per_day: 60_000,
            crm_concurrency: 20,
            crm_throttle_code: "RATE_LIMIT_EXCEEDED".into(),
            desk_credits_per_day: 77_500,
            desk_concurrency: 15,
        }
    }
}

impl ZohoLimits {
    /// No limits at all.
    pub fn off() -> ZohoLimits {
        ZohoLimits {
            enabled: false,
            ..ZohoLimits::default()
        }
    }
}

/// Which allowance a request spends from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Meter {
    Books,
    Crm,
    Desk,
}

/// A refusal: which allowance, its limit, and when there is room again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Throttle {
    pub limit: u64,
    pub reset: Duration,
}

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// The spending of every organization.
#[derive(Debug, Default)]
pub(super) struct Spending {
    /// Per allowance and window: the grants still inside it, oldest first, and their sum.
    grants: HashMap<(Meter, String), Vec<Window>>,
    in_flight: HashMap<(Meter, String), u32>,
    /// Requests refused with 429, by allowance.
    pub throttled: u64,
}

/// One sliding window's grants, kept with their running sum (constant time per request).
#[derive(Debug, Default)]
struct Window {
    grants: VecDeque<(Instant, u64)>,
    used: u64,
}

impl Window {
    fn expire(&mut self, now: Instant, length: Duration) {
        while let Some((at, cost)) = self.grants.front().copied() {
            if now.duration_since(at) < length {
                break;
            }
            self.grants.pop_front();
            self.used -= cost;
        }
    }
}

/// An organization's daily allowance: its limit, what is left, seconds until room comes back.
pub type Standing = (u64, u64, u64);

impl Spending {
    fn windows(limits: &ZohoLimits, meter: Meter) -> Vec<(u64, Duration)> {
        match meter {
            Meter::Books => vec![
                (limits.books_per_minute, MINUTE),
                (limits.books_per_day, DAY),
            ],
            Meter::Crm => vec![(limits.crm_credits_per_day, DAY)],
            Meter::Desk => vec![(limits.desk_credits_per_day, DAY)],
        }
    }

    /// Spends `cost` from the organization's allowance, or says why not.
    pub fn spend(
        &mut self,
        limits: &ZohoLimits,
        meter: Meter,
        organization: &str,
        cost: u64,
    ) -> Result<(), Throttle> {
        if !limits.enabled {
            return Ok(());
        }
        let now = Instant::now();
        let lengths = Spending::windows(limits, meter);
        let windows = self
            .grants
            .entry((meter, organization.to_string()))
            .or_insert_with(|| lengths.iter().map(|_| Window::default()).collect());
        for ((limit, length), window) in lengths.iter().zip(windows.iter_mut()) {
            window.expire(now, *length);
            if window.used + cost > *limit {
                let reset = window
                    .grants
                    .front()
                    .map_or(*length, |(at, _)| *length - now.duration_since(*at));
                self.throttled += 1;
                return Err(Throttle {
                    limit: *limit,
                    reset,
                });
            }
        }
        for window in windows.iter_mut() {
            window.grants.push_back((now, cost));
            window.used += cost;
        }
        Ok(())
    }

    /// Where the organization stands in its longest window (the day): its limit, what is left
    /// and the seconds until the oldest call in it leaves — the `X-Rate-Limit-*` headers.
    pub fn standing(
        &self,
        limits: &ZohoLimits,
        meter: Meter,
        organization: &str,
    ) -> Option<Standing> {
        if !limits.enabled {
            return None;
        }
        let (limit, length) = *Spending::windows(limits, meter).last()?;
        let window = self
            .grants
            .get(&(meter, organization.to_string()))
            .and_then(|windows| windows.last());
        let used = window.map_or(0, |w| w.used);
        let reset = window
            .and_then(|w| w.grants.front())
            .map_or(length, |(at, _)| length.saturating_sub(at.elapsed()));
        Some((limit, limit.saturating_sub(used), reset.as_secs()))
    }

    /// Takes one of the organization's concurrent-call slots, or refuses.
    pub fn enter(
        &mut self,
        limits: &ZohoLimits,
        meter: Meter,
        organization: &str,
    ) -> Result<(), Throttle> {
        if !limits.enabled {
            return Ok(());
        }
        let limit = match meter {
            Meter::Books => return Ok(()),
            Meter::Crm => limits.crm_concurrency,
            Meter::Desk => limits.desk_concurrency,
        };
        let slots = self
            .in_flight
            .entry((meter, organization.to_string()))
            .or_default();
        if *slots >= limit {
            self.throttled += 1;
            return Err(Throttle {
                limit: u64::from(limit),
                reset: Duration::from_secs(1),
            });
        }
        *slots += 1;
        Ok(())
    }

    /// Gives a concurrent-call slot back.
    pub fn leave(&mut self, meter: Meter, organization: &str) {
        if let Some(slots) = self.in_flight.get_mut(&(meter, organization.to_string())) {
            *slots = slots.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_minute_window_slides() {
        let limits = ZohoLimits {
            books_per_minute: 2,
            ..ZohoLimits::default()
        };
        let mut spending = Spending::default();
        spending.spend(&limits, Meter::Books, "1", 1).unwrap();
        tokio::time::advance(Duration::from_secs(20)).await;
        spending.spend(&limits, Meter::Books, "1", 1).unwrap();
        let refused = spending.spend(&limits, Meter::Books, "1", 1).unwrap_err();
        assert_eq!(refused.reset, Duration::from_secs(40));
        spending.spend(&limits, Meter::Books, "2", 1).unwrap();
        tokio::time::advance(Duration::from_secs(40)).await;
        spending.spend(&limits, Meter::Books, "1", 1).unwrap();
        assert!(spending.spend(&limits, Meter::Books, "1", 1).is_err());
        assert!(
            spending
                .spend(&ZohoLimits::off(), Meter::Books, "1", 1)
                .is_ok()
        );
        assert_eq!(spending.throttled, 2);
    }

    #[test]
    fn concurrent_calls_are_capped() {
        let limits = ZohoLimits {
            crm_concurrency: 1,
            ..ZohoLimits::default()
        };
        let mut spending = Spending::default();
        spending.enter(&limits, Meter::Crm, "1").unwrap();
        assert!(spending.enter(&limits, Meter::Crm, "1").is_err());
        spending.leave(Meter::Crm, "1");
        spending.enter(&limits, Meter::Crm, "1").unwrap();
        // Desk counts apart.
        spending.enter(&limits, Meter::Desk, "1").unwrap();
    }
}
