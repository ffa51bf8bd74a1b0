//! E-mail to customers over SMTP (the decline template's `email.send` steps), on the same
//! transport rules as alerts: STARTTLS or TLS, or plain text only to a loopback relay; a
//! password only ever over TLS or to loopback.
//!
//! SMTP has no idempotency key. Each message's `Message-ID` is made from its step's key, so a
//! step retried after an unknown outcome sends the same message again, which mail systems
//! recognise as one.

use std::fmt;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::Digest as _;

use paybridge_flows::spec::{ActionSpec, Effect, Recovery, Type, opt, out, req};
use paybridge_model::{FailureKind, StepError};
use serde_json::{Value, json};

use crate::{Action, Call, Runnable};

/// The e-mail action.
pub static ACTIONS: &[&dyn Runnable] = &[&Send];

/// `email.send`: an e-mail to a customer over SMTP.
pub struct Send;

impl Action for Send {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "email.send",
        summary: "send an e-mail over SMTP ([email]); a retry re-sends the same Message-ID",
        fields: Some(&[
            req("to"),
            req("subject"),
            req("text"),
            opt("html"),
            opt("reply_to"),
        ]),
        outputs: &[out("message_id", Type::Text), out("to", Type::Text)],
        effect: Effect::Call,
        recovery: Recovery::SameKey(
            "every attempt sends the same Message-ID, which mail systems take as one message",
        ),
    };
    type Input = Email;

    async fn run(&self, call: &Call<'_>, email: Email) -> Result<Value, StepError> {
        let message_id = call.env.connectors.mailer()?.send(call.key, &email).await?;
        Ok(json!({"message_id": message_id, "to": email.to.trim()}))
    }
}

/// How an SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// STARTTLS on the submission port (587).
    StartTls,
    /// TLS from the first byte (465).
    Tls,
    /// Plain text: only to a relay on a loopback address.
    None,
}

/// An SMTP relay, as configured.
pub fn transport(
    host: &str,
    port: u16,
    security: SmtpSecurity,
    credentials: Option<(String, SecretString)>,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let builder = match security {
        SmtpSecurity::StartTls => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(|e| e.to_string())?
        }
        SmtpSecurity::Tls => {
            AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(|e| e.to_string())?
        }
        SmtpSecurity::None => {
            let loopback = host == "localhost"
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if !loopback {
                return Err(format!(
                    "security = \"none\" sends in plain text, so only to a relay on a loopback address, not {host:?}"
                ));
            }
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        }
    };
    let mut builder = builder.port(port).timeout(Some(Duration::from_secs(30)));
    if let Some((user, password)) = credentials {
        builder = builder.credentials(Credentials::new(user, password.expose_secret().to_string()));
    }
    Ok(builder.build())
}

/// An address, or what is wrong with it.
pub fn mailbox(what: &str, address: &str) -> Result<Mailbox, String> {
    address
        .trim()
        .parse::<Mailbox>()
        .map_err(|e| format!("{what} {address:?}: {e}"))
}

/// Sends e-mail to customers from one address.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    reply_to: Option<Mailbox>,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

/// One message.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Email {
    pub to: String,
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// An HTML alternative.
    #[serde(default)]
    pub html: Option<String>,
    /// Replies go here instead of the configured address.
    #[serde(default)]
    pub reply_to: Option<String>,
}

impl Mailer {
    pub fn new(
        host: &str,
        port: u16,
        security: SmtpSecurity,
        credentials: Option<(String, SecretString)>,
        from: &str,
        reply_to: Option<&str>,
    ) -> Result<Mailer, String> {
        Ok(Mailer {
            transport: transport(host, port, security, credentials)?,
            from: mailbox("from", from)?,
            reply_to: reply_to.map(|r| mailbox("reply_to", r)).transpose()?,
        })
    }

    /// The `Message-ID` of the message a step with this key sends.
    pub fn message_id(key: &str) -> String {
        let digest = hex::encode(&sha2::Sha256::digest(key.as_bytes())[..16]);
        format!("<{digest}@paybridge>")
    }

    /// Sends `email`; its Message-ID is the key's. A refused address or message is permanent;
    /// anything else (the server unreachable, a 4xx, no answer) is retried.
    pub async fn send(&self, key: &str, email: &Email) -> Result<String, StepError> {
        let permanent = |message: String| StepError::permanent("smtp", message);
        let to = mailbox("to", &email.to).map_err(permanent)?;
        let message_id = Mailer::message_id(key);
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.trim())
            .message_id(Some(message_id.clone()));
        let reply_to = match &email.reply_to {
            Some(address) => Some(mailbox("reply_to", address).map_err(permanent)?),
            None => self.reply_to.clone(),
        };
        if let Some(reply_to) = reply_to {
            builder = builder.reply_to(reply_to);
        }
        let message = match &email.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                html.clone(),
            )),
            None => builder
                .header(ContentType::TEXT_PLAIN)
                .body(email.text.clone()),
        }
        .map_err(|e| permanent(format!("cannot build the e-mail: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(message_id),
            Err(e) if e.is_permanent() => Err(permanent(format!(
                "the SMTP server refused the e-mail to {}: {e}",
                email.to.trim()
            ))),
            Err(e) => Err(StepError::new(
                FailureKind::Transient,
                "smtp",
                format!("the e-mail could not be handed to the SMTP server: {e}"),
            )),
        }
    }
}
