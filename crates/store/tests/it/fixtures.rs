//! What the suite's tests build on: an order, a queued run, a failure.

use paybridge_model::{FailureKind, OrderStatus};
use paybridge_store::OrderStore as _;
use paybridge_store::{
    Admission, FailureRecord, NewEvent, NewOrder, NewRun, NewStep, PaymentUpdate, Store,
};
use std::time::Duration;

pub const LEASE: Duration = Duration::from_secs(60);

pub fn new_order(reference: &str, key: &str) -> NewOrder {
    NewOrder {
        id: format!("ord_{reference}"),
        reference: reference.into(),
        idempotency_key: key.into(),
        request_fingerprint: "f".into(),
        currency: "USD".into(),
        amount_minor: 1234,
        customer_email: "ada@example.com".into(),
        card_brand: Some("visa".into()),
        card_last4: Some("1111".into()),
        event: NewEvent {
            source: "order-api".into(),
            dedupe_key: format!("order-api:{key}"),
            event_type: "order.placed".into(),
            entity_key: format!("order:{reference}"),
            payload: serde_json::json!({"reference": reference}),
        },
        payment_step: NewStep {
            key: format!("order:{reference}:cybersource:payment"),
            name: "cybersource.payment".into(),
            input: serde_json::json!({"order": reference, "amount": "12.34"}),
        },
    }
}

/// Admits an order and queues a run for `entity`; returns the inbox id.
pub async fn queued_run(store: &Store, reference: &str, entity: &str, now: i64) -> i64 {
    let Admission::Admitted { order, .. } = store
        .admit_order(&new_order(reference, reference), now)
        .await
        .unwrap()
    else {
        panic!("new order")
    };
    let update = PaymentUpdate {
        from: OrderStatus::PendingPayment,
        status: OrderStatus::Approved,
        payment_id: Some("1".into()),
        payment_status: Some("AUTHORIZED".into()),
        decline_reason: None,
        status_detail: None,
        failure_kind: None,
    };
    let run = NewRun {
        inbox_id: order.inbox_id,
        flow: "order-to-cash".into(),
        entity_key: entity.into(),
        not_before: None,
    };
    store
        .record_payment(&order.id, &update, std::slice::from_ref(&run), now)
        .await
        .unwrap();
    order.inbox_id
}

pub fn failure(kind: FailureKind) -> FailureRecord {
    FailureRecord {
        message: "zoho-books: Internal error".into(),
        kind,
        http_status: Some(500),
        request_id: None,
        step: Some("zoho-books.invoice".into()),
    }
}
