//! Rotated secrets take effect without a restart. A new value is checked before it is stored
//! (a value the connection cannot use is refused and the old one stays), then put to use on this
//! node at once; every other node on the store notices the vault entry change within
//! [`WATCH_EVERY`] and does the same.

use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};
use sha2::Digest as _;

use crate::AppState;
use crate::admin::ApiError;

/// How often a node looks for secrets another node rotated.
pub const WATCH_EVERY: Duration = Duration::from_secs(30);

/// Where a secret is used in this process.
#[derive(Debug)]
pub(crate) enum Target {
    CybersourceSharedSecret,
    CybersourceWebhookKey(String),
    ZohoClientSecret,
    ZohoRefreshToken,
    ZohoWebhookSecret,
    StorefrontKeys(Vec<SecretString>),
    CallbackSecret,
    /// Read only when paybridge starts (a stored Zoho connection).
    AtRestart,
}

/// What a new value of configuration key `key` changes, if it is usable.
pub(crate) fn target(
    state: &AppState,
    key: &str,
    value: &SecretString,
) -> Result<Target, ApiError> {
    let text = value.expose_secret().trim();
    if text.is_empty() {
        return Err(ApiError::bad_request("the new value is empty"));
    }
    let bad = |message: String| Err(ApiError::bad_request(format!("{key}: {message}")));
    Ok(match key {
        "cybersource.shared_secret" => {
            let check = paybridge_cybersource::Signer::new(&paybridge_cybersource::Credentials {
                merchant_id: state
                    .engine
                    .connectors()
                    .cybersource
                    .merchant_id()
                    .to_string(),
                key_id: "check".into(),
                shared_secret: value.clone(),
            });
            if let Err(e) = check {
                return bad(e.to_string());
            }
            Target::CybersourceSharedSecret
        }
        "zoho.client_secret" => Target::ZohoClientSecret,
        "zoho.refresh_token" => Target::ZohoRefreshToken,
        "zoho.webhooks.secret" => {
            if let Some(auth) = &state.zoho_books_webhooks
                && let Err(e) = crate::read(auth).accepts(value)
            {
                return bad(e);
            }
            Target::ZohoWebhookSecret
        }
        "storefront.api_keys" => {
            let keys: Vec<SecretString> = text
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(|k| SecretString::from(k.to_string()))
                .collect();
            if keys.iter().any(|k| k.expose_secret().len() < 24) {
                return bad("every storefront API key must be at least 24 characters".into());
            }
            Target::StorefrontKeys(keys)
        }
        "storefront.callback_secret" => {
            if text.len() < 24 {
                return bad("it must be at least 24 characters".into());
            }
            Target::CallbackSecret
        }
        _ => match key
            .strip_prefix("cybersource.webhooks.keys.")
            .filter(|id| !id.is_empty())
        {
            Some(id) => {
                let check = paybridge_cybersource::webhooks::WebhookVerifier::new(WATCH_EVERY);
                if let Err(e) = check.set_key(id, value) {
                    return bad(e.to_string());
                }
                Target::CybersourceWebhookKey(id.to_string())
            }
            None => Target::AtRestart,
        },
    })
}

/// Puts `value` to use; says when it takes effect.
pub(crate) async fn apply(state: &AppState, target: Target, value: &SecretString) -> String {
    let connectors = &state.engine.connectors();
    let now = "now (other nodes within 30 seconds)".to_string();
    match target {
        Target::CybersourceSharedSecret => match connectors.cybersource.set_shared_secret(value) {
            Ok(()) => now,
            Err(e) => format!("at the next start ({e})"),
        },
        Target::CybersourceWebhookKey(id) => match &state.cybersource_webhooks {
            Some(verifier) => match verifier.set_key(id, value) {
                Ok(()) => now,
                Err(e) => format!("at the next start ({e})"),
            },
            None => "when Cybersource webhooks are configured".into(),
        },
        Target::ZohoClientSecret => {
            connectors.zoho.set_client_secret(value.clone()).await;
            now
        }
        Target::ZohoRefreshToken => {
            connectors.zoho.set_refresh_token(value.clone()).await;
            now
        }
        Target::ZohoWebhookSecret => match &state.zoho_books_webhooks {
            Some(auth) => {
                auth.write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .set_secret(value.clone());
                now
            }
            None => "when Zoho Books webhooks are configured".into(),
        },
        Target::StorefrontKeys(keys) => {
            *state
                .storefront_keys
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = keys;
            now
        }
        Target::CallbackSecret => match &connectors.storefront {
            Some(storefront) => {
                storefront.set_secret(value.clone());
                now
            }
            None => "when storefront callbacks are configured".into(),
        },
        Target::AtRestart => {
            "when paybridge next starts (this secret is read only at start-up)".into()
        }
    }
}

pub(crate) fn digest(value: &SecretString) -> [u8; 32] {
    sha2::Sha256::digest(value.expose_secret().as_bytes()).into()
}

/// Every vault-held secret of the connections, by configuration key and vault entry.
fn vault_slots(state: &AppState) -> Vec<(String, String)> {
    super::infos(state)
        .into_iter()
        .flat_map(|c| c.secrets)
        .filter(|s| s.source == "vault")
        .map(|s| (s.key, s.reference))
        .collect()
}

/// One look at the vault: a secret whose entry changed since this node last saw it (another
/// node rotated it) is put to use here. The first look only notes what is there.
pub async fn pick_up_rotations(state: &AppState) {
    let Some(vault) = &state.admin.vault else {
        return;
    };
    for (key, entry) in vault_slots(state) {
        let Ok(Some(value)) = vault.get(&entry).await else {
            continue;
        };
        let now = digest(&value);
        let changed = state
            .admin
            .secret_digests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(entry.clone(), now)
            .is_some_and(|before| before != now);
        if !changed {
            continue;
        }
        match target(state, &key, &value) {
            Ok(target) => {
                let when = apply(state, target, &value).await;
                tracing::info!(%key, %entry, %when, "a secret rotated elsewhere is in use here");
            }
            Err(e) => {
                tracing::warn!(%key, %entry, error = %e.message, "a rotated secret cannot be used; the old one stays");
            }
        }
    }
}

/// Looks every [`WATCH_EVERY`] for secrets another node rotated, until the server closes.
pub fn spawn_watcher(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut closing = state.admin.closing.subscribe();
        loop {
            pick_up_rotations(&state).await;
            tokio::select! {
                _ = tokio::time::sleep(WATCH_EVERY) => {}
                _ = closing.wait_for(|closed| *closed) => return,
            }
        }
    })
}
