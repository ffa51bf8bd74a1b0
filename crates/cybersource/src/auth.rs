//! HTTP Signature authentication, byte for byte as the official Cybersource SDKs produce it
//! (reference §2.1): `host date request-target [digest] v-c-merchant-id`, the request-target
//! without parentheses and with the query string, the digest over the exact body bytes sent,
//! HMAC-SHA256 keyed with the base64-*decoded* shared secret.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};

/// A merchant's REST API key: the merchant id, the key's id (its "serial number" in the
/// Business Center) and the base64 shared secret.
#[derive(Clone)]
pub struct Credentials {
    pub merchant_id: String,
    pub key_id: String,
    pub shared_secret: SecretString,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("merchant_id", &self.merchant_id)
            .field("key_id", &self.key_id)
            .field("shared_secret", &"**REDACTED**")
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error("the Cybersource merchant id is empty")]
    MissingMerchantId,
    #[error("the Cybersource key id is empty")]
    MissingKeyId,
    #[error(
        "the Cybersource shared secret is not valid base64 (copy it exactly as the Business Center shows it)"
    )]
    SecretNotBase64,
}

/// What a request looks like to the signer.
#[derive(Debug, Clone, Copy)]
pub struct SigningInput<'a> {
    /// HTTP method, any case.
    pub method: &'a str,
    /// The `Host` header value exactly as sent.
    pub host: &'a str,
    /// Path with its query string, already percent-encoded as sent.
    pub path_and_query: &'a str,
    /// The `Date` header value (RFC 7231, e.g. `Mon, 14 Oct 2024 12:00:00 GMT`).
    pub date: &'a str,
    /// The exact body bytes for POST, PUT and PATCH; ignored for other methods.
    pub body: &'a [u8],
}

/// The headers a signed request carries besides `Host`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    pub merchant_id: String,
    pub date: String,
    /// `SHA-256=<base64>`, only for methods with a body.
    pub digest: Option<String>,
    pub signature: String,
}

/// Signs requests for one merchant key. The decoded secret stays in a zeroizing box.
pub struct Signer {
    merchant_id: String,
    key_id: String,
    key: SecretBox<[u8]>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("merchant_id", &self.merchant_id)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl Signer {
    pub fn new(credentials: &Credentials) -> Result<Signer, CredentialsError> {
        if credentials.merchant_id.trim().is_empty() {
            return Err(CredentialsError::MissingMerchantId);
        }
        if credentials.key_id.trim().is_empty() {
            return Err(CredentialsError::MissingKeyId);
        }
        let key = BASE64
            .decode(credentials.shared_secret.expose_secret().trim())
            .map_err(|_| CredentialsError::SecretNotBase64)?;
        Ok(Signer {
            merchant_id: credentials.merchant_id.trim().to_string(),
            key_id: credentials.key_id.trim().to_string(),
            key: SecretBox::from(key.into_boxed_slice()),
        })
    }

    pub fn merchant_id(&self) -> &str {
        &self.merchant_id
    }

    pub fn sign(&self, input: &SigningInput<'_>) -> SignedHeaders {
        let method = input.method.to_ascii_lowercase();
        let digest = method_has_body(&method).then(|| digest_header(input.body));
        let mut signing_string = format!(
            "host: {}\ndate: {}\nrequest-target: {} {}",
            input.host, input.date, method, input.path_and_query
        );
        if let Some(digest) = &digest {
            signing_string.push_str("\ndigest: ");
            signing_string.push_str(digest);
        }
        signing_string.push_str("\nv-c-merchant-id: ");
        signing_string.push_str(&self.merchant_id);
        let headers = if digest.is_some() {
            "host date request-target digest v-c-merchant-id"
        } else {
            "host date request-target v-c-merchant-id"
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose_secret())
            .expect("HMAC accepts keys of any length");
        mac.update(signing_string.as_bytes());
        let signature = BASE64.encode(mac.finalize().into_bytes());
        SignedHeaders {
            merchant_id: self.merchant_id.clone(),
            date: input.date.to_string(),
            digest,
            signature: format!(
                r#"keyid="{}", algorithm="HmacSHA256", headers="{}", signature="{}""#,
                self.key_id, headers, signature
            ),
        }
    }
}

fn method_has_body(lowercase_method: &str) -> bool {
    matches!(lowercase_method, "post" | "put" | "patch")
}

/// The `Digest` header value for a body: `SHA-256=<base64(sha256(body))>`.
pub fn digest_header(body: &[u8]) -> String {
    format!("SHA-256={}", BASE64.encode(Sha256::digest(body)))
}

/// Formats a time the way Cybersource expects the `Date` header (always English, `GMT`).
pub fn http_date(time: std::time::SystemTime) -> String {
    httpdate::fmt_http_date(time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Reference §2.3: vectors produced by running the official SDK's own code.
    const DATE: &str = "Mon, 14 Oct 2024 12:00:00 GMT";
    const HOST: &str = "apitest.cybersource.com";
    const VECTOR_A_BODY: &str = r#"{"clientReferenceInformation":{"code":"ORDER-1001"},"processingInformation":{"capture":true},"paymentInformation":{"card":{"number":"4111111111111111","expirationMonth":"12","expirationYear":"2031"}},"orderInformation":{"amountDetails":{"totalAmount":"102.21","currency":"USD"},"billTo":{"firstName":"John","lastName":"Doe","address1":"1 Market St","locality":"San Francisco","administrativeArea":"CA","postalCode":"94105","country":"US","email":"test@example.com"}}}"#;

    fn signer() -> Signer {
        Signer::new(&Credentials {
            merchant_id: "test_merchant".into(),
            key_id: "11111111-2222-3333-4444-555555555555".into(),
            shared_secret: SecretString::from("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
        })
        .unwrap()
    }

    fn signature_value(headers: &SignedHeaders) -> &str {
        let start = headers.signature.find(r#"signature=""#).unwrap() + r#"signature=""#.len();
        &headers.signature[start..headers.signature.len() - 1]
    }

    fn sign(method: &str, path_and_query: &str, body: &str) -> SignedHeaders {
        signer().sign(&SigningInput {
            method,
            host: HOST,
            path_and_query,
            date: DATE,
            body: body.as_bytes(),
        })
    }

    #[test]
    fn vector_a_body_is_467_bytes() {
        assert_eq!(VECTOR_A_BODY.len(), 467);
    }

    #[test]
    fn sdk_vector_post_payment() {
        let headers = sign("POST", "/pts/v2/payments", VECTOR_A_BODY);
        assert_eq!(
            headers.digest.as_deref(),
            Some("SHA-256=clwEdTseRk9NixKI6NmAGfJjhuL+QOGU6dPMCf7nxQk=")
        );
        assert_eq!(
            headers.signature,
            r#"keyid="11111111-2222-3333-4444-555555555555", algorithm="HmacSHA256", headers="host date request-target digest v-c-merchant-id", signature="7Rn295dOeRiv45yt773LehUDJrX8CKhxy4G6D7li/Ds=""#
        );
    }

    #[test]
    fn sdk_vector_get_transaction() {
        let headers = sign("GET", "/tss/v2/transactions/7283642389526617504003", "");
        assert_eq!(headers.digest, None);
        assert_eq!(
            headers.signature,
            r#"keyid="11111111-2222-3333-4444-555555555555", algorithm="HmacSHA256", headers="host date request-target v-c-merchant-id", signature="BvZPOsFIDTykzfgf6hcD1SoL5uNs0n+93VTz4l4B+TA=""#
        );
    }

    #[test]
    fn sdk_vector_get_with_query_string() {
        let headers = sign(
            "GET",
            "/reporting/v3/report-downloads?organizationId=test_merchant&reportDate=2024-10-13&reportName=TransactionRequestClass",
            "",
        );
        assert_eq!(
            signature_value(&headers),
            "g4H10V4kAh7SWxd1H+GApY93GkLFRWCzLON5XOWpsnI="
        );
        let headers = sign(
            "GET",
            "/reporting/v3/report-downloads?organizationId=test_merchant&reportDate=2024-10-13&reportName=TRR_daily",
            "",
        );
        assert_eq!(
            signature_value(&headers),
            "oT/ku99B//mqAfiwdH3wMGfoDruN8X9tkvCObftPte0="
        );
    }

    #[test]
    fn sdk_vector_post_capture_with_empty_object() {
        let headers = sign(
            "POST",
            "/pts/v2/payments/7283642389526617504003/captures",
            "{}",
        );
        assert_eq!(
            signature_value(&headers),
            "6aHNKVncpGWB65nfP1o3Q543zY3p+vg4AuwyJw0cG/o="
        );
    }

    #[test]
    fn sdk_vector_b_wire_capture() {
        let body = r#"{"clientReferenceInformation": {"code": "ORDER-1001", "partner": {"developerId": "J0TV2I9S"}}, "processingInformation": {"capture": true}, "orderInformation": {"amountDetails": {"totalAmount": "102.21", "currency": "USD"}}}"#;
        let headers = sign("POST", "/pts/v2/payments", body);
        assert_eq!(
            headers.digest.as_deref(),
            Some("SHA-256=QMCezqQCiy3h5132eidiAhNvVTLHdD78c6pclxQLlfs=")
        );
        assert_eq!(
            signature_value(&headers),
            "9Od1y5BOnK3KO7UijEW8FAX/7mwUk4JP9d339cVjnx4="
        );
    }

    /// The legacy draft-cavage `(request-target)` label gives the other value of §2.3; our
    /// signer must not produce it.
    #[test]
    fn legacy_parenthesised_request_target_differs() {
        let digest = digest_header(VECTOR_A_BODY.as_bytes());
        let legacy = format!(
            "host: {HOST}\ndate: {DATE}\n(request-target): post /pts/v2/payments\ndigest: {digest}\nv-c-merchant-id: test_merchant"
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(
            &BASE64
                .decode("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
                .unwrap(),
        )
        .unwrap();
        mac.update(legacy.as_bytes());
        let legacy_signature = BASE64.encode(mac.finalize().into_bytes());
        assert_eq!(
            legacy_signature,
            "hOCF+YYiRwWBB5YXKXyeC2er9Tv7sfjZfZM2twR6GUw="
        );
        let ours = sign("POST", "/pts/v2/payments", VECTOR_A_BODY);
        assert_ne!(signature_value(&ours), legacy_signature);
    }

    #[test]
    fn empty_body_digest_matches_reference() {
        assert_eq!(
            digest_header(b""),
            "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn http_date_is_rfc_7231_gmt() {
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_728_907_200);
        assert_eq!(http_date(time), DATE);
    }

    #[test]
    fn secret_must_be_base64_and_is_never_printed() {
        let bad = Credentials {
            merchant_id: "m".into(),
            key_id: "k".into(),
            shared_secret: SecretString::from("not base64!"),
        };
        assert_eq!(
            Signer::new(&bad).unwrap_err(),
            CredentialsError::SecretNotBase64
        );
        let good = Credentials {
            shared_secret: SecretString::from("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
            ..bad
        };
        let printed = format!("{good:?} {:?}", Signer::new(&good).unwrap());
        assert!(!printed.contains("AAECAwQF"), "{printed}");
        assert!(printed.contains("REDACTED"));
    }

    proptest! {
        /// Any change to the signed parts changes the signature; the method's case does not.
        #[test]
        fn signature_covers_every_signed_part(
            path in "/[a-z0-9/]{1,40}",
            body in "[ -~]{0,200}",
            other in "[ -~]{1,200}",
        ) {
            let base = sign("POST", &path, &body);
            prop_assert_eq!(&base, &sign("post", &path, &body));
            if other != body {
                prop_assert_ne!(&base.signature, &sign("POST", &path, &other).signature);
            }
            prop_assert_ne!(&base.signature, &sign("PUT", &path, &body).signature);
            let moved = format!("{path}?x=1");
            prop_assert_ne!(&base.signature, &sign("POST", &moved, &body).signature);
        }
    }
}
