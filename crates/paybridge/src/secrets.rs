//! Where paybridge's secrets come from: the credential vault (sealed in the store, see
//! [`paybridge_vault`]) or the environment, and the `paybridge vault` commands.
//!
//! Values are write-only: `vault set` reads one from standard input, and nothing prints one.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use paybridge_store::{Clock, Store};
use paybridge_vault::{KeySource, SecretInfo, Vault};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

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

/// The part of `paybridge.toml` the vault commands need: the store and `[vault]`.
#[derive(Debug, Deserialize)]
struct VaultFile {
    store: crate::config::StoreSection,
    #[serde(default)]
    vault: VaultSection,
}

fn load_vault_file(config: &Path) -> anyhow::Result<VaultFile> {
    let text =
        std::fs::read_to_string(config).with_context(|| format!("reading {}", config.display()))?;
    toml::from_str(&text).with_context(|| format!("{}: [store] or [vault]", config.display()))
}

/// Opens the store a configuration names (only `[store]` is read).
pub async fn open_configured_store(config: &Path) -> anyhow::Result<Store> {
    open_store(&load_vault_file(config)?.store.location()?).await
}

/// Opens the store a configuration names, and its vault.
pub async fn open_configured(config: &Path) -> anyhow::Result<(Store, Vault)> {
    let file = load_vault_file(config)?;
    let store = open_store(&file.store.location()?).await?;
    let vault = file.vault.open(&store).await?;
    Ok((store, vault))
}

/// Opens (creating if needed) the store, SQLite or PostgreSQL.
pub async fn open_store(location: &crate::config::StoreLocation) -> anyhow::Result<Store> {
    match location {
        crate::config::StoreLocation::Sqlite(path) => {
            if let Some(dir) = path.parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            Store::open_sqlite(path)
                .await
                .with_context(|| format!("opening the store at {}", path.display()))
        }
        crate::config::StoreLocation::Postgres { url, schema } => {
            // sqlx's errors do not repeat the URL, so the password stays out of them.
            Store::open_postgres(url.expose_secret(), schema.as_deref())
                .await
                .context("opening the PostgreSQL store")
        }
    }
}

/// `paybridge vault …`.
#[derive(Debug, Clone)]
pub enum VaultCommand {
    /// Make a master key: into `key_file` (created, owner-only) or printed.
    Init {
        key_file: Option<PathBuf>,
    },
    /// Store the value read from standard input under `name`.
    Set {
        name: String,
    },
    List {
        json: bool,
    },
    Delete {
        name: String,
    },
    /// Rewrap every secret under the current key.
    Rotate,
}

/// Runs a vault command; returns what to print.
pub async fn run(config: &Path, command: VaultCommand) -> anyhow::Result<String> {
    match command {
        VaultCommand::Init { key_file } => init(key_file),
        VaultCommand::Set { name } => {
            let mut value = String::new();
            std::io::stdin()
                .read_to_string(&mut value)
                .context("reading the secret from standard input")?;
            let value = SecretString::from(value.trim_end_matches(['\r', '\n']).to_string());
            if value.expose_secret().trim().is_empty() {
                bail!("the secret is empty: pipe its value into standard input");
            }
            let (store, vault) = open_configured(config).await?;
            vault.set(&name, &value).await?;
            store.close().await;
            Ok(format!(
                "stored {name} (sealed under master key {})\n",
                vault.current_key_id()
            ))
        }
        VaultCommand::List { json } => {
            let (store, vault) = open_configured(config).await?;
            let secrets = vault.list().await?;
            store.close().await;
            Ok(if json {
                format!("{}\n", serde_json::to_string_pretty(&secrets)?)
            } else {
                list_table(&secrets, vault.current_key_id())
            })
        }
        VaultCommand::Delete { name } => {
            let (store, vault) = open_configured(config).await?;
            let deleted = vault.delete(&name).await?;
            store.close().await;
            if !deleted {
                bail!("no secret named {name:?} in the vault");
            }
            Ok(format!("deleted {name}\n"))
        }
        VaultCommand::Rotate => {
            let (store, vault) = open_configured(config).await?;
            let moved = vault.rotate().await?;
            store.close().await;
            Ok(format!(
                "{moved} secret(s) rewrapped under master key {}; every secret is now under it, \
                 so the previous key can be retired\n",
                vault.current_key_id()
            ))
        }
    }
}

fn init(key_file: Option<PathBuf>) -> anyhow::Result<String> {
    let (_, text) = KeySource::generate();
    match key_file {
        Some(path) => {
            write_new_private_file(&path, text.expose_secret())?;
            Ok(format!(
                "wrote a new master key to {} (readable by its owner only); name it in \
                 [vault] key_file, and keep a copy somewhere safe: without it the vault does \
                 not open\n",
                path.display()
            ))
        }
        None => Ok(format!(
            "A new master key. Give it to paybridge as PAYBRIDGE_MASTER_KEY (or in a file named \
             by [vault] key_file), and keep a copy somewhere safe: without it the vault does not \
             open.\n\n{}\n",
            text.expose_secret()
        )),
    }
}

fn write_new_private_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| {
        format!(
            "creating {} (an existing key file is never overwritten)",
            path.display()
        )
    })?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .with_context(|| format!("writing {}", path.display()))
}

fn list_table(secrets: &[SecretInfo], current: &str) -> String {
    if secrets.is_empty() {
        return "the vault is empty\n".into();
    }
    let width = secrets
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = format!("{:width$}  {:16}  UPDATED\n", "NAME", "MASTER KEY");
    for secret in secrets {
        let marker = if secret.key_id == current {
            ""
        } else {
            " (previous key: run vault rotate)"
        };
        out.push_str(&format!(
            "{:width$}  {:16}  {}{marker}\n",
            secret.name,
            secret.key_id,
            format_ms(secret.updated_ms)
        ));
    }
    out
}

pub(crate) fn format_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}
