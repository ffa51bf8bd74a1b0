//! `paybridge demo`: the whole product against the built-in sandboxes, checking its own work.
//!
//! One process runs a Cybersource sandbox, a Zoho sandbox, paybridge itself (engine, workers,
//! order API, embedded SQLite store) and a storefront that places orders through the order API.
//! When every order has settled, the demo reads the results back through the sandboxes' own
//! APIs and checks them: each approved order is exactly one paid invoice and one customer
//! payment in Zoho Books and one charge in Cybersource; no declined order reached Zoho.

use paybridge_store::{OrderStore as _, RunStore as _};
use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use indicatif::{ProgressBar, ProgressStyle};
use paybridge_cybersource::{Credentials, Environment};
use paybridge_engine::EngineSettings;
use paybridge_flows::Library;
use paybridge_model::{Currency, Money, OrderStatus};
use paybridge_sandbox::cybersource::{CybersourceConfig, CybersourceSandbox};
use paybridge_sandbox::mail::MailSink;
use paybridge_sandbox::server::RunningServer;
use paybridge_sandbox::storefront::{
    CallbackReceiver, Expectation, OrderPlan, PlacedOrder, Storefront, StorefrontConfig,
};
use paybridge_sandbox::zoho::{ZohoConfig, ZohoLimits, ZohoSandbox};
use paybridge_store::{OrderRecord, RefundStatus, RunStatus};
use paybridge_zoho::OAuthCredentials;
use paybridge_zoho::quota::{FinancePlan, Plans};
use rand::RngExt as _;
use secrecy::SecretString;
use serde::Serialize;
use serde_json::Value;
use url::Url;

use crate::app::{AppConfig, CybersourceConnection, RunningApp, ZohoConnection};

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
        progress.set_message("writing to Zoho");
        self.wait_settled(expected, settle_timeout(expected), progress)
            .await?;
        self.decide_reviews(&placed).await?;
        Ok(placed)
    }

    /// Refunds some approved orders both ways: every third through the order API (half of it,
    /// then the same request again), every fifth by hand in Cybersource (1.00, learnt from its
    /// webhook); waits until each is booked.
    pub async fn refund_some(&self, placed: &[PlacedOrder]) -> anyhow::Result<Vec<DemoRefund>> {
        let store = &self.app.engine.store();
        let mut made = Vec::new();
        let mut books_token: Option<String> = None;
        let approved: Vec<&PlacedOrder> = placed
            .iter()
            .filter(|p| p.plan.expectation == Expectation::Approve)
            .collect();
        for (i, order) in approved.iter().enumerate() {
            let reference = &order.plan.reference;
            let Some(record) = store.order_by_reference(reference).await? else {
                continue;
            };
            let currency = Currency::from_code(&record.currency)?;
            if i % 3 == 0 {
                let half = Money::rounded(
                    Money::from_minor(record.amount_minor, currency).amount()
                        / rust_decimal::Decimal::TWO,
                    currency,
                );
                let url = self
                    .app
                    .url()
                    .join(&format!("api/v1/orders/{}/refunds", record.id))?;
                let body =
                    serde_json::json!({"amount": half.to_decimal_string(), "reason": "returned"});
                let mut answer = Value::Null;
                // The storefront retries its request: one refund, not two.
                for _ in 0..2 {
                    answer = self
                        .http
                        .post(url.clone())
                        .header("Authorization", format!("Bearer {}", self.storefront_key))
                        .header("Idempotency-Key", format!("{reference}-refund-1"))
                        .json(&body)
                        .send()
                        .await?
                        .error_for_status()?
                        .json()
                        .await?;
                }
                made.push(DemoRefund {
                    reference: reference.clone(),
                    refund_id: answer["id"].as_str().unwrap_or_default().to_string(),
                    amount: half.amount(),
                    source: "api",
                });
            } else if i % 5 == 1 {
                use paybridge_cybersource::captures::AmountOnly;
                use paybridge_cybersource::payments::{AmountDetails, ClientReference};
                let amount = rust_decimal::Decimal::ONE;
                let refund = self
                    .cybersource_admin
                    .refund_payment(
                        record.payment_id.as_deref().unwrap_or_default(),
                        &paybridge_cybersource::refunds::RefundRequest {
                            client_reference_information: ClientReference {
                                code: reference.clone(),
                                transaction_id: None,
                            },
                            order_information: AmountOnly {
                                amount_details: AmountDetails {
                                    total_amount: amount,
                                    currency: record.currency.clone(),
                                },
                            },
                        },
                    )
                    .await?;
                made.push(DemoRefund {
                    reference: reference.clone(),
                    refund_id: refund.id,
                    amount,
                    source: "cybersource",
                });
            } else if i % 5 == 3 {
                // Finance issues a credit note in Books against the order's invoice: paybridge
                // refunds it on the card and records the refund on the note.
                let amount = rust_decimal::Decimal::ONE;
                // One access token for all of them (Zoho throttles refreshes).
                if books_token.is_none() {
                    books_token = Some(self.zoho_token().await?);
                }
                let token = books_token.as_deref().unwrap_or_default();
                let creditnote_id = self.credit_note_in_books(token, &record, amount).await?;
                made.push(DemoRefund {
                    reference: reference.clone(),
                    refund_id: creditnote_id,
                    amount,
                    source: "books",
                });
            }
        }
        let engine = &self.app.engine;
        let wait = engine.wait_until(Duration::from_millis(100), || async {
            for refund in &made {
                let found = self.refund_record(refund).await?;
                if found.is_none_or(|r| r.status == RefundStatus::Requested) {
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
            .context("not every refund was booked within 60 s")??;
        Ok(made)
    }

    /// Customer and token sync, both ways: every saved card is on its customer's Books
    /// contact (TMS customer, brand, last four, expiry — and nothing like a card number), and
    /// the finance team's change of a few of those contacts' e-mail in Books reaches their TMS
    /// customers.
    pub async fn sync_customers(
        &self,
        placed: &[PlacedOrder],
        verification: &mut Verification,
    ) -> anyhow::Result<()> {
        let store = &self.app.engine.store();
        let token = self.zoho_token().await?;
        // The saved cards' contacts, each with the last four of the card saved.
        let mut saved: std::collections::BTreeMap<String, String> = Default::default();
        let saving: Vec<&PlacedOrder> = placed
            .iter()
            .filter(|p| {
                p.plan.body["payment"]["save_card"] == true
                    && p.plan.expectation == Expectation::Approve
            })
            .collect();
        verification.cards_saved = saving.len();
        for order in saving {
            let Some(record) = store.order_by_reference(&order.plan.reference).await? else {
                continue;
            };
            let (Some(contact_id), Some(number)) = (
                record.zoho_contact_id.clone(),
                order.plan.body["payment"]["card"]["number"].as_str(),
            ) else {
                continue;
            };
            saved.insert(
                contact_id,
                number[number.len().saturating_sub(4)..].to_string(),
            );
        }
        let mut tms_customers = Vec::new();
        for (contact_id, last4) in &saved {
            let contact = self.books_contact(&token, contact_id).await?;
            let field = |name: &str| {
                contact["custom_fields"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|f| f["api_name"] == name)
                    .and_then(|f| f["value"].as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            let customer = field("cf_cybersource_customer");
            if customer.is_empty() || field("cf_card_last4") != *last4 {
                verification.problems.push(format!(
                    "Books contact {contact_id} does not carry its saved card (TMS customer {customer:?}, last four {:?})",
                    field("cf_card_last4")
                ));
                continue;
            }
            if paybridge_model::pan::find_in_json(&contact).is_empty() {
                tms_customers.push((contact_id.clone(), customer, contact));
            } else {
                verification
                    .problems
                    .push(format!("Books contact {contact_id} holds a card number"));
            }
        }
        // Finance corrects three customers' e-mail in Books; Books' webhook tells paybridge.
        let mut changed = Vec::new();
        for (contact_id, customer, contact) in tms_customers.iter().take(3) {
            let email = format!(
                "billing.{}",
                contact["email"].as_str().unwrap_or("customer@example.com")
            );
            let url = self.books_url(&format!("contacts/{contact_id}"))?;
            let answer: Value = self
                .http
                .put(url)
                .header("Authorization", format!("Zoho-oauthtoken {token}"))
                .json(&serde_json::json!({"contact_persons": [{
                    "first_name": contact["first_name"], "last_name": contact["last_name"],
                    "email": email, "is_primary_contact": true,
                }]}))
                .send()
                .await?
                .json()
                .await?;
            if answer["code"] != 0 {
                bail!("Books refused the contact change: {answer}");
            }
            changed.push((customer.clone(), email));
        }
        let admin = &self.cybersource_admin;
        let wait = self
            .app
            .engine
            .wait_until(Duration::from_millis(100), || async {
                for (customer, email) in &changed {
                    let found = admin
                        .customer(customer)
                        .await
                        .map_err(|e| paybridge_store::StoreError::Corrupt(e.to_string()))?;
                    if found.buyer_information.and_then(|b| b.email).as_deref()
                        != Some(email.as_str())
                    {
                        return Ok(false);
                    }
                }
                Ok(true)
            });
        if tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .is_err()
        {
            verification.problems.push(
                "a Books contact's new e-mail did not reach its TMS customer within 30 s".into(),
            );
        }
        verification.contacts_with_saved_cards = tms_customers.len();
        verification.contact_changes_to_tms = changed.len();
        verification.ok = verification.problems.is_empty();
        Ok(())
    }

    async fn books_contact(&self, token: &str, contact_id: &str) -> anyhow::Result<Value> {
        let url = self.books_url(&format!("contacts/{contact_id}"))?;
        let body: Value = self
            .http
            .get(url)
            .header("Authorization", format!("Zoho-oauthtoken {token}"))
            .send()
            .await?
            .json()
            .await?;
        if body["code"] != 0 {
            bail!("Zoho Books refused contact {contact_id}: {body}");
        }
        Ok(body["contact"].clone())
    }

    /// paybridge's record of a refund the demo made.
    async fn refund_record(
        &self,
        refund: &DemoRefund,
    ) -> Result<Option<paybridge_store::RefundRecord>, paybridge_store::StoreError> {
        let store = &self.app.engine.store();
        match refund.source {
            "api" => store.refund(&refund.refund_id).await,
            "cybersource" => store.refund_by_cybersource_id(&refund.refund_id).await,
            _ => {
                let Some(order) = store.order_by_reference(&refund.reference).await? else {
                    return Ok(None);
                };
                let key = format!("books:creditnote:{}", refund.refund_id);
                Ok(store
                    .refunds_of(&order.id)
                    .await?
                    .into_iter()
                    .find(|r| r.idempotency_key == key))
            }
        }
    }

    /// A credit note for `amount` against the order's invoice, made through the Books API as
    /// the finance team would in Books; its id.
    async fn credit_note_in_books(
        &self,
        token: &str,
        order: &paybridge_store::OrderRecord,
        amount: rust_decimal::Decimal,
    ) -> anyhow::Result<String> {
        let mut url = self.books_url("creditnotes")?;
        url.query_pairs_mut().append_pair(
            "invoice_id",
            order.zoho_invoice_id.as_deref().unwrap_or_default(),
        );
        let body: Value = self
            .http
            .post(url)
            .header("Authorization", format!("Zoho-oauthtoken {token}"))
            .json(&serde_json::json!({
                "customer_id": order.zoho_contact_id,
                "date": self.app.engine.clock.today(),
                "line_items": [{"name": "Goodwill refund", "rate": amount.to_string(), "quantity": 1}],
                "notes": "Refund to the customer's card.",
            }))
            .send()
            .await?
            .json()
            .await?;
        body["creditnote"]["creditnote_id"]
            .as_str()
            .map(str::to_string)
            .with_context(|| {
                format!(
                    "Books refused the credit note for {}: {body}",
                    order.reference
                )
            })
    }

    /// Checks each refund: refunded in Cybersource once, one refunded credit note in Books,
    /// the storefront told.
    pub async fn verify_refunds(
        &self,
        refunds: &[DemoRefund],
        verification: &mut Verification,
    ) -> anyhow::Result<()> {
        let token = self.zoho_token().await?;
        let notes = self
            .books_list(&token, "creditnotes", "creditnotes")
            .await?;
        let in_cybersource: Vec<_> = self
            .cybersource
            .transactions()
            .into_iter()
            .filter(|t| t.kind == paybridge_sandbox::cybersource::ledger::Kind::Refund)
            .collect();
        let problems = &mut verification.problems;
        for refund in refunds {
            let Some(record) = self.refund_record(refund).await? else {
                problems.push(format!(
                    "{}: refund {} unknown to paybridge",
                    refund.reference, refund.refund_id
                ));
                continue;
            };
            if record.status != RefundStatus::Refunded {
                problems.push(format!(
                    "{}: refund {} is {:?} ({})",
                    refund.reference,
                    record.id,
                    record.status,
                    record.status_detail.as_deref().unwrap_or("no detail")
                ));
                continue;
            }
            let cybersource_id = record.cybersource_refund_id.clone().unwrap_or_default();
            let charged: Vec<_> = in_cybersource
                .iter()
                .filter(|t| t.id == cybersource_id)
                .collect();
            if charged.len() != 1 || charged[0].amount != refund.amount {
                problems.push(format!(
                    "{}: refund {} is not one {} refund in Cybersource",
                    refund.reference, record.id, refund.amount
                ));
            }
            // paybridge's credit note names its refund; one made in Books is the refund's own.
            let its_notes: Vec<&Value> = notes
                .iter()
                .filter(|n| match refund.source {
                    "books" => n["creditnote_id"] == refund.refund_id.as_str(),
                    _ => n["reference_number"] == record.id.as_str(),
                })
                .collect();
            match its_notes.as_slice() {
                [note]
                    if decimal_of(&note["total"]) == Some(refund.amount)
                        && decimal_of(&note["balance"]) == Some(rust_decimal::Decimal::ZERO) => {}
                other => problems.push(format!(
                    "{}: refund {} has {} credit note(s) in Books, expected one of {} paid back",
                    refund.reference,
                    record.id,
                    other.len(),
                    refund.amount
                )),
            }
            let told = self
                .callbacks
                .for_reference(&refund.reference)
                .iter()
                .filter(|c| {
                    c["status"] == "refunded" && c["details"]["refund_id"] == record.id.as_str()
                })
                .count();
            if told != 1 {
                problems.push(format!(
                    "{}: the storefront heard of refund {} {told} times",
                    refund.reference, record.id
                ));
            }
        }
        // Only the refunds made here were made.
        if in_cybersource.len() != refunds.len() {
            problems.push(format!(
                "{} refunds in Cybersource for {} asked for",
                in_cybersource.len(),
                refunds.len()
            ));
        }
        verification.ok = problems.is_empty();
        verification.refunds = refunds.to_vec();
        Ok(())
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

    /// A Books API address of the demo's organization (`contacts/123`).
    fn books_url(&self, path: &str) -> anyhow::Result<Url> {
        let mut url = self.zoho_url().join(&format!("books/v3/{path}"))?;
        url.query_pairs_mut()
            .append_pair("organization_id", &self.organization_id);
        Ok(url)
    }

    /// A fresh access token from the Zoho sandbox's own token endpoint.
    async fn zoho_token(&self) -> anyhow::Result<String> {
        let (client_id, client_secret, refresh_token) = &self.zoho_client;
        let answer: Value = self
            .http
            .post(self.zoho_url().join("oauth/v2/token")?)
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", client_id),
                ("client_secret", client_secret),
                ("refresh_token", refresh_token),
            ])
            .send()
            .await?
            .json()
            .await?;
        answer["access_token"]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("no token from the Zoho sandbox: {answer}"))
    }

    /// Every row of a Zoho Books list, read through the sandbox's Books API.
    async fn books_list(&self, token: &str, path: &str, key: &str) -> anyhow::Result<Vec<Value>> {
        let mut rows = Vec::new();
        for page in 1.. {
            let mut url = self.books_url(path)?;
            url.query_pairs_mut()
                .append_pair("page", &page.to_string())
                .append_pair("per_page", "200");
            let body: Value = self
                .http
                .get(url)
                .header("Authorization", format!("Zoho-oauthtoken {token}"))
                .send()
                .await?
                .json()
                .await?;
            if body["code"] != 0 {
                bail!("Zoho Books refused to list {path}: {body}");
            }
            rows.extend(body[key].as_array().cloned().unwrap_or_default());
            if body["page_context"]["has_more_page"] != true {
                break;
            }
        }
        Ok(rows)
    }

    /// Every record of a Zoho CRM module, read through the sandbox's CRM API.
    async fn crm_list(
        &self,
        token: &str,
        module: &str,
        fields: &str,
    ) -> anyhow::Result<Vec<Value>> {
        let mut rows = Vec::new();
        for page in 1.. {
            let mut url = self.zoho_url().join(&format!("crm/v8/{module}"))?;
            url.query_pairs_mut()
                .append_pair("fields", fields)
                .append_pair("page", &page.to_string())
                .append_pair("per_page", "200");
            let response = self
                .http
                .get(url)
                .header("Authorization", format!("Zoho-oauthtoken {token}"))
                .send()
                .await?;
            // CRM answers an empty module with 204 and no body.
            if response.status() == reqwest::StatusCode::NO_CONTENT {
                break;
            }
            let body: Value = response.json().await?;
            let Some(data) = body["data"].as_array() else {
                bail!("Zoho CRM refused to list {module}: {body}");
            };
            rows.extend(data.iter().cloned());
            if body["info"]["more_records"] != true {
                break;
            }
        }
        Ok(rows)
    }

    /// What Zoho holds, read through its APIs.
    pub async fn books_snapshot(&self) -> anyhow::Result<BooksSnapshot> {
        let token = self.zoho_token().await?;
        Ok(BooksSnapshot {
            contacts: self.books_list(&token, "contacts", "contacts").await?,
            invoices: self.books_list(&token, "invoices", "invoices").await?,
            customer_payments: self
                .books_list(&token, "customerpayments", "customerpayments")
                .await?,
            sales_orders: self
                .books_list(&token, "salesorders", "salesorders")
                .await?,
            crm_contacts: self
                .crm_list(&token, "Contacts", "Email,First_Name,Last_Name")
                .await?,
        })
    }

    /// Checks every order against Zoho Books and Cybersource.
    pub async fn verify(&self, placed: &[PlacedOrder]) -> anyhow::Result<Verification> {
        let books = self.books_snapshot().await?;
        let charges = self.cybersource.payments();
        let store = &self.app.engine.store();
        let mut problems = Vec::new();
        let by = |rows: &[Value], field: &str| {
            let mut map: HashMap<String, Vec<Value>> = HashMap::new();
            for row in rows {
                map.entry(row[field].as_str().unwrap_or_default().to_string())
                    .or_default()
                    .push(row.clone());
            }
            map
        };
        let invoices = by(&books.invoices, "reference_number");
        let payments = by(&books.customer_payments, "reference_number");
        let sales_orders = by(&books.sales_orders, "reference_number");
        let inventory = self.app.engine.connectors().inventory.is_some();
        let crm = self.app.engine.connectors().crm.is_some();
        let mut crm_contacts: HashMap<String, usize> = HashMap::new();
        for contact in &books.crm_contacts {
            *crm_contacts
                .entry(
                    contact["Email"]
                        .as_str()
                        .unwrap_or_default()
                        .to_ascii_lowercase(),
                )
                .or_default() += 1;
        }
        let mut charges_by_reference: HashMap<&str, usize> = HashMap::new();
        for charge in &charges {
            *charges_by_reference
                .entry(charge.merchant_reference.as_str())
                .or_default() += 1;
        }
        let mut synced_emails = HashSet::new();
        for order in placed {
            let reference = &order.plan.reference;
            let Some(record) = store.order_by_reference(reference).await? else {
                problems.push(format!("{reference}: paybridge has no record of it"));
                continue;
            };
            let charged = charges_by_reference
                .get(reference.as_str())
                .copied()
                .unwrap_or(0);
            if charged != 1 {
                problems.push(format!(
                    "{reference}: charged {charged} times in Cybersource"
                ));
            }
            let its_orders = sales_orders.get(reference).map_or(&[][..], Vec::as_slice);
            // An invoice made from a sales order carries the sales order's number.
            let mut its_invoices: Vec<Value> = invoices.get(reference).cloned().unwrap_or_default();
            for sales_order in its_orders {
                if let Some(number) = sales_order["salesorder_number"].as_str() {
                    its_invoices.extend(invoices.get(number).cloned().unwrap_or_default());
                }
            }
            match (order.plan.expectation, record.status) {
                (Expectation::Approve | Expectation::ReviewAccept, OrderStatus::Completed) => {
                    synced_emails.insert(record.customer_email.clone());
                    check_synced(&record, &its_invoices, &payments, &mut problems);
                    if inventory {
                        match its_orders {
                            // Books names a confirmed sales order `open`.
                            [one] if one["status"] == "open" || one["status"] == "confirmed" => {}
                            [one] => problems.push(format!(
                                "{reference}: the sales order is {}, not confirmed",
                                one["status"]
                            )),
                            many => problems.push(format!(
                                "{reference}: {} sales orders in Zoho Inventory (expected 1)",
                                many.len()
                            )),
                        }
                    }
                    let expected: &[&str] = if order.plan.expectation == Expectation::ReviewAccept {
                        &["on_hold", "paid"]
                    } else {
                        &["paid"]
                    };
                    check_callbacks(&self.callbacks, reference, expected, &mut problems);
                    if crm && crm_contacts.get(&record.customer_email).copied() != Some(1) {
                        problems.push(format!(
                            "{reference}: {} CRM contacts for {} (expected 1)",
                            crm_contacts
                                .get(&record.customer_email)
                                .copied()
                                .unwrap_or(0),
                            record.customer_email
                        ));
                    }
                }
                (Expectation::ReviewReject, OrderStatus::Declined) => {
                    // Held, then rejected: on hold, then declined; the draft sales order void
                    // (its customer's contact stays, as in Zoho).
                    synced_emails.insert(record.customer_email.clone());
                    check_callbacks(
                        &self.callbacks,
                        reference,
                        &["on_hold", "declined"],
                        &mut problems,
                    );
                    self.check_decline_email(&record, &mut problems);
                    if !its_invoices.is_empty() || its_orders.iter().any(|o| o["status"] != "void")
                    {
                        problems.push(format!(
                            "{reference}: rejected after review, yet invoiced or its sales order not void"
                        ));
                    }
                }
                (Expectation::Decline, OrderStatus::Declined) => {
                    check_callbacks(&self.callbacks, reference, &["declined"], &mut problems);
                    self.check_decline_email(&record, &mut problems);
                    if !its_invoices.is_empty() || !its_orders.is_empty() {
                        problems.push(format!(
                            "{reference}: declined, yet {} invoice(s) and {} sales order(s) in Zoho",
                            its_invoices.len(),
                            its_orders.len()
                        ));
                    }
                }
                (expected, actual) => problems.push(format!(
                    "{reference}: expected {expected:?}, paybridge says {actual} ({})",
                    record.status_detail.as_deref().unwrap_or("no detail")
                )),
            }
        }
        // One contact per customer and currency (a Books contact's currency is fixed).
        let mut seen = HashSet::new();
        for contact in &books.contacts {
            let email = contact["email"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let currency = contact["currency_code"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if !seen.insert((email.clone(), currency.clone())) {
                problems.push(format!(
                    "Zoho Books has more than one {currency} contact for {email}"
                ));
            }
        }
        let stray: Vec<&String> = seen
            .iter()
            .map(|(email, _)| email)
            .filter(|e| !synced_emails.contains(*e))
            .collect();
        if !stray.is_empty() {
            problems.push(format!(
                "{} Zoho contact(s) belong to no synced order",
                stray.len()
            ));
        }
        let throttled = self.zoho.stats().throttled;
        if throttled > 0 {
            problems.push(format!(
                "Zoho throttled {throttled} request(s): paybridge's budget let them through"
            ));
        }
        Ok(Verification {
            ok: problems.is_empty(),
            checked_orders: placed.len(),
            problems,
            books,
            refunds: Vec::new(),
            contacts_with_saved_cards: 0,
            contact_changes_to_tms: 0,
            cards_saved: 0,
        })
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

fn decimal_of(value: &Value) -> Option<rust_decimal::Decimal> {
    match value {
        Value::Number(n) => n.to_string().parse().ok(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The storefront heard of the order's changes, each once and in order (and, for a decline,
/// why).
fn check_callbacks(
    callbacks: &CallbackReceiver,
    reference: &str,
    expected: &[&str],
    problems: &mut Vec<String>,
) {
    let heard = callbacks.for_reference(reference);
    let statuses: Vec<&str> = heard
        .iter()
        .map(|c| c["status"].as_str().unwrap_or_default())
        .collect();
    if statuses != expected {
        problems.push(format!(
            "{reference}: the storefront heard {statuses:?} (expected {expected:?})"
        ));
        return;
    }
    if let Some(last) = heard.last()
        && last["status"] == "declined"
        && last["message"].as_str().is_none_or(str::is_empty)
    {
        problems.push(format!(
            "{reference}: the storefront was not told why it was declined"
        ));
    }
}

impl DemoEnvironment {
    /// The declined customer got one e-mail saying why.
    fn check_decline_email(&self, record: &OrderRecord, problems: &mut Vec<String>) {
        let reference = &record.reference;
        let to = format!("<{}>", record.customer_email);
        let mails: Vec<_> = self
            .mail
            .messages()
            .into_iter()
            .filter(|m| {
                m.to.contains(&to)
                    && m.header("Subject")
                        .is_some_and(|s| s.ends_with(&format!(" {reference}")))
            })
            .collect();
        match mails.as_slice() {
            [mail] if mail.body().contains("We could not take the") => {}
            [_] => problems.push(format!("{reference}: the decline e-mail does not say why")),
            other => problems.push(format!(
                "{reference}: {} decline e-mails to the customer (expected 1)",
                other.len()
            )),
        }
    }
}

fn check_synced(
    record: &OrderRecord,
    invoices: &[Value],
    payments: &HashMap<String, Vec<Value>>,
    problems: &mut Vec<String>,
) {
    let reference = &record.reference;
    let Ok(currency) = Currency::from_code(&record.currency) else {
        problems.push(format!("{reference}: unknown currency {}", record.currency));
        return;
    };
    let amount = Money::from_minor(record.amount_minor, currency).amount();
    let [invoice] = invoices else {
        problems.push(format!(
            "{reference}: {} invoices in Zoho (expected 1)",
            invoices.len()
        ));
        return;
    };
    if invoice["status"] != "paid" {
        problems.push(format!(
            "{reference}: invoice is {}, not paid",
            invoice["status"]
        ));
    }
    if decimal_of(&invoice["total"]) != Some(amount) {
        problems.push(format!(
            "{reference}: invoice total {} but {amount} was charged",
            invoice["total"]
        ));
    }
    if invoice["invoice_id"].as_str() != record.zoho_invoice_id.as_deref() {
        problems.push(format!("{reference}: paybridge points at another invoice"));
    }
    let transaction = record.payment_id.clone().unwrap_or_default();
    let its_payments = payments.get(&transaction).map_or(&[][..], Vec::as_slice);
    let [payment] = its_payments else {
        problems.push(format!(
            "{reference}: {} customer payments for transaction {transaction} (expected 1)",
            its_payments.len()
        ));
        return;
    };
    let applied_in_full = payment["invoices"].as_array().is_some_and(|applied| {
        applied.len() == 1
            && applied[0]["invoice_id"] == invoice["invoice_id"]
            && decimal_of(&applied[0]["amount_applied"]) == Some(amount)
    });
    if !applied_in_full || decimal_of(&payment["amount"]) != Some(amount) {
        problems.push(format!(
            "{reference}: the customer payment is not {amount} applied to its invoice"
        ));
    }
}

/// Zoho as read back through its APIs.
#[derive(Debug, Clone, Default)]
pub struct BooksSnapshot {
    pub contacts: Vec<Value>,
    pub invoices: Vec<Value>,
    pub customer_payments: Vec<Value>,
    /// Zoho Inventory's (the organization's) sales orders.
    pub sales_orders: Vec<Value>,
    pub crm_contacts: Vec<Value>,
}

#[derive(Debug, Clone)]
pub struct Verification {
    pub ok: bool,
    pub checked_orders: usize,
    pub problems: Vec<String>,
    pub books: BooksSnapshot,
    /// The refunds made and checked (none unless [`DemoEnvironment::refund_some`] ran).
    pub refunds: Vec<DemoRefund>,
    /// Zoho contacts that carry a saved card's tokens, and Books e-mail changes that reached
    /// the TMS customer (none unless [`DemoEnvironment::sync_customers`] ran).
    pub contacts_with_saved_cards: usize,
    pub contact_changes_to_tms: usize,
    /// Approved orders that asked to keep the card.
    pub cards_saved: usize,
}

/// A refund the demo made: through the order API, or in Cybersource by hand.
#[derive(Debug, Clone)]
pub struct DemoRefund {
    pub reference: String,
    /// paybridge's refund id (`api`) or Cybersource's (`cybersource`).
    pub refund_id: String,
    pub amount: rust_decimal::Decimal,
    pub source: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub orders: usize,
    pub approved: usize,
    pub declined: usize,
    pub on_hold: usize,
    pub failed: usize,
    /// Orders placed by a customer who had ordered before in this run.
    pub returning_customer_orders: usize,
    /// Orders Decision Manager held, then accepted or rejected by a reviewer.
    pub reviews_accepted: usize,
    pub reviews_rejected: usize,
    /// Approved orders by currency (each booked in its own currency in Zoho Books).
    pub approved_by_currency: std::collections::BTreeMap<String, usize>,
    pub zoho_records_created: ZohoRecords,
    pub api_calls: ApiCalls,
    /// Cybersource webhook events received (each committed once, however often delivered).
    pub webhooks: u64,
    /// Refunds made through the order API, in Cybersource and in Books, each booked in Books.
    pub refunds_through_api: usize,
    pub refunds_in_cybersource: usize,
    pub refunds_in_books: usize,
    /// Approved orders that kept their card, Zoho contacts carrying a saved card's tokens, and
    /// Books e-mail changes that reached the TMS customer.
    pub cards_saved: usize,
    pub contacts_with_saved_cards: usize,
    pub contact_changes_to_tms: usize,
    /// Zoho Books webhook events received.
    pub books_webhooks: u64,
    /// E-mails to customers (declined ones told why).
    pub customer_emails: usize,
    /// Signed callbacks the storefront took (each delivery once), and those it refused.
    pub callbacks: usize,
    pub callbacks_refused: usize,
    pub elapsed_ms: u64,
    pub seed: u64,
    pub reference_prefix: String,
    pub data_dir: String,
    pub data_dir_is_temporary: bool,
    pub store: String,
    pub verification: VerificationSummary,
}

#[derive(Debug, Clone, Serialize)]
pub struct ZohoRecords {
    pub crm_contacts: usize,
    pub sales_orders: usize,
    pub sales_orders_confirmed: usize,
    pub contacts: usize,
    pub invoices: usize,
    pub invoices_paid: usize,
    pub customer_payments: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApiCalls {
    pub cybersource: u64,
    pub zoho_accounts: u64,
    pub zoho_books: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerificationSummary {
    pub ok: bool,
    pub checked_orders: usize,
    pub problems: Vec<String>,
}

impl DemoEnvironment {
    pub async fn summary(
        &self,
        placed: &[PlacedOrder],
        verification: &Verification,
        elapsed: Duration,
    ) -> anyhow::Result<Summary> {
        let counts = self.app.engine.store().counts().await?;
        let by_status = |statuses: &[OrderStatus]| -> usize {
            statuses
                .iter()
                .map(|s| {
                    counts
                        .orders_by_status
                        .get(s.as_str())
                        .copied()
                        .unwrap_or(0)
                })
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
                .sum()
        };
        let mut seen = HashSet::new();
        let returning = placed
            .iter()
            .filter(|p| !seen.insert(p.plan.customer_email.clone()))
            .count();
        let books = &verification.books;
        let connectors = &self.app.engine.connectors();
        Ok(Summary {
            orders: placed.len(),
            approved: by_status(&[
                OrderStatus::Approved,
                OrderStatus::Completed,
                OrderStatus::SyncFailed,
            ]),
            declined: by_status(&[OrderStatus::Declined]),
            on_hold: by_status(&[OrderStatus::OnHold]),
            failed: by_status(&[
                OrderStatus::PaymentFailed,
                OrderStatus::PaymentUnknown,
                OrderStatus::SyncFailed,
            ]),
            returning_customer_orders: returning,
            reviews_accepted: placed
                .iter()
                .filter(|p| p.plan.expectation == Expectation::ReviewAccept)
                .count(),
            reviews_rejected: placed
                .iter()
                .filter(|p| p.plan.expectation == Expectation::ReviewReject)
                .count(),
            approved_by_currency: {
                let mut by_currency = std::collections::BTreeMap::new();
                for order in self.app.engine.store().orders(u32::MAX).await? {
                    if order.status == OrderStatus::Completed {
                        *by_currency.entry(order.currency).or_default() += 1;
                    }
                }
                by_currency
            },
            zoho_records_created: ZohoRecords {
                crm_contacts: books.crm_contacts.len(),
                sales_orders: books.sales_orders.len(),
                sales_orders_confirmed: books
                    .sales_orders
                    .iter()
                    .filter(|o| o["status"] == "open" || o["status"] == "confirmed")
                    .count(),
                contacts: books.contacts.len(),
                invoices: books.invoices.len(),
                invoices_paid: books
                    .invoices
                    .iter()
                    .filter(|i| i["status"] == "paid")
                    .count(),
                customer_payments: books.customer_payments.len(),
            },
            api_calls: ApiCalls {
                cybersource: connectors.cybersource.calls(),
                zoho_accounts: connectors.zoho.token_refreshes(),
                zoho_books: connectors.zoho.api_calls(),
            },
            webhooks: counts
                .inbox_by_source
                .get("cybersource-webhook")
                .copied()
                .unwrap_or(0),
            refunds_through_api: verification
                .refunds
                .iter()
                .filter(|r| r.source == "api")
                .count(),
            refunds_in_cybersource: verification
                .refunds
                .iter()
                .filter(|r| r.source == "cybersource")
                .count(),
            refunds_in_books: verification
                .refunds
                .iter()
                .filter(|r| r.source == "books")
                .count(),
            cards_saved: verification.cards_saved,
            contacts_with_saved_cards: verification.contacts_with_saved_cards,
            contact_changes_to_tms: verification.contact_changes_to_tms,
            books_webhooks: counts
                .inbox_by_source
                .get("zoho-webhook")
                .copied()
                .unwrap_or(0),
            customer_emails: self.mail.messages().len(),
            callbacks: self.callbacks.callbacks().deliveries.len(),
            callbacks_refused: self.callbacks.callbacks().refused,
            elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            seed: self.storefront.seed(),
            reference_prefix: self.reference_prefix.clone(),
            data_dir: self.data_dir.display().to_string(),
            data_dir_is_temporary: self.data_dir_is_temporary,
            store: self.app.engine.store().location(),
            verification: VerificationSummary {
                ok: verification.ok,
                checked_orders: verification.checked_orders,
                problems: verification.problems.clone(),
            },
        })
    }
}

/// The summary for people.
pub fn render(summary: &Summary) -> String {
    let s = summary;
    let z = &s.zoho_records_created;
    let a = &s.api_calls;
    let synced = z.customer_payments.max(1);
    let per_order = rust_decimal::Decimal::from(a.zoho_books) / rust_decimal::Decimal::from(synced);
    let mut out = String::new();
    out.push_str(&format!(
        "paybridge demo: {} orders in {}.{:03} s (seed {}, references {}-*)\n\n",
        s.orders,
        s.elapsed_ms / 1000,
        s.elapsed_ms % 1000,
        s.seed,
        s.reference_prefix
    ));
    out.push_str(&format!(
        "  orders       {} approved · {} declined · {} on hold · {} failed ({} from returning customers)\n",
        s.approved, s.declined, s.on_hold, s.failed, s.returning_customer_orders
    ));
    out.push_str(&format!(
        "  reviews      {} held by Decision Manager: {} accepted (captured, booked) · {} rejected (reversed, voided)\n",
        s.reviews_accepted + s.reviews_rejected,
        s.reviews_accepted,
        s.reviews_rejected
    ));
    out.push_str(&format!(
        "  currencies   {}\n",
        s.approved_by_currency
            .iter()
            .map(|(code, n)| format!("{n} {code}"))
            .collect::<Vec<_>>()
            .join(" · ")
    ));
    out.push_str(&format!(
        "  Zoho CRM     {} contacts\n  Zoho Inv.    {} sales orders ({} confirmed)\n",
        z.crm_contacts, z.sales_orders, z.sales_orders_confirmed
    ));
    out.push_str(&format!(
        "  Zoho Books   {} contacts · {} invoices ({} paid) · {} customer payments\n",
        z.contacts, z.invoices, z.invoices_paid, z.customer_payments
    ));
    out.push_str(&format!(
        "  API calls    Cybersource {} · Zoho Accounts {} · Zoho {} ({} per synced order)\n",
        a.cybersource,
        a.zoho_accounts,
        a.zoho_books,
        per_order.round_dp(2)
    ));
    out.push_str(&format!(
        "  webhooks     {} Cybersource and {} Zoho Books events received, verified and processed\n",
        s.webhooks, s.books_webhooks
    ));
    out.push_str(&format!(
        "  refunds      {} through the order API · {} made in Cybersource · {} asked for in Books — each a refunded credit note in Books\n",
        s.refunds_through_api, s.refunds_in_cybersource, s.refunds_in_books
    ));
    out.push_str(&format!(
        "  saved cards  {} orders kept the card · {} Zoho contacts carry their TMS tokens (brand, last four, expiry) · {} e-mail changes in Books sent to TMS\n",
        s.cards_saved, s.contacts_with_saved_cards, s.contact_changes_to_tms
    ));
    out.push_str(&format!(
        "  e-mail       {} declined customers told why (SMTP)\n",
        s.customer_emails
    ));
    out.push_str(&format!(
        "  storefront   {} signed callbacks taken ({} refused)\n",
        s.callbacks, s.callbacks_refused
    ));
    if s.verification.ok {
        out.push_str(&format!(
            "  verified     all {} orders: each approved one is one paid invoice and one payment in Zoho and one charge in Cybersource; no declined order reached Zoho and each declined customer got one e-mail saying why; each refund is one Cybersource refund and one refunded credit note; each saved card is on its Zoho contact and no card number is; the storefront heard of each once\n",
            s.verification.checked_orders
        ));
    } else {
        out.push_str(&format!(
            "  PROBLEMS     {} found:\n",
            s.verification.problems.len()
        ));
        for problem in &s.verification.problems {
            out.push_str(&format!("               - {problem}\n"));
        }
    }
    out.push_str(&format!(
        "  data         {}{} ({})\n",
        s.data_dir,
        if s.data_dir_is_temporary {
            " (temporary directory, kept)"
        } else {
            ""
        },
        s.store
    ));
    out
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
