//! Orders and refunds: admitted once per Idempotency-Key, with the runs their events start.

use std::future::Future;

use crate::error::StoreError;
use crate::inbox::NewEvent;
use crate::runs::{NewRun, NewStep, OwnStep};
use paybridge_model::{FailureKind, OrderStatus};
use serde::Serialize;

/// An order to admit, with the event that records it.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub id: String,
    pub reference: String,
    pub idempotency_key: String,
    pub request_fingerprint: String,
    pub currency: String,
    pub amount_minor: i64,
    pub customer_email: String,
    pub card_brand: Option<String>,
    pub card_last4: Option<String>,
    pub event: NewEvent,
    /// The order's payment step, begun in the admission's own write (one write less on the
    /// storefront's path).
    pub payment_step: NewStep,
}

impl NewOrder {
    /// The record of this order just admitted under `inbox_id`, as the store holds it.
    pub(crate) fn admitted(&self, inbox_id: i64, now: i64) -> OrderRecord {
        OrderRecord {
            id: self.id.clone(),
            reference: self.reference.clone(),
            idempotency_key: self.idempotency_key.clone(),
            request_fingerprint: self.request_fingerprint.clone(),
            inbox_id,
            status: OrderStatus::PendingPayment,
            currency: self.currency.clone(),
            amount_minor: self.amount_minor,
            customer_email: self.customer_email.clone(),
            card_brand: self.card_brand.clone(),
            card_last4: self.card_last4.clone(),
            payment_id: None,
            payment_status: None,
            decline_reason: None,
            status_detail: None,
            failure_kind: None,
            zoho_contact_id: None,
            zoho_invoice_id: None,
            zoho_payment_id: None,
            created_at: now,
            updated_at: now,
        }
    }
}

/// A refund to admit, with the event that starts its flows.
#[derive(Debug, Clone)]
pub struct NewRefund {
    pub id: String,
    pub order_id: String,
    pub idempotency_key: String,
    pub request_fingerprint: String,
    pub amount_minor: i64,
    pub currency: String,
    pub reason: Option<String>,
    /// `api` (asked for through paybridge), `books` (a credit note in Zoho Books) or
    /// `cybersource` (made there, learnt by webhook).
    pub source: String,
    pub cybersource_refund_id: Option<String>,
    pub event: NewEvent,
    /// The flows the event starts, and the entity their runs are ordered by.
    pub flows: Vec<String>,
    pub entity_key: String,
    /// Made already (in Cybersource): recorded even when it is more than was left to refund —
    /// it happened, and must be booked — where a refund asked for is refused.
    pub made_already: bool,
}

/// Where a refund stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// Admitted; its flow is running.
    Requested,
    /// Cybersource refunded it and Zoho Books has it.
    Refunded,
    /// Cybersource refused it; it counts for nothing.
    Failed,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Requested => "requested",
            RefundStatus::Refunded => "refunded",
            RefundStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Result<RefundStatus, StoreError> {
        match text {
            "requested" => Ok(RefundStatus::Requested),
            "refunded" => Ok(RefundStatus::Refunded),
            "failed" => Ok(RefundStatus::Failed),
            other => Err(StoreError::Corrupt(format!("refund status {other:?}"))),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RefundRecord {
    pub id: String,
    pub order_id: String,
    pub idempotency_key: String,
    pub request_fingerprint: String,
    pub inbox_id: i64,
    pub amount_minor: i64,
    pub currency: String,
    pub reason: Option<String>,
    pub source: String,
    pub status: RefundStatus,
    pub cybersource_refund_id: Option<String>,
    pub status_detail: Option<String>,
    pub zoho_creditnote_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The result of admitting a refund.
#[derive(Debug, Clone)]
pub enum RefundAdmission {
    Admitted(RefundRecord),
    /// The same Idempotency-Key (or Cybersource refund) was seen before: the first refund.
    Existing(RefundRecord),
    /// It would refund more than was charged and not yet refunded: nothing was written.
    TooMuch {
        refundable_minor: i64,
    },
    /// The order has no payment to refund.
    NotRefundable {
        status: OrderStatus,
    },
}

/// How a refund ended.
#[derive(Debug, Clone)]
pub struct RefundOutcome<'a> {
    pub status: RefundStatus,
    pub cybersource_refund_id: Option<&'a str>,
    pub zoho_creditnote_id: Option<&'a str>,
    pub detail: Option<&'a str>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OrderRecord {
    pub id: String,
    pub reference: String,
    pub idempotency_key: String,
    pub request_fingerprint: String,
    pub inbox_id: i64,
    pub status: OrderStatus,
    pub currency: String,
    pub amount_minor: i64,
    pub customer_email: String,
    pub card_brand: Option<String>,
    pub card_last4: Option<String>,
    pub payment_id: Option<String>,
    pub payment_status: Option<String>,
    pub decline_reason: Option<String>,
    pub status_detail: Option<String>,
    pub failure_kind: Option<FailureKind>,
    pub zoho_contact_id: Option<String>,
    pub zoho_invoice_id: Option<String>,
    pub zoho_payment_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The result of admitting an order.
#[derive(Debug, Clone)]
pub enum Admission {
    /// New: committed with its inbox event, status `pending_payment`; `payment_begun` when its
    /// payment step was begun with it (attempt 1), as it is unless the step's key was taken.
    Admitted {
        order: OrderRecord,
        payment_begun: bool,
    },
    /// The Idempotency-Key was seen before: the first order, as it stands.
    Existing(OrderRecord),
}

/// What the payment request decided for an order.
#[derive(Debug, Clone)]
pub struct PaymentUpdate {
    /// The status the order was read in: the update is made only if it still is, else
    /// [`StoreError::StateMoved`] and nothing is written (no status, no runs).
    pub from: OrderStatus,
    pub status: OrderStatus,
    pub payment_id: Option<String>,
    pub payment_status: Option<String>,
    pub decline_reason: Option<String>,
    pub status_detail: Option<String>,
    pub failure_kind: Option<FailureKind>,
}

/// An order's records in Zoho once it is synced.
#[derive(Debug, Clone)]
pub struct ZohoIds {
    pub contact_id: String,
    pub invoice_id: String,
    pub payment_id: String,
}

/// Orders and refunds: admitted once per Idempotency-Key, with the runs their events start.
pub trait OrderStore: Sync {
    fn admit_order(
        &self,
        order: &NewOrder,
        now: i64,
    ) -> impl Future<Output = Result<Admission, StoreError>> + Send;

    fn record_payment(
        &self,
        order_id: &str,
        update: &PaymentUpdate,
        runs: &[NewRun],
        now: i64,
    ) -> impl Future<Output = Result<OrderRecord, StoreError>> + Send;

    fn order(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<OrderRecord>, StoreError>> + Send;

    fn order_by_reference(
        &self,
        reference: &str,
    ) -> impl Future<Output = Result<Option<OrderRecord>, StoreError>> + Send;

    /// The order whose Zoho Books invoice this is.
    fn order_by_zoho_invoice(
        &self,
        invoice_id: &str,
    ) -> impl Future<Output = Result<Option<OrderRecord>, StoreError>> + Send;

    /// Orders in `status` not changed since `before_ms`, oldest first (a payment whose request
    /// died; an order on hold nobody decided).
    fn orders_unchanged_since(
        &self,
        status: OrderStatus,
        before_ms: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<OrderRecord>, StoreError>> + Send;

    fn orders(
        &self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<OrderRecord>, StoreError>> + Send;

    /// Moves the order from `from` to `status`; [`StoreError::StateMoved`] when it is no
    /// longer `from`.
    fn set_order_status(
        &self,
        order_id: &str,
        from: OrderStatus,
        status: OrderStatus,
        detail: Option<&str>,
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Marks the order synced (completed, with its Zoho ids) as `step`, in one write: `None`
    /// when done now, or the step's stored output when it had succeeded before (then nothing
    /// is written). Only a paid order is completed (`approved`, `sync_failed` or `completed`):
    /// any other is [`StoreError::StateMoved`], and nothing is written.
    fn complete_order_sync(
        &self,
        order_id: &str,
        ids: &ZohoIds,
        step: OwnStep<'_>,
        now: i64,
    ) -> impl Future<Output = Result<Option<serde_json::Value>, StoreError>> + Send;

    /// Admits a refund with its event and runs, unless it would refund more than the order's
    /// charge minus its other refunds that did not fail (checked in the same transaction).
    fn admit_refund(
        &self,
        refund: &NewRefund,
        now: i64,
    ) -> impl Future<Output = Result<RefundAdmission, StoreError>> + Send;

    fn refund(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<RefundRecord>, StoreError>> + Send;

    fn refund_by_cybersource_id(
        &self,
        cybersource_refund_id: &str,
    ) -> impl Future<Output = Result<Option<RefundRecord>, StoreError>> + Send;

    /// An order's refunds, oldest first.
    fn refunds_of(
        &self,
        order_id: &str,
    ) -> impl Future<Output = Result<Vec<RefundRecord>, StoreError>> + Send;

    fn finish_refund(
        &self,
        id: &str,
        outcome: &RefundOutcome<'_>,
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
