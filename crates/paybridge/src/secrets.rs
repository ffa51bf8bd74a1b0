//! Where paybridge's secrets come from: the credential vault (sealed in the store, see
//! [`paybridge_vault`]) or the environment, and the `paybridge vault` commands.
//!
//! Values are write-only: `vault set` reads one from standard input, and nothing prints one.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use paybridge_vault::{KeySource, SecretInfo};
use secrecy::{ExposeSecret as _, SecretString};

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
            let (store, vault) = crate::config::FileConfig::load(config)?
                .open_store_and_vault()
                .await?;
            vault.set(&name, &value).await?;
            store.close().await;
            Ok(format!(
                "stored {name} (sealed under master key {})\n",
                vault.current_key_id()
            ))
        }
        VaultCommand::List { json } => {
            let (store, vault) = crate::config::FileConfig::load(config)?
                .open_store_and_vault()
                .await?;
            let secrets = vault.list().await?;
            store.close().await;
            Ok(if json {
                format!("{}\n", serde_json::to_string_pretty(&secrets)?)
            } else {
                list_table(&secrets, vault.current_key_id())
            })
        }
        VaultCommand::Delete { name } => {
            let (store, vault) = crate::config::FileConfig::load(config)?
                .open_store_and_vault()
                .await?;
            let deleted = vault.delete(&name).await?;
            store.close().await;
            if !deleted {
                bail!("no secret named {name:?} in the vault");
            }
            Ok(format!("deleted {name}\n"))
        }
        VaultCommand::Rotate => {
            let (store, vault) = crate::config::FileConfig::load(config)?
                .open_store_and_vault()
                .await?;
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
