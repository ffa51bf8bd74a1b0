//! The flow language: what a merchant writes to say what happens to an event.
//!
//! - [`definition`]: a flow file's schema (trigger, steps, mappings, error policies) and a
//!   compiled flow version; [`compile`] reads and checks a file against a [`Catalogue`] of
//!   the actions flows may name.
//! - [`spec`]: what the language knows of an action — fields, typed outputs, effect, how a lost
//!   answer is recovered — declared once per action; [`control`]: the language's own actions.
//! - [`mapping`]: the sandboxed expressions (rhai, with a fast path for plain reads) that map
//!   fields, with money, status and date built-ins.
//! - [`interpreter`]: runs a flow's steps over one event on a [`interpreter::Host`], which does
//!   every action with an effect exactly once per key.
//! - [`library`]: the flows a node runs, the shipped templates among them.
//! - [`edit`], [`preview`], [`view`]: editing one mapping in place, a run on paper, and what
//!   the console draws.
//!
//! It imports no vendor and no store: actions are named through the catalogue and run by the
//! host.

pub mod catalogue;
pub mod compile;
pub mod control;
pub mod definition;
pub mod edit;
pub mod interpreter;
pub mod library;
pub mod mapping;
pub mod preview;
pub mod spec;
pub mod suggest;
pub mod view;

pub use catalogue::Catalogue;
pub use compile::compile;
pub use definition::{Definition, FlowError, TriggerSource};
pub use library::Library;
pub use spec::ActionSpec;
