//! Zoho Accounts (reference zoho.md §1): the consent page (`GET /oauth/v2/auth`, approved at
//! once, as if the user clicked Accept), the token endpoint (`POST /oauth/v2/token`: the
//! authorization-code and refresh-token grants) and revocation, per data centre.
//!
//! Zoho's behaviour: errors come back as HTTP 200 `{"error": …}`; a grant code is single-use,
//! lives `grant_code_ttl_secs` and a client may have 10 minted per 10 minutes; a refresh token
//! mints at most `refreshes_per_window` access tokens per window (then `Access Denied`), keeps at
//! most `max_live_access_tokens` alive (the next kills the oldest), and a client keeps at most
//! `max_refresh_tokens_per_client` refresh tokens (the next silently kills the oldest); revoking
//! a refresh token takes its access tokens with it. Tokens belong to the data centre that issued
//! them: used at another they fail, and a client unknown to a data centre is `invalid_client`.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;

use super::{OAuthClientConfig, ZohoSandbox};
use crate::ids;

pub(super) struct AccessTokenRecord {
    pub refresh_token: String,
    pub expires_at: Instant,
    pub data_centre: String,
}

struct GrantCode {
    client_id: String,
    redirect_uri: Option<String>,
    offline: bool,
    expires_at: Instant,
    data_centre: String,
}

#[derive(Default)]
pub(super) struct Accounts {
    pub access_tokens: HashMap<String, AccessTokenRecord>,
    /// Token requests per refresh token, for the throttle.
    issued: HashMap<String, VecDeque<Instant>>,
    /// Live access tokens per refresh token, oldest first.
    live: HashMap<String, VecDeque<String>>,
    pub revoked: std::collections::HashSet<String>,
    /// Refresh tokens issued by code exchanges, per client, oldest first, with their DC.
    granted: HashMap<String, VecDeque<(String, String)>>,
    codes: HashMap<String, GrantCode>,
    /// Grant codes minted per client, for the 10-per-10-minutes rule.
    minted: HashMap<String, VecDeque<Instant>>,
}

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

impl ZohoSandbox {
    /// The client, if this data centre knows it.
    fn client_here(&self, client_id: &str) -> Option<&OAuthClientConfig> {
        self.inner
            .config
            .clients
            .iter()
            .find(|c| c.client_id == client_id)
            .filter(|c| c.multi_dc || c.data_centre == *self.dc)
    }

    /// The data centre a refresh token lives in, if it is a live one of this client.
    fn refresh_token_dc(&self, client: &OAuthClientConfig, token: &str) -> Option<String> {
        let world = self.world();
        if world.accounts.revoked.contains(token) {
            return None;
        }
        if client.refresh_tokens.iter().any(|t| t == token) {
            return Some(client.data_centre.clone());
        }
        world
            .accounts
            .granted
            .get(&client.client_id)?
            .iter()
            .find(|(t, _)| t == token)
            .map(|(_, dc)| dc.clone())
    }

    /// Whether `token` is a live access token of this data centre.
    pub(super) fn token_is_live(&self, token: &str) -> bool {
        let world = self.world();
        world
            .accounts
            .access_tokens
            .get(token)
            .is_some_and(|record| {
                Instant::now() < record.expires_at
                    && record.data_centre == *self.dc
                    && !world.accounts.revoked.contains(&record.refresh_token)
            })
    }

    /// Mints a grant code, at most 10 per client per 10 minutes.
    fn mint_code(
        &self,
        client_id: &str,
        redirect_uri: Option<String>,
        offline: bool,
    ) -> Result<String, &'static str> {
        let now = Instant::now();
        let mut world = self.world();
        let minted = world
            .accounts
            .minted
            .entry(client_id.to_string())
            .or_default();
        while minted
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(600))
        {
            minted.pop_front();
        }
        if minted.len() >= 10 {
            return Err("access_denied");
        }
        minted.push_back(now);
        let code = format!("1000.{}", &ids::zoho_token()[5..]);
        world.accounts.codes.insert(
            code.clone(),
            GrantCode {
                client_id: client_id.to_string(),
                redirect_uri,
                offline,
                expires_at: now + Duration::from_secs(self.inner.config.grant_code_ttl_secs),
                data_centre: self.dc.to_string(),
            },
        );
        Ok(code)
    }

    /// An access token for `refresh_token`, within the throttle and the live-token cap.
    fn mint_access_token(
        &self,
        refresh_token: &str,
        data_centre: &str,
    ) -> Result<String, Box<Response>> {
        let config = &self.inner.config;
        let now = Instant::now();
        let mut world = self.world();
        // Throttle: N token requests per refresh token per window; the next is refused (§1.3).
        let window = Duration::from_secs(config.refresh_window_secs);
        let issued = world
            .accounts
            .issued
            .entry(refresh_token.to_string())
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
            let status = StatusCode::from_u16(config.throttle_http_status)
                .unwrap_or(StatusCode::BAD_REQUEST);
            return Err(Box::new(
                (
                    status,
                    Json(json!({
                        "error_description": "You have made too many requests continuously. Please try again after some time.",
                        "error": "Access Denied",
                        "status": "failure"
                    })),
                )
                    .into_response(),
            ));
        }
        issued.push_back(now);
        let access_token = ids::zoho_token();
        world.accounts.access_tokens.insert(
            access_token.clone(),
            AccessTokenRecord {
                refresh_token: refresh_token.to_string(),
                expires_at: now + Duration::from_secs(config.access_token_lifetime_secs),
                data_centre: data_centre.to_string(),
            },
        );
        // At most N live access tokens per refresh token: the next invalidates the oldest.
        let live = world
            .accounts
            .live
            .entry(refresh_token.to_string())
            .or_default();
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
        Ok(access_token)
    }

    /// Records a refresh token a code exchange issued; the client's oldest beyond the cap dies.
    fn grant_refresh_token(&self, client_id: &str) -> String {
        let token = ids::zoho_token();
        let cap = self.inner.config.max_refresh_tokens_per_client;
        let mut world = self.world();
        let granted = world
            .accounts
            .granted
            .entry(client_id.to_string())
            .or_default();
        granted.push_back((token.clone(), self.dc.to_string()));
        let mut dead = Vec::new();
        while granted.len() > cap {
            if let Some((oldest, _)) = granted.pop_front() {
                dead.push(oldest);
            }
        }
        for oldest in dead {
            world.accounts.revoked.insert(oldest);
        }
        token
    }
}

fn host(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string()
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
    let grant = get("grant_type");
    if !matches!(grant, "refresh_token" | "authorization_code") {
        return oauth_error(&sandbox, "unsupported_grant_type");
    }
    // A client is known only in its data centre (unless Multi-DC is on).
    let Some(client) = sandbox.client_here(get("client_id")) else {
        return oauth_error(&sandbox, "invalid_client");
    };
    if client.client_secret != get("client_secret") {
        return oauth_error(&sandbox, &sandbox.inner.config.wrong_secret_error);
    }
    let api_domain = format!("http://{}", host(&headers));
    let lifetime = sandbox.inner.config.access_token_lifetime_secs;
    if grant == "authorization_code" {
        let code = {
            let mut world = sandbox.world();
            world.accounts.codes.remove(get("code"))
        };
        let Some(code) = code.filter(|c| {
            c.client_id == client.client_id
                && c.expires_at > Instant::now()
                && c.data_centre == *sandbox.dc
        }) else {
            return oauth_error(&sandbox, "invalid_code");
        };
        if let Some(registered) = &code.redirect_uri
            && registered != get("redirect_uri")
        {
            return oauth_error(&sandbox, "invalid_redirect_uri");
        }
        let refresh_token = sandbox.grant_refresh_token(&client.client_id);
        let access_token = match sandbox.mint_access_token(&refresh_token, &sandbox.dc) {
            Ok(token) => token,
            Err(response) => return *response,
        };
        let mut answer = json!({
            "access_token": access_token,
            "api_domain": api_domain,
            "token_type": "Bearer",
            "expires_in": lifetime,
        });
        if code.offline {
            answer["refresh_token"] = json!(refresh_token);
        }
        return Json(answer).into_response();
    }
    let refresh_token = get("refresh_token").to_string();
    let Some(data_centre) = sandbox
        .refresh_token_dc(client, &refresh_token)
        .filter(|dc| *dc == *sandbox.dc)
    else {
        return oauth_error(&sandbox, "invalid_code");
    };
    match sandbox.mint_access_token(&refresh_token, &data_centre) {
        Ok(access_token) => Json(json!({
            "access_token": access_token,
            "api_domain": api_domain,
            "token_type": "Bearer",
            "expires_in": lifetime,
        }))
        .into_response(),
        Err(response) => *response,
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct Consent {
    client_id: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    response_type: String,
    #[serde(default)]
    access_type: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    state: Option<String>,
}

/// `GET /oauth/v2/auth`: the consent page, approved at once; redirects back with the code, the
/// data centre's `location` and its `accounts-server`.
pub(super) async fn authorize(
    State(sandbox): State<ZohoSandbox>,
    Query(consent): Query<Consent>,
    headers: HeaderMap,
) -> Response {
    let refuse = |message: &str| (StatusCode::BAD_REQUEST, message.to_string()).into_response();
    let Some(client) = sandbox.client_here(&consent.client_id) else {
        return refuse("Invalid Client");
    };
    if consent.response_type != "code" || consent.scope.trim().is_empty() {
        return refuse("Invalid Request: response_type=code and a scope are required");
    }
    if !client.redirect_uris.contains(&consent.redirect_uri) {
        return refuse("Invalid Redirect Uri");
    }
    let Ok(mut back) = url::Url::parse(&consent.redirect_uri) else {
        return refuse("Invalid Redirect Uri");
    };
    match sandbox.mint_code(
        &client.client_id,
        Some(consent.redirect_uri.clone()),
        consent.access_type == "offline",
    ) {
        Ok(code) => {
            back.query_pairs_mut()
                .append_pair("code", &code)
                .append_pair("location", &sandbox.dc)
                .append_pair("accounts-server", &format!("http://{}", host(&headers)));
        }
        Err(error) => {
            back.query_pairs_mut().append_pair("error", error);
        }
    }
    if let Some(state) = &consent.state {
        back.query_pairs_mut().append_pair("state", state);
    }
    Redirect::to(back.as_str()).into_response()
}

#[derive(Debug, Deserialize)]
pub(super) struct SelfClientCode {
    client_id: String,
    #[serde(default)]
    scope: String,
}

/// `POST /__sandbox/oauth/grant-codes`: what the API console's Self Client tab does — a grant
/// code for offline access, to be exchanged once.
pub(super) async fn control_grant_code(
    State(sandbox): State<ZohoSandbox>,
    Json(request): Json<SelfClientCode>,
) -> Response {
    if sandbox.client_here(&request.client_id).is_none() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    match sandbox.mint_code(&request.client_id, None, true) {
        Ok(code) => (
            StatusCode::CREATED,
            Json(json!({"code": code, "scope": request.scope,
                        "expires_in": sandbox.inner.config.grant_code_ttl_secs})),
        )
            .into_response(),
        Err(error) => {
            (StatusCode::TOO_MANY_REQUESTS, Json(json!({"error": error}))).into_response()
        }
    }
}

pub(super) async fn revoke(
    State(sandbox): State<ZohoSandbox>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = params(query, &headers, &body);
    let token = p.get("token").cloned().unwrap_or_default();
    let known = sandbox
        .inner
        .config
        .clients
        .iter()
        .any(|c| sandbox.refresh_token_dc(c, &token).is_some());
    if known {
        let mut world = sandbox.world();
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
