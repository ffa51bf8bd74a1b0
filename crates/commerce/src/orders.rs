//! The order service behind the storefront's door: admit an order exactly once per
//! Idempotency-Key, take the payment with Cybersource, and hand the Zoho side to a run.
//!
//! The card number, when there is one (test mode), lives only in this request's memory on its
//! way to Cybersource: the inbox event, the order row and every log line carry brand and last
//! four at most.

use std::fmt;

use paybridge_cybersource::payments::{
    AmountDetails, BillTo, Card, ClientReference, LineItem, OrderInformation, PaymentInformation,
    PaymentRequest, ProcessingInformation, TokenId, TokenInformation, card_type_code,
};
use paybridge_model::card::luhn_valid;
use paybridge_model::order::FieldError;
use paybridge_model::{CardSummary, FailureKind, Money, Order, OrderStatus};
use rust_decimal::Decimal;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use paybridge_model::StepError;
use paybridge_store::steps::card_number_in;
use paybridge_store::{
    Admission, Attempt, NewEvent, NewOrder, NewStep, OrderRecord, OrderStore as _, StoreError,
};

use crate::Commerce;
use crate::payments::{
    PAYMENT_STEP, PaymentResult, order_update, payment_step_key, transaction_id_for,
};

/// The `order.placed` event the order API commits to the inbox. It never holds a card number.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderPlaced {
    pub order_id: String,
    pub order: Order,
    /// Brand, last four and expiry when paid by card.
    #[serde(default)]
    pub card: Option<CardSummary>,
}

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
    /// Keep the card in Cybersource's Token Management Service: the payment creates a TMS
    /// customer and payment instrument (`TOKEN_CREATE`), which the customer-sync template
    /// writes to the Zoho contact. Only for a card or a transient token.
    pub save_card: bool,
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

impl PlaceOrder {
    /// Checks the request and builds what admitting it commits: the order row and its
    /// `order.placed` inbox event (which never holds a card number), and the order's total.
    pub fn admission(&self, test_mode: bool) -> Result<(NewOrder, Money), PlaceError> {
        let PlaceOrder {
            idempotency_key,
            order,
            payment,
            save_card,
        } = self;
        let mut errors = order.validate();
        errors.extend(validate_payment(payment));
        if *save_card
            && matches!(
                payment,
                PaymentMethod::TmsCustomer { .. } | PaymentMethod::InstrumentIdentifier(_)
            )
        {
            errors.push(FieldError::new(
                "payment.save_card",
                "the payment is a Cybersource token already; save_card is for a card or a transient token",
            ));
        }
        if idempotency_key.trim().is_empty() || idempotency_key.len() > 255 {
            errors.push(FieldError::new(
                "Idempotency-Key",
                "a header of 1 to 255 characters is required",
            ));
        }
        if !errors.is_empty() {
            return Err(PlaceError::Invalid(errors));
        }
        if matches!(payment, PaymentMethod::Card(_)) && !test_mode {
            return Err(PlaceError::CardsNotAccepted);
        }
        let invalid = |e: paybridge_model::MoneyError| {
            PlaceError::Invalid(vec![FieldError::new("lines", e.to_string())])
        };
        let total = order.total().map_err(invalid)?;
        let card = payment.card_summary();
        let fingerprint = {
            let mut canonical = serde_json::json!({"order": order, "payment": payment.summary()});
            if *save_card {
                canonical["save_card"] = serde_json::json!(true);
            }
            hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
        };
        let reference = order.reference.trim();
        let payment_input = payment_step_input(reference, total, payment, *save_card);
        if let Some(error) = card_number_in(&payment_input, PAYMENT_STEP, |at| {
            format!("the payment's summary holds a card number (at {at})")
        }) {
            return Err(PlaceError::Invalid(vec![FieldError::new(
                "payment",
                error.message,
            )]));
        }
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
            reference: reference.to_string(),
            idempotency_key: idempotency_key.clone(),
            request_fingerprint: fingerprint,
            currency: order.currency.code().to_string(),
            amount_minor: total.minor_units().map_err(invalid)?,
            customer_email: order.customer.email_key(),
            card_brand: card.as_ref().map(|c| c.brand.as_str().to_string()),
            card_last4: card.as_ref().map(|c| c.last4.clone()),
            event: NewEvent {
                source: "order-api".into(),
                dedupe_key: format!("order-api:{idempotency_key}"),
                event_type: "order.placed".into(),
                entity_key: format!("order:{reference}"),
                payload,
            },
            payment_step: NewStep {
                key: payment_step_key(reference),
                name: PAYMENT_STEP.into(),
                input: payment_input,
            },
        };
        Ok((new, total))
    }
}

impl Placed {
    pub fn record(&self) -> &OrderRecord {
        match self {
            Placed::New(r) | Placed::Replayed(r) => r,
        }
    }
}

/// What the payment step is asked to do, as kept with it (no card number: the payment's summary).
fn payment_step_input(
    reference: &str,
    total: Money,
    payment: &PaymentMethod,
    save_card: bool,
) -> serde_json::Value {
    serde_json::json!({
        "order": reference,
        "amount": total.amount().to_string(),
        "currency": total.currency().code(),
        "payment": payment.summary(),
        "save_card": save_card,
    })
}

/// A payment whose charging request died before Cybersource's answer was recorded: its outcome
/// is unknown, and it is looked up like any lost answer.
fn died_while_charging(found_by: Option<&str>) -> StepError {
    let mut message =
        "the request charging this order stopped before Cybersource's answer was recorded"
            .to_string();
    if let Some(finder) = found_by {
        message.push_str(&format!(" (found by {finder})"));
    }
    StepError::new(FailureKind::OutcomeUnknown, "cybersource", message)
}

impl Commerce {
    /// Takes an order: admits it once per Idempotency-Key, charges it, and queues the Zoho side.
    /// Returns as soon as Cybersource has answered.
    pub async fn place_order(&self, request: PlaceOrder) -> Result<Placed, PlaceError> {
        let (new, total) = request.admission(self.settings.test_mode)?;
        self.settings
            .order_limits
            .check(total)
            .map_err(|e| PlaceError::Invalid(vec![e]))?;
        let PlaceOrder {
            order,
            payment,
            save_card,
            ..
        } = request;
        let fingerprint = new.request_fingerprint.clone();
        let (record, payment_begun) =
            match self.store.admit_order(&new, self.clock.now_ms()).await? {
                Admission::Admitted {
                    order,
                    payment_begun,
                } => (order, payment_begun),
                Admission::Existing(existing) => {
                    if existing.request_fingerprint != fingerprint {
                        return Err(PlaceError::KeyReused(Box::new(existing)));
                    }
                    let retry_payment = existing.status == OrderStatus::PaymentFailed
                        && existing.failure_kind == Some(FailureKind::Transient);
                    if existing.status == OrderStatus::PendingPayment {
                        // Still being charged — unless the request that was charging it died: then
                        // the payment's outcome is unknown and is resolved like any lost answer.
                        let stale = Commerce::millis(self.settings.payment_stale);
                        if self.clock.now_ms() - existing.updated_at < stale {
                            return Err(PlaceError::InProgress(Box::new(existing)));
                        }
                        return Ok(Placed::Replayed(
                            self.record_payment_outcome(&existing, Err(died_while_charging(None)))
                                .await?,
                        ));
                    }
                    if !retry_payment {
                        return Ok(Placed::Replayed(existing));
                    }
                    // Nothing reached Cybersource last time: this repeat may try again.
                    (existing, false)
                }
            };
        let updated = self
            .charge(
                &record,
                &order,
                &payment,
                save_card,
                total,
                new.payment_step,
                payment_begun,
            )
            .await?;
        Ok(Placed::New(updated))
    }

    /// The order `id` names: its id (`ord_…`) or its reference.
    pub async fn find_order(&self, id: &str) -> Result<Option<OrderRecord>, StoreError> {
        if id.starts_with("ord_") {
            self.store.order(id).await
        } else {
            self.store.order_by_reference(id).await
        }
    }

    /// Orders on hold, longest held first.
    pub async fn orders_on_hold(&self, limit: u32) -> Result<Vec<OrderRecord>, StoreError> {
        self.store
            .orders_unchanged_since(OrderStatus::OnHold, i64::MAX, limit)
            .await
    }

    /// An order's refunds, oldest first.
    pub async fn refunds_of(
        &self,
        order_id: &str,
    ) -> Result<Vec<paybridge_store::RefundRecord>, StoreError> {
        self.store.refunds_of(order_id).await
    }

    /// Charges the order: its payment `step`, `begun` with its admission or begun here.
    #[allow(clippy::too_many_arguments)]
    async fn charge(
        &self,
        record: &OrderRecord,
        order: &Order,
        payment: &PaymentMethod,
        save_card: bool,
        total: Money,
        step: NewStep,
        begun: bool,
    ) -> Result<OrderRecord, PlaceError> {
        let ctx = self.steps();
        let cybersource = &self.cybersource;
        let effect = |attempt: Attempt, _| async move {
            if attempt.uncertain {
                return Err(StepError::new(
                    FailureKind::OutcomeUnknown,
                    "cybersource",
                    "an earlier attempt to charge this order may have been processed",
                ));
            }
            let mut request = payment_request(record, order, payment, total);
            if save_card {
                // A TMS customer with the card as its payment instrument (§3.1).
                request.processing_information.action_list = vec!["TOKEN_CREATE".into()];
                request.processing_information.action_token_types =
                    vec!["customer".into(), "paymentInstrument".into()];
            }
            request.client_reference_information.transaction_id =
                Some(transaction_id_for(&record.id, attempt.number));
            let response = cybersource.create_payment(&request).await?;
            let result = PaymentResult::from_response(&response);
            tracing::info!(order = %record.reference, transaction_id = %response.id, status = %response.status, outcome = ?result.outcome, "Cybersource answered the payment");
            Ok(result)
        };
        let result = if begun {
            let first = Attempt {
                number: 1,
                uncertain: false,
            };
            ctx.run_begun(PAYMENT_STEP, &step.key, step.input, first, effect)
                .await
        } else {
            ctx.step(PAYMENT_STEP, &step.key, step.input, effect).await
        };
        self.record_payment_outcome(record, result).await
    }

    /// The watchdog: orders whose payment was started more than `payment_stale` ago and never
    /// answered (the process charging them died) are resolved like any lost answer — looked up
    /// in Cybersource by the payment-resolution run, never charged blindly again. Returns the
    /// orders it found (for whoever runs the watchdog to alert).
    pub async fn watch_payments(&self) -> Result<Vec<OrderRecord>, PlaceError> {
        let stale = Commerce::millis(self.settings.payment_stale);
        let stuck = self
            .store
            .orders_unchanged_since(
                OrderStatus::PendingPayment,
                self.clock.now_ms() - stale,
                500,
            )
            .await?;
        for order in &stuck {
            self.record_payment_outcome(order, Err(died_while_charging(Some("the watchdog"))))
                .await?;
            tracing::warn!(order = %order.reference, "an unanswered payment is being looked up in Cybersource");
        }
        if !stuck.is_empty() {
            metrics::counter!("paybridge_watchdog_payments_total").increment(stuck.len() as u64);
            self.dispatch.queued();
        }
        Ok(stuck)
    }

    /// Records what the payment step came to and queues what follows.
    async fn record_payment_outcome(
        &self,
        record: &OrderRecord,
        result: Result<PaymentResult, StepError>,
    ) -> Result<OrderRecord, PlaceError> {
        let now = self.clock.now_ms();
        let resolve_at =
            now.saturating_add(Commerce::millis(self.settings.payment_resolution_delay));
        let outcome = result.as_ref().ok().map(|r| r.outcome);
        let (update, runs) = order_update(record, result, resolve_at, &*self.dispatch);
        let updated = match self
            .store
            .record_payment(&record.id, &update, &runs, now)
            .await
        {
            Ok(updated) => updated,
            // Another path decided the order first (the watchdog, a webhook, the payment's own
            // answer): what it decided stands; this outcome is not applied over it.
            Err(StoreError::StateMoved { found, .. }) => {
                tracing::info!(order = %record.reference, %found, "the order moved on before this payment outcome was recorded; left as it is");
                return self
                    .store
                    .order(&record.id)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("order {}", record.id)).into());
            }
            Err(e) => return Err(e.into()),
        };
        if !runs.is_empty() {
            self.dispatch.queued();
        }
        if let Some(outcome) = outcome {
            self.alert_if_undecided(&updated, outcome, update.status_detail.as_deref(), &runs);
        }
        self.dispatch.changed();
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
            // Set per attempt by the payment step, so that an unanswered request can be
            // reversed or voided by it (§4.3).
            transaction_id: None,
        },
        processing_information: ProcessingInformation {
            capture: true,
            commerce_indicator: Some("internet".into()),
            action_list: vec![],
            action_token_types: vec![],
        },
        payment_information,
        token_information,
        risk_information: None,
        device_information: None,
        buyer_information: None,
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
