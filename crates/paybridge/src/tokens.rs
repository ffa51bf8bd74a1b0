//! `paybridge tokens create|list|revoke`: the admin API's tokens (see
//! [`paybridge_engine::tokens`]). A token is printed once, when it is made.

use std::path::Path;

use paybridge_engine::tokens::{Role, TokenInfo, Tokens};
use paybridge_store::Clock;
use secrecy::ExposeSecret as _;

/// `paybridge tokens …`.
#[derive(Debug, Clone)]
pub enum TokensCommand {
    Create { name: String, role: Role },
    List { json: bool },
    Revoke { id: String },
}

/// Runs a tokens command; returns what to print.
pub async fn run(config: &Path, command: TokensCommand) -> anyhow::Result<String> {
    let store = crate::config::FileConfig::load(config)?
        .open_store()
        .await?;
    let tokens = Tokens::new(store.clone(), Clock::new());
    let result = match command {
        TokensCommand::Create { name, role } => {
            tokens.create(&name, role).await.map(|(info, secret)| {
                format!(
                    "created {role} token {:?} (id {}). It is shown this once; send it as \
                     `Authorization: Bearer <token>`:\n\n{}\n",
                    info.name,
                    info.id,
                    secret.expose_secret()
                )
            })
        }
        TokensCommand::List { json } => tokens.list().await.map(|list| {
            if json {
                format!(
                    "{}\n",
                    serde_json::to_string_pretty(&list).expect("token infos serialize")
                )
            } else {
                table(&list)
            }
        }),
        TokensCommand::Revoke { id } => tokens
            .revoke(&id)
            .await
            .map(|()| format!("revoked token {id}\n")),
    };
    store.close().await;
    Ok(result?)
}

fn table(tokens: &[TokenInfo]) -> String {
    if tokens.is_empty() {
        return "no tokens: paybridge tokens create --name NAME --role viewer|operator|admin\n"
            .into();
    }
    let width = tokens
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = format!("{:12}  {:width$}  {:8}  STATE\n", "ID", "NAME", "ROLE");
    for token in tokens {
        let state = match (token.revoked_ms, token.last_used_ms) {
            (Some(at), _) => format!("revoked {}", crate::secrets::format_ms(at)),
            (None, Some(at)) => format!("last used {}", crate::secrets::format_ms(at)),
            (None, None) => "never used".into(),
        };
        out.push_str(&format!(
            "{:12}  {:width$}  {:8}  {state}\n",
            token.id,
            token.name,
            token.role.as_str()
        ));
    }
    out
}
