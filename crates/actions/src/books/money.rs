//! Money in Books: customer payments applied to invoices, their refunds, credit notes and their
//! refunds, and the organization's exchange rates.

use paybridge_flows::spec::{ActionSpec, Effect, Recovery, Type, opt, out, req};
use paybridge_model::StepError;
use paybridge_zoho::books::{
    CreditNote, CustomerPayment, NewCreditNote, NewCustomerPayment, NewRefund,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::input::{read, take_required, take_text};
use crate::{Action, Call, Env};

fn payment_output(p: &CustomerPayment) -> Value {
    json!({"payment_id": p.payment_id, "amount": p.amount.to_string()})
}

fn credit_note_output(c: &CreditNote) -> Value {
    json!({
        "creditnote_id": c.creditnote_id,
        "creditnote_number": c.creditnote_number,
        "total": c.total.to_string(),
    })
}

/// `zoho-books.customer-payment.record`.
pub struct PaymentRecord;

impl Action for PaymentRecord {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "zoho-books.customer-payment.record",
        summary: "record a customer payment applied to invoices (found by reference on retry)",
        fields: Some(&[
            req("customer_id"),
            req("payment_mode"),
            req("amount"),
            req("date"),
            req("invoices"),
            opt("reference_number"),
            opt("description"),
            opt("account_id"),
            opt("exchange_rate"),
            opt("custom_fields"),
        ]),
        outputs: &[out("payment_id", Type::Text), out("amount", Type::Decimal)],
        effect: Effect::Call,
        recovery: Recovery::LookedUp(
            "the customer's payment with the same reference number is looked up first",
        ),
    };
    type Input = NewCustomerPayment;

    async fn find_lost(
        &self,
        call: &Call<'_>,
        payment: &NewCustomerPayment,
    ) -> Result<Option<Value>, StepError> {
        let Some(reference) = &payment.reference_number else {
            return Ok(None);
        };
        Ok(call
            .env
            .connectors
            .books
            .find_customer_payments_by_reference(reference)
            .await?
            .into_iter()
            .find(|p| p.customer_id == payment.customer_id)
            .map(|found| payment_output(&found)))
    }

    async fn run(&self, call: &Call<'_>, payment: NewCustomerPayment) -> Result<Value, StepError> {
        Ok(payment_output(
            &call
                .env
                .connectors
                .books
                .create_customer_payment(&payment)
                .await?,
        ))
    }
}

/// `zoho-books.customer-payment.refund`: money paid back from a customer payment.
pub struct PaymentRefund;

impl Action for PaymentRefund {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "zoho-books.customer-payment.refund",
        summary: "pay money back from a customer payment (found among its refunds on retry)",
        fields: Some(&[
            req("payment_id"),
            req("date"),
            req("amount"),
            opt("from_account_id"),
            opt("refund_mode"),
            opt("reference_number"),
            opt("description"),
        ]),
        outputs: &[
            out("payment_refund_id", Type::Text),
            out("amount", Type::Decimal),
        ],
        effect: Effect::Call,
        recovery: Recovery::LookedUp(
            "a refund of the payment with the same amount and reference is looked up first",
        ),
    };
    type Input = Value;

    async fn run(&self, call: &Call<'_>, mut input: Value) -> Result<Value, StepError> {
        let payment_id = take_required(Self::SPEC, &mut input, "payment_id")?;
        let mut refund: NewRefund = read(Self::SPEC, input)?;
        let books = &call.env.connectors.books;
        if call.attempt.uncertain
            && let Some(found) = books
                .customer_payment_refunds(&payment_id)
                .await?
                .into_iter()
                .find(|r| {
                    r.amount == refund.amount && r.reference_number == refund.reference_number
                })
        {
            return Ok(json!({
                "payment_refund_id": found.payment_refund_id,
                "amount": found.amount.to_string(),
            }));
        }
        if refund.from_account_id.is_none() {
            // The organization's first bank account, as the Books form proposes.
            let accounts = books.bank_accounts().await?;
            refund.from_account_id = accounts
                .into_iter()
                .find(|a| a.account_type.as_deref() == Some("bank"))
                .map(|a| a.account_id);
            if refund.from_account_id.is_none() {
                return Err(StepError::permanent(
                    "zoho-books",
                    "the organization has no bank account to refund from: give from_account_id",
                ));
            }
        }
        let made = books.refund_customer_payment(&payment_id, &refund).await?;
        Ok(json!({
            "payment_refund_id": made.payment_refund_id,
            "amount": made.amount.to_string(),
        }))
    }
}

/// `zoho-books.credit-note.create`.
pub struct CreditNoteCreate;

impl Action for CreditNoteCreate {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "zoho-books.credit-note.create",
        summary: "create a Books credit note, against an invoice when given (found by reference on retry)",
        fields: Some(&[
            req("customer_id"),
            opt("invoice_id"),
            req("date"),
            req("line_items"),
            opt("reference_number"),
            opt("exchange_rate"),
            opt("notes"),
            opt("custom_fields"),
        ]),
        outputs: &[
            out("creditnote_id", Type::Text),
            out("creditnote_number", Type::Text),
            out("total", Type::Decimal),
        ],
        effect: Effect::Call,
        recovery: Recovery::LookedUp(
            "the customer's credit note with the same reference number is looked up first",
        ),
    };
    type Input = Value;

    async fn run(&self, call: &Call<'_>, mut input: Value) -> Result<Value, StepError> {
        let invoice_id = take_text(&mut input, "invoice_id");
        let note: NewCreditNote = read(Self::SPEC, input)?;
        let books = &call.env.connectors.books;
        if call.attempt.uncertain
            && let Some(reference) = &note.reference_number
            && let Some(found) = books
                .find_credit_notes_by_reference(reference)
                .await?
                .into_iter()
                .find(|c| c.customer_id == note.customer_id)
        {
            return Ok(credit_note_output(&found));
        }
        Ok(credit_note_output(
            &books
                .create_credit_note(&note, invoice_id.as_deref())
                .await?,
        ))
    }
}

#[derive(Deserialize)]
pub struct CreditNoteRefundInput {
    creditnote_id: String,
    #[serde(flatten)]
    refund: NewRefund,
}

/// `zoho-books.credit-note.refund`.
pub struct CreditNoteRefund;

impl Action for CreditNoteRefund {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "zoho-books.credit-note.refund",
        summary: "pay a credit note's amount back (found among its refunds on retry)",
        fields: Some(&[
            req("creditnote_id"),
            req("date"),
            req("amount"),
            opt("from_account_id"),
            opt("refund_mode"),
            opt("reference_number"),
            opt("description"),
        ]),
        outputs: &[
            out("creditnote_refund_id", Type::Text),
            out("amount", Type::Decimal),
        ],
        effect: Effect::Call,
        recovery: Recovery::LookedUp(
            "a refund of the credit note with the same amount and reference is looked up first",
        ),
    };
    type Input = CreditNoteRefundInput;

    async fn find_lost(
        &self,
        call: &Call<'_>,
        input: &CreditNoteRefundInput,
    ) -> Result<Option<Value>, StepError> {
        let refund = &input.refund;
        Ok(call
            .env
            .connectors
            .books
            .credit_note_refunds(&input.creditnote_id)
            .await?
            .into_iter()
            .find(|r| r.amount == refund.amount && r.reference_number == refund.reference_number)
            .map(|found| {
                json!({
                    "creditnote_refund_id": found.creditnote_refund_id,
                    "amount": found.amount.to_string(),
                })
            }))
    }

    async fn run(&self, call: &Call<'_>, input: CreditNoteRefundInput) -> Result<Value, StepError> {
        let made = call
            .env
            .connectors
            .books
            .refund_credit_note(&input.creditnote_id, &input.refund)
            .await?;
        Ok(json!({
            "creditnote_refund_id": made.creditnote_refund_id,
            "amount": made.amount.to_string(),
        }))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeRateInput {
    currency_code: String,
    date: String,
}

/// `zoho-books.exchange-rate`: the Books organization's rate for a currency on a date.
pub struct ExchangeRate;

impl Action for ExchangeRate {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "zoho-books.exchange-rate",
        summary: "the Books organization's rate for a currency on a date (base units per unit)",
        fields: Some(&[req("currency_code"), req("date")]),
        outputs: &[
            out("currency_id", Type::Text),
            out("rate", Type::Decimal),
            out("effective_date", Type::Text),
            out("source", Type::Text),
            out("missing", Type::Text),
        ],
        effect: Effect::Call,
        recovery: Recovery::Repeatable,
    };
    type Input = ExchangeRateInput;

    async fn run(&self, call: &Call<'_>, input: ExchangeRateInput) -> Result<Value, StepError> {
        exchange_rate(call.env, &input.currency_code, &input.date).await
    }
}

/// The rate Books records for `code` on `date` (the newest not after it; `rate` null when it
/// has none). A currency the organization does not have is an error. Reading writes nothing.
async fn exchange_rate(env: &Env, code: &str, date: &str) -> Result<Value, StepError> {
    let books = &env.connectors.books;
    let code = code.trim().to_ascii_uppercase();
    let currency = books
        .currencies()
        .await?
        .into_iter()
        .find(|c| c.currency_code.eq_ignore_ascii_case(&code))
        .ok_or_else(|| {
            StepError::permanent(
                "zoho-books",
                format!(
                    "the Zoho Books organization has no currency {code}: add it under Settings → Currencies"
                ),
            )
        })?;
    if currency.is_base_currency {
        return Ok(json!({
            "currency_id": currency.currency_id,
            "rate": "1",
            "effective_date": date,
            "source": "base currency",
        }));
    }
    // No rate for the day is not an error here: the flow may know one (a configured table).
    Ok(
        match books.exchange_rate_on(&currency.currency_id, date).await? {
            Some(rate) => json!({
                "currency_id": currency.currency_id,
                "rate": rate.rate.to_string(),
                "effective_date": rate.effective_date,
                "source": "zoho-books",
            }),
            None => json!({
                "currency_id": currency.currency_id,
                "rate": null,
                "effective_date": null,
                "source": null,
                "missing": format!("Zoho Books has no {code} exchange rate on or before {date}"),
            }),
        },
    )
}
