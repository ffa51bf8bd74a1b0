//! Who may do what: admin API tokens, console sessions, the vault's sealed secrets and the connections' settings. (sqlite)

use super::{SqliteStore, all, atomic, execute, one, scalar};
use crate::auth::{AuthStore, ConnectionRecord, ConsoleSession, SealedSecret, TokenRecord};
use crate::error::StoreError;
use crate::rows::{connection_from_row, sealed_from_row, session_from_row, token_from_row};
use rusqlite::params;

impl AuthStore for SqliteStore {
    async fn open_session(
        &self,
        session: &ConsoleSession,
        expired_before_ms: i64,
    ) -> Result<(), StoreError> {
        let session = session.clone();
        self.write(move |conn| {
            atomic(conn, |conn| {
                execute(
                    conn,
                    "DELETE FROM console_sessions WHERE last_seen_ms < ?",
                    [expired_before_ms],
                )?;
                execute(
                    conn,
                    "INSERT INTO console_sessions (id_hash, token_id, csrf, last_seen_ms) VALUES (?, ?, ?, ?)",
                    params![session.id_hash, session.token_id, session.csrf, session.last_seen_ms],
                )?;
                Ok(())
            })
        })
        .await
    }

    async fn session(&self, id_hash: &str) -> Result<Option<ConsoleSession>, StoreError> {
        self.read(|conn| {
            one(
                conn,
                "SELECT id_hash, token_id, csrf, last_seen_ms FROM console_sessions WHERE id_hash = ?",
                [id_hash],
                |row| session_from_row(row),
            )
        })
    }

    async fn touch_session(&self, id_hash: &str, now_ms: i64) -> Result<(), StoreError> {
        let id_hash = id_hash.to_owned();
        self.write(move |conn| {
            execute(
                conn,
                "UPDATE console_sessions SET last_seen_ms = ? WHERE id_hash = ?",
                params![now_ms, id_hash],
            )?;
            Ok(())
        })
        .await
    }

    async fn close_session(&self, id_hash: &str) -> Result<(), StoreError> {
        let id_hash = id_hash.to_owned();
        self.write(move |conn| {
            execute(
                conn,
                "DELETE FROM console_sessions WHERE id_hash = ?",
                [id_hash],
            )?;
            Ok(())
        })
        .await
    }

    async fn vault_put(&self, secret: &SealedSecret, now: i64) -> Result<(), StoreError> {
        let secret = secret.clone();
        self.write(move |conn| {
            execute(
                conn,
                "INSERT INTO vault_secrets (name, key_id, wrapped_key, sealed, created_ms, updated_ms)
                 VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT (name) DO UPDATE SET key_id = excluded.key_id,
                     wrapped_key = excluded.wrapped_key, sealed = excluded.sealed,
                     updated_ms = excluded.updated_ms",
                params![
                    secret.name,
                    secret.key_id,
                    secret.wrapped_key,
                    secret.sealed,
                    now,
                    now
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn vault_get(&self, name: &str) -> Result<Option<SealedSecret>, StoreError> {
        self.read(|conn| {
            one(
                conn,
                "SELECT name, key_id, wrapped_key, sealed, created_ms, updated_ms FROM vault_secrets WHERE name = ?",
                [name],
                |row| sealed_from_row(row),
            )
        })
    }

    async fn vault_all(&self) -> Result<Vec<SealedSecret>, StoreError> {
        self.read(|conn| {
            all(
                conn,
                "SELECT name, key_id, wrapped_key, sealed, created_ms, updated_ms FROM vault_secrets ORDER BY name",
                [],
                |row| sealed_from_row(row),
            )
        })
    }

    async fn vault_rewrap(
        &self,
        name: &str,
        old_key_id: &str,
        new_key_id: &str,
        wrapped_key: &[u8],
        now: i64,
    ) -> Result<bool, StoreError> {
        let (name, old_key_id, new_key_id, wrapped_key) = (
            name.to_owned(),
            old_key_id.to_owned(),
            new_key_id.to_owned(),
            wrapped_key.to_vec(),
        );
        self.write(move |conn| {
            let changed = execute(
                conn,
                "UPDATE vault_secrets SET key_id = ?, wrapped_key = ?, updated_ms = ?
                 WHERE name = ? AND key_id = ?",
                params![new_key_id, wrapped_key, now, name, old_key_id],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    async fn vault_delete(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.write(move |conn| {
            Ok(execute(conn, "DELETE FROM vault_secrets WHERE name = ?", [name])? == 1)
        })
        .await
    }

    async fn vault_meta_or_insert(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        let (name, value) = (name.to_owned(), value.to_vec());
        self.write(move |conn| {
            execute(
                conn,
                "INSERT INTO vault_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                params![name, value],
            )?;
            scalar(conn, "SELECT value FROM vault_meta WHERE name = ?", [&name])?
                .ok_or_else(|| StoreError::Corrupt(format!("vault meta {name:?} vanished")))
        })
        .await
    }

    async fn put_connection(&self, connection: &ConnectionRecord) -> Result<(), StoreError> {
        let (name, vendor, settings, updated_ms) = (
            connection.name.clone(),
            connection.vendor.clone(),
            connection.settings.to_string(),
            connection.updated_ms,
        );
        self.write(move |conn| {
            execute(
                conn,
                "INSERT INTO connections (name, vendor, settings, updated_ms) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (name) DO UPDATE SET vendor = excluded.vendor, \
                 settings = excluded.settings, updated_ms = excluded.updated_ms",
                params![name, vendor, settings, updated_ms],
            )?;
            Ok(())
        })
        .await
    }

    async fn delete_connection(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.write(move |conn| {
            Ok(execute(conn, "DELETE FROM connections WHERE name = ?", [name])? == 1)
        })
        .await
    }

    async fn connection(&self, name: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        self.read(|conn| {
            one(
                conn,
                "SELECT name, vendor, settings, updated_ms FROM connections WHERE name = ?",
                [name],
                |row| connection_from_row(row),
            )
        })
    }

    async fn put_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        let token = token.clone();
        self.write(move |conn| {
            execute(
                conn,
                "INSERT INTO api_tokens (id, name, role, secret_hash, created_ms) VALUES (?, ?, ?, ?, ?)",
                params![token.id, token.name, token.role, token.secret_hash, token.created_ms],
            )?;
            Ok(())
        })
        .await
    }

    async fn token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.read(|conn| {
            one(
                conn,
                "SELECT id, name, role, secret_hash, created_ms, last_used_ms, revoked_ms \
                 FROM api_tokens WHERE id = ?",
                [id],
                |row| token_from_row(row),
            )
        })
    }

    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.read(|conn| {
            all(
                conn,
                "SELECT id, name, role, secret_hash, created_ms, last_used_ms, revoked_ms \
                 FROM api_tokens ORDER BY created_ms, id",
                [],
                |row| token_from_row(row),
            )
        })
    }

    async fn touch_token(&self, id: &str, now: i64) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.write(move |conn| {
            execute(
                conn,
                "UPDATE api_tokens SET last_used_ms = ? WHERE id = ?",
                params![now, id],
            )?;
            Ok(())
        })
        .await
    }

    async fn revoke_token(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.write(move |conn| {
            Ok(execute(
                conn,
                "UPDATE api_tokens SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL",
                params![now, id],
            )? == 1)
        })
        .await
    }
}
