//! Zoho Accounts OAuth: data centres, the refresh-token grant, and the access-token cache.
//!
//! An access token lives 3600 s and a refresh token may mint only 10 of them per 10 minutes
//! (zoho.md §1.3), so the cache refreshes a few minutes early, one refresh at a time, and keeps
//! the `api_domain` each answer names (§1.1, pitfall 2).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;
use zeroize::Zeroizing;

use crate::error::Error;
use crate::quota::{Budgets, Product};

/// Zoho's data centres and their hosts (zoho.md §1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataCentre {
    Us,
    Eu,
    In,
    Au,
    Jp,
    Ca,
    Sa,
    Cn,
    Uk,
}

impl DataCentre {
    pub const ALL: [DataCentre; 9] = [
        DataCentre::Us,
        DataCentre::Eu,
        DataCentre::In,
        DataCentre::Au,
        DataCentre::Jp,
        DataCentre::Ca,
        DataCentre::Sa,
        DataCentre::Cn,
        DataCentre::Uk,
    ];

    /// The `location` value Zoho uses for the data centre.
    pub fn location(self) -> &'static str {
        match self {
            DataCentre::Us => "us",
            DataCentre::Eu => "eu",
            DataCentre::In => "in",
            DataCentre::Au => "au",
            DataCentre::Jp => "jp",
            DataCentre::Ca => "ca",
            DataCentre::Sa => "sa",
            DataCentre::Cn => "cn",
            DataCentre::Uk => "uk",
        }
    }

    pub fn from_location(location: &str) -> Option<DataCentre> {
        DataCentre::ALL
            .into_iter()
            .find(|dc| dc.location() == location.trim().to_ascii_lowercase())
    }

    /// The accounts server (token endpoint host). Canada is `zohocloud.ca`, not `zoho.ca`.
    pub fn accounts_url(self) -> Url {
        let host = match self {
            DataCentre::Us => "accounts.zoho.com",
            DataCentre::Eu => "accounts.zoho.eu",
            DataCentre::In => "accounts.zoho.in",
            DataCentre::Au => "accounts.zoho.com.au",
            DataCentre::Jp => "accounts.zoho.jp",
            DataCentre::Ca => "accounts.zohocloud.ca",
            DataCentre::Sa => "accounts.zoho.sa",
            DataCentre::Cn => "accounts.zoho.com.cn",
            DataCentre::Uk => "accounts.zoho.uk",
        };
        Url::parse(&format!("https://{host}/")).expect("static URL")
    }

    /// The API gateway for Books, Inventory and CRM in this data centre.
    pub fn api_domain(self) -> Url {
        let tld = match self {
            DataCentre::Us => "com",
            DataCentre::Eu => "eu",
            DataCentre::In => "in",
            DataCentre::Au => "com.au",
            DataCentre::Jp => "jp",
            DataCentre::Ca => "ca",
            DataCentre::Sa => "sa",
            DataCentre::Cn => "com.cn",
            DataCentre::Uk => "uk",
        };
        Url::parse(&format!("https://www.zohoapis.{tld}/")).expect("static URL")
    }
}

impl DataCentre {
    /// Zoho Desk's host, which is not behind the API gateway (`desk.zohocloud.ca` in Canada).
    pub fn desk_url(self) -> Url {
        let host = match self {
            DataCentre::Us => "desk.zoho.com",
            DataCentre::Eu => "desk.zoho.eu",
            DataCentre::In => "desk.zoho.in",
            DataCentre::Au => "desk.zoho.com.au",
            DataCentre::Jp => "desk.zoho.jp",
            DataCentre::Ca => "desk.zohocloud.ca",
            DataCentre::Sa => "desk.zoho.sa",
            DataCentre::Cn => "desk.zoho.com.cn",
            DataCentre::Uk => "desk.zoho.uk",
        };
        Url::parse(&format!("https://{host}/")).expect("static URL")
    }
}

/// A self client or server-based client with its long-lived refresh token.
#[derive(Clone)]
pub struct OAuthCredentials {
    /// The accounts server that issued the refresh token (the `accounts-server` Zoho returned).
    pub accounts_url: Url,
    pub client_id: String,
    pub client_secret: SecretString,
    pub refresh_token: SecretString,
}

impl fmt::Debug for OAuthCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthCredentials")
            .field("accounts_url", &self.accounts_url.as_str())
            .field("client_id", &self.client_id)
            .field("client_secret", &"**REDACTED**")
            .field("refresh_token", &"**REDACTED**")
            .field("access_token", &"**REDACTED**")
            .finish()
    }
}

/// A usable access token and where to use it.
#[derive(Clone)]
pub struct AccessToken {
    pub value: SecretString,
    pub api_domain: Url,
    expires_at: Instant,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("api_domain", &self.api_domain.as_str())
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The token endpoint's answer: a token, or an error object (sent with HTTP 200).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    api_domain: Option<String>,
    expires_in: Option<u64>,
    expires_in_sec: Option<u64>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Refresh this long before Zoho's expiry, so no request goes out with a dying token.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Serializes one connection's refreshes between processes (a lease in the shared store): a
/// holder keeps it for `ttl` at most, so a crashed node never blocks the others for long.
pub trait RefreshLock: Send + Sync + 'static {
    /// Takes the lease named `name` for `holder`; `false` while someone else holds it.
    fn acquire<'a>(
        &'a self,
        name: &'a str,
        holder: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, Error>>;

    /// Gives the lease back (only if `holder` still has it).
    fn release<'a>(&'a self, name: &'a str, holder: &'a str) -> BoxFuture<'a, Result<(), Error>>;

    /// Whether this lock keeps shared tokens ([`shared_token`](RefreshLock::shared_token)).
    fn shares_tokens(&self) -> bool {
        false
    }

    /// The access token another process (or this one before a restart) shared for `name`,
    /// opened with `key`: `None` when there is none, it does not open (sealed under other
    /// credentials, or altered), or sharing is not kept.
    fn shared_token<'a>(
        &'a self,
        _name: &'a str,
        _key: &'a TokenKey,
    ) -> BoxFuture<'a, Result<Option<Zeroizing<Vec<u8>>>, Error>> {
        Box::pin(async { Ok(None) })
    }

    /// Shares a freshly minted access token with every process on the store, sealed with `key`
    /// (the lock seals it: the store holds nothing usable).
    fn share_token<'a>(
        &'a self,
        _name: &'a str,
        _token: Zeroizing<Vec<u8>>,
        _key: &'a TokenKey,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async { Ok(()) })
    }
}

/// What a shared access token is sealed with: secrets every process of the connection holds
/// and the store does not (the client id, client secret and refresh token). Never printed.
pub struct TokenKey(Zeroizing<Vec<u8>>);

impl TokenKey {
    /// What the key is derived for (its context, for the sealing module's key derivation).
    pub const CONTEXT: &'static str = "paybridge zoho shared access token";

    /// The secrets the key is derived from.
    pub fn material(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey(**REDACTED**)")
    }
}

/// An access token as processes share it through the store (sealed by the lock with a
/// [`TokenKey`]).
#[derive(serde::Serialize, Deserialize)]
struct SharedToken {
    access_token: String,
    api_domain: Url,
    /// Unix milliseconds.
    expires_at_ms: i64,
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn token_digest(value: &str) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(value.as_bytes()).into()
}

/// How a token cache coordinates with the other processes refreshing the same connection.
#[derive(Clone)]
pub struct Coordination {
    pub lock: Arc<dyn RefreshLock>,
    /// This process, as the lease holder.
    pub holder: String,
}

impl fmt::Debug for Coordination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Coordination")
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

/// How long a refresh may hold the lease.
const LEASE: Duration = Duration::from_secs(30);
/// How often a process waiting for another's refresh looks again.
const LEASE_POLL: Duration = Duration::from_millis(200);

/// Caches one connection's access token. Concurrent callers share one refresh: the lock is held
/// across the token request, so a second caller waits and then reuses the fresh token. Across
/// processes, a [`RefreshLock`] lets one refresh at a time, and the refresh budget (10 per 10
/// minutes per refresh token, in the shared [`Budgets`]) is never overdrawn.
pub(crate) struct TokenCache {
    /// Replaced when a secret is rotated ([`TokenCache::set_credentials`]).
    credentials: std::sync::RwLock<OAuthCredentials>,
    /// The API domain to use until a token answer names one.
    default_api_domain: Url,
    current: Mutex<Option<AccessToken>>,
    /// A digest of the last token Zoho rejected: a shared copy of it is not taken up again.
    rejected: std::sync::Mutex<Option<[u8; 32]>>,
    refreshes: AtomicU64,
    coordination: Option<Coordination>,
    budgets: Option<Budgets>,
}

impl TokenCache {
    pub(crate) fn new(
        credentials: OAuthCredentials,
        default_api_domain: Url,
        coordination: Option<Coordination>,
        budgets: Option<Budgets>,
    ) -> TokenCache {
        TokenCache {
            credentials: std::sync::RwLock::new(credentials),
            default_api_domain,
            current: Mutex::new(None),
            rejected: std::sync::Mutex::new(None),
            refreshes: AtomicU64::new(0),
            coordination,
            budgets,
        }
    }

    /// The credentials as they are now.
    fn credentials(&self) -> OAuthCredentials {
        self.credentials
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Uses `change`d credentials from now on (a rotated client secret or refresh token): the
    /// cached access token is dropped, so the next call refreshes with them.
    pub(crate) async fn set_credentials(&self, change: impl FnOnce(&mut OAuthCredentials)) {
        change(
            &mut self
                .credentials
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        *self.current.lock().await = None;
    }

    /// The connection's name for leases and budgets: the client and a digest of the refresh
    /// token (never the token itself).
    fn connection_key(&self) -> String {
        use sha2::Digest as _;
        let c = self.credentials();
        let digest = sha2::Sha256::digest(c.refresh_token.expose_secret().as_bytes());
        format!("zoho-oauth:{}:{}", c.client_id, hex::encode(&digest[..8]))
    }

    /// The key a shared token of this connection is sealed with.
    fn token_key(&self) -> TokenKey {
        let c = &self.credentials();
        let mut material = Zeroizing::new(Vec::new());
        material.extend_from_slice(c.client_id.as_bytes());
        material.push(0);
        material.extend_from_slice(c.client_secret.expose_secret().as_bytes());
        material.push(0);
        material.extend_from_slice(c.refresh_token.expose_secret().as_bytes());
        TokenKey(material)
    }

    /// A token as the other processes are given it.
    fn shareable(token: &AccessToken) -> Zeroizing<Vec<u8>> {
        let remaining = token.expires_at.saturating_duration_since(Instant::now());
        let shared = SharedToken {
            access_token: token.value.expose_secret().to_string(),
            api_domain: token.api_domain.clone(),
            expires_at_ms: unix_ms() + i64::try_from(remaining.as_millis()).unwrap_or(0),
        };
        Zeroizing::new(serde_json::to_vec(&shared).expect("a token serializes"))
    }

    /// The shared token, if it is not the one Zoho rejected and lives past the margin.
    fn adopt(&self, shared: &[u8], margin: Duration) -> Option<AccessToken> {
        let shared: SharedToken = serde_json::from_slice(shared).ok()?;
        let rejected = *self
            .rejected
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if rejected == Some(token_digest(&shared.access_token)) {
            return None;
        }
        let remaining = u64::try_from(shared.expires_at_ms - unix_ms()).ok()?;
        let token = AccessToken {
            value: SecretString::from(shared.access_token),
            api_domain: shared.api_domain,
            expires_at: Instant::now() + Duration::from_millis(remaining),
        };
        (Instant::now() + margin < token.expires_at).then_some(token)
    }

    async fn shared(
        &self,
        coordination: &Coordination,
        key: &str,
        margin: Duration,
    ) -> Option<AccessToken> {
        match coordination.lock.shared_token(key, &self.token_key()).await {
            Ok(Some(shared)) => self.adopt(&shared, margin),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the shared Zoho access token");
                None
            }
        }
    }

    /// A token another process minted, else a refresh — under the cross-process lease and
    /// within the refresh budget, so that all processes (and restarts) share one token.
    async fn coordinated_refresh(
        &self,
        http: &reqwest::Client,
        margin: Duration,
    ) -> Result<AccessToken, Error> {
        let key = self.connection_key();
        let Some(coordination) = &self.coordination else {
            if let Some(budgets) = &self.budgets {
                let _permit = budgets.acquire(Product::Accounts, &key, 1).await?;
            }
            return self.refresh(http).await;
        };
        let sharing = coordination.lock.shares_tokens();
        // Without sharing every process refreshes for itself: spend from the allowance before
        // queueing for the lease, as nothing another process mints can be used.
        if !sharing && let Some(budgets) = &self.budgets {
            let _permit = budgets.acquire(Product::Accounts, &key, 1).await?;
        }
        if let Some(token) = self.shared(coordination, &key, margin).await {
            tracing::debug!("using the Zoho access token another process minted");
            return Ok(token);
        }
        let started = Instant::now();
        while !coordination
            .lock
            .acquire(&key, &coordination.holder, LEASE)
            .await?
        {
            if started.elapsed() > LEASE {
                return Err(Error::QuotaExhausted {
                    product: "accounts",
                    organization: self.credentials().client_id.clone(),
                    retry_after: LEASE_POLL,
                });
            }
            tokio::time::sleep(LEASE_POLL).await;
        }
        let refreshed: Result<AccessToken, Error> = async {
            // Whoever held the lease before may have just minted one.
            if let Some(token) = self.shared(coordination, &key, margin).await {
                return Ok(token);
            }
            if sharing && let Some(budgets) = &self.budgets {
                let _permit = budgets.acquire(Product::Accounts, &key, 1).await?;
            }
            let token = self.refresh(http).await?;
            if let Err(e) = coordination
                .lock
                .share_token(&key, Self::shareable(&token), &self.token_key())
                .await
            {
                tracing::warn!(error = %e, "cannot share the Zoho access token; other processes refresh their own");
            }
            Ok(token)
        }
        .await;
        if let Err(e) = coordination.lock.release(&key, &coordination.holder).await {
            tracing::warn!(error = %e, "could not release the Zoho refresh lease; it expires by itself");
        }
        refreshed
    }

    pub(crate) fn refreshes(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }

    /// A token valid for at least the refresh margin, refreshing if needed.
    pub(crate) async fn get(&self, http: &reqwest::Client) -> Result<AccessToken, Error> {
        self.get_lasting(http, REFRESH_MARGIN).await
    }

    /// A token valid for at least `margin` more, refreshing (or taking another process's
    /// fresher one) if needed.
    pub(crate) async fn get_lasting(
        &self,
        http: &reqwest::Client,
        margin: Duration,
    ) -> Result<AccessToken, Error> {
        let mut current = self.current.lock().await;
        if let Some(token) = current.as_ref()
            && Instant::now() + margin < token.expires_at
        {
            return Ok(token.clone());
        }
        let token = self.coordinated_refresh(http, margin).await?;
        *current = Some(token.clone());
        Ok(token)
    }

    /// Drops `rejected` if it is still the cached token, so the next `get` refreshes. A token
    /// another caller already replaced is left alone: one 401 never causes two refreshes.
    pub(crate) async fn invalidate(&self, rejected: &AccessToken) {
        let mut current = self.current.lock().await;
        *self
            .rejected
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(token_digest(rejected.value.expose_secret()));
        if current
            .as_ref()
            .is_some_and(|t| t.value.expose_secret() == rejected.value.expose_secret())
        {
            *current = None;
        }
    }

    async fn refresh(&self, http: &reqwest::Client) -> Result<AccessToken, Error> {
        let c = &self.credentials();
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", c.client_id.as_str()),
            ("client_secret", c.client_secret.expose_secret()),
            ("refresh_token", c.refresh_token.expose_secret()),
        ];
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        let granted = token_call(http, &c.accounts_url, &form).await;
        let outcome = match &granted {
            Ok(_) => "ok".to_string(),
            Err(Error::OAuth { error, .. }) => error.clone(),
            Err(_) => "unreachable".to_string(),
        };
        metrics::counter!("paybridge_zoho_token_refreshes_total", "client_id" => c.client_id.clone(), "outcome" => outcome.clone())
            .increment(1);
        let granted = match granted {
            Ok(granted) => granted,
            Err(e) => {
                tracing::warn!(client_id = %c.client_id, outcome, error = %e, "Zoho access token refresh failed");
                return Err(e);
            }
        };
        let api_domain = granted
            .api_domain
            .unwrap_or_else(|| self.default_api_domain.clone());
        tracing::info!(
            client_id = %c.client_id,
            api_domain = %api_domain,
            lifetime_s = granted.lifetime,
            "Zoho access token refreshed"
        );
        Ok(AccessToken {
            value: granted.access_token,
            api_domain,
            expires_at: Instant::now() + Duration::from_secs(granted.lifetime),
        })
    }
}

/// What a token request granted.
struct Granted {
    access_token: SecretString,
    refresh_token: Option<SecretString>,
    api_domain: Option<Url>,
    lifetime: u64,
}

/// `POST {accounts}/oauth/v2/token` with a form; errors that come back as HTTP 200 are errors.
async fn token_call(
    http: &reqwest::Client,
    accounts_url: &Url,
    form: &[(&str, &str)],
) -> Result<Granted, Error> {
    let url = accounts_url
        .join("oauth/v2/token")
        .map_err(|e| Error::Config(format!("bad accounts URL {accounts_url}: {e}")))?;
    let response = http.post(url).form(form).send().await.map_err(|source| {
        if source.is_connect() {
            Error::Connect {
                url: accounts_url.to_string(),
                source,
            }
        } else {
            Error::NoAnswer {
                method: "POST".into(),
                path: "/oauth/v2/token".into(),
                write: false,
                source,
            }
        }
    })?;
    let status = response.status().as_u16();
    if response.status().is_redirection() {
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("nowhere said")
            .to_string();
        return Err(Error::UnexpectedResponse {
            status,
            problem: format!(
                "Zoho Accounts answered a redirect to {location}; not followed, as the request carries the client secret (is accounts_url the data centre's own, https://accounts.zoho.<dc>?)"
            ),
            excerpt: String::new(),
            write: false,
        });
    }
    let body = response.bytes().await.map_err(|source| Error::NoAnswer {
        method: "POST".into(),
        path: "/oauth/v2/token".into(),
        write: false,
        source,
    })?;
    let answer: TokenAnswer =
        serde_json::from_slice(&body).map_err(|e| Error::UnexpectedResponse {
            status,
            problem: format!("not a token answer: {e}"),
            excerpt: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            write: false,
        })?;
    // "No access_token ⇒ error", whatever the HTTP status (§1.2).
    let Some(access_token) = answer.access_token else {
        return Err(Error::OAuth {
            error: answer
                .error
                .unwrap_or_else(|| format!("HTTP {status} without a token")),
            description: answer.error_description,
        });
    };
    // Some deployments send `expires_in_sec` and then `expires_in` in milliseconds.
    let lifetime = match (answer.expires_in_sec, answer.expires_in) {
        (Some(seconds), _) => seconds,
        (None, Some(seconds)) => seconds,
        (None, None) => 3600,
    };
    let api_domain = answer
        .api_domain
        .as_deref()
        .map(|domain| {
            Url::parse(domain).map_err(|e| Error::UnexpectedResponse {
                status,
                problem: format!("api_domain {domain:?} is not a URL: {e}"),
                excerpt: String::new(),
                write: false,
            })
        })
        .transpose()?;
    Ok(Granted {
        access_token: SecretString::from(access_token),
        refresh_token: answer.refresh_token.map(SecretString::from),
        api_domain,
        lifetime,
    })
}

/// A connection set up by [`Accounts::exchange_code`]: what must be kept to use it.
#[derive(Clone)]
pub struct Connection {
    /// The accounts server that issued the refresh token: refreshes go there from now on.
    pub accounts_url: Url,
    /// Where API calls go (`api_domain` of the answer).
    pub api_domain: Url,
    pub refresh_token: SecretString,
    /// The access token issued with it (for the calls `connect` makes at once).
    pub access_token: SecretString,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("accounts_url", &self.accounts_url.as_str())
            .field("api_domain", &self.api_domain.as_str())
            .field("refresh_token", &"**REDACTED**")
            .finish()
    }
}

/// Zoho Accounts for setting up and ending connections: the consent URL, the grant-code
/// exchange, and revocation (zoho.md §1.2).
#[derive(Debug, Clone)]
pub struct Accounts {
    accounts_url: Url,
    http: reqwest::Client,
}

impl Accounts {
    pub fn new(accounts_url: Url) -> Result<Accounts, Error> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            // Its requests carry the client secret and codes or tokens: a redirect is reported,
            // never followed with them to wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Accounts { accounts_url, http })
    }

    /// Its HTTP client, which follows no redirect: for the calls made with a new connection's
    /// token before any [`crate::client::Client`] exists (`connect zoho`'s organization list).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Where to send the merchant to consent: offline access (a refresh token) and a fresh
    /// consent (`prompt=consent`), so that the answer carries a refresh token even when the app
    /// was approved before (zoho.md pitfall 4).
    pub fn consent_url(
        &self,
        client_id: &str,
        scopes: &[&str],
        redirect_uri: &str,
        state: &str,
    ) -> Url {
        let mut url = self
            .accounts_url
            .join("oauth/v2/auth")
            .unwrap_or_else(|_| self.accounts_url.clone());
        url.query_pairs_mut()
            .append_pair("scope", &scopes.join(","))
            .append_pair("client_id", client_id)
            .append_pair("response_type", "code")
            .append_pair("access_type", "offline")
            .append_pair("prompt", "consent")
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", state);
        url
    }

    /// Exchanges a grant code (from the consent redirect, or a Self Client's) for the
    /// connection's refresh token. The code is single-use and lives minutes.
    pub async fn exchange_code(
        &self,
        client_id: &str,
        client_secret: &SecretString,
        code: &str,
        redirect_uri: Option<&str>,
    ) -> Result<Connection, Error> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("client_secret", client_secret.expose_secret()),
            ("code", code.trim()),
        ];
        if let Some(redirect_uri) = redirect_uri {
            form.push(("redirect_uri", redirect_uri));
        }
        let granted = token_call(&self.http, &self.accounts_url, &form).await?;
        let refresh_token = granted.refresh_token.ok_or_else(|| Error::OAuth {
            error: "no refresh token".into(),
            description: Some(
                "Zoho issued only an access token: ask again with access_type=offline and prompt=consent"
                    .into(),
            ),
        })?;
        Ok(Connection {
            accounts_url: self.accounts_url.clone(),
            api_domain: granted
                .api_domain
                .unwrap_or_else(|| self.accounts_url.clone()),
            refresh_token,
            access_token: granted.access_token,
        })
    }

    /// Revokes a refresh token: every access token minted from it dies with it.
    pub async fn revoke(&self, refresh_token: &SecretString) -> Result<(), Error> {
        let url = self
            .accounts_url
            .join("oauth/v2/token/revoke")
            .map_err(|e| Error::Config(format!("bad accounts URL: {e}")))?;
        let response = self
            .http
            .post(url)
            .form(&[("token", refresh_token.expose_secret())])
            .send()
            .await
            .map_err(|source| Error::Connect {
                url: self.accounts_url.to_string(),
                source,
            })?;
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        if body.get("status").and_then(serde_json::Value::as_str) == Some("success") {
            Ok(())
        } else {
            Err(Error::OAuth {
                error: body
                    .get("error")
                    .and_then(serde_json::Value::as_str)
                    .map_or_else(
                        || format!("revocation answered HTTP {status}"),
                        str::to_string,
                    ),
                description: None,
            })
        }
    }
}

#[cfg(test)]
mod tests;
