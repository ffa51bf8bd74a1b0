//! The configuration file as written: `paybridge.toml`, read whole and strictly by one loader.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use paybridge_engine::EngineSettings;
use paybridge_store::Store;
use paybridge_vault::Vault;
use serde::Deserialize;
use url::Url;

use crate::app::open_store;
use crate::config::alerts::{AlertsSection, CustomerEmailSection};
use crate::config::cybersource::CybersourceSection;
use crate::config::http::HttpSection;
use crate::config::orders::OrdersSection;
use crate::config::store::StoreSection;
use crate::config::vault::VaultSection;
use crate::config::zoho::ZohoSection;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `paybridge serve`'s listening address (needed to serve).
    #[serde(default)]
    pub server: Option<ServerSection>,
    pub store: StoreSection,
    #[serde(default)]
    pub engine: EngineSettings,
    /// The merchant (needed to serve).
    #[serde(default)]
    pub cybersource: Option<CybersourceSection>,
    /// The Zoho organization (needed to serve).
    #[serde(default)]
    pub zoho: Option<ZohoSection>,
    #[serde(default)]
    pub storefront: StorefrontSection,
    /// Where the vault's master key comes from (needed when any secret is in the vault).
    #[serde(default)]
    pub vault: VaultSection,
    /// Who hears of dead letters and error spikes.
    #[serde(default)]
    pub alerts: Option<AlertsSection>,
    /// Where the flow files are.
    #[serde(default)]
    pub flows: FlowsSection,
    /// E-mail to customers (the decline template's), through an SMTP relay.
    #[serde(default)]
    pub email: Option<CustomerEmailSection>,
    /// Credentials flows' `http` steps name.
    #[serde(default)]
    pub http: HttpSection,
    /// What one order may be (its most).
    #[serde(default)]
    pub orders: OrdersSection,
}

/// `[flows]`: the merchant's flow files.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowsSection {
    /// A directory of `*.yaml` flow files (relative to the configuration file). Files replace
    /// the shipped template of the same name, or add flows; without it the shipped templates run.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// Run what `paybridge flows deploy|promote` deployed to this environment (dev, qa, prod, …)
    /// instead of the files: the store says which version of each flow runs.
    #[serde(default)]
    pub env: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Address to listen on, e.g. `127.0.0.1:8080`.
    pub listen: SocketAddr,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorefrontSection {
    /// Environment variable holding the storefront API keys, comma-separated…
    #[serde(default)]
    pub api_keys_env: Option<String>,
    /// …or their vault entry (comma-separated too).
    #[serde(default)]
    pub api_keys_vault: Option<String>,
    /// Where order state changes are POSTed, signed (README "The order API"); none without.
    #[serde(default)]
    pub callback_url: Option<Url>,
    /// The secret that signs callbacks: an environment variable…
    #[serde(default)]
    pub callback_secret_env: Option<String>,
    /// …or a vault entry.
    #[serde(default)]
    pub callback_secret_vault: Option<String>,
}

impl FileConfig {
    /// Reads `path` whole: every section is checked (unknown keys refused, errors naming the
    /// key), whichever a command then uses. The one way a configuration is read.
    pub fn load(path: &Path) -> anyhow::Result<FileConfig> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut config: FileConfig = toml::from_str(&text).map_err(|e| {
            let section = e
                .span()
                .and_then(|span| section_at(&text, span.start))
                .map(|section| format!(" (in [{section}])"))
                .unwrap_or_default();
            anyhow::anyhow!(
                "{} is not a valid paybridge configuration{section}: {e}",
                path.display()
            )
        })?;
        // A relative flows directory is beside the configuration file.
        if let (Some(dir), Some(base)) = (&config.flows.dir, path.parent())
            && dir.is_relative()
        {
            config.flows.dir = Some(base.join(dir));
        }
        Ok(config)
    }

    /// A section `paybridge serve` needs, or why there is none.
    pub fn required<'a, T>(section: &'a Option<T>, name: &str) -> anyhow::Result<&'a T> {
        section.as_ref().with_context(|| {
            format!("missing field `{name}`: paybridge serve needs the [{name}] section")
        })
    }

    /// Opens (creating if needed) the store `[store]` names.
    pub async fn open_store(&self) -> anyhow::Result<Store> {
        open_store(&self.store.location()?).await
    }

    /// Opens the store and its vault (`[vault]`'s master key).
    pub async fn open_store_and_vault(&self) -> anyhow::Result<(Store, Vault)> {
        let store = self.open_store().await?;
        let vault = self.vault.open(&store).await?;
        Ok((store, vault))
    }
}

/// The `[table]` (or `[[array]]`) whose keys are at byte `at` of `text`, if any.
fn section_at(text: &str, at: usize) -> Option<String> {
    text.get(..at)?
        .lines()
        .rev()
        .map(str::trim)
        .find(|line| line.starts_with('[') && line.ends_with(']'))
        .map(|line| {
            line.trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string()
        })
}
