//! The console's door, without a browser: anonymous visitors are sent to sign in, a session is
//! an HttpOnly SameSite=Strict cookie, every answer carries the security headers, and a form
//! without the session's CSRF token, or from a role too low, changes nothing.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use paybridge_engine::tokens::{Role, Tokens};
use paybridge_store::{AuthStore as _, CoordinationStore as _};
use secrecy::ExposeSecret as _;
use tower::ServiceExt as _;

use crate::app_parts;

async fn send(
    app: &axum::Router,
    method: Method,
    path: &str,
    cookie: Option<&str>,
    form: Option<String>,
) -> (StatusCode, HeaderMap, String) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let request = match form {
        Some(form) => request
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form)),
        None => request.body(Body::empty()),
    }
    .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
        .await
        .unwrap();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// The sign-in form's token and its cookie, as a browser gets them with the page.
async fn login_form(app: &axum::Router) -> (String, String) {
    let (status, headers, page) = send(app, Method::GET, "/console/login", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let cookie = headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    (cookie, csrf)
}

/// Signs in with a new token of `role`; returns the cookie and the page's CSRF token.
async fn sign_in(
    app: &axum::Router,
    engine: &paybridge_engine::Engine,
    role: Role,
) -> (String, String) {
    let (_, secret) = Tokens::new(engine.store().clone(), engine.clock)
        .create(&format!("{role}-user"), role)
        .await
        .unwrap();
    let (login_cookie, login_csrf) = login_form(app).await;
    let form = format!(
        "token={}&next=%2Fconsole%2Fconnections&csrf={login_csrf}",
        secret.expose_secret()
    );
    let (status, headers, _) = send(
        app,
        Method::POST,
        "/console/login",
        Some(&login_cookie),
        Some(form),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/console/connections");
    let set_cookie = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let (status, _, page) = send(
        app,
        Method::GET,
        "/console/connections",
        Some(&cookie),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let csrf = page
        .split("data-csrf=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    (cookie, csrf)
}

#[tokio::test]
async fn anonymous_visitors_sign_in_first_and_pages_carry_the_security_headers() {
    let (_dir, app, engine) = app_parts(false).await;
    for path in [
        "/console",
        "/console/runs?status=dead",
        "/console/flows/order-to-cash",
        "/console/live",
    ] {
        let (status, headers, _) = send(&app, Method::GET, path, None, None).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
        let expected: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
        assert_eq!(
            headers[header::LOCATION],
            format!("/console/login?next={expected}").as_str()
        );
    }
    // A wrong token is told so; the next page is never taken from outside the console.
    let (login_cookie, login_csrf) = login_form(&app).await;
    let (status, _, page) = send(
        &app,
        Method::POST,
        "/console/login",
        Some(&login_cookie),
        Some(format!(
            "token=pb_nope&next=https%3A%2F%2Fevil.example&csrf={login_csrf}"
        )),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("not valid"), "{page}");
    assert!(page.contains("value=\"/console\""), "{page}");

    let (cookie, _) = sign_in(&app, &engine, Role::Viewer).await;
    for path in [
        "/console",
        "/console/runs",
        "/console/dead-letters",
        "/console/flows",
        "/console/flows/order-to-cash",
        "/console/connections",
    ] {
        let (status, headers, page) = send(&app, Method::GET, path, Some(&cookie), None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
        // Our own script and styles only.
        assert!(
            !page.contains("<script>") && !page.contains("http://") && !page.contains("https://"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn forms_need_the_sessions_csrf_token_and_the_role() {
    let (_dir, app, engine) = app_parts(false).await;
    let (viewer, viewer_csrf) = sign_in(&app, &engine, Role::Viewer).await;
    let (operator, operator_csrf) = sign_in(&app, &engine, Role::Operator).await;

    // No token, or another session's: refused, nothing tested.
    for form in ["".to_string(), format!("csrf={viewer_csrf}")] {
        let (status, _, page) = send(
            &app,
            Method::POST,
            "/console/connections/zoho/test",
            Some(&operator),
            Some(form),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
        assert!(page.contains("CSRF"), "{page}");
    }
    assert_eq!(engine.health.of("zoho").last_test_ms, None);
    // A viewer with a good token: the role is too low.
    let (status, _, page) = send(
        &app,
        Method::POST,
        "/console/connections/zoho/test",
        Some(&viewer),
        Some(format!("csrf={viewer_csrf}")),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("needs the operator role"), "{page}");
    // The operator's own token: tested.
    let (status, headers, _) = send(
        &app,
        Method::POST,
        "/console/connections/zoho/test",
        Some(&operator),
        Some(format!("csrf={operator_csrf}")),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        headers[header::LOCATION]
            .to_str()
            .unwrap()
            .starts_with("/console/connections?notice=")
    );
    assert!(engine.health.of("zoho").last_test_ms.is_some());

    // Signing out ends the session; so does revoking its token.
    let (status, _, _) = send(
        &app,
        Method::POST,
        "/console/logout",
        Some(&viewer),
        Some(format!("csrf={viewer_csrf}")),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = send(&app, Method::GET, "/console", Some(&viewer), None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let tokens = Tokens::new(engine.store().clone(), engine.clock);
    let operator_token = tokens
        .list()
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.role == Role::Operator)
        .unwrap();
    tokens.revoke(&operator_token.id).await.unwrap();
    let (status, _, _) = send(&app, Method::GET, "/console", Some(&operator), None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_overview_charts_the_last_day_from_readings_kept_in_the_store() {
    use paybridge_server::console::{SAMPLE_EVERY_MS, Sample, record_sample};
    let (_dir, state, engine) = crate::app_state(false).await;
    let app = paybridge_server::router(state.clone());

    // Two hours ago, another node took a reading: 7 orders.
    let now = engine.clock.now_ms();
    let then = now - 2 * 3_600_000;
    let then = then - then.rem_euclid(SAMPLE_EVERY_MS);
    let old = Sample {
        at_ms: then,
        orders: 7,
        queue_depth: 0,
        dead_letters: 0,
        success_rate: None,
        latency_p95_ms: None,
        quota: Vec::new(),
    };
    assert!(
        engine
            .store()
            .record_sample(then, &serde_json::to_string(&old).unwrap(), 0)
            .await
            .unwrap()
    );
    // This minute's reading, once per minute whichever node asks.
    let minute = |ms: i64| ms - ms.rem_euclid(SAMPLE_EVERY_MS);
    let before = minute(engine.clock.now_ms());
    assert!(record_sample(&state).await.unwrap());
    let again = record_sample(&state).await.unwrap();
    if minute(engine.clock.now_ms()) == before {
        assert!(!again, "one reading a minute");
    }
    let kept = engine.store().samples_since(then, 100).await.unwrap();
    assert!(kept.len() >= 2 && kept[0].0 == then, "{kept:?}");

    let (cookie, _) = sign_in(&app, &engine, Role::Viewer).await;
    let (status, _, live) = send(&app, Method::GET, "/console/live", Some(&cookie), None).await;
    assert_eq!(status, StatusCode::OK);
    let orders = live
        .split("<svg class=\"chart\"")
        .find(|chart| chart.contains("aria-label=\"Orders:"))
        .unwrap();
    assert!(orders.contains("max 7"), "{orders}");
    assert!(orders.contains("<polyline"), "a line over time: {orders}");
}

#[tokio::test]
async fn a_session_is_known_to_every_node_on_the_store_and_kept_only_as_a_hash() {
    let (_dir, state, engine) = crate::app_state(false).await;
    let first = paybridge_server::router(state.clone());
    // Another node: the same store, its own memory.
    let other = paybridge_server::router(paybridge_server::AppState {
        admin: std::sync::Arc::default(),
        ..state
    });
    let (cookie, _) = sign_in(&first, &engine, Role::Viewer).await;
    let (status, _, _) = send(&other, Method::GET, "/console/runs", Some(&cookie), None).await;
    assert_eq!(status, StatusCode::OK, "the other node knows the session");

    let id = cookie.split_once('=').unwrap().1;
    assert!(engine.store().session(id).await.unwrap().is_none());
    use sha2::Digest as _;
    let hashed = hex::encode(sha2::Sha256::digest(id.as_bytes()));
    assert!(engine.store().session(&hashed).await.unwrap().is_some());
}

/// A sign-in posted from elsewhere — without the form's token, or with one that is not its
/// cookie's — signs nobody in, even with a valid API token (login CSRF: a visitor signed in as
/// somebody else).
#[tokio::test]
async fn a_sign_in_from_another_site_signs_nobody_in() {
    let (_dir, app, engine) = app_parts(false).await;
    let (_, secret) = Tokens::new(engine.store().clone(), engine.clock)
        .create("attacker", Role::Admin)
        .await
        .unwrap();
    let (login_cookie, login_csrf) = login_form(&app).await;
    let (_, other_csrf) = login_form(&app).await;
    for (cookie, csrf) in [
        (None, None),
        (None, Some(login_csrf.as_str())),
        (Some(login_cookie.as_str()), None),
        (Some(login_cookie.as_str()), Some(other_csrf.as_str())),
    ] {
        let mut form = format!("token={}&next=%2Fconsole", secret.expose_secret());
        if let Some(csrf) = csrf {
            form.push_str(&format!("&csrf={csrf}"));
        }
        let (status, headers, page) =
            send(&app, Method::POST, "/console/login", cookie, Some(form)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{cookie:?} {csrf:?}");
        assert!(page.contains("did not come from this console"), "{page}");
        assert!(
            headers
                .get_all(header::SET_COOKIE)
                .iter()
                .all(|c| !c.to_str().unwrap().starts_with("pb_console=")),
            "no session"
        );
    }
}
