//! Secrets at rest. [`sealing`] is the one place paybridge encrypts anything it keeps: the
//! vault's secrets and data keys, and the Zoho access token nodes share through the store.
//!
//! The credential vault: every secret (Cybersource shared secrets, webhook keys, Zoho client
//! secrets and refresh tokens, SMTP and Slack credentials) sealed at rest in the store.
//!
//! Envelope encryption: each secret is sealed with its own random data key (XChaCha20-Poly1305,
//! the secret's name as associated data), and the data key is wrapped with a master key named by
//! its id. The master key comes from `PAYBRIDGE_MASTER_KEY` or a key file: 32 bytes in base64,
//! or a passphrase (16 characters or more) stretched with Argon2id and the store's own salt.
//! Rotating the master key rewraps the data keys and never touches the secrets; while it runs,
//! secrets under either key read, so nothing stops.
//!
//! Values go in and come out as `SecretString`s and never print: listing shows names, key ids
//! and dates only.

pub mod error;
pub mod master;
pub mod sealing;
pub mod vault;

pub use error::VaultError;
pub use master::{KeySource, MasterKey};
pub use vault::{SecretInfo, Vault};
