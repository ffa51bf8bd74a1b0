//! The console's pages and the forms and scripts behind them.

use askama::Template;
use axum::Json;
use axum::extract::{Form, FromRequestParts, Path, Query, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use paybridge_engine::tokens::Role;
use paybridge_flows::preview::StepPreview;
use paybridge_flows::view::FlowView;
use paybridge_store::RunRecord;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::session::{self, Session};
use super::{Sample, charts, graph};
use crate::AppState;
use crate::admin::connections::ConnectionView;
use crate::admin::flows::{DiffQuery, FieldEdit, FlowProblem};
use crate::admin::runs::RunQuery;
use crate::admin::{ApiError, Summary, require};

/// What every page's frame shows.
pub struct Chrome {
    pub user: String,
    pub role: String,
    pub csrf: String,
    pub active: &'static str,
    pub notice: Option<String>,
    pub can_operate: bool,
    pub can_admin: bool,
}

#[derive(Deserialize, Default)]
pub struct Notice {
    notice: Option<String>,
}

fn chrome(session: &Session, active: &'static str, notice: Option<String>) -> Chrome {
    Chrome {
        user: session.token.name.clone(),
        role: session.token.role.to_string(),
        csrf: session.csrf.clone(),
        active,
        notice,
        can_operate: session.token.role >= Role::Operator,
        can_admin: session.token.role >= Role::Admin,
    }
}

/// A page request's session; without one, the visitor is sent to sign in and brought back.
pub struct SignedIn(pub Session);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<SignedIn, Response> {
        match session::current(state, &parts.headers).await {
            Some((_, session)) => Ok(SignedIn(session)),
            None => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/console");
                let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
                Err(Redirect::to(&format!("/console/login?next={next}")).into_response())
            }
        }
    }
}

/// The session of a state-changing request whose CSRF token matches, with the role needed.
async fn acting(
    state: &AppState,
    headers: &HeaderMap,
    csrf: Option<&str>,
    needed: Role,
) -> Result<Session, Response> {
    let Some((_, session)) = session::current(state, headers).await else {
        return Err(page_error(
            StatusCode::UNAUTHORIZED,
            "Your session ended: sign in again.",
        ));
    };
    let presented = csrf.or_else(|| headers.get("x-csrf-token").and_then(|v| v.to_str().ok()));
    if !session::csrf_ok(&session, presented) {
        return Err(page_error(
            StatusCode::FORBIDDEN,
            "This form is stale or did not come from the console (CSRF check): reload the page and try again.",
        ));
    }
    require(&session.token, needed).map_err(|e| page_error(e.status, &e.message))?;
    Ok(session)
}

fn page_error(status: StatusCode, message: &str) -> Response {
    let page = ErrorPage {
        message: message.to_string(),
    };
    (
        status,
        Html(page.render().unwrap_or_else(|_| message.to_string())),
    )
        .into_response()
}

fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a console page did not render");
            page_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "This page could not be drawn; the log says why.",
            )
        }
    }
}

fn api_failure(e: ApiError) -> Response {
    page_error(e.status, &e.message)
}

fn back_with(path: &str, notice: &str) -> Response {
    let notice: String = url::form_urlencoded::byte_serialize(notice.as_bytes()).collect();
    let sep = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{sep}notice={notice}")).into_response()
}

/// A Unix-ms time as the console shows it (RFC 3339, UTC).
fn time(ms: i64) -> String {
    paybridge_flows::interpreter::rfc3339(ms)
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

// ---- login ----

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    next: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// Only paths inside the console are followed after login.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/console") && !n.starts_with("//") && !n.contains('\\') => {
            n.to_string()
        }
        _ => "/console".to_string(),
    }
}

pub async fn login_page(Query(query): Query<LoginQuery>) -> Response {
    render(&LoginPage {
        next: safe_next(query.next.as_deref()),
        error: None,
    })
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
    next: Option<String>,
}

pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let tokens = state.engine.tokens();
    match tokens.verify(form.token.trim()).await {
        Ok(info) => {
            let id = match session::open(&state, &info).await {
                Ok(id) => id,
                Err(e) => {
                    tracing::error!(error = %e, "a console session could not be opened");
                    return (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "The session could not be stored; try again.",
                    )
                        .into_response();
                }
            };
            let mut response = Redirect::to(&safe_next(form.next.as_deref())).into_response();
            if let Ok(cookie) = session::set_cookie(&id, &headers).parse() {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(e) => {
            let page = LoginPage {
                next: safe_next(form.next.as_deref()),
                error: Some(format!(
                    "{e}. Create a token with: paybridge tokens create --role viewer|operator|admin"
                )),
            };
            (StatusCode::UNAUTHORIZED, render(&page)).into_response()
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some((id, session)) = session::current(&state, &headers).await
        && session::csrf_ok(&session, form.csrf.as_deref())
    {
        session::close(&state, &id).await;
    }
    let mut response = Redirect::to("/console/login").into_response();
    if let Ok(cookie) = session::clear_cookie().parse() {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

// ---- overview ----

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    chrome: Chrome,
    live: String,
}

#[derive(Template)]
#[template(path = "live.html")]
struct LiveFragment {
    summary: Summary,
    orders: u64,
    synced: u64,
    success: String,
    latency: String,
    charts: Vec<String>,
    bars: Vec<String>,
}

/// The overview's numbers now.
pub(super) async fn take_sample(state: &AppState) -> Result<Sample, ApiError> {
    let summary = crate::admin::summarize(state).await?;
    let quota = crate::admin::quota_lines(state)
        .await
        .unwrap_or_default()
        .unwrap_or_default();
    Ok(sample_of(&summary, &quota, state.engine.clock.now_ms()))
}

fn sample_of(summary: &Summary, quota: &[crate::admin::QuotaLine], at_ms: i64) -> Sample {
    Sample {
        at_ms,
        orders: summary.orders_by_status.values().sum(),
        queue_depth: summary.queue_depth,
        dead_letters: summary.dead_letters,
        success_rate: summary.success_rate_percent,
        latency_p95_ms: summary.latency_p95_ms,
        quota: quota
            .iter()
            .map(|q| {
                (
                    format!("{} {} {}", q.product, q.organization, q.quota),
                    q.used,
                    q.limit,
                )
            })
            .collect(),
    }
}

async fn live_html(state: &AppState) -> Result<String, ApiError> {
    let summary = crate::admin::summarize(state).await?;
    let quota = crate::admin::quota_lines(state)
        .await
        .unwrap_or_default()
        .unwrap_or_default();
    let orders: u64 = summary.orders_by_status.values().sum();
    let now = sample_of(&summary, &quota, state.engine.clock.now_ms());
    // The last day's readings, and now.
    let mut samples: Vec<Sample> = state
        .engine
        .readings()
        .since(now.at_ms - super::CHART_SPAN_MS, 24 * 60 + 1)
        .await?
        .into_iter()
        .filter_map(|(_, text)| serde_json::from_str(&text).ok())
        .collect();
    if samples.last().is_none_or(|last| last.at_ms < now.at_ms) {
        samples.push(now);
    }
    let series =
        |title: &str, unit: &'static str, f: &dyn Fn(&Sample) -> Option<u64>| charts::Series {
            title: title.to_string(),
            unit,
            points: samples
                .iter()
                .filter_map(|s| f(s).map(|v| (s.at_ms, v)))
                .collect(),
        };
    let mut chart_list = vec![
        charts::line(&series("Orders", "", &|s| Some(s.orders))),
        charts::line(&series("Success rate (last hour)", "%", &|s| {
            s.success_rate.map(u64::from)
        })),
        charts::line(&series("Latency p95", " ms", &|s| {
            s.latency_p95_ms.and_then(|v| u64::try_from(v).ok())
        })),
        charts::line(&series("Queue depth", "", &|s| Some(s.queue_depth))),
        charts::line(&series("Dead letters", "", &|s| Some(s.dead_letters))),
    ];
    for q in &quota {
        let label = format!("{} {} {}", q.product, q.organization, q.quota);
        chart_list.push(charts::line(&series(
            &format!("Zoho {label} used"),
            "",
            &|s| {
                s.quota
                    .iter()
                    .find(|(l, _, _)| *l == label)
                    .map(|(_, used, _)| *used)
            },
        )));
    }
    let bars = quota
        .iter()
        .map(|q| {
            charts::bar(
                &format!("Zoho {} · org {} · {}", q.product, q.organization, q.quota),
                q.used,
                q.limit,
            )
        })
        .collect();
    let fragment = LiveFragment {
        orders,
        synced: summary.orders_by_status.get("synced").copied().unwrap_or(0),
        success: summary
            .success_rate_percent
            .map(|p| format!("{p}%"))
            .unwrap_or_else(|| "–".into()),
        latency: match (summary.latency_p50_ms, summary.latency_p95_ms) {
            (Some(p50), Some(p95)) => format!("{p50} / {p95} ms"),
            _ => "–".into(),
        },
        summary,
        charts: chart_list,
        bars,
    };
    fragment
        .render()
        .map_err(|e| ApiError::unavailable("the overview did not render", &e))
}

pub async fn overview(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    Query(n): Query<Notice>,
) -> Response {
    match live_html(&state).await {
        Ok(live) => render(&OverviewPage {
            chrome: chrome(&session, "overview", n.notice),
            live,
        }),
        Err(e) => api_failure(e),
    }
}

pub async fn live_fragment(State(state): State<AppState>, _signed_in: SignedIn) -> Response {
    match live_html(&state).await {
        Ok(html) => Html(html).into_response(),
        Err(e) => api_failure(e),
    }
}

/// Server-sent events: a `tick` every two seconds with the numbers that change, so pages
/// refresh what they show only when something moved.
pub async fn events(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some((id, _)) = session::current(&state, &headers).await else {
        return page_error(
            StatusCode::UNAUTHORIZED,
            "Your session ended: sign in again.",
        );
    };
    let closing = state.admin.closing.subscribe();
    let stream = futures::stream::unfold(
        (state, id, closing, true),
        |(state, id, mut closing, first)| async move {
            if !first {
                tokio::select! {
                    () = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
                    _ = closing.changed() => return None,
                }
            }
            // The stream ends with the server (so shutdown is not held open) or the session.
            if *closing.borrow() {
                return None;
            }
            session::by_id(&state, &id).await?;
            let data = match state.engine.runs().counts().await {
                Ok(counts) => serde_json::json!({
                    "runs": counts.runs_by_status,
                    "orders": counts.orders_by_status,
                    "events": counts.inbox_events,
                })
                .to_string(),
                Err(_) => "{}".to_string(),
            };
            let event = Event::default().event("tick").data(data);
            Some((
                Ok::<_, std::convert::Infallible>(event),
                (state, id, closing, false),
            ))
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

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

fn rows(runs: &[RunRecord]) -> Vec<RunRow> {
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
struct RunsPage {
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
struct RunRows {
    rows: Vec<RunRow>,
}

async fn find(state: &AppState, query: &RunQuery) -> Result<(Vec<RunRecord>, u32), ApiError> {
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
fn flow_names(state: &AppState) -> Vec<String> {
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
struct RunPage {
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
struct DeadLettersPage {
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
struct ConfirmPage {
    chrome: Chrome,
    action: String,
    ids: String,
    count: usize,
    list: String,
}

fn parse_ids(pairs: &[(String, String)]) -> Vec<i64> {
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

// ---- flows ----

pub struct FlowCard {
    pub name: String,
    pub description: String,
    pub version: String,
    pub origin: String,
    pub trigger: String,
    pub steps: usize,
}

#[derive(Template)]
#[template(path = "flows.html")]
struct FlowsPage {
    chrome: Chrome,
    env: Option<String>,
    flows: Vec<FlowCard>,
}

pub async fn flows(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    Query(n): Query<Notice>,
) -> Response {
    let flows = state
        .engine
        .flows()
        .iter()
        .map(|f| FlowCard {
            name: f.name.clone(),
            description: f.description.clone().unwrap_or_default(),
            version: f.version.clone(),
            origin: f.origin.clone(),
            trigger: format!("{} {}", f.source.inbox_source(), f.events.join(", ")),
            steps: f.steps.len(),
        })
        .collect();
    render(&FlowsPage {
        chrome: chrome(&session, "flows", n.notice),
        env: state.engine.flows_env().map(str::to_string),
        flows,
    })
}

pub struct Deployment {
    pub env: String,
    pub version: String,
    pub when: String,
    pub note: String,
}

#[derive(Template)]
#[template(path = "flow.html")]
struct FlowPage {
    chrome: Chrome,
    flow: FlowView,
    graph: String,
    sample: String,
    env: String,
    history: Vec<Deployment>,
    diff_env: Option<String>,
    diff: Option<String>,
}

#[derive(Deserialize)]
pub struct FlowQuery {
    diff: Option<String>,
    notice: Option<String>,
}

const SAMPLE_ORDER: &str = include_str!("../../../../flows/samples/order-approved.json");

pub async fn flow(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    Path(name): Path<String>,
    Query(query): Query<FlowQuery>,
) -> Response {
    let running = match crate::admin::flows::running(&state, &name) {
        Ok(f) => f,
        Err(e) => return api_failure(e),
    };
    let view = FlowView::of(&running);
    let history = match state.engine.deployments().history(&name).await {
        Ok(h) => h
            .into_iter()
            .map(|d| Deployment {
                env: d.env,
                version: d.version,
                when: time(d.deployed_ms),
                note: d.note.unwrap_or_default(),
            })
            .collect(),
        Err(e) => return api_failure(e.into()),
    };
    let diff = match &query.diff {
        Some(env) if !env.trim().is_empty() => {
            let q = DiffQuery {
                env: Some(env.trim().to_string()),
                from: None,
                to: None,
            };
            match crate::admin::flows::flow_diff(&state, &name, &q).await {
                Ok(d) if d.diff.is_empty() => Some(format!("{} runs this version.", env.trim())),
                Ok(d) => Some(d.diff),
                Err(e) => Some(e.message),
            }
        }
        _ => None,
    };
    let sample = if view.trigger_source == "order-api" {
        SAMPLE_ORDER.to_string()
    } else {
        "{}".to_string()
    };
    render(&FlowPage {
        chrome: chrome(&session, "flows", query.notice),
        graph: graph::draw(&view),
        flow: view,
        sample,
        env: state.engine.flows_env().unwrap_or("dev").to_string(),
        history,
        diff_env: query.diff.clone(),
        diff,
    })
}

#[derive(Deserialize)]
pub struct PreviewRequest {
    /// Field edits, applied in order over the running text.
    #[serde(default)]
    edits: Vec<FieldEditLite>,
    /// The sample event's text (JSON).
    sample: String,
}

#[derive(Deserialize)]
pub struct FieldEditLite {
    step: String,
    field: String,
    expression: String,
}

#[derive(Serialize)]
pub struct PreviewAnswer {
    ok: bool,
    text: String,
    version: Option<String>,
    problems: Vec<FlowProblem>,
    /// A field the editor cannot change in place, or a sample that is not JSON.
    error: Option<String>,
    steps: Vec<StepPreview>,
}

/// The mapping editor's live preview: the edits applied to the flow's text (checked), and the
/// flow run on paper over the sample. Writes nothing.
pub async fn preview(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Json(request): Json<PreviewRequest>,
) -> Response {
    if let Err(r) = acting(&state, &headers, None, Role::Viewer).await {
        return r;
    }
    let running = match crate::admin::flows::running(&state, &name) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let mut answer = PreviewAnswer {
        ok: true,
        text: running.text.to_string(),
        version: Some(running.version.clone()),
        problems: Vec::new(),
        error: None,
        steps: Vec::new(),
    };
    for edit in &request.edits {
        let field = FieldEdit {
            step: edit.step.clone(),
            field: edit.field.clone(),
            expression: edit.expression.clone(),
            text: Some(answer.text.clone()),
        };
        match crate::admin::flows::edit_text(&state, &name, &field) {
            Ok(edited) => {
                answer.text = edited.text;
                answer.version = edited.version;
                answer.ok = edited.ok;
                answer.problems.extend(edited.problems);
            }
            Err(e) => {
                answer.ok = false;
                answer.error = Some(e.message);
                return Json(answer).into_response();
            }
        }
    }
    if !answer.ok {
        answer.version = None;
        return Json(answer).into_response();
    }
    let event: Value = match serde_json::from_str(&request.sample) {
        Ok(v) => v,
        Err(e) => {
            answer.error = Some(format!("the sample event is not JSON: {e}"));
            return Json(answer).into_response();
        }
    };
    match crate::admin::flows::try_flow(
        &state,
        &name,
        Some(&answer.text),
        &event,
        Default::default(),
    ) {
        Ok(Ok(preview)) => {
            answer.ok = preview.ok;
            answer.steps = preview.steps;
        }
        Ok(Err(validation)) => {
            answer.ok = false;
            answer.problems = validation.problems;
        }
        Err(e) => answer.error = Some(e.message),
    }
    Json(answer).into_response()
}

#[derive(Deserialize)]
pub struct DeployForm {
    csrf: Option<String>,
    env: String,
    text: String,
    note: Option<String>,
}

pub async fn deploy(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<DeployForm>,
) -> Response {
    let session = match acting(&state, &headers, form.csrf.as_deref(), Role::Admin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let note = form
        .note
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| format!("deployed from the console by {}", session.token.name));
    let back = format!("/console/flows/{name}");
    match crate::admin::flows::deploy_texts(&state, form.env.trim(), &[form.text], Some(&note))
        .await
    {
        Ok(Ok(report)) => {
            let changed: Vec<String> = report
                .flows
                .iter()
                .filter(|d| d.changed)
                .map(|d| format!("{} → {}", d.name, d.to))
                .collect();
            let mut notice = if changed.is_empty() {
                format!("{} already runs this version.", report.env)
            } else {
                format!("Deployed to {}: {}.", report.env, changed.join(", "))
            };
            if report.live_here {
                notice.push_str(" This node runs it now.");
            }
            back_with(&back, &notice)
        }
        Ok(Err(validation)) => {
            let problems: Vec<String> =
                validation.problems.iter().map(|p| p.text.clone()).collect();
            back_with(&back, &format!("Nothing deployed: {}", problems.join("; ")))
        }
        Err(e) => back_with(&back, &e.message),
    }
}

#[derive(Deserialize)]
pub struct PromoteForm {
    csrf: Option<String>,
    from: String,
    to: String,
    flow: Option<String>,
}

pub async fn promote(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<PromoteForm>,
) -> Response {
    if let Err(r) = acting(&state, &headers, form.csrf.as_deref(), Role::Admin).await {
        return r;
    }
    let request = crate::admin::flows::PromoteRequest {
        from: form.from,
        to: form.to,
        flow: form.flow.filter(|f| !f.trim().is_empty()),
    };
    match crate::admin::flows::promote_envs(&state, &request).await {
        Ok(report) => {
            let changed = report.flows.iter().filter(|d| d.changed).count();
            back_with(
                "/console/flows",
                &format!(
                    "Promoted {} flow(s) from {} to {} ({changed} changed).",
                    report.flows.len(),
                    request.from.trim(),
                    report.env
                ),
            )
        }
        Err(e) => back_with("/console/flows", &e.message),
    }
}

// ---- connections ----

pub struct ConnectionCard {
    pub view: ConnectionView,
    pub last_error_at: String,
    pub last_test_at: String,
    pub bars: Vec<String>,
}

#[derive(Template)]
#[template(path = "connections.html")]
struct ConnectionsPage {
    chrome: Chrome,
    cards: Vec<ConnectionCard>,
}

pub async fn connections(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    Query(n): Query<Notice>,
) -> Response {
    let views = match crate::admin::connections::views(&state).await {
        Ok(v) => v,
        Err(e) => return api_failure(e),
    };
    let cards = views
        .into_iter()
        .map(|view| ConnectionCard {
            last_error_at: view.health.last_error_ms.map(time).unwrap_or_default(),
            last_test_at: view.health.last_test_ms.map(time).unwrap_or_default(),
            bars: view
                .quota
                .iter()
                .map(|q| charts::bar(&format!("{} {}", q.product, q.quota), q.used, q.limit))
                .collect(),
            view,
        })
        .collect();
    render(&ConnectionsPage {
        chrome: chrome(&session, "connections", n.notice),
        cards,
    })
}

pub async fn test_connection(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(r) = acting(&state, &headers, form.csrf.as_deref(), Role::Operator).await {
        return r;
    }
    match crate::admin::connections::test_connection(&state, &name).await {
        Ok(result) => back_with(
            "/console/connections",
            &format!(
                "{}: {} — {}",
                name,
                if result.ok { "OK" } else { "FAILED" },
                result.message
            ),
        ),
        Err(e) => back_with("/console/connections", &e.message),
    }
}

#[derive(Deserialize)]
pub struct RotateForm {
    csrf: Option<String>,
    key: String,
    value: secrecy::SecretString,
}

pub async fn rotate(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<RotateForm>,
) -> Response {
    if let Err(r) = acting(&state, &headers, form.csrf.as_deref(), Role::Admin).await {
        return r;
    }
    match crate::admin::connections::rotate_secret(&state, &name, &form.key, &form.value).await {
        Ok(done) => back_with(
            "/console/connections",
            &format!(
                "{} stored in vault entry {}; it takes effect {}.",
                done.key, done.vault_entry, done.takes_effect
            ),
        ),
        Err(e) => back_with("/console/connections", &e.message),
    }
}

// ---- assets ----

pub async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../../assets/app.js"),
    )
        .into_response()
}

pub async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../assets/app.css"),
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    message: String,
}
