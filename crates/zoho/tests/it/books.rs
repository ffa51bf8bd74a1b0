//! Zoho Books operations against the sandbox: upserts by a unique custom field, pagination,
//! invoice statuses, refunds through credit notes and payments, sales orders, currencies.

use futures::TryStreamExt as _;
use paybridge_model::FailureKind;
use paybridge_sandbox::zoho::{ZohoConfig, ZohoLimits};
use paybridge_zoho::books::{
    CreditNoteStatus, CustomField, InvoiceLine, InvoicePayment, InvoiceStatus, NewContact,
    NewCreditNote, NewCustomerPayment, NewInvoice, NewItem, NewRefund, NewSalesOrder,
    SalesOrderStatus, UniqueKey, custom_value,
};
use rust_decimal::Decimal;

use crate::{ORG, client, config, contact, invoice, payment, sandbox, today};

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn unlimited() -> ZohoConfig {
    ZohoConfig {
        limits: ZohoLimits::off(),
        ..config()
    }
}

fn key(value: &str) -> UniqueKey {
    UniqueKey {
        api_name: "cf_paybridge_id".into(),
        value: value.into(),
    }
}

#[tokio::test]
async fn an_upsert_by_a_unique_custom_field_creates_once_then_updates() {
    let (zoho, server) = sandbox(config()).await;
    let books = client(&server, "1000.CLIENT").books(ORG);
    let first = books
        .upsert_contact(
            &key("customer-42"),
            &contact("Grace Hopper", "grace@example.com"),
        )
        .await
        .unwrap();
    assert!(first.created);
    assert_eq!(
        custom_value(&first.record.custom_fields, "cf_paybridge_id"),
        Some("customer-42")
    );
    // A retry after a lost answer lands on the same record.
    let again = books
        .upsert_contact(
            &key("customer-42"),
            &NewContact {
                company_name: Some("Navy".into()),
                ..contact("Grace Hopper", "grace@example.com")
            },
        )
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.record.contact_id, first.record.contact_id);
    assert_eq!(again.record.company_name.as_deref(), Some("Navy"));
    assert_eq!(zoho.books_records(ORG).unwrap().contacts.len(), 1);

    // The unique field refuses a second record with the same value.
    let clash = books
        .create_contact(&NewContact {
            custom_fields: vec![CustomField::new("cf_paybridge_id", "customer-42")],
            ..contact("Someone Else", "else@example.com")
        })
        .await
        .unwrap_err();
    assert_eq!(clash.kind(), FailureKind::Permanent);
    assert!(clash.to_string().contains("customer-42"), "{clash}");

    // Only a field configured as unique can name a record.
    let wrong = books
        .upsert_contact(
            &UniqueKey {
                api_name: "cf_colour".into(),
                value: "blue".into(),
            },
            &contact("Blue", "blue@example.com"),
        )
        .await
        .unwrap_err();
    assert_eq!(wrong.books_code(), Some(2), "{wrong}");
}

#[tokio::test]
async fn a_taken_display_name_resolves_to_the_existing_contact() {
    let (_zoho, server) = sandbox(config()).await;
    let books = client(&server, "1000.CLIENT").books(ORG);
    let made = books
        .ensure_contact(&contact("Ada Lovelace", "ada@example.com"))
        .await
        .unwrap();
    assert!(made.created);
    let found = books
        .ensure_contact(&contact("Ada Lovelace", "ada@example.com"))
        .await
        .unwrap();
    assert!(!found.created);
    assert_eq!(found.contact.contact_id, made.contact.contact_id);
}

#[tokio::test]
async fn lists_are_streamed_page_by_page() {
    let (_zoho, server) = sandbox(unlimited()).await;
    let zoho = client(&server, "1000.CLIENT");
    let books = zoho.books(ORG);
    for n in 0..450 {
        books
            .create_contact(&contact(
                &format!("Customer {n:03}"),
                &format!("c{n}@example.com"),
            ))
            .await
            .unwrap();
    }
    let before = zoho.api_calls();
    let all: Vec<_> = books.contacts(&[]).try_collect().await.unwrap();
    assert_eq!(all.len(), 450);
    assert_eq!(zoho.api_calls() - before, 3, "200 + 200 + 50");
    let some: Vec<_> = books
        .contacts(&[("contact_name_startswith", "Customer 44")])
        .try_collect()
        .await
        .unwrap();
    assert_eq!(some.len(), 10);
}

#[tokio::test]
async fn invoices_number_void_and_return_to_draft() {
    let (_zoho, server) = sandbox(config()).await;
    let books = client(&server, "1000.CLIENT").books(ORG);
    let ada = books
        .create_contact(&contact("Ada Lovelace", "ada@example.com"))
        .await
        .unwrap();
    let numbered = NewInvoice {
        invoice_number: Some("WEB-1001".into()),
        ..invoice(&ada.contact_id, "ORDER-1", "10.00")
    };
    let first = books.create_invoice_numbered(&numbered).await.unwrap();
    assert_eq!(first.invoice_number.as_deref(), Some("WEB-1001"));
    // A repeated create under the same number cannot duplicate the invoice.
    let repeated = books.create_invoice_numbered(&numbered).await.unwrap_err();
    assert_eq!(repeated.kind(), FailureKind::Permanent, "{repeated}");
    assert!(
        books
            .create_invoice_numbered(&invoice(&ada.contact_id, "ORDER-2", "1.00"))
            .await
            .is_err(),
        "a number is required"
    );

    books.void_invoice(&first.invoice_id).await.unwrap();
    assert_eq!(
        books.get_invoice(&first.invoice_id).await.unwrap().status,
        InvoiceStatus::Void
    );
    let paid = books
        .create_invoice(&invoice(&ada.contact_id, "ORDER-3", "25.00"))
        .await
        .unwrap();
    books.mark_invoice_sent(&paid.invoice_id).await.unwrap();
    books
        .create_customer_payment(&payment(&ada.contact_id, &paid.invoice_id, "25.00", "TX-3"))
        .await
        .unwrap();
    let refused = books.void_invoice(&paid.invoice_id).await.unwrap_err();
    assert_eq!(refused.books_code(), Some(4), "{refused}");
    let unpaid: Vec<_> = books
        .invoices(&[("status", "paid")])
        .try_collect()
        .await
        .unwrap();
    assert_eq!(unpaid.len(), 1);
}

#[tokio::test]
async fn a_refund_goes_through_a_credit_note_against_the_paid_invoice() {
    let (_zoho, server) = sandbox(config()).await;
    let books = client(&server, "1000.CLIENT").books(ORG);
    let ada = books
        .create_contact(&contact("Ada Lovelace", "ada@example.com"))
        .await
        .unwrap();
    let inv = books
        .create_invoice(&invoice(&ada.contact_id, "ORDER-9", "80.00"))
        .await
        .unwrap();
    books.mark_invoice_sent(&inv.invoice_id).await.unwrap();
    books
        .create_customer_payment(&payment(&ada.contact_id, &inv.invoice_id, "80.00", "TX-9"))
        .await
        .unwrap();
    let accounts = books.bank_accounts().await.unwrap();
    assert!(!accounts.is_empty());

    let note = books
        .upsert_credit_note(
            &key("refund-TX-9-1"),
            &NewCreditNote {
                customer_id: ada.contact_id.clone(),
                date: today(),
                reference_number: Some("REFUND-1".into()),
                line_items: vec![InvoiceLine {
                    name: "Refund of ORDER-9".into(),
                    rate: dec("30.00"),
                    quantity: Decimal::ONE,
                    ..InvoiceLine::default()
                }],
                ..NewCreditNote::default()
            },
        )
        .await
        .unwrap();
    assert!(note.created);
    let note = note.record;
    assert_eq!(note.status, CreditNoteStatus::Open);
    assert_eq!(note.balance, dec("30"));
    let refund = NewRefund {
        date: today(),
        amount: dec("30.00"),
        from_account_id: Some(accounts[0].account_id.clone()),
        refund_mode: Some("creditcard".into()),
        reference_number: Some("CYBS-REFUND-1".into()),
        description: None,
    };
    let too_much = books
        .refund_credit_note(
            &note.creditnote_id,
            &NewRefund {
                amount: dec("30.01"),
                ..refund.clone()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(too_much.kind(), FailureKind::Permanent);
    let paid_back = books
        .refund_credit_note(&note.creditnote_id, &refund)
        .await
        .unwrap();
    assert_eq!(paid_back.amount, dec("30"));
    let closed = books.get_credit_note(&note.creditnote_id).await.unwrap();
    assert_eq!(closed.status, CreditNoteStatus::Closed);
    assert_eq!(closed.balance, Decimal::ZERO);
    assert_eq!(
        books
            .credit_note_refunds(&note.creditnote_id)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        books
            .find_credit_notes_by_reference("REFUND-1")
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        books.get_invoice(&inv.invoice_id).await.unwrap().status,
        InvoiceStatus::Paid,
        "the invoice stays paid; the money went back through the credit note"
    );
}

#[tokio::test]
async fn a_credit_note_applied_to_an_open_invoice_settles_it() {
    let (_zoho, server) = sandbox(config()).await;
    let books = client(&server, "1000.CLIENT").books(ORG);
    let ada = books
        .create_contact(&contact("Ada Lovelace", "ada@example.com"))
        .await
        .unwrap();
    let inv = books
        .create_invoice(&invoice(&ada.contact_id, "ORDER-5", "50.00"))
        .await
        .unwrap();
    books.mark_invoice_sent(&inv.invoice_id).await.unwrap();
    let note = books
        .create_credit_note(
            &NewCreditNote {
                customer_id: ada.contact_id.clone(),
                date: today(),
                line_items: vec![InvoiceLine {
                    name: "Goodwill".into(),
                    rate: dec("20"),
                    quantity: Decimal::ONE,
                    ..InvoiceLine::default()
                }],
                ..NewCreditNote::default()
            },
            Some(&inv.invoice_id),
        )
        .await
        .unwrap();
    assert_eq!(note.invoice_id.as_deref(), Some(inv.invoice_id.as_str()));
    books
        .apply_credit_note(
            &note.creditnote_id,
            &[InvoicePayment {
                invoice_id: inv.invoice_id.clone(),
                amount_applied: dec("20"),
            }],
        )
        .await
        .unwrap();
    let after = books.get_invoice(&inv.invoice_id).await.unwrap();
    assert_eq!(after.status, InvoiceStatus::PartiallyPaid);
    assert_eq!(after.balance, dec("30"));
    assert_eq!(after.credits_applied, Some(dec("20")));
    assert_eq!(
        books
            .get_credit_note(&note.creditnote_id)
            .await
            .unwrap()
            .status,
        CreditNoteStatus::Closed
    );
}

#[tokio::test]
async fn only_the_unused_part_of_a_payment_is_refunded() {
    let (_zoho, server) = sandbox(config()).await;
    let books = client(&server, "1000.CLIENT").books(ORG);
    let ada = books
        .create_contact(&contact("Ada Lovelace", "ada@example.com"))
        .await
        .unwrap();
    let inv = books
        .create_invoice(&invoice(&ada.contact_id, "ORDER-7", "40.00"))
        .await
        .unwrap();
    books.mark_invoice_sent(&inv.invoice_id).await.unwrap();
    let overpaid = books
        .create_customer_payment(&NewCustomerPayment {
            amount: dec("50.00"),
            ..payment(&ada.contact_id, &inv.invoice_id, "40.00", "TX-7")
        })
        .await
        .unwrap();
    assert_eq!(overpaid.unused_amount, Some(dec("10")));
    let account = books.bank_accounts().await.unwrap()[0].account_id.clone();
    let refund = |amount: &str| NewRefund {
        date: today(),
        amount: dec(amount),
        from_account_id: Some(account.clone()),
        ..NewRefund::default()
    };
    let too_much = books
        .refund_customer_payment(&overpaid.payment_id, &refund("10.01"))
        .await
        .unwrap_err();
    assert_eq!(too_much.books_code(), Some(4), "{too_much}");
    let done = books
        .refund_customer_payment(&overpaid.payment_id, &refund("10.00"))
        .await
        .unwrap();
    assert_eq!(done.amount, dec("10"));
    let after = books
        .get_customer_payment(&overpaid.payment_id)
        .await
        .unwrap();
    assert_eq!(after.unused_amount, Some(Decimal::ZERO));
    assert_eq!(after.amount_refunded, Some(dec("10")));
    assert_eq!(
        books
            .customer_payment_refunds(&overpaid.payment_id)
            .await
            .unwrap()
            .len(),
        1
    );
    let no_account = books
        .refund_customer_payment(
            &overpaid.payment_id,
            &NewRefund {
                from_account_id: None,
                ..refund("1")
            },
        )
        .await
        .unwrap_err();
    assert_eq!(no_account.kind(), FailureKind::Permanent);
}

#[tokio::test]
async fn a_sales_order_is_opened_and_invoiced_once() {
    let (_zoho, server) = sandbox(config()).await;
    let books = client(&server, "1000.CLIENT").books(ORG);
    let ada = books
        .create_contact(&contact("Ada Lovelace", "ada@example.com"))
        .await
        .unwrap();
    let tea = books
        .create_item(&NewItem {
            name: "Tea".into(),
            rate: dec("4.50"),
            sku: Some("TEA-1".into()),
            ..NewItem::default()
        })
        .await
        .unwrap();
    assert_eq!(
        books
            .find_item_by_sku("TEA-1")
            .await
            .unwrap()
            .unwrap()
            .item_id,
        tea.item_id
    );
    let order = books
        .create_sales_order(&NewSalesOrder {
            customer_id: ada.contact_id.clone(),
            reference_number: Some("WEB-77".into()),
            date: today(),
            line_items: vec![InvoiceLine {
                item_id: Some(tea.item_id.clone()),
                quantity: dec("3"),
                rate: dec("4.50"),
                ..InvoiceLine::default()
            }],
            ..NewSalesOrder::default()
        })
        .await
        .unwrap();
    assert_eq!(order.status, SalesOrderStatus::Draft);
    assert_eq!(order.total, dec("13.5"));
    assert_eq!(order.line_items[0].name, "Tea", "the item lends its name");
    let early = books
        .invoice_sales_order(&order.salesorder_id)
        .await
        .unwrap_err();
    assert_eq!(
        early.books_code(),
        Some(4),
        "a draft is not invoiced: {early}"
    );
    books.open_sales_order(&order.salesorder_id).await.unwrap();
    assert_eq!(
        books
            .get_sales_order(&order.salesorder_id)
            .await
            .unwrap()
            .status,
        SalesOrderStatus::Open
    );
    let inv = books
        .invoice_sales_order(&order.salesorder_id)
        .await
        .unwrap();
    assert_eq!(inv.total, dec("13.5"));
    assert_eq!(
        inv.salesorder_id.as_deref(),
        Some(order.salesorder_id.as_str())
    );
    let order = books.get_sales_order(&order.salesorder_id).await.unwrap();
    assert_eq!(order.invoiced_status.as_deref(), Some("invoiced"));
    assert!(
        books
            .invoice_sales_order(&order.salesorder_id)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn foreign_currency_invoices_take_the_rate_of_their_date() {
    let (_zoho, server) = sandbox(config()).await;
    let books = client(&server, "1000.CLIENT").books(ORG);
    let euro = books.add_currency("EUR", "€").await.unwrap();
    assert!(!euro.is_base_currency);
    books
        .add_exchange_rate(&euro.currency_id, "2026-11-01", dec("1.0812"))
        .await
        .unwrap();
    books
        .add_exchange_rate(&euro.currency_id, "2026-11-20", dec("1.0950"))
        .await
        .unwrap();
    assert_eq!(
        books
            .exchange_rate_on(&euro.currency_id, "2026-11-10")
            .await
            .unwrap()
            .unwrap()
            .rate,
        dec("1.0812")
    );
    let currencies = books.currencies().await.unwrap();
    assert_eq!(currencies.len(), 2);
    assert!(
        currencies
            .iter()
            .any(|c| c.is_base_currency && c.currency_code == "USD")
    );

    let pierre = books
        .create_contact(&NewContact {
            currency_id: Some(euro.currency_id.clone()),
            ..contact("Pierre Curie", "pierre@example.com")
        })
        .await
        .unwrap();
    assert_eq!(pierre.currency_code.as_deref(), Some("EUR"));
    let inv = books
        .create_invoice(&invoice(&pierre.contact_id, "ORDER-EU", "19.99"))
        .await
        .unwrap();
    assert_eq!(inv.currency_code.as_deref(), Some("EUR"));
    assert_eq!(inv.exchange_rate, Some(dec("1.095")));
}

#[tokio::test]
async fn a_redirect_is_reported_never_followed_with_the_token() {
    use paybridge_sandbox::faults::{FaultMode, FaultRule};
    let (zoho, server) = sandbox(unlimited()).await;
    // Back to the same path: followed, the request would go through and make the contact.
    zoho.faults().add(FaultRule::next(
        "POST",
        "/books/v3/contacts",
        FaultMode::Redirect {
            location: format!("/books/v3/contacts?organization_id={ORG}"),
        },
        1,
    ));
    let error = client(&server, "1000.CLIENT")
        .books(ORG)
        .create_contact(&contact("Ada Lovelace", "ada@example.com"))
        .await
        .unwrap_err();
    assert_eq!(error.http_status(), Some(307), "{error}");
    assert!(
        zoho.books_records(ORG).unwrap().contacts.is_empty(),
        "the redirect was followed"
    );
}
