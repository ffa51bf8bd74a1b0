//! CRM notification channels: enabled, listed, renewed and disabled; callbacks sent for every write (zoho.md §4.5).

use super::super::ZohoSandbox;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Channel, crm_time, enter, exception, module_rules};

// ---------------------------------------------------------------------------------------------
// Notifications
pub(crate) const WEEK: time::Duration = time::Duration::weeks(1);

pub(crate) async fn watch_enable(
    State(sandbox): State<ZohoSandbox>,
    method: axum::http::Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let creating = method == axum::http::Method::POST;
    let _guard = guard!(enter(&sandbox, &headers, 1));
    let invalid = |field: &str| {
        exception(
            StatusCode::BAD_REQUEST,
            "INVALID_DATA",
            "invalid data",
            json!({"api_name": field}),
        )
    };
    let Some(watch) = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("watch").and_then(Value::as_array).cloned())
        .filter(|w| !w.is_empty() && w.len() <= 50)
    else {
        return invalid("watch");
    };
    let now = OffsetDateTime::now_utc();
    let mut answers = Vec::new();
    let mut world = sandbox.world();
    for entry in watch {
        let text = |k: &str| {
            entry
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let channel_id = entry
            .get("channel_id")
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .unwrap_or_default();
        // PUT and PATCH change an existing channel: what they leave out stays.
        let existing = world
            .crm
            .channels
            .iter()
            .find(|c| !creating && c.channel_id == channel_id)
            .map(|c| (c.events.clone(), c.token.clone(), c.notify_url.clone()));
        let mut events: Vec<String> = entry
            .get("events")
            .and_then(Value::as_array)
            .map(|e| {
                e.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let mut token = text("token");
        let mut notify_url = text("notify_url");
        if let Some((old_events, old_token, old_url)) = existing {
            if events.is_empty() {
                events = old_events;
            }
            if entry.get("token").is_none() {
                token = old_token;
            }
            if notify_url.is_empty() {
                notify_url = old_url;
            }
        }
        if channel_id.is_empty() || !channel_id.bytes().all(|b| b.is_ascii_digit()) {
            return invalid("channel_id");
        }
        if events.is_empty()
            || events.iter().any(|e| {
                e.split_once('.').is_none_or(|(module, op)| {
                    module_rules(module).is_none()
                        || !matches!(op, "create" | "edit" | "delete" | "all")
                })
            })
        {
            return invalid("events");
        }
        if token.chars().count() > 50 {
            return invalid("token");
        }
        let url_ok = url::Url::parse(&notify_url)
            .ok()
            .is_some_and(|u| matches!(u.scheme(), "http" | "https"));
        if !url_ok {
            return invalid("notify_url");
        }
        // At most a week ahead; absent or beyond that, one hour (§4.5).
        let expires_at = entry
            .get("channel_expiry")
            .and_then(Value::as_str)
            .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
            .filter(|t| *t > now && *t <= now + WEEK)
            .unwrap_or(now + time::Duration::hours(1));
        world.crm.channels.retain(|c| c.channel_id != channel_id);
        world.crm.channels.push(Channel {
            channel_id: channel_id.clone(),
            events: events.clone(),
            token,
            notify_url,
            expires_at,
        });
        let expiry = crm_time(expires_at);
        let details: Vec<Value> = events
            .iter()
            .map(|e| {
                let module = e.split_once('.').map(|(m, _)| m).unwrap_or_default();
                json!({"channel_expiry": expiry, "resource_uri": format!("https://www.zohoapis.com/crm/v8/{module}"),
                       "resource_id": "9000000000000000002", "resource_name": module, "channel_id": channel_id,
                       "notification_condition": []})
            })
            .collect();
        let message = if creating {
            "Successfully subscribed for actions-watch of the given module"
        } else {
            "Successfully updated the subscribe details"
        };
        answers.push(json!({"code": "SUCCESS", "details": {"events": details},
                            "message": message, "status": "success"}));
    }
    let status = if creating {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (status, axum::Json(json!({"watch": answers}))).into_response()
}

pub(crate) async fn watch_list(State(sandbox): State<ZohoSandbox>, headers: HeaderMap) -> Response {
    let _guard = guard!(enter(&sandbox, &headers, 1));
    let now = OffsetDateTime::now_utc();
    let world = sandbox.world();
    let watch: Vec<Value> = world
        .crm
        .channels
        .iter()
        .filter(|c| c.expires_at > now)
        .map(|c| {
            json!({"channel_id": c.channel_id, "events": c.events, "notify_url": c.notify_url,
                   "channel_expiry": crm_time(c.expires_at), "token": c.token})
        })
        .collect();
    if watch.is_empty() {
        return StatusCode::NO_CONTENT.into_response();
    }
    let count = watch.len();
    (
        StatusCode::OK,
        axum::Json(json!({"watch": watch,
                          "info": {"per_page": 200, "count": count, "page": 1, "more_records": false}})),
    )
        .into_response()
}

pub(crate) async fn watch_delete(
    State(sandbox): State<ZohoSandbox>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let _guard = guard!(enter(&sandbox, &headers, 1));
    let ids: Vec<String> = query
        .get("channel_ids")
        .map(|ids| ids.split(',').map(|s| s.trim().to_string()).collect())
        .unwrap_or_default();
    if ids.is_empty() {
        return exception(
            StatusCode::BAD_REQUEST,
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            json!({"param_name": "channel_ids"}),
        );
    }
    sandbox
        .world()
        .crm
        .channels
        .retain(|c| !ids.contains(&c.channel_id));
    let watch: Vec<Value> = ids
        .iter()
        .map(|id| json!({"code": "SUCCESS", "details": {"channel_id": id}, "message": "Successfully un-subscribed from actions-watch", "status": "success"}))
        .collect();
    (StatusCode::OK, axum::Json(json!({"watch": watch}))).into_response()
}
