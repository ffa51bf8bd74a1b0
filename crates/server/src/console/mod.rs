//! The console (`/console`): what an operator sees and does from a browser, on the admin API's
//! own functions. Server-rendered pages (askama), charts drawn as SVG by the server, one small
//! script of ours (`assets/app.js`) for live updates and the mapping editor's preview; no
//! third-party JS or CSS.
//!
//! Security: a token is exchanged for a session cookie (`HttpOnly`, `SameSite=Strict`); every
//! state-changing request carries the session's CSRF token; every answer has a strict CSP
//! (scripts and styles from this origin only), `nosniff`, no framing and no referrer. Roles are
//! those of the admin API: a viewer sees, an operator replays, discards and tests, an admin
//! deploys, promotes and rotates secrets.

mod charts;
mod graph;
mod pages;
pub mod session;

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};

use crate::AppState;

pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/console", get(pages::overview))
        .route("/console/", get(pages::overview))
        .route("/console/login", get(pages::login_page).post(pages::login))
        .route("/console/logout", post(pages::logout))
        .route("/console/live", get(pages::live_fragment))
        .route("/console/events", get(pages::events))
        .route("/console/runs", get(pages::runs))
        .route("/console/runs/rows", get(pages::run_rows))
        .route("/console/runs/{id}", get(pages::run))
        .route("/console/dead-letters", get(pages::dead_letters))
        .route("/console/dead-letters/confirm", get(pages::confirm))
        .route("/console/dead-letters/act", post(pages::act))
        .route("/console/flows", get(pages::flows))
        .route("/console/flows/promote", post(pages::promote))
        .route("/console/flows/{name}", get(pages::flow))
        .route("/console/flows/{name}/preview", post(pages::preview))
        .route("/console/flows/{name}/deploy", post(pages::deploy))
        .route("/console/connections", get(pages::connections))
        .route(
            "/console/connections/{name}/test",
            post(pages::test_connection),
        )
        .route("/console/connections/{name}/rotate", post(pages::rotate))
        .route("/console/assets/app.js", get(pages::script))
        .route("/console/assets/app.css", get(pages::style))
        .layer(axum::middleware::from_fn(secure_headers))
}

/// The console's security headers, on every answer.
async fn secure_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// One reading of the numbers the overview charts over time.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Sample {
    pub at_ms: i64,
    pub orders: u64,
    pub queue_depth: u64,
    pub dead_letters: u64,
    pub success_rate: Option<u32>,
    pub latency_p95_ms: Option<i64>,
    /// (`product organization quota`, used, limit).
    pub quota: Vec<(String, u64, u64)>,
}

/// A reading a minute, kept in the store (the first node to take a minute's wins).
pub const SAMPLE_EVERY_MS: i64 = 60_000;
/// How far back the overview's charts go.
pub const CHART_SPAN_MS: i64 = 24 * 3_600_000;
/// How long readings are kept.
const KEEP_MS: i64 = 7 * 24 * 3_600_000;

/// Takes this minute's reading and keeps it, unless a node took it already.
pub async fn record_sample(state: &AppState) -> Result<bool, crate::admin::ApiError> {
    let mut sample = pages::take_sample(state).await?;
    sample.at_ms -= sample.at_ms.rem_euclid(SAMPLE_EVERY_MS);
    let text = serde_json::to_string(&sample).unwrap_or_default();
    Ok(state
        .engine
        .readings()
        .record(sample.at_ms, &text, sample.at_ms - KEEP_MS)
        .await?)
}

/// Takes a reading every minute until the server closes, so that the overview shows the last
/// day whenever it is opened.
pub fn spawn_sampler(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut closing = state.admin.closing.subscribe();
        loop {
            if let Err(e) = record_sample(&state).await {
                tracing::warn!(error = %e.message, "the console could not take its minute's reading");
            }
            let now = state.engine.clock.now_ms();
            let wait = SAMPLE_EVERY_MS - now.rem_euclid(SAMPLE_EVERY_MS);
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_millis(u64::try_from(wait).unwrap_or(1))) => {}
                _ = closing.wait_for(|closed| *closed) => return,
            }
        }
    })
}
