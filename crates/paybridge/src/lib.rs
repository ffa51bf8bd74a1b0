//! The paybridge binary's library: wiring the parts into a running application ([`app`]),
//! reading a deployment's configuration ([`config`]), the self-checking demonstration against
//! the built-in sandboxes ([`demo`]), the simulators on their own ([`sandbox`]), and logging
//! ([`telemetry`]).

pub mod app;
pub mod config;
pub mod demo;
pub mod sandbox;
pub mod telemetry;
