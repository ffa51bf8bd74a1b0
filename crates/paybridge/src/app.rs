//! A running paybridge: the store, the engine and its workers, and the HTTP server.

use std::net::SocketAddr;

use anyhow::Context as _;
use paybridge_cybersource::{ClientConfig as CybersourceConfig, Credentials, Environment};
use std::sync::Arc;

use paybridge_actions::Connectors;
use paybridge_actions::email::SmtpSecurity;
use paybridge_actions::storefront::Storefront;
use paybridge_engine::alerts::{AlertSettings, Alerts, Channel};
use paybridge_engine::coordination::{StoreLeases, StoreLedger};
use paybridge_engine::{Engine, EngineSettings, Workers};
use paybridge_flows::Library;
use paybridge_model::Currency;
use paybridge_server::AppState;
use paybridge_store::{Clock, Store};
use paybridge_zoho::Coordination;
use paybridge_zoho::quota::{Budgets, Plans};
use paybridge_zoho::{ClientConfig as ZohoConfig, OAuthCredentials};
use secrecy::ExposeSecret as _;
use secrecy::SecretString;
use std::path::PathBuf;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url::Url;

/// Where the store is, resolved.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    Sqlite(PathBuf),
    Postgres {
        url: SecretString,
        schema: Option<String>,
    },
}

/// Opens (creating if needed) the store, SQLite or PostgreSQL.
pub async fn open_store(location: &StoreLocation) -> anyhow::Result<Store> {
    match location {
        StoreLocation::Sqlite(path) => {
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
        StoreLocation::Postgres { url, schema } => {
            // sqlx's errors do not repeat the URL, so the password stays out of them.
            Store::open_postgres(url.expose_secret(), schema.as_deref())
                .await
                .context("opening the PostgreSQL store")
        }
    }
}

/// Everything needed to run paybridge against one Cybersource merchant and one Zoho
/// organization.
#[derive(Debug, Clone)]
pub struct AppConfig {
    pub listen: SocketAddr,
    pub store: StoreLocation,
    pub engine: EngineSettings,
    pub cybersource: CybersourceConnection,
    pub zoho: ZohoConnection,
    pub storefront_keys: Vec<SecretString>,
    pub alerts: Option<AlertsConfig>,
    /// Where order state changes are called back, and the secret that signs them.
    pub storefront_callback: Option<(Url, SecretString)>,
    /// E-mail to customers (`[email]`).
    pub email: Option<paybridge_actions::email::Mailer>,
    /// Credentials flows' `http` steps name (`[[http.auth]]`).
    pub http: HttpSettings,
    /// The flow files to run (the shipped templates, or a directory's over them)…
    pub flows: Library,
    /// …or what the store says this environment runs.
    pub flows_env: Option<String>,
    /// How each connection is set up, for the admin API and the console (never a secret).
    pub connections: Vec<paybridge_server::admin::connections::ConnectionInfo>,
    /// The vault's master keys (current, previous), for rotating secrets from the admin API.
    pub vault_keys: Option<(paybridge_vault::KeySource, Vec<paybridge_vault::KeySource>)>,
}

/// What `[http]` resolves to: named credentials for flows' `http` steps.
#[derive(Debug, Clone, Default)]
pub struct HttpSettings {
    pub credentials: std::collections::BTreeMap<String, paybridge_actions::http::HttpCredential>,
    pub allow_local: bool,
}

/// Where alerts go, resolved (secrets included).
#[derive(Debug, Clone)]
pub struct AlertsConfig {
    pub settings: AlertSettings,
    pub slack: Option<SecretString>,
    pub email: Option<EmailConfig>,
}

#[derive(Debug, Clone)]
pub struct EmailConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub credentials: Option<(String, SecretString)>,
    pub from: String,
    pub to: Vec<String>,
}

impl EmailConfig {
    pub fn channel(&self) -> Result<Channel, paybridge_engine::alerts::ChannelError> {
        Channel::email(
            &self.host,
            self.port,
            self.security,
            self.credentials.clone(),
            &self.from,
            &self.to,
        )
    }
}

fn webhook_verifier(
    cybersource: &CybersourceConnection,
) -> anyhow::Result<Option<Arc<paybridge_cybersource::webhooks::WebhookVerifier>>> {
    if cybersource.webhook_keys.is_empty() {
        return Ok(None);
    }
    let mut verifier =
        paybridge_cybersource::webhooks::WebhookVerifier::new(cybersource.webhook_window);
    for (id, key) in &cybersource.webhook_keys {
        verifier
            .add_key(id.clone(), key)
            .with_context(|| format!("cybersource webhook key {id}"))?;
    }
    Ok(Some(Arc::new(verifier)))
}

impl AlertsConfig {
    fn alerts(&self, store: &Store, clock: Clock) -> anyhow::Result<Alerts> {
        let mut channels = Vec::new();
        if let Some(url) = &self.slack {
            channels.push(Channel::slack(url.clone())?);
        }
        if let Some(email) = &self.email {
            channels.push(email.channel()?);
        }
        Ok(Alerts::new(
            store.clone(),
            clock,
            self.settings.clone(),
            channels,
        ))
    }
}

#[derive(Debug, Clone)]
pub struct CybersourceConnection {
    pub environment: Environment,
    pub credentials: Credentials,
    /// Webhook signing keys by id (empty: `POST /webhooks/cybersource` is off).
    pub webhook_keys: Vec<(String, SecretString)>,
    /// How far a delivery's signature timestamp may be from now.
    pub webhook_window: std::time::Duration,
}

#[derive(Debug, Clone)]
pub struct ZohoConnection {
    pub credentials: OAuthCredentials,
    pub api_domain: Url,
    pub organization_id: String,
    pub base_currency: Currency,
    /// The organization's time zone (IANA).
    pub time_zone: String,
    /// The organization's Zoho limits; `None` sends unmetered (only against a simulator
    /// without limits).
    pub quotas: Option<Plans>,
    /// The organization uses Zoho Inventory (same organization id as Books).
    pub inventory: bool,
    /// The organization uses Zoho CRM.
    pub crm: bool,
    /// The Zoho Desk organization, when Desk is used.
    pub desk_org_id: Option<String>,
    /// How Books webhooks prove themselves (`None`: `POST /webhooks/zoho/books` is off).
    pub books_webhooks: Option<paybridge_zoho::webhooks::BooksWebhookAuth>,
    /// The secret Desk webhooks carry (`None`: `POST /webhooks/zoho/desk` is off).
    pub desk_webhook_secret: Option<SecretString>,
    /// The CRM notification channel to keep (`None`: `POST /webhooks/zoho/crm` is off).
    pub crm_channel: Option<paybridge_engine::jobs::crm_channel::CrmChannel>,
}

/// paybridge, running.
#[derive(Debug)]
pub struct RunningApp {
    pub engine: Engine,
    addr: SocketAddr,
    workers: Workers,
    server: JoinHandle<std::io::Result<()>>,
    stop_server: oneshot::Sender<()>,
    admin: Arc<paybridge_server::Admin>,
    sampler: JoinHandle<()>,
    secrets: JoinHandle<()>,
    crm_channel: Option<JoinHandle<()>>,
}

impl RunningApp {
    pub async fn start(config: AppConfig) -> anyhow::Result<RunningApp> {
        let cybersource = paybridge_cybersource::Client::new(CybersourceConfig::new(
            config.cybersource.environment.clone(),
            config.cybersource.credentials.clone(),
        ))
        .context("configuring the Cybersource connection")?;
        let store = open_store(&config.store).await?;
        // Zoho's budgets and the token-refresh lease live in the store, shared by every
        // process on it.
        let clock = Clock::new();
        let holder = format!("paybridge-{}", uuid::Uuid::new_v4().simple());
        let zoho =
            paybridge_zoho::Client::new(ZohoConfig {
                budgets: config.zoho.quotas.clone().map(|plans| {
                    Budgets::new(plans, Arc::new(StoreLedger::new(store.clone(), clock)))
                }),
                coordination: Some(Coordination {
                    lock: Arc::new(StoreLeases::new(store.clone(), clock)),
                    holder,
                }),
                ..ZohoConfig::new(
                    config.zoho.credentials.clone(),
                    config.zoho.api_domain.clone(),
                )
            })
            .context("configuring the Zoho connection")?;
        // The organization's quotas show in /metrics and the admin API from the start.
        if let Some(budgets) = zoho.budgets() {
            budgets.watch(
                paybridge_zoho::quota::Product::Finance,
                &config.zoho.organization_id,
            );
        }
        let books = zoho.books(config.zoho.organization_id.clone());
        let mut connectors =
            Connectors::new(cybersource, zoho.clone(), books, config.zoho.base_currency);
        connectors.books_time_zone = config.zoho.time_zone.clone();
        if config.zoho.inventory {
            connectors.inventory = Some(zoho.inventory(config.zoho.organization_id.clone()));
        }
        if config.zoho.crm {
            connectors.crm = Some(zoho.crm(config.zoho.organization_id.clone()));
        }
        if let Some(org_id) = &config.zoho.desk_org_id {
            connectors.desk = Some(zoho.desk(org_id.clone()));
        }
        connectors.mailer = config.email.clone();
        connectors.http = paybridge_actions::http::HttpConnections::new(
            config.http.credentials.clone(),
            config.http.allow_local,
        );
        if let Some((url, secret)) = &config.storefront_callback {
            connectors.storefront = Some(Storefront::new(url.clone(), secret.clone()));
        }

        let mut engine =
            Engine::new(store, connectors, config.engine.clone()).with_flows(config.flows.clone());
        if let Some(env) = &config.flows_env {
            engine = engine
                .following_env(env)
                .await
                .with_context(|| format!("loading the flows deployed to {env} ([flows] env)"))?;
        }
        if let Some(alerts) = &config.alerts {
            let alerts = alerts.alerts(engine.store(), engine.clock)?;
            engine = engine.with_alerts(alerts);
        }
        let vault = match &config.vault_keys {
            Some((current, previous)) => Some(
                paybridge_vault::Vault::open(
                    engine.store().clone(),
                    engine.clock,
                    current.clone(),
                    previous.clone(),
                )
                .await
                .context("opening the vault")?,
            ),
            None => None,
        };
        let workers = engine.start_workers();

        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        let addr = listener.local_addr()?;
        let admin = Arc::new(paybridge_server::Admin {
            connections: if config.connections.is_empty() {
                describe_connections(&config, "custom", None, Vec::new())
            } else {
                config.connections.clone()
            },
            vault,
            ..Default::default()
        });
        let state = AppState {
            engine: engine.clone(),
            storefront_keys: paybridge_server::shared(config.storefront_keys.clone()),
            metrics: paybridge_server::metrics::install(),
            cybersource_webhooks: webhook_verifier(&config.cybersource)?,
            zoho_books_webhooks: config
                .zoho
                .books_webhooks
                .clone()
                .map(paybridge_server::shared),
            zoho_desk_webhooks: match (&config.zoho.desk_org_id, &config.zoho.desk_webhook_secret) {
                (Some(org), Some(secret)) => Some(Arc::new((org.clone(), secret.clone()))),
                _ => None,
            },
            zoho_crm_channel: config
                .zoho
                .crm_channel
                .as_ref()
                .map(|c| Arc::new((c.channel_id.clone(), c.token.clone()))),
            admin: admin.clone(),
        };
        // The console overview's minute readings (ends when the server closes).
        let sampler = paybridge_server::console::spawn_sampler(state.clone());
        // Secrets another node rotates are picked up here too (ends when the server closes).
        let secrets = paybridge_server::admin::live_secrets::spawn_watcher(state.clone());
        // The CRM notification channel, kept alive (ends when the server closes).
        let crm_channel = config
            .zoho
            .crm_channel
            .clone()
            .map(|channel| channel.spawn_keeper(engine.clone(), admin.closing.subscribe()));
        let router = paybridge_server::router(state);
        let (stop_server, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(paybridge_server::serve(listener, router, async {
            let _ = stopped.await;
        }));
        tracing::info!(%addr, node = engine.node_id(), store = %engine.store().location(), "paybridge is running");
        Ok(RunningApp {
            engine,
            addr,
            workers,
            server,
            stop_server,
            admin,
            sampler,
            secrets,
            crm_channel,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>/`
    pub fn url(&self) -> Url {
        Url::parse(&format!("http://{}/", self.addr)).expect("socket addresses make valid URLs")
    }

    /// Stops taking requests, lets in-flight runs finish, and closes the store.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.admin.close();
        let _ = self.stop_server.send(());
        self.server
            .await
            .context("the HTTP server task failed")?
            .context("the HTTP server failed")?;
        let _ = self.sampler.await;
        let _ = self.secrets.await;
        if let Some(keeper) = self.crm_channel {
            let _ = keeper.await;
        }
        self.workers.stop().await;
        self.engine.store().close().await;
        Ok(())
    }
}

/// The connections as the admin API and the console describe them.
pub fn describe_connections(
    app: &AppConfig,
    cybersource_environment: &str,
    zoho_data_centre: Option<&str>,
    slots: Vec<(
        &'static str,
        paybridge_server::admin::connections::SecretSlot,
    )>,
) -> Vec<paybridge_server::admin::connections::ConnectionInfo> {
    let secrets = |name: &str| -> Vec<paybridge_server::admin::connections::SecretSlot> {
        slots
            .iter()
            .filter(|(c, _)| *c == name)
            .map(|(_, s)| s.clone())
            .collect()
    };
    let mut products = vec!["books".to_string()];
    if app.zoho.inventory {
        products.push("inventory".into());
    }
    if app.zoho.crm {
        products.push("crm".into());
    }
    if app.zoho.desk_org_id.is_some() {
        products.push("desk".into());
    }
    let mut all = vec![
        paybridge_server::admin::connections::ConnectionInfo {
            name: "cybersource".into(),
            vendor: "Cybersource".into(),
            endpoint: app.cybersource.environment.base_url().to_string(),
            data_centre: cybersource_environment.to_string(),
            account: app.cybersource.credentials.merchant_id.clone(),
            products: Vec::new(),
            secrets: secrets("cybersource"),
        },
        paybridge_server::admin::connections::ConnectionInfo {
            name: "zoho".into(),
            vendor: "Zoho".into(),
            endpoint: app.zoho.api_domain.to_string(),
            data_centre: zoho_data_centre
                .map(str::to_string)
                .unwrap_or_else(|| app.zoho.api_domain.host_str().unwrap_or("?").to_string()),
            account: app.zoho.organization_id.clone(),
            products,
            secrets: secrets("zoho"),
        },
    ];
    if let Some((url, _)) = &app.storefront_callback {
        all.push(paybridge_server::admin::connections::ConnectionInfo {
            name: "storefront".into(),
            vendor: "Storefront".into(),
            endpoint: paybridge_server::admin::connections::redact_url(url),
            data_centre: "-".into(),
            account: "-".into(),
            products: Vec::new(),
            secrets: secrets("storefront"),
        });
    }
    all
}
