//! Books' error answers: the `{code, message}` envelope with Zoho's codes, server errors, unknown URLs.

use super::super::{ZohoSandbox, limits};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

// ---------------------------------------------------------------------------------------------
// Errors
pub(crate) struct BooksError {
    status: StatusCode,
    code: i64,
    message: String,
    headers: Vec<(&'static str, String)>,
}

impl BooksError {
    pub fn new(status: StatusCode, code: i64, message: impl Into<String>) -> BooksError {
        BooksError {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    /// Code 2, `Invalid value passed for <Field Label>`.
    pub fn invalid(field: &str) -> BooksError {
        BooksError::new(
            StatusCode::BAD_REQUEST,
            2,
            format!("Invalid value passed for {field}"),
        )
    }

    /// Code 1002, `<Entity> does not exist.`
    pub fn missing(entity: &str) -> BooksError {
        BooksError::new(
            StatusCode::NOT_FOUND,
            1002,
            format!("{entity} does not exist."),
        )
    }

    /// A business rule refused the request (code 4, HTTP 400).
    pub fn refused(message: impl Into<String>) -> BooksError {
        BooksError::new(StatusCode::BAD_REQUEST, 4, message)
    }

    /// 429 over the organization's limits, with the `X-Rate-Limit-*` headers Books was seen
    /// sending (zoho.md §2.3).
    pub(crate) fn throttled(code: i64, throttle: &limits::Throttle) -> BooksError {
        let reset = throttle.reset.as_secs_f64().ceil().to_string();
        BooksError {
            headers: vec![
                ("x-rate-limit-limit", throttle.limit.to_string()),
                ("x-rate-limit-remaining", "0".into()),
                ("x-rate-limit-reset", reset),
            ],
            ..BooksError::new(
                StatusCode::TOO_MANY_REQUESTS,
                code,
                "You have made too many requests. Please try again after some time.",
            )
        }
    }

    pub(crate) fn into_response(self, sandbox: &ZohoSandbox) -> Response {
        *sandbox
            .world()
            .stats
            .books_errors
            .entry(self.code)
            .or_insert(0) += 1;
        let mut response = (
            self.status,
            axum::Json(json!({"code": self.code, "message": self.message})),
        )
            .into_response();
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

/// An error answer for fault injection, in the words of the product the path belongs to:
/// CRM's `{code, details, message, status}`, Desk's `{errorCode, message}`, else Books'
/// `{code, message}`.
pub(crate) fn server_error(path: &str, status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let throttled = status == StatusCode::TOO_MANY_REQUESTS;
    if path.starts_with("/crm/") {
        let (code, message) = if throttled {
            (
                "RATE_LIMIT_EXCEEDED",
                "Too many requests. Please try again later.",
            )
        } else {
            ("INTERNAL_ERROR", "Internal server error occurred.")
        };
        let body = json!({"code": code, "details": {}, "message": message, "status": "error"});
        return (status, axum::Json(body)).into_response();
    }
    if path.starts_with("/api/v1/") {
        let (code, message) = if throttled {
            (
                "TOO_MANY_REQUESTS",
                "You have exceeded the API credit limit. Please try again later.",
            )
        } else {
            (
                "INTERNAL_SERVER_ERROR",
                "An internal server error occurred.",
            )
        };
        return (
            status,
            axum::Json(json!({"errorCode": code, "message": message})),
        )
            .into_response();
    }
    // Zoho's 429 code is undocumented (zoho.md §2.2): any non-zero code, with its message.
    let body = if throttled {
        json!({"code": 44, "message": "You have made too many requests. Please try again after some time."})
    } else {
        json!({"code": 1000, "message": "Internal error"})
    };
    (status, axum::Json(body)).into_response()
}

pub(crate) async fn invalid_url() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"code": 5, "message": "Invalid URL Passed"})),
    )
        .into_response()
}
