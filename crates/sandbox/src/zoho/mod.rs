//! The Zoho simulator: Zoho Accounts (the OAuth token endpoint and revocation, with Zoho's
//! HTTP-200 errors, refresh throttle and live-token cap) and Zoho Books v3 contacts, invoices
//! and customer payments, with real state, Zoho's rules and its error codes
//! (`reference/zoho.md` §1–§2).
//!
//! Control API (tests and the demo only): `GET /__sandbox/stats`, `POST|GET|DELETE
//! /__sandbox/faults`.

mod crm;
mod desk;
mod finance;
mod limits;
mod oauth;

pub use crm::{CrmConfig, CrmDelivery};
pub use desk::{DeskDelivery, DeskOrganization};
pub use limits::ZohoLimits;

pub use finance::{BooksDelivery, BooksRecords, BooksWebhook};

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::faults::{self, FaultRule, Faults};

#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthClientConfig {
    pub client_id: String,
    pub client_secret: String,
    /// Refresh tokens already granted to this client (as after a consent or a self-client code).
    pub refresh_tokens: Vec<String>,
    /// Registered redirect URIs (server-based clients); the consent page sends codes there.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// The data centre the client was made in (`us`, `eu`, …): other data centres do not know
    /// it unless `multi_dc`.
    #[serde(default = "us")]
    pub data_centre: String,
    /// "Multi-DC" enabled in the API console: every data centre knows the client.
    #[serde(default)]
    pub multi_dc: bool,
}

fn us() -> String {
    "us".into()
}

impl std::fmt::Debug for OAuthClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClientConfig")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OrganizationConfig {
    /// Numeric, like Zoho's.
    pub organization_id: String,
    pub name: String,
    /// The organization's base currency.
    #[serde(default = "usd")]
    pub currency_code: String,
    /// Custom fields (API names) configured "do not allow duplicate values": their values are
    /// unique per module and they name records in upserts (`X-Unique-Identifier-Key`).
    #[serde(default = "default_unique_fields")]
    pub unique_custom_fields: Vec<String>,
}

fn default_unique_fields() -> Vec<String> {
    vec!["cf_paybridge_id".into()]
}

fn usd() -> String {
    "USD".into()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ZohoConfig {
    pub clients: Vec<OAuthClientConfig>,
    pub organizations: Vec<OrganizationConfig>,
    /// Access-token lifetime (Zoho: 3600 s).
    #[serde(default = "default_lifetime")]
    pub access_token_lifetime_secs: u64,
    /// Token requests allowed per refresh token per window (Zoho: 10 per 10 minutes).
    #[serde(default = "default_refresh_limit")]
    pub refreshes_per_window: usize,
    #[serde(default = "default_refresh_window")]
    pub refresh_window_secs: u64,
    /// Live access tokens per refresh token; the next one invalidates the oldest. Zoho's pages
    /// say 10 (older pages 15 or 30).
    #[serde(default = "default_live_tokens")]
    pub max_live_access_tokens: usize,
    /// The `error` for a wrong client secret: Zoho answers `invalid_client` to most clients
    /// (some report `invalid_client_secret`).
    #[serde(default = "default_wrong_secret_error")]
    pub wrong_secret_error: String,
    /// HTTP status of the throttle answer (undocumented; 400 is what clients report).
    #[serde(default = "default_throttle_status")]
    pub throttle_http_status: u16,
    /// Whether a payment may be applied to a `draft` invoice (the Books UI only offers
    /// "Record payment" once an invoice is sent; default refuses).
    #[serde(default)]
    pub allow_payments_on_draft_invoices: bool,
    /// Serve the control API under `/__sandbox/`; its paths answer like any unknown URL when off.
    #[serde(default = "yes")]
    pub control_api: bool,
    /// Zoho's rate limits and daily allowances.
    #[serde(default)]
    pub limits: ZohoLimits,
    /// Zoho CRM's behaviour: search indexing lag, unique fields.
    #[serde(default)]
    pub crm: CrmConfig,
    /// How long a grant code may be exchanged (Zoho: 2-3 minutes; self-client codes 3-10).
    #[serde(default = "default_code_ttl")]
    pub grant_code_ttl_secs: u64,
    /// Refresh tokens a client keeps per user; the next one silently kills the oldest (20).
    #[serde(default = "default_refresh_tokens")]
    pub max_refresh_tokens_per_client: usize,
    /// Zoho Desk organizations (`orgId`) and their departments.
    #[serde(default = "desk::default_desk_organizations")]
    pub desk_organizations: Vec<DeskOrganization>,
}

fn yes() -> bool {
    true
}

fn default_lifetime() -> u64 {
    3600
}
fn default_refresh_limit() -> usize {
    10
}
fn default_refresh_window() -> u64 {
    600
}
fn default_code_ttl() -> u64 {
    180
}
fn default_refresh_tokens() -> usize {
    20
}
fn default_live_tokens() -> usize {
    10
}
fn default_wrong_secret_error() -> String {
    "invalid_client".into()
}
fn default_throttle_status() -> u16 {
    400
}

impl ZohoConfig {
    /// One client with one refresh token and one organization, Zoho's defaults otherwise.
    pub fn single(
        client_id: &str,
        client_secret: &str,
        refresh_token: &str,
        organization_id: &str,
        currency_code: &str,
    ) -> ZohoConfig {
        ZohoConfig {
            clients: vec![OAuthClientConfig {
                client_id: client_id.into(),
                client_secret: client_secret.into(),
                refresh_tokens: vec![refresh_token.into()],
                redirect_uris: Vec::new(),
                data_centre: us(),
                multi_dc: false,
            }],
            organizations: vec![OrganizationConfig {
                organization_id: organization_id.into(),
                name: "Sandbox Organization".into(),
                currency_code: currency_code.into(),
                unique_custom_fields: default_unique_fields(),
            }],
            access_token_lifetime_secs: default_lifetime(),
            refreshes_per_window: default_refresh_limit(),
            refresh_window_secs: default_refresh_window(),
            max_live_access_tokens: default_live_tokens(),
            wrong_secret_error: default_wrong_secret_error(),
            throttle_http_status: default_throttle_status(),
            allow_payments_on_draft_invoices: false,
            control_api: true,
            limits: ZohoLimits::default(),
            crm: CrmConfig::default(),
            grant_code_ttl_secs: default_code_ttl(),
            max_refresh_tokens_per_client: default_refresh_tokens(),
            desk_organizations: desk::default_desk_organizations(),
        }
    }
}

/// Counters the control API reports.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    /// Token-endpoint requests, and how many minted a token.
    pub token_requests: u64,
    pub tokens_issued: u64,
    pub token_errors: BTreeMap<String, u64>,
    /// Books API requests, and how many were refused for authentication.
    pub books_requests: u64,
    pub books_auth_failures: u64,
    /// Books error answers by code.
    pub books_errors: BTreeMap<i64, u64>,
    /// Requests refused with 429 for being over an organization's limits.
    pub throttled: u64,
    /// CRM and Desk API requests.
    pub crm_requests: u64,
    pub desk_requests: u64,
}

struct World {
    accounts: oauth::Accounts,
    organizations: HashMap<String, finance::Organization>,
    spending: limits::Spending,
    crm: crm::CrmState,
    desk: desk::DeskState,
    books_webhooks: Vec<finance::BooksWebhook>,
    books_deliveries: Vec<finance::BooksDelivery>,
    stats: Stats,
}

/// The client notifications and webhooks go out with.
fn outbound_client() -> reqwest::Client {
    // reqwest is built without a bundled crypto provider (STACK.md): install ring once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(15))
        .build()
        .expect("a client with default TLS settings builds")
}

/// A running simulator's shared state. Cheap to clone.
#[derive(Clone)]
pub struct ZohoSandbox {
    inner: Arc<Shared>,
    /// The data centre this handle serves (`us` unless [`ZohoSandbox::router_for`] says).
    dc: Arc<str>,
}

struct Shared {
    config: ZohoConfig,
    world: Mutex<World>,
    faults: Arc<Faults>,
    ids: AtomicU64,
    /// Sends CRM notifications and Desk webhooks (loopback receivers).
    http: reqwest::Client,
}

impl ZohoSandbox {
    pub fn new(config: ZohoConfig) -> ZohoSandbox {
        let ids = AtomicU64::new(0);
        let desk = desk::DeskState::new(&config.desk_organizations, &ids);
        let organizations = config
            .organizations
            .iter()
            .map(|org| {
                (
                    org.organization_id.clone(),
                    finance::Organization::new(org, &ids),
                )
            })
            .collect();
        ZohoSandbox {
            inner: Arc::new(Shared {
                config,
                world: Mutex::new(World {
                    accounts: oauth::Accounts::default(),
                    organizations,
                    spending: limits::Spending::default(),
                    crm: crm::CrmState::default(),
                    desk,
                    books_webhooks: Vec::new(),
                    books_deliveries: Vec::new(),
                    stats: Stats::default(),
                }),
                faults: Arc::new(Faults::default()),
                ids,
                http: outbound_client(),
            }),
            dc: Arc::from("us"),
        }
    }

    /// The simulator as the `us` data centre sees it (accounts server and API domain in one).
    pub fn router(&self) -> Router {
        self.router_for("us")
    }

    /// The simulator as one data centre (`us`, `eu`, `in`, …): run one per port to have several.
    /// Tokens work only at the data centre that issued them, and clients only at their own.
    pub fn router_for(&self, location: &str) -> Router {
        let this = ZohoSandbox {
            inner: self.inner.clone(),
            dc: Arc::from(location.to_ascii_lowercase()),
        };
        this.routes()
    }

    fn routes(&self) -> Router {
        let error_body: faults::ErrorBody = finance::server_error;
        let api = Router::new()
            .route("/oauth/v2/token", post(oauth::token))
            .route("/oauth/v2/token/revoke", post(oauth::revoke))
            .route("/oauth/v2/auth", get(oauth::authorize))
            .merge(finance::routes())
            .merge(crm::routes())
            .merge(desk::routes());
        let control = Router::new()
            .route("/__sandbox/stats", get(control_stats))
            .route("/__sandbox/reset", post(control_reset))
            .route(
                "/__sandbox/faults",
                post(control_add_fault)
                    .delete(control_clear_faults)
                    .get(control_faults),
            )
            .route("/__sandbox/faults/seed", post(control_seed_faults))
            .route(
                "/__sandbox/oauth/grant-codes",
                post(oauth::control_grant_code),
            )
            .route(
                "/__sandbox/books/webhooks",
                post(finance::webhooks_control_add).get(finance::webhooks_control_deliveries),
            );
        let router = if self.inner.config.control_api {
            api.merge(control)
        } else {
            api
        };
        router
            .fallback(invalid_url)
            .layer(axum::middleware::from_fn_with_state(
                (self.inner.faults.clone(), error_body),
                faults::inject,
            ))
            .with_state(self.clone())
    }

    /// Forgets every record, token and counter, and the fault rules. The configuration stays.
    pub fn reset(&self) {
        let organizations = self
            .inner
            .config
            .organizations
            .iter()
            .map(|org| {
                (
                    org.organization_id.clone(),
                    finance::Organization::new(org, &self.inner.ids),
                )
            })
            .collect();
        *self.world() = World {
            accounts: oauth::Accounts::default(),
            organizations,
            spending: limits::Spending::default(),
            crm: crm::CrmState::default(),
            desk: desk::DeskState::new(&self.inner.config.desk_organizations, &self.inner.ids),
            books_webhooks: Vec::new(),
            books_deliveries: Vec::new(),
            stats: Stats::default(),
        };
        self.inner.faults.clear();
    }

    pub fn stats(&self) -> Stats {
        let world = self.world();
        Stats {
            throttled: world.spending.throttled,
            ..world.stats.clone()
        }
    }

    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// An organization's Books records as the API renders them (for tests and the demo).
    pub fn books_records(&self, organization_id: &str) -> Option<BooksRecords> {
        let world = self.world();
        world
            .organizations
            .get(organization_id)
            .map(finance::Organization::records)
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.inner
            .world
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

async fn control_reset(State(sandbox): State<ZohoSandbox>) -> StatusCode {
    sandbox.reset();
    StatusCode::NO_CONTENT
}

async fn control_stats(State(sandbox): State<ZohoSandbox>) -> Json<Stats> {
    Json(sandbox.stats())
}

async fn control_add_fault(
    State(sandbox): State<ZohoSandbox>,
    Json(rule): Json<FaultRule>,
) -> StatusCode {
    sandbox.inner.faults.add(rule);
    StatusCode::NO_CONTENT
}

#[derive(Debug, Deserialize)]
struct Seed {
    seed: u64,
}

async fn control_seed_faults(
    State(sandbox): State<ZohoSandbox>,
    Json(seed): Json<Seed>,
) -> StatusCode {
    sandbox.inner.faults.seed(seed.seed);
    StatusCode::NO_CONTENT
}

async fn control_clear_faults(State(sandbox): State<ZohoSandbox>) -> StatusCode {
    sandbox.inner.faults.clear();
    StatusCode::NO_CONTENT
}

async fn control_faults(State(sandbox): State<ZohoSandbox>) -> Response {
    Json(sandbox.inner.faults.rules()).into_response()
}

/// A URL no product serves, answered in the dialect of the product its path names: CRM's
/// `INVALID_URL_PATTERN`, Desk's `URL_NOT_FOUND`, Books' and Inventory's code 5.
async fn invalid_url(uri: axum::http::Uri) -> axum::response::Response {
    let path = uri.path();
    if path.starts_with("/crm/") {
        crm::invalid_url().await
    } else if path.starts_with("/api/v1/") {
        desk::error(
            axum::http::StatusCode::NOT_FOUND,
            "URL_NOT_FOUND",
            "The URL you requested could not be found.",
        )
    } else {
        finance::invalid_url().await
    }
}
