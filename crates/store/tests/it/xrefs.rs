//! Cross-references: the first value kept for a key wins.

use paybridge_store::XrefEntry;
use paybridge_store::XrefStore as _;
use paybridge_store::testing::backends;

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
