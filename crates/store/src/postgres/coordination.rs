//! What nodes share: leases, vendor quotas, the shared Zoho access token, and the console's readings (one node takes each minute). (postgres)
use sqlx::Row as _;

use super::PostgresStore;
use crate::coordination::CoordinationStore;
use crate::error::StoreError;
use crate::rows::{bucket_size, quota_wait};

impl CoordinationStore for PostgresStore {
    async fn record_sample(
        &self,
        at_ms: i64,
        sample: &str,
        keep_after_ms: i64,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO overview_samples (at_ms, sample) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(at_ms)
        .bind(sample)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0;
        if inserted {
            sqlx::query("DELETE FROM overview_samples WHERE at_ms < $1")
                .bind(keep_after_ms)
                .execute(&self.pool)
                .await?;
        }
        Ok(inserted)
    }

    async fn samples_since(
        &self,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT at_ms, sample FROM overview_samples WHERE at_ms >= $1 ORDER BY at_ms LIMIT $2",
        )
        .bind(since_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("at_ms")?, row.try_get("sample")?)))
            .collect()
    }

    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO leases (name, holder, until_ms) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms
             WHERE leases.until_ms <= $4 OR leases.holder = excluded.holder",
        )
        .bind(name)
        .bind(holder)
        .bind(now.saturating_add(ttl_ms))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn shared_token(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT sealed FROM shared_tokens WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn share_token(&self, name: &str, sealed: &[u8], now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO shared_tokens (name, sealed, updated_ms) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed, updated_ms = excluded.updated_ms",
        )
        .bind(name)
        .bind(sealed)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn leases_held(&self, prefix: &str, now: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT name FROM leases WHERE starts_with(name, $1) AND until_ms > $2",
        )
        .bind(prefix)
        .bind(now)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn quota_take(
        &self,
        key: &str,
        windows: &[(u64, i64)],
        cost: u64,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.begin().await?;
        // Every node spends from one window: one spender at a time per key.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('quota:' || $1))")
            .bind(key)
            .execute(&mut *tx)
            .await?;
        let paused: Option<i64> = sqlx::query_scalar(
            "SELECT until_ms FROM quota_pauses WHERE key = $1 AND until_ms > $2",
        )
        .bind(key)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(until) = paused {
            tx.commit().await?;
            return Ok(Some(until - now));
        }
        let cost_i = i64::try_from(cost).unwrap_or(i64::MAX);
        let mut wait = 0i64;
        for (limit, window) in windows {
            let bucket = bucket_size(*window);
            let limit = i64::try_from(*limit).unwrap_or(i64::MAX);
            // Buckets that started before this are wholly out of the window.
            let oldest = now - window - bucket;
            sqlx::query(
                "DELETE FROM quota_buckets WHERE key = $1 AND window_ms = $2 AND bucket_ms <= $3",
            )
            .bind(key)
            .bind(window)
            .bind(oldest)
            .execute(&mut *tx)
            .await?;
            let buckets: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT bucket_ms, cost FROM quota_buckets WHERE key = $1 AND window_ms = $2
                 ORDER BY bucket_ms",
            )
            .bind(key)
            .bind(window)
            .fetch_all(&mut *tx)
            .await?;
            wait = wait.max(quota_wait(&buckets, limit, cost_i, *window, bucket, now));
        }
        if wait > 0 {
            tx.commit().await?;
            return Ok(Some(wait));
        }
        for (_, window) in windows {
            let bucket = bucket_size(*window);
            sqlx::query(
                "INSERT INTO quota_buckets (key, window_ms, bucket_ms, cost) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (key, window_ms, bucket_ms) DO UPDATE SET cost = quota_buckets.cost + excluded.cost",
            )
            .bind(key)
            .bind(window)
            .bind(now - now.rem_euclid(bucket))
            .bind(cost_i)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(None)
    }

    async fn quota_used(
        &self,
        key: &str,
        windows: &[i64],
        now: i64,
    ) -> Result<Vec<u64>, StoreError> {
        let mut used = Vec::with_capacity(windows.len());
        for window in windows {
            let sum: i64 = sqlx::query_scalar(
                "SELECT COALESCE(SUM(cost), 0)::BIGINT FROM quota_buckets
                 WHERE key = $1 AND window_ms = $2 AND bucket_ms > $3",
            )
            .bind(key)
            .bind(window)
            .bind(now - window - bucket_size(*window))
            .fetch_one(&self.pool)
            .await?;
            used.push(u64::try_from(sum).unwrap_or(0));
        }
        Ok(used)
    }

    async fn quota_pause(&self, key: &str, until_ms: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO quota_pauses (key, until_ms) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET until_ms = GREATEST(quota_pauses.until_ms, excluded.until_ms)",
        )
        .bind(key)
        .bind(until_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
