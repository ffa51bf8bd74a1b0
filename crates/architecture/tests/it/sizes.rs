//! Each file can be read in a sitting: one over 800 lines says why at its top.

use paybridge_architecture::workspace;

/// Longer than this, a file says why in its first lines.
const LONG: usize = 800;

/// The mark of a file that says why it is long: `//! Long because …` (or `// Long because …`).
fn says_why(text: &str) -> bool {
    text.lines().take(5).any(|line| {
        line.trim_start_matches('/')
            .trim_start_matches('!')
            .trim()
            .starts_with("Long because")
    })
}

#[test]
fn long_files_say_why() {
    let mut long = Vec::new();
    for krate in workspace::crates().unwrap() {
        for (path, lines) in workspace::rust_files(&krate.dir).unwrap() {
            if lines <= LONG {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            if !says_why(&text) {
                long.push(format!(
                    "{} has {lines} lines: split it by what it does, or say why at its top (\"//! Long because …\")",
                    path.strip_prefix(workspace::root()).unwrap_or(&path).display()
                ));
            }
        }
    }
    assert!(long.is_empty(), "{}", long.join("\n"));
}
