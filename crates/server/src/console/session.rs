//! Console sessions: a token is exchanged once for a session (an `HttpOnly`, `SameSite=Strict`
//! cookie naming a random id), each with its own CSRF token that every form and script sends
//! back. The token is checked again on every request, so revoking it ends its sessions.
//!
//! Sessions are kept in the store, so every node behind a load balancer knows them and a
//! restart signs nobody out; the store holds only the SHA-256 of a session's id.

use axum::http::{HeaderMap, header};
use paybridge_engine::tokens::TokenInfo;
use paybridge_store::ConsoleSession;
use rand::RngExt as _;
use sha2::Digest as _;

use crate::AppState;

/// How long a session lasts without being used.
pub const IDLE_MS: i64 = 8 * 3_600_000;
/// A session's last use is written at most this often (not on every request).
const TOUCH_EVERY_MS: i64 = 60_000;
pub const COOKIE: &str = "pb_console";

#[derive(Debug, Clone)]
pub struct Session {
    /// The token signed in with (never its secret).
    pub token: TokenInfo,
    pub csrf: String,
    pub last_seen_ms: i64,
}

fn random_id() -> String {
    let bytes: [u8; 24] = rand::rng().random();
    hex::encode(bytes)
}

fn hash(id: &str) -> String {
    hex::encode(sha2::Sha256::digest(id.as_bytes()))
}

/// Opens a session for `token`; its id (the cookie's value).
pub async fn open(
    state: &AppState,
    token: &TokenInfo,
) -> Result<String, paybridge_store::StoreError> {
    let id = random_id();
    let now = state.engine.clock.now_ms();
    state
        .engine
        .sessions()
        .open(
            &ConsoleSession {
                id_hash: hash(&id),
                token_id: token.id.clone(),
                csrf: random_id(),
                last_seen_ms: now,
            },
            now - IDLE_MS,
        )
        .await?;
    Ok(id)
}

/// Ends session `id` (signing out).
pub async fn close(state: &AppState, id: &str) {
    if let Err(e) = state.engine.sessions().close(&hash(id)).await {
        tracing::warn!(error = %e, "a console session could not be closed");
    }
}

/// The session id the request's cookie names.
pub fn cookie_id(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, COOKIE)
}

/// The value of the request's cookie `name`.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value)
}

/// The sign-in form's own CSRF token: set as a cookie with the form and repeated in it, so that
/// a sign-in posted from another site (which cannot read the cookie, nor send it: SameSite)
/// cannot sign the visitor in as somebody else.
pub const LOGIN_COOKIE: &str = "pb_login";

/// A fresh sign-in token, and the `Set-Cookie` that carries it.
pub fn login_token(headers: &HeaderMap) -> (String, String) {
    let token = random_id();
    let cookie = format!(
        "{LOGIN_COOKIE}={token}; Path=/console/login; HttpOnly; SameSite=Strict; Max-Age=3600{}",
        if behind_https(headers) {
            "; Secure"
        } else {
            ""
        }
    );
    (token, cookie)
}

/// Whether a sign-in form carried the token its cookie holds (constant time).
pub fn login_token_ok(headers: &HeaderMap, presented: Option<&str>) -> bool {
    use subtle::ConstantTimeEq as _;
    match (cookie(headers, LOGIN_COOKIE), presented) {
        (Some(expected), Some(presented)) if !expected.is_empty() => {
            bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
        }
        _ => false,
    }
}

fn behind_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// The request's live session, if its token is still valid.
pub async fn current(state: &AppState, headers: &HeaderMap) -> Option<(String, Session)> {
    let id = cookie_id(headers)?;
    let session = by_id(state, id).await?;
    Some((id.to_string(), session))
}

/// Session `id`, if it is live and its token is still valid (a revoked token ends it).
pub async fn by_id(state: &AppState, id: &str) -> Option<Session> {
    let sessions = state.engine.sessions();
    let now = state.engine.clock.now_ms();
    let id_hash = hash(id);
    let stored = sessions.get(&id_hash).await.ok()??;
    if now - stored.last_seen_ms >= IDLE_MS {
        close(state, id).await;
        return None;
    }
    let token = match state.engine.tokens().live(&stored.token_id).await {
        Ok(Some(token)) => token,
        _ => {
            close(state, id).await;
            return None;
        }
    };
    if now - stored.last_seen_ms >= TOUCH_EVERY_MS
        && let Err(e) = sessions.touch(&id_hash, now).await
    {
        tracing::warn!(error = %e, "a console session's last use could not be recorded");
    }
    Some(Session {
        token,
        csrf: stored.csrf,
        last_seen_ms: now,
    })
}

/// The `Set-Cookie` value of a new session (`Secure` when the request came over HTTPS through
/// a proxy that says so).
pub fn set_cookie(id: &str, headers: &HeaderMap) -> String {
    let secure = behind_https(headers);
    format!(
        "{COOKIE}={id}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{}",
        IDLE_MS / 1000,
        if secure { "; Secure" } else { "" }
    )
}

pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Whether `presented` is the session's CSRF token (constant time).
pub fn csrf_ok(session: &Session, presented: Option<&str>) -> bool {
    use subtle::ConstantTimeEq as _;
    presented.is_some_and(|p| bool::from(p.as_bytes().ct_eq(session.csrf.as_bytes())))
}
