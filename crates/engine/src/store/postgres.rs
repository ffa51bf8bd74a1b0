//! The PostgreSQL backend, for any number of `paybridge serve` nodes on one database: the same
//! contract as the SQLite store (one conformance suite runs on both), with runs claimed
//! `FOR UPDATE SKIP LOCKED`, workers woken by `LISTEN/NOTIFY` when runs are queued, and
//! read-modify-write sections (admitting an order, spending a quota) serialized per key by
//! transaction-scoped advisory locks.

use std::str::FromStr;
use std::time::Duration;

use paybridge_model::OrderStatus;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{Postgres, Row, Transaction};

use super::rows::{
    Columns, bucket_size, claim_returning, claimed_from_row, connection_from_row, count,
    deployment_from_row, flow_version_from_row, inbox_event_from_row, json, millis, order_columns,
    order_from_row, quota_wait, refund_columns, refund_from_row, run_columns, run_from_row,
    sealed_from_row, session_from_row, step_columns, step_from_row, step_start_from_row,
    token_from_row,
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
    (1, include_str!("pg_schema_v1.sql")),
    (2, include_str!("pg_schema_v2.sql")),
    (3, include_str!("pg_schema_v3.sql")),
    (4, include_str!("pg_schema_v4.sql")),
    (5, include_str!("pg_schema_v5.sql")),
    (6, include_str!("pg_schema_v6.sql")),
    (7, include_str!("pg_schema_v7.sql")),
    (8, include_str!("pg_schema_v8.sql")),
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

    /// Deletes history the retention policy no longer keeps (PostgreSQL's autovacuum gives
    /// the space back). Dead letters stay until replayed or discarded; orders stay.
    pub async fn prune(&self, cutoffs: &PruneCutoffs) -> Result<PruneReport, StoreError> {
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
        report.inbox_events = sqlx::query(
            "DELETE FROM inbox WHERE received_at < $1
                AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.inbox_id = inbox.id)
                AND NOT EXISTS (SELECT 1 FROM orders WHERE orders.inbox_id = inbox.id)",
        )
        .bind(cutoffs.finished_before_ms)
        .execute(&self.pool)
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM leases WHERE until_ms < $1")
            .bind(cutoffs.now_ms - 86_400_000)
            .execute(&self.pool)
            .await?;
        Ok(report)
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

    pub async fn admit_order(&self, order: &NewOrder, now: i64) -> Result<Admission, StoreError> {
        let mut tx = self.begin().await?;
        // One admission at a time per key and per reference, on every node.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('order-key:' || $1)), pg_advisory_xact_lock(hashtext('order-ref:' || $2))")
            .bind(&order.idempotency_key)
            .bind(&order.reference)
            .execute(&mut *tx)
            .await?;
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING ",
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
        let step = &order.payment_step;
        let payment_begun = sqlx::query(
            "INSERT INTO steps (idempotency_key, run_id, name, status, attempts, input, started_at)
             VALUES ($1, NULL, $2, 'started', 1, $3, $4)
             ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(&step.key)
        .bind(&step.name)
        .bind(step.input.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        tx.commit().await?;
        Ok(Admission::Admitted {
            order: record,
            payment_begun,
        })
    }

    /// Commits an event (and the runs it starts) unless one with its dedupe key is in already.
    pub async fn accept_event(
        &self,
        event: &NewEvent,
        flows: &[&str],
        now: i64,
    ) -> Result<Accepted, StoreError> {
        let mut tx = self.begin().await?;
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO inbox (source, dedupe_key, event_type, entity_key, payload, received_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
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
            let id: i64 = sqlx::query_scalar("SELECT id FROM inbox WHERE dedupe_key = $1")
                .bind(&event.dedupe_key)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(Accepted {
                event_id: id,
                duplicate: true,
            });
        };
        for flow in flows {
            let run = NewRun {
                inbox_id: id,
                flow: (*flow).to_string(),
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
    }

    pub async fn record_payment(
        &self,
        order_id: &str,
        update: &PaymentUpdate,
        runs: &[NewRun],
        now: i64,
    ) -> Result<OrderRecord, StoreError> {
        let mut tx = self.begin().await?;
        let updated = sqlx::query(concat!(
            "UPDATE orders SET status = $1, payment_id = $2, payment_status = $3, decline_reason = $4,
                               status_detail = $5, failure_kind = $6, updated_at = $7
             WHERE id = $8 RETURNING ",
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
    }

    pub async fn deploy_flow(
        &self,
        env: &str,
        version: &FlowVersionRecord,
        note: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO flow_versions (name, version, text, origin, recorded_ms)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(&version.name)
        .bind(&version.version)
        .bind(&version.text)
        .bind(&version.origin)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let current: Option<String> = sqlx::query_scalar(
            "SELECT version FROM flow_deployments WHERE env = $1 AND name = $2 ORDER BY id DESC LIMIT 1",
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
            "INSERT INTO flow_deployments (env, name, version, deployed_ms, note) VALUES ($1, $2, $3, $4, $5)",
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
        sqlx::query("DELETE FROM console_sessions WHERE last_seen_ms < $1")
            .bind(expired_before_ms)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, token_id, csrf, last_seen_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(&session.id_hash)
        .bind(&session.token_id)
        .bind(&session.csrf)
        .bind(session.last_seen_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn session(&self, id_hash: &str) -> Result<Option<ConsoleSession>, StoreError> {
        let row = sqlx::query(
            "SELECT id_hash, token_id, csrf, last_seen_ms FROM console_sessions WHERE id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    pub async fn touch_session(&self, id_hash: &str, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE console_sessions SET last_seen_ms = $1 WHERE id_hash = $2")
            .bind(now_ms)
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn close_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn record_sample(
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

    pub async fn samples_since(
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

    pub async fn record_flow_version(&self, version: &FlowVersionRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO flow_versions (name, version, text, origin, recorded_ms)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(&version.name)
        .bind(&version.version)
        .bind(&version.text)
        .bind(&version.origin)
        .bind(version.recorded_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn deployments(&self, env: &str) -> Result<Vec<DeploymentRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT env, name, version, deployed_ms, note FROM flow_deployments d
             WHERE env = $1 AND id = (SELECT MAX(id) FROM flow_deployments e WHERE e.env = d.env AND e.name = d.name)
             ORDER BY name",
        )
        .bind(env)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(deployment_from_row).collect()
    }

    pub async fn deployment_history(
        &self,
        name: &str,
    ) -> Result<Vec<DeploymentRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT env, name, version, deployed_ms, note FROM flow_deployments WHERE name = $1 ORDER BY id DESC",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(deployment_from_row).collect()
    }

    pub async fn flow_version(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Option<FlowVersionRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT name, version, text, origin, recorded_ms FROM flow_versions WHERE name = $1 AND version = $2",
        )
        .bind(name)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(flow_version_from_row).transpose()
    }

    pub async fn pin_run_flow_version(&self, run_id: i64, pinned: bool) -> Result<(), StoreError> {
        sqlx::query("UPDATE runs SET flow_version_pinned = $1 WHERE id = $2")
            .bind(i64::from(pinned))
            .bind(run_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn set_run_flow_version(&self, run_id: i64, version: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE runs SET flow_version = $1 WHERE id = $2 AND flow_version_pinned = 0 AND (flow_version IS NULL OR flow_version <> $1)")
            .bind(version)
            .bind(run_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn admit_refund(
        &self,
        refund: &NewRefund,
        now: i64,
    ) -> Result<RefundAdmission, StoreError> {
        let mut tx = self.begin().await?;
        // One refund decision at a time per order.
        let order = sqlx::query(concat!(
            "SELECT ",
            order_columns!(),
            " FROM orders WHERE id = $1 FOR UPDATE"
        ))
        .bind(&refund.order_id)
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| order_from_row(&row))
        .transpose()?
        .ok_or_else(|| StoreError::NotFound(format!("order {}", refund.order_id)))?;
        let existing = sqlx::query(concat!(
            "SELECT ", refund_columns!(),
            " FROM refunds WHERE (order_id = $1 AND idempotency_key = $2) OR cybersource_refund_id = $3"
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
            "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM refunds WHERE order_id = $1 AND status <> 'failed'",
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
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
            " FROM refunds WHERE id = $1"
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
            " FROM refunds WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
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
            " FROM refunds WHERE cybersource_refund_id = $1"
        ))
        .bind(cybersource_refund_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(refund_from_row).transpose()
    }

    pub async fn refunds_of(&self, order_id: &str) -> Result<Vec<RefundRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            refund_columns!(),
            " FROM refunds WHERE order_id = $1 ORDER BY created_at, id"
        ))
        .bind(order_id)
        .fetch_all(&self.pool)
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
            "UPDATE refunds SET status = $1,
                    cybersource_refund_id = COALESCE($2, cybersource_refund_id),
                    zoho_creditnote_id = COALESCE($3, zoho_creditnote_id),
                    status_detail = $4, updated_at = $5
             WHERE id = $6",
        )
        .bind(outcome.status.as_str())
        .bind(outcome.cybersource_refund_id)
        .bind(outcome.zoho_creditnote_id)
        .bind(outcome.detail)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
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
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(order_from_row).transpose()
    }

    pub async fn order_by_reference(
        &self,
        reference: &str,
    ) -> Result<Option<OrderRecord>, StoreError> {
        let row = sqlx::query(ORDER_SELECT_BY_REFERENCE)
            .bind(reference)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(order_from_row).transpose()
    }

    pub async fn order_by_zoho_invoice(
        &self,
        invoice_id: &str,
    ) -> Result<Option<OrderRecord>, StoreError> {
        let row = sqlx::query(ORDER_SELECT_BY_ZOHO_INVOICE)
            .bind(invoice_id)
            .fetch_optional(&self.pool)
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
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(order_from_row).collect()
    }

    pub async fn orders(&self, limit: u32) -> Result<Vec<OrderRecord>, StoreError> {
        let rows = sqlx::query(ORDER_SELECT_RECENT)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
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
        sqlx::query("UPDATE orders SET status = $1, status_detail = COALESCE($2, status_detail), updated_at = $3 WHERE id = $4")
            .bind(status.as_str())
            .bind(detail)
            .bind(now)
            .bind(order_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn complete_order_sync(
        &self,
        order_id: &str,
        ids: &ZohoIds,
        step: OwnStep<'_>,
        now: i64,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let mut tx = self.begin().await?;
        if let Some(before) = own_step(&mut tx, step, now).await? {
            return Ok(Some(before));
        }
        sqlx::query(
            "UPDATE orders SET status = $1, zoho_contact_id = $2, zoho_invoice_id = $3, zoho_payment_id = $4,
                               status_detail = NULL, updated_at = $5
             WHERE id = $6",
        )
        .bind(OrderStatus::Completed.as_str())
        .bind(&ids.contact_id)
        .bind(&ids.invoice_id)
        .bind(&ids.payment_id)
        .bind(now)
        .bind(order_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(None)
    }

    pub async fn inbox_event(&self, id: i64) -> Result<InboxEvent, StoreError> {
        let row = sqlx::query(
            "SELECT id, source, dedupe_key, event_type, entity_key, payload, received_at FROM inbox WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("inbox event {id}")))?;
        inbox_event_from_row(&row)
    }

    /// Claims the next due run: first a run whose worker's lease ran out (rare, and older work:
    /// found through `runs_lease_expiry`, which holds only running runs), then the queued run
    /// due first (read from `runs_claim` in order) — each skipping rows other nodes are
    /// claiming, so a backlog of any size costs the same. The two conditions are written out
    /// (not one query with the status as a parameter) so that the planner can use the partial
    /// indexes.
    pub async fn claim_run(
        &self,
        owner: &str,
        now: i64,
        lease: Duration,
    ) -> Result<Option<ClaimedRun>, StoreError> {
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
                .fetch_optional(&self.pool)
                .await?;
            if let Some(row) = row {
                return claimed_from_row(&row).map(Some);
            }
        }
        Ok(None)
    }

    pub async fn renew_lease(
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

    pub async fn finish_run(
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

    pub async fn retry_run(
        &self,
        run_id: i64,
        owner: &str,
        flow_version: Option<&str>,
        at: i64,
        failure: &FailureRecord,
        now: i64,
    ) -> Result<bool, StoreError> {
        let changed = sqlx::query(
            "UPDATE runs SET status = 'queued', next_attempt_at = $1, flow_version = CASE WHEN flow_version_pinned = 0 THEN COALESCE($10, flow_version) ELSE flow_version END,
                             lease_owner = NULL, lease_expires_at = NULL,
                             last_error = $2, last_error_kind = $3, last_error_status = $4, last_error_step = $5,
                             last_error_request_id = $6, updated_at = $7
              WHERE id = $8 AND lease_owner = $9 AND status = 'running'",
        )
        .bind(at)
        .bind(&failure.message)
        .bind(failure.kind.as_str())
        .bind(failure.http_status.map(i64::from))
        .bind(&failure.step)
        .bind(&failure.request_id)
        .bind(now)
        .bind(run_id)
        .bind(owner)
        .bind(flow_version)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(changed == 1)
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

    pub async fn requeue_run(&self, run_id: i64, now: i64) -> Result<bool, StoreError> {
        let changed = sqlx::query(
            "UPDATE runs SET status = 'queued', attempt = 0, next_attempt_at = $1, lease_owner = NULL,
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

    /// A dead letter set aside: kept as history, never run again unless replayed.
    pub async fn discard_run(&self, run_id: i64, now: i64) -> Result<bool, StoreError> {
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
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(run_from_row).collect()
    }

    pub async fn run(&self, run_id: i64) -> Result<Option<RunRecord>, StoreError> {
        let row = sqlx::query(RUN_SELECT_BY_ID)
            .bind(run_id)
            .fetch_optional(&self.pool)
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
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(run_from_row).collect()
    }

    pub async fn next_wakeup(&self) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT MIN(t) FROM (
                 SELECT MIN(next_attempt_at) AS t FROM runs WHERE status = 'queued'
                 UNION ALL
                 SELECT MIN(lease_expires_at) AS t FROM runs WHERE status = 'running') AS due",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn step(&self, key: &str) -> Result<Option<StepRecord>, StoreError> {
        let row = sqlx::query(STEP_SELECT_BY_KEY)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(step_from_row).transpose()
    }

    pub async fn steps_of_run(&self, run_id: i64) -> Result<Vec<StepRecord>, StoreError> {
        let rows = sqlx::query(STEP_SELECT_BY_RUN)
            .bind(run_id)
            .fetch_all(&self.pool)
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

    pub async fn record_step(
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

    pub async fn succeed_step(
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

    pub async fn fail_step(
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

    // Vault --------------------------------------------------------------------------------

    pub async fn vault_put(&self, secret: &SealedSecret, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO vault_secrets (name, key_id, wrapped_key, sealed, created_ms, updated_ms)
             VALUES ($1, $2, $3, $4, $5, $6)
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
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn vault_get(&self, name: &str) -> Result<Option<SealedSecret>, StoreError> {
        let row = sqlx::query(
            "SELECT name, key_id, wrapped_key, sealed, created_ms, updated_ms FROM vault_secrets WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(sealed_from_row).transpose()
    }

    pub async fn vault_all(&self) -> Result<Vec<SealedSecret>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, key_id, wrapped_key, sealed, created_ms, updated_ms FROM vault_secrets ORDER BY name",
        )
        .fetch_all(&self.pool)
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
            "UPDATE vault_secrets SET key_id = $1, wrapped_key = $2, updated_ms = $3
             WHERE name = $4 AND key_id = $5",
        )
        .bind(new_key_id)
        .bind(wrapped_key)
        .bind(now)
        .bind(name)
        .bind(old_key_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn vault_delete(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM vault_secrets WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
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
            "INSERT INTO vault_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(
            sqlx::query_scalar("SELECT value FROM vault_meta WHERE name = $1")
                .bind(name)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    // Connections ----------------------------------------------------------------------------

    pub async fn put_connection(&self, connection: &ConnectionRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO connections (name, vendor, settings, updated_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET vendor = excluded.vendor, \
             settings = excluded.settings, updated_ms = excluded.updated_ms",
        )
        .bind(&connection.name)
        .bind(&connection.vendor)
        .bind(connection.settings.to_string())
        .bind(connection.updated_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete_connection(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM connections WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn connection(&self, name: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT name, vendor, settings, updated_ms FROM connections WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(connection_from_row).transpose()
    }

    // Admin API tokens -------------------------------------------------------------------------

    pub async fn put_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_tokens (id, name, role, secret_hash, created_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&token.id)
        .bind(&token.name)
        .bind(&token.role)
        .bind(&token.secret_hash)
        .bind(token.created_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, role, secret_hash, created_ms, last_used_ms, revoked_ms \
             FROM api_tokens WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    pub async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        sqlx::query(
            "SELECT id, name, role, secret_hash, created_ms, last_used_ms, revoked_ms \
             FROM api_tokens ORDER BY created_ms, id",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(token_from_row)
        .collect()
    }

    pub async fn touch_token(&self, id: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_tokens SET last_used_ms = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn revoke_token(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_ms = $1 WHERE id = $2 AND revoked_ms IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(&self.pool)
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

    pub async fn shared_token(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT sealed FROM shared_tokens WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn share_token(&self, name: &str, sealed: &[u8], now: i64) -> Result<(), StoreError> {
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

    /// Names of the unexpired leases whose names start with `prefix`.
    pub async fn leases_held(&self, prefix: &str, now: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT name FROM leases WHERE starts_with(name, $1) AND until_ms > $2",
        )
        .bind(prefix)
        .bind(now)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
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

    /// Lends nothing from `key` until `until_ms`.
    pub async fn quota_pause(&self, key: &str, until_ms: i64) -> Result<(), StoreError> {
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

    pub async fn xref(
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

    pub async fn put_xrefs(
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

    pub async fn counts(&self) -> Result<Counts, StoreError> {
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

/// Queues a run of `run.flow` for its event — or, when that flow already ran for the event and
/// succeeded, queues it again (a second lost payment on one order needs a second lookup; finished
/// steps are reused, so nothing is done twice). A run still queued, running or dead is left as
/// it is.
/// Commits a new event to the inbox (its dedupe key must be new); returns its id.
async fn insert_event(
    tx: &mut Transaction<'static, Postgres>,
    event: &NewEvent,
    now: i64,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO inbox (source, dedupe_key, event_type, entity_key, payload, received_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
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

const ORDER_SELECT_BY_ID: &str = concat!("SELECT ", order_columns!(), " FROM orders WHERE id = $1");
const ORDER_SELECT_BY_KEY: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders WHERE idempotency_key = $1"
);
const ORDER_SELECT_BY_ZOHO_INVOICE: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders WHERE zoho_invoice_id = $1 LIMIT 1"
);

const ORDER_SELECT_BY_REFERENCE: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders WHERE reference = $1"
);
const ORDER_SELECT_STALE: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders WHERE status = 'pending_payment' AND updated_at < $1 ORDER BY updated_at LIMIT $2"
);
const ORDER_SELECT_RECENT: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders ORDER BY created_at DESC, id LIMIT $1"
);

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

/// Records `step` as succeeded, for the write it is part of (in `tx`): `Some(output)` when it
/// had succeeded before (the write must not be done again), `None` when the write is to be done.
async fn own_step(
    tx: &mut Transaction<'static, Postgres>,
    step: OwnStep<'_>,
    now: i64,
) -> Result<Option<serde_json::Value>, StoreError> {
    let fresh = record_step_query(
        step.run_id,
        step.key,
        step.name,
        Some(step.input),
        step.output,
        now,
    )
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if fresh == 1 {
        return Ok(None);
    }
    // Begun or failed before (by an earlier version of paybridge): this write finishes it.
    let before =
        sqlx::query("SELECT status, output FROM steps WHERE idempotency_key = $1 FOR UPDATE")
            .bind(step.key)
            .fetch_optional(&mut **tx)
            .await?;
    if let Some(row) = before
        && row.text("status")? == "succeeded"
    {
        return Ok(Some(
            json(step.key, "output", row.maybe_text("output")?)?.unwrap_or(serde_json::Value::Null),
        ));
    }
    sqlx::query(
        "UPDATE steps SET status = 'succeeded', attempts = attempts + 1, run_id = COALESCE($2, run_id),
                          input = $3, output = $4, error = NULL, error_kind = NULL, error_status = NULL,
                          error_request_id = NULL, started_at = $5, finished_at = $5
          WHERE idempotency_key = $1",
    )
    .bind(step.key)
    .bind(step.run_id)
    .bind(step.input.to_string())
    .bind(step.output.to_string())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(None)
}
