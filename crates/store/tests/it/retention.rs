//! Retention: old and surplus history pruned, dead letters kept, the file shrunk.

use crate::fixtures::{LEASE, failure, queued_run};
use paybridge_model::FailureKind;
use paybridge_store::OrderStore as _;
use paybridge_store::RunStore as _;
use paybridge_store::testing::backends;
use paybridge_store::{RunStatus, Store};

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
    use paybridge_store::{PruneCutoffs, RunFilter};

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
                seen_before_ms: now - 400 * day,
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
                seen_before_ms: now - 400 * day,
            })
            .await
            .unwrap();
        assert_eq!((again.runs, again.steps), (0, 0));
    }
}

/// A webhook delivery pruned with its history is still known when it comes again (a replay, a
/// vendor's late retry): its key outlives its event, until the keys' own horizon.
#[tokio::test]
async fn a_pruned_deliverys_key_still_refuses_it_as_a_duplicate() {
    use paybridge_store::{InboxStore as _, NewEvent, PruneCutoffs};

    for db in backends().await {
        let store = db.open().await;
        let day = 86_400_000;
        let now = 100 * day;
        let delivery = NewEvent {
            source: "zoho-webhook".into(),
            dedupe_key: "zoho-books:creditnote:abc".into(),
            event_type: "books.creditnote".into(),
            entity_key: "zoho-books:creditnote:1".into(),
            payload: serde_json::json!({"creditnote": {"creditnote_id": "1"}}),
        };
        let first = store
            .accept_event(&delivery, &[], now - 40 * day)
            .await
            .unwrap();
        assert!(!first.duplicate);
        let report = store
            .prune(&PruneCutoffs {
                now_ms: now,
                finished_before_ms: now - 30 * day,
                keep_runs: 8,
                seen_before_ms: now - 400 * day,
            })
            .await
            .unwrap();
        assert_eq!(report.inbox_events, 1, "the event itself goes");
        let again = store
            .accept_event(&delivery, &["refund-from-books"], now)
            .await
            .unwrap();
        assert!(again.duplicate, "known still: {again:?}");
        assert_eq!(again.event_id, None);
        assert!(store.claim_run("w", now, LEASE).await.unwrap().is_none());
        // Past the keys' horizon it is new again (and stale by any vendor's window).
        store
            .prune(&PruneCutoffs {
                now_ms: now + 500 * day,
                finished_before_ms: now + 470 * day,
                keep_runs: 8,
                seen_before_ms: now + 100 * day,
            })
            .await
            .unwrap();
        let later = store
            .accept_event(&delivery, &[], now + 500 * day)
            .await
            .unwrap();
        assert!(!later.duplicate);
    }
}
