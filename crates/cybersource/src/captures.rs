//! Captures of an authorization: partial and multiple, up to the authorized amount
//! (`POST /pts/v2/payments/{id}/captures`).

use serde::Serialize;

use crate::client::{Client, segment};
use crate::error::Error;
use crate::followon::FollowOnResponse;
use crate::payments::AmountDetails;
use crate::wire::ClientReference;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CaptureRequest {
    pub client_reference_information: ClientReference,
    pub order_information: AmountOnly,
}

/// `orderInformation` with just the amount.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AmountOnly {
    pub amount_details: AmountDetails,
}

impl Client {
    /// Captures (part of) an authorization; the answer's status is `PENDING` until settlement.
    pub async fn capture(
        &self,
        payment_id: &str,
        request: &CaptureRequest,
    ) -> Result<FollowOnResponse, Error> {
        let path = format!("/pts/v2/payments/{}/captures", segment(payment_id)?);
        let (mut response, correlation_id): (FollowOnResponse, _) =
            self.post_json(&path, request).await?;
        response.correlation_id = correlation_id;
        Ok(response)
    }
}
