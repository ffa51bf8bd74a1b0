//! Zoho Books workflow webhooks (zoho.md §2.10): Books has no API to register them — an admin
//! attaches a webhook to a workflow rule — and posts the record as its default payload
//! (`{"invoice": {…}}`), as JSON or as the `JSONString` form field.
//!
//! Two ways to trust a delivery:
//! - **a secret token**: the webhook is configured with a custom header or query parameter
//!   carrying a shared secret;
//! - **a signature**: with "secure this webhook", `X-Zoho-Webhook-Signature` carries the hex
//!   HMAC-SHA256, keyed by the secret, of the query and form parameters sorted by name (each
//!   `name` then `value`) followed by the raw JSON body — or, in the Zoho Payments form,
//!   `t=<ms>,v=<hex>` over `<t>.<body>`, whose timestamp must be recent.
//!
//! CRM notifications and Desk webhooks have their own checks ([`crate::crm::Notification`],
//! [`crate::desk::verify_delivery`]).

use std::time::Duration;

use hmac::{Hmac, KeyInit as _, Mac as _};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

/// How a Books webhook proves it comes from Zoho.
#[derive(Clone)]
pub enum BooksWebhookAuth {
    /// A shared secret in a custom header (`header`) or query parameter (`query`).
    Token {
        secret: SecretString,
        header: String,
        query: String,
    },
    /// `X-Zoho-Webhook-Signature` made with the secret.
    Signature {
        secret: SecretString,
        /// How old a `t=` timestamp may be.
        tolerance: Duration,
    },
}

impl std::fmt::Debug for BooksWebhookAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BooksWebhookAuth::Token { header, query, .. } => f
                .debug_struct("Token")
                .field("header", header)
                .field("query", query)
                .finish_non_exhaustive(),
            BooksWebhookAuth::Signature { tolerance, .. } => f
                .debug_struct("Signature")
                .field("tolerance", tolerance)
                .finish_non_exhaustive(),
        }
    }
}

/// The header Zoho signs with.
pub const SIGNATURE_HEADER: &str = "x-zoho-webhook-signature";

/// A delivery, as received.
#[derive(Debug, Clone, Default)]
pub struct Delivery<'a> {
    /// Header names in lower case with their values.
    pub headers: Vec<(String, String)>,
    /// Query-string parameters of the webhook URL.
    pub query: Vec<(String, String)>,
    /// `application/x-www-form-urlencoded` body parameters (empty for a JSON body).
    pub form: Vec<(String, String)>,
    /// The raw body (for a form body: the `JSONString` value, if any).
    pub body: &'a [u8],
    /// Now, in milliseconds since the epoch (for `t=` timestamps).
    pub now_ms: i64,
}

impl Delivery<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A verified Books event: the module (`invoice`, `contact`, `customerpayment`, …) and the
/// record.
#[derive(Debug, Clone, PartialEq)]
pub struct BooksEvent {
    pub module: String,
    pub record: Map<String, Value>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookError {
    #[error("the delivery carries no {0}")]
    Missing(&'static str),
    #[error("the secret token does not match")]
    WrongToken,
    #[error("the signature does not match")]
    WrongSignature,
    #[error("the signature header is malformed: {0}")]
    MalformedSignature(String),
    #[error("the signature's timestamp is {0} s away from now")]
    Stale(i64),
    #[error("the body is not a Books record: {0}")]
    Malformed(String),
}

type HmacSha256 = Hmac<Sha256>;

fn hmac_hex(secret: &[u8], parts: &[&[u8]]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

fn same(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The signed string of the Billing form: the parameters sorted by name, each `name` then
/// `value`, then the raw body.
pub fn signing_payload(
    query: &[(String, String)],
    form: &[(String, String)],
    body: &[u8],
) -> Vec<u8> {
    let mut pairs: Vec<&(String, String)> = query.iter().chain(form.iter()).collect();
    pairs.sort();
    let mut payload = Vec::new();
    for (name, value) in pairs {
        payload.extend_from_slice(name.as_bytes());
        payload.extend_from_slice(value.as_bytes());
    }
    payload.extend_from_slice(body);
    payload
}

/// Signs a delivery the way Zoho does (the Billing form); for tests and the simulator.
pub fn sign(
    secret: &[u8],
    query: &[(String, String)],
    form: &[(String, String)],
    body: &[u8],
) -> String {
    hmac_hex(secret, &[&signing_payload(query, form, body)])
}

impl BooksWebhookAuth {
    /// Uses a rotated secret from now on (the same way of proving).
    pub fn set_secret(&mut self, new: SecretString) {
        match self {
            BooksWebhookAuth::Token { secret, .. } | BooksWebhookAuth::Signature { secret, .. } => {
                *secret = new;
            }
        }
    }

    /// Whether `secret` is one this way of proving takes: a token of 16 characters or more, a
    /// signing secret of 12 to 50 (as Zoho asks).
    pub fn accepts(&self, secret: &SecretString) -> Result<(), String> {
        let length = secret.expose_secret().trim().chars().count();
        match self {
            BooksWebhookAuth::Token { .. } if length < 16 => {
                Err("a webhook token must be at least 16 characters".into())
            }
            BooksWebhookAuth::Signature { .. } if !(12..=50).contains(&length) => {
                Err("Zoho's signing secrets are 12 to 50 characters".into())
            }
            _ => Ok(()),
        }
    }

    /// Checks the delivery's proof, then reads the record out of it.
    pub fn verify(&self, delivery: &Delivery<'_>) -> Result<BooksEvent, WebhookError> {
        match self {
            BooksWebhookAuth::Token {
                secret,
                header,
                query,
            } => {
                let given = delivery
                    .header(header)
                    .or_else(|| {
                        delivery
                            .query
                            .iter()
                            .find(|(n, _)| n == query)
                            .map(|(_, v)| v.as_str())
                    })
                    .ok_or(WebhookError::Missing("secret token"))?;
                if !same(given, secret.expose_secret()) {
                    return Err(WebhookError::WrongToken);
                }
            }
            BooksWebhookAuth::Signature { secret, tolerance } => {
                let header = delivery
                    .header(SIGNATURE_HEADER)
                    .ok_or(WebhookError::Missing("X-Zoho-Webhook-Signature header"))?;
                let secret = secret.expose_secret().as_bytes();
                if header.contains("t=") {
                    // Zoho Payments: `t=<ms>,v=<hex>` over `<t>.<body>`.
                    let mut t = None;
                    let mut v = None;
                    for part in header.split(',') {
                        match part.trim().split_once('=') {
                            Some(("t", value)) => t = Some(value.trim()),
                            Some(("v", value)) => v = Some(value.trim()),
                            _ => {}
                        }
                    }
                    let (Some(t), Some(v)) = (t, v) else {
                        return Err(WebhookError::MalformedSignature(header.to_string()));
                    };
                    let at: i64 = t
                        .parse()
                        .map_err(|_| WebhookError::MalformedSignature(header.to_string()))?;
                    // The sender's number: never trusted to subtract without overflow.
                    let skew = delivery.now_ms.saturating_sub(at) / 1000;
                    if skew.unsigned_abs() > tolerance.as_secs() {
                        return Err(WebhookError::Stale(skew));
                    }
                    let expected = hmac_hex(secret, &[t.as_bytes(), b".", delivery.body]);
                    if !same(&v.to_ascii_lowercase(), &expected) {
                        return Err(WebhookError::WrongSignature);
                    }
                } else {
                    let expected = sign(secret, &delivery.query, &delivery.form, delivery.body);
                    if !same(&header.trim().to_ascii_lowercase(), &expected) {
                        return Err(WebhookError::WrongSignature);
                    }
                }
            }
        }
        parse_event(delivery.body)
    }
}

/// The record of a default payload: one object under the module's key.
pub fn parse_event(body: &[u8]) -> Result<BooksEvent, WebhookError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    let Value::Object(map) = value else {
        return Err(WebhookError::Malformed("not a JSON object".into()));
    };
    let mut records = map.into_iter().filter_map(|(module, record)| match record {
        Value::Object(record) => Some((module, record)),
        _ => None,
    });
    match (records.next(), records.next()) {
        (Some((module, record)), None) => Ok(BooksEvent { module, record }),
        (None, _) => Err(WebhookError::Malformed(
            "no record object in the payload".into(),
        )),
        (Some(_), Some(_)) => Err(WebhookError::Malformed(
            "more than one record object in the payload".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(a, b)| ((*a).into(), (*b).into())).collect()
    }

    const BODY: &[u8] =
        br#"{"invoice":{"invoice_id":"982000000567240","status":"paid","total":102.21}}"#;

    #[test]
    fn the_signed_string_sorts_parameters_before_the_body() {
        let payload = signing_payload(
            &pairs(&[("b", "2"), ("a", "1")]),
            &pairs(&[("c", "3")]),
            b"{}",
        );
        assert_eq!(payload, b"a1b2c3{}");
        // HMAC-SHA256("secret", "a1b2c3{}"), computed independently.
        assert_eq!(
            sign(
                b"secret",
                &pairs(&[("b", "2"), ("a", "1")]),
                &pairs(&[("c", "3")]),
                b"{}"
            ),
            "90041adee1801edc48e3fb8ad340c964e95cbcadbbaa959ea9e51200e88e48ef"
        );
    }

    #[test]
    fn signatures_are_checked_and_the_record_read() {
        let auth = BooksWebhookAuth::Signature {
            secret: SecretString::from("whsec-1234567890"),
            tolerance: Duration::from_secs(300),
        };
        let query = pairs(&[("org", "10234695")]);
        let signature = sign(b"whsec-1234567890", &query, &[], BODY);
        let delivery = Delivery {
            headers: vec![(SIGNATURE_HEADER.into(), signature.clone())],
            query: query.clone(),
            body: BODY,
            ..Delivery::default()
        };
        let event = auth.verify(&delivery).unwrap();
        assert_eq!(event.module, "invoice");
        assert_eq!(event.record["status"], "paid");

        let tampered =
            br#"{"invoice":{"invoice_id":"982000000567240","status":"paid","total":1.00}}"#;
        let forged = Delivery {
            body: tampered,
            ..delivery.clone()
        };
        assert_eq!(auth.verify(&forged), Err(WebhookError::WrongSignature));
        let unsigned = Delivery {
            headers: vec![],
            ..delivery.clone()
        };
        assert!(matches!(
            auth.verify(&unsigned),
            Err(WebhookError::Missing(_))
        ));
        let moved = Delivery {
            query: pairs(&[("org", "1")]),
            ..delivery
        };
        assert_eq!(auth.verify(&moved), Err(WebhookError::WrongSignature));
    }

    #[test]
    fn timestamped_signatures_must_be_recent() {
        let auth = BooksWebhookAuth::Signature {
            secret: SecretString::from("k"),
            tolerance: Duration::from_secs(300),
        };
        let t = 1_764_000_000_000i64;
        let v = hmac_hex(b"k", &[t.to_string().as_bytes(), b".", BODY]);
        let delivery = |now_ms| Delivery {
            headers: vec![(SIGNATURE_HEADER.into(), format!("t={t},v={v}"))],
            body: BODY,
            now_ms,
            ..Delivery::default()
        };
        assert!(auth.verify(&delivery(t + 1_000)).is_ok());
        assert_eq!(
            auth.verify(&delivery(t + 600_000)),
            Err(WebhookError::Stale(600))
        );
        // A timestamp at the end of the range is stale, never an overflow.
        let far = Delivery {
            headers: vec![(SIGNATURE_HEADER.into(), format!("t={},v={v}", i64::MIN))],
            body: BODY,
            now_ms: t,
            ..Delivery::default()
        };
        assert!(matches!(auth.verify(&far), Err(WebhookError::Stale(_))));
    }

    #[test]
    fn tokens_come_in_a_header_or_the_query() {
        let auth = BooksWebhookAuth::Token {
            secret: SecretString::from("tok-9f8e7d"),
            header: "x-paybridge-token".into(),
            query: "token".into(),
        };
        let by_header = Delivery {
            headers: vec![("X-Paybridge-Token".into(), "tok-9f8e7d".into())],
            body: BODY,
            ..Delivery::default()
        };
        assert!(auth.verify(&by_header).is_ok());
        let by_query = Delivery {
            query: pairs(&[("token", "tok-9f8e7d")]),
            body: BODY,
            ..Delivery::default()
        };
        assert!(auth.verify(&by_query).is_ok());
        let wrong = Delivery {
            query: pairs(&[("token", "nope")]),
            body: BODY,
            ..Delivery::default()
        };
        assert_eq!(auth.verify(&wrong), Err(WebhookError::WrongToken));
        let printed = format!("{auth:?}");
        assert!(!printed.contains("tok-9f8e7d"), "{printed}");
    }

    #[test]
    fn payloads_hold_one_record() {
        assert!(parse_event(br#"{"contact":{"contact_id":"1"}}"#).is_ok());
        assert!(parse_event(br#"{"a":{},"b":{}}"#).is_err());
        assert!(parse_event(b"[]").is_err());
        assert!(parse_event(b"not json").is_err());
    }
}
