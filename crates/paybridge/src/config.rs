//! `paybridge.toml`: a deployment's configuration for `paybridge serve`.
//!
//! Secrets are never written in the file: each is named either by the environment variable that
//! holds it (`*_env` keys) or by its entry in the credential vault (`*_vault` keys; see
//! [`crate::secrets`]). A Zoho connection set up with `paybridge connect zoho --config` is named
//! by `zoho.connection` and brings its accounts server, `api_domain`, client id and secrets.
//! Unknown keys are refused, and every error names the key at fault.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use paybridge_cybersource::{Credentials, Environment};
use paybridge_engine::EngineSettings;
use paybridge_flows::Library;
use paybridge_model::Currency;
use paybridge_server::admin::connections::SecretSlot;
use paybridge_store::Store;
use paybridge_vault::Vault;
use paybridge_zoho::quota::{CrmPlan, DeskPlan, FinancePlan, Plans};
use paybridge_zoho::webhooks::BooksWebhookAuth;
use paybridge_zoho::{DataCentre, OAuthCredentials};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use url::Url;

use crate::app::{AlertsConfig, AppConfig, CybersourceConnection, EmailConfig, ZohoConnection};
use crate::connect::StoredZohoConnection;
use crate::secrets::{SecretRef, VaultSection, open_store};
use paybridge_actions::email::SmtpSecurity;
use paybridge_engine::alerts::{AlertSettings, Channel};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub server: ServerSection,
    pub store: StoreSection,
    #[serde(default)]
    pub engine: EngineSettings,
    pub cybersource: CybersourceSection,
    pub zoho: ZohoSection,
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
}

/// `[http]`: named credentials for flows' `http` steps (`auth: '"erp"'`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    #[serde(default)]
    pub auth: Vec<HttpAuthSection>,
}

/// `[[http.auth]]`: one named credential.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpAuthSection {
    pub name: String,
    /// `bearer`, `basic` or `header`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub secret_env: Option<String>,
    #[serde(default)]
    pub secret_vault: Option<String>,
    /// `basic`: the user name.
    #[serde(default)]
    pub username: Option<String>,
    /// `header`: the header that carries the secret.
    #[serde(default)]
    pub header: Option<String>,
}

impl HttpSection {
    async fn resolve(
        &self,
        vault: Option<&Vault>,
    ) -> anyhow::Result<std::collections::BTreeMap<String, paybridge_actions::http::HttpAuth>> {
        use paybridge_actions::http::HttpAuth;
        let mut named = std::collections::BTreeMap::new();
        for entry in &self.auth {
            let name = entry.name.trim();
            if name.is_empty() {
                bail!("http.auth: every entry needs a name");
            }
            let key = format!("http.auth.{name}.secret");
            let secret = SecretRef {
                key: &key,
                env: entry.secret_env.as_deref(),
                vault: entry.secret_vault.as_deref(),
            }
            .resolve(vault)
            .await?;
            let auth = match (entry.kind.as_str(), &entry.username, &entry.header) {
                ("bearer", None, None) => HttpAuth::Bearer(secret),
                ("basic", Some(username), None) => HttpAuth::Basic {
                    username: username.clone(),
                    password: secret,
                },
                ("header", None, Some(header)) => {
                    if reqwest::header::HeaderName::from_bytes(header.trim().as_bytes()).is_err() {
                        bail!("http.auth {name:?}: {header:?} is not a header name");
                    }
                    HttpAuth::Header {
                        name: header.trim().to_string(),
                        value: secret,
                    }
                }
                ("bearer" | "basic" | "header", _, _) => bail!(
                    "http.auth {name:?}: bearer takes only a secret, basic a username too, header a header too"
                ),
                (other, _, _) => {
                    bail!("http.auth {name:?}: type {other:?} is not bearer, basic or header")
                }
            };
            if named.insert(name.to_string(), auth).is_some() {
                bail!("http.auth: the name {name:?} is used twice");
            }
        }
        Ok(named)
    }
}

/// `[email]`: the SMTP relay and sender of e-mails to customers (`email.send` in flows).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerEmailSection {
    pub host: String,
    #[serde(default = "submission_port")]
    pub port: u16,
    /// `starttls` (587), `tls` (465), or `none` (a relay on loopback only).
    #[serde(default = "starttls")]
    pub security: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default)]
    pub password_vault: Option<String>,
    /// `Tea Shop <orders@shop.example>`
    pub from: String,
    /// Where customers' replies go, when not to `from`.
    #[serde(default)]
    pub reply_to: Option<String>,
}

impl CustomerEmailSection {
    async fn resolve(
        &self,
        vault: Option<&Vault>,
    ) -> anyhow::Result<paybridge_actions::email::Mailer> {
        let (security, credentials) = smtp_access(
            "email",
            &self.security,
            self.username.as_deref(),
            SecretRef {
                key: "email.password",
                env: self.password_env.as_deref(),
                vault: self.password_vault.as_deref(),
            },
            vault,
        )
        .await?;
        paybridge_actions::email::Mailer::new(
            &self.host,
            self.port,
            security,
            credentials,
            &self.from,
            self.reply_to.as_deref(),
        )
        .map_err(|e| anyhow::anyhow!("email: {e}"))
    }
}

/// An SMTP relay's security and credentials (`section` names them in messages).
async fn smtp_access(
    section: &str,
    security: &str,
    username: Option<&str>,
    password: SecretRef<'_>,
    vault: Option<&Vault>,
) -> anyhow::Result<(SmtpSecurity, Option<(String, SecretString)>)> {
    let security = match security {
        "starttls" => SmtpSecurity::StartTls,
        "tls" => SmtpSecurity::Tls,
        "none" => SmtpSecurity::None,
        other => bail!("{section}.security: {other:?} is not one of starttls, tls, none"),
    };
    let credentials = match (username, password.is_given()) {
        (Some(user), true) => Some((user.to_string(), password.resolve(vault).await?)),
        (None, false) => None,
        _ => bail!(
            "{section}: give username and a password (password_env or password_vault) together"
        ),
    };
    Ok((security, credentials))
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

/// `[alerts]`: dead letters and error-rate spikes, to a Slack-compatible webhook and by e-mail.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsSection {
    /// One alert of a kind per this many minutes (an outage sends one, not a thousand).
    #[serde(default = "sixty")]
    pub dedupe_minutes: u64,
    /// Alert when this share of the runs finished in the window failed…
    #[serde(default = "twenty")]
    pub error_rate_percent: u32,
    #[serde(default = "five")]
    pub error_rate_window_minutes: u64,
    /// …out of at least this many.
    #[serde(default = "twenty_runs")]
    pub error_rate_min_runs: usize,
    #[serde(default)]
    pub slack: Option<SlackSection>,
    #[serde(default)]
    pub email: Option<EmailSection>,
}

/// `[alerts.slack]`: an incoming webhook URL (a secret: it alone lets anyone post).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackSection {
    #[serde(default)]
    pub webhook_url_env: Option<String>,
    #[serde(default)]
    pub webhook_url_vault: Option<String>,
}

/// `[alerts.email]`: an SMTP relay.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSection {
    pub host: String,
    #[serde(default = "submission_port")]
    pub port: u16,
    /// `starttls` (587), `tls` (465), or `none` (a relay on loopback only).
    #[serde(default = "starttls")]
    pub security: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default)]
    pub password_vault: Option<String>,
    /// `paybridge <paybridge@example.com>`
    pub from: String,
    pub to: Vec<String>,
}

fn sixty() -> u64 {
    60
}
fn twenty() -> u32 {
    20
}
fn twenty_runs() -> usize {
    20
}
fn submission_port() -> u16 {
    587
}
fn starttls() -> String {
    "starttls".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Address to listen on, e.g. `127.0.0.1:8080`.
    pub listen: SocketAddr,
}

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

/// Where the store is, resolved.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    Sqlite(PathBuf),
    Postgres {
        url: SecretString,
        schema: Option<String>,
    },
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CybersourceSection {
    /// `sandbox` (apitest.cybersource.com), `production`, `production-india`, or a URL.
    pub environment: String,
    pub merchant_id: String,
    /// The REST key's id (its serial number in the Business Center).
    pub key_id: String,
    /// Environment variable holding the key's base64 shared secret…
    #[serde(default)]
    pub shared_secret_env: Option<String>,
    /// …or its vault entry.
    #[serde(default)]
    pub shared_secret_vault: Option<String>,
    /// Webhook subscriptions' signing keys (`POST /webhooks/cybersource` is off without them).
    #[serde(default)]
    pub webhooks: Option<WebhooksSection>,
}

/// `[cybersource.webhooks]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksSection {
    /// How far a delivery's signature timestamp may be from now.
    #[serde(default = "five_minutes")]
    pub window_secs: u64,
    pub keys: Vec<WebhookKeySection>,
}

/// One digital-signature key (`/kms/egress/v2/keys-sym`), by its id.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookKeySection {
    pub key_id: String,
    #[serde(default)]
    pub key_env: Option<String>,
    #[serde(default)]
    pub key_vault: Option<String>,
}

fn five_minutes() -> u64 {
    300
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZohoSection {
    /// A connection stored by `paybridge connect zoho --config … --connection NAME`: its
    /// accounts server, `api_domain`, client id, client secret and refresh token. Keys given
    /// here override it.
    #[serde(default)]
    pub connection: Option<String>,
    /// `us`, `eu`, `in`, `au`, `jp`, `ca`, `sa`, `cn` or `uk`.
    #[serde(default)]
    pub data_centre: Option<String>,
    /// The accounts server that issued the refresh token (overrides the data centre's).
    #[serde(default)]
    pub accounts_url: Option<Url>,
    /// Where API calls go until Zoho names its `api_domain` (overrides the data centre's).
    #[serde(default)]
    pub api_domain: Option<Url>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret_env: Option<String>,
    #[serde(default)]
    pub client_secret_vault: Option<String>,
    #[serde(default)]
    pub refresh_token_env: Option<String>,
    #[serde(default)]
    pub refresh_token_vault: Option<String>,
    /// The Zoho Books organization id.
    pub organization_id: String,
    /// The organization's base currency.
    pub base_currency: String,
    /// The organization's time zone (IANA, as in Books' organization profile): the date
    /// invoices, payments and credit notes carry (`run.today`). UTC by default.
    #[serde(default = "utc")]
    pub time_zone: String,
    /// The organization's Zoho plans: paybridge keeps under their limits.
    #[serde(default)]
    pub quotas: QuotaSection,
    /// The organization uses Zoho Inventory: orders become confirmed sales orders, invoiced
    /// from there.
    #[serde(default)]
    pub inventory: bool,
    /// The organization uses Zoho CRM: customers become CRM contacts (and accounts).
    #[serde(default)]
    pub crm: bool,
    /// The Zoho Desk organization id, when Desk is used (fraud reviews open tickets there).
    #[serde(default)]
    pub desk_org_id: Option<String>,
    /// How Zoho Books workflow webhooks prove themselves (`POST /webhooks/zoho/books` is off
    /// without it).
    #[serde(default)]
    pub webhooks: Option<ZohoWebhooksSection>,
    /// The CRM notification channel paybridge keeps (`POST /webhooks/zoho/crm` is off without).
    #[serde(default)]
    pub crm_notifications: Option<CrmNotificationsSection>,
    /// The secret Desk webhooks carry in their URL (`POST /webhooks/zoho/desk` is off without).
    #[serde(default)]
    pub desk_webhooks: Option<DeskWebhooksSection>,
}

/// `[zoho.desk_webhooks]`: Desk signs nothing, so its webhook URL carries a secret
/// (`…/webhooks/zoho/desk?secret=<secret>`) that every delivery repeats.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeskWebhooksSection {
    #[serde(default)]
    pub secret_env: Option<String>,
    #[serde(default)]
    pub secret_vault: Option<String>,
}

/// `[zoho.crm_notifications]`: a CRM watch channel, created or renewed by paybridge daily.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrmNotificationsSection {
    /// A number of your choosing that names the channel (`1000000068001`).
    pub channel_id: String,
    /// `Contacts.edit`, `Accounts.all`, … (zoho.md §4.5).
    pub events: Vec<String>,
    /// paybridge's `/webhooks/zoho/crm` as Zoho reaches it.
    pub notify_url: Url,
    /// The token CRM echoes (at most 50 characters), from an environment variable…
    #[serde(default)]
    pub token_env: Option<String>,
    /// …or a vault entry.
    #[serde(default)]
    pub token_vault: Option<String>,
}

impl CrmNotificationsSection {
    async fn resolve(
        &self,
        crm: bool,
        vault: Option<&Vault>,
    ) -> anyhow::Result<paybridge_engine::jobs::crm_channel::CrmChannel> {
        if !crm {
            bail!("zoho.crm_notifications: set crm = true in [zoho] (the channel is a CRM one)");
        }
        let id = self.channel_id.trim();
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            bail!("zoho.crm_notifications.channel_id: a number, such as 1000000068001");
        }
        if self.events.is_empty() {
            bail!("zoho.crm_notifications.events: name at least one, such as Contacts.edit");
        }
        for event in &self.events {
            let ok = event.split_once('.').is_some_and(|(module, op)| {
                !module.is_empty() && matches!(op, "create" | "edit" | "delete" | "all")
            });
            if !ok {
                bail!(
                    "zoho.crm_notifications.events: {event:?} is not Module.create|edit|delete|all"
                );
            }
        }
        let token = SecretRef {
            key: "zoho.crm_notifications.token",
            env: self.token_env.as_deref(),
            vault: self.token_vault.as_deref(),
        }
        .resolve(vault)
        .await?;
        let length = token.expose_secret().chars().count();
        if !(16..=50).contains(&length) {
            bail!("zoho.crm_notifications.token: 16 to 50 characters (CRM takes at most 50)");
        }
        Ok(paybridge_engine::jobs::crm_channel::CrmChannel {
            channel_id: id.to_string(),
            events: self.events.clone(),
            notify_url: self.notify_url.to_string(),
            token,
        })
    }
}

/// `[zoho.webhooks]`: Books has no signing of its own that is sure to be there (zoho.md §2.10),
/// so by default the webhook carries a shared secret in a custom header or query parameter;
/// `auth = "signature"` checks `X-Zoho-Webhook-Signature` instead ("secure this webhook").
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZohoWebhooksSection {
    /// `token` (the default) or `signature`.
    #[serde(default = "token_auth")]
    pub auth: String,
    /// The shared secret (token) or signing secret, from an environment variable…
    #[serde(default)]
    pub secret_env: Option<String>,
    /// …or a vault entry.
    #[serde(default)]
    pub secret_vault: Option<String>,
    /// `token`: the custom header the webhook sends the secret in…
    #[serde(default = "token_header")]
    pub header: String,
    /// …or the URL's query parameter.
    #[serde(default = "token_query")]
    pub query: String,
    /// `signature`: how far a `t=` timestamp may be from now.
    #[serde(default = "five_minutes")]
    pub window_secs: u64,
}

fn utc() -> String {
    "UTC".into()
}

fn token_auth() -> String {
    "token".into()
}

fn token_header() -> String {
    "x-paybridge-token".into()
}

fn token_query() -> String {
    "token".into()
}

impl ZohoWebhooksSection {
    fn secret(&self) -> SecretRef<'_> {
        SecretRef {
            key: "zoho.webhooks.secret",
            env: self.secret_env.as_deref(),
            vault: self.secret_vault.as_deref(),
        }
    }

    async fn resolve(&self, vault: Option<&Vault>) -> anyhow::Result<BooksWebhookAuth> {
        let secret = self.secret().resolve(vault).await?;
        let length = secret.expose_secret().chars().count();
        match self.auth.as_str() {
            "token" => {
                if length < 16 {
                    bail!("zoho.webhooks.secret: a token must be at least 16 characters");
                }
                if self.header.trim().is_empty() && self.query.trim().is_empty() {
                    bail!("zoho.webhooks: name a header or a query parameter for the token");
                }
                Ok(BooksWebhookAuth::Token {
                    secret,
                    header: self.header.trim().to_ascii_lowercase(),
                    query: self.query.trim().to_string(),
                })
            }
            "signature" => {
                if !(12..=50).contains(&length) {
                    bail!("zoho.webhooks.secret: Zoho's signing secrets are 12 to 50 characters");
                }
                Ok(BooksWebhookAuth::Signature {
                    secret,
                    tolerance: std::time::Duration::from_secs(self.window_secs.max(1)),
                })
            }
            other => bail!("zoho.webhooks.auth: {other:?} is not token or signature"),
        }
    }
}

/// Zoho's limits for the organization (reference zoho.md §2.3, §4.4, §5). Requests wait for
/// budget instead of drawing 429s.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaSection {
    /// Meter requests at all (turn off only against a simulator without limits).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Zoho Books plan, which sets the daily cap: free, standard, professional, premium,
    /// elite or ultimate.
    #[serde(default = "premium")]
    pub books_plan: String,
    /// Overrides the plan's daily cap (Zoho support can raise it).
    #[serde(default)]
    pub books_per_day: Option<u64>,
    /// Books and Inventory requests a minute (Zoho: 100).
    #[serde(default = "hundred")]
    pub books_per_minute: u64,
    /// Zoho CRM edition (free, standard, professional, enterprise, ultimate) and user count.
    #[serde(default = "enterprise")]
    pub crm_edition: String,
    #[serde(default = "ten")]
    pub crm_users: u64,
    /// Zoho Desk edition (free, express, standard, professional, enterprise) and agent count.
    #[serde(default = "professional")]
    pub desk_edition: String,
    #[serde(default = "five")]
    pub desk_agents: u64,
    /// The longest a request waits for budget before it is rescheduled, in seconds.
    #[serde(default = "two_minutes")]
    pub max_wait_secs: u64,
}

impl Default for QuotaSection {
    fn default() -> QuotaSection {
        toml::from_str("").expect("every quota key has a default")
    }
}

fn yes() -> bool {
    true
}
fn premium() -> String {
    "premium".into()
}
fn hundred() -> u64 {
    100
}
fn enterprise() -> String {
    "enterprise".into()
}
fn ten() -> u64 {
    10
}
fn professional() -> String {
    "professional".into()
}
fn five() -> u64 {
    5
}
fn two_minutes() -> u64 {
    120
}

impl QuotaSection {
    pub fn plans(&self) -> anyhow::Result<Option<Plans>> {
        if !self.enabled {
            return Ok(None);
        }
        let mut finance = FinancePlan::named(&self.books_plan).with_context(|| {
            format!(
                "zoho.quotas.books_plan: {:?} is not one of free, standard, professional, premium, elite, ultimate",
                self.books_plan
            )
        })?;
        finance.per_minute = self.books_per_minute;
        if let Some(per_day) = self.books_per_day {
            finance.per_day = per_day;
        }
        let crm = CrmPlan::edition(&self.crm_edition, self.crm_users).with_context(|| {
            format!(
                "zoho.quotas.crm_edition: {:?} is not one of free, standard, professional, enterprise, ultimate",
                self.crm_edition
            )
        })?;
        let desk = DeskPlan::edition(&self.desk_edition, self.desk_agents).with_context(|| {
            format!(
                "zoho.quotas.desk_edition: {:?} is not one of free, express, standard, professional, enterprise",
                self.desk_edition
            )
        })?;
        if finance.per_minute == 0 || finance.per_day == 0 {
            bail!("zoho.quotas: books_per_minute and books_per_day must be positive");
        }
        Ok(Some(Plans {
            finance,
            crm,
            desk,
            max_wait: std::time::Duration::from_secs(self.max_wait_secs),
        }))
    }
}

#[derive(Debug, Deserialize)]
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
    pub fn load(path: &Path) -> anyhow::Result<FileConfig> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut config: FileConfig = toml::from_str(&text).with_context(|| {
            format!("{} is not a valid paybridge configuration", path.display())
        })?;
        // A relative flows directory is beside the configuration file.
        if let (Some(dir), Some(base)) = (&config.flows.dir, path.parent())
            && dir.is_relative()
        {
            config.flows.dir = Some(base.join(dir));
        }
        Ok(config)
    }

    /// Resolves secrets (from the environment and the vault) and checks the whole
    /// configuration. The vault is opened only when a secret or a connection is in it.
    pub async fn resolve(self) -> anyhow::Result<AppConfig> {
        let flows = match &self.flows.dir {
            Some(dir) => {
                Library::load_dir(dir, paybridge_actions::catalogue()).map_err(|errors| {
                    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
                    anyhow::anyhow!("the flow files have problems:\n{}", lines.join("\n"))
                })?
            }
            None => Library::shipped(paybridge_actions::catalogue()),
        };
        let mut names = std::collections::HashSet::new();
        for entry in &self.engine.schedules {
            entry
                .cron
                .parse::<paybridge_engine::schedule::Cron>()
                .with_context(|| format!("engine.schedules {:?}", entry.name))?;
            // With an environment, the store says which flows exist (checked at start-up).
            if !paybridge_engine::Engine::built_in_names().any(|name| name == entry.flow)
                && flows.get(&entry.flow).is_none()
                && self.flows.env.is_none()
            {
                bail!(
                    "engine.schedules {:?}: no flow named {:?} (prune, zoho-token-refresh, payment-watchdog, or a flow file's)",
                    entry.name,
                    entry.flow
                );
            }
            if !names.insert(entry.name.as_str()) {
                bail!("engine.schedules: the name {:?} is used twice", entry.name);
            }
        }
        let c = &self.cybersource;
        let z = &self.zoho;
        let refs = [
            SecretRef {
                key: "cybersource.shared_secret",
                env: c.shared_secret_env.as_deref(),
                vault: c.shared_secret_vault.as_deref(),
            },
            SecretRef {
                key: "zoho.client_secret",
                env: z.client_secret_env.as_deref(),
                vault: z.client_secret_vault.as_deref(),
            },
            SecretRef {
                key: "zoho.refresh_token",
                env: z.refresh_token_env.as_deref(),
                vault: z.refresh_token_vault.as_deref(),
            },
            SecretRef {
                key: "storefront.api_keys",
                env: self.storefront.api_keys_env.as_deref(),
                vault: self.storefront.api_keys_vault.as_deref(),
            },
            SecretRef {
                key: "storefront.callback_secret",
                env: self.storefront.callback_secret_env.as_deref(),
                vault: self.storefront.callback_secret_vault.as_deref(),
            },
        ];
        let webhook_vault = c
            .webhooks
            .as_ref()
            .is_some_and(|w| w.keys.iter().any(|k| k.key_vault.is_some()))
            || z.webhooks
                .as_ref()
                .is_some_and(|w| w.secret_vault.is_some())
            || z.crm_notifications
                .as_ref()
                .is_some_and(|n| n.token_vault.is_some())
            || z.desk_webhooks
                .as_ref()
                .is_some_and(|d| d.secret_vault.is_some())
            || self
                .email
                .as_ref()
                .is_some_and(|e| e.password_vault.is_some())
            || self.http.auth.iter().any(|a| a.secret_vault.is_some());
        let alert_vault = webhook_vault
            || self.alerts.as_ref().is_some_and(|a| {
                a.slack
                    .as_ref()
                    .is_some_and(|s| s.webhook_url_vault.is_some())
                    || a.email.as_ref().is_some_and(|e| e.password_vault.is_some())
            });
        let needs_vault =
            alert_vault || z.connection.is_some() || refs.iter().any(|r| r.vault.is_some());
        let location = self.store.location()?;
        let store = if needs_vault {
            Some(open_store(&location).await?)
        } else {
            None
        };
        let vault = match &store {
            Some(store) => Some(self.vault.open(store).await?),
            None => None,
        };
        let slots = secret_slots(&refs, &self);
        let resolved = self
            .resolve_with(refs, location, store.as_ref(), vault.as_ref(), flows)
            .await
            .and_then(|mut app| {
                app.connections = crate::app::describe_connections(
                    &app,
                    self.cybersource.environment.trim(),
                    self.zoho.data_centre.as_deref(),
                    slots,
                );
                app.vault_keys = self.vault.keys()?;
                Ok(app)
            });
        if let Some(store) = store {
            store.close().await;
        }
        resolved
    }

    async fn resolve_with(
        &self,
        [
            shared_secret,
            client_secret,
            refresh_token,
            api_keys,
            callback_secret,
        ]: [SecretRef<'_>; 5],
        location: StoreLocation,
        store: Option<&Store>,
        vault: Option<&Vault>,
        flows: Library,
    ) -> anyhow::Result<AppConfig> {
        let c = &self.cybersource;
        let environment = Environment::parse(&c.environment).context("cybersource.environment")?;
        if self.engine.test_mode
            && environment != Environment::Sandbox
            && !matches!(environment, Environment::Custom(_))
        {
            bail!(
                "engine.test_mode (raw test cards) is allowed only with the Cybersource sandbox environment"
            );
        }
        let credentials = Credentials {
            merchant_id: c.merchant_id.clone(),
            key_id: c.key_id.clone(),
            shared_secret: shared_secret.resolve(vault).await?,
        };
        paybridge_cybersource::Signer::new(&credentials).context("cybersource")?;
        let mut webhook_keys = Vec::new();
        let mut webhook_window = std::time::Duration::from_secs(300);
        if let Some(webhooks) = &c.webhooks {
            if webhooks.keys.is_empty() {
                bail!(
                    "cybersource.webhooks: name at least one signing key in [[cybersource.webhooks.keys]]"
                );
            }
            webhook_window = std::time::Duration::from_secs(webhooks.window_secs.max(1));
            for key in &webhooks.keys {
                let secret = SecretRef {
                    key: "cybersource.webhooks.keys.key",
                    env: key.key_env.as_deref(),
                    vault: key.key_vault.as_deref(),
                }
                .resolve(vault)
                .await?;
                let mut check =
                    paybridge_cybersource::webhooks::WebhookVerifier::new(webhook_window);
                check
                    .add_key(key.key_id.clone(), &secret)
                    .with_context(|| format!("cybersource.webhooks key {}", key.key_id))?;
                webhook_keys.push((key.key_id.clone(), secret));
            }
        }

        let z = &self.zoho;
        let stored = match (&z.connection, store, vault) {
            (Some(name), Some(store), Some(vault)) => Some(
                StoredZohoConnection::load(store, vault, name)
                    .await
                    .context("zoho.connection")?,
            ),
            _ => None,
        };
        let data_centre = match z.data_centre.as_deref() {
            Some(location) => Some(DataCentre::from_location(location).with_context(|| {
                format!("zoho.data_centre: {location:?} is not one of us, eu, in, au, jp, ca, sa, cn, uk")
            })?),
            None => None,
        };
        let accounts_url = z
            .accounts_url
            .clone()
            .or_else(|| stored.as_ref().map(|s| s.accounts_url.clone()))
            .or_else(|| data_centre.map(DataCentre::accounts_url))
            .context("zoho: set connection, data_centre, or accounts_url and api_domain")?;
        let api_domain = z
            .api_domain
            .clone()
            .or_else(|| stored.as_ref().map(|s| s.api_domain.clone()))
            .or_else(|| data_centre.map(DataCentre::api_domain))
            .context("zoho: set connection, data_centre, or accounts_url and api_domain")?;
        let client_id = z
            .client_id
            .clone()
            .or_else(|| stored.as_ref().map(|s| s.client_id.clone()))
            .context("zoho.client_id: set it, or zoho.connection")?;
        let client_secret = match (client_secret.is_given(), &stored) {
            (false, Some(stored)) => stored.client_secret.clone(),
            _ => client_secret.resolve(vault).await?,
        };
        let refresh_token = match (refresh_token.is_given(), &stored) {
            (false, Some(stored)) => stored.refresh_token.clone(),
            _ => refresh_token.resolve(vault).await?,
        };
        if z.organization_id.trim().is_empty()
            || !z.organization_id.trim().bytes().all(|b| b.is_ascii_digit())
        {
            bail!("zoho.organization_id must be the numeric Zoho Books organization id");
        }
        let base_currency = Currency::from_code(&z.base_currency).context("zoho.base_currency")?;
        if jiff::tz::TimeZone::get(z.time_zone.trim()).is_err() {
            bail!(
                "zoho.time_zone: {:?} is not a time zone (use an IANA name such as Europe/Berlin)",
                z.time_zone
            );
        }

        let keys = api_keys.resolve(vault).await?;
        let storefront_keys: Vec<SecretString> = keys
            .expose_secret()
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(|k| SecretString::from(k.to_string()))
            .collect();
        if storefront_keys.iter().any(|k| k.expose_secret().len() < 24) {
            bail!("storefront.api_keys: every storefront API key must be at least 24 characters");
        }
        let storefront_callback = match &self.storefront.callback_url {
            Some(url) => {
                let secret = callback_secret.resolve(vault).await?;
                if secret.expose_secret().len() < 24 {
                    bail!("storefront.callback_secret: it must be at least 24 characters");
                }
                Some((url.clone(), secret))
            }
            None if callback_secret.is_given() => {
                bail!("storefront.callback_secret is set but storefront.callback_url is not")
            }
            None => None,
        };

        let alerts = match &self.alerts {
            Some(section) => Some(section.resolve(vault).await?),
            None => None,
        };
        let email = match &self.email {
            Some(section) => Some(section.resolve(vault).await?),
            None => None,
        };
        let http = self.http.resolve(vault).await?;

        Ok(AppConfig {
            alerts,
            listen: self.server.listen,
            store: location,
            engine: self.engine.clone(),
            cybersource: CybersourceConnection {
                environment,
                credentials,
                webhook_keys,
                webhook_window,
            },
            zoho: ZohoConnection {
                credentials: OAuthCredentials {
                    accounts_url,
                    client_id,
                    client_secret,
                    refresh_token,
                },
                api_domain,
                organization_id: z.organization_id.trim().to_string(),
                base_currency,
                time_zone: z.time_zone.trim().to_string(),
                quotas: z.quotas.plans()?,
                inventory: z.inventory,
                crm: z.crm,
                desk_org_id: z.desk_org_id.as_deref().map(str::trim).map(str::to_string),
                books_webhooks: match &z.webhooks {
                    Some(webhooks) => Some(webhooks.resolve(vault).await?),
                    None => None,
                },
                desk_webhook_secret: match &z.desk_webhooks {
                    Some(section) => {
                        if z.desk_org_id.is_none() {
                            bail!(
                                "zoho.desk_webhooks: set desk_org_id in [zoho] (the deliveries name it)"
                            );
                        }
                        let secret = SecretRef {
                            key: "zoho.desk_webhooks.secret",
                            env: section.secret_env.as_deref(),
                            vault: section.secret_vault.as_deref(),
                        }
                        .resolve(vault)
                        .await?;
                        if secret.expose_secret().chars().count() < 16 {
                            bail!("zoho.desk_webhooks.secret: at least 16 characters");
                        }
                        Some(secret)
                    }
                    None => None,
                },
                crm_channel: match &z.crm_notifications {
                    Some(section) => Some(section.resolve(z.crm, vault).await?),
                    None => None,
                },
            },
            storefront_keys,
            storefront_callback,
            email,
            http,
            flows,
            flows_env: self.flows.env.clone(),
            connections: Vec::new(),
            vault_keys: None,
        })
    }
}

/// Where each connection's secrets come from, by connection (`cybersource`, `zoho`,
/// `storefront`).
fn secret_slots(refs: &[SecretRef<'_>], config: &FileConfig) -> Vec<(&'static str, SecretSlot)> {
    let mut slots = Vec::new();
    let mut push = |key: &str, env: Option<&str>, vault: Option<&str>| {
        let connection = if key.starts_with("cybersource.") {
            "cybersource"
        } else if key.starts_with("zoho.") {
            "zoho"
        } else {
            "storefront"
        };
        let (source, reference) = match (vault, env) {
            (Some(vault), _) => ("vault", vault),
            (None, Some(env)) => ("env", env),
            (None, None) => return,
        };
        slots.push((
            connection,
            SecretSlot {
                key: key.to_string(),
                source: source.to_string(),
                reference: reference.trim().to_string(),
            },
        ));
    };
    for r in refs {
        push(r.key, r.env, r.vault);
    }
    if let Some(webhooks) = &config.cybersource.webhooks {
        for key in &webhooks.keys {
            push(
                &format!("cybersource.webhooks.keys.{}", key.key_id),
                key.key_env.as_deref(),
                key.key_vault.as_deref(),
            );
        }
    }
    if let Some(webhooks) = &config.zoho.webhooks {
        push(
            "zoho.webhooks.secret",
            webhooks.secret_env.as_deref(),
            webhooks.secret_vault.as_deref(),
        );
    }
    if let Some(desk) = &config.zoho.desk_webhooks {
        push(
            "zoho.desk_webhooks.secret",
            desk.secret_env.as_deref(),
            desk.secret_vault.as_deref(),
        );
    }
    if let Some(notifications) = &config.zoho.crm_notifications {
        push(
            "zoho.crm_notifications.token",
            notifications.token_env.as_deref(),
            notifications.token_vault.as_deref(),
        );
    }
    if let Some(connection) = &config.zoho.connection {
        push("zoho.connection", None, Some(connection));
    }
    slots
}

impl AlertsSection {
    async fn resolve(&self, vault: Option<&Vault>) -> anyhow::Result<AlertsConfig> {
        if self.error_rate_percent == 0 || self.error_rate_percent > 100 {
            bail!("alerts.error_rate_percent must be 1 to 100");
        }
        if self.slack.is_none() && self.email.is_none() {
            bail!("alerts: name a channel, [alerts.slack] or [alerts.email]");
        }
        let slack = match &self.slack {
            Some(slack) => {
                let url = SecretRef {
                    key: "alerts.slack.webhook_url",
                    env: slack.webhook_url_env.as_deref(),
                    vault: slack.webhook_url_vault.as_deref(),
                }
                .resolve(vault)
                .await?;
                Channel::slack(url.clone())?;
                Some(url)
            }
            None => None,
        };
        let email = match &self.email {
            Some(email) => {
                let (security, credentials) = smtp_access(
                    "alerts.email",
                    &email.security,
                    email.username.as_deref(),
                    SecretRef {
                        key: "alerts.email.password",
                        env: email.password_env.as_deref(),
                        vault: email.password_vault.as_deref(),
                    },
                    vault,
                )
                .await?;
                let config = EmailConfig {
                    host: email.host.clone(),
                    port: email.port,
                    security,
                    credentials,
                    from: email.from.clone(),
                    to: email.to.clone(),
                };
                config.channel()?;
                Some(config)
            }
            None => None,
        };
        Ok(AlertsConfig {
            settings: AlertSettings {
                dedupe: std::time::Duration::from_secs(self.dedupe_minutes.max(1) * 60),
                error_rate_percent: self.error_rate_percent,
                error_rate_window: std::time::Duration::from_secs(
                    self.error_rate_window_minutes.max(1) * 60,
                ),
                error_rate_min_runs: self.error_rate_min_runs.max(1),
            },
            slack,
            email,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../../paybridge.example.toml");

    /// The repository's `flows/`, which the example's `[flows] dir` means.
    fn repository_flows() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../flows")
    }

    #[test]
    fn the_example_file_parses() {
        let config: FileConfig = toml::from_str(EXAMPLE).unwrap();
        assert_eq!(config.zoho.connection.as_deref(), Some("main"));
        assert_eq!(
            config.cybersource.shared_secret_vault.as_deref(),
            Some("cybersource/shared_secret")
        );
        assert_eq!(config.engine.workers, 16);
        let plans = config.zoho.quotas.plans().unwrap().unwrap();
        assert_eq!(
            (plans.finance.per_minute, plans.finance.per_day),
            (100, 2_000)
        );
    }

    #[test]
    fn quotas_default_to_zohos_limits_and_name_bad_plans() {
        let plans = QuotaSection::default().plans().unwrap().unwrap();
        assert_eq!(plans, Plans::default());
        let bad = QuotaSection {
            books_plan: "gold".into(),
            ..QuotaSection::default()
        };
        let error = format!("{:#}", bad.plans().unwrap_err());
        assert!(
            error.contains("zoho.quotas.books_plan") && error.contains("gold"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn alerts_need_a_channel_and_explain_bad_settings() {
        let parse = |text: &str| toml::from_str::<AlertsSection>(text).unwrap();
        let none = parse("dedupe_minutes = 30");
        let error = format!("{:#}", none.resolve(None).await.unwrap_err());
        assert!(
            error.contains("[alerts.slack] or [alerts.email]"),
            "{error}"
        );

        let email = "[email]\nhost = \"127.0.0.1\"\nport = 2525\nfrom = \"p@example.com\"\nto = [\"ops@example.com\"]\n";
        let config = parse(&format!("{email}security = \"none\"\n"))
            .resolve(None)
            .await
            .unwrap();
        assert_eq!(config.settings.dedupe, std::time::Duration::from_secs(3600));
        assert_eq!(config.email.unwrap().security, SmtpSecurity::None);

        let error = format!(
            "{:#}",
            parse(&format!("{email}security = \"ssl\"\n"))
                .resolve(None)
                .await
                .unwrap_err()
        );
        assert!(error.contains("alerts.email.security"), "{error}");
        let error = format!(
            "{:#}",
            parse(&format!("{email}security = \"none\"\nusername = \"u\"\n"))
                .resolve(None)
                .await
                .unwrap_err()
        );
        assert!(error.contains("username and a password"), "{error}");
        let error = format!(
            "{:#}",
            parse("[slack]\nwebhook_url_vault = \"alerts/slack\"\n")
                .resolve(None)
                .await
                .unwrap_err()
        );
        assert!(error.contains("alerts.slack.webhook_url_vault"), "{error}");
    }

    #[tokio::test]
    async fn schedules_are_checked_when_the_configuration_is_read() {
        for (schedule, problem) in [
            ("cron = \"61 * * * *\"\nflow = \"prune\"", "minute"),
            (
                "cron = \"* * * * *\"\nflow = \"reconcile\"",
                "no flow named",
            ),
        ] {
            let text = EXAMPLE.replace(
                "[[engine.schedules]]\nname = \"prune\"\ncron = \"7 * * * *\"\nflow = \"prune\"",
                &format!("[[engine.schedules]]\nname = \"prune\"\n{schedule}"),
            );
            let mut config: FileConfig = toml::from_str(&text).unwrap();
            config.flows.dir = Some(repository_flows());
            let error = format!("{:#}", config.resolve().await.unwrap_err());
            assert!(
                error.contains(problem) && error.contains("engine.schedules"),
                "{error}"
            );
        }
    }

    #[test]
    fn unknown_keys_are_named() {
        let text = EXAMPLE.replace("[server]", "[server]\nlisten_adress = \"x\"");
        let error = toml::from_str::<FileConfig>(&text).unwrap_err().to_string();
        assert!(error.contains("listen_adress"), "{error}");
    }

    #[tokio::test]
    async fn books_webhooks_take_a_token_or_a_signature_and_say_what_is_wrong() {
        let config: FileConfig = toml::from_str(EXAMPLE).unwrap();
        let section = config
            .zoho
            .webhooks
            .expect("the example sets up Books webhooks");
        assert_eq!(section.auth, "token");
        // PATH is set wherever tests run, and longer than 16 characters.
        let from_env = |auth: &str| ZohoWebhooksSection {
            auth: auth.into(),
            secret_env: Some("PATH".into()),
            secret_vault: None,
            header: "X-Paybridge-Token".into(),
            query: "token".into(),
            window_secs: 300,
        };
        match from_env("token").resolve(None).await.unwrap() {
            BooksWebhookAuth::Token { header, query, .. } => {
                assert_eq!(
                    (header.as_str(), query.as_str()),
                    ("x-paybridge-token", "token")
                );
            }
            other => panic!("{other:?}"),
        }
        let error = from_env("hmac")
            .resolve(None)
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("not token or signature"), "{error}");
        let mut missing = from_env("token");
        missing.secret_env = Some("PAYBRIDGE_TEST_SURELY_UNSET_VARIABLE".into());
        let error = format!("{:#}", missing.resolve(None).await.unwrap_err());
        assert!(
            error.contains("PAYBRIDGE_TEST_SURELY_UNSET_VARIABLE"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn customer_email_needs_a_safe_relay_and_whole_credentials() {
        let config: FileConfig = toml::from_str(EXAMPLE).unwrap();
        let mut email = config.email.expect("the example sets up e-mail");
        email.password_vault = None;
        let error = format!("{:#}", email.resolve(None).await.unwrap_err());
        assert!(error.contains("give username and a password"), "{error}");
        email.username = None;
        email.security = "none".into();
        let error = format!("{:#}", email.resolve(None).await.unwrap_err());
        assert!(
            error.contains("only to a relay on a loopback address"),
            "{error}"
        );
        email.host = "127.0.0.1".into();
        assert!(email.resolve(None).await.is_ok());
        email.from = "not an address".into();
        let error = format!("{:#}", email.resolve(None).await.unwrap_err());
        assert!(error.contains("from"), "{error}");
    }

    #[tokio::test]
    async fn http_credentials_are_named_once_with_what_their_type_needs() {
        let section = |entries: &str| -> HttpSection {
            toml::from_str::<FileConfig>(&EXAMPLE.replace(
                "[[http.auth]]\nname = \"erp\"\ntype = \"bearer\"\nsecret_vault = \"http/erp_token\"",
                entries,
            ))
            .unwrap()
            .http
        };
        // PATH is set wherever tests run.
        let named = section(
            "[[http.auth]]\nname = \"erp\"\ntype = \"basic\"\nusername = \"pb\"\nsecret_env = \"PATH\"\n[[http.auth]]\nname = \"wms\"\ntype = \"header\"\nheader = \"X-Api-Key\"\nsecret_env = \"PATH\"",
        )
        .resolve(None)
        .await
        .unwrap();
        assert_eq!(named.keys().collect::<Vec<_>>(), ["erp", "wms"]);
        assert!(!format!("{named:?}").contains(&std::env::var("PATH").unwrap()));
        for (entries, complaint) in [
            (
                "[[http.auth]]\nname = \"erp\"\ntype = \"basic\"\nsecret_env = \"PATH\"",
                "basic a username too",
            ),
            (
                "[[http.auth]]\nname = \"erp\"\ntype = \"oauth\"\nsecret_env = \"PATH\"",
                "is not bearer, basic or header",
            ),
            (
                "[[http.auth]]\nname = \"a\"\ntype = \"bearer\"\nsecret_env = \"PATH\"\n[[http.auth]]\nname = \"a\"\ntype = \"bearer\"\nsecret_env = \"PATH\"",
                "used twice",
            ),
        ] {
            let error = section(entries)
                .resolve(None)
                .await
                .unwrap_err()
                .to_string();
            assert!(error.contains(complaint), "{error}");
        }
    }

    #[tokio::test]
    async fn missing_secrets_name_their_variable() {
        let mut config: FileConfig = toml::from_str(EXAMPLE).unwrap();
        // Everything from the environment: the vault (and the store) is not opened — and if
        // it were, it would be a throwaway one, never the example's path.
        let dir = tempfile::tempdir().unwrap();
        config.store.path = Some(dir.path().join("paybridge.db"));
        config.flows.dir = Some(repository_flows());
        config.zoho.connection = None;
        config.alerts = None;
        config.storefront.api_keys_vault = None;
        config.storefront.callback_secret_vault = None;
        config.storefront.callback_url = None;
        config.cybersource.shared_secret_vault = None;
        config.cybersource.webhooks = None;
        config.zoho.webhooks = None;
        config.email = None;
        config.http.auth.clear();
        config.cybersource.shared_secret_env = Some("PAYBRIDGE_TEST_SURELY_UNSET_VARIABLE".into());
        let error = format!("{:#}", config.resolve().await.unwrap_err());
        assert!(
            error.contains("PAYBRIDGE_TEST_SURELY_UNSET_VARIABLE"),
            "{error}"
        );
    }
}
