//! The actions flows call, one file (or folder) per connector — Zoho Books, Inventory, CRM and
//! Desk, Cybersource, the storefront, e-mail, any HTTP endpoint — and paybridge's own writes
//! about orders. Each action is declared once, as one [`Action`] impl: its spec (fields, typed
//! outputs, effect, how a lost answer is recovered), how it finds what an earlier attempt did,
//! and what it does. The catalogue, the interpreter's host, `flows actions` and the console
//! all read that one declaration.
//!
//! Inputs are the step's mapped fields, read into the connector's own request types (unknown
//! fields refused). Outputs are JSON that later steps read as `steps.NAME.…`.

pub mod books;
pub mod connectors;
pub mod crm;
pub mod cybersource;
pub mod desk;
pub mod email;
pub mod http;
mod input;
pub mod inventory;
pub mod orders;
pub mod storefront;

use std::collections::HashMap;
use std::future::Future;
use std::sync::LazyLock;

use futures::future::BoxFuture;
use paybridge_commerce::Commerce;
use paybridge_flows::{ActionSpec, Catalogue};
use paybridge_model::StepError;
use paybridge_store::{Attempt, Clock, InboxEvent, Store};
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use connectors::Connectors;

/// What actions work with: the store, the clock, the connections and the commerce services.
#[derive(Debug)]
pub struct Env {
    pub store: Store,
    pub clock: Clock,
    pub connectors: Connectors,
    pub commerce: Commerce,
    /// Display names a run of this process is creating a Books contact under right now.
    contact_names: books::contacts::NameClaims,
}

impl Env {
    pub fn new(store: Store, clock: Clock, connectors: Connectors, commerce: Commerce) -> Env {
        Env {
            store,
            clock,
            connectors,
            commerce,
            contact_names: books::contacts::NameClaims::default(),
        }
    }
}

/// What an action is called with besides its input.
pub struct Call<'a> {
    pub env: &'a Env,
    /// The run the step is part of (`None` outside a run).
    pub run_id: Option<i64>,
    /// The step's name in its flow.
    pub step: &'a str,
    pub attempt: Attempt,
    /// The step's idempotency key.
    pub key: &'a str,
    pub event: &'a InboxEvent,
    /// What the run's mappings see as `event` (for an order, its payment's outcome too), as
    /// read when the run began.
    pub trigger: &'a Value,
}

impl Call<'_> {
    /// The order the run's event is about, if it is an order event.
    pub fn order_id(&self) -> Option<&str> {
        self.event.payload.get("order_id").and_then(Value::as_str)
    }
}

/// One action, declared once.
pub trait Action: Sync + 'static {
    /// Its name, fields, typed outputs, effect and recovery.
    const SPEC: &'static ActionSpec;

    /// Its mapped fields as it reads them (unknown fields refused).
    type Input: DeserializeOwned + Send + Sync;

    /// After an attempt whose answer was lost: what that attempt did, if it took effect (its
    /// output then stands and nothing is done again). Asked only when the earlier attempt's
    /// outcome is unknown; the default finds nothing.
    fn find_lost(
        &self,
        call: &Call<'_>,
        input: &Self::Input,
    ) -> impl Future<Output = Result<Option<Value>, StepError>> + Send {
        let _ = (call, input);
        async { Ok(None) }
    }

    /// Does it.
    fn run(
        &self,
        call: &Call<'_>,
        input: Self::Input,
    ) -> impl Future<Output = Result<Value, StepError>> + Send;
}

/// An action as the host runs it, by name on its mapped fields.
pub trait Runnable: Sync {
    fn spec(&self) -> &'static ActionSpec;

    /// Reads `input`, looks for a lost answer when the attempt is uncertain, else does it.
    fn execute<'a>(
        &'a self,
        call: &'a Call<'a>,
        input: Value,
    ) -> BoxFuture<'a, Result<Value, StepError>>;
}

impl<A: Action> Runnable for A {
    fn spec(&self) -> &'static ActionSpec {
        A::SPEC
    }

    fn execute<'a>(
        &'a self,
        call: &'a Call<'a>,
        input: Value,
    ) -> BoxFuture<'a, Result<Value, StepError>> {
        Box::pin(async move {
            let input: A::Input = input::read(A::SPEC, input)?;
            if call.attempt.uncertain
                && let Some(found) = self.find_lost(call, &input).await?
            {
                tracing::info!(
                    step = call.step,
                    action = A::SPEC.name,
                    "found what an earlier attempt did"
                );
                return Ok(found);
            }
            self.run(call, input).await
        })
    }
}

/// Every action with an effect, by connector.
static ALL: &[&[&dyn Runnable]] = &[
    books::ACTIONS,
    inventory::ACTIONS,
    crm::ACTIONS,
    desk::ACTIONS,
    cybersource::ACTIONS,
    storefront::ACTIONS,
    email::ACTIONS,
    http::ACTIONS,
    orders::ACTIONS,
];

/// The actions, by name, and the catalogue flows are compiled against.
pub struct Actions {
    by_name: HashMap<&'static str, &'static dyn Runnable>,
    catalogue: Catalogue,
}

impl Actions {
    pub fn get(&self, name: &str) -> Option<&'static dyn Runnable> {
        self.by_name.get(name).copied()
    }

    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }
}

static ACTIONS: LazyLock<Actions> = LazyLock::new(|| {
    let by_name: HashMap<&'static str, &'static dyn Runnable> = ALL
        .iter()
        .flat_map(|list| list.iter())
        .map(|action| (action.spec().name, *action))
        .collect();
    let catalogue = Catalogue::with(by_name.values().map(|a| a.spec()));
    Actions { by_name, catalogue }
});

/// Every action with an effect.
pub fn actions() -> &'static Actions {
    &ACTIONS
}

/// What flows may name: the language's own actions and every connector's.
pub fn catalogue() -> &'static Catalogue {
    &ACTIONS.catalogue
}
