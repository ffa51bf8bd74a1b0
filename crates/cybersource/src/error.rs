//! Cybersource failures, classified once for the engine (reference §4.1, §2.2).

use std::time::Duration;

use paybridge_model::FailureKind;
use serde::Deserialize;

use crate::vendor_enums::Reason;

/// One offending field of a 400 answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct ErrorDetail {
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 401/403: wrong merchant id, key id or secret, or a product not enabled.
    #[error("Cybersource refused the credentials (HTTP {status}): {message}")]
    Unauthorized {
        status: u16,
        message: String,
        correlation_id: Option<String>,
    },

    /// 400: the request is wrong as it stands.
    #[error("Cybersource refused the request (HTTP 400, {reason}): {message}{}", details_suffix(.details))]
    InvalidRequest {
        reason: Reason,
        message: String,
        details: Vec<ErrorDetail>,
        correlation_id: Option<String>,
    },

    /// Token Management answers in its own error shape (reference §3.6), with `type` naming the
    /// problem (`invalidFields`, `notFound`, `conflict`, …) and the fields at fault.
    #[error("Cybersource Token Management refused the request (HTTP {status}, {kind}): {message}{}", fields_suffix(.fields))]
    Tms {
        status: u16,
        kind: String,
        message: String,
        fields: Vec<String>,
        write: bool,
        correlation_id: Option<String>,
    },

    /// 404 on a resource path.
    #[error("Cybersource has no resource at {path} (HTTP 404)")]
    NotFound {
        path: String,
        correlation_id: Option<String>,
    },

    /// 429: throttled before anything happened.
    #[error("Cybersource throttled the request (HTTP 429)")]
    RateLimited {
        retry_after: Option<Duration>,
        correlation_id: Option<String>,
    },

    /// 5xx (502 SERVER_ERROR / SYSTEM_ERROR / SERVER_TIMEOUT): the transaction may or may not
    /// have been created when the request was a write.
    #[error("Cybersource server error (HTTP {status}, {reason}): {message}")]
    Server {
        status: u16,
        reason: Reason,
        message: String,
        write: bool,
        correlation_id: Option<String>,
    },

    /// The connection could not be made: nothing was sent.
    #[error("could not reach Cybersource at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: reqwest::Error,
    },

    /// The request may have been sent but no complete answer came back (timeout, reset).
    #[error(
        "no answer from Cybersource for {method} {path} (it may have been processed): {source}"
    )]
    NoAnswer {
        method: String,
        path: String,
        write: bool,
        #[source]
        source: reqwest::Error,
    },

    /// An answer paybridge does not understand; kept with its status and an excerpt.
    #[error(
        "unexpected answer from Cybersource (HTTP {status}): {problem}; body starts {excerpt:?}"
    )]
    UnexpectedResponse {
        status: u16,
        problem: String,
        excerpt: String,
        write: bool,
    },

    /// The client is configured wrongly (bad URL, bad secret).
    #[error("invalid Cybersource configuration: {0}")]
    Config(String),

    /// Refused before sending: the input cannot make a valid request.
    #[error("invalid input for Cybersource: {0}")]
    InvalidInput(String),
}

fn fields_suffix(fields: &[String]) -> String {
    if fields.is_empty() {
        String::new()
    } else {
        format!(" [{}]", fields.join(", "))
    }
}

fn details_suffix(details: &[ErrorDetail]) -> String {
    if details.is_empty() {
        return String::new();
    }
    let fields: Vec<String> = details
        .iter()
        .map(|d| {
            format!(
                "{} ({})",
                d.field.as_deref().unwrap_or("?"),
                d.reason.as_deref().unwrap_or("?")
            )
        })
        .collect();
    format!(" [{}]", fields.join(", "))
}

impl Error {
    /// What the engine may do about it.
    pub fn kind(&self) -> FailureKind {
        match self {
            Error::Unauthorized { .. } | Error::Config(_) => FailureKind::Configuration,
            Error::InvalidRequest { reason, .. } => match reason {
                // Nothing was created; the processor link is down for now.
                Reason::ProcessorUnavailable => FailureKind::Transient,
                Reason::InvalidMerchantConfiguration => FailureKind::Configuration,
                _ => FailureKind::Permanent,
            },
            Error::NotFound { .. } | Error::InvalidInput(_) => FailureKind::Permanent,
            Error::Tms { status, write, .. } => match status {
                403 => FailureKind::Configuration,
                500..=599 if *write => FailureKind::OutcomeUnknown,
                500..=599 => FailureKind::Transient,
                _ => FailureKind::Permanent,
            },
            Error::RateLimited { .. } | Error::Connect { .. } => FailureKind::Transient,
            Error::Server { write, .. }
            | Error::NoAnswer { write, .. }
            | Error::UnexpectedResponse { write, .. } => {
                if *write {
                    FailureKind::OutcomeUnknown
                } else {
                    FailureKind::Transient
                }
            }
        }
    }

    /// How long the vendor asked us to wait, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status of the answer, when there was one.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::Unauthorized { status, .. }
            | Error::Server { status, .. }
            | Error::Tms { status, .. }
            | Error::UnexpectedResponse { status, .. } => Some(*status),
            Error::InvalidRequest { .. } => Some(400),
            Error::NotFound { .. } => Some(404),
            Error::RateLimited { .. } => Some(429),
            Error::Connect { .. }
            | Error::NoAnswer { .. }
            | Error::Config(_)
            | Error::InvalidInput(_) => None,
        }
    }

    /// Cybersource's `v-c-correlation-id`, for support tickets.
    pub fn correlation_id(&self) -> Option<&str> {
        match self {
            Error::Unauthorized { correlation_id, .. }
            | Error::InvalidRequest { correlation_id, .. }
            | Error::NotFound { correlation_id, .. }
            | Error::RateLimited { correlation_id, .. }
            | Error::Tms { correlation_id, .. }
            | Error::Server { correlation_id, .. } => correlation_id.as_deref(),
            _ => None,
        }
    }
}

impl From<Error> for paybridge_model::StepError {
    fn from(e: Error) -> paybridge_model::StepError {
        let message = match e.correlation_id() {
            Some(id) => format!("{e} (v-c-correlation-id {id})"),
            None => e.to_string(),
        };
        let mut error = paybridge_model::StepError::new(e.kind(), "cybersource", message);
        error.http_status = e.http_status();
        error.request_id = e.correlation_id().map(str::to_string);
        error.retry_after = e.retry_after();
        error.throttled = matches!(e, Error::RateLimited { .. });
        error
    }
}
