//! Zoho Desk v1 (reference zoho.md §5): tickets (created with a department and an inline
//! contact found or made by e-mail, updated, commented), contacts, departments, and webhooks
//! whose deliveries are JSON arrays of events. The `orgId` header names the Desk organization;
//! answers are bare objects (lists under `data`), errors `{errorCode, message}`, pages
//! `from`/`limit` (≤ 100), and unknown query parameters are refused.

#![allow(
    clippy::result_large_err,
    reason = "the error is the axum Response the handler answers with, as is"
)]

macro_rules! guard {
    ($e:expr) => {
        match $e {
            Ok(value) => value,
            Err(response) => return response,
        }
    };
}

mod contacts;
mod tickets;
mod webhooks;

use super::{ZohoSandbox, limits};
use crate::ids;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use time::OffsetDateTime;
use time::macros::format_description;

use contacts::{create_contact, get_contact, list_contacts, search_contacts, update_contact};
use tickets::{
    add_comment, create_ticket, get_ticket, list_comments, list_tickets, move_to_trash,
    search_tickets, update_ticket,
};
use webhooks::{create_webhook, delete_webhook, list_webhooks};

/// A Desk organization of the simulator.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeskOrganization {
    pub org_id: String,
    pub name: String,
    /// Department names; ids are made up at start.
    pub departments: Vec<String>,
}

pub(super) fn default_desk_organizations() -> Vec<DeskOrganization> {
    vec![DeskOrganization {
        org_id: "60001234567".into(),
        name: "Sandbox Support".into(),
        departments: vec!["Support".into(), "Billing".into()],
    }]
}

/// A webhook delivery the simulator made.
#[derive(Debug, Clone, Serialize)]
pub struct DeskDelivery {
    pub url: String,
    pub body: Value,
    pub status: Option<u16>,
}

pub(crate) struct Webhook {
    id: String,
    org_id: String,
    url: String,
    subscriptions: Map<String, Value>,
    created_time: String,
}

#[derive(Default)]
struct DeskOrg {
    departments: Vec<Map<String, Value>>,
    tickets: Vec<Map<String, Value>>,
    contacts: Vec<Map<String, Value>>,
    comments: Vec<Map<String, Value>>,
    webhooks: Vec<Webhook>,
    ticket_numbers: u64,
}

#[derive(Default)]
pub(super) struct DeskState {
    orgs: HashMap<String, DeskOrg>,
    pub deliveries: Vec<DeskDelivery>,
}

impl DeskState {
    pub(super) fn new(orgs: &[DeskOrganization], ids: &std::sync::atomic::AtomicU64) -> DeskState {
        DeskState {
            orgs: orgs
                .iter()
                .map(|o| {
                    let departments = o
                        .departments
                        .iter()
                        .map(|name| {
                            let mut d = Map::new();
                            d.insert("id".into(), json!(ids::zoho_id(ids)));
                            d.insert("name".into(), json!(name));
                            d.insert("isEnabled".into(), json!(true));
                            d.insert("isDefault".into(), json!(false));
                            d
                        })
                        .collect();
                    (
                        o.org_id.clone(),
                        DeskOrg {
                            departments,
                            ..DeskOrg::default()
                        },
                    )
                })
                .collect(),
            deliveries: Vec::new(),
        }
    }
}

pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"errorCode": code, "message": message})),
    )
        .into_response()
}

pub(crate) fn invalid(fields: &[(&str, &str)]) -> Response {
    let errors: Vec<Value> = fields
        .iter()
        .map(|(field, kind)| json!({"fieldName": format!("/{field}"), "errorType": kind, "errorMessage": ""}))
        .collect();
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::Json(json!({"errorCode": "INVALID_DATA",
                          "message": "The data is invalid due to validation restrictions",
                          "errors": errors})),
    )
        .into_response()
}

/// Desk timestamps: UTC with milliseconds, `2016-06-21T10:15:21.000Z`.
pub(crate) fn now_desk() -> String {
    OffsetDateTime::now_utc()
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ))
        .unwrap_or_default()
}

pub(crate) struct Guard {
    sandbox: ZohoSandbox,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.sandbox
            .world()
            .spending
            .leave(limits::Meter::Desk, "desk");
    }
}

/// Checks the token, the `orgId` header and the query parameters the endpoint knows; spends a
/// credit and takes a concurrency slot.
pub(crate) fn enter(
    sandbox: &ZohoSandbox,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    allowed: &[&str],
    needs_org: bool,
) -> Result<(Guard, String), Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Zoho-oauthtoken "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "You are not authenticated to perform this operation.",
        ));
    };
    if !sandbox.token_is_live(token) {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "INVALID_OAUTH",
            "The OAuth Token you provided is invalid.",
        ));
    }
    if let Some(extra) = query.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "UNPROCESSABLE_ENTITY",
            &format!("Extra query parameter '{extra}' is present in the input."),
        ));
    }
    let org_id = headers
        .get("orgId")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or_default()
        .to_string();
    let mut world = sandbox.world();
    world.stats.desk_requests += 1;
    if needs_org && !world.desk.orgs.contains_key(&org_id) {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "OAUTH_ORG_MISMATCH",
            "The OAuthToken is not valid for specified organization",
        ));
    }
    let limits = &sandbox.inner.config.limits;
    let throttled = |t: limits::Throttle| {
        let mut response = error(
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_REQUESTS",
            "You have exceeded the API credit limit. Please try again later.",
        );
        if let Ok(value) = t.reset.as_secs().max(1).to_string().parse() {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    };
    world
        .spending
        .enter(limits, limits::Meter::Desk, "desk")
        .map_err(throttled)?;
    if let Err(t) = world.spending.spend(limits, limits::Meter::Desk, "desk", 1) {
        world.spending.leave(limits::Meter::Desk, "desk");
        return Err(throttled(t));
    }
    Ok((
        Guard {
            sandbox: sandbox.clone(),
        },
        org_id,
    ))
}

pub(crate) fn body_object(body: &Bytes) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_DATA",
            "The data is invalid due to validation restrictions",
        )),
    }
}

pub(crate) fn text(map: &Map<String, Value>, key: &str) -> String {
    map.get(key)
        .and_then(Value::as_str)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

pub(crate) fn page(
    query: &HashMap<String, String>,
    rows: Vec<Value>,
) -> Result<Response, Response> {
    let from: usize = match query.get("from") {
        None => 0,
        Some(v) => v.parse().map_err(|_| invalid(&[("from", "invalid")]))?,
    };
    let limit: usize = match query.get("limit") {
        None => 10,
        Some(v) => v
            .parse()
            .ok()
            .filter(|l| (1..=100).contains(l))
            .ok_or_else(|| invalid(&[("limit", "invalid")]))?,
    };
    let data: Vec<Value> = rows.into_iter().skip(from).take(limit).collect();
    if data.is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    Ok((StatusCode::OK, axum::Json(json!({"data": data}))).into_response())
}

pub(super) fn routes() -> Router<ZohoSandbox> {
    Router::new()
        .route("/api/v1/organizations", get(organizations))
        .route("/api/v1/departments", get(departments))
        .route("/api/v1/tickets", post(create_ticket).get(list_tickets))
        .route("/api/v1/tickets/search", get(search_tickets))
        .route("/api/v1/tickets/moveToTrash", post(move_to_trash))
        .route("/api/v1/tickets/{id}", get(get_ticket).patch(update_ticket))
        .route(
            "/api/v1/tickets/{id}/comments",
            post(add_comment).get(list_comments),
        )
        .route("/api/v1/contacts", post(create_contact).get(list_contacts))
        .route("/api/v1/contacts/search", get(search_contacts))
        .route(
            "/api/v1/contacts/{id}",
            get(get_contact).patch(update_contact),
        )
        .route("/api/v1/webhooks", post(create_webhook).get(list_webhooks))
        .route("/api/v1/webhooks/{id}", delete(delete_webhook))
}

async fn organizations(
    State(sandbox): State<ZohoSandbox>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let _guard = guard!(enter(&sandbox, &headers, &query, &[], false));
    let data: Vec<Value> = sandbox
        .inner
        .config
        .desk_organizations
        .iter()
        .map(|o| json!({"id": o.org_id, "companyName": o.name, "isDefault": true}))
        .collect();
    (StatusCode::OK, axum::Json(json!({"data": data}))).into_response()
}

pub(crate) async fn departments(
    State(sandbox): State<ZohoSandbox>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let (_guard, org) = guard!(enter(
        &sandbox,
        &headers,
        &query,
        &["from", "limit", "isEnabled"],
        true
    ));
    let rows: Vec<Value> = sandbox.world().desk.orgs[&org]
        .departments
        .iter()
        .cloned()
        .map(Value::Object)
        .collect();
    match page(&query, rows) {
        Ok(r) | Err(r) => r,
    }
}

impl ZohoSandbox {
    /// Delivers an event to the organization's webhooks that subscribe to it: a POST of a JSON
    /// array with one event.
    fn desk_event(
        &self,
        org: &str,
        event: &str,
        payload: &Map<String, Value>,
        previous: Option<&Map<String, Value>>,
    ) {
        let targets: Vec<String> = self
            .world()
            .desk
            .orgs
            .get(org)
            .map(|o| {
                o.webhooks
                    .iter()
                    .filter(|w| w.org_id == org && w.subscriptions.contains_key(event))
                    .map(|w| w.url.clone())
                    .collect()
            })
            .unwrap_or_default();
        for url in targets {
            let mut item = json!({"eventType": event, "orgId": org, "eventTime": now_desk(),
                                  "payload": payload});
            if let Some(previous) = previous {
                item["prevState"] = Value::Object(previous.clone());
            }
            let body = json!([item]);
            let sandbox = self.clone();
            tokio::spawn(async move {
                let status = sandbox
                    .inner
                    .http
                    .post(&url)
                    .json(&body)
                    .send()
                    .await
                    .ok()
                    .map(|r| r.status().as_u16());
                sandbox
                    .world()
                    .desk
                    .deliveries
                    .push(DeskDelivery { url, body, status });
            });
        }
    }

    /// The Desk webhook deliveries made so far.
    pub fn desk_deliveries(&self) -> Vec<DeskDelivery> {
        self.world().desk.deliveries.clone()
    }
}
