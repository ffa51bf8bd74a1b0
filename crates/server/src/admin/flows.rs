//! Flows over the admin API: what this node runs (each flow with its steps and mappings), their
//! versions and differences; checking a flow file, trying it on a sample event, editing one
//! field's mapping (in place, comments kept); deploying to an environment and promoting from
//! one to the next. A deployment to the environment this node follows takes effect at once.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use paybridge_engine::deploy::{self, DeployError, Deployed};
use paybridge_engine::tokens::Role;
use paybridge_flows::definition::{Definition, FlowError, version_of};
use paybridge_flows::edit;
use paybridge_flows::preview::{self, Preview};
use paybridge_flows::view::FlowView;
use paybridge_store::{DeploymentRecord, FlowVersionRecord};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ApiError, ErrorBody, authorize, json_body};
use crate::AppState;

pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/v1/admin/flows", get(list_flows))
        .route("/api/v1/admin/flows/validate", post(validate))
        .route("/api/v1/admin/flows/deploy", post(deploy_flows))
        .route("/api/v1/admin/flows/promote", post(promote))
        .route("/api/v1/admin/flows/deployments", get(deployments))
        .route("/api/v1/admin/flows/{name}", get(show_flow))
        .route("/api/v1/admin/flows/{name}/versions", get(versions))
        .route(
            "/api/v1/admin/flows/{name}/versions/{version}",
            get(version),
        )
        .route("/api/v1/admin/flows/{name}/diff", get(diff))
        .route("/api/v1/admin/flows/{name}/test", post(test))
        .route("/api/v1/admin/flows/{name}/run", post(run_manual))
        .route("/api/v1/admin/flows/{name}/fields", post(edit_field))
}

/// The flows this node runs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FlowList {
    /// The environment whose deployed versions it runs; none: its flow files.
    pub env: Option<String>,
    pub flows: Vec<FlowView>,
}

/// Every flow file this node runs, with its steps and mappings.
#[utoipa::path(get, path = "/api/v1/admin/flows", tag = "flows",
    responses((status = 200, body = FlowList), (status = 401, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn list_flows(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<FlowList>, ApiError> {
    authorize(&state, &headers, Role::Viewer).await?;
    Ok(Json(FlowList {
        env: state.engine.flows_env().map(str::to_string),
        flows: state
            .engine
            .flows()
            .iter()
            .map(|f| FlowView::of(f))
            .collect(),
    }))
}

pub(crate) fn running(
    state: &AppState,
    name: &str,
) -> Result<std::sync::Arc<Definition>, ApiError> {
    state.engine.flows().get(name).cloned().ok_or_else(|| {
        let known: Vec<String> = state
            .engine
            .flows()
            .iter()
            .map(|f| f.name.clone())
            .collect();
        ApiError::not_found(format!(
            "there is no flow {name:?} (there are: {})",
            known.join(", ")
        ))
    })
}

/// One flow as this node runs it.
#[utoipa::path(get, path = "/api/v1/admin/flows/{name}", tag = "flows",
    params(("name" = String, Path, description = "the flow's name")),
    responses((status = 200, body = FlowView), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn show_flow(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<FlowView>, ApiError> {
    authorize(&state, &headers, Role::Viewer).await?;
    Ok(Json(FlowView::of(running(&state, &name)?.as_ref())))
}

/// Where each version of a flow was deployed, newest first.
#[utoipa::path(get, path = "/api/v1/admin/flows/{name}/versions", tag = "flows",
    params(("name" = String, Path, description = "the flow's name")),
    responses((status = 200, body = Vec<DeploymentRecord>), (status = 401, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn versions(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<Vec<DeploymentRecord>>, ApiError> {
    authorize(&state, &headers, Role::Viewer).await?;
    Ok(Json(state.engine.deployments().history(&name).await?))
}

/// One recorded version of a flow, with its text.
#[utoipa::path(get, path = "/api/v1/admin/flows/{name}/versions/{version}", tag = "flows",
    params(("name" = String, Path, description = "the flow's name"), ("version" = String, Path, description = "the version id")),
    responses((status = 200, body = FlowVersionRecord), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn version(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<FlowVersionRecord>, ApiError> {
    authorize(&state, &headers, Role::Viewer).await?;
    state
        .engine
        .deployments()
        .version(&name, &version)
        .await?
        .map(Json)
        .ok_or_else(|| {
            ApiError::not_found(format!("no version {version} of flow {name} is recorded"))
        })
}

/// Which versions to compare: what `env` runs against what this node runs, or two recorded
/// versions (`from`, `to`).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    pub env: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// A unified diff; empty when equal.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FlowDiff {
    pub from: String,
    pub to: String,
    pub diff: String,
}

/// The differences between two versions of a flow.
#[utoipa::path(get, path = "/api/v1/admin/flows/{name}/diff", tag = "flows",
    params(("name" = String, Path, description = "the flow's name"), DiffQuery),
    responses((status = 200, body = FlowDiff), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn diff(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(query): Query<DiffQuery>,
) -> Result<Json<FlowDiff>, ApiError> {
    authorize(&state, &headers, Role::Viewer).await?;
    Ok(Json(flow_diff(&state, &name, &query).await?))
}

pub(crate) async fn flow_diff(
    state: &AppState,
    name: &str,
    query: &DiffQuery,
) -> Result<FlowDiff, ApiError> {
    let deployments = state.engine.deployments();
    let deployments = &deployments;
    let recorded = |version: String| async move {
        deployments.version(name, &version).await?.ok_or_else(|| {
            ApiError::not_found(format!("no version {version} of flow {name} is recorded"))
        })
    };
    let (from_label, old, to_label, new) = match (&query.env, &query.from, &query.to) {
        (Some(env), None, None) => {
            let here = running(state, name)?;
            let deployed = deployments.of_env(env).await?;
            let old = match deployed.iter().find(|d| d.name == name) {
                Some(d) => recorded(d.version.clone()).await?.text,
                None => String::new(),
            };
            let label = deployed
                .iter()
                .find(|d| d.name == name)
                .map(|d| format!("{env}: {name} {}", d.version))
                .unwrap_or_else(|| format!("{env}: (not deployed)"));
            (
                label,
                old,
                format!("running: {name} {}", here.version),
                here.text.to_string(),
            )
        }
        (None, Some(from), Some(to)) => {
            let old = recorded(from.clone()).await?.text;
            let new = recorded(to.clone()).await?.text;
            (format!("{name} {from}"), old, format!("{name} {to}"), new)
        }
        _ => {
            return Err(ApiError::bad_request(
                "give either env (what it runs against this node) or both from and to (two versions)",
            ));
        }
    };
    Ok(FlowDiff {
        diff: deploy::diff(&from_label, &old, &to_label, &new),
        from: from_label,
        to: to_label,
    })
}

/// A problem in a flow file.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FlowProblem {
    pub line: Option<usize>,
    pub step: Option<String>,
    pub field: Option<String>,
    pub message: String,
    /// `file:line: step, field: message`.
    pub text: String,
}

pub(crate) fn problems(errors: &[FlowError]) -> Vec<FlowProblem> {
    errors
        .iter()
        .map(|e| FlowProblem {
            line: e.line,
            step: e.step.clone(),
            field: e.field.clone(),
            message: e.message.clone(),
            text: e.to_string(),
        })
        .collect()
}

/// A flow file to check.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateRequest {
    /// The file's text (YAML).
    pub text: String,
}

/// Whether a flow file compiles, and every problem if not.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Validation {
    pub ok: bool,
    pub name: Option<String>,
    pub version: Option<String>,
    pub problems: Vec<FlowProblem>,
}

fn validation(state: &AppState, text: &str) -> Validation {
    match state.engine.compile("console", text) {
        Ok(flow) => Validation {
            ok: true,
            name: Some(flow.name),
            version: Some(flow.version),
            problems: Vec::new(),
        },
        Err(errors) => Validation {
            ok: false,
            name: None,
            version: None,
            problems: problems(&errors),
        },
    }
}

/// Checks a flow file: every problem with its line, step and field.
#[utoipa::path(post, path = "/api/v1/admin/flows/validate", tag = "flows", request_body = ValidateRequest,
    responses((status = 400, body = ErrorBody, description = "the body is not this route's"), (status = 200, body = Validation), (status = 401, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn validate(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Validation>, ApiError> {
    authorize(&state, &headers, Role::Viewer).await?;
    let request: ValidateRequest = json_body(&body, None)?;
    Ok(Json(validation(&state, &request.text)))
}

/// An event to start a manual flow on.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// The run's `event`: any JSON object (never a card number).
    pub event: Value,
    /// Starts the flow once per key, however often it is asked.
    pub key: String,
}

/// A manual flow started (or started before with this key).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Started {
    /// `None` when the key was used so long ago that its event was pruned.
    pub event_id: Option<i64>,
    /// The key was used before: nothing new was started.
    pub duplicate: bool,
}

/// Starts a flow whose trigger is `manual` on an event, once per key; a worker runs it.
#[utoipa::path(post, path = "/api/v1/admin/flows/{name}/run", tag = "flows",
    params(("name" = String, Path, description = "the flow's name")),
    request_body = RunRequest,
    responses((status = 202, body = Started), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the flow is not started by hand"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn run_manual(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Started>), ApiError> {
    use paybridge_engine::ManualError;
    authorize(&state, &headers, Role::Operator).await?;
    let request: RunRequest = json_body(&body, None)?;
    match state
        .engine
        .start_manual(&name, &request.key, request.event)
        .await
    {
        Ok(accepted) => Ok((
            StatusCode::ACCEPTED,
            Json(Started {
                event_id: accepted.event_id,
                duplicate: accepted.duplicate,
            }),
        )),
        Err(e @ ManualError::NoFlow(_)) => Err(ApiError::not_found(e.to_string())),
        Err(e @ ManualError::NotManual(_)) => Err(ApiError::conflict(e.to_string())),
        Err(e @ ManualError::Event(_)) => Err(ApiError::bad_request(e.to_string())),
        Err(ManualError::Store(e)) => Err(e.into()),
    }
}

/// A flow run on paper over a sample event.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    /// The event as the flow sees it (`event`): for order flows, `{"order": {…}, "payment": {…}}`.
    pub event: Value,
    /// Sample outputs of effect steps, by step name, instead of placeholders.
    #[serde(default)]
    pub outputs: Option<serde_json::Map<String, Value>>,
    /// An edited text of the flow to try instead of the one running.
    #[serde(default)]
    pub text: Option<String>,
}

/// Every step's conditions and mappings evaluated over a sample event: the request each
/// action would make. Calls nobody, writes nothing. A text that does not compile is a 422
/// with its problems.
#[utoipa::path(post, path = "/api/v1/admin/flows/{name}/test", tag = "flows",
    params(("name" = String, Path, description = "the flow's name")),
    request_body = TestRequest,
    responses((status = 400, body = ErrorBody, description = "the body is not this route's"), (status = 200, body = Preview), (status = 422, body = Validation), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn test(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse as _;
    authorize(&state, &headers, Role::Viewer).await?;
    let request: TestRequest = json_body(&body, None)?;
    match try_flow(
        &state,
        &name,
        request.text.as_deref(),
        &request.event,
        request.outputs.unwrap_or_default(),
    )? {
        Ok(preview) => Ok(Json(preview).into_response()),
        Err(validation) => Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(validation)).into_response()),
    }
}

/// The preview of flow `name` (or of `text`, an edit of it) over `event`.
pub(crate) fn try_flow(
    state: &AppState,
    name: &str,
    text: Option<&str>,
    event: &Value,
    outputs: serde_json::Map<String, Value>,
) -> Result<Result<Preview, Validation>, ApiError> {
    let running = running(state, name)?;
    let flow = match text {
        Some(text) => match state.engine.compile(&running.origin, text) {
            Ok(flow) if flow.name == name => std::sync::Arc::new(flow),
            Ok(flow) => {
                return Err(ApiError::bad_request(format!(
                    "the text is flow {:?}, not {name:?}",
                    flow.name
                )));
            }
            Err(errors) => return Ok(Err(validation_of(&errors))),
        },
        None => running,
    };
    let connectors = &state.engine.connectors();
    let run = preview::run_facts(
        &flow,
        &connectors.connected(),
        connectors.books_currency.code(),
    );
    Ok(Ok(preview::preview(&flow, event, &run, &outputs)))
}

fn validation_of(errors: &[FlowError]) -> Validation {
    Validation {
        ok: false,
        name: None,
        version: None,
        problems: problems(errors),
    }
}

/// A change of one field's mapping.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldEdit {
    pub step: String,
    /// The target field (`amount`, `contact.lastName`).
    pub field: String,
    /// The new expression; empty removes the (optional) field.
    pub expression: String,
    /// The text to edit (an earlier edit not deployed yet); the running flow's when absent.
    #[serde(default)]
    pub text: Option<String>,
}

/// The flow file with the field changed, and its problems if it no longer compiles.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FieldEdited {
    pub text: String,
    pub ok: bool,
    /// The new version, when it compiles.
    pub version: Option<String>,
    pub problems: Vec<FlowProblem>,
}

pub(crate) fn edit_text(
    state: &AppState,
    name: &str,
    request: &FieldEdit,
) -> Result<FieldEdited, ApiError> {
    let running = running(state, name)?;
    let text = request
        .text
        .clone()
        .unwrap_or_else(|| running.text.to_string());
    let edited = edit::set_field(
        &text,
        &running.origin,
        &request.step,
        &request.field,
        &request.expression,
        state.engine.catalogue(),
    )
    .map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_editable",
            e.to_string(),
        )
    })?;
    let ok = edited.problems.is_empty();
    Ok(FieldEdited {
        version: ok.then(|| version_of(&edited.text)),
        ok,
        problems: problems(&edited.problems),
        text: edited.text,
    })
}

/// Changes one field's mapping in the flow's text (the line of that field only: comments and
/// layout are kept) and checks the result. Writes nothing: deploy the text to use it.
#[utoipa::path(post, path = "/api/v1/admin/flows/{name}/fields", tag = "flows",
    params(("name" = String, Path, description = "the flow's name")),
    request_body = FieldEdit,
    responses((status = 400, body = ErrorBody, description = "the body is not this route's"), (status = 200, body = FieldEdited), (status = 422, body = ErrorBody, description = "the field cannot be edited in place"),
        (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn edit_field(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<FieldEdited>, ApiError> {
    authorize(&state, &headers, Role::Viewer).await?;
    let request: FieldEdit = json_body(&body, None)?;
    Ok(Json(edit_text(&state, &name, &request)?))
}

/// What to deploy where.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    /// `dev`, `qa`, `prod`, … (lower-case letters, digits and dashes).
    pub env: String,
    /// Flow files to deploy (each replaces the running flow of its name); none: deploy the
    /// flows this node runs.
    #[serde(default)]
    pub texts: Vec<String>,
    #[serde(default)]
    pub note: Option<String>,
}

/// What a deployment or promotion did, flow by flow.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeployReport {
    pub env: String,
    pub flows: Vec<Deployed>,
    /// Whether this node runs the new versions now (it follows `env`).
    pub live_here: bool,
}

fn deploy_error(e: DeployError) -> ApiError {
    match e {
        DeployError::Store(e) => e.into(),
        DeployError::NothingDeployed(_) | DeployError::NoSuchFlow { .. } => {
            ApiError::not_found(e.to_string())
        }
        other => ApiError::bad_request(other.to_string()),
    }
}

pub(crate) async fn deploy_texts(
    state: &AppState,
    env: &str,
    texts: &[String],
    note: Option<&str>,
) -> Result<Result<DeployReport, Validation>, ApiError> {
    let engine = &state.engine;
    let library = if texts.is_empty() {
        (*engine.flows()).clone()
    } else {
        let mut library = paybridge_flows::Library::empty();
        for text in texts {
            let mut flow = match engine.compile("console", text) {
                Ok(flow) => flow,
                Err(errors) => return Ok(Err(validation_of(&errors))),
            };
            // A new version of a running flow keeps where that one came from.
            flow.origin = engine
                .flows()
                .get(&flow.name)
                .map(|f| f.origin.clone())
                .unwrap_or_else(|| format!("console:{}", flow.name));
            library.insert(flow);
        }
        library
    };
    let flows = engine
        .deployments()
        .deploy(env, &library, note)
        .await
        .map_err(deploy_error)?;
    Ok(Ok(DeployReport {
        env: env.to_string(),
        live_here: reload_if_followed(state, env).await,
        flows,
    }))
}

async fn reload_if_followed(state: &AppState, env: &str) -> bool {
    if state.engine.flows_env() != Some(env) {
        return false;
    }
    match state.engine.reload_flows().await {
        Ok(_) => true,
        Err(e) => {
            tracing::error!(error = %e, %env, "deployed, but this node could not load the new versions");
            false
        }
    }
}

/// Deploys flow files (or what this node runs) to an environment. A text that does not compile
/// deploys nothing (422 with its problems).
#[utoipa::path(post, path = "/api/v1/admin/flows/deploy", tag = "flows", request_body = DeployRequest,
    responses((status = 200, body = DeployReport), (status = 422, body = Validation), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn deploy_flows(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse as _;
    let token = authorize(&state, &headers, Role::Admin).await?;
    let request: DeployRequest = json_body(&body, None)?;
    let note = request
        .note
        .clone()
        .unwrap_or_else(|| format!("deployed by {}", token.name));
    Ok(
        match deploy_texts(&state, request.env.trim(), &request.texts, Some(&note)).await? {
            Ok(report) => Json(report).into_response(),
            Err(validation) => (StatusCode::UNPROCESSABLE_ENTITY, Json(validation)).into_response(),
        },
    )
}

/// From which environment to which.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromoteRequest {
    pub from: String,
    pub to: String,
    /// Only this flow; all when absent.
    #[serde(default)]
    pub flow: Option<String>,
}

pub(crate) async fn promote_envs(
    state: &AppState,
    request: &PromoteRequest,
) -> Result<DeployReport, ApiError> {
    let engine = &state.engine;
    let flows = engine
        .deployments()
        .promote(
            request.from.trim(),
            request.to.trim(),
            request.flow.as_deref(),
        )
        .await
        .map_err(deploy_error)?;
    Ok(DeployReport {
        env: request.to.trim().to_string(),
        live_here: reload_if_followed(state, request.to.trim()).await,
        flows,
    })
}

/// Deploys to one environment the versions another runs (a version tested in `qa` goes to
/// `prod` as it is).
#[utoipa::path(post, path = "/api/v1/admin/flows/promote", tag = "flows", request_body = PromoteRequest,
    responses((status = 200, body = DeployReport), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn promote(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<DeployReport>, ApiError> {
    authorize(&state, &headers, Role::Admin).await?;
    let request: PromoteRequest = json_body(&body, None)?;
    Ok(Json(promote_envs(&state, &request).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeploymentsQuery {
    /// The environment (`dev`, `qa`, `prod`, …).
    pub env: String,
}

/// Which version of each flow an environment runs.
#[utoipa::path(get, path = "/api/v1/admin/flows/deployments", tag = "flows", params(DeploymentsQuery),
    responses((status = 200, body = Vec<DeploymentRecord>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn deployments(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<DeploymentsQuery>,
) -> Result<Json<Vec<DeploymentRecord>>, ApiError> {
    authorize(&state, &headers, Role::Viewer).await?;
    Ok(Json(
        state.engine.deployments().of_env(query.env.trim()).await?,
    ))
}
