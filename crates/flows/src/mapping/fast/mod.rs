//! The plain expressions most fields, keys and conditions are read without running rhai: text
//! joined with `+`, `==` and `!=`, `&&`, `||`, `!`, `if … { } else { }`, member paths and
//! literals; map (`#{ name: … }`) and array (`[…]`) literals; the pure text built-ins
//! `trim`, `to_lower`, `to_upper`, `default_to`, `mask` and `lookup` (a flow table); `dec(a) ==
//! dec(b)`; and `list.map(|item| …)` over a list in the event.
//!
//! Only texts, booleans and `()` are handled here, as rhai handles them (a comparison of two
//! different types is `false` for `==`, `true` for `!=`; `+` joins texts, `()` adding nothing).
//! Whatever else an expression meets when it is read — a number (a decimal is a number to rhai
//! even when it leaves a mapping as text), a map or list where a text belongs, a name that is not
//! there, a condition that is not a boolean, a result near the sandbox's bounds — gives `None`,
//! and the whole expression goes to rhai, so the result and the errors stay rhai's. An
//! expression this parser does not know is never read here at all.

use std::cell::Cell;
use std::collections::BTreeMap;

use rhai::{Dynamic, ImmutableString};
use serde_json::Value;

use super::{Context, Limits, Tables, functions, walk};

/// A parsed plain expression.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Fast {
    Text(Box<str>),
    Bool(bool),
    Unit,
    /// A variable (or a `map` closure's parameter) and its member names.
    Path(Box<[Box<str>]>),
    Not(Box<Fast>),
    And(Box<Fast>, Box<Fast>),
    Or(Box<Fast>, Box<Fast>),
    /// `==` (`equal: true`) or `!=`.
    Compare {
        left: Box<Fast>,
        right: Box<Fast>,
        equal: bool,
    },
    /// `+`, left to right.
    Join(Box<[Fast]>),
    /// `if` with its `else` (`()` when there is none).
    If {
        condition: Box<Fast>,
        then: Box<Fast>,
        otherwise: Box<Fast>,
    },
    /// A built-in called as a function (`trim(x)`) or a method (`x.trim()`: `x` comes first).
    Call {
        function: Function,
        arguments: Box<[Fast]>,
    },
    /// `#{ name: value, … }`.
    Object(Box<[(Box<str>, Fast)]>),
    /// `[value, …]`.
    Array(Box<[Fast]>),
    /// `list.map(|item| body)`.
    Each {
        list: Box<Fast>,
        item: Box<str>,
        body: Box<Fast>,
    },
}

/// The built-ins read here (the rest are rhai's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Function {
    Trim,
    ToLower,
    ToUpper,
    DefaultTo,
    Mask,
    Lookup,
    /// Read only on both sides of `==` or `!=`: a decimal is not a value of this reading.
    Dec,
}

impl Function {
    fn named(name: &str) -> Option<Function> {
        Some(match name {
            "trim" => Function::Trim,
            "to_lower" => Function::ToLower,
            "to_upper" => Function::ToUpper,
            "default_to" => Function::DefaultTo,
            "mask" => Function::Mask,
            "lookup" => Function::Lookup,
            "dec" => Function::Dec,
            _ => return None,
        })
    }

    fn arity(self) -> usize {
        match self {
            Function::Trim
            | Function::ToLower
            | Function::ToUpper
            | Function::Mask
            | Function::Dec => 1,
            Function::DefaultTo => 2,
            Function::Lookup => 3,
        }
    }
}

/// What an expression is read against.
pub(super) struct Env<'a> {
    context: &'a Context,
    tables: &'a Tables,
    limits: &'a Limits,
    /// Parts read so far: a reading that would come near rhai's bound on operations is left to
    /// rhai, which counts them its own way.
    work: Cell<u64>,
}

impl<'a> Env<'a> {
    pub(super) fn new(context: &'a Context, tables: &'a Tables, limits: &'a Limits) -> Env<'a> {
        Env {
            context,
            tables,
            limits,
            work: Cell::new(0),
        }
    }

    /// `value` when it is within the sandbox's bounds on texts, lists and maps (as rhai
    /// counts them: everything nested in it), else `None`.
    fn bounded(&self, value: Value) -> Option<Value> {
        let (arrays, maps, texts) = sizes(&value);
        (texts <= self.limits.max_string_size
            && arrays <= self.limits.max_array_size
            && maps <= self.limits.max_map_size)
            .then_some(value)
    }
}

/// The lists' items, maps' entries and texts' bytes in `value`, nested ones included.
fn sizes(value: &Value) -> (usize, usize, usize) {
    match value {
        Value::String(text) => (0, 0, text.len()),
        Value::Array(items) => items.iter().fold((0, 0, 0), |(a, m, s), item| {
            let (ia, im, is) = sizes(item);
            (a + 1 + ia, m + im, s + is)
        }),
        Value::Object(fields) => fields.values().fold((0, 0, 0), |(a, m, s), field| {
            let (fa, fm, fs) = sizes(field);
            (a + fa, m + 1 + fm, s + fs)
        }),
        _ => (0, 0, 0),
    }
}

/// A `map` closure's parameter while its body is read, and those of the closures around it.
struct Local<'a> {
    name: &'a str,
    value: &'a Dynamic,
    outer: Option<&'a Local<'a>>,
}

/// A value read at a path as this reading knows it: a text, a boolean or `()`.
fn plain(value: &Dynamic) -> Option<Value> {
    if value.is_unit() {
        Some(Value::Null)
    } else if let Ok(b) = value.as_bool() {
        Some(Value::Bool(b))
    } else {
        let text = value.read_lock::<ImmutableString>()?;
        Some(Value::String(text.to_string()))
    }
}

impl Fast {
    /// `source` parsed, when all of it is a plain expression.
    pub(super) fn parse(source: &str) -> Option<Fast> {
        let tokens = tokens(source)?;
        let mut parser = Parser {
            tokens,
            at: 0,
            items: Vec::new(),
        };
        let fast = parser.or()?;
        (parser.at == parser.tokens.len()).then_some(fast)
    }

    /// The value, or `None` to leave the expression to rhai.
    pub(super) fn eval(&self, env: &Env<'_>) -> Option<Value> {
        self.read(env, None)
    }

    /// `f` of the value at `path`: a closure's parameter, else a variable of the context.
    fn at<R>(
        env: &Env<'_>,
        local: Option<&Local<'_>>,
        path: &[Box<str>],
        mut f: impl FnMut(&Dynamic) -> Option<R>,
    ) -> Option<R> {
        let (root, members) = path.split_first()?;
        let mut scope = local;
        while let Some(l) = scope {
            if l.name == &**root {
                return walk(l.value, members, &mut f);
            }
            scope = l.outer;
        }
        env.context.read(path, &mut f)
    }

    fn read(&self, env: &Env<'_>, local: Option<&Local<'_>>) -> Option<Value> {
        let work = env.work.get() + 1;
        env.work.set(work);
        if work.saturating_mul(8) > env.limits.max_operations {
            return None;
        }
        Some(match self {
            Fast::Text(text) => Value::String(text.to_string()),
            Fast::Bool(b) => Value::Bool(*b),
            Fast::Unit => Value::Null,
            Fast::Path(path) => Fast::at(env, local, path, plain)?,
            Fast::Not(inner) => Value::Bool(!inner.read(env, local)?.as_bool()?),
            Fast::And(left, right) => {
                let left = left.read(env, local)?.as_bool()?;
                Value::Bool(left && right.read(env, local)?.as_bool()?)
            }
            Fast::Or(left, right) => {
                let left = left.read(env, local)?.as_bool()?;
                Value::Bool(left || right.read(env, local)?.as_bool()?)
            }
            Fast::Compare { left, right, equal } => {
                if let (Some(left), Some(right)) = (left.decimal_of(), right.decimal_of()) {
                    let decimal = |side: &Fast| match side.read(env, local)? {
                        Value::String(text) => functions::decimal_text(&text),
                        _ => None,
                    };
                    return Some(Value::Bool((decimal(left)? == decimal(right)?) == *equal));
                }
                // Whether a value is `()` does not depend on what else it could be: `event.card
                // != ()` holds for a card (a map) as for a text.
                if let (Fast::Path(path), Fast::Unit) | (Fast::Unit, Fast::Path(path)) =
                    (&**left, &**right)
                {
                    let unit = Fast::at(env, local, path, |value| Some(value.is_unit()))?;
                    return Some(Value::Bool(unit == *equal));
                }
                let (left, right) = (left.read(env, local)?, right.read(env, local)?);
                Value::Bool((left == right) == *equal)
            }
            Fast::Join(parts) => {
                let (first, rest) = parts.split_first()?;
                let mut joined = first.read(env, local)?;
                for part in rest {
                    joined = match (joined, part.read(env, local)?) {
                        (Value::String(mut text), Value::String(more)) => {
                            text.push_str(&more);
                            text
                        }
                        (Value::String(text), Value::Null) | (Value::Null, Value::String(text)) => {
                            text
                        }
                        _ => return None,
                    }
                    .into();
                    joined = env.bounded(joined)?;
                }
                joined
            }
            Fast::If {
                condition,
                then,
                otherwise,
            } => {
                if condition.read(env, local)?.as_bool()? {
                    then.read(env, local)?
                } else {
                    otherwise.read(env, local)?
                }
            }
            Fast::Call {
                function,
                arguments,
            } => self.call(*function, arguments, env, local)?,
            Fast::Object(fields) => {
                // rhai's maps are ordered by name.
                let mut object = BTreeMap::new();
                for (name, value) in fields {
                    object.insert(name.to_string(), value.read(env, local)?);
                }
                env.bounded(Value::Object(object.into_iter().collect()))?
            }
            Fast::Array(items) => {
                let items = items
                    .iter()
                    .map(|item| item.read(env, local))
                    .collect::<Option<Vec<_>>>()?;
                env.bounded(Value::Array(items))?
            }
            Fast::Each { list, item, body } => {
                let Fast::Path(path) = &**list else {
                    return None;
                };
                let items = Fast::at(env, local, path, |list| {
                    let list = list.read_lock::<rhai::Array>()?;
                    list.iter()
                        .map(|value| {
                            let local = Local {
                                name: item,
                                value,
                                outer: local,
                            };
                            body.read(env, Some(&local))
                        })
                        .collect::<Option<Vec<_>>>()
                })?;
                env.bounded(Value::Array(items))?
            }
        })
    }

    /// The argument of `dec(…)`, when this is one.
    fn decimal_of(&self) -> Option<&Fast> {
        match self {
            Fast::Call {
                function: Function::Dec,
                arguments,
            } => arguments.first(),
            _ => None,
        }
    }

    fn call(
        &self,
        function: Function,
        arguments: &[Fast],
        env: &Env<'_>,
        local: Option<&Local<'_>>,
    ) -> Option<Value> {
        let values = arguments
            .iter()
            .map(|argument| argument.read(env, local))
            .collect::<Option<Vec<_>>>()?;
        let text = |value: &Value| match value {
            Value::String(text) => Some(text.clone()),
            Value::Null => Some(String::new()),
            _ => None,
        };
        let value = match (function, values.as_slice()) {
            (Function::Trim, [Value::String(s)]) => s.trim().into(),
            (Function::ToLower, [Value::String(s)]) => s.to_lowercase().into(),
            (Function::ToUpper, [Value::String(s)]) => s.to_uppercase().into(),
            (Function::DefaultTo, [value, fallback]) => {
                let blank = match value {
                    Value::Null => true,
                    Value::String(s) => s.trim().is_empty(),
                    _ => false,
                };
                if blank { fallback } else { value }.clone()
            }
            (Function::Mask, [value]) => functions::masked(&text(value)?).into(),
            (Function::Lookup, [Value::String(table), key, default]) => {
                let rows = env.tables.get(table)?;
                match rows.get(&text(key)?).filter(|v| !v.is_null()) {
                    Some(found @ (Value::String(_) | Value::Bool(_))) => found.clone(),
                    Some(_) => return None,
                    None => default.clone(),
                }
            }
            _ => return None,
        };
        env.bounded(value)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Text(Box<str>),
    Name(Box<str>),
    Dot,
    Plus,
    Equal,
    NotEqual,
    And,
    Or,
    Not,
    Open,
    Close,
    OpenBrace,
    CloseBrace,
    /// `#{`, a map literal's start.
    OpenMap,
    OpenBracket,
    CloseBracket,
    Comma,
    Colon,
    /// `|` around a closure's parameter.
    Bar,
}

/// The tokens of `source`, or `None` at anything a plain expression does not have.
fn tokens(source: &str) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut rest = source;
    loop {
        rest = rest.trim_start();
        let Some(c) = rest.chars().next() else {
            return Some(tokens);
        };
        let two = rest.get(..2).unwrap_or_default();
        let (token, length) = match c {
            '"' => {
                // A plain text: no escapes (rhai's `\` sequences are rhai's to read).
                let end = rest[1..].find(['"', '\\'])? + 1;
                if rest[end..].starts_with('\\') {
                    return None;
                }
                (Token::Text(rest[1..end].into()), end + 1)
            }
            _ if two == "==" => (Token::Equal, 2),
            _ if two == "!=" => (Token::NotEqual, 2),
            _ if two == "&&" => (Token::And, 2),
            _ if two == "||" => (Token::Or, 2),
            _ if two == "#{" => (Token::OpenMap, 2),
            // `+=`, `!` followed by `=` and the like are not plain.
            '+' if !two.ends_with('=') => (Token::Plus, 1),
            '!' => (Token::Not, 1),
            '.' => (Token::Dot, 1),
            '(' => (Token::Open, 1),
            ')' => (Token::Close, 1),
            '{' => (Token::OpenBrace, 1),
            '}' => (Token::CloseBrace, 1),
            '[' => (Token::OpenBracket, 1),
            ']' => (Token::CloseBracket, 1),
            ',' => (Token::Comma, 1),
            // `::` is a module path.
            ':' if two != "::" => (Token::Colon, 1),
            '|' => (Token::Bar, 1),
            c if c.is_ascii_alphabetic() || c == '_' => {
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                (Token::Name(rest[..end].into()), end)
            }
            _ => return None,
        };
        tokens.push(token);
        rest = &rest[length..];
    }
}

/// Precedence as rhai's: `||` below `&&` below `==`/`!=` below `+` below `!` below a method.
struct Parser {
    tokens: Vec<Token>,
    at: usize,
    /// The parameters of the closures being read, innermost last.
    items: Vec<Box<str>>,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn peek_at(&self, ahead: usize) -> Option<&Token> {
        self.tokens.get(self.at + ahead)
    }

    fn take(&mut self, token: &Token) -> bool {
        let found = self.peek() == Some(token);
        if found {
            self.at += 1;
        }
        found
    }

    fn name(&mut self) -> Option<Box<str>> {
        match self.peek() {
            Some(Token::Name(name)) if !is_reserved(name) => {
                let name = name.clone();
                self.at += 1;
                Some(name)
            }
            _ => None,
        }
    }

    fn or(&mut self) -> Option<Fast> {
        let mut left = self.and()?;
        while self.take(&Token::Or) {
            left = Fast::Or(Box::new(left), Box::new(self.and()?));
        }
        Some(left)
    }

    fn and(&mut self) -> Option<Fast> {
        let mut left = self.compare()?;
        while self.take(&Token::And) {
            left = Fast::And(Box::new(left), Box::new(self.compare()?));
        }
        Some(left)
    }

    fn compare(&mut self) -> Option<Fast> {
        let left = self.join()?;
        let equal = match self.peek() {
            Some(Token::Equal) => true,
            Some(Token::NotEqual) => false,
            _ => return Some(left),
        };
        self.at += 1;
        let right = self.join()?;
        // `a == b == c` is left to rhai.
        if matches!(self.peek(), Some(Token::Equal | Token::NotEqual)) {
            return None;
        }
        Some(Fast::Compare {
            left: Box::new(left),
            right: Box::new(right),
            equal,
        })
    }

    fn join(&mut self) -> Option<Fast> {
        let mut parts = vec![self.unary()?];
        while self.take(&Token::Plus) {
            parts.push(self.unary()?);
        }
        Some(match <[Fast; 1]>::try_from(parts) {
            Ok([one]) => one,
            Err(parts) => Fast::Join(parts.into()),
        })
    }

    fn unary(&mut self) -> Option<Fast> {
        if self.take(&Token::Not) {
            return Some(Fast::Not(Box::new(self.unary()?)));
        }
        // rhai reads no method after a bare `if … { }`.
        if self.take(&Token::Name("if".into())) {
            return self.if_else();
        }
        let primary = self.primary()?;
        self.methods(primary)
    }

    fn primary(&mut self) -> Option<Fast> {
        let token = self.peek()?.clone();
        self.at += 1;
        match token {
            Token::Text(text) => Some(Fast::Text(text)),
            Token::Open if self.take(&Token::Close) => Some(Fast::Unit),
            Token::Open => {
                let inner = self.or()?;
                self.take(&Token::Close).then_some(inner)
            }
            Token::OpenMap => self.object(),
            Token::OpenBracket => {
                let items = self.list(&Token::CloseBracket)?;
                Some(Fast::Array(items.into()))
            }
            Token::Name(name) => match &*name {
                "true" => Some(Fast::Bool(true)),
                "false" => Some(Fast::Bool(false)),
                // rhai's keywords and reserved words are rhai's.
                _ if is_reserved(&name) => None,
                _ if self.take(&Token::Open) => {
                    let function = Function::named(&name)?;
                    let arguments = self.list(&Token::Close)?;
                    (arguments.len() == function.arity()).then(|| Fast::Call {
                        function,
                        arguments: arguments.into(),
                    })
                }
                _ => self.path(name),
            },
            _ => None,
        }
    }

    /// Expressions separated by commas up to `close` (no comma after the last).
    fn list(&mut self, close: &Token) -> Option<Vec<Fast>> {
        let mut items = Vec::new();
        if self.take(close) {
            return Some(items);
        }
        loop {
            items.push(self.or()?);
            if self.take(close) {
                return Some(items);
            }
            if !self.take(&Token::Comma) {
                return None;
            }
        }
    }

    /// After `#{`: `name: value` pairs (a name an identifier or a plain text), then `}`.
    fn object(&mut self) -> Option<Fast> {
        let mut fields: Vec<(Box<str>, Fast)> = Vec::new();
        if self.take(&Token::CloseBrace) {
            return Some(Fast::Object(fields.into()));
        }
        loop {
            let name = match self.peek()? {
                Token::Text(text) => {
                    let text = text.clone();
                    self.at += 1;
                    text
                }
                _ => self.name()?,
            };
            // A name twice is rhai's to refuse or not.
            if !self.take(&Token::Colon) || fields.iter().any(|(n, _)| *n == name) {
                return None;
            }
            fields.push((name, self.or()?));
            if self.take(&Token::CloseBrace) {
                return Some(Fast::Object(fields.into()));
            }
            if !self.take(&Token::Comma) {
                return None;
            }
        }
    }

    /// A variable and at least one member name (`event.order.reference`), or a closure's
    /// parameter and any; a name followed by `(` is a method (see [`Parser::methods`]).
    fn path(&mut self, variable: Box<str>) -> Option<Fast> {
        let is_item = self.items.contains(&variable);
        // Inside a closure only its parameters are read here (rhai captures the rest).
        if !self.items.is_empty() && !is_item {
            return None;
        }
        let mut names = vec![variable];
        while self.peek() == Some(&Token::Dot) && self.peek_at(2) != Some(&Token::Open) {
            self.at += 1;
            names.push(self.name()?);
        }
        (names.len() >= 2 || is_item).then(|| Fast::Path(names.into()))
    }

    /// `.name(…)` after `receiver`, as often as it comes: a built-in with the receiver first,
    /// or `map` with a closure.
    fn methods(&mut self, mut receiver: Fast) -> Option<Fast> {
        while self.take(&Token::Dot) {
            let name = self.name()?;
            if !self.take(&Token::Open) {
                // A member of what a method gave is rhai's.
                return None;
            }
            if &*name == "map" {
                if !matches!(receiver, Fast::Path(_)) || !self.take(&Token::Bar) {
                    return None;
                }
                let item = self.name()?;
                if !self.take(&Token::Bar) {
                    return None;
                }
                self.items.push(item.clone());
                let body = self.or();
                self.items.pop();
                if !self.take(&Token::Close) {
                    return None;
                }
                receiver = Fast::Each {
                    list: Box::new(receiver),
                    item,
                    body: Box::new(body?),
                };
                continue;
            }
            let function = Function::named(&name)?;
            let mut arguments = vec![receiver];
            arguments.extend(self.list(&Token::Close)?);
            if arguments.len() != function.arity() {
                return None;
            }
            receiver = Fast::Call {
                function,
                arguments: arguments.into(),
            };
        }
        Some(receiver)
    }

    /// After `if`: `condition { expression }`, then `else { … }` or `else if …`, or nothing.
    fn if_else(&mut self) -> Option<Fast> {
        let condition = self.or()?;
        let then = self.block()?;
        let otherwise = if self.take(&Token::Name("else".into())) {
            if self.take(&Token::Name("if".into())) {
                self.if_else()?
            } else {
                self.block()?
            }
        } else {
            Fast::Unit
        };
        Some(Fast::If {
            condition: Box::new(condition),
            then: Box::new(then),
            otherwise: Box::new(otherwise),
        })
    }

    fn block(&mut self) -> Option<Fast> {
        if !self.take(&Token::OpenBrace) {
            return None;
        }
        let inner = self.or()?;
        self.take(&Token::CloseBrace).then_some(inner)
    }
}

/// Words a path may not use: rhai's keywords (and those it reserves), which mean something else.
fn is_reserved(name: &str) -> bool {
    matches!(
        name,
        "true"
            | "false"
            | "if"
            | "else"
            | "let"
            | "const"
            | "fn"
            | "return"
            | "throw"
            | "loop"
            | "while"
            | "do"
            | "until"
            | "for"
            | "in"
            | "switch"
            | "break"
            | "continue"
            | "this"
            | "is"
            | "Fn"
            | "call"
            | "curry"
            | "private"
            | "import"
            | "export"
            | "as"
            | "global"
            | "type_of"
            | "print"
            | "debug"
            | "eval"
            | "is_def_var"
            | "is_def_fn"
            | "is_shared"
    )
}

#[cfg(test)]
mod tests;
