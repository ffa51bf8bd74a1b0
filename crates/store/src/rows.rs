//! What the SQLite and PostgreSQL stores share: the column lists they select and how a row
//! becomes a record. Only their SQL (placeholders, locking) differs; reading a row does not.

use std::str::FromStr;
use std::time::Duration;

use paybridge_model::OrderStatus;
use sqlx::Row;
use sqlx::postgres::PgRow;

use paybridge_model::FailureKind;

use crate::auth::{ConnectionRecord, ConsoleSession, SealedSecret, TokenRecord};
use crate::error::StoreError;
use crate::flows::{DeploymentRecord, FlowVersionRecord};
use crate::inbox::InboxEvent;
use crate::orders::{OrderRecord, RefundRecord, RefundStatus};
use crate::runs::{ClaimedRun, RunRecord, RunStatus, StepRecord, StepStart, StepStatus};

/// The column types the stores use, read by name from either backend's rows.
pub(crate) trait Columns {
    fn text(&self, column: &str) -> Result<String, StoreError>;
    fn maybe_text(&self, column: &str) -> Result<Option<String>, StoreError>;
    fn int(&self, column: &str) -> Result<i64, StoreError>;
    fn maybe_int(&self, column: &str) -> Result<Option<i64>, StoreError>;
    fn bytes(&self, column: &str) -> Result<Vec<u8>, StoreError>;
}

macro_rules! columns_of {
    ($row:ty, $get:ident) => {
        impl Columns for $row {
            fn text(&self, column: &str) -> Result<String, StoreError> {
                Ok(self.$get(column)?)
            }
            fn maybe_text(&self, column: &str) -> Result<Option<String>, StoreError> {
                Ok(self.$get(column)?)
            }
            fn int(&self, column: &str) -> Result<i64, StoreError> {
                Ok(self.$get(column)?)
            }
            fn maybe_int(&self, column: &str) -> Result<Option<i64>, StoreError> {
                Ok(self.$get(column)?)
            }
            fn bytes(&self, column: &str) -> Result<Vec<u8>, StoreError> {
                Ok(self.$get(column)?)
            }
        }
    };
}

columns_of!(rusqlite::Row<'_>, get_by_name);
columns_of!(PgRow, try_get);

/// Reads a SQLite column by name. rusqlite finds a name by comparing it with each column's in
/// turn, for every value read; the decoders read columns in the order they are selected, so the
/// column after the one read last is tried first (checked by name, so a wrong guess costs one
/// comparison, never a wrong value). Column names within one result are distinct.
trait ByName {
    fn get_by_name<T: rusqlite::types::FromSql>(&self, column: &str) -> Result<T, rusqlite::Error>;
}

impl ByName for rusqlite::Row<'_> {
    fn get_by_name<T: rusqlite::types::FromSql>(&self, column: &str) -> Result<T, rusqlite::Error> {
        thread_local! {
            static NEXT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
        }
        let statement = self.as_ref();
        let guess = NEXT.get();
        let index = match statement.column_name(guess) {
            Ok(name) if name.eq_ignore_ascii_case(column) => guess,
            _ => statement.column_index(column)?,
        };
        NEXT.set(index + 1);
        self.get(index)
    }
}

/// The bucket of a quota window: a sixtieth of it, at least a millisecond.
pub(crate) fn bucket_size(window_ms: i64) -> i64 {
    (window_ms / 60).max(1)
}

pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A `COUNT(*) AS n`.
pub(crate) fn count(row: &impl Columns) -> Result<u64, StoreError> {
    Ok(u64::try_from(row.int("n")?).unwrap_or(0))
}

pub(crate) fn sealed_from_row(row: &impl Columns) -> Result<SealedSecret, StoreError> {
    Ok(SealedSecret {
        name: row.text("name")?,
        key_id: row.text("key_id")?,
        wrapped_key: row.bytes("wrapped_key")?,
        sealed: row.bytes("sealed")?,
        created_ms: row.int("created_ms")?,
        updated_ms: row.int("updated_ms")?,
    })
}

pub(crate) fn token_from_row(row: &impl Columns) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        id: row.text("id")?,
        name: row.text("name")?,
        role: row.text("role")?,
        secret_hash: row.bytes("secret_hash")?,
        created_ms: row.int("created_ms")?,
        last_used_ms: row.maybe_int("last_used_ms")?,
        revoked_ms: row.maybe_int("revoked_ms")?,
    })
}

pub(crate) fn session_from_row(row: &impl Columns) -> Result<ConsoleSession, StoreError> {
    Ok(ConsoleSession {
        id_hash: row.text("id_hash")?,
        token_id: row.text("token_id")?,
        csrf: row.text("csrf")?,
        last_seen_ms: row.int("last_seen_ms")?,
    })
}

pub(crate) fn connection_from_row(row: &impl Columns) -> Result<ConnectionRecord, StoreError> {
    let name = row.text("name")?;
    let settings = serde_json::from_str(&row.text("settings")?)
        .map_err(|e| StoreError::Corrupt(format!("connection {name:?}: {e}")))?;
    Ok(ConnectionRecord {
        vendor: row.text("vendor")?,
        updated_ms: row.int("updated_ms")?,
        settings,
        name,
    })
}

pub(crate) fn inbox_event_from_row(row: &impl Columns) -> Result<InboxEvent, StoreError> {
    let id = row.int("id")?;
    Ok(InboxEvent {
        id,
        source: row.text("source")?,
        dedupe_key: row.text("dedupe_key")?,
        event_type: row.text("event_type")?,
        entity_key: row.text("entity_key")?,
        payload: serde_json::from_str(&row.text("payload")?)
            .map_err(|e| StoreError::Corrupt(format!("inbox event {id} payload: {e}")))?,
        received_at: row.int("received_at")?,
    })
}

/// How long until `cost` fits in a window of `window_ms` holding `buckets` (`(start, spent)`,
/// oldest first, each `bucket_ms` long) under `limit`: 0 when it fits now. Buckets leave the
/// window oldest first; a cost that never fits waits a whole window.
pub(crate) fn quota_wait(
    buckets: &[(i64, i64)],
    limit: i64,
    cost: i64,
    window_ms: i64,
    bucket_ms: i64,
    now: i64,
) -> i64 {
    let mut left: i64 = buckets.iter().map(|(_, spent)| spent).sum();
    if left + cost <= limit {
        return 0;
    }
    for (start, spent) in buckets {
        left -= spent;
        if left + cost <= limit {
            return start + bucket_ms + window_ms - now;
        }
    }
    window_ms
}

macro_rules! order_columns {
    () => {
        "id, reference, idempotency_key, request_fingerprint, inbox_id, status, currency, amount_minor,
         customer_email, card_brand, card_last4, payment_id, payment_status, decline_reason, status_detail,
         failure_kind, zoho_contact_id, zoho_invoice_id, zoho_payment_id, created_at, updated_at"
    };
}
pub(crate) use order_columns;

macro_rules! refund_columns {
    () => {
        "id, order_id, idempotency_key, request_fingerprint, inbox_id, amount_minor, currency, reason,
         source, status, cybersource_refund_id, status_detail, zoho_creditnote_id, created_at, updated_at"
    };
}
pub(crate) use refund_columns;

macro_rules! run_columns {
    () => {
        "id, inbox_id, flow, entity_key, status, attempt, next_attempt_at, last_error, last_error_kind,
         last_error_status, last_error_step, last_error_request_id, created_at, updated_at, finished_at,
         flow_version, flow_version_pinned"
    };
}
pub(crate) use run_columns;

macro_rules! step_columns {
    () => {
        "idempotency_key, run_id, name, status, attempts, input, output, error, error_kind, error_status,
         error_request_id, started_at, finished_at"
    };
}
pub(crate) use step_columns;

fn http_status(value: Option<i64>) -> Option<u16> {
    value.and_then(|s| u16::try_from(s).ok())
}

pub(crate) fn json(
    key: &str,
    what: &str,
    text: Option<String>,
) -> Result<Option<serde_json::Value>, StoreError> {
    text.map(|text| serde_json::from_str(&text))
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("step {key} {what}: {e}")))
}

pub(crate) fn order_from_row(row: &impl Columns) -> Result<OrderRecord, StoreError> {
    Ok(OrderRecord {
        id: row.text("id")?,
        reference: row.text("reference")?,
        idempotency_key: row.text("idempotency_key")?,
        request_fingerprint: row.text("request_fingerprint")?,
        inbox_id: row.int("inbox_id")?,
        status: OrderStatus::from_str(&row.text("status")?).map_err(StoreError::Corrupt)?,
        currency: row.text("currency")?,
        amount_minor: row.int("amount_minor")?,
        customer_email: row.text("customer_email")?,
        card_brand: row.maybe_text("card_brand")?,
        card_last4: row.maybe_text("card_last4")?,
        payment_id: row.maybe_text("payment_id")?,
        payment_status: row.maybe_text("payment_status")?,
        decline_reason: row.maybe_text("decline_reason")?,
        status_detail: row.maybe_text("status_detail")?,
        failure_kind: parse_kind(row.maybe_text("failure_kind")?),
        zoho_contact_id: row.maybe_text("zoho_contact_id")?,
        zoho_invoice_id: row.maybe_text("zoho_invoice_id")?,
        zoho_payment_id: row.maybe_text("zoho_payment_id")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}

pub(crate) fn refund_from_row(row: &impl Columns) -> Result<RefundRecord, StoreError> {
    Ok(RefundRecord {
        id: row.text("id")?,
        order_id: row.text("order_id")?,
        idempotency_key: row.text("idempotency_key")?,
        request_fingerprint: row.text("request_fingerprint")?,
        inbox_id: row.int("inbox_id")?,
        amount_minor: row.int("amount_minor")?,
        currency: row.text("currency")?,
        reason: row.maybe_text("reason")?,
        source: row.text("source")?,
        status: RefundStatus::parse(&row.text("status")?)?,
        cybersource_refund_id: row.maybe_text("cybersource_refund_id")?,
        status_detail: row.maybe_text("status_detail")?,
        zoho_creditnote_id: row.maybe_text("zoho_creditnote_id")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}

pub(crate) fn deployment_from_row(row: &impl Columns) -> Result<DeploymentRecord, StoreError> {
    Ok(DeploymentRecord {
        env: row.text("env")?,
        name: row.text("name")?,
        version: row.text("version")?,
        deployed_ms: row.int("deployed_ms")?,
        note: row.maybe_text("note")?,
    })
}

pub(crate) fn flow_version_from_row(row: &impl Columns) -> Result<FlowVersionRecord, StoreError> {
    Ok(FlowVersionRecord {
        name: row.text("name")?,
        version: row.text("version")?,
        text: row.text("text")?,
        origin: row.text("origin")?,
        recorded_ms: row.int("recorded_ms")?,
    })
}

pub(crate) fn run_from_row(row: &impl Columns) -> Result<RunRecord, StoreError> {
    Ok(RunRecord {
        id: row.int("id")?,
        inbox_id: row.int("inbox_id")?,
        flow: row.text("flow")?,
        entity_key: row.text("entity_key")?,
        status: RunStatus::parse(&row.text("status")?)?,
        attempt: u32::try_from(row.int("attempt")?).unwrap_or(0),
        next_attempt_at: row.int("next_attempt_at")?,
        last_error: row.maybe_text("last_error")?,
        last_error_kind: parse_kind(row.maybe_text("last_error_kind")?),
        last_error_status: http_status(row.maybe_int("last_error_status")?),
        last_error_step: row.maybe_text("last_error_step")?,
        last_error_request_id: row.maybe_text("last_error_request_id")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
        finished_at: row.maybe_int("finished_at")?,
        flow_version: row.maybe_text("flow_version")?,
        flow_version_pinned: row.int("flow_version_pinned")? != 0,
    })
}

/// What a claim returns on PostgreSQL: the run, and its event read in the same statement.
/// (SQLite reads the same columns with a join after its update: `claimed_from_row` reads both.)
macro_rules! claim_returning {
    () => {
        "RETURNING id, inbox_id, flow, entity_key, attempt, flow_version, flow_version_pinned, throttled_ms,
           (SELECT source FROM inbox WHERE inbox.id = runs.inbox_id) AS event_source,
           (SELECT dedupe_key FROM inbox WHERE inbox.id = runs.inbox_id) AS event_dedupe_key,
           (SELECT event_type FROM inbox WHERE inbox.id = runs.inbox_id) AS event_type,
           (SELECT entity_key FROM inbox WHERE inbox.id = runs.inbox_id) AS event_entity_key,
           (SELECT payload FROM inbox WHERE inbox.id = runs.inbox_id) AS event_payload,
           (SELECT received_at FROM inbox WHERE inbox.id = runs.inbox_id) AS event_received_at"
    };
}
pub(crate) use claim_returning;

pub(crate) fn claimed_from_row(row: &impl Columns) -> Result<ClaimedRun, StoreError> {
    let inbox_id = row.int("inbox_id")?;
    let event = (|| {
        let payload = row.maybe_text("event_payload").ok()??;
        Some(InboxEvent {
            id: inbox_id,
            source: row.maybe_text("event_source").ok()??,
            dedupe_key: row.maybe_text("event_dedupe_key").ok()??,
            event_type: row.maybe_text("event_type").ok()??,
            entity_key: row.maybe_text("event_entity_key").ok()??,
            payload: serde_json::from_str(&payload).ok()?,
            received_at: row.maybe_int("event_received_at").ok()??,
        })
    })();
    Ok(ClaimedRun {
        id: row.int("id")?,
        inbox_id,
        flow: row.text("flow")?,
        entity_key: row.text("entity_key")?,
        attempt: u32::try_from(row.int("attempt")?).unwrap_or(u32::MAX),
        flow_version: row.maybe_text("flow_version")?,
        flow_version_pinned: row.int("flow_version_pinned")? != 0,
        throttled_ms: row.int("throttled_ms")?,
        event,
    })
}

/// The step upsert's `RETURNING attempts, error_kind`: on another attempt, `error_kind` is the
/// kind of the previous attempt's failure (`outcome_unknown` when it never finished).
pub(crate) fn step_start_from_row(row: &impl Columns) -> Result<StepStart, StoreError> {
    let attempt = u32::try_from(row.int("attempts")?).unwrap_or(u32::MAX);
    let previous = parse_kind(row.maybe_text("error_kind")?);
    Ok(StepStart::Begun {
        attempt,
        uncertain: attempt > 1 && previous.is_none_or(|k| k == FailureKind::OutcomeUnknown),
    })
}

pub(crate) fn step_from_row(row: &impl Columns) -> Result<StepRecord, StoreError> {
    let key = row.text("idempotency_key")?;
    let status = match row.text("status")?.as_str() {
        "started" => StepStatus::Started,
        "succeeded" => StepStatus::Succeeded,
        "failed" => StepStatus::Failed,
        other => return Err(StoreError::Corrupt(format!("step {key} status {other:?}"))),
    };
    Ok(StepRecord {
        run_id: row.maybe_int("run_id")?,
        name: row.text("name")?,
        status,
        attempts: u32::try_from(row.int("attempts")?).unwrap_or(0),
        input: json(&key, "input", row.maybe_text("input")?)?,
        output: json(&key, "output", row.maybe_text("output")?)?,
        error: row.maybe_text("error")?,
        error_kind: parse_kind(row.maybe_text("error_kind")?),
        error_status: http_status(row.maybe_int("error_status")?),
        error_request_id: row.maybe_text("error_request_id")?,
        started_at: row.int("started_at")?,
        finished_at: row.maybe_int("finished_at")?,
        idempotency_key: key,
    })
}

fn parse_kind(text: Option<String>) -> Option<FailureKind> {
    match text.as_deref()? {
        "transient" => Some(FailureKind::Transient),
        "outcome_unknown" => Some(FailureKind::OutcomeUnknown),
        "permanent" => Some(FailureKind::Permanent),
        "configuration" => Some(FailureKind::Configuration),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sqlite_columns_are_read_by_name_in_any_order() {
        use super::Columns as _;
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let read = |order: &[&str]| -> Vec<i64> {
            conn.query_row("SELECT 1 AS a, 2 AS b, 3 AS Cee", [], |row| {
                Ok(order.iter().map(|c| row.int(c).unwrap()).collect())
            })
            .unwrap()
        };
        assert_eq!(read(&["a", "b", "cee"]), [1, 2, 3]);
        assert_eq!(read(&["CEE", "a", "b", "b", "a"]), [3, 1, 2, 2, 1]);
        let missing = conn.query_row("SELECT 1 AS a", [], |row| Ok(row.int("z").is_err()));
        assert!(missing.unwrap());
    }

    use super::quota_wait;

    #[test]
    fn a_cost_waits_for_the_oldest_buckets_to_leave_the_window() {
        // 100 per 60 s, buckets of 1 s: 40 spent at 0 s, 50 at 10 s; now is 30 s.
        let buckets = [(0, 40), (10_000, 50)];
        assert_eq!(quota_wait(&buckets, 100, 10, 60_000, 1_000, 30_000), 0);
        // 20 more fits once the first bucket is out: at 61 s.
        assert_eq!(quota_wait(&buckets, 100, 20, 60_000, 1_000, 30_000), 31_000);
        // 60 fits only once both are out: at 71 s.
        assert_eq!(quota_wait(&buckets, 100, 60, 60_000, 1_000, 30_000), 41_000);
        // More than the limit never fits: a whole window.
        assert_eq!(
            quota_wait(&buckets, 100, 101, 60_000, 1_000, 30_000),
            60_000
        );
        assert_eq!(quota_wait(&[], 100, 100, 60_000, 1_000, 30_000), 0);
    }
}
