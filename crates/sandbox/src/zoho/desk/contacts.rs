//! Desk contacts: created (or found), listed, searched, read and changed.

use super::super::ZohoSandbox;
use crate::ids;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

use super::{body_object, enter, error, invalid, now_desk, page, text};

// ---------------------------------------------------------------------------------------------
// Contacts
pub(crate) fn new_contact(
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

pub(crate) async fn create_contact(
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

pub(crate) async fn list_contacts(
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

pub(crate) async fn search_contacts(
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

pub(crate) async fn get_contact(
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

pub(crate) async fn update_contact(
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
