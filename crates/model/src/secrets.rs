//! Secrets in data shown to people: values under keys that name a credential (`token`,
//! `client_secret`, `password`, `Authorization`, …) and secrets in URL queries (`?token=…`,
//! `?secret=…`), replaced by a marker wherever a payload, a URL or a log line is shown.
//!
//! Data paybridge keeps drops such secrets when it can (a CRM notification's channel token is
//! checked, then never stored); this is the second line, for what a vendor or an older version
//! put there.

use serde_json::Value;

/// What a redacted secret reads as.
pub const REDACTED: &str = "**REDACTED**";

/// Whether a field named `key` holds a credential: `token` and any `…token` (`access_token`,
/// `refreshToken`, `transient_token`), any `…secret`, passwords, API keys, `Authorization`,
/// signatures and JWTs. Not `tokens` or `token_information` (lists of TMS ids) nor
/// `token_type`.
pub fn is_secret_key(key: &str) -> bool {
    let key: String = key
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    key.ends_with("token")
        || key.ends_with("secret")
        || key.contains("password")
        || key.ends_with("jwt")
        || matches!(
            key.as_str(),
            "apikey" | "authorization" | "signature" | "cookie" | "setcookie" | "privatekey"
        )
}

/// Replaces, in place, the value of every field that names a credential (at any depth) with
/// [`REDACTED`], and the secrets in every string that is a URL with a query. Returns how many
/// values it changed.
pub fn redact_json(value: &mut Value) -> usize {
    match value {
        Value::Object(fields) => fields
            .iter_mut()
            .map(|(key, value)| {
                if is_secret_key(key) && !matches!(value, Value::Null) {
                    *value = Value::String(REDACTED.into());
                    1
                } else {
                    redact_json(value)
                }
            })
            .sum(),
        Value::Array(items) => items.iter_mut().map(redact_json).sum(),
        Value::String(text) if text.contains('?') && text.contains('=') => {
            let redacted = redact_query(text);
            if redacted == *text {
                0
            } else {
                *text = redacted;
                1
            }
        }
        _ => 0,
    }
}

/// `text` with the values of secret query parameters in any URL in it redacted:
/// `…/webhooks/zoho/books?token=abc&x=1` → `…?token=**REDACTED**&x=1`.
pub fn redact_query(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    // Each `?` or `&` starts a parameter; its name runs to `=`, its value to `&`, `#`, a space
    // or a quote.
    while let Some(at) = rest.find(['?', '&']) {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let name_end = rest
            .find(|c: char| c == '=' || c == '&' || c.is_whitespace() || c == '"')
            .unwrap_or(rest.len());
        let name = &rest[..name_end];
        if rest[name_end..].starts_with('=') && is_secret_key(name) {
            out.push_str(name);
            out.push('=');
            rest = &rest[name_end + 1..];
            let value_end = rest
                .find(|c: char| c == '&' || c == '#' || c.is_whitespace() || c == '"' || c == '\'')
                .unwrap_or(rest.len());
            if value_end > 0 {
                out.push_str(REDACTED);
            }
            rest = &rest[value_end..];
        }
    }
    out.push_str(rest);
    out
}

/// A log line (or any text shown) without secrets: card numbers masked to their last four,
/// the values of secret query parameters, and the credential after an `Authorization` scheme
/// (`Bearer …`, `Basic …`, `Zoho-oauthtoken …`).
pub fn redact_line(text: &str) -> String {
    let text = crate::pan::redact(&redact_query(text));
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    loop {
        let found = ["Bearer ", "Basic ", "Zoho-oauthtoken "]
            .iter()
            .filter_map(|scheme| rest.find(scheme).map(|at| (at, scheme.len())))
            .min();
        let Some((at, len)) = found else {
            break;
        };
        out.push_str(&rest[..at + len]);
        rest = &rest[at + len..];
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ',')
            .unwrap_or(rest.len());
        if end > 0 && !rest.starts_with(REDACTED) {
            out.push_str(REDACTED);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn credentials_are_named_by_their_keys_and_ids_are_not() {
        for secret in [
            "token",
            "access_token",
            "refreshToken",
            "client_secret",
            "callback-secret",
            "Password",
            "api_key",
            "Authorization",
            "transientTokenJwt",
            "csrf_token",
        ] {
            assert!(is_secret_key(secret), "{secret}");
        }
        for plain in [
            "tokens",
            "tokenInformation",
            "token_type",
            "customer_id",
            "ids",
            "channel_id",
            "idempotency_key",
            "secret_name",
        ] {
            assert!(!is_secret_key(plain), "{plain}");
        }
    }

    #[test]
    fn payloads_lose_their_secrets_at_any_depth_and_keep_the_rest() {
        let mut payload = json!({
            "channel_id": "1000000068001", "token": "zoho-channel-token", "ids": ["5725767000003000015"],
            "nested": [{"client_secret": "s3cr3t", "tokens": {"customer_id": "C1"}, "token": null}],
            "url": "https://example.com/webhooks/zoho/books?organization_id=1&token=abc123#x",
        });
        assert_eq!(redact_json(&mut payload), 3);
        assert_eq!(
            payload,
            json!({
                "channel_id": "1000000068001", "token": REDACTED, "ids": ["5725767000003000015"],
                "nested": [{"client_secret": REDACTED, "tokens": {"customer_id": "C1"}, "token": null}],
                "url": format!("https://example.com/webhooks/zoho/books?organization_id=1&token={REDACTED}#x"),
            })
        );
    }

    #[test]
    fn a_log_line_keeps_no_card_query_secret_or_credential() {
        let line = r#"DEBUG request{method=POST uri=/webhooks/zoho/books?token=tok-9f8e7d&organization_id=1} headers={"authorization": "Bearer pb_secret_42"} card 4111111111111111 Zoho-oauthtoken 1000.abc.def"#;
        let clean = redact_line(line);
        for secret in [
            "tok-9f8e7d",
            "pb_secret_42",
            "4111111111111111",
            "1000.abc.def",
        ] {
            assert!(!clean.contains(secret), "{secret}: {clean}");
        }
        assert!(
            clean.contains("organization_id=1") && clean.contains("[card ****1111]"),
            "{clean}"
        );
        assert_eq!(redact_line("nothing to hide here"), "nothing to hide here");
    }

    #[test]
    fn query_secrets_are_redacted_in_any_text() {
        assert_eq!(
            redact_query("POST /webhooks/zoho/desk?secret=xyz HTTP/1.1"),
            format!("POST /webhooks/zoho/desk?secret={REDACTED} HTTP/1.1")
        );
        assert_eq!(
            redact_query("uri=/webhooks/zoho/books?token=abc&organization_id=42"),
            format!("uri=/webhooks/zoho/books?token={REDACTED}&organization_id=42")
        );
        assert_eq!(redact_query("/a?b=1&c=2"), "/a?b=1&c=2");
        assert_eq!(redact_query("what? and & then"), "what? and & then");
        assert_eq!(redact_query("x?token=&y=1"), "x?token=&y=1");
    }
}
