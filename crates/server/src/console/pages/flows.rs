//! Flows: the list, one flow drawn with its mappings, the mapping editor's preview, deploy and promote.

use super::super::graph;
use crate::AppState;
use crate::admin::flows::{DiffQuery, FieldEdit, FlowProblem};
use askama::Template;
use axum::Json;
use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use paybridge_engine::tokens::Role;
use paybridge_flows::preview::StepPreview;
use paybridge_flows::view::FlowView;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Chrome, Notice, SignedIn, acting, api_failure, back_with, chrome, render, time};

// ---- flows ----
pub struct FlowCard {
    pub name: String,
    pub description: String,
    pub version: String,
    pub origin: String,
    pub trigger: String,
    pub steps: usize,
}

#[derive(Template)]
#[template(path = "flows.html")]
pub(crate) struct FlowsPage {
    chrome: Chrome,
    env: Option<String>,
    flows: Vec<FlowCard>,
}

pub async fn flows(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    Query(n): Query<Notice>,
) -> Response {
    let flows = state
        .engine
        .flows()
        .iter()
        .map(|f| FlowCard {
            name: f.name.clone(),
            description: f.description.clone().unwrap_or_default(),
            version: f.version.clone(),
            origin: f.origin.clone(),
            trigger: format!("{} {}", f.source.inbox_source(), f.events.join(", ")),
            steps: f.steps.len(),
        })
        .collect();
    render(&FlowsPage {
        chrome: chrome(&session, "flows", n.notice),
        env: state.engine.flows_env().map(str::to_string),
        flows,
    })
}

pub struct Deployment {
    pub env: String,
    pub version: String,
    pub when: String,
    pub note: String,
}

#[derive(Template)]
#[template(path = "flow.html")]
pub(crate) struct FlowPage {
    chrome: Chrome,
    flow: FlowView,
    graph: String,
    sample: String,
    env: String,
    history: Vec<Deployment>,
    diff_env: Option<String>,
    diff: Option<String>,
}

#[derive(Deserialize)]
pub struct FlowQuery {
    diff: Option<String>,
    notice: Option<String>,
}

pub(crate) const SAMPLE_ORDER: &str =
    include_str!("../../../../../flows/samples/order-approved.json");

pub async fn flow(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    Path(name): Path<String>,
    Query(query): Query<FlowQuery>,
) -> Response {
    let running = match crate::admin::flows::running(&state, &name) {
        Ok(f) => f,
        Err(e) => return api_failure(e),
    };
    let view = FlowView::of(&running);
    let history = match state.engine.deployments().history(&name).await {
        Ok(h) => h
            .into_iter()
            .map(|d| Deployment {
                env: d.env,
                version: d.version,
                when: time(d.deployed_ms),
                note: d.note.unwrap_or_default(),
            })
            .collect(),
        Err(e) => return api_failure(e.into()),
    };
    let diff = match &query.diff {
        Some(env) if !env.trim().is_empty() => {
            let q = DiffQuery {
                env: Some(env.trim().to_string()),
                from: None,
                to: None,
            };
            match crate::admin::flows::flow_diff(&state, &name, &q).await {
                Ok(d) if d.diff.is_empty() => Some(format!("{} runs this version.", env.trim())),
                Ok(d) => Some(d.diff),
                Err(e) => Some(e.message),
            }
        }
        _ => None,
    };
    let sample = if view.trigger_source == "order-api" {
        SAMPLE_ORDER.to_string()
    } else {
        "{}".to_string()
    };
    render(&FlowPage {
        chrome: chrome(&session, "flows", query.notice),
        graph: graph::draw(&view),
        flow: view,
        sample,
        env: state.engine.flows_env().unwrap_or("dev").to_string(),
        history,
        diff_env: query.diff.clone(),
        diff,
    })
}

#[derive(Deserialize)]
pub struct PreviewRequest {
    /// Field edits, applied in order over the running text.
    #[serde(default)]
    edits: Vec<FieldEditLite>,
    /// The sample event's text (JSON).
    sample: String,
}

#[derive(Deserialize)]
pub struct FieldEditLite {
    step: String,
    field: String,
    expression: String,
}

#[derive(Serialize)]
pub struct PreviewAnswer {
    ok: bool,
    text: String,
    version: Option<String>,
    problems: Vec<FlowProblem>,
    /// A field the editor cannot change in place, or a sample that is not JSON.
    error: Option<String>,
    steps: Vec<StepPreview>,
}

/// The mapping editor's live preview: the edits applied to the flow's text (checked), and the
/// flow run on paper over the sample. Writes nothing.
pub async fn preview(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = acting(&state, &headers, None, Role::Viewer).await {
        return r;
    }
    let request: PreviewRequest = match crate::admin::json_body(&body, None) {
        Ok(request) => request,
        Err(e) => return e.into_response(),
    };
    let running = match crate::admin::flows::running(&state, &name) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let mut answer = PreviewAnswer {
        ok: true,
        text: running.text.to_string(),
        version: Some(running.version.clone()),
        problems: Vec::new(),
        error: None,
        steps: Vec::new(),
    };
    for edit in &request.edits {
        let field = FieldEdit {
            step: edit.step.clone(),
            field: edit.field.clone(),
            expression: edit.expression.clone(),
            text: Some(answer.text.clone()),
        };
        match crate::admin::flows::edit_text(&state, &name, &field) {
            Ok(edited) => {
                answer.text = edited.text;
                answer.version = edited.version;
                answer.ok = edited.ok;
                answer.problems.extend(edited.problems);
            }
            Err(e) => {
                answer.ok = false;
                answer.error = Some(e.message);
                return Json(answer).into_response();
            }
        }
    }
    if !answer.ok {
        answer.version = None;
        return Json(answer).into_response();
    }
    let event: Value = match serde_json::from_str(&request.sample) {
        Ok(v) => v,
        Err(e) => {
            answer.error = Some(format!("the sample event is not JSON: {e}"));
            return Json(answer).into_response();
        }
    };
    match crate::admin::flows::try_flow(
        &state,
        &name,
        Some(&answer.text),
        &event,
        Default::default(),
    ) {
        Ok(Ok(preview)) => {
            answer.ok = preview.ok;
            answer.steps = preview.steps;
        }
        Ok(Err(validation)) => {
            answer.ok = false;
            answer.problems = validation.problems;
        }
        Err(e) => answer.error = Some(e.message),
    }
    Json(answer).into_response()
}

#[derive(Deserialize)]
pub struct DeployForm {
    csrf: Option<String>,
    env: String,
    text: String,
    note: Option<String>,
}

pub async fn deploy(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<DeployForm>,
) -> Response {
    let session = match acting(&state, &headers, form.csrf.as_deref(), Role::Admin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let note = form
        .note
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| format!("deployed from the console by {}", session.token.name));
    let back = format!("/console/flows/{name}");
    match crate::admin::flows::deploy_texts(&state, form.env.trim(), &[form.text], Some(&note))
        .await
    {
        Ok(Ok(report)) => {
            let changed: Vec<String> = report
                .flows
                .iter()
                .filter(|d| d.changed)
                .map(|d| format!("{} → {}", d.name, d.to))
                .collect();
            let mut notice = if changed.is_empty() {
                format!("{} already runs this version.", report.env)
            } else {
                format!("Deployed to {}: {}.", report.env, changed.join(", "))
            };
            if report.live_here {
                notice.push_str(" This node runs it now.");
            }
            back_with(&back, &notice)
        }
        Ok(Err(validation)) => {
            let problems: Vec<String> =
                validation.problems.iter().map(|p| p.text.clone()).collect();
            back_with(&back, &format!("Nothing deployed: {}", problems.join("; ")))
        }
        Err(e) => back_with(&back, &e.message),
    }
}

#[derive(Deserialize)]
pub struct PromoteForm {
    csrf: Option<String>,
    from: String,
    to: String,
    flow: Option<String>,
}

pub async fn promote(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<PromoteForm>,
) -> Response {
    if let Err(r) = acting(&state, &headers, form.csrf.as_deref(), Role::Admin).await {
        return r;
    }
    let request = crate::admin::flows::PromoteRequest {
        from: form.from,
        to: form.to,
        flow: form.flow.filter(|f| !f.trim().is_empty()),
    };
    match crate::admin::flows::promote_envs(&state, &request).await {
        Ok(report) => {
            let changed = report.flows.iter().filter(|d| d.changed).count();
            back_with(
                "/console/flows",
                &format!(
                    "Promoted {} flow(s) from {} to {} ({changed} changed).",
                    report.flows.len(),
                    request.from.trim(),
                    report.env
                ),
            )
        }
        Err(e) => back_with("/console/flows", &e.message),
    }
}
