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

/// `paybridge sandbox` in a process of its own, configured from `sandbox.example.toml` on free
/// loopback ports, with the addresses it printed; killed when dropped.
pub struct SandboxProcess {
    process: std::process::Child,
    pub cybersource: String,
    pub zoho: String,
    pub zoho_eu: String,
}

impl SandboxProcess {
    pub fn start(dir: &std::path::Path) -> SandboxProcess {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};
        let path = dir.join("sandbox.toml");
        let config = include_str!("../../../../sandbox.example.toml")
            .replace("127.0.0.1:8081", "127.0.0.1:0")
            .replace("127.0.0.1:8082", "127.0.0.1:0")
            .replace("127.0.0.1:8083", "127.0.0.1:0");
        std::fs::write(&path, config).unwrap();
        let mut process = Command::new(env!("CARGO_BIN_EXE_paybridge"))
            .args(["sandbox", "--config"])
            .arg(&path)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("paybridge runs");
        let mut lines = BufReader::new(process.stderr.take().unwrap()).lines();
        let mut url_of = |name: &str| loop {
            let line = lines
                .next()
                .expect("the sandbox prints its addresses")
                .unwrap();
            if line.starts_with(name) {
                return line
                    .split_whitespace()
                    .find(|w| w.starts_with("http://"))
                    .unwrap()
                    .to_string();
            }
        };
        let cybersource = url_of("Cybersource sandbox");
        let zoho = url_of("Zoho sandbox ");
        let zoho_eu = url_of("Zoho sandbox (eu)");
        // Keep reading its output so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        SandboxProcess {
            process,
            cybersource,
            zoho,
            zoho_eu,
        }
    }
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
