//! Flow files: the YAML a merchant reviews in git, read, checked and compiled once per version.
//!
//! ```yaml
//! name: order-to-cash            # lower-case words joined by dashes
//! description: …
//! trigger:
//!   source: order-api            # order-api | cybersource | schedule | manual
//!   events: [order.approved]     # the event types that start it (any, when empty)
//! tables:                        # lookup tables for `lookup(…)` and `status_map(…)`
//!   payment_modes: {visa: creditcard}
//! steps:
//!   - name: contact              # snake_case; later steps read `steps.contact.…`
//!     action: zoho-books.contact.ensure
//!     when: run.connected.books  # optional condition
//!     key: '"order:" + event.order.reference + ":contact"'   # optional idempotency key
//!     with:                      # target field → expression (nested maps and lists too)
//!       email: event.order.customer.email
//!     on_error: {retries: 5, then: fail}   # then: fail | continue | a later step's name
//! outputs:
//!   invoice: steps.invoice.invoice_id
//! ```
//!
//! Every string under `with`, `when`, `key` and `outputs` is an expression (see
//! [`crate::mapping`]); write a literal text as `'"paid"'` or `` '`paid`' ``. Numbers and
//! booleans are literals.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::control;
use crate::mapping::{Context, Expression, Mapper, MappingError};
use crate::spec::ActionSpec;

/// A flow file as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FlowFile {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub trigger: TriggerFile,
    #[serde(default)]
    pub tables: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
    pub steps: Vec<StepFile>,
    #[serde(default)]
    pub outputs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerFile {
    pub source: TriggerSource,
    #[serde(default)]
    pub events: Vec<String>,
}

/// Where the events that start a flow come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TriggerSource {
    /// The order API: `order.approved`, `order.declined`, `order.held`.
    OrderApi,
    /// Cybersource webhooks, by event type.
    Cybersource,
    /// Zoho webhooks: `books.<module>` (a Books workflow rule's webhook posting the record).
    Zoho,
    /// A `[[engine.schedules]]` entry naming the flow.
    Schedule,
    /// Started by hand (CLI, console, admin API).
    Manual,
}

impl TriggerSource {
    /// The inbox `source` of the events it matches.
    pub fn inbox_source(self) -> &'static str {
        match self {
            TriggerSource::OrderApi => "order-api",
            TriggerSource::Cybersource => "cybersource-webhook",
            TriggerSource::Zoho => "zoho-webhook",
            TriggerSource::Schedule => "schedule",
            TriggerSource::Manual => "manual",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StepFile {
    pub name: String,
    pub action: String,
    #[serde(default)]
    pub when: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub with: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub on_error: Option<OnErrorFile>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OnErrorFile {
    /// Attempts of this step before its error counts as permanent.
    #[serde(default)]
    pub retries: Option<u32>,
    /// `fail` (the default: retry, then dead-letter), `continue`, or a later step to go to.
    #[serde(default)]
    pub then: Option<String>,
}

/// A problem in a flow file, located as closely as the file allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowError {
    pub file: String,
    pub line: Option<usize>,
    pub step: Option<String>,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for FlowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        f.write_str(": ")?;
        if let Some(step) = &self.step {
            write!(f, "step `{step}`")?;
            if self.field.is_some() {
                f.write_str(", ")?;
            } else {
                f.write_str(": ")?;
            }
        }
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        f.write_str(&self.message)
    }
}

/// What a step does when it fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnFailure {
    /// Retry as the engine's policy says, then dead-letter the run.
    Fail,
    /// Record the error as the step's output (`steps.NAME.error`) and go on.
    Continue,
    /// Record the error and go on at this later step.
    GoTo(String),
}

/// A field's mapping: an expression, a literal, or a nested object or list of them.
#[derive(Debug, Clone)]
pub enum Template {
    Expression(Expression),
    Literal(serde_json::Value),
    Object(Vec<(String, Template)>),
    List(Vec<Template>),
}

#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub action: &'static ActionSpec,
    pub when: Option<Expression>,
    pub key: Option<Expression>,
    pub with: Vec<(String, Template)>,
    /// Attempts before the error counts as permanent (`None`: the engine's policy).
    pub retries: Option<u32>,
    pub on_failure: OnFailure,
}

impl Step {
    /// The step's mapped fields over `context`; absent (null) optional fields are left out.
    /// An error names the field (`contact.billing_address.city`) whose expression failed.
    pub fn map_fields(
        &self,
        mapper: &Mapper,
        context: &Context,
    ) -> Result<serde_json::Value, (String, MappingError)> {
        // A check that holds says nothing: its message is read only when it fails.
        if std::ptr::eq(self.action, &control::CHECK)
            && let Some((name, that)) = self.with.iter().find(|(name, _)| name == "that")
            && fill(mapper, name, that, context)? == serde_json::Value::Bool(true)
        {
            return Ok(serde_json::json!({"that": true}));
        }
        let mut fields = serde_json::Map::new();
        for (name, template) in &self.with {
            let value = fill(mapper, name, template, context)?;
            if !value.is_null() {
                fields.insert(name.clone(), value);
            }
        }
        Ok(serde_json::Value::Object(fields))
    }
}

fn fill(
    mapper: &Mapper,
    field: &str,
    template: &Template,
    context: &Context,
) -> Result<serde_json::Value, (String, MappingError)> {
    Ok(match template {
        Template::Literal(value) => value.clone(),
        Template::Expression(expression) => mapper
            .eval(expression, context)
            .map_err(|e| (field.to_string(), e))?,
        Template::Object(fields) => {
            let mut object = serde_json::Map::new();
            for (name, template) in fields {
                let value = fill(mapper, &format!("{field}.{name}"), template, context)?;
                if !value.is_null() {
                    object.insert(name.clone(), value);
                }
            }
            serde_json::Value::Object(object)
        }
        Template::List(items) => serde_json::Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, t)| fill(mapper, &format!("{field}[{i}]"), t, context))
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// A compiled flow version, ready to run.
#[derive(Debug, Clone)]
pub struct Definition {
    pub name: String,
    pub description: Option<String>,
    pub source: TriggerSource,
    pub events: Vec<String>,
    pub steps: Vec<Step>,
    pub outputs: Vec<(String, Expression)>,
    pub mapper: Mapper,
    /// The first 12 hex digits of the file's SHA-256: two files with one version are equal.
    pub version: String,
    /// The file as written.
    pub text: Arc<str>,
    /// Where it came from (a path, or `shipped:NAME`).
    pub origin: String,
}

impl Definition {
    /// Whether an inbox event of this source and type starts the flow.
    pub fn triggered_by(&self, source: &str, event_type: &str) -> bool {
        self.source.inbox_source() == source
            && (self.events.is_empty() || self.events.iter().any(|e| e == event_type))
    }
}

/// The file's version id.
pub fn version_of(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..6])
}

/// The order API's events: a payment approved, declined, or held for review; only part of it
/// authorized; an answer that said neither yes nor no; a refund asked for (through the API, in
/// Books, or made in Cybersource); a decision on a held order; a saved card (an order synced to
/// Zoho whose payment saved one or used a TMS customer).
pub const ORDER_EVENTS: [&str; 9] = [
    "order.approved",
    "order.declined",
    "order.held",
    "order.partially_authorized",
    "order.payment_unclear",
    "order.refund_requested",
    "order.review_accepted",
    "order.review_rejected",
    "order.card_saved",
];
