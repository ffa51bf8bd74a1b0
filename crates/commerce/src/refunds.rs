//! Refunds, both ways: asked for through the order API (`POST /api/v1/orders/{id}/refunds`) or
//! in Zoho Books (a credit note for a paybridge order, learnt from a Books webhook), or made in
//! Cybersource and learnt from its webhook. Either way a refund is admitted once —
//! never more than was charged and not yet refunded, checked before anything is called — and
//! its event starts the flows triggered by `order.refund_requested` (the shipped `refund`
//! template: Cybersource refund when asked through paybridge, then a Books credit note and its
//! refund, then the storefront told).

use paybridge_model::order::FieldError;
use paybridge_model::{Currency, Money, OrderStatus};
use rust_decimal::Decimal;
use serde_json::json;
use sha2::{Digest, Sha256};

use paybridge_store::{
    InboxStore as _, NewEvent, NewRefund, OrderRecord, OrderStore as _, RefundAdmission,
    RefundRecord, RefundStatus, StoreError,
};

use crate::Commerce;
use crate::orders::OrderPlaced;

/// The event type every refund's event has.
pub const REFUND_EVENT: &str = "order.refund_requested";

/// A refund the storefront (or an operator) asks for.
#[derive(Debug, Clone)]
pub struct RefundRequest {
    /// The order's id or reference.
    pub order: String,
    pub idempotency_key: String,
    /// The amount; `None` refunds whatever is left.
    pub amount: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RefundError {
    #[error("the refund is not valid")]
    Invalid(Vec<FieldError>),
    #[error("there is no order {0}")]
    NoOrder(String),
    #[error("the order is {status}: it has no payment to refund")]
    NotRefundable { status: OrderStatus },
    #[error("{asked} is more than the {refundable} that can still be refunded")]
    TooMuch { asked: Money, refundable: Money },
    #[error("this Idempotency-Key was used for a different refund of this order")]
    KeyReused,
    #[error(
        "the refund is in {refund}, but the order was paid in {order}: it is not booked (book it by hand, or correct it in the Business Center)"
    )]
    CurrencyDiffers { refund: String, order: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An admitted refund, or the one its key admitted before.
#[derive(Debug, Clone)]
pub struct Refunded {
    pub refund: RefundRecord,
    pub replayed: bool,
}

/// `ref_` and 27 hex digits: the Cybersource merchant transaction id of a refund is `R`, the
/// same 27 digits and the attempt (30 characters), so a refund's webhook names its refund.
pub fn new_refund_id() -> String {
    let hex = uuid::Uuid::now_v7().simple().to_string();
    format!("ref_{}", &hex[..27])
}

/// The merchant transaction id of a refund's `attempt`-th Cybersource request.
pub fn refund_transaction_id(refund_id: &str, attempt: u32) -> String {
    let digits = refund_id.trim_start_matches("ref_");
    format!(
        "R{}{:02}",
        digits.get(..27).unwrap_or(digits),
        attempt % 100
    )
}

/// The refund a merchant transaction id was sent for, if it is one of paybridge's.
pub fn refund_id_of_transaction(transaction_id: &str) -> Option<String> {
    let digits = transaction_id.strip_prefix('R')?;
    (digits.len() == 29 && digits.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("ref_{}", &digits[..27]))
}

impl Commerce {
    /// Admits a refund asked for through the order API and queues its flows. Nothing is called
    /// before it is admitted; an over-refund is refused here.
    pub async fn request_refund(&self, request: RefundRequest) -> Result<Refunded, RefundError> {
        let order = match self.store.order(&request.order).await? {
            Some(order) => order,
            None => self
                .store
                .order_by_reference(&request.order)
                .await?
                .ok_or_else(|| RefundError::NoOrder(request.order.clone()))?,
        };
        let currency =
            Currency::from_code(&order.currency).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let key = request.idempotency_key.trim();
        let mut errors = Vec::new();
        if key.is_empty() || key.len() > 255 {
            errors.push(FieldError::new(
                "Idempotency-Key",
                "a header of 1 to 255 characters is required",
            ));
        }
        let amount = match &request.amount {
            None => None,
            Some(text) => match Money::parse_exact(text, currency) {
                Ok(money) if money.is_positive() => Some(money),
                Ok(_) => {
                    errors.push(FieldError::new("amount", "must be more than zero"));
                    None
                }
                Err(e) => {
                    errors.push(FieldError::new("amount", e.to_string()));
                    None
                }
            },
        };
        if request.reason.as_ref().is_some_and(|r| r.len() > 500) {
            errors.push(FieldError::new("reason", "at most 500 characters"));
        }
        if !errors.is_empty() {
            return Err(RefundError::Invalid(errors));
        }
        let fingerprint = hex::encode(Sha256::digest(
            json!({"amount": request.amount, "reason": request.reason})
                .to_string()
                .as_bytes(),
        ));
        // The same key again is the same refund, whatever is left now: answered before anything
        // is computed from what is left (which that refund itself has taken).
        let refunds = self.store.refunds_of(&order.id).await?;
        if let Some(existing) = refunds.iter().find(|r| r.idempotency_key == key) {
            if existing.request_fingerprint != fingerprint {
                return Err(RefundError::KeyReused);
            }
            return Ok(Refunded {
                refund: existing.clone(),
                replayed: true,
            });
        }
        // Without an amount: what is left (decided in the store's transaction is safer, but the
        // store re-checks the sum, so a race can only refuse, never over-refund).
        let amount_minor = match amount {
            Some(money) => money
                .minor_units()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            None => {
                let taken = refunds
                    .iter()
                    .filter(|r| r.status != RefundStatus::Failed)
                    .try_fold(0i64, |sum, r| sum.checked_add(r.amount_minor))
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!("order {}: refunds beyond range", order.id))
                    })?;
                order.amount_minor.checked_sub(taken).ok_or_else(|| {
                    StoreError::Corrupt(format!("order {}: refunds beyond range", order.id))
                })?
            }
        };
        if amount_minor <= 0 {
            return Err(RefundError::TooMuch {
                asked: Money::from_minor(amount_minor.max(0), currency),
                refundable: Money::zero(currency),
            });
        }
        let id = new_refund_id();
        let admitted = self
            .admit_refund(
                &order,
                NewRefund {
                    id,
                    order_id: order.id.clone(),
                    idempotency_key: key.to_string(),
                    request_fingerprint: fingerprint.clone(),
                    amount_minor,
                    currency: order.currency.clone(),
                    reason: request.reason.clone(),
                    source: "api".into(),
                    cybersource_refund_id: None,
                    event: NewEvent {
                        source: "order-api".into(),
                        dedupe_key: format!("refund:{}:{key}", order.id),
                        event_type: REFUND_EVENT.into(),
                        entity_key: format!("order:{}", order.reference),
                        payload: serde_json::Value::Null,
                    },
                    flows: Vec::new(),
                    entity_key: String::new(),
                    made_already: false,
                },
            )
            .await?;
        match admitted {
            RefundAdmission::Existing(existing) if existing.request_fingerprint != fingerprint => {
                Err(RefundError::KeyReused)
            }
            RefundAdmission::Existing(refund) => Ok(Refunded {
                refund,
                replayed: true,
            }),
            RefundAdmission::Admitted(refund) => Ok(Refunded {
                refund,
                replayed: false,
            }),
            RefundAdmission::TooMuch { refundable_minor } => Err(RefundError::TooMuch {
                asked: Money::from_minor(amount_minor, currency),
                refundable: Money::from_minor(refundable_minor.max(0), currency),
            }),
            RefundAdmission::NotRefundable { status } => Err(RefundError::NotRefundable { status }),
        }
    }

    /// Admits a refund made in Cybersource (learnt from its webhook), once per Cybersource
    /// refund, in the currency it was made in (`currency`, when Cybersource says). It happened,
    /// so it is recorded and its flows book it even when it is more than paybridge thought was
    /// left — and that is alerted, for a person to see why the two disagreed. A refund in
    /// another currency than the order's, or of an order paybridge has no payment for, is
    /// refused with the reason (its run dead-letters, alerted, for a person to book it).
    pub async fn adopt_cybersource_refund(
        &self,
        order: &OrderRecord,
        cybersource_refund_id: &str,
        amount: Decimal,
        currency: Option<&str>,
    ) -> Result<Option<RefundRecord>, RefundError> {
        let order_currency =
            Currency::from_code(&order.currency).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if let Some(code) = currency.map(str::trim).filter(|c| !c.is_empty())
            && !code.eq_ignore_ascii_case(order_currency.code())
        {
            return Err(RefundError::CurrencyDiffers {
                refund: code.to_ascii_uppercase(),
                order: order_currency.code().to_string(),
            });
        }
        let refunded = Money::exact(amount, order_currency)
            .map_err(|e| RefundError::Invalid(vec![FieldError::new("amount", e.to_string())]))?;
        let amount_minor = refunded
            .minor_units()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let left = self.refundable_minor(order).await?;
        let admitted = self
            .admit_refund(
                order,
                NewRefund {
                    id: new_refund_id(),
                    order_id: order.id.clone(),
                    idempotency_key: format!("cybersource:{cybersource_refund_id}"),
                    request_fingerprint: cybersource_refund_id.to_string(),
                    amount_minor,
                    currency: order.currency.clone(),
                    reason: Some("refunded in Cybersource".into()),
                    source: "cybersource".into(),
                    cybersource_refund_id: Some(cybersource_refund_id.to_string()),
                    event: NewEvent {
                        source: "order-api".into(),
                        dedupe_key: format!("refund:cybersource:{cybersource_refund_id}"),
                        event_type: REFUND_EVENT.into(),
                        entity_key: format!("order:{}", order.reference),
                        payload: serde_json::Value::Null,
                    },
                    flows: Vec::new(),
                    entity_key: String::new(),
                    made_already: true,
                },
            )
            .await?;
        match admitted {
            RefundAdmission::Admitted(refund) => {
                if amount_minor > left {
                    let left = Money::from_minor(left.max(0), order_currency);
                    tracing::warn!(order = %order.reference, cybersource_refund_id, refunded = %refunded.to_decimal_string(), left = %left.to_decimal_string(), "Cybersource refunded more than paybridge thought was left; booked, and alerted");
                    self.dispatch.alert(
                        &format!("over-refund:{}", order.id),
                        &format!(
                            "Order {} was refunded more in Cybersource than was left",
                            order.reference
                        ),
                        &format!(
                            "Cybersource refund {cybersource_refund_id} gave back {} {}, where paybridge had {} {} left to refund on order {}. It is recorded and booked in Zoho Books like any refund; check in the Business Center why the two disagree (a refund made outside paybridge and missed, or one made twice).",
                            refunded.to_decimal_string(),
                            order_currency.code(),
                            left.to_decimal_string(),
                            order_currency.code(),
                            order.reference
                        ),
                    );
                }
                Ok(Some(refund))
            }
            RefundAdmission::Existing(_) => Ok(None),
            RefundAdmission::TooMuch { refundable_minor } => Err(RefundError::TooMuch {
                asked: refunded,
                refundable: Money::from_minor(refundable_minor.max(0), order_currency),
            }),
            RefundAdmission::NotRefundable { status } => Err(RefundError::NotRefundable { status }),
        }
    }

    /// What is left to refund on `order`: its charge less its refunds that did not fail.
    async fn refundable_minor(&self, order: &OrderRecord) -> Result<i64, StoreError> {
        let taken = self
            .store
            .refunds_of(&order.id)
            .await?
            .iter()
            .filter(|r| r.status != RefundStatus::Failed)
            .try_fold(0i64, |sum, r| sum.checked_add(r.amount_minor))
            .ok_or_else(|| {
                StoreError::Corrupt(format!("order {}: refunds beyond range", order.id))
            })?;
        order
            .amount_minor
            .checked_sub(taken)
            .ok_or_else(|| StoreError::Corrupt(format!("order {}: refunds beyond range", order.id)))
    }

    /// Admits a refund asked for in Zoho Books: a credit note for the order (its balance is
    /// what the customer gets back on the card), once per credit note. More than can still be
    /// refunded is refused, before anything is called.
    pub async fn adopt_books_credit_note(
        &self,
        order: &OrderRecord,
        creditnote_id: &str,
        creditnote_number: &str,
        amount: Decimal,
    ) -> Result<Option<RefundRecord>, RefundError> {
        let currency =
            Currency::from_code(&order.currency).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let asked = Money::rounded(amount, currency);
        let amount_minor = asked
            .minor_units()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if amount_minor <= 0 {
            return Ok(None);
        }
        let admitted = self
            .admit_refund(
                order,
                NewRefund {
                    id: new_refund_id(),
                    order_id: order.id.clone(),
                    idempotency_key: format!("books:creditnote:{creditnote_id}"),
                    request_fingerprint: creditnote_id.to_string(),
                    amount_minor,
                    currency: order.currency.clone(),
                    reason: Some(format!("credit note {creditnote_number} in Zoho Books")),
                    source: "books".into(),
                    cybersource_refund_id: None,
                    event: NewEvent {
                        source: "order-api".into(),
                        dedupe_key: format!("refund:books:{creditnote_id}"),
                        event_type: REFUND_EVENT.into(),
                        entity_key: format!("order:{}", order.reference),
                        payload: serde_json::Value::Null,
                    },
                    flows: Vec::new(),
                    entity_key: String::new(),
                    made_already: false,
                },
            )
            .await?;
        match admitted {
            RefundAdmission::Admitted(refund) => Ok(Some(refund)),
            RefundAdmission::Existing(_) => Ok(None),
            RefundAdmission::TooMuch { refundable_minor } => Err(RefundError::TooMuch {
                asked,
                refundable: Money::from_minor(refundable_minor.max(0), currency),
            }),
            RefundAdmission::NotRefundable { status } => Err(RefundError::NotRefundable { status }),
        }
    }

    /// Fills in the refund's event (the order as placed, and the refund) and its runs, and
    /// admits it.
    async fn admit_refund(
        &self,
        order: &OrderRecord,
        mut refund: NewRefund,
    ) -> Result<RefundAdmission, RefundError> {
        let placed = self.store.inbox_event(order.inbox_id).await?;
        let placed: OrderPlaced = serde_json::from_value(placed.payload)
            .map_err(|e| StoreError::Corrupt(format!("order {}: {e}", order.id)))?;
        let currency =
            Currency::from_code(&order.currency).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        refund.event.payload = json!({
            "order_id": order.id,
            "order": placed.order,
            "card": placed.card,
            "refund": {
                "id": refund.id,
                "amount": Money::from_minor(refund.amount_minor, currency).to_decimal_string(),
                "currency": order.currency,
                "reason": refund.reason,
                "source": refund.source,
                "cybersource_refund_id": refund.cybersource_refund_id,
                // A refund asked for in Books names its credit note (`books:creditnote:ID`).
                "creditnote_id": refund.idempotency_key.strip_prefix("books:creditnote:"),
            },
        });
        refund.flows = self.dispatch.flows_for("order-api", REFUND_EVENT);
        // After the order's own runs (its sync to Zoho), in order.
        refund.entity_key = format!("customer:{}", order.customer_email);
        let admitted = self
            .store
            .admit_refund(&refund, self.clock.now_ms())
            .await?;
        if matches!(admitted, RefundAdmission::Admitted(_)) {
            self.dispatch.queued();
        }
        Ok(admitted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refunds_transaction_ids_name_it() {
        let id = new_refund_id();
        assert_eq!(id.len(), 31);
        let first = refund_transaction_id(&id, 1);
        assert_eq!(first.len(), 30);
        assert_ne!(first, refund_transaction_id(&id, 2));
        assert_eq!(refund_id_of_transaction(&first), Some(id));
        assert_eq!(
            refund_id_of_transaction("019ab0c2d3e4f5a6b7c8d9e0f1a201"),
            None
        );
    }
}
