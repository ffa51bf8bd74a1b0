//! Scale-out: three `paybridge serve` processes on one PostgreSQL database share the work with
//! the same guarantees — every order charged once and booked once, no run executed twice,
//! none stranded — and one of them stops gracefully while the others go on.

use paybridge_store::RunStore as _;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use paybridge_sandbox::cybersource::{CybersourceConfig, CybersourceSandbox};
use paybridge_sandbox::server::RunningServer;
use paybridge_sandbox::zoho::{ZohoConfig, ZohoSandbox};
use paybridge_store::Store;
use paybridge_store::{RunFilter, RunStatus};
use serde_json::{Value, json};

const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const STOREFRONT_KEY: &str = "storefront-key-0123456789abcdef";
const ORG: &str = "10234695";

struct Node {
    child: Child,
    url: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_node(config: &std::path::Path, database_url: &str) -> Node {
    let mut child = Command::new(env!("CARGO_BIN_EXE_paybridge"))
        .args(["serve", "--config"])
        .arg(config)
        .env("PAYBRIDGE_SCALE_DATABASE_URL", database_url)
        .env("PAYBRIDGE_SCALE_SHARED_SECRET", SECRET)
        .env("PAYBRIDGE_SCALE_ZOHO_SECRET", "client-secret")
        .env("PAYBRIDGE_SCALE_ZOHO_REFRESH", "1000.refresh.token")
        .env("PAYBRIDGE_SCALE_STOREFRONT_KEYS", STOREFRONT_KEY)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("paybridge serve starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("paybridge serve says where it listens")
            .unwrap();
        if let Some(rest) = line.strip_prefix("paybridge is serving on ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    // Keep draining stderr so the node never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Node { child, url }
}

fn order(n: usize) -> Value {
    json!({
        "reference": format!("SCALE-{n}"),
        "currency": "USD",
        "customer": {"email": format!("c{}@example.com", n % 7), "first_name": "Ada", "last_name": "Lovelace",
                     "billing_address": {"line1": "1 Market St", "city": "San Francisco", "region": "CA",
                                         "postal_code": "94105", "country": "US"}},
        "lines": [{"name": "Tea", "quantity": "1", "unit_price": format!("{}.25", 5 + n % 20)}],
        "payment": {"card": {"number": "4111111111111111", "expiration_month": "12", "expiration_year": "2031"}}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_on_one_postgres_share_the_work_and_never_run_anything_twice() {
    let Ok(database_url) = std::env::var("PAYBRIDGE_TEST_POSTGRES_URL") else {
        eprintln!("PAYBRIDGE_TEST_POSTGRES_URL is not set: the scale-out test needs PostgreSQL");
        return;
    };
    crate::helpers::install_tls();
    let loopback = std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0));
    let cybersource =
        CybersourceSandbox::new(&CybersourceConfig::with_key("merchant", "key-1", SECRET)).unwrap();
    let cybersource_server = RunningServer::start(cybersource.router(), loopback)
        .await
        .unwrap();
    let mut zoho_config = ZohoConfig::single(
        "1000.CLIENT",
        "client-secret",
        "1000.refresh.token",
        ORG,
        "USD",
    );
    zoho_config.limits.enabled = false;
    let zoho = ZohoSandbox::new(zoho_config);
    let zoho_server = RunningServer::start(zoho.router(), loopback).await.unwrap();

    let schema = format!("pbtest_scale_{}", uuid::Uuid::new_v4().simple());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("paybridge.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[server]
listen = "127.0.0.1:0"

[store]
postgres_url_env = "PAYBRIDGE_SCALE_DATABASE_URL"
postgres_schema = "{schema}"

[engine]
workers = 4
test_mode = true
# No scheduled firings: each is a run, and one at a minute the test spans would be counted
# with the orders' runs (the token refresh fires every ten minutes).
schedules = []

[cybersource]
environment = "{cybersource}"
merchant_id = "merchant"
key_id = "key-1"
shared_secret_env = "PAYBRIDGE_SCALE_SHARED_SECRET"

[zoho]
accounts_url = "{zoho}"
api_domain = "{zoho}"
client_id = "1000.CLIENT"
client_secret_env = "PAYBRIDGE_SCALE_ZOHO_SECRET"
refresh_token_env = "PAYBRIDGE_SCALE_ZOHO_REFRESH"
organization_id = "{ORG}"
base_currency = "USD"

[zoho.quotas]
enabled = false

[storefront]
api_keys_env = "PAYBRIDGE_SCALE_STOREFRONT_KEYS"
"#,
            cybersource = cybersource_server.url(),
            zoho = zoho_server.url(),
        ),
    )
    .unwrap();
    let nodes: Vec<Node> = (0..3).map(|_| start_node(&config, &database_url)).collect();

    // 60 orders, each sent to a node in turn.
    let http = crate::helpers::http();
    let total = 60;
    let mut placed = Vec::new();
    for n in 0..total {
        let node = &nodes[n % nodes.len()];
        let response = http
            .post(format!("{}api/v1/orders", node.url))
            .bearer_auth(STOREFRONT_KEY)
            .header("Idempotency-Key", format!("scale-{n}"))
            .json(&order(n))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{:?}", response.text().await);
        placed.push(response.json::<Value>().await.unwrap());
    }

    // Until every run has finished (the nodes work on their own; this only watches).
    let store = Store::open_postgres(&database_url, Some(&schema))
        .await
        .unwrap();
    let all = RunFilter {
        limit: 10_000,
        ..RunFilter::default()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let runs = loop {
        let runs = store.find_runs(&all).await.unwrap();
        if runs.len() == total && runs.iter().all(|r| r.status == RunStatus::Succeeded) {
            break runs;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} runs of {total} (by flow: {:?}), stranded: {:?}",
            runs.len(),
            runs.iter().fold(
                std::collections::BTreeMap::<&str, usize>::new(),
                |mut by, r| {
                    *by.entry(r.flow.as_str()).or_default() += 1;
                    by
                }
            ),
            runs.iter()
                .filter(|r| r.status != RunStatus::Succeeded)
                .map(|r| (r.id, r.status, r.last_error.clone()))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // No run taken twice: every run and every step ran in one attempt.
    assert!(runs.iter().all(|r| r.attempt == 1), "a run was taken twice");
    for run in &runs {
        for step in store.steps_of_run(run.id).await.unwrap() {
            assert_eq!(step.attempts, 1, "step {} ran twice", step.idempotency_key);
        }
    }

    // Each order exactly once on each side.
    let books = zoho.books_records(ORG).unwrap();
    assert_eq!(books.invoices.len(), total);
    assert_eq!(books.customer_payments.len(), total);
    assert_eq!(
        books.contacts.len(),
        7,
        "one contact per customer, however many nodes"
    );
    assert!(books.invoices.iter().all(|i| i["status"] == "paid"));
    let mut references: Vec<&str> = books
        .invoices
        .iter()
        .map(|i| i["reference_number"].as_str().unwrap())
        .collect();
    references.sort_unstable();
    references.dedup();
    assert_eq!(references.len(), total);
    assert_eq!(cybersource.payments().len(), total);

    // Every node did some of it.
    let tokens =
        paybridge_engine::tokens::Tokens::new(store.clone(), paybridge_store::Clock::new());
    let (_, token) = tokens
        .create("scale-test", paybridge_engine::tokens::Role::Viewer)
        .await
        .unwrap();
    let mut per_node = Vec::new();
    for node in &nodes {
        let text = http
            .get(format!("{}metrics", node.url))
            .bearer_auth(secrecy::ExposeSecret::expose_secret(&token))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let ran: f64 = text
            .lines()
            .filter(|l| {
                l.starts_with("paybridge_runs_total{") && l.contains("outcome=\"succeeded\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        per_node.push(ran);
    }
    assert_eq!(per_node.iter().sum::<f64>(), total as f64, "{per_node:?}");
    assert!(
        per_node.iter().all(|n| *n > 0.0),
        "a node did nothing: {per_node:?}"
    );

    // A node stops gracefully on Ctrl-C (SIGINT): it drains and exits cleanly.
    let mut nodes = nodes;
    let mut stopping = nodes.remove(0);
    let interrupted = Command::new("kill")
        .args(["-INT", &stopping.child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let status = tokio::task::spawn_blocking(move || stopping.child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    store.close().await;
}
