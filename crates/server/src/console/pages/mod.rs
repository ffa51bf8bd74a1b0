//! The console's pages and the forms and scripts behind them.

mod access;
mod connections;
mod flows;
mod overview;
mod runs;

pub(crate) use overview::take_sample;

use super::session::{self, Session};
use crate::AppState;
use crate::admin::{ApiError, require};
use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use paybridge_engine::tokens::Role;
use serde::Deserialize;
use serde_json::Value;

pub use access::{login, login_page, logout};
pub use connections::{connections, rotate, test_connection};
pub use flows::{deploy, flow, flows, preview, promote};
pub use overview::{events, live_fragment, overview};
pub use runs::{act, confirm, dead_letters, run, run_rows, runs};

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

pub(crate) fn chrome(session: &Session, active: &'static str, notice: Option<String>) -> Chrome {
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
pub(crate) async fn acting(
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

pub(crate) fn page_error(status: StatusCode, message: &str) -> Response {
    let page = ErrorPage {
        message: message.to_string(),
    };
    (
        status,
        Html(page.render().unwrap_or_else(|_| message.to_string())),
    )
        .into_response()
}

pub(crate) fn render(template: &impl Template) -> Response {
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

pub(crate) fn api_failure(e: ApiError) -> Response {
    page_error(e.status, &e.message)
}

pub(crate) fn back_with(path: &str, notice: &str) -> Response {
    let notice: String = url::form_urlencoded::byte_serialize(notice.as_bytes()).collect();
    let sep = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{sep}notice={notice}")).into_response()
}

/// A Unix-ms time as the console shows it (RFC 3339, UTC).
pub(crate) fn time(ms: i64) -> String {
    paybridge_flows::interpreter::rfc3339(ms)
}

pub(crate) fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

// ---- assets ----
pub async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../../../assets/app.js"),
    )
        .into_response()
}

pub async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../../assets/app.css"),
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    message: String,
}
