//! The fault test: the same orders (same seed) placed twice, once against well-behaved
//! sandboxes and once against sandboxes that answer 5% of requests with a 502 before doing
//! anything, lose 2% of answers after doing the work (the caller's timeout), throttle in bursts,
//! and deliver 1% of webhooks twice and all of them out of order. The final state in Cybersource
//! and Zoho Books is the same.

use paybridge_store::{OrderStore as _, RunStore as _};
use std::time::Duration;

use indicatif::ProgressBar;
use paybridge::demo::{DemoEnvironment, DemoOptions};
use paybridge_model::OrderStatus;
use paybridge_sandbox::cybersource::WebhookFaults;
use paybridge_sandbox::faults::{FaultMode, FaultRule};
use paybridge_sandbox::storefront::OrderPlan;

const ORDERS: usize = 150;
const SEED: u64 = 77;

/// What both vendors hold at the end, without ids or times (which differ between runs).
#[derive(Debug, PartialEq, Eq)]
struct FinalState {
    charges: Vec<(String, String, String)>,
    invoices: Vec<(String, String, String)>,
    customer_payments: Vec<(String, String)>,
    contacts: Vec<String>,
    orders: Vec<(String, String)>,
}

fn rule(path: &str, mode: FaultMode, probability: f64) -> FaultRule {
    FaultRule {
        method: None,
        path: path.into(),
        mode,
        times: None,
        probability: Some(probability),
    }
}

/// Places one order until it has its final answer: re-sent while paybridge says to try again,
/// and once more after a lost payment turned out never to have been charged.
async fn place(env: &DemoEnvironment, plan: &OrderPlan) {
    let store = &env.app.engine.store();
    for _ in 0..200 {
        let placed = env.storefront.place(plan).await.expect("paybridge answers");
        match placed.http_status {
            201 | 402 => return,
            502 => {
                // The answer was lost: wait for the lookup, then place again if nothing came of it.
                let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
                loop {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "{}: its lost payment was never looked up",
                        plan.reference
                    );
                    let order = store
                        .order_by_reference(&plan.reference)
                        .await
                        .unwrap()
                        .unwrap();
                    match order.status {
                        OrderStatus::PaymentUnknown => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        OrderStatus::PaymentFailed => break,
                        _ => return,
                    }
                }
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    panic!("{} never got an answer", plan.reference);
}

async fn run(faults: bool) -> FinalState {
    crate::helpers::install_tls();
    let dir = tempfile::tempdir().unwrap();
    let env = DemoEnvironment::start(&DemoOptions {
        orders: ORDERS,
        seed: SEED,
        data_dir: Some(dir.path().to_path_buf()),
        concurrency: 8,
        workers: 4,
        payment_resolution_delay: Duration::from_millis(200),
        flows_env: None,
    })
    .await
    .unwrap();
    if faults {
        env.cybersource.faults().seed(SEED);
        env.zoho.faults().seed(SEED);
        for (sandbox, path) in [
            (env.cybersource.faults(), "/pts/v2/payments"),
            (env.zoho.faults(), "/books/v3/"),
        ] {
            sandbox.add(rule(path, FaultMode::ErrorBefore { status: 502 }, 0.05));
            sandbox.add(rule(path, FaultMode::ErrorAfter { status: 504 }, 0.02));
        }
        // A burst of throttling: the next ten invoice writes draw 429s.
        env.zoho.faults().add(FaultRule::next(
            "POST",
            "/books/v3/invoices",
            FaultMode::RateLimited {
                retry_after_secs: 1,
            },
            10,
        ));
        env.cybersource.set_webhook_faults(WebhookFaults {
            duplicate_probability: 0.01,
            max_jitter_ms: 300,
        });
    }

    let plans = env.storefront.plans();
    let mut tasks = tokio::task::JoinSet::new();
    let env = std::sync::Arc::new(env);
    for chunk in plans.chunks(ORDERS / 8 + 1) {
        let (env, chunk) = (env.clone(), chunk.to_vec());
        tasks.spawn(async move {
            for plan in &chunk {
                place(&env, plan).await;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    env.wait_settled(ORDERS, Duration::from_secs(120), &ProgressBar::hidden())
        .await
        .unwrap();

    // The storm is over: read the end state back without faults (the read-back is the test's,
    // not paybridge's), noting first whether the 429 burst was used up.
    let burst_left = env
        .zoho
        .faults()
        .rules()
        .iter()
        .any(|r| matches!(r.mode, FaultMode::RateLimited { .. }));
    env.zoho.faults().clear();
    env.cybersource.faults().clear();
    let books = env.books_snapshot().await.unwrap();
    // References carry a per-run prefix: compare what follows it.
    let plain = |reference: &str| reference.rsplit('-').next().unwrap_or_default().to_string();
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    // An invoice made from a sales order carries the sales order's number, which depends on
    // the order in which sales orders were made: name it by the order it is for instead.
    let order_of: std::collections::HashMap<String, String> = books
        .sales_orders
        .iter()
        .map(|o| {
            (
                text(&o["salesorder_number"]),
                plain(&text(&o["reference_number"])),
            )
        })
        .collect();
    let mut invoices: Vec<_> = books
        .invoices
        .iter()
        .map(|i| {
            let reference = text(&i["reference_number"]);
            (
                order_of
                    .get(&reference)
                    .cloned()
                    .unwrap_or_else(|| plain(&reference)),
                text(&i["total"]),
                text(&i["status"]),
            )
        })
        .collect();
    invoices.sort();
    let mut customer_payments: Vec<_> = books
        .customer_payments
        .iter()
        .map(|p| {
            (
                text(&p["amount"]),
                text(&p["invoices"][0]["amount_applied"]),
            )
        })
        .collect();
    customer_payments.sort();
    let mut contacts: Vec<_> = books.contacts.iter().map(|c| text(&c["email"])).collect();
    contacts.sort();
    let mut charges: Vec<_> = env
        .cybersource
        .payments()
        .into_iter()
        .filter(|t| t.status != "VOIDED")
        .map(|t| (plain(&t.merchant_reference), t.amount.to_string(), t.status))
        .collect();
    charges.sort();
    let mut orders: Vec<_> = env
        .app
        .engine
        .store()
        .orders(10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|o| (plain(&o.reference), o.status.to_string()))
        .collect();
    orders.sort();
    if faults {
        // Every webhook delivery was taken (duplicates included), none refused.
        let refused = env
            .cybersource
            .deliveries()
            .into_iter()
            .filter(|d| !d.status.is_some_and(|s| (200..300).contains(&s)))
            .count();
        assert_eq!(refused, 0, "webhook deliveries paybridge did not take");
        // And the storm did blow: runs were retried, Zoho throttled.
        let runs = env
            .app
            .engine
            .store()
            .find_runs(&paybridge_store::RunFilter {
                limit: 10_000,
                ..Default::default()
            })
            .await
            .unwrap();
        // (Shown when the end states differ: what failed for good, and why.)
        for dead in runs
            .iter()
            .filter(|r| r.status == paybridge_store::RunStatus::Dead)
        {
            eprintln!(
                "dead letter: run {} {} {}: {:?} at {:?}",
                dead.id, dead.flow, dead.entity_key, dead.last_error, dead.last_error_step
            );
        }
        let retried = runs.iter().filter(|r| r.attempt > 1).count();
        assert!(retried >= 5, "only {retried} runs were retried");
        // The burst rule is gone once its ten 429s were answered.
        assert!(!burst_left, "the 429 burst was not used up");
    }
    FinalState {
        charges,
        invoices,
        customer_payments,
        contacts,
        orders,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_and_throttling_and_webhook_disorder_change_nothing_in_the_end() {
    let calm = run(false).await;
    let stormy = run(true).await;
    assert_eq!(calm.orders.len(), ORDERS);
    assert!(!calm.invoices.is_empty());
    assert_eq!(calm, stormy);
}
