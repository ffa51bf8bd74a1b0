//! The vault over the store: each secret sealed with its own data key, the data key wrapped with
//! the master key; rotation rewraps data keys and never touches the secrets.

use std::fmt;

use paybridge_store::{AuthStore as _, Clock, SealedSecret, Store};
use rand::RngExt as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Serialize;

use crate::error::VaultError;
use crate::master::{KeySource, MasterKey};
use crate::sealing::{Key, open, seal};

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
        let data_key = Key::random();
        let current = &self.keys[0];
        let secret = SealedSecret {
            name: name.to_string(),
            key_id: current.id.clone(),
            wrapped_key: seal(&current.key, &wrap_aad(name, &current.id), data_key.bytes()),
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
        let data_key =
            Key::from_slice(&data_key).ok_or_else(|| VaultError::Tampered(name.to_string()))?;
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
