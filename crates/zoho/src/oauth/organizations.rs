//! `GET /books/v3/organizations` with a new connection's access token: the organizations its
//! user belongs to, which `paybridge connect zoho` offers to choose from.

use secrecy::ExposeSecret as _;

use super::{Accounts, Connection};
use crate::error::Error;

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

impl Accounts {
    /// The Books organizations the connection's user belongs to (`GET /books/v3/organizations`
    /// at its `api_domain`): what `connect zoho` offers to choose from.
    pub async fn organizations(&self, connection: &Connection) -> Result<Vec<Organization>, Error> {
        let url = connection
            .api_domain
            .join("books/v3/organizations")
            .map_err(|e| Error::Config(format!("api_domain: {e}")))?;
        let answer = self
            .http
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
        let status = answer.status().as_u16();
        let text = answer.text().await.unwrap_or_default();
        let unexpected = |problem: &str| Error::UnexpectedResponse {
            status,
            problem: problem.into(),
            excerpt: text.chars().take(200).collect(),
            write: false,
        };
        let body: serde_json::Value =
            serde_json::from_str(&text).map_err(|_| unexpected("not JSON"))?;
        match body["code"].as_i64() {
            Some(0) => serde_json::from_value(body["organizations"].clone())
                .map_err(|_| unexpected("no organizations list")),
            Some(code) => Err(Error::Books {
                status,
                code,
                message: body["message"].as_str().unwrap_or_default().to_string(),
                write: false,
            }),
            None => Err(unexpected("no code")),
        }
    }
}
