//! Zoho Desk v1 (reference zoho.md §5): tickets (created with a department and an inline
//! contact found or made by e-mail, updated, commented), contacts, departments, and webhooks
//! whose deliveries are JSON arrays of events. The `orgId` header names the Desk organization;
//! answers are bare objects (lists under `data`), errors `{errorCode, message}`, pages
//! `from`/`limit` (≤ 100), and unknown query parameters are refused.

#![allow(
    clippy::result_large_err,
    reason = "the error is the axum Response the handler answers with, as is"
)]

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

use super::{ZohoSandbox, limits};
use crate::ids;

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

struct Webhook {
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

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"errorCode": code, "message": message})),
    )
        .into_response()
}

fn invalid(fields: &[(&str, &str)]) -> Response {
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
fn now_desk() -> String {
    OffsetDateTime::now_utc()
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ))
        .unwrap_or_default()
}

struct Guard {
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
fn enter(
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

macro_rules! guard {
    ($e:expr) => {
        match $e {
            Ok(value) => value,
            Err(response) => return response,
        }
    };
}

fn body_object(body: &Bytes) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_DATA",
            "The data is invalid due to validation restrictions",
        )),
    }
}

fn text(map: &Map<String, Value>, key: &str) -> String {
    map.get(key)
        .and_then(Value::as_str)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn page(query: &HashMap<String, String>, rows: Vec<Value>) -> Result<Response, Response> {
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

async fn departments(
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

// ---------------------------------------------------------------------------------------------
// Contacts

fn new_contact(
    sandbox: &ZohoSandbox,
    body: &Map<String, Value>,
) -> Result<Map<String, Value>, Response> {
    if text(body, "lastName").is_empty() {
        return Err(invalid(&[("lastName", "missing")]));
    }
    let email = text(body, "email");
    if !email.is_empty() && !email.contains('@') {
        return Err(invalid(&[("email", "invalid")]));
    }
    let now = now_desk();
    let mut contact = Map::new();
    contact.insert("id".into(), json!(ids::zoho_id(&sandbox.inner.ids)));
    for key in [
        "firstName",
        "lastName",
        "email",
        "phone",
        "mobile",
        "accountId",
    ] {
        contact.insert(key.into(), json!(text(body, key)));
    }
    contact.insert(
        "cf".into(),
        body.get("cf").cloned().unwrap_or_else(|| json!({})),
    );
    contact.insert("createdTime".into(), json!(now));
    contact.insert("modifiedTime".into(), json!(now));
    Ok(contact)
}

async fn create_contact(
    State(sandbox): State<ZohoSandbox>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (_guard, org) = guard!(enter(&sandbox, &headers, &query, &[], true));
    let body = guard!(body_object(&body));
    let contact = guard!(new_contact(&sandbox, &body));
    sandbox
        .world()
        .desk
        .orgs
        .get_mut(&org)
        .expect("checked org")
        .contacts
        .push(contact.clone());
    sandbox.desk_event(&org, "Contact_Add", &contact, None);
    (StatusCode::OK, axum::Json(Value::Object(contact))).into_response()
}

async fn list_contacts(
    State(sandbox): State<ZohoSandbox>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let (_guard, org) = guard!(enter(
        &sandbox,
        &headers,
        &query,
        &["from", "limit", "sortBy"],
        true
    ));
    let rows: Vec<Value> = sandbox.world().desk.orgs[&org]
        .contacts
        .iter()
        .cloned()
        .map(Value::Object)
        .collect();
    match page(&query, rows) {
        Ok(r) | Err(r) => r,
    }
}

async fn search_contacts(
    State(sandbox): State<ZohoSandbox>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let (_guard, org) = guard!(enter(
        &sandbox,
        &headers,
        &query,
        &["from", "limit", "email", "phone", "lastName"],
        true
    ));
    let rows: Vec<Value> = sandbox.world().desk.orgs[&org]
        .contacts
        .iter()
        .filter(|c| {
            ["email", "phone", "lastName"].iter().all(|k| {
                query
                    .get(*k)
                    .is_none_or(|v| text(c, k).eq_ignore_ascii_case(v.trim()))
            })
        })
        .cloned()
        .map(Value::Object)
        .collect();
    match page(&query, rows) {
        Ok(r) | Err(r) => r,
    }
}

async fn get_contact(
    State(sandbox): State<ZohoSandbox>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let (_guard, org) = guard!(enter(&sandbox, &headers, &query, &[], true));
    let found = sandbox.world().desk.orgs[&org]
        .contacts
        .iter()
        .find(|c| text(c, "id") == id)
        .cloned();
    match found {
        Some(c) => (StatusCode::OK, axum::Json(Value::Object(c))).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "URL_NOT_FOUND",
            "The URL you requested could not be found.",
        ),
    }
}

async fn update_contact(
    State(sandbox): State<ZohoSandbox>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (_guard, org) = guard!(enter(&sandbox, &headers, &query, &[], true));
    let body = guard!(body_object(&body));
    let updated = {
        let mut world = sandbox.world();
        let contacts = &mut world.desk.orgs.get_mut(&org).expect("checked org").contacts;
        contacts.iter_mut().find(|c| text(c, "id") == id).map(|c| {
            for (k, v) in &body {
                if k != "id" {
                    c.insert(k.clone(), v.clone());
                }
            }
            c.insert("modifiedTime".into(), json!(now_desk()));
            c.clone()
        })
    };
    match updated {
        Some(c) => {
            sandbox.desk_event(&org, "Contact_Update", &c, None);
            (StatusCode::OK, axum::Json(Value::Object(c))).into_response()
        }
        None => error(
            StatusCode::NOT_FOUND,
            "URL_NOT_FOUND",
            "The URL you requested could not be found.",
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Tickets

async fn create_ticket(
    State(sandbox): State<ZohoSandbox>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (_guard, org) = guard!(enter(&sandbox, &headers, &query, &[], true));
    let body = guard!(body_object(&body));
    let mut missing = Vec::new();
    if text(&body, "subject").is_empty() {
        missing.push(("subject", "missing"));
    }
    let department_id = text(&body, "departmentId");
    if department_id.is_empty() {
        missing.push(("departmentId", "missing"));
    }
    let inline = body.get("contact").and_then(Value::as_object).cloned();
    let contact_id = text(&body, "contactId");
    if contact_id.is_empty() && inline.is_none() {
        missing.push(("contactId", "missing"));
    }
    if !missing.is_empty() {
        return invalid(&missing);
    }
    let priority = match text(&body, "priority").as_str() {
        "" => "Medium".to_string(),
        p @ ("High" | "Medium" | "Low") => p.to_string(),
        _ => return invalid(&[("priority", "invalid")]),
    };
    let status = match text(&body, "status").as_str() {
        "" => "Open".to_string(),
        other => other.to_string(),
    };
    let (ticket, new_contact) = {
        let mut world = sandbox.world();
        let desk = world.desk.orgs.get_mut(&org).expect("checked org");
        if !desk
            .departments
            .iter()
            .any(|d| text(d, "id") == department_id)
        {
            return invalid(&[("departmentId", "invalid")]);
        }
        // An inline contact is found by e-mail, or made (§5).
        let mut made = None;
        let contact = if contact_id.is_empty() {
            let inline = inline.unwrap_or_default();
            let email = text(&inline, "email");
            match desk
                .contacts
                .iter()
                .find(|c| !email.is_empty() && text(c, "email").eq_ignore_ascii_case(&email))
            {
                Some(c) => c.clone(),
                None => {
                    let c = guard!(new_contact(&sandbox, &inline));
                    desk.contacts.push(c.clone());
                    made = Some(c.clone());
                    c
                }
            }
        } else {
            match desk.contacts.iter().find(|c| text(c, "id") == contact_id) {
                Some(c) => c.clone(),
                None => return invalid(&[("contactId", "invalid")]),
            }
        };
        desk.ticket_numbers += 1;
        let now = now_desk();
        let id = ids::zoho_id(&sandbox.inner.ids);
        let mut ticket = Map::new();
        ticket.insert("id".into(), json!(id));
        ticket.insert(
            "ticketNumber".into(),
            json!(format!("{}", 100 + desk.ticket_numbers)),
        );
        ticket.insert("subject".into(), json!(text(&body, "subject")));
        ticket.insert("description".into(), json!(text(&body, "description")));
        ticket.insert("status".into(), json!(status));
        ticket.insert(
            "statusType".into(),
            json!(if status == "Closed" { "Closed" } else { "Open" }),
        );
        ticket.insert("priority".into(), json!(priority));
        ticket.insert(
            "channel".into(),
            json!(match text(&body, "channel") {
                c if c.is_empty() => "Web".to_string(),
                c => c,
            }),
        );
        ticket.insert(
            "classification".into(),
            json!(text(&body, "classification")),
        );
        ticket.insert("category".into(), json!(text(&body, "category")));
        ticket.insert("departmentId".into(), json!(department_id));
        ticket.insert("contactId".into(), json!(text(&contact, "id")));
        ticket.insert(
            "email".into(),
            json!(match text(&body, "email") {
                e if e.is_empty() => text(&contact, "email"),
                e => e,
            }),
        );
        ticket.insert("phone".into(), json!(text(&body, "phone")));
        ticket.insert(
            "webUrl".into(),
            json!(format!(
                "https://desk.zoho.com/support/sandbox/ShowHomePage.do#Cases/dv/{id}"
            )),
        );
        ticket.insert("createdTime".into(), json!(now));
        ticket.insert("modifiedTime".into(), json!(now));
        ticket.insert(
            "dueDate".into(),
            body.get("dueDate").cloned().unwrap_or(Value::Null),
        );
        let cf = body.get("cf").cloned().unwrap_or_else(|| json!({}));
        ticket.insert("customFields".into(), cf.clone());
        ticket.insert("cf".into(), cf);
        desk.tickets.push(ticket.clone());
        (ticket, made)
    };
    if let Some(contact) = new_contact {
        sandbox.desk_event(&org, "Contact_Add", &contact, None);
    }
    sandbox.desk_event(&org, "Ticket_Add", &ticket, None);
    (StatusCode::OK, axum::Json(Value::Object(ticket))).into_response()
}

async fn get_ticket(
    State(sandbox): State<ZohoSandbox>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let (_guard, org) = guard!(enter(&sandbox, &headers, &query, &["include"], true));
    let found = sandbox.world().desk.orgs[&org]
        .tickets
        .iter()
        .find(|t| text(t, "id") == id)
        .cloned();
    match found {
        Some(t) => (StatusCode::OK, axum::Json(Value::Object(t))).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "URL_NOT_FOUND",
            "The URL you requested could not be found.",
        ),
    }
}

async fn update_ticket(
    State(sandbox): State<ZohoSandbox>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (_guard, org) = guard!(enter(&sandbox, &headers, &query, &[], true));
    let body = guard!(body_object(&body));
    if let Some(p) = body.get("priority").and_then(Value::as_str)
        && !matches!(p, "High" | "Medium" | "Low")
    {
        return invalid(&[("priority", "invalid")]);
    }
    let updated = {
        let mut world = sandbox.world();
        let tickets = &mut world.desk.orgs.get_mut(&org).expect("checked org").tickets;
        tickets.iter_mut().find(|t| text(t, "id") == id).map(|t| {
            let before = t.clone();
            for (k, v) in &body {
                match k.as_str() {
                    "id" | "ticketNumber" | "createdTime" => {}
                    "cf" => {
                        let mut cf = t
                            .get("cf")
                            .and_then(Value::as_object)
                            .cloned()
                            .unwrap_or_default();
                        if let Some(new) = v.as_object() {
                            cf.extend(new.clone());
                        }
                        t.insert("cf".into(), Value::Object(cf.clone()));
                        t.insert("customFields".into(), Value::Object(cf));
                    }
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
            let status = text(t, "status");
            t.insert(
                "statusType".into(),
                json!(if status == "Closed" { "Closed" } else { "Open" }),
            );
            t.insert("modifiedTime".into(), json!(now_desk()));
            (t.clone(), before)
        })
    };
    match updated {
        Some((t, before)) => {
            sandbox.desk_event(&org, "Ticket_Update", &t, Some(&before));
            (StatusCode::OK, axum::Json(Value::Object(t))).into_response()
        }
        None => error(
            StatusCode::NOT_FOUND,
            "URL_NOT_FOUND",
            "The URL you requested could not be found.",
        ),
    }
}

async fn list_tickets(
    State(sandbox): State<ZohoSandbox>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let (_guard, org) = guard!(enter(
        &sandbox,
        &headers,
        &query,
        &["from", "limit", "departmentId", "status", "sortBy"],
        true
    ));
    let rows: Vec<Value> = sandbox.world().desk.orgs[&org]
        .tickets
        .iter()
        .filter(|t| {
            ["departmentId", "status"]
                .iter()
                .all(|k| query.get(*k).is_none_or(|v| text(t, k) == *v))
        })
        .cloned()
        .map(Value::Object)
        .collect();
    match page(&query, rows) {
        Ok(r) | Err(r) => r,
    }
}

/// `GET /tickets/search?customField1=cf_order_id:123&email=…&subject=…`.
async fn search_tickets(
    State(sandbox): State<ZohoSandbox>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let (_guard, org) = guard!(enter(
        &sandbox,
        &headers,
        &query,
        &[
            "from",
            "limit",
            "customField1",
            "email",
            "subject",
            "ticketNumber",
            "status"
        ],
        true
    ));
    let custom = query.get("customField1").map(|c| c.split_once(':'));
    if let Some(None) = custom {
        return invalid(&[("customField1", "invalid")]);
    }
    let rows: Vec<Value> = sandbox.world().desk.orgs[&org]
        .tickets
        .iter()
        .filter(|t| {
            ["email", "subject", "ticketNumber", "status"]
                .iter()
                .all(|k| {
                    query
                        .get(*k)
                        .is_none_or(|v| text(t, k).eq_ignore_ascii_case(v))
                })
                && custom.flatten().is_none_or(|(field, value)| {
                    t.get("cf")
                        .and_then(|cf| cf.get(field))
                        .and_then(Value::as_str)
                        == Some(value)
                })
        })
        .cloned()
        .map(Value::Object)
        .collect();
    match page(&query, rows) {
        Ok(r) | Err(r) => r,
    }
}

async fn add_comment(
    State(sandbox): State<ZohoSandbox>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (_guard, org) = guard!(enter(&sandbox, &headers, &query, &[], true));
    let body = guard!(body_object(&body));
    if text(&body, "content").is_empty() {
        return invalid(&[("content", "missing")]);
    }
    let comment = {
        let mut world = sandbox.world();
        let desk = world.desk.orgs.get_mut(&org).expect("checked org");
        if !desk.tickets.iter().any(|t| text(t, "id") == id) {
            return error(
                StatusCode::NOT_FOUND,
                "URL_NOT_FOUND",
                "The URL you requested could not be found.",
            );
        }
        let mut comment = Map::new();
        comment.insert("id".into(), json!(ids::zoho_id(&sandbox.inner.ids)));
        comment.insert("ticketId".into(), json!(id));
        comment.insert("content".into(), json!(text(&body, "content")));
        comment.insert(
            "isPublic".into(),
            json!(
                body.get("isPublic")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
            ),
        );
        comment.insert(
            "contentType".into(),
            json!(match text(&body, "contentType") {
                c if c.is_empty() => "html".to_string(),
                c => c,
            }),
        );
        comment.insert("commentedTime".into(), json!(now_desk()));
        desk.comments.push(comment.clone());
        comment
    };
    sandbox.desk_event(&org, "Ticket_Comment_Add", &comment, None);
    (StatusCode::OK, axum::Json(Value::Object(comment))).into_response()
}

async fn list_comments(
    State(sandbox): State<ZohoSandbox>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let (_guard, org) = guard!(enter(
        &sandbox,
        &headers,
        &query,
        &["from", "limit", "sortBy"],
        true
    ));
    let rows: Vec<Value> = sandbox.world().desk.orgs[&org]
        .comments
        .iter()
        .filter(|c| text(c, "ticketId") == id)
        .cloned()
        .map(Value::Object)
        .collect();
    match page(&query, rows) {
        Ok(r) | Err(r) => r,
    }
}

// ---------------------------------------------------------------------------------------------
// Webhooks

const EVENTS: [&str; 6] = [
    "Ticket_Add",
    "Ticket_Update",
    "Ticket_Comment_Add",
    "Contact_Add",
    "Contact_Update",
    "Ticket_Delete",
];

fn webhook_json(w: &Webhook) -> Value {
    json!({"id": w.id, "url": w.url, "subscriptions": w.subscriptions, "createdTime": w.created_time})
}

async fn create_webhook(
    State(sandbox): State<ZohoSandbox>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (_guard, org) = guard!(enter(&sandbox, &headers, &query, &[], true));
    let body = guard!(body_object(&body));
    let url = text(&body, "url");
    if url::Url::parse(&url)
        .ok()
        .is_none_or(|u| !matches!(u.scheme(), "http" | "https"))
    {
        return invalid(&[("url", "invalid")]);
    }
    let Some(subscriptions) = body
        .get("subscriptions")
        .and_then(Value::as_object)
        .filter(|s| !s.is_empty())
        .cloned()
    else {
        return invalid(&[("subscriptions", "missing")]);
    };
    if subscriptions.keys().any(|k| !EVENTS.contains(&k.as_str())) {
        return invalid(&[("subscriptions", "invalid")]);
    }
    let webhook = Webhook {
        id: ids::zoho_id(&sandbox.inner.ids),
        org_id: org.clone(),
        url,
        subscriptions,
        created_time: now_desk(),
    };
    let answer = webhook_json(&webhook);
    sandbox
        .world()
        .desk
        .orgs
        .get_mut(&org)
        .expect("checked org")
        .webhooks
        .push(webhook);
    (StatusCode::OK, axum::Json(answer)).into_response()
}

async fn list_webhooks(
    State(sandbox): State<ZohoSandbox>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let (_guard, org) = guard!(enter(&sandbox, &headers, &query, &[], true));
    let data: Vec<Value> = sandbox.world().desk.orgs[&org]
        .webhooks
        .iter()
        .map(webhook_json)
        .collect();
    (StatusCode::OK, axum::Json(json!({"data": data}))).into_response()
}

async fn delete_webhook(
    State(sandbox): State<ZohoSandbox>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let (_guard, org) = guard!(enter(&sandbox, &headers, &query, &[], true));
    let mut world = sandbox.world();
    let webhooks = &mut world.desk.orgs.get_mut(&org).expect("checked org").webhooks;
    let before = webhooks.len();
    webhooks.retain(|w| w.id != id);
    if webhooks.len() == before {
        return error(
            StatusCode::NOT_FOUND,
            "URL_NOT_FOUND",
            "The URL you requested could not be found.",
        );
    }
    StatusCode::NO_CONTENT.into_response()
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
