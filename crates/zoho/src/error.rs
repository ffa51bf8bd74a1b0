//! Zoho failures, classified once (reference zoho.md §2.2, §1.2, pitfalls 3 and 5).

use std::time::Duration;

use paybridge_model::FailureKind;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The token endpoint refused (it answers HTTP 200 with `{"error": …}`, §1.2).
    #[error("Zoho Accounts refused the token request: {error}{}", describe_oauth(.error, .description.as_deref()))]
    OAuth {
        error: String,
        description: Option<String>,
    },

    /// A Books/Inventory answer with a non-zero `code`, whatever its HTTP status.
    #[error("Zoho Books answered HTTP {status} with code {code}: {message}")]
    Books {
        status: u16,
        code: i64,
        message: String,
        write: bool,
    },

    /// A CRM or Desk answer refusing the whole request (`{code, message, details}` in CRM,
    /// `{errorCode, message}` in Desk; codes are words, not numbers).
    #[error("Zoho {product} answered HTTP {status} {code}: {message}{}", describe_details(.details))]
    Api {
        product: &'static str,
        status: u16,
        code: String,
        message: String,
        details: serde_json::Value,
        write: bool,
    },

    /// 429: over the per-organization budget.
    #[error("Zoho throttled the request (HTTP 429): {message}")]
    RateLimited {
        retry_after: Option<Duration>,
        message: String,
    },

    /// paybridge's own budget for the organization is spent for longer than a request may wait.
    #[error("the Zoho {product} budget of organization {organization} is spent; room again in {}s", .retry_after.as_secs())]
    QuotaExhausted {
        product: &'static str,
        organization: String,
        retry_after: Duration,
    },

    #[error("could not reach Zoho at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: reqwest::Error,
    },

    #[error("no answer from Zoho for {method} {path} (it may have been processed): {source}")]
    NoAnswer {
        method: String,
        path: String,
        write: bool,
        #[source]
        source: reqwest::Error,
    },

    #[error("unexpected answer from Zoho (HTTP {status}): {problem}; body starts {excerpt:?}")]
    UnexpectedResponse {
        status: u16,
        problem: String,
        excerpt: String,
        write: bool,
    },

    /// Refused before sending: the payload carries something that looks like a card number.
    #[error("refused to send a card number to Zoho (found at {paths})")]
    CardNumberInPayload { paths: String },

    #[error("invalid Zoho configuration: {0}")]
    Config(String),

    /// The shared store that coordinates budgets and refreshes between processes failed.
    #[error("cannot coordinate with the other paybridge processes: {0}")]
    Coordination(String),

    /// Refused before sending: the request cannot be right.
    #[error("invalid request for Zoho: {0}")]
    InvalidInput(String),
}

fn describe_details(details: &serde_json::Value) -> String {
    match details {
        serde_json::Value::Object(map) if !map.is_empty() => format!(" ({details})"),
        serde_json::Value::Array(items) if !items.is_empty() => format!(" ({details})"),
        _ => String::new(),
    }
}

/// CRM and Desk codes that mean "the access token is no good" (zoho.md §4.1, §5).
const TOKEN_REJECTIONS: [&str; 4] = [
    "INVALID_TOKEN",
    "AUTHENTICATION_FAILURE",
    "INVALID_OAUTH",
    "UNAUTHORIZED",
];

fn describe_oauth(error: &str, description: Option<&str>) -> String {
    let hint = match error {
        "invalid_client" => {
            " (unknown client id on this accounts server: check the data centre and the client id)"
        }
        "invalid_client_secret" => " (the client secret does not match the client id)",
        "invalid_code" => " (the refresh token is wrong or revoked: reconnect the Zoho account)",
        "Access Denied" => " (too many token requests: Zoho blocks refreshes for up to 10 minutes)",
        _ => "",
    };
    match description {
        Some(d) if !d.is_empty() => format!(": {d}{hint}"),
        _ => hint.to_string(),
    }
}

/// Books codes that mean "the access token is no good" (§2.2).
pub(crate) const AUTH_CODES: [i64; 2] = [14, 57];
/// `The customer "…" already exists.`
pub const DUPLICATE_CONTACT_NAME: i64 = 3062;
/// `<Entity> does not exist.`
pub const DOES_NOT_EXIST: i64 = 1002;
/// `This user is not associated with the CompanyID…`
const ORGANIZATION_MISMATCH: i64 = 6041;

impl Error {
    pub fn kind(&self) -> FailureKind {
        match self {
            Error::OAuth { error, .. } if error == "Access Denied" => FailureKind::Transient,
            Error::OAuth { .. } | Error::Config(_) => FailureKind::Configuration,
            Error::Books {
                status,
                code,
                write,
                ..
            } => {
                if AUTH_CODES.contains(code) || *status == 401 || *code == ORGANIZATION_MISMATCH {
                    FailureKind::Configuration
                } else if *status >= 500 {
                    if *write {
                        FailureKind::OutcomeUnknown
                    } else {
                        FailureKind::Transient
                    }
                } else {
                    FailureKind::Permanent
                }
            }
            Error::Api {
                status,
                code,
                write,
                ..
            } => {
                if *status == 401
                    || *status == 403
                    || matches!(
                        code.as_str(),
                        "OAUTH_SCOPE_MISMATCH"
                            | "NO_PERMISSION"
                            | "SCOPE_MISMATCH"
                            | "OAUTH_ORG_MISMATCH"
                            | "INVALID_MODULE"
                    )
                {
                    FailureKind::Configuration
                } else if *status >= 500 {
                    if *write {
                        FailureKind::OutcomeUnknown
                    } else {
                        FailureKind::Transient
                    }
                } else {
                    FailureKind::Permanent
                }
            }
            Error::RateLimited { .. }
            | Error::Connect { .. }
            | Error::QuotaExhausted { .. }
            | Error::Coordination(_) => FailureKind::Transient,
            Error::NoAnswer { write, .. } | Error::UnexpectedResponse { write, .. } => {
                if *write {
                    FailureKind::OutcomeUnknown
                } else {
                    FailureKind::Transient
                }
            }
            Error::CardNumberInPayload { .. } | Error::InvalidInput(_) => FailureKind::Permanent,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited { retry_after, .. } => *retry_after,
            Error::QuotaExhausted { retry_after, .. } => Some(*retry_after),
            // Zoho blocks token creation for the rest of its 10-minute window.
            Error::OAuth { error, .. } if error == "Access Denied" => Some(Duration::from_secs(60)),
            _ => None,
        }
    }

    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::Books { status, .. }
            | Error::Api { status, .. }
            | Error::UnexpectedResponse { status, .. } => Some(*status),
            Error::RateLimited { .. } => Some(429),
            _ => None,
        }
    }

    /// The Books error code, if this is a Books error.
    pub fn books_code(&self) -> Option<i64> {
        match self {
            Error::Books { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The CRM or Desk error code, if this is one.
    pub fn api_code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    pub(crate) fn is_auth_rejection(&self) -> bool {
        match self {
            Error::Books { status, code, .. } => *status == 401 || AUTH_CODES.contains(code),
            Error::Api { status, code, .. } => {
                *status == 401 && TOKEN_REJECTIONS.contains(&code.as_str())
            }
            _ => false,
        }
    }
}

impl From<Error> for paybridge_model::StepError {
    fn from(e: Error) -> paybridge_model::StepError {
        let mut error = paybridge_model::StepError::new(e.kind(), "zoho-books", e.to_string());
        error.http_status = e.http_status();
        error.retry_after = e.retry_after();
        error.throttled = matches!(e, Error::RateLimited { .. } | Error::QuotaExhausted { .. });
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn books(status: u16, code: i64, write: bool) -> Error {
        Error::Books {
            status,
            code,
            message: "m".into(),
            write,
        }
    }

    #[test]
    fn classification_follows_the_reference() {
        assert_eq!(books(401, 57, true).kind(), FailureKind::Configuration);
        assert_eq!(books(400, 3062, true).kind(), FailureKind::Permanent);
        assert_eq!(books(400, 2, true).kind(), FailureKind::Permanent);
        // A non-zero code is an error even with HTTP 200.
        assert_eq!(books(200, 1001, false).kind(), FailureKind::Permanent);
        assert_eq!(books(500, 1000, true).kind(), FailureKind::OutcomeUnknown);
        assert_eq!(books(500, 1000, false).kind(), FailureKind::Transient);
        let throttled = Error::OAuth {
            error: "Access Denied".into(),
            description: None,
        };
        assert_eq!(throttled.kind(), FailureKind::Transient);
        let wrong_dc = Error::OAuth {
            error: "invalid_client".into(),
            description: None,
        };
        assert_eq!(wrong_dc.kind(), FailureKind::Configuration);
        assert!(wrong_dc.to_string().contains("data centre"), "{wrong_dc}");
    }
}
