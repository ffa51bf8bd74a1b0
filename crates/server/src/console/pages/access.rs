//! Signing in and out of the console.

use super::super::session::{self};
use crate::AppState;
use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::render;

// ---- login ----

#[derive(Template)]
#[template(path = "login.html")]
pub(crate) struct LoginPage {
    next: String,
    error: Option<String>,
    /// The form's own CSRF token (its cookie holds the same).
    csrf: String,
}

/// The sign-in page with a fresh form token, and its cookie; `status` and `error` as given.
fn login_form(
    headers: &HeaderMap,
    next: String,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let (csrf, cookie) = session::login_token(headers);
    let mut response = (status, render(&LoginPage { next, error, csrf })).into_response();
    if let Ok(cookie) = cookie.parse() {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// Only paths inside the console are followed after login.
pub(crate) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/console") && !n.starts_with("//") && !n.contains('\\') => {
            n.to_string()
        }
        _ => "/console".to_string(),
    }
}

pub async fn login_page(headers: HeaderMap, Query(query): Query<LoginQuery>) -> Response {
    login_form(
        &headers,
        safe_next(query.next.as_deref()),
        None,
        StatusCode::OK,
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
    next: Option<String>,
    csrf: Option<String>,
}

pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if !session::login_token_ok(&headers, form.csrf.as_deref()) {
        return login_form(
            &headers,
            safe_next(form.next.as_deref()),
            Some(
                "This sign-in form expired or did not come from this console; sign in again."
                    .into(),
            ),
            StatusCode::FORBIDDEN,
        );
    }
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
            // The form's token is spent.
            let spent = format!(
                "{}=; Path=/console/login; HttpOnly; SameSite=Strict; Max-Age=0",
                session::LOGIN_COOKIE
            );
            if let Ok(spent) = spent.parse() {
                response.headers_mut().append(header::SET_COOKIE, spent);
            }
            response
        }
        Err(e) => login_form(
            &headers,
            safe_next(form.next.as_deref()),
            Some(format!(
                "{e}. Create a token with: paybridge tokens create --role viewer|operator|admin"
            )),
            StatusCode::UNAUTHORIZED,
        ),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    pub(crate) csrf: Option<String>,
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
