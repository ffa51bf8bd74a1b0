//! Cross-references: ids of one system kept against another's (an e-mail's Books contact).

use std::future::Future;

use crate::error::StoreError;

/// A cross-reference to keep: `key` (of `kind`) → `value`.
#[derive(Debug, Clone, Copy)]
pub struct XrefEntry<'a> {
    pub kind: &'a str,
    pub key: &'a str,
    pub value: &'a str,
}

/// Cross-references: ids of one system kept against another's (an e-mail's Books contact).
pub trait XrefStore: Sync {
    fn xref(
        &self,
        system: &str,
        kind: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Records a cross-reference; the first value recorded for a key wins and is returned.
    fn put_xref(
        &self,
        system: &str,
        kind: &str,
        key: &str,
        value: &str,
        now: i64,
    ) -> impl Future<Output = Result<String, StoreError>> + Send {
        async move {
            let mut held = self
                .put_xrefs(system, &[XrefEntry { kind, key, value }], now)
                .await?;
            held.pop()
                .ok_or_else(|| StoreError::Corrupt(format!("xref {system}/{kind}/{key} vanished")))
        }
    }

    /// [`XrefStore::put_xref`] for several entries of `system` in one write: the value each key
    /// holds afterwards, in their order.
    fn put_xrefs(
        &self,
        system: &str,
        entries: &[XrefEntry<'_>],
        now: i64,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
}
