//! Resolving a request whose answer never came, the way Cybersource prescribes (reference
//! §4.3): never send it again blindly; look it up by merchant reference and the merchant
//! transaction id it was sent with; if Cybersource has no trace of it, send the timeout
//! reversal (an authorization) or timeout void (a sale, capture, refund or credit) so that it
//! cannot surface later.

use crate::client::Client;
use crate::error::Error;
use crate::payments::AmountDetails;
use crate::reversals::{ReversalInformation, ReversalRequest};
use crate::search::{SearchRequest, TransactionDetails};
use crate::vendor_enums::Reason;
use crate::voids::VoidRequest;
use crate::wire::ClientReference;

/// What kind of request went unanswered, and so how to cancel it if it is not found.
#[derive(Debug, Clone)]
pub enum Unanswered {
    /// An authorization without capture: cancelled by a timeout reversal of this amount.
    Authorization { amount: AmountDetails },
    /// A sale, capture, refund or credit: cancelled by a timeout void.
    Voidable,
}

impl Unanswered {
    /// The legacy application that marks this kind of transaction in Transaction Search.
    fn applications(&self) -> &'static [&'static str] {
        match self {
            Unanswered::Authorization { .. } => &["ics_auth"],
            Unanswered::Voidable => &["ics_auth", "ics_bill", "ics_credit"],
        }
    }
}

/// The truth about an unanswered request.
#[derive(Debug, Clone)]
pub enum Resolution {
    /// Cybersource has it: this is what it became.
    Found(Box<TransactionDetails>),
    /// Cybersource has no trace of it; the timeout reversal or void was sent, and `cancelled`
    /// says whether it did cancel something that had not been searchable yet.
    NotFound { cancelled: bool },
}

impl Client {
    /// Finds or cancels an unanswered request sent with `merchant_reference` and
    /// `transaction_id`, looking back `within_days`.
    pub async fn resolve_unanswered(
        &self,
        merchant_reference: &str,
        transaction_id: &str,
        kind: &Unanswered,
        within_days: u32,
    ) -> Result<Resolution, Error> {
        let answer = self
            .search(&SearchRequest::by_merchant_reference(
                merchant_reference,
                within_days,
            ))
            .await?;
        for summary in answer.summaries() {
            let relevant = kind
                .applications()
                .iter()
                .any(|name| summary.application_information.application(name).is_some());
            if !relevant {
                continue;
            }
            let details = self.transaction(&summary.id).await?;
            if details
                .client_reference_information
                .transaction_id
                .as_deref()
                == Some(transaction_id)
            {
                return Ok(Resolution::Found(Box::new(details)));
            }
        }
        let reference = ClientReference {
            code: merchant_reference.to_string(),
            transaction_id: Some(transaction_id.to_string()),
        };
        let cancelled = match kind {
            Unanswered::Authorization { amount } => {
                let request = ReversalRequest {
                    client_reference_information: reference,
                    reversal_information: ReversalInformation {
                        amount_details: amount.clone(),
                        reason: Some("timeout".into()),
                    },
                };
                // An answer with an original amount and nothing reversed means nothing existed.
                let answer = self.timeout_reversal(&request).await?;
                answer.status.succeeded() && answer.amount().is_some()
            }
            Unanswered::Voidable => match self
                .timeout_void(&VoidRequest {
                    client_reference_information: reference,
                })
                .await
            {
                Ok(answer) => answer.status.succeeded(),
                // "No such transaction" is the expected answer when nothing happened.
                Err(Error::InvalidRequest {
                    reason: Reason::InvalidData,
                    ..
                }) => false,
                Err(e) => return Err(e),
            },
        };
        Ok(Resolution::NotFound { cancelled })
    }
}
