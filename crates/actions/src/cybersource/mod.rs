//! Cybersource: refunds, captures and reversals of the order's payment, charges of saved cards,
//! voids, searches, Decision Manager cases, and TMS customers and instruments.

pub mod payments;
pub mod tms;

use paybridge_commerce::refunds::refund_transaction_id;
use paybridge_flows::spec::{ActionSpec, Effect, Output, Recovery, Type, out, req};
use paybridge_model::StepError;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Action, Call, Runnable};

/// The Cybersource actions.
pub static ACTIONS: &[&dyn Runnable] = &[
    &Refund,
    &Capture,
    &Reverse,
    &payments::Authorize,
    &payments::Sale,
    &payments::Void,
    &payments::Search,
    &payments::CaseDecide,
    &tms::CustomerGet,
    &tms::CustomerCreate,
    &tms::CustomerUpdate,
    &tms::InstrumentGet,
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundInput {
    refund_id: String,
    payment_id: String,
    #[serde(with = "rust_decimal::serde::str")]
    amount: Decimal,
    currency: String,
    reference: String,
}

/// `cybersource.refund`: refunds (part of) a payment. An attempt whose answer was lost is
/// looked up by its merchant transaction id (and, if Cybersource has no trace of it, voided to
/// be sure) before a new attempt, with a new transaction id, is sent.
pub struct Refund;

impl Action for Refund {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "cybersource.refund",
        summary: "refund (part of) a payment (an unanswered attempt is looked up, or voided, first)",
        fields: Some(&[
            req("refund_id"),
            req("payment_id"),
            req("amount"),
            req("currency"),
            req("reference"),
        ]),
        outputs: &[
            out("cybersource_refund_id", Type::Text),
            out("status", Type::Text),
            out("amount", Type::Decimal),
        ],
        effect: Effect::Call,
        recovery: Recovery::LookedUp(
            "the earlier attempt is found by its merchant transaction id and adopted, or voided to be sure",
        ),
    };
    type Input = RefundInput;

    async fn find_lost(
        &self,
        call: &Call<'_>,
        refund: &RefundInput,
    ) -> Result<Option<Value>, StepError> {
        use paybridge_cybersource::resolution::{Resolution, Unanswered};
        if call.attempt.number < 2 {
            return Ok(None);
        }
        let previous = refund_transaction_id(&refund.refund_id, call.attempt.number - 1);
        match call
            .env
            .connectors
            .cybersource
            .resolve_unanswered(&refund.reference, &previous, &Unanswered::Voidable, 30)
            .await?
        {
            Resolution::Found(details) => {
                tracing::info!(refund = %refund.refund_id, cybersource = %details.id, "found the refund an earlier attempt made");
                let amount = details
                    .order_information
                    .amount_details
                    .as_ref()
                    .and_then(|a| a.total_amount)
                    .unwrap_or(refund.amount);
                Ok(Some(json!({
                    "cybersource_refund_id": details.id,
                    "status": details.status,
                    "amount": amount.to_string(),
                })))
            }
            Resolution::NotFound { cancelled } => {
                tracing::info!(refund = %refund.refund_id, cancelled, "an unanswered refund attempt left nothing (voided to be sure); refunding anew");
                Ok(None)
            }
        }
    }

    async fn run(&self, call: &Call<'_>, refund: RefundInput) -> Result<Value, StepError> {
        use paybridge_cybersource::captures::AmountOnly;
        use paybridge_cybersource::payments::{AmountDetails, ClientReference};
        use paybridge_cybersource::refunds::RefundRequest;

        let request = RefundRequest {
            client_reference_information: ClientReference {
                code: refund.reference.clone(),
                transaction_id: Some(refund_transaction_id(
                    &refund.refund_id,
                    call.attempt.number,
                )),
            },
            order_information: AmountOnly {
                amount_details: AmountDetails {
                    total_amount: refund.amount,
                    currency: refund.currency.clone(),
                },
            },
        };
        let answer = call
            .env
            .connectors
            .cybersource
            .refund_payment(&refund.payment_id, &request)
            .await?;
        if !answer.status.succeeded() {
            let (reason, message) = answer
                .error_information
                .as_ref()
                .map(|e| {
                    (
                        e.reason.as_str().to_string(),
                        e.message.clone().unwrap_or_default(),
                    )
                })
                .unwrap_or_default();
            return Err(StepError::permanent(
                "cybersource",
                format!(
                    "Cybersource refused the refund ({}): {reason} {message}",
                    answer.status.as_str()
                ),
            ));
        }
        Ok(json!({
            "cybersource_refund_id": answer.id,
            "status": answer.status.as_str(),
            "amount": answer.amount().unwrap_or(refund.amount).to_string(),
        }))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowOnInput {
    payment_id: String,
    #[serde(with = "rust_decimal::serde::str")]
    amount: Decimal,
    currency: String,
    reference: String,
}

const FOLLOW_ON_FIELDS: &[paybridge_flows::spec::Field] = &[
    req("payment_id"),
    req("amount"),
    req("currency"),
    req("reference"),
];

const FOLLOW_ON_OUTPUTS: &[Output] =
    &[out("cybersource_id", Type::Text), out("status", Type::Text)];

/// `cybersource.capture`: captures an authorization (after a review was accepted).
pub struct Capture;

impl Action for Capture {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "cybersource.capture",
        summary: "capture an authorization (found among the payment's transactions on retry)",
        fields: Some(FOLLOW_ON_FIELDS),
        outputs: FOLLOW_ON_OUTPUTS,
        effect: Effect::Call,
        recovery: Recovery::LookedUp(
            "a capture among the payment's related transactions is looked up first",
        ),
    };
    type Input = FollowOnInput;

    async fn find_lost(
        &self,
        call: &Call<'_>,
        input: &FollowOnInput,
    ) -> Result<Option<Value>, StepError> {
        follow_on_done(call, &input.payment_id, "ics_bill").await
    }

    async fn run(&self, call: &Call<'_>, input: FollowOnInput) -> Result<Value, StepError> {
        capture_or_reverse(call, true, input).await
    }
}

/// `cybersource.reverse`: reverses an authorization (after a review was rejected).
pub struct Reverse;

impl Action for Reverse {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "cybersource.reverse",
        summary: "reverse an authorization (found among the payment's transactions on retry)",
        fields: Some(FOLLOW_ON_FIELDS),
        outputs: FOLLOW_ON_OUTPUTS,
        effect: Effect::Call,
        recovery: Recovery::LookedUp(
            "a reversal among the payment's related transactions is looked up first",
        ),
    };
    type Input = FollowOnInput;

    async fn find_lost(
        &self,
        call: &Call<'_>,
        input: &FollowOnInput,
    ) -> Result<Option<Value>, StepError> {
        follow_on_done(call, &input.payment_id, "ics_auth_reversal").await
    }

    async fn run(&self, call: &Call<'_>, input: FollowOnInput) -> Result<Value, StepError> {
        capture_or_reverse(call, false, input).await
    }
}

/// The follow-on (`application`: a capture, a reversal) an earlier attempt made on the payment,
/// if it did: a second capture or reversal would be refused, or worse.
async fn follow_on_done(
    call: &Call<'_>,
    payment_id: &str,
    application: &str,
) -> Result<Option<Value>, StepError> {
    let done =
        payments::related_by_application(&call.env.connectors.cybersource, payment_id, application)
            .await?;
    Ok(done.map(|done| json!({"cybersource_id": done.id, "status": done.status})))
}

/// Captures or reverses an authorization.
async fn capture_or_reverse(
    call: &Call<'_>,
    capture: bool,
    input: FollowOnInput,
) -> Result<Value, StepError> {
    use paybridge_cybersource::captures::{AmountOnly, CaptureRequest};
    use paybridge_cybersource::payments::{AmountDetails, ClientReference};
    use paybridge_cybersource::reversals::{ReversalInformation, ReversalRequest};

    let cybersource = &call.env.connectors.cybersource;
    let reference = ClientReference {
        code: input.reference.clone(),
        transaction_id: None,
    };
    let amount = AmountDetails {
        total_amount: input.amount,
        currency: input.currency.clone(),
    };
    let answer = if capture {
        cybersource
            .capture(
                &input.payment_id,
                &CaptureRequest {
                    client_reference_information: reference,
                    order_information: AmountOnly {
                        amount_details: amount,
                    },
                },
            )
            .await?
    } else {
        cybersource
            .reverse_authorization(
                &input.payment_id,
                &ReversalRequest {
                    client_reference_information: reference,
                    reversal_information: ReversalInformation {
                        amount_details: amount,
                        reason: Some("rejected after review".into()),
                    },
                },
            )
            .await?
    };
    if !answer.status.succeeded() {
        let why = answer
            .error_information
            .as_ref()
            .map(|e| {
                format!(
                    "{} {}",
                    e.reason.as_str(),
                    e.message.clone().unwrap_or_default()
                )
            })
            .unwrap_or_default();
        return Err(StepError::permanent(
            "cybersource",
            format!(
                "Cybersource refused the {} ({}): {why}",
                if capture { "capture" } else { "reversal" },
                answer.status.as_str()
            ),
        ));
    }
    Ok(json!({"cybersource_id": answer.id, "status": answer.status.as_str()}))
}
