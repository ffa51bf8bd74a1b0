//! The admin API's door: tokens with roles, 401 and 403 with clear messages.

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use paybridge_engine::tokens::{Role, Tokens};
use secrecy::ExposeSecret as _;
use serde_json::Value;
use tower::ServiceExt as _;

use crate::{KEY, app_parts};

async fn get(
    app: &axum::Router,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, HeaderMap, Value) {
    let mut request = Request::get(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn admin_routes_need_a_valid_unrevoked_token_and_never_a_storefront_key() {
    let (_dir, app, engine) = app_parts(false).await;
    let tokens = Tokens::new(engine.store().clone(), engine.clock);
    let (viewer, viewer_secret) = tokens.create("prometheus", Role::Viewer).await.unwrap();

    for path in ["/api/v1/admin/whoami", "/api/v1/admin/quota", "/metrics"] {
        let (status, headers, body) = get(&app, path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Authorization: Bearer"),
            "{body}"
        );
        // A storefront key is not an admin token.
        let (status, _, body) = get(&app, path, Some(KEY)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
        assert_eq!(
            body["error"]["message"],
            "the token is not valid: create one with paybridge tokens create --role …"
        );
    }
    // A right id with a wrong secret is refused the same way.
    let forged = format!("pb_{}_{}", viewer.id, "A".repeat(43));
    let (status, _, body) = get(&app, "/api/v1/admin/whoami", Some(&forged)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!body.to_string().contains(&forged));

    let (status, _, body) = get(
        &app,
        "/api/v1/admin/whoami",
        Some(viewer_secret.expose_secret()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["role"], "viewer");
    assert_eq!(body["name"], "prometheus");
    // Use is recorded (at most once a minute).
    let listed = tokens.list().await.unwrap();
    assert!(listed[0].last_used_ms.is_some());

    // This app sends to Zoho unmetered.
    let (status, _, body) = get(
        &app,
        "/api/v1/admin/quota",
        Some(viewer_secret.expose_secret()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["metered"], false);
    // This router was built without a recorder: /metrics says so, after the token check.
    let (status, _, _) = get(&app, "/metrics", Some(viewer_secret.expose_secret())).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    tokens.revoke(&viewer.id).await.unwrap();
    let (status, _, body) = get(
        &app,
        "/api/v1/admin/whoami",
        Some(viewer_secret.expose_secret()),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{body}"
    );
}

#[tokio::test]
async fn a_role_below_the_routes_is_forbidden_and_told_which_it_needs() {
    let (_dir, app, engine) = app_parts(false).await;
    let _ = app;
    let tokens = Tokens::new(engine.store().clone(), engine.clock);
    let (_, viewer) = tokens.create("ada", Role::Viewer).await.unwrap();
    let (_, operator) = tokens.create("grace", Role::Operator).await.unwrap();
    let (_, admin) = tokens.create("root", Role::Admin).await.unwrap();
    let state = paybridge_server::AppState {
        engine,
        storefront_keys: paybridge_server::shared(Vec::new()),
        metrics: None,
        cybersource_webhooks: None,
        zoho_books_webhooks: None,
        zoho_crm_channel: None,
        zoho_desk_webhooks: None,
        admin: std::sync::Arc::default(),
    };
    let headers = |secret: &secrecy::SecretString| {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            format!("Bearer {}", secret.expose_secret())
                .parse()
                .unwrap(),
        );
        headers
    };
    let refused = paybridge_server::admin::authorize(&state, &headers(&viewer), Role::Operator)
        .await
        .unwrap_err();
    let refused = axum::response::IntoResponse::into_response(refused);
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let bytes = axum::body::to_bytes(refused.into_body(), 1 << 16)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["error"]["code"], "forbidden");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("this needs the operator role; token \"ada\""),
        "{body}"
    );
    for (secret, role) in [(&operator, Role::Operator), (&admin, Role::Admin)] {
        let token = paybridge_server::admin::authorize(&state, &headers(secret), Role::Operator)
            .await
            .unwrap();
        assert_eq!(token.role, role);
    }
    assert!(
        paybridge_server::admin::authorize(&state, &headers(&operator), Role::Admin)
            .await
            .is_err()
    );
}
