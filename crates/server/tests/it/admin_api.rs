//! The admin API, route by route and role by role, with every answer checked against the
//! OpenAPI document's schema for it; and the document itself, valid and snapshot-checked.
//! Long because every admin route is walked in one place, with every role.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use paybridge_engine::Engine;
use paybridge_engine::tokens::{Role, Tokens};
use paybridge_model::FailureKind;
use paybridge_store::{FailureRecord, NewEvent};
use paybridge_store::{InboxStore as _, RunStore as _};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::app_parts;

struct Api {
    app: axum::Router,
    engine: Engine,
    viewer: String,
    operator: String,
    admin: String,
    doc: Value,
    _dir: tempfile::TempDir,
}

impl Api {
    async fn new() -> Api {
        let (dir, app, engine) = app_parts(false).await;
        let tokens = Tokens::new(engine.store().clone(), engine.clock);
        let secret = |role| {
            let tokens = &tokens;
            async move {
                let (_, secret) = tokens.create(&format!("{role}-token"), role).await.unwrap();
                secret.expose_secret().to_string()
            }
        };
        Api {
            viewer: secret(Role::Viewer).await,
            operator: secret(Role::Operator).await,
            admin: secret(Role::Admin).await,
            app,
            engine,
            doc: paybridge_server::openapi::document(),
            _dir: dir,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method.clone()).uri(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        self.check_against_document(&method, path, status, &body);
        (status, body)
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::GET, path, token, None).await
    }

    async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, body).await
    }

    /// The answer matches the schema the document gives for this route and status.
    fn check_against_document(
        &self,
        method: &Method,
        path: &str,
        status: StatusCode,
        body: &Value,
    ) {
        if path == "/openapi.json" {
            return;
        }
        let path = path.split('?').next().unwrap();
        let template = self.doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .find(|t| matches_template(t, path))
            .unwrap_or_else(|| panic!("{path} is not in the OpenAPI document"));
        let operation = &self.doc["paths"][template][method.as_str().to_lowercase()];
        assert!(
            operation.is_object(),
            "{method} {template} is not in the document"
        );
        let response = &operation["responses"][status.as_str()];
        assert!(
            response.is_object(),
            "{method} {template} answered {status}, which the document does not list: {body}"
        );
        let Some(schema) = response.pointer("/content/application~1json/schema") else {
            return;
        };
        let mut root = schema.clone();
        root["components"] = self.doc["components"].clone();
        let validator = jsonschema::validator_for(&root).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {path} {status}: {errors:?}\n{body}"
        );
    }

    /// A dead letter of flow `flow`, its step having failed with the vendor's message.
    async fn dead_letter(&self, flow: &str, n: u32) -> i64 {
        let store = &self.engine.store();
        let now = self.engine.clock.now_ms();
        store
            .accept_event(
                &NewEvent {
                    source: "manual".into(),
                    dedupe_key: format!("test:{flow}:{n}"),
                    event_type: "test".into(),
                    entity_key: format!("order:R-{n}"),
                    payload: json!({"n": n}),
                },
                &[flow],
                now,
            )
            .await
            .unwrap();
        let claimed = store
            .claim_run("test", now, std::time::Duration::from_secs(60))
            .await
            .unwrap()
            .unwrap();
        store
            .begin_step(
                Some(claimed.id),
                &format!("k{n}"),
                "books_invoice",
                Some(&json!({"amount": "10.00"})),
                now,
            )
            .await
            .unwrap();
        let failure = FailureRecord {
            message: "zoho-books: Invalid value passed for customer_id".into(),
            kind: FailureKind::Permanent,
            http_status: Some(400),
            request_id: None,
            step: Some("books_invoice".into()),
        };
        store
            .fail_step(&format!("k{n}"), &failure, now)
            .await
            .unwrap();
        assert!(
            store
                .dead_letter_run(claimed.id, "test", None, &failure, None, now)
                .await
                .unwrap()
        );
        claimed.id
    }
}

fn matches_template(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.len() == p.len() && t.iter().zip(&p).all(|(t, p)| t.starts_with('{') || t == p)
}

#[tokio::test]
async fn every_route_needs_a_token_and_its_role() {
    let api = Api::new().await;
    let id = api.dead_letter("order-to-cash", 1).await;
    let routes: Vec<(Method, String, Role, Option<Value>)> = vec![
        (Method::GET, "/openapi.json".into(), Role::Viewer, None),
        (
            Method::GET,
            "/api/v1/admin/whoami".into(),
            Role::Viewer,
            None,
        ),
        (
            Method::GET,
            "/api/v1/admin/summary".into(),
            Role::Viewer,
            None,
        ),
        (
            Method::GET,
            "/api/v1/admin/quota".into(),
            Role::Viewer,
            None,
        ),
        (Method::GET, "/api/v1/admin/runs".into(), Role::Viewer, None),
        (
            Method::GET,
            format!("/api/v1/admin/runs/{id}"),
            Role::Viewer,
            None,
        ),
        (
            Method::GET,
            "/api/v1/admin/dead-letters".into(),
            Role::Viewer,
            None,
        ),
        (
            Method::POST,
            "/api/v1/admin/dead-letters/999/replay".into(),
            Role::Operator,
            None,
        ),
        (
            Method::POST,
            "/api/v1/admin/dead-letters/999/discard".into(),
            Role::Operator,
            None,
        ),
        (
            Method::POST,
            "/api/v1/admin/dead-letters/replay".into(),
            Role::Operator,
            Some(json!({"ids": [999]})),
        ),
        (
            Method::POST,
            "/api/v1/admin/dead-letters/discard".into(),
            Role::Operator,
            Some(json!({"ids": [999]})),
        ),
        (
            Method::GET,
            "/api/v1/admin/flows".into(),
            Role::Viewer,
            None,
        ),
        (
            Method::GET,
            "/api/v1/admin/flows/order-to-cash".into(),
            Role::Viewer,
            None,
        ),
        (
            Method::GET,
            "/api/v1/admin/flows/order-to-cash/versions".into(),
            Role::Viewer,
            None,
        ),
        (
            Method::GET,
            "/api/v1/admin/flows/order-to-cash/diff?env=dev".into(),
            Role::Viewer,
            None,
        ),
        (
            Method::GET,
            "/api/v1/admin/flows/deployments?env=dev".into(),
            Role::Viewer,
            None,
        ),
        (
            Method::GET,
            "/api/v1/admin/flows/order-to-cash/versions/000000000000".into(),
            Role::Viewer,
            None,
        ),
        (
            Method::POST,
            "/api/v1/admin/flows/order-to-cash/fields".into(),
            Role::Viewer,
            Some(json!({"step": "crm_contact", "field": "First_Name", "expression": "\"x\""})),
        ),
        (
            Method::POST,
            "/api/v1/admin/flows/validate".into(),
            Role::Viewer,
            Some(json!({"text": "name: x"})),
        ),
        (
            Method::POST,
            "/api/v1/admin/flows/order-to-cash/test".into(),
            Role::Viewer,
            Some(json!({"event": {}})),
        ),
        (
            Method::POST,
            "/api/v1/admin/flows/order-to-cash/run".into(),
            Role::Operator,
            Some(json!({"event": {}, "key": "k"})),
        ),
        (
            Method::POST,
            "/api/v1/admin/flows/deploy".into(),
            Role::Admin,
            Some(json!({"env": "dev"})),
        ),
        (
            Method::POST,
            "/api/v1/admin/flows/promote".into(),
            Role::Admin,
            Some(json!({"from": "dev", "to": "qa"})),
        ),
        (
            Method::GET,
            "/api/v1/admin/connections".into(),
            Role::Viewer,
            None,
        ),
        (
            Method::POST,
            "/api/v1/admin/connections/nowhere/test".into(),
            Role::Operator,
            None,
        ),
        (
            Method::PUT,
            "/api/v1/admin/connections/zoho/secrets/zoho.refresh_token".into(),
            Role::Admin,
            Some(json!({"value": "new"})),
        ),
        (
            Method::GET,
            "/api/v1/admin/orders/held".into(),
            Role::Viewer,
            None,
        ),
        (
            Method::POST,
            "/api/v1/admin/orders/R-NONE/review".into(),
            Role::Operator,
            Some(json!({"decision": "accept"})),
        ),
    ];
    for (method, path, needed, body) in &routes {
        let (status, answer) = api.call(method.clone(), path, None, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path}: {answer}"
        );
        let (status, _) = api
            .call(method.clone(), path, Some("pb_nonsense"), body.clone())
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        for (role, token) in [
            (Role::Viewer, &api.viewer),
            (Role::Operator, &api.operator),
            (Role::Admin, &api.admin),
        ] {
            let (status, answer) = api
                .call(method.clone(), path, Some(token), body.clone())
                .await;
            if role < *needed {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{method} {path} as {role}: {answer}"
                );
                assert!(
                    answer["error"]["message"]
                        .as_str()
                        .unwrap()
                        .contains(&format!("needs the {needed} role")),
                    "{answer}"
                );
            } else {
                assert!(
                    ![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&status),
                    "{method} {path} as {role}: {status} {answer}"
                );
            }
        }
    }
    // The role is checked before the body is read: a caller who may not use a route learns
    // that (403), whatever it sent; one who may learns what is wrong with the body (400).
    for (method, path, needed, body) in &routes {
        if body.is_none() {
            continue;
        }
        for (role, token) in [(Role::Viewer, &api.viewer), (Role::Operator, &api.operator)] {
            let (status, answer) = api
                .call(
                    method.clone(),
                    path,
                    Some(token),
                    Some(json!({"not": "this route's body"})),
                )
                .await;
            let expected = if role < *needed {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::BAD_REQUEST
            };
            assert_eq!(status, expected, "{method} {path} as {role}: {answer}");
        }
    }
    // Every operation of the document was called above.
    let called: Vec<(String, String)> = routes
        .iter()
        .map(|(m, p, _, _)| {
            (
                m.as_str().to_lowercase(),
                p.split('?').next().unwrap().to_string(),
            )
        })
        .collect();
    for (template, operations) in api.doc["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            let covered = called
                .iter()
                .any(|(m, p)| m == method && matches_template(template, p));
            assert!(covered, "{method} {template} is not exercised");
        }
    }
}

#[tokio::test]
async fn runs_and_dead_letters_are_listed_shown_replayed_and_discarded() {
    let api = Api::new().await;
    let first = api.dead_letter("order-to-cash", 1).await;
    let second = api.dead_letter("refund", 2).await;
    let third = api.dead_letter("order-to-cash", 3).await;

    let (status, page) = api
        .get(
            "/api/v1/admin/runs?flow=order-to-cash&limit=1",
            Some(&api.viewer),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["runs"].as_array().unwrap().len(), 1);
    assert_eq!(page["runs"][0]["id"], third);
    assert_eq!(page["next_before"], third);
    let (_, next) = api
        .get(
            &format!("/api/v1/admin/runs?flow=order-to-cash&limit=1&before={third}"),
            Some(&api.viewer),
        )
        .await;
    assert_eq!(next["runs"][0]["id"], first);
    let (status, bad) = api
        .get("/api/v1/admin/runs?status=lost", Some(&api.viewer))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("queued, running, succeeded, dead, discarded")
    );
    let (_, by_entity) = api
        .get(
            "/api/v1/admin/dead-letters?entity=order:R-2",
            Some(&api.viewer),
        )
        .await;
    assert_eq!(by_entity["runs"][0]["id"], second);

    let (status, run) = api
        .get(&format!("/api/v1/admin/runs/{first}"), Some(&api.viewer))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(run["run"]["status"], "dead");
    assert_eq!(run["steps"][0]["name"], "books_invoice");
    assert_eq!(run["steps"][0]["input"]["amount"], "10.00");
    assert_eq!(run["event"]["n"], 1);
    let cause = run["cause"].as_str().unwrap();
    assert!(cause.starts_with("Step “books_invoice” failed (HTTP 400): zoho-books: Invalid value passed for customer_id."), "{cause}");
    assert!(
        cause.contains("fix the data or the flow's mapping, then replay"),
        "{cause}"
    );
    let (status, _) = api
        .get("/api/v1/admin/runs/424242", Some(&api.viewer))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, done) = api
        .post(
            &format!("/api/v1/admin/dead-letters/{first}/replay"),
            Some(&api.operator),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["action"], "replayed");
    let (_, run) = api
        .get(&format!("/api/v1/admin/runs/{first}"), Some(&api.viewer))
        .await;
    assert_eq!(run["run"]["status"], "queued");
    assert!(run["retry"]["next_attempt_at"].is_i64());
    let (status, again) = api
        .call(
            Method::POST,
            &format!("/api/v1/admin/dead-letters/{first}/replay"),
            Some(&api.operator),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        again["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is queued, not a dead letter"),
        "{again}"
    );
    let (status, original) = api
        .call(
            Method::POST,
            &format!("/api/v1/admin/dead-letters/{second}/replay"),
            Some(&api.operator),
            Some(json!({"original_version": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{original}");
    assert!(
        original["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no original version"),
        "{original}"
    );

    let (status, bulk) = api
        .post(
            "/api/v1/admin/dead-letters/discard",
            Some(&api.operator),
            Some(json!({"flow": "order-to-cash"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bulk["done"], json!([third]));
    // On the original version: a run that ran no flow file version has none, and is skipped.
    let (status, bulk) = api
        .post(
            "/api/v1/admin/dead-letters/replay",
            Some(&api.operator),
            Some(json!({"ids": [second], "original_version": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bulk["skipped"], json!([second]));
    let (_, bulk) = api
        .post(
            "/api/v1/admin/dead-letters/replay",
            Some(&api.operator),
            Some(json!({"ids": [second, first]})),
        )
        .await;
    assert_eq!(bulk["done"], json!([second]));
    assert_eq!(bulk["skipped"], json!([first]));
    let (_, dead) = api
        .get("/api/v1/admin/dead-letters", Some(&api.viewer))
        .await;
    assert!(dead["runs"].as_array().unwrap().is_empty(), "{dead}");

    let (_, summary) = api.get("/api/v1/admin/summary", Some(&api.viewer)).await;
    assert_eq!(summary["queue_depth"], 2);
    assert_eq!(summary["runs_by_status"]["discarded"], 1);
}

#[tokio::test]
async fn flows_are_shown_tested_edited_deployed_and_promoted() {
    let api = Api::new().await;
    let (_, flows) = api.get("/api/v1/admin/flows", Some(&api.viewer)).await;
    let names: Vec<&str> = flows["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"order-to-cash") && names.contains(&"refund"),
        "{names:?}"
    );
    let (_, flow) = api
        .get("/api/v1/admin/flows/order-declined", Some(&api.viewer))
        .await;
    let steps = flow["steps"].as_array().unwrap();
    assert!(!steps.is_empty());
    let (status, missing) = api.get("/api/v1/admin/flows/nope", Some(&api.viewer)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        missing["error"]["message"]
            .as_str()
            .unwrap()
            .contains("order-to-cash")
    );

    // Validation reports lines, steps and fields.
    let broken = "name: broken\ntrigger: {source: order-api, events: [order.approved]}\nsteps:\n  - name: a\n    action: zoho-books.invoice.creat\n";
    let (_, checked) = api
        .post(
            "/api/v1/admin/flows/validate",
            Some(&api.viewer),
            Some(json!({"text": broken})),
        )
        .await;
    assert_eq!(checked["ok"], false);
    assert_eq!(checked["problems"][0]["line"], 5);
    assert!(
        checked["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("did you mean"),
        "{checked}"
    );

    // A field edited, previewed on a sample, deployed to the environment, and promoted.
    let sample: Value = serde_json::from_str(include_str!(
        "../../../../flows/samples/order-approved.json"
    ))
    .unwrap();
    let (status, preview) = api
        .post(
            "/api/v1/admin/flows/order-to-cash/test",
            Some(&api.viewer),
            Some(json!({"event": sample})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["ok"], true, "{preview}");
    let (_, edited) = api.post("/api/v1/admin/flows/order-to-cash/fields", Some(&api.viewer), Some(json!({"step": "crm_contact", "field": "First_Name", "expression": "event.order.customer.first_name.to_upper()"}))).await;
    assert_eq!(edited["ok"], true, "{edited}");
    let text = edited["text"].as_str().unwrap().to_string();
    assert!(text.contains("First_Name: event.order.customer.first_name.to_upper()"));
    assert!(text.starts_with("# Order to cash"), "comments are kept");
    let (_, bad) = api.post("/api/v1/admin/flows/order-to-cash/fields", Some(&api.viewer), Some(json!({"step": "crm_contact", "field": "First_Name", "expression": "event.order.(", "text": text}))).await;
    assert_eq!(bad["ok"], false);
    assert_eq!(bad["problems"][0]["field"], "First_Name", "{bad}");
    let (status, tried) = api
        .post(
            "/api/v1/admin/flows/order-to-cash/test",
            Some(&api.viewer),
            Some(json!({"event": sample, "text": bad["text"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{tried}");

    let (status, deployed) = api
        .post(
            "/api/v1/admin/flows/deploy",
            Some(&api.admin),
            Some(json!({"env": "dev", "texts": [text]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{deployed}");
    assert_eq!(deployed["flows"][0]["name"], "order-to-cash");
    assert_eq!(deployed["flows"][0]["to"], edited["version"]);
    assert_eq!(deployed["live_here"], false);
    let (_, diff) = api
        .get(
            "/api/v1/admin/flows/order-to-cash/diff?env=dev",
            Some(&api.viewer),
        )
        .await;
    // From what dev runs (the edit) to what this node runs (the shipped template).
    let text_diff = diff["diff"].as_str().unwrap();
    assert!(
        text_diff.contains("\n-      First_Name: event.order.customer.first_name.to_upper()\n")
            && text_diff.contains("\n+      First_Name: event.order.customer.first_name.trim()\n"),
        "{diff}"
    );
    let (status, promoted) = api
        .post(
            "/api/v1/admin/flows/promote",
            Some(&api.admin),
            Some(json!({"from": "dev", "to": "qa"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{promoted}");
    let (_, qa) = api
        .get("/api/v1/admin/flows/deployments?env=qa", Some(&api.viewer))
        .await;
    assert_eq!(qa[0]["version"], edited["version"]);
    let (_, history) = api
        .get(
            "/api/v1/admin/flows/order-to-cash/versions",
            Some(&api.viewer),
        )
        .await;
    assert_eq!(history.as_array().unwrap().len(), 2);
    let version = edited["version"].as_str().unwrap();
    let (status, recorded) = api
        .get(
            &format!("/api/v1/admin/flows/order-to-cash/versions/{version}"),
            Some(&api.viewer),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(recorded["text"], text.as_str());
    let (status, _) = api
        .post(
            "/api/v1/admin/flows/deploy",
            Some(&api.admin),
            Some(json!({"env": "Prod!"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn connections_are_described_without_secrets_and_tested() {
    let api = Api::new().await;
    let (_, connections) = api
        .get("/api/v1/admin/connections", Some(&api.viewer))
        .await;
    let names: Vec<&str> = connections
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cybersource", "zoho"]);
    assert_eq!(connections[0]["status"], "unknown");
    // The connectors point at a closed port: the test says so, and the status follows.
    let (status, tested) = api
        .post(
            "/api/v1/admin/connections/zoho/test",
            Some(&api.operator),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tested["ok"], false, "{tested}");
    let (_, connections) = api
        .get("/api/v1/admin/connections", Some(&api.viewer))
        .await;
    assert_eq!(connections[1]["status"], "failing");
    assert!(connections[1]["health"]["last_test_message"].is_string());
    let text = connections.to_string();
    for secret in [
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "\"s\"",
        "\"r\"",
    ] {
        assert!(!text.contains(secret), "{text}");
    }
    let (status, refused) = api
        .call(
            Method::PUT,
            "/api/v1/admin/connections/zoho/secrets/zoho.refresh_token",
            Some(&api.admin),
            Some(json!({"value": "1000.new"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{refused}");
    assert!(!refused.to_string().contains("1000.new"));
}

#[test]
fn the_openapi_document_is_valid_and_unchanged() {
    let doc = paybridge_server::openapi::document();
    assert_eq!(doc["openapi"], "3.1.0");
    // Every operation answers 401 (all need a token) and names the bearer scheme.
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            assert!(
                operation["responses"]["401"].is_object(),
                "{method} {path} lists no 401"
            );
            assert_eq!(
                operation["security"][0]["token"],
                json!([]),
                "{method} {path}"
            );
            assert!(
                operation["summary"].is_string(),
                "{method} {path} has no summary"
            );
        }
    }
    // Every schema is a valid JSON Schema, and every reference resolves.
    let text = doc.to_string();
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        let mut root = schema.clone();
        root["components"] = doc["components"].clone();
        jsonschema::validator_for(&root).unwrap_or_else(|e| panic!("schema {name}: {e}"));
    }
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "dangling reference to {name}"
        );
    }
    let snapshot = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let pretty = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    if std::env::var_os("PAYBRIDGE_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&snapshot, &pretty).unwrap();
    }
    let stored = std::fs::read_to_string(&snapshot).unwrap_or_default();
    assert!(
        stored == pretty,
        "the OpenAPI document changed; if that is intended, run with PAYBRIDGE_UPDATE_SNAPSHOTS=1 and commit docs/openapi.json"
    );
}

#[tokio::test]
async fn only_manual_flows_are_started_by_hand() {
    let api = Api::new().await;
    let (status, answer) = api
        .post(
            "/api/v1/admin/flows/order-to-cash/run",
            Some(&api.operator),
            Some(json!({"event": {"x": 1}, "key": "k-1"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is not started by hand"),
        "{answer}"
    );
    let (status, _) = api
        .post(
            "/api/v1/admin/flows/nowhere/run",
            Some(&api.operator),
            Some(json!({"event": {}, "key": "k-1"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(api.engine.store().counts().await.unwrap().inbox_events, 0);
}

/// A held order is decided once through the API; one not on hold, or decided already, is a
/// 409 that says why; a decision that is neither accept nor reject is a 400.
#[tokio::test]
async fn a_held_order_is_listed_and_decided_once() {
    use paybridge_model::OrderStatus;
    use paybridge_store::{Admission, NewOrder, NewStep, OrderStore as _, PaymentUpdate};

    let api = Api::new().await;
    let store = api.engine.store();
    let Admission::Admitted { order, .. } = store
        .admit_order(
            &NewOrder {
                id: "ord_0000000000000000000000000000h1".into(),
                reference: "H-1".into(),
                idempotency_key: "k-h1".into(),
                request_fingerprint: "f".into(),
                currency: "USD".into(),
                amount_minor: 1234,
                customer_email: "ada@example.com".into(),
                card_brand: None,
                card_last4: None,
                event: NewEvent {
                    source: "order-api".into(),
                    dedupe_key: "order-api:k-h1".into(),
                    event_type: "order.placed".into(),
                    entity_key: "order:H-1".into(),
                    payload: json!({"reference": "H-1"}),
                },
                payment_step: NewStep {
                    key: "order:H-1:cybersource:payment".into(),
                    name: "cybersource.payment".into(),
                    input: json!({}),
                },
            },
            1,
        )
        .await
        .unwrap()
    else {
        panic!("new order")
    };
    let path = "/api/v1/admin/orders/H-1/review";
    let accept = json!({"decision": "accept", "comment": "called the customer"});
    // Not on hold yet: nothing to decide.
    let (status, answer) = api
        .post(path, Some(&api.operator), Some(accept.clone()))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("pending_payment"),
        "{answer}"
    );
    store
        .record_payment(
            &order.id,
            &PaymentUpdate {
                from: OrderStatus::PendingPayment,
                status: OrderStatus::OnHold,
                payment_id: Some("7000000000000000000001".into()),
                payment_status: Some("AUTHORIZED_PENDING_REVIEW".into()),
                decline_reason: None,
                status_detail: Some("held for review".into()),
                failure_kind: None,
            },
            &[],
            2,
        )
        .await
        .unwrap();
    let (status, listed) = api
        .get("/api/v1/admin/orders/held", Some(&api.viewer))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["orders"][0]["reference"], "H-1", "{listed}");
    let (status, answer) = api
        .post(
            path,
            Some(&api.operator),
            Some(json!({"decision": "maybe"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let (status, answer) = api
        .post(path, Some(&api.operator), Some(accept.clone()))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(
        (answer["reference"].as_str(), answer["decision"].as_str()),
        (Some("H-1"), Some("accept"))
    );
    let (status, answer) = api
        .post(
            path,
            Some(&api.operator),
            Some(json!({"decision": "reject"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("first decision stands"),
        "{answer}"
    );
}

/// A run shown to a viewer carries no credential, whatever its event or steps hold (a CRM
/// channel token in an event kept by an older version, a secret a vendor echoed, a URL's
/// `?token=`).
#[tokio::test]
async fn a_run_is_shown_without_the_secrets_its_event_and_steps_held() {
    let api = Api::new().await;
    let store = api.engine.store();
    let now = api.engine.clock.now_ms();
    store
        .accept_event(
            &NewEvent {
                source: "zoho-webhook".into(),
                dedupe_key: "old-crm-event".into(),
                event_type: "crm.Contacts.update".into(),
                entity_key: "zoho-crm:Contacts:1".into(),
                payload: json!({"channel_id": "1000000068001", "token": "crm-channel-token-0123",
                                "ids": ["5725767000003000010"]}),
            },
            &["crm-sync"],
            now,
        )
        .await
        .unwrap();
    let run = store
        .claim_run("test", now, std::time::Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    store
        .begin_step(
            Some(run.id),
            "s1",
            "http",
            Some(&json!({"url": "https://hooks.example.com/in?token=hook-secret-42", "headers": {"Authorization": "Bearer abc"}})),
            now,
        )
        .await
        .unwrap();
    let (status, shown) = api
        .get(&format!("/api/v1/admin/runs/{}", run.id), Some(&api.viewer))
        .await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    let text = shown.to_string();
    for secret in ["crm-channel-token-0123", "hook-secret-42", "Bearer abc"] {
        assert!(!text.contains(secret), "{secret} shown: {text}");
    }
    assert!(text.contains("5725767000003000010"), "ids stay: {text}");
}
