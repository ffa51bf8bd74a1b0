//! Orders: admitted once per key, with their payment step and their sync.

use crate::fixtures::{LEASE, failure, new_order, queued_run};
use paybridge_model::{FailureKind, OrderStatus};
use paybridge_store::OrderStore as _;
use paybridge_store::RunStore as _;
use paybridge_store::testing::backends;
use paybridge_store::{
    Admission, NewEvent, NewRefund, NewRun, OwnStep, PaymentUpdate, RefundAdmission, RunStatus,
    StepStatus, StoreError, ZohoIds,
};

fn approved(from: OrderStatus) -> PaymentUpdate {
    PaymentUpdate {
        from,
        status: OrderStatus::Approved,
        payment_id: Some("7000000000000000000001".into()),
        payment_status: Some("AUTHORIZED".into()),
        decline_reason: None,
        status_detail: None,
        failure_kind: None,
    }
}

/// Every transition names the state it comes from: one that finds the order moved on writes
/// nothing (no status, no runs) and says what it found.
#[tokio::test]
async fn a_transition_is_made_only_from_the_state_it_was_read_in() {
    for db in backends().await {
        let store = db.open().await;
        let Admission::Admitted { order, .. } = store
            .admit_order(&new_order("CAS1", "CAS1"), 1)
            .await
            .unwrap()
        else {
            panic!("new order")
        };
        let run = NewRun {
            inbox_id: order.inbox_id,
            flow: "order-to-cash".into(),
            entity_key: "customer:cas".into(),
            not_before: None,
        };
        // The watchdog got there first: the order is payment_unknown.
        let unknown = PaymentUpdate {
            from: OrderStatus::PendingPayment,
            status: OrderStatus::PaymentUnknown,
            payment_id: None,
            payment_status: None,
            decline_reason: None,
            status_detail: Some("died while charging".into()),
            failure_kind: Some(FailureKind::OutcomeUnknown),
        };
        store
            .record_payment(&order.id, &unknown, &[], 2)
            .await
            .unwrap();
        // The charge's late answer, read while the order was pending: refused, nothing queued.
        let late = store
            .record_payment(
                &order.id,
                &approved(OrderStatus::PendingPayment),
                std::slice::from_ref(&run),
                3,
            )
            .await;
        assert!(
            matches!(
                late,
                Err(StoreError::StateMoved {
                    expected: OrderStatus::PendingPayment,
                    found: OrderStatus::PaymentUnknown,
                    ..
                })
            ),
            "{late:?}"
        );
        let now = store.order(&order.id).await.unwrap().unwrap();
        assert_eq!(
            (now.status, now.updated_at),
            (OrderStatus::PaymentUnknown, 2)
        );
        assert!(
            store.claim_run("w", 10, LEASE).await.unwrap().is_none(),
            "no run was queued"
        );
        // From the state it is in, it moves.
        store
            .record_payment(
                &order.id,
                &approved(OrderStatus::PaymentUnknown),
                std::slice::from_ref(&run),
                4,
            )
            .await
            .unwrap();
        assert!(store.claim_run("w", 10, LEASE).await.unwrap().is_some());

        // set_order_status checks too.
        let wrong = store
            .set_order_status(
                &order.id,
                OrderStatus::OnHold,
                OrderStatus::Declined,
                None,
                5,
            )
            .await;
        assert!(
            matches!(wrong, Err(StoreError::StateMoved { .. })),
            "{wrong:?}"
        );
        assert_eq!(
            store.order(&order.id).await.unwrap().unwrap().status,
            OrderStatus::Approved
        );

        // A declined order is never marked synced, and the step is not recorded.
        let Admission::Admitted {
            order: declined, ..
        } = store
            .admit_order(&new_order("CAS2", "CAS2"), 1)
            .await
            .unwrap()
        else {
            panic!("new order")
        };
        let declined_update = PaymentUpdate {
            status: OrderStatus::Declined,
            decline_reason: Some("PROCESSOR_DECLINED".into()),
            ..approved(OrderStatus::PendingPayment)
        };
        store
            .record_payment(&declined.id, &declined_update, &[], 2)
            .await
            .unwrap();
        let ids = ZohoIds {
            contact_id: "c".into(),
            invoice_id: "i".into(),
            payment_id: "p".into(),
        };
        let output = serde_json::json!({"done": true});
        let synced = store
            .complete_order_sync(
                &declined.id,
                &ids,
                OwnStep {
                    run_id: None,
                    key: "CAS2:synced",
                    name: "synced",
                    input: &output,
                    output: &output,
                },
                3,
            )
            .await;
        assert!(
            matches!(
                synced,
                Err(StoreError::StateMoved {
                    found: OrderStatus::Declined,
                    ..
                })
            ),
            "{synced:?}"
        );
        assert_eq!(
            store.order(&declined.id).await.unwrap().unwrap().status,
            OrderStatus::Declined
        );
        assert!(store.step("CAS2:synced").await.unwrap().is_none());
    }
}

#[tokio::test]
async fn an_idempotency_key_admits_one_order_and_one_event() {
    for db in backends().await {
        let store = db.open().await;
        let first = store.admit_order(&new_order("R1", "K1"), 1).await.unwrap();
        let Admission::Admitted {
            order,
            payment_begun: true,
        } = first
        else {
            panic!("admitted, its payment step begun")
        };
        assert_eq!(order.status, OrderStatus::PendingPayment);
        // The payment step is begun with the order: attempt 1, its input kept.
        let step = store
            .step("order:R1:cybersource:payment")
            .await
            .unwrap()
            .expect("payment step");
        assert_eq!(step.status, StepStatus::Started);
        assert_eq!(step.attempts, 1);
        assert_eq!(step.run_id, None);
        assert_eq!(
            step.input,
            Some(serde_json::json!({"order": "R1", "amount": "12.34"}))
        );
        let again = store.admit_order(&new_order("R1", "K1"), 2).await.unwrap();
        let Admission::Existing(existing) = again else {
            panic!("existing")
        };
        // The admitted record is the order as stored.
        assert_eq!(existing, order);
        assert!(matches!(
            store.admit_order(&new_order("R1", "K2"), 3).await,
            Err(StoreError::ReferenceTaken { .. })
        ));
        assert_eq!(store.counts().await.unwrap().inbox_events, 1);
        assert_eq!(
            store
                .order_by_reference("R1")
                .await
                .unwrap()
                .unwrap()
                .card_last4
                .as_deref(),
            Some("1111")
        );
    }
}

#[tokio::test]
async fn an_order_whose_payment_step_key_is_taken_is_admitted_without_beginning_it() {
    for db in backends().await {
        let store = db.open().await;
        let key = "order:R9:cybersource:payment";
        store
            .begin_step(None, key, "cybersource.payment", None, 1)
            .await
            .unwrap();
        let admitted = store.admit_order(&new_order("R9", "K9"), 2).await.unwrap();
        assert!(matches!(
            admitted,
            Admission::Admitted {
                payment_begun: false,
                ..
            }
        ));
        // The step stands as it was: the caller begins its next attempt the usual way.
        let step = store.step(key).await.unwrap().unwrap();
        assert_eq!((step.attempts, step.started_at, step.input), (1, 1, None));
    }
}

#[tokio::test]
async fn a_dead_letter_and_its_orders_sync_failure_are_one_commit() {
    for db in backends().await {
        let store = db.open().await;
        queued_run(&store, "DL-1", "customer:a", 1).await;
        let order = store.order_by_reference("DL-1").await.unwrap().unwrap();
        let run = store.claim_run("w", 2, LEASE).await.unwrap().unwrap();
        assert!(
            store
                .dead_letter_run(
                    run.id,
                    "w",
                    None,
                    &failure(FailureKind::Permanent),
                    Some((&order.id, "Zoho sync failed: no")),
                    3,
                )
                .await
                .unwrap()
        );
        let after = store.order(&order.id).await.unwrap().unwrap();
        assert_eq!(after.status, OrderStatus::SyncFailed);
        assert_eq!(after.status_detail.as_deref(), Some("Zoho sync failed: no"));
        assert_eq!(
            store.run(run.id).await.unwrap().unwrap().status,
            RunStatus::Dead
        );

        // A run that is not this worker's changes nothing, the order included.
        queued_run(&store, "DL-2", "customer:b", 4).await;
        let other = store.order_by_reference("DL-2").await.unwrap().unwrap();
        let claimed = store.claim_run("w", 5, LEASE).await.unwrap().unwrap();
        assert!(
            !store
                .dead_letter_run(
                    claimed.id,
                    "someone-else",
                    None,
                    &failure(FailureKind::Permanent),
                    Some((&other.id, "no")),
                    6,
                )
                .await
                .unwrap()
        );
        assert_eq!(
            store.order(&other.id).await.unwrap().unwrap().status,
            OrderStatus::Approved
        );
    }
}

#[tokio::test]
async fn an_order_is_marked_synced_with_its_step_in_one_write_once_per_key() {
    for db in backends().await {
        let store = db.open().await;
        let Admission::Admitted { order, .. } = store
            .admit_order(&new_order("SY1", "SY1"), 1)
            .await
            .unwrap()
        else {
            panic!("new order")
        };
        store
            .record_payment(&order.id, &approved(OrderStatus::PendingPayment), &[], 2)
            .await
            .unwrap();
        let ids = ZohoIds {
            contact_id: "c1".into(),
            invoice_id: "i1".into(),
            payment_id: "p1".into(),
        };
        let input = serde_json::json!({"contact_id": "c1", "invoice_id": "i1", "payment_id": "p1"});
        let output = serde_json::json!({"done": true});
        let step = |key| OwnStep {
            run_id: None,
            key,
            name: "synced",
            input: &input,
            output: &output,
        };
        assert_eq!(
            store
                .complete_order_sync(&order.id, &ids, step("SY1:synced"), 5)
                .await
                .unwrap(),
            None,
            "done now"
        );
        let synced = store.order(&order.id).await.unwrap().unwrap();
        assert_eq!(
            (
                synced.status,
                synced.zoho_invoice_id.as_deref(),
                synced.updated_at
            ),
            (OrderStatus::Completed, Some("i1"), 5)
        );
        let recorded = store.step("SY1:synced").await.unwrap().unwrap();
        assert_eq!(
            (
                recorded.status,
                recorded.attempts,
                recorded.input.as_ref(),
                recorded.output.as_ref()
            ),
            (StepStatus::Succeeded, 1, Some(&input), Some(&output))
        );
        // Again under the same key: the stored output, and nothing written.
        store
            .set_order_status(
                &order.id,
                OrderStatus::Completed,
                OrderStatus::SyncFailed,
                None,
                6,
            )
            .await
            .unwrap();
        assert_eq!(
            store
                .complete_order_sync(&order.id, &ids, step("SY1:synced"), 7)
                .await
                .unwrap(),
            Some(output.clone())
        );
        assert_eq!(
            store.order(&order.id).await.unwrap().unwrap().status,
            OrderStatus::SyncFailed
        );
        // A step begun before (and never finished) is finished by the write.
        store
            .begin_step(None, "SY1:again", "synced", Some(&input), 8)
            .await
            .unwrap();
        assert_eq!(
            store
                .complete_order_sync(&order.id, &ids, step("SY1:again"), 9)
                .await
                .unwrap(),
            None
        );
        let finished = store.step("SY1:again").await.unwrap().unwrap();
        assert_eq!(
            (finished.status, finished.attempts),
            (StepStatus::Succeeded, 2)
        );
        assert_eq!(
            store.order(&order.id).await.unwrap().unwrap().status,
            OrderStatus::Completed
        );
    }
}

fn refund_of(order_id: &str, key: &str, amount_minor: i64, made_already: bool) -> NewRefund {
    NewRefund {
        id: format!("ref_{key}"),
        order_id: order_id.into(),
        idempotency_key: key.into(),
        request_fingerprint: "f".into(),
        amount_minor,
        currency: "USD".into(),
        reason: None,
        source: if made_already { "cybersource" } else { "api" }.into(),
        cybersource_refund_id: made_already.then(|| format!("cs-{key}")),
        event: NewEvent {
            source: "order-api".into(),
            dedupe_key: format!("refund:{key}"),
            event_type: "order.refund_requested".into(),
            entity_key: "order:O-1".into(),
            payload: serde_json::json!({}),
        },
        flows: Vec::new(),
        entity_key: "customer:ada@example.com".into(),
        made_already,
    }
}

#[tokio::test]
async fn a_refund_asked_for_never_exceeds_what_is_left_but_one_made_already_is_recorded() {
    for db in backends().await {
        let store = db.open().await;
        queued_run(&store, "O-1", "customer:ada@example.com", 1_000).await;
        let order = store.order_by_reference("O-1").await.unwrap().unwrap();
        // 12.34 charged; 10.00 asked for, then 5.00 more is refused.
        let first = store
            .admit_refund(&refund_of(&order.id, "a", 1000, false), 2_000)
            .await
            .unwrap();
        assert!(matches!(first, RefundAdmission::Admitted(_)));
        let refused = store
            .admit_refund(&refund_of(&order.id, "b", 500, false), 3_000)
            .await
            .unwrap();
        assert!(
            matches!(
                refused,
                RefundAdmission::TooMuch {
                    refundable_minor: 234
                }
            ),
            "{refused:?}"
        );
        // A refund made in Cybersource already is recorded all the same: it happened.
        let made = store
            .admit_refund(&refund_of(&order.id, "c", 500, true), 4_000)
            .await
            .unwrap();
        assert!(matches!(made, RefundAdmission::Admitted(_)), "{made:?}");
        assert_eq!(store.refunds_of(&order.id).await.unwrap().len(), 2);
    }
}
