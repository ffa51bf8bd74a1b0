//! Admin API tokens with roles: `viewer` reads, `operator` also acts on runs and dead letters,
//! `admin` also changes flows, connections and tokens.
//!
//! A token reads `pb_<id>_<secret>`: the id finds it, the secret (32 random bytes) proves it.
//! Only a SHA-256 of the secret is stored, compared in constant time; a token is shown once,
//! when it is created, and can be revoked.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngExt as _;
use secrecy::SecretString;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use paybridge_store::{AuthStore as _, Clock, Store, StoreError, TokenRecord};

/// What a token may do; each role can do what the ones before it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = TokenError;

    fn from_str(s: &str) -> Result<Role, TokenError> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            other => Err(TokenError::BadRole(other.to_string())),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("a role is viewer, operator or admin, not {0:?}")]
    BadRole(String),
    #[error("a token name is 1 to 64 printable characters")]
    BadName,
    #[error("the token is not valid")]
    Invalid,
    #[error("the token was revoked")]
    Revoked,
    #[error("no token with id {0:?}")]
    Unknown(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A token as listings show it: never its secret.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub created_ms: i64,
    pub last_used_ms: Option<i64>,
    pub revoked_ms: Option<i64>,
}

/// What may be shown of a stored token.
pub fn info(record: TokenRecord) -> Result<TokenInfo, TokenError> {
    Ok(TokenInfo {
        role: record.role.parse()?,
        id: record.id,
        name: record.name,
        created_ms: record.created_ms,
        last_used_ms: record.last_used_ms,
        revoked_ms: record.revoked_ms,
    })
}

fn digest(secret: &str) -> Vec<u8> {
    Sha256::new()
        .chain_update(b"paybridge api token\0")
        .chain_update(secret.as_bytes())
        .finalize()
        .to_vec()
}

/// How long a token's `last_used` may lag (one write a minute per token, not per request).
const TOUCH_EVERY_MS: i64 = 60_000;

/// The tokens in a store.
#[derive(Debug, Clone)]
pub struct Tokens {
    store: Store,
    clock: Clock,
}

impl Tokens {
    pub fn new(store: Store, clock: Clock) -> Tokens {
        Tokens { store, clock }
    }

    /// Makes a token; the returned secret is the only time it is seen.
    pub async fn create(
        &self,
        name: &str,
        role: Role,
    ) -> Result<(TokenInfo, SecretString), TokenError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(TokenError::BadName);
        }
        let id = hex::encode(rand::rng().random::<[u8; 6]>());
        let secret = URL_SAFE_NO_PAD.encode(rand::rng().random::<[u8; 32]>());
        let record = TokenRecord {
            id: id.clone(),
            name: name.to_string(),
            role: role.as_str().to_string(),
            secret_hash: digest(&secret),
            created_ms: self.clock.now_ms(),
            last_used_ms: None,
            revoked_ms: None,
        };
        self.store.put_token(&record).await?;
        tracing::info!(token_id = %id, role = %role, "API token created");
        Ok((
            info(record)?,
            SecretString::from(format!("pb_{id}_{secret}")),
        ))
    }

    /// The token `presented` stands for, if it is valid and not revoked.
    pub async fn verify(&self, presented: &str) -> Result<TokenInfo, TokenError> {
        let (id, secret) = presented
            .strip_prefix("pb_")
            .and_then(|rest| rest.split_once('_'))
            .ok_or(TokenError::Invalid)?;
        if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(TokenError::Invalid);
        }
        let record = self.store.token(id).await?.ok_or(TokenError::Invalid)?;
        if !bool::from(digest(secret).ct_eq(&record.secret_hash)) {
            return Err(TokenError::Invalid);
        }
        if record.revoked_ms.is_some() {
            return Err(TokenError::Revoked);
        }
        let now = self.clock.now_ms();
        if record
            .last_used_ms
            .is_none_or(|used| now - used >= TOUCH_EVERY_MS)
            && let Err(e) = self.store.touch_token(&record.id, now).await
        {
            tracing::warn!(token_id = %record.id, error = %e, "cannot record the token's use");
        }
        info(record)
    }

    /// Token `id`, when it exists and is not revoked.
    pub async fn live(&self, id: &str) -> Result<Option<TokenInfo>, TokenError> {
        match self.store.token(id).await? {
            Some(record) if record.revoked_ms.is_none() => Ok(Some(info(record)?)),
            _ => Ok(None),
        }
    }

    pub async fn list(&self) -> Result<Vec<TokenInfo>, TokenError> {
        self.store.tokens().await?.into_iter().map(info).collect()
    }

    pub async fn revoke(&self, id: &str) -> Result<(), TokenError> {
        if self.store.revoke_token(id, self.clock.now_ms()).await? {
            tracing::info!(token_id = %id, "API token revoked");
            return Ok(());
        }
        match self.store.token(id).await? {
            Some(_) => Err(TokenError::Revoked),
            None => Err(TokenError::Unknown(id.to_string())),
        }
    }
}
