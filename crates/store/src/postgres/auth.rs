//! Who may do what: admin API tokens, console sessions, the vault's sealed secrets and the connections' settings. (postgres)

use super::PostgresStore;
use crate::auth::{AuthStore, ConnectionRecord, ConsoleSession, SealedSecret, TokenRecord};
use crate::error::StoreError;
use crate::rows::{connection_from_row, sealed_from_row, session_from_row, token_from_row};

impl AuthStore for PostgresStore {
    async fn open_session(
        &self,
        session: &ConsoleSession,
        expired_before_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM console_sessions WHERE last_seen_ms < $1")
            .bind(expired_before_ms)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, token_id, csrf, last_seen_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(&session.id_hash)
        .bind(&session.token_id)
        .bind(&session.csrf)
        .bind(session.last_seen_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session(&self, id_hash: &str) -> Result<Option<ConsoleSession>, StoreError> {
        let row = sqlx::query(
            "SELECT id_hash, token_id, csrf, last_seen_ms FROM console_sessions WHERE id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn touch_session(&self, id_hash: &str, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE console_sessions SET last_seen_ms = $1 WHERE id_hash = $2")
            .bind(now_ms)
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn close_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn vault_put(&self, secret: &SealedSecret, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO vault_secrets (name, key_id, wrapped_key, sealed, created_ms, updated_ms)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (name) DO UPDATE SET key_id = excluded.key_id,
                 wrapped_key = excluded.wrapped_key, sealed = excluded.sealed,
                 updated_ms = excluded.updated_ms",
        )
        .bind(&secret.name)
        .bind(&secret.key_id)
        .bind(&secret.wrapped_key)
        .bind(&secret.sealed)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn vault_get(&self, name: &str) -> Result<Option<SealedSecret>, StoreError> {
        let row = sqlx::query(
            "SELECT name, key_id, wrapped_key, sealed, created_ms, updated_ms FROM vault_secrets WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(sealed_from_row).transpose()
    }

    async fn vault_all(&self) -> Result<Vec<SealedSecret>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, key_id, wrapped_key, sealed, created_ms, updated_ms FROM vault_secrets ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(sealed_from_row).collect()
    }

    async fn vault_rewrap(
        &self,
        name: &str,
        old_key_id: &str,
        new_key_id: &str,
        wrapped_key: &[u8],
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE vault_secrets SET key_id = $1, wrapped_key = $2, updated_ms = $3
             WHERE name = $4 AND key_id = $5",
        )
        .bind(new_key_id)
        .bind(wrapped_key)
        .bind(now)
        .bind(name)
        .bind(old_key_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn vault_delete(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM vault_secrets WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn vault_meta_or_insert(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        sqlx::query(
            "INSERT INTO vault_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(
            sqlx::query_scalar("SELECT value FROM vault_meta WHERE name = $1")
                .bind(name)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn put_connection(&self, connection: &ConnectionRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO connections (name, vendor, settings, updated_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET vendor = excluded.vendor, \
             settings = excluded.settings, updated_ms = excluded.updated_ms",
        )
        .bind(&connection.name)
        .bind(&connection.vendor)
        .bind(connection.settings.to_string())
        .bind(connection.updated_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete_connection(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM connections WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn connection(&self, name: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT name, vendor, settings, updated_ms FROM connections WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(connection_from_row).transpose()
    }

    async fn put_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_tokens (id, name, role, secret_hash, created_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&token.id)
        .bind(&token.name)
        .bind(&token.role)
        .bind(&token.secret_hash)
        .bind(token.created_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, role, secret_hash, created_ms, last_used_ms, revoked_ms \
             FROM api_tokens WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        sqlx::query(
            "SELECT id, name, role, secret_hash, created_ms, last_used_ms, revoked_ms \
             FROM api_tokens ORDER BY created_ms, id",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(token_from_row)
        .collect()
    }

    async fn touch_token(&self, id: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_tokens SET last_used_ms = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn revoke_token(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_ms = $1 WHERE id = $2 AND revoked_ms IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
