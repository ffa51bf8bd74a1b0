//! Zoho's quotas, kept on our side so that requests wait for budget instead of drawing 429s
//! (zoho.md §2.3, §4.4, §5, pitfall 5).
//!
//! Every quota is a sliding window: at most `limit` units in any `window`. Books and Inventory
//! share one organization's 100 requests a minute and its plan's daily cap; CRM spends credits
//! (one per call, one per ten records on writes) from a 24-hour allowance and limits
//! simultaneous calls; Desk spends credits from a daily allowance and limits simultaneous calls.
//!
//! The windows live in a [`BudgetLedger`]. [`LocalLedger`] keeps them in this process, which is
//! enough for one node with many workers; a store-backed ledger shares them between nodes.
//! Concurrency limits are per process.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::error::Error;

/// The Zoho products whose quotas are metered apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Product {
    /// Books and Inventory: one finance organization, one budget.
    Finance,
    Crm,
    Desk,
    /// Zoho Accounts: token requests per refresh token (10 per 10 minutes).
    Accounts,
}

impl Product {
    pub fn as_str(self) -> &'static str {
        match self {
            Product::Finance => "books",
            Product::Crm => "crm",
            Product::Desk => "desk",
            Product::Accounts => "accounts",
        }
    }
}

/// At most `limit` units in any `window`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    pub name: &'static str,
    pub limit: u64,
    pub window: Duration,
}

/// A ledger's answer to a request for budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Taken: the request may go.
    Granted,
    /// Not enough room; there will be after this long.
    Wait(Duration),
}

/// Where the windows are kept. `take` is atomic over all of a key's quotas: it spends from
/// every one of them or from none.
pub trait BudgetLedger: Send + Sync + 'static {
    fn take<'a>(
        &'a self,
        key: &'a str,
        quotas: &'a [Quota],
        cost: u64,
    ) -> BoxFuture<'a, Result<Grant, Error>>;

    /// Units spent in each quota's current window, in the order given.
    fn used<'a>(
        &'a self,
        key: &'a str,
        quotas: &'a [Quota],
    ) -> BoxFuture<'a, Result<Vec<u64>, Error>>;

    /// Lends nothing for `key` until `pause` has passed (Zoho answered 429 anyway: another
    /// integration on the same organization is spending the budget too).
    fn pause<'a>(&'a self, key: &'a str, pause: Duration) -> BoxFuture<'a, Result<(), Error>>;

    /// Takes one of `limit` concurrency slots of `key` for `holder`, for at most `ttl` (a
    /// crashed holder's slot frees itself then); `None` when all are taken. A ledger that
    /// keeps nothing beyond this process returns `Some(0)`: the process's own limiter is then
    /// the only one.
    fn take_slot<'a>(
        &'a self,
        _key: &'a str,
        _limit: u32,
        _holder: &'a str,
        _ttl: Duration,
    ) -> BoxFuture<'a, Result<Option<u32>, Error>> {
        Box::pin(async { Ok(Some(0)) })
    }

    /// Gives back a slot [`take_slot`](BudgetLedger::take_slot) lent.
    fn release_slot<'a>(
        &'a self,
        _key: &'a str,
        _slot: u32,
        _holder: &'a str,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async { Ok(()) })
    }
}

/// The longest a concurrency slot is held if its holder never gives it back (the client's
/// request timeout is 30 seconds).
const SLOT_TTL: Duration = Duration::from_secs(60);

/// Decides a request against one key's history. Shared by every ledger so that they agree.
///
/// `history` holds `(age, cost)` of earlier grants, oldest first, where `age` is how long ago
/// each was granted. Returns how long to wait, or `None` when `cost` fits now.
pub fn decide(history: &[(Duration, u64)], quotas: &[Quota], cost: u64) -> Option<Duration> {
    let mut wait = Duration::ZERO;
    for quota in quotas {
        let in_window: Vec<&(Duration, u64)> = history
            .iter()
            .filter(|(age, _)| *age < quota.window)
            .collect();
        let mut used: u64 = in_window.iter().map(|(_, c)| c).sum();
        if used + cost <= quota.limit {
            continue;
        }
        // Wait for the oldest grants to leave the window until the cost fits.
        for (age, spent) in in_window {
            used -= spent;
            if used + cost <= quota.limit {
                wait = wait.max(quota.window - *age);
                break;
            }
        }
    }
    (!wait.is_zero()).then_some(wait)
}

/// Windows kept in this process.
#[derive(Debug, Default)]
pub struct LocalLedger {
    keys: Mutex<HashMap<String, LocalKey>>,
}

#[derive(Debug, Default)]
struct LocalKey {
    grants: VecDeque<(Instant, u64)>,
    paused_until: Option<Instant>,
}

impl LocalLedger {
    fn with_key<T>(&self, key: &str, f: impl FnOnce(&mut LocalKey) -> T) -> T {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        f(keys.entry(key.to_string()).or_default())
    }
}

fn history(grants: &VecDeque<(Instant, u64)>, now: Instant) -> Vec<(Duration, u64)> {
    grants
        .iter()
        .map(|(at, cost)| (now.saturating_duration_since(*at), *cost))
        .collect()
}

impl BudgetLedger for LocalLedger {
    fn take<'a>(
        &'a self,
        key: &'a str,
        quotas: &'a [Quota],
        cost: u64,
    ) -> BoxFuture<'a, Result<Grant, Error>> {
        Box::pin(async move {
            let now = Instant::now();
            Ok(self.with_key(key, |k| {
                if let Some(until) = k.paused_until.filter(|until| *until > now) {
                    return Grant::Wait(until - now);
                }
                let longest = quotas.iter().map(|q| q.window).max().unwrap_or_default();
                while k
                    .grants
                    .front()
                    .is_some_and(|(at, _)| now.saturating_duration_since(*at) >= longest)
                {
                    k.grants.pop_front();
                }
                match decide(&history(&k.grants, now), quotas, cost) {
                    Some(wait) => Grant::Wait(wait),
                    None => {
                        k.grants.push_back((now, cost));
                        Grant::Granted
                    }
                }
            }))
        })
    }

    fn used<'a>(
        &'a self,
        key: &'a str,
        quotas: &'a [Quota],
    ) -> BoxFuture<'a, Result<Vec<u64>, Error>> {
        Box::pin(async move {
            let now = Instant::now();
            Ok(self.with_key(key, |k| {
                let history = history(&k.grants, now);
                quotas
                    .iter()
                    .map(|q| {
                        history
                            .iter()
                            .filter(|(age, _)| *age < q.window)
                            .map(|(_, c)| c)
                            .sum()
                    })
                    .collect()
            }))
        })
    }

    fn pause<'a>(&'a self, key: &'a str, pause: Duration) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let until = Instant::now() + pause;
            self.with_key(key, |k| {
                k.paused_until = Some(k.paused_until.map_or(until, |u| u.max(until)));
            });
            Ok(())
        })
    }
}

/// Zoho Books / Inventory plan limits (zoho.md §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FinancePlan {
    pub per_minute: u64,
    pub per_day: u64,
}

impl FinancePlan {
    /// The daily cap by plan name (`free` 1,000, `standard` 2,000, `professional` 5,000,
    /// `premium`, `elite`, `ultimate` 10,000), all with 100 requests a minute.
    pub fn named(plan: &str) -> Option<FinancePlan> {
        let per_day = match plan.trim().to_ascii_lowercase().as_str() {
            "free" => 1_000,
            "standard" => 2_000,
            "professional" => 5_000,
            "premium" | "elite" | "ultimate" => 10_000,
            _ => return None,
        };
        Some(FinancePlan {
            per_minute: 100,
            per_day,
        })
    }
}

impl Default for FinancePlan {
    fn default() -> FinancePlan {
        FinancePlan {
            per_minute: 100,
            per_day: 10_000,
        }
    }
}

/// Zoho CRM edition limits (zoho.md §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrmPlan {
    /// Credits per rolling 24 hours.
    pub credits_per_day: u64,
    /// Simultaneous calls per organization.
    pub concurrency: u32,
}

impl CrmPlan {
    /// The allowance of an edition for `users` licences: `free`, `standard` (or `starter`),
    /// `professional`, `enterprise` (or `zoho_one`), `ultimate` (or `crm_plus`).
    pub fn edition(edition: &str, users: u64) -> Option<CrmPlan> {
        let (per_user, max, concurrency) = match edition.trim().to_ascii_lowercase().as_str() {
            "free" => return Some(CrmPlan::new(5_000, 5)),
            "standard" | "starter" => (250, 100_000, 10),
            "professional" => (500, 3_000_000, 15),
            "enterprise" | "zoho_one" => (1_000, 5_000_000, 20),
            "ultimate" | "crm_plus" => (2_000, u64::MAX, 25),
            _ => return None,
        };
        Some(CrmPlan::new(
            (50_000 + per_user * users).min(max),
            concurrency,
        ))
    }

    pub fn new(credits_per_day: u64, concurrency: u32) -> CrmPlan {
        CrmPlan {
            credits_per_day,
            concurrency,
        }
    }

    /// What a call costs: one credit, or one per ten records for inserts, updates and upserts.
    pub fn cost(records_written: usize) -> u64 {
        u64::try_from(records_written.div_ceil(10))
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

impl Default for CrmPlan {
    fn default() -> CrmPlan {
        CrmPlan::edition("enterprise", 10).expect("a known edition")
    }
}

/// Zoho Desk edition limits (zoho.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeskPlan {
    pub credits_per_day: u64,
    pub concurrency: u32,
}

impl DeskPlan {
    /// Base credits plus agent credits by edition: `free`, `express`, `standard`,
    /// `professional`, `enterprise`.
    pub fn edition(edition: &str, agents: u64) -> Option<DeskPlan> {
        let (base, per_agent, concurrency) = match edition.trim().to_ascii_lowercase().as_str() {
            "free" => (5_000, 0, 5),
            "express" => (25_000, 100, 10),
            "standard" => (50_000, 250, 10),
            "professional" => (75_000, 500, 15),
            "enterprise" => (100_000, 1_000, 25),
            _ => return None,
        };
        Some(DeskPlan {
            credits_per_day: base + per_agent * agents,
            concurrency,
        })
    }
}

impl Default for DeskPlan {
    fn default() -> DeskPlan {
        DeskPlan::edition("professional", 5).expect("a known edition")
    }
}

/// The limits paybridge keeps to, per product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plans {
    pub finance: FinancePlan,
    pub crm: CrmPlan,
    pub desk: DeskPlan,
    /// The longest a request waits for budget before giving up with a retryable error (the
    /// engine then schedules it for later instead of holding a worker).
    pub max_wait: Duration,
}

impl Default for Plans {
    fn default() -> Plans {
        Plans {
            finance: FinancePlan::default(),
            crm: CrmPlan::default(),
            desk: DeskPlan::default(),
            max_wait: Duration::from_secs(10),
        }
    }
}

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(24 * 60 * 60);
const TEN_MINUTES: Duration = Duration::from_secs(10 * 60);

/// How far our window outlasts Zoho's, so that a request granted just as the window turns
/// cannot arrive early by Zoho's clock.
const WINDOW_GUARD: Duration = Duration::from_millis(500);

impl Plans {
    /// The quotas a product's requests spend from.
    pub fn quotas(&self, product: Product) -> Vec<Quota> {
        match product {
            Product::Finance => vec![
                Quota {
                    name: "requests_per_minute",
                    limit: self.finance.per_minute,
                    window: MINUTE + WINDOW_GUARD,
                },
                Quota {
                    name: "requests_per_day",
                    limit: self.finance.per_day,
                    window: DAY,
                },
            ],
            Product::Crm => vec![Quota {
                name: "credits_per_day",
                limit: self.crm.credits_per_day,
                window: DAY,
            }],
            Product::Desk => vec![Quota {
                name: "credits_per_day",
                limit: self.desk.credits_per_day,
                window: DAY,
            }],
            // zoho.md §1.3: ten token requests per refresh token per ten minutes.
            Product::Accounts => vec![Quota {
                name: "token_requests_per_10_minutes",
                limit: 10,
                window: TEN_MINUTES + WINDOW_GUARD,
            }],
        }
    }

    fn concurrency(&self, product: Product) -> Option<u32> {
        match product {
            Product::Finance | Product::Accounts => None,
            Product::Crm => Some(self.crm.concurrency),
            Product::Desk => Some(self.desk.concurrency),
        }
    }
}

/// One quota's use, for metrics, the admin API and the console.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QuotaUsage {
    pub product: &'static str,
    pub organization: String,
    pub quota: &'static str,
    pub limit: u64,
    pub used: u64,
    pub window_secs: u64,
}

/// The budgets of every organization a process talks to. Cheap to clone; share one between
/// all clients and workers of a node.
#[derive(Clone)]
pub struct Budgets {
    inner: Arc<BudgetsInner>,
}

struct BudgetsInner {
    ledger: Arc<dyn BudgetLedger>,
    plans: Plans,
    slots: Mutex<HashMap<String, Arc<Semaphore>>>,
    known: Mutex<Vec<(Product, String)>>,
}

impl std::fmt::Debug for Budgets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budgets")
            .field("plans", &self.inner.plans)
            .finish_non_exhaustive()
    }
}

/// Held while a request is in flight (it frees its concurrency slots when dropped: this
/// process's at once, the shared one in the background).
#[derive(Debug)]
pub struct Permit {
    _local: Option<OwnedSemaphorePermit>,
    shared: Option<SharedSlot>,
}

struct SharedSlot {
    ledger: Arc<dyn BudgetLedger>,
    key: String,
    slot: u32,
    holder: String,
}

impl std::fmt::Debug for SharedSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedSlot")
            .field("key", &self.key)
            .field("slot", &self.slot)
            .finish_non_exhaustive()
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let Some(shared) = self.shared.take() else {
            return;
        };
        let release = async move {
            if let Err(e) = shared
                .ledger
                .release_slot(&shared.key, shared.slot, &shared.holder)
                .await
            {
                tracing::warn!(error = %e, key = %shared.key, "could not free a Zoho concurrency slot; it frees itself within a minute");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(release);
            }
            Err(_) => tracing::warn!(
                "no runtime to free a Zoho concurrency slot; it frees itself within a minute"
            ),
        }
    }
}

fn key(product: Product, organization: &str) -> String {
    format!("zoho:{}:{organization}", product.as_str())
}

impl Budgets {
    pub fn new(plans: Plans, ledger: Arc<dyn BudgetLedger>) -> Budgets {
        Budgets {
            inner: Arc::new(BudgetsInner {
                ledger,
                plans,
                slots: Mutex::new(HashMap::new()),
                known: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Budgets kept in this process only.
    pub fn local(plans: Plans) -> Budgets {
        Budgets::new(plans, Arc::new(LocalLedger::default()))
    }

    pub fn plans(&self) -> &Plans {
        &self.inner.plans
    }

    /// Waits until `cost` units fit in every quota of the product for this organization and a
    /// concurrency slot is free, then takes them. Gives up with [`Error::QuotaExhausted`]
    /// (retryable, with the time to wait) when that would take longer than `max_wait`.
    pub async fn acquire(
        &self,
        product: Product,
        organization: &str,
        cost: u64,
    ) -> Result<Permit, Error> {
        let quotas = self.inner.plans.quotas(product);
        if let Some(quota) = quotas.iter().find(|q| cost > q.limit) {
            return Err(Error::Config(format!(
                "a Zoho {} call costing {cost} can never fit in {} = {}",
                product.as_str(),
                quota.name,
                quota.limit
            )));
        }
        let key = key(product, organization);
        self.remember(product, organization);
        let mut waited = Duration::ZERO;
        loop {
            match self.inner.ledger.take(&key, &quotas, cost).await? {
                Grant::Granted => break,
                Grant::Wait(wait) => {
                    if waited + wait > self.inner.plans.max_wait {
                        return Err(Error::QuotaExhausted {
                            product: product.as_str(),
                            organization: organization.to_string(),
                            retry_after: wait,
                        });
                    }
                    metrics::counter!("paybridge_zoho_quota_waits_total", "product" => product.as_str())
                        .increment(1);
                    tracing::debug!(
                        product = product.as_str(),
                        organization,
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "waiting for Zoho budget"
                    );
                    tokio::time::sleep(wait).await;
                    waited += wait;
                }
            }
        }
        metrics::counter!("paybridge_zoho_quota_spent_total", "product" => product.as_str(), "organization" => organization.to_string())
            .increment(cost);
        let Some(limit) = self.inner.plans.concurrency(product) else {
            return Ok(Permit {
                _local: None,
                shared: None,
            });
        };
        // This process's own limiter first, so that its tasks queue here rather than at the
        // store; then a slot shared by every process on the ledger.
        let semaphore = {
            let mut slots = self
                .inner
                .slots
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            slots
                .entry(key.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(usize::try_from(limit).unwrap_or(1))))
                .clone()
        };
        let local = semaphore
            .acquire_owned()
            .await
            .map_err(|_| Error::Config("the concurrency limiter closed".into()))?;
        let holder = format!("slot-{:016x}", rand::random::<u64>());
        let mut pause = Duration::from_millis(10);
        let slot = loop {
            if let Some(slot) = self
                .inner
                .ledger
                .take_slot(&key, limit, &holder, SLOT_TTL)
                .await?
            {
                break slot;
            }
            if waited + pause > self.inner.plans.max_wait {
                return Err(Error::QuotaExhausted {
                    product: product.as_str(),
                    organization: organization.to_string(),
                    retry_after: pause,
                });
            }
            metrics::counter!("paybridge_zoho_concurrency_waits_total", "product" => product.as_str())
                .increment(1);
            tokio::time::sleep(pause).await;
            waited += pause;
            pause = (pause * 2).min(Duration::from_millis(250));
        };
        Ok(Permit {
            _local: Some(local),
            shared: Some(SharedSlot {
                ledger: self.inner.ledger.clone(),
                key,
                slot,
                holder,
            }),
        })
    }

    /// Zoho throttled us anyway (another integration spends the same budget): lend nothing for
    /// this organization until `pause` has passed.
    pub async fn throttled(&self, product: Product, organization: &str, pause: Duration) {
        if let Err(e) = self
            .inner
            .ledger
            .pause(&key(product, organization), pause)
            .await
        {
            tracing::warn!(error = %e, "could not record a Zoho throttle");
        }
    }

    /// Lists an organization's quotas in [`usage`](Budgets::usage) before anything is spent
    /// from them (a deployment's configured organizations show from the start).
    pub fn watch(&self, product: Product, organization: &str) {
        self.remember(product, organization);
    }

    fn remember(&self, product: Product, organization: &str) {
        let mut known = self
            .inner
            .known
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !known
            .iter()
            .any(|(p, o)| *p == product && o == organization)
        {
            known.push((product, organization.to_string()));
        }
    }

    /// The use of every quota of every organization this process has spent from or watches.
    pub async fn usage(&self) -> Result<Vec<QuotaUsage>, Error> {
        let known = self
            .inner
            .known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut usage = Vec::new();
        for (product, organization) in known {
            let quotas = self.inner.plans.quotas(product);
            let used = self
                .inner
                .ledger
                .used(&key(product, &organization), &quotas)
                .await?;
            for (quota, used) in quotas.iter().zip(used) {
                metrics::gauge!("paybridge_zoho_quota_used", "product" => product.as_str(), "organization" => organization.clone(), "quota" => quota.name)
                    .set(u32::try_from(used).unwrap_or(u32::MAX));
                metrics::gauge!("paybridge_zoho_quota_limit", "product" => product.as_str(), "organization" => organization.clone(), "quota" => quota.name)
                    .set(u32::try_from(quota.limit).unwrap_or(u32::MAX));
                usage.push(QuotaUsage {
                    product: product.as_str(),
                    organization: organization.clone(),
                    quota: quota.name,
                    limit: quota.limit,
                    used,
                    window_secs: quota.window.as_secs(),
                });
            }
        }
        Ok(usage)
    }
}

#[cfg(test)]
mod tests;
