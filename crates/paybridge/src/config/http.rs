//! `[http]`: named credentials for flows' `http` steps.

use crate::app::HttpSettings;
use crate::config::vault::SecretRef;
use anyhow::bail;
use paybridge_vault::Vault;
use serde::Deserialize;

/// `[http]`: named credentials for flows' `http` steps (`auth: '"erp"'`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// `http` steps may call this machine and the link-local network (loopback, 169.254.0.0/16,
    /// fe80::/10) — off by default: a flow must not reach what only this host should.
    #[serde(default)]
    pub allow_local: bool,
    #[serde(default)]
    pub auth: Vec<HttpAuthSection>,
}

/// `[[http.auth]]`: one named credential.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpAuthSection {
    pub name: String,
    /// `bearer`, `basic` or `header`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub secret_env: Option<String>,
    #[serde(default)]
    pub secret_vault: Option<String>,
    /// `basic`: the user name.
    #[serde(default)]
    pub username: Option<String>,
    /// `header`: the header that carries the secret.
    #[serde(default)]
    pub header: Option<String>,
    /// The hosts the secret is sent to (`erp.example.com`, `*.example.com`): required, so that
    /// a flow cannot send it anywhere else.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Send it over plain http too (a receiver inside the network); https only otherwise.
    #[serde(default)]
    pub allow_http: bool,
}

impl HttpSection {
    pub(crate) async fn resolve(&self, vault: Option<&Vault>) -> anyhow::Result<HttpSettings> {
        use paybridge_actions::http::{HttpAuth, HttpCredential};
        let mut named = std::collections::BTreeMap::new();
        for entry in &self.auth {
            let name = entry.name.trim();
            if name.is_empty() {
                bail!("http.auth: every entry needs a name");
            }
            let key = format!("http.auth.{name}.secret");
            let secret = SecretRef {
                key: &key,
                env: entry.secret_env.as_deref(),
                vault: entry.secret_vault.as_deref(),
            }
            .resolve(vault)
            .await?;
            let auth = match (entry.kind.as_str(), &entry.username, &entry.header) {
                ("bearer", None, None) => HttpAuth::Bearer(secret),
                ("basic", Some(username), None) => HttpAuth::Basic {
                    username: username.clone(),
                    password: secret,
                },
                ("header", None, Some(header)) => {
                    if reqwest::header::HeaderName::from_bytes(header.trim().as_bytes()).is_err() {
                        bail!("http.auth {name:?}: {header:?} is not a header name");
                    }
                    HttpAuth::Header {
                        name: header.trim().to_string(),
                        value: secret,
                    }
                }
                ("bearer" | "basic" | "header", _, _) => bail!(
                    "http.auth {name:?}: bearer takes only a secret, basic a username too, header a header too"
                ),
                (other, _, _) => {
                    bail!("http.auth {name:?}: type {other:?} is not bearer, basic or header")
                }
            };
            if entry.hosts.is_empty() {
                bail!(
                    "http.auth {name:?}: hosts is required — the hosts its secret may be sent to, such as [\"erp.example.com\"]"
                );
            }
            for host in &entry.hosts {
                let bare = host.trim().trim_start_matches("*.");
                if bare.is_empty() || bare.contains(['/', ':', '*', ' ']) {
                    bail!(
                        "http.auth {name:?}: hosts entry {host:?} is not a host name (erp.example.com, or *.example.com)"
                    );
                }
            }
            let credential = HttpCredential {
                auth,
                hosts: entry.hosts.iter().map(|h| h.trim().to_string()).collect(),
                allow_http: entry.allow_http,
            };
            if named.insert(name.to_string(), credential).is_some() {
                bail!("http.auth: the name {name:?} is used twice");
            }
        }
        Ok(HttpSettings {
            credentials: named,
            allow_local: self.allow_local,
        })
    }
}
