//! The commerce services: what paybridge does with orders, payments and refunds, whoever asks.
//!
//! - [`orders`]: the order API's service — admit once per Idempotency-Key, charge with
//!   Cybersource, record what came of it; the watchdog's look for payments whose request died.
//! - [`payments`]: the payment step, what each answer makes of an order, a held order's review.
//! - [`refunds`]: refunds asked through the API or in Books, or made in Cybersource.
//! - [`resolution`]: a payment whose answer was lost, looked up and adopted or voided.
//! - [`cybersource_events`], [`books_events`]: what a vendor's webhook means for an order.
//! - [`view`]: an order's event as flows see it, and the writes flows make about orders.
//!
//! Commerce publishes domain events (`order.approved`, `order.refund_requested`, …): the runs
//! they start are committed in the same write as the state change, and which flows those are
//! is the runtime's to say ([`Dispatch`]). Nothing here knows the flow language.

pub mod books_events;
pub mod cybersource_events;
pub mod orders;
pub mod payments;
pub mod refunds;
pub mod resolution;
pub mod view;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use paybridge_model::order::FieldError;
use paybridge_model::{Currency, Money};
use paybridge_store::{Clock, StepObserver, Steps, Store};
use rust_decimal::Decimal;

pub use orders::{CardInput, OrderPlaced, PaymentMethod, PlaceError, PlaceOrder, Placed};
pub use payments::{PAYMENT_STEP, PaymentResult, payment_step_key};
pub use refunds::{RefundError, RefundRequest, Refunded};

/// Where commerce's domain events go: the runtime, which knows the flows.
pub trait Dispatch: Send + Sync {
    /// The flows an event of `event_type` from `source` (`order-api`, …) starts.
    fn flows_for(&self, source: &str, event_type: &str) -> Vec<String>;
    /// Runs were queued: the workers may look now.
    fn queued(&self);
    /// An order or a refund changed state: whoever waits for one may look now.
    fn changed(&self);
    /// Something a person must look at (the alert channels; the same `key` is told once per
    /// alert window).
    fn alert(&self, key: &str, title: &str, body: &str);
}

/// What the commerce services are told by the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Raw test card numbers are taken (sandboxes and the demo only).
    pub test_mode: bool,
    /// How long a payment whose answer was lost waits before it is looked up (Cybersource
    /// prescribes 60 s, reference §4.3).
    pub payment_resolution_delay: Duration,
    /// A payment unanswered this long after it began is one whose request died.
    pub payment_stale: Duration,
    /// The most one order may total.
    pub order_limits: OrderLimits,
    /// An order on hold this long is told to a person (again, once per alert window).
    pub hold_alert_after: Duration,
}

/// The most one order may total, per currency (`[orders] max_amount`): an order beyond it is
/// refused before anything is charged — a typo in a storefront must not charge a fortune.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLimits {
    /// For a currency not named in `per_currency`, in its major units.
    pub default: Decimal,
    /// By ISO code.
    pub per_currency: BTreeMap<String, Decimal>,
}

impl Default for OrderLimits {
    fn default() -> OrderLimits {
        OrderLimits {
            default: Decimal::new(1_000_000, 0),
            per_currency: BTreeMap::new(),
        }
    }
}

impl OrderLimits {
    /// The most an order in `currency` may total.
    pub fn max_for(&self, currency: Currency) -> Decimal {
        self.per_currency
            .get(currency.code())
            .copied()
            .unwrap_or(self.default)
    }

    /// Refuses a total beyond the limit, naming what is at fault.
    pub fn check(&self, total: Money) -> Result<(), FieldError> {
        let max = self.max_for(total.currency());
        if total.amount() > max {
            return Err(FieldError::new(
                "lines",
                format!(
                    "the order totals {} {}, more than the {max} {} one order may total (the merchant's [orders] max_amount)",
                    total.to_decimal_string(),
                    total.currency().code(),
                    total.currency().code()
                ),
            ));
        }
        Ok(())
    }
}

/// The commerce services over one store and one merchant's connections. Cheap to clone.
#[derive(Clone)]
pub struct Commerce {
    store: Store,
    clock: Clock,
    cybersource: paybridge_cybersource::Client,
    books: paybridge_zoho::Books,
    settings: Arc<Settings>,
    dispatch: Arc<dyn Dispatch>,
    observer: Arc<dyn StepObserver>,
}

impl std::fmt::Debug for Commerce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Commerce")
            .field("store", &self.store.location())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Commerce {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        clock: Clock,
        cybersource: paybridge_cybersource::Client,
        books: paybridge_zoho::Books,
        settings: Settings,
        dispatch: Arc<dyn Dispatch>,
        observer: Arc<dyn StepObserver>,
    ) -> Commerce {
        Commerce {
            store,
            clock,
            cybersource,
            books,
            settings: Arc::new(settings),
            dispatch,
            observer,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Steps taken outside any run (the order API's payment).
    fn steps(&self) -> Steps<'_> {
        Steps {
            store: &self.store,
            clock: &self.clock,
            run_id: None,
            observer: &*self.observer,
            lease: None,
        }
    }

    fn millis(d: Duration) -> i64 {
        i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
    }
}
