//! The generic `http` action: a request to any URL, with credentials from the vault by name
//! (`[[http.auth]]` in the configuration), so a flow never holds a secret.
//!
//! Every attempt of a step sends the same `Idempotency-Key` (made from the step's key): a
//! receiver that honours it takes a retried request once. A 2xx answer is the step's output; a
//! 408, 425, 429 (honouring `Retry-After`), 5xx or no answer is retried; any other answer fails
//! the step with the status and the start of the body.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use reqwest::Method;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use paybridge_flows::spec::{ActionSpec, Effect, Recovery, Type, opt, out, req};
use paybridge_model::{FailureKind, StepError};

use crate::input::short_id;
use crate::{Action, Call, Runnable};

/// The `http` action.
pub static ACTIONS: &[&dyn Runnable] = &[&Http];

/// `http`: a request to any URL, credentials by name from the configuration.
pub struct Http;

impl Action for Http {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "http",
        summary: "a request to any URL, auth by name from [[http.auth]]; the same Idempotency-Key on every attempt",
        fields: Some(&[
            req("url"),
            opt("method"),
            opt("headers"),
            opt("body"),
            opt("auth"),
        ]),
        outputs: &[out("status", Type::Integer), out("body", Type::Any)],
        effect: Effect::Call,
        recovery: Recovery::SameKey("every attempt carries the same Idempotency-Key header"),
    };
    type Input = HttpRequest;

    async fn run(&self, call: &Call<'_>, request: HttpRequest) -> Result<Value, StepError> {
        call.env
            .connectors
            .http
            .send(&short_id(call.key), request)
            .await
    }
}

/// How requests of one named connection prove themselves.
#[derive(Clone)]
pub enum HttpAuth {
    /// `Authorization: Bearer <secret>`.
    Bearer(SecretString),
    /// `Authorization: Basic base64(user:secret)`.
    Basic {
        username: String,
        password: SecretString,
    },
    /// The secret as a header's value (`X-Api-Key: <secret>`).
    Header { name: String, value: SecretString },
}

impl fmt::Debug for HttpAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpAuth::Bearer(_) => f.write_str("Bearer(**REDACTED**)"),
            HttpAuth::Basic { username, .. } => write!(f, "Basic({username}, **REDACTED**)"),
            HttpAuth::Header { name, .. } => write!(f, "Header({name}: **REDACTED**)"),
        }
    }
}

/// The client and the named credentials.
#[derive(Debug, Clone)]
pub struct HttpConnections {
    client: reqwest::Client,
    auth: BTreeMap<String, HttpAuth>,
}

impl Default for HttpConnections {
    fn default() -> HttpConnections {
        HttpConnections::new(BTreeMap::new())
    }
}

/// The mapped fields of an `http` step.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpRequest {
    pub url: String,
    /// GET, POST (the default), PUT, PATCH or DELETE.
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Sent as JSON.
    #[serde(default)]
    pub body: Option<Value>,
    /// A connection named in `[[http.auth]]`.
    #[serde(default)]
    pub auth: Option<String>,
}

/// Answers larger than this fail the step (a flow maps what it needs, not a download).
const MAX_BODY: usize = 1 << 20;

fn permanent(message: String) -> StepError {
    StepError::permanent("http", message)
}

impl HttpConnections {
    pub fn new(auth: BTreeMap<String, HttpAuth>) -> HttpConnections {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        HttpConnections { client, auth }
    }

    /// The connections' names (never their secrets).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.auth.keys().map(String::as_str)
    }

    pub async fn send(
        &self,
        idempotency_key: &str,
        request: HttpRequest,
    ) -> Result<Value, StepError> {
        let url = url::Url::parse(request.url.trim())
            .map_err(|e| permanent(format!("url {:?} does not parse: {e}", request.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(permanent(format!(
                "url: {} is not http or https",
                url.scheme()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(permanent(
                "url: credentials do not belong in a URL; name an [[http.auth]] connection in `auth`".into(),
            ));
        }
        let method = match request
            .method
            .as_deref()
            .unwrap_or("POST")
            .to_ascii_uppercase()
            .as_str()
        {
            "GET" => Method::GET,
            "POST" => Method::POST,
            "PUT" => Method::PUT,
            "PATCH" => Method::PATCH,
            "DELETE" => Method::DELETE,
            other => {
                return Err(permanent(format!(
                    "method {other:?}: use GET, POST, PUT, PATCH or DELETE"
                )));
            }
        };
        let mut builder = self
            .client
            .request(method.clone(), url.clone())
            .header("Idempotency-Key", idempotency_key)
            .header("User-Agent", "paybridge");
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(name) = &request.auth {
            let auth = self.auth.get(name.trim()).ok_or_else(|| {
                permanent(format!(
                    "auth: there is no [[http.auth]] connection {name:?} (there are: {})",
                    self.names().collect::<Vec<_>>().join(", ")
                ))
            })?;
            builder = match auth {
                HttpAuth::Bearer(token) => builder.bearer_auth(token.expose_secret()),
                HttpAuth::Basic { username, password } => {
                    builder.basic_auth(username, Some(password.expose_secret()))
                }
                HttpAuth::Header { name, value } => {
                    builder.header(name.as_str(), value.expose_secret())
                }
            };
        }
        if let Some(body) = &request.body {
            builder = builder.json(body);
        }
        let host = url.host_str().unwrap_or_default().to_string();
        let response = builder.send().await.map_err(|e| {
            // reqwest's messages name the URL, whose query may hold something private.
            StepError::new(
                FailureKind::Transient,
                "http",
                format!("{method} to {host} got no answer: {}", e.without_url()),
            )
        })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = response.bytes().await.map_err(|e| {
            StepError::new(
                FailureKind::Transient,
                "http",
                format!(
                    "{method} to {host}: the answer broke off: {}",
                    e.without_url()
                ),
            )
        })?;
        if bytes.len() > MAX_BODY {
            return Err(permanent(format!(
                "{method} to {host} answered {} bytes, more than the {MAX_BODY} a step takes",
                bytes.len()
            )));
        }
        let body = serde_json::from_slice::<Value>(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        if status.is_success() {
            return Ok(json!({"status": status.as_u16(), "body": body}));
        }
        let excerpt: String = paybridge_model::pan::redact(&String::from_utf8_lossy(&bytes))
            .chars()
            .take(300)
            .collect();
        let message = format!(
            "{method} to {host} answered HTTP {}: {excerpt}",
            status.as_u16()
        );
        let retried = status.is_server_error() || matches!(status.as_u16(), 408 | 425 | 429);
        let mut error = if retried {
            StepError::new(FailureKind::Transient, "http", message)
        } else {
            permanent(message)
        };
        error.http_status = Some(status.as_u16());
        error.retry_after = retry_after;
        error.throttled = status.as_u16() == 429;
        Err(error)
    }
}
