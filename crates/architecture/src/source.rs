//! Rust source reduced to what names modules: comments, literals and test-only items blanked,
//! then the paths of `use` declarations and inline `crate::`/`super::`/`self::` paths.

/// `text` with comments and string, byte-string and char literals replaced by spaces (line
/// breaks kept, so line numbers still hold).
pub fn blank_comments_and_literals(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, from: &[u8]| {
        out.extend(from.iter().map(|&b| if b == b'\n' { b'\n' } else { b' ' }));
    };
    while i < bytes.len() {
        let rest = &bytes[i..];
        if rest.starts_with(b"//") {
            let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest.starts_with(b"/*") {
            let mut depth = 0;
            let mut j = 0;
            while j < rest.len() {
                if rest[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if rest[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, &rest[..j]);
            i += j;
        } else if let Some(len) = raw_string_len(bytes, i) {
            blank(&mut out, &bytes[i..i + len]);
            i += len;
        } else if rest[0] == b'"' {
            let mut j = 1;
            while j < rest.len() && rest[j] != b'"' {
                j += if rest[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest[0] == b'\'' {
            match char_literal_len(rest) {
                Some(len) => {
                    blank(&mut out, &rest[..len]);
                    i += len;
                }
                None => {
                    // A lifetime.
                    out.push(b'\'');
                    i += 1;
                }
            }
        } else {
            out.push(rest[0]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_default()
}

/// The length of a raw string literal (`r"…"`, `r#"…"#`, `br"…"`) starting at `at`.
fn raw_string_len(bytes: &[u8], at: usize) -> Option<usize> {
    if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
        return None;
    }
    let mut j = at;
    if bytes.get(j) == Some(&b'b') {
        j += 1;
    }
    if bytes.get(j) != Some(&b'r') {
        return None;
    }
    j += 1;
    let hashes = bytes[j..].iter().take_while(|&&b| b == b'#').count();
    j += hashes;
    if bytes.get(j) != Some(&b'"') {
        return None;
    }
    j += 1;
    let close: Vec<u8> = std::iter::once(b'"')
        .chain(std::iter::repeat_n(b'#', hashes))
        .collect();
    let end = bytes[j..]
        .windows(close.len())
        .position(|w| w == close.as_slice())?;
    Some(j + end + close.len() - at)
}

/// The length of a char literal at the start of `rest` (`'a'`, `'\n'`, `'\u{1F600}'`), or
/// `None` for a lifetime.
fn char_literal_len(rest: &[u8]) -> Option<usize> {
    if rest.get(1) == Some(&b'\\') {
        let close = rest[2..].iter().position(|&b| b == b'\'')?;
        return Some(close + 3);
    }
    let text = std::str::from_utf8(&rest[1..rest.len().min(6)])
        .ok()
        .or_else(|| {
            // A multi-byte char cut short at the window's end: take what is valid.
            let valid = std::str::from_utf8(&rest[1..]).err()?.valid_up_to();
            std::str::from_utf8(&rest[1..1 + valid]).ok()
        })?;
    let c = text.chars().next()?;
    let after = 1 + c.len_utf8();
    (rest.get(after) == Some(&b'\'')).then_some(after + 1)
}

/// `text` (already blanked) without the items marked `#[cfg(test)]`.
pub fn without_test_items(text: &str) -> String {
    let mut out = text.to_string();
    while let Some(at) = out.find("#[cfg(test)]") {
        let after = at + "#[cfg(test)]".len();
        let end = item_end(&out, after).unwrap_or(out.len());
        let blanked: String = out[at..end]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        out.replace_range(at..end, &blanked);
    }
    out
}

/// Where the item starting at or after `from` ends: after its `;` or its closing brace.
fn item_end(text: &str, from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    for (i, &b) in bytes.iter().enumerate().skip(from) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            b';' if depth == 0 => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// A path named in source: its segments (`crate`, `super`, `self` or a name first) and the
/// line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedPath {
    pub segments: Vec<String>,
    pub line: usize,
    /// Named in a `use` declaration (else inline).
    pub in_use: bool,
}

/// Every path of every `use` declaration in `text` (blanked), its groups expanded.
pub fn use_paths(text: &str) -> Vec<NamedPath> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    let mut search = 0;
    while let Some(offset) = text[search..].find("use") {
        let at = search + offset;
        search = at + 3;
        let before = text[..at].trim_end();
        let starts_item = before.is_empty()
            || before.ends_with(';')
            || before.ends_with('{')
            || before.ends_with('}')
            || before.ends_with(']')
            || before.ends_with("pub")
            || before.ends_with(')');
        let word_alone = (at == 0 || !is_ident(bytes[at - 1]))
            && bytes.get(at + 3).is_some_and(|b| b.is_ascii_whitespace());
        if !starts_item || !word_alone {
            continue;
        }
        let Some(end) = text[at..].find(';') else {
            break;
        };
        let tree: String = text[at + 3..at + end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let line = text[..at].matches('\n').count() + 1;
        for segments in expand(&tree, &[]) {
            found.push(NamedPath {
                segments,
                line,
                in_use: true,
            });
        }
        search = at + end;
    }
    found
}

/// A use tree (`a::{b, c::{d, e as f}}`, no whitespace) as its paths.
fn expand(tree: &str, prefix: &[String]) -> Vec<Vec<String>> {
    let tree = tree.trim_start_matches("::");
    match tree.find('{') {
        None => {
            let path = tree.split(" as ").next().unwrap_or(tree);
            let path = path.split("as").next().unwrap_or(path);
            let mut segments = prefix.to_vec();
            segments.extend(
                path.split("::")
                    .filter(|s| !s.is_empty() && *s != "*")
                    .map(str::to_string),
            );
            vec![segments]
        }
        Some(open) => {
            let head = &tree[..open];
            let mut base = prefix.to_vec();
            base.extend(
                head.split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
            );
            let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
            split_top_level(inner)
                .into_iter()
                .filter(|part| !part.is_empty())
                .flat_map(|part| {
                    if part == "self" {
                        vec![base.clone()]
                    } else {
                        expand(part, &base)
                    }
                })
                .collect()
        }
    }
}

/// `a, b::{c, d}, e` split at its top-level commas.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// Every inline path starting with `crate::`, `super::` or `self::` in `text` (blanked).
pub fn inline_paths(text: &str) -> Vec<NamedPath> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    for root in ["crate::", "super::", "self::"] {
        let mut search = 0;
        while let Some(offset) = text[search..].find(root) {
            let at = search + offset;
            search = at + root.len();
            if at > 0 && (is_ident(bytes[at - 1]) || bytes[at - 1] == b':') {
                continue;
            }
            let end = text[at..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .map_or(text.len(), |e| at + e);
            let segments: Vec<String> = text[at..end]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            found.push(NamedPath {
                segments,
                line: text[..at].matches('\n').count() + 1,
                in_use: false,
            });
        }
    }
    found
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_literals_are_blanked_and_lines_kept() {
        let text = "use a::b; // use c::d;\nlet s = \"crate::x\"; let r = r#\"super::y\"#;\n/* crate::z */ let c = '{'; fn f<'a>() {}\n";
        let blank = blank_comments_and_literals(text);
        assert!(!blank.contains("c::d") && !blank.contains("crate::x"));
        assert!(!blank.contains("super::y") && !blank.contains("crate::z"));
        assert!(blank.contains("fn f<'a>()"));
        assert_eq!(blank.lines().count(), text.lines().count());
    }

    #[test]
    fn use_trees_are_expanded_and_test_items_left_out() {
        let text = blank_comments_and_literals(
            "pub use crate::a::{B, c::{D, E as F}, self};\nuse super::g::H;\n#[cfg(test)]\nmod tests {\n    use crate::z::Q;\n}\n",
        );
        let text = without_test_items(&text);
        let paths: Vec<Vec<String>> = use_paths(&text).into_iter().map(|p| p.segments).collect();
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            paths,
            vec![
                s(&["crate", "a", "B"]),
                s(&["crate", "a", "c", "D"]),
                s(&["crate", "a", "c", "E"]),
                s(&["crate", "a"]),
                s(&["super", "g", "H"]),
            ]
        );
        let inline = inline_paths("let x = crate::m::f(); super::n::g();");
        assert_eq!(inline[0].segments, s(&["crate", "m", "f"]));
        assert_eq!(inline[1].segments, s(&["super", "n", "g"]));
    }
}
