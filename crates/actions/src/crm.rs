//! Zoho CRM: contacts and accounts upserted by their duplicate check fields.

use paybridge_flows::spec::{ActionSpec, Effect, Recovery, Type, out};
use paybridge_model::StepError;
use serde_json::{Value, json};

use crate::{Action, Call, Runnable};

/// The CRM actions.
pub static ACTIONS: &[&dyn Runnable] = &[&ContactUpsert, &AccountUpsert];

/// Upsert finds the record by its duplicate check fields, so a retry updates what an earlier
/// attempt inserted instead of inserting it again.
const UPSERTED: Recovery = Recovery::SameKey(
    "CRM upserts by the duplicate check fields: a repeat updates what the first made",
);

/// `zoho-crm.contact.upsert`: any of the module's fields.
pub struct ContactUpsert;

impl Action for ContactUpsert {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "zoho-crm.contact.upsert",
        summary: "insert or update a CRM contact (duplicate check fields)",
        fields: None,
        outputs: &[out("id", Type::Text), out("action", Type::Text)],
        effect: Effect::Call,
        recovery: UPSERTED,
    };
    type Input = Value;

    async fn run(&self, call: &Call<'_>, input: Value) -> Result<Value, StepError> {
        upsert(call, "Contacts", input, &["Email"]).await
    }
}

/// `zoho-crm.account.upsert`: any of the module's fields.
pub struct AccountUpsert;

impl Action for AccountUpsert {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "zoho-crm.account.upsert",
        summary: "insert or update a CRM account (duplicate check fields)",
        fields: None,
        outputs: &[out("id", Type::Text), out("action", Type::Text)],
        effect: Effect::Call,
        recovery: UPSERTED,
    };
    type Input = Value;

    async fn run(&self, call: &Call<'_>, input: Value) -> Result<Value, StepError> {
        upsert(call, "Accounts", input, &["Account_Name"]).await
    }
}

async fn upsert(
    call: &Call<'_>,
    module: &str,
    input: Value,
    default_check: &[&str],
) -> Result<Value, StepError> {
    let Value::Object(mut record) = input else {
        return Err(StepError::permanent(
            "engine",
            format!("a CRM {module} record must be an object of fields"),
        ));
    };
    let check: Vec<String> = match record.remove("duplicate_check_fields") {
        Some(Value::Array(fields)) => fields
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => default_check.iter().map(|f| f.to_string()).collect(),
    };
    let check: Vec<&str> = check.iter().map(String::as_str).collect();
    let result = call
        .env
        .connectors
        .crm()?
        .upsert(module, &[record], &check)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| StepError::permanent("zoho-crm", "CRM answered an upsert with no result"))?;
    if result.status != "success" {
        return Err(StepError::permanent(
            "zoho-crm",
            format!(
                "CRM refused the {module} record: {} ({})",
                result.message, result.code
            ),
        ));
    }
    Ok(json!({
        "id": result.details.get("id").cloned().unwrap_or(Value::Null),
        "action": result.action,
    }))
}
