//! Engine integration tests: the store's contract, and the engine against the sandboxes over
//! HTTP (fault injection included).

mod actions;
mod alerts;
mod coordination;
mod customer_sync;
mod flows;
mod helpers;
mod orders;
mod refunds;
mod store;
mod sync;
mod vault;
