//! Zoho CRM notifications (zoho.md §4.5): paybridge keeps one watch channel alive — created if
//! CRM does not have it, renewed a week ahead (CRM's longest), once a day — and the callbacks
//! it receives are inbox events `crm.<Module>.<operation>` (`crm.Contacts.update`) for flows.
//! CRM signs nothing: the channel's token, echoed in every callback, is the proof.

use std::time::Duration;

use paybridge_zoho::crm::Channel;
use secrecy::{ExposeSecret as _, SecretString};

use crate::alerts::Alert;
use crate::engine::Engine;

/// How often the channel is renewed (CRM lets it live a week at most).
pub const RENEW_EVERY: Duration = Duration::from_secs(24 * 3600);

/// The channel paybridge keeps.
#[derive(Clone)]
pub struct CrmChannel {
    pub channel_id: String,
    /// `Contacts.edit`, `Accounts.all`, …
    pub events: Vec<String>,
    /// Where CRM calls back: paybridge's `/webhooks/zoho/crm`, as the world reaches it.
    pub notify_url: String,
    /// Echoed in every callback (at most 50 characters).
    pub token: SecretString,
}

impl std::fmt::Debug for CrmChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrmChannel")
            .field("channel_id", &self.channel_id)
            .field("events", &self.events)
            .field("notify_url", &self.notify_url)
            .finish_non_exhaustive()
    }
}

impl CrmChannel {
    fn watch(&self, now_ms: i64) -> Channel {
        // A week ahead, less a minute so that CRM does not cut it to an hour.
        let expiry = jiff::Timestamp::from_millisecond(now_ms + 7 * 24 * 3_600_000 - 60_000)
            .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S+00:00").to_string())
            .ok();
        Channel {
            channel_id: self.channel_id.clone(),
            events: self.events.clone(),
            channel_expiry: expiry,
            token: self.token.expose_secret().to_string(),
            notify_url: self.notify_url.clone(),
            return_affected_field_values: true,
        }
    }

    /// Renews the channel, or creates it when CRM does not have it.
    pub async fn keep(&self, engine: &Engine) -> Result<(), paybridge_zoho::Error> {
        let crm = match engine.connectors().crm.as_ref() {
            Some(crm) => crm,
            None => {
                return Err(paybridge_zoho::Error::Config(
                    "CRM notifications need `crm = true` in the [zoho] section".into(),
                ));
            }
        };
        let channel = self.watch(engine.clock.now_ms());
        let live = crm.notification_channels().await?;
        let known = live.iter().any(|c| match &c.channel_id {
            serde_json::Value::String(s) => *s == self.channel_id,
            other => other
                .as_u64()
                .is_some_and(|n| self.channel_id.parse() == Ok(n)),
        });
        if known {
            crm.renew_notifications(&[channel]).await
        } else {
            crm.enable_notifications(&[channel]).await
        }
    }

    /// Keeps the channel alive until `closing` says the server stops.
    pub fn spawn_keeper(
        self,
        engine: Engine,
        mut closing: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                let wait = match self.keep(&engine).await {
                    Ok(()) => {
                        tracing::info!(channel = %self.channel_id, "the CRM notification channel is live for a week");
                        RENEW_EVERY
                    }
                    Err(e) => {
                        tracing::error!(channel = %self.channel_id, error = %e, "the CRM notification channel could not be kept; trying again in a minute");
                        // Unrenewed, the channel lapses within the week and CRM changes stop
                        // reaching the flows: someone has to know (once per alert window).
                        if let Some(alerts) = &engine.alerts {
                            alerts.raise(Alert {
                                key: format!("crm-channel:{}", self.channel_id),
                                title: format!(
                                    "Zoho CRM notification channel {} could not be renewed",
                                    self.channel_id
                                ),
                                body: format!(
                                    "CRM answered: {e}. Until it is renewed (paybridge tries again every minute), the channel lapses at its expiry and CRM changes stop reaching the flows."
                                ),
                            });
                        }
                        Duration::from_secs(60)
                    }
                };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = closing.wait_for(|closed| *closed) => return,
                }
            }
        })
    }
}
