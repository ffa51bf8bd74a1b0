//! Orders on hold: a partial authorization released and declined, a held order decided by a
//! person, and orders nobody decided told to a person.

use std::time::Duration;

use paybridge_commerce::cybersource_events::ReviewDecision;
use paybridge_engine::alerts::{AlertSettings, Channel};
use paybridge_model::OrderStatus;
use paybridge_sandbox::cybersource::ledger::Kind;

use crate::helpers::{World, WorldOptions, place, slack_webhook};

/// The issuer approves half of 3,000.00 (the test environment's partial-authorization amounts):
/// the approved half is voided, the order declined as a partial authorization, and the
/// storefront told — it never waits on hold for nobody (seed 5 of the demo did).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_authorization_is_released_and_the_order_declined_with_the_storefront_told() {
    let secret = "a-callback-secret-of-24-chars";
    let receiver = paybridge_sandbox::storefront::CallbackReceiver::new(secret);
    let server = paybridge_sandbox::server::RunningServer::start(
        receiver.router(),
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .unwrap();
    let world = World::with(WorldOptions {
        storefront: Some((server.url().join("callbacks").unwrap(), secret.into())),
        ..WorldOptions::default()
    })
    .await;
    world
        .engine
        .place_order(place("P-1", "ada@example.com", "1500.00"))
        .await
        .unwrap();
    let order = world.settled("P-1").await;
    assert_eq!(
        order.status,
        OrderStatus::Declined,
        "{:?}",
        order.status_detail
    );
    assert_eq!(
        order.decline_reason.as_deref(),
        Some("PARTIAL_AUTHORIZATION")
    );
    let detail = order.status_detail.as_deref().unwrap();
    assert!(
        detail.contains("only 1500.00 of 3000.00") && detail.contains("voided"),
        "{detail}"
    );
    // The approved half was given back before settlement.
    let transactions = world.cybersource.transactions();
    let sale = transactions
        .iter()
        .find(|t| t.kind == Kind::Authorization && t.merchant_reference == "P-1")
        .unwrap();
    assert_eq!(sale.authorized.to_string(), "1500.00");
    assert!(sale.voided && sale.status == "VOIDED", "{sale:?}");
    assert_eq!(
        transactions.iter().filter(|t| t.kind == Kind::Void).count(),
        1
    );
    // Nothing booked; the storefront told why, in words.
    assert!(world.books().invoices.is_empty());
    let [declined] = receiver.for_reference("P-1").try_into().unwrap();
    assert_eq!(declined["status"], "declined");
    assert_eq!(declined["reason"], "PARTIAL_AUTHORIZATION");
    world.stop().await;
}

/// A held order nobody decides in Decision Manager is decided by a person through paybridge:
/// accepted, it is captured and booked; the first decision stands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_order_decided_by_a_person_is_captured_and_booked_once() {
    let world = World::start().await;
    world
        .engine
        .place_order(place("HD-1", "dm-review-ada@example.com", "40.00"))
        .await
        .unwrap();
    let held = world.settled("HD-1").await;
    assert_eq!(held.status, OrderStatus::OnHold);
    let commerce = world.engine.commerce();
    let accept = ReviewDecision {
        accepted: true,
        case_id: None,
        comments: "customer confirmed by phone".into(),
    };
    assert!(commerce.decide_review(&held, &accept).await.unwrap());
    let reject = ReviewDecision {
        accepted: false,
        ..accept.clone()
    };
    assert!(
        !commerce.decide_review(&held, &reject).await.unwrap(),
        "the first decision stands"
    );
    world.engine.wake_workers();
    let done = world.settled("HD-1").await;
    assert_eq!(
        done.status,
        OrderStatus::Completed,
        "{:?}",
        done.status_detail
    );
    assert_eq!(world.books().invoices.len(), 1);
    let captures = world
        .cybersource
        .transactions()
        .into_iter()
        .filter(|t| t.kind == Kind::Capture)
        .count();
    assert_eq!(captures, 1);
    // Decided and settled: a decision now changes nothing.
    assert!(!commerce.decide_review(&done, &reject).await.unwrap());
    world.stop().await;
}

/// An order on hold longer than `[orders] hold_alert_minutes` is told to a person by the
/// watchdog, naming it and how to decide it; one decided is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_on_hold_too_long_are_alerted_by_the_watchdog() {
    let (webhook, posts) = slack_webhook().await;
    let world = World::with(WorldOptions {
        alerts: Some((
            AlertSettings::default(),
            vec![Channel::slack(secrecy::SecretString::from(webhook)).unwrap()],
        )),
        hold_alert_after: Duration::ZERO,
        ..WorldOptions::default()
    })
    .await;
    world
        .engine
        .place_order(place("HA-1", "dm-review-ada@example.com", "40.00"))
        .await
        .unwrap();
    world
        .engine
        .place_order(place("HA-2", "ada@example.com", "10.00"))
        .await
        .unwrap();
    assert_eq!(world.settled("HA-1").await.status, OrderStatus::OnHold);
    assert_eq!(world.settled("HA-2").await.status, OrderStatus::Completed);
    assert_eq!(world.engine.commerce().watch_holds().await.unwrap(), 1);
    world.engine.alerts.as_ref().unwrap().flush().await;
    let posts = posts.lock().unwrap().clone();
    let [alert] = posts.as_slice() else {
        panic!("one alert: {posts:?}")
    };
    assert!(
        alert.contains("1 order(s) on hold")
            && alert.contains("HA-1")
            && !alert.contains("HA-2")
            && alert.contains("/api/v1/admin/orders/{id}/review"),
        "{alert}"
    );
    // Held orders are listed for whoever decides them.
    let held = world.engine.commerce().orders_on_hold(10).await.unwrap();
    assert_eq!(
        held.iter()
            .map(|o| o.reference.as_str())
            .collect::<Vec<_>>(),
        ["HA-1"]
    );
    world.stop().await;
}
