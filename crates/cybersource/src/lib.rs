//! Cybersource REST client.
//!
//! - [`auth`]: the HTTP Signature scheme exactly as the official SDKs sign (reference §2.1).
//! - [`client`]: environments, the signed transport, timeouts and call accounting.
//! - [`payments`]: authorizations and sales (`POST /pts/v2/payments`) and their outcomes.
//! - [`captures`], [`refunds`] (and credits), [`voids`], [`reversals`]: follow-on transactions,
//!   with the timeout void and timeout reversal; [`followon`]: what they answer.
//! - [`reports`]: report downloads parsed into typed rows (Payment Batch Detail CSV, Transaction
//!   Request XML), purchase-refund details and net funding.
//! - [`risk`]: Decision Manager — decisions, case actions and comments.
//! - [`resolution`]: finding or cancelling a request whose answer never came (§4.3).
//! - [`search`]: Transaction Search — details by id, searches by merchant reference and time.
//! - [`tms`]: Token Management — customers, payment instruments, shipping addresses, instrument
//!   identifiers, with `if-match` on updates.
//! - [`webhooks`]: verifying deliveries (`v-c-signature`), typed events, keys and subscriptions.
//! - [`error`]: failures classified for the engine (retry, look up, give up, fix the setup).
//! - [`wire`]: the wire types every API shares (merchant reference, bill-to, error information).
//!
//! Card numbers pass through this crate in memory only: they are held in [`secrecy`] types,
//! printed redacted and never logged.

pub mod auth;
pub mod captures;
pub mod client;
pub mod error;
pub mod followon;
pub mod payments;
pub mod refunds;
pub mod reports;
pub mod resolution;
pub mod reversals;
pub mod risk;
pub mod search;
pub mod tms;
mod vendor_enums;
pub mod voids;
pub mod webhooks;
pub mod wire;

pub use auth::{Credentials, Signer};
pub use client::{Client, ClientConfig, Environment};
pub use error::Error;
pub use payments::{PaymentRequest, PaymentResponse, PaymentStatus, Reason};
