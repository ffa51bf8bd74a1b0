//! The signed transport: environments, timeouts, status handling and call accounting.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde::Deserialize;
use url::Url;

use crate::auth::{Credentials, Signer, SigningInput, http_date};
use crate::error::{Error, ErrorDetail};
use crate::vendor_enums::Reason;

/// Where the API lives (reference §1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Environment {
    /// `apitest.cybersource.com`
    Sandbox,
    /// `api.cybersource.com`
    Production,
    /// `api.in.cybersource.com`
    ProductionIndia,
    /// Any base URL, e.g. a local sandbox.
    Custom(Url),
}

impl Environment {
    /// `sandbox`, `production`, `production-india`, or an `http(s)://` URL.
    pub fn parse(value: &str) -> Result<Environment, Error> {
        match value.trim() {
            "sandbox" | "test" | "apitest.cybersource.com" => Ok(Environment::Sandbox),
            "production" | "api.cybersource.com" => Ok(Environment::Production),
            "production-india" | "api.in.cybersource.com" => Ok(Environment::ProductionIndia),
            other => Url::parse(other).map(Environment::Custom).map_err(|e| {
                Error::Config(format!(
                    "environment {other:?} is neither sandbox, production, production-india nor a URL: {e}"
                ))
            }),
        }
    }

    pub fn base_url(&self) -> Url {
        let fixed = |host: &str| Url::parse(&format!("https://{host}/")).expect("static URL");
        match self {
            Environment::Sandbox => fixed("apitest.cybersource.com"),
            Environment::Production => fixed("api.cybersource.com"),
            Environment::ProductionIndia => fixed("api.in.cybersource.com"),
            Environment::Custom(url) => url.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub environment: Environment,
    pub credentials: Credentials,
    /// Time allowed to open the connection (nothing has been sent if it runs out).
    pub connect_timeout: Duration,
    /// Time allowed for the whole exchange once connected (reference §4.3 suggests ~60 s).
    pub request_timeout: Duration,
}

impl ClientConfig {
    pub fn new(environment: Environment, credentials: Credentials) -> ClientConfig {
        ClientConfig {
            environment,
            credentials,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// A Cybersource API client for one merchant key. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    base_url: Url,
    host: String,
    merchant_id: String,
    key_id: String,
    /// Replaced whole when the shared secret is rotated ([`Client::set_shared_secret`]).
    signer: std::sync::RwLock<Signer>,
    calls: AtomicU64,
}

/// A successful (2xx) answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
    pub correlation_id: Option<String>,
    /// The resource version, for `if-match` on a later PATCH (TMS).
    pub etag: Option<String>,
}

impl Client {
    pub fn new(config: ClientConfig) -> Result<Client, Error> {
        let signer = Signer::new(&config.credentials).map_err(|e| Error::Config(e.to_string()))?;
        let base_url = config.environment.base_url();
        let host = match (base_url.host_str(), base_url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_string(),
            (None, _) => return Err(Error::Config(format!("{base_url} has no host"))),
        };
        // reqwest is built without a bundled crypto provider (STACK.md): install ring once.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!("paybridge/", env!("CARGO_PKG_VERSION")))
            // The vendor's API answers where it was asked: a redirect is an answer to report,
            // never one to follow with the request's credentials and signature.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base_url,
                host,
                merchant_id: config.credentials.merchant_id.clone(),
                key_id: config.credentials.key_id.clone(),
                signer: std::sync::RwLock::new(signer),
                calls: AtomicU64::new(0),
            }),
        })
    }

    /// The merchant id requests are made for.
    pub fn merchant_id(&self) -> &str {
        &self.inner.merchant_id
    }

    /// Signs from now on with a new shared secret of the same key (a rotated secret), checked
    /// first: a value that is not a key leaves the old one in use.
    pub fn set_shared_secret(&self, shared_secret: &secrecy::SecretString) -> Result<(), Error> {
        let signer = Signer::new(&crate::auth::Credentials {
            merchant_id: self.inner.merchant_id.clone(),
            key_id: self.inner.key_id.clone(),
            shared_secret: shared_secret.clone(),
        })
        .map_err(|e| Error::Config(e.to_string()))?;
        *self
            .inner
            .signer
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = signer;
        Ok(())
    }

    /// Number of HTTP requests this client has sent.
    pub fn calls(&self) -> u64 {
        self.inner.calls.load(Ordering::Relaxed)
    }

    /// Sends one signed request. The body is serialized once; the digest covers exactly the
    /// bytes that go on the wire, and every attempt gets a fresh date and signature.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Answer, Error> {
        self.send_with(method, path, query, body, &[]).await
    }

    /// [`send`](Client::send) with extra headers (`if-match`, `profile-id`, an `Accept` of its
    /// own); they are sent but not signed, as the SDKs do.
    pub(crate) async fn send_with(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
        extra_headers: &[(&'static str, String)],
    ) -> Result<Answer, Error> {
        let write = !matches!(method, Method::GET | Method::HEAD | Method::DELETE);
        let base_path = self.inner.base_url.path().trim_end_matches('/');
        let mut path_and_query = format!("{base_path}{path}");
        if !query.is_empty() {
            let encoded = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(query)
                .finish();
            path_and_query.push('?');
            path_and_query.push_str(&encoded);
        }
        let mut url = self.inner.base_url.clone();
        url.set_path("");
        let url = format!("{}{}", url.as_str().trim_end_matches('/'), path_and_query);

        let body = body.unwrap_or_default();
        let date = http_date(SystemTime::now());
        let signed = self
            .inner
            .signer
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .sign(&SigningInput {
                method: method.as_str(),
                host: &self.inner.host,
                path_and_query: &path_and_query,
                date: &date,
                body: &body,
            });

        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, header_value(&self.inner.host)?);
        headers.insert("v-c-merchant-id", header_value(&signed.merchant_id)?);
        headers.insert(header::DATE, header_value(&signed.date)?);
        if let Some(digest) = &signed.digest {
            headers.insert("digest", header_value(digest)?);
        }
        headers.insert("signature", header_value(&signed.signature)?);
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/hal+json;charset=utf-8"),
        );
        if write {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        for (name, value) in extra_headers {
            headers.insert(*name, header_value(value)?);
        }

        let mut request = self
            .inner
            .http
            .request(method.clone(), &url)
            .headers(headers);
        if write {
            request = request.body(body);
        }
        self.inner.calls.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let response = request.send().await.map_err(|source| {
            record_call(path, "no_answer", started);
            if source.is_connect() {
                Error::Connect {
                    url: self.inner.base_url.to_string(),
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
        let status = response.status();
        record_call(path, status.as_str(), started);
        let correlation_id = response
            .headers()
            .get("v-c-correlation-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let etag = response
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.bytes().await.map_err(|source| Error::NoAnswer {
            method: method.to_string(),
            path: path.to_string(),
            write,
            source,
        })?;
        tracing::debug!(
            %method,
            path,
            status = status.as_u16(),
            correlation_id = correlation_id.as_deref().unwrap_or(""),
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "Cybersource answered"
        );
        if status.is_success() {
            return Ok(Answer {
                status,
                body,
                correlation_id,
                etag,
            });
        }
        Err(classify(
            status,
            &body,
            path,
            write,
            correlation_id,
            retry_after,
        ))
    }
}

/// What came with an answer besides its body.
#[derive(Debug, Clone)]
pub(crate) struct Meta {
    pub status: StatusCode,
    pub correlation_id: Option<String>,
    pub etag: Option<String>,
}

impl Client {
    /// Sends a JSON request (or none) and reads the answer as `T`.
    pub(crate) async fn json_call<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&B>,
        headers: &[(&'static str, String)],
    ) -> Result<(T, Meta), Error> {
        let bytes = body
            .map(|b| serde_json::to_vec(b))
            .transpose()
            .map_err(|e| Error::Config(format!("cannot serialize the request to {path}: {e}")))?;
        let write = bytes.is_some();
        let answer = self.send_with(method, path, query, bytes, headers).await?;
        let value = decode(&answer, write)?;
        Ok((
            value,
            Meta {
                status: answer.status,
                correlation_id: answer.correlation_id,
                etag: answer.etag,
            },
        ))
    }

    /// POSTs `body` as JSON and reads the answer as `T`; the correlation id comes along.
    pub(crate) async fn post_json<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<(T, Option<String>), Error> {
        let (value, meta) = self
            .json_call(Method::POST, path, &[], Some(body), &[])
            .await?;
        Ok((value, meta.correlation_id))
    }

    /// Sends `body` as JSON with `method` and reads the answer as `T`.
    pub(crate) async fn send_json<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<(T, Option<String>), Error> {
        let (value, meta) = self.json_call(method, path, &[], Some(body), &[]).await?;
        Ok((value, meta.correlation_id))
    }

    /// GETs `path` and reads the answer as `T`.
    pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<(T, Option<String>), Error> {
        let (value, meta) = self
            .json_call::<(), T>(Method::GET, path, query, None, &[])
            .await?;
        Ok((value, meta.correlation_id))
    }
}

fn decode<T: serde::de::DeserializeOwned>(answer: &Answer, write: bool) -> Result<T, Error> {
    serde_json::from_slice(&answer.body).map_err(|e| Error::UnexpectedResponse {
        status: answer.status.as_u16(),
        problem: format!("unexpected answer shape: {e}"),
        excerpt: excerpt(&answer.body),
        write,
    })
}

/// A resource id as a path segment. Cybersource ids are digits and letters; anything else is
/// refused before a request is built, so no id can change the path.
pub(crate) fn segment(id: &str) -> Result<&str, Error> {
    if !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(id)
    } else {
        Err(Error::InvalidInput(format!(
            "{id:?} is not a Cybersource id"
        )))
    }
}

fn header_value(value: &str) -> Result<HeaderValue, Error> {
    HeaderValue::from_str(value)
        .map_err(|_| Error::Config(format!("{value:?} cannot be sent in an HTTP header")))
}

/// The PTS error body of 400 and 5xx answers (reference §4.1).
#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    details: Vec<ErrorDetail>,
}

/// TMS's `{"errors":[{"type","message","details":[{"name","location"}]}]}`.
#[derive(Deserialize)]
struct TmsErrors {
    errors: Vec<TmsError>,
}

#[derive(Deserialize)]
struct TmsError {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    details: Vec<TmsErrorDetail>,
}

#[derive(Deserialize)]
struct TmsErrorDetail {
    #[serde(default)]
    name: String,
}

fn tms_error(
    status: u16,
    body: &[u8],
    write: bool,
    correlation_id: Option<String>,
) -> Option<Error> {
    let parsed: TmsErrors = serde_json::from_slice(body).ok()?;
    let first = parsed.errors.into_iter().next()?;
    Some(Error::Tms {
        status,
        kind: first.kind,
        message: first.message,
        fields: first.details.into_iter().map(|d| d.name).collect(),
        write,
        correlation_id,
    })
}

/// 401's `{"response":{"rmsg": …}}` envelope; `rmsg` is a string or an object.
#[derive(Deserialize)]
struct AuthFailureBody {
    response: AuthFailureInner,
}

#[derive(Deserialize)]
struct AuthFailureInner {
    rmsg: serde_json::Value,
}

fn classify(
    status: StatusCode,
    body: &[u8],
    path: &str,
    write: bool,
    correlation_id: Option<String>,
    retry_after: Option<Duration>,
) -> Error {
    let code = status.as_u16();
    if let Some(tms) = tms_error(code, body, write, correlation_id.clone()) {
        return tms;
    }
    match code {
        401 | 403 => {
            let message = serde_json::from_slice::<AuthFailureBody>(body)
                .map(|b| match b.response.rmsg {
                    serde_json::Value::String(text) => text,
                    other => other.to_string(),
                })
                .unwrap_or_else(|_| excerpt(body));
            Error::Unauthorized {
                status: code,
                message,
                correlation_id,
            }
        }
        400 => match serde_json::from_slice::<ErrorBody>(body) {
            Ok(parsed) => Error::InvalidRequest {
                reason: Reason::from(parsed.reason.unwrap_or_default()),
                message: parsed.message.unwrap_or_default(),
                details: parsed.details,
                correlation_id,
            },
            Err(e) => Error::UnexpectedResponse {
                status: code,
                problem: e.to_string(),
                excerpt: excerpt(body),
                write,
            },
        },
        404 => Error::NotFound {
            path: path.to_string(),
            correlation_id,
        },
        429 => Error::RateLimited {
            retry_after,
            correlation_id,
        },
        500..=599 => {
            let parsed = serde_json::from_slice::<ErrorBody>(body).unwrap_or_default();
            Error::Server {
                status: code,
                reason: Reason::from(parsed.reason.unwrap_or_else(|| "SYSTEM_ERROR".into())),
                message: parsed.message.unwrap_or_else(|| excerpt(body)),
                write,
                correlation_id,
            }
        }
        _ => Error::UnexpectedResponse {
            status: code,
            problem: "unexpected status".into(),
            excerpt: excerpt(body),
            write,
        },
    }
}

/// The start of a body for an error message, with anything card-like masked.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
    paybridge_model::pan::redact(&text)
}

/// `paybridge_api_calls_total` and `paybridge_api_call_duration_seconds` for one call.
fn record_call(path: &str, status: &str, started: Instant) {
    let route = paybridge_model::route_label(path);
    metrics::counter!("paybridge_api_calls_total", "vendor" => "cybersource", "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!("paybridge_api_call_duration_seconds", "vendor" => "cybersource", "route" => route)
        .record(started.elapsed().as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environments_map_to_documented_hosts() {
        assert_eq!(
            Environment::parse("sandbox").unwrap().base_url().as_str(),
            "https://apitest.cybersource.com/"
        );
        assert_eq!(
            Environment::parse("production")
                .unwrap()
                .base_url()
                .as_str(),
            "https://api.cybersource.com/"
        );
        assert_eq!(
            Environment::parse("production-india")
                .unwrap()
                .base_url()
                .as_str(),
            "https://api.in.cybersource.com/"
        );
        assert_eq!(
            Environment::parse("http://127.0.0.1:8080").unwrap(),
            Environment::Custom(Url::parse("http://127.0.0.1:8080").unwrap())
        );
        assert!(Environment::parse("nowhere").is_err());
    }

    #[test]
    fn auth_failures_read_the_rmsg_envelope() {
        let e = classify(
            StatusCode::UNAUTHORIZED,
            br#"{"response":{"rmsg":"Authentication Failed"}}"#,
            "/pts/v2/payments",
            true,
            None,
            None,
        );
        assert_eq!(e.kind(), paybridge_model::FailureKind::Configuration);
        assert!(e.to_string().contains("Authentication Failed"), "{e}");
        let e = classify(
            StatusCode::UNAUTHORIZED,
            br#"{"response":{"rmsg":{"error":"ACCESS_TOKEN_EXPIRED","error_description":"ACCESS_TOKEN_EXPIRED"}}}"#,
            "/pts/v2/payments",
            true,
            None,
            None,
        );
        assert!(e.to_string().contains("ACCESS_TOKEN_EXPIRED"), "{e}");
    }

    #[test]
    fn bad_requests_are_permanent_and_carry_details() {
        let e = classify(
            StatusCode::BAD_REQUEST,
            br#"{"submitTimeUtc":"2024-10-14T12:00:00Z","status":"INVALID_REQUEST","reason":"MISSING_FIELD","message":"Declined - The request is missing one or more fields","details":[{"field":"orderInformation.amountDetails.totalAmount","reason":"MISSING_FIELD"}]}"#,
            "/pts/v2/payments",
            true,
            None,
            None,
        );
        assert_eq!(e.kind(), paybridge_model::FailureKind::Permanent);
        let text = e.to_string();
        assert!(
            text.contains("MISSING_FIELD")
                && text.contains("orderInformation.amountDetails.totalAmount"),
            "{text}"
        );
    }

    #[test]
    fn server_errors_on_writes_have_unknown_outcomes() {
        let body = br#"{"submitTimeUtc":"x","status":"SERVER_ERROR","reason":"SERVER_TIMEOUT","message":"Error - General system failure."}"#;
        let write = classify(
            StatusCode::BAD_GATEWAY,
            body,
            "/pts/v2/payments",
            true,
            None,
            None,
        );
        assert_eq!(write.kind(), paybridge_model::FailureKind::OutcomeUnknown);
        let read = classify(
            StatusCode::BAD_GATEWAY,
            body,
            "/tss/v2/transactions/1",
            false,
            None,
            None,
        );
        assert_eq!(read.kind(), paybridge_model::FailureKind::Transient);
    }

    #[test]
    fn excerpts_never_carry_card_numbers() {
        assert_eq!(excerpt(b"card 4111111111111111"), "card [card ****1111]");
    }
}
