//! CRM search by criteria, e-mail or phone, and COQL queries (zoho.md §4.4).

use super::super::ZohoSandbox;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::time::Duration;

use super::records::{fields_param, page_of, project};
use super::{check_module, enter, exception};

/// A condition of a search: field, operator, value.
pub(crate) type Condition = (String, String, String);

/// One `(Field:operator:value)` condition of a search criteria.
pub(crate) fn criterion_matches(
    record: &Map<String, Value>,
    field: &str,
    op: &str,
    value: &str,
) -> bool {
    let actual = match record.get(field) {
        Some(Value::String(s)) => s.to_ascii_lowercase(),
        Some(Value::Object(o)) => o
            .get("name")
            .or_else(|| o.get("id"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_lowercase(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string().to_ascii_lowercase(),
    };
    let value = value.to_ascii_lowercase();
    match op {
        // `equals` behaves like `contains` for text (zoho.md §4.3).
        "equals" => !value.is_empty() && actual.contains(&value),
        "not_equal" => !actual.contains(&value),
        "starts_with" => actual.starts_with(&value),
        "in" => value.split(',').any(|v| actual == v.trim()),
        _ => false,
    }
}

/// Parses `((A:equals:x)and(B:starts_with:y))` into conditions joined by `and` or `or`.
pub(crate) fn parse_criteria(criteria: &str) -> Option<(Vec<Condition>, bool)> {
    let mut conditions = Vec::new();
    let mut any = false;
    let mut rest = criteria.trim();
    while rest.starts_with('(') && rest.ends_with(')') && rest[1..].starts_with('(') {
        rest = &rest[1..rest.len() - 1];
    }
    let mut chars = rest.char_indices().peekable();
    let mut depth = 0;
    let mut start = None;
    let mut joins = Vec::new();
    let mut last_end = 0;
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '(' => {
                if depth == 0 {
                    start = Some(i + 1);
                    joins.push(rest[last_end..i].trim().to_ascii_lowercase());
                }
                depth += 1;
            }
            ')' => {
                depth -= 1;
                if depth == 0 {
                    let inner = &rest[start?..i];
                    let mut parts = inner.splitn(3, ':');
                    let field = parts.next()?.trim().to_string();
                    let op = parts.next()?.trim().to_string();
                    let value = parts.next()?.replace('\\', "");
                    conditions.push((field, op, value));
                    last_end = i + 1;
                }
            }
            _ => {}
        }
    }
    for join in joins.iter().skip(1) {
        match join.as_str() {
            "and" => {}
            "or" => any = true,
            _ => return None,
        }
    }
    (!conditions.is_empty() && conditions.len() <= 10).then_some((conditions, any))
}

pub(crate) async fn search(
    State(sandbox): State<ZohoSandbox>,
    Path(module): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let _guard = guard!(enter(&sandbox, &headers, 1));
    guard!(check_module(&module));
    let invalid_query = || {
        exception(
            StatusCode::BAD_REQUEST,
            "INVALID_QUERY",
            "invalid query formed",
            json!({}),
        )
    };
    // Priority when several are given: criteria > email > phone > word (§4.3).
    let (conditions, any) = if let Some(criteria) = query.get("criteria") {
        match parse_criteria(criteria) {
            Some(parsed) => parsed,
            None => return invalid_query(),
        }
    } else if let Some(email) = query.get("email") {
        (
            ["Email", "Secondary_Email"]
                .iter()
                .map(|f| ((*f).to_string(), "equals".to_string(), email.clone()))
                .collect(),
            true,
        )
    } else if let Some(phone) = query.get("phone").filter(|p| p.len() >= 3) {
        (
            ["Phone", "Mobile"]
                .iter()
                .map(|f| ((*f).to_string(), "equals".to_string(), phone.clone()))
                .collect(),
            true,
        )
    } else if let Some(word) = query.get("word").filter(|w| w.len() >= 2) {
        (
            vec![("*".to_string(), "word".to_string(), word.clone())],
            true,
        )
    } else {
        return exception(
            StatusCode::BAD_REQUEST,
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            json!({"param_name": "criteria"}),
        );
    };
    let lag = Duration::from_millis(sandbox.inner.config.crm.search_lag_ms);
    let fields = fields_param(&query);
    let rows: Vec<Value> = sandbox
        .world()
        .crm
        .modules
        .get(&module)
        .map(|stored| {
            stored
                .iter()
                .rev()
                // Not yet indexed: search does not see it (COQL does).
                .filter(|s| s.written_at.elapsed() >= lag)
                .filter(|s| {
                    let test = |(field, op, value): &(String, String, String)| {
                        if op == "word" {
                            s.record.values().any(|v| {
                                v.as_str().is_some_and(|t| {
                                    t.to_ascii_lowercase().contains(&value.to_ascii_lowercase())
                                })
                            })
                        } else {
                            criterion_matches(&s.record, field, op, value)
                        }
                    };
                    if any {
                        conditions.iter().any(test)
                    } else {
                        conditions.iter().all(test)
                    }
                })
                .map(|s| project(&s.record, fields.as_deref()))
                .collect()
        })
        .unwrap_or_default();
    match page_of(rows, &query, Some(2_000)) {
        Ok(r) | Err(r) => r,
    }
}

// ---------------------------------------------------------------------------------------------
// COQL

#[derive(Debug)]
pub(crate) struct Select {
    fields: Vec<String>,
    module: String,
    conditions: Vec<(String, String, Vec<String>)>,
    any: bool,
    order: Option<(String, bool)>,
    limit: usize,
    offset: usize,
}

/// The subset of COQL paybridge uses: `select f1, f2 from Module [where a = 'x' and b like
/// '%y%' ...] [order by f asc|desc] [limit n[, m]]`, with `=`, `!=`, `like`, `in (...)`,
/// `is null` and `is not null`.
#[cfg(test)]
pub(crate) fn parse_coql(query: &str) -> Option<Select> {
    parse_coql_at(query).ok()
}

/// Where a COQL query stops making sense: the 1-based line and column of the token it could
/// not take, and that token (CRM's `SYNTAX_ERROR` details `line`, `column`, `near`).
#[derive(Debug, PartialEq)]
pub(crate) struct SyntaxError {
    pub line: usize,
    pub column: usize,
    pub near: String,
}

/// Parses a COQL query, or says where it failed.
pub(crate) fn parse_coql_at(query: &str) -> Result<Select, SyntaxError> {
    let Some(tokens) = tokenize(query) else {
        // An unclosed quote or a lone `!`: the end of the query is where it failed.
        return Err(locate(query, query.len(), ""));
    };
    let mut i = 0;
    match parse_tokens(&tokens, &mut i) {
        Some(select) => Ok(select),
        None => {
            let failed = i.saturating_sub(1).min(tokens.len().saturating_sub(1));
            // Find each token in the text in turn, up to the one that failed.
            let mut offset = 0;
            for (k, token) in tokens[..=failed].iter().enumerate() {
                let text = token.trim_matches('\'');
                offset = query[offset..].find(text).map_or(offset, |at| offset + at);
                if k < failed {
                    offset += text.len();
                }
            }
            Err(locate(
                query,
                offset,
                tokens.get(failed).map_or("", String::as_str),
            ))
        }
    }
}

fn locate(query: &str, offset: usize, near: &str) -> SyntaxError {
    let before = &query[..offset.min(query.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    SyntaxError {
        line,
        column,
        near: near.to_string(),
    }
}

fn parse_tokens(tokens: &[String], i: &mut usize) -> Option<Select> {
    let next = |i: &mut usize| -> Option<String> {
        let t = tokens.get(*i).cloned();
        *i += 1;
        t
    };
    let keyword =
        |t: &Option<String>, k: &str| t.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(k));
    if !keyword(&next(i), "select") {
        return None;
    }
    let mut fields = Vec::new();
    loop {
        let field = next(i)?;
        // A keyword is not a field name: `select a, from M` fails at `from`.
        if ["from", "where", "select"]
            .iter()
            .any(|k| field.eq_ignore_ascii_case(k))
        {
            return None;
        }
        fields.push(field);
        let t = next(i);
        if keyword(&t, "from") {
            break;
        }
        if t.as_deref() != Some(",") {
            return None;
        }
    }
    let module = next(i)?;
    let mut select = Select {
        fields,
        module,
        conditions: Vec::new(),
        any: false,
        order: None,
        limit: 200,
        offset: 0,
    };
    let mut t = next(i);
    if keyword(&t, "where") {
        loop {
            let mut field = next(i)?;
            if field == "(" {
                field = next(i)?;
            }
            let mut op = next(i)?.to_ascii_lowercase();
            let values = match op.as_str() {
                "=" | "!=" | "like" | ">" | "<" => vec![unquote(&next(i)?)?],
                "in" | "not" => {
                    if op == "not" {
                        if !keyword(&next(i), "in") {
                            return None;
                        }
                        op = "not in".into();
                    }
                    if next(i)?.as_str() != "(" {
                        return None;
                    }
                    let mut values = Vec::new();
                    loop {
                        values.push(unquote(&next(i)?)?);
                        match next(i)?.as_str() {
                            "," => continue,
                            ")" => break,
                            _ => return None,
                        }
                    }
                    values
                }
                "is" => {
                    let n = next(i)?;
                    if n.eq_ignore_ascii_case("not") {
                        if !keyword(&next(i), "null") {
                            return None;
                        }
                        op = "is not null".into();
                    } else if n.eq_ignore_ascii_case("null") {
                        op = "is null".into();
                    } else {
                        return None;
                    }
                    vec![]
                }
                _ => return None,
            };
            select.conditions.push((field, op, values));
            t = next(i);
            while t.as_deref() == Some(")") {
                t = next(i);
            }
            if keyword(&t, "and") {
                continue;
            }
            if keyword(&t, "or") {
                select.any = true;
                continue;
            }
            break;
        }
    }
    if keyword(&t, "order") {
        if !keyword(&next(i), "by") {
            return None;
        }
        let field = next(i)?;
        let mut asc = true;
        t = next(i);
        if keyword(&t, "desc") || keyword(&t, "asc") {
            asc = keyword(&t, "asc");
            t = next(i);
        }
        select.order = Some((field, asc));
    }
    if keyword(&t, "limit") {
        let first: usize = next(i)?.parse().ok()?;
        t = next(i);
        if t.as_deref() == Some(",") {
            select.offset = first;
            select.limit = next(i)?.parse().ok()?;
            t = next(i);
        } else if keyword(&t, "offset") {
            select.limit = first;
            select.offset = next(i)?.parse().ok()?;
            t = next(i);
        } else {
            select.limit = first;
        }
    }
    if t.is_some() {
        return None;
    }
    (1..=2_000).contains(&select.limit).then_some(select)
}

pub(crate) fn tokenize(query: &str) -> Option<Vec<String>> {
    let mut tokens = Vec::new();
    let mut chars = query.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '\'' {
            chars.next();
            let mut s = String::from("'");
            loop {
                match chars.next()? {
                    '\\' => s.push(chars.next()?),
                    '\'' => break,
                    other => s.push(other),
                }
            }
            s.push('\'');
            tokens.push(s);
        } else if matches!(c, ',' | '(' | ')' | '=' | '<' | '>') {
            chars.next();
            tokens.push(c.to_string());
        } else if c == '!' {
            chars.next();
            if chars.next()? != '=' {
                return None;
            }
            tokens.push("!=".into());
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || matches!(c, ',' | '(' | ')' | '=' | '!' | '<' | '>' | '\'')
                {
                    break;
                }
                word.push(c);
                chars.next();
            }
            tokens.push(word);
        }
    }
    Some(tokens)
}

pub(crate) fn unquote(token: &str) -> Option<String> {
    if token.len() >= 2 && token.starts_with('\'') && token.ends_with('\'') {
        Some(token[1..token.len() - 1].to_string())
    } else if token.parse::<f64>().is_ok()
        || token.eq_ignore_ascii_case("true")
        || token.eq_ignore_ascii_case("false")
    {
        Some(token.to_string())
    } else {
        None
    }
}

pub(crate) fn coql_matches(
    record: &Map<String, Value>,
    (field, op, values): &(String, String, Vec<String>),
) -> bool {
    let actual = match record.get(field) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Object(o)) => o.get("id").and_then(Value::as_str).map(str::to_string),
        Some(Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    };
    let eq = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    match (op.as_str(), actual.as_deref()) {
        ("is null", a) => a.is_none_or(str::is_empty),
        ("is not null", a) => a.is_some_and(|a| !a.is_empty()),
        (_, None) => op == "!=" || op == "not in",
        ("=", Some(a)) => eq(a, &values[0]),
        ("!=", Some(a)) => !eq(a, &values[0]),
        ("in", Some(a)) => values.iter().any(|v| eq(a, v)),
        ("not in", Some(a)) => !values.iter().any(|v| eq(a, v)),
        ("like", Some(a)) => {
            let pattern = values[0].to_ascii_lowercase();
            let a = a.to_ascii_lowercase();
            match (pattern.strip_prefix('%'), pattern.strip_suffix('%')) {
                (Some(rest), _) if rest.ends_with('%') => a.contains(&rest[..rest.len() - 1]),
                (Some(rest), _) => a.ends_with(rest),
                (None, Some(rest)) => a.starts_with(rest),
                (None, None) => a == pattern,
            }
        }
        (">", Some(a)) => a > values[0].as_str(),
        ("<", Some(a)) => a < values[0].as_str(),
        _ => false,
    }
}

pub(crate) async fn coql(
    State(sandbox): State<ZohoSandbox>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _guard = guard!(enter(&sandbox, &headers, 1));
    let query = serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
        v.get("select_query")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let Some(query) = query else {
        return exception(
            StatusCode::BAD_REQUEST,
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            json!({"param_name": "select_query"}),
        );
    };
    let select = match parse_coql_at(&query) {
        Ok(select) => select,
        Err(at) => {
            return exception(
                StatusCode::BAD_REQUEST,
                "SYNTAX_ERROR",
                "error occurred while parsing the query",
                json!({"line": at.line, "column": at.column, "near": at.near}),
            );
        }
    };
    guard!(check_module(&select.module));
    let mut rows: Vec<Map<String, Value>> = sandbox
        .world()
        .crm
        .modules
        .get(&select.module)
        .map(|stored| {
            stored
                .iter()
                .filter(|s| {
                    select.conditions.is_empty()
                        || if select.any {
                            select.conditions.iter().any(|c| coql_matches(&s.record, c))
                        } else {
                            select.conditions.iter().all(|c| coql_matches(&s.record, c))
                        }
                })
                .map(|s| s.record.clone())
                .collect()
        })
        .unwrap_or_default();
    if let Some((field, asc)) = &select.order {
        rows.sort_by(|a, b| {
            let key =
                |r: &Map<String, Value>| r.get(field).map(Value::to_string).unwrap_or_default();
            let ordering = key(a).cmp(&key(b));
            if *asc { ordering } else { ordering.reverse() }
        });
    }
    let total = rows.len();
    let data: Vec<Value> = rows
        .into_iter()
        .skip(select.offset)
        .take(select.limit)
        .map(|r| project(&r, Some(&select.fields)))
        .collect();
    if data.is_empty() {
        return StatusCode::NO_CONTENT.into_response();
    }
    let more = total > select.offset + data.len();
    let count = data.len();
    (
        StatusCode::OK,
        axum::Json(json!({"data": data, "info": {"count": count, "more_records": more}})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_syntax_error_names_its_line_column_and_token() {
        let at = parse_coql_at(
            "select Last_Name from Contacts\nwhere Email = 'a@b.c' andd Last_Name = 'x'",
        )
        .unwrap_err();
        assert_eq!(
            at,
            SyntaxError {
                line: 2,
                column: 23,
                near: "andd".into()
            }
        );
        let at = parse_coql_at("select Last_Name, from Contacts").unwrap_err();
        assert_eq!((at.line, at.column, at.near.as_str()), (1, 19, "from"));
        assert!(parse_coql_at("select Email from Contacts where Email = 'x' limit 5").is_ok());
    }

    #[test]
    fn criteria_parse_into_conditions() {
        let (c, any) =
            parse_criteria("((Email:equals:a@b.c)and(Last_Name:starts_with:Sm))").unwrap();
        assert_eq!(c.len(), 2);
        assert!(!any);
        assert_eq!(c[0], ("Email".into(), "equals".into(), "a@b.c".into()));
        let (c, any) = parse_criteria("(Last_Name:equals:O\\(Brien\\))or(Email:equals:x)").unwrap();
        assert_eq!(c[0].2, "O(Brien)");
        assert!(any);
        assert!(parse_criteria("Email=x").is_none());
    }

    #[test]
    fn coql_subset_parses() {
        let s = parse_coql(
            "select Email, Last_Name from Contacts where Email = 'ada@example.com' and Last_Name like '%love%' order by Last_Name desc limit 5, 10",
        )
        .unwrap();
        assert_eq!(s.fields, vec!["Email", "Last_Name"]);
        assert_eq!(s.module, "Contacts");
        assert_eq!(s.conditions.len(), 2);
        assert_eq!((s.offset, s.limit), (5, 10));
        assert_eq!(s.order, Some(("Last_Name".into(), false)));
        let s = parse_coql(
            "select id from Accounts where Account_Name in ('A', 'B') or Phone is not null",
        )
        .unwrap();
        assert!(s.any);
        assert!(parse_coql("select from Contacts").is_none());
        assert!(parse_coql("delete from Contacts").is_none());
    }
}
