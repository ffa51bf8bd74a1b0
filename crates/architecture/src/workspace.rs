//! The workspace: its crates, their sources and the paybridge crates each depends on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The workspace's root (this crate lives in `crates/architecture`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// One of the workspace's crates.
#[derive(Debug, Clone)]
pub struct Crate {
    /// Its package name (`paybridge-store`).
    pub name: String,
    pub dir: PathBuf,
    /// The paybridge crates it depends on (not for its tests alone).
    pub depends_on: Vec<String>,
}

/// Every crate under `crates/`.
pub fn crates() -> std::io::Result<Vec<Crate>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(root().join("crates"))? {
        let dir = entry?.path();
        let manifest = dir.join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let value: toml::Table = text
            .parse()
            .map_err(|e| std::io::Error::other(format!("{}: {e}", manifest.display())))?;
        let name = value
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(toml::Value::as_str)
            .unwrap_or_default()
            .to_string();
        let depends_on = value
            .get("dependencies")
            .and_then(toml::Value::as_table)
            .map(|deps| {
                deps.keys()
                    .filter(|k| k.starts_with("paybridge-"))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        found.push(Crate {
            name,
            dir,
            depends_on,
        });
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// Every `.rs` file under `dir`, with its line count.
pub fn rust_files(dir: &Path) -> std::io::Result<BTreeMap<PathBuf, usize>> {
    let mut found = BTreeMap::new();
    if !dir.exists() {
        return Ok(found);
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            found.extend(rust_files(&path)?);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let lines = std::fs::read_to_string(&path)?.lines().count();
            found.insert(path, lines);
        }
    }
    Ok(found)
}
