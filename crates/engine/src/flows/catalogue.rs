//! The actions a flow step can take: each knows the fields it needs, what it gives back, and
//! how to find its own effect when an earlier attempt's outcome is unknown — so a retried step
//! never writes twice.
//!
//! Inputs are the step's mapped fields, read into the connector's own request types (unknown
//! fields are refused). Outputs are JSON that later steps' mappings read as `steps.NAME.…`.

use std::fmt;

use paybridge_zoho::books::{
    Contact, ContactChanges, CreditNote, CustomerPayment, Invoice, NewContact, NewCreditNote,
    NewCustomerPayment, NewInvoice, NewRefund, NewSalesOrder, SalesOrder,
};
use paybridge_zoho::desk::{NewTicket, Ticket, TicketUpdate};
use paybridge_zoho::error::DUPLICATE_CONTACT_NAME;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::Engine;
use crate::error::StepError;
use crate::flows::{customer_tokens, cybersource_actions};
use crate::runtime::Attempt;
use crate::store::{InboxEvent, OwnStep, RefundOutcome, RefundStatus, XrefEntry, ZohoIds};

/// A field an action takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub required: bool,
}

/// `req!("x")`: a required field; `opt!("x")`: an optional one (struct literals, so the
/// field lists are `'static`).
macro_rules! req {
    ($name:literal) => {
        Field {
            name: $name,
            required: true,
        }
    };
}

macro_rules! opt {
    ($name:literal) => {
        Field {
            name: $name,
            required: false,
        }
    };
}

/// Every action a step can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// No call: the mapped fields are the output (shape data for later steps).
    Map,
    /// No call: fails the run permanently with `message` unless `that` is true.
    Check,
    /// The customer's Books contact: known (xref), found by e-mail, or created.
    BooksContactEnsure,
    BooksInvoiceCreate,
    BooksInvoiceFromSalesOrder,
    BooksInvoiceMarkSent,
    BooksInvoiceVoid,
    BooksCustomerPaymentRecord,
    InventorySalesOrderCreate,
    InventorySalesOrderConfirm,
    InventorySalesOrderVoid,
    CrmContactUpsert,
    CrmAccountUpsert,
    DeskTicketCreate,
    DeskTicketUpdate,
    /// The trigger's order is recorded as synced to Zoho (contact, invoice, payment ids).
    OrderSynced,
    /// A signed callback to the storefront about the trigger's order.
    StorefrontCallback,
    /// Refunds (part of) a Cybersource payment.
    CybersourceRefund,
    BooksCreditNoteCreate,
    BooksCreditNoteRefund,
    /// The trigger's refund is recorded as done (or failed).
    RefundRecorded,
    /// The Books organization's rate for a currency on a date.
    BooksExchangeRate,
    /// Captures an authorization (after a review was accepted).
    CybersourceCapture,
    /// Reverses an authorization (after a review was rejected).
    CybersourceReverse,
    /// The trigger's held order becomes approved or declined, and its flows run.
    OrderReviewSettled,
    /// A Books contact's fields changed (custom fields one by one).
    BooksContactUpdate,
    /// A TMS customer, read.
    CybersourceCustomerGet,
    /// A TMS customer's e-mail or merchant customer id changed (what differs only).
    CybersourceCustomerUpdate,
    /// A TMS payment instrument's card: brand, last four, expiry (never the number).
    CybersourcePaymentInstrumentGet,
    /// An e-mail to a customer over SMTP.
    EmailSend,
    /// Authorizes a saved card (TMS token), without capture.
    CybersourceAuthorize,
    /// Charges a saved card (authorization and capture).
    CybersourceSale,
    /// Voids a sale, capture, refund or credit before settlement.
    CybersourceVoid,
    /// Transaction Search by merchant reference.
    CybersourceSearch,
    /// A request to any URL, credentials by name from the configuration.
    Http,
    /// A TMS customer created (a token for a customer).
    CybersourceCustomerCreate,
    /// A Decision Manager review case decided.
    CybersourceCaseDecide,
    /// No call: goes on at the later step named by `to` (the next step when empty).
    Branch,
    /// No call: `key` looked up in the object `in` (a flow table, an earlier output).
    Lookup,
    /// Money paid back from a Books customer payment.
    BooksCustomerPaymentRefund,
    /// A Books contact updated or created, found by a unique custom field.
    BooksContactUpsert,
    /// A Books invoice updated or created, found by a unique custom field.
    BooksInvoiceUpsert,
}

impl Action {
    pub const ALL: [Action; 42] = [
        Action::Map,
        Action::Check,
        Action::Branch,
        Action::Lookup,
        Action::BooksContactEnsure,
        Action::BooksInvoiceCreate,
        Action::BooksInvoiceFromSalesOrder,
        Action::BooksInvoiceMarkSent,
        Action::BooksInvoiceVoid,
        Action::BooksCustomerPaymentRecord,
        Action::InventorySalesOrderCreate,
        Action::InventorySalesOrderConfirm,
        Action::InventorySalesOrderVoid,
        Action::CrmContactUpsert,
        Action::CrmAccountUpsert,
        Action::DeskTicketCreate,
        Action::DeskTicketUpdate,
        Action::OrderSynced,
        Action::StorefrontCallback,
        Action::CybersourceRefund,
        Action::BooksCreditNoteCreate,
        Action::BooksCreditNoteRefund,
        Action::RefundRecorded,
        Action::BooksExchangeRate,
        Action::CybersourceCapture,
        Action::CybersourceReverse,
        Action::OrderReviewSettled,
        Action::BooksContactUpdate,
        Action::CybersourceCustomerGet,
        Action::CybersourceCustomerUpdate,
        Action::CybersourcePaymentInstrumentGet,
        Action::EmailSend,
        Action::CybersourceAuthorize,
        Action::CybersourceSale,
        Action::CybersourceVoid,
        Action::CybersourceSearch,
        Action::Http,
        Action::CybersourceCustomerCreate,
        Action::CybersourceCaseDecide,
        Action::BooksCustomerPaymentRefund,
        Action::BooksContactUpsert,
        Action::BooksInvoiceUpsert,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Action::Map => "map",
            Action::Check => "check",
            Action::Branch => "branch",
            Action::Lookup => "lookup",
            Action::BooksContactEnsure => "zoho-books.contact.ensure",
            Action::BooksInvoiceCreate => "zoho-books.invoice.create",
            Action::BooksInvoiceFromSalesOrder => "zoho-books.invoice.from-sales-order",
            Action::BooksInvoiceMarkSent => "zoho-books.invoice.mark-sent",
            Action::BooksInvoiceVoid => "zoho-books.invoice.void",
            Action::BooksCustomerPaymentRecord => "zoho-books.customer-payment.record",
            Action::InventorySalesOrderCreate => "zoho-inventory.sales-order.create",
            Action::InventorySalesOrderConfirm => "zoho-inventory.sales-order.confirm",
            Action::InventorySalesOrderVoid => "zoho-inventory.sales-order.void",
            Action::CrmContactUpsert => "zoho-crm.contact.upsert",
            Action::CrmAccountUpsert => "zoho-crm.account.upsert",
            Action::DeskTicketCreate => "zoho-desk.ticket.create",
            Action::DeskTicketUpdate => "zoho-desk.ticket.update",
            Action::OrderSynced => "order.synced",
            Action::StorefrontCallback => "storefront.callback",
            Action::CybersourceRefund => "cybersource.refund",
            Action::BooksCreditNoteCreate => "zoho-books.credit-note.create",
            Action::BooksCreditNoteRefund => "zoho-books.credit-note.refund",
            Action::RefundRecorded => "refund.recorded",
            Action::BooksExchangeRate => "zoho-books.exchange-rate",
            Action::CybersourceCapture => "cybersource.capture",
            Action::CybersourceReverse => "cybersource.reverse",
            Action::OrderReviewSettled => "order.review-settled",
            Action::BooksContactUpdate => "zoho-books.contact.update",
            Action::CybersourceCustomerGet => "cybersource.customer.get",
            Action::CybersourceCustomerUpdate => "cybersource.customer.update",
            Action::CybersourcePaymentInstrumentGet => "cybersource.payment-instrument.get",
            Action::EmailSend => "email.send",
            Action::CybersourceAuthorize => "cybersource.authorize",
            Action::CybersourceSale => "cybersource.sale",
            Action::CybersourceVoid => "cybersource.void",
            Action::CybersourceSearch => "cybersource.search",
            Action::Http => "http",
            Action::CybersourceCustomerCreate => "cybersource.customer.create",
            Action::CybersourceCaseDecide => "cybersource.case.decide",
            Action::BooksCustomerPaymentRefund => "zoho-books.customer-payment.refund",
            Action::BooksContactUpsert => "zoho-books.contact.upsert",
            Action::BooksInvoiceUpsert => "zoho-books.invoice.upsert",
        }
    }

    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }

    /// What the action does, in a line (for `paybridge flows actions` and the console).
    pub fn summary(self) -> &'static str {
        match self {
            Action::Map => "no call; the mapped fields become the step's output",
            Action::Check => {
                "no call; stops the run with `message` unless `that` is true (`message` is read only then)"
            }
            Action::Branch => {
                "no call; goes on at the later step named by `to` (the next when empty)"
            }
            Action::Lookup => {
                "no call; `key` looked up in the object `in` (a table, an output), else `default`"
            }
            Action::BooksContactEnsure => {
                "find the customer's Books contact by e-mail (remembered), or create it"
            }
            Action::BooksInvoiceCreate => "create a Books invoice (found by reference on retry)",
            Action::BooksInvoiceFromSalesOrder => "invoice a confirmed sales order",
            Action::BooksInvoiceMarkSent => "mark a draft invoice sent",
            Action::BooksInvoiceVoid => "void an invoice",
            Action::BooksCustomerPaymentRecord => {
                "record a customer payment applied to invoices (found by reference on retry)"
            }
            Action::InventorySalesOrderCreate => {
                "create an Inventory sales order (found by reference on retry)"
            }
            Action::InventorySalesOrderConfirm => "confirm a draft sales order (commits stock)",
            Action::InventorySalesOrderVoid => "void a sales order",
            Action::CrmContactUpsert => "insert or update a CRM contact (duplicate check fields)",
            Action::CrmAccountUpsert => "insert or update a CRM account (duplicate check fields)",
            Action::DeskTicketCreate => "open a Desk ticket (found by its paybridge key on retry)",
            Action::DeskTicketUpdate => "change a Desk ticket's fields",
            Action::OrderSynced => "record the trigger's order as synced to Zoho",
            Action::StorefrontCallback => {
                "tell the storefront about the order (signed POST; retried until taken)"
            }
            Action::CybersourceRefund => {
                "refund (part of) a payment (an unanswered attempt is looked up, or voided, first)"
            }
            Action::BooksCreditNoteCreate => {
                "create a Books credit note, against an invoice when given (found by reference on retry)"
            }
            Action::BooksCreditNoteRefund => {
                "pay a credit note's amount back (found among its refunds on retry)"
            }
            Action::RefundRecorded => "record the trigger's refund as refunded or failed",
            Action::BooksExchangeRate => {
                "the Books organization's rate for a currency on a date (base units per unit)"
            }
            Action::CybersourceCapture => {
                "capture an authorization (found among the payment's transactions on retry)"
            }
            Action::CybersourceReverse => {
                "reverse an authorization (found among the payment's transactions on retry)"
            }
            Action::OrderReviewSettled => {
                "the held order becomes approved or declined, and that event's flows run"
            }
            Action::BooksContactUpdate => {
                "change a Books contact's fields (custom fields one by one; the rest stay)"
            }
            Action::CybersourceCustomerGet => "read a TMS customer (e-mail, default instrument)",
            Action::CybersourceCustomerUpdate => {
                "change a TMS customer's e-mail or merchant customer id (what differs; if-match)"
            }
            Action::CybersourcePaymentInstrumentGet => {
                "read a TMS payment instrument's card: brand, last four, expiry (never the number)"
            }
            Action::EmailSend => {
                "send an e-mail over SMTP ([email]); a retry re-sends the same Message-ID"
            }
            Action::CybersourceAuthorize => {
                "authorize a saved card (TMS token); an unanswered attempt is looked up or reversed first"
            }
            Action::CybersourceSale => {
                "charge a saved card (TMS token); an unanswered attempt is looked up or voided first"
            }
            Action::CybersourceVoid => {
                "void a sale, capture, refund or credit (found among its transactions on retry)"
            }
            Action::CybersourceSearch => "the transactions sent with a merchant reference",
            Action::Http => {
                "a request to any URL, auth by name from [[http.auth]]; the same Idempotency-Key on every attempt"
            }
            Action::CybersourceCustomerCreate => {
                "create a TMS customer (an unknown outcome stops for a person: TMS cannot be searched)"
            }
            Action::CybersourceCaseDecide => {
                "accept or reject a Decision Manager case, optionally capturing or reversing (an unknown outcome stops for a person)"
            }
            Action::BooksCustomerPaymentRefund => {
                "pay money back from a customer payment (found among its refunds on retry)"
            }
            Action::BooksContactUpsert | Action::BooksInvoiceUpsert => {
                "update the record whose unique custom field has this value, or create it (its own look-up)"
            }
        }
    }

    /// The fields the action takes. `None`: any field (CRM records take the module's fields).
    pub fn fields(self) -> Option<&'static [Field]> {
        Some(match self {
            Action::Map | Action::CrmContactUpsert | Action::CrmAccountUpsert => return None,
            Action::Check => &[req!("that"), req!("message")],
            Action::Branch => &[opt!("to")],
            Action::Lookup => &[req!("in"), req!("key"), opt!("default")],
            Action::BooksContactEnsure => &[req!("email"), req!("contact"), opt!("currency_code")],
            Action::BooksInvoiceCreate => &[
                req!("customer_id"),
                req!("date"),
                req!("line_items"),
                opt!("invoice_number"),
                opt!("reference_number"),
                opt!("due_date"),
                opt!("shipping_charge"),
                opt!("exchange_rate"),
                opt!("notes"),
                opt!("custom_fields"),
            ],
            Action::BooksInvoiceFromSalesOrder => &[req!("salesorder_id")],
            Action::BooksInvoiceMarkSent | Action::BooksInvoiceVoid => &[req!("invoice_id")],
            Action::BooksCustomerPaymentRecord => &[
                req!("customer_id"),
                req!("payment_mode"),
                req!("amount"),
                req!("date"),
                req!("invoices"),
                opt!("reference_number"),
                opt!("description"),
                opt!("account_id"),
                opt!("exchange_rate"),
                opt!("custom_fields"),
            ],
            Action::InventorySalesOrderCreate => &[
                req!("customer_id"),
                req!("date"),
                req!("line_items"),
                opt!("salesorder_number"),
                opt!("reference_number"),
                opt!("shipment_date"),
                opt!("shipping_charge"),
                opt!("exchange_rate"),
                opt!("delivery_method"),
                opt!("notes"),
                opt!("custom_fields"),
            ],
            Action::InventorySalesOrderConfirm => &[req!("salesorder_id")],
            Action::InventorySalesOrderVoid => &[opt!("salesorder_id"), opt!("reference_number")],
            Action::DeskTicketCreate => &[
                req!("subject"),
                opt!("departmentId"),
                opt!("department"),
                opt!("contactId"),
                opt!("contact"),
                opt!("description"),
                opt!("email"),
                opt!("priority"),
                opt!("status"),
                opt!("classification"),
                opt!("channel"),
                opt!("category"),
                opt!("cf"),
            ],
            Action::DeskTicketUpdate => &[
                opt!("ticket_id"),
                opt!("ticket_key"),
                opt!("subject"),
                opt!("description"),
                opt!("status"),
                opt!("priority"),
                opt!("assigneeId"),
                opt!("cf"),
            ],
            Action::OrderSynced => &[req!("contact_id"), req!("invoice_id"), req!("payment_id")],
            Action::StorefrontCallback => &[
                req!("status"),
                opt!("reason"),
                opt!("message"),
                opt!("details"),
            ],
            Action::CybersourceRefund => &[
                req!("refund_id"),
                req!("payment_id"),
                req!("amount"),
                req!("currency"),
                req!("reference"),
            ],
            Action::BooksCreditNoteCreate => &[
                req!("customer_id"),
                opt!("invoice_id"),
                req!("date"),
                req!("line_items"),
                opt!("reference_number"),
                opt!("exchange_rate"),
                opt!("notes"),
                opt!("custom_fields"),
            ],
            Action::BooksCreditNoteRefund => &[
                req!("creditnote_id"),
                req!("date"),
                req!("amount"),
                opt!("from_account_id"),
                opt!("refund_mode"),
                opt!("reference_number"),
                opt!("description"),
            ],
            Action::BooksExchangeRate => &[req!("currency_code"), req!("date")],
            Action::CybersourceCapture | Action::CybersourceReverse => &[
                req!("payment_id"),
                req!("amount"),
                req!("currency"),
                req!("reference"),
            ],
            Action::OrderReviewSettled => &[req!("accepted"), req!("detail")],
            Action::BooksContactUpdate => &[
                req!("contact_id"),
                opt!("contact_name"),
                opt!("company_name"),
                opt!("payment_terms"),
                opt!("billing_address"),
                opt!("shipping_address"),
                opt!("contact_persons"),
                opt!("custom_fields"),
                opt!("notes"),
            ],
            Action::CybersourceCustomerGet => &[req!("customer_id")],
            Action::CybersourceCustomerUpdate => &[
                req!("customer_id"),
                opt!("email"),
                opt!("merchant_customer_id"),
            ],
            Action::CybersourcePaymentInstrumentGet => {
                &[req!("customer_id"), opt!("payment_instrument_id")]
            }
            Action::CybersourceAuthorize | Action::CybersourceSale => &[
                req!("reference"),
                req!("amount"),
                req!("currency"),
                opt!("customer_id"),
                opt!("payment_instrument_id"),
                opt!("instrument_identifier"),
            ],
            Action::CybersourceVoid => &[req!("transaction_id"), opt!("kind"), req!("reference")],
            Action::CybersourceSearch => &[req!("reference"), opt!("days")],
            Action::CybersourceCustomerCreate => &[req!("email"), opt!("merchant_customer_id")],
            Action::BooksContactUpsert => &[
                req!("unique_field"),
                req!("unique_value"),
                req!("contact_name"),
                req!("contact_type"),
                opt!("company_name"),
                opt!("customer_sub_type"),
                opt!("currency_id"),
                opt!("payment_terms"),
                opt!("billing_address"),
                opt!("shipping_address"),
                opt!("contact_persons"),
                opt!("custom_fields"),
                opt!("notes"),
            ],
            Action::BooksInvoiceUpsert => &[
                req!("unique_field"),
                req!("unique_value"),
                req!("customer_id"),
                req!("date"),
                req!("line_items"),
                opt!("reference_number"),
                opt!("due_date"),
                opt!("shipping_charge"),
                opt!("exchange_rate"),
                opt!("notes"),
                opt!("custom_fields"),
            ],
            Action::BooksCustomerPaymentRefund => &[
                req!("payment_id"),
                req!("date"),
                req!("amount"),
                opt!("from_account_id"),
                opt!("refund_mode"),
                opt!("reference_number"),
                opt!("description"),
            ],
            Action::CybersourceCaseDecide => &[
                req!("case_id"),
                req!("decision"),
                opt!("comments"),
                opt!("settle"),
            ],
            Action::Http => &[
                req!("url"),
                opt!("method"),
                opt!("headers"),
                opt!("body"),
                opt!("auth"),
            ],
            Action::EmailSend => &[
                req!("to"),
                req!("subject"),
                req!("text"),
                opt!("html"),
                opt!("reply_to"),
            ],
            Action::RefundRecorded => &[
                req!("status"),
                opt!("cybersource_refund_id"),
                opt!("creditnote_id"),
                opt!("detail"),
            ],
        })
    }

    /// The fields of its output, for `flows test` (which calls nobody) and the console.
    pub fn outputs(self) -> &'static [&'static str] {
        match self {
            Action::Map => &[],
            Action::Check => &["ok"],
            Action::Branch => &["to"],
            Action::Lookup => &["value", "found"],
            Action::BooksContactEnsure => &["contact_id", "created"],
            Action::BooksInvoiceCreate | Action::BooksInvoiceFromSalesOrder => &[
                "invoice_id",
                "invoice_number",
                "status",
                "total",
                "balance",
                "currency_code",
            ],
            Action::BooksCustomerPaymentRecord => &["payment_id", "amount"],
            Action::InventorySalesOrderCreate => {
                &["salesorder_id", "salesorder_number", "status", "total"]
            }
            Action::CrmContactUpsert | Action::CrmAccountUpsert => &["id", "action"],
            Action::DeskTicketCreate => &["ticket_id", "ticket_number", "web_url"],
            Action::StorefrontCallback => &["delivery", "http_status"],
            Action::CybersourceRefund => &["cybersource_refund_id", "status", "amount"],
            Action::BooksCreditNoteCreate => &["creditnote_id", "creditnote_number", "total"],
            Action::BooksCreditNoteRefund => &["creditnote_refund_id", "amount"],
            Action::BooksExchangeRate => {
                &["currency_id", "rate", "effective_date", "source", "missing"]
            }
            Action::CybersourceCapture | Action::CybersourceReverse => {
                &["cybersource_id", "status"]
            }
            Action::OrderReviewSettled => &["changed"],
            Action::BooksContactUpdate => &["contact_id", "email"],
            Action::CybersourceCustomerGet | Action::CybersourceCustomerCreate => &[
                "customer_id",
                "email",
                "merchant_customer_id",
                "default_payment_instrument_id",
            ],
            Action::CybersourceCustomerUpdate => &["customer_id", "email", "changed"],
            Action::EmailSend => &["message_id", "to"],
            Action::CybersourceAuthorize | Action::CybersourceSale => &[
                "transaction_id",
                "status",
                "outcome",
                "reason",
                "message",
                "amount",
                "currency",
            ],
            Action::CybersourceVoid => &["void_id", "status"],
            Action::CybersourceCaseDecide => &["case_id", "status", "settled"],
            Action::BooksCustomerPaymentRefund => &["payment_refund_id", "amount"],
            Action::BooksContactUpsert => &["contact_id", "created"],
            Action::BooksInvoiceUpsert => &[
                "invoice_id",
                "invoice_number",
                "status",
                "total",
                "balance",
                "currency_code",
                "created",
            ],
            Action::CybersourceSearch => &["count", "transactions"],
            Action::Http => &["status", "body"],
            Action::CybersourcePaymentInstrumentGet => &[
                "payment_instrument_id",
                "brand",
                "last4",
                "expiration_month",
                "expiration_year",
                "expiry",
                "instrument_identifier_id",
            ],
            Action::BooksInvoiceMarkSent
            | Action::BooksInvoiceVoid
            | Action::InventorySalesOrderConfirm
            | Action::InventorySalesOrderVoid
            | Action::DeskTicketUpdate
            | Action::OrderSynced
            | Action::RefundRecorded => &["done"],
        }
    }

    /// The action's effect is a write to paybridge's own store that records the step itself,
    /// in the same write (once per key): it needs no begin and no success of its own.
    pub fn records_its_own_step(self) -> bool {
        self == Action::OrderSynced
    }

    /// Whether the action has an effect. Those without one are pure functions of their
    /// mapped fields: they are neither memoized nor shown as requests by `flows test`.
    pub fn has_effect(self) -> bool {
        !matches!(
            self,
            Action::Map | Action::Check | Action::Branch | Action::Lookup
        )
    }

    /// Does the action, or — after an attempt with an unknown outcome — finds what it did.
    pub async fn execute(self, call: &Call<'_>, input: Value) -> Result<Value, StepError> {
        let engine = call.engine;
        match self {
            Action::Map => Ok(input),
            Action::Branch => {
                let Branch { to } = read(self, input)?;
                Ok(json!({"to": to.unwrap_or_default().trim()}))
            }
            Action::Lookup => {
                let Lookup {
                    within,
                    key,
                    default,
                } = read(self, input)?;
                let key = match key {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                Ok(match within.get(&key).filter(|v| !v.is_null()) {
                    Some(value) => json!({"value": value, "found": true}),
                    None => json!({"value": default, "found": false}),
                })
            }
            Action::Check => {
                let Check { that, message } = read(self, input)?;
                if that {
                    Ok(json!({"ok": true}))
                } else {
                    Err(StepError::permanent("flow", message))
                }
            }
            Action::BooksContactEnsure => {
                let input: EnsureContact = read(self, input)?;
                ensure_contact(
                    engine,
                    call.attempt,
                    &input.email,
                    input.contact,
                    input.currency_code.as_deref(),
                )
                .await
            }
            Action::BooksInvoiceCreate => {
                let invoice: NewInvoice = read(self, input)?;
                let books = &engine.connectors.books;
                if call.attempt.uncertain
                    && let Some(reference) = &invoice.reference_number
                    && let Some(found) = books
                        .find_invoices_by_reference(reference)
                        .await?
                        .into_iter()
                        .find(|i| i.customer_id == invoice.customer_id)
                {
                    tracing::info!(invoice = %found.invoice_id, "found the invoice an earlier attempt created");
                    return Ok(invoice_output(&found));
                }
                Ok(invoice_output(&books.create_invoice(&invoice).await?))
            }
            Action::BooksInvoiceFromSalesOrder => {
                let SalesOrderId { salesorder_id } = read(self, input)?;
                let books = &engine.connectors.books;
                if call.attempt.uncertain
                    && let Some(found) = invoice_of_sales_order(engine, &salesorder_id).await?
                {
                    return Ok(invoice_output(&found));
                }
                Ok(invoice_output(
                    &books.invoice_sales_order(&salesorder_id).await?,
                ))
            }
            Action::BooksInvoiceMarkSent => {
                let InvoiceId { invoice_id } = read(self, input)?;
                // Marking an invoice sent again is harmless: no look-up needed.
                engine
                    .connectors
                    .books
                    .mark_invoice_sent(&invoice_id)
                    .await?;
                Ok(json!({"done": true}))
            }
            Action::BooksInvoiceVoid => {
                let InvoiceId { invoice_id } = read(self, input)?;
                let books = &engine.connectors.books;
                if call.attempt.uncertain
                    && books.get_invoice(&invoice_id).await?.status.as_str() == "void"
                {
                    return Ok(json!({"done": true}));
                }
                books.void_invoice(&invoice_id).await?;
                Ok(json!({"done": true}))
            }
            Action::BooksCustomerPaymentRecord => {
                let payment: NewCustomerPayment = read(self, input)?;
                let books = &engine.connectors.books;
                if call.attempt.uncertain
                    && let Some(reference) = &payment.reference_number
                    && let Some(found) = books
                        .find_customer_payments_by_reference(reference)
                        .await?
                        .into_iter()
                        .find(|p| p.customer_id == payment.customer_id)
                {
                    tracing::info!(payment = %found.payment_id, "found the payment an earlier attempt recorded");
                    return Ok(payment_output(&found));
                }
                Ok(payment_output(
                    &books.create_customer_payment(&payment).await?,
                ))
            }
            Action::InventorySalesOrderCreate => {
                let order: NewSalesOrder = read(self, input)?;
                let inventory = engine.connectors.inventory()?;
                if call.attempt.uncertain
                    && let Some(reference) = &order.reference_number
                    && let Some(found) = inventory
                        .find_sales_orders_by_reference(reference)
                        .await?
                        .into_iter()
                        .find(|s| s.customer_id == order.customer_id)
                {
                    tracing::info!(salesorder = %found.salesorder_id, "found the sales order an earlier attempt created");
                    return Ok(sales_order_output(&found));
                }
                Ok(sales_order_output(
                    &inventory.create_sales_order(&order).await?,
                ))
            }
            Action::InventorySalesOrderConfirm => {
                let SalesOrderId { salesorder_id } = read(self, input)?;
                let inventory = engine.connectors.inventory()?;
                // Confirming twice is refused by Zoho: after an unknown outcome, the order's
                // status says whether the earlier attempt did it.
                if call.attempt.uncertain
                    && inventory
                        .get_sales_order(&salesorder_id)
                        .await?
                        .status
                        .as_str()
                        != "draft"
                {
                    return Ok(json!({"done": true}));
                }
                inventory.confirm_sales_order(&salesorder_id).await?;
                Ok(json!({"done": true}))
            }
            Action::InventorySalesOrderVoid => {
                let SalesOrderRef {
                    salesorder_id,
                    reference_number,
                } = read(self, input)?;
                let inventory = engine.connectors.inventory()?;
                let salesorder_id = match (salesorder_id, reference_number) {
                    (Some(id), _) => id,
                    (None, Some(reference)) => {
                        // Every open sales order of that reference (none: nothing to void).
                        let found = inventory.find_sales_orders_by_reference(&reference).await?;
                        let mut voided = Vec::new();
                        for order in found.into_iter().filter(|o| o.status.as_str() != "void") {
                            inventory.void_sales_order(&order.salesorder_id).await?;
                            voided.push(order.salesorder_id);
                        }
                        return Ok(json!({"done": true, "voided": voided}));
                    }
                    (None, None) => {
                        return Err(StepError::permanent(
                            "engine",
                            "zoho-inventory.sales-order.void needs `salesorder_id` or `reference_number`",
                        ));
                    }
                };
                if call.attempt.uncertain
                    && inventory
                        .get_sales_order(&salesorder_id)
                        .await?
                        .status
                        .as_str()
                        == "void"
                {
                    return Ok(json!({"done": true}));
                }
                inventory.void_sales_order(&salesorder_id).await?;
                Ok(json!({"done": true}))
            }
            Action::CrmContactUpsert => crm_upsert(engine, "Contacts", input, &["Email"]).await,
            Action::CrmAccountUpsert => {
                crm_upsert(engine, "Accounts", input, &["Account_Name"]).await
            }
            Action::DeskTicketCreate => {
                let desk = engine.connectors.desk()?;
                let input = with_department_id(desk, input).await?;
                let mut ticket: NewTicket = read(self, input)?;
                // Desk has no idempotency key: the step's own key, in a custom field, finds
                // the ticket an earlier attempt opened.
                let marker = short_id(call.key);
                ticket
                    .cf
                    .insert(DESK_KEY_FIELD.into(), Value::String(marker.clone()));
                if call.attempt.uncertain
                    && let Some(found) = desk
                        .find_tickets_by_custom_field(DESK_KEY_FIELD, &marker)
                        .await?
                        .into_iter()
                        .next()
                {
                    return Ok(ticket_output(&found));
                }
                Ok(ticket_output(&desk.create_ticket(&ticket).await?))
            }
            Action::DeskTicketUpdate => {
                let TicketChange {
                    ticket_id,
                    ticket_key,
                    change,
                } = read(self, input)?;
                let desk = engine.connectors.desk()?;
                let ticket_id = match (ticket_id, ticket_key) {
                    (Some(id), _) => id,
                    // The ticket a step with this key opened.
                    (None, Some(key)) => {
                        match desk
                            .find_tickets_by_custom_field(DESK_KEY_FIELD, &short_id(&key))
                            .await?
                            .into_iter()
                            .next()
                        {
                            Some(ticket) => ticket.id,
                            None => return Ok(json!({"done": false, "found": false})),
                        }
                    }
                    (None, None) => {
                        return Err(StepError::permanent(
                            "engine",
                            "zoho-desk.ticket.update needs `ticket_id` or `ticket_key`",
                        ));
                    }
                };
                // Setting the same fields again is harmless.
                desk.update_ticket(&ticket_id, &change).await?;
                Ok(json!({"done": true}))
            }
            Action::StorefrontCallback => {
                let callback: Callback = read(self, input)?;
                let storefront = engine.connectors.storefront()?;
                let payload = &call.event.payload;
                // The same delivery id on every attempt: the storefront takes each once.
                let delivery = short_id(call.key);
                let body = json!({
                    "delivery": delivery,
                    "order_id": payload.get("order_id"),
                    "reference": payload.pointer("/order/reference"),
                    "status": callback.status,
                    "reason": callback.reason,
                    "message": callback.message,
                    "details": callback.details,
                    "at": crate::flows::interpreter::rfc3339(engine.clock.now_ms()),
                });
                let status = storefront
                    .deliver(&delivery, &body, engine.clock.now_ms())
                    .await?;
                Ok(json!({"delivery": delivery, "http_status": status}))
            }
            Action::CybersourceRefund => {
                let refund: CybersourceRefund = read(self, input)?;
                refund_with_cybersource(call, refund).await
            }
            Action::BooksCreditNoteCreate => {
                let mut input = input;
                let invoice_id = take_text(&mut input, "invoice_id");
                let note: NewCreditNote = read(self, input)?;
                let books = &engine.connectors.books;
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
            Action::BooksCreditNoteRefund => {
                let CreditNoteRefundInput {
                    creditnote_id,
                    refund,
                } = read(self, input)?;
                let books = &engine.connectors.books;
                if call.attempt.uncertain
                    && let Some(found) = books
                        .credit_note_refunds(&creditnote_id)
                        .await?
                        .into_iter()
                        .find(|r| {
                            r.amount == refund.amount
                                && r.reference_number == refund.reference_number
                        })
                {
                    return Ok(json!({
                        "creditnote_refund_id": found.creditnote_refund_id,
                        "amount": found.amount.to_string(),
                    }));
                }
                let made = books.refund_credit_note(&creditnote_id, &refund).await?;
                Ok(json!({
                    "creditnote_refund_id": made.creditnote_refund_id,
                    "amount": made.amount.to_string(),
                }))
            }
            Action::CybersourceCapture | Action::CybersourceReverse => {
                let follow_on: FollowOnInput = read(self, input)?;
                capture_or_reverse(call, self == Action::CybersourceCapture, follow_on).await
            }
            Action::BooksContactUpdate => {
                let mut input = input;
                let contact_id = take_required(self, &mut input, "contact_id")?;
                let changes: ContactChanges = read(self, input)?;
                // Setting the same fields again is harmless: no look-up needed.
                let contact = engine
                    .connectors
                    .books
                    .change_contact(&contact_id, &changes)
                    .await?;
                Ok(json!({"contact_id": contact.contact_id, "email": contact.email}))
            }
            Action::CybersourceCustomerGet => {
                customer_tokens::customer(engine, read(self, input)?).await
            }
            Action::CybersourceCustomerCreate => {
                customer_tokens::create_customer(engine, call.attempt.uncertain, read(self, input)?)
                    .await
            }
            Action::CybersourceCustomerUpdate => {
                customer_tokens::update_customer(engine, read(self, input)?).await
            }
            Action::CybersourcePaymentInstrumentGet => {
                customer_tokens::instrument(engine, read(self, input)?).await
            }
            Action::CybersourceAuthorize | Action::CybersourceSale => {
                let charge = read(self, input)?;
                cybersource_actions::charge(call, self == Action::CybersourceSale, charge).await
            }
            Action::CybersourceVoid => cybersource_actions::void(call, read(self, input)?).await,
            Action::CybersourceCaseDecide => {
                cybersource_actions::decide(call, read(self, input)?).await
            }
            Action::BooksContactUpsert => {
                let (key, input) = unique_key(self, input)?;
                let contact: NewContact = read(self, input)?;
                let done = engine
                    .connectors
                    .books
                    .upsert_contact(&key, &contact)
                    .await?;
                Ok(json!({"contact_id": done.record.contact_id, "created": done.created}))
            }
            Action::BooksInvoiceUpsert => {
                let (key, input) = unique_key(self, input)?;
                let invoice: NewInvoice = read(self, input)?;
                let done = engine
                    .connectors
                    .books
                    .upsert_invoice(&key, &invoice)
                    .await?;
                let mut output = invoice_output(&done.record);
                output["created"] = json!(done.created);
                Ok(output)
            }
            Action::BooksCustomerPaymentRefund => {
                let mut input = input;
                let payment_id = take_required(self, &mut input, "payment_id")?;
                let mut refund: NewRefund = read(self, input)?;
                let books = &engine.connectors.books;
                if call.attempt.uncertain
                    && let Some(found) = books
                        .customer_payment_refunds(&payment_id)
                        .await?
                        .into_iter()
                        .find(|r| {
                            r.amount == refund.amount
                                && r.reference_number == refund.reference_number
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
            Action::CybersourceSearch => {
                cybersource_actions::search(call, read(self, input)?).await
            }
            Action::Http => {
                let request = read(self, input)?;
                engine
                    .connectors
                    .http
                    .send(&short_id(call.key), request)
                    .await
            }
            Action::EmailSend => {
                let email: crate::mail::Email = read(self, input)?;
                let message_id = engine.connectors.mailer()?.send(call.key, &email).await?;
                Ok(json!({"message_id": message_id, "to": email.to.trim()}))
            }
            Action::OrderReviewSettled => {
                let ReviewSettled { accepted, detail } = read(self, input)?;
                let order_id = call.order_id().ok_or_else(|| {
                    StepError::permanent(
                        "engine",
                        "order.review-settled needs a flow triggered by an order",
                    )
                })?;
                let changed = engine.settle_review(order_id, accepted, &detail).await?;
                Ok(json!({"changed": changed}))
            }
            Action::BooksExchangeRate => {
                let ExchangeRateInput {
                    currency_code,
                    date,
                } = read(self, input)?;
                exchange_rate(engine, &currency_code, &date).await
            }
            Action::RefundRecorded => {
                let recorded: RecordedRefund = read(self, input)?;
                let refund_id = call
                    .event
                    .payload
                    .pointer("/refund/id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        StepError::permanent(
                            "engine",
                            "refund.recorded needs a flow triggered by a refund",
                        )
                    })?;
                let status = match recorded.status.as_str() {
                    "refunded" => RefundStatus::Refunded,
                    "failed" => RefundStatus::Failed,
                    other => {
                        return Err(StepError::permanent(
                            "engine",
                            format!(
                                "refund.recorded: status {other:?} is neither refunded nor failed"
                            ),
                        ));
                    }
                };
                engine
                    .store
                    .finish_refund(
                        refund_id,
                        &RefundOutcome {
                            status,
                            cybersource_refund_id: recorded.cybersource_refund_id.as_deref(),
                            zoho_creditnote_id: recorded.creditnote_id.as_deref(),
                            detail: recorded.detail.as_deref(),
                        },
                        engine.clock.now_ms(),
                    )
                    .await?;
                engine.notify_progress();
                Ok(json!({"done": true}))
            }
            Action::OrderSynced => {
                // A write to paybridge's own store, done in one write with recording the step
                // (see `records_its_own_step`).
                let SyncedIds {
                    contact_id,
                    invoice_id,
                    payment_id,
                } = read(self, input.clone())?;
                let order_id = call.order_id().ok_or_else(|| {
                    StepError::permanent(
                        "engine",
                        "order.synced needs a flow triggered by an order",
                    )
                })?;
                let output = json!({"done": true});
                let step = OwnStep {
                    run_id: call.run_id,
                    key: call.key,
                    name: call.step,
                    input: &input,
                    output: &output,
                };
                let ids = ZohoIds {
                    contact_id,
                    invoice_id,
                    payment_id,
                };
                let before = engine
                    .store
                    .complete_order_sync(order_id, &ids, step, engine.clock.now_ms())
                    .await?;
                // Every time, so that a crash right after the write cannot lose it: the event
                // is kept once per order.
                card_saved(call, order_id).await?;
                if before.is_none() {
                    engine.notify_progress();
                }
                Ok(before.unwrap_or(output))
            }
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an action is called with besides its input.
pub struct Call<'a> {
    pub engine: &'a Engine,
    /// The run the step is part of (`None` outside a run).
    pub run_id: Option<i64>,
    /// The step's name in its flow.
    pub step: &'a str,
    pub attempt: Attempt,
    /// The step's idempotency key.
    pub key: &'a str,
    pub event: &'a InboxEvent,
    /// What the run's mappings see as `event` (for an order, its payment's outcome too), as
    /// read when the run began.
    pub trigger: &'a Value,
}

impl Call<'_> {
    fn order_id(&self) -> Option<&str> {
        self.event.payload.get("order_id").and_then(Value::as_str)
    }
}

/// A ticket's `department` (by name) as the `departmentId` Desk needs.
async fn with_department_id(
    desk: &paybridge_zoho::Desk,
    mut input: Value,
) -> Result<Value, StepError> {
    let Some(fields) = input.as_object_mut() else {
        return Ok(input);
    };
    let name = fields.remove("department");
    if fields.contains_key("departmentId") {
        return Ok(input);
    }
    let Some(name) = name.as_ref().and_then(Value::as_str) else {
        return Err(StepError::permanent(
            "engine",
            "zoho-desk.ticket.create needs `departmentId` or `department` (its name)",
        ));
    };
    let departments = desk.departments().await?;
    let found = departments
        .iter()
        .find(|d| d.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            let known: Vec<&str> = departments.iter().map(|d| d.name.as_str()).collect();
            StepError::permanent(
                "zoho-desk",
                format!(
                    "Desk has no department {name:?} (it has {})",
                    known.join(", ")
                ),
            )
        })?;
    fields.insert("departmentId".into(), Value::String(found.id.clone()));
    Ok(input)
}

/// The Desk custom field that carries a ticket's paybridge key.
pub const DESK_KEY_FIELD: &str = "cf_paybridge_key";

/// A short stable id for a step key (Desk custom fields are short; callback delivery ids):
/// the key's SHA-256, 32 hex digits.
fn short_id(key: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(key.as_bytes())[..16])
}

fn read<T: DeserializeOwned>(action: Action, input: Value) -> Result<T, StepError> {
    serde_json::from_value(input).map_err(|e| {
        StepError::permanent(
            "engine",
            format!("the mapped fields do not fit {action}: {e}"),
        )
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Branch {
    #[serde(default)]
    to: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Lookup {
    #[serde(rename = "in")]
    within: serde_json::Map<String, Value>,
    key: Value,
    #[serde(default)]
    default: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Check {
    that: bool,
    /// Read only when `that` is false.
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnsureContact {
    email: String,
    contact: NewContact,
    /// The code of `contact.currency_id`, for the name of a second contact of one customer.
    #[serde(default)]
    currency_code: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SalesOrderId {
    salesorder_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SalesOrderRef {
    #[serde(default)]
    salesorder_id: Option<String>,
    #[serde(default)]
    reference_number: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InvoiceId {
    invoice_id: String,
}

#[derive(Deserialize)]
struct TicketChange {
    #[serde(default)]
    ticket_id: Option<String>,
    /// The key of the step that opened the ticket, instead of its id.
    #[serde(default)]
    ticket_key: Option<String>,
    #[serde(flatten)]
    change: TicketUpdate,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Callback {
    status: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    details: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CybersourceRefund {
    refund_id: String,
    payment_id: String,
    #[serde(with = "rust_decimal::serde::str")]
    amount: rust_decimal::Decimal,
    currency: String,
    reference: String,
}

#[derive(Deserialize)]
struct CreditNoteRefundInput {
    creditnote_id: String,
    #[serde(flatten)]
    refund: NewRefund,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FollowOnInput {
    payment_id: String,
    #[serde(with = "rust_decimal::serde::str")]
    amount: rust_decimal::Decimal,
    currency: String,
    reference: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewSettled {
    accepted: bool,
    detail: String,
}

/// Captures or reverses an authorization. After an attempt whose answer was lost, the
/// payment's related transactions say whether it took effect (a second capture or reversal
/// would be refused, or worse).
async fn capture_or_reverse(
    call: &Call<'_>,
    capture: bool,
    input: FollowOnInput,
) -> Result<Value, StepError> {
    use paybridge_cybersource::captures::{AmountOnly, CaptureRequest};
    use paybridge_cybersource::payments::{AmountDetails, ClientReference};
    use paybridge_cybersource::reversals::{ReversalInformation, ReversalRequest};

    let cybersource = &call.engine.connectors.cybersource;
    let application = if capture {
        "ics_bill"
    } else {
        "ics_auth_reversal"
    };
    if call.attempt.uncertain
        && let Some(done) =
            cybersource_actions::related_by_application(cybersource, &input.payment_id, application)
                .await?
    {
        return Ok(json!({"cybersource_id": done.id, "status": done.status}));
    }
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExchangeRateInput {
    currency_code: String,
    date: String,
}

/// The rate Books records for `code` on `date` (the newest not after it; `rate` null when it
/// has none). A currency the organization does not have is an error. Reading writes nothing.
async fn exchange_rate(engine: &Engine, code: &str, date: &str) -> Result<Value, StepError> {
    let books = &engine.connectors.books;
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordedRefund {
    status: String,
    #[serde(default)]
    cybersource_refund_id: Option<String>,
    #[serde(default)]
    creditnote_id: Option<String>,
    #[serde(default)]
    detail: Option<String>,
}

fn credit_note_output(c: &CreditNote) -> Value {
    json!({
        "creditnote_id": c.creditnote_id,
        "creditnote_number": c.creditnote_number,
        "total": c.total.to_string(),
    })
}

/// A refund through Cybersource. An attempt whose answer was lost is looked up by its merchant
/// transaction id (and, if Cybersource has no trace of it, voided to be sure) before a new
/// attempt, with a new transaction id, is sent.
async fn refund_with_cybersource(
    call: &Call<'_>,
    refund: CybersourceRefund,
) -> Result<Value, StepError> {
    use paybridge_cybersource::captures::AmountOnly;
    use paybridge_cybersource::payments::{AmountDetails, ClientReference};
    use paybridge_cybersource::refunds::RefundRequest;
    use paybridge_cybersource::resolution::{Resolution, Unanswered};

    let cybersource = &call.engine.connectors.cybersource;
    if call.attempt.uncertain && call.attempt.number > 1 {
        let previous =
            crate::refunds::refund_transaction_id(&refund.refund_id, call.attempt.number - 1);
        match cybersource
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
                return Ok(json!({
                    "cybersource_refund_id": details.id,
                    "status": details.status,
                    "amount": amount.to_string(),
                }));
            }
            Resolution::NotFound { cancelled } => {
                tracing::info!(refund = %refund.refund_id, cancelled, "an unanswered refund attempt left nothing (voided to be sure); refunding anew");
            }
        }
    }
    let request = RefundRequest {
        client_reference_information: ClientReference {
            code: refund.reference.clone(),
            transaction_id: Some(crate::refunds::refund_transaction_id(
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
    let answer = cybersource
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncedIds {
    contact_id: String,
    invoice_id: String,
    payment_id: String,
}

/// A text field taken out of the mapped fields (for the fields an action sends apart from the
/// record: a path segment, a header), if it is there.
fn take_text(input: &mut Value, name: &str) -> Option<String> {
    input
        .as_object_mut()
        .and_then(|fields| fields.remove(name))
        .and_then(|v| match v {
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .filter(|v| !v.trim().is_empty())
}

/// [`take_text`], required.
fn take_required(action: Action, input: &mut Value, name: &str) -> Result<String, StepError> {
    take_text(input, name)
        .ok_or_else(|| StepError::permanent("engine", format!("{action} needs `{name}`")))
}

/// The unique custom field an upsert finds its record by, taken out of the mapped fields.
fn unique_key(
    action: Action,
    mut input: Value,
) -> Result<(paybridge_zoho::books::UniqueKey, Value), StepError> {
    let api_name = take_required(action, &mut input, "unique_field")?;
    let value = take_required(action, &mut input, "unique_value")?;
    Ok((
        paybridge_zoho::books::UniqueKey {
            api_name: api_name.trim().to_string(),
            value: value.trim().to_string(),
        },
        input,
    ))
}

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

fn payment_output(p: &CustomerPayment) -> Value {
    json!({"payment_id": p.payment_id, "amount": p.amount.to_string()})
}

fn sales_order_output(s: &SalesOrder) -> Value {
    json!({
        "salesorder_id": s.salesorder_id,
        "salesorder_number": s.salesorder_number,
        "status": s.status.as_str(),
        "total": s.total.to_string(),
    })
}

fn ticket_output(t: &Ticket) -> Value {
    json!({"ticket_id": t.id, "ticket_number": t.ticket_number, "web_url": t.web_url})
}

/// The invoice a sales order was already turned into, if it was.
async fn invoice_of_sales_order(
    engine: &Engine,
    salesorder_id: &str,
) -> Result<Option<Invoice>, StepError> {
    let books = &engine.connectors.books;
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

async fn crm_upsert(
    engine: &Engine,
    module: &str,
    input: Value,
    default_check: &[&str],
) -> Result<Value, StepError> {
    let Value::Object(mut record) = input else {
        return Err(StepError::permanent(
            "engine",
            format!("a CRM {module} record must be an object of fields"),
        ));
    };
    let check: Vec<String> = match record.remove("duplicate_check_fields") {
        Some(Value::Array(fields)) => fields
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => default_check.iter().map(|f| f.to_string()).collect(),
    };
    let check: Vec<&str> = check.iter().map(String::as_str).collect();
    // Upsert finds the record by its duplicate check fields, so a retry updates what an
    // earlier attempt inserted instead of inserting it again.
    let result = engine
        .connectors
        .crm()?
        .upsert(module, &[record], &check)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| StepError::permanent("zoho-crm", "CRM answered an upsert with no result"))?;
    if result.status != "success" {
        return Err(StepError::permanent(
            "zoho-crm",
            format!(
                "CRM refused the {module} record: {} ({})",
                result.message, result.code
            ),
        ));
    }
    Ok(json!({
        "id": result.details.get("id").cloned().unwrap_or(Value::Null),
        "action": result.action,
    }))
}

const CONTACT_BY_EMAIL: &str = "contact-by-email";
/// Display names of the contacts paybridge made or found (lower case): names are unique in an
/// organization, so a namesake goes straight to "Name (email)" instead of a refused create.
const CONTACT_NAME: &str = "contact-name";

/// A display name as `CONTACT_NAME` keeps it (Books compares names ignoring case).
fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// The customer's Books contact: known from the xref table, else found by e-mail, else
/// created. A contact's currency is fixed, so a customer paying in another currency than the
/// organization's gets a contact of that currency (`contact.currency_id`). A display-name clash
/// (3062) with another contact is resolved by naming ours "Name (email)" (and the currency).
async fn ensure_contact(
    engine: &Engine,
    attempt: Attempt,
    email: &str,
    contact: NewContact,
    currency_code: Option<&str>,
) -> Result<Value, StepError> {
    let store = &engine.store;
    let books = &engine.connectors.books;
    let system = engine.connectors.books_system();
    let email = email.trim().to_ascii_lowercase();
    let currency = contact.currency_id.clone();
    let kind = match &currency {
        Some(id) => format!("{CONTACT_BY_EMAIL}:{id}"),
        None => CONTACT_BY_EMAIL.to_string(),
    };
    if let Some(contact_id) = store.xref(&system, &kind, &email).await? {
        return Ok(json!({"contact_id": contact_id, "created": false}));
    }
    let (system, email, kind) = (&system, &email, &kind);
    let remember = |contact: Contact, created: bool| async move {
        let now = engine.clock.now_ms();
        let name = name_key(&contact.contact_name);
        let entries = [
            XrefEntry {
                kind,
                key: email,
                value: &contact.contact_id,
            },
            XrefEntry {
                kind: CONTACT_NAME,
                key: &name,
                value: &contact.contact_id,
            },
        ];
        // The e-mail's contact: this one, or the one a concurrent run kept first.
        let contact_id = store
            .put_xrefs(system, &entries, now)
            .await?
            .into_iter()
            .next();
        let contact_id = contact_id.unwrap_or(contact.contact_id);
        Ok::<_, StepError>(json!({"contact_id": contact_id, "created": created}))
    };
    // Ours when its currency is the one asked for (none asked: the organization's).
    let same_currency = |c: &Contact| match &currency {
        Some(id) => c.currency_id.as_deref() == Some(id.as_str()),
        None => c
            .currency_code
            .as_deref()
            .is_none_or(|code| code.eq_ignore_ascii_case(engine.connectors.books_currency.code())),
    };
    if let Some(existing) = books
        .find_customers_by_email(email)
        .await?
        .into_iter()
        .find(same_currency)
    {
        return remember(existing, false).await;
    }
    let name = contact.contact_name.clone();
    // A name paybridge has seen on a contact is taken (after an attempt whose answer was
    // lost, Books is asked: the contact may be this customer's own), and so is one another
    // run of this process is creating a contact under (a namesake placed at the same moment).
    let held_as = name_key(&name);
    let claim = NameClaim::take(engine, held_as.clone());
    let known_taken = !attempt.uncertain
        && (claim.is_none() || store.xref(system, CONTACT_NAME, &held_as).await?.is_some());
    if !known_taken {
        match books.create_contact(&contact).await {
            Ok(made) => return remember(made, true).await,
            Err(e) if e.books_code() == Some(DUPLICATE_CONTACT_NAME) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // The name is taken: by someone else, or by this customer when an earlier attempt created
    // the contact and its answer was lost (with the e-mail not yet searchable). Only then is
    // the holder worth a look: otherwise the search by e-mail just found no customer of ours,
    // and runs of one customer go one at a time, so the holder is someone else.
    if attempt.uncertain
        && let Some(same) = books.find_contact_by_name(&name).await?.filter(|c| {
            c.email
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(email))
                && c.contact_type.as_deref().is_none_or(|t| t == "customer")
                && same_currency(c)
        })
    {
        return remember(same, false).await;
    }
    let distinct = match &currency {
        Some(id) => format!("{name} ({email}, {})", currency_code.unwrap_or(id)),
        None => format!("{name} ({email})"),
    };
    let renamed = NewContact {
        contact_name: distinct.clone(),
        ..contact
    };
    match books.create_contact(&renamed).await {
        Ok(made) => remember(made, true).await,
        Err(e) if e.books_code() == Some(DUPLICATE_CONTACT_NAME) => {
            let ours = books
                .find_contact_by_name(&distinct)
                .await?
                .ok_or_else(|| {
                    StepError::permanent(
                        "zoho-books",
                        format!("contact {distinct:?} exists but cannot be found"),
                    )
                })?;
            remember(ours, false).await
        }
        Err(e) => Err(e.into()),
    }
}

/// A display name this run is creating a Books contact under, until the contact is made and
/// its name kept (or the attempt ends): other runs of the process treat the name as taken.
struct NameClaim<'e> {
    names: &'e std::sync::Mutex<std::collections::HashSet<String>>,
    name: String,
}

impl<'e> NameClaim<'e> {
    /// The claim on `name`, or `None` when another run holds it.
    fn take(engine: &'e Engine, name: String) -> Option<NameClaim<'e>> {
        let names = &engine.contact_names_in_flight;
        let fresh = names
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name.clone());
        fresh.then_some(NameClaim { names, name })
    }
}

impl Drop for NameClaim<'_> {
    fn drop(&mut self) {
        self.names
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.name);
    }
}

/// After an order is synced: when its payment saved a card (or used a TMS customer), the
/// `order.card_saved` event starts its flows (the customer-sync template writes the tokens to
/// the Zoho contact, which now exists). Once per order, however often this step runs.
async fn card_saved(call: &Call<'_>, order_id: &str) -> Result<bool, StepError> {
    use crate::flows::definition::TriggerSource;
    let engine = call.engine;
    // Every order passes here: no store read unless some flow wants the event and the payment
    // (as the run read it when it began) left a TMS customer.
    if engine
        .flows()
        .triggered_by(TriggerSource::OrderApi.inbox_source(), CARD_SAVED_EVENT)
        .is_empty()
    {
        return Ok(false);
    }
    if call
        .trigger
        .pointer("/payment/tokens/customer_id")
        .is_none_or(Value::is_null)
    {
        return Ok(false);
    }
    let Some(order) = engine.store.order(order_id).await? else {
        return Ok(false);
    };
    let new = crate::store::NewEvent {
        source: TriggerSource::OrderApi.inbox_source().into(),
        dedupe_key: format!("card-saved:{order_id}"),
        event_type: CARD_SAVED_EVENT.into(),
        entity_key: format!("customer:{}", order.customer_email),
        payload: call.event.payload.clone(),
    };
    engine
        .accept_triggered(&new, TriggerSource::OrderApi, None)
        .await?;
    Ok(true)
}

/// The event of an order synced to Zoho whose payment saved a card.
pub const CARD_SAVED_EVENT: &str = "order.card_saved";
