//! What each connection did last: the last error a step met calling it, and the last explicit
//! test (the console's "test" button, `POST /api/v1/admin/connections/{name}/test`). Kept in
//! memory per process: it describes this node's view, and a restart starts it afresh.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use paybridge_model::FailureKind;
use serde::Serialize;

use paybridge_model::StepError;
use paybridge_store::StepObserver;

pub use paybridge_actions::connectors::CONNECTIONS;

/// The connection a failing system belongs to (`zoho-books` → `zoho`); `None` for paybridge's
/// own parts (the store, a mapping, a flow's check).
pub fn connection_of(system: &str) -> Option<&'static str> {
    if system == "cybersource" {
        Some("cybersource")
    } else if system.starts_with("zoho") {
        Some("zoho")
    } else if system == "storefront" {
        Some("storefront")
    } else {
        None
    }
}

/// One connection's last error and last test.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ConnectionHealth {
    /// When a step last failed calling it (Unix ms).
    pub last_error_ms: Option<i64>,
    /// The vendor's message (never a secret or a card number).
    pub last_error: Option<String>,
    pub last_error_kind: Option<FailureKind>,
    pub last_error_status: Option<u16>,
    /// When it was last tested, and whether the test passed.
    pub last_test_ms: Option<i64>,
    pub last_test_ok: Option<bool>,
    pub last_test_message: Option<String>,
}

impl ConnectionHealth {
    /// `failing` when the latest news (an error or a test) is bad, `misconfigured` when that
    /// error says the credentials or the account are wrong, `ok` when the latest is good, and
    /// `unknown` before anything happened.
    pub fn status(&self) -> &'static str {
        let error_at = self.last_error_ms.unwrap_or(i64::MIN);
        match self.last_test_ms {
            Some(tested) if tested >= error_at && self.last_test_ok == Some(true) => "ok",
            Some(tested) if tested >= error_at => "failing",
            _ if self.last_error_ms.is_none() => "unknown",
            _ if self.last_error_kind == Some(FailureKind::Configuration) => "misconfigured",
            _ => "failing",
        }
    }
}

/// Every connection's health, shared by the workers and the admin API of one process.
#[derive(Debug, Default)]
pub struct Health {
    connections: Mutex<BTreeMap<&'static str, ConnectionHealth>>,
}

impl Health {
    /// Notes a step's failure against the connection it called (if it called one).
    pub fn failed(&self, error: &StepError, now_ms: i64) {
        let Some(connection) = connection_of(error.system) else {
            return;
        };
        let mut all = self
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let health = all.entry(connection).or_default();
        health.last_error_ms = Some(now_ms);
        health.last_error = Some(error.to_string());
        health.last_error_kind = Some(error.kind);
        health.last_error_status = error.http_status;
    }

    /// Notes the outcome of a test of `connection`.
    pub fn tested(&self, connection: &'static str, outcome: Result<String, String>, now_ms: i64) {
        let mut all = self
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let health = all.entry(connection).or_default();
        health.last_test_ms = Some(now_ms);
        health.last_test_ok = Some(outcome.is_ok());
        health.last_test_message = Some(match outcome {
            Ok(message) | Err(message) => message,
        });
    }

    pub fn of(&self, connection: &str) -> ConnectionHealth {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(connection)
            .cloned()
            .unwrap_or_default()
    }
}

impl StepObserver for Health {
    fn step_failed(&self, error: &StepError, now_ms: i64) {
        self.failed(error, now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_news_decides_the_status() {
        let health = Health::default();
        assert_eq!(health.of("zoho").status(), "unknown");
        let mut error = StepError::new(FailureKind::Configuration, "zoho-books", "invalid token");
        error.http_status = Some(401);
        health.failed(&error, 10);
        assert_eq!(health.of("zoho").status(), "misconfigured");
        assert_eq!(health.of("zoho").last_error_status, Some(401));
        assert_eq!(health.of("cybersource").status(), "unknown");
        health.tested("zoho", Ok("Books answered".into()), 20);
        assert_eq!(health.of("zoho").status(), "ok");
        health.failed(&StepError::permanent("zoho-inventory", "no such item"), 30);
        assert_eq!(health.of("zoho").status(), "failing");
        health.tested("zoho", Err("refused".into()), 40);
        assert_eq!(health.of("zoho").status(), "failing");
        // Our own parts are nobody's connection.
        health.failed(&StepError::permanent("mapping", "bad"), 50);
        health.failed(&StepError::permanent("store", "gone"), 50);
        assert_eq!(health.of("storefront").status(), "unknown");
    }
}
