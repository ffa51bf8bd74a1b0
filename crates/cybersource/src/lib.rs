//! Cybersource REST client.
//!
//! - [`auth`]: the HTTP Signature scheme exactly as the official SDKs sign (reference §2.1).
//! - [`client`]: environments, the signed transport, timeouts and call accounting.
//! - [`payments`]: authorizations and sales (`POST /pts/v2/payments`) and their outcomes.
//! - [`error`]: failures classified for the engine (retry, look up, give up, fix the setup).
//!
//! Card numbers pass through this crate in memory only: they are held in [`secrecy`] types,
//! printed redacted and never logged.

pub mod auth;
pub mod client;
pub mod error;
pub mod payments;
mod vendor_enums;

pub use auth::{Credentials, Signer};
pub use client::{Client, ClientConfig, Environment};
pub use error::Error;
pub use payments::{PaymentRequest, PaymentResponse, PaymentStatus, Reason};
