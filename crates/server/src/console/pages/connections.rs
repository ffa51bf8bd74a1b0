//! Connections: each vendor's account, health and quota, tested by hand, secrets rotated.

use super::super::charts;
use crate::AppState;
use crate::admin::connections::ConnectionView;
use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use paybridge_engine::tokens::Role;
use serde::Deserialize;

use super::access::CsrfForm;
use super::{Chrome, Notice, SignedIn, acting, api_failure, back_with, chrome, render, time};

// ---- connections ----
pub struct ConnectionCard {
    pub view: ConnectionView,
    pub last_error_at: String,
    pub last_test_at: String,
    pub bars: Vec<String>,
}

#[derive(Template)]
#[template(path = "connections.html")]
pub(crate) struct ConnectionsPage {
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
