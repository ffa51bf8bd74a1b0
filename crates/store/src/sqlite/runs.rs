//! Runs and their memoized steps: queued, leased, retried, dead-lettered, replayed, pruned. (sqlite)

use super::{
    SqliteStore, all, atomic, execute, insert_fresh_step, insert_recorded_step, one, scalar,
    succeed_step_job,
};
use crate::error::StoreError;
use crate::rows::{
    claimed_from_row, count, millis, run_columns, run_from_row, step_columns, step_from_row,
    step_start_from_row,
};
use crate::runs::{
    ClaimedRun, Counts, FailureRecord, PruneCutoffs, PruneReport, RecordedStep, Retry, RunFilter,
    RunRecord, RunStatus, RunStore, StepRecord, StepStart,
};
use rusqlite::{Connection, params};
use std::time::Duration;

impl RunStore for SqliteStore {
    async fn succeed_step_in_run(
        &self,
        key: &str,
        output: &serde_json::Value,
        now: i64,
    ) -> Result<(), StoreError> {
        self.queue_step_success(key, output, now)
    }

    async fn prune(&self, cutoffs: &PruneCutoffs) -> Result<PruneReport, StoreError> {
        const BATCH: i64 = 5_000;
        let mut report = PruneReport::default();
        // Finished runs past their age, or beyond the newest `keep_runs`.
        let keep = i64::try_from(cutoffs.keep_runs).unwrap_or(i64::MAX);
        let oldest_kept: Option<i64> = self
            .scan(move |conn| {
                scalar(
                    conn,
                    "SELECT id FROM runs WHERE status IN ('succeeded', 'discarded') ORDER BY id DESC LIMIT 1 OFFSET ?",
                    [keep],
                )
            })
            .await?;
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
        let seen_before = cutoffs.seen_before_ms;
        report.inbox_events = self
            .write(move |conn| {
                // Events nothing refers to any more go; their dedupe keys stay a while longer.
                const UNREFERENCED: &str = "received_at < ?1
                        AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.inbox_id = inbox.id)
                        AND NOT EXISTS (SELECT 1 FROM orders WHERE orders.inbox_id = inbox.id)";
                execute(
                    conn,
                    &format!(
                        "INSERT OR IGNORE INTO inbox_seen (dedupe_key, received_at)
                         SELECT dedupe_key, received_at FROM inbox WHERE {UNREFERENCED}"
                    ),
                    [finished_before],
                )?;
                let events = execute(
                    conn,
                    &format!("DELETE FROM inbox WHERE {UNREFERENCED}"),
                    [finished_before],
                )?;
                execute(
                    conn,
                    "DELETE FROM inbox_seen WHERE received_at < ?",
                    [seen_before],
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

    async fn pin_run_flow_version(&self, run_id: i64, pinned: bool) -> Result<(), StoreError> {
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

    async fn set_run_flow_version(&self, run_id: i64, version: &str) -> Result<(), StoreError> {
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

    async fn claim_run_of(
        &self,
        owner: &str,
        now: i64,
        lease: Duration,
        flows: Option<&[&str]>,
    ) -> Result<Option<ClaimedRun>, StoreError> {
        let owner = owner.to_owned();
        // The lane's flows as a JSON array (`json_each` reads it); NULL for any flow.
        let flows = flows.map(|f| serde_json::to_string(f).unwrap_or_else(|_| "[]".into()));
        self.write(move |conn| {
            // Found, then taken, then read with its event (one join): one writer, inside its
            // transaction, so nothing comes between.
            let Some(id) = scalar::<i64>(
                conn,
                "SELECT id FROM (
                     SELECT * FROM (
                         SELECT r.id, r.next_attempt_at FROM runs r
                          WHERE r.status = 'queued' AND r.next_attempt_at <= ?1
                            AND (?2 IS NULL OR r.flow IN (SELECT value FROM json_each(?2)))
                            AND NOT EXISTS (SELECT 1 FROM runs e
                                  WHERE e.entity_key = r.entity_key AND e.id < r.id
                                    AND e.status IN ('queued', 'running'))
                          ORDER BY r.next_attempt_at, r.id LIMIT 1)
                     UNION ALL
                     SELECT * FROM (
                         SELECT r.id, r.next_attempt_at FROM runs r INDEXED BY runs_lease_expiry
                          WHERE r.status = 'running' AND r.lease_expires_at < ?1
                            AND (?2 IS NULL OR r.flow IN (SELECT value FROM json_each(?2)))
                            AND NOT EXISTS (SELECT 1 FROM runs e
                                  WHERE e.entity_key = r.entity_key AND e.id < r.id
                                    AND e.status IN ('queued', 'running'))
                          ORDER BY r.next_attempt_at, r.id LIMIT 1))
                  ORDER BY next_attempt_at, id LIMIT 1",
                params![now, flows],
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
                "SELECT r.id, r.inbox_id, r.flow, r.entity_key, r.attempt, r.flow_version, r.flow_version_pinned, r.throttled_ms,
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

    async fn renew_lease(
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

    async fn finish_run(
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

    async fn retry_run(
        &self,
        run_id: i64,
        owner: &str,
        flow_version: Option<&str>,
        retry: Retry,
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
                Some(retry),
                now,
            )
        })
        .await
    }

    async fn dead_letter_run(
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

    async fn requeue_run(&self, run_id: i64, now: i64) -> Result<bool, StoreError> {
        self.write(move |conn| {
            let changed = execute(
                conn,
                "UPDATE runs SET status = 'queued', attempt = 0, throttled_ms = 0, next_attempt_at = ?1, lease_owner = NULL,
                                 lease_expires_at = NULL, finished_at = NULL, updated_at = ?1
                  WHERE id = ?2 AND status IN ('succeeded', 'dead', 'discarded')",
                params![now, run_id],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    async fn discard_run(&self, run_id: i64, now: i64) -> Result<bool, StoreError> {
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

    async fn find_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        let filter = filter.clone();
        self.scan(move |conn| {
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
        .await
    }

    async fn run(&self, run_id: i64) -> Result<Option<RunRecord>, StoreError> {
        self.read(|conn| one(conn, RUN_SELECT_BY_ID, [run_id], |row| run_from_row(row)))
    }

    async fn runs(
        &self,
        status: Option<RunStatus>,
        limit: u32,
    ) -> Result<Vec<RunRecord>, StoreError> {
        self.scan(move |conn| {
            all(
                conn,
                RUN_SELECT_RECENT,
                params![status.map(RunStatus::as_str), i64::from(limit)],
                |row| run_from_row(row),
            )
        })
        .await
    }

    async fn next_wakeup(&self) -> Result<Option<i64>, StoreError> {
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

    async fn step(&self, key: &str) -> Result<Option<StepRecord>, StoreError> {
        let key = key.to_owned();
        self.read_hot(move |conn| one(conn, STEP_SELECT_BY_KEY, [key], |row| step_from_row(row)))
            .await
    }

    async fn steps_of_run(&self, run_id: i64) -> Result<Vec<StepRecord>, StoreError> {
        self.read(|conn| all(conn, STEP_SELECT_BY_RUN, [run_id], |row| step_from_row(row)))
    }

    async fn begin_step(
        &self,
        run_id: Option<i64>,
        key: &str,
        name: &str,
        input: Option<&serde_json::Value>,
        now: i64,
    ) -> Result<StepStart, StoreError> {
        // `None`: the step had succeeded, so nothing was written; its result is read instead.
        match self.write_begin_step(run_id, key, name, input, now).await? {
            Some(start) => Ok(start),
            None => {
                let done = self.step(key).await?.ok_or_else(|| {
                    StoreError::Corrupt(format!("step {key} neither begun nor found"))
                })?;
                Ok(StepStart::Succeeded(done.output))
            }
        }
    }

    async fn record_step(
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

    async fn succeed_step(
        &self,
        key: &str,
        output: &serde_json::Value,
        now: i64,
    ) -> Result<(), StoreError> {
        self.write(succeed_step_job(key, output, now)).await
    }

    async fn fail_step(
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

    async fn counts(&self) -> Result<Counts, StoreError> {
        self.scan(|conn| {
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
        .await
    }
}

impl SqliteStore {
    /// Begins the step unless it had succeeded (`None`: nothing was written).
    async fn write_begin_step(
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
    retry: Option<Retry>,
    now: i64,
) -> Result<bool, StoreError> {
    let (status, finished_at) = match retry {
        Some(_) => (RunStatus::Queued, None),
        None => (RunStatus::Dead, Some(now)),
    };
    let throttled = retry.and_then(|r| r.throttled_ms);
    let changed = execute(
        conn,
        "UPDATE runs SET status = ?1, next_attempt_at = COALESCE(?2, next_attempt_at),
                         attempt = attempt - (CASE WHEN ?13 IS NULL THEN 0 ELSE 1 END),
                         throttled_ms = throttled_ms + COALESCE(?13, 0),
                         flow_version = CASE WHEN flow_version_pinned = 0 THEN COALESCE(?3, flow_version) ELSE flow_version END,
                         lease_owner = NULL, lease_expires_at = NULL,
                         last_error = ?4, last_error_kind = ?5, last_error_status = ?6, last_error_step = ?7,
                         last_error_request_id = ?8, finished_at = ?9, updated_at = ?10
          WHERE id = ?11 AND lease_owner = ?12 AND status = 'running'",
        params![
            status.as_str(),
            retry.map(|r| r.at),
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
            throttled,
        ],
    )?;
    Ok(changed == 1)
}

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
