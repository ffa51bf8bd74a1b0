//! Runs and dead letters: the list with filters, one run's step timeline, replay and discard (one, some, or all that match).

use crate::AppState;
use crate::admin::ApiError;
use crate::admin::runs::RunQuery;
use askama::Template;
use axum::extract::{Form, Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use paybridge_engine::tokens::Role;
use paybridge_store::RunRecord;
use serde::Deserialize;

use super::{
    Chrome, Notice, SignedIn, acting, api_failure, back_with, chrome, page_error, pretty, render,
    time,
};

// ---- runs ----
pub struct RunRow {
    pub id: i64,
    pub flow: String,
    pub entity: String,
    pub status: &'static str,
    pub attempt: u32,
    pub created: String,
    pub updated: String,
    pub error: String,
}

pub(crate) fn rows(runs: &[RunRecord]) -> Vec<RunRow> {
    runs.iter()
        .map(|r| RunRow {
            id: r.id,
            flow: r.flow.clone(),
            entity: r.entity_key.clone(),
            status: r.status.as_str(),
            attempt: r.attempt,
            created: time(r.created_at),
            updated: time(r.updated_at),
            error: r
                .last_error
                .clone()
                .map(|e| e.chars().take(140).collect())
                .unwrap_or_default(),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "runs.html")]
pub(crate) struct RunsPage {
    chrome: Chrome,
    rows: Vec<RunRow>,
    query: RunQuery,
    flows: Vec<String>,
    statuses: [&'static str; 5],
    raw_query: String,
    older: Option<String>,
}

#[derive(Template)]
#[template(path = "run_rows.html")]
pub(crate) struct RunRows {
    rows: Vec<RunRow>,
}

pub(crate) async fn find(
    state: &AppState,
    query: &RunQuery,
) -> Result<(Vec<RunRecord>, u32), ApiError> {
    let filter = query.filter()?;
    let runs = state
        .engine
        .runs()
        .list(&filter)
        .await
        .map_err(crate::admin::runs::dlq_error)?;
    Ok((runs, filter.limit))
}

/// Every flow a run can name: the flow files this node runs and the engine's own.
pub(crate) fn flow_names(state: &AppState) -> Vec<String> {
    let mut names: Vec<String> = state
        .engine
        .flows()
        .iter()
        .map(|f| f.name.clone())
        .collect();
    names.extend(paybridge_engine::services::built_in_names().map(str::to_string));
    names.sort();
    names
}

pub async fn runs(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    Query(query): Query<RunQuery>,
    Query(n): Query<Notice>,
    RawQuery(raw): RawQuery,
) -> Response {
    let (runs, limit) = match find(&state, &query).await {
        Ok(found) => found,
        Err(e) => return api_failure(e),
    };
    let older = (runs.len() == limit as usize).then(|| {
        let last = runs.last().map(|r| r.id).unwrap_or_default();
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("flow", &query.flow),
            ("status", &query.status),
            ("entity", &query.entity),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                pairs.append_pair(k, v);
            }
        }
        pairs.append_pair("before", &last.to_string());
        format!("/console/runs?{}", pairs.finish())
    });
    let raw_query = raw
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.starts_with("notice="))
        .collect::<Vec<_>>()
        .join("&");
    render(&RunsPage {
        chrome: chrome(&session, "runs", n.notice),
        rows: rows(&runs),
        flows: flow_names(&state),
        statuses: ["queued", "running", "succeeded", "dead", "discarded"],
        query,
        raw_query,
        older,
    })
}

pub async fn run_rows(
    State(state): State<AppState>,
    _signed_in: SignedIn,
    Query(query): Query<RunQuery>,
) -> Response {
    match find(&state, &query).await {
        Ok((runs, _)) => render(&RunRows { rows: rows(&runs) }),
        Err(e) => api_failure(e),
    }
}

pub struct StepRow {
    pub name: String,
    pub status: &'static str,
    pub attempts: u32,
    pub started: String,
    pub took: String,
    pub error: Option<String>,
    pub error_detail: String,
    pub input: Option<String>,
    pub output: Option<String>,
}

#[derive(Template)]
#[template(path = "run.html")]
pub(crate) struct RunPage {
    chrome: Chrome,
    run: RunRow,
    version: String,
    event_type: String,
    event_source: String,
    received: String,
    event: String,
    cause: Option<String>,
    next_attempt: Option<String>,
    retry_line: String,
    steps: Vec<StepRow>,
    actionable: bool,
}

pub async fn run(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    Path(id): Path<i64>,
    Query(n): Query<Notice>,
) -> Response {
    let view = match crate::admin::runs::run_view(&state, id).await {
        Ok(v) => v,
        Err(e) => return api_failure(e),
    };
    let detail = &view.detail;
    let steps = detail
        .steps
        .iter()
        .map(|s| StepRow {
            name: s.name.clone(),
            status: match s.status {
                paybridge_store::StepStatus::Started => "started",
                paybridge_store::StepStatus::Succeeded => "succeeded",
                paybridge_store::StepStatus::Failed => "failed",
            },
            attempts: s.attempts,
            started: time(s.started_at),
            took: s
                .finished_at
                .map(|f| format!("{} ms", f - s.started_at))
                .unwrap_or_else(|| "–".into()),
            error: s.error.clone(),
            error_detail: [
                s.error_kind.map(|k| format!("kind {}", k.as_str())),
                s.error_status.map(|st| format!("HTTP {st}")),
                s.error_request_id
                    .as_ref()
                    .map(|r| format!("request id {r}")),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · "),
            input: s.input.as_ref().map(pretty),
            output: s.output.as_ref().map(pretty),
        })
        .collect();
    let retry = &view.retry;
    let retry_line = if retry.next_attempt_at.is_some() {
        let later: Vec<String> = retry
            .later_wait_ceilings_ms
            .iter()
            .map(|ms| format!("≤{} s", ms.div_ceil(1000)))
            .collect();
        format!(
            "attempt {} of {}; later waits (random up to): {}",
            retry.attempt,
            retry.max_attempts,
            if later.is_empty() {
                "none".into()
            } else {
                later.join(", ")
            }
        )
    } else {
        format!(
            "attempt {} of {}; not scheduled",
            retry.attempt, retry.max_attempts
        )
    };
    let run_rows = rows(std::slice::from_ref(&detail.run));
    render(&RunPage {
        chrome: chrome(&session, "runs", n.notice),
        version: detail
            .run
            .flow_version
            .clone()
            .unwrap_or_else(|| "–".into()),
        event_type: detail.event_type.clone(),
        event_source: detail.event_source.clone(),
        received: time(detail.received_at),
        event: pretty(&detail.event),
        cause: view.cause.clone(),
        next_attempt: retry.next_attempt_at.map(time),
        retry_line,
        steps,
        actionable: matches!(
            detail.run.status,
            paybridge_store::RunStatus::Dead | paybridge_store::RunStatus::Discarded
        ),
        run: run_rows.into_iter().next().expect("one run makes one row"),
    })
}

// ---- dead letters ----
pub struct DeadRow {
    pub id: i64,
    pub flow: String,
    pub entity: String,
    pub updated: String,
    pub cause: String,
}

#[derive(Template)]
#[template(path = "dead_letters.html")]
pub(crate) struct DeadLettersPage {
    chrome: Chrome,
    rows: Vec<DeadRow>,
    query: RunQuery,
    flows: Vec<String>,
}

pub async fn dead_letters(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    Query(query): Query<RunQuery>,
    Query(n): Query<Notice>,
) -> Response {
    let query = RunQuery {
        status: Some("dead".into()),
        limit: Some(query.limit.unwrap_or(200)),
        ..query
    };
    let runs = match find(&state, &query).await {
        Ok((runs, _)) => runs,
        Err(e) => return api_failure(e),
    };
    let rows = runs
        .iter()
        .map(|r| DeadRow {
            id: r.id,
            flow: r.flow.clone(),
            entity: r.entity_key.clone(),
            updated: time(r.updated_at),
            cause: paybridge_engine::dlq::cause_in_words(r).unwrap_or_default(),
        })
        .collect();
    render(&DeadLettersPage {
        chrome: chrome(&session, "dead-letters", n.notice),
        rows,
        flows: flow_names(&state),
        query,
    })
}

#[derive(Template)]
#[template(path = "confirm.html")]
pub(crate) struct ConfirmPage {
    chrome: Chrome,
    action: String,
    ids: String,
    count: usize,
    list: String,
}

pub(crate) fn parse_ids(pairs: &[(String, String)]) -> Vec<i64> {
    pairs
        .iter()
        .filter(|(k, _)| k == "ids" || k == "id")
        .flat_map(|(_, v)| {
            v.split(',')
                .map(str::trim)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter_map(|v| v.parse().ok())
        .collect()
}

pub async fn confirm(SignedIn(session): SignedIn, RawQuery(raw): RawQuery) -> Response {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let action = pairs
        .iter()
        .find(|(k, _)| k == "action")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    if action != "replay" && action != "discard" {
        return page_error(StatusCode::BAD_REQUEST, "Choose replay or discard.");
    }
    let ids = parse_ids(&pairs);
    if ids.is_empty() {
        return back_with(
            "/console/dead-letters",
            "Select at least one dead letter first.",
        );
    }
    let list: Vec<String> = ids.iter().map(|i| format!("#{i}")).collect();
    render(&ConfirmPage {
        chrome: chrome(&session, "dead-letters", None),
        count: ids.len(),
        ids: ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","),
        list: list.join(", "),
        action,
    })
}

#[derive(Deserialize)]
pub struct ActForm {
    csrf: Option<String>,
    action: String,
    ids: String,
    original_version: Option<String>,
}

pub async fn act(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<ActForm>,
) -> Response {
    if let Err(r) = acting(&state, &headers, form.csrf.as_deref(), Role::Operator).await {
        return r;
    }
    let ids: Vec<i64> = form
        .ids
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let original = form.original_version.is_some();
    let discard = match form.action.as_str() {
        "replay" => false,
        "discard" => true,
        _ => return page_error(StatusCode::BAD_REQUEST, "Choose replay or discard."),
    };
    if ids.len() == 1 && !discard {
        return match crate::admin::runs::replay_one(&state, ids[0], original).await {
            Ok(()) => back_with(
                &format!("/console/runs/{}", ids[0]),
                "Replayed: it resumes at the step that failed.",
            ),
            Err(e) => back_with(&format!("/console/runs/{}", ids[0]), &e.message),
        };
    }
    let request = crate::admin::runs::BulkRequest {
        ids: Some(ids),
        original_version: original,
        ..Default::default()
    };
    match crate::admin::runs::bulk(&state, request, discard).await {
        Ok(result) => {
            let verb = if discard { "Discarded" } else { "Replayed" };
            let mut notice = format!("{verb} {}.", result.done.len());
            if !result.skipped.is_empty() {
                notice.push_str(&format!(
                    " Skipped {} that were no longer dead letters (or, on the original version, ran none).",
                    result.skipped.len()
                ));
            }
            back_with("/console/dead-letters", &notice)
        }
        Err(e) => back_with("/console/dead-letters", &e.message),
    }
}
