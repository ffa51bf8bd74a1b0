//! A crate's module graph: which module names which other module of the same crate, and the
//! circles in it.
//!
//! A module is part of its ancestors (a child's use of its parent's items, or a parent's of its
//! children's, is containment, not an import between rooms): the edges that count are between
//! modules neither of which contains the other, and are seen between the sibling modules that
//! contain them. `crate::a::x` naming `crate::b::y` is `a` naming `b`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::source::{self, NamedPath};

/// A module of a crate, as a file.
#[derive(Debug, Clone)]
pub struct Module {
    /// `crate`, `store`, `sqlite::runs`.
    pub path: String,
    pub file: PathBuf,
}

/// Why one module depends on another: where it names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reference {
    pub file: PathBuf,
    pub line: usize,
    pub named: String,
}

/// Module `from` names module `to` (`reasons`: where).
pub type Graph = BTreeMap<String, BTreeMap<String, Vec<Reference>>>;

/// The module files under `src` (a crate's source directory): `lib.rs` is `crate`.
pub fn modules(src: &Path) -> std::io::Result<Vec<Module>> {
    let mut found = Vec::new();
    walk(src, src, &mut found)?;
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

fn walk(root: &Path, dir: &Path, found: &mut Vec<Module>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(root, &path, found)?;
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let relative = path.strip_prefix(root).unwrap_or(&path);
        let mut parts: Vec<String> = relative
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let file = parts.pop().unwrap_or_default();
        match file.as_str() {
            // The binary's root is a crate of its own; the library is what is checked.
            "main.rs" if parts.is_empty() => continue,
            "lib.rs" if parts.is_empty() => {}
            "mod.rs" => {}
            other => parts.push(other.trim_end_matches(".rs").to_string()),
        }
        let module = if parts.is_empty() {
            "crate".to_string()
        } else {
            parts.join("::")
        };
        found.push(Module {
            path: module,
            file: path,
        });
    }
    Ok(())
}

/// The module graph of the crate whose source is `src`.
pub fn of_crate(src: &Path) -> std::io::Result<Graph> {
    let modules = modules(src)?;
    let known: BTreeSet<&str> = modules.iter().map(|m| m.path.as_str()).collect();
    let mut graph = Graph::new();
    for module in &modules {
        let text = std::fs::read_to_string(&module.file)?;
        let text = source::without_test_items(&source::blank_comments_and_literals(&text));
        let mut named = source::use_paths(&text);
        named.extend(source::inline_paths(&text));
        let edges = graph.entry(module.path.clone()).or_default();
        for path in named {
            let Some(target) = resolve(&module.path, &path, &known) else {
                continue;
            };
            if target == module.path {
                continue;
            }
            edges.entry(target).or_default().push(Reference {
                file: module.file.clone(),
                line: path.line,
                named: path.segments.join("::"),
            });
        }
    }
    Ok(graph)
}

/// The module of this crate that `path`, named in module `from`, points into (the longest
/// prefix that is a module), if it is one of the crate's.
fn resolve(from: &str, path: &NamedPath, known: &BTreeSet<&str>) -> Option<String> {
    let here: Vec<&str> = if from == "crate" {
        Vec::new()
    } else {
        from.split("::").collect()
    };
    let mut segments = path.segments.iter().map(String::as_str).peekable();
    let mut absolute: Vec<&str> = match segments.peek().copied() {
        Some("crate") => {
            segments.next();
            Vec::new()
        }
        Some("self") => {
            segments.next();
            here.clone()
        }
        Some("super") => {
            let mut base = here.clone();
            while segments.peek() == Some(&"super") {
                segments.next();
                base.pop()?;
            }
            base
        }
        // A `use` of a child module by its bare name (`pub use store::Store;` in lib.rs).
        Some(first) if path.in_use => {
            let mut child = here.clone();
            child.push(first);
            if !known.contains(child.join("::").as_str()) {
                return None;
            }
            here.clone()
        }
        _ => return None,
    };
    absolute.extend(segments);
    (0..=absolute.len()).rev().find_map(|n| {
        let candidate = if n == 0 {
            "crate".to_string()
        } else {
            absolute[..n].join("::")
        };
        known.contains(candidate.as_str()).then_some(candidate)
    })
}

/// Whether module `outer` contains module `inner` (or is it).
fn contains(outer: &str, inner: &str) -> bool {
    outer == "crate"
        || outer == inner
        || inner
            .strip_prefix(outer)
            .is_some_and(|rest| rest.starts_with("::"))
}

/// The sibling modules that contain `from` and `to`, when neither contains the other.
fn siblings(from: &str, to: &str) -> Option<(String, String)> {
    if contains(from, to) || contains(to, from) {
        return None;
    }
    let a: Vec<&str> = from.split("::").collect();
    let b: Vec<&str> = to.split("::").collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    Some((a[..=common].join("::"), b[..=common].join("::")))
}

/// `graph` with every edge between modules neither of which contains the other, seen between
/// the sibling modules that contain them.
pub fn between_siblings(graph: &Graph) -> Graph {
    let mut lifted = Graph::new();
    for (from, edges) in graph {
        for (to, reasons) in edges {
            if let Some((a, b)) = siblings(from, to) {
                lifted
                    .entry(a)
                    .or_default()
                    .entry(b)
                    .or_default()
                    .extend(reasons.iter().cloned());
            }
        }
    }
    lifted
}

/// Every circle of sibling modules in `graph` (each as the modules in their order around it,
/// the first repeated at the end).
pub fn circles(graph: &Graph) -> Vec<Vec<String>> {
    let graph = &between_siblings(graph);
    let nodes: Vec<&String> = graph.keys().collect();
    let mut circles = Vec::new();
    let mut seen: BTreeSet<&String> = BTreeSet::new();
    for start in nodes {
        if seen.contains(start) {
            continue;
        }
        if let Some(circle) = shortest_circle(graph, start) {
            for node in &circle {
                seen.insert(graph.get_key_value(node).map(|(k, _)| k).unwrap_or(start));
            }
            circles.push(circle);
        }
    }
    circles
}

/// The shortest path from `start` back to itself, if there is one (breadth first).
fn shortest_circle(graph: &Graph, start: &String) -> Option<Vec<String>> {
    let mut previous: BTreeMap<&String, &String> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for next in graph.get(node).into_iter().flat_map(|e| e.keys()) {
            if next == start {
                let mut path = vec![start.clone()];
                let mut at = node;
                let mut back = vec![node.clone()];
                while at != start {
                    at = previous[at];
                    back.push(at.clone());
                }
                back.pop();
                back.reverse();
                path.extend(back);
                path.push(start.clone());
                return Some(path);
            }
            if next != start && !previous.contains_key(next) {
                previous.insert(next, node);
                queue.push_back(next);
            }
        }
    }
    None
}

/// A circle in words, with where each module names the next.
pub fn describe(graph: &Graph, circle: &[String]) -> String {
    let graph = &between_siblings(graph);
    let mut text = format!("import circle: {}\n", circle.join(" → "));
    for pair in circle.windows(2) {
        if let Some(reference) = graph
            .get(&pair[0])
            .and_then(|edges| edges.get(&pair[1]))
            .and_then(|reasons| reasons.first())
        {
            text.push_str(&format!(
                "  {} names {} ({}:{}: {})\n",
                pair[0],
                pair[1],
                reference.file.display(),
                reference.line,
                reference.named
            ));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crate_of(files: &[(&str, &str)]) -> tempdir::Dir {
        let dir = tempdir::Dir::new();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    /// A directory removed when dropped (no dependency for one test).
    mod tempdir {
        pub struct Dir(std::path::PathBuf);

        impl Dir {
            pub fn new() -> Dir {
                use std::sync::atomic::{AtomicU32, Ordering};
                static N: AtomicU32 = AtomicU32::new(0);
                let path = std::env::temp_dir().join(format!(
                    "paybridge-architecture-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&path).unwrap();
                Dir(path)
            }

            pub fn path(&self) -> &std::path::Path {
                &self.0
            }
        }

        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn a_circle_is_found_and_named_with_where() {
        let dir = crate_of(&[
            ("lib.rs", "mod a;\nmod b;\nmod c;\npub use a::A;\n"),
            ("a.rs", "use crate::b::B;\npub struct A;\n"),
            ("b/mod.rs", "mod inner;\npub struct B(super::c::C);\n"),
            ("b/inner.rs", "use super::B;\n"),
            (
                "c.rs",
                "pub struct C;\nfn f() { let _ = crate::a::A; }\n#[cfg(test)]\nmod tests { use crate::b::B; }\n",
            ),
        ]);
        let graph = of_crate(dir.path()).unwrap();
        assert_eq!(
            graph["crate"].keys().collect::<Vec<_>>(),
            vec!["a"],
            "a re-export names its module"
        );
        assert!(graph["b::inner"].contains_key("b"));
        assert!(!graph["c"].contains_key("b"), "test items are left out");
        assert!(
            !between_siblings(&graph).contains_key("b::inner"),
            "a child naming its parent is part of it"
        );
        let circles = circles(&graph);
        assert_eq!(circles, vec![vec!["a", "b", "c", "a"]]);
        let text = describe(&graph, &circles[0]);
        assert!(text.contains("import circle: a → b → c → a"), "{text}");
        assert!(
            text.contains("b names c") && text.contains("mod.rs:2: super::c::C"),
            "{text}"
        );
    }

    #[test]
    fn a_graph_without_circles_has_none() {
        let dir = crate_of(&[
            (
                "lib.rs",
                "mod a;\nmod b;\npub use a::A;\npub use b::B;\npub struct Root;\n",
            ),
            ("a.rs", "use crate::b::B;\npub struct A(B);\n"),
            ("b.rs", "pub struct B(crate::Root);\n"),
            ("b/deep.rs", "use crate::Root;\nuse super::B;\n"),
        ]);
        assert!(circles(&of_crate(dir.path()).unwrap()).is_empty());
    }
}
