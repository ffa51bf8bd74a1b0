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

use crate::flows::catalogue::Action;
use crate::mapping::{Context, Expression, Limits, Mapper, MappingError, Tables};

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
    pub action: Action,
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
        if self.action == Action::Check
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

/// Reads, checks and compiles a flow file. Every problem found is reported, not just the first.
pub fn compile(origin: &str, text: &str) -> Result<Definition, Vec<FlowError>> {
    let locate = Locator::new(text);
    let file: FlowFile = serde_norway::from_str(text).map_err(|e| {
        vec![FlowError {
            file: origin.to_string(),
            line: e.location().map(|l| l.line()),
            step: None,
            field: None,
            message: e.to_string(),
        }]
    })?;
    let mut errors = Vec::new();
    let mut error = |step: Option<&str>, field: Option<&str>, message: String| {
        errors.push(FlowError {
            file: origin.to_string(),
            line: locate.line(step, field),
            step: step.map(str::to_string),
            field: field.map(str::to_string),
            message,
        });
    };

    if !is_flow_name(&file.name) {
        error(
            None,
            Some("name"),
            format!(
                "{:?} is not a flow name: use lower-case letters, digits and dashes",
                file.name
            ),
        );
    }
    if file.steps.is_empty() {
        error(None, Some("steps"), "a flow needs at least one step".into());
    }
    if file.trigger.source == TriggerSource::OrderApi {
        for event in &file.trigger.events {
            if !ORDER_EVENTS.contains(&event.as_str()) {
                error(
                    None,
                    Some("events"),
                    format!(
                        "the order API has no event {event:?} (it has {})",
                        ORDER_EVENTS.join(", ")
                    ),
                );
            }
        }
    }

    if file.trigger.source == TriggerSource::Zoho {
        for event in &file.trigger.events {
            let books = event
                .strip_prefix("books.")
                .is_some_and(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_lowercase()));
            let crm = event
                .strip_prefix("crm.")
                .and_then(|rest| rest.split_once('.'))
                .is_some_and(|(module, operation)| {
                    !module.is_empty()
                        && module
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
                        && matches!(operation, "insert" | "update" | "delete")
                });
            let desk = event.strip_prefix("desk.").is_some_and(|kind| {
                !kind.is_empty() && kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            });
            if !books && !crm && !desk {
                error(
                    None,
                    Some("events"),
                    format!(
                        "Zoho events are `books.<module>` (a Books webhook's module, such as books.contact) `crm.<Module>.<insert|update|delete>` (a CRM notification, such as crm.Contacts.update) or `desk.<eventType>` (a Desk webhook, such as desk.Ticket_Update), not {event:?}"
                    ),
                );
            }
        }
    }

    let tables: Tables = file.tables.clone();
    let mapper = Mapper::new(Limits::default(), tables);
    let names: Vec<&str> = file.steps.iter().map(|s| s.name.as_str()).collect();
    let mut steps = Vec::new();
    for (index, step) in file.steps.iter().enumerate() {
        let at = Some(step.name.as_str());
        if !is_step_name(&step.name) {
            error(
                at,
                Some("name"),
                "a step name is snake_case: lower-case letters, digits and `_`, starting with a letter".into(),
            );
        }
        if names[..index].contains(&step.name.as_str()) {
            error(at, Some("name"), "another step has this name".into());
        }
        let earlier = &names[..index];
        let Some(action) = Action::parse(&step.action) else {
            error(
                at,
                Some("action"),
                format!(
                    "there is no action {:?}{}",
                    step.action,
                    closest(&step.action)
                        .map(|c| format!(" (did you mean {c:?}?)"))
                        .unwrap_or_default()
                ),
            );
            continue;
        };
        if let Some(fields) = action.fields() {
            for field in fields.iter().filter(|f| f.required) {
                if !step.with.contains_key(field.name) {
                    error(
                        at,
                        Some("with"),
                        format!("{action} needs the field `{}`", field.name),
                    );
                }
            }
            for name in step.with.keys() {
                if !fields.iter().any(|f| f.name == name) {
                    let known: Vec<&str> = fields.iter().map(|f| f.name).collect();
                    error(
                        at,
                        Some(name),
                        format!(
                            "{action} has no field `{name}` (it has {})",
                            known.join(", ")
                        ),
                    );
                }
            }
        }
        let mut compile_expression = |field: &str, source: &str| -> Option<Expression> {
            match mapper.compile(source) {
                Ok(expression) => {
                    for reference in step_references(source) {
                        if !earlier.contains(&reference.as_str()) {
                            let why = if names.contains(&reference.as_str()) {
                                "runs later"
                            } else {
                                "does not exist"
                            };
                            error(
                                at,
                                Some(field),
                                format!("reads steps.{reference}, but that step {why}"),
                            );
                        }
                    }
                    Some(expression)
                }
                Err(e) => {
                    error(at, Some(field), e.to_string());
                    None
                }
            }
        };
        let when = step
            .when
            .as_deref()
            .and_then(|w| compile_expression("when", w));
        let key = step
            .key
            .as_deref()
            .and_then(|k| compile_expression("key", k));
        let with = step
            .with
            .iter()
            .map(|(field, value)| {
                (
                    field.clone(),
                    template(field, value, &mut compile_expression),
                )
            })
            .collect();
        let on_failure = match step.on_error.as_ref().and_then(|o| o.then.as_deref()) {
            None | Some("fail") => OnFailure::Fail,
            Some("continue") => OnFailure::Continue,
            Some(target) => {
                match names.iter().position(|n| *n == target) {
                    Some(position) if position > index => {}
                    Some(_) => error(
                        at,
                        Some("then"),
                        format!(
                            "on_error can only go forward, and step `{target}` is not after this one"
                        ),
                    ),
                    None => error(
                        at,
                        Some("then"),
                        format!("`{target}` is neither fail, continue nor a step of this flow"),
                    ),
                }
                OnFailure::GoTo(target.to_string())
            }
        };
        steps.push(Step {
            name: step.name.clone(),
            action,
            when,
            key,
            with,
            retries: step.on_error.as_ref().and_then(|o| o.retries),
            on_failure,
        });
    }
    let mut outputs = Vec::new();
    for (name, source) in &file.outputs {
        match mapper.compile(source) {
            Ok(expression) => outputs.push((name.clone(), expression)),
            Err(e) => error(None, Some(name), e.to_string()),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Definition {
        name: file.name,
        description: file.description,
        source: file.trigger.source,
        events: file.trigger.events,
        steps,
        outputs,
        mapper,
        version: version_of(text),
        text: text.into(),
        origin: origin.to_string(),
    })
}

/// The order API's events: a payment approved, declined, or held for review; a refund asked
/// for (through the API, in Books, or made in Cybersource); a reviewer's decision on a held
/// order; a saved card (an order synced to Zoho whose payment saved one or used a TMS customer).
pub const ORDER_EVENTS: [&str; 7] = [
    "order.approved",
    "order.declined",
    "order.held",
    "order.refund_requested",
    "order.review_accepted",
    "order.review_rejected",
    "order.card_saved",
];

fn template(
    field: &str,
    value: &serde_json::Value,
    compile: &mut dyn FnMut(&str, &str) -> Option<Expression>,
) -> Template {
    match value {
        serde_json::Value::String(source) => compile(field, source)
            .map(Template::Expression)
            .unwrap_or(Template::Literal(serde_json::Value::Null)),
        serde_json::Value::Object(fields) => Template::Object(
            fields
                .iter()
                .map(|(name, value)| {
                    let path = format!("{field}.{name}");
                    (name.clone(), template(&path, value, compile))
                })
                .collect(),
        ),
        serde_json::Value::Array(items) => Template::List(
            items
                .iter()
                .enumerate()
                .map(|(i, value)| template(&format!("{field}[{i}]"), value, compile))
                .collect(),
        ),
        literal => Template::Literal(literal.clone()),
    }
}

fn is_flow_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn is_step_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The step names an expression reads as `steps.NAME`.
fn step_references(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find("steps.") {
        let before = rest[..at].chars().next_back();
        let after = &rest[at + "steps.".len()..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            && !name.is_empty()
            && !found.contains(&name)
        {
            found.push(name);
        }
        rest = after;
    }
    found
}

/// The action whose name is nearest to a mistyped one.
fn closest(name: &str) -> Option<&'static str> {
    Action::ALL
        .iter()
        .map(|a| (strsim(name, a.name()), a.name()))
        .filter(|(distance, _)| *distance <= 4)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, n)| n)
}

/// Levenshtein distance.
fn strsim(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = if ca == *cb {
                previous
            } else {
                1 + previous.min(row[j]).min(row[j + 1])
            };
            previous = current;
        }
    }
    row[b.len()]
}

/// Finds the line of a step (by its `name:`) and of a key within it.
struct Locator<'a> {
    lines: Vec<&'a str>,
}

impl<'a> Locator<'a> {
    fn new(text: &'a str) -> Locator<'a> {
        Locator {
            lines: text.lines().collect(),
        }
    }

    fn line(&self, step: Option<&str>, field: Option<&str>) -> Option<usize> {
        let start = match step {
            Some(step) => self.lines.iter().position(|line| {
                let trimmed = line.trim_start().trim_start_matches("- ").trim_start();
                trimmed
                    .strip_prefix("name:")
                    .is_some_and(|v| v.trim().trim_matches(['"', '\'']) == step)
            })?,
            None => 0,
        };
        let Some(field) = field else {
            return Some(start + 1);
        };
        let key = field.rsplit(['.', '[']).next().unwrap_or(field);
        let end = match step {
            // The step ends where the next list item at its indentation begins.
            Some(_) => {
                let indent = indentation(self.lines[start]);
                self.lines[start + 1..]
                    .iter()
                    .position(|l| {
                        let t = l.trim_start();
                        t.starts_with("- ") && indentation(l) <= indent
                            || (!t.is_empty() && indentation(l) < indent)
                    })
                    .map_or(self.lines.len(), |p| start + 1 + p)
            }
            None => self.lines.len(),
        };
        self.lines[start..end]
            .iter()
            .position(|line| names_key(line, key))
            .map(|p| start + p + 1)
            .or(Some(start + 1))
    }
}

/// Whether a YAML line has `key:` as a key (block or flow style), not inside a value.
fn names_key(line: &str, key: &str) -> bool {
    let text = line.split(" #").next().unwrap_or(line);
    [
        format!("{key}:"),
        format!("\"{key}\":"),
        format!("'{key}':"),
    ]
    .iter()
    .any(|pattern| {
        text.match_indices(pattern.as_str()).any(|(at, _)| {
            text[..at]
                .trim_end()
                .chars()
                .next_back()
                .is_none_or(|c| matches!(c, '{' | ',' | '-'))
        })
    })
}

fn indentation(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"name: greet
trigger:
  source: order-api
  events: [order.approved]
steps:
  - name: shape
    action: map
    with:
      greeting: '"Hello " + event.order.customer.first_name'
  - name: again
    action: map
    when: steps.shape.greeting != ""
    with:
      copy: steps.shape.greeting
outputs:
  said: steps.again.copy
"#;

    #[test]
    fn a_check_reads_its_message_only_when_it_fails() {
        let flow = compile(
            "check.yaml",
            r#"name: check
trigger: {source: order-api, events: [order.approved]}
steps:
  - name: gate
    action: check
    with:
      that: event.ok
      message: '"no: " + dec("not a number")'
"#,
        )
        .unwrap();
        let step = &flow.steps[0];
        let mut context = flow.mapper.context();
        context.set("event", &serde_json::json!({"ok": true}));
        assert_eq!(
            step.map_fields(&flow.mapper, &context).unwrap(),
            serde_json::json!({"that": true})
        );
        context.set("event", &serde_json::json!({"ok": false}));
        let (field, error) = step.map_fields(&flow.mapper, &context).unwrap_err();
        assert_eq!(field, "message");
        assert!(error.to_string().contains("not a decimal"), "{error}");
    }

    #[test]
    fn a_good_file_compiles() {
        let flow = compile("greet.yaml", GOOD).unwrap();
        assert_eq!(flow.name, "greet");
        assert_eq!(flow.steps.len(), 2);
        assert!(flow.triggered_by("order-api", "order.approved"));
        assert!(!flow.triggered_by("order-api", "order.declined"));
        assert_eq!(flow.version.len(), 12);
    }

    fn errors(text: &str) -> Vec<String> {
        compile("f.yaml", text)
            .unwrap_err()
            .into_iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn yaml_errors_say_where() {
        let found = errors(
            "name: x\ntrigger: {source: order-api}\nsteps:\n  - name: a\n    action: map\n    bogus: 1\n",
        );
        assert_eq!(found.len(), 1);
        assert!(
            found[0].starts_with("f.yaml:6: ") && found[0].contains("unknown field `bogus`"),
            "{found:?}"
        );
    }

    #[test]
    fn problems_name_file_line_step_and_field() {
        let text = r#"name: bad
trigger:
  source: order-api
  events: [order.paid]
steps:
  - name: invoice
    action: zoho-books.invoice.create
    with:
      customer_id: steps.contact.contact_id
      date: '"2026-01-01"'
      line_items: '[]'
      colour: '"blue"'
  - name: pay
    action: zoho-books.customer-paymnet.record
  - name: later
    action: map
    with:
      x: event.order +
    on_error: {then: invoice}
"#;
        let found = errors(text);
        assert_eq!(
            found,
            vec![
                "f.yaml:4: field `events`: the order API has no event \"order.paid\" (it has order.approved, order.declined, order.held, order.refund_requested, order.review_accepted, order.review_rejected, order.card_saved)",
                "f.yaml:12: step `invoice`, field `colour`: zoho-books.invoice.create has no field `colour` (it has customer_id, date, line_items, invoice_number, reference_number, due_date, shipping_charge, exchange_rate, notes, custom_fields)",
                "f.yaml:9: step `invoice`, field `customer_id`: reads steps.contact, but that step does not exist",
                "f.yaml:14: step `pay`, field `action`: there is no action \"zoho-books.customer-paymnet.record\" (did you mean \"zoho-books.customer-payment.record\"?)",
                "f.yaml:18: step `later`, field `x`: syntax error at line 1, column 14 of the expression: Script is incomplete",
                "f.yaml:19: step `later`, field `then`: on_error can only go forward, and step `invoice` is not after this one",
            ],
            "{found:#?}"
        );
    }

    #[test]
    fn required_fields_and_forward_references_are_caught() {
        let text = "name: x\ntrigger: {source: manual}\nsteps:\n  - name: a\n    action: zoho-books.invoice.mark-sent\n    with: {}\n  - name: b\n    action: map\n    with:\n      v: steps.c.x\n  - name: c\n    action: map\n";
        let found = errors(text);
        assert_eq!(
            found,
            vec![
                "f.yaml:6: step `a`, field `with`: zoho-books.invoice.mark-sent needs the field `invoice_id`",
                "f.yaml:10: step `b`, field `v`: reads steps.c, but that step runs later",
            ]
        );
    }

    #[test]
    fn step_references_are_found_once_each() {
        assert_eq!(
            step_references("steps.a.x + steps.b_2.y + steps.a.z + mysteps.q"),
            vec!["a", "b_2"]
        );
    }
}
