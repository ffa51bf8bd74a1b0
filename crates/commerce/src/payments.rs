//! The payment step — charging an order with Cybersource — and what each answer, or its
//! absence, makes of the order.
//!
//! A payment whose answer never came is never sent again blindly. The order waits as
//! `payment_unknown` while a `payment-resolution` run, after Cybersource's prescribed pause
//! (reference §4.3), looks the payment up by its merchant reference and transaction id. If
//! Cybersource has it, its outcome is the order's; if not, a timeout void makes sure nothing
//! surfaces later, and the order may be placed again with the same Idempotency-Key.

use paybridge_cybersource::payments::{PaymentOutcome, PaymentResponse};
use paybridge_cybersource::search::TransactionDetails;
use paybridge_model::{FailureKind, OrderStatus};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use paybridge_model::StepError;
use paybridge_store::{NewRun, OrderRecord, OrderStore as _, PaymentUpdate, StoreError};

use crate::{Commerce, Dispatch};

/// The run that resolves a payment whose answer was lost (the runtime's name for
/// [`Commerce::resolve_payment`]).
pub const RESOLUTION_RUN: &str = "payment-resolution";

/// How a payment ended, as far as the order is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Approved,
    /// Held for a review (Decision Manager, 3-D Secure).
    Held,
    /// Only part of the amount was authorized (`order.partially_authorized`).
    PartiallyApproved,
    Declined,
    /// Cybersource's status says neither yes nor no (`order.payment_unclear`): held, and a
    /// person alerted.
    Unknown,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Approved => "approved",
            Outcome::Held => "held",
            Outcome::PartiallyApproved => "partially_approved",
            Outcome::Declined => "declined",
            Outcome::Unknown => "unknown",
        }
    }

    /// The order event the outcome starts flows on.
    pub fn order_event(self) -> &'static str {
        match self {
            Outcome::Approved => "order.approved",
            Outcome::Held => "order.held",
            Outcome::PartiallyApproved => "order.partially_authorized",
            Outcome::Declined => "order.declined",
            Outcome::Unknown => "order.payment_unclear",
        }
    }
}

/// The decline reason of an order whose partial authorization was released.
pub const PARTIAL_AUTHORIZATION: &str = "PARTIAL_AUTHORIZATION";

/// The payment step's stored result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PaymentResult {
    pub transaction_id: String,
    pub status: String,
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub message: Option<String>,
    /// What Decision Manager said, when it screened the payment: `score`, `factor_codes`,
    /// `rules` (those that did not ignore it), `reason_codes`, `case_priority`.
    #[serde(default)]
    pub risk: Option<serde_json::Value>,
    /// The Cybersource tokens the payment made (`TOKEN_CREATE`): `customer_id`,
    /// `payment_instrument_id`, `instrument_identifier_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<serde_json::Value>,
    /// What the issuer approved, when it was only part of the amount.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option"
    )]
    pub authorized_amount: Option<Decimal>,
}

impl PaymentResult {
    pub fn from_response(response: &PaymentResponse) -> PaymentResult {
        let mut authorized_amount = None;
        let (outcome, reason, message) = match response.outcome() {
            PaymentOutcome::Approved => (Outcome::Approved, None, None),
            PaymentOutcome::Held { reason } => (Outcome::Held, None, Some(reason)),
            PaymentOutcome::PartiallyApproved {
                authorized,
                requested,
            } => {
                authorized_amount = authorized;
                (
                    Outcome::PartiallyApproved,
                    None,
                    Some(partial_message(authorized, requested)),
                )
            }
            PaymentOutcome::Declined { reason, message } => (
                Outcome::Declined,
                Some(reason.as_str().to_string()),
                Some(message),
            ),
            PaymentOutcome::Unknown { status, message } => (
                Outcome::Unknown,
                None,
                Some(unclear_message(&status, &message)),
            ),
        };
        let risk = response.risk_information.as_ref().map(|risk| {
            serde_json::json!({
                "score": risk.score(),
                "factor_codes": risk.score.as_ref().map(|s| s.factor_codes.clone()).unwrap_or_default(),
                "rules": risk.triggered_rules(),
                "reason_codes": response
                    .error_information
                    .as_ref()
                    .map(|e| vec![e.reason.as_str().to_string()])
                    .unwrap_or_default(),
                "case_priority": risk.case_priority,
            })
        });
        let tokens = response.token_information.as_ref().and_then(|t| {
            let id = |name: &str| t[name]["id"].as_str().map(str::to_string);
            let customer_id = id("customer")?;
            Some(serde_json::json!({
                "customer_id": customer_id,
                "payment_instrument_id": id("paymentInstrument"),
                "instrument_identifier_id": id("instrumentIdentifier"),
            }))
        });
        PaymentResult {
            transaction_id: response.id.clone(),
            status: response.status.as_str().to_string(),
            outcome,
            reason,
            message,
            risk,
            tokens,
            authorized_amount,
        }
    }

    /// The outcome of a payment found through Transaction Search; `None` when it no longer
    /// stands (voided or reversed), which leaves nothing charged.
    ///
    /// A sale found after capture or settlement reports its capture's status (`PENDING`,
    /// `TRANSMITTED`, …): the succeeded authorization (`ics_auth`) says it was approved. A
    /// status that says neither yes nor no is `Unknown`, never a decline.
    pub fn from_details(details: &TransactionDetails) -> Option<PaymentResult> {
        let status = details.status.clone().unwrap_or_default();
        if matches!(status.as_str(), "VOIDED" | "REVERSED") {
            return None;
        }
        let applications = &details.application_information;
        let authorized = applications
            .application("ics_auth")
            .is_some_and(|a| a.succeeded());
        let auth_failed = applications
            .application("ics_auth")
            .is_some_and(|a| !a.succeeded());
        let outcome = match status.as_str() {
            "AUTHORIZED_PENDING_REVIEW" | "PENDING_REVIEW" | "PENDING_AUTHENTICATION" => {
                Outcome::Held
            }
            "PARTIAL_AUTHORIZED" => Outcome::PartiallyApproved,
            "DECLINED" | "AUTHORIZED_RISK_DECLINED" | "INVALID_REQUEST" => Outcome::Declined,
            "AUTHORIZED" | "PENDING" | "TRANSMITTED" | "BATCHED" | "SETTLED" if authorized => {
                Outcome::Approved
            }
            _ if auth_failed => Outcome::Declined,
            _ => Outcome::Unknown,
        };
        let reason = (outcome == Outcome::Declined).then(|| {
            applications.reason_code.clone().map_or_else(
                || "DECLINED".to_string(),
                |code| format!("reason code {code}"),
            )
        });
        let amounts = details.order_information.amount_details.as_ref();
        let authorized_amount = (outcome == Outcome::PartiallyApproved)
            .then(|| amounts.and_then(|a| a.authorized_amount))
            .flatten();
        let found = "found through Transaction Search after the payment's answer was lost";
        let message = match outcome {
            Outcome::PartiallyApproved => format!(
                "{}; {found}",
                partial_message(authorized_amount, amounts.and_then(|a| a.total_amount))
            ),
            Outcome::Unknown => unclear_message(&status, found),
            _ => found.to_string(),
        };
        Some(PaymentResult {
            transaction_id: details.id.clone(),
            status,
            outcome,
            reason,
            message: Some(message),
            risk: details.risk_information.clone(),
            tokens: None,
            authorized_amount,
        })
    }
}

fn partial_message(authorized: Option<Decimal>, requested: Option<Decimal>) -> String {
    let part = authorized.map_or_else(|| "part".to_string(), |a| a.to_string());
    match requested {
        Some(requested) => format!("the issuer approved only {part} of {requested}"),
        None => format!("the issuer approved only {part} of the amount"),
    }
}

fn unclear_message(status: &str, message: &str) -> String {
    let status = if status.is_empty() {
        "no status"
    } else {
        status
    };
    format!(
        "Cybersource answered {status}, which says neither approved nor declined ({message}): held for a person to check the payment in the Business Center and decide the order"
    )
}

/// The name of the order API's payment step.
pub const PAYMENT_STEP: &str = "cybersource.payment";

/// The idempotency key of an order's payment step.
pub fn payment_step_key(reference: &str) -> String {
    format!("order:{reference}:cybersource:payment")
}

/// The merchant's id for one payment attempt (`clientReferenceInformation.transactionId`, at
/// most 30 characters, unique per attempt): 28 hex digits of the order id and the attempt.
pub fn transaction_id_for(order_id: &str, attempt: u32) -> String {
    let hex = order_id.trim_start_matches("ord_");
    format!("{}{:02}", hex.get(..28).unwrap_or(hex), attempt % 100)
}

/// The runs an order event (`order.approved`, …) starts: one per flow it triggers, on the
/// order's own inbox event. Runs of one customer go in order (their contact is made once).
fn order_runs(record: &OrderRecord, event: &str, dispatch: &dyn Dispatch) -> Vec<NewRun> {
    dispatch
        .flows_for("order-api", event)
        .into_iter()
        .map(|flow| NewRun {
            inbox_id: record.inbox_id,
            flow,
            entity_key: format!("customer:{}", record.customer_email),
            not_before: None,
        })
        .collect()
}

impl Commerce {
    /// A held order's review was decided: it becomes approved (and the flows of
    /// `order.approved` run, order to cash among them) or declined (the flows of
    /// `order.declined`) with `reason` (`DECISION_PROFILE_REJECT` unless given). An order no
    /// longer on hold is left as it is (`false`).
    pub async fn settle_review(
        &self,
        order_id: &str,
        accepted: bool,
        reason: Option<&str>,
        detail: &str,
    ) -> Result<bool, StoreError> {
        let Some(record) = self.store.order(order_id).await? else {
            return Err(StoreError::NotFound(format!("order {order_id}")));
        };
        if record.status != OrderStatus::OnHold {
            return Ok(false);
        }
        let (status, event, reason) = if accepted {
            (OrderStatus::Approved, "order.approved", None)
        } else {
            (
                OrderStatus::Declined,
                "order.declined",
                Some(reason.unwrap_or("DECISION_PROFILE_REJECT").to_string()),
            )
        };
        let runs = order_runs(&record, event, &*self.dispatch);
        let update = PaymentUpdate {
            from: record.status,
            status,
            payment_id: record.payment_id.clone(),
            payment_status: record.payment_status.clone(),
            decline_reason: reason,
            status_detail: Some(detail.to_string()),
            failure_kind: None,
        };
        match self
            .store
            .record_payment(&record.id, &update, &runs, self.clock.now_ms())
            .await
        {
            Ok(_) => {}
            // Decided meanwhile by another path (a reviewer and the admin API at once).
            Err(StoreError::StateMoved { .. }) => return Ok(false),
            Err(e) => return Err(e),
        }
        self.dispatch.queued();
        self.dispatch.changed();
        Ok(true)
    }
}

impl Commerce {
    /// Orders on hold longer than `hold_alert_after` — a review nobody decided, a partial
    /// authorization or an unclear answer nothing handled — told to a person: one alert naming
    /// them (the same key, so once per alert window while any remain). Returns how many.
    pub async fn watch_holds(&self) -> Result<usize, StoreError> {
        let after = Commerce::millis(self.settings.hold_alert_after);
        let held = self
            .store
            .orders_unchanged_since(OrderStatus::OnHold, self.clock.now_ms() - after, 100)
            .await?;
        metrics::gauge!("paybridge_orders_held_too_long").set(held.len() as f64);
        if held.is_empty() {
            return Ok(0);
        }
        let listed: Vec<String> = held
            .iter()
            .take(20)
            .map(|o| {
                format!(
                    "{} ({}: {})",
                    o.reference,
                    o.id,
                    o.status_detail.as_deref().unwrap_or("no detail")
                )
            })
            .collect();
        let hours = self.settings.hold_alert_after.as_secs() / 3600;
        let minutes = self.settings.hold_alert_after.as_secs() / 60;
        let age = if hours >= 1 {
            format!("{hours} h")
        } else {
            format!("{minutes} min")
        };
        self.dispatch.alert(
            "watchdog:holds",
            &format!("{} order(s) on hold for more than {age}", held.len()),
            &format!(
                "These orders are still on hold after their payment, and nothing has decided them: {}{}. Decide each in Decision Manager, or with POST /api/v1/admin/orders/{{id}}/review ({{\"decision\": \"accept\"}} or {{\"decision\": \"reject\"}}).",
                listed.join("; "),
                if held.len() > listed.len() { "; …" } else { "" },
            ),
        );
        Ok(held.len())
    }

    /// An order held where nothing will decide it on its own is told to a person at once:
    /// Cybersource's answer was unclear, or no deployed flow handles the order's event (a
    /// partial authorization without the `partial-authorization` template, a review without
    /// `fraud-review`). Orders still on hold after `[orders] hold_alert_after` are told again
    /// by the watchdog.
    pub(crate) fn alert_if_undecided(
        &self,
        order: &OrderRecord,
        outcome: Outcome,
        detail: Option<&str>,
        runs: &[NewRun],
    ) {
        let why = match outcome {
            Outcome::Unknown => "Cybersource's answer says neither approved nor declined",
            Outcome::Held | Outcome::PartiallyApproved if runs.is_empty() => {
                "no deployed flow handles its event"
            }
            _ => return,
        };
        tracing::warn!(order = %order.reference, outcome = outcome.as_str(), "an order is on hold and {why}; alerted");
        self.dispatch.alert(
            &format!("held:{}", order.id),
            &format!("Order {} is on hold: {why}", order.reference),
            &format!(
                "Order {} ({}) is on hold after its payment: {}. No flow will decide it ({} starts none that can). Check the payment in the Business Center, then decide the order: POST /api/v1/admin/orders/{}/review with {{\"decision\": \"accept\"}} or {{\"decision\": \"reject\"}}.",
                order.reference,
                order.id,
                detail.unwrap_or("no detail"),
                outcome.order_event(),
                order.id,
            ),
        );
    }
}

/// What the payment step's result makes of the order, and the runs that follow: the flows
/// `flows` says the outcome's order event (`order.approved`, `order.declined`, `order.held`)
/// starts.
pub(crate) fn order_update(
    record: &OrderRecord,
    result: Result<PaymentResult, StepError>,
    resolve_at: i64,
    dispatch: &dyn Dispatch,
) -> (PaymentUpdate, Vec<NewRun>) {
    match result {
        Ok(paid) => {
            let status = match paid.outcome {
                Outcome::Approved => OrderStatus::Approved,
                Outcome::Held | Outcome::PartiallyApproved | Outcome::Unknown => {
                    OrderStatus::OnHold
                }
                Outcome::Declined => OrderStatus::Declined,
            };
            let runs = order_runs(record, paid.outcome.order_event(), dispatch);
            let update = PaymentUpdate {
                from: record.status,
                status,
                payment_id: Some(paid.transaction_id),
                payment_status: Some(paid.status),
                decline_reason: paid.reason,
                status_detail: paid.message,
                failure_kind: None,
            };
            (update, runs)
        }
        Err(error) if error.kind == FailureKind::OutcomeUnknown => {
            let update = PaymentUpdate {
                from: record.status,
                status: OrderStatus::PaymentUnknown,
                payment_id: None,
                payment_status: None,
                decline_reason: None,
                status_detail: Some(format!("{error}; being resolved with Cybersource")),
                failure_kind: Some(error.kind),
            };
            let run = NewRun {
                inbox_id: record.inbox_id,
                flow: RESOLUTION_RUN.into(),
                entity_key: format!("order:{}", record.reference),
                not_before: Some(resolve_at),
            };
            (update, vec![run])
        }
        Err(error) => {
            let update = PaymentUpdate {
                from: record.status,
                status: OrderStatus::PaymentFailed,
                payment_id: None,
                payment_status: None,
                decline_reason: None,
                status_detail: Some(error.to_string()),
                failure_kind: Some(error.kind),
            };
            (update, Vec::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(status: &str, auth_rcode: Option<&str>) -> TransactionDetails {
        let mut applications = vec![];
        if let Some(code) = auth_rcode {
            applications.push(serde_json::json!({"name": "ics_auth", "rCode": code}));
            applications.push(serde_json::json!({"name": "ics_bill", "rCode": code}));
        }
        serde_json::from_value(serde_json::json!({
            "id": "7000000000000000000001",
            "status": status,
            "applicationInformation": {"status": status, "applications": applications},
            "orderInformation": {"amountDetails": {"totalAmount": "3085", "authorizedAmount": "1542", "currency": "JPY"}},
        }))
        .unwrap()
    }

    /// A sale found after its answer was lost reports its capture's status: approved when its
    /// authorization succeeded. Unknown means unknown — never a decline.
    #[test]
    fn a_found_payment_is_read_by_what_it_did_and_unknown_stays_unknown() {
        let outcome =
            |status, rcode| PaymentResult::from_details(&found(status, rcode)).map(|r| r.outcome);
        assert_eq!(outcome("AUTHORIZED", Some("1")), Some(Outcome::Approved));
        assert_eq!(outcome("PENDING", Some("1")), Some(Outcome::Approved));
        assert_eq!(outcome("TRANSMITTED", Some("1")), Some(Outcome::Approved));
        assert_eq!(
            outcome("AUTHORIZED_PENDING_REVIEW", Some("1")),
            Some(Outcome::Held)
        );
        assert_eq!(outcome("PENDING_REVIEW", None), Some(Outcome::Held));
        assert_eq!(outcome("DECLINED", Some("0")), Some(Outcome::Declined));
        assert_eq!(outcome("PENDING", Some("0")), Some(Outcome::Declined));
        assert_eq!(outcome("PENDING", None), Some(Outcome::Unknown));
        assert_eq!(outcome("SOMETHING_NEW", Some("1")), Some(Outcome::Unknown));
        assert_eq!(outcome("VOIDED", Some("1")), None);
        let partial = PaymentResult::from_details(&found("PARTIAL_AUTHORIZED", Some("1"))).unwrap();
        assert_eq!(partial.outcome, Outcome::PartiallyApproved);
        assert_eq!(partial.authorized_amount, Some(Decimal::from(1542)));
        assert!(
            partial
                .message
                .as_deref()
                .unwrap()
                .contains("only 1542 of 3085"),
            "{partial:?}"
        );
    }

    struct NoFlows;

    impl Dispatch for NoFlows {
        fn flows_for(&self, _: &str, event_type: &str) -> Vec<String> {
            vec![format!("flow-for-{event_type}")]
        }
        fn queued(&self) {}
        fn changed(&self) {}
        fn alert(&self, _: &str, _: &str, _: &str) {}
    }

    /// Every outcome moves the order from the state it was read in, to a state and an event of
    /// its own: partial and unclear ones are held, with their own events.
    #[test]
    fn each_outcome_holds_declines_or_approves_with_its_own_event() {
        let record = OrderRecord {
            id: "ord_1".into(),
            reference: "R-1".into(),
            idempotency_key: "k".into(),
            request_fingerprint: "f".into(),
            inbox_id: 1,
            status: OrderStatus::PendingPayment,
            currency: "JPY".into(),
            amount_minor: 3085,
            customer_email: "ada@example.com".into(),
            card_brand: None,
            card_last4: None,
            payment_id: None,
            payment_status: None,
            decline_reason: None,
            status_detail: None,
            failure_kind: None,
            zoho_contact_id: None,
            zoho_invoice_id: None,
            zoho_payment_id: None,
            created_at: 0,
            updated_at: 0,
        };
        for (outcome, status, event) in [
            (Outcome::Approved, OrderStatus::Approved, "order.approved"),
            (Outcome::Held, OrderStatus::OnHold, "order.held"),
            (
                Outcome::PartiallyApproved,
                OrderStatus::OnHold,
                "order.partially_authorized",
            ),
            (
                Outcome::Unknown,
                OrderStatus::OnHold,
                "order.payment_unclear",
            ),
            (Outcome::Declined, OrderStatus::Declined, "order.declined"),
        ] {
            let mut result = PaymentResult::from_details(&found("AUTHORIZED", Some("1"))).unwrap();
            result.outcome = outcome;
            let (update, runs) = order_update(&record, Ok(result), 0, &NoFlows);
            assert_eq!(update.from, OrderStatus::PendingPayment);
            assert_eq!(update.status, status, "{outcome:?}");
            assert_eq!(runs[0].flow, format!("flow-for-{event}"));
        }
    }

    #[test]
    fn transaction_ids_fit_and_differ_per_attempt() {
        let order = "ord_019ab0c2d3e4f5a6b7c8d9e0f1a2b3c4";
        let first = transaction_id_for(order, 1);
        assert_eq!(first.len(), 30);
        assert_ne!(first, transaction_id_for(order, 2));
        assert!(first.starts_with("019ab0c2d3e4f5a6b7c8d9e0f1a2"));
    }
}
