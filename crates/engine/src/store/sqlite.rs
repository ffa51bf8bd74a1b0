//! The embedded SQLite backend (WAL), on rusqlite.
//!
//! One connection writes, on a thread of its own, in groups: whatever writes have queued go in
//! one transaction and one commit (see [`write_groups`]). Reads take one of a few reader
//! connections and run on the calling task's thread: in WAL mode a reader never waits for the
//! writer, and the reads here are index look-ups and bounded lists that take microseconds, so
//! a hand-off to another thread would cost more than the read.
//!
//! Writes read back what they need (`last_insert_rowid`, a look-up by key) rather than use
//! `RETURNING`: SQLite gathers RETURNING rows in a temporary table, which costs more than the
//! look-up on the writer's warm cache, and these writes run several times for every order.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
use std::time::Duration;

use paybridge_model::OrderStatus;
use rusqlite::{Connection, OptionalExtension as _, Params, Row, TransactionBehavior, params};

use super::rows::{
    Columns, bucket_size, claimed_from_row, connection_from_row, count, deployment_from_row,
    flow_version_from_row, inbox_event_from_row, json, millis, order_columns, order_from_row,
    quota_wait, refund_columns, refund_from_row, run_columns, run_from_row, sealed_from_row,
    session_from_row, step_columns, step_from_row, step_start_from_row, token_from_row,
};
use super::{
    Accepted, Admission, ClaimedRun, ConnectionRecord, ConsoleSession, Counts, DeploymentRecord,
    FailureRecord, FlowVersionRecord, InboxEvent, NewEvent, NewOrder, NewRefund, NewRun,
    OrderRecord, OwnStep, PaymentUpdate, PruneCutoffs, PruneReport, RecordedStep, RefundAdmission,
    RefundOutcome, RefundRecord, RefundStatus, RunFilter, RunRecord, RunStatus, SealedSecret,
    StepRecord, StepStart, StoreError, TokenRecord, XrefEntry, ZohoIds,
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
    (9, include_str!("schema_v9.sql")),
];

/// How many connections read.
const READERS: usize = 4;

/// Statements each connection keeps prepared (the store has about sixty).
const STATEMENT_CACHE: usize = 128;

/// The most writes one group transaction takes.
const WRITE_GROUP: usize = 256;

/// A write for the writer thread: its statements, run on the writer connection; what it
/// returns is delivered once its transaction is committed (or its commit failed).
type Job = Box<dyn FnOnce(&mut Connection) -> Deliver + Send>;
/// Hands a job's result to its caller: `None` once committed, else why the commit failed.
type Deliver = Box<dyn FnOnce(Option<&str>) + Send>;

enum Write {
    /// Runs inside the current group's transaction (a job that must be all or nothing on its
    /// own takes a savepoint: [`atomic`]).
    Grouped(Job),
    /// Runs on its own, outside any transaction (`VACUUM`, checkpoints, migrations).
    Alone(Job),
    /// A read of what runs need at once (an order, a step, a cross-reference), on the writer's
    /// connection: its cache is warm, where a reader's is emptied whenever the WAL changed. It
    /// runs between groups, outside any transaction, so it sees what was committed before it
    /// came — never a group's writes before their commit.
    Read(Job),
}

/// Group commit, on the writer's own thread: the first write that comes begins a transaction;
/// every write that queues while it runs joins it, back to back; one commit, then each caller
/// hears its answer. A burst of steps, claims or webhooks costs one commit, not one each.
fn write_groups(mut conn: Connection, writes: mpsc::Receiver<Write>) {
    let mut next = None;
    loop {
        let write = match next.take() {
            Some(write) => write,
            None => match writes.recv() {
                Ok(write) => write,
                // Every handle on the store is gone: the connection closes.
                Err(mpsc::RecvError) => return,
            },
        };
        let first = match write {
            Write::Alone(job) | Write::Read(job) => {
                job(&mut conn)(None);
                continue;
            }
            Write::Grouped(job) => job,
        };
        // BEGIN and COMMIT prepared once (a group is begun and committed thousands of times a second).
        if let Err(e) = execute(&conn, "BEGIN IMMEDIATE", []) {
            // The job is dropped unrun: its caller hears that nothing was written.
            tracing::error!(error = %e, "cannot begin a write transaction");
            continue;
        }
        let mut delivers = Vec::with_capacity(16);
        // Reads that come while the group runs wait for its commit.
        let mut reads = Vec::new();
        delivers.push(first(&mut conn));
        while delivers.len() < WRITE_GROUP {
            match writes.try_recv() {
                Ok(Write::Grouped(job)) => delivers.push(job(&mut conn)),
                Ok(Write::Read(job)) => reads.push(job),
                Ok(alone) => {
                    next = Some(alone);
                    break;
                }
                Err(_) => break,
            }
        }
        metrics::counter!("paybridge_store_commits_total").increment(1);
        metrics::counter!("paybridge_store_writes_total").increment(delivers.len() as u64);
        let failure = execute(&conn, "COMMIT", []).err().map(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            e.to_string()
        });
        for deliver in delivers {
            deliver(failure.as_deref());
        }
        for read in reads {
            read(&mut conn)(None);
        }
    }
}

/// The write that marks a step succeeded with `output`.
fn succeed_step_job(
    key: &str,
    output: &serde_json::Value,
    now: i64,
) -> impl FnOnce(&mut Connection) -> Result<(), StoreError> + Send + 'static {
    let (key, output) = (key.to_owned(), output.to_string());
    move |conn| {
        execute(
            conn,
            "UPDATE steps SET status = 'succeeded', output = ?, error = NULL, error_kind = NULL, error_status = NULL,
                              finished_at = ? WHERE idempotency_key = ?",
            params![output, now, key],
        )?;
        Ok(())
    }
}

/// Records a step as succeeded with `output` (and the `input` it was asked, if any), unless
/// its key is taken; whether it was.
fn insert_recorded_step(
    conn: &Connection,
    run_id: Option<i64>,
    key: &str,
    name: &str,
    input: Option<&str>,
    output: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let inserted = execute(
        conn,
        "INSERT INTO steps (idempotency_key, run_id, name, status, attempts, input, output, started_at, finished_at)
         VALUES (?1, ?2, ?3, 'succeeded', 1, ?4, ?5, ?6, ?6)
         ON CONFLICT (idempotency_key) DO NOTHING",
        params![key, run_id, name, input, output, now],
    )?;
    Ok(inserted == 1)
}

/// An [`OwnStep`] carried to the writer thread.
struct OwnedStep {
    run_id: Option<i64>,
    key: String,
    name: String,
    input: String,
    output: String,
}

impl From<OwnStep<'_>> for OwnedStep {
    fn from(step: OwnStep<'_>) -> OwnedStep {
        OwnedStep {
            run_id: step.run_id,
            key: step.key.to_owned(),
            name: step.name.to_owned(),
            input: step.input.to_string(),
            output: step.output.to_string(),
        }
    }
}

/// Records `step` as succeeded, for the write it is part of: `Some(output)` when it had
/// succeeded before (the write must not be done again), `None` when the write is to be done.
fn own_step(
    conn: &Connection,
    step: &OwnedStep,
    now: i64,
) -> Result<Option<serde_json::Value>, StoreError> {
    let (key, input, output) = (&step.key, &step.input, &step.output);
    if insert_recorded_step(conn, step.run_id, key, &step.name, Some(input), output, now)? {
        return Ok(None);
    }
    // Begun or failed before (by an earlier version of paybridge): this write finishes it.
    let before = one(
        conn,
        "SELECT status, output FROM steps WHERE idempotency_key = ?",
        [&step.key],
        |row| Ok((row.text("status")?, row.maybe_text("output")?)),
    )?;
    if let Some((status, output)) = before
        && status == "succeeded"
    {
        return Ok(Some(
            json(&step.key, "output", output)?.unwrap_or(serde_json::Value::Null),
        ));
    }
    execute(
        conn,
        "UPDATE steps SET status = 'succeeded', attempts = attempts + 1, run_id = COALESCE(?2, run_id),
                          input = ?3, output = ?4, error = NULL, error_kind = NULL, error_status = NULL,
                          error_request_id = NULL, started_at = ?5, finished_at = ?5
          WHERE idempotency_key = ?1",
        params![step.key, step.run_id, step.input, step.output, now],
    )?;
    Ok(None)
}

/// Runs `op` in a savepoint: all of its writes stay, or none do.
fn atomic<T>(
    conn: &mut Connection,
    op: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let savepoint = conn.savepoint()?;
    let value = op(&savepoint)?;
    savepoint.commit()?;
    Ok(value)
}

/// The first row `sql` gives, decoded.
fn one<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    decode: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let mut statement = conn.prepare_cached(sql)?;
    let mut rows = statement.query(params)?;
    rows.next()?.map(decode).transpose()
}

/// Every row `sql` gives, decoded.
fn all<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    mut decode: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut statement = conn.prepare_cached(sql)?;
    let mut rows = statement.query(params)?;
    let mut decoded = Vec::new();
    while let Some(row) = rows.next()? {
        decoded.push(decode(row)?);
    }
    Ok(decoded)
}

/// The first column of the first row `sql` gives.
fn scalar<T: rusqlite::types::FromSql>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> Result<Option<T>, StoreError> {
    Ok(conn
        .prepare_cached(sql)?
        .query_row(params, |row| row.get(0))
        .optional()?)
}

/// Runs a statement that returns no rows; how many rows it changed.
fn execute(conn: &Connection, sql: &str, params: impl Params) -> Result<u64, StoreError> {
    let changed = conn.prepare_cached(sql)?.execute(params)?;
    Ok(u64::try_from(changed).unwrap_or(u64::MAX))
}

fn is_unique_violation(error: &StoreError) -> bool {
    matches!(
        error,
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

/// Opens a connection to `path` with the settings every connection needs.
fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.execute_batch("PRAGMA foreign_keys = ON")?;
    Ok(conn)
}

/// The reader connections, taken in turn.
#[derive(Debug)]
struct Readers {
    connections: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

#[derive(Debug, Clone)]
pub struct SqliteStore {
    readers: Arc<Readers>,
    /// Writes for the writer thread.
    writes: mpsc::Sender<Write>,
    path: PathBuf,
}

impl SqliteStore {
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let writer = connect(path)?;
        // Pages freed by retention go back to the file system (see `prune`); set before the
        // first table, so it comes first.
        writer.execute_batch("PRAGMA auto_vacuum = INCREMENTAL")?;
        let mode: String = writer.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt(format!(
                "{} cannot be put in WAL mode (it is in {mode} mode)",
                path.display()
            )));
        }
        // Checkpoint the WAL every ~40 MB rather than SQLite's ~4 MB: each checkpoint copies
        // pages back and syncs the file while the writer waits, and a hot page written many
        // times in between is copied once.
        writer.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 10000")?;
        // A write that must be all or nothing within its group takes a savepoint, whose undo
        // pages SQLite keeps in a temporary file unless told to keep them in memory (they are
        // a few pages: a write's own changes).
        writer.execute_batch("PRAGMA temp_store = MEMORY")?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            readers.push(Mutex::new(connect(path)?));
        }
        let (writes, queued) = mpsc::channel();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_groups(writer, queued))
            .map_err(|e| StoreError::Corrupt(format!("cannot start the store's writer: {e}")))?;
        let store = SqliteStore {
            readers: Arc::new(Readers {
                connections: readers,
                next: AtomicUsize::new(0),
            }),
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
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(op, Write::Grouped).await
    }

    /// Runs the read `op` on the writer connection, between groups (see [`Write::Read`]).
    async fn read_hot<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(move |conn: &mut Connection| op(conn), Write::Read)
            .await
    }

    /// Runs `op` on the writer connection outside any transaction, between groups.
    async fn write_alone<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(op, Write::Alone).await
    }

    async fn submit<T, F>(&self, op: F, kind: fn(Job) -> Write) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.enqueue(op, kind, move |result| {
            let _ = answer.send(result);
        })?;
        answered
            .await
            .map_err(|_| StoreError::Corrupt("the write was not committed".into()))?
    }

    /// Queues `op` for the writer; `answer` hears its result once its transaction is committed
    /// (or why that failed). Writes are committed in the order they are queued.
    fn enqueue<T, F>(
        &self,
        op: F,
        kind: fn(Job) -> Write,
        answer: impl FnOnce(Result<T, StoreError>) + Send + 'static,
    ) -> Result<(), StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let job: Job = Box::new(move |conn| {
            let result = op(conn);
            Box::new(move |failure: Option<&str>| {
                answer(match failure {
                    None => result,
                    Some(e) => Err(StoreError::Corrupt(format!("cannot commit the write: {e}"))),
                });
            })
        });
        self.writes
            .send(kind(job))
            .map_err(|_| StoreError::Corrupt("the store is closed".into()))
    }

    /// Runs `op` on a reader connection: a free one if there is one, else the next in turn.
    fn read<T>(
        &self,
        op: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let all = &self.readers.connections;
        let first = self.readers.next.fetch_add(1, Ordering::Relaxed);
        let free = (0..all.len()).find_map(|i| all[(first + i) % all.len()].try_lock().ok());
        let conn: MutexGuard<'_, Connection> = match free {
            Some(conn) => conn,
            None => all[first % all.len()]
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        };
        op(&conn)
    }

    pub fn location(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    /// Waits until every write queued so far is committed (a step's queued success among
    /// them). The connections close when the last clone of the store is gone.
    pub async fn close(&self) {
        if let Err(e) = self.write(|_| Ok(())).await {
            tracing::warn!(error = %e, "the store's last writes may not all be committed");
        }
    }

    /// A file made before auto-vacuum was set keeps its old mode until a full `VACUUM`: run it
    /// once, so that from then on pruning shrinks the file.
    async fn ensure_incremental_vacuum(&self) -> Result<(), StoreError> {
        let mode: Option<i64> = self.read(|conn| scalar(conn, "PRAGMA auto_vacuum", []))?;
        if mode != Some(2) {
            self.write_alone(|conn| {
                conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM")?;
                Ok(())
            })
            .await?;
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
        let keep = i64::try_from(cutoffs.keep_runs).unwrap_or(i64::MAX);
        let oldest_kept: Option<i64> = self.read(|conn| {
            scalar(
                conn,
                "SELECT id FROM runs WHERE status IN ('succeeded', 'discarded') ORDER BY id DESC LIMIT 1 OFFSET ?",
                [keep],
            )
        })?;
        let below_id = oldest_kept.map_or(0, |id| id + 1);
        let finished_before = cutoffs.finished_before_ms;
        loop {
            let (steps, runs) = self
                .write(move |conn| {
                    atomic(conn, |conn| {
                        let ids: Vec<i64> = all(
                            conn,
                            "SELECT id FROM runs WHERE status IN ('succeeded', 'discarded')
                               AND (updated_at < ?1 OR id < ?2) LIMIT ?3",
                            params![finished_before, below_id, BATCH],
                            |row| Ok(row.get(0)?),
                        )?;
                        if ids.is_empty() {
                            return Ok((0, 0));
                        }
                        let list = serde_json::to_string(&ids).expect("ids serialize");
                        let steps = execute(
                            conn,
                            "DELETE FROM steps WHERE run_id IN (SELECT value FROM json_each(?))",
                            [&list],
                        )?;
                        let runs = execute(
                            conn,
                            "DELETE FROM runs WHERE id IN (SELECT value FROM json_each(?))",
                            [&list],
                        )?;
                        Ok((steps, runs))
                    })
                })
                .await?;
            if runs == 0 {
                break;
            }
            report.steps += steps;
            report.runs += runs;
        }
        let now = cutoffs.now_ms;
        report.inbox_events = self
            .write(move |conn| {
                // Events nothing refers to any more.
                let events = execute(
                    conn,
                    "DELETE FROM inbox WHERE received_at < ?1
                        AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.inbox_id = inbox.id)
                        AND NOT EXISTS (SELECT 1 FROM orders WHERE orders.inbox_id = inbox.id)",
                    [finished_before],
                )?;
                // Leases a day past their end (quota buckets are trimmed as they are spent).
                execute(
                    conn,
                    "DELETE FROM leases WHERE until_ms < ?",
                    [now - 86_400_000],
                )?;
                Ok(events)
            })
            .await?;
        report.bytes_freed = self
            .write_alone(|conn| {
                let pragma = |sql: &str| -> Result<i64, StoreError> {
                    Ok(conn.query_row(sql, [], |row| row.get(0))?)
                };
                let free_before = pragma("PRAGMA freelist_count")?;
                // It frees a page each time it is stepped: step it to the end.
                let mut vacuum = conn.prepare("PRAGMA incremental_vacuum")?;
                let mut freeing = vacuum.query([])?;
                while freeing.next()?.is_some() {}
                drop(freeing);
                drop(vacuum);
                conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
                let free_after = pragma("PRAGMA freelist_count")?;
                let page_size = pragma("PRAGMA page_size")?;
                Ok(u64::try_from((free_before - free_after).max(0) * page_size).unwrap_or(0))
            })
            .await?;
        Ok(report)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        self.write_alone(|conn| {
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
            )?;
            for (version, sql) in MIGRATIONS {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let applied: Option<i64> = scalar(
                    &tx,
                    "SELECT version FROM schema_migrations WHERE version = ?",
                    [version],
                )?;
                if applied.is_none() {
                    tx.execute_batch(sql)?;
                    execute(
                        &tx,
                        "INSERT INTO schema_migrations (version, applied_at) VALUES (?, strftime('%s','now') * 1000)",
                        [version],
                    )?;
                    tracing::info!(version, "store schema migrated");
                }
                tx.commit()?;
            }
            Ok(())
        })
        .await
    }

    pub async fn admit_order(&self, order: &NewOrder, now: i64) -> Result<Admission, StoreError> {
        let order = order.clone();
        // Written as text here, not on the writer's thread.
        let payment_input = order.payment_step.input.to_string();
        self.write(move |conn| {
            atomic(conn, |conn| {
                if let Some(existing) =
                    one(conn, ORDER_SELECT_BY_KEY, [&order.idempotency_key], |row| order_from_row(row))?
                {
                    return Ok(Admission::Existing(existing));
                }
                let inbox_id = insert_new_event(conn, &order.event, now)?;
                // A reference already taken fails the insert (UNIQUE): nothing of this admission stays.
                execute(
                    conn,
                    "INSERT INTO orders (id, reference, idempotency_key, request_fingerprint, inbox_id, status, currency,
                                         amount_minor, customer_email, card_brand, card_last4, created_at, updated_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    params![
                        order.id,
                        order.reference,
                        order.idempotency_key,
                        order.request_fingerprint,
                        inbox_id,
                        OrderStatus::PendingPayment.as_str(),
                        order.currency,
                        order.amount_minor,
                        order.customer_email,
                        order.card_brand,
                        order.card_last4,
                        now,
                        now,
                    ],
                )
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        StoreError::ReferenceTaken {
                            reference: order.reference.clone(),
                        }
                    } else {
                        e
                    }
                })?;
                let step = &order.payment_step;
                let payment_begun =
                    insert_fresh_step(conn, None, &step.key, &step.name, Some(&payment_input), now)?;
                Ok(Admission::Admitted {
                    order: order.admitted(inbox_id, now),
                    payment_begun,
                })
            })
        })
        .await
    }

    /// Commits an event (and the runs it starts) unless one with its dedupe key is in already.
    ///
    /// Like every write, it joins the writer's group (see [`write_groups`]): a burst of
    /// webhooks costs one commit, not one each, and each caller returns only once its event is
    /// committed. The event and its runs go in together or not at all (a savepoint).
    pub async fn accept_event(
        &self,
        event: &NewEvent,
        flows: &[&str],
        now: i64,
    ) -> Result<Accepted, StoreError> {
        let event = event.clone();
        let flows: Vec<String> = flows.iter().map(|f| (*f).to_string()).collect();
        self.write(move |conn| {
            atomic(conn, |conn| {
                let Some(id) = insert_event(conn, &event, now)? else {
                    let id: i64 = scalar(
                        conn,
                        "SELECT id FROM inbox WHERE dedupe_key = ?",
                        [&event.dedupe_key],
                    )?
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!("inbox event {:?} vanished", event.dedupe_key))
                    })?;
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
                    insert_run(conn, &run, now)?;
                }
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
            atomic(conn, |conn| {
                execute(
                    conn,
                    "UPDATE orders SET status = ?, payment_id = ?, payment_status = ?, decline_reason = ?,
                                       status_detail = ?, failure_kind = ?, updated_at = ?
                     WHERE id = ?",
                    params![
                        update.status.as_str(),
                        update.payment_id,
                        update.payment_status,
                        update.decline_reason,
                        update.status_detail,
                        update.failure_kind.map(|k| k.as_str()),
                        now,
                        order_id,
                    ],
                )?;
                // No such order: nothing was updated and nothing is read.
                let record = one(conn, ORDER_SELECT_BY_ID, [&order_id], |row| order_from_row(row))?
                    .ok_or_else(|| StoreError::NotFound(format!("order {order_id}")))?;
                for run in &runs {
                    insert_run(conn, run, now)?;
                }
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
        let (env, version, note) = (env.to_owned(), version.clone(), note.map(str::to_owned));
        self.write(move |conn| {
            atomic(conn, |conn| {
                execute(
                    conn,
                    "INSERT OR IGNORE INTO flow_versions (name, version, text, origin, recorded_ms)
                     VALUES (?, ?, ?, ?, ?)",
                    params![version.name, version.version, version.text, version.origin, now],
                )?;
                let current: Option<String> = scalar(
                    conn,
                    "SELECT version FROM flow_deployments WHERE env = ? AND name = ? ORDER BY id DESC LIMIT 1",
                    params![env, version.name],
                )?;
                if current.as_deref() == Some(version.version.as_str()) {
                    return Ok(false);
                }
                execute(
                    conn,
                    "INSERT INTO flow_deployments (env, name, version, deployed_ms, note) VALUES (?, ?, ?, ?, ?)",
                    params![env, version.name, version.version, now, note],
                )?;
                Ok(true)
            })
        })
        .await
    }

    pub async fn open_session(
        &self,
        session: &ConsoleSession,
        expired_before_ms: i64,
    ) -> Result<(), StoreError> {
        let session = session.clone();
        self.write(move |conn| {
            atomic(conn, |conn| {
                execute(
                    conn,
                    "DELETE FROM console_sessions WHERE last_seen_ms < ?",
                    [expired_before_ms],
                )?;
                execute(
                    conn,
                    "INSERT INTO console_sessions (id_hash, token_id, csrf, last_seen_ms) VALUES (?, ?, ?, ?)",
                    params![session.id_hash, session.token_id, session.csrf, session.last_seen_ms],
                )?;
                Ok(())
            })
        })
        .await
    }

    pub async fn session(&self, id_hash: &str) -> Result<Option<ConsoleSession>, StoreError> {
        self.read(|conn| {
            one(
                conn,
                "SELECT id_hash, token_id, csrf, last_seen_ms FROM console_sessions WHERE id_hash = ?",
                [id_hash],
                |row| session_from_row(row),
            )
        })
    }

    pub async fn touch_session(&self, id_hash: &str, now_ms: i64) -> Result<(), StoreError> {
        let id_hash = id_hash.to_owned();
        self.write(move |conn| {
            execute(
                conn,
                "UPDATE console_sessions SET last_seen_ms = ? WHERE id_hash = ?",
                params![now_ms, id_hash],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn close_session(&self, id_hash: &str) -> Result<(), StoreError> {
        let id_hash = id_hash.to_owned();
        self.write(move |conn| {
            execute(
                conn,
                "DELETE FROM console_sessions WHERE id_hash = ?",
                [id_hash],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn record_sample(
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

    pub async fn samples_since(
        &self,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        self.read(|conn| {
            all(
                conn,
                "SELECT at_ms, sample FROM overview_samples WHERE at_ms >= ? ORDER BY at_ms LIMIT ?",
                params![since_ms, i64::from(limit)],
                |row| Ok((row.get("at_ms")?, row.get("sample")?)),
            )
        })
    }

    pub async fn record_flow_version(&self, version: &FlowVersionRecord) -> Result<(), StoreError> {
        let version = version.clone();
        self.write(move |conn| {
            execute(
                conn,
                "INSERT OR IGNORE INTO flow_versions (name, version, text, origin, recorded_ms)
                 VALUES (?, ?, ?, ?, ?)",
                params![
                    version.name,
                    version.version,
                    version.text,
                    version.origin,
                    version.recorded_ms
                ],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn deployments(&self, env: &str) -> Result<Vec<DeploymentRecord>, StoreError> {
        self.read(|conn| {
            all(
                conn,
                "SELECT env, name, version, deployed_ms, note FROM flow_deployments d
                 WHERE env = ? AND id = (SELECT MAX(id) FROM flow_deployments e WHERE e.env = d.env AND e.name = d.name)
                 ORDER BY name",
                [env],
                |row| deployment_from_row(row),
            )
        })
    }

    pub async fn deployment_history(
        &self,
        name: &str,
    ) -> Result<Vec<DeploymentRecord>, StoreError> {
        self.read(|conn| {
            all(
                conn,
                "SELECT env, name, version, deployed_ms, note FROM flow_deployments WHERE name = ? ORDER BY id DESC",
                [name],
                |row| deployment_from_row(row),
            )
        })
    }

    pub async fn flow_version(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Option<FlowVersionRecord>, StoreError> {
        self.read(|conn| {
            one(
                conn,
                "SELECT name, version, text, origin, recorded_ms FROM flow_versions WHERE name = ? AND version = ?",
                [name, version],
                |row| flow_version_from_row(row),
            )
        })
    }

    pub async fn pin_run_flow_version(&self, run_id: i64, pinned: bool) -> Result<(), StoreError> {
        self.write(move |conn| {
            execute(
                conn,
                "UPDATE runs SET flow_version_pinned = ?1 WHERE id = ?2",
                params![i64::from(pinned), run_id],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn set_run_flow_version(&self, run_id: i64, version: &str) -> Result<(), StoreError> {
        let version = version.to_owned();
        self.write(move |conn| {
            execute(
                conn,
                "UPDATE runs SET flow_version = ?1 WHERE id = ?2 AND flow_version_pinned = 0 AND (flow_version IS NULL OR flow_version <> ?1)",
                params![version, run_id],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn admit_refund(
        &self,
        refund: &NewRefund,
        now: i64,
    ) -> Result<RefundAdmission, StoreError> {
        let refund = refund.clone();
        self.write(move |conn| atomic(conn, |conn| admit_refund(conn, &refund, now)))
            .await
    }

    pub async fn refund(&self, id: &str) -> Result<Option<RefundRecord>, StoreError> {
        self.read(|conn| {
            one(
                conn,
                concat!("SELECT ", refund_columns!(), " FROM refunds WHERE id = ?"),
                [id],
                |row| refund_from_row(row),
            )
        })
    }

    pub async fn refund_by_cybersource_id(
        &self,
        cybersource_refund_id: &str,
    ) -> Result<Option<RefundRecord>, StoreError> {
        self.read(|conn| {
            one(
                conn,
                concat!(
                    "SELECT ",
                    refund_columns!(),
                    " FROM refunds WHERE cybersource_refund_id = ?"
                ),
                [cybersource_refund_id],
                |row| refund_from_row(row),
            )
        })
    }

    pub async fn refunds_of(&self, order_id: &str) -> Result<Vec<RefundRecord>, StoreError> {
        self.read(|conn| {
            all(
                conn,
                concat!(
                    "SELECT ",
                    refund_columns!(),
                    " FROM refunds WHERE order_id = ? ORDER BY created_at, id"
                ),
                [order_id],
                |row| refund_from_row(row),
            )
        })
    }

    pub async fn finish_refund(
        &self,
        id: &str,
        outcome: &RefundOutcome<'_>,
        now: i64,
    ) -> Result<(), StoreError> {
        let id = id.to_owned();
        let status = outcome.status.as_str();
        let (refund_id, creditnote_id, detail) = (
            outcome.cybersource_refund_id.map(str::to_owned),
            outcome.zoho_creditnote_id.map(str::to_owned),
            outcome.detail.map(str::to_owned),
        );
        self.write(move |conn| {
            let changed = execute(
                conn,
                "UPDATE refunds SET status = ?,
                        cybersource_refund_id = COALESCE(?, cybersource_refund_id),
                        zoho_creditnote_id = COALESCE(?, zoho_creditnote_id),
                        status_detail = ?, updated_at = ?
                 WHERE id = ?",
                params![status, refund_id, creditnote_id, detail, now, id],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound(format!("refund {id}")));
            }
            Ok(())
        })
        .await
    }

    pub async fn order(&self, id: &str) -> Result<Option<OrderRecord>, StoreError> {
        let id = id.to_owned();
        self.read_hot(move |conn| one(conn, ORDER_SELECT_BY_ID, [id], |row| order_from_row(row)))
            .await
    }

    pub async fn order_by_reference(
        &self,
        reference: &str,
    ) -> Result<Option<OrderRecord>, StoreError> {
        self.read(|conn| {
            one(conn, ORDER_SELECT_BY_REFERENCE, [reference], |row| {
                order_from_row(row)
            })
        })
    }

    pub async fn order_by_zoho_invoice(
        &self,
        invoice_id: &str,
    ) -> Result<Option<OrderRecord>, StoreError> {
        self.read(|conn| {
            one(conn, ORDER_SELECT_BY_ZOHO_INVOICE, [invoice_id], |row| {
                order_from_row(row)
            })
        })
    }

    /// Orders whose payment was started before `before_ms` and never answered.
    pub async fn stale_pending_orders(
        &self,
        before_ms: i64,
        limit: u32,
    ) -> Result<Vec<OrderRecord>, StoreError> {
        self.read(|conn| {
            all(
                conn,
                ORDER_SELECT_STALE,
                params![before_ms, i64::from(limit)],
                |row| order_from_row(row),
            )
        })
    }

    pub async fn orders(&self, limit: u32) -> Result<Vec<OrderRecord>, StoreError> {
        self.read(|conn| {
            all(conn, ORDER_SELECT_RECENT, [i64::from(limit)], |row| {
                order_from_row(row)
            })
        })
    }

    pub async fn set_order_status(
        &self,
        order_id: &str,
        status: OrderStatus,
        detail: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        let (order_id, detail) = (order_id.to_owned(), detail.map(str::to_owned));
        self.write(move |conn| {
            execute(
                conn,
                "UPDATE orders SET status = ?, status_detail = COALESCE(?, status_detail), updated_at = ? WHERE id = ?",
                params![status.as_str(), detail, now, order_id],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn complete_order_sync(
        &self,
        order_id: &str,
        ids: &ZohoIds,
        step: OwnStep<'_>,
        now: i64,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let (order_id, ids) = (order_id.to_owned(), ids.clone());
        let step = OwnedStep::from(step);
        self.write(move |conn| {
            atomic(conn, |conn| {
                if let Some(before) = own_step(conn, &step, now)? {
                    return Ok(Some(before));
                }
                execute(
                    conn,
                    "UPDATE orders SET status = ?, zoho_contact_id = ?, zoho_invoice_id = ?, zoho_payment_id = ?,
                                       status_detail = NULL, updated_at = ?
                     WHERE id = ?",
                    params![
                        OrderStatus::Completed.as_str(),
                        ids.contact_id,
                        ids.invoice_id,
                        ids.payment_id,
                        now,
                        order_id
                    ],
                )?;
                Ok(None)
            })
        })
        .await
    }

    pub async fn inbox_event(&self, id: i64) -> Result<InboxEvent, StoreError> {
        self.read(|conn| {
            one(
                conn,
                "SELECT id, source, dedupe_key, event_type, entity_key, payload, received_at FROM inbox WHERE id = ?",
                [id],
                |row| inbox_event_from_row(row),
            )
        })?
        .ok_or_else(|| StoreError::NotFound(format!("inbox event {id}")))
    }

    pub async fn claim_run(
        &self,
        owner: &str,
        now: i64,
        lease: Duration,
    ) -> Result<Option<ClaimedRun>, StoreError> {
        let owner = owner.to_owned();
        self.write(move |conn| {
            // Found, then taken, then read with its event (one join): one writer, inside its
            // transaction, so nothing comes between.
            let Some(id) = scalar::<i64>(
                conn,
                "SELECT id FROM (
                     SELECT * FROM (
                         SELECT r.id, r.next_attempt_at FROM runs r
                          WHERE r.status = 'queued' AND r.next_attempt_at <= ?1
                            AND NOT EXISTS (SELECT 1 FROM runs e
                                  WHERE e.entity_key = r.entity_key AND e.id < r.id
                                    AND e.status IN ('queued', 'running'))
                          ORDER BY r.next_attempt_at, r.id LIMIT 1)
                     UNION ALL
                     SELECT * FROM (
                         SELECT r.id, r.next_attempt_at FROM runs r INDEXED BY runs_lease_expiry
                          WHERE r.status = 'running' AND r.lease_expires_at < ?1
                            AND NOT EXISTS (SELECT 1 FROM runs e
                                  WHERE e.entity_key = r.entity_key AND e.id < r.id
                                    AND e.status IN ('queued', 'running'))
                          ORDER BY r.next_attempt_at, r.id LIMIT 1))
                  ORDER BY next_attempt_at, id LIMIT 1",
                [now],
            )?
            else {
                return Ok(None);
            };
            execute(
                conn,
                "UPDATE runs
                    SET status = 'running', lease_owner = ?1, lease_expires_at = ?2, attempt = attempt + 1, updated_at = ?3
                  WHERE id = ?4",
                params![owner, now + millis(lease), now, id],
            )?;
            one(
                conn,
                "SELECT r.id, r.inbox_id, r.flow, r.entity_key, r.attempt, r.flow_version, r.flow_version_pinned,
                        i.source AS event_source, i.dedupe_key AS event_dedupe_key, i.event_type,
                        i.entity_key AS event_entity_key, i.payload AS event_payload,
                        i.received_at AS event_received_at
                   FROM runs r LEFT JOIN inbox i ON i.id = r.inbox_id
                  WHERE r.id = ?",
                [id],
                |row| claimed_from_row(row),
            )
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
        let owner = owner.to_owned();
        self.write(move |conn| {
            let changed = execute(
                conn,
                "UPDATE runs SET lease_expires_at = ?, updated_at = ? WHERE id = ? AND lease_owner = ? AND status = 'running'",
                params![now + millis(lease), now, run_id, owner],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    pub async fn finish_run(
        &self,
        run_id: i64,
        owner: &str,
        flow_version: Option<&str>,
        record: Option<RecordedStep<'_>>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (owner, flow_version) = (owner.to_owned(), flow_version.map(str::to_owned));
        let record = record.map(|r| (r.key.to_owned(), r.name.to_owned(), r.value.to_string()));
        // The outputs are kept only by the run's owner, with its end or not at all.
        self.write(move |conn| atomic(conn, |conn| {
            let changed = execute(
                conn,
                "UPDATE runs SET status = 'succeeded', lease_owner = NULL, lease_expires_at = NULL,
                                 last_error = NULL, last_error_kind = NULL, last_error_status = NULL,
                                 finished_at = ?1, updated_at = ?1,
                                 flow_version = CASE WHEN flow_version_pinned = 0 THEN COALESCE(?4, flow_version) ELSE flow_version END
                  WHERE id = ?2 AND lease_owner = ?3 AND status = 'running'",
                params![now, run_id, owner, flow_version],
            )?;
            if changed == 1
                && let Some((key, name, output)) = &record
            {
                insert_recorded_step(conn, Some(run_id), key, name, None, output, now)?;
            }
            Ok(changed == 1)
        }))
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
            end_attempt(
                conn,
                run_id,
                &owner,
                flow_version.as_deref(),
                &failure,
                Some(at),
                now,
            )
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
            atomic(conn, |conn| {
                let changed = end_attempt(
                    conn,
                    run_id,
                    &owner,
                    flow_version.as_deref(),
                    &failure,
                    None,
                    now,
                )?;
                if changed
                    && let Some((order_id, detail)) = &order_failed
                {
                    execute(
                        conn,
                        "UPDATE orders SET status = 'sync_failed', status_detail = ?1, updated_at = ?2
                          WHERE id = ?3 AND status = 'approved'",
                        params![detail, now, order_id],
                    )?;
                }
                Ok(changed)
            })
        })
        .await
    }

    pub async fn requeue_run(&self, run_id: i64, now: i64) -> Result<bool, StoreError> {
        self.write(move |conn| {
            let changed = execute(
                conn,
                "UPDATE runs SET status = 'queued', attempt = 0, next_attempt_at = ?1, lease_owner = NULL,
                                 lease_expires_at = NULL, finished_at = NULL, updated_at = ?1
                  WHERE id = ?2 AND status IN ('succeeded', 'dead', 'discarded')",
                params![now, run_id],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    /// A dead letter set aside: kept as history, never run again unless replayed.
    pub async fn discard_run(&self, run_id: i64, now: i64) -> Result<bool, StoreError> {
        self.write(move |conn| {
            let changed = execute(
                conn,
                "UPDATE runs SET status = 'discarded', updated_at = ?1 WHERE id = ?2 AND status = 'dead'",
                params![now, run_id],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    /// Runs matching `filter`, newest first.
    pub async fn find_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        self.read(|conn| {
            all(
                conn,
                RUN_SELECT_FILTERED,
                params![
                    filter.status.map(RunStatus::as_str),
                    filter.flow.as_deref(),
                    filter.entity.as_deref(),
                    filter.since_ms,
                    filter.until_ms,
                    filter.before_id,
                    i64::from(filter.limit.max(1)),
                ],
                |row| run_from_row(row),
            )
        })
    }

    pub async fn run(&self, run_id: i64) -> Result<Option<RunRecord>, StoreError> {
        self.read(|conn| one(conn, RUN_SELECT_BY_ID, [run_id], |row| run_from_row(row)))
    }

    pub async fn runs(
        &self,
        status: Option<RunStatus>,
        limit: u32,
    ) -> Result<Vec<RunRecord>, StoreError> {
        self.read(|conn| {
            all(
                conn,
                RUN_SELECT_RECENT,
                params![status.map(RunStatus::as_str), i64::from(limit)],
                |row| run_from_row(row),
            )
        })
    }

    pub async fn next_wakeup(&self) -> Result<Option<i64>, StoreError> {
        self.read(|conn| {
            Ok(scalar::<Option<i64>>(
                conn,
                "SELECT MIN(t) FROM (
                     SELECT MIN(next_attempt_at) AS t FROM runs WHERE status = 'queued'
                     UNION ALL
                     SELECT MIN(lease_expires_at) AS t FROM runs INDEXED BY runs_lease_expiry
                      WHERE status = 'running')",
                [],
            )?
            .flatten())
        })
    }

    pub async fn step(&self, key: &str) -> Result<Option<StepRecord>, StoreError> {
        let key = key.to_owned();
        self.read_hot(move |conn| one(conn, STEP_SELECT_BY_KEY, [key], |row| step_from_row(row)))
            .await
    }

    pub async fn steps_of_run(&self, run_id: i64) -> Result<Vec<StepRecord>, StoreError> {
        self.read(|conn| all(conn, STEP_SELECT_BY_RUN, [run_id], |row| step_from_row(row)))
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
        let (key, name, input) = (
            key.to_owned(),
            name.to_owned(),
            input.map(serde_json::Value::to_string),
        );
        self.write(move |conn| {
            // Most steps are new: one insert says so, with nothing to read back.
            if insert_fresh_step(conn, run_id, &key, &name, input.as_deref(), now)? {
                return Ok(Some(StepStart::Begun {
                    attempt: 1,
                    uncertain: false,
                }));
            }
            let begun = execute(
                conn,
                "INSERT INTO steps (idempotency_key, run_id, name, status, attempts, input, started_at)
                 VALUES (?1, ?2, ?3, 'started', 1, ?5, ?4)
                 ON CONFLICT (idempotency_key) DO UPDATE
                    SET status = 'started', attempts = steps.attempts + 1, run_id = COALESCE(excluded.run_id, steps.run_id),
                        input = COALESCE(excluded.input, steps.input), started_at = excluded.started_at, finished_at = NULL,
                        error_kind = CASE WHEN steps.status = 'started' THEN 'outcome_unknown' ELSE steps.error_kind END
                  WHERE steps.status != 'succeeded'",
                params![key, run_id, name, now, input],
            )?;
            if begun == 0 {
                return Ok(None);
            }
            one(
                conn,
                "SELECT attempts, error_kind FROM steps WHERE idempotency_key = ?",
                [&key],
                |row| step_start_from_row(row),
            )
        })
        .await
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
            insert_recorded_step(conn, run_id, &key, &name, None, &output, now).map(|_| ())
        })
        .await
    }

    pub async fn succeed_step(
        &self,
        key: &str,
        output: &serde_json::Value,
        now: i64,
    ) -> Result<(), StoreError> {
        self.write(succeed_step_job(key, output, now)).await
    }

    /// Queues a step's success without waiting for its commit. Writes are committed in the
    /// order they are queued (one writer, first in first out), so whatever the caller writes
    /// next is committed with it or after it; until then a reader still sees the step begun.
    pub fn queue_step_success(
        &self,
        key: &str,
        output: &serde_json::Value,
        now: i64,
    ) -> Result<(), StoreError> {
        let step = key.to_owned();
        self.enqueue(
            succeed_step_job(key, output, now),
            Write::Grouped,
            move |result| {
                if let Err(error) = result {
                    // The step stays begun: its next attempt looks its effect up first.
                    tracing::error!(%step, %error, "a step's success was not stored");
                }
            },
        )
    }

    pub async fn fail_step(
        &self,
        key: &str,
        failure: &FailureRecord,
        now: i64,
    ) -> Result<(), StoreError> {
        let (key, failure) = (key.to_owned(), failure.clone());
        self.write(move |conn| {
            execute(
                conn,
                "UPDATE steps SET status = 'failed', error = ?, error_kind = ?, error_status = ?, error_request_id = ?,
                                  finished_at = ?
                  WHERE idempotency_key = ? AND status != 'succeeded'",
                params![
                    failure.message,
                    failure.kind.as_str(),
                    failure.http_status.map(i64::from),
                    failure.request_id,
                    now,
                    key,
                ],
            )?;
            Ok(())
        })
        .await
    }

    // Vault --------------------------------------------------------------------------------

    pub async fn vault_put(&self, secret: &SealedSecret, now: i64) -> Result<(), StoreError> {
        let secret = secret.clone();
        self.write(move |conn| {
            execute(
                conn,
                "INSERT INTO vault_secrets (name, key_id, wrapped_key, sealed, created_ms, updated_ms)
                 VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT (name) DO UPDATE SET key_id = excluded.key_id,
                     wrapped_key = excluded.wrapped_key, sealed = excluded.sealed,
                     updated_ms = excluded.updated_ms",
                params![
                    secret.name,
                    secret.key_id,
                    secret.wrapped_key,
                    secret.sealed,
                    now,
                    now
                ],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn vault_get(&self, name: &str) -> Result<Option<SealedSecret>, StoreError> {
        self.read(|conn| {
            one(
                conn,
                "SELECT name, key_id, wrapped_key, sealed, created_ms, updated_ms FROM vault_secrets WHERE name = ?",
                [name],
                |row| sealed_from_row(row),
            )
        })
    }

    pub async fn vault_all(&self) -> Result<Vec<SealedSecret>, StoreError> {
        self.read(|conn| {
            all(
                conn,
                "SELECT name, key_id, wrapped_key, sealed, created_ms, updated_ms FROM vault_secrets ORDER BY name",
                [],
                |row| sealed_from_row(row),
            )
        })
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
        let (name, old_key_id, new_key_id, wrapped_key) = (
            name.to_owned(),
            old_key_id.to_owned(),
            new_key_id.to_owned(),
            wrapped_key.to_vec(),
        );
        self.write(move |conn| {
            let changed = execute(
                conn,
                "UPDATE vault_secrets SET key_id = ?, wrapped_key = ?, updated_ms = ?
                 WHERE name = ? AND key_id = ?",
                params![new_key_id, wrapped_key, now, name, old_key_id],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    pub async fn vault_delete(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.write(move |conn| {
            Ok(execute(conn, "DELETE FROM vault_secrets WHERE name = ?", [name])? == 1)
        })
        .await
    }

    /// The value stored under `name`, or `value` stored now if there was none.
    pub async fn vault_meta_or_insert(
        &self,
        name: &str,
        value: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let (name, value) = (name.to_owned(), value.to_vec());
        self.write(move |conn| {
            execute(
                conn,
                "INSERT INTO vault_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                params![name, value],
            )?;
            scalar(conn, "SELECT value FROM vault_meta WHERE name = ?", [&name])?
                .ok_or_else(|| StoreError::Corrupt(format!("vault meta {name:?} vanished")))
        })
        .await
    }

    // Connections ----------------------------------------------------------------------------

    pub async fn put_connection(&self, connection: &ConnectionRecord) -> Result<(), StoreError> {
        let (name, vendor, settings, updated_ms) = (
            connection.name.clone(),
            connection.vendor.clone(),
            connection.settings.to_string(),
            connection.updated_ms,
        );
        self.write(move |conn| {
            execute(
                conn,
                "INSERT INTO connections (name, vendor, settings, updated_ms) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (name) DO UPDATE SET vendor = excluded.vendor, \
                 settings = excluded.settings, updated_ms = excluded.updated_ms",
                params![name, vendor, settings, updated_ms],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn delete_connection(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.write(move |conn| {
            Ok(execute(conn, "DELETE FROM connections WHERE name = ?", [name])? == 1)
        })
        .await
    }

    pub async fn connection(&self, name: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        self.read(|conn| {
            one(
                conn,
                "SELECT name, vendor, settings, updated_ms FROM connections WHERE name = ?",
                [name],
                |row| connection_from_row(row),
            )
        })
    }

    // Admin API tokens -------------------------------------------------------------------------

    pub async fn put_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        let token = token.clone();
        self.write(move |conn| {
            execute(
                conn,
                "INSERT INTO api_tokens (id, name, role, secret_hash, created_ms) VALUES (?, ?, ?, ?, ?)",
                params![token.id, token.name, token.role, token.secret_hash, token.created_ms],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.read(|conn| {
            one(
                conn,
                "SELECT id, name, role, secret_hash, created_ms, last_used_ms, revoked_ms \
                 FROM api_tokens WHERE id = ?",
                [id],
                |row| token_from_row(row),
            )
        })
    }

    pub async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.read(|conn| {
            all(
                conn,
                "SELECT id, name, role, secret_hash, created_ms, last_used_ms, revoked_ms \
                 FROM api_tokens ORDER BY created_ms, id",
                [],
                |row| token_from_row(row),
            )
        })
    }

    pub async fn touch_token(&self, id: &str, now: i64) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.write(move |conn| {
            execute(
                conn,
                "UPDATE api_tokens SET last_used_ms = ? WHERE id = ?",
                params![now, id],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn revoke_token(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.write(move |conn| {
            Ok(execute(
                conn,
                "UPDATE api_tokens SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL",
                params![now, id],
            )? == 1)
        })
        .await
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

    pub async fn shared_token(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|conn| {
            scalar(
                conn,
                "SELECT sealed FROM shared_tokens WHERE name = ?",
                [name],
            )
        })
    }

    pub async fn share_token(&self, name: &str, sealed: &[u8], now: i64) -> Result<(), StoreError> {
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

    /// Names of the unexpired leases whose names start with `prefix`.
    pub async fn leases_held(&self, prefix: &str, now: i64) -> Result<Vec<String>, StoreError> {
        self.read(|conn| {
            all(
                conn,
                "SELECT name FROM leases WHERE substr(name, 1, length(?1)) = ?1 AND until_ms > ?2",
                params![prefix, now],
                |row| Ok(row.get(0)?),
            )
        })
    }

    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
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
        let (key, windows) = (key.to_owned(), windows.to_vec());
        self.write(move |conn| atomic(conn, |conn| quota_take(conn, &key, &windows, cost, now)))
            .await
    }

    /// Units spent in each of `key`'s windows.
    pub async fn quota_used(
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

    /// Lends nothing from `key` until `until_ms`.
    pub async fn quota_pause(&self, key: &str, until_ms: i64) -> Result<(), StoreError> {
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

    pub async fn xref(
        &self,
        system: &str,
        kind: &str,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        let key = [system, kind, key].map(str::to_owned);
        self.read_hot(move |conn| scalar(conn, XREF_SELECT, key))
            .await
    }

    pub async fn put_xrefs(
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

    pub async fn counts(&self) -> Result<Counts, StoreError> {
        self.read(|conn| {
            let by = |sql: &str| -> Result<Vec<(String, u64)>, StoreError> {
                all(conn, sql, [], |row| Ok((row.get(0)?, count(row)?)))
            };
            Ok(Counts {
                orders_by_status: by("SELECT status, COUNT(*) AS n FROM orders GROUP BY status")?
                    .into_iter()
                    .collect(),
                runs_by_status: by("SELECT status, COUNT(*) AS n FROM runs GROUP BY status")?
                    .into_iter()
                    .collect(),
                inbox_events: scalar::<i64>(conn, "SELECT COUNT(*) FROM inbox", [])?
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0),
                inbox_by_source: by("SELECT source, COUNT(*) AS n FROM inbox GROUP BY source")?
                    .into_iter()
                    .collect(),
            })
        })
    }
}

fn admit_refund(
    conn: &Connection,
    refund: &NewRefund,
    now: i64,
) -> Result<RefundAdmission, StoreError> {
    // One refund decision at a time per order (the writer is alone).
    let order = one(conn, ORDER_SELECT_BY_ID, [&refund.order_id], |row| {
        order_from_row(row)
    })?
    .ok_or_else(|| StoreError::NotFound(format!("order {}", refund.order_id)))?;
    let existing = one(
        conn,
        concat!(
            "SELECT ",
            refund_columns!(),
            " FROM refunds WHERE (order_id = ? AND idempotency_key = ?) OR cybersource_refund_id = ?"
        ),
        params![
            refund.order_id,
            refund.idempotency_key,
            refund.cybersource_refund_id
        ],
        |row| refund_from_row(row),
    )?;
    if let Some(existing) = existing {
        return Ok(RefundAdmission::Existing(existing));
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
    let refunded: i64 = scalar(
        conn,
        "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM refunds WHERE order_id = ? AND status <> 'failed'",
        [&refund.order_id],
    )?
    .unwrap_or(0);
    let refundable = order.amount_minor - refunded;
    if refund.amount_minor > refundable {
        return Ok(RefundAdmission::TooMuch {
            refundable_minor: refundable,
        });
    }
    let inbox_id = insert_new_event(conn, &refund.event, now)?;
    execute(
        conn,
        "INSERT INTO refunds (id, order_id, idempotency_key, request_fingerprint, inbox_id, amount_minor,
                              currency, reason, source, status, cybersource_refund_id, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            refund.id,
            refund.order_id,
            refund.idempotency_key,
            refund.request_fingerprint,
            inbox_id,
            refund.amount_minor,
            refund.currency,
            refund.reason,
            refund.source,
            RefundStatus::Requested.as_str(),
            refund.cybersource_refund_id,
            now,
            now,
        ],
    )?;
    for flow in &refund.flows {
        let run = NewRun {
            inbox_id,
            flow: flow.clone(),
            entity_key: refund.entity_key.clone(),
            not_before: None,
        };
        insert_run(conn, &run, now)?;
    }
    one(
        conn,
        concat!("SELECT ", refund_columns!(), " FROM refunds WHERE id = ?"),
        [&refund.id],
        |row| refund_from_row(row),
    )?
    .map(RefundAdmission::Admitted)
    .ok_or_else(|| StoreError::Corrupt(format!("refund {} vanished", refund.id)))
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

/// Adds an event to the inbox and returns its id; `None` when its dedupe key is in already.
fn insert_event(conn: &Connection, event: &NewEvent, now: i64) -> Result<Option<i64>, StoreError> {
    let inserted = execute(
        conn,
        "INSERT INTO inbox (source, dedupe_key, event_type, entity_key, payload, received_at)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING",
        params![
            event.source,
            event.dedupe_key,
            event.event_type,
            event.entity_key,
            event.payload.to_string(),
            now,
        ],
    )?;
    Ok((inserted == 1).then(|| conn.last_insert_rowid()))
}

/// Adds an event that must be new (an order's or a refund's own); its id.
fn insert_new_event(conn: &Connection, event: &NewEvent, now: i64) -> Result<i64, StoreError> {
    insert_event(conn, event, now)?.ok_or_else(|| {
        StoreError::Corrupt(format!("inbox event {:?} is in already", event.dedupe_key))
    })
}

/// Ends the attempt `owner` holds on run `run_id` with `failure`: queued again at `retry_at`,
/// or dead (finished now) without one. The flow version it ran goes with it unless pinned.
/// False when the run is not `owner`'s to end (its lease ran out and another took it).
fn end_attempt(
    conn: &Connection,
    run_id: i64,
    owner: &str,
    flow_version: Option<&str>,
    failure: &FailureRecord,
    retry_at: Option<i64>,
    now: i64,
) -> Result<bool, StoreError> {
    let (status, finished_at) = match retry_at {
        Some(_) => (RunStatus::Queued, None),
        None => (RunStatus::Dead, Some(now)),
    };
    let changed = execute(
        conn,
        "UPDATE runs SET status = ?, next_attempt_at = COALESCE(?, next_attempt_at),
                         flow_version = CASE WHEN flow_version_pinned = 0 THEN COALESCE(?, flow_version) ELSE flow_version END,
                         lease_owner = NULL, lease_expires_at = NULL,
                         last_error = ?, last_error_kind = ?, last_error_status = ?, last_error_step = ?,
                         last_error_request_id = ?, finished_at = ?, updated_at = ?
          WHERE id = ? AND lease_owner = ? AND status = 'running'",
        params![
            status.as_str(),
            retry_at,
            flow_version,
            failure.message,
            failure.kind.as_str(),
            failure.http_status.map(i64::from),
            failure.step,
            failure.request_id,
            finished_at,
            now,
            run_id,
            owner,
        ],
    )?;
    Ok(changed == 1)
}

/// Begins step `key` (attempt 1) unless the key is taken; whether it did.
fn insert_fresh_step(
    conn: &Connection,
    run_id: Option<i64>,
    key: &str,
    name: &str,
    input: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    let inserted = execute(
        conn,
        "INSERT INTO steps (idempotency_key, run_id, name, status, attempts, input, started_at)
         VALUES (?1, ?2, ?3, 'started', 1, ?5, ?4)
         ON CONFLICT (idempotency_key) DO NOTHING",
        params![key, run_id, name, now, input],
    )?;
    Ok(inserted == 1)
}

/// Queues a run of `run.flow` for its event — or, when that flow already ran for the event and
/// succeeded, queues it again (a second lost payment on one order needs a second lookup; finished
/// steps are reused, so nothing is done twice). A run still queued, running or dead is left as
/// it is.
fn insert_run(conn: &Connection, run: &NewRun, now: i64) -> Result<(), StoreError> {
    execute(
        conn,
        "INSERT INTO runs (inbox_id, flow, entity_key, status, attempt, next_attempt_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, 'queued', 0, ?5, ?4, ?4)
         ON CONFLICT (inbox_id, flow) DO UPDATE
            SET status = 'queued', attempt = 0, next_attempt_at = excluded.next_attempt_at,
                lease_owner = NULL, lease_expires_at = NULL, finished_at = NULL,
                updated_at = excluded.updated_at
          WHERE runs.status = 'succeeded'",
        params![
            run.inbox_id,
            run.flow,
            run.entity_key,
            now,
            run.not_before.unwrap_or(now).max(now)
        ],
    )?;
    Ok(())
}

const XREF_SELECT: &str =
    "SELECT value FROM xrefs WHERE system = ? AND kind = ? AND external_key = ?";

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
    " FROM steps WHERE run_id = ? ORDER BY started_at, rowid"
);
