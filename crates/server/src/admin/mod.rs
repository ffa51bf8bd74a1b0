//! The admin API (`/api/v1/admin/…`): runs, dead letters, flows, connections, quota use and a
//! metrics summary, for operators and the console. Described by the OpenAPI document at
//! `/openapi.json` ([`crate::openapi`]).
//!
//! Every route needs an API token (`Authorization: Bearer pb_…`, made with `paybridge tokens
//! create --role …`). Reading needs `viewer`; replaying, discarding and testing connections
//! `operator`; deploying, promoting and rotating secrets `admin`. A missing, unknown or revoked
//! token is a 401, a role too low a 403; both say which, never echoing the token.

pub mod connections;
pub mod flows;
pub mod live_secrets;
pub mod orders;
pub mod runs;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use connections::{ConnectionInfo, redact_url};
use paybridge_engine::tokens::{Role, TokenError, TokenInfo};
use serde::Serialize;
use serde_json::json;

use crate::AppState;

pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/v1/admin/whoami", get(whoami))
        .route("/api/v1/admin/quota", get(quota))
        .route("/api/v1/admin/summary", get(summary))
        .merge(runs::routes())
        .merge(orders::routes())
        .merge(flows::routes())
        .merge(connections::routes())
}

/// An error answer: `{"error": {"code", "message"}}` with its HTTP status.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// `unauthorized`, `forbidden`, `not_found`, `bad_request`, `conflict`, `unavailable`, …
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// The store or another part did not answer; the details go to the log, not the caller.
    pub fn unavailable(what: &str, error: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(error = %error, "{what}");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("{what}; try again"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(json!({"error": {"code": self.code, "message": self.message}})),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<paybridge_engine::dlq::DlqError> for ApiError {
    fn from(e: paybridge_engine::dlq::DlqError) -> ApiError {
        runs::dlq_error(e)
    }
}

impl From<paybridge_store::StoreError> for ApiError {
    fn from(e: paybridge_store::StoreError) -> ApiError {
        ApiError::unavailable("the store did not answer", &e)
    }
}

/// A request body read as `T` — called after the caller's role is checked, so that a caller
/// who may not use a route learns that (403), not what is wrong with its body. An empty body is
/// `T`'s default when `empty` is given. A body that is not `T` is a 400 saying why.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
    empty: Option<T>,
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace)
        && let Some(default) = empty
    {
        return Ok(default);
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the request body is not what this route takes: {e}"
        ))
    })
}

/// The token presented as `Authorization: Bearer …`, if any.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// The token `presented` if it is valid and its role is at least `needed`.
pub(crate) async fn check_token(
    state: &AppState,
    presented: Option<&str>,
    needed: Role,
) -> Result<TokenInfo, ApiError> {
    let Some(presented) = presented else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send an API token as `Authorization: Bearer <token>` (paybridge tokens create --role …)",
        ));
    };
    let tokens = state.engine.tokens();
    let token = match tokens.verify(presented).await {
        Ok(token) => token,
        Err(e @ (TokenError::Invalid | TokenError::Revoked)) => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                format!("{e}: create one with paybridge tokens create --role …"),
            ));
        }
        Err(e) => {
            return Err(ApiError::unavailable(
                "tokens cannot be checked right now",
                &e,
            ));
        }
    };
    require(&token, needed)?;
    Ok(token)
}

/// A 403 unless `token`'s role is at least `needed`.
pub(crate) fn require(token: &TokenInfo, needed: Role) -> Result<(), ApiError> {
    if token.role < needed {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "this needs the {needed} role; token {:?} ({}) is {}",
                token.name, token.id, token.role
            ),
        ));
    }
    Ok(())
}

/// The caller's token if it may use a route that needs `needed`; otherwise the answer to send.
pub async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    needed: Role,
) -> Result<TokenInfo, ApiError> {
    check_token(state, bearer(headers), needed).await
}

/// The token the request was made with.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WhoAmI {
    pub id: String,
    pub name: String,
    pub role: Role,
}

/// Who the token is.
#[utoipa::path(get, path = "/api/v1/admin/whoami", tag = "admin",
    responses((status = 200, body = WhoAmI), (status = 401, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn whoami(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<WhoAmI>, ApiError> {
    let token = authorize(&state, &headers, Role::Viewer).await?;
    Ok(Json(WhoAmI {
        id: token.id,
        name: token.name,
        role: token.role,
    }))
}

/// Zoho quota use per product, organization and quota.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QuotaReport {
    /// Whether calls are metered against the organization's plans at all.
    pub metered: bool,
    pub quotas: Vec<QuotaLine>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QuotaLine {
    /// `finance` (Books and Inventory), `crm` or `desk`.
    pub product: String,
    pub organization: String,
    /// Which limit (`per_minute`, `per_day`, `credits_per_day`, …).
    pub quota: String,
    pub limit: u64,
    pub used: u64,
    pub window_secs: u64,
}

pub(crate) async fn quota_lines(state: &AppState) -> Result<Option<Vec<QuotaLine>>, ApiError> {
    let Some(budgets) = state.engine.connectors().zoho.budgets() else {
        return Ok(None);
    };
    let usage = budgets
        .usage()
        .await
        .map_err(|e| ApiError::unavailable("quota use cannot be read", &e))?;
    Ok(Some(
        usage
            .into_iter()
            .map(|u| QuotaLine {
                product: u.product.to_string(),
                organization: u.organization,
                quota: u.quota.to_string(),
                limit: u.limit,
                used: u.used,
                window_secs: u.window_secs,
            })
            .collect(),
    ))
}

/// Zoho quota use, read from the shared budgets.
#[utoipa::path(get, path = "/api/v1/admin/quota", tag = "admin",
    responses((status = 200, body = QuotaReport), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn quota(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<QuotaReport>, ApiError> {
    authorize(&state, &headers, Role::Viewer).await?;
    Ok(Json(match quota_lines(&state).await? {
        Some(quotas) => QuotaReport {
            metered: true,
            quotas,
        },
        None => QuotaReport {
            metered: false,
            quotas: Vec::new(),
        },
    }))
}

/// The state of the whole in numbers: what the console's overview shows.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub orders_by_status: std::collections::BTreeMap<String, u64>,
    pub runs_by_status: std::collections::BTreeMap<String, u64>,
    /// Runs waiting or running.
    pub queue_depth: u64,
    pub dead_letters: u64,
    /// Of the runs finished in the last hour, the share that succeeded (percent; none when
    /// none finished).
    pub success_rate_percent: Option<u32>,
    /// Of the last 200 runs that succeeded in the last hour: from queued to done, in ms.
    pub latency_p50_ms: Option<i64>,
    pub latency_p95_ms: Option<i64>,
    pub inbox_events: u64,
    /// The flow environment this node follows, if any.
    pub flows_env: Option<String>,
}

pub(crate) async fn summarize(state: &AppState) -> Result<Summary, ApiError> {
    use paybridge_store::{RunFilter, RunStatus};
    let runs = state.engine.runs();
    let counts = runs.counts().await?;
    let count = |s: &str| counts.runs_by_status.get(s).copied().unwrap_or(0);
    let hour_ago = state.engine.clock.now_ms() - 3_600_000;
    let recent = |status| RunFilter {
        status: Some(status),
        since_ms: Some(hour_ago),
        limit: 200,
        ..RunFilter::default()
    };
    let succeeded = runs.list(&recent(RunStatus::Succeeded)).await?;
    let dead = runs.list(&recent(RunStatus::Dead)).await?;
    let finished = succeeded.len() + dead.len();
    let mut latencies: Vec<i64> = succeeded
        .iter()
        .filter_map(|r| r.finished_at.map(|f| f - r.created_at))
        .collect();
    latencies.sort_unstable();
    let percentile =
        |p: usize| (!latencies.is_empty()).then(|| latencies[(latencies.len() - 1) * p / 100]);
    Ok(Summary {
        queue_depth: count("queued") + count("running"),
        dead_letters: count("dead"),
        success_rate_percent: (finished > 0)
            .then(|| u32::try_from(succeeded.len() * 100 / finished).unwrap_or(100)),
        latency_p50_ms: percentile(50),
        latency_p95_ms: percentile(95),
        inbox_events: counts.inbox_events,
        orders_by_status: counts.orders_by_status,
        runs_by_status: counts.runs_by_status,
        flows_env: state.engine.flows_env().map(str::to_string),
    })
}

/// Orders and runs by status, queue depth, dead letters, success rate and latency.
#[utoipa::path(get, path = "/api/v1/admin/summary", tag = "admin",
    responses((status = 200, body = Summary), (status = 401, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn summary(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Summary>, ApiError> {
    authorize(&state, &headers, Role::Viewer).await?;
    Ok(Json(summarize(&state).await?))
}

/// The connections as configured; when the application was not told (tests, embedding), what
/// the engine's clients say.
pub(crate) fn infos(state: &AppState) -> Vec<ConnectionInfo> {
    if !state.admin.connections.is_empty() {
        return state.admin.connections.clone();
    }
    let connectors = &state.engine.connectors();
    let connected = connectors.connected();
    let mut products = vec!["books".to_string()];
    for product in ["inventory", "crm", "desk"] {
        if connected[product] == true {
            products.push(product.to_string());
        }
    }
    let mut all = vec![
        ConnectionInfo {
            name: "cybersource".into(),
            vendor: "Cybersource".into(),
            endpoint: "(not told)".into(),
            data_centre: "(not told)".into(),
            account: connectors.cybersource.merchant_id().to_string(),
            products: Vec::new(),
            secrets: Vec::new(),
        },
        ConnectionInfo {
            name: "zoho".into(),
            vendor: "Zoho".into(),
            endpoint: "(not told)".into(),
            data_centre: "(not told)".into(),
            account: connectors.books.organization_id().to_string(),
            products,
            secrets: Vec::new(),
        },
    ];
    if let Some(storefront) = &connectors.storefront {
        all.push(ConnectionInfo {
            name: "storefront".into(),
            vendor: "Storefront".into(),
            endpoint: redact_url(storefront.url()),
            data_centre: "-".into(),
            account: "-".into(),
            products: Vec::new(),
            secrets: Vec::new(),
        });
    }
    all
}
