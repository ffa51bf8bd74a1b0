//! Order to cash, Zoho side: once Cybersource has approved and captured an order, the customer
//! exists in Zoho Books as a contact (found or created, once per customer), the order becomes an
//! invoice, the invoice is marked sent, and a customer payment for the charged amount — its
//! reference number the Cybersource transaction id — is applied to it, leaving it `paid`.
//!
//! Zoho calls per order: 3 for a returning customer (the contact id comes from the xref table),
//! 5 for a new one (a search, then a create).

use paybridge_model::{CardSummary, Customer, Money, Order, OrderStatus};
use paybridge_zoho::books::{
    Address, Contact, ContactPerson, CustomerPayment, Invoice, InvoiceLine, InvoicePayment,
    NewContact, NewCustomerPayment, NewInvoice,
};
use paybridge_zoho::error::DUPLICATE_CONTACT_NAME;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::Engine;
use crate::error::StepError;
use crate::runtime::{Attempt, RunContext};
use crate::store::InboxEvent;

/// The `order.placed` event the order API commits to the inbox. It never holds a card number.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderPlaced {
    pub order_id: String,
    pub order: Order,
    /// Brand, last four and expiry when paid by card.
    #[serde(default)]
    pub card: Option<CardSummary>,
}

/// What the flow remembers of each Zoho record it made or found.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ContactRef {
    contact_id: String,
    created: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct InvoiceRef {
    invoice_id: String,
    invoice_number: Option<String>,
    #[serde(with = "rust_decimal::serde::str")]
    total: Decimal,
}

impl From<Invoice> for InvoiceRef {
    fn from(i: Invoice) -> InvoiceRef {
        InvoiceRef {
            invoice_id: i.invoice_id,
            invoice_number: i.invoice_number,
            total: i.total,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PaymentRef {
    payment_id: String,
}

impl From<CustomerPayment> for PaymentRef {
    fn from(p: CustomerPayment) -> PaymentRef {
        PaymentRef {
            payment_id: p.payment_id,
        }
    }
}

const CONTACT_BY_EMAIL: &str = "contact-by-email";

pub(crate) async fn execute(ctx: &RunContext<'_>, event: &InboxEvent) -> Result<(), StepError> {
    let engine = ctx.engine;
    let placed: OrderPlaced = serde_json::from_value(event.payload.clone()).map_err(|e| {
        StepError::permanent(
            "engine",
            format!("event {} is not an order.placed event: {e}", event.id),
        )
    })?;
    let order = &placed.order;
    let record = engine.store.order(&placed.order_id).await?.ok_or_else(|| {
        StepError::permanent(
            "engine",
            format!("order {} is not in the store", placed.order_id),
        )
    })?;
    let transaction_id = record.payment_id.clone().ok_or_else(|| {
        StepError::permanent(
            "engine",
            format!(
                "order {} has no Cybersource payment to record",
                order.reference
            ),
        )
    })?;
    let books = &engine.connectors.books;
    if order.currency != engine.connectors.books_currency {
        return Err(StepError::permanent(
            "engine",
            format!(
                "order {} is in {}, the Zoho Books organization books in {}; multi-currency invoicing needs exchange-rate support, which paybridge does not have yet",
                order.reference, order.currency, engine.connectors.books_currency
            ),
        ));
    }
    let total = order
        .total()
        .map_err(|e| StepError::permanent("engine", e.to_string()))?;
    let key = |what: &str| {
        format!(
            "order:{}:zoho-books:{}:{what}",
            order.reference,
            books.organization_id()
        )
    };

    let contact: ContactRef = ctx
        .step(
            "zoho-books.contact",
            &key("contact"),
            serde_json::json!({"customer": order.customer}),
            |_attempt| ensure_contact(engine, &order.customer),
        )
        .await?;

    let invoice: InvoiceRef = ctx
        .step(
            "zoho-books.invoice",
            &key("invoice"),
            serde_json::json!({
                "order": order.reference,
                "customer_id": contact.contact_id,
                "currency": order.currency.code(),
                "lines": order.lines,
                "cybersource_transaction": transaction_id,
            }),
            |attempt| create_invoice(engine, attempt, order, &contact, &transaction_id),
        )
        .await?;
    if invoice.total != total.amount() {
        return Err(StepError::permanent(
            "zoho-books",
            format!(
                "Zoho computed invoice {} at {} but {} was charged; check taxes and rounding in the organization",
                invoice
                    .invoice_number
                    .as_deref()
                    .unwrap_or(&invoice.invoice_id),
                invoice.total,
                total
            ),
        ));
    }

    ctx.step(
        "zoho-books.invoice-sent",
        &key("invoice-sent"),
        serde_json::json!({"invoice_id": invoice.invoice_id}),
        |_attempt| async {
            // Marking an invoice sent again is harmless, so a retry needs no look-up.
            books.mark_invoice_sent(&invoice.invoice_id).await?;
            Ok(())
        },
    )
    .await?;

    let payment: PaymentRef = ctx
        .step(
            "zoho-books.customer-payment",
            &key("customer-payment"),
            serde_json::json!({
                "invoice_id": invoice.invoice_id,
                "customer_id": contact.contact_id,
                "amount": total.amount().to_string(),
                "currency": total.currency().code(),
                "reference": transaction_id,
            }),
            |attempt| {
                record_payment(
                    engine,
                    attempt,
                    &placed,
                    &contact,
                    &invoice,
                    total,
                    &transaction_id,
                )
            },
        )
        .await?;

    engine
        .store
        .complete_order_sync(
            &placed.order_id,
            &contact.contact_id,
            &invoice.invoice_id,
            &payment.payment_id,
            engine.clock.now_ms(),
        )
        .await?;
    engine.notify_progress();
    tracing::info!(order = %order.reference, invoice = %invoice.invoice_id, payment = %payment.payment_id, "order synced to Zoho Books");
    Ok(())
}

pub(crate) async fn on_dead_letter(engine: &Engine, event: &InboxEvent, error: &StepError) {
    let Ok(placed) = serde_json::from_value::<OrderPlaced>(event.payload.clone()) else {
        return;
    };
    let detail = format!("Zoho sync failed: {error}");
    if let Err(e) = engine
        .store
        .set_order_status(
            &placed.order_id,
            OrderStatus::SyncFailed,
            Some(&detail),
            engine.clock.now_ms(),
        )
        .await
    {
        tracing::error!(order = %placed.order.reference, error = %e, "could not mark the order as failed");
    }
    engine.notify_progress();
}

/// The customer's Zoho Books contact: known from the xref table, else found by e-mail, else
/// created. A display-name clash (3062) with someone else's contact is resolved by naming ours
/// "Name (email)".
async fn ensure_contact(engine: &Engine, customer: &Customer) -> Result<ContactRef, StepError> {
    let store = &engine.store;
    let books = &engine.connectors.books;
    let system = engine.connectors.books_system();
    let email = customer.email_key();
    if let Some(contact_id) = store.xref(&system, CONTACT_BY_EMAIL, &email).await? {
        return Ok(ContactRef {
            contact_id,
            created: false,
        });
    }
    let (system, email) = (&system, &email);
    let remember = |contact: Contact, created: bool| async move {
        let contact_id = store
            .put_xref(
                system,
                CONTACT_BY_EMAIL,
                email,
                &contact.contact_id,
                engine.clock.now_ms(),
            )
            .await?;
        Ok::<_, StepError>(ContactRef {
            contact_id,
            created,
        })
    };
    if let Some(existing) = books
        .find_customers_by_email(email)
        .await?
        .into_iter()
        .next()
    {
        return remember(existing, false).await;
    }
    let name = customer.display_name();
    match books
        .create_contact(&new_contact(customer, name.clone()))
        .await
    {
        Ok(contact) => remember(contact, true).await,
        Err(e) if e.books_code() == Some(DUPLICATE_CONTACT_NAME) => {
            // The name is taken: by this customer (an earlier attempt whose answer was lost,
            // with the e-mail not yet searchable) or by someone else.
            if let Some(same) = books.find_contact_by_name(&name).await?.filter(|c| {
                c.email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(email))
            }) {
                return remember(same, false).await;
            }
            let distinct = format!("{name} ({email})");
            match books
                .create_contact(&new_contact(customer, distinct.clone()))
                .await
            {
                Ok(contact) => remember(contact, true).await,
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
        Err(e) => Err(e.into()),
    }
}

fn new_contact(customer: &Customer, contact_name: String) -> NewContact {
    let a = &customer.billing_address;
    NewContact {
        contact_name,
        company_name: customer.company.clone(),
        contact_type: "customer".into(),
        customer_sub_type: Some(
            if customer.company.is_some() {
                "business"
            } else {
                "individual"
            }
            .into(),
        ),
        billing_address: Some(Address {
            attention: Some(customer.display_name()),
            address: Some(a.line1.clone()),
            street2: a.line2.clone(),
            city: Some(a.city.clone()),
            state: a.region.clone(),
            zip: Some(a.postal_code.clone()),
            country: Some(a.country.clone()),
            phone: customer.phone.clone(),
        }),
        contact_persons: vec![ContactPerson {
            first_name: customer.first_name.trim().to_string(),
            last_name: customer.last_name.trim().to_string(),
            email: customer.email_key(),
            phone: customer.phone.clone(),
            is_primary_contact: true,
        }],
        notes: Some("Created by paybridge from a storefront order.".into()),
        ..NewContact::default()
    }
}

/// The order's invoice. On a retry after an unknown outcome, the invoice is looked up by its
/// reference number (the order reference) before one is created.
async fn create_invoice(
    engine: &Engine,
    attempt: Attempt,
    order: &Order,
    contact: &ContactRef,
    transaction_id: &str,
) -> Result<InvoiceRef, StepError> {
    let books = &engine.connectors.books;
    if attempt.uncertain
        && let Some(found) = books
            .find_invoices_by_reference(&order.reference)
            .await?
            .into_iter()
            .next()
    {
        tracing::info!(order = %order.reference, invoice = %found.invoice_id, "found the invoice an earlier attempt created");
        return Ok(found.into());
    }
    let invoice = NewInvoice {
        customer_id: contact.contact_id.clone(),
        reference_number: Some(order.reference.clone()),
        date: engine.clock.today(),
        line_items: order
            .lines
            .iter()
            .map(|line| InvoiceLine {
                item_id: None,
                name: line.name.clone(),
                description: line.sku.clone(),
                rate: line.unit_price,
                quantity: line.quantity,
            })
            .collect(),
        notes: Some(format!(
            "Paid by card through Cybersource (transaction {transaction_id})."
        )),
        ..NewInvoice::default()
    };
    Ok(books.create_invoice(&invoice).await?.into())
}

/// The customer payment applied to the invoice in full. On a retry after an unknown outcome,
/// it is looked up by its reference number (the Cybersource transaction id) first.
async fn record_payment(
    engine: &Engine,
    attempt: Attempt,
    placed: &OrderPlaced,
    contact: &ContactRef,
    invoice: &InvoiceRef,
    total: Money,
    transaction_id: &str,
) -> Result<PaymentRef, StepError> {
    let books = &engine.connectors.books;
    if attempt.uncertain
        && let Some(found) = books
            .find_customer_payments_by_reference(transaction_id)
            .await?
            .into_iter()
            .find(|p| {
                p.invoices.is_empty()
                    || p.invoices
                        .iter()
                        .any(|i| i.invoice_id == invoice.invoice_id)
            })
    {
        tracing::info!(order = %placed.order.reference, payment = %found.payment_id, "found the payment an earlier attempt recorded");
        return Ok(found.into());
    }
    let card = placed
        .card
        .as_ref()
        .map(|c| format!(" ({} ****{})", c.brand, c.last4))
        .unwrap_or_default();
    let payment = NewCustomerPayment {
        customer_id: contact.contact_id.clone(),
        payment_mode: "creditcard".into(),
        amount: total.amount(),
        date: engine.clock.today(),
        reference_number: Some(transaction_id.to_string()),
        description: Some(format!(
            "Cybersource transaction {transaction_id}{card} for order {}",
            placed.order.reference
        )),
        invoices: vec![InvoicePayment {
            invoice_id: invoice.invoice_id.clone(),
            amount_applied: total.amount(),
        }],
        ..NewCustomerPayment::default()
    };
    Ok(books.create_customer_payment(&payment).await?.into())
}
