//! `[store]`: where the data lives (SQLite file or PostgreSQL).

use crate::app::StoreLocation;
use anyhow::bail;
use secrecy::SecretString;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// The SQLite database file (one node)…
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// …or the environment variable holding a PostgreSQL URL (`postgres://user:password@host/db`),
    /// for any number of nodes on one database.
    #[serde(default)]
    pub postgres_url_env: Option<String>,
    /// The PostgreSQL schema to work in (created if missing; default: the URL's search path).
    #[serde(default)]
    pub postgres_schema: Option<String>,
}

impl StoreSection {
    pub fn location(&self) -> anyhow::Result<StoreLocation> {
        match (&self.path, &self.postgres_url_env) {
            (Some(path), None) => {
                if self.postgres_schema.is_some() {
                    bail!("store.postgres_schema goes with store.postgres_url_env, not store.path");
                }
                Ok(StoreLocation::Sqlite(path.clone()))
            }
            (None, Some(variable)) => {
                let url = match std::env::var(variable) {
                    Ok(url) if !url.trim().is_empty() => url.trim().to_string(),
                    _ => {
                        bail!("store.postgres_url_env: environment variable {variable} is not set")
                    }
                };
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    bail!("store.postgres_url_env: {variable} must hold a postgres:// URL");
                }
                Ok(StoreLocation::Postgres {
                    url: SecretString::from(url),
                    schema: self.postgres_schema.clone(),
                })
            }
            (Some(_), Some(_)) => bail!("store: give path (SQLite) or postgres_url_env, not both"),
            (None, None) => bail!("store: give path (SQLite) or postgres_url_env (PostgreSQL)"),
        }
    }
}
