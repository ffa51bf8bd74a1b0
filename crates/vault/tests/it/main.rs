//! The vault over a real store.

mod vault;
