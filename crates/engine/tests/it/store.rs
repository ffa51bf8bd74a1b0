//! The store's contract. Times are passed in, so nothing here waits for a clock.

use std::time::Duration;

use paybridge_engine::store::{
    Admission, FailureRecord, NewEvent, NewOrder, NewRun, NewStep, OwnStep, PaymentUpdate,
    RecordedStep, RunStatus, StepStart, StepStatus, Store, StoreError, XrefEntry, ZohoIds,
};
use paybridge_model::{FailureKind, OrderStatus};

use crate::helpers::backends;

const LEASE: Duration = Duration::from_secs(60);

fn new_order(reference: &str, key: &str) -> NewOrder {
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
async fn queued_run(store: &Store, reference: &str, entity: &str, now: i64) -> i64 {
    let Admission::Admitted { order, .. } = store
        .admit_order(&new_order(reference, reference), now)
        .await
        .unwrap()
    else {
        panic!("new order")
    };
    let update = PaymentUpdate {
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

fn failure(kind: FailureKind) -> FailureRecord {
    FailureRecord {
        message: "zoho-books: Internal error".into(),
        kind,
        http_status: Some(500),
        request_id: None,
        step: Some("zoho-books.invoice".into()),
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
async fn runs_of_one_entity_never_overtake_each_other() {
    for db in backends().await {
        let store = db.open().await;
        queued_run(&store, "A1", "customer:ada", 10).await;
        queued_run(&store, "A2", "customer:ada", 10).await;
        queued_run(&store, "B1", "customer:bob", 10).await;

        let first = store.claim_run("w1", 20, LEASE).await.unwrap().unwrap();
        assert_eq!(first.entity_key, "customer:ada");
        assert_eq!(first.attempt, 1);
        // Ada's second run waits for her first; Bob's goes ahead.
        let second = store.claim_run("w2", 20, LEASE).await.unwrap().unwrap();
        assert_eq!(second.entity_key, "customer:bob");
        assert!(store.claim_run("w3", 20, LEASE).await.unwrap().is_none());

        assert!(
            store
                .finish_run(first.id, "w1", None, None, 30)
                .await
                .unwrap()
        );
        let third = store.claim_run("w3", 30, LEASE).await.unwrap().unwrap();
        assert_eq!(third.entity_key, "customer:ada");
        assert!(third.id > first.id);
    }
}

#[tokio::test]
async fn an_expired_lease_passes_the_run_to_another_worker() {
    for db in backends().await {
        let store = db.open().await;
        queued_run(&store, "A1", "customer:ada", 0).await;
        let lease = Duration::from_millis(1000);
        let run = store.claim_run("crashed", 0, lease).await.unwrap().unwrap();
        assert!(
            store.claim_run("w2", 999, lease).await.unwrap().is_none(),
            "still leased"
        );
        let taken = store.claim_run("w2", 1001, lease).await.unwrap().unwrap();
        assert_eq!(taken.id, run.id);
        assert_eq!(taken.attempt, 2);
        // The first worker lost its lease: it can neither renew nor record an outcome.
        assert!(
            !store
                .renew_lease(run.id, "crashed", 1002, lease)
                .await
                .unwrap()
        );
        // Nor leave outputs: a run's outputs are kept by its owner, with its end.
        let outputs = |by: &str| serde_json::json!({"by": by});
        let record = |value| RecordedStep {
            key: "A1-outputs",
            name: "outputs",
            value,
        };
        let stale = outputs("crashed");
        assert!(
            !store
                .finish_run(run.id, "crashed", None, Some(record(&stale)), 1002)
                .await
                .unwrap()
        );
        assert!(store.step("A1-outputs").await.unwrap().is_none());
        assert!(store.renew_lease(run.id, "w2", 1002, lease).await.unwrap());
        let kept = outputs("w2");
        assert!(
            store
                .finish_run(run.id, "w2", None, Some(record(&kept)), 1003)
                .await
                .unwrap()
        );
        let step = store.step("A1-outputs").await.unwrap().unwrap();
        assert_eq!(
            (step.run_id, step.status, step.output, step.finished_at),
            (Some(run.id), StepStatus::Succeeded, Some(kept), Some(1003))
        );
        assert_eq!(
            store.run(run.id).await.unwrap().unwrap().status,
            RunStatus::Succeeded
        );
    }
}

#[tokio::test]
async fn retries_wait_their_turn_and_dead_letters_can_be_replayed() {
    for db in backends().await {
        let store = db.open().await;
        queued_run(&store, "A1", "customer:ada", 0).await;
        let run = store.claim_run("w", 0, LEASE).await.unwrap().unwrap();
        assert!(
            store
                .retry_run(
                    run.id,
                    "w",
                    None,
                    5_000,
                    &failure(FailureKind::Transient),
                    10
                )
                .await
                .unwrap()
        );
        assert_eq!(store.next_wakeup().await.unwrap(), Some(5_000));
        assert!(store.claim_run("w", 4_999, LEASE).await.unwrap().is_none());
        let again = store.claim_run("w", 5_000, LEASE).await.unwrap().unwrap();
        assert_eq!(again.attempt, 2);

        assert!(
            store
                .dead_letter_run(
                    again.id,
                    "w",
                    Some("v2"),
                    &failure(FailureKind::Permanent),
                    None,
                    5_001
                )
                .await
                .unwrap()
        );
        let dead = store.run(again.id).await.unwrap().unwrap();
        assert_eq!(dead.status, RunStatus::Dead);
        assert_eq!(
            dead.last_error.as_deref(),
            Some("zoho-books: Internal error")
        );
        assert_eq!(dead.last_error_kind, Some(FailureKind::Permanent));
        assert_eq!(dead.last_error_status, Some(500));
        assert_eq!(
            dead.flow_version.as_deref(),
            Some("v2"),
            "noted with the outcome"
        );
        assert!(
            store.claim_run("w", 9_999, LEASE).await.unwrap().is_none(),
            "dead runs stay put"
        );

        // Replayed on its original version: the claim says which, and the outcome keeps it.
        store.pin_run_flow_version(again.id, true).await.unwrap();
        assert!(store.requeue_run(again.id, 10_000).await.unwrap());
        let replayed = store.claim_run("w", 10_000, LEASE).await.unwrap().unwrap();
        assert_eq!(replayed.id, again.id);
        assert_eq!(replayed.attempt, 1, "a replay starts a fresh retry budget");
        assert_eq!(
            (
                replayed.flow_version.as_deref(),
                replayed.flow_version_pinned
            ),
            (Some("v2"), true)
        );
        let event = replayed
            .event
            .as_ref()
            .expect("the event comes with the claim");
        let stored = store.inbox_event(replayed.inbox_id).await.unwrap();
        assert_eq!(
            (event.id, &event.dedupe_key, &event.payload),
            (stored.id, &stored.dedupe_key, &stored.payload)
        );
        assert!(
            !store.requeue_run(again.id, 10_001).await.unwrap(),
            "a running run is not requeued"
        );
        assert!(
            store
                .finish_run(again.id, "w", Some("v3"), None, 10_002)
                .await
                .unwrap()
        );
        let finished = store.run(again.id).await.unwrap().unwrap();
        assert_eq!(finished.flow_version.as_deref(), Some("v2"), "pinned");
    }
}

#[tokio::test]
async fn steps_count_attempts_and_keep_their_result() {
    let begun = |attempt, uncertain| StepStart::Begun { attempt, uncertain };
    for db in backends().await {
        let store = db.open().await;
        let begin = |now| store.begin_step(None, "k", "zoho-books.invoice", None, now);
        assert_eq!(begin(1).await.unwrap(), begun(1, false));
        let started = store.step("k").await.unwrap().unwrap();
        assert_eq!(started.status, StepStatus::Started);
        store
            .fail_step("k", &failure(FailureKind::OutcomeUnknown), 2)
            .await
            .unwrap();
        let failed = store.step("k").await.unwrap().unwrap();
        assert_eq!(
            (failed.status, failed.error_kind),
            (StepStatus::Failed, Some(FailureKind::OutcomeUnknown))
        );
        assert_eq!(
            begin(3).await.unwrap(),
            begun(2, true),
            "the failed attempt may have taken effect"
        );
        store
            .fail_step("k", &failure(FailureKind::Transient), 3)
            .await
            .unwrap();
        assert_eq!(
            begin(3).await.unwrap(),
            begun(3, false),
            "a transient failure took no effect"
        );
        assert_eq!(
            begin(3).await.unwrap(),
            begun(4, true),
            "an attempt that never finished (a crash) may have"
        );
        store
            .succeed_step("k", &serde_json::json!({"invoice_id": "9"}), 4)
            .await
            .unwrap();
        let done = store.step("k").await.unwrap().unwrap();
        assert_eq!(done.status, StepStatus::Succeeded);
        assert_eq!(done.output, Some(serde_json::json!({"invoice_id": "9"})));
        assert_eq!(
            begin(5).await.unwrap(),
            StepStart::Succeeded(Some(serde_json::json!({"invoice_id": "9"}))),
            "a finished step is not begun again: its result is returned"
        );
        assert_eq!(store.step("k").await.unwrap().unwrap().attempts, 4);
        store
            .fail_step("k", &failure(FailureKind::Permanent), 6)
            .await
            .unwrap();
        assert_eq!(
            store.step("k").await.unwrap().unwrap().status,
            StepStatus::Succeeded,
            "nor failed afterwards"
        );

        // A step with nothing to call is recorded in one write; the first record stands.
        let outputs = serde_json::json!({"total": "10.00"});
        store
            .record_step(None, "o", "outputs", &outputs, 7)
            .await
            .unwrap();
        store
            .record_step(None, "o", "outputs", &serde_json::json!({}), 8)
            .await
            .unwrap();
        let recorded = store.step("o").await.unwrap().unwrap();
        assert_eq!(
            (recorded.status, recorded.output, recorded.finished_at),
            (StepStatus::Succeeded, Some(outputs), Some(7))
        );
    }
}

#[tokio::test]
async fn a_runs_steps_read_in_the_order_they_began_even_within_one_millisecond() {
    for db in backends().await {
        let store = db.open().await;
        let run = queued_run(&store, "SAME-MS", "order:SAME-MS", 1).await;
        for key in ["z-first", "m-second", "a-third"] {
            store
                .begin_step(Some(run), key, key, None, 5)
                .await
                .unwrap();
        }
        store
            .record_step(Some(run), "0-outputs", "outputs", &serde_json::json!({}), 5)
            .await
            .unwrap();
        let steps = store.steps_of_run(run).await.unwrap();
        let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["z-first", "m-second", "a-third", "outputs"]);
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
async fn a_run_may_be_queued_for_later() {
    for db in backends().await {
        let store = db.open().await;
        let Admission::Admitted { order, .. } =
            store.admit_order(&new_order("L1", "L1"), 0).await.unwrap()
        else {
            panic!("new")
        };
        let update = PaymentUpdate {
            status: OrderStatus::PaymentUnknown,
            payment_id: None,
            payment_status: None,
            decline_reason: None,
            status_detail: None,
            failure_kind: Some(FailureKind::OutcomeUnknown),
        };
        let run = NewRun {
            inbox_id: order.inbox_id,
            flow: "payment-resolution".into(),
            entity_key: "order:L1".into(),
            not_before: Some(60_000),
        };
        store
            .record_payment(&order.id, &update, std::slice::from_ref(&run), 0)
            .await
            .unwrap();
        assert_eq!(store.next_wakeup().await.unwrap(), Some(60_000));
        assert!(store.claim_run("w", 59_999, LEASE).await.unwrap().is_none());
        assert!(store.claim_run("w", 60_000, LEASE).await.unwrap().is_some());
    }
}

#[tokio::test]
async fn the_first_cross_reference_wins() {
    for db in backends().await {
        let store = db.open().await;
        assert_eq!(
            store
                .xref("zoho-books:1", "contact-by-email", "a@x.io")
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .put_xref("zoho-books:1", "contact-by-email", "a@x.io", "111", 1)
                .await
                .unwrap(),
            "111"
        );
        assert_eq!(
            store
                .put_xref("zoho-books:1", "contact-by-email", "a@x.io", "222", 2)
                .await
                .unwrap(),
            "111"
        );
        assert_eq!(
            store
                .xref("zoho-books:2", "contact-by-email", "a@x.io")
                .await
                .unwrap(),
            None
        );
        // Several at once, in one write: each key keeps its first value.
        let held = store
            .put_xrefs(
                "zoho-books:1",
                &[
                    XrefEntry {
                        kind: "contact-by-email",
                        key: "a@x.io",
                        value: "333",
                    },
                    XrefEntry {
                        kind: "contact-name",
                        key: "ada lovelace",
                        value: "333",
                    },
                ],
                3,
            )
            .await
            .unwrap();
        assert_eq!(held, ["111", "333"]);
        assert_eq!(
            store
                .xref("zoho-books:1", "contact-name", "ada lovelace")
                .await
                .unwrap()
                .as_deref(),
            Some("333")
        );
    }
}

#[tokio::test]
async fn the_store_survives_a_reopen() {
    for db in backends().await {
        let store = db.open().await;
        queued_run(&store, "A1", "customer:ada", 0).await;
        store.close().await;
        let reopened = db.open().await;
        let counts = reopened.counts().await.unwrap();
        assert_eq!(counts.inbox_events, 1);
        assert_eq!(counts.runs_by_status.get("queued"), Some(&1));
    }
}

/// `count` runs of distinct entities, finished at `at`, each with a step carrying `payload`.
async fn finished_runs(store: &Store, prefix: &str, count: usize, at: i64, payload: &str) {
    for n in 0..count {
        let reference = format!("{prefix}{n}");
        queued_run(store, &reference, &format!("order:{reference}"), at).await;
        let run = store.claim_run("w", at, LEASE).await.unwrap().unwrap();
        let key = format!("{reference}:invoice");
        let input = serde_json::json!({"note": payload});
        store
            .begin_step(Some(run.id), &key, "zoho-books.invoice", Some(&input), at)
            .await
            .unwrap();
        store.succeed_step(&key, &input, at).await.unwrap();
        assert!(store.finish_run(run.id, "w", None, None, at).await.unwrap());
    }
}

#[tokio::test]
async fn retention_prunes_old_and_surplus_history_keeps_dead_letters_and_shrinks_the_file() {
    use paybridge_engine::store::{PruneCutoffs, RunFilter};

    for db in backends().await {
        let store = db.open().await;
        let day = 86_400_000;
        let now = 100 * day;
        let bulky = "x".repeat(4_000);
        finished_runs(&store, "OLD-", 600, now - 40 * day, &bulky).await;
        // A dead letter as old as those: kept until someone replays or discards it.
        queued_run(&store, "DEAD", "order:DEAD", now - 40 * day).await;
        let dead = store
            .claim_run("w", now - 40 * day, LEASE)
            .await
            .unwrap()
            .unwrap();
        store
            .dead_letter_run(
                dead.id,
                "w",
                None,
                &failure(FailureKind::Permanent),
                None,
                now - 40 * day,
            )
            .await
            .unwrap();
        finished_runs(&store, "NEW-", 10, now - day, "small").await;

        // The file shrinks on SQLite; PostgreSQL's autovacuum gives space back on its own.
        let file = db.dir().map(|dir| dir.join("paybridge.db"));
        let size = || {
            file.as_ref()
                .map_or(0, |f| std::fs::metadata(f).unwrap().len())
        };
        let before = size();
        let report = store
            .prune(&PruneCutoffs {
                now_ms: now,
                finished_before_ms: now - 30 * day,
                keep_runs: 8,
            })
            .await
            .unwrap();
        assert_eq!(
            report.runs, 602,
            "600 too old, and 2 of the 10 recent beyond the newest 8"
        );
        assert_eq!(report.steps, 602);
        if file.is_some() {
            assert!(report.bytes_freed > 2_000_000, "{report:?}");
            let after = size();
            assert!(
                after < before / 2,
                "the file shrinks: {before} bytes before, {after} after"
            );
        }

        let left = store
            .find_runs(&RunFilter {
                limit: 100,
                ..RunFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(left.len(), 9);
        assert!(left.iter().any(|r| r.status == RunStatus::Dead));
        assert!(
            left.iter()
                .all(|r| r.status == RunStatus::Dead || r.entity_key.starts_with("order:NEW-"))
        );
        // Orders are business records: all stay, and so do their events.
        assert_eq!(store.orders(1_000).await.unwrap().len(), 611);
        // Nothing left to do the second time.
        let again = store
            .prune(&PruneCutoffs {
                now_ms: now,
                finished_before_ms: now - 30 * day,
                keep_runs: 8,
            })
            .await
            .unwrap();
        assert_eq!((again.runs, again.steps), (0, 0));
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
async fn overview_readings_are_kept_once_a_minute_and_for_a_while() {
    for db in backends().await {
        let store = db.open().await;
        let (a, b) = (db.open().await, 60_000_i64);
        // Two nodes take the same minute's reading: the first is kept.
        assert!(store.record_sample(b, "first", 0).await.unwrap());
        assert!(!a.record_sample(b, "second", 0).await.unwrap());
        assert!(store.record_sample(3 * b, "third", 0).await.unwrap());
        assert_eq!(
            store.samples_since(0, 10).await.unwrap(),
            [(b, "first".to_string()), (3 * b, "third".to_string())]
        );
        assert_eq!(store.samples_since(2 * b, 10).await.unwrap().len(), 1);
        // A new reading drops those older than what is kept.
        assert!(store.record_sample(5 * b, "fifth", 2 * b).await.unwrap());
        assert_eq!(
            store
                .samples_since(0, 10)
                .await
                .unwrap()
                .iter()
                .map(|(at, _)| *at)
                .collect::<Vec<_>>(),
            [3 * b, 5 * b]
        );
    }
}

#[tokio::test]
async fn console_sessions_are_shared_touched_expired_and_closed() {
    use paybridge_engine::store::ConsoleSession;
    for db in backends().await {
        let store = db.open().await;
        let other = db.open().await;
        let session = |id: &str, seen: i64| ConsoleSession {
            id_hash: id.into(),
            token_id: "tok".into(),
            csrf: "csrf".into(),
            last_seen_ms: seen,
        };
        store.open_session(&session("a", 100), 0).await.unwrap();
        assert_eq!(other.session("a").await.unwrap(), Some(session("a", 100)));
        other.touch_session("a", 500).await.unwrap();
        assert_eq!(store.session("a").await.unwrap().unwrap().last_seen_ms, 500);
        // Opening one forgets those idle since before the cut.
        store.open_session(&session("old", 10), 0).await.unwrap();
        store.open_session(&session("b", 900), 400).await.unwrap();
        assert!(store.session("old").await.unwrap().is_none());
        assert!(store.session("a").await.unwrap().is_some());
        other.close_session("a").await.unwrap();
        assert!(store.session("a").await.unwrap().is_none());
        assert!(store.session("b").await.unwrap().is_some());
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
            .set_order_status(&order.id, OrderStatus::SyncFailed, None, 6)
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
