//! Runs and dead letters: list and filter, the detail with its step timeline (redacted
//! payloads), the cause in words and the retry schedule; replay (on the current or the original
//! flow version), discard, and both in bulk by filter.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use paybridge_engine::dlq::{self, Bulk, DlqError, RetrySchedule, RunDetail};
use paybridge_engine::tokens::Role;
use paybridge_store::{RunFilter, RunRecord, RunStatus};
use serde::{Deserialize, Serialize};

use super::{ApiError, ErrorBody, authorize, json_body};
use crate::AppState;

pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/v1/admin/runs", get(list_runs))
        .route("/api/v1/admin/runs/{id}", get(show_run))
        .route("/api/v1/admin/dead-letters", get(list_dead_letters))
        .route("/api/v1/admin/dead-letters/replay", post(bulk_replay))
        .route("/api/v1/admin/dead-letters/discard", post(bulk_discard))
        .route("/api/v1/admin/dead-letters/{id}/replay", post(replay))
        .route("/api/v1/admin/dead-letters/{id}/discard", post(discard))
}

/// Which runs: every filter is optional; pages go backwards from `before` (the last id seen).
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams, utoipa::ToSchema)]
#[into_params(parameter_in = Query)]
pub struct RunQuery {
    /// `queued`, `running`, `succeeded`, `dead` or `discarded`.
    pub status: Option<String>,
    /// A flow's name (`order-to-cash`, `cybersource-event`, …).
    pub flow: Option<String>,
    /// The entity its runs are ordered by (`order:R-1`, `customer:…`).
    pub entity: Option<String>,
    /// Created at or after (Unix ms).
    pub since: Option<i64>,
    /// Created before (Unix ms).
    pub until: Option<i64>,
    /// Only runs older than this id.
    pub before: Option<i64>,
    /// At most this many (1 to 500; 50 if not given).
    pub limit: Option<u32>,
}

impl RunQuery {
    pub(crate) fn filter(&self) -> Result<RunFilter, ApiError> {
        let status = match self
            .status
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(name) => Some(RunStatus::from_name(name).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "status {name:?} is not one of queued, running, succeeded, dead, discarded"
                ))
            })?),
            None => None,
        };
        let limit = self.limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            return Err(ApiError::bad_request("limit must be 1 to 500"));
        }
        let text = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        Ok(RunFilter {
            status,
            flow: text(&self.flow),
            entity: text(&self.entity),
            since_ms: self.since,
            until_ms: self.until,
            before_id: self.before,
            limit,
        })
    }
}

/// A page of runs, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RunList {
    pub runs: Vec<RunRecord>,
    /// Pass as `before` for the next page; none on the last.
    pub next_before: Option<i64>,
}

fn page(runs: Vec<RunRecord>, limit: u32) -> RunList {
    let next_before = (runs.len() == limit as usize)
        .then(|| runs.last().map(|r| r.id))
        .flatten();
    RunList { runs, next_before }
}

/// Runs, newest first, by flow, status, entity and time.
#[utoipa::path(get, path = "/api/v1/admin/runs", tag = "runs", params(RunQuery),
    responses((status = 200, body = RunList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn list_runs(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<RunQuery>,
) -> Result<Json<RunList>, ApiError> {
    authorize(&state, &headers, Role::Viewer).await?;
    let filter = query.filter()?;
    let runs = state.engine.runs().list(&filter).await.map_err(dlq_error)?;
    Ok(Json(page(runs, filter.limit)))
}

/// A run as the console shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RunView {
    #[serde(flatten)]
    pub detail: RunDetail,
    /// Why it failed, and what to do, in words.
    pub cause: Option<String>,
    pub retry: RetrySchedule,
}

pub(crate) async fn run_view(state: &AppState, id: i64) -> Result<RunView, ApiError> {
    let detail = state.engine.runs().show(id).await.map_err(dlq_error)?;
    Ok(RunView {
        cause: dlq::cause_in_words(&detail.run),
        retry: dlq::retry_schedule(&detail.run, &state.engine.settings.retry),
        detail,
    })
}

/// One run: its event, its step timeline with each step's (redacted) input, output and error,
/// the cause of its failure in words, and its retry schedule.
#[utoipa::path(get, path = "/api/v1/admin/runs/{id}", tag = "runs",
    params(("id" = i64, Path, description = "the run's id")),
    responses((status = 200, body = RunView), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn show_run(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Json<RunView>, ApiError> {
    authorize(&state, &headers, Role::Viewer).await?;
    Ok(Json(run_view(&state, id).await?))
}

/// Dead letters (runs that failed for good), newest first; `status` is ignored.
#[utoipa::path(get, path = "/api/v1/admin/dead-letters", tag = "dead letters", params(RunQuery),
    responses((status = 200, body = RunList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn list_dead_letters(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<RunQuery>,
) -> Result<Json<RunList>, ApiError> {
    authorize(&state, &headers, Role::Viewer).await?;
    let filter = RunFilter {
        status: Some(RunStatus::Dead),
        ..query.filter()?
    };
    let runs = state.engine.runs().list(&filter).await.map_err(dlq_error)?;
    Ok(Json(page(runs, filter.limit)))
}

pub(crate) fn dlq_error(e: DlqError) -> ApiError {
    match e {
        DlqError::NotFound(_) => ApiError::not_found(e.to_string()),
        DlqError::NotDead { .. } | DlqError::NoVersion(_) => ApiError::conflict(e.to_string()),
        DlqError::Store(e) => e.into(),
    }
}

/// How to replay.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Run the flow version the run ran, not the one deployed now.
    #[serde(default)]
    pub original_version: bool,
}

/// What was done to one run.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Acted {
    pub id: i64,
    /// `replayed` or `discarded`.
    pub action: String,
}

/// Queues a dead (or discarded) run again; it resumes at the step that failed.
#[utoipa::path(post, path = "/api/v1/admin/dead-letters/{id}/replay", tag = "dead letters",
    params(("id" = i64, Path, description = "the run's id")),
    request_body(content = Option<ReplayRequest>, description = "optional"),
    responses((status = 400, body = ErrorBody, description = "the body is not this route's"), (status = 200, body = Acted), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "not a dead letter"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn replay(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Json<Acted>, ApiError> {
    authorize(&state, &headers, Role::Operator).await?;
    let request: ReplayRequest = json_body(&body, Some(ReplayRequest::default()))?;
    replay_one(&state, id, request.original_version).await?;
    Ok(Json(Acted {
        id,
        action: "replayed".into(),
    }))
}

pub(crate) async fn replay_one(state: &AppState, id: i64, original: bool) -> Result<(), ApiError> {
    let engine = &state.engine;
    let done = if original {
        engine.runs().replay_original(id).await
    } else {
        engine.runs().replay(id).await
    };
    done.map_err(dlq_error)?;
    engine.wake_workers();
    Ok(())
}

/// Sets a dead letter aside (kept as history; it can still be replayed).
#[utoipa::path(post, path = "/api/v1/admin/dead-letters/{id}/discard", tag = "dead letters",
    params(("id" = i64, Path, description = "the run's id")),
    responses((status = 200, body = Acted), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn discard(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Json<Acted>, ApiError> {
    authorize(&state, &headers, Role::Operator).await?;
    state.engine.runs().discard(id).await.map_err(dlq_error)?;
    Ok(Json(Acted {
        id,
        action: "discarded".into(),
    }))
}

/// Which dead letters a bulk action takes: the ids given, or every one matching the filter.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// These runs (each must be a dead letter); or, when absent, the filter's.
    #[serde(default)]
    pub ids: Option<Vec<i64>>,
    #[serde(default)]
    pub flow: Option<String>,
    #[serde(default)]
    pub entity: Option<String>,
    #[serde(default)]
    pub since: Option<i64>,
    #[serde(default)]
    pub until: Option<i64>,
    /// Replay each run on the flow version it ran (runs that ran none are skipped).
    #[serde(default)]
    pub original_version: bool,
}

pub(crate) async fn bulk(
    state: &AppState,
    request: BulkRequest,
    discard_them: bool,
) -> Result<Bulk, ApiError> {
    let engine = &state.engine;
    let original = request.original_version;
    let result = match request.ids {
        Some(ids) => {
            if ids.is_empty() || ids.len() > 1000 {
                return Err(ApiError::bad_request("ids: give 1 to 1000 run ids"));
            }
            engine.runs().act_on(ids, discard_them, original).await
        }
        None => {
            let filter = RunQuery {
                flow: request.flow,
                entity: request.entity,
                since: request.since,
                until: request.until,
                ..RunQuery::default()
            }
            .filter()?;
            engine.runs().bulk(&filter, discard_them, original).await
        }
    }
    .map_err(dlq_error)?;
    if !discard_them && !result.done.is_empty() {
        engine.wake_workers();
    }
    Ok(result)
}

/// Replays many dead letters: by id, or every one matching a filter. Runs changed by someone
/// else meanwhile (or not dead letters) are listed as skipped.
#[utoipa::path(post, path = "/api/v1/admin/dead-letters/replay", tag = "dead letters",
    request_body = BulkRequest,
    responses((status = 200, body = Bulk), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn bulk_replay(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Bulk>, ApiError> {
    authorize(&state, &headers, Role::Operator).await?;
    let request: BulkRequest = json_body(&body, None)?;
    Ok(Json(bulk(&state, request, false).await?))
}

/// Discards many dead letters: by id, or every one matching a filter.
#[utoipa::path(post, path = "/api/v1/admin/dead-letters/discard", tag = "dead letters",
    request_body = BulkRequest,
    responses((status = 200, body = Bulk), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn bulk_discard(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Bulk>, ApiError> {
    authorize(&state, &headers, Role::Operator).await?;
    let request: BulkRequest = json_body(&body, None)?;
    Ok(Json(bulk(&state, request, true).await?))
}
