//! What nodes share: leases, vendor quotas, the shared Zoho access token, and the console's readings (one node takes each minute).

use std::future::Future;

use crate::error::StoreError;

/// What nodes share: leases, vendor quotas, the shared Zoho access token, and the console's readings (one node takes each minute).
pub trait CoordinationStore: Sync {
    fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        ttl_ms: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn leases_held(
        &self,
        prefix: &str,
        now: i64,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    fn release_lease(
        &self,
        name: &str,
        holder: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn shared_token(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;

    fn share_token(
        &self,
        name: &str,
        sealed: &[u8],
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn quota_take(
        &self,
        key: &str,
        windows: &[(u64, i64)],
        cost: u64,
        now: i64,
    ) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send;

    fn quota_used(
        &self,
        key: &str,
        windows: &[i64],
        now: i64,
    ) -> impl Future<Output = Result<Vec<u64>, StoreError>> + Send;

    fn quota_pause(
        &self,
        key: &str,
        until_ms: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Keeps a console overview reading for its minute (`false`: another node took that
    /// minute's), and drops those before `keep_after_ms`.
    fn record_sample(
        &self,
        at_ms: i64,
        sample: &str,
        keep_after_ms: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The overview readings from `since_ms` on, oldest first.
    fn samples_since(
        &self,
        since_ms: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<(i64, String)>, StoreError>> + Send;
}
