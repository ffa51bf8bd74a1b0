//! Orders a person must decide: those on hold (a review nobody decided in Decision Manager, a
//! partial authorization, an answer from Cybersource that says neither yes nor no), listed and
//! decided — accepted (the payment is captured and the order booked) or rejected (the payment is
//! reversed and the order declined) by the `review-decided` flow, as a Decision Manager decision
//! would.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use paybridge_commerce::cybersource_events::ReviewDecision;
use paybridge_engine::tokens::Role;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ApiError, ErrorBody, authorize, json_body};
use crate::AppState;
use crate::orders::order_json;

pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/v1/admin/orders/held", get(held))
        .route("/api/v1/admin/orders/{id}/review", post(review))
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HeldQuery {
    /// At most this many (1 to 500; 100 if not given).
    pub limit: Option<u32>,
}

/// Orders on hold, longest held first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HeldOrders {
    /// Each as `GET /api/v1/orders/{id}` shows it.
    #[schema(value_type = Vec<Object>)]
    pub orders: Vec<Value>,
}

/// The orders on hold, longest held first.
#[utoipa::path(get, path = "/api/v1/admin/orders/held", tag = "orders", params(HeldQuery),
    responses((status = 200, body = HeldOrders), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn held(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HeldQuery>,
) -> Result<Json<HeldOrders>, ApiError> {
    authorize(&state, &headers, Role::Viewer).await?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request("limit must be 1 to 500"));
    }
    let orders = state.engine.commerce().orders_on_hold(limit).await?;
    Ok(Json(HeldOrders {
        orders: orders.iter().map(order_json).collect(),
    }))
}

/// A person's decision on a held order.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// `accept` or `reject`.
    pub decision: String,
    /// Why, in words (kept with the decision and shown on the review ticket).
    #[serde(default)]
    pub comment: String,
}

/// What was decided.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReviewAnswer {
    pub order: String,
    pub reference: String,
    /// `accept` or `reject`.
    pub decision: String,
    /// The order's status now (`on_hold` until the `review-decided` flow has settled it).
    pub status: String,
}

/// Decides a held order: `accept` captures its payment and books it, `reject` reverses the
/// payment and declines it (the `review-decided` flow). The first decision stands: a second one,
/// or one about an order no longer on hold, is a 409.
#[utoipa::path(post, path = "/api/v1/admin/orders/{id}/review", tag = "orders",
    params(("id" = String, Path, description = "the order's id (ord_…) or reference")),
    request_body = ReviewRequest,
    responses((status = 400, body = ErrorBody, description = "the body is not this route's"), (status = 202, body = ReviewAnswer), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "not on hold, or already decided"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn review(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<ReviewAnswer>), ApiError> {
    let token = authorize(&state, &headers, Role::Operator).await?;
    let request: ReviewRequest = json_body(&body, None)?;
    let accepted = match request.decision.trim().to_ascii_lowercase().as_str() {
        "accept" => true,
        "reject" => false,
        other => {
            return Err(ApiError::bad_request(format!(
                "decision {other:?} is not accept or reject"
            )));
        }
    };
    let commerce = state.engine.commerce();
    let order = commerce
        .find_order(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no order with id or reference {id:?}")))?;
    if order.status != paybridge_model::OrderStatus::OnHold {
        return Err(ApiError::conflict(format!(
            "order {} is {}: only an order on hold can be decided",
            order.reference, order.status
        )));
    }
    let comment = request.comment.trim();
    let decision = ReviewDecision {
        accepted,
        case_id: None,
        comments: if comment.is_empty() {
            format!("decided by {}", token.name)
        } else {
            format!("{comment} (decided by {})", token.name)
        },
    };
    let decided = commerce
        .decide_review(&order, &decision)
        .await
        .map_err(|e| ApiError::unavailable("the decision could not be recorded", &e))?;
    if !decided {
        return Err(ApiError::conflict(format!(
            "order {} was already decided; the first decision stands",
            order.reference
        )));
    }
    state.engine.wake_workers();
    tracing::info!(order = %order.reference, accepted, token = %token.name, "a held order was decided through the admin API");
    Ok((
        StatusCode::ACCEPTED,
        Json(ReviewAnswer {
            order: order.id,
            reference: order.reference,
            decision: if accepted { "accept" } else { "reject" }.into(),
            status: order.status.as_str().into(),
        }),
    ))
}
