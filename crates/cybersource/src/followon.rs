//! What every follow-on transaction (capture, refund, credit, reversal, void) answers.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::wire::{ClientReference, ErrorInformation};

paybridge_model::open_enum! {
    /// `status` of a follow-on answer (reference §3.4).
    pub enum FollowOnStatus {
        Pending = "PENDING",
        Transmitted = "TRANSMITTED",
        Reversed = "REVERSED",
        Voided = "VOIDED",
        Cancelled = "CANCELLED",
        Failed = "FAILED",
        Declined = "DECLINED",
        InvalidRequest = "INVALID_REQUEST",
    }
}

impl FollowOnStatus {
    /// Whether the operation took effect.
    pub fn succeeded(&self) -> bool {
        matches!(
            self,
            FollowOnStatus::Pending
                | FollowOnStatus::Transmitted
                | FollowOnStatus::Reversed
                | FollowOnStatus::Voided
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AmountBlock {
    #[serde(default, with = "rust_decimal::serde::str_option")]
    total_amount: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    refund_amount: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    credit_amount: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    reversed_amount: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    void_amount: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    original_transaction_amount: Option<Decimal>,
    #[serde(default)]
    currency: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderBlock {
    #[serde(default)]
    amount_details: Option<AmountBlock>,
}

/// The answer to a capture, refund, credit, reversal or void (HTTP 201).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FollowOnResponse {
    pub id: String,
    pub status: FollowOnStatus,
    #[serde(default)]
    pub submit_time_utc: Option<String>,
    #[serde(default)]
    pub reconciliation_id: Option<String>,
    #[serde(default)]
    pub client_reference_information: Option<ClientReference>,
    #[serde(default)]
    pub error_information: Option<ErrorInformation>,
    #[serde(default)]
    order_information: Option<OrderBlock>,
    #[serde(default)]
    refund_amount_details: Option<AmountBlock>,
    #[serde(default)]
    credit_amount_details: Option<AmountBlock>,
    #[serde(default)]
    reversal_amount_details: Option<AmountBlock>,
    #[serde(default)]
    void_amount_details: Option<AmountBlock>,
    /// Cybersource's `v-c-correlation-id` for this answer.
    #[serde(skip)]
    pub correlation_id: Option<String>,
}

impl FollowOnResponse {
    fn block(&self) -> Option<&AmountBlock> {
        self.order_information
            .as_ref()
            .and_then(|o| o.amount_details.as_ref())
            .or(self.refund_amount_details.as_ref())
            .or(self.credit_amount_details.as_ref())
            .or(self.reversal_amount_details.as_ref())
            .or(self.void_amount_details.as_ref())
    }

    /// The amount the operation moved, whichever block carries it.
    pub fn amount(&self) -> Option<Decimal> {
        let b = self.block()?;
        b.total_amount
            .or(b.refund_amount)
            .or(b.credit_amount)
            .or(b.reversed_amount)
            .or(b.void_amount)
    }

    /// A timeout reversal of an authorization that never happened reports the amount it was
    /// asked to reverse here, and nothing under `reversedAmount`.
    pub fn original_transaction_amount(&self) -> Option<Decimal> {
        self.reversal_amount_details
            .as_ref()?
            .original_transaction_amount
    }

    pub fn currency(&self) -> Option<&str> {
        self.block()?.currency.as_deref()
    }
}
