//! Flow versions in the store: deploying files to an environment (`dev`, `qa`, `prod`, …),
//! promoting what one environment runs to the next, the differences between versions, and the
//! library an environment runs.
//!
//! Every deployed version's text is kept, named by its version (a hash of the text), so that a
//! run can say which version it executed and any two versions can be compared. Each environment
//! has its own connections (its own configuration file and vault entries); the store records
//! which flow versions each one runs.

use similar::TextDiff;

use paybridge_flows::{Catalogue, Definition, FlowError, Library, compile};
use paybridge_store::{
    Clock, DeploymentRecord, FlowStore as _, FlowVersionRecord, Store, StoreError,
};

/// What a deployment did to one flow.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Deployed {
    pub name: String,
    /// The version the environment ran before, if any.
    pub from: Option<String>,
    pub to: String,
    pub changed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("{0:?} is not an environment name: use lower-case letters, digits and dashes")]
    BadEnvironment(String),
    #[error("nothing is deployed to {0}: deploy there first (paybridge flows deploy --env {0})")]
    NothingDeployed(String),
    #[error("{env} does not run a flow named {name}")]
    NoSuchFlow { env: String, name: String },
    #[error("the recorded version {version} of {name} does not compile: {problems}")]
    Broken {
        name: String,
        version: String,
        problems: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn check_env(env: &str) -> Result<(), DeployError> {
    let ok = !env.is_empty()
        && env.len() <= 32
        && env
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(DeployError::BadEnvironment(env.to_string()))
    }
}

/// Flow versions and what each environment runs, for the admin API, the console and the CLI.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Deployments {
    store: Store,
    clock: Clock,
}

impl Deployments {
    pub fn new(store: Store, clock: Clock) -> Deployments {
        Deployments { store, clock }
    }

    /// What `env` runs: the newest deployment of each flow.
    pub async fn of_env(&self, env: &str) -> Result<Vec<DeploymentRecord>, StoreError> {
        self.store.deployments(env).await
    }

    /// Every deployment of flow `name` to any environment, newest first.
    pub async fn history(&self, name: &str) -> Result<Vec<DeploymentRecord>, StoreError> {
        self.store.deployment_history(name).await
    }

    /// A recorded version of a flow, if it is recorded.
    pub async fn version(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Option<FlowVersionRecord>, StoreError> {
        self.store.flow_version(name, version).await
    }

    /// Deploys every flow of `library` to `env`; a flow whose version `env` runs already is left
    /// as it is.
    pub async fn deploy(
        &self,
        env: &str,
        library: &Library,
        note: Option<&str>,
    ) -> Result<Vec<Deployed>, DeployError> {
        let (store, clock) = (&self.store, &self.clock);
        check_env(env)?;
        let current = store.deployments(env).await?;
        let mut done = Vec::new();
        for flow in library.iter() {
            let record = FlowVersionRecord {
                name: flow.name.clone(),
                version: flow.version.clone(),
                text: flow.text.to_string(),
                origin: flow.origin.clone(),
                recorded_ms: clock.now_ms(),
            };
            let changed = store
                .deploy_flow(env, &record, note, clock.now_ms())
                .await?;
            done.push(Deployed {
                name: flow.name.clone(),
                from: current
                    .iter()
                    .find(|d| d.name == flow.name)
                    .map(|d| d.version.clone()),
                to: flow.version.clone(),
                changed,
            });
        }
        Ok(done)
    }

    /// Deploys to `to` the versions `from` runs (all flows, or only `only`): a version is promoted
    /// once it was tested where it runs.
    pub async fn promote(
        &self,
        from: &str,
        to: &str,
        only: Option<&str>,
    ) -> Result<Vec<Deployed>, DeployError> {
        let (store, clock) = (&self.store, &self.clock);
        check_env(from)?;
        check_env(to)?;
        let source = store.deployments(from).await?;
        if source.is_empty() {
            return Err(DeployError::NothingDeployed(from.to_string()));
        }
        if let Some(name) = only
            && !source.iter().any(|d| d.name == name)
        {
            return Err(DeployError::NoSuchFlow {
                env: from.to_string(),
                name: name.to_string(),
            });
        }
        let target = store.deployments(to).await?;
        let mut done = Vec::new();
        for deployment in source
            .iter()
            .filter(|d| only.is_none_or(|name| d.name == name))
        {
            let record = store
                .flow_version(&deployment.name, &deployment.version)
                .await?
                .ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "{} version {} is deployed but not recorded",
                        deployment.name, deployment.version
                    ))
                })?;
            let note = format!("promoted from {from}");
            let changed = store
                .deploy_flow(to, &record, Some(&note), clock.now_ms())
                .await?;
            done.push(Deployed {
                name: deployment.name.clone(),
                from: target
                    .iter()
                    .find(|d| d.name == deployment.name)
                    .map(|d| d.version.clone()),
                to: deployment.version.clone(),
                changed,
            });
        }
        Ok(done)
    }
}

/// What `env` runs: the shipped templates, with every flow deployed there in the version
/// deployed. Refuses an environment nothing was deployed to (a typo would otherwise run the
/// shipped templates silently).
pub async fn library_for(
    store: &Store,
    env: &str,
    catalogue: &Catalogue,
) -> Result<Library, DeployError> {
    check_env(env)?;
    let deployed = store.deployments(env).await?;
    if deployed.is_empty() {
        return Err(DeployError::NothingDeployed(env.to_string()));
    }
    let mut library = Library::shipped(catalogue);
    for deployment in deployed {
        library.insert(compiled(store, &deployment.name, &deployment.version, catalogue).await?);
    }
    Ok(library)
}

/// A recorded version, compiled.
pub async fn compiled(
    store: &Store,
    name: &str,
    version: &str,
    catalogue: &Catalogue,
) -> Result<Definition, DeployError> {
    let record = store
        .flow_version(name, version)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("version {version} of flow {name}")))?;
    compile(&record.origin, &record.text, catalogue).map_err(|errors| DeployError::Broken {
        name: name.to_string(),
        version: version.to_string(),
        problems: errors
            .iter()
            .map(FlowError::to_string)
            .collect::<Vec<_>>()
            .join("; "),
    })
}

/// A unified diff between two versions of a flow file (empty when they are equal).
pub fn diff(old_label: &str, old: &str, new_label: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(old_label, new_label)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_are_unified_and_empty_for_equal_texts() {
        let old = "a\nb\nc\n";
        let new = "a\nB\nc\n";
        let text = diff("prod", old, "flows/x.yaml", new);
        assert!(text.starts_with("--- prod\n+++ flows/x.yaml\n"), "{text}");
        assert!(text.contains("-b\n+B\n"), "{text}");
        assert_eq!(diff("a", old, "b", old), "");
    }

    #[test]
    fn environment_names_are_checked() {
        assert!(check_env("prod").is_ok());
        assert!(check_env("eu-qa2").is_ok());
        assert!(check_env("Prod").is_err());
        assert!(check_env("").is_err());
    }
}
