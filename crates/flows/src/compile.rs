//! Compiling a flow file: read, checked (every problem found, located by line, step and field)
//! and its expressions compiled once, against a catalogue of actions.

use crate::catalogue::Catalogue;
use crate::definition::{
    Definition, FlowError, FlowFile, ORDER_EVENTS, OnFailure, Step, Template, TriggerSource,
    version_of,
};
use crate::mapping::{Expression, Limits, Mapper, Tables};

/// Reads, checks and compiles a flow file. Every problem found is reported, not just the first.
pub fn compile(
    origin: &str,
    text: &str,
    catalogue: &Catalogue,
) -> Result<Definition, Vec<FlowError>> {
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
        let Some(action) = catalogue.get(&step.action) else {
            error(
                at,
                Some("action"),
                format!(
                    "there is no action {:?}{}",
                    step.action,
                    catalogue
                        .closest(&step.action)
                        .map(|c| format!(" (did you mean {c:?}?)"))
                        .unwrap_or_default()
                ),
            );
            continue;
        };
        if let Some(fields) = action.fields {
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
            &Catalogue::control(),
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
        let flow = compile("greet.yaml", GOOD, &Catalogue::control()).unwrap();
        assert_eq!(flow.name, "greet");
        assert_eq!(flow.steps.len(), 2);
        assert!(flow.triggered_by("order-api", "order.approved"));
        assert!(!flow.triggered_by("order-api", "order.declined"));
        assert_eq!(flow.version.len(), 12);
    }

    fn errors(text: &str) -> Vec<String> {
        compile("f.yaml", text, &Catalogue::control())
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
    fn step_references_are_found_once_each() {
        assert_eq!(
            step_references("steps.a.x + steps.b_2.y + steps.a.z + mysteps.q"),
            vec!["a", "b_2"]
        );
    }
}
