//! Transient tokens: what Microform or Unified Checkout hands a storefront after the shopper
//! typed a card into Cybersource's own hosted fields. The card goes from the browser to
//! Cybersource; the storefront only ever holds a JWT whose `jti` names it, valid for 15
//! minutes, which a payment spends as `tokenInformation.transientTokenJwt` (or just
//! `tokenInformation.jti`).
//!
//! No browser takes part here, so the control API plays the shopper:
//! `POST /__sandbox/transient-tokens {"number", "expirationMonth", "expirationYear"}` answers
//! `{"transientToken": "<JWT>", "jti", "expiresAt"}`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngExt as _;
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::payments::luhn;
use super::tms::VaultCard;
use super::wire::utc;
use super::{CybersourceSandbox, lock};

/// A card captured by the hosted fields, waiting to be spent.
pub(super) struct Captured {
    merchant_id: String,
    number: String,
    expiration_month: String,
    expiration_year: String,
    card_type: Option<String>,
    expires_at: OffsetDateTime,
}

/// Transient tokens by `jti`.
pub(super) type Captures = HashMap<String, Captured>;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct CaptureRequest {
    /// The merchant the capture context was made for; the first configured one when absent.
    #[serde(default)]
    merchant_id: Option<String>,
    number: String,
    expiration_month: String,
    expiration_year: String,
    /// Cybersource's card type code (`001` Visa, `002` Mastercard…); guessed when absent.
    #[serde(default, rename = "type")]
    card_type: Option<String>,
}

fn refuse(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"status": "BAD_REQUEST", "message": message})),
    )
        .into_response()
}

/// A `jti` shaped like Cybersource's: 64 upper-case letters and digits.
fn new_jti() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    (0..64)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

pub(super) async fn control_capture(
    State(sandbox): State<CybersourceSandbox>,
    Json(request): Json<CaptureRequest>,
) -> Response {
    let number: String = request
        .number
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .collect();
    if !(12..=19).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_digit()) {
        return refuse("number must be 12 to 19 digits");
    }
    if !luhn(&number) {
        return refuse("number fails the Luhn check");
    }
    match request.expiration_month.parse::<u8>() {
        Ok(1..=12) if request.expiration_month.len() == 2 => {}
        _ => return refuse("expirationMonth must be 01 to 12"),
    }
    if request.expiration_year.len() != 4 || request.expiration_year.parse::<u16>().is_err() {
        return refuse("expirationYear must be four digits");
    }
    let merchant_id = match request.merchant_id {
        Some(id) if sandbox.inner.keys.values().any(|k| k.merchant_id == id) => id,
        Some(id) => return refuse(&format!("no key is configured for merchant {id}")),
        None => match sandbox.inner.config.keys.first() {
            Some(key) => key.merchant_id.clone(),
            None => return refuse("no merchant is configured"),
        },
    };
    let card_type = request
        .card_type
        .or_else(|| super::cards::card_type(&number).map(str::to_string));
    let now = OffsetDateTime::now_utc();
    let lifetime = time::Duration::seconds(
        i64::try_from(sandbox.inner.config.transient_token_lifetime_secs).unwrap_or(i64::MAX),
    );
    let expires_at = now.saturating_add(lifetime);
    let jti = new_jti();
    let n = number.len();
    let claims = json!({
        "iss": "Flex/08",
        "type": "mf-2.0.0",
        "iat": now.unix_timestamp(),
        "exp": expires_at.unix_timestamp(),
        "jti": jti,
        "content": {"paymentInformation": {"card": {
            "number": {
                "detectedCardTypes": card_type.iter().collect::<Vec<_>>(),
                "maskedValue": format!("{}{}", "X".repeat(n - 4), &number[n - 4..]),
                "bin": &number[..6],
            },
            "expirationMonth": {"value": request.expiration_month},
            "expirationYear": {"value": request.expiration_year},
        }}},
    });
    let header = json!({"kid": "sandbox", "alg": "RS256"});
    let signature: [u8; 64] = rand::rng().random();
    let token = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature),
    );
    lock(&sandbox.inner.captures).insert(
        jti.clone(),
        Captured {
            merchant_id,
            number,
            expiration_month: request.expiration_month,
            expiration_year: request.expiration_year,
            card_type,
            expires_at,
        },
    );
    (
        StatusCode::CREATED,
        Json(json!({"transientToken": token, "jti": jti, "expiresAt": utc(expires_at)})),
    )
        .into_response()
}

/// The `jti` a transient token JWT names, read from its claims (the sandbox does not check
/// the signature: it issued the token and keeps it by `jti`).
fn jti_of(jwt: &str) -> Option<String> {
    let claims = jwt.split('.').nth(1)?;
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()?;
    claims["jti"].as_str().map(str::to_string)
}

impl CybersourceSandbox {
    /// The card a payment's transient token stands for; the error names the refused field.
    pub(super) fn spend_transient(
        &self,
        merchant_id: &str,
        jwt: Option<&str>,
        jti: Option<&str>,
    ) -> Result<VaultCard, &'static str> {
        let (field, jti) = match (jwt, jti) {
            (Some(jwt), _) => (
                "tokenInformation.transientTokenJwt",
                jti_of(jwt).ok_or("tokenInformation.transientTokenJwt")?,
            ),
            (None, Some(jti)) => ("tokenInformation.jti", jti.to_string()),
            (None, None) => return Err("paymentInformation.card.number"),
        };
        let captures = lock(&self.inner.captures);
        let captured = captures
            .get(&jti)
            .filter(|c| c.merchant_id == merchant_id)
            .filter(|c| c.expires_at > OffsetDateTime::now_utc())
            .ok_or(field)?;
        Ok(VaultCard {
            number: captured.number.clone(),
            expiration: Some((
                captured.expiration_month.clone(),
                captured.expiration_year.clone(),
            )),
            card_type: captured.card_type.clone(),
            bill_to: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jti_is_read_from_the_claims() {
        let claims = URL_SAFE_NO_PAD.encode(r#"{"jti":"ABC123"}"#);
        assert_eq!(jti_of(&format!("e30.{claims}.c2ln")), Some("ABC123".into()));
        assert_eq!(jti_of("not a jwt"), None);
        assert_eq!(jti_of("e30.!!!.c2ln"), None);
    }
}
