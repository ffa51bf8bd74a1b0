//! The durable engine.
//!
//! - [`store`]: the inbox, orders, runs, memoized steps and cross-references (SQLite or
//!   PostgreSQL, one contract).
//! - [`orders`]: the order service behind `POST /api/v1/orders`: admit once, charge, queue.
//! - [`refunds`]: refunds asked through the order API or made in Cybersource, admitted once.
//! - [`payments`]: the payment step and how a lost payment answer is resolved.
//! - [`flows`]: what runs do: flow files (YAML: trigger, steps, mappings; the shipped templates
//!   such as order to cash) and the built-in flows (payment resolution, Cybersource events, the
//!   scheduled jobs).
//! - [`mapping`]: the sandboxed expressions that map fields, with money and status built-ins.
//! - [`runtime`]: steps executed exactly once, by idempotency key.
//! - [`worker`]: leasing runs, retrying with backoff, dead-lettering.
//! - [`retry`]: the pure backoff policy.
//! - [`dlq`]: runs and dead letters for operators: show, replay from the failed step, discard.
//! - [`coordination`]: Zoho budgets and leases kept in the store, shared by every process.
//! - [`vault`]: secrets sealed at rest (envelope encryption, master-key rotation).
//! - [`tokens`]: admin API tokens with roles.
//! - [`storefront`]: signed callbacks to the storefront.
//! - [`schedule`]: cron-style schedules, each firing run by exactly one node.
//! - [`alerts`]: dead letters and error spikes told to Slack and by e-mail, de-duplicated.
//! - [`mail`]: e-mail to customers over SMTP (flows' `email.send`).
//! - [`http_action`]: flows' generic `http` action, with named credentials.
//!
//! The promise: an event is committed to the inbox before it is acknowledged; every side effect
//! is a step with a deterministic key whose result is stored; a retried or re-delivered run
//! reuses finished steps and looks up effects whose outcome is unknown. So delivering every
//! event twice creates nothing twice.

pub mod alerts;
pub mod clock;
pub mod connectors;
pub mod coordination;
pub mod crm_channel;
pub mod dlq;
pub mod error;
pub mod flows;
pub mod health;
pub mod http_action;
pub mod mail;
pub mod mapping;
pub mod orders;
pub mod payments;
pub mod refunds;
pub mod retry;
pub mod runtime;
pub mod schedule;
pub mod settings;
pub mod store;
pub mod storefront;
pub mod tokens;
pub mod vault;
pub mod worker;

use std::sync::Arc;

use tokio::sync::Notify;

pub use clock::Clock;
pub use connectors::Connectors;
pub use error::StepError;
pub use orders::{CardInput, PaymentMethod, PlaceError, PlaceOrder, Placed};
pub use settings::EngineSettings;
pub use store::Store;
pub use vault::{KeySource, Vault, VaultError};
pub use worker::Workers;

/// The engine: a store, the connectors, and the workers' wake-up signals. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Engine {
    pub store: Store,
    pub connectors: Arc<Connectors>,
    pub settings: Arc<EngineSettings>,
    /// The flow files it runs (the shipped templates unless told otherwise); swapped whole
    /// when an environment it follows is deployed to ([`Engine::reload_flows`]).
    flows: Arc<std::sync::RwLock<Arc<flows::library::Library>>>,
    /// The environment whose deployed flow versions it runs (`[flows] env`); `None`: the
    /// library it was given.
    flows_env: Option<Arc<str>>,
    /// Flow versions this process has kept in the store (each once).
    recorded_versions: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    /// Display names a run of this process is creating a Books contact under right now (see
    /// `ensure_contact`): a namesake's run waits for no answer to know the name is taken.
    contact_names_in_flight: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    pub clock: Clock,
    /// Each connection's last error and test, as this process saw them.
    pub health: Arc<health::Health>,
    /// Where dead letters and error spikes are told; none by default.
    pub alerts: Option<alerts::Alerts>,
    node_id: Arc<str>,
    /// New runs are queued.
    wake: Arc<Notify>,
    /// An order changed state.
    progress: Arc<Notify>,
}

impl Engine {
    pub fn new(store: Store, connectors: Connectors, settings: EngineSettings) -> Engine {
        let node_id = format!("node-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        Engine {
            store,
            connectors: Arc::new(connectors),
            settings: Arc::new(settings),
            flows: Arc::new(std::sync::RwLock::new(Arc::new(
                flows::library::Library::shipped(),
            ))),
            flows_env: None,
            recorded_versions: Arc::default(),
            contact_names_in_flight: Arc::default(),
            clock: Clock::new(),
            health: Arc::default(),
            alerts: None,
            node_id: node_id.into(),
            wake: Arc::new(Notify::new()),
            progress: Arc::new(Notify::new()),
        }
    }

    /// Commits a verified Cybersource notification to the inbox and queues its processing;
    /// a repeat of one already in (same webhook, resource and event type) changes nothing.
    pub async fn accept_cybersource_event(
        &self,
        dedupe_key: String,
        event_type: String,
        resource: Option<&str>,
        notification: serde_json::Value,
    ) -> Result<store::Accepted, store::StoreError> {
        let event = store::NewEvent {
            source: "cybersource-webhook".into(),
            dedupe_key,
            event_type,
            // Events about one payment are processed in the order they came.
            entity_key: format!("cybersource-payment:{}", resource.unwrap_or("-")),
            payload: notification,
        };
        // The engine's own reading first (what the event means for its order).
        self.accept_triggered(
            &event,
            flows::definition::TriggerSource::Cybersource,
            Some(flows::Flow::CybersourceEvent),
        )
        .await
    }

    /// Commits `event` to the inbox with a run of `built_in` (first) and of every flow file its
    /// source and type trigger, and wakes the workers when it is new.
    pub async fn accept_triggered(
        &self,
        event: &store::NewEvent,
        source: flows::definition::TriggerSource,
        built_in: Option<flows::Flow>,
    ) -> Result<store::Accepted, store::StoreError> {
        let mut flows: Vec<String> = built_in.map(|f| f.name().to_string()).into_iter().collect();
        flows.extend(
            self.flows()
                .triggered_by(source.inbox_source(), &event.event_type),
        );
        let names: Vec<&str> = flows.iter().map(String::as_str).collect();
        self.accept(event, &names).await
    }

    /// Commits `event` to the inbox with a run of each of `flows`, and wakes the workers when
    /// it is new (a repeat changes nothing).
    pub async fn accept(
        &self,
        event: &store::NewEvent,
        flows: &[&str],
    ) -> Result<store::Accepted, store::StoreError> {
        let accepted = self
            .store
            .accept_event(event, flows, self.clock.now_ms())
            .await?;
        if !accepted.duplicate {
            self.wake_workers();
        }
        Ok(accepted)
    }

    /// Commits a verified Zoho Books webhook delivery (a module's record) to the inbox as a
    /// `books.<module>` event and queues its processing: the engine's own reading of credit
    /// notes (a refund asked for in Books), then the flow files it triggers. The same delivery
    /// again (byte for byte) changes nothing.
    pub async fn accept_zoho_books_event(
        &self,
        module: &str,
        record: serde_json::Map<String, serde_json::Value>,
        raw: &[u8],
    ) -> Result<store::Accepted, store::StoreError> {
        use sha2::Digest as _;
        let event_type = format!("books.{module}");
        let id = record
            .get(&format!("{module}_id"))
            .and_then(|v| {
                v.as_str()
                    .map(str::to_string)
                    .or_else(|| v.as_i64().map(|n| n.to_string()))
            })
            .unwrap_or_else(|| "-".into());
        let event = store::NewEvent {
            source: flows::definition::TriggerSource::Zoho.inbox_source().into(),
            dedupe_key: format!("zoho-books:{}", hex::encode(sha2::Sha256::digest(raw))),
            event_type,
            // Events about one record are processed in the order they came.
            entity_key: format!("zoho-books:{module}:{id}"),
            payload: serde_json::json!({"module": module, "record": record}),
        };
        // Credit notes are read by the engine first: a refund asked for in Books.
        let built_in = (module == "creditnote").then_some(flows::Flow::ZohoBooksEvent);
        self.accept_triggered(&event, flows::definition::TriggerSource::Zoho, built_in)
            .await
    }

    /// Commits a verified Zoho CRM notification to the inbox as a `crm.<Module>.<operation>`
    /// event and queues the flows it triggers. The same callback again (byte for byte)
    /// changes nothing.
    pub async fn accept_zoho_crm_event(
        &self,
        notification: &paybridge_zoho::crm::Notification,
        raw: &[u8],
    ) -> Result<store::Accepted, store::StoreError> {
        use sha2::Digest as _;
        let event_type = format!("crm.{}.{}", notification.module, notification.operation);
        let event = store::NewEvent {
            source: flows::definition::TriggerSource::Zoho.inbox_source().into(),
            dedupe_key: format!("zoho-crm:{}", hex::encode(sha2::Sha256::digest(raw))),
            event_type,
            entity_key: format!(
                "zoho-crm:{}:{}",
                notification.module,
                notification.ids.first().map(String::as_str).unwrap_or("-")
            ),
            payload: serde_json::to_value(notification).unwrap_or_default(),
        };
        self.accept_triggered(&event, flows::definition::TriggerSource::Zoho, None)
            .await
    }

    /// Commits one event of a verified Zoho Desk webhook delivery as a `desk.<eventType>` event
    /// (`desk.Ticket_Update`) and queues the flows it triggers; the same event again changes
    /// nothing.
    pub async fn accept_zoho_desk_event(
        &self,
        event: &paybridge_zoho::desk::Event,
    ) -> Result<store::Accepted, store::StoreError> {
        use sha2::Digest as _;
        let event_type = format!("desk.{}", event.event_type);
        let payload = serde_json::to_value(event).unwrap_or_default();
        let id = event.payload["id"]
            .as_str()
            .map(str::to_string)
            .or_else(|| event.payload["id"].as_i64().map(|n| n.to_string()))
            .unwrap_or_else(|| "-".into());
        let new = store::NewEvent {
            source: flows::definition::TriggerSource::Zoho.inbox_source().into(),
            dedupe_key: format!(
                "zoho-desk:{}",
                hex::encode(sha2::Sha256::digest(payload.to_string().as_bytes()))
            ),
            event_type,
            entity_key: format!("zoho-desk:{id}"),
            payload,
        };
        self.accept_triggered(&new, flows::definition::TriggerSource::Zoho, None)
            .await
    }

    /// Starts a flow whose trigger is `manual` on `event` (any JSON object: the run's `event`),
    /// once per `key` however often it is asked. Refuses a flow that is not manual.
    pub async fn start_manual(
        &self,
        flow: &str,
        key: &str,
        event: serde_json::Value,
    ) -> Result<store::Accepted, ManualError> {
        let new = manual_event(&self.flows(), flow, key, event)?;
        self.accept(&new, &[flow]).await.map_err(ManualError::Store)
    }

    /// Offers one firing of a schedule to the inbox (duplicates from other nodes collapse).
    pub async fn fire_schedule(
        &self,
        entry: &schedule::Schedule,
        at_ms: i64,
    ) -> Result<store::Accepted, store::StoreError> {
        let event = store::NewEvent {
            source: "schedule".into(),
            dedupe_key: format!("schedule:{}:{at_ms}", entry.name),
            event_type: "schedule.fired".into(),
            entity_key: format!("schedule:{}", entry.name),
            payload: serde_json::json!({"schedule": entry.name, "cron": entry.cron, "at_ms": at_ms}),
        };
        self.accept(&event, &[entry.flow.as_str()]).await
    }

    /// Runs the flow files of `library` instead of the shipped templates alone.
    pub fn with_flows(self, library: flows::library::Library) -> Engine {
        self.set_flows(library);
        self
    }

    /// Runs what the store says `env` runs, and follows it: a deployment to `env` (from this
    /// node, or seen by [`Engine::reload_flows`]) replaces the library. Refuses an environment
    /// nothing was deployed to.
    pub async fn following_env(mut self, env: &str) -> Result<Engine, flows::deploy::DeployError> {
        let library = flows::deploy::library_for(&self.store, env).await?;
        self.set_flows(library);
        self.flows_env = Some(env.into());
        Ok(self)
    }

    /// The flow files it runs now.
    pub fn flows(&self) -> Arc<flows::library::Library> {
        self.flows
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The environment it follows, if any.
    pub fn flows_env(&self) -> Option<&str> {
        self.flows_env.as_deref()
    }

    fn set_flows(&self, library: flows::library::Library) {
        *self
            .flows
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(library);
    }

    /// Reloads what the followed environment runs when its deployments changed; returns
    /// whether anything changed. Runs already claimed finish on the version they started.
    pub async fn reload_flows(&self) -> Result<bool, flows::deploy::DeployError> {
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
        let library = flows::deploy::library_for(&self.store, env).await?;
        tracing::info!(%env, "flows reloaded: a new version was deployed");
        self.set_flows(library);
        Ok(true)
    }

    /// Tells dead letters and error spikes to `alerts`.
    pub fn with_alerts(mut self, alerts: alerts::Alerts) -> Engine {
        self.alerts = Some(alerts);
        self
    }

    /// Starts this process's workers.
    pub fn start_workers(&self) -> Workers {
        Workers::start(self)
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Keeps `flow`'s text in the store, once per version and process, so that its runs can be
    /// replayed on it whatever is deployed later.
    pub async fn record_flow_version(
        &self,
        flow: &flows::definition::Definition,
    ) -> Result<(), store::StoreError> {
        let key = format!("{}@{}", flow.name, flow.version);
        let known = self
            .recorded_versions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&key);
        if known {
            return Ok(());
        }
        self.store
            .record_flow_version(&store::FlowVersionRecord {
                name: flow.name.clone(),
                version: flow.version.clone(),
                text: flow.text.to_string(),
                origin: flow.origin.clone(),
                recorded_ms: self.clock.now_ms(),
            })
            .await?;
        self.recorded_versions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key);
        Ok(())
    }

    /// Wakes idle workers: there is new work.
    pub fn wake_workers(&self) {
        self.wake.notify_waiters();
    }

    fn notify_progress(&self) {
        self.progress.notify_waiters();
    }

    /// Prunes run history as the retention settings say (see [`settings::Retention`]).
    pub async fn prune(&self) -> Result<store::PruneReport, store::StoreError> {
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
    ) -> Result<(), store::StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<bool, store::StoreError>>,
    {
        loop {
            let changed = self.progress.notified();
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

/// The inbox event that starts manual flow `flow` of `library` on `event`, once per `key`
/// (the CLI commits it to the store for the serving nodes; [`Engine::start_manual`] for itself).
pub fn manual_event(
    library: &flows::library::Library,
    flow: &str,
    key: &str,
    event: serde_json::Value,
) -> Result<store::NewEvent, ManualError> {
    let Some(definition) = library.get(flow) else {
        return Err(ManualError::NoFlow(flow.to_string()));
    };
    if definition.source != flows::definition::TriggerSource::Manual {
        return Err(ManualError::NotManual(flow.to_string()));
    }
    if !event.is_object() {
        return Err(ManualError::Event("the event must be a JSON object".into()));
    }
    if !paybridge_model::pan::find_in_json(&event).is_empty() {
        return Err(ManualError::Event(
            "the event carries a card number; paybridge stores none".into(),
        ));
    }
    let key = key.trim();
    if key.is_empty() || key.len() > 255 {
        return Err(ManualError::Event(
            "the key must be 1 to 255 characters".into(),
        ));
    }
    Ok(store::NewEvent {
        source: "manual".into(),
        dedupe_key: format!("manual:{flow}:{key}"),
        event_type: "manual".into(),
        entity_key: format!("manual:{flow}:{key}"),
        payload: event,
    })
}

/// Why a manual run was not started.
#[derive(Debug, thiserror::Error)]
pub enum ManualError {
    #[error("there is no flow {0:?}")]
    NoFlow(String),
    #[error("flow {0:?} is not started by hand (its trigger's source is not manual)")]
    NotManual(String),
    #[error("{0}")]
    Event(String),
    #[error(transparent)]
    Store(store::StoreError),
}
