//! `[vault]` (where the master key comes from) and the secret references of every section: a
//! secret is named by the environment variable that holds it (`*_env`) or by its vault entry
//! (`*_vault`), never written in the file.

use anyhow::{Context as _, bail};
use paybridge_store::Clock;
use paybridge_store::Store;
use paybridge_vault::{KeySource, Vault};
use secrecy::SecretString;
use serde::Deserialize;
use std::path::PathBuf;

/// `[vault]`: where the master key comes from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultSection {
    /// The environment variable holding the master key (32 bytes in base64, or a passphrase
    /// of 16 characters or more).
    #[serde(default = "master_key_env")]
    pub key_env: String,
    /// A file holding the master key, read when the variable is not set.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// While rotating: the variable holding the key being retired.
    #[serde(default = "previous_key_env")]
    pub previous_key_env: String,
    /// While rotating: a file holding the key being retired.
    #[serde(default)]
    pub previous_key_file: Option<PathBuf>,
}

impl Default for VaultSection {
    fn default() -> VaultSection {
        VaultSection {
            key_env: master_key_env(),
            key_file: None,
            previous_key_env: previous_key_env(),
            previous_key_file: None,
        }
    }
}

fn master_key_env() -> String {
    "PAYBRIDGE_MASTER_KEY".into()
}

fn previous_key_env() -> String {
    "PAYBRIDGE_MASTER_KEY_PREVIOUS".into()
}

impl VaultSection {
    /// The master keys, when one is given (the admin API rotates secrets with them); a key
    /// that is given but unreadable is an error, not a quietly disabled rotation.
    pub fn keys(&self) -> anyhow::Result<Option<(KeySource, Vec<KeySource>)>> {
        if std::env::var_os(&self.key_env).is_none() && self.key_file.is_none() {
            return Ok(None);
        }
        Ok(Some((self.current_key()?, self.previous_keys()?)))
    }

    fn current_key(&self) -> anyhow::Result<KeySource> {
        if let Some(key) = KeySource::from_env(&self.key_env)
            .with_context(|| format!("vault: the master key in {}", self.key_env))?
        {
            return Ok(key);
        }
        match &self.key_file {
            Some(path) => Ok(KeySource::from_file(path).context("vault.key_file")?),
            None => bail!(
                "vault: no master key: set {} (paybridge vault init makes one) or vault.key_file",
                self.key_env
            ),
        }
    }

    fn previous_keys(&self) -> anyhow::Result<Vec<KeySource>> {
        let mut keys = Vec::new();
        if let Some(key) = KeySource::from_env(&self.previous_key_env).with_context(|| {
            format!(
                "vault: the previous master key in {}",
                self.previous_key_env
            )
        })? {
            keys.push(key);
        }
        if let Some(path) = &self.previous_key_file {
            keys.push(KeySource::from_file(path).context("vault.previous_key_file")?);
        }
        Ok(keys)
    }

    /// Opens the vault in `store` with the configured keys.
    pub async fn open(&self, store: &Store) -> anyhow::Result<Vault> {
        Ok(Vault::open(
            store.clone(),
            Clock::new(),
            self.current_key()?,
            self.previous_keys()?,
        )
        .await?)
    }
}

/// Where one secret comes from: `<key>_env` names an environment variable, `<key>_vault` a
/// vault entry. Exactly one is given.
#[derive(Debug, Clone, Copy)]
pub struct SecretRef<'a> {
    /// The configuration key, for messages (`cybersource.shared_secret`).
    pub key: &'a str,
    pub env: Option<&'a str>,
    pub vault: Option<&'a str>,
}

impl SecretRef<'_> {
    pub fn is_given(&self) -> bool {
        self.env.is_some() || self.vault.is_some()
    }

    /// The value, from wherever it is.
    pub async fn resolve(&self, vault: Option<&Vault>) -> anyhow::Result<SecretString> {
        let key = self.key;
        match (self.env, self.vault) {
            (Some(_), Some(_)) => bail!("{key}: give {key}_env or {key}_vault, not both"),
            (None, None) => {
                bail!("{key}: give {key}_env (a variable) or {key}_vault (a vault entry)")
            }
            (Some(variable), None) => match std::env::var(variable) {
                Ok(value) if !value.trim().is_empty() => {
                    Ok(SecretString::from(value.trim().to_string()))
                }
                Ok(_) => bail!("{key}_env: environment variable {variable} is empty"),
                Err(_) => bail!("{key}_env: environment variable {variable} is not set"),
            },
            (None, Some(name)) => {
                let vault = vault.with_context(|| format!("{key}_vault: the vault is not open"))?;
                vault
                    .require(name)
                    .await
                    .with_context(|| format!("{key}_vault"))
            }
        }
    }
}
