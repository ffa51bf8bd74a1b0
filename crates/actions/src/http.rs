//! The generic `http` action: a request to any URL, with credentials from the vault by name
//! (`[[http.auth]]` in the configuration), so a flow never holds a secret.
//!
//! Every attempt of a step sends the same `Idempotency-Key` (made from the step's key): a
//! receiver that honours it takes a retried request once. A 2xx answer is the step's output; a
//! 408, 425, 429 (honouring `Retry-After`), 5xx or no answer is retried; any other answer fails
//! the step with the status and the start of the body.
//!
//! A flow is edited by people with the admin role, and is no place to aim a secret: each
//! credential is bound to its hosts (`hosts`, and https unless `allow_http`), and no request
//! goes to this machine or the link-local network (loopback, `169.254.0.0/16` where clouds keep
//! their metadata, `fe80::/10`) — by address or by a name that resolves there — unless
//! `[http] allow_local` says so. An answer is read up to [`MAX_BODY`] and no further.

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

/// A named credential and where it may be sent.
#[derive(Debug, Clone)]
pub struct HttpCredential {
    pub auth: HttpAuth,
    /// The hosts it is sent to: names (`erp.example.com`), or `*.example.com` for any below.
    pub hosts: Vec<String>,
    /// Sent over plain http too (a receiver inside the network); https only otherwise.
    pub allow_http: bool,
}

impl HttpCredential {
    fn fits(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.hosts.iter().any(|allowed| {
            let allowed = allowed.trim().trim_end_matches('.').to_ascii_lowercase();
            match allowed.strip_prefix("*.") {
                Some(parent) => host.ends_with(&format!(".{parent}")),
                None => host == allowed,
            }
        })
    }
}

/// The client and the named credentials.
#[derive(Debug, Clone)]
pub struct HttpConnections {
    client: reqwest::Client,
    auth: BTreeMap<String, HttpCredential>,
    allow_local: bool,
}

impl Default for HttpConnections {
    fn default() -> HttpConnections {
        HttpConnections::new(BTreeMap::new(), false)
    }
}

/// Whether `ip` is this machine or the link-local network: never a target unless allowed.
pub fn is_local(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_link_local() || v4.is_unspecified(),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(|v4| is_local(v4.into()))
        }
    }
}

/// How a refused local target is told (and recognised in the client's error).
const LOCAL_REFUSAL: &str = "a local address ([http] allow_local is off)";

/// Resolves names as the system does, and refuses those that resolve to a local address: a
/// name is no way around the address check.
#[derive(Debug)]
struct NoLocalNames;

impl reqwest::dns::Resolve for NoLocalNames {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(local) = addrs.iter().find(|a| is_local(a.ip())) {
                return Err(format!("{host} resolves to {}, {LOCAL_REFUSAL}", local.ip()).into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
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
    /// `auth`: the named credentials; `allow_local`: requests may go to this machine and the
    /// link-local network (tests, a sidecar).
    pub fn new(auth: BTreeMap<String, HttpCredential>, allow_local: bool) -> HttpConnections {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none());
        if !allow_local {
            builder = builder.dns_resolver(std::sync::Arc::new(NoLocalNames));
        }
        let client = builder.build().unwrap_or_default();
        HttpConnections {
            client,
            auth,
            allow_local,
        }
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
        let host = url.host_str().unwrap_or_default().to_string();
        if !self.allow_local {
            let literal = match url.host() {
                Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
                _ => None,
            };
            let named_local = host.trim_end_matches('.').eq_ignore_ascii_case("localhost");
            if literal.is_some_and(is_local) || named_local {
                return Err(permanent(format!(
                    "url: {host} is this machine or the link-local network; requests go there only with [http] allow_local = true"
                )));
            }
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
            let credential = self.auth.get(name.trim()).ok_or_else(|| {
                permanent(format!(
                    "auth: there is no [[http.auth]] connection {name:?} (there are: {})",
                    self.names().collect::<Vec<_>>().join(", ")
                ))
            })?;
            if !credential.fits(&host) {
                return Err(permanent(format!(
                    "auth: the credential {name:?} is sent only to {}; {host} is not one of them (its [[http.auth]] hosts)",
                    credential.hosts.join(", ")
                )));
            }
            if url.scheme() != "https" && !credential.allow_http {
                return Err(permanent(format!(
                    "auth: the credential {name:?} goes over https only (allow_http in its [[http.auth]] entry)"
                )));
            }
            builder = match &credential.auth {
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
        let mut response = builder.send().await.map_err(|e| {
            // A name that resolved to a local address: refused, not a fault to retry.
            let mut source: Option<&dyn std::error::Error> = Some(&e);
            while let Some(cause) = source {
                if cause.to_string().contains(LOCAL_REFUSAL) {
                    return permanent(format!("url: {}", cause));
                }
                source = cause.source();
            }
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
        let too_big = |size: String| {
            permanent(format!(
                "{method} to {host} answered {size} bytes, more than the {MAX_BODY} a step takes"
            ))
        };
        if let Some(length) = response.content_length()
            && length > MAX_BODY as u64
        {
            return Err(too_big(length.to_string()));
        }
        // Read as it comes, and no more than a step takes (a missing or false length included).
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            StepError::new(
                FailureKind::Transient,
                "http",
                format!(
                    "{method} to {host}: the answer broke off: {}",
                    e.without_url()
                ),
            )
        })? {
            if bytes.len() + chunk.len() > MAX_BODY {
                return Err(too_big(format!("more than {}", bytes.len() + chunk.len())));
            }
            bytes.extend_from_slice(&chunk);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn request(url: &str, auth: Option<&str>) -> HttpRequest {
        // reqwest is built without a bundled crypto provider (STACK.md).
        let _ = rustls::crypto::ring::default_provider().install_default();
        HttpRequest {
            url: url.into(),
            method: Some("GET".into()),
            headers: BTreeMap::new(),
            body: None,
            auth: auth.map(str::to_string),
        }
    }

    /// A server on loopback answering every request with `answer` (raw HTTP), once each.
    async fn answering(answer: Vec<u8>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buffer = [0u8; 4096];
                let _ = socket.read(&mut buffer).await;
                let _ = socket.write_all(&answer).await;
                let _ = socket.shutdown().await;
            }
        });
        format!("http://{address}/hook")
    }

    #[tokio::test]
    async fn this_machine_and_the_link_local_network_are_refused_unless_allowed() {
        let _ = request("", None);
        let http = HttpConnections::default();
        for url in [
            "http://127.0.0.1:9/x",
            "http://[::1]/x",
            "http://169.254.169.254/latest/meta-data/",
            "http://localhost./x",
            "http://0.0.0.0/x",
            "http://[::ffff:127.0.0.1]/x",
        ] {
            let error = http.send("k", request(url, None)).await.unwrap_err();
            assert_eq!(error.kind, FailureKind::Permanent, "{url}: {error}");
            assert!(error.message.contains("allow_local"), "{url}: {error}");
        }
        // A name is no way around it: one that resolves to this machine is refused too.
        use reqwest::dns::Resolve as _;
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let refused = NoLocalNames.resolve(name).await.err().unwrap();
        assert!(refused.to_string().contains(LOCAL_REFUSAL), "{refused}");
        assert!(is_local("fe80::1".parse().unwrap()));
        assert!(
            !is_local("10.1.2.3".parse().unwrap()),
            "a LAN is not this machine"
        );
        assert!(!is_local("93.184.215.14".parse().unwrap()));
    }

    #[tokio::test]
    async fn a_credential_goes_only_to_its_hosts_and_over_https() {
        let _ = request("", None);
        let url = answering(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}".to_vec()).await;
        let credential = |hosts: &[&str], allow_http| HttpCredential {
            auth: HttpAuth::Bearer(SecretString::from("erp-token-123")),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            allow_http,
        };
        let http = |credential| {
            HttpConnections::new(BTreeMap::from([("erp".to_string(), credential)]), true)
        };
        let elsewhere = http(credential(&["erp.example.com"], true))
            .send("k", request(&url, Some("erp")))
            .await
            .unwrap_err();
        assert!(
            elsewhere
                .message
                .contains("is sent only to erp.example.com"),
            "{elsewhere}"
        );
        let plain = http(credential(&["127.0.0.1"], false))
            .send("k", request(&url, Some("erp")))
            .await
            .unwrap_err();
        assert!(plain.message.contains("https only"), "{plain}");
        let answer = http(credential(&["127.0.0.1"], true))
            .send("k", request(&url, Some("erp")))
            .await
            .unwrap();
        assert_eq!(answer["status"], 200);
        let wildcard = credential(&["*.example.com"], false);
        assert!(wildcard.fits("erp.example.com") && wildcard.fits("a.b.example.com"));
        assert!(!wildcard.fits("example.com") && !wildcard.fits("erp.example.com.evil.io"));
    }

    #[tokio::test]
    async fn an_answer_is_read_no_further_than_a_step_takes() {
        let _ = request("", None);
        let http = HttpConnections::new(BTreeMap::new(), true);
        // No length given: the body is read as it comes and refused past the limit.
        let mut streamed = b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_vec();
        streamed.extend(std::iter::repeat_n(b'x', MAX_BODY + 10));
        let url = answering(streamed).await;
        let error = http.send("k", request(&url, None)).await.unwrap_err();
        assert!(error.message.contains("more than the"), "{error}");
        // A length announced beyond the limit: refused before reading.
        let announced = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
            MAX_BODY * 8
        );
        let url = answering(announced.into_bytes()).await;
        let error = http.send("k", request(&url, None)).await.unwrap_err();
        assert!(
            error.message.contains(&(MAX_BODY * 8).to_string()),
            "{error}"
        );
    }
}
