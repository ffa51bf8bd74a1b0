//! Budgets against the sandbox's limits, on tokio's paused clock (the sandbox keeps its windows
//! on the same clock).

use std::time::Duration;

use paybridge_sandbox::zoho::{ZohoConfig, ZohoLimits};
use paybridge_zoho::Client;
use paybridge_zoho::quota::{Budgets, FinancePlan, Plans};
use tokio::time::Instant;

use crate::{ORG, client, client_config, config, contact, sandbox};

#[tokio::test(start_paused = true)]
async fn a_thousand_books_writes_within_100_a_minute_draw_no_429() {
    let (zoho, server) = sandbox(config()).await;
    let budgets = Budgets::local(Plans {
        // Long enough to wait a minute window out.
        max_wait: Duration::from_secs(120),
        ..Plans::default()
    });
    let client = Client::new(paybridge_zoho::ClientConfig {
        budgets: Some(budgets.clone()),
        ..client_config(&server, "1000.CLIENT")
    })
    .unwrap();
    let books = client.books(ORG);
    let start = Instant::now();
    // Eight workers share the organization's budget.
    let workers: Vec<_> = (0..8)
        .map(|worker| {
            let books = books.clone();
            tokio::spawn(async move {
                for n in 0..125 {
                    let name = format!("Customer {worker}-{n}");
                    books
                        .create_contact(&contact(&name, &format!("c{worker}-{n}@example.com")))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    let elapsed = Instant::now() - start;
    let stats = zoho.stats();
    assert_eq!(stats.throttled, 0, "no request drew a 429");
    assert_eq!(
        zoho.books_records(ORG).unwrap().contacts.len(),
        1000,
        "every write landed"
    );
    // The first hundred go at once; the other 900 at the budget's pace. Within 5% of 100 a
    // minute, and never above it.
    let per_minute = 900.0 * 60.0 / elapsed.as_secs_f64();
    assert!(
        (95.0..=100.0).contains(&per_minute),
        "{per_minute:.1} writes a minute over {elapsed:?}"
    );
    let usage = budgets.usage().await.unwrap();
    let day = usage
        .iter()
        .find(|u| u.quota == "requests_per_day")
        .unwrap();
    assert_eq!(day.used, 1000);
}

#[tokio::test(start_paused = true)]
async fn without_a_budget_the_sandbox_throttles_and_the_error_says_when_to_come_back() {
    let (zoho, server) = sandbox(ZohoConfig {
        limits: ZohoLimits {
            books_per_minute: 3,
            ..ZohoLimits::default()
        },
        ..config()
    })
    .await;
    let books = client(&server, "1000.CLIENT").books(ORG);
    for n in 0..3 {
        books
            .create_contact(&contact(&format!("C{n}"), "c@example.com"))
            .await
            .unwrap();
    }
    let error = books
        .create_contact(&contact("C3", "c@example.com"))
        .await
        .unwrap_err();
    assert_eq!(error.http_status(), Some(429), "{error}");
    assert_eq!(error.kind(), paybridge_model::FailureKind::Transient);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(60)));
    assert_eq!(zoho.stats().throttled, 1);
}

#[tokio::test(start_paused = true)]
async fn a_429_from_another_integration_pauses_the_budget() {
    // Someone else spent the organization's minute: the sandbox allows only 2, our budget 100.
    let (zoho, server) = sandbox(ZohoConfig {
        limits: ZohoLimits {
            books_per_minute: 2,
            ..ZohoLimits::default()
        },
        ..config()
    })
    .await;
    let budgets = Budgets::local(Plans {
        finance: FinancePlan {
            per_minute: 100,
            per_day: 10_000,
        },
        // Long enough to wait a minute window out.
        max_wait: Duration::from_secs(120),
        ..Plans::default()
    });
    let client = Client::new(paybridge_zoho::ClientConfig {
        budgets: Some(budgets),
        ..client_config(&server, "1000.CLIENT")
    })
    .unwrap();
    let books = client.books(ORG);
    for n in 0..2 {
        books
            .create_contact(&contact(&format!("C{n}"), "c@example.com"))
            .await
            .unwrap();
    }
    let throttled = books
        .create_contact(&contact("C2", "c@example.com"))
        .await
        .unwrap_err();
    assert_eq!(throttled.http_status(), Some(429));
    // The next request waits out the pause instead of drawing another 429.
    let before = Instant::now();
    books
        .create_contact(&contact("C2", "c@example.com"))
        .await
        .unwrap();
    assert_eq!(Instant::now() - before, Duration::from_secs(60));
    assert_eq!(zoho.stats().throttled, 1);
}

/// A lease table in memory: what the shared store does for several processes.
#[derive(Default)]
struct Leases {
    held: std::sync::Mutex<std::collections::HashMap<String, String>>,
    most_at_once: std::sync::atomic::AtomicUsize,
}

impl paybridge_zoho::RefreshLock for Leases {
    fn acquire<'a>(
        &'a self,
        name: &'a str,
        holder: &'a str,
        _ttl: Duration,
    ) -> futures::future::BoxFuture<'a, Result<bool, paybridge_zoho::Error>> {
        Box::pin(async move {
            let mut held = self.held.lock().unwrap();
            if held.get(name).is_some_and(|h| h != holder) {
                return Ok(false);
            }
            held.insert(name.to_string(), holder.to_string());
            self.most_at_once
                .fetch_max(held.len(), std::sync::atomic::Ordering::SeqCst);
            Ok(true)
        })
    }

    fn release<'a>(
        &'a self,
        name: &'a str,
        holder: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<(), paybridge_zoho::Error>> {
        Box::pin(async move {
            let mut held = self.held.lock().unwrap();
            if held.get(name).is_some_and(|h| h == holder) {
                held.remove(name);
            }
            Ok(())
        })
    }
}

#[tokio::test(start_paused = true)]
async fn twelve_processes_refresh_one_at_a_time_and_never_draw_access_denied() {
    let (zoho, server) = sandbox(ZohoConfig {
        max_live_access_tokens: 20,
        ..config()
    })
    .await;
    // What every node shares through the store: the budgets and the refresh lease. The nodes
    // may wait the whole ten minutes (by default a wait that long reschedules the run).
    let budgets = Budgets::local(Plans {
        max_wait: Duration::from_secs(15 * 60),
        ..Plans::default()
    });
    let leases = std::sync::Arc::new(Leases::default());
    let start = Instant::now();
    let nodes: Vec<_> = (0..12)
        .map(|node| {
            let client = Client::new(paybridge_zoho::ClientConfig {
                budgets: Some(budgets.clone()),
                coordination: Some(paybridge_zoho::Coordination {
                    lock: leases.clone(),
                    holder: format!("node-{node}"),
                }),
                ..client_config(&server, "1000.CLIENT")
            })
            .unwrap();
            tokio::spawn(async move {
                client
                    .books(ORG)
                    .find_customers_by_email("a@example.com")
                    .await
                    .unwrap();
                client.token_refreshes()
            })
        })
        .collect();
    for node in nodes {
        assert_eq!(node.await.unwrap(), 1, "each process refreshed once");
    }
    let stats = zoho.stats();
    assert_eq!(stats.tokens_issued, 12);
    assert!(
        !stats.token_errors.contains_key("Access Denied"),
        "{:?}",
        stats.token_errors
    );
    assert_eq!(
        leases
            .most_at_once
            .load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one refresh at a time"
    );
    // Ten went at once; the last two waited for the ten-minute window to move.
    assert!(
        Instant::now() - start >= Duration::from_secs(600),
        "{:?}",
        Instant::now() - start
    );
}
