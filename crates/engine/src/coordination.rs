//! What several paybridge processes share through the store: Zoho's budgets (every node
//! spends from one window per organization), CRM and Desk concurrency slots (leases), and the
//! lease that lets one node at a time refresh a Zoho connection's access token — and the token
//! itself, sealed, so that the other nodes (and restarts) use it instead of refreshing again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::future::BoxFuture;
use paybridge_vault::sealing;
use paybridge_zoho::quota::{BudgetLedger, Grant, Quota};
use paybridge_zoho::{Error as ZohoError, RefreshLock, TokenKey};
use zeroize::Zeroizing;

use paybridge_store::{Clock, CoordinationStore as _, Store, StoreError};

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn store_error(e: StoreError) -> ZohoError {
    ZohoError::Coordination(e.to_string())
}

/// Zoho budgets kept in the store.
///
/// A process takes budget from the store in slices and spends them locally, so that a busy node
/// writes to the store once per slice instead of once per request. The store dates a slice when
/// it is taken, so it must be spent at once: a slice is good for a hundred-and-twentieth of the
/// shortest window (half a second of a minute, the windows' guard), and what is left of it then
/// is not spent — the error is towards spending less than allowed, never more. Slices follow
/// demand: one unit at first, twice the last one when that was used up, what was used of it
/// otherwise, and never more than a fiftieth of the smallest limit — so a quiet node takes
/// exactly what it spends and a busy one wastes little.
#[derive(Debug, Clone)]
pub struct StoreLedger {
    store: Store,
    clock: Clock,
    slices: Arc<Mutex<HashMap<String, Slice>>>,
    /// Held while a slice is taken from the store: requests that find the local slice spent
    /// at the same moment take one slice between them (each taking its own, the last one's
    /// would replace the others' unspent units, and those would be lost to everyone).
    taking: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Debug, Clone, Copy)]
struct Slice {
    size: u64,
    remaining: u64,
    good_until_ms: i64,
}

impl Slice {
    /// The size of the slice after this one.
    fn next_size(&self, most: u64) -> u64 {
        let next = if self.remaining == 0 {
            self.size.saturating_mul(2)
        } else {
            self.size - self.remaining
        };
        next.clamp(1, most.max(1))
    }
}

impl StoreLedger {
    pub fn new(store: Store, clock: Clock) -> StoreLedger {
        StoreLedger {
            store,
            clock,
            slices: Arc::default(),
            taking: Arc::default(),
        }
    }

    fn slices(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slice>> {
        self.slices.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The most budget to take from the store at once: a fiftieth of the smallest limit.
fn slice_size(quotas: &[Quota]) -> u64 {
    quotas
        .iter()
        .map(|q| (q.limit / 50).max(1))
        .min()
        .unwrap_or(1)
}

impl BudgetLedger for StoreLedger {
    fn take<'a>(
        &'a self,
        key: &'a str,
        quotas: &'a [Quota],
        cost: u64,
    ) -> BoxFuture<'a, Result<Grant, ZohoError>> {
        Box::pin(async move {
            // From the local slice, if it has enough; else one request at a time takes the
            // next slice, the others looking at the local one again once it is taken.
            let spend_local = |now: i64| {
                let mut slices = self.slices();
                match slices.get_mut(key) {
                    Some(slice) if slice.good_until_ms > now && slice.remaining >= cost => {
                        slice.remaining -= cost;
                        Ok(())
                    }
                    other => Err(other.map(|slice| *slice)),
                }
            };
            if spend_local(self.clock.now_ms()).is_ok() {
                return Ok(Grant::Granted);
            }
            let _taking = self.taking.lock().await;
            let now = self.clock.now_ms();
            let previous = match spend_local(now) {
                Ok(()) => return Ok(Grant::Granted),
                Err(previous) => previous,
            };
            let windows: Vec<(u64, i64)> =
                quotas.iter().map(|q| (q.limit, millis(q.window))).collect();
            let shortest = windows.iter().map(|(_, w)| *w).min().unwrap_or(0);
            let most = slice_size(quotas);
            let slice = previous.map_or(1, |p| p.next_size(most)).max(cost);
            // A whole slice if it fits; else just this request's cost, so that the last units
            // of a window are not left unused.
            let mut taken = slice;
            let mut wait = self
                .store
                .quota_take(key, &windows, slice, now)
                .await
                .map_err(store_error)?;
            if wait.is_some() && slice > cost {
                taken = cost;
                wait = self
                    .store
                    .quota_take(key, &windows, cost, now)
                    .await
                    .map_err(store_error)?;
            }
            Ok(match wait {
                None => {
                    self.slices().insert(
                        key.to_string(),
                        Slice {
                            size: taken,
                            remaining: taken - cost,
                            good_until_ms: now + (shortest / 120).max(1),
                        },
                    );
                    Grant::Granted
                }
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

    /// Slots are leases named `<key>:slot:<n>`: one read finds the free ones, one write takes
    /// one (another process may win it; then the next free one is tried).
    fn take_slot<'a>(
        &'a self,
        key: &'a str,
        limit: u32,
        holder: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Option<u32>, ZohoError>> {
        Box::pin(async move {
            let prefix = format!("{key}:slot:");
            let now = self.clock.now_ms();
            let held = self
                .store
                .leases_held(&prefix, now)
                .await
                .map_err(store_error)?;
            for slot in 0..limit {
                let name = format!("{prefix}{slot}");
                if held.contains(&name) {
                    continue;
                }
                if self
                    .store
                    .try_lease(&name, holder, now, millis(ttl))
                    .await
                    .map_err(store_error)?
                {
                    return Ok(Some(slot));
                }
            }
            Ok(None)
        })
    }

    fn release_slot<'a>(
        &'a self,
        key: &'a str,
        slot: u32,
        holder: &'a str,
    ) -> BoxFuture<'a, Result<(), ZohoError>> {
        Box::pin(async move {
            self.store
                .release_lease(&format!("{key}:slot:{slot}"), holder)
                .await
                .map_err(store_error)
        })
    }

    fn pause<'a>(&'a self, key: &'a str, pause: Duration) -> BoxFuture<'a, Result<(), ZohoError>> {
        Box::pin(async move {
            // What this process holds of the budget is void too.
            self.slices().remove(key);
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
    /// The store keeps the minted token for every process (and the next start): only a real
    /// token request spends Zoho's refresh allowance.
    fn shares_tokens(&self) -> bool {
        true
    }

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

    fn shared_token<'a>(
        &'a self,
        name: &'a str,
        key: &'a TokenKey,
    ) -> BoxFuture<'a, Result<Option<Zeroizing<Vec<u8>>>, ZohoError>> {
        Box::pin(async move {
            let Some(sealed) = self.store.shared_token(name).await.map_err(store_error)? else {
                return Ok(None);
            };
            // Sealed under other credentials, or altered: as if there were none.
            Ok(sealing::open(&token_key(key), name.as_bytes(), &sealed))
        })
    }

    fn share_token<'a>(
        &'a self,
        name: &'a str,
        token: Zeroizing<Vec<u8>>,
        key: &'a TokenKey,
    ) -> BoxFuture<'a, Result<(), ZohoError>> {
        Box::pin(async move {
            let sealed = sealing::seal(&token_key(key), name.as_bytes(), &token);
            self.store
                .share_token(name, &sealed, self.clock.now_ms())
                .await
                .map_err(store_error)
        })
    }
}

/// The key a shared Zoho access token is sealed with: derived from the connection's own secrets,
/// which every node of the connection has and the store does not.
fn token_key(key: &TokenKey) -> sealing::Key {
    sealing::Key::derived(TokenKey::CONTEXT, key.material())
}
