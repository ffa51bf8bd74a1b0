//! Refunds both ways against the sandboxes, checked through their own state: Cybersource's
//! refunds, Books credit notes and their refunds, invoice balances.

use paybridge_commerce::refunds::{RefundError, RefundRequest};
use paybridge_model::OrderStatus;
use paybridge_store::{OrderStore as _, RunStore as _};
use paybridge_store::{RefundRecord, RefundStatus};

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
    let store = world.engine.store();
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
    // The rest again with its key: the same refund (it was refused as an over-refund when
    // what is left was computed before the key was looked up).
    let again = world
        .engine
        .request_refund(ask("R-1", "refund-3", None))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.refund.id, rest.id);
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
        .connectors()
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
    let store = world.engine.store();
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

/// The Books webhook of a credit note, handed to the engine as the ingress would.
async fn credit_note_webhook(world: &World, note: &serde_json::Value) {
    let raw = serde_json::to_vec(&serde_json::json!({ "creditnote": note })).unwrap();
    world
        .engine
        .accept_zoho_books_event("creditnote", note.as_object().unwrap().clone(), &raw)
        .await
        .unwrap();
}

/// Finance issues a credit note in Books for part of an order, against its invoice.
async fn credit_note_in_books(
    world: &World,
    order: &paybridge_store::OrderRecord,
    amount: &str,
    reference: Option<&str>,
) -> serde_json::Value {
    use paybridge_zoho::books::{InvoiceLine, NewCreditNote};
    let made = world
        .engine
        .connectors()
        .books
        .create_credit_note(
            &NewCreditNote {
                customer_id: order.zoho_contact_id.clone().unwrap(),
                date: "2026-11-26".into(),
                line_items: vec![InvoiceLine {
                    item_id: None,
                    name: "Returned tea".into(),
                    description: None,
                    rate: amount.parse().unwrap(),
                    quantity: 1.into(),
                }],
                reference_number: reference.map(str::to_string),
                ..NewCreditNote::default()
            },
            order.zoho_invoice_id.as_deref(),
        )
        .await
        .unwrap();
    world
        .books()
        .credit_notes
        .into_iter()
        .find(|n| n["creditnote_id"] == made.creditnote_id.as_str())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credit_note_made_in_books_is_refunded_on_the_card_and_recorded_on_the_note() {
    let world = World::start().await;
    world
        .engine
        .place_order(place("R-3", "mary@example.com", "20.00"))
        .await
        .unwrap();
    let order = world.settled("R-3").await;

    // Against the order's invoice, no reference: found through the invoice.
    let note = credit_note_in_books(&world, &order, "12.00", None).await;
    credit_note_webhook(&world, &note).await;
    // Delivered again (Books retries; an edit posts it too): still one refund.
    credit_note_webhook(&world, &note).await;
    world.settled("R-3").await;
    let store = world.engine.store();
    let refunds = store.refunds_of(&order.id).await.unwrap();
    let [refund] = refunds.as_slice() else {
        panic!("one refund: {refunds:?}")
    };
    let refund = finished(&world, &refund.id).await;
    assert_eq!(
        refund.status,
        RefundStatus::Refunded,
        "{:?}",
        refund.status_detail
    );
    assert_eq!(refund.source, "books");
    assert_eq!(refund.amount_minor, 1200);
    assert_eq!(
        refund.zoho_creditnote_id.as_deref(),
        note["creditnote_id"].as_str()
    );

    // Cybersource refunded 12.00; Books has that one credit note (no second one), refunded to
    // the card with the Cybersource refund's id, so its balance is nil.
    assert_eq!(refunds_in_cybersource(&world), ["12.00"]);
    let books = world.books();
    let [booked] = books.credit_notes.as_slice() else {
        panic!("one credit note: {:?}", books.credit_notes)
    };
    assert_eq!(booked["creditnote_id"], note["creditnote_id"]);
    assert_eq!(booked["balance"], 0.0, "{booked}");
    assert_eq!(booked["status"], "closed");
    let refunds = world
        .engine
        .connectors()
        .books
        .credit_note_refunds(note["creditnote_id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(refunds.len(), 1);
    assert_eq!(
        refunds[0].reference_number.as_deref(),
        refund.cybersource_refund_id.as_deref()
    );

    // The refund's own edit of the note comes back as a webhook: nothing more happens.
    credit_note_webhook(&world, &books.credit_notes[0]).await;
    world.settled("R-3").await;
    assert_eq!(store.refunds_of(&order.id).await.unwrap().len(), 1);

    // A refund through the API makes its own credit note, whose webhook is paybridge's own.
    let api = world
        .engine
        .request_refund(ask("R-3", "api-1", Some("3.00")))
        .await
        .unwrap();
    let api = finished(&world, &api.refund.id).await;
    let own = world
        .books()
        .credit_notes
        .into_iter()
        .find(|n| n["reference_number"] == api.id.as_str())
        .unwrap();
    credit_note_webhook(&world, &own).await;
    world.settled("R-3").await;
    assert_eq!(store.refunds_of(&order.id).await.unwrap().len(), 2);
    let mut refunded = refunds_in_cybersource(&world);
    refunded.sort();
    assert_eq!(refunded, ["12.00", "3.00"]);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_books_credit_note_for_more_than_is_left_is_refused_before_any_call() {
    let world = World::start().await;
    world
        .engine
        .place_order(place("R-4", "ida@example.com", "5.00"))
        .await
        .unwrap();
    let order = world.settled("R-4").await;
    let calls = world.cybersource.stats().requests;

    // Named by the order's reference this time; 10.01 of 10.00.
    let note = credit_note_in_books(&world, &order, "10.01", Some("R-4")).await;
    credit_note_webhook(&world, &note).await;
    world.settled("R-4").await;
    assert_eq!(world.cybersource.stats().requests, calls);
    assert!(
        world
            .engine
            .store()
            .refunds_of(&order.id)
            .await
            .unwrap()
            .is_empty()
    );
    let dead = world
        .engine
        .store()
        .find_runs(&paybridge_store::RunFilter {
            flow: Some("zoho-books-event".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let [dead] = dead.as_slice() else {
        panic!("one run: {dead:?}")
    };
    assert_eq!(dead.status, paybridge_store::RunStatus::Dead);
    let error = dead.last_error.as_deref().unwrap();
    assert!(
        error.contains(&format!(
            "credit note {} asks to refund 10.01 USD for order R-4, more than the 10.00 USD that can still be refunded",
            note["creditnote_number"].as_str().unwrap()
        )),
        "{error}"
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_made_in_cybersource_beyond_what_paybridge_had_left_is_booked_and_alerted() {
    use paybridge_engine::alerts::{AlertSettings, Channel};
    let (webhook, posts) = crate::helpers::slack_webhook().await;
    let world = World::with(crate::helpers::WorldOptions {
        alerts: Some((
            AlertSettings::default(),
            vec![Channel::slack(secrecy::SecretString::from(webhook)).unwrap()],
        )),
        ..Default::default()
    })
    .await;
    world
        .engine
        .place_order(place("R-5", "lin@example.com", "30.00"))
        .await
        .unwrap();
    let order = world.settled("R-5").await;
    // paybridge counts the whole charge as refunded already: a refund was asked for it whose
    // flow has not run yet.
    let store = world.engine.store();
    let asked = store
        .admit_refund(
            &paybridge_store::NewRefund {
                id: "ref_0000000000000000000000000aa".into(),
                order_id: order.id.clone(),
                idempotency_key: "asked".into(),
                request_fingerprint: "f".into(),
                amount_minor: order.amount_minor,
                currency: "USD".into(),
                reason: None,
                source: "api".into(),
                cybersource_refund_id: None,
                event: paybridge_store::NewEvent {
                    source: "order-api".into(),
                    dedupe_key: "refund:asked".into(),
                    event_type: "order.refund_requested".into(),
                    entity_key: "order:R-5".into(),
                    payload: serde_json::json!({}),
                },
                flows: Vec::new(),
                entity_key: "customer:lin@example.com".into(),
                made_already: false,
            },
            world.engine.clock.now_ms(),
        )
        .await
        .unwrap();
    assert!(matches!(
        asked,
        paybridge_store::RefundAdmission::Admitted(_)
    ));
    // Meanwhile 15.00 is refunded by hand in Cybersource.
    use paybridge_cybersource::captures::AmountOnly;
    use paybridge_cybersource::payments::{AmountDetails, ClientReference};
    let made = world
        .engine
        .connectors()
        .cybersource
        .refund_payment(
            order.payment_id.as_deref().unwrap(),
            &paybridge_cybersource::refunds::RefundRequest {
                client_reference_information: ClientReference {
                    code: "R-5".into(),
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
    world
        .engine
        .accept_cybersource_event(
            format!("cybersource:wh:{}", made.id),
            "payments.refund.status.accepted".into(),
            Some(&made.id),
            serde_json::json!({
                "event_type": "payments.refund.status.accepted",
                "payload": [{"data": {"id": made.id, "clientReferenceInformation": {"code": "R-5"}}}],
            }),
        )
        .await
        .unwrap();
    // It happened, so it is recorded and booked (it was logged and dropped), and alerted.
    let booked = world
        .engine
        .wait_until(std::time::Duration::from_millis(50), || async {
            Ok(store
                .refund_by_cybersource_id(&made.id)
                .await?
                .is_some_and(|r| r.status == RefundStatus::Refunded))
        });
    tokio::time::timeout(std::time::Duration::from_secs(30), booked)
        .await
        .expect("the refund is booked")
        .unwrap();
    let books = world.zoho.books_records(ORG).unwrap();
    assert!(
        books.credit_notes.iter().any(|n| n["total"] == 15.0),
        "{:?}",
        books.credit_notes
    );
    world.engine.alerts.as_ref().unwrap().flush().await;
    let posts = posts.lock().unwrap().clone();
    assert!(
        posts
            .iter()
            .any(|p| p.contains("R-5") && p.contains("more in Cybersource than was left")),
        "{posts:?}"
    );
    // A refund in another currency than the order's is not booked as if it were the order's.
    let error = world
        .engine
        .commerce()
        .adopt_cybersource_refund(
            &order,
            "7000000000000000000009",
            "5.00".parse().unwrap(),
            Some("EUR"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, RefundError::CurrencyDiffers { .. }),
        "{error}"
    );
    world.stop().await;
}
