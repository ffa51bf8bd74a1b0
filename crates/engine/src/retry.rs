//! When to try a failed run again: exponential backoff with full jitter, never sooner than the
//! vendor's `Retry-After`, and not at all after the policy's last attempt.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The backoff ceiling of the first retry; it doubles with each attempt.
    #[serde(with = "millis")]
    pub base_delay: Duration,
    /// No single wait is longer than this (unless the vendor asks for longer).
    #[serde(with = "millis")]
    pub max_delay: Duration,
    /// A run told to slow down (a 429, a spent Zoho budget) waits as told without spending an
    /// attempt — up to this long in all; past it, it is dead-lettered (and alerted). A day by
    /// default: Zoho's daily budgets come back within one.
    #[serde(default = "default_throttle_ceiling", with = "millis")]
    pub throttle_ceiling: Duration,
}

fn default_throttle_ceiling() -> Duration {
    Duration::from_secs(24 * 3600)
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(300),
            throttle_ceiling: default_throttle_ceiling(),
        }
    }
}

/// The wait of a run told to slow down, which has waited `throttled` in all so far: what the
/// vendor asked (`retry_after`), or without it a wait that doubles with the time waited (one
/// second at first, at most `max_delay`); `None` once the total would pass the ceiling.
pub fn throttled_wait(
    policy: &RetryPolicy,
    retry_after: Option<Duration>,
    throttled: Duration,
) -> Option<Duration> {
    let wait =
        retry_after.unwrap_or_else(|| throttled.clamp(Duration::from_secs(1), policy.max_delay));
    (throttled.saturating_add(wait) <= policy.throttle_ceiling).then_some(wait)
}

/// The wait before the next attempt, after `attempts_made` attempts have failed; `None` when
/// the policy is exhausted.
///
/// "Full jitter": a uniform draw between zero and the exponential ceiling
/// `min(max_delay, base_delay · 2^(attempts_made − 1))`, taken from `sample` (any `u64`, the
/// caller's random number), and never less than `retry_after` when the vendor sent one.
/// The most the wait after `attempts_made` failed attempts can be (before `Retry-After`):
/// `min(max_delay, base_delay · 2^(attempts_made − 1))`.
pub fn ceiling(policy: &RetryPolicy, attempts_made: u32) -> Duration {
    let exponent = attempts_made.saturating_sub(1).min(32);
    let millis = policy
        .base_delay
        .as_millis()
        .saturating_mul(1u128 << exponent)
        .min(policy.max_delay.as_millis());
    Duration::from_millis(u64::try_from(millis).unwrap_or(u64::MAX))
}

pub fn next_attempt(
    policy: &RetryPolicy,
    attempts_made: u32,
    retry_after: Option<Duration>,
    sample: u64,
) -> Option<Duration> {
    if attempts_made == 0 || attempts_made >= policy.max_attempts {
        return None;
    }
    let ceiling = ceiling(policy, attempts_made).as_millis();
    let jittered = u128::from(sample) % (ceiling + 1);
    let wait = Duration::from_millis(u64::try_from(jittered).unwrap_or(u64::MAX));
    Some(retry_after.map_or(wait, |asked| wait.max(asked)))
}

pub(crate) mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
            throttle_ceiling: Duration::from_secs(60),
        }
    }

    #[test]
    fn a_throttled_run_waits_as_told_until_the_ceiling() {
        let s = Duration::from_secs;
        assert_eq!(throttled_wait(&policy(), Some(s(30)), s(0)), Some(s(30)));
        assert_eq!(throttled_wait(&policy(), Some(s(30)), s(30)), Some(s(30)));
        assert_eq!(throttled_wait(&policy(), Some(s(30)), s(31)), None);
        // Without Retry-After: one second, then as long as waited so far, capped.
        assert_eq!(throttled_wait(&policy(), None, s(0)), Some(s(1)));
        assert_eq!(throttled_wait(&policy(), None, s(4)), Some(s(4)));
        assert_eq!(throttled_wait(&policy(), None, s(40)), Some(s(10)));
        assert_eq!(throttled_wait(&policy(), None, s(55)), None);
    }

    #[test]
    fn ceiling_doubles_then_caps() {
        let top = |attempt| next_attempt(&policy(), attempt, None, u64::MAX - 1);
        // With the largest sample the wait sits at (or just under) the ceiling.
        let ceilings: Vec<u64> = (1..5)
            .map(|a| u64::try_from(top(a).unwrap().as_millis()).unwrap())
            .collect();
        for (got, ceiling) in ceilings.iter().zip([1000u64, 2000, 4000, 8000]) {
            assert!(*got <= ceiling, "{got} <= {ceiling}");
        }
        let capped = RetryPolicy {
            max_attempts: 20,
            ..policy()
        };
        for attempt in 1..20 {
            assert!(
                next_attempt(&capped, attempt, None, u64::MAX).unwrap() <= Duration::from_secs(10)
            );
        }
    }

    #[test]
    fn jitter_spans_zero_to_the_ceiling() {
        assert_eq!(next_attempt(&policy(), 3, None, 0), Some(Duration::ZERO));
        assert_eq!(
            next_attempt(&policy(), 3, None, 4000),
            Some(Duration::from_millis(4000))
        );
        assert_eq!(next_attempt(&policy(), 3, None, 4001), Some(Duration::ZERO));
        assert_eq!(
            next_attempt(&policy(), 3, None, 1234),
            Some(Duration::from_millis(1234))
        );
    }

    #[test]
    fn retry_after_is_a_floor() {
        let asked = Duration::from_secs(30);
        assert_eq!(next_attempt(&policy(), 1, Some(asked), 0), Some(asked));
        assert_eq!(
            next_attempt(&policy(), 1, Some(Duration::from_millis(10)), 500),
            Some(Duration::from_millis(500))
        );
    }

    #[test]
    fn gives_up_after_the_last_attempt() {
        assert!(next_attempt(&policy(), 4, None, 7).is_some());
        assert_eq!(next_attempt(&policy(), 5, None, 7), None);
        assert_eq!(next_attempt(&policy(), 0, None, 7), None);
        let once = RetryPolicy {
            max_attempts: 1,
            ..policy()
        };
        assert_eq!(next_attempt(&once, 1, None, 7), None);
    }

    #[test]
    fn huge_attempt_counts_do_not_overflow() {
        let many = RetryPolicy {
            max_attempts: u32::MAX,
            ..policy()
        };
        assert_eq!(
            next_attempt(&many, 200, None, u64::MAX),
            Some(Duration::from_millis(u64::MAX % 10_001))
        );
    }
}
