//! How a call to another system failed, in the only terms the engine decides on, and a failed
//! step with what a person needs to fix it.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The engine's question about every failure: may it try again, and how?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// Nothing took effect (connection refused, 429, a 5xx the vendor says is safe to repeat):
    /// the same request may be sent again after a backoff.
    Transient,
    /// The request may or may not have taken effect (a timeout after it was sent, a 5xx on a
    /// create): look the effect up before trying again, never re-send blindly.
    OutcomeUnknown,
    /// The vendor refused the request as it stands (validation, a business rule); retrying the
    /// same input cannot succeed. Goes to the dead-letter queue with the vendor's message.
    Permanent,
    /// Credentials, permissions or account setup are wrong; an operator has to act.
    Configuration,
}

impl FailureKind {
    /// Whether the engine may schedule another attempt on its own.
    pub fn is_retryable(self) -> bool {
        matches!(self, FailureKind::Transient | FailureKind::OutcomeUnknown)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Transient => "transient",
            FailureKind::OutcomeUnknown => "outcome_unknown",
            FailureKind::Permanent => "permanent",
            FailureKind::Configuration => "configuration",
        }
    }
}

/// A failed step: the classification the engine acts on and the vendor's own words.
#[derive(Debug, Clone, Serialize)]
pub struct StepError {
    pub kind: FailureKind,
    /// The system that failed (`cybersource`, `zoho-books`, `store`, …).
    pub system: &'static str,
    /// The vendor's message (or ours), never with a secret or a card number in it.
    pub message: String,
    pub http_status: Option<u16>,
    /// The vendor's id for the request (Cybersource's `v-c-correlation-id`), for its support.
    pub request_id: Option<String>,
    /// The step that failed (set by the runtime).
    pub step: Option<String>,
    #[serde(skip)]
    pub retry_after: Option<Duration>,
    /// The vendor (or our own budget for it) said to slow down — a 429, a spent quota. That is
    /// not a failure: the run waits as told without spending an attempt (see the engine's
    /// `throttle_ceiling`).
    #[serde(skip)]
    pub throttled: bool,
}

impl StepError {
    pub fn permanent(system: &'static str, message: impl Into<String>) -> StepError {
        StepError::new(FailureKind::Permanent, system, message)
    }

    pub fn new(kind: FailureKind, system: &'static str, message: impl Into<String>) -> StepError {
        StepError {
            kind,
            system,
            message: message.into(),
            http_status: None,
            request_id: None,
            step: None,
            retry_after: None,
            throttled: false,
        }
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.system, crate::pan::redact(&self.message))
    }
}

impl std::error::Error for StepError {}

/// A request path as a metric label: ids (segments of six or more characters with a digit in
/// them) become `{id}`, so that `/pts/v2/payments/7012345678901234567890/captures` and every
/// other capture share one label, and labels stay few.
pub fn route_label(path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    let mut label = String::with_capacity(path.len());
    for (n, segment) in path.split('/').enumerate() {
        if n > 0 {
            label.push('/');
        }
        if segment.len() >= 6 && segment.bytes().any(|b| b.is_ascii_digit()) {
            label.push_str("{id}");
        } else {
            label.push_str(segment);
        }
    }
    label
}

#[cfg(test)]
mod route_label_tests {
    use super::route_label;

    #[test]
    fn ids_become_placeholders_and_names_stay() {
        assert_eq!(
            route_label("/pts/v2/payments/7012345678901234567890/captures"),
            "/pts/v2/payments/{id}/captures"
        );
        assert_eq!(
            route_label("/books/v3/invoices/460000000012345/status/sent?organization_id=1"),
            "/books/v3/invoices/{id}/status/sent"
        );
        assert_eq!(
            route_label("/crm/v8/Contacts/upsert"),
            "/crm/v8/Contacts/upsert"
        );
        assert_eq!(route_label("/api/v1/tickets"), "/api/v1/tickets");
    }
}
