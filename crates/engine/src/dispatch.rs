//! Where domain events meet flows: the library of flow files this node runs, and the signals
//! that wake the workers (new runs) and whoever waits for an order (a state changed).

use std::sync::{Arc, PoisonError, RwLock};

use paybridge_flows::Library;
use tokio::sync::Notify;

use crate::alerts::{Alert, Alerts};

/// The flows a node runs and its wake-up signals; the commerce services publish through it.
#[derive(Debug)]
pub(crate) struct Dispatcher {
    flows: RwLock<Arc<Library>>,
    /// New runs are queued.
    pub(crate) wake: Notify,
    /// An order changed state.
    pub(crate) progress: Notify,
    /// Where what a person must see is told (none: logged only).
    alerts: RwLock<Option<Alerts>>,
}

impl Dispatcher {
    pub(crate) fn new(library: Library) -> Dispatcher {
        Dispatcher {
            flows: RwLock::new(Arc::new(library)),
            wake: Notify::new(),
            progress: Notify::new(),
            alerts: RwLock::new(None),
        }
    }

    pub(crate) fn set_alerts(&self, alerts: Alerts) {
        *self.alerts.write().unwrap_or_else(PoisonError::into_inner) = Some(alerts);
    }

    /// The flow files it runs now.
    pub(crate) fn library(&self) -> Arc<Library> {
        self.flows
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_library(&self, library: Library) {
        *self.flows.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(library);
    }
}

impl paybridge_commerce::Dispatch for Dispatcher {
    fn flows_for(&self, source: &str, event_type: &str) -> Vec<String> {
        self.library().triggered_by(source, event_type)
    }

    fn queued(&self) {
        self.wake.notify_waiters();
    }

    fn changed(&self) {
        self.progress.notify_waiters();
    }

    fn alert(&self, key: &str, title: &str, body: &str) {
        tracing::warn!(alert = key, "{title}");
        if let Some(alerts) = self
            .alerts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            alerts.raise(Alert {
                key: key.to_string(),
                title: title.to_string(),
                body: body.to_string(),
            });
        }
    }
}
