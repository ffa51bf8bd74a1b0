//! Refunds of a payment or of a capture (partial or full, up to what was captured), and
//! stand-alone credits (`/pts/v2/payments/{id}/refunds`, `/pts/v2/captures/{id}/refunds`,
//! `/pts/v2/credits`).

use serde::Serialize;

use crate::captures::AmountOnly;
use crate::client::{Client, segment};
use crate::error::Error;
use crate::followon::FollowOnResponse;
use crate::payments::{OrderInformation, PaymentInformation};
use crate::wire::ClientReference;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundRequest {
    pub client_reference_information: ClientReference,
    pub order_information: AmountOnly,
}

/// Money to a card without an earlier payment.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreditRequest {
    pub client_reference_information: ClientReference,
    pub payment_information: PaymentInformation,
    pub order_information: OrderInformation,
}

impl Client {
    /// Refunds (part of) a sale or a captured payment.
    pub async fn refund_payment(
        &self,
        payment_id: &str,
        request: &RefundRequest,
    ) -> Result<FollowOnResponse, Error> {
        let path = format!("/pts/v2/payments/{}/refunds", segment(payment_id)?);
        self.follow_on(&path, request).await
    }

    /// Refunds (part of) one capture.
    pub async fn refund_capture(
        &self,
        capture_id: &str,
        request: &RefundRequest,
    ) -> Result<FollowOnResponse, Error> {
        let path = format!("/pts/v2/captures/{}/refunds", segment(capture_id)?);
        self.follow_on(&path, request).await
    }

    pub async fn credit(&self, request: &CreditRequest) -> Result<FollowOnResponse, Error> {
        self.follow_on("/pts/v2/credits", request).await
    }

    pub(crate) async fn follow_on<B: Serialize>(
        &self,
        path: &str,
        request: &B,
    ) -> Result<FollowOnResponse, Error> {
        let (mut response, correlation_id): (FollowOnResponse, _) =
            self.post_json(path, request).await?;
        response.correlation_id = correlation_id;
        Ok(response)
    }
}
