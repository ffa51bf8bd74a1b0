//! Cross-references: ids of one system kept against another's (an e-mail's Books contact). (sqlite)

use super::{SqliteStore, execute, scalar};
use crate::error::StoreError;
use crate::xrefs::{XrefEntry, XrefStore};
use rusqlite::params;

impl XrefStore for SqliteStore {
    async fn xref(
        &self,
        system: &str,
        kind: &str,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        let key = [system, kind, key].map(str::to_owned);
        self.read_hot(move |conn| scalar(conn, XREF_SELECT, key))
            .await
    }

    async fn put_xrefs(
        &self,
        system: &str,
        entries: &[XrefEntry<'_>],
        now: i64,
    ) -> Result<Vec<String>, StoreError> {
        let system = system.to_owned();
        let entries: Vec<[String; 3]> = entries
            .iter()
            .map(|e| [e.kind, e.key, e.value].map(str::to_owned))
            .collect();
        self.write(move |conn| {
            let mut held = Vec::with_capacity(entries.len());
            for [kind, key, value] in &entries {
                execute(
                    conn,
                    "INSERT INTO xrefs (system, kind, external_key, value, created_at) VALUES (?, ?, ?, ?, ?)
                     ON CONFLICT (system, kind, external_key) DO NOTHING",
                    params![system, kind, key, value, now],
                )?;
                held.push(scalar(conn, XREF_SELECT, [&system, kind, key])?.ok_or_else(|| {
                    StoreError::Corrupt(format!("xref {system}/{kind}/{key} vanished"))
                })?);
            }
            Ok(held)
        })
        .await
    }
}

const XREF_SELECT: &str =
    "SELECT value FROM xrefs WHERE system = ? AND kind = ? AND external_key = ?";
