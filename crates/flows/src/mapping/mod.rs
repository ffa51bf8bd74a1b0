//! Field mappings: one expression per target field, evaluated over the trigger event and the
//! outputs of earlier steps.
//!
//! Expressions are [rhai](https://rhai.rs) scripts run in a sandbox: operations, call depth,
//! expression depth, string, array and map sizes are all bounded, `eval` and printing are off,
//! so a mapping edited by hand (or in the console) can fail its run but never hang, crash or
//! starve the engine. Numbers with a decimal point are decimals (rhai's `no_float`), never
//! binary floats; decimals leave a mapping as JSON strings, the way amounts travel.
//!
//! A mapping sees these variables:
//! - `event`: the trigger event's payload;
//! - `steps`: the outputs of the steps that ran before, by step name;
//! - `tables`: the flow's lookup tables;
//! - `run`: facts about the run (`flow`, `version`, `event_id`, `today`, `now_ms`).
//!
//! The built-in functions are in [`functions`].

mod convert;
mod fast;
pub mod functions;

use std::collections::BTreeMap;
use std::sync::Arc;

use rhai::{AST, Dynamic, Engine, EvalAltResult, Scope};

pub use convert::{from_dynamic, to_dynamic};

/// Lookup tables by name (`tables:` in a flow file): key → value.
pub type Tables = BTreeMap<String, BTreeMap<String, serde_json::Value>>;

/// The sandbox's bounds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Work one evaluation may do (rhai operations).
    pub max_operations: u64,
    /// Nested function calls.
    pub max_call_levels: usize,
    /// Nesting of expressions (and of expressions inside functions).
    pub max_expr_depth: usize,
    pub max_string_size: usize,
    pub max_array_size: usize,
    pub max_map_size: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_operations: 200_000,
            max_call_levels: 24,
            max_expr_depth: 64,
            max_string_size: 256 * 1024,
            max_array_size: 10_000,
            max_map_size: 10_000,
        }
    }
}

/// Why a mapping could not be compiled or evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// The expression does not parse. `line` and `column` are within the expression.
    #[error("syntax error at line {line}, column {column} of the expression: {message}")]
    Syntax {
        message: String,
        line: usize,
        column: usize,
    },
    /// The expression ran out of its sandbox's bounds.
    #[error("the expression exceeded its limits: {0}")]
    Limit(String),
    /// The expression failed while running (a bad value, a missing table entry, …).
    #[error("{0}")]
    Runtime(String),
    /// The result cannot be written as JSON.
    #[error("the result cannot be used as a field value: {0}")]
    Result(String),
}

/// A compiled expression and its source.
#[derive(Clone)]
pub struct Expression {
    source: Arc<str>,
    ast: Arc<AST>,
    /// When the whole expression is a member path (`event.order.customer.email`), its names:
    /// such an expression (most of a flow's fields) is read by walking the maps, without
    /// running the script. Anything else the walk meets (a missing variable, a value that is not
    /// a map before the last name) is left to rhai, so the result and the errors are rhai's.
    path: Option<Arc<[Box<str>]>>,
    /// When the expression is otherwise plain (text joined with `+`, comparisons, `&&`, `||`,
    /// `!`, `if`; see [`fast`]), its parse: read without running the script whenever the
    /// values it meets are texts, booleans or `()`.
    fast: Option<Arc<fast::Fast>>,
}

impl std::fmt::Debug for Expression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Expression").field(&self.source).finish()
    }
}

impl Expression {
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// The mapping sandbox for one flow version: a rhai engine with the built-ins and the flow's
/// tables, shared by every run of that version.
#[derive(Clone)]
pub struct Mapper {
    engine: Arc<Engine>,
    tables: Arc<Tables>,
    /// `tables` as mappings read it, converted once per flow version (shared, read-only).
    tables_value: Dynamic,
    /// The sandbox's bounds (the fast reading leaves anything near them to rhai).
    limits: Limits,
}

impl std::fmt::Debug for Mapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mapper")
            .field("tables", &self.tables.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Mapper {
    pub fn new(limits: Limits, tables: Tables) -> Mapper {
        let tables = Arc::new(tables);
        let mut engine = Engine::new();
        engine
            .set_max_operations(limits.max_operations)
            .set_max_call_levels(limits.max_call_levels)
            .set_max_expr_depths(limits.max_expr_depth, limits.max_expr_depth)
            .set_max_string_size(limits.max_string_size)
            .set_max_array_size(limits.max_array_size)
            .set_max_map_size(limits.max_map_size)
            .set_max_variables(256)
            .set_max_functions(64);
        engine.disable_symbol("eval");
        engine.on_print(|_| {});
        engine.on_debug(|_, _, _| {});
        functions::register(&mut engine, tables.clone());
        let tables_value = serde_json::to_value(&*tables)
            .map(|value| to_dynamic(&value).into_read_only().into_shared())
            .unwrap_or(Dynamic::UNIT);
        Mapper {
            engine: Arc::new(engine),
            tables,
            tables_value,
            limits,
        }
    }

    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// A context for one run (or preview) of this flow version: `tables` is set already.
    pub fn context(&self) -> Context {
        let mut context = Context::new();
        context.set_dynamic("tables", self.tables_value.clone());
        context
    }

    /// Compiles `source` once (per flow version).
    pub fn compile(&self, source: &str) -> Result<Expression, MappingError> {
        let ast = self
            .engine
            .compile(source)
            .map_err(|e| MappingError::Syntax {
                message: e.0.to_string(),
                line: e.1.line().unwrap_or(1),
                column: e.1.position().unwrap_or(1),
            })?;
        let path = member_path(source);
        let fast = match path {
            Some(_) => None,
            None => fast::Fast::parse(source).map(Arc::new),
        };
        Ok(Expression {
            source: source.into(),
            ast: Arc::new(ast),
            path,
            fast,
        })
    }

    /// Evaluates `expression` with `context`'s top-level keys as (constant) variables.
    pub fn eval(
        &self,
        expression: &Expression,
        context: &Context,
    ) -> Result<serde_json::Value, MappingError> {
        if let Some(path) = &expression.path
            && let Some(value) = context.walk(path)
        {
            return value.map_err(MappingError::Result);
        }
        if let Some(fast) = &expression.fast
            && let Some(value) = fast.eval(&fast::Env::new(context, &self.tables, &self.limits))
        {
            return Ok(value);
        }
        let mut scope = Scope::new();
        for (name, value) in &context.variables {
            scope.push_constant_dynamic(name.as_str(), value.clone());
        }
        let result = self
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut scope, &expression.ast)
            .map_err(|e| classify(*e))?;
        from_dynamic(&result).map_err(MappingError::Result)
    }

    /// Evaluates a condition (`when:`): it must give a boolean.
    pub fn eval_condition(
        &self,
        expression: &Expression,
        context: &Context,
    ) -> Result<bool, MappingError> {
        match self.eval(expression, context)? {
            serde_json::Value::Bool(b) => Ok(b),
            other => Err(MappingError::Result(format!(
                "a condition must be true or false, not {other}"
            ))),
        }
    }
}

/// The variables a mapping sees, converted once per step.
#[derive(Debug, Clone, Default)]
pub struct Context {
    variables: Vec<(String, Dynamic)>,
}

impl Context {
    pub fn new() -> Context {
        Context::default()
    }

    /// Sets (or replaces) the variable `name`. The value is converted once and shared: every
    /// expression of the step reads the same copy. It is read-only all the way down (a shared
    /// value is written through by rhai unless the value itself is marked read-only), so no
    /// expression can change what a later one reads.
    pub fn set(&mut self, name: &str, value: &serde_json::Value) {
        self.set_dynamic(name, to_dynamic(value));
    }

    /// Adds `key` to the object variable `name` (an empty one if there is none yet), without
    /// converting what it holds already: each step's output joins `steps` this way.
    pub fn insert(&mut self, name: &str, key: &str, value: &serde_json::Value) {
        let value = to_dynamic(value).into_read_only();
        if let Some((_, slot)) = self.variables.iter_mut().find(|(n, _)| n == name)
            && let Some(mut map) = slot.write_lock::<rhai::Map>()
        {
            map.insert(key.into(), value);
            return;
        }
        let mut map = rhai::Map::new();
        map.insert(key.into(), value);
        self.set_dynamic(name, Dynamic::from_map(map));
    }

    /// The value at `path` (a variable and member names), when every name before the last
    /// names a member of a map; `None` leaves the expression to rhai.
    fn walk(&self, path: &[Box<str>]) -> Option<Result<serde_json::Value, String>> {
        self.read(path, &mut |value| Some(from_dynamic(value)))
    }

    /// `f` of the value at `path` (a variable and member names), as [`walk`] finds it.
    fn read<R>(&self, path: &[Box<str>], f: &mut dyn FnMut(&Dynamic) -> Option<R>) -> Option<R> {
        let (variable, members) = path.split_first()?;
        let (_, root) = self.variables.iter().find(|(n, _)| **n == **variable)?;
        walk(root, members, f)
    }

    fn set_dynamic(&mut self, name: &str, value: Dynamic) {
        let value = value.into_read_only().into_shared();
        match self.variables.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => self.variables.push((name.to_string(), value)),
        }
    }
}

/// `f` of the value at `members` under `value`; a missing last member is `()`, as rhai reads it;
/// anything else the walk meets (a name after a missing one, a value that is not a map before
/// the last name) is rhai's: `None`.
fn walk<R>(
    value: &Dynamic,
    members: &[Box<str>],
    f: &mut dyn FnMut(&Dynamic) -> Option<R>,
) -> Option<R> {
    let Some((name, rest)) = members.split_first() else {
        return f(value);
    };
    let map = value.read_lock::<rhai::Map>()?;
    match map.get(&**name) {
        Some(member) => walk(member, rest, f),
        None if rest.is_empty() => f(&Dynamic::UNIT),
        None => None,
    }
}

/// The names of `source` when it is nothing but a member path: identifiers joined by dots
/// (spaces around them allowed), at least a variable and one member.
fn member_path(source: &str) -> Option<Arc<[Box<str>]>> {
    let names: Vec<Box<str>> = source.trim().split('.').map(|n| n.trim().into()).collect();
    let identifier = |name: &str| {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    (names.len() >= 2 && names.iter().all(|n| identifier(n))).then(|| names.into())
}

fn classify(error: EvalAltResult) -> MappingError {
    match error {
        EvalAltResult::ErrorTooManyOperations(..) => {
            MappingError::Limit("it ran too long (an endless loop?)".into())
        }
        EvalAltResult::ErrorStackOverflow(..) => {
            MappingError::Limit("it called functions too deeply (endless recursion?)".into())
        }
        EvalAltResult::ErrorDataTooLarge(what, ..) => {
            MappingError::Limit(format!("{what} grew too large"))
        }
        EvalAltResult::ErrorTooManyVariables(..) | EvalAltResult::ErrorTooManyModules(..) => {
            MappingError::Limit("it declared too many variables".into())
        }
        // The context's variables are read-only (see `Context::set`); a script's own `const`
        // cannot be assigned at all (a syntax error), only changed in place by a method.
        EvalAltResult::ErrorAssignmentToConstant(..)
        | EvalAltResult::ErrorNonPureMethodCallOnConstant(..) => MappingError::Runtime(
            "a mapping cannot change what it reads (event, steps, tables, run) or a constant; \
             copy the value with `let` first"
                .into(),
        ),
        EvalAltResult::ErrorParsing(kind, pos) => MappingError::Syntax {
            message: kind.to_string(),
            line: pos.line().unwrap_or(1),
            column: pos.position().unwrap_or(1),
        },
        EvalAltResult::ErrorRuntime(value, _) => MappingError::Runtime(
            value
                .clone()
                .into_immutable_string()
                .map(|s| s.to_string())
                .unwrap_or_else(|_| value.to_string()),
        ),
        EvalAltResult::ErrorInFunctionCall(name, _, inner, _) => match classify(*inner) {
            MappingError::Runtime(message) => {
                MappingError::Runtime(format!("in {name}(): {message}"))
            }
            other => other,
        },
        other => MappingError::Runtime(strip_position(&other.to_string())),
    }
}

/// rhai appends ` (line 1, position 7)` to its messages; within one field's expression that
/// is noise for most errors, so it goes.
fn strip_position(message: &str) -> String {
    match message.rfind(" (line ") {
        Some(at) if message.ends_with(')') => message[..at].to_string(),
        _ => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn eval(source: &str, event: serde_json::Value) -> Result<serde_json::Value, MappingError> {
        let mapper = Mapper::new(Limits::default(), Tables::new());
        let expression = mapper.compile(source)?;
        let mut context = Context::new();
        context.set("event", &event);
        context.set("steps", &json!({}));
        mapper.eval(&expression, &context)
    }

    #[test]
    fn fields_come_from_the_event_and_decimals_stay_exact() {
        let event = json!({"order": {"lines": [{"unit_price": "19.99", "quantity": 3}]}});
        assert_eq!(
            eval(
                "let l = event.order.lines[0]; dec(l.unit_price) * l.quantity",
                event.clone()
            )
            .unwrap(),
            json!("59.97")
        );
        assert_eq!(eval("0.1 + 0.2", json!({})).unwrap(), json!("0.3"));
        assert_eq!(
            eval("event.order.missing", event).unwrap(),
            serde_json::Value::Null
        );
    }

    #[test]
    fn step_outputs_join_steps_one_by_one() {
        let mapper = Mapper::new(Limits::default(), Tables::new());
        let both = mapper
            .compile(r#"`${steps.contact.id}/${steps.invoice.total}`"#)
            .unwrap();
        let first = mapper.compile("steps.contact.id").unwrap();
        let mut context = Context::new();
        context.insert("steps", "contact", &json!({"id": "c1"}));
        assert_eq!(mapper.eval(&first, &context).unwrap(), json!("c1"));
        context.insert("steps", "invoice", &json!({"total": "10.00"}));
        assert_eq!(mapper.eval(&both, &context).unwrap(), json!("c1/10.00"));
        // A later output of the same name replaces the earlier one.
        context.insert("steps", "contact", &json!({"id": "c2"}));
        assert_eq!(mapper.eval(&first, &context).unwrap(), json!("c2"));
    }

    #[test]
    fn an_endless_loop_fails_cleanly() {
        let error = eval("loop { }", json!({})).unwrap_err();
        assert!(matches!(error, MappingError::Limit(_)), "{error:?}");
        assert!(error.to_string().contains("too long"), "{error}");
    }

    #[test]
    fn a_deep_recursion_fails_cleanly() {
        let error = eval("fn down(n) { down(n + 1) } down(0)", json!({})).unwrap_err();
        assert!(matches!(error, MappingError::Limit(_)), "{error:?}");
        assert!(error.to_string().contains("too deeply"), "{error}");
    }

    #[test]
    fn a_huge_string_fails_cleanly() {
        let error = eval("let s = \"xxxxxxxx\"; loop { s += s; }", json!({})).unwrap_err();
        assert!(matches!(error, MappingError::Limit(_)), "{error:?}");
        assert!(error.to_string().contains("too large"), "{error}");
    }

    #[test]
    fn eval_is_not_available() {
        assert!(eval("eval(\"1\")", json!({})).is_err());
    }

    #[test]
    fn no_expression_can_change_what_later_ones_read() {
        let mut tables = Tables::new();
        tables.insert("modes".into(), [("visa".to_string(), json!("card"))].into());
        let mapper = Mapper::new(Limits::default(), tables);
        let mut context = mapper.context();
        let event = json!({"a": 1, "list": [1, 2], "m": {"k": 1}});
        context.set("event", &event);
        context.insert("steps", "contact", &json!({"id": "c1", "tags": ["x"]}));
        for source in [
            "event = 5",
            "event += 5",
            "event.a = 7",
            "event.m.k = 9",
            "event.list[0] = 9",
            "event.list += [5]",
            "event.list.push(3)",
            "event.clear()",
            "event.m.clear()",
            "fn f() { this.a = 11; } event.f()",
            "steps = #{}",
            "steps.contact.id = \"c2\"",
            "steps.contact.tags.push(\"y\")",
            "tables.modes.visa = \"cash\"",
            "tables.modes.clear()",
        ] {
            let expression = mapper.compile(source).unwrap();
            let error = mapper.eval(&expression, &context).unwrap_err();
            assert!(
                error.to_string().contains("cannot change what it reads"),
                "{source}: {error}"
            );
        }
        let read = |source: &str| mapper.eval(&mapper.compile(source).unwrap(), &context);
        assert_eq!(read("event").unwrap(), event);
        assert_eq!(read("tables").unwrap(), json!({"modes": {"visa": "card"}}));
        assert_eq!(
            read("tables").unwrap(),
            mapper
                .eval(&mapper.compile("tables").unwrap(), &mapper.context())
                .unwrap(),
            "every run's context shares the flow's one converted copy"
        );
        assert_eq!(
            read("steps").unwrap(),
            json!({"contact": {"id": "c1", "tags": ["x"]}})
        );
        // A copy is the expression's own to change.
        assert_eq!(
            read("let e = event; e.a = 3; e.list.push(3); [e.a, e.list.len(), event.a]").unwrap(),
            json!([3, 3, 1])
        );
        assert_eq!(
            read("fn f(x) { x.a = 10; x.a } f(event)").unwrap(),
            json!(10)
        );
        assert_eq!(read("event.a").unwrap(), json!(1));
        // A script's own constant is refused when compiled, by name.
        let own = mapper.compile("const limit = 5; limit = 6").unwrap_err();
        assert!(own.to_string().contains("limit"), "{own}");
    }

    /// A member path is read without running the script, and gives what rhai gives.
    #[test]
    fn member_paths_read_like_rhai() {
        let mapper = Mapper::new(Limits::default(), Tables::new());
        let mut context = Context::new();
        context.set(
            "event",
            &json!({
                "order": {"customer": {"email": "a@b.c", "phone": null}, "amount": 12.5,
                          "lines": [{"sku": "x"}], "len": 3, "n": 7},
                "type": "order.approved",
            }),
        );
        context.insert("steps", "contact", &json!({"contact_id": "c1"}));
        let sources = [
            "event.order.customer.email",
            " event . order .customer.email ",
            "event.order.customer.phone",
            "event.order.customer.missing",
            "event.order.amount",
            "event.order.lines",
            "event.order.len",
            "event.order",
            "steps.contact.contact_id",
            "steps.invoice",
            // Left to rhai: not a map before the last name, no such variable, a string's
            // getter, a missing member with more after it.
            "event.order.n.x",
            "event.type.len",
            "nothing.here",
            "steps.invoice.invoice_id",
            "event.order.missing.x",
        ];
        for source in sources {
            let expression = mapper.compile(source).unwrap();
            let by_script = {
                let mut plain = expression.clone();
                plain.path = None;
                mapper.eval(&plain, &context)
            };
            assert_eq!(mapper.eval(&expression, &context), by_script, "{source}");
        }
        assert_eq!(
            mapper
                .eval(&mapper.compile("event.order.amount").unwrap(), &context)
                .unwrap(),
            json!("12.5")
        );
        for source in [
            "event",
            "event.order.lines[0]",
            "event.order.email.trim()",
            "a.b + c.d",
        ] {
            assert!(member_path(source).is_none(), "{source}");
        }
        assert!(member_path("run.books.organization_id").is_some());
    }

    #[test]
    fn syntax_errors_say_where() {
        let error = eval("event.order +", json!({})).unwrap_err();
        let MappingError::Syntax { line, column, .. } = error else {
            panic!("{error:?}")
        };
        assert_eq!((line, column), (1, 14));
    }

    #[test]
    fn runtime_errors_name_the_problem() {
        let error = eval("dec(\"twelve\")", json!({})).unwrap_err();
        assert_eq!(error.to_string(), "dec: \"twelve\" is not a decimal number");
    }
}
