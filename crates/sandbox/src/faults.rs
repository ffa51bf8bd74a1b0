//! Fault injection: answer with an error before the effect, apply the effect and then fail
//! (the "unknown outcome" a client must resolve), or apply it and answer late.
//!
//! Rules are set through each simulator's control API (`POST /__sandbox/faults`) and match by
//! method and path prefix; each rule affects the next `times` matching requests.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
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
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRule {
    /// HTTP method to match; any method when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// Path prefix to match, e.g. `/books/v3/invoices`.
    pub path: String,
    pub mode: FaultMode,
    /// How many matching requests to affect.
    #[serde(default = "one")]
    pub times: u32,
}

fn one() -> u32 {
    1
}

/// The rules in force for one simulator.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<Vec<FaultRule>>,
}

impl Faults {
    pub fn add(&self, rule: FaultRule) {
        self.lock().push(rule);
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    pub fn rules(&self) -> Vec<FaultRule> {
        self.lock().clone()
    }

    /// The fault for this request, if a rule matches; uses up one of the rule's `times`.
    pub fn take(&self, method: &str, path: &str) -> Option<FaultMode> {
        let mut rules = self.lock();
        let index = rules.iter().position(|r| {
            r.times > 0
                && path.starts_with(&r.path)
                && r.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
        })?;
        let rule = &mut rules[index];
        rule.times -= 1;
        let mode = rule.mode.clone();
        if rule.times == 0 {
            rules.remove(index);
        }
        Some(mode)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<FaultRule>> {
        self.rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// How a simulator words a server error (each vendor has its own body).
pub type ErrorBody = fn(u16) -> Response;

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
        FaultMode::ErrorBefore { status } => error_body(status),
        FaultMode::ErrorAfter { status } => {
            let _applied = next.run(request).await;
            error_body(status)
        }
        FaultMode::DelayAfter { millis } => {
            let response = next.run(request).await;
            tokio::time::sleep(Duration::from_millis(millis)).await;
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_by_method_and_prefix_and_wear_out() {
        let faults = Faults::default();
        faults.add(FaultRule {
            method: Some("POST".into()),
            path: "/books/v3/invoices".into(),
            mode: FaultMode::ErrorAfter { status: 500 },
            times: 2,
        });
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
}
