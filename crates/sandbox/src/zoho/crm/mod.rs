//! Zoho CRM v8 (reference zoho.md §4): records of Contacts, Accounts, Leads and Deals with
//! per-record results (201 / 207 / 400), at most 100 records a call, mandatory fields, upserts by
//! `duplicate_check_fields` (the module's system field first), fields marked unique
//! (`DUPLICATE_DATA` with the existing record), search that does not see a record for a moment
//! after it is written (204 when nothing matches), COQL that does, credits and concurrency per
//! organization, and notification channels (`actions/watch`) whose callbacks go out on every
//! change until the channel expires.

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

mod metadata;
mod notifications;
mod records;
mod search;

use super::{ZohoSandbox, limits};
use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::time::Instant;

use notifications::{watch_delete, watch_enable, watch_list};
use records::{
    delete_many, delete_one, get_one, insert, list, record_count, update_many, update_one, upsert,
};
use search::{coql, search};

/// The CRM side of the simulator's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrmConfig {
    /// How long a written record stays invisible to search (COQL sees it at once).
    pub search_lag_ms: u64,
    /// Fields configured "do not allow duplicate values", per module.
    pub unique_fields: BTreeMap<String, Vec<String>>,
}

impl Default for CrmConfig {
    fn default() -> CrmConfig {
        CrmConfig {
            search_lag_ms: 2_000,
            unique_fields: BTreeMap::new(),
        }
    }
}

/// Per module: its mandatory field and its system duplicate-check field.
pub(crate) fn module_rules(module: &str) -> Option<(&'static str, &'static str)> {
    match module {
        "Contacts" => Some(("Last_Name", "Email")),
        "Leads" => Some(("Last_Name", "Email")),
        "Accounts" => Some(("Account_Name", "Account_Name")),
        "Deals" => Some(("Deal_Name", "Deal_Name")),
        _ => None,
    }
}

pub(crate) struct Stored {
    record: Map<String, Value>,
    written_at: Instant,
}

pub(crate) struct Channel {
    channel_id: String,
    events: Vec<String>,
    token: String,
    notify_url: String,
    expires_at: OffsetDateTime,
}

/// A notification the simulator sent (or tried to).
#[derive(Debug, Clone, Serialize)]
pub struct CrmDelivery {
    pub channel_id: String,
    pub notify_url: String,
    pub body: Value,
    pub status: Option<u16>,
}

#[derive(Default)]
pub(super) struct CrmState {
    modules: HashMap<String, Vec<Stored>>,
    channels: Vec<Channel>,
    pub deliveries: Vec<CrmDelivery>,
}

/// The organization CRM's allowances are metered by (a token reaches one CRM organization).
const ORG: &str = "crm";

// ---------------------------------------------------------------------------------------------
// Envelope
pub(crate) fn exception(status: StatusCode, code: &str, message: &str, details: Value) -> Response {
    (
        status,
        axum::Json(
            json!({"code": code, "details": details, "message": message, "status": "error"}),
        ),
    )
        .into_response()
}

pub(crate) fn item_error(code: &str, message: &str, details: Value) -> Value {
    json!({"code": code, "details": details, "message": message, "status": "error"})
}

pub(crate) fn now_crm() -> String {
    crm_time(OffsetDateTime::now_utc())
}

/// CRM's times: seconds and an offset with a colon, `2026-11-25T10:31:43+00:00`.
pub(crate) fn crm_time(at: OffsetDateTime) -> String {
    at.replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .map(|t| t.replace('Z', "+00:00"))
        .unwrap_or_default()
}

pub(crate) fn user() -> Value {
    json!({"name": "Sandbox Admin", "id": "9000000000000000001", "email": "admin@sandbox.example"})
}

/// Checks the token and takes the call's credits and a concurrency slot; the slot is given
/// back by [`Guard`].
pub(crate) struct Guard {
    sandbox: ZohoSandbox,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.sandbox.world().spending.leave(limits::Meter::Crm, ORG);
    }
}

pub(crate) fn enter(
    sandbox: &ZohoSandbox,
    headers: &HeaderMap,
    cost: u64,
) -> Result<Guard, Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Zoho-oauthtoken "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(exception(
            StatusCode::UNAUTHORIZED,
            "AUTHENTICATION_FAILURE",
            "Authentication failed",
            json!({}),
        ));
    };
    if !sandbox.token_is_live(token) {
        return Err(exception(
            StatusCode::UNAUTHORIZED,
            "INVALID_TOKEN",
            "invalid oauth token",
            json!({}),
        ));
    }
    let limits = &sandbox.inner.config.limits;
    let throttled = |t: limits::Throttle| {
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(json!({"code": limits.crm_throttle_code, "details": {},
                              "message": "Too many requests. Please try again later.", "status": "error"})),
        )
            .into_response();
        if let Ok(value) = t.reset.as_secs().max(1).to_string().parse() {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    };
    let mut world = sandbox.world();
    world.stats.crm_requests += 1;
    world
        .spending
        .enter(limits, limits::Meter::Crm, ORG)
        .map_err(throttled)?;
    if let Err(t) = world.spending.spend(limits, limits::Meter::Crm, ORG, cost) {
        world.spending.leave(limits::Meter::Crm, ORG);
        return Err(throttled(t));
    }
    Ok(Guard {
        sandbox: sandbox.clone(),
    })
}

pub(crate) fn check_module(module: &str) -> Result<(&'static str, &'static str), Response> {
    module_rules(module).ok_or_else(|| {
        exception(
            StatusCode::BAD_REQUEST,
            "INVALID_MODULE",
            "The module name given seems to be invalid",
            json!({}),
        )
    })
}

/// `INVALID_URL_PATTERN` (404): a CRM URL nothing serves.
pub(super) async fn invalid_url() -> Response {
    exception(
        StatusCode::NOT_FOUND,
        "INVALID_URL_PATTERN",
        "Please check if the URL trying to access is a correct one",
        json!({}),
    )
}

/// `INVALID_REQUEST_METHOD` (405): a CRM URL asked with a method it does not take.
async fn invalid_method() -> Response {
    exception(
        StatusCode::METHOD_NOT_ALLOWED,
        "INVALID_REQUEST_METHOD",
        "The http request method type is not a valid one",
        json!({}),
    )
}

pub(super) fn routes() -> Router<ZohoSandbox> {
    Router::new()
        .route("/crm/v8/coql", post(coql).fallback(invalid_method))
        .route(
            "/crm/v8/settings/modules",
            get(metadata::modules).fallback(invalid_method),
        )
        .route(
            "/crm/v8/settings/fields",
            get(metadata::fields).fallback(invalid_method),
        )
        .route(
            "/crm/v8/users",
            get(metadata::users).fallback(invalid_method),
        )
        .route("/crm/v8/org", get(metadata::org).fallback(invalid_method))
        .route(
            "/crm/v8/actions/watch",
            post(watch_enable)
                .put(watch_enable)
                .patch(watch_enable)
                .get(watch_list)
                .delete(watch_delete)
                .fallback(invalid_method),
        )
        .route(
            "/crm/v8/{module}",
            post(insert)
                .put(update_many)
                .get(list)
                .delete(delete_many)
                .fallback(invalid_method),
        )
        .route(
            "/crm/v8/{module}/actions/count",
            get(record_count).fallback(invalid_method),
        )
        .route(
            "/crm/v8/{module}/upsert",
            post(upsert).fallback(invalid_method),
        )
        .route(
            "/crm/v8/{module}/search",
            get(search).fallback(invalid_method),
        )
        .route(
            "/crm/v8/{module}/{id}",
            get(get_one)
                .put(update_one)
                .delete(delete_one)
                .fallback(invalid_method),
        )
}

impl ZohoSandbox {
    /// Sends the callbacks of every live channel watching this change.
    fn crm_notify(&self, module: &str, operation: &'static str, id: &str, fields: &[String]) {
        let event = match operation {
            "insert" => "create",
            "update" => "edit",
            _ => "delete",
        };
        let now = OffsetDateTime::now_utc();
        let targets: Vec<(String, String, String)> = self
            .world()
            .crm
            .channels
            .iter()
            .filter(|c| c.expires_at > now)
            .filter(|c| {
                c.events
                    .iter()
                    .any(|e| *e == format!("{module}.{event}") || *e == format!("{module}.all"))
            })
            .map(|c| (c.channel_id.clone(), c.token.clone(), c.notify_url.clone()))
            .collect();
        for (channel_id, token, notify_url) in targets {
            let query_params: Map<String, Value> = url::Url::parse(&notify_url)
                .map(|u| {
                    u.query_pairs()
                        .map(|(k, v)| (k.into_owned(), json!(v.into_owned())))
                        .collect()
                })
                .unwrap_or_default();
            let body = json!({
                "server_time": now.unix_timestamp() * 1000,
                "query_params": query_params,
                "module": module,
                "resource_uri": format!("https://www.zohoapis.com/crm/v8/{module}"),
                "ids": [id],
                "affected_fields": [{ id: fields }],
                "operation": operation,
                "channel_id": channel_id,
                "token": token,
            });
            let sandbox = self.clone();
            tokio::spawn(async move {
                let status = sandbox
                    .inner
                    .http
                    .post(&notify_url)
                    .json(&body)
                    .send()
                    .await
                    .ok()
                    .map(|r| r.status().as_u16());
                sandbox.world().crm.deliveries.push(CrmDelivery {
                    channel_id,
                    notify_url,
                    body,
                    status,
                });
            });
        }
    }

    /// The CRM notifications sent so far.
    pub fn crm_deliveries(&self) -> Vec<CrmDelivery> {
        self.world().crm.deliveries.clone()
    }
}
