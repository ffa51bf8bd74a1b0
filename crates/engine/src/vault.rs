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

use std::fmt;

use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::RngExt as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::clock::Clock;
use crate::store::{SealedSecret, Store, StoreError};

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

/// A master key and its id (the first 16 hex digits of a hash of it: safe to show).
pub struct MasterKey {
    id: String,
    key: Zeroizing<[u8; 32]>,
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

    fn derive(&self, salt: &[u8]) -> Result<MasterKey, VaultError> {
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
            key,
        })
    }
}

/// One secret as `vault list` shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SecretInfo {
    pub name: String,
    pub key_id: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// The vault over a store. Cheap to clone.
#[derive(Clone)]
pub struct Vault {
    store: Store,
    clock: Clock,
    /// The current key first, then keys still accepted for reading (rotation).
    keys: std::sync::Arc<Vec<MasterKey>>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("current_key", &self.keys.first().map(|k| &k.id))
            .finish_non_exhaustive()
    }
}

fn check_name(name: &str) -> Result<(), VaultError> {
    let ok = (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/' | b'-'))
        && name
            .split('/')
            .all(|segment| !segment.is_empty() && segment != "." && segment != "..");
    if ok {
        Ok(())
    } else {
        Err(VaultError::BadName(name.to_string()))
    }
}

fn seal(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(&Key::from(*key));
    let nonce_bytes: [u8; 24] = rand::rng().random();
    let nonce = XNonce::from(nonce_bytes);
    let ciphertext = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("encryption with a valid key cannot fail");
    let mut out = nonce_bytes.to_vec();
    out.extend_from_slice(&ciphertext);
    out
}

fn open(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if sealed.len() < 24 {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(24);
    let nonce = XNonce::try_from(nonce).ok()?;
    XChaCha20Poly1305::new(&Key::from(*key))
        .decrypt(
            &nonce,
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .ok()
        .map(Zeroizing::new)
}

fn wrap_aad(name: &str, key_id: &str) -> Vec<u8> {
    format!("paybridge vault data key\0{name}\0{key_id}").into_bytes()
}

fn seal_aad(name: &str) -> Vec<u8> {
    format!("paybridge vault secret\0{name}").into_bytes()
}

impl Vault {
    /// Opens the vault with the current key and any previous ones (for reading during a
    /// rotation).
    pub async fn open(
        store: Store,
        clock: Clock,
        current: KeySource,
        previous: Vec<KeySource>,
    ) -> Result<Vault, VaultError> {
        let fresh: [u8; 16] = rand::rng().random();
        let salt = store.vault_meta_or_insert("argon2id_salt", &fresh).await?;
        let mut keys = vec![current.derive(&salt)?];
        for key in previous {
            let key = key.derive(&salt)?;
            if keys.iter().all(|k| k.id != key.id) {
                keys.push(key);
            }
        }
        Ok(Vault {
            store,
            clock,
            keys: std::sync::Arc::new(keys),
        })
    }

    /// The id of the key new secrets are sealed under.
    pub fn current_key_id(&self) -> &str {
        &self.keys[0].id
    }

    fn key(&self, name: &str, key_id: &str) -> Result<&MasterKey, VaultError> {
        self.keys
            .iter()
            .find(|k| k.id == key_id)
            .ok_or_else(|| VaultError::UnknownKey {
                name: name.to_string(),
                key_id: key_id.to_string(),
            })
    }

    /// Stores (or replaces) a secret.
    pub async fn set(&self, name: &str, value: &SecretString) -> Result<(), VaultError> {
        check_name(name)?;
        let data_key = Zeroizing::new(rand::rng().random::<[u8; 32]>());
        let current = &self.keys[0];
        let secret = SealedSecret {
            name: name.to_string(),
            key_id: current.id.clone(),
            wrapped_key: seal(
                &current.key,
                &wrap_aad(name, &current.id),
                data_key.as_ref(),
            ),
            sealed: seal(&data_key, &seal_aad(name), value.expose_secret().as_bytes()),
            created_ms: 0,
            updated_ms: 0,
        };
        self.store.vault_put(&secret, self.clock.now_ms()).await?;
        tracing::info!(name, key_id = %current.id, "vault secret stored");
        Ok(())
    }

    /// A secret's value, if there is one by that name.
    pub async fn get(&self, name: &str) -> Result<Option<SecretString>, VaultError> {
        check_name(name)?;
        let Some(secret) = self.store.vault_get(name).await? else {
            return Ok(None);
        };
        let master = self.key(name, &secret.key_id)?;
        let data_key = open(
            &master.key,
            &wrap_aad(name, &secret.key_id),
            &secret.wrapped_key,
        )
        .ok_or_else(|| VaultError::Tampered(name.to_string()))?;
        let data_key: [u8; 32] = data_key
            .as_slice()
            .try_into()
            .map_err(|_| VaultError::Tampered(name.to_string()))?;
        let data_key = Zeroizing::new(data_key);
        let value = open(&data_key, &seal_aad(name), &secret.sealed)
            .ok_or_else(|| VaultError::Tampered(name.to_string()))?;
        let text = String::from_utf8(value.to_vec())
            .map_err(|_| VaultError::Tampered(name.to_string()))?;
        Ok(Some(SecretString::from(text)))
    }

    /// A secret that must be there.
    pub async fn require(&self, name: &str) -> Result<SecretString, VaultError> {
        self.get(name)
            .await?
            .ok_or_else(|| VaultError::Missing(name.to_string()))
    }

    /// Names, key ids and dates: never values.
    pub async fn list(&self) -> Result<Vec<SecretInfo>, VaultError> {
        Ok(self
            .store
            .vault_all()
            .await?
            .into_iter()
            .map(|s| SecretInfo {
                name: s.name,
                key_id: s.key_id,
                created_ms: s.created_ms,
                updated_ms: s.updated_ms,
            })
            .collect())
    }

    pub async fn delete(&self, name: &str) -> Result<bool, VaultError> {
        check_name(name)?;
        Ok(self.store.vault_delete(name).await?)
    }

    /// Rewraps every data key not under the current master key; returns how many moved.
    /// Secrets stay readable throughout: each is rewrapped in one write.
    pub async fn rotate(&self) -> Result<usize, VaultError> {
        let current = &self.keys[0];
        let mut moved = 0;
        for secret in self.store.vault_all().await? {
            if secret.key_id == current.id {
                continue;
            }
            let old = self.key(&secret.name, &secret.key_id)?;
            let data_key = open(
                &old.key,
                &wrap_aad(&secret.name, &secret.key_id),
                &secret.wrapped_key,
            )
            .ok_or_else(|| VaultError::Tampered(secret.name.clone()))?;
            let rewrapped = seal(
                &current.key,
                &wrap_aad(&secret.name, &current.id),
                &data_key,
            );
            if self
                .store
                .vault_rewrap(
                    &secret.name,
                    &secret.key_id,
                    &current.id,
                    &rewrapped,
                    self.clock.now_ms(),
                )
                .await?
            {
                moved += 1;
            }
        }
        tracing::info!(moved, key_id = %current.id, "vault rotated");
        Ok(moved)
    }
}
