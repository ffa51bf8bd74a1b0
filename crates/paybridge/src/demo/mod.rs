//! `paybridge demo`: the whole product against the built-in sandboxes, checking its own work.
//!
//! One process runs a Cybersource sandbox, a Zoho sandbox, paybridge itself (engine, workers,
//! order API, embedded SQLite store) and a storefront that places orders through the order API.
//! When every order has settled, the demo reads the results back through the sandboxes' own
//! APIs and checks them: each approved order is exactly one paid invoice and one customer
//! payment in Zoho Books and one charge in Cybersource; no declined order reached Zoho.

mod customers;
mod refunds;
mod summary;
mod verify;

use crate::app::{AppConfig, CybersourceConnection, RunningApp, ZohoConnection};
use anyhow::{Context as _, bail};
use base64::Engine as _;
use indicatif::{ProgressBar, ProgressStyle};
use paybridge_cybersource::{Credentials, Environment};
use paybridge_engine::EngineSettings;
use paybridge_flows::Library;
use paybridge_model::{Currency, OrderStatus};
use paybridge_sandbox::cybersource::{CybersourceConfig, CybersourceSandbox};
use paybridge_sandbox::mail::MailSink;
use paybridge_sandbox::server::RunningServer;
use paybridge_sandbox::storefront::{
    CallbackReceiver, Expectation, OrderPlan, PlacedOrder, Storefront, StorefrontConfig,
};
use paybridge_sandbox::zoho::{ZohoConfig, ZohoLimits, ZohoSandbox};
use paybridge_store::RunStatus;
use paybridge_store::{OrderStore as _, RunStore as _};
use paybridge_zoho::OAuthCredentials;
use paybridge_zoho::quota::{FinancePlan, Plans};
use rand::RngExt as _;
use secrecy::SecretString;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use url::Url;

pub use refunds::DemoRefund;
pub use summary::{ApiCalls, Summary, VerificationSummary, ZohoRecords, render};
pub use verify::{BooksSnapshot, Verification};

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub orders: usize,
    pub seed: u64,
    /// Where the store lives; a fresh temporary directory (kept afterwards) when absent.
    pub data_dir: Option<PathBuf>,
    /// Orders the storefront has in flight at once.
    pub concurrency: usize,
    pub workers: usize,
    /// How long a lost payment waits before it is looked up (Cybersource prescribes 60 s; its
    /// webhook, when it comes, resolves it sooner).
    pub payment_resolution_delay: std::time::Duration,
    /// Run the flows deployed to this environment (seeded with the shipped templates), so that
    /// deploying from the console changes what runs.
    pub flows_env: Option<String>,
}

impl Default for DemoOptions {
    fn default() -> DemoOptions {
        DemoOptions {
            orders: 25,
            seed: 42,
            data_dir: None,
            concurrency: 16,
            workers: 8,
            payment_resolution_delay: std::time::Duration::from_secs(60),
            flows_env: None,
        }
    }
}

/// Generated credentials, shared by a sandbox and the connector that talks to it.
struct DemoCredentials {
    merchant_id: String,
    key_id: String,
    shared_secret: String,
    client_id: String,
    client_secret: String,
    refresh_token: String,
    organization_id: String,
    storefront_key: String,
    callback_secret: String,
    /// The token Books webhooks carry (`?token=`).
    books_webhook_token: String,
}

impl DemoCredentials {
    fn generate() -> DemoCredentials {
        let mut rng = rand::rng();
        let secret: [u8; 32] = rng.random();
        let hex = |bytes: usize| {
            let mut rng = rand::rng();
            (0..bytes)
                .map(|_| format!("{:02x}", rng.random::<u8>()))
                .collect::<String>()
        };
        DemoCredentials {
            merchant_id: "paybridge_demo".into(),
            key_id: uuid::Uuid::new_v4().to_string(),
            shared_secret: base64::engine::general_purpose::STANDARD.encode(secret),
            client_id: format!("1000.{}", hex(15).to_uppercase()),
            client_secret: hex(21),
            refresh_token: format!("1000.{}.{}", hex(16), hex(16)),
            organization_id: "10234695".into(),
            storefront_key: hex(24),
            callback_secret: hex(24),
            books_webhook_token: hex(24),
        }
    }
}

/// The sandboxes, paybridge and the storefront, all running.
pub struct DemoEnvironment {
    pub cybersource: CybersourceSandbox,
    pub zoho: ZohoSandbox,
    pub app: RunningApp,
    pub storefront: Storefront,
    pub data_dir: PathBuf,
    pub data_dir_is_temporary: bool,
    pub reference_prefix: String,
    pub storefront_key: String,
    /// The storefront's end of paybridge's callbacks.
    pub callbacks: CallbackReceiver,
    /// The merchant's own Cybersource access (Business Center, in effect): refunds made there.
    cybersource_admin: paybridge_cybersource::Client,
    cybersource_server: RunningServer,
    zoho_server: RunningServer,
    callbacks_server: RunningServer,
    /// The SMTP relay e-mails to customers go through (a sink that keeps them).
    pub mail: MailSink,
    zoho_client: (String, String, String),
    organization_id: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for DemoEnvironment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoEnvironment")
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

fn loopback() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

impl DemoEnvironment {
    pub async fn start(options: &DemoOptions) -> anyhow::Result<DemoEnvironment> {
        let creds = DemoCredentials::generate();
        let cybersource = CybersourceSandbox::new(&CybersourceConfig::with_key(
            &creds.merchant_id,
            &creds.key_id,
            &creds.shared_secret,
        ))?;
        let cybersource_server = RunningServer::start(cybersource.router(), loopback()).await?;
        // Zoho's limits, raised a thousandfold so that the demo takes seconds, not minutes;
        // paybridge meters its requests against the same raised limits.
        let limits = ZohoLimits {
            books_per_minute: 100 * 1_000,
            books_per_day: 10_000 * 1_000,
            ..ZohoLimits::default()
        };
        let zoho = ZohoSandbox::new(ZohoConfig {
            limits: limits.clone(),
            ..ZohoConfig::single(
                &creds.client_id,
                &creds.client_secret,
                &creds.refresh_token,
                &creds.organization_id,
                "USD",
            )
        });
        let zoho_server = RunningServer::start(zoho.router(), loopback()).await?;
        let callbacks = CallbackReceiver::new(&creds.callback_secret);
        let callbacks_server = RunningServer::start(callbacks.router(), loopback()).await?;
        let mail = MailSink::start().await.context("starting the mail sink")?;

        let (data_dir, data_dir_is_temporary) = match &options.data_dir {
            Some(dir) => (dir.clone(), false),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("paybridge-demo-")
                    .tempdir()?;
                (dir.keep(), true)
            }
        };
        // Cybersource tells paybridge of its payments by webhook: a signing key first, so that
        // paybridge knows it before the first delivery; the subscription once it listens.
        let cybersource_admin =
            paybridge_cybersource::Client::new(paybridge_cybersource::ClientConfig::new(
                Environment::Custom(cybersource_server.url()),
                Credentials {
                    merchant_id: creds.merchant_id.clone(),
                    key_id: creds.key_id.clone(),
                    shared_secret: SecretString::from(creds.shared_secret.clone()),
                },
            ))?;
        let signing_key = cybersource_admin
            .create_signing_key(&creds.merchant_id)
            .await
            .context("creating the webhook signing key")?;
        let webhook_key = signing_key
            .key
            .clone()
            .context("the signing key came without its key")?;
        if let Some(env) = &options.flows_env {
            let store = paybridge_store::Store::open_sqlite(&data_dir.join("paybridge.db")).await?;
            paybridge_engine::deploy::Deployments::new(
                store.clone(),
                paybridge_store::Clock::new(),
            )
            .deploy(
                env,
                &Library::shipped(paybridge_actions::catalogue()),
                Some("the demo's templates"),
            )
            .await?;
            store.close().await;
        }
        let app = RunningApp::start(AppConfig {
            // The demo's dead letters are in its summary; it tells no one.
            alerts: None,
            listen: loopback(),
            store: crate::app::StoreLocation::Sqlite(data_dir.join("paybridge.db")),
            engine: EngineSettings {
                workers: options.workers,
                test_mode: true,
                payment_resolution_delay: options.payment_resolution_delay,
                ..EngineSettings::default()
            },
            cybersource: CybersourceConnection {
                environment: Environment::Custom(cybersource_server.url()),
                credentials: Credentials {
                    merchant_id: creds.merchant_id.clone(),
                    key_id: creds.key_id.clone(),
                    shared_secret: SecretString::from(creds.shared_secret.clone()),
                },
                webhook_keys: vec![(signing_key.key_id.clone(), webhook_key)],
                webhook_window: std::time::Duration::from_secs(300),
            },
            zoho: ZohoConnection {
                credentials: OAuthCredentials {
                    accounts_url: zoho_server.url(),
                    client_id: creds.client_id.clone(),
                    client_secret: SecretString::from(creds.client_secret.clone()),
                    refresh_token: SecretString::from(creds.refresh_token.clone()),
                },
                api_domain: zoho_server.url(),
                organization_id: creds.organization_id.clone(),
                base_currency: Currency::USD,
                time_zone: "UTC".into(),
                quotas: Some(Plans {
                    finance: FinancePlan {
                        per_minute: limits.books_per_minute,
                        per_day: limits.books_per_day,
                    },
                    ..Plans::default()
                }),
                inventory: true,
                crm: true,
                // The Zoho sandbox's Desk organization: review tickets go there.
                desk_org_id: Some("60001234567".into()),
                // Books tells paybridge of credit notes (refunds asked for in Books) and contact
                // edits (sent on to Cybersource's TMS customer) by workflow webhooks.
                crm_channel: None,
                desk_webhook_secret: None,
                books_webhooks: Some(paybridge_zoho::webhooks::BooksWebhookAuth::Token {
                    secret: SecretString::from(creds.books_webhook_token.clone()),
                    header: "x-paybridge-token".into(),
                    query: "token".into(),
                }),
            },
            storefront_keys: vec![SecretString::from(creds.storefront_key.clone())],
            storefront_callback: Some((
                callbacks_server.url().join("callbacks")?,
                SecretString::from(creds.callback_secret.clone()),
            )),
            // Declined customers are told why by e-mail, through the demo's SMTP sink.
            email: Some(
                paybridge_actions::email::Mailer::new(
                    "127.0.0.1",
                    mail.addr().port(),
                    paybridge_actions::email::SmtpSecurity::None,
                    None,
                    "Demo Tea Shop <orders@shop.example>",
                    None,
                )
                .map_err(|e| anyhow::anyhow!("the demo's mail sink: {e}"))?,
            ),
            http: Default::default(),
            flows: Library::shipped(paybridge_actions::catalogue()),
            flows_env: options.flows_env.clone(),
            connections: Vec::new(),
            vault_keys: None,
        })
        .await?;

        use paybridge_cybersource::webhooks::{
            CreateWebhook, ProductEvents, SecurityConfig, SecurityPolicy, WebhookRetryPolicy,
        };
        cybersource_admin
            .create_webhook(&CreateWebhook {
                name: "paybridge".into(),
                description: "payments to Zoho".into(),
                organization_id: creds.merchant_id.clone(),
                products: vec![
                    ProductEvents {
                        product_id: "payments".into(),
                        event_types: vec![
                            "payments.authorization.status.accepted".into(),
                            "payments.authorization.status.reviewed".into(),
                            "payments.authorization.status.rejected".into(),
                            "payments.authorization.status.partiallyApproved".into(),
                            "payments.refund.status.accepted".into(),
                        ],
                    },
                    ProductEvents {
                        product_id: "decisionManager".into(),
                        event_types: vec![
                            "risk.casemanagement.decision.accept".into(),
                            "risk.casemanagement.decision.reject".into(),
                        ],
                    },
                ],
                webhook_url: format!("{}webhooks/cybersource", app.url()),
                health_check_url: None,
                notification_scope: "SELF".into(),
                retry_policy: WebhookRetryPolicy::default(),
                security_policy: SecurityPolicy {
                    security_type: "key".into(),
                    config: SecurityConfig {
                        key_id: Some(signing_key.key_id.clone()),
                    },
                },
            })
            .await
            .context("subscribing paybridge to Cybersource's webhooks")?;

        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()?;
        // Books tells paybridge of credit notes (refunds asked for in Books) and contact edits
        // (sent on to the TMS customer) by workflow-rule webhooks, which an admin sets up in
        // Books' settings — here, in the sandbox's.
        let mut books_hook = app.url().join("webhooks/zoho/books")?;
        books_hook
            .query_pairs_mut()
            .append_pair("token", &creds.books_webhook_token);
        for (module, event) in [("creditnote", "create"), ("contact", "edit")] {
            http.post(zoho_server.url().join("__sandbox/books/webhooks")?)
                .json(&serde_json::json!({
                    "organization_id": creds.organization_id,
                    "module": module,
                    "events": [event],
                    "url": books_hook.as_str(),
                }))
                .send()
                .await?
                .error_for_status()
                .with_context(|| format!("setting up the Books {module} webhook"))?;
        }

        let reference_prefix = format!(
            "DEMO-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..6].to_uppercase()
        );
        let storefront = Storefront::new(StorefrontConfig {
            api_base: app.url(),
            api_key: creds.storefront_key.clone(),
            reference_prefix: reference_prefix.clone(),
            orders: options.orders,
            seed: options.seed,
            concurrency: options.concurrency,
            reviews: true,
            foreign_currencies: true,
            save_cards: true,
        })?;
        Ok(DemoEnvironment {
            cybersource,
            zoho,
            app,
            storefront,
            data_dir,
            data_dir_is_temporary,
            reference_prefix,
            storefront_key: creds.storefront_key,
            callbacks,
            callbacks_server,
            mail,
            cybersource_admin,
            cybersource_server,
            zoho_server,
            zoho_client: (creds.client_id, creds.client_secret, creds.refresh_token),
            organization_id: creds.organization_id,
            http,
        })
    }

    pub fn cybersource_url(&self) -> Url {
        self.cybersource_server.url()
    }

    pub fn zoho_url(&self) -> Url {
        self.zoho_server.url()
    }

    /// Waits until all `expected` orders have settled and no run is queued or running.
    pub async fn wait_settled(
        &self,
        expected: usize,
        timeout: Duration,
        progress: &ProgressBar,
    ) -> anyhow::Result<()> {
        let engine = &self.app.engine;
        let wait = engine.wait_until(Duration::from_millis(250), || async {
            let counts = engine.store().counts().await?;
            let settled: u64 = counts
                .orders_by_status
                .iter()
                .filter(|(status, _)| {
                    status
                        .parse::<OrderStatus>()
                        .is_ok_and(OrderStatus::is_settled)
                })
                .map(|(_, n)| n)
                .sum();
            let busy = [RunStatus::Queued, RunStatus::Running]
                .iter()
                .map(|s| counts.runs_by_status.get(s.as_str()).copied().unwrap_or(0))
                .sum::<u64>();
            // Every payment's webhook has come (Cybersource delivers them on its own time).
            let webhooks = counts
                .inbox_by_source
                .get("cybersource-webhook")
                .copied()
                .unwrap_or(0);
            progress.set_position(settled);
            Ok(usize::try_from(settled).unwrap_or(usize::MAX) >= expected
                && usize::try_from(webhooks).unwrap_or(usize::MAX) >= expected
                && busy == 0)
        });
        match tokio::time::timeout(timeout, wait).await {
            Ok(result) => Ok(result?),
            Err(_) => bail!("not every order settled within {} s", timeout.as_secs()),
        }
    }

    /// The merchant's Zoho Books sells in euros and yen too: both currencies, with the day's
    /// rates, as a merchant sets them up under Settings → Currencies.
    pub async fn set_up_currencies(&self) -> anyhow::Result<()> {
        let books = &self.app.engine.connectors().books;
        let today = self.app.engine.clock.today();
        for (code, symbol, rate) in [("EUR", "€", "1.0836"), ("JPY", "¥", "0.0067")] {
            let currency = books
                .add_currency(code, symbol)
                .await
                .with_context(|| format!("adding {code} to the Zoho Books organization"))?;
            books
                .add_exchange_rate(&currency.currency_id, &today, rate.parse()?)
                .await
                .with_context(|| format!("recording the {code} rate"))?;
        }
        Ok(())
    }

    /// Places every planned order and waits for all of them to settle.
    pub async fn place_and_settle(
        &self,
        progress: &ProgressBar,
    ) -> anyhow::Result<Vec<PlacedOrder>> {
        let plans = self.storefront.plans();
        let expected = plans.len();
        self.set_up_currencies().await?;
        progress.set_message("placing orders");
        let placed = self.storefront.send_all(plans, |_| {}).await?;
        // An order the API refused never settles: say which and why rather than wait for it.
        let refused: Vec<String> = placed
            .iter()
            .filter(|p| matches!(p.http_status, 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422))
            .map(|p| format!("{} ({}: {})", p.plan.reference, p.http_status, p.response))
            .collect();
        if !refused.is_empty() {
            bail!(
                "the order API refused {} order(s): {}",
                refused.len(),
                refused.join("; ")
            );
        }
        progress.set_message("writing to Zoho");
        self.wait_settled(expected, settle_timeout(expected), progress)
            .await?;
        self.decide_reviews(&placed).await?;
        Ok(placed)
    }

    /// A reviewer decides every order Decision Manager held (in Decision Manager, whose webhook
    /// tells paybridge); waits until each is booked or declined.
    pub async fn decide_reviews(&self, placed: &[PlacedOrder]) -> anyhow::Result<()> {
        let store = &self.app.engine.store();
        let mut decided = Vec::new();
        for order in placed {
            let accept = match order.plan.expectation {
                Expectation::ReviewAccept => true,
                Expectation::ReviewReject => false,
                _ => continue,
            };
            let Some(record) = store.order_by_reference(&order.plan.reference).await? else {
                continue;
            };
            if let Some(payment) = &record.payment_id {
                let comment = if accept {
                    "customer confirmed by phone"
                } else {
                    "card reported by its holder"
                };
                self.cybersource.decide_case(payment, accept, comment);
                decided.push(record.id.clone());
            }
        }
        let engine = &self.app.engine;
        let wait = engine.wait_until(Duration::from_millis(100), || async {
            for id in &decided {
                if store
                    .order(id)
                    .await?
                    .is_none_or(|o| o.status == OrderStatus::OnHold)
                {
                    return Ok(false);
                }
            }
            let counts = store.counts().await?;
            let busy = [RunStatus::Queued, RunStatus::Running]
                .iter()
                .map(|s| counts.runs_by_status.get(s.as_str()).copied().unwrap_or(0))
                .sum::<u64>();
            Ok(busy == 0)
        });
        tokio::time::timeout(Duration::from_secs(60), wait)
            .await
            .context("not every reviewed order was settled within 60 s")??;
        Ok(())
    }

    /// Sends every order again, byte for byte, with its Idempotency-Key.
    pub async fn redeliver_orders(
        &self,
        plans: Vec<OrderPlan>,
    ) -> anyhow::Result<Vec<PlacedOrder>> {
        Ok(self.storefront.send_all(plans, |_| {}).await?)
    }

    /// Runs every finished run again (as a re-delivered event would), and waits for them.
    pub async fn rerun_all_runs(&self, progress: &ProgressBar) -> anyhow::Result<usize> {
        let engine = &self.app.engine;
        let runs = engine.store().runs(None, u32::MAX).await?;
        let mut requeued = 0;
        for run in &runs {
            if engine
                .store()
                .requeue_run(run.id, engine.clock.now_ms())
                .await?
            {
                requeued += 1;
            }
        }
        engine.wake_workers();
        let orders = engine.store().orders(u32::MAX).await?.len();
        self.wait_settled(orders, settle_timeout(orders), progress)
            .await?;
        Ok(requeued)
    }

    /// Stops paybridge and the sandboxes.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.app.stop().await?;
        self.cybersource_server.shutdown().await;
        self.zoho_server.shutdown().await;
        self.callbacks_server.shutdown().await;
        Ok(())
    }
}

fn settle_timeout(orders: usize) -> Duration {
    Duration::from_secs(60 + u64::try_from(orders).unwrap_or(u64::MAX) / 10)
}

fn progress_bar(orders: usize, visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(u64::try_from(orders).unwrap_or(u64::MAX));
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg:<22} [{bar:40}] {pos}/{len} orders settled ({elapsed})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// `paybridge demo`: runs, verifies, prints, and (with `keep_running`) stays up until Ctrl-C.
/// Returns whether the verification passed.
pub async fn run(options: DemoOptions, json: bool, keep_running: bool) -> anyhow::Result<bool> {
    if options.orders == 0 {
        bail!("--orders must be at least 1");
    }
    let started = Instant::now();
    let env = DemoEnvironment::start(&options).await?;
    let progress = progress_bar(options.orders, true);
    let placed = env.place_and_settle(&progress).await;
    progress.finish_and_clear();
    let placed = placed?;
    let mut verification = env.verify(&placed).await?;
    let refunds = env.refund_some(&placed).await?;
    env.verify_refunds(&refunds, &mut verification).await?;
    env.sync_customers(&placed, &mut verification).await?;
    let summary = env
        .summary(&placed, &verification, started.elapsed())
        .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", render(&summary));
    }
    if keep_running {
        eprintln!();
        eprintln!("Still running (Ctrl-C stops everything):");
        eprintln!(
            "  paybridge order API   {}api/v1/orders   (Authorization: Bearer {})",
            env.app.url(),
            env.storefront_key
        );
        eprintln!("  Cybersource sandbox   {}", env.cybersource_url());
        eprintln!("  Zoho sandbox          {}", env.zoho_url());
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
    }
    env.stop().await?;
    Ok(summary.verification.ok)
}
