//! What several paybridge processes share through the store: Zoho's budgets (every node
//! spends from one window per organization) and the lease that lets one node at a time refresh
//! a Zoho connection's access token.

use std::time::Duration;

use futures::future::BoxFuture;
use paybridge_zoho::quota::{BudgetLedger, Grant, Quota};
use paybridge_zoho::{Error as ZohoError, RefreshLock};

use crate::clock::Clock;
use crate::store::{Store, StoreError};

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn store_error(e: StoreError) -> ZohoError {
    ZohoError::Coordination(e.to_string())
}

/// Zoho budgets kept in the store.
#[derive(Debug, Clone)]
pub struct StoreLedger {
    store: Store,
    clock: Clock,
}

impl StoreLedger {
    pub fn new(store: Store, clock: Clock) -> StoreLedger {
        StoreLedger { store, clock }
    }
}

impl BudgetLedger for StoreLedger {
    fn take<'a>(
        &'a self,
        key: &'a str,
        quotas: &'a [Quota],
        cost: u64,
    ) -> BoxFuture<'a, Result<Grant, ZohoError>> {
        Box::pin(async move {
            let windows: Vec<(u64, i64)> =
                quotas.iter().map(|q| (q.limit, millis(q.window))).collect();
            let wait = self
                .store
                .quota_take(key, &windows, cost, self.clock.now_ms())
                .await
                .map_err(store_error)?;
            Ok(match wait {
                None => Grant::Granted,
                Some(ms) => {
                    Grant::Wait(Duration::from_millis(u64::try_from(ms.max(1)).unwrap_or(1)))
                }
            })
        })
    }

    fn used<'a>(
        &'a self,
        key: &'a str,
        quotas: &'a [Quota],
    ) -> BoxFuture<'a, Result<Vec<u64>, ZohoError>> {
        Box::pin(async move {
            let windows: Vec<i64> = quotas.iter().map(|q| millis(q.window)).collect();
            self.store
                .quota_used(key, &windows, self.clock.now_ms())
                .await
                .map_err(store_error)
        })
    }

    fn pause<'a>(&'a self, key: &'a str, pause: Duration) -> BoxFuture<'a, Result<(), ZohoError>> {
        Box::pin(async move {
            self.store
                .quota_pause(key, self.clock.now_ms().saturating_add(millis(pause)))
                .await
                .map_err(store_error)
        })
    }
}

/// The Zoho refresh lease, kept in the store.
#[derive(Debug, Clone)]
pub struct StoreLeases {
    store: Store,
    clock: Clock,
}

impl StoreLeases {
    pub fn new(store: Store, clock: Clock) -> StoreLeases {
        StoreLeases { store, clock }
    }
}

impl RefreshLock for StoreLeases {
    fn acquire<'a>(
        &'a self,
        name: &'a str,
        holder: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, ZohoError>> {
        Box::pin(async move {
            self.store
                .try_lease(name, holder, self.clock.now_ms(), millis(ttl))
                .await
                .map_err(store_error)
        })
    }

    fn release<'a>(
        &'a self,
        name: &'a str,
        holder: &'a str,
    ) -> BoxFuture<'a, Result<(), ZohoError>> {
        Box::pin(async move {
            self.store
                .release_lease(name, holder)
                .await
                .map_err(store_error)
        })
    }
}
