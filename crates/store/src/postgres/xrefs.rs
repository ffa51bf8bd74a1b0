//! Cross-references: ids of one system kept against another's (an e-mail's Books contact). (postgres)

use super::PostgresStore;
use crate::error::StoreError;
use crate::xrefs::{XrefEntry, XrefStore};

impl XrefStore for PostgresStore {
    async fn xref(
        &self,
        system: &str,
        kind: &str,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT value FROM xrefs WHERE system = $1 AND kind = $2 AND external_key = $3",
        )
        .bind(system)
        .bind(kind)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn put_xrefs(
        &self,
        system: &str,
        entries: &[XrefEntry<'_>],
        now: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut tx = self.begin().await?;
        let mut held = Vec::with_capacity(entries.len());
        for entry in entries {
            sqlx::query(
                "INSERT INTO xrefs (system, kind, external_key, value, created_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (system, kind, external_key) DO NOTHING",
            )
            .bind(system)
            .bind(entry.kind)
            .bind(entry.key)
            .bind(entry.value)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            // This one, or the first writer's (read in a statement of its own, which sees a
            // concurrent writer's insert once committed).
            let value: String = sqlx::query_scalar(
                "SELECT value FROM xrefs WHERE system = $1 AND kind = $2 AND external_key = $3",
            )
            .bind(system)
            .bind(entry.kind)
            .bind(entry.key)
            .fetch_one(&mut *tx)
            .await?;
            held.push(value);
        }
        tx.commit().await?;
        Ok(held)
    }
}
