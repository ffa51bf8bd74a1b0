//! Flow versions (their texts, once) and what each environment runs. (postgres)

use super::PostgresStore;
use crate::error::StoreError;
use crate::flows::{DeploymentRecord, FlowStore, FlowVersionRecord};
use crate::rows::{deployment_from_row, flow_version_from_row};

impl FlowStore for PostgresStore {
    async fn deploy_flow(
        &self,
        env: &str,
        version: &FlowVersionRecord,
        note: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO flow_versions (name, version, text, origin, recorded_ms)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(&version.name)
        .bind(&version.version)
        .bind(&version.text)
        .bind(&version.origin)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let current: Option<String> = sqlx::query_scalar(
            "SELECT version FROM flow_deployments WHERE env = $1 AND name = $2 ORDER BY id DESC LIMIT 1",
        )
        .bind(env)
        .bind(&version.name)
        .fetch_optional(&mut *tx)
        .await?;
        if current.as_deref() == Some(version.version.as_str()) {
            tx.commit().await?;
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO flow_deployments (env, name, version, deployed_ms, note) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(env)
        .bind(&version.name)
        .bind(&version.version)
        .bind(now)
        .bind(note)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn record_flow_version(&self, version: &FlowVersionRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO flow_versions (name, version, text, origin, recorded_ms)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(&version.name)
        .bind(&version.version)
        .bind(&version.text)
        .bind(&version.origin)
        .bind(version.recorded_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn deployments(&self, env: &str) -> Result<Vec<DeploymentRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT env, name, version, deployed_ms, note FROM flow_deployments d
             WHERE env = $1 AND id = (SELECT MAX(id) FROM flow_deployments e WHERE e.env = d.env AND e.name = d.name)
             ORDER BY name",
        )
        .bind(env)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(deployment_from_row).collect()
    }

    async fn deployment_history(&self, name: &str) -> Result<Vec<DeploymentRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT env, name, version, deployed_ms, note FROM flow_deployments WHERE name = $1 ORDER BY id DESC",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(deployment_from_row).collect()
    }

    async fn flow_version(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Option<FlowVersionRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT name, version, text, origin, recorded_ms FROM flow_versions WHERE name = $1 AND version = $2",
        )
        .bind(name)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(flow_version_from_row).transpose()
    }
}
