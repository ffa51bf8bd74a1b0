//! Authorization reversals — of an uncaptured authorization — and the timeout reversal that
//! finds its authorization by the merchant transaction id (reference §3.4, §4.3).

use serde::Serialize;

use crate::client::{Client, segment};
use crate::error::Error;
use crate::followon::FollowOnResponse;
use crate::payments::AmountDetails;
use crate::wire::ClientReference;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReversalRequest {
    pub client_reference_information: ClientReference,
    pub reversal_information: ReversalInformation,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReversalInformation {
    /// The authorized amount.
    pub amount_details: AmountDetails,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Client {
    pub async fn reverse_authorization(
        &self,
        payment_id: &str,
        request: &ReversalRequest,
    ) -> Result<FollowOnResponse, Error> {
        let path = format!("/pts/v2/payments/{}/reversals", segment(payment_id)?);
        self.follow_on(&path, request).await
    }

    /// Reverses the authorization sent with `client_reference_information.transaction_id` when
    /// its answer never came. The amount must be the amount that was requested.
    pub async fn timeout_reversal(
        &self,
        request: &ReversalRequest,
    ) -> Result<FollowOnResponse, Error> {
        if request
            .client_reference_information
            .transaction_id
            .is_none()
        {
            return Err(Error::InvalidInput(
                "a timeout reversal needs the original transactionId".into(),
            ));
        }
        self.follow_on("/pts/v2/reversals", request).await
    }
}
