//! The paybridge binary's library: wiring the parts into a running application ([`app`]),
//! reading a deployment's configuration ([`config`]), setting up a Zoho connection ([`connect`]), the self-checking demonstration against
//! the built-in sandboxes ([`demo`]), the flow files' tooling ([`flows`]), the simulators on their own ([`sandbox`]), the credential
//! vault's commands and secret references ([`secrets`]), and logging ([`telemetry`]).

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
