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

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::time::Instant;

use super::{ZohoSandbox, limits};
use crate::ids;

/// A condition of a search: field, operator, value.
type Condition = (String, String, String);

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
fn module_rules(module: &str) -> Option<(&'static str, &'static str)> {
    match module {
        "Contacts" => Some(("Last_Name", "Email")),
        "Leads" => Some(("Last_Name", "Email")),
        "Accounts" => Some(("Account_Name", "Account_Name")),
        "Deals" => Some(("Deal_Name", "Deal_Name")),
        _ => None,
    }
}

struct Stored {
    record: Map<String, Value>,
    written_at: Instant,
}

struct Channel {
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

fn exception(status: StatusCode, code: &str, message: &str, details: Value) -> Response {
    (
        status,
        axum::Json(
            json!({"code": code, "details": details, "message": message, "status": "error"}),
        ),
    )
        .into_response()
}

fn item_error(code: &str, message: &str, details: Value) -> Value {
    json!({"code": code, "details": details, "message": message, "status": "error"})
}

fn now_crm() -> String {
    crm_time(OffsetDateTime::now_utc())
}

/// CRM's times: seconds and an offset with a colon, `2026-11-25T10:31:43+00:00`.
fn crm_time(at: OffsetDateTime) -> String {
    at.replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .map(|t| t.replace('Z', "+00:00"))
        .unwrap_or_default()
}

fn user() -> Value {
    json!({"name": "Sandbox Admin", "id": "9000000000000000001", "email": "admin@sandbox.example"})
}

/// Checks the token and takes the call's credits and a concurrency slot; the slot is given
/// back by [`Guard`].
struct Guard {
    sandbox: ZohoSandbox,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.sandbox.world().spending.leave(limits::Meter::Crm, ORG);
    }
}

fn enter(sandbox: &ZohoSandbox, headers: &HeaderMap, cost: u64) -> Result<Guard, Response> {
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

fn check_module(module: &str) -> Result<(&'static str, &'static str), Response> {
    module_rules(module).ok_or_else(|| {
        exception(
            StatusCode::BAD_REQUEST,
            "INVALID_MODULE",
            "The module name given seems to be invalid",
            json!({}),
        )
    })
}

pub(super) fn routes() -> Router<ZohoSandbox> {
    Router::new()
        .route("/crm/v8/coql", post(coql))
        .route(
            "/crm/v8/actions/watch",
            post(watch_enable)
                .put(watch_enable)
                .patch(watch_enable)
                .get(watch_list)
                .delete(watch_delete),
        )
        .route("/crm/v8/{module}", post(insert).put(update_many).get(list))
        .route("/crm/v8/{module}/upsert", post(upsert))
        .route("/crm/v8/{module}/search", get(search))
        .route(
            "/crm/v8/{module}/{id}",
            get(get_one).put(update_one).delete(delete_one),
        )
}

// ---------------------------------------------------------------------------------------------
// Writes

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Insert,
    Update,
    Upsert,
}

fn body_records(body: &Bytes) -> Result<(Vec<Value>, Map<String, Value>), Response> {
    let invalid = || {
        exception(
            StatusCode::BAD_REQUEST,
            "INVALID_DATA",
            "invalid data",
            json!({"api_name": "data", "json_path": "$.data"}),
        )
    };
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
        return Err(invalid());
    };
    let Some(data) = body.get("data").and_then(Value::as_array).cloned() else {
        return Err(exception(
            StatusCode::BAD_REQUEST,
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            json!({"param": "data"}),
        ));
    };
    if data.is_empty() {
        return Err(invalid());
    }
    if data.len() > 100 {
        return Err(exception(
            StatusCode::BAD_REQUEST,
            "LIMIT_EXCEEDED",
            "Record count exceeded",
            json!({"limit": 100}),
        ));
    }
    Ok((data, body))
}

/// Validates one record's fields: the mandatory one on insert, text lengths, e-mails, lookups.
fn validate(
    module: &str,
    index: usize,
    record: &Map<String, Value>,
    creating: bool,
) -> Result<(), Value> {
    let (mandatory, _) = module_rules(module).expect("checked module");
    let path = |field: &str| format!("$.data[{index}].{field}");
    let present = |field: &str| {
        record
            .get(field)
            .is_some_and(|v| !v.is_null() && v.as_str().is_none_or(|s| !s.trim().is_empty()))
    };
    if creating && !present(mandatory) {
        return Err(item_error(
            "MANDATORY_NOT_FOUND",
            "required field not found",
            json!({"api_name": mandatory, "json_path": path(mandatory)}),
        ));
    }
    for (field, value) in record {
        if field == "id" || field.starts_with('$') {
            continue;
        }
        match value {
            Value::String(s) => {
                let limit = if field == "Description" { 32_000 } else { 255 };
                if s.chars().count() > limit {
                    return Err(item_error(
                        "INVALID_DATA",
                        "invalid data",
                        json!({"api_name": field, "json_path": path(field), "maximum_length": limit.to_string()}),
                    ));
                }
                if field.contains("Email") && !s.is_empty() && !looks_like_email(s) {
                    return Err(item_error(
                        "INVALID_DATA",
                        "invalid data",
                        json!({"api_name": field, "json_path": path(field), "expected_data_type": "email"}),
                    ));
                }
                if matches!(field.as_str(), "Account_Name") && module != "Accounts" {
                    return Err(item_error(
                        "INVALID_DATA",
                        "invalid data",
                        json!({"api_name": field, "json_path": path(field), "expected_data_type": "lookup"}),
                    ));
                }
            }
            Value::Object(lookup)
                if (field == "Account_Name" || field == "Owner")
                    && lookup.get("id").and_then(Value::as_str).is_none() =>
            {
                return Err(item_error(
                    "INVALID_DATA",
                    "invalid data",
                    json!({"api_name": field, "json_path": path(field), "expected_data_type": "lookup"}),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !s.contains(' ')
}

fn same(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a.and_then(Value::as_str), b.and_then(Value::as_str)) {
        (Some(a), Some(b)) => !a.trim().is_empty() && a.trim().eq_ignore_ascii_case(b.trim()),
        _ => false,
    }
}

/// The record (index) another record duplicates on one of `fields`.
fn duplicate_of(
    stored: &[Stored],
    record: &Map<String, Value>,
    fields: &[String],
    except: Option<&str>,
) -> Option<(usize, String)> {
    fields.iter().find_map(|field| {
        stored
            .iter()
            .position(|s| {
                s.record.get("id").and_then(Value::as_str) != except
                    && same(s.record.get(field), record.get(field))
            })
            .map(|i| (i, field.clone()))
    })
}

fn success(message: &str, record: &Map<String, Value>, extra: &[(&str, Value)]) -> Value {
    let mut item = json!({
        "code": "SUCCESS",
        "details": {
            "Modified_Time": record.get("Modified_Time"), "Modified_By": record.get("Modified_By"),
            "Created_Time": record.get("Created_Time"), "id": record.get("id"),
            "Created_By": record.get("Created_By"), "$approval_state": "approved",
        },
        "message": message,
        "status": "success",
    });
    for (key, value) in extra {
        item[*key] = value.clone();
    }
    item
}

/// Writes a batch, one result per record, and answers 201/200, 207 or 400 as CRM does.
fn write(
    sandbox: &ZohoSandbox,
    module: &str,
    data: Vec<Value>,
    body: &Map<String, Value>,
    mode: Mode,
) -> Response {
    let config = &sandbox.inner.config.crm;
    let unique: Vec<String> = config
        .unique_fields
        .get(module)
        .cloned()
        .unwrap_or_default();
    let (_, system_field) = module_rules(module).expect("checked module");
    let check_fields: Vec<String> =
        match body.get("duplicate_check_fields").and_then(Value::as_array) {
            Some(fields) => fields
                .iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect(),
            None => std::iter::once(system_field.to_string())
                .chain(unique.iter().cloned())
                .collect(),
        };
    let mut results = Vec::with_capacity(data.len());
    let mut notify: Vec<(&'static str, String, Vec<String>)> = Vec::new();
    {
        let mut world = sandbox.world();
        let stored = world.crm.modules.entry(module.to_string()).or_default();
        for (index, item) in data.into_iter().enumerate() {
            let Some(record) = item.as_object().cloned() else {
                results.push(item_error(
                    "INVALID_DATA",
                    "invalid data",
                    json!({"json_path": format!("$.data[{index}]")}),
                ));
                continue;
            };
            let target = match mode {
                Mode::Insert => None,
                Mode::Update => {
                    let id = record.get("id").and_then(Value::as_str).unwrap_or_default();
                    match stored
                        .iter()
                        .position(|s| s.record.get("id").and_then(Value::as_str) == Some(id))
                    {
                        Some(i) => Some((i, None)),
                        None => {
                            results.push(item_error(
                                "INVALID_DATA",
                                "the id given seems to be invalid",
                                json!({"api_name": "id", "json_path": format!("$.data[{index}].id")}),
                            ));
                            continue;
                        }
                    }
                }
                Mode::Upsert => duplicate_of(stored, &record, &check_fields, None)
                    .map(|(i, field)| (i, Some(field))),
            };
            if let Err(error) = validate(module, index, &record, target.is_none()) {
                results.push(error);
                continue;
            }
            let except = target
                .as_ref()
                .and_then(|(i, _)| stored[*i].record.get("id").and_then(Value::as_str))
                .map(str::to_string);
            if let Some((existing, field)) =
                duplicate_of(stored, &record, &unique, except.as_deref())
            {
                let existing_id = stored[existing]
                    .record
                    .get("id")
                    .cloned()
                    .unwrap_or_default();
                results.push(item_error(
                    "DUPLICATE_DATA",
                    "duplicate data",
                    json!({
                        "api_name": field, "json_path": format!("$.data[{index}].{field}"),
                        "id": existing_id, "more_records": false,
                        "duplicate_record": {"id": existing_id, "Owner": user(),
                                             "module": {"api_name": module, "id": "9000000000000000002"}},
                    }),
                ));
                continue;
            }
            let now = now_crm();
            match target {
                Some((i, duplicate_field)) => {
                    let target = &mut stored[i];
                    let changed: Vec<String> = record
                        .keys()
                        .filter(|k| k.as_str() != "id")
                        .cloned()
                        .collect();
                    for (field, value) in record {
                        if field != "id" {
                            target.record.insert(field, value);
                        }
                    }
                    target.record.insert("Modified_Time".into(), json!(now));
                    target.record.insert("Modified_By".into(), user());
                    target.written_at = Instant::now();
                    let id = target
                        .record
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    let extra: Vec<(&str, Value)> = if mode == Mode::Upsert {
                        vec![
                            ("action", json!("update")),
                            ("duplicate_field", json!(duplicate_field)),
                        ]
                    } else {
                        vec![]
                    };
                    results.push(success("record updated", &target.record, &extra));
                    notify.push(("update", id, changed));
                }
                None => {
                    let mut record = record;
                    let id = ids::zoho_id(&sandbox.inner.ids);
                    let changed: Vec<String> = record.keys().cloned().collect();
                    record.insert("id".into(), json!(id));
                    record.insert("Created_Time".into(), json!(now));
                    record.insert("Modified_Time".into(), json!(now));
                    record.insert("Created_By".into(), user());
                    record.insert("Modified_By".into(), user());
                    record.entry("Owner").or_insert_with(user);
                    let extra: Vec<(&str, Value)> = if mode == Mode::Upsert {
                        vec![
                            ("action", json!("insert")),
                            ("duplicate_field", Value::Null),
                        ]
                    } else {
                        vec![]
                    };
                    results.push(success("record added", &record, &extra));
                    stored.push(Stored {
                        record,
                        written_at: Instant::now(),
                    });
                    notify.push(("insert", id, changed));
                }
            }
        }
    }
    for (operation, id, fields) in notify {
        sandbox.crm_notify(module, operation, &id, &fields);
    }
    let ok = results.iter().filter(|r| r["status"] == "success").count();
    let status = if ok == results.len() {
        if mode == Mode::Insert {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        }
    } else if ok == 0 {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::MULTI_STATUS
    };
    (status, axum::Json(json!({"data": results}))).into_response()
}

macro_rules! guard {
    ($e:expr) => {
        match $e {
            Ok(value) => value,
            Err(response) => return response,
        }
    };
}

/// Credits a write costs: one per ten records.
fn write_cost(records: usize) -> u64 {
    u64::try_from(records.div_ceil(10))
        .unwrap_or(u64::MAX)
        .max(1)
}

fn count(body: &Bytes) -> usize {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("data").and_then(Value::as_array).map(Vec::len))
        .unwrap_or(1)
}

async fn insert(
    State(sandbox): State<ZohoSandbox>,
    Path(module): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _guard = guard!(enter(&sandbox, &headers, write_cost(count(&body))));
    guard!(check_module(&module));
    let (data, body) = guard!(body_records(&body));
    write(&sandbox, &module, data, &body, Mode::Insert)
}

async fn upsert(
    State(sandbox): State<ZohoSandbox>,
    Path(module): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _guard = guard!(enter(&sandbox, &headers, write_cost(count(&body))));
    guard!(check_module(&module));
    let (data, body) = guard!(body_records(&body));
    write(&sandbox, &module, data, &body, Mode::Upsert)
}

async fn update_many(
    State(sandbox): State<ZohoSandbox>,
    Path(module): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _guard = guard!(enter(&sandbox, &headers, write_cost(count(&body))));
    guard!(check_module(&module));
    let (data, body) = guard!(body_records(&body));
    write(&sandbox, &module, data, &body, Mode::Update)
}

async fn update_one(
    State(sandbox): State<ZohoSandbox>,
    Path((module, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _guard = guard!(enter(&sandbox, &headers, 1));
    guard!(check_module(&module));
    let (mut data, body) = guard!(body_records(&body));
    if let Some(Value::Object(record)) = data.get_mut(0) {
        record.insert("id".into(), json!(id));
    }
    data.truncate(1);
    write(&sandbox, &module, data, &body, Mode::Update)
}

async fn delete_one(
    State(sandbox): State<ZohoSandbox>,
    Path((module, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let _guard = guard!(enter(&sandbox, &headers, 1));
    guard!(check_module(&module));
    let removed = {
        let mut world = sandbox.world();
        let stored = world.crm.modules.entry(module.clone()).or_default();
        stored
            .iter()
            .position(|s| s.record.get("id").and_then(Value::as_str) == Some(id.as_str()))
            .map(|i| stored.remove(i))
    };
    match removed {
        Some(_) => {
            sandbox.crm_notify(&module, "delete", &id, &[]);
            (
                StatusCode::OK,
                axum::Json(json!({"data": [{"code": "SUCCESS", "details": {"id": id},
                                            "message": "record deleted", "status": "success"}]})),
            )
                .into_response()
        }
        None => exception(
            StatusCode::BAD_REQUEST,
            "INVALID_DATA",
            "the id given seems to be invalid",
            json!({"api_name": "id"}),
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Reads

/// Only the fields asked for (and the id).
fn project(record: &Map<String, Value>, fields: Option<&[String]>) -> Value {
    match fields {
        None => Value::Object(record.clone()),
        Some(fields) => {
            let mut out = Map::new();
            out.insert("id".into(), record.get("id").cloned().unwrap_or_default());
            for field in fields {
                out.insert(
                    field.clone(),
                    record.get(field).cloned().unwrap_or(Value::Null),
                );
            }
            Value::Object(out)
        }
    }
}

fn fields_param(query: &HashMap<String, String>) -> Option<Vec<String>> {
    query.get("fields").map(|f| {
        f.split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_string)
            .collect()
    })
}

fn page_of(
    rows: Vec<Value>,
    query: &HashMap<String, String>,
    cap: Option<usize>,
) -> Result<Response, Response> {
    let number = |key: &str, default: usize, max: usize| match query.get(key) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                exception(
                    StatusCode::BAD_REQUEST,
                    "INVALID_DATA",
                    "invalid data",
                    json!({"param_name": key}),
                )
            }),
    };
    let page = number("page", 1, usize::MAX)?;
    let per_page = number("per_page", 200, 200)?;
    if let Some(cap) = cap
        && page.saturating_mul(per_page) > cap
    {
        return Err(exception(
            StatusCode::BAD_REQUEST,
            "LIMIT_REACHED",
            "Record count exceeded",
            json!({"limit": cap}),
        ));
    }
    if rows.is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let start = (page - 1) * per_page;
    let more = rows.len() > start + per_page;
    let data: Vec<Value> = rows.into_iter().skip(start).take(per_page).collect();
    if data.is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let count = data.len();
    Ok((
        StatusCode::OK,
        axum::Json(json!({"data": data, "info": {"per_page": per_page, "count": count, "page": page,
                                                "more_records": more, "sort_by": "id", "sort_order": "desc"}})),
    )
        .into_response())
}

async fn get_one(
    State(sandbox): State<ZohoSandbox>,
    Path((module, id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let _guard = guard!(enter(&sandbox, &headers, 1));
    guard!(check_module(&module));
    let fields = fields_param(&query);
    let found = sandbox.world().crm.modules.get(&module).and_then(|stored| {
        stored
            .iter()
            .find(|s| s.record.get("id").and_then(Value::as_str) == Some(id.as_str()))
            .map(|s| project(&s.record, fields.as_deref()))
    });
    match found {
        Some(record) => (StatusCode::OK, axum::Json(json!({"data": [record]}))).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

async fn list(
    State(sandbox): State<ZohoSandbox>,
    Path(module): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let _guard = guard!(enter(&sandbox, &headers, 1));
    guard!(check_module(&module));
    let Some(fields) = fields_param(&query) else {
        return exception(
            StatusCode::BAD_REQUEST,
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            json!({"param_name": "fields"}),
        );
    };
    let rows: Vec<Value> = sandbox
        .world()
        .crm
        .modules
        .get(&module)
        .map(|stored| {
            stored
                .iter()
                .rev()
                .map(|s| project(&s.record, Some(&fields)))
                .collect()
        })
        .unwrap_or_default();
    match page_of(rows, &query, None) {
        Ok(r) | Err(r) => r,
    }
}

/// One `(Field:operator:value)` condition of a search criteria.
fn criterion_matches(record: &Map<String, Value>, field: &str, op: &str, value: &str) -> bool {
    let actual = match record.get(field) {
        Some(Value::String(s)) => s.to_ascii_lowercase(),
        Some(Value::Object(o)) => o
            .get("name")
            .or_else(|| o.get("id"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_lowercase(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string().to_ascii_lowercase(),
    };
    let value = value.to_ascii_lowercase();
    match op {
        // `equals` behaves like `contains` for text (zoho.md §4.3).
        "equals" => !value.is_empty() && actual.contains(&value),
        "not_equal" => !actual.contains(&value),
        "starts_with" => actual.starts_with(&value),
        "in" => value.split(',').any(|v| actual == v.trim()),
        _ => false,
    }
}

/// Parses `((A:equals:x)and(B:starts_with:y))` into conditions joined by `and` or `or`.
fn parse_criteria(criteria: &str) -> Option<(Vec<Condition>, bool)> {
    let mut conditions = Vec::new();
    let mut any = false;
    let mut rest = criteria.trim();
    while rest.starts_with('(') && rest.ends_with(')') && rest[1..].starts_with('(') {
        rest = &rest[1..rest.len() - 1];
    }
    let mut chars = rest.char_indices().peekable();
    let mut depth = 0;
    let mut start = None;
    let mut joins = Vec::new();
    let mut last_end = 0;
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '(' => {
                if depth == 0 {
                    start = Some(i + 1);
                    joins.push(rest[last_end..i].trim().to_ascii_lowercase());
                }
                depth += 1;
            }
            ')' => {
                depth -= 1;
                if depth == 0 {
                    let inner = &rest[start?..i];
                    let mut parts = inner.splitn(3, ':');
                    let field = parts.next()?.trim().to_string();
                    let op = parts.next()?.trim().to_string();
                    let value = parts.next()?.replace('\\', "");
                    conditions.push((field, op, value));
                    last_end = i + 1;
                }
            }
            _ => {}
        }
    }
    for join in joins.iter().skip(1) {
        match join.as_str() {
            "and" => {}
            "or" => any = true,
            _ => return None,
        }
    }
    (!conditions.is_empty() && conditions.len() <= 10).then_some((conditions, any))
}

async fn search(
    State(sandbox): State<ZohoSandbox>,
    Path(module): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let _guard = guard!(enter(&sandbox, &headers, 1));
    guard!(check_module(&module));
    let invalid_query = || {
        exception(
            StatusCode::BAD_REQUEST,
            "INVALID_QUERY",
            "invalid query formed",
            json!({}),
        )
    };
    // Priority when several are given: criteria > email > phone > word (§4.3).
    let (conditions, any) = if let Some(criteria) = query.get("criteria") {
        match parse_criteria(criteria) {
            Some(parsed) => parsed,
            None => return invalid_query(),
        }
    } else if let Some(email) = query.get("email") {
        (
            ["Email", "Secondary_Email"]
                .iter()
                .map(|f| ((*f).to_string(), "equals".to_string(), email.clone()))
                .collect(),
            true,
        )
    } else if let Some(phone) = query.get("phone").filter(|p| p.len() >= 3) {
        (
            ["Phone", "Mobile"]
                .iter()
                .map(|f| ((*f).to_string(), "equals".to_string(), phone.clone()))
                .collect(),
            true,
        )
    } else if let Some(word) = query.get("word").filter(|w| w.len() >= 2) {
        (
            vec![("*".to_string(), "word".to_string(), word.clone())],
            true,
        )
    } else {
        return exception(
            StatusCode::BAD_REQUEST,
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            json!({"param_name": "criteria"}),
        );
    };
    let lag = Duration::from_millis(sandbox.inner.config.crm.search_lag_ms);
    let fields = fields_param(&query);
    let rows: Vec<Value> = sandbox
        .world()
        .crm
        .modules
        .get(&module)
        .map(|stored| {
            stored
                .iter()
                .rev()
                // Not yet indexed: search does not see it (COQL does).
                .filter(|s| s.written_at.elapsed() >= lag)
                .filter(|s| {
                    let test = |(field, op, value): &(String, String, String)| {
                        if op == "word" {
                            s.record.values().any(|v| {
                                v.as_str().is_some_and(|t| {
                                    t.to_ascii_lowercase().contains(&value.to_ascii_lowercase())
                                })
                            })
                        } else {
                            criterion_matches(&s.record, field, op, value)
                        }
                    };
                    if any {
                        conditions.iter().any(test)
                    } else {
                        conditions.iter().all(test)
                    }
                })
                .map(|s| project(&s.record, fields.as_deref()))
                .collect()
        })
        .unwrap_or_default();
    match page_of(rows, &query, Some(2_000)) {
        Ok(r) | Err(r) => r,
    }
}

// ---------------------------------------------------------------------------------------------
// COQL

#[derive(Debug)]
struct Select {
    fields: Vec<String>,
    module: String,
    conditions: Vec<(String, String, Vec<String>)>,
    any: bool,
    order: Option<(String, bool)>,
    limit: usize,
    offset: usize,
}

/// The subset of COQL paybridge uses: `select f1, f2 from Module [where a = 'x' and b like
/// '%y%' ...] [order by f asc|desc] [limit n[, m]]`, with `=`, `!=`, `like`, `in (...)`,
/// `is null` and `is not null`.
fn parse_coql(query: &str) -> Option<Select> {
    let tokens = tokenize(query)?;
    let mut i = 0;
    let next = |i: &mut usize| -> Option<String> {
        let t = tokens.get(*i).cloned();
        *i += 1;
        t
    };
    let keyword =
        |t: &Option<String>, k: &str| t.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(k));
    if !keyword(&next(&mut i), "select") {
        return None;
    }
    let mut fields = Vec::new();
    loop {
        let field = next(&mut i)?;
        fields.push(field);
        let t = next(&mut i);
        if keyword(&t, "from") {
            break;
        }
        if t.as_deref() != Some(",") {
            return None;
        }
    }
    let module = next(&mut i)?;
    let mut select = Select {
        fields,
        module,
        conditions: Vec::new(),
        any: false,
        order: None,
        limit: 200,
        offset: 0,
    };
    let mut t = next(&mut i);
    if keyword(&t, "where") {
        loop {
            let mut field = next(&mut i)?;
            if field == "(" {
                field = next(&mut i)?;
            }
            let mut op = next(&mut i)?.to_ascii_lowercase();
            let values = match op.as_str() {
                "=" | "!=" | "like" | ">" | "<" => vec![unquote(&next(&mut i)?)?],
                "in" | "not" => {
                    if op == "not" {
                        if !keyword(&next(&mut i), "in") {
                            return None;
                        }
                        op = "not in".into();
                    }
                    if next(&mut i)?.as_str() != "(" {
                        return None;
                    }
                    let mut values = Vec::new();
                    loop {
                        values.push(unquote(&next(&mut i)?)?);
                        match next(&mut i)?.as_str() {
                            "," => continue,
                            ")" => break,
                            _ => return None,
                        }
                    }
                    values
                }
                "is" => {
                    let n = next(&mut i)?;
                    if n.eq_ignore_ascii_case("not") {
                        if !keyword(&next(&mut i), "null") {
                            return None;
                        }
                        op = "is not null".into();
                    } else if n.eq_ignore_ascii_case("null") {
                        op = "is null".into();
                    } else {
                        return None;
                    }
                    vec![]
                }
                _ => return None,
            };
            select.conditions.push((field, op, values));
            t = next(&mut i);
            while t.as_deref() == Some(")") {
                t = next(&mut i);
            }
            if keyword(&t, "and") {
                continue;
            }
            if keyword(&t, "or") {
                select.any = true;
                continue;
            }
            break;
        }
    }
    if keyword(&t, "order") {
        if !keyword(&next(&mut i), "by") {
            return None;
        }
        let field = next(&mut i)?;
        let mut asc = true;
        t = next(&mut i);
        if keyword(&t, "desc") || keyword(&t, "asc") {
            asc = keyword(&t, "asc");
            t = next(&mut i);
        }
        select.order = Some((field, asc));
    }
    if keyword(&t, "limit") {
        let first: usize = next(&mut i)?.parse().ok()?;
        t = next(&mut i);
        if t.as_deref() == Some(",") {
            select.offset = first;
            select.limit = next(&mut i)?.parse().ok()?;
            t = next(&mut i);
        } else if keyword(&t, "offset") {
            select.limit = first;
            select.offset = next(&mut i)?.parse().ok()?;
            t = next(&mut i);
        } else {
            select.limit = first;
        }
    }
    if t.is_some() {
        return None;
    }
    (1..=2_000).contains(&select.limit).then_some(select)
}

fn tokenize(query: &str) -> Option<Vec<String>> {
    let mut tokens = Vec::new();
    let mut chars = query.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '\'' {
            chars.next();
            let mut s = String::from("'");
            loop {
                match chars.next()? {
                    '\\' => s.push(chars.next()?),
                    '\'' => break,
                    other => s.push(other),
                }
            }
            s.push('\'');
            tokens.push(s);
        } else if matches!(c, ',' | '(' | ')' | '=' | '<' | '>') {
            chars.next();
            tokens.push(c.to_string());
        } else if c == '!' {
            chars.next();
            if chars.next()? != '=' {
                return None;
            }
            tokens.push("!=".into());
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || matches!(c, ',' | '(' | ')' | '=' | '!' | '<' | '>' | '\'')
                {
                    break;
                }
                word.push(c);
                chars.next();
            }
            tokens.push(word);
        }
    }
    Some(tokens)
}

fn unquote(token: &str) -> Option<String> {
    if token.len() >= 2 && token.starts_with('\'') && token.ends_with('\'') {
        Some(token[1..token.len() - 1].to_string())
    } else if token.parse::<f64>().is_ok()
        || token.eq_ignore_ascii_case("true")
        || token.eq_ignore_ascii_case("false")
    {
        Some(token.to_string())
    } else {
        None
    }
}

fn coql_matches(
    record: &Map<String, Value>,
    (field, op, values): &(String, String, Vec<String>),
) -> bool {
    let actual = match record.get(field) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Object(o)) => o.get("id").and_then(Value::as_str).map(str::to_string),
        Some(Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    };
    let eq = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    match (op.as_str(), actual.as_deref()) {
        ("is null", a) => a.is_none_or(str::is_empty),
        ("is not null", a) => a.is_some_and(|a| !a.is_empty()),
        (_, None) => op == "!=" || op == "not in",
        ("=", Some(a)) => eq(a, &values[0]),
        ("!=", Some(a)) => !eq(a, &values[0]),
        ("in", Some(a)) => values.iter().any(|v| eq(a, v)),
        ("not in", Some(a)) => !values.iter().any(|v| eq(a, v)),
        ("like", Some(a)) => {
            let pattern = values[0].to_ascii_lowercase();
            let a = a.to_ascii_lowercase();
            match (pattern.strip_prefix('%'), pattern.strip_suffix('%')) {
                (Some(rest), _) if rest.ends_with('%') => a.contains(&rest[..rest.len() - 1]),
                (Some(rest), _) => a.ends_with(rest),
                (None, Some(rest)) => a.starts_with(rest),
                (None, None) => a == pattern,
            }
        }
        (">", Some(a)) => a > values[0].as_str(),
        ("<", Some(a)) => a < values[0].as_str(),
        _ => false,
    }
}

async fn coql(State(sandbox): State<ZohoSandbox>, headers: HeaderMap, body: Bytes) -> Response {
    let _guard = guard!(enter(&sandbox, &headers, 1));
    let query = serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
        v.get("select_query")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let Some(select) = query.as_deref().and_then(parse_coql) else {
        return exception(
            StatusCode::BAD_REQUEST,
            "INVALID_QUERY",
            "invalid query formed",
            json!({"reason": "the select_query is missing or not understood"}),
        );
    };
    guard!(check_module(&select.module));
    let mut rows: Vec<Map<String, Value>> = sandbox
        .world()
        .crm
        .modules
        .get(&select.module)
        .map(|stored| {
            stored
                .iter()
                .filter(|s| {
                    select.conditions.is_empty()
                        || if select.any {
                            select.conditions.iter().any(|c| coql_matches(&s.record, c))
                        } else {
                            select.conditions.iter().all(|c| coql_matches(&s.record, c))
                        }
                })
                .map(|s| s.record.clone())
                .collect()
        })
        .unwrap_or_default();
    if let Some((field, asc)) = &select.order {
        rows.sort_by(|a, b| {
            let key =
                |r: &Map<String, Value>| r.get(field).map(Value::to_string).unwrap_or_default();
            let ordering = key(a).cmp(&key(b));
            if *asc { ordering } else { ordering.reverse() }
        });
    }
    let total = rows.len();
    let data: Vec<Value> = rows
        .into_iter()
        .skip(select.offset)
        .take(select.limit)
        .map(|r| project(&r, Some(&select.fields)))
        .collect();
    if data.is_empty() {
        return StatusCode::NO_CONTENT.into_response();
    }
    let more = total > select.offset + data.len();
    let count = data.len();
    (
        StatusCode::OK,
        axum::Json(json!({"data": data, "info": {"count": count, "more_records": more}})),
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// Notifications

const WEEK: time::Duration = time::Duration::weeks(1);

async fn watch_enable(
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

async fn watch_list(State(sandbox): State<ZohoSandbox>, headers: HeaderMap) -> Response {
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

async fn watch_delete(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criteria_parse_into_conditions() {
        let (c, any) =
            parse_criteria("((Email:equals:a@b.c)and(Last_Name:starts_with:Sm))").unwrap();
        assert_eq!(c.len(), 2);
        assert!(!any);
        assert_eq!(c[0], ("Email".into(), "equals".into(), "a@b.c".into()));
        let (c, any) = parse_criteria("(Last_Name:equals:O\\(Brien\\))or(Email:equals:x)").unwrap();
        assert_eq!(c[0].2, "O(Brien)");
        assert!(any);
        assert!(parse_criteria("Email=x").is_none());
    }

    #[test]
    fn coql_subset_parses() {
        let s = parse_coql(
            "select Email, Last_Name from Contacts where Email = 'ada@example.com' and Last_Name like '%love%' order by Last_Name desc limit 5, 10",
        )
        .unwrap();
        assert_eq!(s.fields, vec!["Email", "Last_Name"]);
        assert_eq!(s.module, "Contacts");
        assert_eq!(s.conditions.len(), 2);
        assert_eq!((s.offset, s.limit), (5, 10));
        assert_eq!(s.order, Some(("Last_Name".into(), false)));
        let s = parse_coql(
            "select id from Accounts where Account_Name in ('A', 'B') or Phone is not null",
        )
        .unwrap();
        assert!(s.any);
        assert!(parse_coql("select from Contacts").is_none());
        assert!(parse_coql("delete from Contacts").is_none());
    }
}
