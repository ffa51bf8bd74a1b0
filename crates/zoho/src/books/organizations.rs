//! `GET /books/v3/organizations` with a new connection's access token: the organizations its
//! user belongs to, which `paybridge connect zoho` offers to choose from.

use secrecy::ExposeSecret as _;

use crate::client::Answer;
use crate::error::Error;
use crate::finance::{check_envelope, extract};
use crate::oauth::Connection;

/// A Books organization as `GET /organizations` lists it.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct Organization {
    pub organization_id: String,
    pub name: String,
    #[serde(default)]
    pub currency_code: Option<String>,
    #[serde(default)]
    pub is_default_org: bool,
}

/// The Books organizations the connection's user belongs to (`GET /books/v3/organizations`
/// at its `api_domain`): what `connect zoho` offers to choose from.
/// `http` is the accounts client's ([`crate::oauth::Accounts::http`]): it follows no redirect.
pub async fn organizations(
    http: &reqwest::Client,
    connection: &Connection,
) -> Result<Vec<Organization>, Error> {
    let url = connection
        .api_domain
        .join("books/v3/organizations")
        .map_err(|e| Error::Config(format!("api_domain: {e}")))?;
    let response = http
        .get(url.clone())
        .header(
            "Authorization",
            format!(
                "Zoho-oauthtoken {}",
                connection.access_token.expose_secret()
            ),
        )
        .send()
        .await
        .map_err(|source| Error::Connect {
            url: url.to_string(),
            source,
        })?;
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap_or_default();
    // Books' own envelope, judged as every Books answer is.
    let answer = Answer {
        status,
        body,
        write: false,
    };
    check_envelope(&answer)?;
    extract(&answer, &["organizations"])
}
