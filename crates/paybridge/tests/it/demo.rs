//! The demo environment over HTTP: orders placed by the storefront, results read back through
//! the sandboxes' own APIs, and every event delivered twice.

use indicatif::ProgressBar;
use paybridge_model::OrderStatus;
use paybridge_sandbox::storefront::Expectation;
use paybridge_store::RunStatus;
use paybridge_store::RunStore as _;

use crate::helpers::{cybersource_charges, ids, start_demo};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_delivered_twice_creates_nothing_new() {
    let dir = tempfile::tempdir().unwrap();
    let env = start_demo(40, 7, &dir).await;
    let progress = ProgressBar::hidden();

    let placed = env
        .place_and_settle(&progress)
        .await
        .expect("orders settle");
    let verification = env.verify(&placed).await.unwrap();
    assert!(verification.ok, "problems: {:#?}", verification.problems);

    // Booked: the approved orders and those a reviewer accepted.
    let approved: Vec<_> = placed
        .iter()
        .filter(|p| {
            matches!(
                p.plan.expectation,
                Expectation::Approve | Expectation::ReviewAccept
            )
        })
        .collect();
    let declined: Vec<_> = placed
        .iter()
        .filter(|p| p.plan.expectation == Expectation::Decline)
        .collect();
    assert!(!declined.is_empty() && approved.len() > declined.len());
    for order in &approved {
        // (Held for review is 201 too: authorized, not yet captured.)
        assert_eq!(
            order.http_status, 201,
            "{}: {}",
            order.plan.reference, order.response
        );
    }
    for order in &declined {
        assert_eq!(
            order.http_status, 402,
            "{}: {}",
            order.plan.reference, order.response
        );
        assert_eq!(order.response["status"], "declined");
        assert!(order.response["payment"]["decline_reason"].is_string());
    }

    // Counted through the Zoho sandbox's own Books API.
    let before = env.books_snapshot().await.unwrap();
    assert_eq!(before.invoices.len(), approved.len());
    assert_eq!(before.customer_payments.len(), approved.len());
    assert!(before.invoices.iter().all(|i| i["status"] == "paid"));
    // One contact per customer and currency (a rejected review's customer has one too: its
    // draft sales order was made for it).
    let mut customers: Vec<(&str, &str)> = placed
        .iter()
        .filter(|p| p.plan.expectation != Expectation::Decline)
        .map(|p| {
            (
                p.plan.customer_email.as_str(),
                p.plan.body["currency"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    customers.sort_unstable();
    customers.dedup();
    assert_eq!(
        before.contacts.len(),
        customers.len(),
        "one contact per customer and currency"
    );
    assert!(customers.len() < approved.len(), "some customers came back");
    let charges_before = cybersource_charges(&env).await;
    assert_eq!(charges_before.len(), placed.len());
    let zoho_calls_before = env.app.engine.connectors().zoho.api_calls();
    let cybersource_calls_before = env.app.engine.connectors().cybersource.calls();

    // 1. The storefront sends every order again, same key, same body.
    let plans = placed.iter().map(|p| p.plan.clone()).collect();
    let again = env.redeliver_orders(plans).await.unwrap();
    for (first, second) in placed.iter().zip(&again) {
        // The same order as it stands now: a review rejected since is declined (402).
        let expected = if first.plan.expectation == Expectation::ReviewReject {
            402
        } else {
            first.http_status
        };
        assert_eq!(second.http_status, expected, "{}", first.plan.reference);
        assert_eq!(second.response["id"], first.response["id"]);
        assert_eq!(
            second.response["payment"]["transaction_id"],
            first.response["payment"]["transaction_id"]
        );
    }

    // 2. Every run is executed again, as a re-delivered event would be. (A schedule may fire
    // meanwhile — the Zoho token refresh every ten minutes — and add a run of its own.)
    let existing = env.app.engine.store().runs(None, 1000).await.unwrap().len();
    let requeued = env.rerun_all_runs(&progress).await.unwrap();
    let runs = env.app.engine.store().runs(None, 1000).await.unwrap();
    assert_eq!(requeued, existing);
    let unfinished: Vec<_> = runs
        .iter()
        .filter(|r| r.status != RunStatus::Succeeded)
        .map(|r| (&r.flow, r.status, &r.last_error))
        .collect();
    assert!(unfinished.is_empty(), "{unfinished:?}");
    // One order-to-cash run per approved order; the rest process Cybersource's webhooks.
    assert_eq!(
        runs.iter().filter(|r| r.flow == "order-to-cash").count(),
        approved.len()
    );
    assert!(runs.iter().any(|r| r.flow == "cybersource-event"));

    let after = env.books_snapshot().await.unwrap();
    assert_eq!(
        ids(&after.contacts, "contact_id"),
        ids(&before.contacts, "contact_id")
    );
    assert_eq!(
        ids(&after.invoices, "invoice_id"),
        ids(&before.invoices, "invoice_id")
    );
    assert_eq!(
        ids(&after.customer_payments, "payment_id"),
        ids(&before.customer_payments, "payment_id")
    );
    assert_eq!(
        cybersource_charges(&env).await.len(),
        charges_before.len(),
        "no second charge"
    );
    assert_eq!(
        env.app.engine.connectors().cybersource.calls(),
        cybersource_calls_before
    );
    assert_eq!(
        env.app.engine.connectors().zoho.api_calls(),
        zoho_calls_before,
        "finished steps made no call"
    );

    // One event per order, and one per reviewer's decision.
    let reviews = placed
        .iter()
        .filter(|p| {
            matches!(
                p.plan.expectation,
                Expectation::ReviewAccept | Expectation::ReviewReject
            )
        })
        .count();
    // And one per saved card, once its order is in Zoho.
    let saved = placed
        .iter()
        .filter(|p| {
            p.plan.body["payment"]["save_card"] == true
                && p.plan.expectation == Expectation::Approve
        })
        .count();
    assert!(saved > 0);
    let counts = env.app.engine.store().counts().await.unwrap();
    assert_eq!(
        counts.inbox_by_source.get("order-api").copied(),
        Some(u64::try_from(placed.len() + reviews + saved).unwrap()),
        "repeats collapsed in the inbox"
    );
    assert_eq!(
        counts
            .orders_by_status
            .get(OrderStatus::Completed.as_str())
            .copied(),
        Some(u64::try_from(approved.len()).unwrap())
    );
    assert!(env.verify(&placed).await.unwrap().ok);
    env.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_runs_steps_api_calls_and_zoho_quota_use() {
    let dir = tempfile::tempdir().unwrap();
    let env = start_demo(12, 11, &dir).await;
    let placed = env
        .place_and_settle(&ProgressBar::hidden())
        .await
        .expect("orders settle");
    let approved = placed
        .iter()
        .filter(|p| {
            matches!(
                p.plan.expectation,
                Expectation::Approve | Expectation::ReviewAccept
            )
        })
        .count();
    let tokens =
        paybridge_engine::tokens::Tokens::new(env.app.engine.store().clone(), env.app.engine.clock);
    let (_, token) = tokens
        .create("prometheus", paybridge_engine::tokens::Role::Viewer)
        .await
        .unwrap();
    let token = secrecy::ExposeSecret::expose_secret(&token).to_string();
    let anonymous = crate::helpers::http()
        .get(env.app.url().join("metrics").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let response = crate::helpers::http()
        .get(env.app.url().join("metrics").unwrap())
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = response.text().await.unwrap();
    let value = |name: &str, labels: &[&str]| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(name) && labels.iter().all(|label| l.contains(label)))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    // This test binary's other tests record into the same process-wide recorder, so counters
    // are at least this run's.
    assert!(
        value("paybridge_runs_total", &["outcome=\"succeeded\""]) >= approved as f64,
        "{text}"
    );
    assert!(value("paybridge_steps_total", &["outcome=\"succeeded\""]) > 0.0);
    assert!(
        value(
            "paybridge_api_calls_total",
            &["vendor=\"cybersource\"", "route=\"/pts/v2/payments\""]
        ) >= placed.len() as f64,
        "{text}"
    );
    assert!(
        value(
            "paybridge_api_calls_total",
            &[
                "vendor=\"zoho\"",
                "route=\"/books/v3/invoices/fromsalesorder\""
            ]
        ) >= approved as f64,
        "{text}"
    );
    assert!(text.contains("paybridge_api_call_duration_seconds_bucket{"));
    assert!(text.contains("paybridge_run_duration_seconds_bucket{"));
    // Gauges read from the store and the budgets at scrape time.
    assert!(value("paybridge_runs{", &["status=\"succeeded\""]) >= approved as f64);
    assert_eq!(value("paybridge_store_up", &[]), 1.0);
    assert!(
        value("paybridge_zoho_quota_used", &["product=\"books\""]) > 0.0,
        "{text}"
    );
    assert!(value("paybridge_zoho_quota_limit", &["product=\"books\""]) > 0.0);
    // No secret in the exposition.
    assert!(!text.contains(&env.storefront_key));
    assert!(!text.contains(&token));

    // The same use through the admin API.
    let quota: serde_json::Value = crate::helpers::http()
        .get(env.app.url().join("api/v1/admin/quota").unwrap())
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(quota["metered"], true);
    let per_minute = quota["quotas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["product"] == "books" && q["quota"] == "requests_per_minute")
        .expect("the Books per-minute quota is listed");
    assert!(per_minute["used"].as_u64().unwrap() > 0, "{quota}");
    assert_eq!(per_minute["window_secs"], 60);
    assert!(!text.to_lowercase().contains("oauthtoken"));
}

fn cli(args: &[&str], config: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_paybridge"))
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("paybridge runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_finds_a_dead_letter_reads_why_and_replays_it_from_the_cli() {
    use paybridge_sandbox::faults::{FaultMode, FaultRule};

    let dir = tempfile::tempdir().unwrap();
    let env = start_demo(4, 5, &dir).await;
    env.zoho.faults().add(FaultRule::next(
        "POST",
        "/books/v3/invoices",
        FaultMode::ErrorBefore { status: 400 },
        1,
    ));
    env.place_and_settle(&ProgressBar::hidden())
        .await
        .expect("orders settle");
    let store_path = env
        .app
        .engine
        .store()
        .location()
        .trim_start_matches("sqlite:")
        .to_string();
    let config = dir.path().join("paybridge.toml");
    std::fs::write(&config, format!("[store]\npath = {store_path:?}\n")).unwrap();

    let listed = cli(&["dlq", "list", "--json"], &config);
    assert!(listed.status.success(), "{listed:?}");
    let dead: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let [letter] = dead.as_array().unwrap().as_slice() else {
        panic!("one dead letter: {dead}")
    };
    assert_eq!(letter["last_error_status"], 400);
    assert_eq!(letter["last_error_step"], "invoice_from_order");
    let id = letter["id"].as_i64().unwrap().to_string();

    let shown = cli(&["dlq", "show", &id], &config);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.status.success());
    for expected in [
        "why it failed: zoho-books:",
        "step        invoice_from_order",
        "HTTP status 400",
        "input  {",
        "paybridge dlq replay",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    let table = cli(&["runs", "list", "--status", "succeeded"], &config);
    assert!(String::from_utf8_lossy(&table.stdout).contains("order-to-cash"));

    let replayed = cli(&["dlq", "replay", &id], &config);
    assert!(replayed.status.success(), "{replayed:?}");
    assert_eq!(
        String::from_utf8_lossy(&replayed.stdout),
        format!("replayed run {id}\n")
    );
    // The running paybridge picks it up (its workers look at the store every few seconds).
    let run_id: i64 = id.parse().unwrap();
    let engine = &env.app.engine;
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        engine.wait_until(std::time::Duration::from_millis(100), || async {
            Ok(engine.store().run(run_id).await?.unwrap().status == RunStatus::Succeeded)
        }),
    )
    .await
    .expect("the replayed run succeeds")
    .unwrap();
    let again = cli(&["dlq", "replay", &id], &config);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not a dead letter"));
    let none = cli(&["dlq", "replay"], &config);
    assert!(String::from_utf8_lossy(&none.stderr).contains("--all"));
    let empty = cli(&["dlq", "list"], &config);
    assert_eq!(String::from_utf8_lossy(&empty.stdout), "no runs match\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_organizations_quotas_show_before_anything_is_spent() {
    let dir = tempfile::tempdir().unwrap();
    let env = start_demo(1, 3, &dir).await;
    let tokens =
        paybridge_engine::tokens::Tokens::new(env.app.engine.store().clone(), env.app.engine.clock);
    let (_, token) = tokens
        .create("ops", paybridge_engine::tokens::Role::Viewer)
        .await
        .unwrap();
    let quota: serde_json::Value = crate::helpers::http()
        .get(env.app.url().join("api/v1/admin/quota").unwrap())
        .bearer_auth(secrecy::ExposeSecret::expose_secret(&token))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let books: Vec<_> = quota["quotas"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["product"] == "books")
        .collect();
    assert_eq!(books.len(), 2, "per minute and per day: {quota}");
    assert!(
        books
            .iter()
            .all(|q| q["used"] == 0 && q["limit"].as_u64().unwrap() > 0)
    );
}
