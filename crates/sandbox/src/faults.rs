//! Fault injection: answer with an error before the effect, apply the effect and then fail
//! (the "unknown outcome" a client must resolve), apply it and answer late, answer late before
//! doing anything, or throttle with 429 and `Retry-After`.
//!
//! Rules are set through each simulator's control API (`POST /__sandbox/faults`) and match by
//! method and path prefix. A rule applies to the next `times` matching requests (1 unless it
//! has a `probability`, then without limit), each with its `probability`. The draws come from a
//! generator seeded through `POST /__sandbox/faults/seed`, so the same seed and the same
//! sequence of requests give the same faults.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt as _, SeedableRng};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultMode {
    /// Answer `status` without doing anything.
    ErrorBefore { status: u16 },
    /// Do the work, then answer `status` as if it failed.
    ErrorAfter { status: u16 },
    /// Do the work, then wait `millis` before answering (beyond a client's timeout).
    DelayAfter { millis: u64 },
    /// Wait `millis`, then do the work (a slow response).
    DelayBefore { millis: u64 },
    /// Answer 429 with `Retry-After: retry_after_secs` without doing anything.
    RateLimited { retry_after_secs: u64 },
    /// Answer 307 (Temporary Redirect: the same method and body, elsewhere) with `Location:
    /// location` without doing anything. A client of a vendor's API should report it, not follow
    /// it with its credentials.
    Redirect { location: String },
    /// Wait a time drawn from a distribution, then do the work: uniform between `min_millis`
    /// and `max_millis`, or with `mean_millis` an exponential tail above `min_millis` with that
    /// mean, capped at `max_millis` (most answers quick, a few slow, as real latency goes).
    Latency {
        min_millis: u64,
        max_millis: u64,
        #[serde(default)]
        mean_millis: Option<u64>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// HTTP method to match; any method when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// Path prefix to match, e.g. `/books/v3/invoices`.
    pub path: String,
    pub mode: FaultMode,
    /// How many matching requests to affect: 1 by default, unlimited with a `probability`.
    #[serde(default)]
    pub times: Option<u32>,
    /// The chance (0–1) that a matching request is affected; always when absent.
    #[serde(default)]
    pub probability: Option<f64>,
}

impl FaultRule {
    /// A rule for the next `times` matching requests.
    pub fn next(method: &str, path: &str, mode: FaultMode, times: u32) -> FaultRule {
        FaultRule {
            method: Some(method.into()),
            path: path.into(),
            mode,
            times: Some(times),
            probability: None,
        }
    }

    /// A rule for every matching request, with a chance.
    pub fn sometimes(method: &str, path: &str, mode: FaultMode, probability: f64) -> FaultRule {
        FaultRule {
            method: Some(method.into()),
            path: path.into(),
            mode,
            times: None,
            probability: Some(probability),
        }
    }
}

struct Active {
    rule: FaultRule,
    left: Option<u32>,
}

/// The rules in force for one simulator, and the seeded generator that draws for them.
pub struct Faults {
    rules: Mutex<Vec<Active>>,
    rng: Mutex<ChaCha8Rng>,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults")
            .field("rules", &self.rules().len())
            .finish()
    }
}

impl Default for Faults {
    fn default() -> Faults {
        Faults {
            rules: Mutex::new(Vec::new()),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(0)),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Faults {
    pub fn add(&self, rule: FaultRule) {
        let left = rule.times.or(if rule.probability.is_some() {
            None
        } else {
            Some(1)
        });
        lock(&self.rules).push(Active { rule, left });
    }

    pub fn clear(&self) {
        lock(&self.rules).clear();
    }

    /// Restarts the generator: the same seed gives the same draws.
    pub fn seed(&self, seed: u64) {
        *lock(&self.rng) = ChaCha8Rng::seed_from_u64(seed);
    }

    pub fn rules(&self) -> Vec<FaultRule> {
        lock(&self.rules).iter().map(|a| a.rule.clone()).collect()
    }

    /// A draw from the seeded generator: true with probability `p`.
    pub fn chance(&self, p: f64) -> bool {
        lock(&self.rng).random_bool(p.clamp(0.0, 1.0))
    }

    /// A draw from the seeded generator in `0..=max`.
    pub fn up_to(&self, max: u64) -> u64 {
        if max == 0 {
            0
        } else {
            lock(&self.rng).random_range(0..=max)
        }
    }

    /// A latency drawn from the seeded generator (see [`FaultMode::Latency`]).
    #[expect(
        clippy::float_arithmetic,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "a simulated delay, not money: the exponential draw needs a logarithm"
    )]
    pub fn latency(&self, min_millis: u64, max_millis: u64, mean_millis: Option<u64>) -> Duration {
        let max_millis = max_millis.max(min_millis);
        let millis = match mean_millis {
            None => min_millis + self.up_to(max_millis - min_millis),
            Some(mean) => {
                let tail_mean = mean.saturating_sub(min_millis) as f64;
                let uniform: f64 = lock(&self.rng).random();
                // Inverse of the exponential CDF; `1 - u` is in (0, 1], so the logarithm is finite.
                let tail = -tail_mean * (1.0 - uniform).ln();
                (min_millis as f64 + tail).min(max_millis as f64).round() as u64
            }
        };
        Duration::from_millis(millis)
    }

    /// The fault for this request, if a rule matches and its draw says so.
    pub fn take(&self, method: &str, path: &str) -> Option<FaultMode> {
        let mut rules = lock(&self.rules);
        for index in 0..rules.len() {
            let active = &rules[index];
            let matches = active.left != Some(0)
                && path.starts_with(&active.rule.path)
                && active
                    .rule
                    .method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method));
            if !matches {
                continue;
            }
            if let Some(p) = active.rule.probability
                && !self.chance(p)
            {
                continue;
            }
            let active = &mut rules[index];
            let mode = active.rule.mode.clone();
            if let Some(left) = active.left.as_mut() {
                *left -= 1;
                if *left == 0 {
                    rules.remove(index);
                }
            }
            return Some(mode);
        }
        None
    }
}

/// How a simulator words an error for a path (each vendor, and each Zoho product, has its own
/// body).
pub type ErrorBody = fn(&str, u16) -> Response;

/// Middleware applying the rules; control-API paths are never faulted.
pub async fn inject(
    State((faults, error_body)): State<(Arc<Faults>, ErrorBody)>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_string();
    if path.starts_with("/__sandbox") {
        return next.run(request).await;
    }
    let Some(mode) = faults.take(request.method().as_str(), &path) else {
        return next.run(request).await;
    };
    tracing::info!(path, ?mode, "injecting a fault");
    match mode {
        FaultMode::ErrorBefore { status } => error_body(&path, status),
        FaultMode::ErrorAfter { status } => {
            let _applied = next.run(request).await;
            error_body(&path, status)
        }
        FaultMode::DelayAfter { millis } => {
            let response = next.run(request).await;
            tokio::time::sleep(Duration::from_millis(millis)).await;
            response
        }
        FaultMode::DelayBefore { millis } => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            next.run(request).await
        }
        FaultMode::Latency {
            min_millis,
            max_millis,
            mean_millis,
        } => {
            tokio::time::sleep(faults.latency(min_millis, max_millis, mean_millis)).await;
            next.run(request).await
        }
        FaultMode::RateLimited { retry_after_secs } => {
            let mut response = error_body(&path, 429);
            if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        FaultMode::Redirect { location } => match HeaderValue::from_str(&location) {
            Ok(value) => {
                let mut response = Response::new(axum::body::Body::empty());
                *response.status_mut() = StatusCode::TEMPORARY_REDIRECT;
                response.headers_mut().insert(header::LOCATION, value);
                response
            }
            Err(_) => {
                tracing::warn!(
                    path,
                    location,
                    "a redirect fault's location is not a header value"
                );
                error_body(&path, 500)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_by_method_and_prefix_and_wear_out() {
        let faults = Faults::default();
        faults.add(FaultRule::next(
            "POST",
            "/books/v3/invoices",
            FaultMode::ErrorAfter { status: 500 },
            2,
        ));
        assert_eq!(faults.take("GET", "/books/v3/invoices"), None);
        assert_eq!(faults.take("POST", "/books/v3/contacts"), None);
        assert!(faults.take("post", "/books/v3/invoices").is_some());
        assert!(
            faults
                .take("POST", "/books/v3/invoices/1/status/sent")
                .is_some()
        );
        assert_eq!(faults.take("POST", "/books/v3/invoices"), None);
        assert!(faults.rules().is_empty());
    }

    #[test]
    fn probabilistic_rules_are_deterministic_under_a_seed() {
        let draws = |seed| {
            let faults = Faults::default();
            faults.seed(seed);
            faults.add(FaultRule::sometimes(
                "POST",
                "/pts",
                FaultMode::ErrorBefore { status: 502 },
                0.3,
            ));
            (0..200)
                .map(|_| faults.take("POST", "/pts/v2/payments").is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(draws(7), draws(7));
        assert_ne!(draws(7), draws(8));
        let hits = draws(7).iter().filter(|hit| **hit).count();
        assert!((30..90).contains(&hits), "about 30% of 200: {hits}");
    }

    #[test]
    fn latencies_stay_in_bounds_and_follow_their_distribution() {
        let faults = Faults::default();
        faults.seed(7);
        let uniform: Vec<u128> = (0..2000)
            .map(|_| faults.latency(10, 50, None).as_millis())
            .collect();
        assert!(uniform.iter().all(|&ms| (10..=50).contains(&ms)));
        assert!(uniform.contains(&10) && uniform.contains(&50));
        let tail: Vec<u128> = (0..4000)
            .map(|_| faults.latency(5, 2000, Some(25)).as_millis())
            .collect();
        assert!(tail.iter().all(|&ms| (5..=2000).contains(&ms)));
        let mean = tail.iter().sum::<u128>() / 4000;
        assert!((22..=28).contains(&mean), "mean {mean}");
        let median = {
            let mut sorted = tail.clone();
            sorted.sort_unstable();
            sorted[sorted.len() / 2]
        };
        assert!(
            median < 25,
            "a long tail puts the median below the mean: {median}"
        );
        faults.seed(7);
        let again: Vec<u128> = (0..2000)
            .map(|_| faults.latency(10, 50, None).as_millis())
            .collect();
        assert_eq!(uniform, again);
    }
}
