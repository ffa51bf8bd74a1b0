//! `[alerts]` (Slack, e-mail) and `[email]` (e-mail to customers): SMTP relays and who hears what.

use crate::app::{AlertsConfig, EmailConfig};
use crate::config::vault::SecretRef;
use crate::config::zoho::five;
use anyhow::bail;
use paybridge_actions::email::SmtpSecurity;
use paybridge_engine::alerts::{AlertSettings, Channel};
use paybridge_vault::Vault;
use secrecy::SecretString;
use serde::Deserialize;

/// `[email]`: the SMTP relay and sender of e-mails to customers (`email.send` in flows).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerEmailSection {
    pub host: String,
    #[serde(default = "submission_port")]
    pub port: u16,
    /// `starttls` (587), `tls` (465), or `none` (a relay on loopback only).
    #[serde(default = "starttls")]
    pub security: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default)]
    pub password_vault: Option<String>,
    /// `Tea Shop <orders@shop.example>`
    pub from: String,
    /// Where customers' replies go, when not to `from`.
    #[serde(default)]
    pub reply_to: Option<String>,
}

impl CustomerEmailSection {
    pub(crate) async fn resolve(
        &self,
        vault: Option<&Vault>,
    ) -> anyhow::Result<paybridge_actions::email::Mailer> {
        let (security, credentials) = smtp_access(
            "email",
            &self.security,
            self.username.as_deref(),
            SecretRef {
                key: "email.password",
                env: self.password_env.as_deref(),
                vault: self.password_vault.as_deref(),
            },
            vault,
        )
        .await?;
        paybridge_actions::email::Mailer::new(
            &self.host,
            self.port,
            security,
            credentials,
            &self.from,
            self.reply_to.as_deref(),
        )
        .map_err(|e| anyhow::anyhow!("email: {e}"))
    }
}

/// An SMTP relay's security and credentials (`section` names them in messages).
async fn smtp_access(
    section: &str,
    security: &str,
    username: Option<&str>,
    password: SecretRef<'_>,
    vault: Option<&Vault>,
) -> anyhow::Result<(SmtpSecurity, Option<(String, SecretString)>)> {
    let security = match security {
        "starttls" => SmtpSecurity::StartTls,
        "tls" => SmtpSecurity::Tls,
        "none" => SmtpSecurity::None,
        other => bail!("{section}.security: {other:?} is not one of starttls, tls, none"),
    };
    let credentials = match (username, password.is_given()) {
        (Some(user), true) => Some((user.to_string(), password.resolve(vault).await?)),
        (None, false) => None,
        _ => bail!(
            "{section}: give username and a password (password_env or password_vault) together"
        ),
    };
    Ok((security, credentials))
}

/// `[alerts]`: dead letters and error-rate spikes, to a Slack-compatible webhook and by e-mail.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsSection {
    /// One alert of a kind per this many minutes (an outage sends one, not a thousand).
    #[serde(default = "sixty")]
    pub dedupe_minutes: u64,
    /// Alert when this share of the runs finished in the window failed…
    #[serde(default = "twenty")]
    pub error_rate_percent: u32,
    #[serde(default = "five")]
    pub error_rate_window_minutes: u64,
    /// …out of at least this many.
    #[serde(default = "twenty_runs")]
    pub error_rate_min_runs: usize,
    #[serde(default)]
    pub slack: Option<SlackSection>,
    #[serde(default)]
    pub email: Option<EmailSection>,
}

/// `[alerts.slack]`: an incoming webhook URL (a secret: it alone lets anyone post).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackSection {
    #[serde(default)]
    pub webhook_url_env: Option<String>,
    #[serde(default)]
    pub webhook_url_vault: Option<String>,
}

/// `[alerts.email]`: an SMTP relay.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSection {
    pub host: String,
    #[serde(default = "submission_port")]
    pub port: u16,
    /// `starttls` (587), `tls` (465), or `none` (a relay on loopback only).
    #[serde(default = "starttls")]
    pub security: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default)]
    pub password_vault: Option<String>,
    /// `paybridge <paybridge@example.com>`
    pub from: String,
    pub to: Vec<String>,
}

fn sixty() -> u64 {
    60
}

fn twenty() -> u32 {
    20
}

fn twenty_runs() -> usize {
    20
}

fn submission_port() -> u16 {
    587
}

fn starttls() -> String {
    "starttls".into()
}

impl AlertsSection {
    pub(crate) async fn resolve(&self, vault: Option<&Vault>) -> anyhow::Result<AlertsConfig> {
        if self.error_rate_percent == 0 || self.error_rate_percent > 100 {
            bail!("alerts.error_rate_percent must be 1 to 100");
        }
        if self.slack.is_none() && self.email.is_none() {
            bail!("alerts: name a channel, [alerts.slack] or [alerts.email]");
        }
        let slack = match &self.slack {
            Some(slack) => {
                let url = SecretRef {
                    key: "alerts.slack.webhook_url",
                    env: slack.webhook_url_env.as_deref(),
                    vault: slack.webhook_url_vault.as_deref(),
                }
                .resolve(vault)
                .await?;
                Channel::slack(url.clone())?;
                Some(url)
            }
            None => None,
        };
        let email = match &self.email {
            Some(email) => {
                let (security, credentials) = smtp_access(
                    "alerts.email",
                    &email.security,
                    email.username.as_deref(),
                    SecretRef {
                        key: "alerts.email.password",
                        env: email.password_env.as_deref(),
                        vault: email.password_vault.as_deref(),
                    },
                    vault,
                )
                .await?;
                let config = EmailConfig {
                    host: email.host.clone(),
                    port: email.port,
                    security,
                    credentials,
                    from: email.from.clone(),
                    to: email.to.clone(),
                };
                config.channel()?;
                Some(config)
            }
            None => None,
        };
        Ok(AlertsConfig {
            settings: AlertSettings {
                dedupe: std::time::Duration::from_secs(self.dedupe_minutes.max(1) * 60),
                error_rate_percent: self.error_rate_percent,
                error_rate_window: std::time::Duration::from_secs(
                    self.error_rate_window_minutes.max(1) * 60,
                ),
                error_rate_min_runs: self.error_rate_min_runs.max(1),
            },
            slack,
            email,
        })
    }
}
