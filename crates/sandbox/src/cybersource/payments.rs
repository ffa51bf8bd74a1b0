//! `POST /pts/v2/payments`: authorizations and sales (reference §3.2–§3.3, §3.9, §4.1).

use std::str::FromStr;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

use super::{CybersourceSandbox, signature};
use crate::ids;

/// A payment as the simulator remembers it (the control API shows these).
#[derive(Debug, Clone, Serialize)]
pub struct PaymentRecord {
    pub id: String,
    pub merchant_id: String,
    pub merchant_reference: String,
    pub transaction_id: Option<String>,
    pub amount: String,
    pub currency: String,
    pub status: String,
    pub reason: Option<String>,
    pub captured: bool,
    pub card_type: Option<String>,
    pub card_last4: Option<String>,
    pub reconciliation_id: String,
    pub submit_time_utc: String,
}

/// What the test environment does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Approve,
    Decline {
        reason: &'static str,
        response_code: &'static str,
    },
    /// HTTP 502; nothing is created.
    ServerError {
        reason: &'static str,
    },
}

/// The magic amounts of reference §3.9: whole amounts 2000–2099 answer with the processor code
/// of their last two digits. Codes the table does not list decline as a general decline; 2000
/// (code 00) approves. Any other amount approves.
pub fn magic_amount_outcome(amount: Decimal) -> Outcome {
    if amount.fract() != Decimal::ZERO
        || amount < Decimal::from(2000)
        || amount > Decimal::from(2099)
    {
        return Outcome::Approve;
    }
    let code = (amount - Decimal::from(2000)).normalize().mantissa();
    let decline = |reason, response_code| Outcome::Decline {
        reason,
        response_code,
    };
    match code {
        0 => Outcome::Approve,
        1 | 2 => decline("CONTACT_PROCESSOR", "201"),
        3 => decline("INVALID_MERCHANT_CONFIGURATION", "234"),
        4 | 7 | 41 | 43 => decline("STOLEN_LOST_CARD", "205"),
        5 => decline("PROCESSOR_DECLINED", "203"),
        6 | 28 => Outcome::ServerError {
            reason: "SYSTEM_ERROR",
        },
        12 | 13 | 79 => decline("PROCESSOR_DECLINED", "233"),
        14 => decline("INVALID_ACCOUNT", "231"),
        51 => decline("INSUFFICIENT_FUND", "204"),
        54 => decline("EXPIRED_CARD", "202"),
        91 => Outcome::ServerError {
            reason: "SERVER_TIMEOUT",
        },
        _ => decline("PROCESSOR_DECLINED", "233"),
    }
}

/// The billing postal code the test server declines for any card (reference §3.9).
const DECLINING_POSTAL_CODE: &str = "46282";

fn decline_message(reason: &str) -> &'static str {
    match reason {
        "INSUFFICIENT_FUND" => "Decline - Insufficient funds in the account.",
        "EXPIRED_CARD" => {
            "Decline - Expired card. You might also receive this if the expiration date you provided does not match the date the issuing bank has on file."
        }
        "STOLEN_LOST_CARD" => "Decline - Stolen or lost card.",
        "CONTACT_PROCESSOR" => {
            "Decline - The issuing bank has questions about the request. You do not receive an authorization code programmatically, but you might receive one verbally by calling the processor."
        }
        "INVALID_ACCOUNT" => "Decline - Invalid account number",
        "INVALID_MERCHANT_CONFIGURATION" => {
            "Decline - There is a problem with the information in your CyberSource account."
        }
        _ => {
            "Decline - General decline of the card. No other information provided by the issuing bank."
        }
    }
}

pub(super) fn now_utc() -> String {
    OffsetDateTime::now_utc()
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .unwrap_or_default()
}

fn hal(status: StatusCode, body: Value) -> Response {
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

/// 502 with the PTS server-error body (§4.1).
pub(super) fn server_error(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    hal(
        status,
        json!({"submitTimeUtc": now_utc(), "status": "SERVER_ERROR", "reason": "SYSTEM_ERROR",
               "message": "Error - General system failure."}),
    )
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"response":{"rmsg":"Authentication Failed"}}"#,
    )
        .into_response()
}

struct FieldProblems {
    missing: Vec<String>,
    invalid: Vec<String>,
}

impl FieldProblems {
    fn into_response(self) -> Option<(&'static str, &'static str, Vec<Value>)> {
        if self.missing.is_empty() && self.invalid.is_empty() {
            return None;
        }
        let details = self
            .missing
            .iter()
            .map(|f| json!({"field": f, "reason": "MISSING_FIELD"}))
            .chain(
                self.invalid
                    .iter()
                    .map(|f| json!({"field": f, "reason": "INVALID_DATA"})),
            )
            .collect();
        Some(if self.missing.is_empty() {
            (
                "INVALID_DATA",
                "Declined - One or more fields in the request contains invalid data",
                details,
            )
        } else {
            (
                "MISSING_FIELD",
                "Declined - The request is missing one or more fields",
                details,
            )
        })
    }
}

fn bad_request(reason: &str, message: &str, details: Vec<Value>) -> Response {
    let mut body = json!({"submitTimeUtc": now_utc(), "status": "INVALID_REQUEST", "reason": reason, "message": message});
    if !details.is_empty() {
        body["details"] = Value::Array(details);
    }
    hal(StatusCode::BAD_REQUEST, body)
}

fn text<'a>(body: &'a Value, path: &str) -> Option<&'a str> {
    let mut node = body;
    for part in path.split('.') {
        node = node.get(part)?;
    }
    node.as_str().map(str::trim).filter(|s| !s.is_empty())
}

fn amount_at(body: &Value, path: &str) -> Option<Result<Decimal, ()>> {
    let mut node = body;
    for part in path.split('.') {
        node = node.get(part)?;
    }
    let raw = match node {
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

fn luhn(digits: &str) -> bool {
    let mut sum = 0;
    for (i, b) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

fn card_type_of(number: &str) -> &'static str {
    let two = number.get(..2).unwrap_or_default();
    match number.as_bytes().first() {
        Some(b'4') => "001",
        Some(b'5' | b'2') => "002",
        _ if two == "34" || two == "37" => "003",
        _ if two == "35" => "007",
        Some(b'6') => "004",
        _ => "000",
    }
}

pub(super) async fn create(
    State(sandbox): State<CybersourceSandbox>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    sandbox.state().stats.requests += 1;
    let keys = &sandbox.inner.keys;
    let verified = signature::verify(
        &method,
        &uri,
        &headers,
        &body,
        |id| keys.get(id).cloned(),
        sandbox.inner.options,
        SystemTime::now(),
    );
    let merchant_id = match verified {
        Ok(merchant) => merchant,
        Err(rejection) => {
            tracing::info!(%rejection, "Cybersource sandbox refused a signature");
            sandbox.state().stats.authentication_failures += 1;
            return unauthorized();
        }
    };

    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return sandbox.refuse(
            "INVALID_DATA",
            "Declined - One or more fields in the request contains invalid data",
            vec![],
        );
    };

    let mut problems = FieldProblems {
        missing: vec![],
        invalid: vec![],
    };
    let mut require = |path: &str| {
        let value = text(&request, path).map(str::to_string);
        if value.is_none() {
            problems.missing.push(path.to_string());
        }
        value
    };
    let mrn = require("clientReferenceInformation.code").unwrap_or_default();
    let currency = require("orderInformation.amountDetails.currency").unwrap_or_default();
    let bill_to_required = [
        "firstName",
        "lastName",
        "address1",
        "locality",
        "country",
        "email",
    ];
    let mut bill_to = std::collections::HashMap::new();
    for field in bill_to_required {
        bill_to.insert(
            field,
            require(&format!("orderInformation.billTo.{field}")).unwrap_or_default(),
        );
    }
    let country = bill_to.get("country").cloned().unwrap_or_default();
    let postal_code = text(&request, "orderInformation.billTo.postalCode").map(str::to_string);
    if matches!(country.as_str(), "US" | "CA") {
        if postal_code.is_none() {
            problems
                .missing
                .push("orderInformation.billTo.postalCode".into());
        }
        if text(&request, "orderInformation.billTo.administrativeArea").is_none() {
            problems
                .missing
                .push("orderInformation.billTo.administrativeArea".into());
        }
    }
    let amount = match amount_at(&request, "orderInformation.amountDetails.totalAmount") {
        None => {
            problems
                .missing
                .push("orderInformation.amountDetails.totalAmount".into());
            Decimal::ZERO
        }
        Some(Err(())) => {
            problems
                .invalid
                .push("orderInformation.amountDetails.totalAmount".into());
            Decimal::ZERO
        }
        Some(Ok(amount)) => amount,
    };
    // Field lengths from the API description (ptsV2PaymentsPost request).
    for (path, max) in [
        ("clientReferenceInformation.code", 50),
        ("clientReferenceInformation.transactionId", 30),
        ("orderInformation.billTo.firstName", 60),
        ("orderInformation.billTo.lastName", 60),
        ("orderInformation.billTo.company", 60),
        ("orderInformation.billTo.address1", 60),
        ("orderInformation.billTo.address2", 60),
        ("orderInformation.billTo.locality", 50),
        ("orderInformation.billTo.administrativeArea", 20),
        ("orderInformation.billTo.postalCode", 10),
        ("orderInformation.billTo.country", 2),
        ("orderInformation.billTo.email", 255),
        ("orderInformation.billTo.phoneNumber", 15),
    ] {
        if text(&request, path).is_some_and(|v| v.chars().count() > max) {
            problems.invalid.push(path.to_string());
        }
    }
    if !currency.is_empty()
        && (currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()))
    {
        problems
            .invalid
            .push("orderInformation.amountDetails.currency".into());
    }

    // The payment method: a card, or a token this simulator would have to hold.
    let card_number =
        text(&request, "paymentInformation.card.number").map(|n| n.replace([' ', '-'], ""));
    let mut expired = false;
    let has_token = [
        "paymentInformation.customer.id",
        "paymentInformation.paymentInstrument.id",
        "paymentInformation.instrumentIdentifier.id",
        "tokenInformation.transientTokenJwt",
    ]
    .iter()
    .find(|p| text(&request, p).is_some());
    match (&card_number, has_token) {
        (Some(number), _) => {
            if number.len() < 12
                || number.len() > 19
                || !number.bytes().all(|b| b.is_ascii_digit())
                || !luhn(number)
            {
                problems
                    .invalid
                    .push("paymentInformation.card.number".into());
            }
            let month = text(&request, "paymentInformation.card.expirationMonth")
                .and_then(|m| m.parse::<u8>().ok());
            let year = text(&request, "paymentInformation.card.expirationYear")
                .and_then(|y| y.parse::<i32>().ok());
            match (month, year) {
                (Some(m), Some(y)) if (1..=12).contains(&m) && y >= 1000 => {
                    let today = OffsetDateTime::now_utc();
                    expired = (y, m) < (today.year(), u8::from(today.month()));
                }
                (None, _)
                    if text(&request, "paymentInformation.card.expirationMonth").is_none() =>
                {
                    problems
                        .missing
                        .push("paymentInformation.card.expirationMonth".into());
                }
                (_, None) if text(&request, "paymentInformation.card.expirationYear").is_none() => {
                    problems
                        .missing
                        .push("paymentInformation.card.expirationYear".into());
                }
                _ => problems
                    .invalid
                    .push("paymentInformation.card.expirationMonth".into()),
            }
        }
        (None, Some(path)) => {
            // No token vault in this simulator yet: every token is unknown.
            problems.invalid.push((*path).to_string());
        }
        (None, None) => problems
            .missing
            .push("paymentInformation.card.number".into()),
    }
    if let Some((reason, message, details)) = problems.into_response() {
        return sandbox.refuse(reason, message, details);
    }

    let capture = request
        .pointer("/processingInformation/capture")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let transaction_id =
        text(&request, "clientReferenceInformation.transactionId").map(str::to_string);
    let outcome = if expired {
        Outcome::Decline {
            reason: "EXPIRED_CARD",
            response_code: "202",
        }
    } else if postal_code.as_deref() == Some(DECLINING_POSTAL_CODE) {
        Outcome::Decline {
            reason: "PROCESSOR_DECLINED",
            response_code: "203",
        }
    } else {
        magic_amount_outcome(amount)
    };
    if let Outcome::ServerError { reason } = outcome {
        sandbox
            .state()
            .stats
            .errors_by_reason
            .entry(reason.to_string())
            .and_modify(|n| *n += 1)
            .or_insert(1);
        return hal(
            StatusCode::BAD_GATEWAY,
            json!({"submitTimeUtc": now_utc(), "status": "SERVER_ERROR", "reason": reason,
                   "message": "Error - General system failure."}),
        );
    }

    let id = ids::cybersource_transaction_id(&sandbox.inner.sequence);
    let card_type = text(&request, "paymentInformation.card.type")
        .map(str::to_string)
        .or_else(|| card_number.as_deref().map(|n| card_type_of(n).to_string()));
    let record = PaymentRecord {
        id: id.clone(),
        merchant_id,
        merchant_reference: mrn.clone(),
        transaction_id: transaction_id.clone(),
        amount: amount.to_string(),
        currency: currency.clone(),
        status: match outcome {
            Outcome::Approve => "AUTHORIZED".into(),
            _ => "DECLINED".into(),
        },
        reason: match outcome {
            Outcome::Decline { reason, .. } => Some(reason.to_string()),
            _ => None,
        },
        captured: capture && outcome == Outcome::Approve,
        card_type: card_type.clone(),
        card_last4: card_number
            .as_deref()
            .map(|n| n[n.len().saturating_sub(4)..].to_string()),
        reconciliation_id: ids::reconciliation_id(),
        submit_time_utc: now_utc(),
    };
    let mut client_reference = json!({"code": mrn});
    if let Some(tid) = &transaction_id {
        client_reference["transactionId"] = json!(tid);
    }
    let self_link = json!({"method": "GET", "href": format!("/pts/v2/payments/{id}")});
    let body = match outcome {
        Outcome::Approve => {
            let links = if record.captured {
                json!({"self": self_link, "void": {"method": "POST", "href": format!("/pts/v2/payments/{id}/voids")},
                       "refund": {"method": "POST", "href": format!("/pts/v2/payments/{id}/refunds")}})
            } else {
                json!({"self": self_link, "authReversal": {"method": "POST", "href": format!("/pts/v2/payments/{id}/reversals")},
                       "capture": {"method": "POST", "href": format!("/pts/v2/payments/{id}/captures")}})
            };
            let card = json!({"type": card_type.clone().unwrap_or_else(|| "001".into())});
            json!({
                "_links": links,
                "clientReferenceInformation": client_reference,
                "id": id,
                "orderInformation": {"amountDetails": {"authorizedAmount": record.amount, "currency": currency}},
                "paymentAccountInformation": {"card": card},
                "paymentInformation": {"tokenizedCard": card, "card": card},
                "pointOfSaleInformation": {"terminalId": "111111"},
                "processorInformation": {"approvalCode": "888888", "networkTransactionId": "123456789619999",
                    "transactionId": "123456789619999", "responseCode": "100", "avs": {"code": "X", "codeRaw": "I1"}},
                "reconciliationId": record.reconciliation_id,
                "status": "AUTHORIZED",
                "submitTimeUtc": record.submit_time_utc,
            })
        }
        Outcome::Decline {
            reason,
            response_code,
        } => json!({
            "_links": {"self": self_link},
            "clientReferenceInformation": client_reference,
            "errorInformation": {"reason": reason, "message": decline_message(reason)},
            "id": id,
            "processorInformation": {"transactionId": "460282531937765", "networkTransactionId": "460282531937765",
                "responseCode": response_code, "avs": {"code": "D", "codeRaw": "D"}},
            "status": "DECLINED",
            "submitTimeUtc": record.submit_time_utc,
        }),
        Outcome::ServerError { .. } => unreachable!("answered above"),
    };
    {
        let mut ledger = sandbox.state();
        ledger
            .stats
            .payments_by_status
            .entry(record.status.clone())
            .and_modify(|n| *n += 1)
            .or_insert(1);
        ledger.payments.push(record);
    }
    hal(StatusCode::CREATED, body)
}

impl CybersourceSandbox {
    fn refuse(&self, reason: &str, message: &str, details: Vec<Value>) -> Response {
        self.state()
            .stats
            .errors_by_reason
            .entry(reason.to_string())
            .and_modify(|n| *n += 1)
            .or_insert(1);
        bad_request(reason, message, details)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_amounts_follow_the_reference_table() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        assert_eq!(magic_amount_outcome(d("102.21")), Outcome::Approve);
        assert_eq!(magic_amount_outcome(d("2000.00")), Outcome::Approve);
        assert_eq!(
            magic_amount_outcome(d("2051.00")),
            Outcome::Decline {
                reason: "INSUFFICIENT_FUND",
                response_code: "204"
            }
        );
        assert_eq!(
            magic_amount_outcome(d("2054")),
            Outcome::Decline {
                reason: "EXPIRED_CARD",
                response_code: "202"
            }
        );
        assert_eq!(
            magic_amount_outcome(d("2041")),
            Outcome::Decline {
                reason: "STOLEN_LOST_CARD",
                response_code: "205"
            }
        );
        assert_eq!(
            magic_amount_outcome(d("2006")),
            Outcome::ServerError {
                reason: "SYSTEM_ERROR"
            }
        );
        assert_eq!(
            magic_amount_outcome(d("2091")),
            Outcome::ServerError {
                reason: "SERVER_TIMEOUT"
            }
        );
        assert_eq!(magic_amount_outcome(d("2051.50")), Outcome::Approve);
        assert_eq!(magic_amount_outcome(d("2100")), Outcome::Approve);
    }
}
