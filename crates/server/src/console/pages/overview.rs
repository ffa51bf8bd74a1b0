//! The overview: what is queued, failing and taking time, live, with the last day's readings.

use super::super::session::{self};
use super::super::{Sample, charts};
use crate::AppState;
use crate::admin::{ApiError, Summary};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};

use super::{Chrome, Notice, SignedIn, api_failure, chrome, page_error, render};

// ---- overview ----

#[derive(Template)]
#[template(path = "overview.html")]
pub(crate) struct OverviewPage {
    chrome: Chrome,
    live: String,
}

#[derive(Template)]
#[template(path = "live.html")]
pub(crate) struct LiveFragment {
    summary: Summary,
    orders: u64,
    synced: u64,
    success: String,
    latency: String,
    charts: Vec<String>,
    bars: Vec<String>,
}

/// The overview's numbers now.
pub(crate) async fn take_sample(state: &AppState) -> Result<Sample, ApiError> {
    let summary = crate::admin::summarize(state).await?;
    let quota = crate::admin::quota_lines(state)
        .await
        .unwrap_or_default()
        .unwrap_or_default();
    Ok(sample_of(&summary, &quota, state.engine.clock.now_ms()))
}

pub(crate) fn sample_of(
    summary: &Summary,
    quota: &[crate::admin::QuotaLine],
    at_ms: i64,
) -> Sample {
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

pub(crate) async fn live_html(state: &AppState) -> Result<String, ApiError> {
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
        .since(now.at_ms - super::super::CHART_SPAN_MS, 24 * 60 + 1)
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
