//! The plain expressions most fields, keys and conditions are — text joined with `+`, `==` and
//! `!=`, `&&`, `||`, `!` and `if … { } else { }` over member paths and literals — read without
//! running rhai.
//!
//! Only texts, booleans and `()` are handled here, as rhai handles them (a comparison of two
//! different types is `false` for `==`, `true` for `!=`; `+` joins texts, `()` adding nothing).
//! Whatever else an expression meets when it is read — a number, a map, a name that is not
//! there, a condition that is not a boolean — gives `None`, and the whole expression goes to
//! rhai, so the result and the errors stay rhai's. An expression this parser does not know is
//! never read here at all.

use serde_json::Value;

use super::Context;

/// A parsed plain expression.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Fast {
    Text(Box<str>),
    Bool(bool),
    Unit,
    /// A variable and its member names.
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
}

impl Fast {
    /// `source` parsed, when all of it is a plain expression.
    pub(super) fn parse(source: &str) -> Option<Fast> {
        let tokens = tokens(source)?;
        let mut parser = Parser { tokens, at: 0 };
        let fast = parser.or()?;
        (parser.at == parser.tokens.len()).then_some(fast)
    }

    /// The value, or `None` to leave the expression to rhai. `max_text` is the sandbox's
    /// longest text.
    pub(super) fn eval(&self, context: &Context, max_text: usize) -> Option<Value> {
        Some(match self {
            Fast::Text(text) => Value::String(text.to_string()),
            Fast::Bool(b) => Value::Bool(*b),
            Fast::Unit => Value::Null,
            Fast::Path(path) => match context.walk(path)?.ok()? {
                value @ (Value::String(_) | Value::Bool(_) | Value::Null) => value,
                _ => return None,
            },
            Fast::Not(inner) => Value::Bool(!inner.eval(context, max_text)?.as_bool()?),
            Fast::And(left, right) => {
                let left = left.eval(context, max_text)?.as_bool()?;
                Value::Bool(left && right.eval(context, max_text)?.as_bool()?)
            }
            Fast::Or(left, right) => {
                let left = left.eval(context, max_text)?.as_bool()?;
                Value::Bool(left || right.eval(context, max_text)?.as_bool()?)
            }
            Fast::Compare { left, right, equal } => {
                let (left, right) = (
                    left.eval(context, max_text)?,
                    right.eval(context, max_text)?,
                );
                Value::Bool((left == right) == *equal)
            }
            Fast::Join(parts) => {
                let (first, rest) = parts.split_first()?;
                let mut joined = first.eval(context, max_text)?;
                for part in rest {
                    joined = match (joined, part.eval(context, max_text)?) {
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
                    if joined.as_str().is_some_and(|t| t.len() > max_text) {
                        return None;
                    }
                }
                joined
            }
            Fast::If {
                condition,
                then,
                otherwise,
            } => {
                if condition.eval(context, max_text)?.as_bool()? {
                    then.eval(context, max_text)?
                } else {
                    otherwise.eval(context, max_text)?
                }
            }
        })
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
            // `+=`, `!` followed by `=` and the like are not plain.
            '+' if !two.ends_with('=') => (Token::Plus, 1),
            '!' => (Token::Not, 1),
            '.' => (Token::Dot, 1),
            '(' => (Token::Open, 1),
            ')' => (Token::Close, 1),
            '{' => (Token::OpenBrace, 1),
            '}' => (Token::CloseBrace, 1),
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

/// Precedence as rhai's: `||` below `&&` below `==`/`!=` below `+` below `!`.
struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn take(&mut self, token: &Token) -> bool {
        let found = self.peek() == Some(token);
        if found {
            self.at += 1;
        }
        found
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
        self.primary()
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
            Token::Name(name) => match &*name {
                "true" => Some(Fast::Bool(true)),
                "false" => Some(Fast::Bool(false)),
                "if" => self.if_else(),
                // rhai's keywords and reserved words, and calls, are rhai's.
                _ if is_reserved(&name) || self.peek() == Some(&Token::Open) => None,
                _ => self.path(name),
            },
            _ => None,
        }
    }

    /// A variable and at least one member name (`event.order.reference`).
    fn path(&mut self, variable: Box<str>) -> Option<Fast> {
        let mut names = vec![variable];
        while self.take(&Token::Dot) {
            match self.peek() {
                Some(Token::Name(name)) if !is_reserved(name) => {
                    names.push(name.clone());
                    self.at += 1;
                }
                _ => return None,
            }
        }
        // A method call (`.trim()`) is rhai's.
        if names.len() < 2 || self.peek() == Some(&Token::Open) {
            return None;
        }
        Some(Fast::Path(names.into()))
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
mod tests {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use serde_json::json;

    use super::*;
    use crate::mapping::{Limits, Mapper, Tables};

    fn context() -> Context {
        let mut context = Context::new();
        context.set(
            "event",
            &json!({
                "name": "Ada", "empty": "", "yes": true, "no": false, "none": null,
                "n": 5, "amount": "10.00", "map": {"inner": "x"}, "list": ["a"],
            }),
        );
        context.set("run", &json!({"currency": "USD", "foreign": false}));
        context
    }

    /// What rhai alone makes of `source`.
    fn by_rhai(mapper: &Mapper, source: &str, context: &Context) -> Result<Value, String> {
        let mut expression = mapper.compile(source).map_err(|e| e.to_string())?;
        expression.path = None;
        expression.fast = None;
        mapper.eval(&expression, context).map_err(|e| e.to_string())
    }

    #[test]
    fn plain_expressions_parse_and_the_rest_does_not() {
        for plain in [
            r#""order:" + event.order.reference + ":contact""#,
            "event.order.currency != run.books.currency",
            "run.connected.crm && event.order.customer.company != ()",
            "!run.connected.inventory",
            r#""customer""#,
            "steps.rate.rate != () && (!steps.rate.foreign || steps.rate.currency_id != ())",
            r#"if steps.rate.foreign { steps.rate.rate } else { () }"#,
            r#"if a.b { "x" } else if a.c { "y" } else { "z" }"#,
            r#"if a.b { "x" }"#,
            "true",
            "()",
        ] {
            assert!(Fast::parse(plain).is_some(), "{plain}");
        }
        for other in [
            "event",
            "event.name.trim()",
            r#""a\"b""#,
            "event.n + 1",
            "event.list[0]",
            "default_to(event.a, event.b)",
            "let x = event.a; x",
            "event.a += 1",
            "event.a == event.b == event.c",
            "#{ a: event.b }",
            "this.a",
            "event.a; event.b",
            r#"if event.a { "x" } else"#,
            "event.a.",
            "// note\nevent.a",
        ] {
            assert_eq!(Fast::parse(other), None, "{other}");
        }
    }

    #[test]
    fn precedence_is_rhais() {
        let mapper = Mapper::new(Limits::default(), Tables::new());
        let context = context();
        for source in [
            r#"event.name == "Ada" && event.yes || event.no"#,
            r#"event.no || event.yes && !event.yes"#,
            r#"!event.no == event.yes"#,
            r#""A" + "da" == event.name"#,
            r#"event.name + "!" != "Ada" + "!""#,
            r#""x" + if event.no { "y" } else { "z" } + "w""#,
        ] {
            let fast = Fast::parse(source).unwrap();
            assert_eq!(
                fast.eval(&context, usize::MAX).map(Ok),
                Some(by_rhai(&mapper, source, &context)),
                "{source}"
            );
        }
    }

    #[test]
    fn a_text_longer_than_the_sandbox_allows_is_left_to_rhai() {
        let mapper = Mapper::new(
            Limits {
                max_string_size: 5,
                ..Limits::default()
            },
            Tables::new(),
        );
        let context = context();
        let source = r#"event.name + "-" + event.name"#;
        assert_eq!(Fast::parse(source).unwrap().eval(&context, 5), None);
        let error = mapper
            .eval(&mapper.compile(source).unwrap(), &context)
            .unwrap_err();
        assert!(error.to_string().contains("too large"), "{error}");
    }

    fn leaf() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(r#""Ada""#.to_string()),
            Just(r#""""#.to_string()),
            Just(r#""x y""#.to_string()),
            Just("true".to_string()),
            Just("false".to_string()),
            Just("()".to_string()),
            Just("event.name".to_string()),
            Just("event.empty".to_string()),
            Just("event.yes".to_string()),
            Just("event.no".to_string()),
            Just("event.none".to_string()),
            Just("event.missing".to_string()),
            Just("event.n".to_string()),
            Just("event.amount".to_string()),
            Just("event.map".to_string()),
            Just("event.map.inner".to_string()),
            Just("event.list".to_string()),
            Just("event.missing.deeper".to_string()),
            Just("event.name.deeper".to_string()),
            Just("run.currency".to_string()),
            Just("run.foreign".to_string()),
        ]
    }

    fn expression() -> impl Strategy<Value = String> {
        leaf().prop_recursive(4, 24, 3, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) + ({b})")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) == ({b})")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) != ({b})")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) && ({b})")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) || ({b})")),
                inner.clone().prop_map(|a| format!("!({a})")),
                (inner.clone(), inner.clone(), inner.clone())
                    .prop_map(|(c, a, b)| format!("if {c} {{ {a} }} else {{ {b} }}")),
                (inner.clone(), inner).prop_map(|(c, a)| format!("if {c} {{ {a} }}")),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// Whatever the fast reading gives is what rhai gives; where rhai fails, it gives
        /// nothing (and rhai fails as before).
        #[test]
        fn the_fast_reading_agrees_with_rhai(source in expression()) {
            let mapper = Mapper::new(Limits::default(), Tables::new());
            // rhai refuses some when compiling (`if () { … }`): those are never read at all.
            prop_assume!(mapper.compile(&source).is_ok());
            let context = context();
            let rhai = by_rhai(&mapper, &source, &context);
            let fast = Fast::parse(&source);
            prop_assert!(fast.is_some(), "{} is plain", source);
            if let Some(value) = fast.and_then(|f| f.eval(&context, usize::MAX)) {
                prop_assert_eq!(Ok(value), rhai.clone(), "{}", source);
            }
            let compiled = mapper.compile(&source).unwrap();
            prop_assert_eq!(mapper.eval(&compiled, &context).map_err(|e| e.to_string()), rhai, "{}", source);
        }
    }

    #[test]
    fn most_generated_expressions_are_read_fast() {
        // The agreement test means something only if the fast reading answers often.
        let context = context();
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let (mut answered, total) = (0, 500);
        for _ in 0..total {
            let source = expression().new_tree(&mut runner).unwrap().current();
            if Fast::parse(&source)
                .and_then(|f| f.eval(&context, usize::MAX))
                .is_some()
            {
                answered += 1;
            }
        }
        assert!(answered * 8 > total, "{answered} of {total}");
    }
}
