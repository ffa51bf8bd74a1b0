//! No module of any crate imports, however indirectly, a module that imports it.

use paybridge_architecture::{graph, workspace};

#[test]
fn no_crate_has_an_import_circle() {
    let mut found = String::new();
    for krate in workspace::crates().unwrap() {
        let src = krate.dir.join("src");
        if !src.exists() {
            continue;
        }
        let graph = graph::of_crate(&src).unwrap();
        for circle in graph::circles(&graph) {
            found.push_str(&format!(
                "{}: {}",
                krate.name,
                graph::describe(&graph, &circle)
            ));
        }
    }
    assert!(found.is_empty(), "{found}");
}
