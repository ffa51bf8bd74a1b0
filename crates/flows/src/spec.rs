//! What the language knows of an action: its name, the fields it takes, the outputs it gives
//! (typed), its effect and how an attempt whose answer was lost is recovered. Declared once per
//! action, beside its code (the language's own in [`crate::control`], the connectors' in the
//! `paybridge-actions` crate), and read by the compiler, the interpreter, `flows test`, the
//! console and the generated docs alike.

use std::fmt;

use serde::Serialize;

/// A field an action takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub required: bool,
}

/// A required field.
pub const fn req(name: &'static str) -> Field {
    Field {
        name,
        required: true,
    }
}

/// An optional field.
pub const fn opt(name: &'static str) -> Field {
    Field {
        name,
        required: false,
    }
}

/// What a value an action gives back is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Type {
    Text,
    /// An amount or rate as a decimal text (`"19.99"`): exact, never a float.
    Decimal,
    Integer,
    Boolean,
    Object,
    List,
    /// Whatever the call gave (an HTTP body, a looked-up value).
    Any,
}

impl Type {
    pub fn as_str(self) -> &'static str {
        match self {
            Type::Text => "text",
            Type::Decimal => "decimal",
            Type::Integer => "integer",
            Type::Boolean => "boolean",
            Type::Object => "object",
            Type::List => "list",
            Type::Any => "any",
        }
    }

    /// A value of this type, for previews that call nobody.
    pub fn sample(self, name: &str) -> serde_json::Value {
        match self {
            Type::Text => serde_json::Value::String(format!("<{name}>")),
            Type::Decimal => serde_json::Value::String("0.00".into()),
            Type::Integer => serde_json::json!(0),
            Type::Boolean => serde_json::Value::Bool(true),
            Type::Object => serde_json::json!({}),
            Type::List => serde_json::json!([]),
            Type::Any => serde_json::Value::Null,
        }
    }
}

/// A value an action gives back, as later steps read it (`steps.NAME.field`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    pub name: &'static str,
    pub ty: Type,
}

/// An output.
pub const fn out(name: &'static str, ty: Type) -> Output {
    Output { name, ty }
}

/// What running the action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// No call: a pure function of its fields. Neither memoized nor shown as a request.
    None,
    /// A call to another system (or a write): done once per idempotency key, its result kept.
    Call,
    /// A write to paybridge's own store that records the step itself, in the same write (once
    /// per key): no begin and no success of its own.
    RecordsItsOwnStep,
}

/// How an attempt whose answer was lost (a timeout after the request left) is recovered before
/// the action is done again: never a blind repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// It has no effect to recover.
    NotNeeded,
    /// Doing it again changes nothing more (setting the same fields, marking sent).
    Repeatable,
    /// The earlier attempt's effect is looked up first (how, in words).
    LookedUp(&'static str),
    /// The receiver is given the same key on every attempt and does it once (how, in words).
    SameKey(&'static str),
    /// It cannot be looked up: the run stops for a person to check.
    Person,
}

impl Recovery {
    /// In words, for the catalogue's docs and the console.
    pub fn describe(self) -> &'static str {
        match self {
            Recovery::NotNeeded => "no effect",
            Recovery::Repeatable => "repeated: doing it again changes nothing more",
            Recovery::LookedUp(how) | Recovery::SameKey(how) => how,
            Recovery::Person => "stops for a person: the effect cannot be looked up",
        }
    }
}

/// An action, as the language knows it.
#[derive(Debug, PartialEq, Eq)]
pub struct ActionSpec {
    /// `zoho-books.invoice.create`.
    pub name: &'static str,
    /// What it does, in a line.
    pub summary: &'static str,
    /// The fields it takes; `None`: any field (a CRM record takes its module's fields).
    pub fields: Option<&'static [Field]>,
    pub outputs: &'static [Output],
    pub effect: Effect,
    pub recovery: Recovery,
}

impl ActionSpec {
    pub fn has_effect(&self) -> bool {
        self.effect != Effect::None
    }

    pub fn output(&self, name: &str) -> Option<&Output> {
        self.outputs.iter().find(|o| o.name == name)
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields?.iter().find(|f| f.name == name)
    }
}

impl fmt::Display for ActionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}
