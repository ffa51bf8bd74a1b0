//! Runs and steps: ordering per entity, leases, retries, dead letters, attempts.

use crate::fixtures::{LEASE, failure, new_order, queued_run};
use paybridge_model::{FailureKind, OrderStatus};
use paybridge_store::InboxStore as _;
use paybridge_store::OrderStore as _;
use paybridge_store::RunStore as _;
use paybridge_store::testing::backends;
use paybridge_store::{
    Admission, NewRun, PaymentUpdate, RecordedStep, Retry, RunStatus, StepStart, StepStatus,
};
use std::time::Duration;

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
                    Retry {
                        at: 5_000,
                        throttled_ms: None
                    },
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
async fn a_run_may_be_queued_for_later() {
    for db in backends().await {
        let store = db.open().await;
        let Admission::Admitted { order, .. } =
            store.admit_order(&new_order("L1", "L1"), 0).await.unwrap()
        else {
            panic!("new")
        };
        let update = PaymentUpdate {
            from: OrderStatus::PendingPayment,
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

/// A run whose worker lost its lease stops at the next step boundary: the step is not begun,
/// its effect never called, and nothing is recorded under its key.
#[tokio::test]
async fn no_step_begins_once_the_runs_lease_is_lost() {
    for db in backends().await {
        let store = db.open().await;
        let clock = paybridge_store::Clock::new();
        let lease = paybridge_store::Lease::default();
        let steps = paybridge_store::Steps {
            store: &store,
            clock: &clock,
            run_id: None,
            observer: &(),
            lease: Some(&lease),
        };
        let called = std::sync::atomic::AtomicUsize::new(0);
        let effect = |_, _| async {
            called.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<_, paybridge_model::StepError>(serde_json::json!({"sent": true}))
        };
        let first: serde_json::Value = steps
            .step(
                "storefront.callback",
                "L:first",
                serde_json::json!({}),
                effect,
            )
            .await
            .unwrap();
        assert_eq!(first["sent"], true);
        lease.mark_lost();
        let second = steps
            .step(
                "storefront.callback",
                "L:second",
                serde_json::json!({}),
                effect,
            )
            .await;
        let error = second.unwrap_err();
        assert!(error.message.contains("lost the run's lease"), "{error}");
        assert_eq!(called.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(store.step("L:second").await.unwrap().is_none());
    }
}

/// Told to slow down is not a failure: a throttled retry does not count as an attempt, and its
/// wait adds up in the run's `throttled_ms`; a replay starts both again.
#[tokio::test]
async fn a_throttled_retry_spends_no_attempt_and_its_wait_is_counted() {
    for db in backends().await {
        let store = db.open().await;
        queued_run(&store, "T1", "customer:ada", 0).await;
        let run = store.claim_run("w", 0, LEASE).await.unwrap().unwrap();
        assert_eq!((run.attempt, run.throttled_ms), (1, 0));
        let mut at = 0;
        for _ in 0..12 {
            assert!(
                store
                    .retry_run(
                        run.id,
                        "w",
                        None,
                        Retry {
                            at: at + 60_000,
                            throttled_ms: Some(60_000)
                        },
                        &failure(FailureKind::Transient),
                        at
                    )
                    .await
                    .unwrap()
            );
            at += 60_000;
            let again = store.claim_run("w", at, LEASE).await.unwrap().unwrap();
            assert_eq!(again.attempt, 1, "being throttled spends no attempt");
        }
        let again = store.claim_run("w", at + 1, LEASE).await;
        assert!(again.unwrap().is_none(), "still running");
        // A real failure counts.
        assert!(
            store
                .retry_run(
                    run.id,
                    "w",
                    None,
                    Retry {
                        at: at + 1,
                        throttled_ms: None
                    },
                    &failure(FailureKind::Transient),
                    at
                )
                .await
                .unwrap()
        );
        let failed = store.claim_run("w", at + 1, LEASE).await.unwrap().unwrap();
        assert_eq!((failed.attempt, failed.throttled_ms), (2, 12 * 60_000));
        assert!(
            store
                .dead_letter_run(
                    failed.id,
                    "w",
                    None,
                    &failure(FailureKind::Permanent),
                    None,
                    at + 2
                )
                .await
                .unwrap()
        );
        assert!(store.requeue_run(failed.id, at + 3).await.unwrap());
        let replayed = store.claim_run("w", at + 3, LEASE).await.unwrap().unwrap();
        assert_eq!((replayed.attempt, replayed.throttled_ms), (1, 0));
    }
}

/// A lane of workers takes only its flows' runs, whatever else is due before them.
#[tokio::test]
async fn a_lane_claims_only_its_flows() {
    use paybridge_store::{InboxStore as _, NewEvent};
    for db in backends().await {
        let store = db.open().await;
        for (n, flow) in ["order-to-cash", "order-to-cash", "payment-resolution"]
            .into_iter()
            .enumerate()
        {
            store
                .accept_event(
                    &NewEvent {
                        source: "test".into(),
                        dedupe_key: format!("lane:{n}"),
                        event_type: "test".into(),
                        entity_key: format!("order:L{n}"),
                        payload: serde_json::json!({}),
                    },
                    &[flow],
                    n as i64,
                )
                .await
                .unwrap();
        }
        let lane: &[&str] = &["payment-resolution", "cybersource-event"];
        let first = store
            .claim_run_of("p0", 10, LEASE, Some(lane))
            .await
            .unwrap()
            .expect("the lane's run, though two others are due before it");
        assert_eq!(first.flow, "payment-resolution");
        assert!(
            store
                .claim_run_of("p1", 10, LEASE, Some(lane))
                .await
                .unwrap()
                .is_none()
        );
        let other = store.claim_run("w0", 10, LEASE).await.unwrap().unwrap();
        assert_eq!(other.flow, "order-to-cash");
    }
}
