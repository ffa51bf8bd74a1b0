//! The PostgreSQL backend, for any number of `paybridge serve` nodes on one database: the same
//! contract as the SQLite store (one conformance suite runs on both), with runs claimed
//! `FOR UPDATE SKIP LOCKED`, workers woken by `LISTEN/NOTIFY` when runs are queued, and
//! read-modify-write sections (admitting an order, spending a quota) serialized per key by
//! transaction-scoped advisory locks.

mod auth;
mod coordination;
mod flows;
mod inbox;
mod orders;
mod runs;
mod xrefs;

use crate::error::StoreError;
use crate::runs::NewRun;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use std::str::FromStr as _;
use std::time::Duration;

/// Schema versions, applied in order, each once.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../sql/postgres/v1.sql")),
    (2, include_str!("../../sql/postgres/v2.sql")),
    (3, include_str!("../../sql/postgres/v3.sql")),
    (4, include_str!("../../sql/postgres/v4.sql")),
    (5, include_str!("../../sql/postgres/v5.sql")),
    (6, include_str!("../../sql/postgres/v6.sql")),
    (7, include_str!("../../sql/postgres/v7.sql")),
    (8, include_str!("../../sql/postgres/v8.sql")),
    (9, include_str!("../../sql/postgres/v9.sql")),
    (10, include_str!("../../sql/postgres/v10.sql")),
    (11, include_str!("../../sql/postgres/v11.sql")),
];

/// The channel runs are announced on.
const WAKE_CHANNEL: &str = "paybridge_runs";

/// Serializes migrations between nodes starting together.
const MIGRATION_LOCK: i64 = 0x7061_7962_7269_6467;

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// `host:port/database[?schema]`, never the password.
    label: String,
}

async fn insert_run(
    tx: &mut Transaction<'static, Postgres>,
    run: &NewRun,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO runs (inbox_id, flow, entity_key, status, attempt, next_attempt_at, created_at, updated_at)
         VALUES ($1, $2, $3, 'queued', 0, $5, $4, $4)
         ON CONFLICT (inbox_id, flow) DO UPDATE
            SET status = 'queued', attempt = 0, next_attempt_at = excluded.next_attempt_at,
                lease_owner = NULL, lease_expires_at = NULL, finished_at = NULL,
                updated_at = excluded.updated_at
          WHERE runs.status = 'succeeded'",
    )
    .bind(run.inbox_id)
    .bind(&run.flow)
    .bind(&run.entity_key)
    .bind(now)
    .bind(run.not_before.unwrap_or(now).max(now))
    .execute(&mut **tx)
    .await?;
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(WAKE_CHANNEL)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The statement that records a step as succeeded with `output` (and the `input` it was
/// asked, if any), unless its key is taken.
fn record_step_query<'q>(
    run_id: Option<i64>,
    key: &'q str,
    name: &'q str,
    input: Option<&serde_json::Value>,
    output: &serde_json::Value,
    now: i64,
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    sqlx::query(
        "INSERT INTO steps (idempotency_key, run_id, name, status, attempts, input, output, started_at, finished_at)
         VALUES ($1, $2, $3, 'succeeded', 1, $4, $5, $6, $6)
         ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(key)
    .bind(run_id)
    .bind(name)
    .bind(input.map(serde_json::Value::to_string))
    .bind(output.to_string())
    .bind(now)
}

impl PostgresStore {
    /// Connects to `url` (and works in `schema` when given: tests and side-by-side installs),
    /// and brings the schema up to date.
    pub async fn open(url: &str, schema: Option<&str>) -> Result<PostgresStore, StoreError> {
        let mut options = PgConnectOptions::from_str(url)?;
        if let Some(schema) = schema {
            if !schema
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return Err(StoreError::Corrupt(format!("bad schema name {schema:?}")));
            }
            options = options.options([("search_path", schema)]);
        }
        let label = format!(
            "{}:{}/{}{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("postgres"),
            schema.map(|s| format!("?schema={s}")).unwrap_or_default()
        );
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        if let Some(schema) = schema {
            let mut tx = pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(MIGRATION_LOCK)
                .execute(&mut *tx)
                .await?;
            // The name was checked above: letters, digits and underscores only.
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS {schema}"
            )))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        }
        let store = PostgresStore { pool, label };
        store.migrate().await?;
        Ok(store)
    }

    pub fn location(&self) -> String {
        format!("postgres:{}", self.label)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        Ok(self.pool.begin().await?)
    }

    /// Calls `wake` whenever any node queues a run (`NOTIFY`), until the pool closes. Returns
    /// once listening, so nothing queued after it is missed.
    pub async fn listen(
        &self,
        wake: impl Fn() + Send + 'static,
    ) -> Result<tokio::task::JoinHandle<()>, StoreError> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(WAKE_CHANNEL).await?;
        let pool = self.pool.clone();
        Ok(tokio::spawn(async move {
            loop {
                match listener.try_recv().await {
                    Ok(Some(_)) => wake(),
                    // The connection dropped: notifications may have been missed.
                    Ok(None) => wake(),
                    Err(e) => {
                        if pool.is_closed() {
                            return;
                        }
                        tracing::warn!(error = %e, "lost the PostgreSQL notification channel; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                if pool.is_closed() {
                    return;
                }
            }
        }))
    }

    /// Applies what is missing, one node at a time (the others wait on an advisory lock).
    async fn migrate(&self) -> Result<(), StoreError> {
        for (version, sql) in MIGRATIONS {
            let mut tx = self.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(MIGRATION_LOCK)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
            )
            .execute(&mut *tx)
            .await?;
            let applied: Option<i64> =
                sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                    .bind(version)
                    .fetch_optional(&mut *tx)
                    .await?;
            if applied.is_none() {
                sqlx::raw_sql(*sql).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, (extract(epoch from now()) * 1000)::BIGINT)")
                    .bind(version)
                    .execute(&mut *tx)
                    .await?;
                tracing::info!(version, "store schema migrated");
            }
            tx.commit().await?;
        }
        Ok(())
    }
}
