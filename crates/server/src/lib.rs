//! paybridge over HTTP.
//!
//! - [`orders`]: the storefront's door, `POST /api/v1/orders` and `GET /api/v1/orders/{id}`.
//! - [`health`]: `/healthz` (the process answers) and `/readyz` (the store answers).
//! - [`metrics`]: `/metrics` in Prometheus' text format (a viewer token).
//! - [`webhooks`]: `POST /webhooks/cybersource`, verified and committed before it is acknowledged.
//! - [`admin`]: API tokens with roles, and the admin API (`/api/v1/admin/…`): runs, dead
//!   letters, flows, connections, quota, summary; described by [`openapi`] at `/openapi.json`.
//!
//! - [`console`]: the web console at `/console`, on the admin API's functions.
//!
//! [`router`] builds the whole application without a socket (tests call it with `oneshot`);
//! [`serve`] runs it on a listener until the shutdown future completes.

pub mod admin;
pub mod console;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod orders;
pub mod webhooks;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use paybridge_engine::Engine;
use secrecy::SecretString;
use tokio::net::TcpListener;

/// A value every request reads and a rotated secret replaces.
pub type Shared<T> = Arc<std::sync::RwLock<T>>;

pub fn shared<T>(value: T) -> Shared<T> {
    Arc::new(std::sync::RwLock::new(value))
}

/// The value now.
pub fn read<T>(value: &Shared<T>) -> std::sync::RwLockReadGuard<'_, T> {
    value
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    /// API keys storefronts present as `Authorization: Bearer <key>`.
    pub storefront_keys: Shared<Vec<SecretString>>,
    /// What `/metrics` renders ([`metrics::install`]); `None` answers 503.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// The Cybersource subscriptions' signing keys; `None`: webhooks are not taken.
    pub cybersource_webhooks: Option<Arc<paybridge_cybersource::webhooks::WebhookVerifier>>,
    /// How Zoho Books webhooks prove themselves; `None`: they are not taken.
    pub zoho_books_webhooks: Option<Shared<paybridge_zoho::webhooks::BooksWebhookAuth>>,
    /// The CRM notification channel paybridge keeps (its id and token); `None`: CRM
    /// notifications are not taken.
    pub zoho_crm_channel: Option<Arc<(String, SecretString)>>,
    /// The Desk organization and the secret its webhooks carry (`?secret=`); `None`: Desk
    /// webhooks are not taken.
    pub zoho_desk_webhooks: Option<Arc<(String, SecretString)>>,
    /// What the admin API and the console know beyond the engine.
    pub admin: Arc<Admin>,
}

/// The admin side's settings: how the connections are set up (shown, never their secrets),
/// and the vault rotated secrets go to.
#[derive(Default)]
pub struct Admin {
    /// Empty: described from the engine's clients.
    pub connections: Vec<admin::connections::ConnectionInfo>,
    /// `None`: secrets cannot be rotated through the API.
    pub vault: Option<paybridge_vault::Vault>,
    /// Set when the server stops: long-lived answers (the console's event stream) end, so that
    /// a graceful shutdown is not held open by a browser tab.
    pub closing: tokio::sync::watch::Sender<bool>,
    /// A digest of each vault-held secret as this node last put it to use, by vault entry.
    pub secret_digests: std::sync::Mutex<std::collections::HashMap<String, [u8; 32]>>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("connections", &self.connections.len())
            .field("vault", &self.vault.is_some())
            .finish_non_exhaustive()
    }
}

impl Admin {
    /// Ends the long-lived answers; call before the server's graceful shutdown.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("storefront_keys", &read(&self.storefront_keys).len())
            .finish_non_exhaustive()
    }
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(orders::routes())
        .merge(health::routes())
        .merge(metrics::routes())
        .merge(admin::routes())
        .merge(openapi::routes())
        .merge(console::routes())
        .merge(webhooks::routes())
        .layer(DefaultBodyLimit::max(256 * 1024))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` completes, then drains open requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
