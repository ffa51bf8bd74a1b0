//! How the vault fails.

use paybridge_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(
        "no master key: set PAYBRIDGE_MASTER_KEY (32 bytes in base64, or a passphrase of 16 characters or more) or name a key file"
    )]
    NoKey,
    #[error(
        "the master key is too weak: give 32 bytes in base64 or a passphrase of 16 characters or more"
    )]
    WeakKey,
    #[error("cannot read the master key file {path}: {error}")]
    KeyFile { path: String, error: String },
    #[error(
        "secret {name:?} is sealed with master key {key_id}, which is not given (set the previous key too while rotating)"
    )]
    UnknownKey { name: String, key_id: String },
    #[error("secret {0:?} does not open: the store was altered or the key is wrong")]
    Tampered(String),
    #[error("a secret name is 1 to 128 letters, digits and . _ - in /-separated parts, not {0:?}")]
    BadName(String),
    #[error("no secret named {0:?} in the vault")]
    Missing(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot derive the master key: {0}")]
    Derivation(String),
}
