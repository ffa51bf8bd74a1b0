//! The engine: one handle on the store, the connections, the commerce services, the flows this
//! node runs, and the signals that wake its workers. Cheap to clone.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use paybridge_actions::{Connectors, Env};
use paybridge_commerce::{
    Commerce, PlaceError, PlaceOrder, Placed, RefundError, RefundRequest, Refunded,
};
use paybridge_flows::{Catalogue, Definition, FlowError, Library};
use paybridge_store::{
    Clock, FlowStore as _, FlowVersionRecord, PruneReport, RunStore as _, Store, StoreError,
};

use crate::alerts::{Alert, Alerts};
use crate::console::{Readings, Sessions};
use crate::deploy::{self, DeployError, Deployments};
use crate::dispatch::Dispatcher;
use crate::dlq::Runs;
use crate::health::Health;
use crate::settings::EngineSettings;
use crate::tokens::Tokens;

/// The engine: a store, the connections, the commerce services, the flows it runs, and the
/// workers' wake-up signals. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Engine {
    store: Store,
    pub clock: Clock,
    pub settings: Arc<EngineSettings>,
    /// What actions work with: the connections and the commerce services among it.
    env: Arc<Env>,
    /// The flow files it runs and the signals that wake its workers and waiters.
    pub(crate) dispatch: Arc<Dispatcher>,
    /// The environment whose deployed flow versions it runs (`[flows] env`); `None`: the
    /// library it was given.
    flows_env: Option<Arc<str>>,
    /// Flow versions this process has kept in the store (each once).
    recorded_versions: Arc<Mutex<HashSet<String>>>,
    /// Each connection's last error and test, as this process saw them.
    pub health: Arc<Health>,
    /// Where dead letters and error spikes are told; none by default.
    pub alerts: Option<Alerts>,
    node_id: Arc<str>,
}

impl Engine {
    pub fn new(store: Store, connectors: Connectors, settings: EngineSettings) -> Engine {
        let node_id = format!("node-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let clock = Clock::new();
        let dispatch = Arc::new(Dispatcher::new(Library::shipped(
            paybridge_actions::catalogue(),
        )));
        let health = Arc::new(Health::default());
        let commerce = Commerce::new(
            store.clone(),
            clock,
            connectors.cybersource.clone(),
            connectors.books.clone(),
            paybridge_commerce::Settings {
                test_mode: settings.test_mode,
                payment_resolution_delay: settings.payment_resolution_delay,
                payment_stale: settings.payment_stale,
                order_limits: settings.order_limits.clone(),
                hold_alert_after: settings.hold_alert_after,
            },
            dispatch.clone(),
            health.clone(),
        );
        let env = Arc::new(Env::new(store.clone(), clock, connectors, commerce));
        Engine {
            store,
            clock,
            settings: Arc::new(settings),
            env,
            dispatch,
            flows_env: None,
            recorded_versions: Arc::default(),
            health,
            alerts: None,
            node_id: node_id.into(),
        }
    }

    /// The store it runs on (for the binary's commands and for tests; the server goes through
    /// the engine's services).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The vendor connections.
    pub fn connectors(&self) -> &Connectors {
        &self.env.connectors
    }

    /// The commerce services: orders, payments, refunds.
    pub fn commerce(&self) -> &Commerce {
        &self.env.commerce
    }

    /// Runs and dead letters, for operators.
    pub fn runs(&self) -> Runs {
        Runs::new(self.store.clone(), self.clock)
    }

    /// Flow versions and deployments.
    pub fn deployments(&self) -> Deployments {
        Deployments::new(self.store.clone(), self.clock)
    }

    /// Admin API tokens.
    pub fn tokens(&self) -> Tokens {
        Tokens::new(self.store.clone(), self.clock)
    }

    /// Console sessions.
    pub fn sessions(&self) -> Sessions {
        Sessions::new(self.store.clone())
    }

    /// The console overview's readings.
    pub fn readings(&self) -> Readings {
        Readings::new(self.store.clone())
    }

    /// The actions flows may name.
    pub fn catalogue(&self) -> &'static Catalogue {
        paybridge_actions::catalogue()
    }

    /// Compiles a flow file against the actions this engine runs.
    pub fn compile(&self, origin: &str, text: &str) -> Result<Definition, Vec<FlowError>> {
        paybridge_flows::compile(origin, text, self.catalogue())
    }

    /// What actions work with.
    pub(crate) fn env(&self) -> &Env {
        &self.env
    }

    /// Takes an order (see [`Commerce::place_order`]).
    pub async fn place_order(&self, request: PlaceOrder) -> Result<Placed, PlaceError> {
        self.commerce().place_order(request).await
    }

    /// Admits a refund asked for through the order API (see [`Commerce::request_refund`]).
    pub async fn request_refund(&self, request: RefundRequest) -> Result<Refunded, RefundError> {
        self.commerce().request_refund(request).await
    }

    /// The watchdog: payments whose request died are looked up in Cybersource (never charged
    /// again), and alerted; orders on hold past `[orders] hold_alert_minutes` are alerted
    /// ([`Commerce::watch_holds`]). Returns how many payments it found.
    pub async fn watch_payments(&self) -> Result<usize, PlaceError> {
        let stuck = self.commerce().watch_payments().await?;
        if !stuck.is_empty()
            && let Some(alerts) = &self.alerts
        {
            let references: Vec<&str> = stuck
                .iter()
                .take(20)
                .map(|o| o.reference.as_str())
                .collect();
            alerts.raise(Alert {
                key: "watchdog:payments".into(),
                title: format!("{} payment(s) were never answered", stuck.len()),
                body: format!(
                    "The watchdog found {} order(s) whose payment request stopped before Cybersource's answer was recorded (a crash or restart): {}. Each is being looked up in Cybersource (Transaction Search) and will be adopted, or voided so that nothing is charged.",
                    stuck.len(),
                    references.join(", ")
                ),
            });
        }
        if let Err(e) = self.commerce().watch_holds().await {
            tracing::warn!(error = %e, "cannot look for orders held too long; will try again");
        }
        Ok(stuck.len())
    }

    /// Runs the flow files of `library` instead of the shipped templates alone.
    pub fn with_flows(self, library: Library) -> Engine {
        self.dispatch.set_library(library);
        self
    }

    /// Runs what the store says `env` runs, and follows it: a deployment to `env` (from this
    /// node, or seen by [`Engine::reload_flows`]) replaces the library. Refuses an environment
    /// nothing was deployed to.
    pub async fn following_env(mut self, env: &str) -> Result<Engine, DeployError> {
        let library = deploy::library_for(&self.store, env, paybridge_actions::catalogue()).await?;
        self.dispatch.set_library(library);
        self.flows_env = Some(env.into());
        Ok(self)
    }

    /// The flow files it runs now.
    pub fn flows(&self) -> Arc<Library> {
        self.dispatch.library()
    }

    /// The environment it follows, if any.
    pub fn flows_env(&self) -> Option<&str> {
        self.flows_env.as_deref()
    }

    /// Reloads what the followed environment runs when its deployments changed; returns
    /// whether anything changed. Runs already claimed finish on the version they started.
    pub async fn reload_flows(&self) -> Result<bool, DeployError> {
        let Some(env) = self.flows_env.as_deref() else {
            return Ok(false);
        };
        let deployed = self.store.deployments(env).await?;
        let current = self.flows();
        let same = deployed.iter().all(|d| {
            current
                .get(&d.name)
                .is_some_and(|flow| flow.version == d.version)
        });
        if same {
            return Ok(false);
        }
        let library = deploy::library_for(&self.store, env, paybridge_actions::catalogue()).await?;
        tracing::info!(%env, "flows reloaded: a new version was deployed");
        self.dispatch.set_library(library);
        Ok(true)
    }

    /// Tells dead letters and error spikes to `alerts`.
    pub fn with_alerts(mut self, alerts: Alerts) -> Engine {
        self.dispatch.set_alerts(alerts.clone());
        self.alerts = Some(alerts);
        self
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Keeps `flow`'s text in the store, once per version and process, so that its runs can be
    /// replayed on it whatever is deployed later.
    pub async fn record_flow_version(&self, flow: &Definition) -> Result<(), StoreError> {
        let key = format!("{}@{}", flow.name, flow.version);
        let known = self
            .recorded_versions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&key);
        if known {
            return Ok(());
        }
        self.store
            .record_flow_version(&FlowVersionRecord {
                name: flow.name.clone(),
                version: flow.version.clone(),
                text: flow.text.to_string(),
                origin: flow.origin.clone(),
                recorded_ms: self.clock.now_ms(),
            })
            .await?;
        self.recorded_versions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key);
        Ok(())
    }

    /// Wakes idle workers: there is new work.
    pub fn wake_workers(&self) {
        self.dispatch.wake.notify_waiters();
    }

    pub(crate) fn notify_progress(&self) {
        self.dispatch.progress.notify_waiters();
    }

    /// Prunes run history as the retention settings say (see [`crate::settings::Retention`]).
    pub async fn prune(&self) -> Result<PruneReport, StoreError> {
        let cutoffs = self.settings.retention.cutoffs(self.clock.now_ms());
        let report = self.store.prune(&cutoffs).await?;
        metrics::counter!("paybridge_pruned_runs_total").increment(report.runs);
        tracing::info!(
            runs = report.runs,
            steps = report.steps,
            inbox_events = report.inbox_events,
            bytes_freed = report.bytes_freed,
            "run history pruned"
        );
        Ok(report)
    }

    /// Waits until `done` holds, re-checking whenever an order changes state (and at least
    /// every `recheck`, for changes made by other processes).
    pub async fn wait_until<F, Fut>(
        &self,
        recheck: std::time::Duration,
        mut done: F,
    ) -> Result<(), StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<bool, StoreError>>,
    {
        loop {
            let changed = self.dispatch.progress.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if done().await? {
                return Ok(());
            }
            tokio::select! {
                () = &mut changed => {}
                () = tokio::time::sleep(recheck) => {}
            }
        }
    }
}
