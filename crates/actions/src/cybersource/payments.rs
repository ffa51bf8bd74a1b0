//! Cybersource payments for flows beyond the order API's own: charging a saved card (authorize
//! or sale with a TMS token), voiding a transaction, searching transactions, deciding a
//! Decision Manager case.
//!
//! A charge is never sent blindly twice: each attempt carries a merchant transaction id made
//! from the step's key and the attempt, and after an unknown outcome the earlier attempt is
//! looked up through Transaction Search — adopted when Cybersource has it, cancelled to be sure
//! (timeout reversal or void) when it has no trace — before a new attempt is made.

use paybridge_cybersource::payments::{
    AmountDetails, ClientReference, OrderInformation, PaymentInformation, PaymentRequest,
    ProcessingInformation, TokenId,
};
use paybridge_cybersource::resolution::{Resolution, Unanswered};
use paybridge_cybersource::search::SearchRequest;
use paybridge_cybersource::voids::{VoidRequest, VoidTarget};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Digest as _;

use paybridge_commerce::payments::PaymentResult;
use paybridge_flows::spec::{ActionSpec, Effect, Output, Recovery, Type, opt, out, req};
use paybridge_model::StepError;

use crate::{Action, Call};

/// A charge of a saved card.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Charge {
    /// The merchant reference (`clientReferenceInformation.code`), e.g. the invoice number.
    pub reference: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    pub currency: String,
    /// A TMS customer (its default instrument unless `payment_instrument_id`)…
    #[serde(default)]
    pub customer_id: Option<String>,
    #[serde(default)]
    pub payment_instrument_id: Option<String>,
    /// …or an instrument identifier.
    #[serde(default)]
    pub instrument_identifier: Option<String>,
}

/// The merchant transaction id of a step's `attempt`-th charge: 30 characters.
fn transaction_id(key: &str, attempt: u32) -> String {
    let digest = hex::encode(sha2::Sha256::digest(key.as_bytes()));
    format!("F{}{:02}", &digest[..27], attempt % 100)
}

fn result_output(result: &PaymentResult, amount: Decimal, currency: &str) -> Value {
    json!({
        "transaction_id": result.transaction_id,
        "status": result.status,
        "outcome": result.outcome.as_str(),
        "reason": result.reason,
        "message": result.message,
        "amount": amount.to_string(),
        "currency": currency,
    })
}

const CHARGE_FIELDS: &[paybridge_flows::spec::Field] = &[
    req("reference"),
    req("amount"),
    req("currency"),
    opt("customer_id"),
    opt("payment_instrument_id"),
    opt("instrument_identifier"),
];

const CHARGE_OUTPUTS: &[Output] = &[
    out("transaction_id", Type::Text),
    out("status", Type::Text),
    out("outcome", Type::Text),
    out("reason", Type::Text),
    out("message", Type::Text),
    out("amount", Type::Decimal),
    out("currency", Type::Text),
];

/// `cybersource.authorize`: authorizes a saved card (TMS token), without capture.
pub struct Authorize;

impl Action for Authorize {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "cybersource.authorize",
        summary: "authorize a saved card (TMS token); an unanswered attempt is looked up or reversed first",
        fields: Some(CHARGE_FIELDS),
        outputs: CHARGE_OUTPUTS,
        effect: Effect::Call,
        recovery: Recovery::LookedUp(
            "the earlier attempt is found by its merchant transaction id (Transaction Search) and adopted, or reversed to be sure",
        ),
    };
    type Input = Charge;

    async fn run(&self, call: &Call<'_>, input: Charge) -> Result<Value, StepError> {
        charge(call, false, input).await
    }
}

/// `cybersource.sale`: charges a saved card (authorization and capture).
pub struct Sale;

impl Action for Sale {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "cybersource.sale",
        summary: "charge a saved card (TMS token); an unanswered attempt is looked up or voided first",
        fields: Some(CHARGE_FIELDS),
        outputs: CHARGE_OUTPUTS,
        effect: Effect::Call,
        recovery: Recovery::LookedUp(
            "the earlier attempt is found by its merchant transaction id (Transaction Search) and adopted, or voided to be sure",
        ),
    };
    type Input = Charge;

    async fn run(&self, call: &Call<'_>, input: Charge) -> Result<Value, StepError> {
        charge(call, true, input).await
    }
}

/// Authorizes (`capture: false`) or charges (`capture: true`) a saved card. A decline is an
/// outcome, not an error: the output says `declined` and why, for later steps to act on.
async fn charge(call: &Call<'_>, capture: bool, charge: Charge) -> Result<Value, StepError> {
    let cybersource = &call.env.connectors.cybersource;
    let reference = charge.reference.trim().to_string();
    if reference.is_empty() || reference.len() > 50 {
        return Err(StepError::permanent(
            "engine",
            "reference: 1 to 50 characters (Cybersource's merchant reference)",
        ));
    }
    if charge.amount <= Decimal::ZERO {
        return Err(StepError::permanent(
            "engine",
            "amount: must be more than zero",
        ));
    }
    let amount = AmountDetails {
        total_amount: charge.amount,
        currency: charge.currency.trim().to_uppercase(),
    };
    let mut payment_information = PaymentInformation::default();
    match (&charge.customer_id, &charge.instrument_identifier) {
        (Some(customer), None) => {
            payment_information.customer = Some(TokenId {
                id: customer.trim().to_string(),
            });
            payment_information.payment_instrument = charge
                .payment_instrument_id
                .as_deref()
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .map(|id| TokenId { id: id.to_string() });
        }
        (None, Some(identifier)) => {
            payment_information.instrument_identifier = Some(TokenId {
                id: identifier.trim().to_string(),
            });
        }
        _ => {
            return Err(StepError::permanent(
                "engine",
                "give exactly one of customer_id (a TMS customer) or instrument_identifier",
            ));
        }
    }
    if call.attempt.uncertain && call.attempt.number > 1 {
        let previous = transaction_id(call.key, call.attempt.number - 1);
        let unanswered = if capture {
            Unanswered::Voidable
        } else {
            Unanswered::Authorization {
                amount: amount.clone(),
            }
        };
        match cybersource
            .resolve_unanswered(&reference, &previous, &unanswered, 30)
            .await?
        {
            Resolution::Found(details) => {
                if let Some(result) = PaymentResult::from_details(&details) {
                    tracing::info!(reference, transaction = %details.id, "found the charge an earlier attempt made");
                    return Ok(result_output(&result, charge.amount, &amount.currency));
                }
            }
            Resolution::NotFound { cancelled } => {
                tracing::info!(
                    reference,
                    cancelled,
                    "an unanswered charge left nothing (cancelled to be sure); charging anew"
                );
            }
        }
    }
    let request = PaymentRequest {
        client_reference_information: ClientReference {
            code: reference,
            transaction_id: Some(transaction_id(call.key, call.attempt.number)),
        },
        processing_information: ProcessingInformation {
            capture,
            commerce_indicator: Some("recurring".into()),
            action_list: vec![],
            action_token_types: vec![],
        },
        payment_information,
        token_information: None,
        risk_information: None,
        device_information: None,
        buyer_information: None,
        order_information: OrderInformation {
            amount_details: amount.clone(),
            bill_to: None,
            line_items: vec![],
        },
    };
    let response = cybersource.create_payment(&request).await?;
    let result = PaymentResult::from_response(&response);
    Ok(result_output(&result, charge.amount, &amount.currency))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoidInput {
    /// The sale, capture, refund or credit to void.
    pub transaction_id: String,
    /// `payment` (a sale; the default), `capture`, `refund` or `credit`.
    #[serde(default)]
    pub kind: Option<String>,
    pub reference: String,
}

/// `cybersource.void`: voids a sale, capture, refund or credit before settlement; after an
/// unknown outcome, a void among the transaction's related ones is the earlier attempt's.
pub struct Void;

impl Action for Void {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "cybersource.void",
        summary: "void a sale, capture, refund or credit (found among its transactions on retry)",
        fields: Some(&[req("transaction_id"), opt("kind"), req("reference")]),
        outputs: &[out("void_id", Type::Text), out("status", Type::Text)],
        effect: Effect::Call,
        recovery: Recovery::LookedUp(
            "a void among the transaction's related ones is looked up first",
        ),
    };
    type Input = VoidInput;

    async fn run(&self, call: &Call<'_>, input: VoidInput) -> Result<Value, StepError> {
        void(call, input).await
    }
}

async fn void(call: &Call<'_>, input: VoidInput) -> Result<Value, StepError> {
    let cybersource = &call.env.connectors.cybersource;
    let target = match input.kind.as_deref().unwrap_or("payment") {
        "payment" => VoidTarget::Payment,
        "capture" => VoidTarget::Capture,
        "refund" => VoidTarget::Refund,
        "credit" => VoidTarget::Credit,
        other => {
            return Err(StepError::permanent(
                "engine",
                format!("kind: {other:?} is not payment, capture, refund or credit"),
            ));
        }
    };
    let id = input.transaction_id.trim();
    if call.attempt.uncertain
        && let Some(done) = related_by_application(cybersource, id, "ics_void").await?
    {
        return Ok(json!({"void_id": done.id, "status": done.status}));
    }
    let answer = cybersource
        .void(
            target,
            id,
            &VoidRequest {
                client_reference_information: ClientReference {
                    code: input.reference.trim().to_string(),
                    transaction_id: None,
                },
            },
        )
        .await?;
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
                "Cybersource refused the void of {id} ({}): {why}",
                answer.status.as_str()
            ),
        ));
    }
    Ok(json!({"void_id": answer.id, "status": answer.status.as_str()}))
}

/// The transaction related to `id` (its capture, reversal, void, …) that ran `application`,
/// if any: how a follow-on whose answer was lost is found instead of sent again.
pub(crate) async fn related_by_application(
    cybersource: &paybridge_cybersource::Client,
    id: &str,
    application: &str,
) -> Result<Option<paybridge_cybersource::search::TransactionDetails>, StepError> {
    let original = cybersource.transaction(id).await?;
    for related in original.related_ids() {
        let details = cybersource.transaction(&related).await?;
        if details
            .application_information
            .application(application)
            .is_some()
        {
            return Ok(Some(details));
        }
    }
    Ok(None)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchInput {
    /// The merchant reference the transactions were sent with.
    pub reference: String,
    /// How far back to look (default 30 days, at most 365).
    #[serde(default)]
    pub days: Option<u32>,
}

/// `cybersource.search`: the transactions sent with a merchant reference (Transaction Search),
/// newest last.
pub struct Search;

impl Action for Search {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "cybersource.search",
        summary: "the transactions sent with a merchant reference",
        fields: Some(&[req("reference"), opt("days")]),
        outputs: &[out("count", Type::Integer), out("transactions", Type::List)],
        effect: Effect::Call,
        recovery: Recovery::Repeatable,
    };
    type Input = SearchInput;

    async fn run(&self, call: &Call<'_>, input: SearchInput) -> Result<Value, StepError> {
        search(call, input).await
    }
}

async fn search(call: &Call<'_>, input: SearchInput) -> Result<Value, StepError> {
    let days = input.days.unwrap_or(30).clamp(1, 365);
    let found = call
        .env
        .connectors
        .cybersource
        .search(&SearchRequest::by_merchant_reference(
            input.reference.trim(),
            days,
        ))
        .await?;
    let transactions: Vec<Value> = found
        .summaries()
        .iter()
        .map(|t| {
            json!({
                "id": t.id,
                "submit_time": t.submit_time_utc,
                "amount": t.amount().map(|a| a.to_string()),
                "currency": t.order_information.amount_details.as_ref().and_then(|a| a.currency.clone()),
                "applications": t.application_information.applications.iter().map(|a| &a.name).collect::<Vec<_>>(),
                "authorized": t.is_successful_authorization(),
            })
        })
        .collect();
    Ok(json!({"count": transactions.len(), "transactions": transactions}))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecideInput {
    /// The Decision Manager case (the held payment's id).
    pub case_id: String,
    /// `accept` or `reject`.
    pub decision: String,
    #[serde(default)]
    pub comments: Option<String>,
    /// Also capture (accept) or reverse (reject) the reviewed authorization.
    #[serde(default)]
    pub settle: bool,
}

/// `cybersource.case.decide`: decides a Decision Manager review case. A case cannot be looked
/// up here, so an attempt whose outcome is unknown is not repeated blindly: the step stops for
/// a person to check the case.
pub struct CaseDecide;

impl Action for CaseDecide {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "cybersource.case.decide",
        summary: "accept or reject a Decision Manager case, optionally capturing or reversing (an unknown outcome stops for a person)",
        fields: Some(&[
            req("case_id"),
            req("decision"),
            opt("comments"),
            opt("settle"),
        ]),
        outputs: &[
            out("case_id", Type::Text),
            out("status", Type::Text),
            out("settled", Type::Boolean),
        ],
        effect: Effect::Call,
        recovery: Recovery::Person,
    };
    type Input = DecideInput;

    async fn run(&self, call: &Call<'_>, input: DecideInput) -> Result<Value, StepError> {
        decide(call, input).await
    }
}

async fn decide(call: &Call<'_>, input: DecideInput) -> Result<Value, StepError> {
    use paybridge_cybersource::risk::CaseDecision;
    let decision = match input.decision.trim().to_ascii_lowercase().as_str() {
        "accept" => CaseDecision::Accept {
            capture: input.settle,
        },
        "reject" => CaseDecision::Reject {
            reverse: input.settle,
        },
        other => {
            return Err(StepError::permanent(
                "engine",
                format!("decision: {other:?} is neither accept nor reject"),
            ));
        }
    };
    if call.attempt.uncertain {
        return Err(StepError::permanent(
            "cybersource",
            format!(
                "an earlier attempt to decide case {} may have been taken: check the case in the Business Center, then replay or discard this run",
                input.case_id.trim()
            ),
        ));
    }
    let answer = call
        .env
        .connectors
        .cybersource
        .decide_case(
            input.case_id.trim(),
            decision,
            input.comments.as_deref().unwrap_or("decided by paybridge"),
        )
        .await?;
    Ok(json!({
        "case_id": answer.id,
        "status": answer.status,
        "settled": answer.settled(),
    }))
}
