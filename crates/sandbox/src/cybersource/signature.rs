//! Verifies Cybersource HTTP Signatures the way the service does (reference §2.1): the signing
//! string is rebuilt from whichever headers the client lists, so SDK requests with extra
//! headers, `v-c-date`, or any `Host` string verify as long as what was signed was sent.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, Method, Uri};
use sha2::{Digest, Sha256};

/// A registered REST key: which merchant it belongs to and its decoded secret.
#[derive(Clone)]
pub struct RegisteredKey {
    pub merchant_id: String,
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for RegisteredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisteredKey")
            .field("merchant_id", &self.merchant_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy)]
pub struct VerifyOptions {
    /// Also accept the deprecated draft-cavage `(request-target)` label.
    pub accept_legacy_paren_request_target: bool,
    /// How far the signed date may be from the sandbox's clock.
    pub max_clock_skew: Duration,
}

/// Why a request did not authenticate. The client only ever sees "Authentication Failed";
/// the reason is logged and counted by the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("no Signature header")]
    NoSignature,
    #[error("malformed Signature header: {0}")]
    Malformed(String),
    #[error("algorithm {0:?} is not HmacSHA256")]
    Algorithm(String),
    #[error("unknown keyid")]
    UnknownKey,
    #[error("v-c-merchant-id {0:?} does not own the key")]
    MerchantMismatch(String),
    #[error("signed header list lacks {0}")]
    Unsigned(&'static str),
    #[error("signed header {0} is not in the request")]
    MissingHeader(String),
    #[error("the legacy (request-target) form is not accepted")]
    LegacyRequestTarget,
    #[error("digest does not match the body")]
    DigestMismatch,
    #[error("date {0:?} is not an RFC 7231 date")]
    BadDate(String),
    #[error("date is {0:?} away from the server clock")]
    ClockSkew(Duration),
    #[error("signature does not verify")]
    BadSignature,
}

#[derive(Debug)]
struct SignatureHeader {
    key_id: String,
    algorithm: String,
    headers: Vec<String>,
    signature: Vec<u8>,
}

fn parse_signature(value: &str) -> Result<SignatureHeader, Rejection> {
    let (mut key_id, mut algorithm, mut headers, mut signature) = (None, None, None, None);
    for part in value.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        // Split on the first '=' only: base64 values end in '='.
        let (name, raw) = part
            .split_once('=')
            .ok_or_else(|| Rejection::Malformed(format!("{part:?} is not name=\"value\"")))?;
        let unquoted = raw
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .ok_or_else(|| Rejection::Malformed(format!("{name} is not double-quoted")))?;
        match name.trim() {
            "keyid" => key_id = Some(unquoted.to_string()),
            "algorithm" => algorithm = Some(unquoted.to_string()),
            "headers" => {
                headers = Some(
                    unquoted
                        .split_whitespace()
                        .map(str::to_ascii_lowercase)
                        .collect(),
                )
            }
            "signature" => {
                signature = Some(
                    BASE64
                        .decode(unquoted)
                        .map_err(|_| Rejection::Malformed("signature is not base64".into()))?,
                );
            }
            _ => {}
        }
    }
    Ok(SignatureHeader {
        key_id: key_id.ok_or_else(|| Rejection::Malformed("no keyid".into()))?,
        algorithm: algorithm.ok_or_else(|| Rejection::Malformed("no algorithm".into()))?,
        headers: headers.ok_or_else(|| Rejection::Malformed("no headers".into()))?,
        signature: signature.ok_or_else(|| Rejection::Malformed("no signature".into()))?,
    })
}

/// Verifies a request; returns the authenticated merchant id.
pub fn verify(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    lookup: impl Fn(&str) -> Option<RegisteredKey>,
    options: VerifyOptions,
    now: SystemTime,
) -> Result<String, Rejection> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let signature = parse_signature(header("signature").ok_or(Rejection::NoSignature)?)?;
    if signature.algorithm != "HmacSHA256" {
        return Err(Rejection::Algorithm(signature.algorithm));
    }
    let key = lookup(&signature.key_id).ok_or(Rejection::UnknownKey)?;
    let merchant =
        header("v-c-merchant-id").ok_or(Rejection::MissingHeader("v-c-merchant-id".into()))?;
    if merchant != key.merchant_id {
        return Err(Rejection::MerchantMismatch(merchant.to_string()));
    }

    let listed = |name: &str| signature.headers.iter().any(|h| h == name);
    let legacy = listed("(request-target)");
    if legacy && !options.accept_legacy_paren_request_target {
        return Err(Rejection::LegacyRequestTarget);
    }
    if !listed("host") {
        return Err(Rejection::Unsigned("host"));
    }
    if !listed("date") && !listed("v-c-date") {
        return Err(Rejection::Unsigned("date"));
    }
    if !listed("request-target") && !legacy {
        return Err(Rejection::Unsigned("request-target"));
    }
    if !listed("v-c-merchant-id") {
        return Err(Rejection::Unsigned("v-c-merchant-id"));
    }
    let has_body =
        matches!(*method, Method::POST | Method::PUT | Method::PATCH) || !body.is_empty();
    if has_body && !listed("digest") {
        return Err(Rejection::Unsigned("digest"));
    }

    let path_and_query = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let request_target = format!(
        "{} {}",
        method.as_str().to_ascii_lowercase(),
        path_and_query
    );
    let mut lines = Vec::with_capacity(signature.headers.len());
    for name in &signature.headers {
        let value = match name.as_str() {
            "request-target" | "(request-target)" => request_target.clone(),
            other => header(other)
                .ok_or_else(|| Rejection::MissingHeader(other.to_string()))?
                .to_string(),
        };
        lines.push(format!("{name}: {value}"));
    }
    let signing_string = lines.join("\n");

    if listed("digest") {
        let expected = format!("SHA-256={}", BASE64.encode(Sha256::digest(body)));
        if header("digest") != Some(expected.as_str()) {
            return Err(Rejection::DigestMismatch);
        }
    }
    let date_name = if listed("v-c-date") {
        "v-c-date"
    } else {
        "date"
    };
    let date_text = header(date_name).ok_or_else(|| Rejection::MissingHeader(date_name.into()))?;
    let date =
        httpdate::parse_http_date(date_text).map_err(|_| Rejection::BadDate(date_text.into()))?;
    let skew = now.duration_since(date).unwrap_or_else(|e| e.duration());
    if skew > options.max_clock_skew {
        return Err(Rejection::ClockSkew(skew));
    }

    let mut mac = Hmac::<Sha256>::new_from_slice(&key.secret).expect("HMAC takes any key length");
    mac.update(signing_string.as_bytes());
    // Constant-time comparison.
    mac.verify_slice(&signature.signature)
        .map_err(|_| Rejection::BadSignature)?;
    Ok(key.merchant_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    // Reference §2.3 vector B: a full wire capture through the official Python SDK.
    const BODY_B: &str = r#"{"clientReferenceInformation": {"code": "ORDER-1001", "partner": {"developerId": "J0TV2I9S"}}, "processingInformation": {"capture": true}, "orderInformation": {"amountDetails": {"totalAmount": "102.21", "currency": "USD"}}}"#;
    const DATE: &str = "Mon, 14 Oct 2024 12:00:00 GMT";

    fn key() -> RegisteredKey {
        RegisteredKey {
            merchant_id: "test_merchant".into(),
            secret: BASE64
                .decode("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
                .unwrap(),
        }
    }

    fn lookup(id: &str) -> Option<RegisteredKey> {
        (id == "11111111-2222-3333-4444-555555555555").then(key)
    }

    fn options() -> VerifyOptions {
        VerifyOptions {
            accept_legacy_paren_request_target: false,
            max_clock_skew: Duration::from_secs(15 * 60),
        }
    }

    fn at_date() -> SystemTime {
        httpdate::parse_http_date(DATE).unwrap()
    }

    fn sdk_headers(signature: &str, digest: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in [
            ("accept", "application/hal+json"),
            ("content-type", "application/json"),
            ("v-c-client-id", "cybs-rest-sdk-python-0.0.80"),
            ("accept-encoding", "*"),
            ("v-c-merchant-id", "test_merchant"),
            ("date", DATE),
            ("host", "apitest.cybersource.com"),
            ("user-agent", "Swagger-Codegen/1.0.0/python"),
            ("digest", digest),
            ("signature", signature),
        ] {
            h.insert(name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    fn vector_b() -> HeaderMap {
        sdk_headers(
            r#"keyid="11111111-2222-3333-4444-555555555555", algorithm="HmacSHA256", headers="host date request-target digest v-c-merchant-id", signature="9Od1y5BOnK3KO7UijEW8FAX/7mwUk4JP9d339cVjnx4=""#,
            "SHA-256=QMCezqQCiy3h5132eidiAhNvVTLHdD78c6pclxQLlfs=",
        )
    }

    fn run(
        headers: &HeaderMap,
        body: &str,
        now: SystemTime,
        options: VerifyOptions,
    ) -> Result<String, Rejection> {
        verify(
            &Method::POST,
            &Uri::from_static("/pts/v2/payments"),
            headers,
            body.as_bytes(),
            lookup,
            options,
            now,
        )
    }

    #[test]
    fn accepts_the_official_sdk_wire_capture() {
        assert_eq!(
            run(&vector_b(), BODY_B, at_date(), options()).unwrap(),
            "test_merchant"
        );
    }

    #[test]
    fn rejects_a_changed_body() {
        let tampered = BODY_B.replace("102.21", "1.00");
        assert_eq!(
            run(&vector_b(), &tampered, at_date(), options()),
            Err(Rejection::DigestMismatch)
        );
    }

    #[test]
    fn rejects_an_old_date() {
        let later = at_date() + Duration::from_secs(16 * 60);
        assert!(matches!(
            run(&vector_b(), BODY_B, later, options()),
            Err(Rejection::ClockSkew(_))
        ));
        let lenient = VerifyOptions {
            max_clock_skew: Duration::from_secs(3600),
            ..options()
        };
        assert!(run(&vector_b(), BODY_B, later, lenient).is_ok());
    }

    #[test]
    fn rejects_unknown_keys_and_wrong_merchants() {
        let mut h = vector_b();
        h.insert("v-c-merchant-id", HeaderValue::from_static("someone_else"));
        assert_eq!(
            run(&h, BODY_B, at_date(), options()),
            Err(Rejection::MerchantMismatch("someone_else".into()))
        );
        let h = sdk_headers(
            r#"keyid="00000000-0000-0000-0000-000000000000", algorithm="HmacSHA256", headers="host date request-target digest v-c-merchant-id", signature="9Od1y5BOnK3KO7UijEW8FAX/7mwUk4JP9d339cVjnx4=""#,
            "SHA-256=QMCezqQCiy3h5132eidiAhNvVTLHdD78c6pclxQLlfs=",
        );
        assert_eq!(
            run(&h, BODY_B, at_date(), options()),
            Err(Rejection::UnknownKey)
        );
    }

    /// The legacy `(request-target)` form of vector A: refused by default, accepted when the
    /// option is on.
    #[test]
    fn legacy_request_target_is_an_option() {
        let body_a = r#"{"clientReferenceInformation":{"code":"ORDER-1001"},"processingInformation":{"capture":true},"paymentInformation":{"card":{"number":"4111111111111111","expirationMonth":"12","expirationYear":"2031"}},"orderInformation":{"amountDetails":{"totalAmount":"102.21","currency":"USD"},"billTo":{"firstName":"John","lastName":"Doe","address1":"1 Market St","locality":"San Francisco","administrativeArea":"CA","postalCode":"94105","country":"US","email":"test@example.com"}}}"#;
        let h = sdk_headers(
            r#"keyid="11111111-2222-3333-4444-555555555555", algorithm="HmacSHA256", headers="host date (request-target) digest v-c-merchant-id", signature="hOCF+YYiRwWBB5YXKXyeC2er9Tv7sfjZfZM2twR6GUw=""#,
            "SHA-256=clwEdTseRk9NixKI6NmAGfJjhuL+QOGU6dPMCf7nxQk=",
        );
        assert_eq!(
            run(&h, body_a, at_date(), options()),
            Err(Rejection::LegacyRequestTarget)
        );
        let legacy = VerifyOptions {
            accept_legacy_paren_request_target: true,
            ..options()
        };
        assert_eq!(run(&h, body_a, at_date(), legacy).unwrap(), "test_merchant");
        // The current form of the same request (signature 7Rn2…/Ds=) verifies by default.
        let h = sdk_headers(
            r#"keyid="11111111-2222-3333-4444-555555555555", algorithm="HmacSHA256", headers="host date request-target digest v-c-merchant-id", signature="7Rn295dOeRiv45yt773LehUDJrX8CKhxy4G6D7li/Ds=""#,
            "SHA-256=clwEdTseRk9NixKI6NmAGfJjhuL+QOGU6dPMCf7nxQk=",
        );
        assert_eq!(
            run(&h, body_a, at_date(), options()).unwrap(),
            "test_merchant"
        );
    }

    #[test]
    fn get_requests_sign_the_query_string() {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("apitest.cybersource.com"));
        h.insert("date", HeaderValue::from_static(DATE));
        h.insert("v-c-merchant-id", HeaderValue::from_static("test_merchant"));
        h.insert("signature", HeaderValue::from_static(r#"keyid="11111111-2222-3333-4444-555555555555", algorithm="HmacSHA256", headers="host date request-target v-c-merchant-id", signature="g4H10V4kAh7SWxd1H+GApY93GkLFRWCzLON5XOWpsnI=""#));
        let uri = Uri::from_static(
            "/reporting/v3/report-downloads?organizationId=test_merchant&reportDate=2024-10-13&reportName=TransactionRequestClass",
        );
        assert!(verify(&Method::GET, &uri, &h, b"", lookup, options(), at_date()).is_ok());
        let without_query = Uri::from_static("/reporting/v3/report-downloads");
        assert_eq!(
            verify(
                &Method::GET,
                &without_query,
                &h,
                b"",
                lookup,
                options(),
                at_date()
            ),
            Err(Rejection::BadSignature)
        );
    }

    #[test]
    fn requires_the_signed_header_set() {
        let h = sdk_headers(
            r#"keyid="11111111-2222-3333-4444-555555555555", algorithm="HmacSHA256", headers="host date request-target v-c-merchant-id", signature="9Od1y5BOnK3KO7UijEW8FAX/7mwUk4JP9d339cVjnx4=""#,
            "SHA-256=QMCezqQCiy3h5132eidiAhNvVTLHdD78c6pclxQLlfs=",
        );
        assert_eq!(
            run(&h, BODY_B, at_date(), options()),
            Err(Rejection::Unsigned("digest"))
        );
        let mut h = vector_b();
        h.remove("signature");
        assert_eq!(
            run(&h, BODY_B, at_date(), options()),
            Err(Rejection::NoSignature)
        );
    }
}
