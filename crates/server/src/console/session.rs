//! Console sessions: a token is exchanged once for a session (an `HttpOnly`, `SameSite=Strict`
//! cookie naming a random id), each with its own CSRF token that every form and script sends
//! back. The token is checked again on every request, so revoking it ends its sessions.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use axum::http::{HeaderMap, header};
use paybridge_engine::tokens::TokenInfo;
use rand::RngExt as _;

use crate::AppState;

/// How long a session lasts without being used.
pub const IDLE_MS: i64 = 8 * 3_600_000;
pub const COOKIE: &str = "pb_console";

#[derive(Debug, Clone)]
pub struct Session {
    /// The token signed in with (never its secret).
    pub token: TokenInfo,
    pub csrf: String,
    pub last_seen_ms: i64,
}

/// The live sessions of this process (a restart signs everyone out).
#[derive(Debug, Default)]
pub struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
}

fn random_id() -> String {
    let bytes: [u8; 24] = rand::rng().random();
    hex::encode(bytes)
}

impl Sessions {
    pub fn open(&self, token: TokenInfo, now_ms: i64) -> String {
        let id = random_id();
        let mut all = self.by_id.lock().unwrap_or_else(PoisonError::into_inner);
        all.retain(|_, s| now_ms - s.last_seen_ms < IDLE_MS);
        all.insert(
            id.clone(),
            Session {
                token,
                csrf: random_id(),
                last_seen_ms: now_ms,
            },
        );
        id
    }

    pub fn close(&self, id: &str) {
        self.by_id
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    fn touch(&self, id: &str, now_ms: i64) -> Option<Session> {
        let mut all = self.by_id.lock().unwrap_or_else(PoisonError::into_inner);
        let session = all.get_mut(id)?;
        if now_ms - session.last_seen_ms >= IDLE_MS {
            all.remove(id);
            return None;
        }
        session.last_seen_ms = now_ms;
        Some(session.clone())
    }
}

/// The session id the request's cookie names.
pub fn cookie_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// The request's live session, if its token is still valid.
pub async fn current(state: &AppState, headers: &HeaderMap) -> Option<(String, Session)> {
    let id = cookie_id(headers)?;
    let session = by_id(state, id).await?;
    Some((id.to_string(), session))
}

/// Session `id`, if it is live and its token is still valid (a revoked token ends it).
pub async fn by_id(state: &AppState, id: &str) -> Option<Session> {
    let session = state
        .admin
        .sessions
        .touch(id, state.engine.clock.now_ms())?;
    match state.engine.store.token(&session.token.id).await {
        Ok(Some(record)) if record.revoked_ms.is_none() => Some(session),
        _ => {
            state.admin.sessions.close(id);
            None
        }
    }
}

/// The `Set-Cookie` value of a new session (`Secure` when the request came over HTTPS through
/// a proxy that says so).
pub fn set_cookie(id: &str, headers: &HeaderMap) -> String {
    let secure = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
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
