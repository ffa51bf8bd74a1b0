//! The console's readings and sessions, shared by every node.

use paybridge_store::AuthStore as _;
use paybridge_store::CoordinationStore as _;
use paybridge_store::testing::backends;

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
    use paybridge_store::ConsoleSession;
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
