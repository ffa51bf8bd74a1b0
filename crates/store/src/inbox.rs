//! The inbox: every input committed before it is acknowledged, once per dedupe key.

use std::future::Future;

use crate::error::StoreError;
use serde::Serialize;

/// An input to commit before acknowledging it.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub source: String,
    pub dedupe_key: String,
    pub event_type: String,
    pub entity_key: String,
    pub payload: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct InboxEvent {
    pub id: i64,
    pub source: String,
    pub dedupe_key: String,
    pub event_type: String,
    pub entity_key: String,
    pub payload: serde_json::Value,
    pub received_at: i64,
}

/// The inbox's answer to an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Accepted {
    /// The event: new, or the one with its dedupe key. `None` for a delivery seen so long ago
    /// that retention let its event go (only its key is kept): a duplicate all the same.
    pub event_id: Option<i64>,
    /// An event with its dedupe key was in already: nothing new was queued.
    pub duplicate: bool,
}

/// The inbox: every input committed before it is acknowledged, once per dedupe key.
pub trait InboxStore: Sync {
    /// Records the payment's outcome and, in the same transaction, the run that follows it.
    fn accept_event(
        &self,
        event: &NewEvent,
        flows: &[&str],
        now: i64,
    ) -> impl Future<Output = Result<Accepted, StoreError>> + Send;

    fn inbox_event(&self, id: i64) -> impl Future<Output = Result<InboxEvent, StoreError>> + Send;
}
