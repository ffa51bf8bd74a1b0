//! The order service: one charge per Idempotency-Key, whatever happens.

use paybridge_commerce::{PaymentMethod, PlaceError, Placed};
use paybridge_model::{FailureKind, OrderStatus};
use paybridge_sandbox::faults::FaultMode;
use paybridge_store::{OrderStore as _, RunStore as _};

use crate::helpers::{World, WorldOptions, admitted, place};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_key_returns_the_first_answer_and_charges_once() {
    let world = World::start().await;
    let first = world
        .engine
        .place_order(place("R-1", "ada@example.com", "10.00"))
        .await
        .unwrap();
    let Placed::New(record) = first else {
        panic!("new")
    };
    assert_eq!(record.status, OrderStatus::Approved);
    assert_eq!(record.amount_minor, 2000);
    assert_eq!(record.payment_status.as_deref(), Some("AUTHORIZED"));
    let again = world
        .engine
        .place_order(place("R-1", "ada@example.com", "10.00"))
        .await
        .unwrap();
    let Placed::Replayed(replayed) = again else {
        panic!("replayed")
    };
    assert_eq!(replayed.id, record.id);
    assert_eq!(replayed.payment_id, record.payment_id);
    assert_eq!(world.cybersource.payments().len(), 1);
    assert_eq!(world.settled("R-1").await.status, OrderStatus::Completed);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_key_with_another_order_is_refused() {
    let world = World::start().await;
    world
        .engine
        .place_order(place("R-1", "ada@example.com", "10.00"))
        .await
        .unwrap();
    let mut other = place("R-1", "ada@example.com", "99.00");
    other.idempotency_key = "key-R-1".into();
    assert!(matches!(
        world.engine.place_order(other).await,
        Err(PlaceError::KeyReused(_))
    ));
    let mut same_reference = place("R-1", "ada@example.com", "10.00");
    same_reference.idempotency_key = "another-key".into();
    assert!(matches!(
        world.engine.place_order(same_reference).await,
        Err(PlaceError::DuplicateReference(_))
    ));
    assert_eq!(world.cybersource.payments().len(), 1);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decline_is_recorded_with_its_reason_and_writes_nothing_to_zoho() {
    let world = World::start().await;
    // 2 × 1025.50 = 2051.00: insufficient funds in the test environment.
    let Placed::New(record) = world
        .engine
        .place_order(place("R-D", "ada@example.com", "1025.50"))
        .await
        .unwrap()
    else {
        panic!("new")
    };
    assert_eq!(record.status, OrderStatus::Declined);
    assert_eq!(record.decline_reason.as_deref(), Some("INSUFFICIENT_FUND"));
    assert!(
        record
            .status_detail
            .as_deref()
            .unwrap_or_default()
            .contains("Insufficient funds")
    );
    // Only the decline template runs; with no CRM or storefront connected it writes nothing.
    world.settled("R-D").await;
    let runs = world.engine.store().runs(None, 10).await.unwrap();
    assert!(runs.iter().all(|r| r.flow == "order-declined"), "{runs:?}");
    assert!(world.books().invoices.is_empty() && world.books().contacts.is_empty());
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_whose_answer_was_lost_is_found_and_adopted_not_charged_again() {
    let world = World::start().await;
    // Cybersource takes the payment, then the answer is lost (a 502 after the effect).
    world.fault(
        false,
        "POST",
        "/pts/v2/payments",
        FaultMode::ErrorAfter { status: 502 },
        1,
    );
    let Placed::New(record) = world
        .engine
        .place_order(place("R-U", "ada@example.com", "10.00"))
        .await
        .unwrap()
    else {
        panic!("new")
    };
    assert_eq!(record.status, OrderStatus::PaymentUnknown);
    assert_eq!(record.failure_kind, Some(FailureKind::OutcomeUnknown));
    // The resolution run looks the payment up, adopts it, and the Zoho side follows.
    let settled = world.settled("R-U").await;
    assert_eq!(
        settled.status,
        OrderStatus::Completed,
        "{:?}",
        settled.status_detail
    );
    let charges = world.cybersource.payments();
    assert_eq!(charges.len(), 1, "charged once");
    assert_eq!(settled.payment_id.as_deref(), Some(charges[0].id.as_str()));
    assert_eq!(world.books().invoices.len(), 1);
    let Placed::Replayed(again) = world
        .engine
        .place_order(place("R-U", "ada@example.com", "10.00"))
        .await
        .unwrap()
    else {
        panic!("replayed")
    };
    assert_eq!(again.status, OrderStatus::Completed);
    assert_eq!(world.cybersource.payments().len(), 1, "and not again");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_payment_cybersource_never_made_is_voided_to_be_sure_and_may_be_placed_again() {
    let world = World::start().await;
    // A 502 before the effect: paybridge cannot know nothing happened.
    world.fault(
        false,
        "POST",
        "/pts/v2/payments",
        FaultMode::ErrorBefore { status: 502 },
        1,
    );
    world
        .engine
        .place_order(place("R-N", "ada@example.com", "10.00"))
        .await
        .unwrap();
    let resolved = world.settled("R-N").await;
    assert_eq!(resolved.status, OrderStatus::PaymentFailed);
    assert_eq!(resolved.failure_kind, Some(FailureKind::Transient));
    assert!(
        resolved
            .status_detail
            .unwrap_or_default()
            .contains("nothing was charged")
    );
    assert!(world.cybersource.payments().is_empty());
    let stats = world.cybersource.stats();
    assert_eq!(
        stats.errors_by_reason.get("INVALID_DATA"),
        Some(&1),
        "the timeout void found nothing to void"
    );

    // Placing it again with the same key charges it, under a new merchant transaction id.
    let Placed::New(paid) = world
        .engine
        .place_order(place("R-N", "ada@example.com", "10.00"))
        .await
        .unwrap()
    else {
        panic!("charged anew")
    };
    assert_eq!(paid.status, OrderStatus::Approved);
    assert_eq!(world.settled("R-N").await.status, OrderStatus::Completed);
    let charges = world.cybersource.payments();
    assert_eq!(charges.len(), 1);
    assert!(
        charges[0]
            .transaction_id
            .as_deref()
            .unwrap()
            .ends_with("02"),
        "attempt 2"
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_left_pending_by_a_crash_is_resolved_when_it_is_placed_again() {
    let world = World::start().await;
    let request = place("R-C", "ada@example.com", "10.00");
    // The process died after admitting the order and before recording Cybersource's answer.
    let old = world.engine.clock.now_ms() - 10 * 60_000;
    world
        .engine
        .store()
        .admit_order(&admitted(&request), old)
        .await
        .unwrap();
    let Placed::Replayed(record) = world.engine.place_order(request).await.unwrap() else {
        panic!("replayed")
    };
    assert_eq!(record.status, OrderStatus::PaymentUnknown);
    assert_eq!(
        world.settled("R-C").await.status,
        OrderStatus::PaymentFailed,
        "nothing had been charged"
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_that_never_reached_cybersource_may_be_retried_with_the_same_key() {
    let world = World::start().await;
    world.fault(
        false,
        "POST",
        "/pts/v2/payments",
        FaultMode::ErrorBefore { status: 429 },
        1,
    );
    let Placed::New(failed) = world
        .engine
        .place_order(place("R-T", "ada@example.com", "10.00"))
        .await
        .unwrap()
    else {
        panic!("new")
    };
    assert_eq!(failed.status, OrderStatus::PaymentFailed);
    assert_eq!(failed.failure_kind, Some(FailureKind::Transient));
    assert!(world.cybersource.payments().is_empty());
    let Placed::New(paid) = world
        .engine
        .place_order(place("R-T", "ada@example.com", "10.00"))
        .await
        .unwrap()
    else {
        panic!("charged on the retry")
    };
    assert_eq!(paid.id, failed.id);
    assert_eq!(paid.status, OrderStatus::Approved);
    assert_eq!(world.cybersource.payments().len(), 1);
    assert_eq!(world.settled("R-T").await.status, OrderStatus::Completed);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_cards_need_test_mode_and_tokens_are_passed_on() {
    let world = World::with(WorldOptions {
        test_mode: false,
        ..WorldOptions::default()
    })
    .await;
    assert!(matches!(
        world
            .engine
            .place_order(place("R-C", "ada@example.com", "10.00"))
            .await,
        Err(PlaceError::CardsNotAccepted)
    ));
    let mut by_token = place("R-TK", "ada@example.com", "10.00");
    by_token.payment = PaymentMethod::TmsCustomer {
        customer_id: "F67E19FBC55DF3AAE053AF598E0A2EA6".into(),
        payment_instrument_id: None,
    };
    let Placed::New(record) = world.engine.place_order(by_token).await.unwrap() else {
        panic!("new")
    };
    // This sandbox holds no tokens yet, so Cybersource refuses the unknown customer: a permanent
    // failure, with Cybersource's words, and nothing charged.
    assert_eq!(record.status, OrderStatus::PaymentFailed);
    assert_eq!(record.failure_kind, Some(FailureKind::Permanent));
    let detail = record.status_detail.unwrap_or_default();
    assert!(
        detail.contains("INVALID_DATA") && detail.contains("paymentInformation.customer.id"),
        "{detail}"
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_orders_name_every_problem() {
    let world = World::start().await;
    let mut bad = place("", "not-an-email", "10.00");
    bad.order.lines[0].quantity = rust_decimal::Decimal::ZERO;
    bad.payment = PaymentMethod::Card(paybridge_commerce::CardInput {
        number: secrecy::SecretString::from("4111111111111112"),
        expiration_month: "13".into(),
        expiration_year: "31".into(),
        security_code: None,
    });
    let Err(PlaceError::Invalid(fields)) = world.engine.place_order(bad).await else {
        panic!("invalid")
    };
    let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
    for expected in [
        "reference",
        "customer.email",
        "lines[0].quantity",
        "payment.card.number",
        "payment.card.expiration_month",
        "payment.card.expiration_year",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    assert!(world.cybersource.payments().is_empty());
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchdog_resolves_payments_whose_request_died_and_leaves_young_ones_alone() {
    let world = World::start().await;
    let store = world.engine.store();
    // One order whose charging request died ten minutes ago, one being charged right now.
    let old = world.engine.clock.now_ms() - 10 * 60_000;
    store
        .admit_order(&admitted(&place("W-OLD", "ada@example.com", "10.00")), old)
        .await
        .unwrap();
    store
        .admit_order(
            &admitted(&place("W-NEW", "bob@example.com", "10.00")),
            world.engine.clock.now_ms(),
        )
        .await
        .unwrap();

    assert_eq!(world.engine.watch_payments().await.unwrap(), 1);
    assert_eq!(
        world.settled("W-OLD").await.status,
        OrderStatus::PaymentFailed,
        "looked up in Cybersource: nothing had been charged"
    );
    let young = store.order_by_reference("W-NEW").await.unwrap().unwrap();
    assert_eq!(young.status, OrderStatus::PendingPayment);
    // Found once: a second pass has nothing to do.
    assert_eq!(world.engine.watch_payments().await.unwrap(), 0);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_lost_payment_on_one_order_is_looked_up_too() {
    let world = World::start().await;
    world.fault(
        false,
        "POST",
        "/pts/v2/payments",
        FaultMode::ErrorBefore { status: 502 },
        2,
    );
    for _ in 0..2 {
        let Ok(Placed::New(_) | Placed::Replayed(_)) = world
            .engine
            .place_order(place("R-2L", "ada@example.com", "10.00"))
            .await
        else {
            panic!("placed")
        };
        assert_eq!(
            world.settled("R-2L").await.status,
            OrderStatus::PaymentFailed,
            "looked up, nothing charged"
        );
    }
    world
        .engine
        .place_order(place("R-2L", "ada@example.com", "10.00"))
        .await
        .unwrap();
    assert_eq!(world.settled("R-2L").await.status, OrderStatus::Completed);
    assert_eq!(world.cybersource.payments().len(), 1);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_customer_is_emailed_why_once_from_the_templates_text() {
    use paybridge_actions::email::Mailer;
    use paybridge_actions::email::SmtpSecurity;
    let sink = paybridge_sandbox::mail::MailSink::start().await.unwrap();
    let mailer = Mailer::new(
        "127.0.0.1",
        sink.addr().port(),
        SmtpSecurity::None,
        None,
        "Tea Shop <orders@shop.example>",
        Some("help@shop.example"),
    )
    .unwrap();
    let world = World::with(crate::helpers::WorldOptions {
        mailer: Some(mailer),
        ..crate::helpers::WorldOptions::default()
    })
    .await;
    world
        .engine
        .place_order(place("R-M", "ada@example.com", "1025.50"))
        .await
        .unwrap();
    world.settled("R-M").await;

    let mails = sink.messages();
    let [mail] = mails.as_slice() else {
        panic!("one e-mail: {mails:#?}")
    };
    assert_eq!(mail.to, ["<ada@example.com>"]);
    assert_eq!(mail.from, "<orders@shop.example>");
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("We could not take the payment for your order R-M")
    );
    assert_eq!(
        mail.header("Reply-To").as_deref(),
        Some("help@shop.example")
    );
    assert_eq!(
        mail.header("Message-ID"),
        Some(Mailer::message_id("order:R-M:email:declined"))
    );
    let body = mail.body();
    assert!(body.contains("Dear Ada,"), "{body}");
    assert!(
        body.contains(
            "of 2051.00 USD. We could not take the\npayment: The card has insufficient funds."
        ),
        "{body}"
    );
    assert!(!body.contains("{{"), "{body}");

    // The run again (a replay): the e-mail step is done, nothing is sent twice.
    let runs = world.engine.store().runs(None, 10).await.unwrap();
    let run = runs.iter().find(|r| r.flow == "order-declined").unwrap();
    assert!(
        world
            .engine
            .store()
            .requeue_run(run.id, world.engine.clock.now_ms())
            .await
            .unwrap()
    );
    world.engine.wake_workers();
    world.settled("R-M").await;
    assert_eq!(sink.messages().len(), 1);
    world.stop().await;
}

/// With the only general worker held waiting for Zoho's budget, a lost payment is still looked
/// up at once: payment work has workers of its own (it used to wait minutes behind Zoho).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_payment_is_looked_up_while_zoho_work_waits_for_its_budget() {
    use paybridge_zoho::quota::{FinancePlan, Plans};

    let world = World::with(crate::helpers::WorldOptions {
        workers: (1, 1),
        zoho_plans: Some(Plans {
            finance: FinancePlan {
                per_minute: 2,
                per_day: 1_000,
            },
            // The general worker waits (up to two minutes) for room in Zoho's minute.
            max_wait: std::time::Duration::from_secs(120),
            ..Plans::default()
        }),
        ..Default::default()
    })
    .await;
    world
        .engine
        .place_order(place("Z-1", "ada@example.com", "10.00"))
        .await
        .unwrap();
    // Cybersource takes the next payment, then its answer is lost.
    world.fault(
        false,
        "POST",
        "/pts/v2/payments",
        FaultMode::ErrorAfter { status: 502 },
        1,
    );
    let Placed::New(lost) = world
        .engine
        .place_order(place("Z-2", "grace@example.com", "10.00"))
        .await
        .unwrap()
    else {
        panic!("new")
    };
    assert_eq!(lost.status, OrderStatus::PaymentUnknown);
    let store = world.engine.store();
    let resolved = world
        .engine
        .wait_until(std::time::Duration::from_millis(20), || async {
            Ok(store
                .order(&lost.id)
                .await?
                .is_some_and(|o| o.status != OrderStatus::PaymentUnknown))
        });
    tokio::time::timeout(std::time::Duration::from_secs(20), resolved)
        .await
        .expect("the lost payment is looked up while Zoho work waits")
        .unwrap();
    let order = store.order(&lost.id).await.unwrap().unwrap();
    assert!(
        matches!(order.status, OrderStatus::Approved | OrderStatus::Completed),
        "{:?}",
        order.status
    );
}
