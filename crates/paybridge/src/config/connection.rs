//! A Zoho connection kept in the store (`zoho.connection`): settings in the store's
//! `connections`, secrets in the vault — as `paybridge connect zoho --config` stored it.

use anyhow::{Context as _, bail};
use paybridge_store::{AuthStore as _, Clock, ConnectionRecord, Store};
use paybridge_vault::Vault;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

/// A Zoho connection as `connect zoho` stored it: settings in the store's `connections`
/// (`zoho/<name>`), secrets in the vault (`zoho/<name>/client_secret`, `…/refresh_token`).
#[derive(Debug, Clone)]
pub struct StoredZohoConnection {
    pub accounts_url: Url,
    pub api_domain: Url,
    pub client_id: String,
    pub client_secret: SecretString,
    pub refresh_token: SecretString,
}

#[derive(Debug, Serialize, Deserialize)]
struct ZohoSettings {
    accounts_url: Url,
    api_domain: Url,
    client_id: String,
}

pub(crate) fn check_connection_name(name: &str) -> anyhow::Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
    {
        bail!("a connection name is 1 to 64 letters, digits, _ and -, not {name:?}");
    }
    Ok(())
}

impl StoredZohoConnection {
    pub async fn load(store: &Store, vault: &Vault, name: &str) -> anyhow::Result<Self> {
        check_connection_name(name)?;
        let record = store.connection(&format!("zoho/{name}")).await?.with_context(|| {
            format!("no Zoho connection {name:?} is stored: run paybridge connect zoho --config … --connection {name}")
        })?;
        let settings: ZohoSettings = serde_json::from_value(record.settings)
            .with_context(|| format!("the stored Zoho connection {name:?} is unreadable"))?;
        Ok(StoredZohoConnection {
            accounts_url: settings.accounts_url,
            api_domain: settings.api_domain,
            client_id: settings.client_id,
            client_secret: vault.require(&format!("zoho/{name}/client_secret")).await?,
            refresh_token: vault.require(&format!("zoho/{name}/refresh_token")).await?,
        })
    }

    pub async fn save(&self, store: &Store, vault: &Vault, name: &str) -> anyhow::Result<()> {
        check_connection_name(name)?;
        vault
            .set(&format!("zoho/{name}/client_secret"), &self.client_secret)
            .await?;
        vault
            .set(&format!("zoho/{name}/refresh_token"), &self.refresh_token)
            .await?;
        store
            .put_connection(&ConnectionRecord {
                name: format!("zoho/{name}"),
                vendor: "zoho".into(),
                settings: serde_json::to_value(ZohoSettings {
                    accounts_url: self.accounts_url.clone(),
                    api_domain: self.api_domain.clone(),
                    client_id: self.client_id.clone(),
                })?,
                updated_ms: Clock::new().now_ms(),
            })
            .await?;
        Ok(())
    }
}
