//! Zoho Accounts: `POST /oauth/v2/token` (refresh grant) and `/oauth/v2/token/revoke`.
//! Errors come back as HTTP 200 with `{"error": …}`, as Zoho does (zoho.md §1.2).

use std::collections::HashMap;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::time::Instant;

use super::{AccessTokenRecord, ZohoSandbox};
use crate::ids;

fn oauth_error(sandbox: &ZohoSandbox, error: &str) -> Response {
    let mut world = sandbox.world();
    *world
        .stats
        .token_errors
        .entry(error.to_string())
        .or_insert(0) += 1;
    (StatusCode::OK, Json(json!({ "error": error }))).into_response()
}

/// Parameters from the query string and from a form body (Zoho accepts both).
fn params(
    query: HashMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> HashMap<String, String> {
    let mut all = query;
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if (is_form || !body.is_empty())
        && let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
    {
        all.extend(pairs);
    }
    all
}

pub(super) async fn token(
    State(sandbox): State<ZohoSandbox>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    sandbox.world().stats.token_requests += 1;
    let p = params(query, &headers, &body);
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or_default();
    let config = &sandbox.inner.config;
    match get("grant_type") {
        "refresh_token" => {}
        "authorization_code" => return oauth_error(&sandbox, "invalid_code"),
        _ => return oauth_error(&sandbox, "unsupported_grant_type"),
    }
    let Some(client) = config
        .clients
        .iter()
        .find(|c| c.client_id == get("client_id"))
    else {
        return oauth_error(&sandbox, "invalid_client");
    };
    if client.client_secret != get("client_secret") {
        return oauth_error(&sandbox, &config.wrong_secret_error);
    }
    let refresh_token = get("refresh_token").to_string();
    let now = Instant::now();
    let mut world = sandbox.world();
    if !client.refresh_tokens.contains(&refresh_token)
        || world.accounts.revoked.contains(&refresh_token)
    {
        drop(world);
        return oauth_error(&sandbox, "invalid_code");
    }

    // Throttle: N token requests per refresh token per window; the next is refused (§1.3).
    let window = Duration::from_secs(config.refresh_window_secs);
    let issued = world
        .accounts
        .issued
        .entry(refresh_token.clone())
        .or_default();
    while issued
        .front()
        .is_some_and(|t| now.duration_since(*t) >= window)
    {
        issued.pop_front();
    }
    if issued.len() >= config.refreshes_per_window {
        *world
            .stats
            .token_errors
            .entry("Access Denied".into())
            .or_insert(0) += 1;
        let status =
            StatusCode::from_u16(config.throttle_http_status).unwrap_or(StatusCode::BAD_REQUEST);
        return (
            status,
            Json(json!({
                "error_description": "You have made too many requests continuously. Please try again after some time.",
                "error": "Access Denied",
                "status": "failure"
            })),
        )
            .into_response();
    }
    issued.push_back(now);

    let access_token = ids::zoho_token();
    let lifetime = config.access_token_lifetime_secs;
    world.accounts.access_tokens.insert(
        access_token.clone(),
        AccessTokenRecord {
            refresh_token: refresh_token.clone(),
            expires_at: now + Duration::from_secs(lifetime),
        },
    );
    // At most N live access tokens per refresh token: the next invalidates the oldest.
    let live = world.accounts.live.entry(refresh_token).or_default();
    live.push_back(access_token.clone());
    let mut evicted = Vec::new();
    while live.len() > config.max_live_access_tokens {
        if let Some(oldest) = live.pop_front() {
            evicted.push(oldest);
        }
    }
    for token in evicted {
        world.accounts.access_tokens.remove(&token);
    }
    world.stats.tokens_issued += 1;
    drop(world);

    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    Json(json!({
        "access_token": access_token,
        "api_domain": format!("http://{host}"),
        "token_type": "Bearer",
        "expires_in": lifetime,
    }))
    .into_response()
}

pub(super) async fn revoke(
    State(sandbox): State<ZohoSandbox>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = params(query, &headers, &body);
    let token = p.get("token").cloned().unwrap_or_default();
    let mut world = sandbox.world();
    let known = sandbox
        .inner
        .config
        .clients
        .iter()
        .any(|c| c.refresh_tokens.contains(&token));
    if known {
        world.accounts.revoked.insert(token.clone());
        // Every access token minted from it dies with it.
        if let Some(live) = world.accounts.live.remove(&token) {
            for access in live {
                world.accounts.access_tokens.remove(&access);
            }
        }
    }
    Json(json!({"status": "success"})).into_response()
}

impl ZohoSandbox {
    /// Whether `token` is a live access token.
    pub(super) fn token_is_live(&self, token: &str) -> bool {
        let world = self.world();
        world
            .accounts
            .access_tokens
            .get(token)
            .is_some_and(|record| {
                Instant::now() < record.expires_at
                    && !world.accounts.revoked.contains(&record.refresh_token)
            })
    }
}
