//! The admin API's OpenAPI document, served at `/openapi.json` (a viewer token, like every admin
//! route). Generated from the handlers' own annotations, so it cannot drift from the routes; a
//! snapshot test keeps changes to it deliberate.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use paybridge_engine::tokens::Role;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::AppState;
use crate::admin::{self, ApiError, connections, flows, orders, runs};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "paybridge admin API",
        description = "Runs, dead letters, flows, connections, quota use and a metrics summary. \
            Every route needs an API token (`paybridge tokens create --role viewer|operator|admin`) \
            sent as `Authorization: Bearer <token>`: reading needs viewer; replaying, discarding \
            and testing connections operator; deploying, promoting and rotating secrets admin.",
        license(name = "Proprietary")
    ),
    paths(
        admin::whoami, admin::quota, admin::summary,
        runs::list_runs, runs::show_run, runs::list_dead_letters, runs::replay, runs::discard,
        runs::bulk_replay, runs::bulk_discard,
        flows::list_flows, flows::show_flow, flows::versions, flows::version, flows::diff,
        flows::validate, flows::test, flows::run_manual, flows::edit_field, flows::deploy_flows, flows::promote,
        flows::deployments,
        connections::list, connections::test, connections::rotate,
        orders::held, orders::review,
    ),
    modifiers(&BearerToken),
    tags(
        (name = "admin", description = "Who you are, quota use, the summary"),
        (name = "runs", description = "Runs and their step timelines"),
        (name = "dead letters", description = "Runs that failed for good: replay or discard"),
        (name = "flows", description = "Flow files: versions, diff, validate, test, edit, deploy, promote"),
        (name = "connections", description = "Cybersource, Zoho and the storefront"),
        (name = "orders", description = "Orders on hold: list and decide"),
    )
)]
pub struct ApiDoc;

struct BearerToken;

impl utoipa::Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "token",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some("paybridge tokens create --role …"))
                        .build(),
                ),
            );
    }
}

/// The document as JSON.
pub fn document() -> serde_json::Value {
    serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serializes")
}

pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/openapi.json", get(serve))
}

async fn serve(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    admin::authorize(&state, &headers, Role::Viewer).await?;
    Ok(Json(document()))
}
