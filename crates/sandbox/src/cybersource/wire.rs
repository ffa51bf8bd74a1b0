//! How the Cybersource simulator speaks: HAL responses with `v-c-correlation-id`, the PTS error
//! bodies, timestamps and request-field helpers.

use std::str::FromStr;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

/// `YYYY-MM-DDThh:mm:ssZ`
pub fn utc(at: OffsetDateTime) -> String {
    at.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .unwrap_or_default()
}

pub fn now_utc() -> String {
    utc(OffsetDateTime::now_utc())
}

/// A HAL+JSON answer with Cybersource's usual headers.
pub fn hal(status: StatusCode, body: Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/hal+json"),
    );
    if let Ok(id) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        headers.insert("v-c-correlation-id", id);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    response
}

/// 5xx with the PTS server-error body (§4.1).
/// An error answer in Cybersource's words (fault injection); every path words it alike.
pub fn server_error(_path: &str, status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    // No 429 body is documented (reference §6); this shape is the simulator's own.
    let message = if status == StatusCode::TOO_MANY_REQUESTS {
        "Too many requests"
    } else {
        "Error - General system failure."
    };
    hal(
        status,
        json!({"submitTimeUtc": now_utc(), "status": "SERVER_ERROR", "reason": "SYSTEM_ERROR", "message": message}),
    )
}

/// 401 with the `rmsg` envelope (§2.2).
pub fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"response":{"rmsg":"Authentication Failed"}}"#,
    )
        .into_response()
}

/// A 400 refusal: `reason`, Cybersource's message for it, and the offending fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: &'static str,
    pub message: String,
    pub details: Vec<(String, &'static str)>,
}

impl Refusal {
    pub fn new(reason: &'static str) -> Refusal {
        Refusal {
            reason,
            message: message_for(reason).to_string(),
            details: Vec::new(),
        }
    }

    pub fn with_message(reason: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            reason,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn field(mut self, field: impl Into<String>, reason: &'static str) -> Refusal {
        self.details.push((field.into(), reason));
        self
    }

    pub fn body(&self) -> Value {
        let mut body = json!({"submitTimeUtc": now_utc(), "status": "INVALID_REQUEST",
                              "reason": self.reason, "message": self.message});
        if !self.details.is_empty() {
            body["details"] = self
                .details
                .iter()
                .map(|(field, reason)| json!({"field": field, "reason": reason}))
                .collect();
        }
        body
    }

    pub fn response(&self) -> Response {
        hal(StatusCode::BAD_REQUEST, self.body())
    }
}

fn message_for(reason: &str) -> &'static str {
    match reason {
        "MISSING_FIELD" => "Declined - The request is missing one or more fields",
        "INVALID_DATA" => "Declined - One or more fields in the request contains invalid data",
        "DUPLICATE_REQUEST" => {
            "Declined - The merchant reference number for this authorization request matches the merchant reference number of another authorization request that you sent within the past 15 minutes. Resend the request with a unique merchant reference number."
        }
        "EXCEEDS_AUTH_AMOUNT" => {
            "Declined - The requested amount exceeds the originally authorized amount."
        }
        "AUTH_ALREADY_REVERSED" => "Declined - The authorization has already been reversed.",
        "TRANSACTION_ALREADY_SETTLED" => "Declined - The transaction has already been settled.",
        "TRANSACTION_ALREADY_REVERSED_OR_SETTLED" => {
            "Declined - The transaction has already been settled or reversed."
        }
        "MISSING_AUTH" => "Declined - The authorization to capture was not found or has expired.",
        "INVALID_AMOUNT" => "Declined - The requested amount is more than the remaining amount.",
        "NOT_VOIDABLE" => {
            "Declined - The capture or credit is not voidable because the capture or credit information has already been submitted to your processor. Or, you requested a void for a type of transaction that cannot be voided."
        }
        "CAPTURE_ALREADY_VOIDED" => "Declined - The capture has already been voided.",
        "INVALID_CARD" => "Declined - The card number is invalid.",
        "NOT_SUPPORTED" => {
            "Declined - The requested operation is not supported for this transaction."
        }
        _ => "Declined - The request was not processed.",
    }
}

/// Collects missing and invalid fields while a request is checked.
#[derive(Debug, Default)]
pub struct FieldCheck {
    pub missing: Vec<String>,
    pub invalid: Vec<String>,
}

impl FieldCheck {
    /// The refusal for what was found: MISSING_FIELD if anything is missing, else INVALID_DATA.
    pub fn refusal(self) -> Option<Refusal> {
        if self.missing.is_empty() && self.invalid.is_empty() {
            return None;
        }
        let reason = if self.missing.is_empty() {
            "INVALID_DATA"
        } else {
            "MISSING_FIELD"
        };
        let mut refusal = Refusal::new(reason);
        for field in self.missing {
            refusal = refusal.field(field, "MISSING_FIELD");
        }
        for field in self.invalid {
            refusal = refusal.field(field, "INVALID_DATA");
        }
        Some(refusal)
    }

    /// The text at a dotted path; records it as missing when required and absent.
    pub fn text(&mut self, body: &Value, path: &str, required: bool) -> Option<String> {
        let value = text(body, path).map(str::to_string);
        if value.is_none() && required {
            self.missing.push(path.to_string());
        }
        value
    }

    /// A non-negative amount at a dotted path (string or number).
    pub fn amount(&mut self, body: &Value, path: &str, required: bool) -> Option<Decimal> {
        match amount_at(body, path) {
            None => {
                if required {
                    self.missing.push(path.to_string());
                }
                None
            }
            Some(Err(())) => {
                self.invalid.push(path.to_string());
                None
            }
            Some(Ok(amount)) => Some(amount),
        }
    }

    /// Refuses values longer than the API description allows.
    pub fn max_lengths(&mut self, body: &Value, limits: &[(&str, usize)]) {
        for (path, max) in limits {
            if text(body, path).is_some_and(|v| v.chars().count() > *max) {
                self.invalid.push((*path).to_string());
            }
        }
    }

    pub fn currency(&mut self, body: &Value, path: &str, required: bool) -> Option<String> {
        let currency = self.text(body, path, required)?;
        if !super::iso4217::is_currency(&currency) {
            self.invalid.push(path.to_string());
            return None;
        }
        Some(currency)
    }
}

pub fn node<'a>(body: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(body, |node, part| node.get(part))
}

pub fn text<'a>(body: &'a Value, path: &str) -> Option<&'a str> {
    node(body, path)?
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

pub fn amount_at(body: &Value, path: &str) -> Option<Result<Decimal, ()>> {
    let raw = match node(body, path)? {
        Value::String(s) if s.trim().is_empty() => return None,
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => return None,
        _ => return Some(Err(())),
    };
    Some(
        Decimal::from_str(&raw)
            .map_err(|_| ())
            .and_then(|d| if d < Decimal::ZERO { Err(()) } else { Ok(d) }),
    )
}
