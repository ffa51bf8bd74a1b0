//! The catalogue: every action flows may name — the language's own and the connected
//! products' — by name.

use std::collections::BTreeMap;

use crate::spec::ActionSpec;

/// The actions flows may name: the language's own and those of the connected products.
#[derive(Debug, Clone)]
pub struct Catalogue {
    actions: BTreeMap<&'static str, &'static ActionSpec>,
}

impl Catalogue {
    /// The language's own actions and `more`. A name given twice keeps its last action.
    pub fn with(more: impl IntoIterator<Item = &'static ActionSpec>) -> Catalogue {
        let mut actions: BTreeMap<_, _> = crate::control::ACTIONS
            .iter()
            .map(|a| (a.name, *a))
            .collect();
        for action in more {
            actions.insert(action.name, action);
        }
        Catalogue { actions }
    }

    /// The language's own actions only (map, check, branch, lookup).
    pub fn control() -> Catalogue {
        Catalogue::with([])
    }

    pub fn get(&self, name: &str) -> Option<&'static ActionSpec> {
        self.actions.get(name).copied()
    }

    /// Every action, by name.
    pub fn iter(&self) -> impl Iterator<Item = &'static ActionSpec> + '_ {
        self.actions.values().copied()
    }

    /// The action whose name is nearest a mistyped one.
    pub fn closest(&self, name: &str) -> Option<&'static str> {
        crate::suggest::closest(name, self.actions.keys().copied())
    }
}
