//! Refunds both ways against the sandboxes, checked through their own state: Cybersource's
//! refunds, Books credit notes and their refunds, invoice balances.

use paybridge_engine::refunds::{RefundError, RefundRequest};
use paybridge_engine::store::{RefundRecord, RefundStatus};
use paybridge_model::OrderStatus;

use crate::helpers::{ORG, World, place};

fn ask(order: &str, key: &str, amount: Option<&str>) -> RefundRequest {
    RefundRequest {
        order: order.into(),
        idempotency_key: key.into(),
        amount: amount.map(str::to_string),
        reason: Some("damaged in transit".into()),
    }
}

/// Waits until the refund is no longer `requested`.
async fn finished(world: &World, id: &str) -> RefundRecord {
    let store = &world.engine.store;
    let wait = world
        .engine
        .wait_until(std::time::Duration::from_millis(50), || async {
            Ok(store
                .refund(id)
                .await?
                .is_some_and(|r| r.status != RefundStatus::Requested))
        });
    tokio::time::timeout(std::time::Duration::from_secs(30), wait)
        .await
        .expect("the refund finishes")
        .unwrap();
    store.refund(id).await.unwrap().unwrap()
}

fn refunds_in_cybersource(world: &World) -> Vec<String> {
    world
        .cybersource
        .transactions()
        .iter()
        .filter(|t| t.kind == paybridge_sandbox::cybersource::ledger::Kind::Refund)
        .map(|t| t.amount.to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_refunds_through_the_api_reach_cybersource_and_books_and_never_exceed_the_charge() {
    let world = World::start().await;
    world
        .engine
        .place_order(place("R-1", "ada@example.com", "10.00"))
        .await
        .unwrap();
    let order = world.settled("R-1").await;
    assert_eq!(order.status, OrderStatus::Completed);

    let first = world
        .engine
        .request_refund(ask("R-1", "refund-1", Some("7.50")))
        .await
        .unwrap();
    assert!(!first.replayed);
    let first = finished(&world, &first.refund.id).await;
    assert_eq!(
        first.status,
        RefundStatus::Refunded,
        "{:?}",
        first.status_detail
    );

    // Cybersource refunded 7.50; Books has a 7.50 credit note, refunded, referencing it; the
    // invoice stays paid.
    assert_eq!(refunds_in_cybersource(&world), ["7.50"]);
    let books = world.zoho.books_records(ORG).unwrap();
    let [note] = books.credit_notes.as_slice() else {
        panic!("one credit note: {:?}", books.credit_notes)
    };
    assert_eq!(note["total"], 7.5);
    assert_eq!(note["balance"], 0.0, "{note}");
    assert_eq!(
        note["creditnote_id"].as_str(),
        first.zoho_creditnote_id.as_deref()
    );
    assert_eq!(note["reference_number"], first.id.as_str());
    let invoice = &books.invoices[0];
    assert_eq!(invoice["status"], "paid");
    assert_eq!(invoice["balance"], 0.0);

    // The same key again: the same refund, nothing new.
    let again = world
        .engine
        .request_refund(ask("R-1", "refund-1", Some("7.50")))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.refund.id, first.id);
    // The same key for something else is refused.
    assert!(matches!(
        world
            .engine
            .request_refund(ask("R-1", "refund-1", Some("1.00")))
            .await,
        Err(RefundError::KeyReused)
    ));

    // More than is left is refused before anything is called.
    let calls = world.cybersource.stats().requests;
    let refused = world
        .engine
        .request_refund(ask("R-1", "refund-2", Some("12.51")))
        .await
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        "12.51 USD is more than the 12.50 USD that can still be refunded"
    );
    assert_eq!(world.cybersource.stats().requests, calls);

    // The rest, without an amount.
    let rest = world
        .engine
        .request_refund(ask("R-1", "refund-3", None))
        .await
        .unwrap();
    assert_eq!(rest.refund.amount_minor, 1250);
    let rest = finished(&world, &rest.refund.id).await;
    assert_eq!(rest.status, RefundStatus::Refunded);
    let mut refunded = refunds_in_cybersource(&world);
    refunded.sort();
    assert_eq!(refunded, ["12.50", "7.50"]);
    assert_eq!(world.zoho.books_records(ORG).unwrap().credit_notes.len(), 2);
    assert!(matches!(
        world
            .engine
            .request_refund(ask("R-1", "refund-4", Some("0.01")))
            .await,
        Err(RefundError::TooMuch { .. })
    ));
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_made_in_cybersource_is_booked_in_books_once_however_often_it_is_told() {
    let world = World::start().await;
    world
        .engine
        .place_order(place("R-2", "grace@example.com", "30.00"))
        .await
        .unwrap();
    let order = world.settled("R-2").await;

    // A refund made by hand in Cybersource (Business Center), not through paybridge.
    use paybridge_cybersource::captures::AmountOnly;
    use paybridge_cybersource::payments::{AmountDetails, ClientReference};
    let made = world
        .engine
        .connectors
        .cybersource
        .refund_payment(
            order.payment_id.as_deref().unwrap(),
            &paybridge_cybersource::refunds::RefundRequest {
                client_reference_information: ClientReference {
                    code: "R-2".into(),
                    transaction_id: None,
                },
                order_information: AmountOnly {
                    amount_details: AmountDetails {
                        total_amount: "15.00".parse().unwrap(),
                        currency: "USD".into(),
                    },
                },
            },
        )
        .await
        .unwrap();

    // Its webhook, twice, in both generations of event names.
    for (n, event_type) in [
        "payments.refund.status.accepted",
        "payments.refunds.accept",
        "payments.refund.status.accepted",
    ]
    .iter()
    .enumerate()
    {
        let notification = serde_json::json!({
            "event_type": event_type,
            "payload": [{"data": {"id": made.id, "clientReferenceInformation": {"code": "R-2"}}}],
        });
        world
            .engine
            .accept_cybersource_event(
                format!("cybersource:wh-{n}:{}:{event_type}", made.id),
                (*event_type).into(),
                Some(&made.id),
                notification,
            )
            .await
            .unwrap();
    }
    let store = &world.engine.store;
    let adopted = world
        .engine
        .wait_until(std::time::Duration::from_millis(50), || async {
            Ok(store
                .refund_by_cybersource_id(&made.id)
                .await?
                .is_some_and(|r| r.status == RefundStatus::Refunded))
        });
    tokio::time::timeout(std::time::Duration::from_secs(30), adopted)
        .await
        .expect("the refund is booked")
        .unwrap();
    world.settled("R-2").await;

    let refunds = store.refunds_of(&order.id).await.unwrap();
    let [refund] = refunds.as_slice() else {
        panic!("one refund: {refunds:?}")
    };
    assert_eq!(refund.source, "cybersource");
    assert_eq!(refund.amount_minor, 1500);
    // No second refund in Cybersource, one credit note (refunded) in Books.
    assert_eq!(refunds_in_cybersource(&world), ["15.00"]);
    let books = world.zoho.books_records(ORG).unwrap();
    let [note] = books.credit_notes.as_slice() else {
        panic!("one credit note: {:?}", books.credit_notes)
    };
    assert_eq!(note["total"], 15.0);
    assert_eq!(note["balance"], 0.0);
    // What is left to refund through paybridge accounts for it.
    assert!(matches!(
        world
            .engine
            .request_refund(ask("R-2", "more", Some("45.01")))
            .await,
        Err(RefundError::TooMuch { .. })
    ));
    world.stop().await;
}
