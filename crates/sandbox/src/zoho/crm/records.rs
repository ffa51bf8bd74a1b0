//! CRM records: insert, upsert, update, delete, get and list with paging (zoho.md §4.2–§4.3).

use super::super::ZohoSandbox;
use crate::ids;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use tokio::time::Instant;

use super::{Stored, check_module, enter, exception, item_error, module_rules, now_crm, user};

// ---------------------------------------------------------------------------------------------
// Writes

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Insert,
    Update,
    Upsert,
}

pub(crate) fn body_records(body: &Bytes) -> Result<(Vec<Value>, Map<String, Value>), Response> {
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
pub(crate) fn validate(
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
                // Each field's own length where the module's fields are described
                // (`Last_Name` 80), 255 for any other text.
                let limit = super::metadata::max_length(module, field).map_or(255, |l| l as usize);
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

/// Takes a record as clients send it: ids as JSON numbers too (the official SDK sends numbers),
/// and each lookup resolved to the record it names, kept with that record's `name` and `id` as
/// CRM reads it back; a lookup to a record that is not there is refused.
fn resolve_lookups(
    modules: &HashMap<String, Vec<Stored>>,
    module: &str,
    index: usize,
    mut item: Value,
) -> Result<Value, Value> {
    let as_text = |v: &mut Value| {
        if let Value::Number(n) = v {
            *v = Value::String(n.to_string());
        }
    };
    let Some(record) = item.as_object_mut() else {
        return Ok(item);
    };
    if let Some(id) = record.get_mut("id") {
        as_text(id);
    }
    for (field, value) in record.iter_mut() {
        let Value::Object(lookup) = value else {
            continue;
        };
        if let Some(id) = lookup.get_mut("id") {
            as_text(id);
        }
        let Some(target) = super::metadata::lookup_target(module, field) else {
            continue;
        };
        let Some(id) = lookup.get("id").and_then(Value::as_str).map(str::to_string) else {
            continue;
        };
        let found = modules.get(target).and_then(|stored| {
            stored
                .iter()
                .find(|s| s.record.get("id").and_then(Value::as_str) == Some(id.as_str()))
        });
        let Some(found) = found else {
            return Err(item_error(
                "INVALID_DATA",
                "the related id given seems to be invalid",
                json!({"api_name": field, "json_path": format!("$.data[{index}].{field}"),
                       "expected_data_type": "lookup"}),
            ));
        };
        *lookup = serde_json::Map::from_iter([
            (
                "name".to_string(),
                super::metadata::display_name(target, &found.record),
            ),
            ("id".to_string(), Value::String(id)),
        ]);
    }
    Ok(item)
}

pub(crate) fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !s.contains(' ')
}

pub(crate) fn same(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a.and_then(Value::as_str), b.and_then(Value::as_str)) {
        (Some(a), Some(b)) => !a.trim().is_empty() && a.trim().eq_ignore_ascii_case(b.trim()),
        _ => false,
    }
}

/// The record (index) another record duplicates on one of `fields`.
pub(crate) fn duplicate_of(
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

pub(crate) fn success(
    message: &str,
    record: &Map<String, Value>,
    extra: &[(&str, Value)],
) -> Value {
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
pub(crate) fn write(
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
        let prepared: Vec<Result<Value, Value>> = data
            .into_iter()
            .enumerate()
            .map(|(index, item)| resolve_lookups(&world.crm.modules, module, index, item))
            .collect();
        let stored = world.crm.modules.entry(module.to_string()).or_default();
        for (index, item) in prepared.into_iter().enumerate() {
            let item = match item {
                Ok(item) => item,
                Err(error) => {
                    results.push(error);
                    continue;
                }
            };
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

/// Credits a write costs: one per ten records.
pub(crate) fn write_cost(records: usize) -> u64 {
    u64::try_from(records.div_ceil(10))
        .unwrap_or(u64::MAX)
        .max(1)
}

pub(crate) fn count(body: &Bytes) -> usize {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("data").and_then(Value::as_array).map(Vec::len))
        .unwrap_or(1)
}

pub(crate) async fn insert(
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

pub(crate) async fn upsert(
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

pub(crate) async fn update_many(
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

pub(crate) async fn update_one(
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

pub(crate) async fn delete_one(
    State(sandbox): State<ZohoSandbox>,
    Path((module, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let _guard = guard!(enter(&sandbox, &headers, 1));
    guard!(check_module(&module));
    match remove(&sandbox, &module, &id) {
        Some(deleted) => (StatusCode::OK, axum::Json(json!({"data": [deleted]}))).into_response(),
        None => exception(
            StatusCode::BAD_REQUEST,
            "INVALID_DATA",
            "the id given seems to be invalid",
            json!({"api_name": "id"}),
        ),
    }
}

/// `DELETE /crm/v8/{module}?ids=1,2,3`: up to 100 records at once, each answered on its own.
pub(crate) async fn delete_many(
    State(sandbox): State<ZohoSandbox>,
    Path(module): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let _guard = guard!(enter(&sandbox, &headers, 1));
    guard!(check_module(&module));
    let ids = ids_param(&query).unwrap_or_default();
    if ids.is_empty() {
        return exception(
            StatusCode::BAD_REQUEST,
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            json!({"param_name": "ids"}),
        );
    }
    if ids.len() > 100 {
        return exception(
            StatusCode::BAD_REQUEST,
            "LIMIT_EXCEEDED",
            "the number of ids given exceeds the limit",
            json!({"param_name": "ids", "limit": 100}),
        );
    }
    let data: Vec<Value> = ids
        .iter()
        .map(|id| {
            remove(&sandbox, &module, id).unwrap_or_else(|| {
                let mut error = item_error(
                    "INVALID_DATA",
                    "the id given seems to be invalid",
                    json!({"id": id}),
                );
                error["details"]["api_name"] = json!("id");
                error
            })
        })
        .collect();
    (StatusCode::OK, axum::Json(json!({"data": data}))).into_response()
}

/// `GET /crm/v8/{module}/actions/count`: how many records the module holds.
pub(crate) async fn record_count(
    State(sandbox): State<ZohoSandbox>,
    Path(module): Path<String>,
    headers: HeaderMap,
) -> Response {
    let _guard = guard!(enter(&sandbox, &headers, 1));
    guard!(check_module(&module));
    let count = sandbox.world().crm.modules.get(&module).map_or(0, Vec::len);
    (StatusCode::OK, axum::Json(json!({"count": count}))).into_response()
}

/// `ids=1,2,3` (list and mass delete), when given.
fn ids_param(query: &HashMap<String, String>) -> Option<Vec<&str>> {
    query.get("ids").map(|ids| {
        ids.split(',')
            .map(str::trim)
            .filter(|i| !i.is_empty())
            .collect()
    })
}

/// Removes one record and notifies its watchers; the answer item for it, or `None` when no
/// such record is kept.
fn remove(sandbox: &ZohoSandbox, module: &str, id: &str) -> Option<Value> {
    let removed = {
        let mut world = sandbox.world();
        let stored = world.crm.modules.entry(module.to_string()).or_default();
        stored
            .iter()
            .position(|s| s.record.get("id").and_then(Value::as_str) == Some(id))
            .map(|i| stored.remove(i))
    };
    removed.map(|_| {
        sandbox.crm_notify(module, "delete", id, &[]);
        json!({"code": "SUCCESS", "details": {"id": id}, "message": "record deleted", "status": "success"})
    })
}

// ---------------------------------------------------------------------------------------------
// Reads

/// Only the fields asked for (and the id).
pub(crate) fn project(record: &Map<String, Value>, fields: Option<&[String]>) -> Value {
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

pub(crate) fn fields_param(query: &HashMap<String, String>) -> Option<Vec<String>> {
    query.get("fields").map(|f| {
        f.split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_string)
            .collect()
    })
}

pub(crate) fn page_of(
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

pub(crate) async fn get_one(
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

pub(crate) async fn list(
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
    // `ids=1,2,3`: only those records.
    let only = ids_param(&query);
    let rows: Vec<Value> = sandbox
        .world()
        .crm
        .modules
        .get(&module)
        .map(|stored| {
            stored
                .iter()
                .rev()
                .filter(|s| {
                    only.as_ref().is_none_or(|ids| {
                        s.record
                            .get("id")
                            .and_then(Value::as_str)
                            .is_some_and(|id| ids.contains(&id))
                    })
                })
                .map(|s| project(&s.record, Some(&fields)))
                .collect()
        })
        .unwrap_or_default();
    match page_of(rows, &query, None) {
        Ok(r) | Err(r) => r,
    }
}
