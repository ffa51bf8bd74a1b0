//! The admin API's door: API tokens with roles (`Authorization: Bearer pb_…`), and the routes
//! that exist so far (`/api/v1/admin/whoami`, `/api/v1/admin/quota`).
//!
//! A missing, unknown or revoked token is a 401; a token whose role is below the route's is a
//! 403. Both say which, never echoing the token.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use paybridge_engine::tokens::{Role, TokenError, TokenInfo, Tokens};
use serde_json::json;

use crate::AppState;

pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/v1/admin/whoami", get(whoami))
        .route("/api/v1/admin/quota", get(quota))
}

fn error(status: StatusCode, code: &str, message: String) -> Response {
    let mut response = (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// The caller's token if it may use a route that needs `needed`; otherwise the answer to send.
pub async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    needed: Role,
) -> Result<TokenInfo, Response> {
    let Some(presented) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
    else {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send an API token as `Authorization: Bearer <token>` (paybridge tokens create --role …)"
                .into(),
        ));
    };
    let tokens = Tokens::new(state.engine.store.clone(), state.engine.clock);
    let token = match tokens.verify(presented).await {
        Ok(token) => token,
        Err(e @ (TokenError::Invalid | TokenError::Revoked)) => {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                format!("{e}: create one with paybridge tokens create --role …"),
            ));
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot check an API token");
            return Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "tokens cannot be checked right now; try again".into(),
            ));
        }
    };
    if token.role < needed {
        return Err(error(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "this needs the {needed} role; token {:?} ({}) is {}",
                token.name, token.id, token.role
            ),
        ));
    }
    Ok(token)
}

async fn whoami(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match authorize(&state, &headers, Role::Viewer).await {
        Ok(token) => {
            Json(json!({"id": token.id, "name": token.name, "role": token.role})).into_response()
        }
        Err(response) => response,
    }
}

/// Zoho quota use per product, organization and quota, read from the shared budgets.
async fn quota(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(response) = authorize(&state, &headers, Role::Viewer).await {
        return response;
    }
    let Some(budgets) = state.engine.connectors.zoho.budgets() else {
        return Json(json!({"metered": false, "quotas": []})).into_response();
    };
    match budgets.usage().await {
        Ok(usage) => Json(json!({"metered": true, "quotas": usage})).into_response(),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("quota use cannot be read: {e}"),
        ),
    }
}
