//! The order service behind the storefront's door: admit an order exactly once per
//! Idempotency-Key, take the payment with Cybersource, and hand the Zoho side to a run.
//!
//! The card number, when there is one (test mode), lives only in this request's memory on its
//! way to Cybersource: the inbox event, the order row and every log line carry brand and last
//! four at most.

use std::fmt;

use paybridge_cybersource::payments::{
    AmountDetails, BillTo, Card, ClientReference, LineItem, OrderInformation, PaymentInformation,
    PaymentOutcome, PaymentRequest, ProcessingInformation, TokenId, TokenInformation,
    card_type_code,
};
use paybridge_model::card::luhn_valid;
use paybridge_model::order::FieldError;
use paybridge_model::{CardSummary, FailureKind, Money, Order, OrderStatus};
use rust_decimal::Decimal;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Engine;
use crate::error::StepError;
use crate::flows::Flow;
use crate::flows::order_to_cash::OrderPlaced;
use crate::runtime::RunContext;
use crate::store::{Admission, NewEvent, NewOrder, NewRun, OrderRecord, PaymentUpdate, StoreError};

/// A card as the storefront sends it in test mode.
#[derive(Clone)]
pub struct CardInput {
    pub number: SecretString,
    pub expiration_month: String,
    pub expiration_year: String,
    pub security_code: Option<SecretString>,
}

impl fmt::Debug for CardInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardInput")
            .field("number", &"**REDACTED**")
            .field("expiration_month", &self.expiration_month)
            .field("expiration_year", &self.expiration_year)
            .finish_non_exhaustive()
    }
}

/// How the customer pays.
#[derive(Debug, Clone)]
pub enum PaymentMethod {
    /// A raw card: accepted only in test mode.
    Card(CardInput),
    /// A Microform / Unified Checkout transient token.
    TransientToken(String),
    /// A TMS customer, optionally with one of their payment instruments.
    TmsCustomer {
        customer_id: String,
        payment_instrument_id: Option<String>,
    },
    /// A TMS instrument identifier.
    InstrumentIdentifier(String),
}

impl PaymentMethod {
    /// What may be stored about the method.
    fn summary(&self) -> serde_json::Value {
        match self {
            PaymentMethod::Card(card) => {
                serde_json::json!({"card": self.card_summary(), "expiry": [card.expiration_month, card.expiration_year]})
            }
            PaymentMethod::TransientToken(token) => {
                // Transient tokens are single-use JWTs; a hash identifies the request.
                serde_json::json!({"transient_token_sha256": hex::encode(Sha256::digest(token.as_bytes()))})
            }
            PaymentMethod::TmsCustomer {
                customer_id,
                payment_instrument_id,
            } => {
                serde_json::json!({"tms_customer": customer_id, "payment_instrument": payment_instrument_id})
            }
            PaymentMethod::InstrumentIdentifier(id) => {
                serde_json::json!({"instrument_identifier": id})
            }
        }
    }

    fn card_summary(&self) -> Option<CardSummary> {
        match self {
            PaymentMethod::Card(card) => Some(CardSummary::of_number(
                card.number.expose_secret(),
                &card.expiration_month,
                &card.expiration_year,
            )),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct PlaceOrder {
    pub idempotency_key: String,
    pub order: Order,
    pub payment: PaymentMethod,
}

/// Why an order was not taken.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    #[error("the order is invalid: {}", list(.0))]
    Invalid(Vec<FieldError>),
    #[error("raw card numbers are accepted only in test mode; send a Cybersource token instead")]
    CardsNotAccepted,
    #[error("this Idempotency-Key was used for a different order")]
    KeyReused(Box<OrderRecord>),
    #[error("the payment for this Idempotency-Key is still being processed")]
    InProgress(Box<OrderRecord>),
    #[error("order reference {0:?} is already used by another order")]
    DuplicateReference(String),
    #[error("the order could not be recorded: {0}")]
    Store(StoreError),
}

fn list(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<StoreError> for PlaceError {
    fn from(e: StoreError) -> PlaceError {
        match e {
            StoreError::ReferenceTaken { reference } => PlaceError::DuplicateReference(reference),
            other => PlaceError::Store(other),
        }
    }
}

/// The answer to a placed order.
#[derive(Debug, Clone)]
pub enum Placed {
    /// Taken now; the record shows the payment outcome.
    New(OrderRecord),
    /// The Idempotency-Key was seen before: the same order, as it stands (nothing charged again).
    Replayed(OrderRecord),
}

impl Placed {
    pub fn record(&self) -> &OrderRecord {
        match self {
            Placed::New(r) | Placed::Replayed(r) => r,
        }
    }
}

/// The payment step's stored result.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PaymentResult {
    transaction_id: String,
    status: String,
    outcome: String,
    reason: Option<String>,
    message: Option<String>,
}

impl Engine {
    /// Takes an order: admits it once per Idempotency-Key, charges it, and queues the Zoho side.
    /// Returns as soon as Cybersource has answered.
    pub async fn place_order(&self, request: PlaceOrder) -> Result<Placed, PlaceError> {
        let PlaceOrder {
            idempotency_key,
            order,
            payment,
        } = request;
        let mut errors = order.validate();
        errors.extend(validate_payment(&payment));
        if idempotency_key.trim().is_empty() || idempotency_key.len() > 255 {
            errors.push(FieldError::new(
                "Idempotency-Key",
                "a header of 1 to 255 characters is required",
            ));
        }
        if !errors.is_empty() {
            return Err(PlaceError::Invalid(errors));
        }
        if matches!(payment, PaymentMethod::Card(_)) && !self.settings.test_mode {
            return Err(PlaceError::CardsNotAccepted);
        }
        let total = order
            .total()
            .map_err(|e| PlaceError::Invalid(vec![FieldError::new("lines", e.to_string())]))?;
        let card = payment.card_summary();
        let fingerprint = {
            let canonical = serde_json::json!({"order": order, "payment": payment.summary()});
            hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
        };
        let order_id = format!("ord_{}", uuid::Uuid::now_v7().simple());
        let placed = OrderPlaced {
            order_id: order_id.clone(),
            order: order.clone(),
            card: card.clone(),
        };
        let payload = serde_json::to_value(&placed)
            .map_err(|e| PlaceError::Store(StoreError::Corrupt(e.to_string())))?;
        if !paybridge_model::pan::find_in_json(&payload).is_empty() {
            return Err(PlaceError::Invalid(vec![FieldError::new(
                "order",
                "contains a card number outside payment.card; card numbers may appear nowhere else",
            )]));
        }
        let new = NewOrder {
            id: order_id,
            reference: order.reference.trim().to_string(),
            idempotency_key: idempotency_key.clone(),
            request_fingerprint: fingerprint.clone(),
            currency: order.currency.code().to_string(),
            amount_minor: total
                .minor_units()
                .map_err(|e| PlaceError::Invalid(vec![FieldError::new("lines", e.to_string())]))?,
            customer_email: order.customer.email_key(),
            card_brand: card.as_ref().map(|c| c.brand.as_str().to_string()),
            card_last4: card.as_ref().map(|c| c.last4.clone()),
            event: NewEvent {
                source: "order-api".into(),
                dedupe_key: format!("order-api:{idempotency_key}"),
                event_type: "order.placed".into(),
                entity_key: format!("order:{}", order.reference.trim()),
                payload,
            },
        };
        let record = match self.store.admit_order(&new, self.clock.now_ms()).await? {
            Admission::Admitted(record) => record,
            Admission::Existing(existing) => {
                if existing.request_fingerprint != fingerprint {
                    return Err(PlaceError::KeyReused(Box::new(existing)));
                }
                let retry_payment = existing.status == OrderStatus::PaymentFailed
                    && existing.failure_kind == Some(FailureKind::Transient);
                if existing.status == OrderStatus::PendingPayment {
                    return Err(PlaceError::InProgress(Box::new(existing)));
                }
                if !retry_payment {
                    return Ok(Placed::Replayed(existing));
                }
                // Nothing reached Cybersource last time: this repeat may try again.
                existing
            }
        };
        let updated = self.charge(&record, &order, &payment, total).await?;
        Ok(Placed::New(updated))
    }

    async fn charge(
        &self,
        record: &OrderRecord,
        order: &Order,
        payment: &PaymentMethod,
        total: Money,
    ) -> Result<OrderRecord, PlaceError> {
        let request = payment_request(record, order, payment, total);
        let ctx = RunContext {
            engine: self,
            run_id: None,
        };
        let key = format!("order:{}:cybersource:payment", record.reference);
        let cybersource = &self.connectors.cybersource;
        let result = ctx
            .step("cybersource.payment", &key, |attempt| async move {
                if attempt.uncertain {
                    return Err(StepError {
                        kind: FailureKind::OutcomeUnknown,
                        system: "cybersource",
                        message: "an earlier attempt to charge this order may have been processed; it must be resolved with Cybersource before charging again".into(),
                        http_status: None,
                        retry_after: None,
                    });
                }
                let response = cybersource.create_payment(&request).await?;
                let (outcome, reason, message) = match response.outcome() {
                    PaymentOutcome::Approved => ("approved", None, None),
                    PaymentOutcome::Held { reason } => ("held", None, Some(reason)),
                    PaymentOutcome::Declined { reason, message } => {
                        ("declined", Some(reason.as_str().to_string()), Some(message))
                    }
                };
                tracing::info!(order = %record.reference, transaction_id = %response.id, status = %response.status, outcome, "Cybersource answered the payment");
                Ok(PaymentResult {
                    transaction_id: response.id,
                    status: response.status.as_str().to_string(),
                    outcome: outcome.into(),
                    reason,
                    message,
                })
            })
            .await;
        let (update, run) = match result {
            Ok(paid) => {
                let status = match paid.outcome.as_str() {
                    "approved" => OrderStatus::Approved,
                    "held" => OrderStatus::OnHold,
                    _ => OrderStatus::Declined,
                };
                let run = (status == OrderStatus::Approved).then(|| NewRun {
                    inbox_id: record.inbox_id,
                    flow: Flow::OrderToCash.name().into(),
                    // Runs of one customer go in order: their contact is created once.
                    entity_key: format!("customer:{}", order.customer.email_key()),
                });
                let update = PaymentUpdate {
                    status,
                    payment_id: Some(paid.transaction_id),
                    payment_status: Some(paid.status),
                    decline_reason: paid.reason,
                    status_detail: paid.message,
                    failure_kind: None,
                };
                (update, run)
            }
            Err(error) => {
                let status = if error.kind == FailureKind::OutcomeUnknown {
                    OrderStatus::PaymentUnknown
                } else {
                    OrderStatus::PaymentFailed
                };
                let update = PaymentUpdate {
                    status,
                    payment_id: None,
                    payment_status: None,
                    decline_reason: None,
                    status_detail: Some(error.to_string()),
                    failure_kind: Some(error.kind),
                };
                (update, None)
            }
        };
        let updated = self
            .store
            .record_payment(&record.id, &update, run.as_ref(), self.clock.now_ms())
            .await?;
        if run.is_some() {
            self.wake_workers();
        }
        self.notify_progress();
        Ok(updated)
    }
}

fn validate_payment(payment: &PaymentMethod) -> Vec<FieldError> {
    let mut errors = Vec::new();
    match payment {
        PaymentMethod::Card(card) => {
            let number = card.number.expose_secret();
            if !(12..=19).contains(&number.len()) || !luhn_valid(number) {
                errors.push(FieldError::new(
                    "payment.card.number",
                    "is not a valid card number",
                ));
            }
            if !card
                .expiration_month
                .parse::<u8>()
                .is_ok_and(|m| (1..=12).contains(&m))
            {
                errors.push(FieldError::new(
                    "payment.card.expiration_month",
                    "must be 1 to 12",
                ));
            }
            if card.expiration_year.len() != 4
                || !card.expiration_year.bytes().all(|b| b.is_ascii_digit())
            {
                errors.push(FieldError::new(
                    "payment.card.expiration_year",
                    "must be a four-digit year",
                ));
            }
            if let Some(code) = &card.security_code {
                let code = code.expose_secret();
                if !(3..=4).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_digit()) {
                    errors.push(FieldError::new(
                        "payment.card.security_code",
                        "must be 3 or 4 digits",
                    ));
                }
            }
        }
        PaymentMethod::TransientToken(token) if token.trim().is_empty() => {
            errors.push(FieldError::new("payment.transient_token", "is empty"));
        }
        PaymentMethod::TmsCustomer { customer_id, .. } if customer_id.trim().is_empty() => {
            errors.push(FieldError::new("payment.customer_id", "is empty"));
        }
        PaymentMethod::InstrumentIdentifier(id) if id.trim().is_empty() => {
            errors.push(FieldError::new("payment.instrument_identifier", "is empty"));
        }
        _ => {}
    }
    errors
}

/// The merchant's id for the payment request (`clientReferenceInformation.transactionId`, at
/// most 30 characters): the order id's first 30 hex digits, time-ordered and unique.
pub fn cybersource_transaction_id(order_id: &str) -> String {
    let hex = order_id.trim_start_matches("ord_");
    hex.get(..30).unwrap_or(hex).to_string()
}

fn payment_request(
    record: &OrderRecord,
    order: &Order,
    payment: &PaymentMethod,
    total: Money,
) -> PaymentRequest {
    let customer = &order.customer;
    let address = &customer.billing_address;
    let mut payment_information = PaymentInformation::default();
    let mut token_information = None;
    match payment {
        PaymentMethod::Card(card) => {
            payment_information.card = Some(Card {
                number: card.number.clone(),
                expiration_month: format!("{:0>2}", card.expiration_month),
                expiration_year: card.expiration_year.clone(),
                security_code: card.security_code.clone(),
                card_type: payment
                    .card_summary()
                    .and_then(|s| card_type_code(s.brand))
                    .map(str::to_string),
            });
        }
        PaymentMethod::TransientToken(jwt) => {
            token_information = Some(TokenInformation {
                transient_token_jwt: jwt.clone(),
            });
        }
        PaymentMethod::TmsCustomer {
            customer_id,
            payment_instrument_id,
        } => {
            payment_information.customer = Some(TokenId {
                id: customer_id.clone(),
            });
            payment_information.payment_instrument =
                payment_instrument_id.clone().map(|id| TokenId { id });
        }
        PaymentMethod::InstrumentIdentifier(id) => {
            payment_information.instrument_identifier = Some(TokenId { id: id.clone() });
        }
    }
    // Cybersource line items take whole quantities and prices in the currency's units; when the
    // order has anything else, the total alone is sent so that the two cannot disagree.
    let representable = order.lines.iter().all(|l| {
        l.quantity.fract() == Decimal::ZERO
            && u32::try_from(l.quantity.normalize().mantissa()).is_ok()
            && Money::exact(l.unit_price, order.currency).is_ok()
    });
    let line_items = if representable {
        order
            .lines
            .iter()
            .map(|l| LineItem {
                product_sku: l.sku.clone(),
                product_name: l.name.clone(),
                quantity: u32::try_from(l.quantity.normalize().mantissa()).unwrap_or(1),
                unit_price: Money::rounded(l.unit_price, order.currency).amount(),
            })
            .collect()
    } else {
        Vec::new()
    };
    PaymentRequest {
        client_reference_information: ClientReference {
            code: record.reference.clone(),
            // Unique per order, so that an unanswered request can be reversed by it (§4.3).
            transaction_id: Some(cybersource_transaction_id(&record.id)),
        },
        processing_information: ProcessingInformation {
            capture: true,
            commerce_indicator: Some("internet".into()),
            action_list: vec![],
            action_token_types: vec![],
        },
        payment_information,
        token_information,
        order_information: OrderInformation {
            amount_details: AmountDetails {
                total_amount: total.amount(),
                currency: order.currency.code().into(),
            },
            bill_to: Some(BillTo {
                first_name: customer.first_name.trim().into(),
                last_name: customer.last_name.trim().into(),
                company: customer.company.clone(),
                address1: address.line1.clone(),
                address2: address.line2.clone(),
                locality: address.city.clone(),
                administrative_area: address.region.clone(),
                postal_code: address.postal_code.clone(),
                country: address.country.clone(),
                email: customer.email_key(),
                phone_number: customer.phone.clone(),
            }),
            line_items,
        },
    }
}
