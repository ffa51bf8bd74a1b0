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

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};

use crate::AppState;

pub use session::Sessions;

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
#[derive(Debug, Clone)]
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

/// The last hours of samples (one at most every [`Samples::EVERY_MS`]), in memory.
#[derive(Debug, Default)]
pub struct Samples {
    samples: Mutex<VecDeque<Sample>>,
}

impl Samples {
    pub const EVERY_MS: i64 = 5_000;
    const KEEP: usize = 720;

    /// Adds `sample` unless the last is too recent; returns all, oldest first.
    pub fn add(&self, sample: Sample) -> Vec<Sample> {
        let mut all = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        let due = all
            .back()
            .is_none_or(|last| sample.at_ms - last.at_ms >= Self::EVERY_MS);
        if due {
            all.push_back(sample);
            while all.len() > Self::KEEP {
                all.pop_front();
            }
        }
        all.iter().cloned().collect()
    }
}
