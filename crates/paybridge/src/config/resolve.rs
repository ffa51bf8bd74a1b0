//! A configuration resolved: every secret read (environment or vault), every setting checked,
//! and what `paybridge serve` runs made of them.

use crate::app::open_store;
use crate::app::{AppConfig, CybersourceConnection, StoreLocation, ZohoConnection};
use crate::config::connection::StoredZohoConnection;
use crate::config::file::FileConfig;
use crate::config::vault::SecretRef;
use anyhow::Context as _;
use anyhow::bail;
use paybridge_cybersource::{Credentials, Environment};
use paybridge_engine::EngineSettings;
use paybridge_flows::Library;
use paybridge_model::Currency;
use paybridge_server::admin::connections::SecretSlot;
use paybridge_store::Store;
use paybridge_vault::Vault;
use paybridge_zoho::{DataCentre, OAuthCredentials};
use secrecy::ExposeSecret as _;
use secrecy::SecretString;

impl FileConfig {
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
            if !paybridge_engine::services::built_in_names().any(|name| name == entry.flow)
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
        let c = FileConfig::required(&self.cybersource, "cybersource")?;
        let z = FileConfig::required(&self.zoho, "zoho")?;
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
                    c.environment.trim(),
                    z.data_centre.as_deref(),
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
        let c = FileConfig::required(&self.cybersource, "cybersource")?;
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

        let z = FileConfig::required(&self.zoho, "zoho")?;
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
            listen: FileConfig::required(&self.server, "server")?.listen,
            store: location,
            engine: EngineSettings {
                order_limits: self.orders.limits()?,
                hold_alert_after: self.orders.hold_alert_after()?,
                ..self.engine.clone()
            },
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
    if let Some(webhooks) = config
        .cybersource
        .as_ref()
        .and_then(|c| c.webhooks.as_ref())
    {
        for key in &webhooks.keys {
            push(
                &format!("cybersource.webhooks.keys.{}", key.key_id),
                key.key_env.as_deref(),
                key.key_vault.as_deref(),
            );
        }
    }
    let zoho = config.zoho.as_ref();
    if let Some(webhooks) = zoho.and_then(|z| z.webhooks.as_ref()) {
        push(
            "zoho.webhooks.secret",
            webhooks.secret_env.as_deref(),
            webhooks.secret_vault.as_deref(),
        );
    }
    if let Some(desk) = zoho.and_then(|z| z.desk_webhooks.as_ref()) {
        push(
            "zoho.desk_webhooks.secret",
            desk.secret_env.as_deref(),
            desk.secret_vault.as_deref(),
        );
    }
    if let Some(notifications) = zoho.and_then(|z| z.crm_notifications.as_ref()) {
        push(
            "zoho.crm_notifications.token",
            notifications.token_env.as_deref(),
            notifications.token_vault.as_deref(),
        );
    }
    if let Some(connection) = zoho.and_then(|z| z.connection.as_ref()) {
        push("zoho.connection", None, Some(connection));
    }
    slots
}
