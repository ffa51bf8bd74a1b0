//! The store: everything paybridge keeps, on embedded SQLite or on PostgreSQL for several nodes.
//!
//! One trait per area, each written once in each backend's own SQL and held to the same
//! behaviour by one conformance suite (`tests/`), run on both:
//!
//! - [`InboxStore`]: every input committed before it is acknowledged, once per dedupe key.
//! - [`RunStore`]: runs and their memoized steps (the exactly-once record), retries, dead
//!   letters, replay and pruning.
//! - [`OrderStore`]: orders and refunds, admitted once per Idempotency-Key with the runs their
//!   events start, in one write.
//! - [`XrefStore`]: ids of one system kept against another's.
//! - [`FlowStore`]: flow versions and what each environment runs.
//! - [`AuthStore`]: admin tokens, console sessions, sealed secrets, connections.
//! - [`CoordinationStore`]: what nodes share: leases, quotas, the shared Zoho token, samples.
//!
//! [`Steps`] is the exactly-once protocol on top of the run store: a step's start is committed
//! before its effect, its result after; a step that succeeded returns its result again without
//! calling anyone, and one whose earlier attempt may have taken effect is told to look first.
//!
//! [`Store`] is the store over whichever backend it was opened on. [`Clock`] is the time every
//! record is stamped with.

pub mod auth;
pub mod clock;
pub mod coordination;
pub mod error;
pub mod flows;
pub mod inbox;
pub mod orders;
pub mod postgres;
mod rows;
pub mod runs;
pub mod sqlite;
pub mod steps;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod xrefs;

pub use auth::{AuthStore, ConnectionRecord, ConsoleSession, SealedSecret, TokenRecord};
pub use clock::Clock;
pub use coordination::CoordinationStore;
pub use error::StoreError;
pub use flows::{DeploymentRecord, FlowStore, FlowVersionRecord};
pub use inbox::{Accepted, InboxEvent, InboxStore, NewEvent};
pub use orders::{
    Admission, NewOrder, NewRefund, OrderRecord, OrderStore, PaymentUpdate, RefundAdmission,
    RefundOutcome, RefundRecord, RefundStatus, ZohoIds,
};
pub use postgres::PostgresStore;
pub use runs::{
    ClaimedRun, Counts, FailureRecord, NewRun, NewStep, OwnStep, PruneCutoffs, PruneReport,
    RecordedStep, Retry, RunFilter, RunRecord, RunStatus, RunStore, StepRecord, StepStart,
    StepStatus,
};
pub use sqlite::SqliteStore;
pub use steps::{Attempt, Lease, StepObserver, Steps};
pub use store::Store;
pub use xrefs::{XrefEntry, XrefStore};
