//! Editing one mapping of a flow file in place: the console's field editor changes the line
//! (or the folded block) of one target field and leaves every other byte of the file — comments,
//! order, layout — as it was, so the file stays the readable, reviewable source of truth.
//!
//! The edit is checked by compiling the new text: it is returned only when the field now holds
//! exactly the expression asked for.

use crate::catalogue::Catalogue;
use crate::compile::compile;
use crate::definition::FlowError;
use crate::view::FlowView;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EditError {
    #[error("the flow has no step {0:?}")]
    NoStep(String),
    #[error(
        "step {step} has no field {path:?} to change, and a new field can only be added at the top level of `with`"
    )]
    NoField { step: String, path: String },
    #[error(
        "step {step}: field {path:?} is written in a form the field editor does not change (an inline `{{…}}` map or a list); edit the file"
    )]
    Unsupported { step: String, path: String },
    #[error(
        "the edited file does not hold the expression asked for (step {step}, field {path:?}); edit the file"
    )]
    NotRoundTripped { step: String, path: String },
}

/// The outcome of an edit: the new text, and its problems if it does not compile (an
/// expression that does not parse, a field the action does not take, …).
#[derive(Debug, Clone)]
pub struct Edited {
    pub text: String,
    pub problems: Vec<FlowError>,
}

/// Sets field `path` (`amount`, `contact.lastName`) of step `step` to `expression`; an empty
/// expression removes the field.
pub fn set_field(
    text: &str,
    origin: &str,
    step: &str,
    path: &str,
    expression: &str,
    catalogue: &Catalogue,
) -> Result<Edited, EditError> {
    let expression = expression.trim();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let (from, to, new) = replacement(&lines, step, path, expression)?;
    let text = [lines[..from].concat(), new, lines[to..].concat()].concat();
    match compile(origin, &text, catalogue) {
        Ok(flow) => {
            let holds = match FlowView::of(&flow).field(step, path) {
                Some(field) => !field.literal && field.expression.trim() == expression,
                None => expression.is_empty(),
            };
            if !holds {
                return Err(EditError::NotRoundTripped {
                    step: step.into(),
                    path: path.into(),
                });
            }
            Ok(Edited {
                text,
                problems: Vec::new(),
            })
        }
        Err(problems) => Ok(Edited { text, problems }),
    }
}

/// Which lines to replace (`from..to`, empty to insert) and with what.
fn replacement(
    lines: &[&str],
    step: &str,
    path: &str,
    expression: &str,
) -> Result<(usize, usize, String), EditError> {
    let (step_start, step_end) = step_block(lines, step).ok_or(EditError::NoStep(step.into()))?;
    let unsupported = || EditError::Unsupported {
        step: step.into(),
        path: path.into(),
    };
    let no_field = || EditError::NoField {
        step: step.into(),
        path: path.into(),
    };
    if path.contains('[') {
        return Err(unsupported());
    }
    // Walk down `with:` and each segment of the path, one indentation level at a time.
    let (mut start, mut end) = (step_start + 1, step_end);
    let mut parent_indent = indent(lines[step_start]) + 1;
    let mut found = None;
    for (depth, key) in std::iter::once("with").chain(path.split('.')).enumerate() {
        let child = (start..end).find(|&i| {
            let line = lines[i];
            !is_blank(line) && indent(line) >= parent_indent && key_of(line) == Some(key)
        });
        match child {
            Some(i) => {
                let own = indent(lines[i]);
                let block_end = block_end(lines, i, end);
                if depth > 0 && depth == path.split('.').count() {
                    found = Some((i, block_end));
                    break;
                }
                let rest = value_of(lines[i]);
                if !rest.is_empty() && !rest.starts_with('#') {
                    // `with: {a: b}` or `key: value` where a map was expected.
                    return Err(unsupported());
                }
                parent_indent = own + 1;
                start = i + 1;
                end = block_end;
            }
            None if depth == 1 && !path.contains('.') && !expression.is_empty() => {
                // A new top-level field: after the last line of `with`, at its fields' indent.
                let field_indent = (start..end)
                    .find(|&i| !is_blank(lines[i]) && !lines[i].trim_start().starts_with('#'))
                    .map(|i| indent(lines[i]))
                    .ok_or_else(unsupported)?;
                let mut insert_at = end;
                while insert_at > start && is_blank(lines[insert_at - 1]) {
                    insert_at -= 1;
                }
                let new = render(key, expression, field_indent);
                return Ok((insert_at, insert_at, new));
            }
            None => return Err(no_field()),
        }
    }
    let (line, block_end) = found.ok_or_else(no_field)?;
    let value = value_of(lines[line]);
    if value.starts_with('{') || value.starts_with('[') || value.is_empty() {
        return Err(unsupported());
    }
    let new = if expression.is_empty() {
        String::new()
    } else {
        render(
            path.rsplit('.').next().unwrap_or(path),
            expression,
            indent(lines[line]),
        )
    };
    Ok((line, block_end, new))
}

/// `key: <the expression as a YAML string>` at `indent`, with a line end.
fn render(key: &str, expression: &str, indent: usize) -> String {
    let scalar = serde_norway::to_string(expression).unwrap_or_else(|_| format!("{expression:?}"));
    let pad = " ".repeat(indent);
    let mut out = format!("{pad}{key}: ");
    for (i, line) in scalar.trim_end_matches('\n').lines().enumerate() {
        if i > 0 {
            out.push('\n');
            if !line.is_empty() {
                out.push_str(&pad);
            }
        }
        out.push_str(line);
    }
    out.push('\n');
    out
}

/// The lines of step `name`: from its `- name: NAME` line to the next item or less-indented key.
fn step_block(lines: &[&str], name: &str) -> Option<(usize, usize)> {
    let start = lines.iter().position(|line| {
        let trimmed = line.trim();
        trimmed
            .strip_prefix("- name:")
            .map(|v| unquote(v.trim()) == name)
            .unwrap_or(false)
    })?;
    let dash = indent(lines[start]);
    let end = (start + 1..lines.len())
        .find(|&i| !is_blank(lines[i]) && !is_comment(lines[i]) && indent(lines[i]) <= dash)
        .unwrap_or(lines.len());
    Some((start, end))
}

/// Where the block of the key at `line` ends: the next line (not blank, not a comment) that is
/// not indented deeper, or `limit`.
fn block_end(lines: &[&str], line: usize, limit: usize) -> usize {
    let own = indent(lines[line]);
    let mut end = (line + 1..limit)
        .find(|&i| !is_blank(lines[i]) && indent(lines[i]) <= own)
        .unwrap_or(limit);
    // Blank lines and comments before the next key belong to it, not to this value.
    while end > line + 1 && (is_blank(lines[end - 1]) || is_comment(lines[end - 1])) {
        end -= 1;
    }
    end
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

fn key_of(line: &str) -> Option<&str> {
    let trimmed = line.trim_start();
    if trimmed.starts_with('#') || trimmed.starts_with('-') {
        return None;
    }
    let (key, _) = trimmed.split_once(':')?;
    Some(unquote(key.trim()))
}

fn value_of(line: &str) -> &str {
    line.trim_start()
        .split_once(':')
        .map(|(_, v)| v.trim())
        .unwrap_or("")
}

fn unquote(s: &str) -> &str {
    s.trim_matches(|c| c == '"' || c == '\'')
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOW: &str = r#"# A comment that must survive.
name: edits
trigger:
  source: order-api
  events: [order.approved]
steps:
  - name: contact
    action: map
    with:
      # the customer's name
      contact_name: event.order.customer.first_name
      email: >-
        event.order.customer.email
        .to_lower()
      currency_code: event.order.currency

  - name: shape
    action: map
    with:
      nested:
        inner: '"x"'
      inline: {a: '"b"'}
"#;

    fn compiled(text: &str) -> FlowView {
        FlowView::of(&compile("edits.yaml", text, &Catalogue::control()).expect("compiles"))
    }

    #[test]
    fn a_field_is_changed_in_place_and_everything_else_is_kept() {
        let edited = set_field(
            FLOW,
            "edits.yaml",
            "contact",
            "contact_name",
            r#"event.order.customer.first_name + " " + event.order.customer.last_name"#,
            &Catalogue::control(),
        )
        .unwrap();
        assert!(edited.problems.is_empty(), "{:?}", edited.problems);
        assert!(edited.text.starts_with("# A comment that must survive.\n"));
        assert!(edited.text.contains("      # the customer's name\n"));
        let view = compiled(&edited.text);
        assert_eq!(
            view.field("contact", "contact_name").unwrap().expression,
            r#"event.order.customer.first_name + " " + event.order.customer.last_name"#
        );
        assert_eq!(
            view.field("contact", "email").unwrap().expression,
            compiled(FLOW).field("contact", "email").unwrap().expression
        );
        // Only one line changed.
        let changed = FLOW
            .lines()
            .zip(edited.text.lines())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(changed, 1);
        assert_eq!(FLOW.lines().count(), edited.text.lines().count());
    }

    #[test]
    fn folded_values_nested_fields_new_fields_and_removals() {
        let edited = set_field(
            FLOW,
            "edits.yaml",
            "contact",
            "email",
            "event.order.customer.email",
            &Catalogue::control(),
        )
        .unwrap();
        let view = compiled(&edited.text);
        assert_eq!(
            view.field("contact", "email").unwrap().expression,
            "event.order.customer.email"
        );
        assert_eq!(
            view.field("contact", "currency_code").unwrap().expression,
            "event.order.currency"
        );

        let edited = set_field(
            FLOW,
            "edits.yaml",
            "shape",
            "nested.inner",
            "\"y\" + \"z\"",
            &Catalogue::control(),
        )
        .unwrap();
        assert_eq!(
            compiled(&edited.text)
                .field("shape", "nested.inner")
                .unwrap()
                .expression,
            "\"y\" + \"z\""
        );

        let edited = set_field(
            FLOW,
            "edits.yaml",
            "contact",
            "company_name",
            "event.order.customer.company",
            &Catalogue::control(),
        )
        .unwrap();
        assert!(edited.problems.is_empty(), "{:?}", edited.problems);
        assert_eq!(
            compiled(&edited.text)
                .field("contact", "company_name")
                .unwrap()
                .expression,
            "event.order.customer.company"
        );

        let edited = set_field(
            FLOW,
            "edits.yaml",
            "contact",
            "currency_code",
            "",
            &Catalogue::control(),
        )
        .unwrap();
        assert!(
            compiled(&edited.text)
                .field("contact", "currency_code")
                .is_none()
        );

        let multi = "if event.order.currency == \"USD\" { \"a\" }\nelse { \"b\" }";
        let edited = set_field(
            FLOW,
            "edits.yaml",
            "contact",
            "currency_code",
            multi,
            &Catalogue::control(),
        )
        .unwrap();
        assert_eq!(
            compiled(&edited.text)
                .field("contact", "currency_code")
                .unwrap()
                .expression
                .trim(),
            multi
        );
    }

    #[test]
    fn what_cannot_be_edited_in_place_is_refused_and_bad_expressions_are_reported() {
        assert_eq!(
            set_field(FLOW, "edits.yaml", "nope", "x", "1", &Catalogue::control()).unwrap_err(),
            EditError::NoStep("nope".into())
        );
        assert!(matches!(
            set_field(
                FLOW,
                "edits.yaml",
                "shape",
                "inline.a",
                "1",
                &Catalogue::control()
            ),
            Err(EditError::Unsupported { .. })
        ));
        assert!(matches!(
            set_field(
                FLOW,
                "edits.yaml",
                "shape",
                "nested.missing",
                "1",
                &Catalogue::control()
            ),
            Err(EditError::NoField { .. })
        ));
        let edited = set_field(
            FLOW,
            "edits.yaml",
            "contact",
            "contact_name",
            "event.order.(",
            &Catalogue::control(),
        )
        .unwrap();
        assert_eq!(edited.problems.len(), 1, "{:?}", edited.problems);
        let problem = &edited.problems[0];
        assert_eq!(problem.step.as_deref(), Some("contact"));
        assert!(problem.to_string().contains("contact_name"), "{problem}");
    }
}
