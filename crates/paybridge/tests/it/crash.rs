//! The crash test: the sandboxes run in their own process (`paybridge sandbox`), paybridge in
//! another (`paybridge serve`, SQLite), and a storefront sends it 2,000 orders while paybridge is
//! killed with SIGKILL at random moments and restarted, ten times. At the end every order has
//! an answer, every approved order is one charge in Cybersource and one invoice and one payment
//! in Zoho Books, and nothing was charged or booked twice.

use paybridge_store::{OrderStore as _, RunStore as _};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use paybridge::sandbox::SandboxFile;
use paybridge_model::OrderStatus;
use paybridge_sandbox::storefront::{Expectation, OrderPlan, Storefront, StorefrontConfig};
use paybridge_store::Store;
use serde_json::Value;

const STOREFRONT_KEY: &str = "storefront-key-0123456789abcdef";
const ORDERS: usize = 2_000;
const KILLS: usize = 10;

/// xorshift64*: the kill schedule, the same for the same seed.
struct Draws(u64);

impl Draws {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % below
    }
}

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_sandbox(dir: &Path) -> (Process, SandboxFile) {
    let mut file = SandboxFile::generate();
    file.cybersource_listen = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    file.zoho_listen = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    file.zoho.limits.enabled = false;
    let path = dir.join("sandbox.toml");
    std::fs::write(&path, toml::to_string(&file).unwrap()).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_paybridge"))
        .args(["sandbox", "--config"])
        .arg(&path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (Process(child), file)
}

fn start_paybridge(config: &Path, log: &Path, sandbox: &SandboxFile) -> Process {
    let key = &sandbox.cybersource.keys[0];
    let client = &sandbox.zoho.clients[0];
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_paybridge"))
        .args(["serve", "--config"])
        .arg(config)
        .env("CRASH_SHARED_SECRET", &key.shared_secret)
        .env("CRASH_ZOHO_SECRET", &client.client_secret)
        .env("CRASH_ZOHO_REFRESH", &client.refresh_tokens[0])
        .env("CRASH_STOREFRONT_KEYS", STOREFRONT_KEY)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    Process(child)
}

async fn wait_ready(url: &str) {
    let http = crate::helpers::http();
    for _ in 0..600 {
        if let Ok(response) = http.get(format!("{url}readyz")).send().await
            && response.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("paybridge did not come up at {url}");
}

fn write_config(dir: &Path, port: u16, sandbox: &SandboxFile) -> PathBuf {
    let key = &sandbox.cybersource.keys[0];
    let client = &sandbox.zoho.clients[0];
    let config = dir.join("paybridge.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"

[store]
path = {store:?}

[engine]
workers = 4
test_mode = true
payment_resolution_delay_ms = 500
payment_stale_ms = 2000
watchdog_every_ms = 500

[engine.retry]
max_attempts = 30
base_delay = 20
max_delay = 1000

[cybersource]
environment = "http://{cybersource}/"
merchant_id = "{merchant}"
key_id = "{key_id}"
shared_secret_env = "CRASH_SHARED_SECRET"

[zoho]
accounts_url = "http://{zoho}/"
api_domain = "http://{zoho}/"
client_id = "{client_id}"
client_secret_env = "CRASH_ZOHO_SECRET"
refresh_token_env = "CRASH_ZOHO_REFRESH"
organization_id = "{org}"
base_currency = "USD"

[zoho.quotas]
enabled = false

[storefront]
api_keys_env = "CRASH_STOREFRONT_KEYS"
"#,
            store = dir.join("paybridge.db"),
            cybersource = sandbox.cybersource_listen,
            zoho = sandbox.zoho_listen,
            merchant = key.merchant_id,
            key_id = key.key_id,
            client_id = client.client_id,
            org = sandbox.zoho.organizations[0].organization_id,
        ),
    )
    .unwrap();
    config
}

/// Sends one order until paybridge gives a definite answer (through crashes and restarts).
async fn place_until_answered(storefront: &Storefront, plan: &OrderPlan) -> u16 {
    loop {
        match storefront.place(plan).await {
            // Charged, declined, or its answer lost (looked up later): definite for the
            // storefront; the end state is checked below.
            Ok(placed) if matches!(placed.http_status, 201 | 402 | 502) => {
                return placed.http_status;
            }
            // In progress, refused for now, or paybridge is down: the same request again.
            _ => tokio::time::sleep(Duration::from_millis(25)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_ten_times_while_taking_two_thousand_orders_it_loses_nothing_and_doubles_nothing() {
    crate::helpers::install_tls();
    let dir = tempfile::tempdir().unwrap();
    let (_sandbox_process, sandbox) = start_sandbox(dir.path());
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/");
    let config = write_config(dir.path(), port, &sandbox);
    let log = dir.path().join("paybridge.log");
    let paybridge = Arc::new(Mutex::new(Some(start_paybridge(&config, &log, &sandbox))));
    wait_ready(&url).await;

    let storefront = Arc::new(
        Storefront::new(StorefrontConfig {
            api_base: url::Url::parse(&url).unwrap(),
            api_key: STOREFRONT_KEY.into(),
            reference_prefix: "CRASH".into(),
            orders: ORDERS,
            seed: 2026,
            concurrency: 16,
            reviews: false,
            foreign_currencies: false,
            save_cards: false,
        })
        .unwrap(),
    );
    let plans = storefront.plans();
    let queue = Arc::new(Mutex::new(plans.iter().cloned().collect::<VecDeque<_>>()));
    let answers: Arc<Mutex<HashMap<String, u16>>> = Arc::default();
    let mut senders = Vec::new();
    for _ in 0..16 {
        let (storefront, queue, answers) = (storefront.clone(), queue.clone(), answers.clone());
        senders.push(tokio::spawn(async move {
            loop {
                let Some(plan) = queue.lock().unwrap().pop_front() else {
                    return;
                };
                let status = place_until_answered(&storefront, &plan).await;
                answers
                    .lock()
                    .unwrap()
                    .insert(plan.reference.clone(), status);
            }
        }));
    }

    // Ten SIGKILLs at random moments, each followed by a restart on the same store.
    let mut draws = Draws(0x5EED_2026);
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(200 + draws.next(1_000))).await;
        if let Some(mut process) = paybridge.lock().unwrap().take() {
            process.0.kill().unwrap();
            process.0.wait().unwrap();
        }
        *paybridge.lock().unwrap() = Some(start_paybridge(&config, &log, &sandbox));
        wait_ready(&url).await;
    }
    for sender in senders {
        sender.await.unwrap();
    }
    assert_eq!(
        answers.lock().unwrap().len(),
        ORDERS,
        "every order was answered"
    );

    // Every order reaches its end (runs finish; lost answers are looked up by the watchdog).
    let store = Store::open_sqlite(&dir.path().join("paybridge.db"))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    let orders = loop {
        let orders = store.orders(20_000).await.unwrap();
        let counts = store.counts().await.unwrap();
        let busy = counts.runs_by_status.get("queued").copied().unwrap_or(0)
            + counts.runs_by_status.get("running").copied().unwrap_or(0);
        let unsettled: Vec<_> = orders
            .iter()
            .filter(|o| {
                matches!(
                    o.status,
                    OrderStatus::PendingPayment
                        | OrderStatus::Approved
                        | OrderStatus::PaymentUnknown
                )
            })
            .map(|o| (o.reference.clone(), o.status))
            .collect();
        if orders.len() == ORDERS && unsettled.is_empty() && busy == 0 {
            break orders;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "orders never settled: {} of {ORDERS} known, unsettled {:?}, {busy} runs busy; log:\n{}",
            orders.len(),
            unsettled.iter().take(10).collect::<Vec<_>>(),
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    store.close().await;

    // The truth, from the vendors' own APIs.
    let http = crate::helpers::http();
    let charges: Vec<Value> = http
        .get(format!(
            "http://{}/__sandbox/payments",
            sandbox.cybersource_listen
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client = &sandbox.zoho.clients[0];
    let zoho_url = url::Url::parse(&format!("http://{}/", sandbox.zoho_listen)).unwrap();
    let zoho = paybridge_zoho::Client::new(paybridge_zoho::ClientConfig::new(
        paybridge_zoho::OAuthCredentials {
            accounts_url: zoho_url.clone(),
            client_id: client.client_id.clone(),
            client_secret: secrecy::SecretString::from(client.client_secret.clone()),
            refresh_token: secrecy::SecretString::from(client.refresh_tokens[0].clone()),
        },
        zoho_url,
    ))
    .unwrap();
    let books = zoho.books(sandbox.zoho.organizations[0].organization_id.clone());
    let invoices: Vec<_> = books.invoices(&[]).map(|i| i.unwrap()).collect().await;
    let payments: Vec<_> = books
        .customer_payments(&[])
        .map(|p| p.unwrap())
        .collect()
        .await;

    let mut live_charges: HashMap<&str, usize> = HashMap::new();
    for charge in &charges {
        if charge["status"] != "VOIDED" && charge["status"] != "REVERSED" {
            *live_charges
                .entry(charge["merchant_reference"].as_str().unwrap())
                .or_default() += 1;
        }
    }
    let mut invoices_by: HashMap<&str, usize> = HashMap::new();
    for invoice in &invoices {
        *invoices_by
            .entry(invoice.reference_number.as_deref().unwrap_or_default())
            .or_default() += 1;
    }
    let mut payments_by: HashMap<&str, usize> = HashMap::new();
    for payment in &payments {
        for applied in &payment.invoices {
            *payments_by.entry(applied.invoice_id.as_str()).or_default() += 1;
        }
    }
    let expectation: HashMap<&str, Expectation> = plans
        .iter()
        .map(|p| (p.reference.as_str(), p.expectation))
        .collect();
    let mut problems = Vec::new();
    let mut completed = 0;
    for order in &orders {
        let reference = order.reference.as_str();
        let charged = live_charges.get(reference).copied().unwrap_or(0);
        let booked = invoices_by.get(reference).copied().unwrap_or(0);
        match order.status {
            OrderStatus::Completed => {
                completed += 1;
                let paid = order
                    .zoho_invoice_id
                    .as_deref()
                    .and_then(|id| payments_by.get(id))
                    .copied()
                    .unwrap_or(0);
                if (charged, booked, paid) != (1, 1, 1) {
                    problems.push(format!(
                        "{reference}: {charged} charge(s), {booked} invoice(s), {paid} payment(s)"
                    ));
                }
                if expectation[reference] != Expectation::Approve {
                    problems.push(format!("{reference}: completed, yet planned to decline"));
                }
            }
            OrderStatus::Declined => {
                if booked != 0 || expectation[reference] != Expectation::Decline {
                    problems.push(format!("{reference}: declined with {booked} invoice(s)"));
                }
            }
            // The answer was lost and Cybersource had nothing: nothing charged, nothing booked.
            OrderStatus::PaymentFailed => {
                if booked != 0 || charged != 0 {
                    problems.push(format!(
                        "{reference}: failed with {charged} charge(s), {booked} invoice(s)"
                    ));
                }
            }
            other => problems.push(format!("{reference}: ended {other}")),
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s): {:#?}",
        problems.len(),
        &problems[..problems.len().min(20)]
    );
    assert_eq!(invoices.len(), completed, "no invoice without its order");
    assert!(
        completed > ORDERS / 2,
        "most orders went through: {completed} of {ORDERS}"
    );
}
