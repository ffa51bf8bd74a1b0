//! Connections over the admin API: each Cybersource, Zoho and storefront connection with its
//! endpoint, data centre, account, status, last error and (Zoho) quota use; a test that calls it
//! once; and rotating one of its secrets into the vault. Secrets are write-only: no answer ever
//! holds one.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post, put};
use paybridge_engine::health::{CONNECTIONS, ConnectionHealth};
use paybridge_engine::tokens::Role;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::{ApiError, ErrorBody, QuotaLine, authorize, json_body};
use crate::AppState;

pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/v1/admin/connections", get(list))
        .route("/api/v1/admin/connections/{name}/test", post(test))
        .route(
            "/api/v1/admin/connections/{name}/secrets/{key}",
            put(rotate),
        )
}

/// How a connection is set up (what the configuration says; never a secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConnectionInfo {
    /// `cybersource`, `zoho` or `storefront`.
    pub name: String,
    pub vendor: String,
    /// The base URL it calls.
    pub endpoint: String,
    /// Cybersource's environment or Zoho's data centre.
    pub data_centre: String,
    /// The merchant id, the organization id, …
    pub account: String,
    /// Zoho products in use (`books`, `inventory`, `crm`, `desk`).
    pub products: Vec<String>,
    /// Where each of its secrets comes from.
    pub secrets: Vec<SecretSlot>,
}

/// Where one secret is kept: the vault entry or the environment variable named in the
/// configuration. The value is never shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SecretSlot {
    /// The configuration key (`cybersource.shared_secret`, `zoho.refresh_token`, …).
    pub key: String,
    /// `vault` or `env`.
    pub source: String,
    /// The vault entry's or the variable's name.
    pub reference: String,
}

/// A connection, its health, and (Zoho) its quota use.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConnectionView {
    #[serde(flatten)]
    pub info: ConnectionInfo,
    /// `ok`, `failing`, `misconfigured` or `unknown` (nothing seen yet).
    pub status: String,
    pub health: ConnectionHealth,
    pub quota: Vec<QuotaLine>,
}

/// A URL without its user info, query and fragment (a password or a key in a callback URL
/// stays out of answers).
pub fn redact_url(url: &url::Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

pub(crate) async fn views(state: &AppState) -> Result<Vec<ConnectionView>, ApiError> {
    let quota = super::quota_lines(state)
        .await
        .unwrap_or_default()
        .unwrap_or_default();
    Ok(super::infos(state)
        .into_iter()
        .map(|info| {
            let health = state.engine.health.of(&info.name);
            ConnectionView {
                status: health.status().to_string(),
                quota: if info.name == "zoho" {
                    quota.clone()
                } else {
                    Vec::new()
                },
                health,
                info,
            }
        })
        .collect())
}

/// Every connection with its status, last error and quota use.
#[utoipa::path(get, path = "/api/v1/admin/connections", tag = "connections",
    responses((status = 200, body = Vec<ConnectionView>), (status = 401, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<ConnectionView>>, ApiError> {
    authorize(&state, &headers, Role::Viewer).await?;
    Ok(Json(views(&state).await?))
}

/// What a test saw.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TestResult {
    pub connection: String,
    pub ok: bool,
    pub message: String,
}

pub(crate) async fn test_connection(state: &AppState, name: &str) -> Result<TestResult, ApiError> {
    let Some(connection) = CONNECTIONS.iter().find(|c| **c == name) else {
        return Err(ApiError::not_found(format!(
            "there is no connection {name:?} (there are: {})",
            CONNECTIONS.join(", ")
        )));
    };
    let engine = &state.engine;
    let outcome = engine
        .connectors()
        .test(connection, engine.clock.now_ms())
        .await;
    let outcome = outcome.map_err(|e| paybridge_model::pan::redact(&e));
    engine
        .health
        .tested(connection, outcome.clone(), engine.clock.now_ms());
    Ok(TestResult {
        connection: name.to_string(),
        ok: outcome.is_ok(),
        message: match outcome {
            Ok(m) | Err(m) => m,
        },
    })
}

/// Calls the connection once, changing nothing (Cybersource: a look-up that proves the
/// credentials; Zoho: the Books organization's currencies; storefront: a signed test callback).
#[utoipa::path(post, path = "/api/v1/admin/connections/{name}/test", tag = "connections",
    params(("name" = String, Path, description = "cybersource, zoho or storefront")),
    responses((status = 200, body = TestResult), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn test(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<TestResult>, ApiError> {
    authorize(&state, &headers, Role::Operator).await?;
    Ok(Json(test_connection(&state, &name).await?))
}

/// A new value for a secret. Never echoed.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSecret {
    #[schema(value_type = String, format = Password)]
    pub value: SecretString,
}

/// What a rotation did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Rotated {
    pub connection: String,
    pub key: String,
    /// The vault entry written.
    pub vault_entry: String,
    /// When the new value is in use: at once on this node, within 30 s on the others (a
    /// stored Zoho connection: at the next start).
    pub takes_effect: String,
}

pub(crate) async fn rotate_secret(
    state: &AppState,
    connection: &str,
    key: &str,
    value: &SecretString,
) -> Result<Rotated, ApiError> {
    let infos = super::infos(state);
    let info = infos
        .iter()
        .find(|c| c.name == connection)
        .ok_or_else(|| ApiError::not_found(format!("there is no connection {connection:?}")))?;
    let slot = info.secrets.iter().find(|s| s.key == key).ok_or_else(|| {
        let keys: Vec<&str> = info.secrets.iter().map(|s| s.key.as_str()).collect();
        ApiError::not_found(format!(
            "connection {connection} has no secret {key:?} (it has: {})",
            if keys.is_empty() {
                "none configured".to_string()
            } else {
                keys.join(", ")
            }
        ))
    })?;
    if slot.source != "vault" {
        return Err(ApiError::conflict(format!(
            "{key} is read from the environment variable {}: change it there and restart paybridge, or move it into the vault ({}_vault)",
            slot.reference,
            key.rsplit('.').next().unwrap_or(key)
        )));
    }
    let Some(vault) = &state.admin.vault else {
        return Err(ApiError::conflict(
            "this process has no vault key: set PAYBRIDGE_MASTER_KEY (or [vault] key_file) to rotate secrets",
        ));
    };
    // A value the connection cannot use is refused before anything is stored.
    let target = super::live_secrets::target(state, key, value)?;
    vault
        .set(&slot.reference, value)
        .await
        .map_err(|e| ApiError::unavailable("the vault could not store the secret", &e))?;
    state
        .admin
        .secret_digests
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(slot.reference.clone(), super::live_secrets::digest(value));
    let takes_effect = super::live_secrets::apply(state, target, value).await;
    tracing::info!(%connection, %key, entry = %slot.reference, %takes_effect, "secret rotated");
    Ok(Rotated {
        connection: connection.to_string(),
        key: key.to_string(),
        vault_entry: slot.reference.clone(),
        takes_effect,
    })
}

/// Writes a new value of one of the connection's secrets into its vault entry.
#[utoipa::path(put, path = "/api/v1/admin/connections/{name}/secrets/{key}", tag = "connections",
    params(("name" = String, Path, description = "the connection"), ("key" = String, Path, description = "the configuration key, e.g. zoho.refresh_token")),
    request_body = NewSecret,
    responses((status = 400, body = ErrorBody, description = "the body is not this route's"), (status = 200, body = Rotated), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "not kept in the vault"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn rotate(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((name, key)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Rotated>, ApiError> {
    authorize(&state, &headers, Role::Admin).await?;
    let secret: NewSecret = json_body(&body, None)?;
    Ok(Json(
        rotate_secret(&state, &name, &key, &secret.value).await?,
    ))
}
