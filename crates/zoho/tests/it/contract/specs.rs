//! The vendors' OpenAPI files, read and made checkable: references relocated, nullable fields and missing schemas as Zoho's live answers need, each operation's request and answer schemas; and the departures from them Zoho's own notes record.

use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

// ---------------------------------------------------------------------------------------------
// The API descriptions
/// The vendors' API descriptions, in the repository (`contracts/`, see its README).
pub(crate) fn contracts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../contracts")
}

/// Rewrites `$ref`s so that every file can live under `#/x-files/<name>` of one document:
/// local ones point into the file's own place, remote ones (`…/users.json#/…`) into the
/// named file's.
pub(crate) fn relocate(value: &mut Value, file: &str) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "$ref"
                    && let Value::String(r) = v
                {
                    let (doc, pointer) = r.split_once('#').unwrap_or((r.as_str(), ""));
                    let target = if doc.is_empty() {
                        file.to_string()
                    } else {
                        doc.rsplit('/')
                            .next()
                            .unwrap_or(doc)
                            .trim_end_matches(".json")
                            .trim_end_matches(".yml")
                            .to_string()
                    };
                    *v = json!(format!("#/x-files/{target}{pointer}"));
                } else {
                    relocate(v, file);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| relocate(v, file)),
        _ => {}
    }
}

/// OpenAPI 3.0 schemas as JSON Schema: `nullable: true` admits `null`.
pub(crate) fn nullable(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.get("nullable") == Some(&json!(true)) {
                match map.get("type").cloned() {
                    Some(Value::String(t)) => {
                        map.insert("type".into(), json!([t, "null"]));
                    }
                    _ => {
                        let inner = Value::Object(map.clone());
                        map.clear();
                        map.insert("anyOf".into(), json!([inner, {"type": "null"}]));
                    }
                }
            }
            map.values_mut().for_each(nullable);
        }
        Value::Array(items) => items.iter_mut().for_each(nullable),
        _ => {}
    }
}

/// The CRM files refer to files the reference does not keep (`tags.json`, `layouts.json`, …):
/// what they would describe is accepted as it comes.
pub(crate) fn stub_missing(root: &mut Value) {
    fn refs(value: &Value, found: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    match (key.as_str(), v) {
                        ("$ref", Value::String(r)) => {
                            found.insert(r.clone());
                        }
                        _ => refs(v, found),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }
    let mut found = BTreeSet::new();
    refs(root, &mut found);
    for r in found {
        let pointer = r.trim_start_matches('#');
        if root.pointer(pointer).is_some() {
            continue;
        }
        let mut at = &mut *root;
        for segment in pointer.split('/').skip(1) {
            let segment = segment.replace("~1", "/").replace("~0", "~");
            if !at.is_object() {
                *at = json!({});
            }
            at = at
                .as_object_mut()
                .expect("made an object")
                .entry(segment)
                .or_insert_with(|| json!({}));
        }
    }
}

pub(crate) fn one_of_as_any_of(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(alternatives) = map.remove("oneOf") {
                map.insert("anyOf".into(), alternatives);
            }
            // A choice of one is that one (and its errors then say where they are).
            if map
                .get("anyOf")
                .and_then(Value::as_array)
                .is_some_and(|a| a.len() == 1)
                && let Some(only) = map.remove("anyOf")
            {
                map.insert("allOf".into(), only);
            }
            map.values_mut().for_each(one_of_as_any_of);
        }
        Value::Array(items) => items.iter_mut().for_each(one_of_as_any_of),
        _ => {}
    }
}

pub(crate) struct Operation {
    pub(crate) file: String,
    pub(crate) method: String,
    /// Full path template, e.g. `/books/v3/contacts/{contact_id}`.
    pub(crate) template: Vec<String>,
    pub(crate) op: Value,
}

pub(crate) struct Specs {
    root: Value,
    operations: Vec<Operation>,
    /// Compiled validators by schema (the root they resolve in is large: compile each once).
    compiled: Mutex<std::collections::HashMap<String, Arc<jsonschema::Validator>>>,
}

impl Specs {
    pub(crate) fn load() -> Specs {
        let dir = contracts_dir();
        let mut files = Map::new();
        let mut operations = Vec::new();
        for (folder, prefix) in [
            ("zoho-books-v3", "/books/v3"),
            ("zoho-inventory-v1", "/inventory/v1"),
            ("zoho-crm-v8", ""),
        ] {
            let folder_path = dir.join(folder);
            let mut entries: Vec<_> = std::fs::read_dir(&folder_path)
                .unwrap_or_else(|e| {
                    panic!(
                        "the API descriptions must be in {}: {e}",
                        folder_path.display()
                    )
                })
                .map(|e| e.unwrap().path())
                .collect();
            entries.sort();
            for path in entries {
                let text = std::fs::read_to_string(&path).unwrap();
                let mut doc: Value = if path.extension().is_some_and(|e| e == "json") {
                    serde_json::from_str(&text).unwrap()
                } else {
                    serde_norway::from_str(&text).unwrap()
                };
                let stem = path.file_stem().unwrap().to_string_lossy().to_string();
                let name = format!("{folder}-{stem}");
                // CRM files refer to each other by file name alone.
                let alias = if folder == "zoho-crm-v8" {
                    stem.clone()
                } else {
                    name.clone()
                };
                relocate(&mut doc, &alias);
                nullable(&mut doc);
                if folder == "zoho-crm-v8" {
                    // CRM's files offer overlapping alternatives (an exception requires no
                    // property, so a success matches it too): read `oneOf` as `anyOf`.
                    one_of_as_any_of(&mut doc);
                }
                if let Some(paths) = doc["paths"].as_object() {
                    for (template, ops) in paths {
                        for (method, op) in ops.as_object().into_iter().flatten() {
                            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str())
                            {
                                continue;
                            }
                            operations.push(Operation {
                                file: alias.clone(),
                                method: method.clone(),
                                template: format!("{prefix}{template}")
                                    .split('/')
                                    .map(str::to_string)
                                    .collect(),
                                op: op.clone(),
                            });
                        }
                    }
                }
                files.insert(alias, doc);
            }
        }
        let mut root = json!({"x-files": files});
        stub_missing(&mut root);
        Specs {
            root,
            operations,
            compiled: Mutex::default(),
        }
    }

    /// A response object, following its `$ref` if it is one.
    pub(crate) fn resolve(&self, response: &Value) -> Value {
        match response.get("$ref").and_then(Value::as_str) {
            Some(r) => self
                .root
                .pointer(r.trim_start_matches('#'))
                .cloned()
                .unwrap_or(Value::Null),
            None => response.clone(),
        }
    }

    /// The operation a request is, preferring literal segments over parameters.
    pub(crate) fn find(&self, method: &str, path: &str) -> Option<&Operation> {
        let segments: Vec<&str> = path.split('/').collect();
        self.operations
            .iter()
            .filter(|o| o.method == method && o.template.len() == segments.len())
            .filter(|o| {
                o.template
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| t.starts_with('{') || t == s)
            })
            .max_by_key(|o| o.template.iter().filter(|t| !t.starts_with('{')).count())
    }

    pub(crate) fn validate(&self, schema: &Value, file: &str, instance: &Value) -> Vec<String> {
        let key = schema.to_string();
        let cached = self.compiled.lock().unwrap().get(&key).cloned();
        let validator = match cached {
            Some(v) => v,
            None => {
                let mut root = self.root.clone();
                if let Value::Object(s) = schema.clone() {
                    for (k, v) in s {
                        root[k] = v;
                    }
                }
                let v = Arc::new(
                    jsonschema::options()
                        .with_draft(jsonschema::Draft::Draft4)
                        .should_validate_formats(false)
                        .build(&root)
                        .unwrap_or_else(|e| panic!("the schema of {file} does not compile: {e}")),
                );
                self.compiled.lock().unwrap().insert(key, v.clone());
                v
            }
        };
        validator
            .iter_errors(instance)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect()
    }
}

pub(crate) fn json_schema(content: &Value) -> Option<Value> {
    let schema = content
        .get("content")?
        .get("application/json")?
        .get("schema")?;
    Some(schema.clone())
}

/// Where the files and the live service part ways. Each rule names the operations (by method
/// and path suffix, empty for all), what the validator says, where, and why zoho.md wins.
pub(crate) struct Deviation {
    method: &'static str,
    path_suffix: &'static str,
    error: &'static str,
    /// The instance path ends with one of these (empty: anywhere).
    at: &'static [&'static str],
    why: &'static str,
}

pub(crate) const AMOUNTS: &[&str] = &[
    "/balance",
    "/total",
    "/sub_total",
    "/shipping_charge",
    "/adjustment",
    "/payment_made",
    "/credits_applied",
    "/rate",
    "/quantity",
    "/amount",
];

pub(crate) const DEVIATIONS: &[Deviation] = &[
    Deviation {
        method: "",
        path_suffix: "",
        error: "is not of type \"string\"",
        at: AMOUNTS,
        why: "zoho.md pitfall 6: Books returns amounts as JSON numbers",
    },
    Deviation {
        method: "",
        path_suffix: "",
        error: "is not of type \"integer\"",
        at: &["_id"],
        why: "zoho.md §2.1 and §7: the files type ids as integers; they are 18-19 digit strings",
    },
    Deviation {
        method: "get",
        path_suffix: "",
        error: "is not of type \"array\"",
        at: &["/page_context"],
        why: "zoho.md §2.1: page_context is an object {page, per_page, has_more_page, …}",
    },
    Deviation {
        method: "get",
        path_suffix: "/creditnotes",
        error: "is not of type \"object\"",
        at: &["/creditnotes"],
        why: "zoho.md §2.1: lists are arrays under the plural key",
    },
    Deviation {
        method: "",
        path_suffix: "",
        error: "is not of type \"array\"",
        at: &["/salesorder", "/package"],
        why: "zoho.md §2.1 and §3: one record answers as an object under its key",
    },
    Deviation {
        method: "post",
        path_suffix: "/exchangerates",
        error: "is not of type \"number\"",
        at: &["/exchange_rate"],
        why: "zoho.md §2.1 and §2.8: exchange_rate is the record {exchange_rate_id, effective_date, rate, …}",
    },
    Deviation {
        method: "",
        path_suffix: "/invoices",
        error: "\"item_id\" is a required property",
        at: &[],
        why: "zoho.md §2.5: lines with a name, description and rate but no item are accepted",
    },
    Deviation {
        method: "",
        path_suffix: "/customerpayments",
        error: "is a required property",
        at: &[""],
        why: "zoho.md §2.6: a payment applies through invoices[] {invoice_id, amount_applied}, not top-level fields",
    },
    Deviation {
        method: "post",
        path_suffix: "/salesorders",
        error: "\"salesorder_number\" is a required property",
        at: &[],
        why: "zoho.md §3: salesorder_number is required only with ignore_auto_number_generation=true",
    },
    Deviation {
        method: "",
        path_suffix: "/creditnotes",
        error: "\"creditnote_number\" is a required property",
        at: &[],
        why: "zoho.md §2.7: creditnote_number is required only when auto-numbering is ignored",
    },
    Deviation {
        method: "post",
        path_suffix: "/shipmentorders",
        error: "\"shipment_number\" is a required property",
        at: &[],
        why: "Inventory numbers shipments itself unless told otherwise, as it does sales orders (zoho.md §3)",
    },
    Deviation {
        method: "post",
        path_suffix: "/creditnotes/{creditnote_id}/invoices",
        error: "is a required property",
        at: &[""],
        why: "zoho.md §2.7: credits are applied as {invoices:[{invoice_id, amount_applied}]}",
    },
    Deviation {
        method: "get",
        path_suffix: "/actions/watch",
        error: "is not of type \"object\"",
        at: &["/channel_id"],
        why: "zoho.md §4.5: a channel id is a number such as 1000000068001",
    },
    Deviation {
        method: "",
        path_suffix: "/actions/watch",
        error: "does not match \"www[.][a-z]{5}zoho[.]com\"",
        at: &["/notify_url"],
        why: "the file's pattern admits only Zoho's example host; zoho.md §4.5 takes any notify_url",
    },
];

pub(crate) fn excused(path: &str, method: &str, error: &str) -> Option<&'static str> {
    let (text, at) = error.rsplit_once(" at ").unwrap_or((error, ""));
    DEVIATIONS
        .iter()
        .find(|d| {
            (d.method.is_empty() || d.method == method)
                && path.ends_with(d.path_suffix)
                && text.contains(d.error)
                && (d.at.is_empty()
                    || d.at.iter().any(|suffix| {
                        if suffix.is_empty() {
                            at.is_empty()
                        } else {
                            at.ends_with(suffix)
                        }
                    }))
        })
        .map(|d| d.why)
}
