//! Books invoices: created (or made from a sales order), marked sent, voided, upserted.

use paybridge_flows::spec::{ActionSpec, Effect, Output, Recovery, Type, opt, out, req};
use paybridge_model::StepError;
use paybridge_zoho::books::{Invoice, NewInvoice};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::books::contacts::unique_key;
use crate::input::read;
use crate::{Action, Call, Env};

/// What an invoice action gives back.
const INVOICE: &[Output] = &[
    out("invoice_id", Type::Text),
    out("invoice_number", Type::Text),
    out("status", Type::Text),
    out("total", Type::Decimal),
    out("balance", Type::Decimal),
    out("currency_code", Type::Text),
];

fn invoice_output(i: &Invoice) -> Value {
    json!({
        "invoice_id": i.invoice_id,
        "invoice_number": i.invoice_number,
        "status": i.status.as_str(),
        "total": i.total.to_string(),
        "balance": i.balance.to_string(),
        "currency_code": i.currency_code,
    })
}

/// `zoho-books.invoice.create`.
pub struct Create;

impl Action for Create {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "zoho-books.invoice.create",
        summary: "create a Books invoice (found by reference on retry)",
        fields: Some(&[
            req("customer_id"),
            req("date"),
            req("line_items"),
            opt("invoice_number"),
            opt("reference_number"),
            opt("due_date"),
            opt("shipping_charge"),
            opt("exchange_rate"),
            opt("notes"),
            opt("custom_fields"),
        ]),
        outputs: INVOICE,
        effect: Effect::Call,
        recovery: Recovery::LookedUp(
            "the customer's invoice with the same reference number is looked up first",
        ),
    };
    type Input = NewInvoice;

    async fn find_lost(
        &self,
        call: &Call<'_>,
        invoice: &NewInvoice,
    ) -> Result<Option<Value>, StepError> {
        let Some(reference) = &invoice.reference_number else {
            return Ok(None);
        };
        Ok(call
            .env
            .connectors
            .books
            .find_invoices_by_reference(reference)
            .await?
            .into_iter()
            .find(|i| i.customer_id == invoice.customer_id)
            .map(|found| invoice_output(&found)))
    }

    async fn run(&self, call: &Call<'_>, invoice: NewInvoice) -> Result<Value, StepError> {
        Ok(invoice_output(
            &call.env.connectors.books.create_invoice(&invoice).await?,
        ))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SalesOrderId {
    salesorder_id: String,
}

/// `zoho-books.invoice.from-sales-order`.
pub struct FromSalesOrder;

impl Action for FromSalesOrder {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "zoho-books.invoice.from-sales-order",
        summary: "invoice a confirmed sales order",
        fields: Some(&[req("salesorder_id")]),
        outputs: INVOICE,
        effect: Effect::Call,
        recovery: Recovery::LookedUp(
            "a sales order already invoiced gives the invoice made from it",
        ),
    };
    type Input = SalesOrderId;

    async fn find_lost(
        &self,
        call: &Call<'_>,
        input: &SalesOrderId,
    ) -> Result<Option<Value>, StepError> {
        Ok(invoice_of_sales_order(call.env, &input.salesorder_id)
            .await?
            .map(|found| invoice_output(&found)))
    }

    async fn run(&self, call: &Call<'_>, input: SalesOrderId) -> Result<Value, StepError> {
        Ok(invoice_output(
            &call
                .env
                .connectors
                .books
                .invoice_sales_order(&input.salesorder_id)
                .await?,
        ))
    }
}

/// The invoice a sales order was already turned into, if it was.
async fn invoice_of_sales_order(
    env: &Env,
    salesorder_id: &str,
) -> Result<Option<Invoice>, StepError> {
    let books = &env.connectors.books;
    let order = books.get_sales_order(salesorder_id).await?;
    if order.invoiced_status.as_deref() != Some("invoiced") {
        return Ok(None);
    }
    let reference = order.salesorder_number.unwrap_or_default();
    Ok(books
        .find_invoices_by_reference(&reference)
        .await?
        .into_iter()
        .find(|i| {
            i.salesorder_id
                .as_deref()
                .is_none_or(|id| id == salesorder_id)
        }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvoiceId {
    invoice_id: String,
}

/// `zoho-books.invoice.mark-sent`.
pub struct MarkSent;

impl Action for MarkSent {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "zoho-books.invoice.mark-sent",
        summary: "mark a draft invoice sent",
        fields: Some(&[req("invoice_id")]),
        outputs: &[out("done", Type::Boolean)],
        effect: Effect::Call,
        recovery: Recovery::Repeatable,
    };
    type Input = InvoiceId;

    async fn run(&self, call: &Call<'_>, input: InvoiceId) -> Result<Value, StepError> {
        // Marking an invoice sent again is harmless: no look-up needed.
        call.env
            .connectors
            .books
            .mark_invoice_sent(&input.invoice_id)
            .await?;
        Ok(json!({"done": true}))
    }
}

/// `zoho-books.invoice.void`.
pub struct Void;

impl Action for Void {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "zoho-books.invoice.void",
        summary: "void an invoice",
        fields: Some(&[req("invoice_id")]),
        outputs: &[out("done", Type::Boolean)],
        effect: Effect::Call,
        recovery: Recovery::LookedUp("an invoice already void is left as it is"),
    };
    type Input = InvoiceId;

    async fn find_lost(
        &self,
        call: &Call<'_>,
        input: &InvoiceId,
    ) -> Result<Option<Value>, StepError> {
        let invoice = call
            .env
            .connectors
            .books
            .get_invoice(&input.invoice_id)
            .await?;
        Ok((invoice.status.as_str() == "void").then(|| json!({"done": true})))
    }

    async fn run(&self, call: &Call<'_>, input: InvoiceId) -> Result<Value, StepError> {
        call.env
            .connectors
            .books
            .void_invoice(&input.invoice_id)
            .await?;
        Ok(json!({"done": true}))
    }
}

/// `zoho-books.invoice.upsert`: a Books invoice updated or created, found by a unique custom
/// field.
pub struct Upsert;

impl Action for Upsert {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "zoho-books.invoice.upsert",
        summary: "update the record whose unique custom field has this value, or create it (its own look-up)",
        fields: Some(&[
            req("unique_field"),
            req("unique_value"),
            req("customer_id"),
            req("date"),
            req("line_items"),
            opt("reference_number"),
            opt("due_date"),
            opt("shipping_charge"),
            opt("exchange_rate"),
            opt("notes"),
            opt("custom_fields"),
        ]),
        outputs: &[
            out("invoice_id", Type::Text),
            out("invoice_number", Type::Text),
            out("status", Type::Text),
            out("total", Type::Decimal),
            out("balance", Type::Decimal),
            out("currency_code", Type::Text),
            out("created", Type::Boolean),
        ],
        effect: Effect::Call,
        recovery: Recovery::SameKey(
            "Books upserts by the unique custom field: a repeat updates what the first made",
        ),
    };
    type Input = Value;

    async fn run(&self, call: &Call<'_>, input: Value) -> Result<Value, StepError> {
        let (key, input) = unique_key(Self::SPEC, input)?;
        let invoice: NewInvoice = read(Self::SPEC, input)?;
        let done = call
            .env
            .connectors
            .books
            .upsert_invoice(&key, &invoice)
            .await?;
        let mut output = invoice_output(&done.record);
        output["created"] = json!(done.created);
        Ok(output)
    }
}
