//! Load for the webhook ingress: signed Cybersource notifications, each about a new payment,
//! sent by `CONCURRENCY` connections for `SECONDS`; prints accepts per second and latency
//! percentiles. Used by `bench/ingest.sh`.
//!
//! `cargo run --release --example ingest_load -- URL KEY_ID KEY_BASE64 SECONDS CONCURRENCY`

#![expect(
    clippy::float_arithmetic,
    reason = "throughput and latency figures, not money"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, key_id, key, seconds, concurrency] = &args[..] else {
        eprintln!("usage: ingest_load URL KEY_ID KEY_BASE64 SECONDS CONCURRENCY");
        std::process::exit(2);
    };
    let key = base64::engine::general_purpose::STANDARD
        .decode(key)
        .unwrap();
    let seconds: u64 = seconds.parse().unwrap();
    let concurrency: usize = concurrency.parse().unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let counter = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (http, url, key, key_id, counter) = (
            http.clone(),
            url.clone(),
            key.clone(),
            key_id.clone(),
            counter.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut refused = 0u64;
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let payload = format!(
                    r#"{{"data":{{"id":"{:022}","type":"payments","clientReferenceInformation":{{"code":"BENCH-{n}"}}}},"organizationId":"bench"}}"#,
                    7_000_000_000_000_000_000u64 + n
                );
                let body = format!(
                    r#"{{"eventType":"payments.payments.accept","webhookId":"wh-bench","productId":"payments","organizationId":"bench","eventDate":"2026-11-26T00:00:00Z","transactionTraceId":"t-{n}","retryNumber":0,"requestType":"new","payload":{payload}}}"#
                );
                let at = now_ms();
                let signature = paybridge_cybersource::webhooks::sign(&key, at, &payload);
                let sent = Instant::now();
                let response = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("v-c-signature", format!("t={at};keyId={key_id};sig={signature}"))
                    .body(body)
                    .send()
                    .await;
                let elapsed = sent.elapsed();
                match response {
                    Ok(r) if r.status().as_u16() == 202 => {
                        latencies.push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
                    }
                    _ => refused += 1,
                }
            }
            (latencies, refused)
        }));
    }
    let mut all = Vec::new();
    let mut refused = 0;
    for task in tasks {
        let (latencies, r) = task.await.unwrap();
        all.extend(latencies);
        refused += r;
    }
    let wall = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: usize| all.get(all.len() * p / 100).copied().unwrap_or(0) as f64 / 1000.0;
    println!(
        "accepted {} in {wall:.1} s = {:.0}/s; not accepted {refused}; latency ms p50 {:.2} p90 {:.2} p99 {:.2} max {:.2}",
        all.len(),
        all.len() as f64 / wall,
        pct(50),
        pct(90),
        pct(99),
        all.last().copied().unwrap_or(0) as f64 / 1000.0
    );
}
