//! Desk tickets and their comments: opened, read, changed, listed, searched by field (custom fields included).

use super::super::ZohoSandbox;
use crate::ids;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

use super::contacts::new_contact;
use super::{body_object, enter, error, invalid, now_desk, page, text};

// ---------------------------------------------------------------------------------------------
// Tickets
pub(crate) async fn create_ticket(
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

pub(crate) async fn get_ticket(
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

pub(crate) async fn update_ticket(
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

pub(crate) async fn list_tickets(
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
pub(crate) async fn search_tickets(
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

pub(crate) async fn add_comment(
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

pub(crate) async fn list_comments(
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
    let rows: Option<Vec<Value>> = {
        let world = sandbox.world();
        let desk = &world.desk.orgs[&org];
        desk.tickets.iter().any(|t| text(t, "id") == id).then(|| {
            desk.comments
                .iter()
                .filter(|c| text(c, "ticketId") == id)
                .cloned()
                .map(Value::Object)
                .collect()
        })
    };
    // The comments of a ticket that is not there: Desk answers as for any unknown URL.
    let Some(rows) = rows else {
        return error(
            StatusCode::NOT_FOUND,
            "URL_NOT_FOUND",
            "The URL you requested could not be found.",
        );
    };
    match page(&query, rows) {
        Ok(r) | Err(r) => r,
    }
}

/// `POST /api/v1/tickets/moveToTrash` `{"ticketIds": [...]}`: the tickets go to the trash (they
/// are no longer listed or read); 204. An id that is not a ticket of the organization is
/// refused (422) and nothing moves.
pub(crate) async fn move_to_trash(
    State(sandbox): State<ZohoSandbox>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (_guard, org) = guard!(enter(&sandbox, &headers, &query, &[], true));
    let body = guard!(body_object(&body));
    let ids: Vec<String> = body
        .get("ticketIds")
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if ids.is_empty() {
        return invalid(&[("ticketIds", "missing")]);
    }
    let mut world = sandbox.world();
    let desk = world.desk.orgs.get_mut(&org).expect("checked org");
    if ids
        .iter()
        .any(|id| !desk.tickets.iter().any(|t| text(t, "id") == *id))
    {
        return invalid(&[("ticketIds", "invalid")]);
    }
    desk.tickets.retain(|t| !ids.contains(&text(t, "id")));
    StatusCode::NO_CONTENT.into_response()
}
