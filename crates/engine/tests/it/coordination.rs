//! Two nodes on one store: the Zoho refresh lease is exclusive and expires, and Zoho's budgets
//! are one window for all.

use paybridge_store::CoordinationStore as _;
use std::sync::Arc;
use std::time::Duration;

use paybridge_engine::coordination::{StoreLeases, StoreLedger};
use paybridge_store::Clock;
use paybridge_zoho::RefreshLock as _;
use paybridge_zoho::quota::{Budgets, FinancePlan, Plans, Product};

use crate::helpers::backends;

#[tokio::test]
async fn two_nodes_spend_from_one_budget() {
    for db in backends().await {
        let a = db.open().await;
        let b = db.open().await;
        let minute = (3, 60_000);
        let day = (1_000, 86_400_000);
        let t0 = 5_000_000;
        assert_eq!(
            a.quota_take("books:1", &[minute, day], 1, t0)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            b.quota_take("books:1", &[minute, day], 1, t0 + 10_000)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            a.quota_take("books:1", &[minute, day], 1, t0 + 20_000)
                .await
                .unwrap(),
            None
        );
        // The fourth, on either node, waits until the first grant's one-second bucket has left
        // the minute (buckets count whole: the store errs towards spent, never past a limit).
        assert_eq!(
            b.quota_take("books:1", &[minute, day], 1, t0 + 30_000)
                .await
                .unwrap(),
            Some(31_000)
        );
        assert_eq!(
            b.quota_take("books:1", &[minute, day], 2, t0 + 30_000)
                .await
                .unwrap(),
            Some(41_000),
            "two units wait for two grants to leave"
        );
        assert!(
            a.quota_take("books:1", &[minute, day], 1, t0 + 60_000)
                .await
                .unwrap()
                .is_some(),
            "the first bucket still overlaps the window"
        );
        assert_eq!(
            b.quota_take("books:2", &[minute, day], 1, t0)
                .await
                .unwrap(),
            None,
            "other keys are apart"
        );
        assert_eq!(
            a.quota_take("books:1", &[minute, day], 1, t0 + 61_000)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            b.quota_used("books:1", &[60_000, 86_400_000], t0 + 61_000)
                .await
                .unwrap(),
            vec![3, 4]
        );
        // A 429 seen by one node pauses the key for both.
        a.quota_pause("books:1", t0 + 90_000).await.unwrap();
        assert_eq!(
            b.quota_take("books:1", &[minute, day], 1, t0 + 70_000)
                .await
                .unwrap(),
            Some(20_000)
        );
    }
}

#[tokio::test]
async fn budgets_over_the_store_meter_the_zoho_client() {
    for db in backends().await {
        let store = db.open().await;
        let budgets = Budgets::new(
            Plans {
                finance: FinancePlan {
                    per_minute: 100,
                    per_day: 2,
                },
                max_wait: Duration::from_secs(1),
                ..Plans::default()
            },
            Arc::new(StoreLedger::new(store, Clock::new())),
        );
        budgets.acquire(Product::Finance, "1", 1).await.unwrap();
        budgets.acquire(Product::Finance, "1", 1).await.unwrap();
        let spent = budgets.acquire(Product::Finance, "1", 1).await.unwrap_err();
        assert!(
            matches!(spent, paybridge_zoho::Error::QuotaExhausted { .. }),
            "{spent}"
        );
        let usage = budgets.usage().await.unwrap();
        assert!(
            usage
                .iter()
                .any(|u| u.quota == "requests_per_day" && u.used == 2)
        );
    }
}

#[tokio::test]
async fn store_leases_serve_the_zoho_client() {
    for db in backends().await {
        let a = db.open().await;
        let b = db.open().await;
        let clock = Clock::new();
        let lease_a = StoreLeases::new(a, clock);
        let lease_b = StoreLeases::new(b, clock);
        assert!(
            lease_a
                .acquire("conn", "a", Duration::from_secs(30))
                .await
                .unwrap()
        );
        assert!(
            !lease_b
                .acquire("conn", "b", Duration::from_secs(30))
                .await
                .unwrap()
        );
        lease_a.release("conn", "a").await.unwrap();
        assert!(
            lease_b
                .acquire("conn", "b", Duration::from_secs(30))
                .await
                .unwrap()
        );
    }
}

#[tokio::test]
async fn a_node_takes_budget_in_slices_and_never_more_than_the_limit() {
    for db in backends().await {
        let a = db.open().await;
        let b = db.open().await;
        let clock = Clock::new();
        let plans = Plans {
            finance: FinancePlan {
                per_minute: 1_000,
                per_day: 1_010,
            },
            max_wait: Duration::from_millis(1),
            ..Plans::default()
        };
        let node_a = Budgets::new(plans.clone(), Arc::new(StoreLedger::new(a, clock)));
        let node_b = Budgets::new(plans, Arc::new(StoreLedger::new(b.clone(), clock)));
        // Slices grow with demand — 1, 2, 4, 8, 16, then at most 20 (a fiftieth of the smaller
        // limit) — so 31 quick requests take five store writes and exactly 31 units.
        let windows = [60_500, 86_400_000]; // the minute keeps a half-second guard
        let key = "zoho:books:org";
        for _ in 0..31 {
            node_a.acquire(Product::Finance, "org", 1).await.unwrap();
        }
        assert_eq!(
            b.quota_used(key, &windows, clock.now_ms()).await.unwrap(),
            vec![31, 31],
            "slices of 1 + 2 + 4 + 8 + 16, all spent"
        );
        // Both nodes together never get past the daily cap of 1,010, however the slices fall.
        let mut granted = 31;
        loop {
            let a = node_a.acquire(Product::Finance, "org", 1).await;
            let b = node_b.acquire(Product::Finance, "org", 1).await;
            let got = usize::from(a.is_ok()) + usize::from(b.is_ok());
            if got == 0 {
                break;
            }
            granted += got;
        }
        assert!(granted <= 1_010, "{granted}");
        // A slice left when its half second runs out is not spent: a slow machine loses a little.
        assert!(granted >= 900, "slices leave few units unspent: {granted}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_at_the_same_moment_take_one_slice_between_them() {
    for db in backends().await {
        let store = db.open().await;
        let clock = Clock::new();
        let node = Budgets::new(
            Plans {
                finance: FinancePlan {
                    per_minute: 1_000,
                    per_day: 100_000,
                },
                max_wait: Duration::from_secs(1),
                ..Plans::default()
            },
            Arc::new(StoreLedger::new(store.clone(), clock)),
        );
        // Sixteen workers spending 50 units each, all at once. A slice taken by one while
        // another's was being taken used to replace the other's unspent units, lost to
        // everyone: the store handed out far more than was spent. Now whatever is taken is
        // spent, but for what is left of the last slice (at most 20, a fiftieth of the minute).
        let asking = (0..16).map(|_| {
            let node = node.clone();
            tokio::spawn(async move {
                for _ in 0..50 {
                    node.acquire(Product::Finance, "org", 1).await.unwrap();
                }
            })
        });
        for worker in futures::future::join_all(asking).await {
            worker.unwrap();
        }
        let used = store
            .quota_used("zoho:books:org", &[60_500], clock.now_ms())
            .await
            .unwrap()[0];
        assert!((800..=820).contains(&used), "800 spent, {used} taken");
    }
}

#[tokio::test]
async fn crm_concurrency_slots_are_shared_by_every_node_and_free_themselves() {
    use paybridge_zoho::quota::{BudgetLedger as _, CrmPlan};

    for db in backends().await {
        let store = db.open().await;
        let plans = Plans {
            crm: CrmPlan::new(1_000_000, 2),
            max_wait: Duration::from_secs(60),
            ..Plans::default()
        };
        let node_a = Budgets::new(
            plans.clone(),
            Arc::new(StoreLedger::new(store, Clock::new())),
        );
        let ledger_b = Arc::new(StoreLedger::new(db.open().await, Clock::new()));
        let node_b = Budgets::new(plans, ledger_b.clone());
        let first = node_a.acquire(Product::Crm, "org", 1).await.unwrap();
        let second = node_a.acquire(Product::Crm, "org", 1).await.unwrap();

        // Node B has free slots of its own, but the organization's two are taken: it waits.
        let key = "zoho:crm:org";
        assert_eq!(
            ledger_b
                .take_slot(key, 2, "probe", Duration::from_secs(60))
                .await
                .unwrap(),
            None
        );
        let waiting = tokio::spawn({
            let node_b = node_b.clone();
            async move { node_b.acquire(Product::Crm, "org", 1).await }
        });
        drop(first);
        let third = tokio::time::timeout(Duration::from_secs(30), waiting)
            .await
            .expect("a freed slot is taken")
            .unwrap()
            .unwrap();
        assert_eq!(
            ledger_b
                .take_slot(key, 2, "probe", Duration::from_secs(60))
                .await
                .unwrap(),
            None,
            "the slot went to the waiting call"
        );
        drop((second, third));

        // A holder that never gives its slot back (a crashed node) holds it only for its TTL.
        assert_eq!(
            ledger_b
                .take_slot("zoho:desk:org", 1, "crashed", Duration::ZERO)
                .await
                .unwrap(),
            Some(0)
        );
        assert_eq!(
            ledger_b
                .take_slot("zoho:desk:org", 1, "alive", Duration::from_secs(60))
                .await
                .unwrap(),
            Some(0)
        );
        assert_eq!(
            ledger_b
                .take_slot("zoho:desk:org", 1, "another", Duration::from_secs(60))
                .await
                .unwrap(),
            None
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_and_restarts_share_one_access_token_and_replace_a_rejected_one() {
    use paybridge_sandbox::server::RunningServer;
    use paybridge_sandbox::zoho::{ZohoConfig, ZohoSandbox};
    use paybridge_zoho::{Client, ClientConfig, Coordination, OAuthCredentials};
    use secrecy::SecretString;

    let _ = rustls::crypto::ring::default_provider().install_default();
    for db in backends().await {
        let mut config = ZohoConfig::single("1000.C", "secret", "1000.r.t", "10234695", "USD");
        config.refreshes_per_window = 100;
        config.max_live_access_tokens = 2;
        let sandbox = ZohoSandbox::new(config);
        let server = RunningServer::start(
            sandbox.router(),
            std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0)),
        )
        .await
        .unwrap();
        // A process: its own client and its own pool on the shared store.
        let process = |n: usize, store: paybridge_store::Store| {
            Client::new(ClientConfig {
                coordination: Some(Coordination {
                    lock: Arc::new(StoreLeases::new(store, Clock::new())),
                    holder: format!("process-{n}"),
                }),
                ..ClientConfig::new(
                    OAuthCredentials {
                        accounts_url: server.url(),
                        client_id: "1000.C".into(),
                        client_secret: SecretString::from("secret"),
                        refresh_token: SecretString::from("1000.r.t"),
                    },
                    server.url(),
                )
            })
            .unwrap()
        };
        let first = process(1, db.open().await);
        first.books("10234695").currencies().await.unwrap();
        assert_eq!(first.token_refreshes(), 1);
        let second = process(2, db.open().await);
        second.books("10234695").currencies().await.unwrap();
        assert_eq!(
            second.token_refreshes(),
            0,
            "the other process's token is used"
        );
        let restarted = process(3, db.open().await);
        restarted.books("10234695").currencies().await.unwrap();
        assert_eq!(restarted.token_refreshes(), 0, "a restart does not refresh");

        // Zoho kills the shared token (two newer ones exist): the next call is refused once,
        // refreshes once, and shares the replacement.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        for _ in 0..2 {
            http.post(server.url().join("oauth/v2/token").unwrap())
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("client_id", "1000.C"),
                    ("client_secret", "secret"),
                    ("refresh_token", "1000.r.t"),
                ])
                .send()
                .await
                .unwrap();
        }
        second.books("10234695").currencies().await.unwrap();
        assert_eq!(second.token_refreshes(), 1);
        let later = process(4, db.open().await);
        later.books("10234695").currencies().await.unwrap();
        assert_eq!(later.token_refreshes(), 0, "the replacement is shared too");

        // The store holds it sealed: nothing readable.
        use sha2::Digest as _;
        let name = format!(
            "zoho-oauth:1000.C:{}",
            hex::encode(&sha2::Sha256::digest(b"1000.r.t")[..8])
        );
        let sealed = db.open().await.shared_token(&name).await.unwrap().unwrap();
        let text = String::from_utf8_lossy(&sealed);
        assert!(
            !text.contains("access_token") && !text.contains("1000."),
            "{text}"
        );
        server.shutdown().await;
    }
}

/// The heartbeat renews a run's lease while it runs; once another worker has taken the run over
/// (its renewal refused), it marks the lease lost, and the run's steps stop.
#[tokio::test(start_paused = true)]
async fn a_heartbeat_whose_renewal_is_refused_marks_the_lease_lost() {
    use paybridge_store::{InboxStore as _, NewEvent, RunStore as _};

    let dir = tempfile::tempdir().unwrap();
    let store = paybridge_store::Store::open_sqlite(&dir.path().join("lease.db"))
        .await
        .unwrap();
    let clock = paybridge_store::Clock::new();
    let length = std::time::Duration::from_secs(60);
    store
        .accept_event(
            &NewEvent {
                source: "manual".into(),
                dedupe_key: "lease:1".into(),
                event_type: "test".into(),
                entity_key: "order:L-1".into(),
                payload: serde_json::json!({}),
            },
            &["order-to-cash"],
            clock.now_ms(),
        )
        .await
        .unwrap();
    let run = store
        .claim_run("w1", clock.now_ms(), length)
        .await
        .unwrap()
        .unwrap();
    let lease = std::sync::Arc::new(paybridge_store::Lease::default());
    let beating = tokio::spawn(paybridge_engine::worker::heartbeat(
        store.clone(),
        clock,
        length,
        ("w1".into(), run.id),
        lease.clone(),
    ));
    // Two renewals go through: the lease holds.
    tokio::time::sleep(length / 3 * 2 + std::time::Duration::from_secs(1)).await;
    assert!(!lease.is_lost());
    // Another worker takes the run over (as if this one had stalled past its lease).
    let taken = store
        .claim_run("w2", clock.now_ms() + 2 * 60_000, length)
        .await
        .unwrap()
        .expect("taken over");
    assert_eq!(taken.id, run.id);
    // Its next renewal is refused: the heartbeat marks the lease lost and ends.
    beating.await.unwrap();
    assert!(lease.is_lost());
}

/// Zoho allows ten token requests per refresh token per ten minutes. Twelve restarts in a row,
/// each with the budget on the shared store, reuse the token the first one minted: only that
/// real request spends the allowance, so none of them waits for it (the eleventh used to wait
/// ten minutes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_reuse_the_stored_token_without_spending_the_refresh_allowance() {
    use paybridge_sandbox::server::RunningServer;
    use paybridge_sandbox::zoho::{ZohoConfig, ZohoSandbox};
    use paybridge_zoho::{Client, ClientConfig, Coordination, OAuthCredentials};
    use secrecy::SecretString;

    let _ = rustls::crypto::ring::default_provider().install_default();
    for db in backends().await {
        let sandbox = ZohoSandbox::new(ZohoConfig::single(
            "1000.C", "secret", "1000.r.t", "10234695", "USD",
        ));
        let server = RunningServer::start(
            sandbox.router(),
            std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0)),
        )
        .await
        .unwrap();
        let mut refreshes = 0;
        for restart in 0..12 {
            let store = db.open().await;
            let clock = Clock::new();
            let client = Client::new(ClientConfig {
                budgets: Some(Budgets::new(
                    Plans {
                        // Waiting for the allowance would fail at once.
                        max_wait: Duration::from_millis(1),
                        ..Plans::default()
                    },
                    Arc::new(StoreLedger::new(store.clone(), clock)),
                )),
                coordination: Some(Coordination {
                    lock: Arc::new(StoreLeases::new(store, clock)),
                    holder: format!("start-{restart}"),
                }),
                ..ClientConfig::new(
                    OAuthCredentials {
                        accounts_url: server.url(),
                        client_id: "1000.C".into(),
                        client_secret: SecretString::from("secret"),
                        refresh_token: SecretString::from("1000.r.t"),
                    },
                    server.url(),
                )
            })
            .unwrap();
            client
                .books("10234695")
                .currencies()
                .await
                .unwrap_or_else(|e| panic!("start {restart}: {e}"));
            refreshes += client.token_refreshes();
        }
        assert_eq!(refreshes, 1, "one real token request for twelve starts");
        assert_eq!(sandbox.stats().tokens_issued, 1);
        server.shutdown().await;
    }
}
