//! Reading a crate's module graph from its source: every module file, and every path it names
//! to another module of the same crate (`use` lines and inline `crate::`/`super::`/`self::`
//! paths), outside `#[cfg(test)]` items. The tests in `tests/` hold the workspace to its
//! architecture with it: no import circles, crates that depend one way, files of a readable
//! size.

pub mod graph;
pub mod source;
pub mod workspace;
