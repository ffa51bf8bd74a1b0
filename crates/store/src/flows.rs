//! Flow versions (their texts, once) and what each environment runs.

use std::future::Future;

use crate::error::StoreError;
use serde::Serialize;

/// A flow version as recorded when it was deployed.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FlowVersionRecord {
    pub name: String,
    pub version: String,
    pub text: String,
    pub origin: String,
    pub recorded_ms: i64,
}

/// Which version of a flow an environment runs, since when.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct DeploymentRecord {
    pub env: String,
    pub name: String,
    pub version: String,
    pub deployed_ms: i64,
    pub note: Option<String>,
}

/// Flow versions (their texts, once) and what each environment runs.
pub trait FlowStore: Sync {
    /// Records a flow version (its text, once) and deploys it to `env`, unless `env` runs it
    /// already. Returns whether the deployment changed anything.
    fn deploy_flow(
        &self,
        env: &str,
        version: &FlowVersionRecord,
        note: Option<&str>,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn record_flow_version(
        &self,
        version: &FlowVersionRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// What `env` runs: the newest deployment of each flow.
    fn deployments(
        &self,
        env: &str,
    ) -> impl Future<Output = Result<Vec<DeploymentRecord>, StoreError>> + Send;

    /// Every deployment of a flow to any environment, newest first.
    fn deployment_history(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<DeploymentRecord>, StoreError>> + Send;

    fn flow_version(
        &self,
        name: &str,
        version: &str,
    ) -> impl Future<Output = Result<Option<FlowVersionRecord>, StoreError>> + Send;
}
