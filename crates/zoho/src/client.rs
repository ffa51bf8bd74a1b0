//! The authenticated transport shared by every Zoho product.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, header};
use secrecy::ExposeSecret;
use url::Url;

use crate::error::Error;
use crate::oauth::{AccessToken, Coordination, DataCentre, OAuthCredentials, TokenCache};
use crate::quota::{Budgets, Product};

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub credentials: OAuthCredentials,
    /// Where API calls go until a token answer names its `api_domain`.
    pub api_domain: Url,
    /// Zoho Desk's host (`https://desk.zoho.<tld>/`): Desk is not behind the API gateway.
    pub desk_url: Url,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// The per-organization budgets requests wait for; none means no metering (tests only:
    /// without it Zoho's 429s are the only brake). Token refreshes spend from them too.
    pub budgets: Option<Budgets>,
    /// Refreshes serialized with other processes through the shared store; none when this
    /// process is alone.
    pub coordination: Option<Coordination>,
}

impl ClientConfig {
    /// A client for one API domain that also serves Desk (the sandbox does); see
    /// [`ClientConfig::for_data_centre`] for Zoho's own hosts.
    pub fn new(credentials: OAuthCredentials, api_domain: Url) -> ClientConfig {
        ClientConfig {
            credentials,
            desk_url: api_domain.clone(),
            api_domain,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            budgets: None,
            coordination: None,
        }
    }
}

impl ClientConfig {
    /// A client for a data centre's hosts: its API gateway and its Desk host.
    pub fn for_data_centre(credentials: OAuthCredentials, data_centre: DataCentre) -> ClientConfig {
        ClientConfig {
            desk_url: data_centre.desk_url(),
            ..ClientConfig::new(credentials, data_centre.api_domain())
        }
    }
}

/// A Zoho client for one OAuth connection. Cheap to clone; clones share the token cache.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("zoho::Client").finish_non_exhaustive()
    }
}

struct Inner {
    http: reqwest::Client,
    tokens: TokenCache,
    api_calls: AtomicU64,
    budgets: Option<Budgets>,
    desk_url: Url,
}

/// Which host a call goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Host {
    /// The API gateway the token answer names (Books, Inventory, CRM).
    Api,
    /// Zoho Desk's own host.
    Desk,
}

/// Whose budget a request spends, and how much of it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Meter<'a> {
    pub product: Product,
    pub organization: &'a str,
    pub cost: u64,
}

/// One request, before authentication.
#[derive(Debug)]
pub(crate) struct Call<'a> {
    pub meter: Meter<'a>,
    pub host: Host,
    pub method: Method,
    /// From the API domain's root, e.g. `/books/v3/invoices`.
    pub path: &'a str,
    pub query: &'a [(&'a str, &'a str)],
    pub headers: &'a [(&'static str, String)],
    pub body: Option<&'a serde_json::Value>,
}

/// An answer with a JSON body, before the product's envelope has been checked.
pub(crate) struct Answer {
    pub status: u16,
    pub body: Bytes,
    pub write: bool,
}

/// Each Zoho product judges its own envelope (Books: a non-zero `code` is an error whatever
/// the HTTP status); the transport needs the verdict to know when a token was rejected.
pub(crate) type EnvelopeCheck = fn(&Answer) -> Result<(), Error>;

impl Client {
    pub fn new(config: ClientConfig) -> Result<Client, Error> {
        // reqwest is built without a bundled crypto provider (STACK.md): install ring once.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!("paybridge/", env!("CARGO_PKG_VERSION")))
            // Zoho answers where it was asked: a redirect is an answer to report, never one to
            // follow with the request's access token.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                tokens: TokenCache::new(
                    config.credentials,
                    config.api_domain,
                    config.coordination,
                    config.budgets.clone(),
                ),
                api_calls: AtomicU64::new(0),
                budgets: config.budgets,
                desk_url: config.desk_url,
            }),
        })
    }

    /// API requests sent (token requests not included).
    pub fn api_calls(&self) -> u64 {
        self.inner.api_calls.load(Ordering::Relaxed)
    }

    /// Access-token refreshes requested from Zoho Accounts.
    /// Uses a rotated client secret from now on (the next call refreshes with it).
    pub async fn set_client_secret(&self, secret: secrecy::SecretString) {
        self.inner
            .tokens
            .set_credentials(|c| c.client_secret = secret)
            .await;
    }

    /// Uses a rotated refresh token from now on (the next call refreshes with it).
    pub async fn set_refresh_token(&self, token: secrecy::SecretString) {
        self.inner
            .tokens
            .set_credentials(|c| c.refresh_token = token)
            .await;
    }

    pub fn token_refreshes(&self) -> u64 {
        self.inner.tokens.refreshes()
    }

    /// Makes sure the access token lasts at least `lasting` more — refreshing now, off any
    /// request's path, if it would not (another process's fresher token is taken instead when
    /// there is one). For a schedule that keeps the token fresh.
    pub async fn keep_token_fresh(&self, lasting: Duration) -> Result<(), Error> {
        self.inner
            .tokens
            .get_lasting(&self.inner.http, lasting)
            .await
            .map(|_| ())
    }

    /// The budgets this client spends from, if metered.
    pub fn budgets(&self) -> Option<&Budgets> {
        self.inner.budgets.as_ref()
    }

    /// Sends one authenticated request and checks its envelope. A rejected token (HTTP 401,
    /// Books code 14/57) is dropped, refreshed once and the request retried once; a second
    /// rejection is returned as it is. Each attempt first waits for the organization's budget;
    /// a 429 that comes anyway pauses the organization's budget for its `Retry-After`.
    pub(crate) async fn send(
        &self,
        check: EnvelopeCheck,
        call: &Call<'_>,
    ) -> Result<Answer, Error> {
        if let Some(body) = call.body {
            let paths = paybridge_model::pan::find_in_json(body);
            if !paths.is_empty() {
                return Err(Error::CardNumberInPayload {
                    paths: paths.join(", "),
                });
            }
        }
        let token = self.inner.tokens.get(&self.inner.http).await?;
        let first = self.metered(&token, call).await;
        match first.and_then(|answer| check(&answer).map(|()| answer)) {
            Err(e) if e.is_auth_rejection() => {
                tracing::warn!(path = call.path, error = %e, "Zoho rejected the access token; refreshing once");
                self.inner.tokens.invalidate(&token).await;
                let fresh = self.inner.tokens.get(&self.inner.http).await?;
                let answer = self.metered(&fresh, call).await?;
                check(&answer)?;
                Ok(answer)
            }
            other => other,
        }
    }

    async fn metered(&self, token: &AccessToken, call: &Call<'_>) -> Result<Answer, Error> {
        let meter = call.meter;
        let _permit = match &self.inner.budgets {
            Some(budgets) => Some(
                budgets
                    .acquire(meter.product, meter.organization, meter.cost)
                    .await?,
            ),
            None => None,
        };
        let answer = self.send_with(token, call).await;
        if let (Err(Error::RateLimited { retry_after, .. }), Some(budgets)) =
            (&answer, &self.inner.budgets)
        {
            let pause = retry_after.unwrap_or(Duration::from_secs(60));
            tracing::warn!(
                product = meter.product.as_str(),
                organization = meter.organization,
                pause_s = pause.as_secs(),
                "Zoho throttled a metered request; pausing the organization's budget"
            );
            budgets
                .throttled(meter.product, meter.organization, pause)
                .await;
        }
        answer
    }

    async fn send_with(&self, token: &AccessToken, call: &Call<'_>) -> Result<Answer, Error> {
        let Call {
            method,
            path,
            query,
            headers,
            body,
            ..
        } = call;
        let (method, path, query, headers, body) = (method, *path, *query, *headers, *body);
        let write = !matches!(*method, Method::GET | Method::HEAD);
        let base = match call.host {
            Host::Api => &token.api_domain,
            Host::Desk => &self.inner.desk_url,
        };
        let mut url = base
            .join(path.trim_start_matches('/'))
            .map_err(|e| Error::Config(format!("bad API path {path}: {e}")))?;
        url.query_pairs_mut().extend_pairs(query);
        let mut request = self
            .inner
            .http
            .request(method.clone(), url)
            .header(
                header::AUTHORIZATION,
                format!("Zoho-oauthtoken {}", token.value.expose_secret()),
            )
            .header(header::ACCEPT, "application/json");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        self.inner.api_calls.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let response = request.send().await.map_err(|source| {
            record_call("zoho", path, "no_answer", started);
            if source.is_connect() {
                Error::Connect {
                    url: base.to_string(),
                    source,
                }
            } else {
                Error::NoAnswer {
                    method: method.to_string(),
                    path: path.to_string(),
                    write,
                    source,
                }
            }
        })?;
        let status = response.status().as_u16();
        record_call("zoho", path, &status.to_string(), started);
        // `Retry-After` when Zoho sends it; Books has been seen sending `X-Rate-Limit-Reset`
        // (seconds) instead (zoho.md §2.3).
        let seconds = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs)
        };
        let retry_after =
            seconds(header::RETRY_AFTER.as_str()).or_else(|| seconds("x-rate-limit-reset"));
        let body = response.bytes().await.map_err(|source| Error::NoAnswer {
            method: method.to_string(),
            path: path.to_string(),
            write,
            source,
        })?;
        tracing::debug!(
            %method,
            path,
            status,
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "Zoho answered"
        );
        if status == 429 {
            return Err(Error::RateLimited {
                retry_after,
                message: books_message(&body),
            });
        }
        // The product's envelope holds the verdict; only answers without JSON are judged here.
        if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
            || (200..300).contains(&status)
        {
            return Ok(Answer {
                status,
                body,
                write,
            });
        }
        Err(Error::UnexpectedResponse {
            status,
            problem: "not a JSON answer".into(),
            excerpt: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            write,
        })
    }
}

fn books_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// `paybridge_api_calls_total` and `paybridge_api_call_duration_seconds` for one call.
fn record_call(vendor: &'static str, path: &str, status: &str, started: Instant) {
    let route = paybridge_model::route_label(path);
    metrics::counter!("paybridge_api_calls_total", "vendor" => vendor, "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!("paybridge_api_call_duration_seconds", "vendor" => vendor, "route" => route)
        .record(started.elapsed().as_secs_f64());
}

/// An id going into a URL path: Zoho ids are digits (and, for a few records, letters), never
/// separators.
pub(crate) fn segment(id: &str) -> Result<&str, Error> {
    if !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Ok(id)
    } else {
        Err(Error::InvalidInput(format!(
            "{id:?} is not a Zoho record id"
        )))
    }
}

pub(crate) fn to_value<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, Error> {
    serde_json::to_value(value).map_err(|e| Error::Config(format!("cannot serialize request: {e}")))
}
