//! The Zoho side of order to cash against the Zoho sandbox, with faults injected.

use paybridge_model::OrderStatus;
use paybridge_sandbox::faults::FaultMode;
use paybridge_store::{OrderStore as _, RunStore as _};
use paybridge_store::{RunStatus, StepStatus};

use crate::helpers::{World, place};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_order_becomes_a_paid_invoice_in_zoho_books() {
    let world = World::start().await;
    world
        .engine
        .place_order(place("S-1", "ada@example.com", "12.345"))
        .await
        .unwrap();
    let order = world.settled("S-1").await;
    assert_eq!(order.status, OrderStatus::Completed);
    let books = world.books();
    assert_eq!(books.contacts.len(), 1);
    assert_eq!(books.contacts[0]["email"], "ada@example.com");
    let [invoice] = &books.invoices[..] else {
        panic!("one invoice")
    };
    assert_eq!(invoice["reference_number"], "S-1");
    assert_eq!(invoice["status"], "paid");
    // 2 × 12.345 = 24.69 (rounded half away from zero), in Zoho as in Cybersource.
    assert_eq!(invoice["total"], 24.69);
    assert_eq!(world.cybersource.payments()[0].amount.to_string(), "24.69");
    let [payment] = &books.customer_payments[..] else {
        panic!("one payment")
    };
    assert_eq!(
        payment["reference_number"].as_str(),
        order.payment_id.as_deref()
    );
    assert_eq!(payment["invoices"][0]["invoice_id"], invoice["invoice_id"]);
    assert_eq!(
        order.zoho_invoice_id.as_deref(),
        invoice["invoice_id"].as_str()
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returning_customer_reuses_the_contact_without_a_search() {
    let world = World::start().await;
    world
        .engine
        .place_order(place("S-1", "ada@example.com", "10.00"))
        .await
        .unwrap();
    world.settled("S-1").await;
    let calls_after_first = world.engine.connectors().zoho.api_calls();
    assert_eq!(
        calls_after_first, 5,
        "search, create contact, invoice, mark sent, payment"
    );
    world
        .engine
        .place_order(place("S-2", "Ada@Example.com", "11.00"))
        .await
        .unwrap();
    world.settled("S-2").await;
    assert_eq!(
        world.engine.connectors().zoho.api_calls() - calls_after_first,
        3,
        "invoice, mark sent, payment"
    );
    assert_eq!(world.books().contacts.len(), 1);
    world.stop().await;
}

/// Zoho calls for a second "Ada Lovelace" (the helpers' name) with an e-mail of her own, the
/// first one's contact made by paybridge (`first_by_us`) or by someone in Books.
async fn namesake_calls(first_by_us: bool) -> (u64, Vec<(String, String)>) {
    let world = World::start().await;
    if first_by_us {
        world
            .engine
            .place_order(place("S-1", "ada@example.com", "10.00"))
            .await
            .unwrap();
        world.settled("S-1").await;
    } else {
        world
            .engine
            .connectors()
            .books
            .create_contact(&paybridge_zoho::books::NewContact {
                contact_name: "Ada Lovelace".into(),
                contact_type: "customer".into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let calls_before = world.engine.connectors().zoho.api_calls();
    world
        .engine
        .place_order(place("S-2", "other.ada@example.com", "10.00"))
        .await
        .unwrap();
    assert_eq!(world.settled("S-2").await.status, OrderStatus::Completed);
    let calls = world.engine.connectors().zoho.api_calls() - calls_before;
    let books = world.books();
    let second = books
        .invoices
        .iter()
        .find(|i| i["reference_number"] == "S-2")
        .unwrap();
    assert_eq!(
        second["customer_name"],
        "Ada Lovelace (other.ada@example.com)"
    );
    let mut names: Vec<(String, String)> = books
        .contacts
        .iter()
        .map(|c| {
            (
                c["contact_name"].as_str().unwrap().to_string(),
                c["email"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    names.sort();
    world.stop().await;
    (calls, names)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namesake_of_a_contact_paybridge_made_gets_their_own_in_five_calls() {
    let (calls, names) = namesake_calls(true).await;
    assert_eq!(
        calls, 5,
        "search, create as \"Name (email)\" (the name is known taken), invoice, mark sent, payment"
    );
    assert_eq!(
        names,
        [
            ("Ada Lovelace".into(), "ada@example.com".into()),
            (
                "Ada Lovelace (other.ada@example.com)".into(),
                "other.ada@example.com".into()
            )
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namesake_of_a_contact_made_in_books_gets_their_own_in_six_calls() {
    let (calls, names) = namesake_calls(false).await;
    assert_eq!(
        calls, 6,
        "search, refused create, create as \"Name (email)\", invoice, mark sent, payment"
    );
    assert_eq!(names.len(), 2, "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namesakes_placed_at_once_get_their_contacts_without_a_refused_create() {
    let world = World::start().await;
    // The first contact create is slow, so the other customer's run comes while it is in
    // flight: it must not try the same name (Books would refuse one of the two with 3062).
    world.fault(
        true,
        "POST",
        "/books/v3/contacts",
        FaultMode::DelayBefore { millis: 300 },
        1,
    );
    let (first, second) = tokio::join!(
        world
            .engine
            .place_order(place("S-1", "ada@example.com", "10.00")),
        world
            .engine
            .place_order(place("S-2", "other.ada@example.com", "10.00")),
    );
    first.unwrap();
    second.unwrap();
    assert_eq!(world.settled("S-1").await.status, OrderStatus::Completed);
    assert_eq!(world.settled("S-2").await.status, OrderStatus::Completed);
    assert_eq!(
        world.engine.connectors().zoho.api_calls(),
        10,
        "each: search, one create, invoice, mark sent, payment"
    );
    let mut names: Vec<String> = world
        .books()
        .contacts
        .iter()
        .map(|c| format!("{} <{}>", c["contact_name"], c["email"]))
        .collect();
    names.sort();
    let one_of = [
        [
            r#""Ada Lovelace" <"ada@example.com">"#,
            r#""Ada Lovelace (other.ada@example.com)" <"other.ada@example.com">"#,
        ],
        [
            r#""Ada Lovelace (ada@example.com)" <"ada@example.com">"#,
            r#""Ada Lovelace" <"other.ada@example.com">"#,
        ],
    ];
    assert!(
        one_of.iter().any(|pair| {
            let mut pair = pair.to_vec();
            pair.sort();
            names == pair
        }),
        "{names:?}"
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_whose_answer_was_lost_and_whose_look_up_failed_is_still_found_not_duplicated() {
    // The create takes effect but its answer is lost; the next attempt's look-up fails too;
    // the attempt after that must still look first (the fault test found this).
    let world = World::start().await;
    world.fault(
        true,
        "POST",
        "/books/v3/invoices",
        FaultMode::ErrorAfter { status: 504 },
        1,
    );
    world.fault(
        true,
        "GET",
        "/books/v3/invoices",
        FaultMode::ErrorBefore { status: 502 },
        1,
    );
    world
        .engine
        .place_order(place("S-1", "ada@example.com", "10.00"))
        .await
        .unwrap();
    assert_eq!(world.settled("S-1").await.status, OrderStatus::Completed);
    assert_eq!(world.books().invoices.len(), 1, "no second invoice");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_whose_answer_was_lost_is_found_not_duplicated() {
    let world = World::start().await;
    world.fault(
        true,
        "POST",
        "/books/v3/invoices",
        FaultMode::ErrorAfter { status: 500 },
        1,
    );
    world
        .engine
        .place_order(place("S-1", "ada@example.com", "10.00"))
        .await
        .unwrap();
    assert_eq!(world.settled("S-1").await.status, OrderStatus::Completed);
    assert_eq!(world.books().invoices.len(), 1);
    let step = world
        .engine
        .store()
        .step(&format!(
            "order:S-1:zoho-books:{}:invoice",
            crate::helpers::ORG
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((step.status, step.attempts), (StepStatus::Succeeded, 2));
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_whose_answer_was_lost_is_found_not_duplicated() {
    let world = World::start().await;
    world.fault(
        true,
        "POST",
        "/books/v3/customerpayments",
        FaultMode::ErrorAfter { status: 500 },
        1,
    );
    world
        .engine
        .place_order(place("S-1", "ada@example.com", "10.00"))
        .await
        .unwrap();
    assert_eq!(world.settled("S-1").await.status, OrderStatus::Completed);
    let books = world.books();
    assert_eq!(books.customer_payments.len(), 1);
    assert_eq!(books.invoices[0]["status"], "paid");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_whose_answer_was_lost_is_found_not_duplicated() {
    let world = World::start().await;
    world.fault(
        true,
        "POST",
        "/books/v3/contacts",
        FaultMode::ErrorAfter { status: 500 },
        1,
    );
    world
        .engine
        .place_order(place("S-1", "ada@example.com", "10.00"))
        .await
        .unwrap();
    assert_eq!(world.settled("S-1").await.status, OrderStatus::Completed);
    assert_eq!(world.books().contacts.len(), 1);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_until_they_pass() {
    let world = World::start().await;
    world.fault(
        true,
        "GET",
        "/books/v3/contacts",
        FaultMode::ErrorBefore { status: 503 },
        2,
    );
    world
        .engine
        .place_order(place("S-1", "ada@example.com", "10.00"))
        .await
        .unwrap();
    assert_eq!(world.settled("S-1").await.status, OrderStatus::Completed);
    let run = &world.engine.store().runs(None, 10).await.unwrap()[0];
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(run.attempt, 3);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_error_dead_letters_with_the_vendors_words_and_replay_finishes_the_job() {
    let world = World::start().await;
    world.fault(
        true,
        "POST",
        "/books/v3/invoices",
        FaultMode::ErrorBefore { status: 400 },
        1,
    );
    world
        .engine
        .place_order(place("S-1", "ada@example.com", "10.00"))
        .await
        .unwrap();
    let order = world.settled("S-1").await;
    assert_eq!(order.status, OrderStatus::SyncFailed);
    let detail = order.status_detail.unwrap_or_default();
    assert!(
        detail.contains("Internal error") && detail.contains("400"),
        "{detail}"
    );
    let run = world
        .engine
        .store()
        .runs(Some(RunStatus::Dead), 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(run.attempt, 1, "a permanent error is not retried");
    assert_eq!(run.last_error_status, Some(400));
    assert!(world.books().invoices.is_empty());

    // The cause is gone (the fault was used up): replaying resumes where it stopped.
    let calls_before = world.engine.connectors().zoho.api_calls();
    assert!(
        world
            .engine
            .store()
            .requeue_run(run.id, world.engine.clock.now_ms())
            .await
            .unwrap()
    );
    world.engine.wake_workers();
    assert_eq!(world.settled("S-1").await.status, OrderStatus::Completed);
    assert_eq!(
        world.engine.connectors().zoho.api_calls() - calls_before,
        3,
        "the contact step was not repeated"
    );
    assert_eq!(world.books().invoices.len(), 1);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_stop_at_the_policy_limit() {
    let world = World::start().await;
    world.fault(
        true,
        "POST",
        "/books/v3/invoices",
        FaultMode::ErrorBefore { status: 503 },
        100,
    );
    world
        .engine
        .place_order(place("S-1", "ada@example.com", "10.00"))
        .await
        .unwrap();
    let order = world.settled("S-1").await;
    assert_eq!(order.status, OrderStatus::SyncFailed);
    let run = world
        .engine
        .store()
        .runs(Some(RunStatus::Dead), 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(run.attempt, 5);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_for_one_customer_create_one_contact_even_when_placed_together() {
    let world = World::start().await;
    let placing = (1..=6).map(|n| {
        world
            .engine
            .place_order(place(&format!("S-{n}"), "ada@example.com", "10.00"))
    });
    for placed in futures::future::join_all(placing).await {
        placed.unwrap();
    }
    for n in 1..=6 {
        assert_eq!(
            world.settled(&format!("S-{n}")).await.status,
            OrderStatus::Completed
        );
    }
    let books = world.books();
    assert_eq!(books.contacts.len(), 1);
    assert_eq!(books.invoices.len(), 6);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_keep_the_failed_step_and_are_replayed_discarded_and_replayed_in_bulk() {
    use paybridge_engine::dlq::DlqError;
    use paybridge_store::RunFilter;

    let world = World::start().await;
    let runs = world.engine.runs();
    world.fault(
        true,
        "POST",
        "/books/v3/invoices",
        FaultMode::ErrorBefore { status: 400 },
        2,
    );
    for (reference, email) in [("S-1", "ada@example.com"), ("S-2", "grace@example.com")] {
        world
            .engine
            .place_order(place(reference, email, "10.00"))
            .await
            .unwrap();
        assert_eq!(
            world.settled(reference).await.status,
            OrderStatus::SyncFailed
        );
    }
    let dead = runs
        .list(&RunFilter {
            status: Some(RunStatus::Dead),
            limit: 10,
            ..RunFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(dead.len(), 2);
    let (second, first) = (dead[0].id, dead[1].id);

    // What a person needs: the vendor's words, status, the failed step and what it was asked.
    let detail = runs.show(first).await.unwrap();
    assert_eq!(
        detail.run.last_error_step.as_deref(),
        Some("invoice_direct")
    );
    assert_eq!(detail.run.last_error_status, Some(400));
    assert!(
        detail
            .run
            .last_error
            .as_deref()
            .unwrap()
            .contains("Internal error")
    );
    let failed = detail.failed_step().expect("the failed step is kept");
    assert_eq!(failed.status, StepStatus::Failed);
    assert_eq!(failed.error_status, Some(400));
    let input = failed.input.as_ref().expect("with its input");
    assert_eq!(input["reference_number"], "S-1");
    assert_eq!(input["line_items"][0]["quantity"], "2");
    assert!(detail.steps.iter().any(|s| {
        s.name == "contact"
            && s.status == StepStatus::Succeeded
            && s.input
                .as_ref()
                .is_some_and(|i| i["email"] == "ada@example.com")
    }));

    // Discard one (it stays as history), replay the other.
    runs.discard(second).await.unwrap();
    assert!(matches!(
        runs.discard(second).await,
        Err(DlqError::NotDead {
            status: "discarded",
            ..
        })
    ));
    runs.replay(first).await.unwrap();
    world.engine.wake_workers();
    assert_eq!(world.settled("S-1").await.status, OrderStatus::Completed);
    assert!(matches!(
        runs.replay(first).await,
        Err(DlqError::NotDead {
            status: "succeeded",
            ..
        })
    ));
    assert!(matches!(
        runs.replay(999_999).await,
        Err(DlqError::NotFound(999_999))
    ));

    // Bulk replay acts on dead letters only: the discarded one is left alone…
    let filter = RunFilter {
        flow: Some("order-to-cash".into()),
        ..RunFilter::default()
    };
    let bulk = runs.bulk(&filter, false, false).await.unwrap();
    assert!(bulk.done.is_empty(), "{bulk:?}");
    // …until it is replayed by id; a new dead letter is then replayed with the filter.
    runs.replay(second).await.unwrap();
    world.engine.wake_workers();
    assert_eq!(world.settled("S-2").await.status, OrderStatus::Completed);
    world.fault(
        true,
        "POST",
        "/books/v3/invoices",
        FaultMode::ErrorBefore { status: 400 },
        1,
    );
    world
        .engine
        .place_order(place("S-3", "ada@example.com", "5.00"))
        .await
        .unwrap();
    assert_eq!(world.settled("S-3").await.status, OrderStatus::SyncFailed);
    let bulk = runs.bulk(&filter, false, false).await.unwrap();
    assert_eq!(bulk.done.len(), 1);
    world.engine.wake_workers();
    assert_eq!(world.settled("S-3").await.status, OrderStatus::Completed);
    assert_eq!(
        world.books().invoices.len(),
        3,
        "one invoice per order, none twice"
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_about_a_lost_payment_resolves_it_before_the_resolution_run_would() {
    let world = World::with(crate::helpers::WorldOptions {
        resolution_delay: std::time::Duration::from_secs(3600),
        ..crate::helpers::WorldOptions::default()
    })
    .await;
    // Cybersource charges, and the answer is lost.
    world.fault(
        false,
        "POST",
        "/pts/v2/payments",
        FaultMode::ErrorAfter { status: 502 },
        1,
    );
    world
        .engine
        .place_order(place("W-1", "ada@example.com", "10.00"))
        .await
        .unwrap();
    let order = world
        .engine
        .store()
        .order_by_reference("W-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(order.status, OrderStatus::PaymentUnknown);
    let payment = world.cybersource.payments().remove(0);

    // Its webhook arrives (the resolution run would wait an hour).
    let notification = serde_json::json!({
        "event_type": "payments.payments.accept",
        "payload": [{"data": {"id": payment.id, "clientReferenceInformation": {"code": "W-1"}}}],
    });
    let accepted = world
        .engine
        .accept_cybersource_event(
            format!("cybersource:wh-1:{}:payments.payments.accept", payment.id),
            "payments.payments.accept".into(),
            Some(&payment.id),
            notification.clone(),
        )
        .await
        .unwrap();
    assert!(!accepted.duplicate);
    let again = world
        .engine
        .accept_cybersource_event(
            format!("cybersource:wh-1:{}:payments.payments.accept", payment.id),
            "payments.payments.accept".into(),
            Some(&payment.id),
            notification,
        )
        .await
        .unwrap();
    assert!(again.duplicate);
    // (The resolution run stays queued for its hour: `settled` would wait for it.)
    let store = world.engine.store();
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        world
            .engine
            .wait_until(std::time::Duration::from_millis(50), || async {
                Ok(
                    store.order_by_reference("W-1").await?.unwrap().status
                        == OrderStatus::Completed,
                )
            }),
    )
    .await
    .expect("the order completes")
    .unwrap();
    let order = store.order_by_reference("W-1").await.unwrap().unwrap();
    assert_eq!(order.payment_id.as_deref(), Some(payment.id.as_str()));
    assert_eq!(
        world.cybersource.payments().len(),
        1,
        "adopted, not charged again"
    );
    assert_eq!(world.books().invoices.len(), 1);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_fires_once_per_minute_across_nodes_and_its_flow_runs() {
    use paybridge_engine::schedule::Schedule;
    use paybridge_store::RunFilter;

    let world = World::start().await;
    let engine = &world.engine;
    let refresh = Schedule {
        name: "zoho-token-refresh".into(),
        cron: "*/10 * * * *".into(),
        flow: "zoho-token-refresh".into(),
    };
    let prune = Schedule {
        name: "prune".into(),
        cron: "7 * * * *".into(),
        flow: "prune".into(),
    };
    let at = 1_800_000_000_000;
    // Two nodes offer the same firing: one is kept.
    assert!(!engine.fire_schedule(&refresh, at).await.unwrap().duplicate);
    assert!(engine.fire_schedule(&refresh, at).await.unwrap().duplicate);
    assert!(!engine.fire_schedule(&prune, at).await.unwrap().duplicate);

    let store = engine.store();
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        engine.wait_until(std::time::Duration::from_millis(20), || async {
            let runs = store
                .find_runs(&RunFilter {
                    limit: 10,
                    ..RunFilter::default()
                })
                .await?;
            Ok(runs.len() == 2
                && runs
                    .iter()
                    .all(|r| r.status == paybridge_store::RunStatus::Succeeded))
        }),
    )
    .await
    .expect("the scheduled runs succeed")
    .unwrap();
    // The token was refreshed off any request's path; the next firing finds it fresh.
    assert_eq!(engine.connectors().zoho.token_refreshes(), 1);
    assert!(
        !engine
            .fire_schedule(&refresh, at + 600_000)
            .await
            .unwrap()
            .duplicate
    );
    world.engine.wake_workers();
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        engine.wait_until(std::time::Duration::from_millis(20), || async {
            Ok(store.counts().await?.runs_by_status.get("succeeded") == Some(&3))
        }),
    )
    .await
    .expect("the second firing runs")
    .unwrap();
    assert_eq!(engine.connectors().zoho.token_refreshes(), 1);
    world.stop().await;
}

/// Zoho saying "slow down" twelve times in a row is not twelve failures: the run waits as told
/// each time without spending an attempt (it used to dead-letter after its attempts, whatever
/// Retry-After said) and the order is booked once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_told_to_slow_down_again_and_again_spends_no_attempt_and_completes() {
    let world = World::with(crate::helpers::WorldOptions {
        max_attempts: 2,
        ..Default::default()
    })
    .await;
    world.fault(
        true,
        "POST",
        "/books/v3/invoices",
        FaultMode::RateLimited {
            retry_after_secs: 0,
        },
        12,
    );
    world
        .engine
        .place_order(place("T-1", "ada@example.com", "10.00"))
        .await
        .unwrap();
    let order = world.settled("T-1").await;
    assert_eq!(
        order.status,
        OrderStatus::Completed,
        "{:?}",
        order.status_detail
    );
    assert_eq!(world.books().invoices.len(), 1);
    let [run] = crate::helpers::runs_of(&world, "order-to-cash")
        .await
        .try_into()
        .unwrap();
    assert_eq!(run.attempt, 1, "no attempt spent on being throttled");
    world.stop().await;
}
