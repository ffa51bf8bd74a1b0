//! Shared helpers: a demo environment on a fresh store, and reading the sandboxes over HTTP.

use std::time::Duration;

use paybridge::demo::{DemoEnvironment, DemoOptions};
use serde_json::Value;

/// The card numbers the storefront uses: none may ever be stored or logged.
pub use paybridge_sandbox::storefront::TEST_CARDS;

pub fn install_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub async fn start_demo(orders: usize, seed: u64, dir: &tempfile::TempDir) -> DemoEnvironment {
    install_tls();
    DemoEnvironment::start(&DemoOptions {
        orders,
        seed,
        data_dir: Some(dir.path().to_path_buf()),
        concurrency: 8,
        workers: 4,
        ..DemoOptions::default()
    })
    .await
    .expect("the demo environment starts")
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client")
}

/// The Cybersource sandbox's record of every charge, through its control API.
pub async fn cybersource_charges(env: &DemoEnvironment) -> Vec<Value> {
    let url = env.cybersource_url().join("__sandbox/payments").unwrap();
    http()
        .get(url)
        .send()
        .await
        .unwrap()
        .json::<Vec<Value>>()
        .await
        .unwrap()
}

/// The ids in a list of Zoho rows, sorted.
pub fn ids(rows: &[Value], field: &str) -> Vec<String> {
    let mut ids: Vec<String> = rows
        .iter()
        .map(|r| r[field].as_str().unwrap_or_default().to_string())
        .collect();
    ids.sort();
    ids
}
