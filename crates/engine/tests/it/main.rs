//! Engine integration tests: the engine against the sandboxes over HTTP (fault injection
//! included). The store's own contract is in the store crate's conformance suite.

mod actions;
mod alerts;
mod coordination;
mod customer_sync;
mod flows;
mod helpers;
mod holds;
mod orders;
mod refunds;
mod sync;
