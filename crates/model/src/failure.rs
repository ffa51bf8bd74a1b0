//! How a call to another system failed, in the only terms the engine decides on.

use serde::{Deserialize, Serialize};

/// The engine's question about every failure: may it try again, and how?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
