//! What CRM says about itself: `GET /crm/v8/settings/modules`, `/settings/fields?module=`,
//! `/users?type=CurrentUser` and `/org` (Zoho's CRM v8 `modules.json`, `fields.json`,
//! `users.json`, `org.json`). The official SDK reads the modules and a module's fields before
//! any record call, to know each field's type; mapping suggestions read them too.

use super::super::ZohoSandbox;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;

use super::{check_module, enter, exception, user};

/// One field of a module: API name, label, data type, its JSON type, the longest value it
/// takes, whether the system requires it, and the module a lookup points at.
struct FieldSpec {
    api_name: &'static str,
    label: &'static str,
    data_type: &'static str,
    length: u32,
    mandatory: bool,
    lookup: Option<&'static str>,
}

const fn field(
    api_name: &'static str,
    label: &'static str,
    data_type: &'static str,
    length: u32,
) -> FieldSpec {
    FieldSpec {
        api_name,
        label,
        data_type,
        length,
        mandatory: false,
        lookup: None,
    }
}

const fn mandatory(api_name: &'static str, label: &'static str, length: u32) -> FieldSpec {
    FieldSpec {
        mandatory: true,
        ..field(api_name, label, "text", length)
    }
}

const fn lookup(api_name: &'static str, label: &'static str, module: &'static str) -> FieldSpec {
    FieldSpec {
        lookup: Some(module),
        ..field(api_name, label, "lookup", 120)
    }
}

const OWNER: FieldSpec = field("Owner", "Owner", "ownerlookup", 120);

const CONTACTS: &[FieldSpec] = &[
    OWNER,
    field("First_Name", "First Name", "text", 40),
    mandatory("Last_Name", "Last Name", 80),
    field("Email", "Email", "email", 100),
    field("Phone", "Phone", "phone", 30),
    field("Mobile", "Mobile", "phone", 30),
    lookup("Account_Name", "Account Name", "Accounts"),
    field("Mailing_Street", "Mailing Street", "text", 250),
    field("Mailing_City", "Mailing City", "text", 100),
    field("Mailing_State", "Mailing State", "text", 100),
    field("Mailing_Zip", "Mailing Zip", "text", 30),
    field("Mailing_Country", "Mailing Country", "text", 100),
    field("Description", "Description", "textarea", 32000),
];

const LEADS: &[FieldSpec] = &[
    OWNER,
    field("First_Name", "First Name", "text", 40),
    mandatory("Last_Name", "Last Name", 80),
    field("Email", "Email", "email", 100),
    field("Company", "Company", "text", 200),
    field("Phone", "Phone", "phone", 30),
    field("Lead_Source", "Lead Source", "picklist", 120),
    field("Description", "Description", "textarea", 32000),
];

const ACCOUNTS: &[FieldSpec] = &[
    OWNER,
    mandatory("Account_Name", "Account Name", 200),
    field("Website", "Website", "website", 255),
    field("Phone", "Phone", "phone", 30),
    field("Billing_Street", "Billing Street", "text", 250),
    field("Billing_City", "Billing City", "text", 100),
    field("Billing_State", "Billing State", "text", 100),
    field("Billing_Code", "Billing Code", "text", 30),
    field("Billing_Country", "Billing Country", "text", 100),
    field("Description", "Description", "textarea", 32000),
];

const DEALS: &[FieldSpec] = &[
    OWNER,
    mandatory("Deal_Name", "Deal Name", 120),
    field("Amount", "Amount", "currency", 16),
    field("Stage", "Stage", "picklist", 120),
    field("Closing_Date", "Closing Date", "date", 20),
    lookup("Account_Name", "Account Name", "Accounts"),
    lookup("Contact_Name", "Contact Name", "Contacts"),
    field("Description", "Description", "textarea", 32000),
];

/// The modules this sandbox keeps, in the order CRM lists them, with their id and labels.
const MODULES: &[ModuleSpec] = &[
    ("Leads", "9000000002175", "Lead", "Leads", LEADS),
    ("Contacts", "9000000002179", "Contact", "Contacts", CONTACTS),
    ("Accounts", "9000000002177", "Account", "Accounts", ACCOUNTS),
    ("Deals", "9000000002181", "Deal", "Deals", DEALS),
];

/// A kept module: its API name, id, singular and plural labels, and fields.
type ModuleSpec = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [FieldSpec],
);

fn module_spec(module: &str) -> Option<&'static ModuleSpec> {
    MODULES.iter().find(|(name, ..)| *name == module)
}

fn fields_of(module: &str) -> Option<&'static [FieldSpec]> {
    module_spec(module).map(|(.., fields)| *fields)
}

/// The most characters `module.field` takes, where the sandbox knows the field.
pub(crate) fn max_length(module: &str, field: &str) -> Option<u32> {
    fields_of(module)?
        .iter()
        .find(|f| f.api_name == field && f.data_type != "lookup" && f.data_type != "ownerlookup")
        .map(|f| f.length)
}

/// The module a lookup field of `module` points at (`Contacts.Account_Name` → Accounts).
pub(crate) fn lookup_target(module: &str, field: &str) -> Option<&'static str> {
    fields_of(module)?
        .iter()
        .find(|f| f.api_name == field)
        .and_then(|f| f.lookup)
}

/// The name CRM shows for a record in a lookup: an account's or deal's name, a person's full
/// name.
pub(crate) fn display_name(module: &str, record: &serde_json::Map<String, Value>) -> Value {
    let text = |field: &str| {
        record
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    match module {
        "Accounts" => json!(text("Account_Name")),
        "Deals" => json!(text("Deal_Name")),
        _ => json!(
            format!("{} {}", text("First_Name"), text("Last_Name"))
                .trim()
                .to_string()
        ),
    }
}

fn json_type(data_type: &str) -> &'static str {
    match data_type {
        "lookup" | "ownerlookup" => "jsonobject",
        "currency" | "double" => "double",
        "integer" | "bigint" => "integer",
        "boolean" => "boolean",
        "multiselectpicklist" => "jsonarray",
        _ => "string",
    }
}

fn field_json(module_id: &str, index: usize, f: &FieldSpec) -> Value {
    let mut body = json!({
        "id": format!("{module_id}{:03}", index + 1),
        "api_name": f.api_name,
        "field_label": f.label,
        "display_label": f.label,
        "data_type": f.data_type,
        "json_type": json_type(f.data_type),
        "length": f.length,
        "system_mandatory": f.mandatory,
        "custom_field": false,
        "read_only": false,
        "field_read_only": false,
        "visible": true,
        "sortable": true,
        "searchable": true,
        "filterable": true,
        "sequence_number": index + 1,
    });
    if let Some(target) = f.lookup {
        let target_id = module_spec(target).map_or("", |(_, id, ..)| *id);
        body["lookup"] = json!({
            "display_label": f.label,
            "api_name": f.api_name,
            "module": {"api_name": target, "id": target_id},
            "id": format!("{module_id}{:03}", index + 1),
        });
    }
    if f.data_type == "picklist" {
        body["pick_list_values"] = json!([]);
    }
    body
}

/// `GET /crm/v8/settings/modules`.
pub(crate) async fn modules(State(sandbox): State<ZohoSandbox>, headers: HeaderMap) -> Response {
    let _guard = guard!(enter(&sandbox, &headers, 1));
    let modules: Vec<Value> = MODULES
        .iter()
        .map(|(api_name, id, singular, plural, _)| {
            json!({
                "api_name": api_name, "module_name": api_name, "id": id,
                "singular_label": singular, "plural_label": plural,
                "api_supported": true, "creatable": true, "editable": true, "deletable": true,
                "viewable": true, "generated_type": "default", "visibility": 1,
            })
        })
        .collect();
    (StatusCode::OK, axum::Json(json!({"modules": modules}))).into_response()
}

/// `GET /crm/v8/settings/fields?module=Contacts`.
pub(crate) async fn fields(
    State(sandbox): State<ZohoSandbox>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let _guard = guard!(enter(&sandbox, &headers, 1));
    let Some(module) = query.get("module").filter(|m| !m.trim().is_empty()) else {
        return exception(
            StatusCode::BAD_REQUEST,
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            json!({"param_name": "module"}),
        );
    };
    guard!(check_module(module));
    // check_module and MODULES keep the same four modules (tested below).
    let (_, module_id, .., fields) = module_spec(module)
        .copied()
        .unwrap_or(("", "", "", "", &[]));
    let fields: Vec<Value> = fields
        .iter()
        .enumerate()
        .map(|(i, f)| field_json(module_id, i, f))
        .collect();
    (StatusCode::OK, axum::Json(json!({"fields": fields}))).into_response()
}

/// `GET /crm/v8/users?type=CurrentUser` (any other type lists the same one user).
pub(crate) async fn users(State(sandbox): State<ZohoSandbox>, headers: HeaderMap) -> Response {
    let _guard = guard!(enter(&sandbox, &headers, 1));
    let mut me = user();
    me["full_name"] = me["name"].clone();
    me["first_name"] = json!("Sandbox");
    me["last_name"] = json!("Admin");
    me["status"] = json!("active");
    me["role"] = json!({"name": "CEO", "id": "9000000000000000011"});
    me["profile"] = json!({"name": "Administrator", "id": "9000000000000000021"});
    me["time_zone"] = json!("Etc/UTC");
    (
        StatusCode::OK,
        axum::Json(json!({"users": [me], "info": {"per_page": 200, "count": 1, "page": 1, "more_records": false}})),
    )
        .into_response()
}

/// `GET /crm/v8/org`.
pub(crate) async fn org(State(sandbox): State<ZohoSandbox>, headers: HeaderMap) -> Response {
    let _guard = guard!(enter(&sandbox, &headers, 1));
    (
        StatusCode::OK,
        axum::Json(json!({"org": [{
            "id": "9000000000000000101", "company_name": "Sandbox Merchant",
            "primary_email": "admin@sandbox.example", "currency": "US Dollar",
            "currency_symbol": "$", "iso_code": "USD", "time_zone": "Etc/UTC",
            "country_code": "US", "domain_name": "org9000000000000000101",
            "zgid": "9000000000000000102", "type": "production",
        }]})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_kept_module_has_its_mandatory_field_described() {
        for (module, ..) in super::MODULES {
            let (mandatory, _) = super::super::module_rules(module).unwrap();
            let fields = super::fields_of(module).unwrap();
            assert!(
                fields
                    .iter()
                    .any(|f| f.api_name == mandatory && f.mandatory),
                "{module}.{mandatory}"
            );
        }
        assert_eq!(super::max_length("Contacts", "Last_Name"), Some(80));
        assert_eq!(super::max_length("Contacts", "Account_Name"), None);
    }
}
