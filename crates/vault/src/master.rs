//! Master keys: given as 32 random bytes or as a passphrase stretched with Argon2id and the
//! store's own salt, and named by an id that is safe to show.

use std::fmt;

use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::RngExt as _;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::error::VaultError;
use crate::sealing::Key;

/// A master key and its id (the first 16 hex digits of a hash of it: safe to show).
pub struct MasterKey {
    pub(crate) id: String,
    pub(crate) key: Key,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// What a master key is given as, before the store's salt is known.
#[derive(Clone)]
pub enum KeySource {
    Raw(Zeroizing<[u8; 32]>),
    Passphrase(SecretString),
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeySource::Raw(_) => "KeySource::Raw(**REDACTED**)",
            KeySource::Passphrase(_) => "KeySource::Passphrase(**REDACTED**)",
        })
    }
}

impl KeySource {
    /// 32 bytes in base64, or else a passphrase of 16 characters or more.
    pub fn parse(value: &str) -> Result<KeySource, VaultError> {
        let value = value.trim();
        if let Ok(bytes) = BASE64.decode(value)
            && bytes.len() == 32
        {
            let mut key = Zeroizing::new([0u8; 32]);
            key.copy_from_slice(&bytes);
            return Ok(KeySource::Raw(key));
        }
        if value.chars().count() < 16 {
            return Err(VaultError::WeakKey);
        }
        Ok(KeySource::Passphrase(SecretString::from(value.to_string())))
    }

    /// From the environment variable `variable`.
    pub fn from_env(variable: &str) -> Result<Option<KeySource>, VaultError> {
        match std::env::var(variable) {
            Ok(value) if !value.trim().is_empty() => Ok(Some(KeySource::parse(&value)?)),
            _ => Ok(None),
        }
    }

    pub fn from_file(path: &std::path::Path) -> Result<KeySource, VaultError> {
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|e| VaultError::KeyFile {
                    path: path.display().to_string(),
                    error: e.to_string(),
                })?,
            );
        KeySource::parse(&text)
    }

    /// A fresh random key, as `paybridge vault init` prints it (base64).
    pub fn generate() -> (KeySource, SecretString) {
        let bytes: [u8; 32] = rand::rng().random();
        let text = SecretString::from(BASE64.encode(bytes));
        (KeySource::Raw(Zeroizing::new(bytes)), text)
    }

    pub(crate) fn derive(&self, salt: &[u8]) -> Result<MasterKey, VaultError> {
        let key = match self {
            KeySource::Raw(key) => key.clone(),
            KeySource::Passphrase(passphrase) => {
                // OWASP's Argon2id floor: 19 MiB, 2 passes.
                let params = Params::new(19 * 1024, 2, 1, Some(32))
                    .map_err(|e| VaultError::Derivation(e.to_string()))?;
                let mut key = Zeroizing::new([0u8; 32]);
                Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                    .hash_password_into(passphrase.expose_secret().as_bytes(), salt, key.as_mut())
                    .map_err(|e| VaultError::Derivation(e.to_string()))?;
                key
            }
        };
        let digest = Sha256::new()
            .chain_update(b"paybridge vault key id\0")
            .chain_update(key.as_ref())
            .finalize();
        Ok(MasterKey {
            id: hex::encode(&digest[..8]),
            key: Key::from_bytes(*key),
        })
    }
}
