//! `paybridge.toml`: a deployment's configuration for `paybridge serve`.
//!
//! Secrets are never written in the file: each is named either by the environment variable that
//! holds it (`*_env` keys) or by its entry in the credential vault (`*_vault` keys; see
//! [`crate::secrets`]). A Zoho connection set up with `paybridge connect zoho --config` is named
//! by `zoho.connection` and brings its accounts server, `api_domain`, client id and secrets.
//! Unknown keys are refused, and every error names the key at fault.
//!
//! - [`file`]: the file as written, read whole by one loader ([`FileConfig::load`]); each
//!   command uses the sections it needs.
//! - sections: [`store`], [`cybersource`], [`zoho`], [`orders`], [`alerts`] (and customer e-mail), [`http`],
//!   [`vault`] (and secret references), and [`connection`] (a Zoho connection kept in the store).
//! - [`resolve`]: secrets read and settings checked, into what `paybridge serve` runs.

pub mod alerts;
pub mod connection;
pub mod cybersource;
pub mod file;
pub mod http;
pub mod orders;
pub mod resolve;
pub mod store;
#[cfg(test)]
mod tests;
pub mod vault;
pub mod zoho;

pub use file::FileConfig;
pub use store::StoreSection;
