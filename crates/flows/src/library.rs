//! The flow files an engine runs: the templates shipped in the binary, overridden or added to
//! by the files of a flows directory (`[flows] dir`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::catalogue::Catalogue;
use crate::compile::compile;
use crate::definition::{Definition, FlowError};

/// The shipped templates (`flows/` in the repository), compiled into the binary.
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "order-to-cash.yaml",
        include_str!("../../../flows/order-to-cash.yaml"),
    ),
    (
        "order-declined.yaml",
        include_str!("../../../flows/order-declined.yaml"),
    ),
    ("refund.yaml", include_str!("../../../flows/refund.yaml")),
    (
        "fraud-review.yaml",
        include_str!("../../../flows/fraud-review.yaml"),
    ),
    (
        "review-decided.yaml",
        include_str!("../../../flows/review-decided.yaml"),
    ),
    (
        "partial-authorization.yaml",
        include_str!("../../../flows/partial-authorization.yaml"),
    ),
    (
        "customer-sync.yaml",
        include_str!("../../../flows/customer-sync.yaml"),
    ),
    (
        "contact-to-tms.yaml",
        include_str!("../../../flows/contact-to-tms.yaml"),
    ),
];

/// Compiled flow files by name.
#[derive(Debug, Clone, Default)]
pub struct Library {
    flows: BTreeMap<String, Arc<Definition>>,
}

impl Library {
    /// No flow files at all.
    pub fn empty() -> Library {
        Library::default()
    }

    /// The shipped templates. They are tested to compile; one that did not would be a bug,
    /// reported and left out rather than taking the engine down.
    /// The shipped templates, compiled against `catalogue`.
    pub fn shipped(catalogue: &Catalogue) -> Library {
        let mut library = Library::empty();
        for (file, text) in SHIPPED {
            match compile(&format!("shipped:{file}"), text, catalogue) {
                Ok(flow) => library.insert(flow),
                Err(errors) => {
                    for error in errors {
                        tracing::error!(%error, "a shipped flow template does not compile");
                    }
                }
            }
        }
        library
    }

    /// The shipped templates, with the `*.yaml` files of `dir` replacing those of the same
    /// name and adding the others. Any file with a problem fails the whole load.
    pub fn load_dir(dir: &Path, catalogue: &Catalogue) -> Result<Library, Vec<FlowError>> {
        let mut library = Library::shipped(catalogue);
        let files = read_dir(dir)?;
        let mut errors = Vec::new();
        for (path, text) in files {
            match compile(&path, &text, catalogue) {
                Ok(flow) => library.insert(flow),
                Err(mut found) => errors.append(&mut found),
            }
        }
        if errors.is_empty() {
            Ok(library)
        } else {
            Err(errors)
        }
    }

    pub fn insert(&mut self, flow: Definition) {
        self.flows.insert(flow.name.clone(), Arc::new(flow));
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Definition>> {
        self.flows.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Definition>> {
        self.flows.values()
    }

    /// The flows an inbox event of this source and type starts.
    pub fn triggered_by(&self, source: &str, event_type: &str) -> Vec<String> {
        self.flows
            .values()
            .filter(|f| f.triggered_by(source, event_type))
            .map(|f| f.name.clone())
            .collect()
    }
}

/// The `*.yaml` / `*.yml` files of a directory, sorted by name.
pub fn read_dir(dir: &Path) -> Result<Vec<(String, String)>, Vec<FlowError>> {
    let problem = |message: String| {
        vec![FlowError {
            file: dir.display().to_string(),
            line: None,
            step: None,
            field: None,
            message,
        }]
    };
    let entries =
        std::fs::read_dir(dir).map_err(|e| problem(format!("cannot read the directory: {e}")))?;
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            std::fs::read_to_string(&path)
                .map(|text| (path.display().to_string(), text))
                .map_err(|e| problem(format!("cannot read {}: {e}", path.display())))
        })
        .collect()
}
