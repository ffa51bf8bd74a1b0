//! The embedded SQLite backend (WAL), on rusqlite.
//!
//! One connection writes, on a thread of its own, in groups: whatever writes have queued go in
//! one transaction and one commit (see [`write_groups`]). Look-ups (`read`: an index, a few
//! rows) take one of a few reader connections and run on the calling task's thread: in WAL
//! mode a reader never waits for the writer, and they take microseconds, so a hand-off to
//! another thread would cost more than the read. Scans (`scan`: counts, listings, retention's
//! search) can take milliseconds to seconds as the store grows: they run on tokio's blocking
//! threads, on connections of their own, so that they neither hold up the runtime's workers
//! nor leave look-ups waiting for a reader.
//!
//! Writes read back what they need (`last_insert_rowid`, a look-up by key) rather than use
//! `RETURNING`: SQLite gathers RETURNING rows in a temporary table, which costs more than the
//! look-up on the writer's warm cache, and these writes run several times for every order.

mod auth;
mod coordination;
mod flows;
mod inbox;
mod orders;
mod runs;
mod xrefs;

use crate::error::StoreError;
use crate::inbox::NewEvent;
use crate::runs::{NewRun, OwnStep};
use rusqlite::OptionalExtension as _;
use rusqlite::{Connection, Params, Row, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
use std::time::Duration;

/// Schema versions, applied in order, each once.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../sql/sqlite/v1.sql")),
    (2, include_str!("../../sql/sqlite/v2.sql")),
    (3, include_str!("../../sql/sqlite/v3.sql")),
    (4, include_str!("../../sql/sqlite/v4.sql")),
    (5, include_str!("../../sql/sqlite/v5.sql")),
    (6, include_str!("../../sql/sqlite/v6.sql")),
    (7, include_str!("../../sql/sqlite/v7.sql")),
    (8, include_str!("../../sql/sqlite/v8.sql")),
    (9, include_str!("../../sql/sqlite/v9.sql")),
    (10, include_str!("../../sql/sqlite/v10.sql")),
    (11, include_str!("../../sql/sqlite/v11.sql")),
    (12, include_str!("../../sql/sqlite/v12.sql")),
];

/// How many connections look up.
const READERS: usize = 4;

/// How many connections scan (at most this many scans at once; more wait, without blocking).
const SCANNERS: usize = 2;

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

/// The scanning connections: a permit is a free connection in `free`.
#[derive(Debug)]
struct Scanners {
    free: Mutex<Vec<Connection>>,
    permits: Arc<tokio::sync::Semaphore>,
}

#[derive(Debug, Clone)]
pub struct SqliteStore {
    readers: Arc<Readers>,
    scanners: Arc<Scanners>,
    /// Writes for the writer thread.
    writes: mpsc::Sender<Write>,
    path: PathBuf,
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
        let mut scanners = Vec::with_capacity(SCANNERS);
        for _ in 0..SCANNERS {
            scanners.push(connect(path)?);
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
            scanners: Arc::new(Scanners {
                free: Mutex::new(scanners),
                permits: Arc::new(tokio::sync::Semaphore::new(SCANNERS)),
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

    /// Runs the scan `op` (a count, a listing, a search through history) on a blocking thread,
    /// on a scanning connection: the runtime's workers go on meanwhile, and look-ups keep their
    /// readers. Waits (asynchronously) while every scanning connection is busy.
    async fn scan<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = self
            .scanners
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Corrupt("the store is closed".into()))?;
        let scanners = self.scanners.clone();
        tokio::task::spawn_blocking(move || {
            // Given back after the connection is (dropped last).
            let _permit = permit;
            let free = || scanners.free.lock().unwrap_or_else(PoisonError::into_inner);
            let conn = free().pop().ok_or_else(|| {
                StoreError::Corrupt("a scan permit without a free connection".into())
            })?;
            let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| op(&conn)));
            free().push(conn);
            done.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("a store scan stopped: {e}")))?
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a runtime of one thread, a scan that takes its time holds up nothing: the look-up
    /// beside it answers while it runs. (A scan on the runtime's thread would block it until
    /// its wait gave up, and fail.)
    #[tokio::test]
    async fn a_scan_runs_off_the_runtime_while_look_ups_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("scan.db"))
            .await
            .unwrap();
        let (release, held) = mpsc::channel::<()>();
        let scan = tokio::spawn({
            let store = store.clone();
            async move {
                store
                    .scan(move |conn| {
                        held.recv_timeout(Duration::from_secs(10)).map_err(|_| {
                            StoreError::Corrupt("the scan held the runtime's thread".into())
                        })?;
                        scalar::<i64>(conn, "SELECT COUNT(*) FROM runs", [])
                    })
                    .await
            }
        });
        tokio::task::yield_now().await;
        let looked_up: Option<i64> = store
            .read(|conn| scalar(conn, "PRAGMA auto_vacuum", []))
            .unwrap();
        assert!(looked_up.is_some());
        release.send(()).unwrap();
        assert_eq!(scan.await.unwrap().unwrap(), Some(0));
    }
}
