//! `/metrics` in Prometheus' text format, for a viewer token (Prometheus sends it with
//! `authorization: { credentials: … }` in its scrape config).
//!
//! Counters and histograms are recorded where things happen (runs and steps in the engine, API
//! calls in the connectors, token refreshes and quota waits in the Zoho client); gauges that
//! describe the store (runs and orders by status) and Zoho quota use are read when scraped, so
//! they are right whichever node did the work.

use std::collections::BTreeSet;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use paybridge_engine::tokens::Role;

use crate::AppState;

/// Upper bounds of the latency histograms, in seconds.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder (once; later calls return the same handle).
/// `None` when another recorder was installed first (then `/metrics` says so).
pub fn install() -> Option<PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(BUCKETS)
                .expect("the bucket bounds are valid")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics stays empty");
                return None;
            }
            // Histogram samples are folded into buckets by upkeep; without it they pile up
            // between scrapes.
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot start the metrics upkeep thread");
            }
            Some(handle)
        })
        .clone()
}

pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/metrics", get(scrape))
}

/// Label values seen before, so a status that empties reads 0 rather than its last count.
static SEEN: Mutex<BTreeSet<(&'static str, String)>> = Mutex::new(BTreeSet::new());

async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(error) = crate::admin::authorize(&state, &headers, Role::Viewer).await {
        return error.into_response();
    }
    let Some(handle) = &state.metrics else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics are not recorded by this process\n",
        )
            .into_response();
    };
    refresh_gauges(&state).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

async fn refresh_gauges(state: &AppState) {
    match state.engine.runs().counts().await {
        Ok(counts) => {
            let mut seen = SEEN.lock().unwrap_or_else(PoisonError::into_inner);
            for (kind, by_status) in [
                ("runs", &counts.runs_by_status),
                ("orders", &counts.orders_by_status),
            ] {
                for status in by_status.keys() {
                    seen.insert((kind, status.clone()));
                }
                for (seen_kind, status) in seen.iter().filter(|(k, _)| *k == kind) {
                    let n = by_status.get(status).copied().unwrap_or(0);
                    let name = if *seen_kind == "runs" {
                        "paybridge_runs"
                    } else {
                        "paybridge_orders"
                    };
                    metrics::gauge!(name, "status" => status.clone())
                        .set(u32::try_from(n).unwrap_or(u32::MAX));
                }
            }
            metrics::gauge!("paybridge_inbox_events")
                .set(u32::try_from(counts.inbox_events).unwrap_or(u32::MAX));
            metrics::gauge!("paybridge_store_up").set(1);
        }
        Err(e) => {
            tracing::warn!(error = %e, "the store does not answer; store gauges are stale");
            metrics::gauge!("paybridge_store_up").set(0);
        }
    }
    if let Some(budgets) = state.engine.connectors().zoho.budgets()
        && let Err(e) = budgets.usage().await
    {
        tracing::warn!(error = %e, "cannot read Zoho quota use");
    }
}
