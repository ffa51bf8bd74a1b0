//! The runtime: where events become runs and runs are worked off.
//!
//! - [`Engine`] ([`engine`]): one handle on the store, the connections, the commerce services
//!   and the flows this node runs; [`ingress`]: events committed to the inbox with their runs.
//! - [`worker`]: leasing runs, executing them, retrying with backoff ([`retry`]),
//!   dead-lettering; what a run names is a flow file (run by the interpreter on [`host`]), one
//!   of the engine's [`services`] (commerce's reading of vendors' events, lost payments), or a
//!   [`jobs`] job (prune, Zoho token refresh, payment watchdog; the CRM channel keeper).
//! - [`schedule`] and [`scheduler`]: cron schedules, each firing run by exactly one node.
//! - [`dlq`]: runs and dead letters for operators: show, replay from the failed step, discard.
//! - [`deploy`]: flow versions recorded and deployed per environment, promoted, diffed.
//! - [`coordination`]: Zoho budgets, leases and the shared access token, kept in the store.
//! - [`alerts`]: dead letters and error spikes told to Slack and by e-mail, de-duplicated.
//! - [`tokens`]: admin API tokens with roles; [`console`]: console sessions and overview
//!   readings; [`health`]: each connection's last error and test.
//!
//! The promise: an event is committed to the inbox before it is acknowledged; every side effect
//! is a step with a deterministic key whose result is stored; a retried or re-delivered run
//! reuses finished steps and looks up effects whose outcome is unknown. So delivering every
//! event twice creates nothing twice.

pub mod alerts;
pub mod console;
pub mod coordination;
pub mod deploy;
mod dispatch;
pub mod dlq;
pub mod engine;
pub mod health;
mod host;
pub mod ingress;
pub mod jobs;
pub mod retry;
pub mod schedule;
mod scheduler;
pub mod services;
pub mod settings;
pub mod tokens;
pub mod worker;

pub use engine::Engine;
pub use ingress::{ManualError, manual_event};
pub use settings::EngineSettings;
pub use worker::Workers;
