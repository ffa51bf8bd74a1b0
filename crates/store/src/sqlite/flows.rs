//! Flow versions (their texts, once) and what each environment runs. (sqlite)

use super::{SqliteStore, all, atomic, execute, one, scalar};
use crate::error::StoreError;
use crate::flows::{DeploymentRecord, FlowStore, FlowVersionRecord};
use crate::rows::{deployment_from_row, flow_version_from_row};
use rusqlite::params;

impl FlowStore for SqliteStore {
    async fn deploy_flow(
        &self,
        env: &str,
        version: &FlowVersionRecord,
        note: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (env, version, note) = (env.to_owned(), version.clone(), note.map(str::to_owned));
        self.write(move |conn| {
            atomic(conn, |conn| {
                execute(
                    conn,
                    "INSERT OR IGNORE INTO flow_versions (name, version, text, origin, recorded_ms)
                     VALUES (?, ?, ?, ?, ?)",
                    params![version.name, version.version, version.text, version.origin, now],
                )?;
                let current: Option<String> = scalar(
                    conn,
                    "SELECT version FROM flow_deployments WHERE env = ? AND name = ? ORDER BY id DESC LIMIT 1",
                    params![env, version.name],
                )?;
                if current.as_deref() == Some(version.version.as_str()) {
                    return Ok(false);
                }
                execute(
                    conn,
                    "INSERT INTO flow_deployments (env, name, version, deployed_ms, note) VALUES (?, ?, ?, ?, ?)",
                    params![env, version.name, version.version, now, note],
                )?;
                Ok(true)
            })
        })
        .await
    }

    async fn record_flow_version(&self, version: &FlowVersionRecord) -> Result<(), StoreError> {
        let version = version.clone();
        self.write(move |conn| {
            execute(
                conn,
                "INSERT OR IGNORE INTO flow_versions (name, version, text, origin, recorded_ms)
                 VALUES (?, ?, ?, ?, ?)",
                params![
                    version.name,
                    version.version,
                    version.text,
                    version.origin,
                    version.recorded_ms
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn deployments(&self, env: &str) -> Result<Vec<DeploymentRecord>, StoreError> {
        self.read(|conn| {
            all(
                conn,
                "SELECT env, name, version, deployed_ms, note FROM flow_deployments d
                 WHERE env = ? AND id = (SELECT MAX(id) FROM flow_deployments e WHERE e.env = d.env AND e.name = d.name)
                 ORDER BY name",
                [env],
                |row| deployment_from_row(row),
            )
        })
    }

    async fn deployment_history(&self, name: &str) -> Result<Vec<DeploymentRecord>, StoreError> {
        self.read(|conn| {
            all(
                conn,
                "SELECT env, name, version, deployed_ms, note FROM flow_deployments WHERE name = ? ORDER BY id DESC",
                [name],
                |row| deployment_from_row(row),
            )
        })
    }

    async fn flow_version(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Option<FlowVersionRecord>, StoreError> {
        self.read(|conn| {
            one(
                conn,
                "SELECT name, version, text, origin, recorded_ms FROM flow_versions WHERE name = ? AND version = ?",
                [name, version],
                |row| flow_version_from_row(row),
            )
        })
    }
}
