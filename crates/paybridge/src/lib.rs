//! The paybridge binary's library.
//!
//! - [`config`]: `paybridge.toml`, read whole by one loader, a module per section, and resolved
//!   (secrets read, settings checked) into what `serve` runs.
//! - [`app`]: the wiring: the store, the vault, the connections, the engine and its workers, and
//!   the HTTP server, started and stopped together.
//! - The commands: [`connect`] (a Zoho connection), [`flows`] (flow files: validate, test,
//!   deploy, promote), [`runs`] (runs and dead letters, pruning), [`secrets`] (the vault),
//!   [`tokens`] (admin API tokens), [`sandbox`] (the simulators on their own), and [`demo`] (the
//!   whole product against the built-in sandboxes, checking its own result).
//! - Logging: [`telemetry`].

pub mod app;
pub mod config;
pub mod connect;
pub mod demo;
pub mod flows;
pub mod runs;
pub mod sandbox;
pub mod secrets;
pub mod telemetry;
pub mod tokens;
