//! The store over whichever backend it was opened on: each area's trait, handed to it.

use crate::auth::{AuthStore, ConnectionRecord, ConsoleSession, SealedSecret, TokenRecord};
use crate::coordination::CoordinationStore;
use crate::error::StoreError;
use crate::flows::{DeploymentRecord, FlowStore, FlowVersionRecord};
use crate::inbox::{Accepted, InboxEvent, InboxStore, NewEvent};
use crate::orders::{
    Admission, NewOrder, NewRefund, OrderRecord, OrderStore, PaymentUpdate, RefundAdmission,
    RefundOutcome, RefundRecord, ZohoIds,
};
use crate::postgres::PostgresStore;
use crate::runs::{
    ClaimedRun, Counts, FailureRecord, NewRun, OwnStep, PruneCutoffs, PruneReport, RecordedStep,
    Retry, RunFilter, RunRecord, RunStatus, RunStore, StepRecord, StepStart,
};
use crate::sqlite::SqliteStore;
use crate::xrefs::{XrefEntry, XrefStore};
use paybridge_model::OrderStatus;
use std::path::Path;
use std::time::Duration;

/// The store, over one backend.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

macro_rules! delegate {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            Store::Sqlite($store) => $call,
            Store::Postgres($store) => $call,
        }
    };
}

impl Store {
    /// Opens (creating if needed) the SQLite store at `path` and brings its schema up to date.
    pub async fn open_sqlite(path: &Path) -> Result<Store, StoreError> {
        Ok(Store::Sqlite(SqliteStore::open(path).await?))
    }

    /// Connects to PostgreSQL at `url` (in `schema` when given) and brings its schema up to
    /// date.
    pub async fn open_postgres(url: &str, schema: Option<&str>) -> Result<Store, StoreError> {
        Ok(Store::Postgres(PostgresStore::open(url, schema).await?))
    }

    /// Calls `wake` whenever another process queues a run: PostgreSQL's `LISTEN/NOTIFY`. `None`
    /// on SQLite, whose other processes are noticed by polling.
    pub async fn listen(
        &self,
        wake: impl Fn() + Send + 'static,
    ) -> Result<Option<tokio::task::JoinHandle<()>>, StoreError> {
        match self {
            Store::Sqlite(_) => Ok(None),
            Store::Postgres(store) => Ok(Some(store.listen(wake).await?)),
        }
    }

    /// A description of where the data lives, for people (never a password).
    pub fn location(&self) -> String {
        delegate!(self, s => s.location())
    }

    /// Closes the connections (SQLite: after the writes queued so far).
    pub async fn close(&self) {
        delegate!(self, s => s.close().await)
    }
}

impl InboxStore for Store {
    async fn accept_event(
        &self,
        event: &NewEvent,
        flows: &[&str],
        now: i64,
    ) -> Result<Accepted, StoreError> {
        delegate!(self, s => s.accept_event(event, flows, now).await)
    }

    async fn inbox_event(&self, id: i64) -> Result<InboxEvent, StoreError> {
        delegate!(self, s => s.inbox_event(id).await)
    }
}

impl RunStore for Store {
    async fn claim_run_of(
        &self,
        owner: &str,
        now: i64,
        lease: Duration,
        flows: Option<&[&str]>,
    ) -> Result<Option<ClaimedRun>, StoreError> {
        delegate!(self, s => s.claim_run_of(owner, now, lease, flows).await)
    }

    async fn renew_lease(
        &self,
        run_id: i64,
        owner: &str,
        now: i64,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        delegate!(self, s => s.renew_lease(run_id, owner, now, lease).await)
    }

    async fn finish_run(
        &self,
        run_id: i64,
        owner: &str,
        flow_version: Option<&str>,
        record: Option<RecordedStep<'_>>,
        now: i64,
    ) -> Result<bool, StoreError> {
        delegate!(self, s => s.finish_run(run_id, owner, flow_version, record, now).await)
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
        delegate!(self, s => s.retry_run(run_id, owner, flow_version, retry, failure, now).await)
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
        delegate!(self, s => s.dead_letter_run(run_id, owner, flow_version, failure, order_failed, now).await)
    }

    async fn requeue_run(&self, run_id: i64, now: i64) -> Result<bool, StoreError> {
        delegate!(self, s => s.requeue_run(run_id, now).await)
    }

    async fn discard_run(&self, run_id: i64, now: i64) -> Result<bool, StoreError> {
        delegate!(self, s => s.discard_run(run_id, now).await)
    }

    async fn find_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        delegate!(self, s => s.find_runs(filter).await)
    }

    async fn run(&self, run_id: i64) -> Result<Option<RunRecord>, StoreError> {
        delegate!(self, s => s.run(run_id).await)
    }

    async fn runs(
        &self,
        status: Option<RunStatus>,
        limit: u32,
    ) -> Result<Vec<RunRecord>, StoreError> {
        delegate!(self, s => s.runs(status, limit).await)
    }

    async fn next_wakeup(&self) -> Result<Option<i64>, StoreError> {
        delegate!(self, s => s.next_wakeup().await)
    }

    async fn pin_run_flow_version(&self, run_id: i64, pinned: bool) -> Result<(), StoreError> {
        delegate!(self, s => s.pin_run_flow_version(run_id, pinned).await)
    }

    async fn set_run_flow_version(&self, run_id: i64, version: &str) -> Result<(), StoreError> {
        delegate!(self, s => s.set_run_flow_version(run_id, version).await)
    }

    async fn step(&self, key: &str) -> Result<Option<StepRecord>, StoreError> {
        delegate!(self, s => s.step(key).await)
    }

    async fn steps_of_run(&self, run_id: i64) -> Result<Vec<StepRecord>, StoreError> {
        delegate!(self, s => s.steps_of_run(run_id).await)
    }

    async fn begin_step(
        &self,
        run_id: Option<i64>,
        key: &str,
        name: &str,
        input: Option<&serde_json::Value>,
        now: i64,
    ) -> Result<StepStart, StoreError> {
        delegate!(self, s => s.begin_step(run_id, key, name, input, now).await)
    }

    async fn record_step(
        &self,
        run_id: Option<i64>,
        key: &str,
        name: &str,
        output: &serde_json::Value,
        now: i64,
    ) -> Result<(), StoreError> {
        delegate!(self, s => s.record_step(run_id, key, name, output, now).await)
    }

    async fn succeed_step(
        &self,
        key: &str,
        output: &serde_json::Value,
        now: i64,
    ) -> Result<(), StoreError> {
        delegate!(self, s => s.succeed_step(key, output, now).await)
    }

    async fn succeed_step_in_run(
        &self,
        key: &str,
        output: &serde_json::Value,
        now: i64,
    ) -> Result<(), StoreError> {
        delegate!(self, s => s.succeed_step_in_run(key, output, now).await)
    }

    async fn fail_step(
        &self,
        key: &str,
        failure: &FailureRecord,
        now: i64,
    ) -> Result<(), StoreError> {
        delegate!(self, s => s.fail_step(key, failure, now).await)
    }

    async fn prune(&self, cutoffs: &PruneCutoffs) -> Result<PruneReport, StoreError> {
        delegate!(self, s => s.prune(cutoffs).await)
    }

    async fn counts(&self) -> Result<Counts, StoreError> {
        delegate!(self, s => s.counts().await)
    }
}

impl OrderStore for Store {
    async fn admit_order(&self, order: &NewOrder, now: i64) -> Result<Admission, StoreError> {
        delegate!(self, s => s.admit_order(order, now).await)
    }

    async fn record_payment(
        &self,
        order_id: &str,
        update: &PaymentUpdate,
        runs: &[NewRun],
        now: i64,
    ) -> Result<OrderRecord, StoreError> {
        delegate!(self, s => s.record_payment(order_id, update, runs, now).await)
    }

    async fn order(&self, id: &str) -> Result<Option<OrderRecord>, StoreError> {
        delegate!(self, s => s.order(id).await)
    }

    async fn order_by_reference(&self, reference: &str) -> Result<Option<OrderRecord>, StoreError> {
        delegate!(self, s => s.order_by_reference(reference).await)
    }

    async fn order_by_zoho_invoice(
        &self,
        invoice_id: &str,
    ) -> Result<Option<OrderRecord>, StoreError> {
        delegate!(self, s => s.order_by_zoho_invoice(invoice_id).await)
    }

    async fn orders_unchanged_since(
        &self,
        status: OrderStatus,
        before_ms: i64,
        limit: u32,
    ) -> Result<Vec<OrderRecord>, StoreError> {
        delegate!(self, s => s.orders_unchanged_since(status, before_ms, limit).await)
    }

    async fn orders(&self, limit: u32) -> Result<Vec<OrderRecord>, StoreError> {
        delegate!(self, s => s.orders(limit).await)
    }

    async fn set_order_status(
        &self,
        order_id: &str,
        from: OrderStatus,
        status: OrderStatus,
        detail: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        delegate!(self, s => s.set_order_status(order_id, from, status, detail, now).await)
    }

    async fn complete_order_sync(
        &self,
        order_id: &str,
        ids: &ZohoIds,
        step: OwnStep<'_>,
        now: i64,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        delegate!(self, s => s.complete_order_sync(order_id, ids, step, now).await)
    }

    async fn admit_refund(
        &self,
        refund: &NewRefund,
        now: i64,
    ) -> Result<RefundAdmission, StoreError> {
        delegate!(self, s => s.admit_refund(refund, now).await)
    }

    async fn refund(&self, id: &str) -> Result<Option<RefundRecord>, StoreError> {
        delegate!(self, s => s.refund(id).await)
    }

    async fn refund_by_cybersource_id(
        &self,
        cybersource_refund_id: &str,
    ) -> Result<Option<RefundRecord>, StoreError> {
        delegate!(self, s => s.refund_by_cybersource_id(cybersource_refund_id).await)
    }

    async fn refunds_of(&self, order_id: &str) -> Result<Vec<RefundRecord>, StoreError> {
        delegate!(self, s => s.refunds_of(order_id).await)
    }

    async fn finish_refund(
        &self,
        id: &str,
        outcome: &RefundOutcome<'_>,
        now: i64,
    ) -> Result<(), StoreError> {
        delegate!(self, s => s.finish_refund(id, outcome, now).await)
    }
}

impl XrefStore for Store {
    async fn xref(
        &self,
        system: &str,
        kind: &str,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        delegate!(self, s => s.xref(system, kind, key).await)
    }

    async fn put_xrefs(
        &self,
        system: &str,
        entries: &[XrefEntry<'_>],
        now: i64,
    ) -> Result<Vec<String>, StoreError> {
        delegate!(self, s => s.put_xrefs(system, entries, now).await)
    }
}

impl FlowStore for Store {
    async fn deploy_flow(
        &self,
        env: &str,
        version: &FlowVersionRecord,
        note: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        delegate!(self, s => s.deploy_flow(env, version, note, now).await)
    }

    async fn record_flow_version(&self, version: &FlowVersionRecord) -> Result<(), StoreError> {
        delegate!(self, s => s.record_flow_version(version).await)
    }

    async fn deployments(&self, env: &str) -> Result<Vec<DeploymentRecord>, StoreError> {
        delegate!(self, s => s.deployments(env).await)
    }

    async fn deployment_history(&self, name: &str) -> Result<Vec<DeploymentRecord>, StoreError> {
        delegate!(self, s => s.deployment_history(name).await)
    }

    async fn flow_version(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Option<FlowVersionRecord>, StoreError> {
        delegate!(self, s => s.flow_version(name, version).await)
    }
}

impl AuthStore for Store {
    async fn put_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        delegate!(self, s => s.put_token(token).await)
    }

    async fn token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        delegate!(self, s => s.token(id).await)
    }

    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        delegate!(self, s => s.tokens().await)
    }

    async fn touch_token(&self, id: &str, now: i64) -> Result<(), StoreError> {
        delegate!(self, s => s.touch_token(id, now).await)
    }

    async fn revoke_token(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        delegate!(self, s => s.revoke_token(id, now).await)
    }

    async fn open_session(
        &self,
        session: &ConsoleSession,
        expired_before_ms: i64,
    ) -> Result<(), StoreError> {
        delegate!(self, s => s.open_session(session, expired_before_ms).await)
    }

    async fn session(&self, id_hash: &str) -> Result<Option<ConsoleSession>, StoreError> {
        delegate!(self, s => s.session(id_hash).await)
    }

    async fn touch_session(&self, id_hash: &str, now_ms: i64) -> Result<(), StoreError> {
        delegate!(self, s => s.touch_session(id_hash, now_ms).await)
    }

    async fn close_session(&self, id_hash: &str) -> Result<(), StoreError> {
        delegate!(self, s => s.close_session(id_hash).await)
    }

    async fn vault_put(&self, secret: &SealedSecret, now: i64) -> Result<(), StoreError> {
        delegate!(self, s => s.vault_put(secret, now).await)
    }

    async fn vault_get(&self, name: &str) -> Result<Option<SealedSecret>, StoreError> {
        delegate!(self, s => s.vault_get(name).await)
    }

    async fn vault_all(&self) -> Result<Vec<SealedSecret>, StoreError> {
        delegate!(self, s => s.vault_all().await)
    }

    async fn vault_rewrap(
        &self,
        name: &str,
        old_key_id: &str,
        new_key_id: &str,
        wrapped_key: &[u8],
        now: i64,
    ) -> Result<bool, StoreError> {
        delegate!(self, s => s.vault_rewrap(name, old_key_id, new_key_id, wrapped_key, now).await)
    }

    async fn vault_delete(&self, name: &str) -> Result<bool, StoreError> {
        delegate!(self, s => s.vault_delete(name).await)
    }

    async fn vault_meta_or_insert(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        delegate!(self, s => s.vault_meta_or_insert(name, value).await)
    }

    async fn put_connection(&self, connection: &ConnectionRecord) -> Result<(), StoreError> {
        delegate!(self, s => s.put_connection(connection).await)
    }

    async fn delete_connection(&self, name: &str) -> Result<bool, StoreError> {
        delegate!(self, s => s.delete_connection(name).await)
    }

    async fn connection(&self, name: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        delegate!(self, s => s.connection(name).await)
    }
}

impl CoordinationStore for Store {
    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        delegate!(self, s => s.try_lease(name, holder, now, ttl_ms).await)
    }

    async fn leases_held(&self, prefix: &str, now: i64) -> Result<Vec<String>, StoreError> {
        delegate!(self, s => s.leases_held(prefix, now).await)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        delegate!(self, s => s.release_lease(name, holder).await)
    }

    async fn shared_token(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        delegate!(self, s => s.shared_token(name).await)
    }

    async fn share_token(&self, name: &str, sealed: &[u8], now: i64) -> Result<(), StoreError> {
        delegate!(self, s => s.share_token(name, sealed, now).await)
    }

    async fn quota_take(
        &self,
        key: &str,
        windows: &[(u64, i64)],
        cost: u64,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        delegate!(self, s => s.quota_take(key, windows, cost, now).await)
    }

    async fn quota_used(
        &self,
        key: &str,
        windows: &[i64],
        now: i64,
    ) -> Result<Vec<u64>, StoreError> {
        delegate!(self, s => s.quota_used(key, windows, now).await)
    }

    async fn quota_pause(&self, key: &str, until_ms: i64) -> Result<(), StoreError> {
        delegate!(self, s => s.quota_pause(key, until_ms).await)
    }

    async fn record_sample(
        &self,
        at_ms: i64,
        sample: &str,
        keep_after_ms: i64,
    ) -> Result<bool, StoreError> {
        delegate!(self, s => s.record_sample(at_ms, sample, keep_after_ms).await)
    }

    async fn samples_since(
        &self,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        delegate!(self, s => s.samples_since(since_ms, limit).await)
    }
}
