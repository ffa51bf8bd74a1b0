//! `[zoho]`: the connection, the products, webhooks and notifications, and the plans' quotas.

use crate::config::cybersource::five_minutes;
use crate::config::vault::SecretRef;
use anyhow::Context as _;
use anyhow::bail;
use paybridge_vault::Vault;
use paybridge_zoho::quota::{CrmPlan, DeskPlan, FinancePlan, Plans};
use paybridge_zoho::webhooks::BooksWebhookAuth;
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use url::Url;

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
    pub(crate) async fn resolve(
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

    pub(crate) async fn resolve(&self, vault: Option<&Vault>) -> anyhow::Result<BooksWebhookAuth> {
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
    /// The longest a request waits for budget before its run is rescheduled (for when there is
    /// room again, spending no attempt), in seconds: a worker is not held longer than this.
    #[serde(default = "ten_seconds")]
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

pub(crate) fn five() -> u64 {
    5
}

fn ten_seconds() -> u64 {
    10
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
