//! Leases shared by nodes: exclusive, renewable by their holder, expiring.

use paybridge_store::CoordinationStore as _;
use paybridge_store::testing::backends;

#[tokio::test]
async fn the_refresh_lease_is_held_by_one_node_until_released_or_expired() {
    for db in backends().await {
        let a = db.open().await;
        let b = db.open().await;
        let now = 1_000_000;
        assert!(
            a.try_lease("zoho-oauth:c:1", "node-a", now, 30_000)
                .await
                .unwrap()
        );
        assert!(
            !b.try_lease("zoho-oauth:c:1", "node-b", now + 1, 30_000)
                .await
                .unwrap()
        );
        assert!(
            a.try_lease("zoho-oauth:c:1", "node-a", now + 2, 30_000)
                .await
                .unwrap(),
            "renewable by its holder"
        );
        assert!(
            b.try_lease("zoho-oauth:c:2", "node-b", now, 30_000)
                .await
                .unwrap(),
            "other names are free"
        );
        // Released: the other node takes it.
        b.release_lease("zoho-oauth:c:1", "node-b").await.unwrap();
        assert!(
            !b.try_lease("zoho-oauth:c:1", "node-b", now + 3, 30_000)
                .await
                .unwrap(),
            "only the holder releases"
        );
        a.release_lease("zoho-oauth:c:1", "node-a").await.unwrap();
        assert!(
            b.try_lease("zoho-oauth:c:1", "node-b", now + 4, 30_000)
                .await
                .unwrap()
        );
        // Expired: a crashed holder blocks no one for longer than its lease.
        assert!(
            a.try_lease("zoho-oauth:c:1", "node-a", now + 30_004, 30_000)
                .await
                .unwrap()
        );
    }
}
