//! A fresh store, and a whole engine wired to sandboxes on loopback ports.

use paybridge_store::{OrderStore as _, RunStore as _};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use paybridge_actions::Connectors;
use paybridge_commerce::{CardInput, PaymentMethod, PlaceOrder};
use paybridge_cybersource::{ClientConfig as CybersourceClientConfig, Credentials, Environment};
use paybridge_engine::retry::RetryPolicy;
use paybridge_engine::{Engine, EngineSettings, Workers};
use paybridge_flows::Library;
use paybridge_model::{Address, Currency, Customer, Order, OrderLine};
use paybridge_sandbox::cybersource::{CybersourceConfig, CybersourceSandbox};
use paybridge_sandbox::faults::{FaultMode, FaultRule};
use paybridge_sandbox::server::RunningServer;
use paybridge_sandbox::zoho::{BooksRecords, ZohoConfig, ZohoSandbox};
use paybridge_store::OrderRecord;
use paybridge_store::Store;
use paybridge_zoho::{ClientConfig as ZohoClientConfig, OAuthCredentials};
use rust_decimal::Decimal;
use secrecy::SecretString;

pub use paybridge_store::testing::backends;

const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
pub const ORG: &str = "10234695";

/// Sandboxes, an engine on a fresh store, and its workers.
pub struct World {
    pub engine: Engine,
    pub cybersource: CybersourceSandbox,
    pub zoho: ZohoSandbox,
    workers: Option<Workers>,
    _servers: (RunningServer, RunningServer),
    _dir: tempfile::TempDir,
}

pub struct WorldOptions {
    pub test_mode: bool,
    pub max_attempts: u32,
    /// How long a lost payment waits for its resolution run (zero: at once).
    pub resolution_delay: Duration,
    /// Alert channels and settings (the store is the world's own).
    pub alerts: Option<(
        paybridge_engine::alerts::AlertSettings,
        Vec<paybridge_engine::alerts::Channel>,
    )>,
    /// Flow files (name, YAML) added to the shipped templates.
    pub flows: Vec<(String, String)>,
    /// Connect Zoho Inventory, CRM and Desk too.
    pub inventory_and_crm: bool,
    /// Storefront callbacks: URL and secret.
    pub storefront: Option<(url::Url, String)>,
    /// E-mail to customers.
    pub mailer: Option<paybridge_actions::email::Mailer>,
    /// Named credentials for `http` steps.
    pub http_auth: std::collections::BTreeMap<String, paybridge_actions::http::HttpCredential>,
    /// How long an order may stay on hold before the watchdog alerts.
    pub hold_alert_after: Duration,
    /// General workers, and those kept for payment work.
    pub workers: (usize, usize),
    /// Zoho's budgets, kept by the client (none: unlimited).
    pub zoho_plans: Option<paybridge_zoho::quota::Plans>,
}

impl Default for WorldOptions {
    fn default() -> WorldOptions {
        WorldOptions {
            test_mode: true,
            max_attempts: 5,
            resolution_delay: Duration::ZERO,
            alerts: None,
            flows: Vec::new(),
            inventory_and_crm: false,
            storefront: None,
            mailer: None,
            http_auth: Default::default(),
            hold_alert_after: paybridge_engine::settings::default_hold_alert_after(),
            workers: (2, 2),
            zoho_plans: None,
        }
    }
}

fn loopback() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

impl World {
    pub async fn start() -> World {
        World::with(WorldOptions::default()).await
    }

    pub async fn with(options: WorldOptions) -> World {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let cybersource =
            CybersourceSandbox::new(&CybersourceConfig::with_key("merchant", "key-1", SECRET))
                .unwrap();
        let cybersource_server = RunningServer::start(cybersource.router(), loopback())
            .await
            .unwrap();
        let zoho = ZohoSandbox::new(ZohoConfig::single(
            "1000.CLIENT",
            "client-secret",
            "1000.refresh.token",
            ORG,
            "USD",
        ));
        let zoho_server = RunningServer::start(zoho.router(), loopback())
            .await
            .unwrap();

        let cybersource_client = paybridge_cybersource::Client::new(CybersourceClientConfig::new(
            Environment::Custom(cybersource_server.url()),
            Credentials {
                merchant_id: "merchant".into(),
                key_id: "key-1".into(),
                shared_secret: SecretString::from(SECRET),
            },
        ))
        .unwrap();
        let zoho_client = paybridge_zoho::Client::new(ZohoClientConfig {
            budgets: options
                .zoho_plans
                .clone()
                .map(paybridge_zoho::quota::Budgets::local),
            ..ZohoClientConfig::new(
                OAuthCredentials {
                    accounts_url: zoho_server.url(),
                    client_id: "1000.CLIENT".into(),
                    client_secret: SecretString::from("client-secret"),
                    refresh_token: SecretString::from("1000.refresh.token"),
                },
                zoho_server.url(),
            )
        })
        .unwrap();
        let books = zoho_client.books(ORG);
        let mut connectors = Connectors::new(
            cybersource_client,
            zoho_client.clone(),
            books,
            Currency::USD,
        );
        if options.inventory_and_crm {
            connectors.inventory = Some(zoho_client.inventory(ORG));
            connectors.crm = Some(zoho_client.crm(ORG));
            // The Zoho sandbox's own Desk organization.
            connectors.desk = Some(zoho_client.desk("60001234567"));
        }
        if let Some((url, secret)) = &options.storefront {
            connectors.storefront = Some(paybridge_actions::storefront::Storefront::new(
                url.clone(),
                SecretString::from(secret.clone()),
            ));
        }
        connectors.mailer = options.mailer.clone();
        // The receivers of tests listen on loopback.
        connectors.http =
            paybridge_actions::http::HttpConnections::new(options.http_auth.clone(), true);
        let mut library = Library::shipped(paybridge_actions::catalogue());
        for (name, text) in &options.flows {
            match paybridge_flows::compile(name, text, paybridge_actions::catalogue()) {
                Ok(flow) => library.insert(flow),
                Err(errors) => panic!("{name}: {errors:?}"),
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("paybridge.db"))
            .await
            .unwrap();
        let settings = EngineSettings {
            workers: options.workers.0,
            payment_workers: options.workers.1,
            test_mode: options.test_mode,
            // Retries in tests wait a millisecond or two, never a real backoff.
            retry: RetryPolicy {
                max_attempts: options.max_attempts,
                base_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(2),
                ..RetryPolicy::default()
            },
            // Lost payments are looked up at once (Cybersource's 60 s pause is for real networks).
            payment_resolution_delay: options.resolution_delay,
            hold_alert_after: options.hold_alert_after,
            ..EngineSettings::default()
        };
        let mut engine = Engine::new(store, connectors, settings).with_flows(library);
        if let Some((settings, channels)) = options.alerts {
            let alerts = paybridge_engine::alerts::Alerts::new(
                engine.store().clone(),
                engine.clock,
                settings,
                channels,
            );
            engine = engine.with_alerts(alerts);
        }
        let workers = Some(engine.start_workers());
        World {
            engine,
            cybersource,
            zoho,
            workers,
            _servers: (cybersource_server, zoho_server),
            _dir: dir,
        }
    }

    /// Waits until the order has settled and no run is queued or running.
    pub async fn settled(&self, reference: &str) -> OrderRecord {
        let store = self.engine.store();
        let wait = self.engine.wait_until(Duration::from_millis(50), || async {
            let order = store.order_by_reference(reference).await?;
            let counts = store.counts().await?;
            let busy = counts.runs_by_status.get("queued").copied().unwrap_or(0)
                + counts.runs_by_status.get("running").copied().unwrap_or(0);
            Ok(order.is_some_and(|o| o.status.is_settled()) && busy == 0)
        });
        tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .expect("the order settles")
            .unwrap();
        store.order_by_reference(reference).await.unwrap().unwrap()
    }

    pub fn books(&self) -> BooksRecords {
        self.zoho.books_records(ORG).unwrap()
    }

    pub fn fault(&self, zoho: bool, method: &str, path: &str, mode: FaultMode, times: u32) {
        let rule = FaultRule::next(method, path, mode, times);
        if zoho {
            self.zoho.faults().add(rule)
        } else {
            self.cybersource.faults().add(rule)
        }
    }

    pub async fn stop(mut self) {
        if let Some(workers) = self.workers.take() {
            workers.stop().await;
        }
    }
}

pub fn order(reference: &str, email: &str, unit_price: &str) -> Order {
    Order {
        reference: reference.into(),
        currency: Currency::USD,
        customer: Customer {
            email: email.into(),
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            company: None,
            phone: None,
            billing_address: Address {
                line1: "1 Market St".into(),
                line2: None,
                city: "San Francisco".into(),
                region: Some("CA".into()),
                postal_code: "94105".into(),
                country: "US".into(),
            },
        },
        lines: vec![OrderLine {
            sku: Some("TEA".into()),
            name: "Tea".into(),
            quantity: Decimal::new(2, 0),
            unit_price: unit_price.parse().unwrap(),
        }],
    }
}

pub fn card() -> PaymentMethod {
    PaymentMethod::Card(CardInput {
        number: SecretString::from("4111111111111111"),
        expiration_month: "12".into(),
        expiration_year: "2031".into(),
        security_code: Some(SecretString::from("123")),
    })
}

pub fn place(reference: &str, email: &str, unit_price: &str) -> PlaceOrder {
    PlaceOrder {
        idempotency_key: format!("key-{reference}"),
        order: order(reference, email, unit_price),
        payment: card(),
        save_card: false,
    }
}

/// What `place_order` would admit for this request.
pub fn admitted(request: &PlaceOrder) -> paybridge_store::NewOrder {
    request.admission(true).expect("a valid order").0
}

/// Waits until no run is queued or running.
pub async fn quiet(world: &World) {
    let store = world.engine.store();
    let wait = world
        .engine
        .wait_until(Duration::from_millis(20), || async {
            let counts = store.counts().await?;
            Ok(counts.runs_by_status.get("queued").copied().unwrap_or(0)
                + counts.runs_by_status.get("running").copied().unwrap_or(0)
                == 0)
        });
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("the runs finish")
        .unwrap();
}

/// The runs of `flow`, newest first.
pub async fn runs_of(world: &World, flow: &str) -> Vec<paybridge_store::RunRecord> {
    world
        .engine
        .store()
        .find_runs(&paybridge_store::RunFilter {
            flow: Some(flow.into()),
            limit: 100,
            ..paybridge_store::RunFilter::default()
        })
        .await
        .unwrap()
}

/// What a finished run of a flow file recorded as its outputs (null when none).
pub async fn outputs_of_run(world: &World, id: i64) -> serde_json::Value {
    let detail = world.engine.runs().show(id).await.unwrap();
    detail
        .steps
        .iter()
        .find(|s| s.name == "outputs" && s.status == paybridge_store::StepStatus::Succeeded)
        .and_then(|s| s.output.clone())
        .unwrap_or(serde_json::Value::Null)
}

/// A Slack-compatible incoming webhook, keeping each posted text.
pub async fn slack_webhook() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let texts: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let router = axum::Router::new()
        .route(
            "/services/T000/B000/XXXX",
            axum::routing::post(
                |axum::extract::State(texts): axum::extract::State<
                    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
                >,
                 axum::Json(body): axum::Json<serde_json::Value>| async move {
                    texts
                        .lock()
                        .unwrap()
                        .push(body["text"].as_str().unwrap_or_default().to_string());
                    "ok"
                },
            ),
        )
        .with_state(texts.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{addr}/services/T000/B000/XXXX"), texts)
}
