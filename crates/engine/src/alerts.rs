//! Alerts: a dead letter, or a spike in the share of failing runs, told to people — to a
//! Slack-compatible incoming webhook and by e-mail over SMTP.
//!
//! An outage sends one alert, not a thousand: alerts of one kind (a dead letter's flow, failed
//! step, system and HTTP status; the error rate) go out once per `dedupe` window across every
//! node on the store (the window is a lease there), and the next one says how many were held
//! back. Sending never holds a worker up: it happens in the background, with a few retries,
//! and a channel that fails is logged, never fatal. Alert texts carry the vendor's message as
//! the dead letter keeps it (redacted of card numbers), never a secret.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use secrecy::{ExposeSecret as _, SecretString};
use tokio::sync::Notify;

use paybridge_actions::email::{SmtpSecurity, mailbox, transport};
use paybridge_model::StepError;
use paybridge_store::{Clock, CoordinationStore as _, Store};

/// When to alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSettings {
    /// One alert of a kind per this long, across all nodes.
    pub dedupe: Duration,
    /// Alert when at least this percentage of the runs finished in `error_rate_window` failed
    /// (retried or dead-lettered)…
    pub error_rate_percent: u32,
    pub error_rate_window: Duration,
    /// …and there were at least this many.
    pub error_rate_min_runs: usize,
}

impl Default for AlertSettings {
    fn default() -> AlertSettings {
        AlertSettings {
            dedupe: Duration::from_secs(3600),
            error_rate_percent: 20,
            error_rate_window: Duration::from_secs(300),
            error_rate_min_runs: 20,
        }
    }
}

/// Where alerts go.
pub enum Channel {
    /// A Slack-compatible incoming webhook (`{"text": …}`).
    Slack {
        url: SecretString,
    },
    Email(Box<EmailChannel>),
}

/// An SMTP relay and the message's ends.
pub struct EmailChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Channel::Slack { .. } => f.write_str("Channel::Slack(**REDACTED**)"),
            Channel::Email(email) => {
                write!(f, "Channel::Email(to {} recipients)", email.to.len())
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("alerts.email: {0}")]
    Email(String),
    #[error("alerts.slack: {0}")]
    Slack(String),
}

impl Channel {
    /// An SMTP channel. `password` is sent only over TLS (or to a loopback relay).
    pub fn email(
        host: &str,
        port: u16,
        security: SmtpSecurity,
        credentials: Option<(String, SecretString)>,
        from: &str,
        to: &[String],
    ) -> Result<Channel, ChannelError> {
        let transport =
            transport(host, port, security, credentials).map_err(ChannelError::Email)?;
        let from = mailbox("from", from).map_err(ChannelError::Email)?;
        let to = to
            .iter()
            .map(|address| mailbox("to", address).map_err(ChannelError::Email))
            .collect::<Result<Vec<_>, _>>()?;
        if to.is_empty() {
            return Err(ChannelError::Email(
                "name at least one recipient in to".into(),
            ));
        }
        Ok(Channel::Email(Box::new(EmailChannel {
            transport,
            from,
            to,
        })))
    }

    pub fn slack(url: SecretString) -> Result<Channel, ChannelError> {
        let parsed = url::Url::parse(url.expose_secret())
            .map_err(|e| ChannelError::Slack(format!("the webhook URL does not parse: {e}")))?;
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err(ChannelError::Slack(
                "the webhook URL must be http(s)".into(),
            ));
        }
        Ok(Channel::Slack { url })
    }

    async fn send(&self, http: &reqwest::Client, alert: &Alert) -> Result<(), String> {
        match self {
            Channel::Slack { url } => {
                let text = format!("*{}*\n{}", alert.title, alert.body);
                let response = http
                    .post(url.expose_secret())
                    .json(&serde_json::json!({ "text": text }))
                    .send()
                    .await
                    // reqwest's errors name the URL, which holds the webhook's secret.
                    .map_err(|e| {
                        format!("the Slack webhook did not answer: {}", e.without_url())
                    })?;
                if response.status().is_success() {
                    Ok(())
                } else {
                    Err(format!(
                        "the Slack webhook answered HTTP {}",
                        response.status()
                    ))
                }
            }
            Channel::Email(email) => {
                let EmailChannel {
                    transport,
                    from,
                    to,
                } = email.as_ref();
                let mut message = Message::builder()
                    .from(from.clone())
                    .subject(format!("[paybridge] {}", alert.title))
                    .header(ContentType::TEXT_PLAIN);
                for recipient in to {
                    message = message.to(recipient.clone());
                }
                let message = message
                    .body(alert.body.clone())
                    .map_err(|e| format!("cannot build the e-mail: {e}"))?;
                transport
                    .send(message)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("the SMTP server refused the alert: {e}"))
            }
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Channel::Slack { .. } => "slack",
            Channel::Email(_) => "email",
        }
    }
}

/// One alert.
#[derive(Debug, Clone)]
pub struct Alert {
    /// Alerts with one key are one kind: deduplicated together.
    pub key: String,
    pub title: String,
    pub body: String,
}

/// The alerting of one node. Cheap to clone.
#[derive(Clone)]
pub struct Alerts {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    clock: Clock,
    settings: AlertSettings,
    channels: Vec<Channel>,
    http: reqwest::Client,
    /// Alerts held back per key since the last one that went out.
    held_back: Mutex<HashMap<String, u64>>,
    /// (finished at, failed) of this node's recent runs.
    outcomes: Mutex<VecDeque<(i64, bool)>>,
    in_flight: AtomicUsize,
    idle: Notify,
}

impl fmt::Debug for Alerts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Alerts")
            .field("channels", &self.inner.channels)
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl Alerts {
    pub fn new(
        store: Store,
        clock: Clock,
        settings: AlertSettings,
        channels: Vec<Channel>,
    ) -> Alerts {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client with timeouts builds");
        Alerts {
            inner: Arc::new(Inner {
                store,
                clock,
                settings,
                channels,
                http,
                held_back: Mutex::new(HashMap::new()),
                outcomes: Mutex::new(VecDeque::new()),
                in_flight: AtomicUsize::new(0),
                idle: Notify::new(),
            }),
        }
    }

    /// A run was dead-lettered.
    pub fn dead_letter(&self, run_id: i64, flow: &str, entity: &str, error: &StepError) {
        let step = error.step.as_deref().unwrap_or("-");
        let status = error
            .http_status
            .map_or_else(|| "-".to_string(), |s| s.to_string());
        let mut body = format!(
            "Run {run_id} of flow {flow} for {entity} failed for good at step {step}.\n\n{error}\n"
        );
        if let Some(status) = error.http_status {
            body.push_str(&format!("HTTP status: {status}\n"));
        }
        if let Some(id) = &error.request_id {
            body.push_str(&format!("Request id: {id}\n"));
        }
        body.push_str(&format!(
            "\nSee it with `paybridge dlq show {run_id}`; replay it with `paybridge dlq replay {run_id}` once the cause is fixed."
        ));
        self.raise(Alert {
            key: format!("dead-letter:{flow}:{step}:{}:{status}", error.system),
            title: format!("dead letter in {flow}: {} at {step}", error.system),
            body,
        });
    }

    /// A run finished (`failed`: retried or dead-lettered). Alerts when the share of failures
    /// in the window crosses the threshold.
    pub fn run_finished(&self, failed: bool) {
        let settings = &self.inner.settings;
        let now = self.inner.clock.now_ms();
        let window = i64::try_from(settings.error_rate_window.as_millis()).unwrap_or(i64::MAX);
        let (total, failures) = {
            let mut outcomes = self
                .inner
                .outcomes
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            outcomes.push_back((now, failed));
            while outcomes.front().is_some_and(|(at, _)| *at <= now - window) {
                outcomes.pop_front();
            }
            (
                outcomes.len(),
                outcomes.iter().filter(|(_, failed)| *failed).count(),
            )
        };
        if failed
            && total >= settings.error_rate_min_runs
            && failures * 100 >= total * usize::try_from(settings.error_rate_percent).unwrap_or(100)
        {
            let minutes = settings.error_rate_window.as_secs() / 60;
            self.raise(Alert {
                key: "error-rate".into(),
                title: format!("{failures} of the last {total} runs failed"),
                body: format!(
                    "{failures} of the {total} runs this node finished in the last {minutes} minute(s) failed \
                     (the alert threshold is {}%). Failed runs are retried; those that fail for good \
                     are in `paybridge dlq list`.",
                    settings.error_rate_percent
                ),
            });
        }
    }

    /// Sends `alert` in the background unless one of its kind went out within the window.
    pub fn raise(&self, alert: Alert) {
        if self.inner.channels.is_empty() {
            return;
        }
        self.inner.in_flight.fetch_add(1, Ordering::SeqCst);
        let this = self.clone();
        tokio::spawn(async move {
            this.decide_and_send(alert).await;
            if this.inner.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
                this.inner.idle.notify_waiters();
            }
        });
    }

    /// Waits until every alert raised so far is sent or given up on.
    pub async fn flush(&self) {
        loop {
            let idle = self.inner.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.inner.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }

    async fn decide_and_send(&self, mut alert: Alert) {
        let inner = &self.inner;
        let dedupe = i64::try_from(inner.settings.dedupe.as_millis()).unwrap_or(i64::MAX);
        // A fresh holder each time: the lease is taken only when the last one has run out.
        let holder = format!("alert-{:016x}", rand::random::<u64>());
        let first = match inner
            .store
            .try_lease(
                &format!("alert:{}", alert.key),
                &holder,
                inner.clock.now_ms(),
                dedupe,
            )
            .await
        {
            Ok(first) => first,
            Err(e) => {
                tracing::warn!(error = %e, "cannot check alert de-duplication; sending anyway");
                true
            }
        };
        if !first {
            *inner
                .held_back
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(alert.key.clone())
                .or_default() += 1;
            metrics::counter!("paybridge_alerts_total", "outcome" => "held_back").increment(1);
            return;
        }
        let held = inner
            .held_back
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&alert.key)
            .unwrap_or(0);
        let minutes = inner.settings.dedupe.as_secs() / 60;
        alert.body.push_str(&format!(
            "\n\nMore alerts like this one are held back for {minutes} minute(s)."
        ));
        if held > 0 {
            alert
                .body
                .push_str(&format!(" {held} were held back since the last one."));
        }
        for channel in &inner.channels {
            let mut delay = Duration::from_millis(500);
            let mut attempt = 1;
            loop {
                match channel.send(&inner.http, &alert).await {
                    Ok(()) => {
                        metrics::counter!("paybridge_alerts_total", "outcome" => "sent", "channel" => channel.name())
                            .increment(1);
                        tracing::info!(channel = channel.name(), key = %alert.key, "alert sent");
                        break;
                    }
                    Err(e) if attempt < 3 => {
                        tracing::warn!(channel = channel.name(), error = %e, attempt, "alert not sent; trying again");
                        tokio::time::sleep(delay).await;
                        delay *= 4;
                        attempt += 1;
                    }
                    Err(e) => {
                        metrics::counter!("paybridge_alerts_total", "outcome" => "failed", "channel" => channel.name())
                            .increment(1);
                        tracing::error!(channel = channel.name(), error = %e, key = %alert.key, "alert could not be sent");
                        break;
                    }
                }
            }
        }
    }
}
