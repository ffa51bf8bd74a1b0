//! `paybridge connect zoho`: setting up a Zoho connection (zoho.md §1).
//!
//! Without a code it prints the consent URL to open (offline access, fresh consent). With the
//! code — from the consent redirect, or a Self Client's from the API console — it exchanges it
//! at the accounts server that issued it (the redirect's `accounts-server`, never a guess: the
//! Canadian one is `accounts.zohocloud.ca`). With `--config` it stores the connection: the
//! accounts server and the `api_domain` Zoho named in the store, the client secret and refresh
//! token sealed in the vault, all under one name that `zoho.connection` then refers to. Without
//! it, it prints them (to keep wherever the environment variables come from).

use paybridge_store::AuthStore as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use paybridge_zoho::{Accounts, Connection, DataCentre};
use secrecy::{ExposeSecret as _, SecretString};
use url::Url;

use crate::config::FileConfig;
use crate::config::connection::{StoredZohoConnection, check_connection_name};

/// What `connect zoho` was asked to do.
#[derive(Debug, Clone)]
pub struct ConnectZoho {
    /// `us`, `eu`, `in`, `au`, `jp`, `ca`, `sa`, `cn`, `uk`.
    pub data_centre: Option<String>,
    /// The `accounts-server` of the consent redirect (overrides the data centre's).
    pub accounts_server: Option<Url>,
    pub client_id: String,
    /// Environment variable holding the client secret.
    pub client_secret_env: String,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub scopes: Vec<String>,
    /// Store the connection in the store and vault this configuration names.
    pub config: Option<PathBuf>,
    /// The connection's name (`zoho.connection`).
    pub connection: String,
}

/// The scopes paybridge's flows use (zoho.md §1.4; items and currencies are settings).
pub const DEFAULT_SCOPES: &[&str] = &[
    "ZohoBooks.fullaccess.all",
    "ZohoInventory.FullAccess.all",
    "ZohoCRM.modules.ALL",
    "ZohoCRM.settings.READ",
    "ZohoCRM.notifications.ALL",
    "ZohoCRM.coql.READ",
    "Desk.tickets.ALL",
    "Desk.contacts.ALL",
    "Desk.basic.READ",
    "Desk.settings.READ",
    "Desk.search.READ",
    "Desk.events.ALL",
];

/// Runs the command; returns what to print.
pub async fn run(request: ConnectZoho) -> anyhow::Result<String> {
    let accounts_url = match (&request.accounts_server, &request.data_centre) {
        (Some(url), _) => url.clone(),
        (None, Some(location)) => DataCentre::from_location(location)
            .with_context(|| {
                format!(
                    "--data-centre {location:?} is not one of us, eu, in, au, jp, ca, sa, cn, uk"
                )
            })?
            .accounts_url(),
        (None, None) => bail!("give --data-centre, or --accounts-server from the consent redirect"),
    };
    let accounts = Accounts::new(accounts_url.clone())?;
    let scopes: Vec<&str> = if request.scopes.is_empty() {
        DEFAULT_SCOPES.to_vec()
    } else {
        request.scopes.iter().map(String::as_str).collect()
    };
    let Some(code) = request.code else {
        let Some(redirect_uri) = &request.redirect_uri else {
            bail!(
                "give --redirect-uri (registered for the client) to get a consent URL, or --code with a Self Client's grant code"
            );
        };
        let state = uuid::Uuid::new_v4().simple().to_string();
        let url = accounts.consent_url(&request.client_id, &scopes, redirect_uri, &state);
        return Ok(format!(
            "Open this URL, approve, and run this command again with --code from the redirect\n\
             (and --accounts-server from it when it names another data centre):\n\n{url}\n\n\
             The redirect carries state={state}; check it matches.\n"
        ));
    };
    check_connection_name(&request.connection)?;
    let secret = std::env::var(&request.client_secret_env).with_context(|| {
        format!(
            "--client-secret-env: environment variable {} is not set",
            request.client_secret_env
        )
    })?;
    let client_secret = SecretString::from(secret.trim().to_string());
    // Open the vault before spending the single-use code, so a missing key costs nothing.
    let opened = match &request.config {
        Some(config) => Some(FileConfig::load(config)?.open_store_and_vault().await?),
        None => None,
    };
    let connection: Connection = accounts
        .exchange_code(
            &request.client_id,
            &client_secret,
            &code,
            request.redirect_uri.as_deref(),
        )
        .await
        .context("exchanging the grant code")?;
    let organizations = organizations_seen(&accounts, &connection).await;
    let Some((store, vault)) = opened else {
        return Ok(format!(
            "Connected. Keep these for the connection (paybridge.toml [zoho]):\n\n\
             accounts_url = \"{}\"\n\
             api_domain = \"{}\"\n\n\
             {organizations}\n\
             The refresh token — store it as the secret your refresh_token_env names, and nowhere else\n\
             (or run this command with --config to keep it sealed in paybridge's vault):\n\n\
             {}\n",
            connection.accounts_url,
            connection.api_domain,
            connection.refresh_token.expose_secret()
        ));
    };
    let stored = StoredZohoConnection {
        accounts_url: connection.accounts_url.clone(),
        api_domain: connection.api_domain.clone(),
        client_id: request.client_id.clone(),
        client_secret,
        refresh_token: connection.refresh_token.clone(),
    };
    let saved = stored.save(&store, &vault, &request.connection).await;
    store.close().await;
    saved.context("storing the connection (the refresh token was issued but is not kept: revoke it in Zoho and connect again)")?;
    Ok(format!(
        "Connected, and stored as Zoho connection {name:?}:\n\n\
         accounts server  {}\n\
         api_domain       {}\n\
         secrets          zoho/{name}/client_secret, zoho/{name}/refresh_token (sealed in the vault)\n\n\
         {organizations}\n\
         In paybridge.toml, [zoho] connection = \"{name}\" uses it.\n",
        connection.accounts_url,
        connection.api_domain,
        name = request.connection,
    ))
}

/// The Books organizations the new connection sees, in words: which to put in `[zoho]
/// organization_id`. A failure to list them is said, not fatal (the connection is made).
async fn organizations_seen(
    accounts: &Accounts,
    connection: &paybridge_zoho::oauth::Connection,
) -> String {
    match paybridge_zoho::books::organizations(accounts.http(), connection).await {
        Ok(organizations) if organizations.is_empty() => {
            "The token sees no Zoho Books organization: is Books set up for this user?\n".into()
        }
        Ok(organizations) => {
            let mut text = String::from(
                "Books organizations this connection sees (put one in [zoho] organization_id):\n",
            );
            for org in &organizations {
                text.push_str(&format!(
                    "  {:<14} {}{}{}\n",
                    org.organization_id,
                    org.name,
                    org.currency_code
                        .as_deref()
                        .map(|c| format!(" ({c})"))
                        .unwrap_or_default(),
                    if org.is_default_org { ", default" } else { "" }
                ));
            }
            text
        }
        Err(e) => format!("Could not list the Books organizations: {e}\n"),
    }
}

/// `paybridge disconnect zoho`: revokes the stored connection's refresh token at the accounts
/// server that issued it (every access token minted from it dies too), then forgets the
/// connection and its secrets. Returns what to print.
pub async fn disconnect_zoho(config: &std::path::Path, name: &str) -> anyhow::Result<String> {
    check_connection_name(name)?;
    let (store, vault) = FileConfig::load(config)?.open_store_and_vault().await?;
    let result = async {
        let connection = StoredZohoConnection::load(&store, &vault, name).await?;
        let accounts = Accounts::new(connection.accounts_url.clone())?;
        let note = match accounts.revoke(&connection.refresh_token).await {
            Ok(()) => "revoked at Zoho".to_string(),
            // Zoho no longer knows the token (revoked in its console, say): nothing to undo.
            Err(paybridge_zoho::Error::OAuth { error, .. }) => {
                format!("Zoho answered {error:?}: the token was already invalid")
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(
                    "revoking the refresh token (nothing was forgotten; run this again when Zoho answers)",
                ));
            }
        };
        for secret in ["client_secret", "refresh_token"] {
            vault.delete(&format!("zoho/{name}/{secret}")).await?;
        }
        store.delete_connection(&format!("zoho/{name}")).await?;
        Ok(format!(
            "Zoho connection {name:?} disconnected: refresh token {note}; its settings and secrets are forgotten.\n"
        ))
    }
    .await;
    store.close().await;
    result
}
