//! Who may do what: admin API tokens, console sessions, the vault's sealed secrets and the connections' settings.

use std::future::Future;

use crate::error::StoreError;
use serde::Serialize;

/// A console session, shared by every node: the SHA-256 of its id (the cookie's value), the
/// token signed in with, its CSRF token, when it was last used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    pub id_hash: String,
    pub token_id: String,
    pub csrf: String,
    pub last_seen_ms: i64,
}

/// A secret as the vault stores it: sealed with its data key, the data key wrapped with the
/// master key `key_id`. Nothing here is readable without the master key.
#[derive(Clone)]
pub struct SealedSecret {
    pub name: String,
    pub key_id: String,
    pub wrapped_key: Vec<u8>,
    pub sealed: Vec<u8>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl std::fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedSecret")
            .field("name", &self.name)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// A connection to a vendor account: its non-secret settings (secrets live in the vault).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionRecord {
    /// Unique across vendors, e.g. `zoho/main`.
    pub name: String,
    pub vendor: String,
    pub settings: serde_json::Value,
    pub updated_ms: i64,
}

/// An admin API token as stored: its secret only as a SHA-256.
#[derive(Clone)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    pub role: String,
    pub secret_hash: Vec<u8>,
    pub created_ms: i64,
    pub last_used_ms: Option<i64>,
    pub revoked_ms: Option<i64>,
}

impl std::fmt::Debug for TokenRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Who may do what: admin API tokens, console sessions, the vault's sealed secrets and the connections' settings.
pub trait AuthStore: Sync {
    fn put_token(&self, token: &TokenRecord)
    -> impl Future<Output = Result<(), StoreError>> + Send;

    fn token(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<TokenRecord>, StoreError>> + Send;

    fn tokens(&self) -> impl Future<Output = Result<Vec<TokenRecord>, StoreError>> + Send;

    fn touch_token(
        &self,
        id: &str,
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn revoke_token(
        &self,
        id: &str,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Keeps a flow version's text (once), so that runs of it can be replayed on it later.
    /// Opens a console session, and forgets those idle since before `expired_before_ms`.
    fn open_session(
        &self,
        session: &ConsoleSession,
        expired_before_ms: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn session(
        &self,
        id_hash: &str,
    ) -> impl Future<Output = Result<Option<ConsoleSession>, StoreError>> + Send;

    fn touch_session(
        &self,
        id_hash: &str,
        now_ms: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn close_session(&self, id_hash: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn vault_put(
        &self,
        secret: &SealedSecret,
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn vault_get(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<SealedSecret>, StoreError>> + Send;

    fn vault_all(&self) -> impl Future<Output = Result<Vec<SealedSecret>, StoreError>> + Send;

    fn vault_rewrap(
        &self,
        name: &str,
        old_key_id: &str,
        new_key_id: &str,
        wrapped_key: &[u8],
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn vault_delete(&self, name: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn vault_meta_or_insert(
        &self,
        name: &str,
        value: &[u8],
    ) -> impl Future<Output = Result<Vec<u8>, StoreError>> + Send;

    fn put_connection(
        &self,
        connection: &ConnectionRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn delete_connection(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn connection(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<ConnectionRecord>, StoreError>> + Send;
}
