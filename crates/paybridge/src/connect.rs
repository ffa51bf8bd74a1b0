//! `paybridge connect zoho`: setting up a Zoho connection (zoho.md §1).
//!
//! Without a code it prints the consent URL to open (offline access, fresh consent). With the
//! code — from the consent redirect, or a Self Client's from the API console — it exchanges it
//! at the accounts server that issued it (the redirect's `accounts-server`, never a guess: the
//! Canadian one is `accounts.zohocloud.ca`), and prints what the connection needs from then on:
//! that accounts server, the `api_domain` Zoho names, and the refresh token.

use anyhow::{Context as _, bail};
use paybridge_zoho::{Accounts, DataCentre};
use secrecy::{ExposeSecret as _, SecretString};
use url::Url;

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
    let secret = std::env::var(&request.client_secret_env).with_context(|| {
        format!(
            "--client-secret-env: environment variable {} is not set",
            request.client_secret_env
        )
    })?;
    let connection = accounts
        .exchange_code(
            &request.client_id,
            &SecretString::from(secret.trim().to_string()),
            &code,
            request.redirect_uri.as_deref(),
        )
        .await
        .context("exchanging the grant code")?;
    Ok(format!(
        "Connected. Keep these for the connection (paybridge.toml [zoho]):\n\n\
         accounts_url = \"{}\"\n\
         api_domain = \"{}\"\n\n\
         The refresh token — store it as the secret your refresh_token_env names, and nowhere else:\n\n\
         {}\n",
        connection.accounts_url,
        connection.api_domain,
        connection.refresh_token.expose_secret()
    ))
}
