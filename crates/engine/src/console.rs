//! What the console keeps in the store, shared by every node: signed-in sessions and the
//! overview's readings (one per minute, taken by whichever node gets there first).

use paybridge_store::{AuthStore as _, ConsoleSession, CoordinationStore as _, Store, StoreError};

/// Console sessions. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Sessions {
    store: Store,
}

impl Sessions {
    pub fn new(store: Store) -> Sessions {
        Sessions { store }
    }

    /// Opens a session, and forgets those idle since before `expired_before_ms`.
    pub async fn open(
        &self,
        session: &ConsoleSession,
        expired_before_ms: i64,
    ) -> Result<(), StoreError> {
        self.store.open_session(session, expired_before_ms).await
    }

    /// The session whose id hashes to `id_hash`, if it is open.
    pub async fn get(&self, id_hash: &str) -> Result<Option<ConsoleSession>, StoreError> {
        self.store.session(id_hash).await
    }

    /// Notes that the session was used at `now_ms`.
    pub async fn touch(&self, id_hash: &str, now_ms: i64) -> Result<(), StoreError> {
        self.store.touch_session(id_hash, now_ms).await
    }

    pub async fn close(&self, id_hash: &str) -> Result<(), StoreError> {
        self.store.close_session(id_hash).await
    }
}

/// The overview's readings. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Readings {
    store: Store,
}

impl Readings {
    pub fn new(store: Store) -> Readings {
        Readings { store }
    }

    /// Keeps a reading for its minute (`false`: another node took that minute's), and drops
    /// those before `keep_after_ms`.
    pub async fn record(
        &self,
        at_ms: i64,
        reading: &str,
        keep_after_ms: i64,
    ) -> Result<bool, StoreError> {
        self.store
            .record_sample(at_ms, reading, keep_after_ms)
            .await
    }

    /// The readings from `since_ms` on, oldest first (at most `limit`).
    pub async fn since(&self, since_ms: i64, limit: u32) -> Result<Vec<(i64, String)>, StoreError> {
        self.store.samples_since(since_ms, limit).await
    }
}
