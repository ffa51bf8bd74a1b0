//! Local simulators of the systems paybridge connects, for tests and `paybridge demo`.
//!
//! - [`cybersource`]: the Cybersource REST API — HTTP Signature verification exactly as the
//!   service does it, payments with the test environment's magic amounts, and its error bodies.
//! - [`zoho`]: Zoho Accounts (OAuth refresh grant, with Zoho's limits) and Zoho Books contacts,
//!   invoices and customer payments with real state and Zoho's rules and error codes.
//! - [`storefront`]: a shop that places orders through paybridge's order API.
//! - [`faults`]: deterministic fault injection shared by the simulators.
//! - [`mail`]: an SMTP sink that keeps what it is sent (alerts, e-mails to customers).
//! - [`server`]: binding a simulator to a loopback port and shutting it down.
//!
//! Every simulator is written from `reference/` (the vendors' documented contracts) and shares
//! no types with the connectors, so that it catches their mistakes instead of repeating them.
//! Each has a control API under `/__sandbox/` for tests and the demo.

pub mod cybersource;
pub mod faults;
pub mod mail;
pub mod server;
pub mod storefront;
pub mod zoho;

mod ids;
