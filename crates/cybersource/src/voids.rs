//! Voids — of a sale, a capture, a refund or a credit, before settlement — and the timeout
//! void that finds its target by the merchant transaction id (reference §3.1, §4.3).

use serde::Serialize;

use crate::client::{Client, segment};
use crate::error::Error;
use crate::followon::FollowOnResponse;
use crate::wire::ClientReference;

/// What a void acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoidTarget {
    Payment,
    Capture,
    Refund,
    Credit,
}

impl VoidTarget {
    fn segment(self) -> &'static str {
        match self {
            VoidTarget::Payment => "payments",
            VoidTarget::Capture => "captures",
            VoidTarget::Refund => "refunds",
            VoidTarget::Credit => "credits",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VoidRequest {
    pub client_reference_information: ClientReference,
}

impl Client {
    pub async fn void(
        &self,
        target: VoidTarget,
        id: &str,
        request: &VoidRequest,
    ) -> Result<FollowOnResponse, Error> {
        let path = format!("/pts/v2/{}/{}/voids", target.segment(), segment(id)?);
        self.follow_on(&path, request).await
    }

    /// Voids whatever was sent with `client_reference_information.transaction_id` when its
    /// answer never came.
    pub async fn timeout_void(&self, request: &VoidRequest) -> Result<FollowOnResponse, Error> {
        if request
            .client_reference_information
            .transaction_id
            .is_none()
        {
            return Err(Error::InvalidInput(
                "a timeout void needs the original transactionId".into(),
            ));
        }
        self.follow_on("/pts/v2/voids", request).await
    }
}
