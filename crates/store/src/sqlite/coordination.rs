//! What nodes share: leases, vendor quotas, the shared Zoho access token, and the console's readings (one node takes each minute). (sqlite)

use super::{SqliteStore, all, atomic, execute, scalar};
use crate::coordination::CoordinationStore;
use crate::error::StoreError;
use crate::rows::{bucket_size, quota_wait};
use rusqlite::{Connection, params};

impl CoordinationStore for SqliteStore {
    async fn record_sample(
        &self,
        at_ms: i64,
        sample: &str,
        keep_after_ms: i64,
    ) -> Result<bool, StoreError> {
        let sample = sample.to_owned();
        self.write(move |conn| {
            atomic(conn, |conn| {
                let inserted = execute(
                    conn,
                    "INSERT OR IGNORE INTO overview_samples (at_ms, sample) VALUES (?, ?)",
                    params![at_ms, sample],
                )? > 0;
                if inserted {
                    execute(
                        conn,
                        "DELETE FROM overview_samples WHERE at_ms < ?",
                        [keep_after_ms],
                    )?;
                }
                Ok(inserted)
            })
        })
        .await
    }

    async fn samples_since(
        &self,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        self.scan(move |conn| {
            all(
                conn,
                "SELECT at_ms, sample FROM overview_samples WHERE at_ms >= ? ORDER BY at_ms LIMIT ?",
                params![since_ms, i64::from(limit)],
                |row| Ok((row.get("at_ms")?, row.get("sample")?)),
            )
        })
        .await
    }

    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.write(move |conn| {
            Ok(execute(
                conn,
                "INSERT INTO leases (name, holder, until_ms) VALUES (?, ?, ?)
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms
                 WHERE leases.until_ms <= ? OR leases.holder = excluded.holder",
                params![name, holder, now.saturating_add(ttl_ms), now],
            )? == 1)
        })
        .await
    }

    async fn shared_token(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|conn| {
            scalar(
                conn,
                "SELECT sealed FROM shared_tokens WHERE name = ?",
                [name],
            )
        })
    }

    async fn share_token(&self, name: &str, sealed: &[u8], now: i64) -> Result<(), StoreError> {
        let (name, sealed) = (name.to_owned(), sealed.to_vec());
        self.write(move |conn| {
            execute(
                conn,
                "INSERT INTO shared_tokens (name, sealed, updated_ms) VALUES (?, ?, ?)
                 ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed, updated_ms = excluded.updated_ms",
                params![name, sealed, now],
            )?;
            Ok(())
        })
        .await
    }

    async fn leases_held(&self, prefix: &str, now: i64) -> Result<Vec<String>, StoreError> {
        self.read(|conn| {
            all(
                conn,
                "SELECT name FROM leases WHERE substr(name, 1, length(?1)) = ?1 AND until_ms > ?2",
                params![prefix, now],
                |row| Ok(row.get(0)?),
            )
        })
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.write(move |conn| {
            execute(
                conn,
                "DELETE FROM leases WHERE name = ? AND holder = ?",
                params![name, holder],
            )?;
            Ok(())
        })
        .await
    }

    async fn quota_take(
        &self,
        key: &str,
        windows: &[(u64, i64)],
        cost: u64,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        let (key, windows) = (key.to_owned(), windows.to_vec());
        self.write(move |conn| atomic(conn, |conn| quota_take(conn, &key, &windows, cost, now)))
            .await
    }

    async fn quota_used(
        &self,
        key: &str,
        windows: &[i64],
        now: i64,
    ) -> Result<Vec<u64>, StoreError> {
        self.read(|conn| {
            windows
                .iter()
                .map(|window| {
                    let sum: Option<i64> = scalar(
                        conn,
                        "SELECT COALESCE(SUM(cost), 0) FROM quota_buckets
                         WHERE key = ? AND window_ms = ? AND bucket_ms > ?",
                        params![key, window, now - window - bucket_size(*window)],
                    )?;
                    Ok(u64::try_from(sum.unwrap_or(0)).unwrap_or(0))
                })
                .collect()
        })
    }

    async fn quota_pause(&self, key: &str, until_ms: i64) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.write(move |conn| {
            execute(
                conn,
                "INSERT INTO quota_pauses (key, until_ms) VALUES (?, ?)
                 ON CONFLICT (key) DO UPDATE SET until_ms = MAX(until_ms, excluded.until_ms)",
                params![key, until_ms],
            )?;
            Ok(())
        })
        .await
    }
}

fn quota_take(
    conn: &Connection,
    key: &str,
    windows: &[(u64, i64)],
    cost: u64,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let paused: Option<i64> = scalar(
        conn,
        "SELECT until_ms FROM quota_pauses WHERE key = ? AND until_ms > ?",
        params![key, now],
    )?;
    if let Some(until) = paused {
        return Ok(Some(until - now));
    }
    let cost_i = i64::try_from(cost).unwrap_or(i64::MAX);
    let mut wait = 0i64;
    for (limit, window) in windows {
        let bucket = bucket_size(*window);
        let limit = i64::try_from(*limit).unwrap_or(i64::MAX);
        // Buckets that started before this are wholly out of the window.
        let oldest = now - window - bucket;
        execute(
            conn,
            "DELETE FROM quota_buckets WHERE key = ? AND window_ms = ? AND bucket_ms <= ?",
            params![key, window, oldest],
        )?;
        let buckets: Vec<(i64, i64)> = all(
            conn,
            "SELECT bucket_ms, cost FROM quota_buckets WHERE key = ? AND window_ms = ?
             ORDER BY bucket_ms",
            params![key, window],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        wait = wait.max(quota_wait(&buckets, limit, cost_i, *window, bucket, now));
    }
    if wait > 0 {
        return Ok(Some(wait));
    }
    for (_, window) in windows {
        let bucket = bucket_size(*window);
        execute(
            conn,
            "INSERT INTO quota_buckets (key, window_ms, bucket_ms, cost) VALUES (?, ?, ?, ?)
             ON CONFLICT (key, window_ms, bucket_ms) DO UPDATE SET cost = cost + excluded.cost",
            params![key, window, now - now.rem_euclid(bucket), cost_i],
        )?;
    }
    Ok(None)
}
