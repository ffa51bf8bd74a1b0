//! Crates depend one way (ARCHITECTURE.md's map), and the invariants that keep parts honest:
//! the sandbox imports no connector, the flow language no vendor and no store, the server no
//! store trait.

use std::collections::BTreeMap;

use paybridge_architecture::workspace;

/// Which paybridge crates each crate may depend on (for more than its tests).
const MAY_DEPEND_ON: &[(&str, &[&str])] = &[
    ("paybridge-model", &[]),
    ("paybridge-store", &["paybridge-model"]),
    ("paybridge-vault", &["paybridge-store"]),
    ("paybridge-cybersource", &["paybridge-model"]),
    ("paybridge-zoho", &["paybridge-model"]),
    ("paybridge-flows", &["paybridge-model"]),
    (
        "paybridge-commerce",
        &[
            "paybridge-model",
            "paybridge-store",
            "paybridge-cybersource",
            "paybridge-zoho",
        ],
    ),
    (
        "paybridge-actions",
        &[
            "paybridge-model",
            "paybridge-store",
            "paybridge-flows",
            "paybridge-commerce",
            "paybridge-cybersource",
            "paybridge-zoho",
        ],
    ),
    (
        "paybridge-engine",
        &[
            "paybridge-model",
            "paybridge-store",
            "paybridge-vault",
            "paybridge-flows",
            "paybridge-commerce",
            "paybridge-actions",
            "paybridge-cybersource",
            "paybridge-zoho",
        ],
    ),
    (
        "paybridge-server",
        &[
            "paybridge-model",
            "paybridge-store",
            "paybridge-vault",
            "paybridge-flows",
            "paybridge-commerce",
            "paybridge-actions",
            "paybridge-engine",
            "paybridge-cybersource",
            "paybridge-zoho",
        ],
    ),
    (
        "paybridge",
        &[
            "paybridge-model",
            "paybridge-store",
            "paybridge-vault",
            "paybridge-flows",
            "paybridge-commerce",
            "paybridge-actions",
            "paybridge-engine",
            "paybridge-cybersource",
            "paybridge-zoho",
            "paybridge-sandbox",
            "paybridge-server",
        ],
    ),
    // Written from the vendors' contracts, never from the connectors.
    ("paybridge-sandbox", &["paybridge-model"]),
    ("paybridge-architecture", &[]),
];

#[test]
fn crates_depend_only_on_the_crates_below_them() {
    let allowed: BTreeMap<&str, &[&str]> = MAY_DEPEND_ON.iter().copied().collect();
    let mut wrong = Vec::new();
    for krate in workspace::crates().unwrap() {
        let Some(may) = allowed.get(krate.name.as_str()) else {
            wrong.push(format!(
                "{} is not on the map: add it to ARCHITECTURE.md and to MAY_DEPEND_ON",
                krate.name
            ));
            continue;
        };
        for dependency in &krate.depends_on {
            if !may.contains(&dependency.as_str()) {
                wrong.push(format!("{} depends on {dependency}", krate.name));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The lines of `crate_dir`'s sources (not its tests) that name any of `names`.
fn naming(crate_dir: &str, names: &[&str]) -> Vec<String> {
    let dir = workspace::root().join("crates").join(crate_dir).join("src");
    let mut lines = Vec::new();
    for path in workspace::rust_files(&dir).unwrap().keys() {
        let text = std::fs::read_to_string(path).unwrap();
        for (n, line) in text.lines().enumerate() {
            if names.iter().any(|name| line.contains(name)) {
                lines.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    lines
}

#[test]
fn the_flow_language_names_no_vendor_and_no_store() {
    let found = naming(
        "flows",
        &[
            "paybridge_cybersource",
            "paybridge_zoho",
            "paybridge_store",
            "sqlx",
            "rusqlite",
        ],
    );
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_sandbox_names_no_connector() {
    let found = naming("sandbox", &["paybridge_cybersource", "paybridge_zoho"]);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_server_goes_through_the_engines_services_not_the_store() {
    // Without a store trait in scope, no store method can be called.
    let traits = [
        "InboxStore",
        "RunStore",
        "OrderStore",
        "XrefStore",
        "FlowStore",
        "AuthStore",
        "CoordinationStore",
        ".store()",
    ];
    let found = naming("server", &traits);
    assert!(found.is_empty(), "{}", found.join("\n"));
}
