//! The Token Management Service actions of the catalogue: reading a TMS customer and its card
//! (brand, last four, expiry — the masked number is all Cybersource shows), and changing the
//! customer's e-mail or merchant customer id. A card number never passes through here.

use paybridge_cybersource::tms::{BuyerInformation, CustomerRequest};
use serde::Deserialize;
use serde_json::{Value, json};

use paybridge_flows::spec::{ActionSpec, Effect, Output, Recovery, Type, opt, out, req};
use paybridge_model::StepError;

use crate::{Action, Call, Env};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerId {
    pub customer_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentOf {
    pub customer_id: String,
    /// The customer's default instrument when absent.
    #[serde(default)]
    pub payment_instrument_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerChange {
    pub customer_id: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub merchant_customer_id: Option<String>,
}

fn customer_output(customer: &paybridge_cybersource::tms::Customer) -> Value {
    let buyer = customer.buyer_information.clone().unwrap_or_default();
    json!({
        "customer_id": customer.id,
        "email": buyer.email,
        "merchant_customer_id": buyer.merchant_customer_id,
        "default_payment_instrument_id": customer.default_payment_instrument.as_ref().map(|i| &i.id),
    })
}

async fn customer(env: &Env, input: CustomerId) -> Result<Value, StepError> {
    let customer = env
        .connectors
        .cybersource
        .customer(input.customer_id.trim())
        .await?;
    Ok(customer_output(&customer))
}

/// The card of a customer's payment instrument, as far as Cybersource shows it.
async fn instrument(env: &Env, input: InstrumentOf) -> Result<Value, StepError> {
    let cybersource = &env.connectors.cybersource;
    let customer_id = input.customer_id.trim();
    let instrument_id = match input
        .payment_instrument_id
        .filter(|id| !id.trim().is_empty())
    {
        Some(id) => id,
        None => cybersource
            .customer(customer_id)
            .await?
            .default_payment_instrument
            .map(|i| i.id)
            .ok_or_else(|| {
                StepError::permanent(
                    "cybersource",
                    format!("TMS customer {customer_id} has no default payment instrument"),
                )
            })?,
    };
    let instrument = cybersource
        .payment_instrument(customer_id, instrument_id.trim())
        .await?;
    let identifier_id = instrument
        .instrument_identifier
        .as_ref()
        .map(|i| i.id.clone());
    // The masked number (`411111XXXXXX1111`) is on the instrument identifier.
    let masked = match &identifier_id {
        Some(id) => cybersource
            .instrument_identifier(id)
            .await?
            .card
            .and_then(|card| card.number),
        None => None,
    };
    let last4 = masked.as_deref().and_then(|number| {
        let digits: String = number
            .chars()
            .rev()
            .take(4)
            .collect::<String>()
            .chars()
            .rev()
            .collect();
        (digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
    });
    let card = instrument.card.clone().unwrap_or_default();
    let brand = card
        .card_type
        .as_deref()
        .map(paybridge_cybersource::payments::brand_of_card_type)
        .filter(|brand| *brand != paybridge_model::CardBrand::Unknown)
        .or_else(|| masked.as_deref().map(paybridge_model::CardBrand::detect))
        .map(|brand| brand.as_str());
    let expiry = match (&card.expiration_month, &card.expiration_year) {
        (Some(month), Some(year)) => Some(format!("{:0>2}/{year}", month.trim())),
        _ => None,
    };
    Ok(json!({
        "payment_instrument_id": instrument.id,
        "default": instrument.default,
        "state": instrument.state,
        "brand": brand,
        "last4": last4,
        "expiration_month": card.expiration_month,
        "expiration_year": card.expiration_year,
        "expiry": expiry,
        "instrument_identifier_id": identifier_id,
    }))
}

/// Changes what differs, against the version read (`if-match`): a concurrent change (412) is
/// read again and the change re-applied on it, never overwritten blindly. Nothing to change:
/// no write. Setting the same values again is harmless, so an unknown outcome is just retried.
async fn update_customer(env: &Env, input: CustomerChange) -> Result<Value, StepError> {
    let cybersource = &env.connectors.cybersource;
    let customer_id = input.customer_id.trim();
    let clean = |value: &Option<String>| {
        value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let mut tries = 0;
    loop {
        tries += 1;
        let current = cybersource.customer(customer_id).await?;
        let buyer = current.buyer_information.clone().unwrap_or_default();
        let wanted = BuyerInformation {
            email: clean(&input.email).or(buyer.email.clone()),
            merchant_customer_id: clean(&input.merchant_customer_id)
                .or(buyer.merchant_customer_id.clone()),
        };
        if wanted == buyer {
            let mut output = customer_output(&current);
            output["changed"] = json!(false);
            return Ok(output);
        }
        let request = CustomerRequest {
            buyer_information: Some(wanted),
            ..CustomerRequest::default()
        };
        match cybersource
            .update_customer(customer_id, &request, current.etag.as_deref())
            .await
        {
            Ok(updated) => {
                let mut output = customer_output(&updated);
                output["changed"] = json!(true);
                return Ok(output);
            }
            Err(e) if e.http_status() == Some(412) && tries < 3 => {
                tracing::info!(
                    customer_id,
                    "the TMS customer changed meanwhile; reading it again"
                );
            }
            Err(e) => return Err(e.into()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    pub email: String,
    #[serde(default)]
    pub merchant_customer_id: Option<String>,
}

/// Creates a TMS customer (one write; cards come with a payment's `save_card`). TMS has no
/// search for customers: an attempt whose outcome is unknown is not
/// repeated blindly — the step fails for a person to check the Business Center.
async fn create_customer(
    env: &Env,
    uncertain: bool,
    input: NewCustomer,
) -> Result<Value, StepError> {
    if uncertain {
        return Err(StepError::permanent(
            "cybersource",
            format!(
                "an earlier attempt to create the TMS customer for {} may have succeeded, and TMS cannot be searched for it: check the Business Center, then replay (creates another) or discard this run",
                input.email.trim()
            ),
        ));
    }
    let cybersource = &env.connectors.cybersource;
    let request = CustomerRequest {
        buyer_information: Some(BuyerInformation {
            email: Some(input.email.trim().to_string()),
            merchant_customer_id: input
                .merchant_customer_id
                .as_deref()
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(str::to_string),
        }),
        ..CustomerRequest::default()
    };
    let customer = cybersource.create_customer(&request).await?;
    Ok(customer_output(&customer))
}

const CUSTOMER_OUTPUTS: &[Output] = &[
    out("customer_id", Type::Text),
    out("email", Type::Text),
    out("merchant_customer_id", Type::Text),
    out("default_payment_instrument_id", Type::Text),
];

/// `cybersource.customer.get`: a TMS customer, read.
pub struct CustomerGet;

impl Action for CustomerGet {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "cybersource.customer.get",
        summary: "read a TMS customer (e-mail, default instrument)",
        fields: Some(&[req("customer_id")]),
        outputs: CUSTOMER_OUTPUTS,
        effect: Effect::Call,
        recovery: Recovery::Repeatable,
    };
    type Input = CustomerId;

    async fn run(&self, call: &Call<'_>, input: CustomerId) -> Result<Value, StepError> {
        customer(call.env, input).await
    }
}

/// `cybersource.customer.create`: a TMS customer created (a token for a customer).
pub struct CustomerCreate;

impl Action for CustomerCreate {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "cybersource.customer.create",
        summary: "create a TMS customer (an unknown outcome stops for a person: TMS cannot be searched)",
        fields: Some(&[req("email"), opt("merchant_customer_id")]),
        outputs: CUSTOMER_OUTPUTS,
        effect: Effect::Call,
        recovery: Recovery::Person,
    };
    type Input = NewCustomer;

    async fn run(&self, call: &Call<'_>, input: NewCustomer) -> Result<Value, StepError> {
        create_customer(call.env, call.attempt.uncertain, input).await
    }
}

/// `cybersource.customer.update`: a TMS customer's e-mail or merchant customer id changed (what
/// differs only).
pub struct CustomerUpdate;

impl Action for CustomerUpdate {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "cybersource.customer.update",
        summary: "change a TMS customer's e-mail or merchant customer id (what differs; if-match)",
        fields: Some(&[
            req("customer_id"),
            opt("email"),
            opt("merchant_customer_id"),
        ]),
        outputs: &[
            out("customer_id", Type::Text),
            out("email", Type::Text),
            out("changed", Type::Boolean),
        ],
        effect: Effect::Call,
        recovery: Recovery::Repeatable,
    };
    type Input = CustomerChange;

    async fn run(&self, call: &Call<'_>, input: CustomerChange) -> Result<Value, StepError> {
        update_customer(call.env, input).await
    }
}

/// `cybersource.payment-instrument.get`: a TMS payment instrument's card: brand, last four,
/// expiry (never the number).
pub struct InstrumentGet;

impl Action for InstrumentGet {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "cybersource.payment-instrument.get",
        summary: "read a TMS payment instrument's card: brand, last four, expiry (never the number)",
        fields: Some(&[req("customer_id"), opt("payment_instrument_id")]),
        outputs: &[
            out("payment_instrument_id", Type::Text),
            out("brand", Type::Text),
            out("last4", Type::Text),
            out("expiration_month", Type::Text),
            out("expiration_year", Type::Text),
            out("expiry", Type::Text),
            out("instrument_identifier_id", Type::Text),
        ],
        effect: Effect::Call,
        recovery: Recovery::Repeatable,
    };
    type Input = InstrumentOf;

    async fn run(&self, call: &Call<'_>, input: InstrumentOf) -> Result<Value, StepError> {
        instrument(call.env, input).await
    }
}
