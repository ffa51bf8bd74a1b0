//! The embedded SQLite backend (WAL). Read-modify-write transactions begin `IMMEDIATE` so that
//! concurrent writers queue on the busy timeout instead of failing on a lock upgrade.

use std::path::{Path, PathBuf};
use std::time::Duration;

use paybridge_model::OrderStatus;
use sqlx::sqlite::SqliteConnection;
use sqlx::sqlite::{SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection as _, Row, Sqlite, Transaction};

use super::rows::{
    TokenRow, bucket_size, claim_returning, claimed_from_row, count, deployment_from_row,
    flow_version_from_row, millis, order_columns, order_from_row, refund_columns, refund_from_row,
    run_columns, run_from_row, sealed_from_row, step_columns, step_from_row, step_start_from_row,
    token_record,
};
use super::{
    Accepted, Admission, ClaimedRun, ConnectionRecord, ConsoleSession, Counts, DeploymentRecord,
    FailureRecord, FlowVersionRecord, InboxEvent, NewEvent, NewOrder, NewRefund, NewRun,
    OrderRecord, PaymentUpdate, PruneCutoffs, PruneReport, RefundAdmission, RefundOutcome,
    RefundRecord, RefundStatus, RunFilter, RunRecord, RunStatus, SealedSecret, StepRecord,
    StepStart, StoreError, TokenRecord,
};

/// Schema versions, applied in order, each once.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("schema_v1.sql")),
    (2, include_str!("schema_v2.sql")),
    (3, include_str!("schema_v3.sql")),
    (4, include_str!("schema_v4.sql")),
    (5, include_str!("schema_v5.sql")),
    (6, include_str!("schema_v6.sql")),
    (7, include_str!("schema_v7.sql")),
    (8, include_str!("schema_v8.sql")),
];

/// The one connection that writes. Connections are used directly rather than through sqlx's
/// pool, which pings a connection's thread each time one is given back (and, by default, each
/// time one is taken): a round trip per query, and with a single writer every such round trip
/// would hold up every other write.
type Writer = std::sync::Arc<tokio::sync::Mutex<SqliteConnection>>;

/// How many connections read (WAL: readers never wait for the writer, nor it for them).
const READERS: usize = 4;

/// The reader connections, taken in turn.
#[derive(Debug)]
struct Readers {
    connections: Vec<tokio::sync::Mutex<SqliteConnection>>,
    next: std::sync::atomic::AtomicUsize,
}

/// Begins a write transaction that takes SQLite's write lock at once.
async fn begin(conn: &mut SqliteConnection) -> Result<Transaction<'_, Sqlite>, StoreError> {
    Ok(conn.begin_with("BEGIN IMMEDIATE").await?)
}

/// A write for the writer task: its statements, run in the current group's transaction; what it
/// returns is delivered once that transaction is committed (or its commit failed).
type Job = Box<
    dyn for<'c> FnOnce(&'c mut SqliteConnection) -> futures::future::BoxFuture<'c, Deliver> + Send,
>;
/// Hands a job's result to its caller: `None` once committed, else why the commit failed.
type Deliver = Box<dyn FnOnce(Option<&str>) + Send>;

/// The most writes one group transaction takes.
const WRITE_GROUP: usize = 256;

/// Group commit for writes that must be committed before their caller goes on: whatever has
/// queued while the previous group was being written goes in one transaction, each job back to
/// back on the one writer connection, and one commit (inbox events included). A job that must
/// be all or nothing on its own begins a savepoint (`Connection::begin` inside the group's
/// transaction).
async fn write_groups(writer: Writer, mut jobs: tokio::sync::mpsc::Receiver<Job>) {
    let mut group = Vec::with_capacity(WRITE_GROUP);
    while jobs.recv_many(&mut group, WRITE_GROUP).await > 0 {
        let mut conn = writer.lock().await;
        let mut delivers = Vec::with_capacity(group.len());
        let committed = match begin(&mut conn).await {
            Ok(mut tx) => {
                for job in group.drain(..) {
                    delivers.push(job(&mut tx).await);
                }
                tx.commit().await.map_err(|e| e.to_string())
            }
            // The jobs are dropped unrun: their callers hear that nothing was written.
            Err(e) => {
                tracing::error!(error = %e, "cannot begin a write transaction");
                group.clear();
                continue;
            }
        };
        drop(conn);
        let failure = committed.err();
        for deliver in delivers {
            deliver(failure.as_deref());
        }
    }
}

#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Readers (WAL: they never wait for the writer).
    readers: std::sync::Arc<Readers>,
    /// The one connection that writes: writers queue here, in order, instead of contending
    /// for SQLite's lock and sleeping in its busy handler.
    writer: Writer,
    /// Writes for the writer task (group commit).
    writes: tokio::sync::mpsc::Sender<Job>,
    path: PathBuf,
}

impl SqliteStore {
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true)
            // Pages freed by retention go back to the file system (see `prune`).
            .auto_vacuum(SqliteAutoVacuum::Incremental)
            // Checkpoint the WAL every ~40 MB rather than SQLite's ~4 MB: each checkpoint copies
            // pages back and syncs the file while the writer waits, and a hot page written many
            // times in between is copied once.
            .pragma("wal_autocheckpoint", "10000");
        let writer: Writer = std::sync::Arc::new(tokio::sync::Mutex::new(
            SqliteConnection::connect_with(&options).await?,
        ));
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            readers.push(tokio::sync::Mutex::new(
                SqliteConnection::connect_with(&options).await?,
            ));
        }
        let readers = std::sync::Arc::new(Readers {
            connections: readers,
            next: std::sync::atomic::AtomicUsize::new(0),
        });
        let (writes, written) = tokio::sync::mpsc::channel(4 * WRITE_GROUP);
        tokio::spawn(write_groups(writer.clone(), written));
        let store = SqliteStore {
            readers,
            writer,
            writes,
            path: path.to_path_buf(),
        };
        store.migrate().await?;
        store.ensure_incremental_vacuum().await?;
        Ok(store)
    }

    /// Runs `op` on the writer connection in the current group transaction (see
    /// [`write_groups`]) and returns its result once that is committed.
    async fn write<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(
                &'c mut SqliteConnection,
            ) -> futures::future::BoxFuture<'c, Result<T, StoreError>>
            + Send
            + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            Box::pin(async move {
                let result = op(conn).await;
                let deliver: Deliver = Box::new(move |failure: Option<&str>| {
                    let _ = answer.send(match failure {
                        None => result,
                        Some(e) => {
                            Err(StoreError::Corrupt(format!("cannot commit the write: {e}")))
                        }
                    });
                });
                deliver
            })
        });
        self.writes
            .send(job)
            .await
            .map_err(|_| StoreError::Corrupt("the store is closed".into()))?;
        answered
            .await
            .map_err(|_| StoreError::Corrupt("the write was not committed".into()))?
    }

    pub fn location(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    pub async fn close(&self) {
        // The connections close when the last clone of the store (and its tasks) is gone;
        // until then, writes already queued are still committed.
    }

    /// A reader connection: a free one if there is one, else the next in turn.
    async fn reader(&self) -> tokio::sync::MutexGuard<'_, SqliteConnection> {
        let all = &self.readers.connections;
        let first = self
            .readers
            .next
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for i in 0..all.len() {
            if let Ok(free) = all[(first + i) % all.len()].try_lock() {
                return free;
            }
        }
        all[first % all.len()].lock().await
    }

    /// A file made before auto-vacuum was set keeps its old mode until a full `VACUUM`: run it
    /// once, so that from then on pruning shrinks the file.
    async fn ensure_incremental_vacuum(&self) -> Result<(), StoreError> {
        let mode: i64 = sqlx::query_scalar("PRAGMA auto_vacuum")
            .fetch_one(&mut *self.reader().await)
            .await?;
        if mode != 2 {
            let mut conn = self.writer.lock().await;
            sqlx::query("PRAGMA auto_vacuum = INCREMENTAL")
                .execute(&mut *conn)
                .await?;
            sqlx::query("VACUUM").execute(&mut *conn).await?;
            tracing::info!(path = %self.path.display(), "store switched to incremental vacuum");
        }
        Ok(())
    }

    /// Deletes history the retention policy no longer keeps, then gives the freed pages back
    /// to the file system. Dead letters stay until they are replayed or discarded; orders stay.
    pub async fn prune(&self, cutoffs: &PruneCutoffs) -> Result<PruneReport, StoreError> {
        const BATCH: i64 = 5_000;
        let mut report = PruneReport::default();
        // Finished runs past their age, or beyond the newest `keep_runs`.
        let oldest_kept: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM runs WHERE status IN ('succeeded', 'discarded') ORDER BY id DESC LIMIT 1 OFFSET ?",
        )
        .bind(i64::try_from(cutoffs.keep_runs).unwrap_or(i64::MAX))
        .fetch_optional(&mut *self.reader().await)
        .await?;
        let below_id = oldest_kept.map_or(0, |id| id + 1);
        loop {
            let mut writer = self.writer.lock().await;
            let mut tx = begin(&mut writer).await?;
            let ids: Vec<i64> = sqlx::query_scalar(
                "SELECT id FROM runs WHERE status IN ('succeeded', 'discarded')
                   AND (updated_at < ?1 OR id < ?2) LIMIT ?3",
            )
            .bind(cutoffs.finished_before_ms)
            .bind(below_id)
            .bind(BATCH)
            .fetch_all(&mut *tx)
            .await?;
            if ids.is_empty() {
                break;
            }
            let list = serde_json::to_string(&ids).expect("ids serialize");
            report.steps +=
                sqlx::query("DELETE FROM steps WHERE run_id IN (SELECT value FROM json_each(?))")
                    .bind(&list)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            report.runs +=
                sqlx::query("DELETE FROM runs WHERE id IN (SELECT value FROM json_each(?))")
                    .bind(&list)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            tx.commit().await?;
        }
        // Events nothing refers to any more.
        report.inbox_events = sqlx::query(
            "DELETE FROM inbox WHERE received_at < ?1
                AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.inbox_id = inbox.id)
                AND NOT EXISTS (SELECT 1 FROM orders WHERE orders.inbox_id = inbox.id)",
        )
        .bind(cutoffs.finished_before_ms)
        .execute(&mut *self.writer.lock().await)
        .await?
        .rows_affected();
        // Leases a day past their end (quota buckets are trimmed as they are spent).
        sqlx::query("DELETE FROM leases WHERE until_ms < ?")
            .bind(cutoffs.now_ms - 86_400_000)
            .execute(&mut *self.writer.lock().await)
            .await?;
        let mut conn = self.writer.lock().await;
        let free_before: i64 = sqlx::query_scalar("PRAGMA freelist_count")
            .fetch_one(&mut *conn)
            .await?;
        sqlx::query("PRAGMA incremental_vacuum")
            .execute(&mut *conn)
            .await?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut *conn)
            .await?;
        let free_after: i64 = sqlx::query_scalar("PRAGMA freelist_count")
            .fetch_one(&mut *conn)
            .await?;
        let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(&mut *conn)
            .await?;
        report.bytes_freed =
            u64::try_from((free_before - free_after).max(0) * page_size).unwrap_or(0);
        Ok(report)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
        )
        .execute(&mut *self.writer.lock().await)
        .await?;
        for (version, sql) in MIGRATIONS {
            let mut writer = self.writer.lock().await;
            let mut tx = begin(&mut writer).await?;
            let applied: Option<i64> =
                sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = ?")
                    .bind(version)
                    .fetch_optional(&mut *tx)
                    .await?;
            if applied.is_none() {
                sqlx::raw_sql(*sql).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (?, strftime('%s','now') * 1000)")
                    .bind(version)
                    .execute(&mut *tx)
                    .await?;
                tracing::info!(version, "store schema migrated");
            }
            tx.commit().await?;
        }
        Ok(())
    }

    pub async fn admit_order(&self, order: &NewOrder, now: i64) -> Result<Admission, StoreError> {
        let order = order.clone();
        self.write(move |conn| {
            Box::pin(async move {
                let order = &order;
                let mut tx = conn.begin().await?;
                if let Some(existing) = sqlx::query(ORDER_SELECT_BY_KEY)
                    .bind(&order.idempotency_key)
                    .fetch_optional(&mut *tx)
                    .await?
                {
                    tx.commit().await?;
                    return Ok(Admission::Existing(order_from_row(&existing)?));
                }
                let inbox_id = insert_event(&mut tx, &order.event, now).await?;
                // A reference already taken fails the insert (UNIQUE): nothing of this admission stays.
                let inserted = sqlx::query(concat!(
                    "INSERT INTO orders (id, reference, idempotency_key, request_fingerprint, inbox_id, status, currency,
                                         amount_minor, customer_email, card_brand, card_last4, created_at, updated_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ",
                    order_columns!()
                ))
                .bind(&order.id)
                .bind(&order.reference)
                .bind(&order.idempotency_key)
                .bind(&order.request_fingerprint)
                .bind(inbox_id)
                .bind(OrderStatus::PendingPayment.as_str())
                .bind(&order.currency)
                .bind(order.amount_minor)
                .bind(&order.customer_email)
                .bind(&order.card_brand)
                .bind(&order.card_last4)
                .bind(now)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| match e.as_database_error() {
                    Some(db) if db.is_unique_violation() => StoreError::ReferenceTaken {
                        reference: order.reference.clone(),
                    },
                    _ => StoreError::from(e),
                })?;
                let record = order_from_row(&inserted)?;
                tx.commit().await?;
                Ok(Admission::Admitted(record))
            })
        })
        .await
    }

    /// Commits an event (and the runs it starts) unless one with its dedupe key is in already.
    ///
    /// Like every hot write, it joins the writer task's group (see [`write_groups`]): a burst
    /// of webhooks costs one commit, not one each, and each caller returns only once its event
    /// is committed. The event and its runs go in together or not at all (a savepoint).
    pub async fn accept_event(
        &self,
        event: &NewEvent,
        flows: &[&str],
        now: i64,
    ) -> Result<Accepted, StoreError> {
        let event = event.clone();
        let flows: Vec<String> = flows.iter().map(|f| (*f).to_string()).collect();
        self.write(move |conn| {
            Box::pin(async move {
                let mut tx = conn.begin().await?;
                let inserted: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO inbox (source, dedupe_key, event_type, entity_key, payload, received_at)
                     VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
                )
                .bind(&event.source)
                .bind(&event.dedupe_key)
                .bind(&event.event_type)
                .bind(&event.entity_key)
                .bind(event.payload.to_string())
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(id) = inserted else {
                    let id: i64 = sqlx::query_scalar("SELECT id FROM inbox WHERE dedupe_key = ?")
                        .bind(&event.dedupe_key)
                        .fetch_one(&mut *tx)
                        .await?;
                    return Ok(Accepted {
                        event_id: id,
                        duplicate: true,
                    });
                };
                for flow in flows {
                    let run = NewRun {
                        inbox_id: id,
                        flow,
                        entity_key: event.entity_key.clone(),
                        not_before: None,
                    };
                    insert_run(&mut tx, &run, now).await?;
                }
                tx.commit().await?;
                Ok(Accepted {
                    event_id: id,
                    duplicate: false,
                })
            })
        })
        .await
    }

    pub async fn record_payment(
        &self,
        order_id: &str,
        update: &PaymentUpdate,
        runs: &[NewRun],
        now: i64,
    ) -> Result<OrderRecord, StoreError> {
        let (order_id, update, runs) = (order_id.to_owned(), update.clone(), runs.to_vec());
        self.write(move |conn| {
            Box::pin(async move {
                let (order_id, update, runs) = (order_id.as_str(), &update, &runs);
                let mut tx = conn.begin().await?;
                let updated = sqlx::query(concat!(
                    "UPDATE orders SET status = ?, payment_id = ?, payment_status = ?, decline_reason = ?,
                                       status_detail = ?, failure_kind = ?, updated_at = ?
                     WHERE id = ? RETURNING ",
                    order_columns!()
                ))
                .bind(update.status.as_str())
                .bind(&update.payment_id)
                .bind(&update.payment_status)
                .bind(&update.decline_reason)
                .bind(&update.status_detail)
                .bind(update.failure_kind.map(|k| k.as_str()))
                .bind(now)
                .bind(order_id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("order {order_id}")))?;
                let record = order_from_row(&updated)?;
                for run in runs {
                    insert_run(&mut tx, run, now).await?;
                }
                tx.commit().await?;
                Ok(record)
            })
        })
        .await
    }

    pub async fn deploy_flow(
        &self,
        env: &str,
        version: &FlowVersionRecord,
        note: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut writer = self.writer.lock().await;
        let mut tx = begin(&mut writer).await?;
        sqlx::query(
            "INSERT OR IGNORE INTO flow_versions (name, version, text, origin, recorded_ms)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&version.name)
        .bind(&version.version)
        .bind(&version.text)
        .bind(&version.origin)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let current: Option<String> = sqlx::query_scalar(
            "SELECT version FROM flow_deployments WHERE env = ? AND name = ? ORDER BY id DESC LIMIT 1",
        )
        .bind(env)
        .bind(&version.name)
        .fetch_optional(&mut *tx)
        .await?;
        if current.as_deref() == Some(version.version.as_str()) {
            tx.commit().await?;
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO flow_deployments (env, name, version, deployed_ms, note) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(env)
        .bind(&version.name)
        .bind(&version.version)
        .bind(now)
        .bind(note)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn open_session(
        &self,
        session: &ConsoleSession,
        expired_before_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM console_sessions WHERE last_seen_ms < ?")
            .bind(expired_before_ms)
            .execute(&mut *self.writer.lock().await)
            .await?;
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, token_id, csrf, last_seen_ms) VALUES (?, ?, ?, ?)",
        )
        .bind(&session.id_hash)
        .bind(&session.token_id)
        .bind(&session.csrf)
        .bind(session.last_seen_ms)
        .execute(&mut *self.writer.lock().await)
        .await?;
        Ok(())
    }

    pub async fn session(&self, id_hash: &str) -> Result<Option<ConsoleSession>, StoreError> {
        let row = sqlx::query(
            "SELECT id_hash, token_id, csrf, last_seen_ms FROM console_sessions WHERE id_hash = ?",
        )
        .bind(id_hash)
        .fetch_optional(&mut *self.reader().await)
        .await?;
        row.map(|row| {
            Ok(ConsoleSession {
                id_hash: row.try_get("id_hash")?,
                token_id: row.try_get("token_id")?,
                csrf: row.try_get("csrf")?,
                last_seen_ms: row.try_get("last_seen_ms")?,
            })
        })
        .transpose()
    }

    pub async fn touch_session(&self, id_hash: &str, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE console_sessions SET last_seen_ms = ? WHERE id_hash = ?")
            .bind(now_ms)
            .bind(id_hash)
            .execute(&mut *self.writer.lock().await)
            .await?;
        Ok(())
    }

    pub async fn close_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM console_sessions WHERE id_hash = ?")
            .bind(id_hash)
            .execute(&mut *self.writer.lock().await)
            .await?;
        Ok(())
    }

    pub async fn record_sample(
        &self,
        at_ms: i64,
        sample: &str,
        keep_after_ms: i64,
    ) -> Result<bool, StoreError> {
        let inserted =
            sqlx::query("INSERT OR IGNORE INTO overview_samples (at_ms, sample) VALUES (?, ?)")
                .bind(at_ms)
                .bind(sample)
                .execute(&mut *self.writer.lock().await)
                .await?
                .rows_affected()
                > 0;
        if inserted {
            sqlx::query("DELETE FROM overview_samples WHERE at_ms < ?")
                .bind(keep_after_ms)
                .execute(&mut *self.writer.lock().await)
                .await?;
        }
        Ok(inserted)
    }

    pub async fn samples_since(
        &self,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT at_ms, sample FROM overview_samples WHERE at_ms >= ? ORDER BY at_ms LIMIT ?",
        )
        .bind(since_ms)
        .bind(i64::from(limit))
        .fetch_all(&mut *self.reader().await)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("at_ms")?, row.try_get("sample")?)))
            .collect()
    }

    pub async fn record_flow_version(&self, version: &FlowVersionRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT OR IGNORE INTO flow_versions (name, version, text, origin, recorded_ms)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&version.name)
        .bind(&version.version)
        .bind(&version.text)
        .bind(&version.origin)
        .bind(version.recorded_ms)
        .execute(&mut *self.writer.lock().await)
        .await?;
        Ok(())
    }

    pub async fn deployments(&self, env: &str) -> Result<Vec<DeploymentRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT env, name, version, deployed_ms, note FROM flow_deployments d
             WHERE env = ? AND id = (SELECT MAX(id) FROM flow_deployments e WHERE e.env = d.env AND e.name = d.name)
             ORDER BY name",
        )
        .bind(env)
        .fetch_all(&mut *self.reader().await)
        .await?;
        rows.iter().map(deployment_from_row).collect()
    }

    pub async fn deployment_history(
        &self,
        name: &str,
    ) -> Result<Vec<DeploymentRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT env, name, version, deployed_ms, note FROM flow_deployments WHERE name = ? ORDER BY id DESC",
        )
        .bind(name)
        .fetch_all(&mut *self.reader().await)
        .await?;
        rows.iter().map(deployment_from_row).collect()
    }

    pub async fn flow_version(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Option<FlowVersionRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT name, version, text, origin, recorded_ms FROM flow_versions WHERE name = ? AND version = ?",
        )
        .bind(name)
        .bind(version)
        .fetch_optional(&mut *self.reader().await)
        .await?;
        row.as_ref().map(flow_version_from_row).transpose()
    }

    pub async fn pin_run_flow_version(&self, run_id: i64, pinned: bool) -> Result<(), StoreError> {
        sqlx::query("UPDATE runs SET flow_version_pinned = ?1 WHERE id = ?2")
            .bind(i64::from(pinned))
            .bind(run_id)
            .execute(&mut *self.writer.lock().await)
            .await?;
        Ok(())
    }

    pub async fn set_run_flow_version(&self, run_id: i64, version: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE runs SET flow_version = ?1 WHERE id = ?2 AND flow_version_pinned = 0 AND (flow_version IS NULL OR flow_version <> ?1)")
            .bind(version)
            .bind(run_id)
            .execute(&mut *self.writer.lock().await)
            .await?;
        Ok(())
    }

    pub async fn admit_refund(
        &self,
        refund: &NewRefund,
        now: i64,
    ) -> Result<RefundAdmission, StoreError> {
        let mut writer = self.writer.lock().await;
        let mut tx = begin(&mut writer).await?;
        // One refund decision at a time per order.
        let order = sqlx::query(concat!(
            "SELECT ",
            order_columns!(),
            " FROM orders WHERE id = ?"
        ))
        .bind(&refund.order_id)
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| order_from_row(&row))
        .transpose()?
        .ok_or_else(|| StoreError::NotFound(format!("order {}", refund.order_id)))?;
        let existing = sqlx::query(concat!(
            "SELECT ", refund_columns!(),
            " FROM refunds WHERE (order_id = ? AND idempotency_key = ?) OR cybersource_refund_id = ?"
        ))
        .bind(&refund.order_id)
        .bind(&refund.idempotency_key)
        .bind(&refund.cybersource_refund_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = existing {
            tx.commit().await?;
            return Ok(RefundAdmission::Existing(refund_from_row(&row)?));
        }
        if order.payment_id.is_none()
            || !matches!(
                order.status,
                OrderStatus::Approved | OrderStatus::Completed | OrderStatus::SyncFailed
            )
        {
            return Ok(RefundAdmission::NotRefundable {
                status: order.status,
            });
        }
        let refunded: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM refunds WHERE order_id = ? AND status <> 'failed'",
        )
        .bind(&refund.order_id)
        .fetch_one(&mut *tx)
        .await?;
        let refundable = order.amount_minor - refunded;
        if refund.amount_minor > refundable {
            return Ok(RefundAdmission::TooMuch {
                refundable_minor: refundable,
            });
        }
        let inbox_id = insert_event(&mut tx, &refund.event, now).await?;
        sqlx::query(
            "INSERT INTO refunds (id, order_id, idempotency_key, request_fingerprint, inbox_id, amount_minor,
                                  currency, reason, source, status, cybersource_refund_id, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&refund.id)
        .bind(&refund.order_id)
        .bind(&refund.idempotency_key)
        .bind(&refund.request_fingerprint)
        .bind(inbox_id)
        .bind(refund.amount_minor)
        .bind(&refund.currency)
        .bind(&refund.reason)
        .bind(&refund.source)
        .bind(RefundStatus::Requested.as_str())
        .bind(&refund.cybersource_refund_id)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for flow in &refund.flows {
            let run = NewRun {
                inbox_id,
                flow: flow.clone(),
                entity_key: refund.entity_key.clone(),
                not_before: None,
            };
            insert_run(&mut tx, &run, now).await?;
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            refund_columns!(),
            " FROM refunds WHERE id = ?"
        ))
        .bind(&refund.id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(RefundAdmission::Admitted(refund_from_row(&row)?))
    }

    pub async fn refund(&self, id: &str) -> Result<Option<RefundRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            refund_columns!(),
            " FROM refunds WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&mut *self.reader().await)
        .await?;
        row.as_ref().map(refund_from_row).transpose()
    }

    pub async fn refund_by_cybersource_id(
        &self,
        cybersource_refund_id: &str,
    ) -> Result<Option<RefundRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            refund_columns!(),
            " FROM refunds WHERE cybersource_refund_id = ?"
        ))
        .bind(cybersource_refund_id)
        .fetch_optional(&mut *self.reader().await)
        .await?;
        row.as_ref().map(refund_from_row).transpose()
    }

    pub async fn refunds_of(&self, order_id: &str) -> Result<Vec<RefundRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            refund_columns!(),
            " FROM refunds WHERE order_id = ? ORDER BY created_at, id"
        ))
        .bind(order_id)
        .fetch_all(&mut *self.reader().await)
        .await?;
        rows.iter().map(refund_from_row).collect()
    }

    pub async fn finish_refund(
        &self,
        id: &str,
        outcome: &RefundOutcome<'_>,
        now: i64,
    ) -> Result<(), StoreError> {
        let changed = sqlx::query(
            "UPDATE refunds SET status = ?,
                    cybersource_refund_id = COALESCE(?, cybersource_refund_id),
                    zoho_creditnote_id = COALESCE(?, zoho_creditnote_id),
                    status_detail = ?, updated_at = ?
             WHERE id = ?",
        )
        .bind(outcome.status.as_str())
        .bind(outcome.cybersource_refund_id)
        .bind(outcome.zoho_creditnote_id)
        .bind(outcome.detail)
        .bind(now)
        .bind(id)
        .execute(&mut *self.writer.lock().await)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound(format!("refund {id}")));
        }
        Ok(())
    }

    pub async fn order(&self, id: &str) -> Result<Option<OrderRecord>, StoreError> {
        let row = sqlx::query(ORDER_SELECT_BY_ID)
            .bind(id)
            .fetch_optional(&mut *self.reader().await)
            .await?;
        row.as_ref().map(order_from_row).transpose()
    }

    pub async fn order_by_reference(
        &self,
        reference: &str,
    ) -> Result<Option<OrderRecord>, StoreError> {
        let row = sqlx::query(ORDER_SELECT_BY_REFERENCE)
            .bind(reference)
            .fetch_optional(&mut *self.reader().await)
            .await?;
        row.as_ref().map(order_from_row).transpose()
    }

    pub async fn order_by_zoho_invoice(
        &self,
        invoice_id: &str,
    ) -> Result<Option<OrderRecord>, StoreError> {
        let row = sqlx::query(ORDER_SELECT_BY_ZOHO_INVOICE)
            .bind(invoice_id)
            .fetch_optional(&mut *self.reader().await)
            .await?;
        row.as_ref().map(order_from_row).transpose()
    }

    /// Orders whose payment was started before `before_ms` and never answered.
    pub async fn stale_pending_orders(
        &self,
        before_ms: i64,
        limit: u32,
    ) -> Result<Vec<OrderRecord>, StoreError> {
        let rows = sqlx::query(ORDER_SELECT_STALE)
            .bind(before_ms)
            .bind(i64::from(limit))
            .fetch_all(&mut *self.reader().await)
            .await?;
        rows.iter().map(order_from_row).collect()
    }

    pub async fn orders(&self, limit: u32) -> Result<Vec<OrderRecord>, StoreError> {
        let rows = sqlx::query(ORDER_SELECT_RECENT)
            .bind(i64::from(limit))
            .fetch_all(&mut *self.reader().await)
            .await?;
        rows.iter().map(order_from_row).collect()
    }

    pub async fn set_order_status(
        &self,
        order_id: &str,
        status: OrderStatus,
        detail: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE orders SET status = ?, status_detail = COALESCE(?, status_detail), updated_at = ? WHERE id = ?")
            .bind(status.as_str())
            .bind(detail)
            .bind(now)
            .bind(order_id)
            .execute(&mut *self.writer.lock().await)
            .await?;
        Ok(())
    }

    pub async fn complete_order_sync(
        &self,
        order_id: &str,
        contact_id: &str,
        invoice_id: &str,
        payment_id: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let ids = [order_id, contact_id, invoice_id, payment_id].map(str::to_owned);
        self.write(move |conn| {
            Box::pin(async move {
                let [order_id, contact_id, invoice_id, payment_id] = ids.each_ref().map(String::as_str);
                sqlx::query(
                    "UPDATE orders SET status = ?, zoho_contact_id = ?, zoho_invoice_id = ?, zoho_payment_id = ?,
                                       status_detail = NULL, updated_at = ?
                     WHERE id = ?",
                )
                .bind(OrderStatus::Completed.as_str())
                .bind(contact_id)
                .bind(invoice_id)
                .bind(payment_id)
                .bind(now)
                .bind(order_id)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await
    }

    pub async fn inbox_event(&self, id: i64) -> Result<InboxEvent, StoreError> {
        let row = sqlx::query(
            "SELECT id, source, dedupe_key, event_type, entity_key, payload, received_at FROM inbox WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&mut *self.reader().await)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("inbox event {id}")))?;
        let payload: String = row.try_get("payload")?;
        Ok(InboxEvent {
            id: row.try_get("id")?,
            source: row.try_get("source")?,
            dedupe_key: row.try_get("dedupe_key")?,
            event_type: row.try_get("event_type")?,
            entity_key: row.try_get("entity_key")?,
            payload: serde_json::from_str(&payload)
                .map_err(|e| StoreError::Corrupt(format!("inbox event {id} payload: {e}")))?,
            received_at: row.try_get("received_at")?,
        })
    }

    pub async fn claim_run(
        &self,
        owner: &str,
        now: i64,
        lease: Duration,
    ) -> Result<Option<ClaimedRun>, StoreError> {
        let owner = owner.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                let owner = owner.as_str();
                let row = sqlx::query(concat!(
                    "UPDATE runs
                        SET status = 'running', lease_owner = ?1, lease_expires_at = ?2, attempt = attempt + 1, updated_at = ?3
                      WHERE id = (
                            SELECT id FROM (
                                SELECT * FROM (
                                    SELECT r.id, r.next_attempt_at FROM runs r
                                     WHERE r.status = 'queued' AND r.next_attempt_at <= ?3
                                       AND NOT EXISTS (SELECT 1 FROM runs e
                                             WHERE e.entity_key = r.entity_key AND e.id < r.id
                                               AND e.status IN ('queued', 'running'))
                                     ORDER BY r.next_attempt_at, r.id LIMIT 1)
                                UNION ALL
                                SELECT * FROM (
                                    SELECT r.id, r.next_attempt_at FROM runs r
                                     WHERE r.status = 'running' AND r.lease_expires_at < ?3
                                       AND NOT EXISTS (SELECT 1 FROM runs e
                                             WHERE e.entity_key = r.entity_key AND e.id < r.id
                                               AND e.status IN ('queued', 'running'))
                                     ORDER BY r.next_attempt_at, r.id LIMIT 1))
                             ORDER BY next_attempt_at, id LIMIT 1)
                    ",
                    claim_returning!()
                ),
                )
                .bind(owner)
                .bind(now + millis(lease))
                .bind(now)
                .fetch_optional(&mut *conn)
                .await?;
                row.as_ref().map(claimed_from_row).transpose()
            })
        })
        .await
    }

    pub async fn renew_lease(
        &self,
        run_id: i64,
        owner: &str,
        now: i64,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let changed = sqlx::query(
            "UPDATE runs SET lease_expires_at = ?, updated_at = ? WHERE id = ? AND lease_owner = ? AND status = 'running'",
        )
        .bind(now + millis(lease))
        .bind(now)
        .bind(run_id)
        .bind(owner)
        .execute(&mut *self.writer.lock().await)
        .await?
        .rows_affected();
        Ok(changed == 1)
    }

    pub async fn finish_run(
        &self,
        run_id: i64,
        owner: &str,
        flow_version: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (owner, flow_version) = (owner.to_owned(), flow_version.map(str::to_owned));
        self.write(move |conn| {
            Box::pin(async move {
                let (owner, flow_version) = (owner.as_str(), flow_version.as_deref());
                let changed = sqlx::query(
                    "UPDATE runs SET status = 'succeeded', lease_owner = NULL, lease_expires_at = NULL,
                                     last_error = NULL, last_error_kind = NULL, last_error_status = NULL,
                                     finished_at = ?1, updated_at = ?1,
                                     flow_version = CASE WHEN flow_version_pinned = 0 THEN COALESCE(?4, flow_version) ELSE flow_version END
                      WHERE id = ?2 AND lease_owner = ?3 AND status = 'running'",
                )
                .bind(now)
                .bind(run_id)
                .bind(owner)
                .bind(flow_version)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                Ok(changed == 1)
            })
        })
        .await
    }

    pub async fn retry_run(
        &self,
        run_id: i64,
        owner: &str,
        flow_version: Option<&str>,
        at: i64,
        failure: &FailureRecord,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (owner, flow_version, failure) = (
            owner.to_owned(),
            flow_version.map(str::to_owned),
            failure.clone(),
        );
        self.write(move |conn| {
            Box::pin(async move {
                let (owner, flow_version, failure) = (owner.as_str(), flow_version.as_deref(), &failure);
                let changed = sqlx::query(
                    "UPDATE runs SET status = 'queued', next_attempt_at = ?, flow_version = CASE WHEN flow_version_pinned = 0 THEN COALESCE(?, flow_version) ELSE flow_version END,
                                     lease_owner = NULL, lease_expires_at = NULL,
                                     last_error = ?, last_error_kind = ?, last_error_status = ?, last_error_step = ?,
                                     last_error_request_id = ?, updated_at = ?
                      WHERE id = ? AND lease_owner = ? AND status = 'running'",
                )
                .bind(at)
                .bind(flow_version)
                .bind(&failure.message)
                .bind(failure.kind.as_str())
                .bind(failure.http_status.map(i64::from))
                .bind(&failure.step)
                .bind(&failure.request_id)
                .bind(now)
                .bind(run_id)
                .bind(owner)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                Ok(changed == 1)
            })
        })
        .await
    }

    pub async fn dead_letter_run(
        &self,
        run_id: i64,
        owner: &str,
        flow_version: Option<&str>,
        failure: &FailureRecord,
        order_failed: Option<(&str, &str)>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (owner, flow_version, failure) = (
            owner.to_owned(),
            flow_version.map(str::to_owned),
            failure.clone(),
        );
        let order_failed = order_failed.map(|(o, d)| (o.to_owned(), d.to_owned()));
        self.write(move |conn| {
            Box::pin(async move {
                let (owner, flow_version, failure) = (owner.as_str(), flow_version.as_deref(), &failure);
                let order_failed = order_failed.as_ref().map(|(o, d)| (o.as_str(), d.as_str()));
                let mut tx = conn.begin().await?;
                let changed = sqlx::query(
                    "UPDATE runs SET status = 'dead', flow_version = CASE WHEN flow_version_pinned = 0 THEN COALESCE(?, flow_version) ELSE flow_version END,
                                     lease_owner = NULL, lease_expires_at = NULL,
                                     last_error = ?, last_error_kind = ?, last_error_status = ?, last_error_step = ?,
                                     last_error_request_id = ?, finished_at = ?, updated_at = ?
                      WHERE id = ? AND lease_owner = ? AND status = 'running'",
                )
                .bind(flow_version)
                .bind(&failure.message)
                .bind(failure.kind.as_str())
                .bind(failure.http_status.map(i64::from))
                .bind(&failure.step)
                .bind(&failure.request_id)
                .bind(now)
                .bind(now)
                .bind(run_id)
                .bind(owner)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if changed == 1
                    && let Some((order_id, detail)) = order_failed
                {
                    sqlx::query(
                        "UPDATE orders SET status = 'sync_failed', status_detail = ?1, updated_at = ?2
                          WHERE id = ?3 AND status = 'approved'",
                    )
                    .bind(detail)
                    .bind(now)
                    .bind(order_id)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(changed == 1)
            })
        })
        .await
    }

    pub async fn requeue_run(&self, run_id: i64, now: i64) -> Result<bool, StoreError> {
        let changed = sqlx::query(
            "UPDATE runs SET status = 'queued', attempt = 0, next_attempt_at = ?1, lease_owner = NULL,
                             lease_expires_at = NULL, finished_at = NULL, updated_at = ?1
              WHERE id = ?2 AND status IN ('succeeded', 'dead', 'discarded')",
        )
        .bind(now)
        .bind(run_id)
        .execute(&mut *self.writer.lock().await)
        .await?
        .rows_affected();
        Ok(changed == 1)
    }

    /// A dead letter set aside: kept as history, never run again unless replayed.
    pub async fn discard_run(&self, run_id: i64, now: i64) -> Result<bool, StoreError> {
        let changed = sqlx::query(
            "UPDATE runs SET status = 'discarded', updated_at = ?1 WHERE id = ?2 AND status = 'dead'",
        )
        .bind(now)
        .bind(run_id)
        .execute(&mut *self.writer.lock().await)
        .await?
        .rows_affected();
        Ok(changed == 1)
    }

    /// Runs matching `filter`, newest first.
    pub async fn find_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        let rows = sqlx::query(RUN_SELECT_FILTERED)
            .bind(filter.status.map(RunStatus::as_str))
            .bind(filter.flow.as_deref())
            .bind(filter.entity.as_deref())
            .bind(filter.since_ms)
            .bind(filter.until_ms)
            .bind(filter.before_id)
            .bind(i64::from(filter.limit.max(1)))
            .fetch_all(&mut *self.reader().await)
            .await?;
        rows.iter().map(run_from_row).collect()
    }

    pub async fn run(&self, run_id: i64) -> Result<Option<RunRecord>, StoreError> {
        let row = sqlx::query(RUN_SELECT_BY_ID)
            .bind(run_id)
            .fetch_optional(&mut *self.reader().await)
            .await?;
        row.as_ref().map(run_from_row).transpose()
    }

    pub async fn runs(
        &self,
        status: Option<RunStatus>,
        limit: u32,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let rows = sqlx::query(RUN_SELECT_RECENT)
            .bind(status.map(RunStatus::as_str))
            .bind(i64::from(limit))
            .fetch_all(&mut *self.reader().await)
            .await?;
        rows.iter().map(run_from_row).collect()
    }

    pub async fn next_wakeup(&self) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT MIN(t) FROM (
                 SELECT MIN(next_attempt_at) AS t FROM runs WHERE status = 'queued'
                 UNION ALL
                 SELECT MIN(lease_expires_at) AS t FROM runs WHERE status = 'running')",
        )
        .fetch_one(&mut *self.reader().await)
        .await?)
    }

    pub async fn step(&self, key: &str) -> Result<Option<StepRecord>, StoreError> {
        let row = sqlx::query(STEP_SELECT_BY_KEY)
            .bind(key)
            .fetch_optional(&mut *self.reader().await)
            .await?;
        row.as_ref().map(step_from_row).transpose()
    }

    pub async fn steps_of_run(&self, run_id: i64) -> Result<Vec<StepRecord>, StoreError> {
        let rows = sqlx::query(STEP_SELECT_BY_RUN)
            .bind(run_id)
            .fetch_all(&mut *self.reader().await)
            .await?;
        rows.iter().map(step_from_row).collect()
    }

    /// `None` when the step had succeeded (nothing is written; [`super::Store::begin_step`]
    /// reads its result).
    pub async fn begin_step(
        &self,
        run_id: Option<i64>,
        key: &str,
        name: &str,
        input: Option<&serde_json::Value>,
        now: i64,
    ) -> Result<Option<StepStart>, StoreError> {
        // Another attempt keeps the previous one's failure kind, or makes it `outcome_unknown`
        // if that one never finished (a crash), so that the caller knows whether to look first.
        let (owned_key, name, input) = (
            key.to_owned(),
            name.to_owned(),
            input.map(serde_json::Value::to_string),
        );
        let begun = self
            .write(move |conn| {
                Box::pin(async move {
                    let row = sqlx::query(
            "INSERT INTO steps (idempotency_key, run_id, name, status, attempts, input, started_at)
             VALUES (?1, ?2, ?3, 'started', 1, ?5, ?4)
             ON CONFLICT (idempotency_key) DO UPDATE
                SET status = 'started', attempts = steps.attempts + 1, run_id = COALESCE(excluded.run_id, steps.run_id),
                    input = COALESCE(excluded.input, steps.input), started_at = excluded.started_at, finished_at = NULL,
                    error_kind = CASE WHEN steps.status = 'started' THEN 'outcome_unknown' ELSE steps.error_kind END
              WHERE steps.status != 'succeeded'
             RETURNING attempts, error_kind",
        )
                    .bind(owned_key)
                    .bind(run_id)
                    .bind(name)
                    .bind(now)
                    .bind(input)
                    .fetch_optional(&mut *conn)
                    .await?;
                    row.as_ref().map(step_start_from_row).transpose()
                })
            })
            .await?;
        Ok(begun)
    }

    pub async fn record_step(
        &self,
        run_id: Option<i64>,
        key: &str,
        name: &str,
        output: &serde_json::Value,
        now: i64,
    ) -> Result<(), StoreError> {
        let (key, name, output) = (key.to_owned(), name.to_owned(), output.to_string());
        self.write(move |conn| {
            Box::pin(async move {
                let (key, name) = (key.as_str(), name.as_str());
                sqlx::query(
                    "INSERT INTO steps (idempotency_key, run_id, name, status, attempts, output, started_at, finished_at)
                     VALUES (?1, ?2, ?3, 'succeeded', 1, ?4, ?5, ?5)
                     ON CONFLICT (idempotency_key) DO NOTHING",
                )
                .bind(key)
                .bind(run_id)
                .bind(name)
                .bind(output)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await
    }

    pub async fn succeed_step(
        &self,
        key: &str,
        output: &serde_json::Value,
        now: i64,
    ) -> Result<(), StoreError> {
        let (key, output) = (key.to_owned(), output.clone());
        self.write(move |conn| {
            Box::pin(async move {
                let (key, output) = (key.as_str(), &output);
                sqlx::query(
                    "UPDATE steps SET status = 'succeeded', output = ?, error = NULL, error_kind = NULL, error_status = NULL,
                                      finished_at = ? WHERE idempotency_key = ?",
                )
                .bind(output.to_string())
                .bind(now)
                .bind(key)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await
    }

    pub async fn fail_step(
        &self,
        key: &str,
        failure: &FailureRecord,
        now: i64,
    ) -> Result<(), StoreError> {
        let (key, failure) = (key.to_owned(), failure.clone());
        self.write(move |conn| {
            Box::pin(async move {
                let (key, failure) = (key.as_str(), &failure);
                sqlx::query(
                    "UPDATE steps SET status = 'failed', error = ?, error_kind = ?, error_status = ?, error_request_id = ?,
                                      finished_at = ?
                      WHERE idempotency_key = ? AND status != 'succeeded'",
                )
                .bind(&failure.message)
                .bind(failure.kind.as_str())
                .bind(failure.http_status.map(i64::from))
                .bind(&failure.request_id)
                .bind(now)
                .bind(key)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await
    }

    // Vault --------------------------------------------------------------------------------

    pub async fn vault_put(&self, secret: &SealedSecret, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO vault_secrets (name, key_id, wrapped_key, sealed, created_ms, updated_ms)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET key_id = excluded.key_id,
                 wrapped_key = excluded.wrapped_key, sealed = excluded.sealed,
                 updated_ms = excluded.updated_ms",
        )
        .bind(&secret.name)
        .bind(&secret.key_id)
        .bind(&secret.wrapped_key)
        .bind(&secret.sealed)
        .bind(now)
        .bind(now)
        .execute(&mut *self.writer.lock().await)
        .await?;
        Ok(())
    }

    pub async fn vault_get(&self, name: &str) -> Result<Option<SealedSecret>, StoreError> {
        let row = sqlx::query(
            "SELECT name, key_id, wrapped_key, sealed, created_ms, updated_ms FROM vault_secrets WHERE name = ?",
        )
        .bind(name)
        .fetch_optional(&mut *self.reader().await)
        .await?;
        row.as_ref().map(sealed_from_row).transpose()
    }

    pub async fn vault_all(&self) -> Result<Vec<SealedSecret>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, key_id, wrapped_key, sealed, created_ms, updated_ms FROM vault_secrets ORDER BY name",
        )
        .fetch_all(&mut *self.reader().await)
        .await?;
        rows.iter().map(sealed_from_row).collect()
    }

    /// Replaces a secret's wrapped key (rotation), if it is still under `old_key_id`.
    pub async fn vault_rewrap(
        &self,
        name: &str,
        old_key_id: &str,
        new_key_id: &str,
        wrapped_key: &[u8],
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE vault_secrets SET key_id = ?, wrapped_key = ?, updated_ms = ?
             WHERE name = ? AND key_id = ?",
        )
        .bind(new_key_id)
        .bind(wrapped_key)
        .bind(now)
        .bind(name)
        .bind(old_key_id)
        .execute(&mut *self.writer.lock().await)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn vault_delete(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM vault_secrets WHERE name = ?")
            .bind(name)
            .execute(&mut *self.writer.lock().await)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The value stored under `name`, or `value` stored now if there was none.
    pub async fn vault_meta_or_insert(
        &self,
        name: &str,
        value: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        sqlx::query(
            "INSERT INTO vault_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value)
        .execute(&mut *self.writer.lock().await)
        .await?;
        Ok(
            sqlx::query_scalar("SELECT value FROM vault_meta WHERE name = ?")
                .bind(name)
                .fetch_one(&mut *self.reader().await)
                .await?,
        )
    }

    // Connections ----------------------------------------------------------------------------

    pub async fn put_connection(&self, connection: &ConnectionRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO connections (name, vendor, settings, updated_ms) VALUES (?, ?, ?, ?) \
             ON CONFLICT (name) DO UPDATE SET vendor = excluded.vendor, \
             settings = excluded.settings, updated_ms = excluded.updated_ms",
        )
        .bind(&connection.name)
        .bind(&connection.vendor)
        .bind(connection.settings.to_string())
        .bind(connection.updated_ms)
        .execute(&mut *self.writer.lock().await)
        .await?;
        Ok(())
    }

    pub async fn delete_connection(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM connections WHERE name = ?")
            .bind(name)
            .execute(&mut *self.writer.lock().await)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn connection(&self, name: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        let row: Option<(String, String, String, i64)> = sqlx::query_as(
            "SELECT name, vendor, settings, updated_ms FROM connections WHERE name = ?",
        )
        .bind(name)
        .fetch_optional(&mut *self.reader().await)
        .await?;
        row.map(|(name, vendor, settings, updated_ms)| {
            let settings = serde_json::from_str(&settings)
                .map_err(|e| StoreError::Corrupt(format!("connection {name:?}: {e}")))?;
            Ok(ConnectionRecord {
                name,
                vendor,
                settings,
                updated_ms,
            })
        })
        .transpose()
    }

    // Admin API tokens -------------------------------------------------------------------------

    pub async fn put_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_tokens (id, name, role, secret_hash, created_ms) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&token.id)
        .bind(&token.name)
        .bind(&token.role)
        .bind(&token.secret_hash)
        .bind(token.created_ms)
        .execute(&mut *self.writer.lock().await)
        .await?;
        Ok(())
    }

    pub async fn token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        Ok(sqlx::query_as::<_, TokenRow>(
            "SELECT id, name, role, secret_hash, created_ms, last_used_ms, revoked_ms \
             FROM api_tokens WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&mut *self.reader().await)
        .await?
        .map(token_record))
    }

    pub async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        Ok(sqlx::query_as::<_, TokenRow>(
            "SELECT id, name, role, secret_hash, created_ms, last_used_ms, revoked_ms \
             FROM api_tokens ORDER BY created_ms, id",
        )
        .fetch_all(&mut *self.reader().await)
        .await?
        .into_iter()
        .map(token_record)
        .collect())
    }

    pub async fn touch_token(&self, id: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_tokens SET last_used_ms = ? WHERE id = ?")
            .bind(now)
            .bind(id)
            .execute(&mut *self.writer.lock().await)
            .await?;
        Ok(())
    }

    pub async fn revoke_token(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE api_tokens SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL")
                .bind(now)
                .bind(id)
                .execute(&mut *self.writer.lock().await)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    // Coordination ---------------------------------------------------------------------------

    /// Takes the lease `name` for `holder` until `now + ttl_ms` if it is free, expired or
    /// already `holder`'s.
    pub async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO leases (name, holder, until_ms) VALUES (?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms
             WHERE leases.until_ms <= ? OR leases.holder = excluded.holder",
        )
        .bind(name)
        .bind(holder)
        .bind(now.saturating_add(ttl_ms))
        .bind(now)
        .execute(&mut *self.writer.lock().await)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn shared_token(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT sealed FROM shared_tokens WHERE name = ?")
                .bind(name)
                .fetch_optional(&mut *self.reader().await)
                .await?,
        )
    }

    pub async fn share_token(&self, name: &str, sealed: &[u8], now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO shared_tokens (name, sealed, updated_ms) VALUES (?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed, updated_ms = excluded.updated_ms",
        )
        .bind(name)
        .bind(sealed)
        .bind(now)
        .execute(&mut *self.writer.lock().await)
        .await?;
        Ok(())
    }

    /// Names of the unexpired leases whose names start with `prefix`.
    pub async fn leases_held(&self, prefix: &str, now: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT name FROM leases WHERE substr(name, 1, length(?1)) = ?1 AND until_ms > ?2",
        )
        .bind(prefix)
        .bind(now)
        .fetch_all(&mut *self.reader().await)
        .await?)
    }

    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM leases WHERE name = ? AND holder = ?")
            .bind(name)
            .bind(holder)
            .execute(&mut *self.writer.lock().await)
            .await?;
        Ok(())
    }

    /// Spends `cost` from `key`'s windows (`(limit, window_ms)`) at `now`, atomically, or says
    /// how many milliseconds until it fits.
    ///
    /// Spending is summed per bucket of a sixtieth of the window, and a bucket counts while any
    /// part of it is inside the window: the reading errs towards "spent", never past a limit.
    pub async fn quota_take(
        &self,
        key: &str,
        windows: &[(u64, i64)],
        cost: u64,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        let mut writer = self.writer.lock().await;
        let mut tx = begin(&mut writer).await?;
        let paused: Option<i64> =
            sqlx::query_scalar("SELECT until_ms FROM quota_pauses WHERE key = ? AND until_ms > ?")
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
                "DELETE FROM quota_buckets WHERE key = ? AND window_ms = ? AND bucket_ms <= ?",
            )
            .bind(key)
            .bind(window)
            .bind(oldest)
            .execute(&mut *tx)
            .await?;
            let buckets: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT bucket_ms, cost FROM quota_buckets WHERE key = ? AND window_ms = ?
                 ORDER BY bucket_ms",
            )
            .bind(key)
            .bind(window)
            .fetch_all(&mut *tx)
            .await?;
            let used: i64 = buckets.iter().map(|(_, c)| c).sum();
            if used + cost_i <= limit {
                continue;
            }
            // Wait for the oldest buckets to leave the window until the cost fits.
            let mut left = used;
            for (start, spent) in buckets {
                left -= spent;
                if left + cost_i <= limit {
                    wait = wait.max(start + bucket + window - now);
                    break;
                }
            }
            if left + cost_i > limit {
                wait = wait.max(*window);
            }
        }
        if wait > 0 {
            tx.commit().await?;
            return Ok(Some(wait));
        }
        for (_, window) in windows {
            let bucket = bucket_size(*window);
            sqlx::query(
                "INSERT INTO quota_buckets (key, window_ms, bucket_ms, cost) VALUES (?, ?, ?, ?)
                 ON CONFLICT (key, window_ms, bucket_ms) DO UPDATE SET cost = cost + excluded.cost",
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

    /// Units spent in each of `key`'s windows.
    pub async fn quota_used(
        &self,
        key: &str,
        windows: &[i64],
        now: i64,
    ) -> Result<Vec<u64>, StoreError> {
        let mut used = Vec::with_capacity(windows.len());
        for window in windows {
            let sum: i64 = sqlx::query_scalar(
                "SELECT COALESCE(SUM(cost), 0) FROM quota_buckets
                 WHERE key = ? AND window_ms = ? AND bucket_ms > ?",
            )
            .bind(key)
            .bind(window)
            .bind(now - window - bucket_size(*window))
            .fetch_one(&mut *self.reader().await)
            .await?;
            used.push(u64::try_from(sum).unwrap_or(0));
        }
        Ok(used)
    }

    /// Lends nothing from `key` until `until_ms`.
    pub async fn quota_pause(&self, key: &str, until_ms: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO quota_pauses (key, until_ms) VALUES (?, ?)
             ON CONFLICT (key) DO UPDATE SET until_ms = MAX(until_ms, excluded.until_ms)",
        )
        .bind(key)
        .bind(until_ms)
        .execute(&mut *self.writer.lock().await)
        .await?;
        Ok(())
    }

    pub async fn xref(
        &self,
        system: &str,
        kind: &str,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT value FROM xrefs WHERE system = ? AND kind = ? AND external_key = ?",
        )
        .bind(system)
        .bind(kind)
        .bind(key)
        .fetch_optional(&mut *self.reader().await)
        .await?)
    }

    pub async fn put_xref(
        &self,
        system: &str,
        kind: &str,
        key: &str,
        value: &str,
        now: i64,
    ) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO xrefs (system, kind, external_key, value, created_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (system, kind, external_key) DO NOTHING",
        )
        .bind(system)
        .bind(kind)
        .bind(key)
        .bind(value)
        .bind(now)
        .execute(&mut *self.writer.lock().await)
        .await?;
        self.xref(system, kind, key)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("xref {system}/{kind}/{key} vanished")))
    }

    pub async fn counts(&self) -> Result<Counts, StoreError> {
        let mut counts = Counts::default();
        for row in sqlx::query("SELECT status, COUNT(*) AS n FROM orders GROUP BY status")
            .fetch_all(&mut *self.reader().await)
            .await?
        {
            counts
                .orders_by_status
                .insert(row.try_get("status")?, count(&row)?);
        }
        for row in sqlx::query("SELECT status, COUNT(*) AS n FROM runs GROUP BY status")
            .fetch_all(&mut *self.reader().await)
            .await?
        {
            counts
                .runs_by_status
                .insert(row.try_get("status")?, count(&row)?);
        }
        let inbox: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM inbox")
            .fetch_one(&mut *self.reader().await)
            .await?;
        counts.inbox_events = u64::try_from(inbox).unwrap_or(0);
        for row in sqlx::query("SELECT source, COUNT(*) AS n FROM inbox GROUP BY source")
            .fetch_all(&mut *self.reader().await)
            .await?
        {
            counts
                .inbox_by_source
                .insert(row.try_get("source")?, count(&row)?);
        }
        Ok(counts)
    }
}

/// Queues a run of `run.flow` for its event — or, when that flow already ran for the event and
/// succeeded, queues it again (a second lost payment on one order needs a second lookup; finished
/// steps are reused, so nothing is done twice). A run still queued, running or dead is left as
/// it is.
/// Commits a new event to the inbox (its dedupe key must be new); returns its id.
async fn insert_event(
    tx: &mut Transaction<'_, Sqlite>,
    event: &NewEvent,
    now: i64,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO inbox (source, dedupe_key, event_type, entity_key, payload, received_at)
         VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(&event.source)
    .bind(&event.dedupe_key)
    .bind(&event.event_type)
    .bind(&event.entity_key)
    .bind(event.payload.to_string())
    .bind(now)
    .fetch_one(&mut **tx)
    .await?)
}

async fn insert_run(
    tx: &mut Transaction<'_, Sqlite>,
    run: &NewRun,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO runs (inbox_id, flow, entity_key, status, attempt, next_attempt_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, 'queued', 0, ?5, ?4, ?4)
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
    Ok(())
}

const ORDER_SELECT_BY_ID: &str = concat!("SELECT ", order_columns!(), " FROM orders WHERE id = ?");
const ORDER_SELECT_BY_KEY: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders WHERE idempotency_key = ?"
);
const ORDER_SELECT_BY_ZOHO_INVOICE: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders WHERE zoho_invoice_id = ? LIMIT 1"
);

const ORDER_SELECT_BY_REFERENCE: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders WHERE reference = ?"
);
const ORDER_SELECT_STALE: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders WHERE status = 'pending_payment' AND updated_at < ?1 ORDER BY updated_at LIMIT ?2"
);
const ORDER_SELECT_RECENT: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders ORDER BY created_at DESC, id LIMIT ?"
);

const RUN_SELECT_BY_ID: &str = concat!("SELECT ", run_columns!(), " FROM runs WHERE id = ?");
const RUN_SELECT_RECENT: &str = concat!(
    "SELECT ",
    run_columns!(),
    " FROM runs WHERE (?1 IS NULL OR status = ?1) ORDER BY id DESC LIMIT ?2"
);

const RUN_SELECT_FILTERED: &str = concat!(
    "SELECT ",
    run_columns!(),
    " FROM runs WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR flow = ?2)
        AND (?3 IS NULL OR entity_key = ?3) AND (?4 IS NULL OR created_at >= ?4)
        AND (?5 IS NULL OR created_at < ?5) AND (?6 IS NULL OR id < ?6)
      ORDER BY id DESC LIMIT ?7"
);

const STEP_SELECT_BY_KEY: &str = concat!(
    "SELECT ",
    step_columns!(),
    " FROM steps WHERE idempotency_key = ?"
);
const STEP_SELECT_BY_RUN: &str = concat!(
    "SELECT ",
    step_columns!(),
    " FROM steps WHERE run_id = ? ORDER BY started_at, idempotency_key"
);
