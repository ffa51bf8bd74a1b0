//! A flow as the console and the admin API show it: its trigger, and each step with its
//! action, condition, error policy and one line per mapped target field. What the console
//! draws its graph and its mapping editor from.

use serde::Serialize;

use crate::definition::{Definition, OnFailure, Template};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FlowView {
    pub name: String,
    pub description: Option<String>,
    pub version: String,
    /// Where it came from (a path, or `shipped:NAME`).
    pub origin: String,
    /// The inbox source of its trigger (`order-api`, `cybersource-webhook`, `schedule`,
    /// `manual`), and the event types it takes (none: all of that source).
    pub trigger_source: String,
    pub trigger_events: Vec<String>,
    pub steps: Vec<StepView>,
    pub outputs: Vec<FieldView>,
    /// The file as written.
    pub text: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StepView {
    pub name: String,
    pub action: String,
    /// What the action does, in words.
    pub summary: String,
    /// Whether it calls a vendor (and is memoized by its idempotency key).
    pub effect: bool,
    pub when: Option<String>,
    pub key: Option<String>,
    pub retries: Option<u32>,
    /// `fail`, `continue`, or `go to STEP`.
    pub on_error: String,
    pub fields: Vec<FieldView>,
}

/// One target field and its mapping.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldView {
    /// Dotted for nested objects (`contact.lastName`), `[i]` for list items.
    pub path: String,
    /// The expression's text, or a literal's JSON.
    pub expression: String,
    /// A literal rather than an expression (edited in the file, not the field editor).
    pub literal: bool,
}

impl FlowView {
    pub fn of(flow: &Definition) -> FlowView {
        FlowView {
            name: flow.name.clone(),
            description: flow.description.clone(),
            version: flow.version.clone(),
            origin: flow.origin.clone(),
            trigger_source: flow.source.inbox_source().to_string(),
            trigger_events: flow.events.clone(),
            steps: flow
                .steps
                .iter()
                .map(|step| {
                    let mut fields = Vec::new();
                    for (name, template) in &step.with {
                        flatten(name, template, &mut fields);
                    }
                    StepView {
                        name: step.name.clone(),
                        action: step.action.name.to_string(),
                        summary: step.action.summary.to_string(),
                        effect: step.action.has_effect(),
                        when: step.when.as_ref().map(|e| e.source().to_string()),
                        key: step.key.as_ref().map(|e| e.source().to_string()),
                        retries: step.retries,
                        on_error: match &step.on_failure {
                            OnFailure::Fail => "fail".to_string(),
                            OnFailure::Continue => "continue".to_string(),
                            OnFailure::GoTo(target) => format!("go to {target}"),
                        },
                        fields,
                    }
                })
                .collect(),
            outputs: flow
                .outputs
                .iter()
                .map(|(name, expression)| FieldView {
                    path: name.clone(),
                    expression: expression.source().to_string(),
                    literal: false,
                })
                .collect(),
            text: flow.text.to_string(),
        }
    }

    /// The expression mapped to `path` in step `step`, if that field is an expression.
    pub fn field(&self, step: &str, path: &str) -> Option<&FieldView> {
        self.steps
            .iter()
            .find(|s| s.name == step)?
            .fields
            .iter()
            .find(|f| f.path == path)
    }
}

fn flatten(path: &str, template: &Template, into: &mut Vec<FieldView>) {
    match template {
        Template::Expression(expression) => into.push(FieldView {
            path: path.to_string(),
            expression: expression.source().to_string(),
            literal: false,
        }),
        Template::Literal(value) => into.push(FieldView {
            path: path.to_string(),
            expression: value.to_string(),
            literal: true,
        }),
        Template::Object(fields) => {
            for (name, template) in fields {
                flatten(&format!("{path}.{name}"), template, into);
            }
        }
        Template::List(items) => {
            for (i, template) in items.iter().enumerate() {
                flatten(&format!("{path}[{i}]"), template, into);
            }
        }
    }
}
