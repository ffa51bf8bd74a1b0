//! Order-to-cash load: a storefront places `ORDERS` orders (test cards, `CONCURRENCY` in flight)
//! on a running `paybridge serve`, then waits until every order is settled in Zoho (reading the
//! store `STORE` names). Prints orders per second for the payments and for the whole cycle.
//! Used by `bench/o2c.sh`.
//!
//! `cargo run --release --example o2c_load -- URL STOREFRONT_KEY ORDERS CONCURRENCY STORE`

#![expect(
    clippy::float_arithmetic,
    clippy::cast_precision_loss,
    reason = "throughput figures, not money"
)]

use paybridge_store::RunStore as _;
use std::time::{Duration, Instant};

use paybridge_sandbox::storefront::{Storefront, StorefrontConfig};
use paybridge_store::Store;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, key, orders, concurrency, store] = &args[..] else {
        eprintln!("usage: o2c_load URL STOREFRONT_KEY ORDERS CONCURRENCY STORE");
        std::process::exit(2);
    };
    let orders: usize = orders.parse().unwrap();
    let storefront = Storefront::new(StorefrontConfig {
        api_base: url::Url::parse(url).unwrap(),
        api_key: key.clone(),
        reference_prefix: format!("BENCH-{}", std::process::id()),
        orders,
        seed: 7,
        concurrency: concurrency.parse().unwrap(),
        reviews: false,
        foreign_currencies: false,
        save_cards: false,
    })
    .unwrap();
    let started = Instant::now();
    let placed = storefront.place_all(|_| {}).await.unwrap();
    let paid = started.elapsed();
    let answered = placed
        .iter()
        .filter(|p| matches!(p.http_status, 201 | 402))
        .count();
    let store = Store::open_sqlite(std::path::Path::new(store))
        .await
        .unwrap();
    loop {
        let counts = store.counts().await.unwrap();
        let busy = counts.runs_by_status.get("queued").copied().unwrap_or(0)
            + counts.runs_by_status.get("running").copied().unwrap_or(0);
        if busy == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let synced = started.elapsed();
    let counts = store.counts().await.unwrap();
    println!(
        "{orders} orders ({answered} answered 201/402): payments in {:.2} s = {:.0}/s; \
         synced to Zoho in {:.2} s = {:.0}/s; orders by status {:?}",
        paid.as_secs_f64(),
        orders as f64 / paid.as_secs_f64(),
        synced.as_secs_f64(),
        orders as f64 / synced.as_secs_f64(),
        counts.orders_by_status
    );
}
