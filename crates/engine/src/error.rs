//! How a step failed, in the engine's terms, with what a person needs to fix it.

use std::fmt;
use std::time::Duration;

use paybridge_model::FailureKind;
use serde::Serialize;

use crate::store::{FailureRecord, StoreError};

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
        }
    }

    pub fn record(&self) -> FailureRecord {
        FailureRecord {
            message: self.to_string(),
            kind: self.kind,
            http_status: self.http_status,
            request_id: self.request_id.clone(),
            step: self.step.clone(),
        }
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}",
            self.system,
            paybridge_model::pan::redact(&self.message)
        )
    }
}

impl std::error::Error for StepError {}

impl From<StoreError> for StepError {
    fn from(e: StoreError) -> StepError {
        StepError {
            kind: FailureKind::Transient,
            system: "store",
            message: e.to_string(),
            http_status: None,
            request_id: None,
            step: None,
            retry_after: None,
        }
    }
}

impl From<paybridge_zoho::Error> for StepError {
    fn from(e: paybridge_zoho::Error) -> StepError {
        StepError {
            kind: e.kind(),
            system: "zoho-books",
            message: e.to_string(),
            http_status: e.http_status(),
            request_id: None,
            step: None,
            retry_after: e.retry_after(),
        }
    }
}

impl From<paybridge_cybersource::Error> for StepError {
    fn from(e: paybridge_cybersource::Error) -> StepError {
        let message = match e.correlation_id() {
            Some(id) => format!("{e} (v-c-correlation-id {id})"),
            None => e.to_string(),
        };
        StepError {
            kind: e.kind(),
            system: "cybersource",
            message,
            http_status: e.http_status(),
            request_id: e.correlation_id().map(str::to_string),
            step: None,
            retry_after: e.retry_after(),
        }
    }
}
