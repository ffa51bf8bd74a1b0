//! Runs and their memoized steps: queued, leased, retried, dead-lettered, replayed, pruned. (postgres)
use sqlx::Row as _;

use super::{PostgresStore, WAKE_CHANNEL, record_step_query};
use crate::error::StoreError;
use crate::rows::{
    claim_returning, claimed_from_row, count, millis, run_columns, run_from_row, step_columns,
    step_from_row, step_start_from_row,
};
use crate::runs::{
    ClaimedRun, Counts, FailureRecord, PruneCutoffs, PruneReport, RecordedStep, Retry, RunFilter,
    RunRecord, RunStatus, RunStore, StepRecord, StepStart,
};
use std::time::Duration;

impl RunStore for PostgresStore {
    async fn succeed_step_in_run(
        &self,
        key: &str,
        output: &serde_json::Value,
        now: i64,
    ) -> Result<(), StoreError> {
        self.succeed_step(key, output, now).await
    }

    async fn prune(&self, cutoffs: &PruneCutoffs) -> Result<PruneReport, StoreError> {
        const BATCH: i64 = 5_000;
        let mut report = PruneReport::default();
        let oldest_kept: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM runs WHERE status IN ('succeeded', 'discarded') ORDER BY id DESC LIMIT 1 OFFSET $1",
        )
        .bind(i64::try_from(cutoffs.keep_runs).unwrap_or(i64::MAX))
        .fetch_optional(&self.pool)
        .await?;
        let below_id = oldest_kept.map_or(0, |id| id + 1);
        loop {
            let mut tx = self.begin().await?;
            let ids: Vec<i64> = sqlx::query_scalar(
                "SELECT id FROM runs WHERE status IN ('succeeded', 'discarded')
                   AND (updated_at < $1 OR id < $2) LIMIT $3 FOR UPDATE SKIP LOCKED",
            )
            .bind(cutoffs.finished_before_ms)
            .bind(below_id)
            .bind(BATCH)
            .fetch_all(&mut *tx)
            .await?;
            if ids.is_empty() {
                break;
            }
            report.steps += sqlx::query("DELETE FROM steps WHERE run_id = ANY($1)")
                .bind(&ids)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            report.runs += sqlx::query("DELETE FROM runs WHERE id = ANY($1)")
                .bind(&ids)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
        }
        // Events nothing refers to any more go; their dedupe keys stay a while longer.
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO inbox_seen (dedupe_key, received_at)
             SELECT dedupe_key, received_at FROM inbox WHERE received_at < $1
                AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.inbox_id = inbox.id)
                AND NOT EXISTS (SELECT 1 FROM orders WHERE orders.inbox_id = inbox.id)
             ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind(cutoffs.finished_before_ms)
        .execute(&mut *tx)
        .await?;
        report.inbox_events = sqlx::query(
            "DELETE FROM inbox WHERE received_at < $1
                AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.inbox_id = inbox.id)
                AND NOT EXISTS (SELECT 1 FROM orders WHERE orders.inbox_id = inbox.id)",
        )
        .bind(cutoffs.finished_before_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM inbox_seen WHERE received_at < $1")
            .bind(cutoffs.seen_before_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        sqlx::query("DELETE FROM leases WHERE until_ms < $1")
            .bind(cutoffs.now_ms - 86_400_000)
            .execute(&self.pool)
            .await?;
        Ok(report)
    }

    async fn pin_run_flow_version(&self, run_id: i64, pinned: bool) -> Result<(), StoreError> {
        sqlx::query("UPDATE runs SET flow_version_pinned = $1 WHERE id = $2")
            .bind(i64::from(pinned))
            .bind(run_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_run_flow_version(&self, run_id: i64, version: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE runs SET flow_version = $1 WHERE id = $2 AND flow_version_pinned = 0 AND (flow_version IS NULL OR flow_version <> $1)")
            .bind(version)
            .bind(run_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn claim_run_of(
        &self,
        owner: &str,
        now: i64,
        lease: Duration,
        flows: Option<&[&str]>,
    ) -> Result<Option<ClaimedRun>, StoreError> {
        let flows: Option<Vec<String>> = flows.map(|f| f.iter().map(|s| s.to_string()).collect());
        macro_rules! claim_where {
            ($condition:literal) => {
                concat!(
                    "UPDATE runs
                        SET status = 'running', lease_owner = $1, lease_expires_at = $2, attempt = attempt + 1, updated_at = $3
                      WHERE id = (
                            SELECT r.id FROM runs r
                             WHERE ",
                    $condition,
                    "
                               AND ($4::TEXT[] IS NULL OR r.flow = ANY($4))
                               AND NOT EXISTS (SELECT 1 FROM runs e
                                                WHERE e.entity_key = r.entity_key AND e.id < r.id
                                                  AND e.status IN ('queued', 'running'))
                             ORDER BY r.next_attempt_at, r.id
                             LIMIT 1
                             FOR UPDATE SKIP LOCKED)
                    ",
                    claim_returning!()
                )
            };
        }
        const EXPIRED: &str = claim_where!("r.status = 'running' AND r.lease_expires_at < $3");
        const DUE: &str = claim_where!("r.status = 'queued' AND r.next_attempt_at <= $3");
        for sql in [EXPIRED, DUE] {
            let row = sqlx::query(sql)
                .bind(owner)
                .bind(now + millis(lease))
                .bind(now)
                .bind(&flows)
                .fetch_optional(&self.pool)
                .await?;
            if let Some(row) = row {
                return claimed_from_row(&row).map(Some);
            }
        }
        Ok(None)
    }

    async fn renew_lease(
        &self,
        run_id: i64,
        owner: &str,
        now: i64,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let changed = sqlx::query(
            "UPDATE runs SET lease_expires_at = $1, updated_at = $2 WHERE id = $3 AND lease_owner = $4 AND status = 'running'",
        )
        .bind(now + millis(lease))
        .bind(now)
        .bind(run_id)
        .bind(owner)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(changed == 1)
    }

    async fn finish_run(
        &self,
        run_id: i64,
        owner: &str,
        flow_version: Option<&str>,
        record: Option<RecordedStep<'_>>,
        now: i64,
    ) -> Result<bool, StoreError> {
        // The outputs are kept only by the run's owner, with its end or not at all.
        let mut tx = self.begin().await?;
        let changed = sqlx::query(
            "UPDATE runs SET status = 'succeeded', lease_owner = NULL, lease_expires_at = NULL,
                             last_error = NULL, last_error_kind = NULL, last_error_status = NULL,
                             finished_at = $1, updated_at = $1,
                             flow_version = CASE WHEN flow_version_pinned = 0 THEN COALESCE($4, flow_version) ELSE flow_version END
              WHERE id = $2 AND lease_owner = $3 AND status = 'running'",
        )
        .bind(now)
        .bind(run_id)
        .bind(owner)
        .bind(flow_version)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 1
            && let Some(record) = record
        {
            record_step_query(
                Some(run_id),
                record.key,
                record.name,
                None,
                record.value,
                now,
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(changed == 1)
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
        let changed = sqlx::query(
            "UPDATE runs SET status = 'queued', next_attempt_at = $1, flow_version = CASE WHEN flow_version_pinned = 0 THEN COALESCE($10, flow_version) ELSE flow_version END,
                             attempt = attempt - (CASE WHEN $11::BIGINT IS NULL THEN 0 ELSE 1 END),
                             throttled_ms = throttled_ms + COALESCE($11::BIGINT, 0),
                             lease_owner = NULL, lease_expires_at = NULL,
                             last_error = $2, last_error_kind = $3, last_error_status = $4, last_error_step = $5,
                             last_error_request_id = $6, updated_at = $7
              WHERE id = $8 AND lease_owner = $9 AND status = 'running'",
        )
        .bind(retry.at)
        .bind(&failure.message)
        .bind(failure.kind.as_str())
        .bind(failure.http_status.map(i64::from))
        .bind(&failure.step)
        .bind(&failure.request_id)
        .bind(now)
        .bind(run_id)
        .bind(owner)
        .bind(flow_version)
        .bind(retry.throttled_ms)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(changed == 1)
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
        let mut tx = self.begin().await?;
        let changed = sqlx::query(
            "UPDATE runs SET status = 'dead', flow_version = CASE WHEN flow_version_pinned = 0 THEN COALESCE($10, flow_version) ELSE flow_version END,
                             lease_owner = NULL, lease_expires_at = NULL,
                             last_error = $1, last_error_kind = $2, last_error_status = $3, last_error_step = $4,
                             last_error_request_id = $5, finished_at = $6, updated_at = $7
              WHERE id = $8 AND lease_owner = $9 AND status = 'running'",
        )
        .bind(&failure.message)
        .bind(failure.kind.as_str())
        .bind(failure.http_status.map(i64::from))
        .bind(&failure.step)
        .bind(&failure.request_id)
        .bind(now)
        .bind(now)
        .bind(run_id)
        .bind(owner)
        .bind(flow_version)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 1
            && let Some((order_id, detail)) = order_failed
        {
            sqlx::query(
                "UPDATE orders SET status = 'sync_failed', status_detail = $1, updated_at = $2
                  WHERE id = $3 AND status = 'approved'",
            )
            .bind(detail)
            .bind(now)
            .bind(order_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(changed == 1)
    }

    async fn requeue_run(&self, run_id: i64, now: i64) -> Result<bool, StoreError> {
        let changed = sqlx::query(
            "UPDATE runs SET status = 'queued', attempt = 0, throttled_ms = 0, next_attempt_at = $1, lease_owner = NULL,
                             lease_expires_at = NULL, finished_at = NULL, updated_at = $1
              WHERE id = $2 AND status IN ('succeeded', 'dead', 'discarded')",
        )
        .bind(now)
        .bind(run_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if changed == 1 {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(WAKE_CHANNEL)
                .execute(&self.pool)
                .await?;
        }
        Ok(changed == 1)
    }

    async fn discard_run(&self, run_id: i64, now: i64) -> Result<bool, StoreError> {
        let changed = sqlx::query(
            "UPDATE runs SET status = 'discarded', updated_at = $1 WHERE id = $2 AND status = 'dead'",
        )
        .bind(now)
        .bind(run_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(changed == 1)
    }

    async fn find_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        let rows = sqlx::query(RUN_SELECT_FILTERED)
            .bind(filter.status.map(RunStatus::as_str))
            .bind(filter.flow.as_deref())
            .bind(filter.entity.as_deref())
            .bind(filter.since_ms)
            .bind(filter.until_ms)
            .bind(filter.before_id)
            .bind(i64::from(filter.limit.max(1)))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(run_from_row).collect()
    }

    async fn run(&self, run_id: i64) -> Result<Option<RunRecord>, StoreError> {
        let row = sqlx::query(RUN_SELECT_BY_ID)
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(run_from_row).transpose()
    }

    async fn runs(
        &self,
        status: Option<RunStatus>,
        limit: u32,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let rows = sqlx::query(RUN_SELECT_RECENT)
            .bind(status.map(RunStatus::as_str))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(run_from_row).collect()
    }

    async fn next_wakeup(&self) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT MIN(t) FROM (
                 SELECT MIN(next_attempt_at) AS t FROM runs WHERE status = 'queued'
                 UNION ALL
                 SELECT MIN(lease_expires_at) AS t FROM runs WHERE status = 'running') AS due",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    async fn step(&self, key: &str) -> Result<Option<StepRecord>, StoreError> {
        let row = sqlx::query(STEP_SELECT_BY_KEY)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(step_from_row).transpose()
    }

    async fn steps_of_run(&self, run_id: i64) -> Result<Vec<StepRecord>, StoreError> {
        let rows = sqlx::query(STEP_SELECT_BY_RUN)
            .bind(run_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(step_from_row).collect()
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
        record_step_query(run_id, key, name, None, output, now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn succeed_step(
        &self,
        key: &str,
        output: &serde_json::Value,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE steps SET status = 'succeeded', output = $1, error = NULL, error_kind = NULL, error_status = NULL,
                              finished_at = $2 WHERE idempotency_key = $3",
        )
        .bind(output.to_string())
        .bind(now)
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn fail_step(
        &self,
        key: &str,
        failure: &FailureRecord,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE steps SET status = 'failed', error = $1, error_kind = $2, error_status = $3, error_request_id = $4,
                              finished_at = $5
              WHERE idempotency_key = $6 AND status != 'succeeded'",
        )
        .bind(&failure.message)
        .bind(failure.kind.as_str())
        .bind(failure.http_status.map(i64::from))
        .bind(&failure.request_id)
        .bind(now)
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn counts(&self) -> Result<Counts, StoreError> {
        let mut counts = Counts::default();
        for row in sqlx::query("SELECT status, COUNT(*) AS n FROM orders GROUP BY status")
            .fetch_all(&self.pool)
            .await?
        {
            counts
                .orders_by_status
                .insert(row.try_get("status")?, count(&row)?);
        }
        for row in sqlx::query("SELECT status, COUNT(*) AS n FROM runs GROUP BY status")
            .fetch_all(&self.pool)
            .await?
        {
            counts
                .runs_by_status
                .insert(row.try_get("status")?, count(&row)?);
        }
        let inbox: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM inbox")
            .fetch_one(&self.pool)
            .await?;
        counts.inbox_events = u64::try_from(inbox).unwrap_or(0);
        for row in sqlx::query("SELECT source, COUNT(*) AS n FROM inbox GROUP BY source")
            .fetch_all(&self.pool)
            .await?
        {
            counts
                .inbox_by_source
                .insert(row.try_get("source")?, count(&row)?);
        }
        Ok(counts)
    }
}

impl PostgresStore {
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
        let row = sqlx::query(
            "INSERT INTO steps (idempotency_key, run_id, name, status, attempts, input, started_at)
             VALUES ($1, $2, $3, 'started', 1, $5, $4)
             ON CONFLICT (idempotency_key) DO UPDATE
                SET status = 'started', attempts = steps.attempts + 1, run_id = COALESCE(excluded.run_id, steps.run_id),
                    input = COALESCE(excluded.input, steps.input), started_at = excluded.started_at, finished_at = NULL,
                    error_kind = CASE WHEN steps.status = 'started' THEN 'outcome_unknown' ELSE steps.error_kind END
              WHERE steps.status != 'succeeded'
             RETURNING attempts, error_kind",
        )
        .bind(key)
        .bind(run_id)
        .bind(name)
        .bind(now)
        .bind(input.map(serde_json::Value::to_string))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(step_start_from_row).transpose()
    }
}

const RUN_SELECT_BY_ID: &str = concat!("SELECT ", run_columns!(), " FROM runs WHERE id = $1");

const RUN_SELECT_RECENT: &str = concat!(
    "SELECT ",
    run_columns!(),
    " FROM runs WHERE ($1 IS NULL OR status = $1) ORDER BY id DESC LIMIT $2"
);

const RUN_SELECT_FILTERED: &str = concat!(
    "SELECT ",
    run_columns!(),
    " FROM runs WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR flow = $2)
        AND ($3 IS NULL OR entity_key = $3) AND ($4 IS NULL OR created_at >= $4)
        AND ($5 IS NULL OR created_at < $5) AND ($6 IS NULL OR id < $6)
      ORDER BY id DESC LIMIT $7"
);

const STEP_SELECT_BY_KEY: &str = concat!(
    "SELECT ",
    step_columns!(),
    " FROM steps WHERE idempotency_key = $1"
);

const STEP_SELECT_BY_RUN: &str = concat!(
    "SELECT ",
    step_columns!(),
    " FROM steps WHERE run_id = $1 ORDER BY started_at, seq"
);
