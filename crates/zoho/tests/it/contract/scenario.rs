//! Every operation the connectors have, run once against the sandbox through the recording proxy.

use crate::{ORG, contact, day, invoice, payment, today};
use paybridge_zoho::books::{
    InvoiceLine, InvoicePayment, NewContact, NewCreditNote, NewInvoice, NewItem, NewRefund,
    NewSalesOrder, UniqueKey,
};
use paybridge_zoho::crm::{Channel, Record, Search, criteria};
use paybridge_zoho::inventory::{NewPackage, NewShipment, PackageLine};
use rust_decimal::Decimal;
use serde_json::json;

// ---------------------------------------------------------------------------------------------
// The scenario
pub(crate) fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

pub(crate) fn line(name: &str, rate: &str, quantity: &str, item: Option<&str>) -> InvoiceLine {
    InvoiceLine {
        item_id: item.map(str::to_string),
        name: name.into(),
        rate: dec(rate),
        quantity: dec(quantity),
        ..InvoiceLine::default()
    }
}

pub(crate) async fn scenario(client: &paybridge_zoho::Client) {
    let books = client.books(ORG);
    let inventory = client.inventory(ORG);
    let crm = client.crm("crm-org");

    // Books: contacts and items.
    let ada = books
        .create_contact(&contact("Ada Lovelace", "ada@example.com"))
        .await
        .unwrap();
    books.get_contact(&ada.contact_id).await.unwrap();
    books
        .update_contact(
            &ada.contact_id,
            &NewContact {
                notes: Some("VIP".into()),
                ..contact("Ada Lovelace", "ada@example.com")
            },
        )
        .await
        .unwrap();
    let key = |v: &str| UniqueKey {
        api_name: "cf_paybridge_id".into(),
        value: v.into(),
    };
    let grace = books
        .upsert_contact(&key("c-2"), &contact("Grace Hopper", "grace@example.com"))
        .await
        .unwrap()
        .record;
    books
        .find_customers_by_email("ada@example.com")
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
    books.get_item(&tea.item_id).await.unwrap();
    books
        .upsert_item(
            &key("item-2"),
            &NewItem {
                name: "Coffee".into(),
                rate: dec("5"),
                ..NewItem::default()
            },
        )
        .await
        .unwrap();
    books.find_item_by_sku("TEA-1").await.unwrap();

    // Invoices and payments.
    let inv = books
        .create_invoice(&invoice(&ada.contact_id, "ORDER-1", "20.00"))
        .await
        .unwrap();
    books.get_invoice(&inv.invoice_id).await.unwrap();
    books.mark_invoice_sent(&inv.invoice_id).await.unwrap();
    books
        .create_invoice_numbered(&NewInvoice {
            invoice_number: Some("WEB-9".into()),
            ..invoice(&ada.contact_id, "ORDER-9", "1.00")
        })
        .await
        .unwrap();
    let upserted = books
        .upsert_invoice(
            &key("inv-3"),
            &invoice(&grace.contact_id, "ORDER-3", "3.00"),
        )
        .await
        .unwrap()
        .record;
    books.void_invoice(&upserted.invoice_id).await.unwrap();
    books.find_invoices_by_reference("ORDER-1").await.unwrap();
    let paid = books
        .create_customer_payment(&payment(&ada.contact_id, &inv.invoice_id, "20.00", "TX-1"))
        .await
        .unwrap();
    books.get_customer_payment(&paid.payment_id).await.unwrap();
    books
        .find_customer_payments_by_reference("TX-1")
        .await
        .unwrap();
    let inv2 = books
        .create_invoice(&invoice(&grace.contact_id, "ORDER-4", "10.00"))
        .await
        .unwrap();
    books.mark_invoice_sent(&inv2.invoice_id).await.unwrap();
    let over = books
        .upsert_customer_payment(
            &key("pay-4"),
            &paybridge_zoho::books::NewCustomerPayment {
                amount: dec("15.00"),
                ..payment(&grace.contact_id, &inv2.invoice_id, "10.00", "TX-4")
            },
        )
        .await
        .unwrap()
        .record;
    let account = books.bank_accounts().await.unwrap()[0].account_id.clone();
    let refund = NewRefund {
        date: today(),
        amount: dec("5.00"),
        from_account_id: Some(account),
        refund_mode: Some("creditcard".into()),
        reference_number: Some("R-1".into()),
        description: None,
    };
    books
        .refund_customer_payment(&over.payment_id, &refund)
        .await
        .unwrap();
    books
        .customer_payment_refunds(&over.payment_id)
        .await
        .unwrap();

    // Credit notes.
    let note = NewCreditNote {
        customer_id: ada.contact_id.clone(),
        date: today(),
        line_items: vec![line("Refund", "5.00", "1", None)],
        reference_number: Some("CN-REF".into()),
        ..NewCreditNote::default()
    };
    let cn = books
        .create_credit_note(&note, Some(&inv.invoice_id))
        .await
        .unwrap();
    books.get_credit_note(&cn.creditnote_id).await.unwrap();
    books
        .refund_credit_note(
            &cn.creditnote_id,
            &NewRefund {
                amount: dec("2.00"),
                ..refund.clone()
            },
        )
        .await
        .unwrap();
    books.credit_note_refunds(&cn.creditnote_id).await.unwrap();
    books
        .find_credit_notes_by_reference("CN-REF")
        .await
        .unwrap();
    let inv3 = books
        .create_invoice(&invoice(&ada.contact_id, "ORDER-5", "10.00"))
        .await
        .unwrap();
    books.mark_invoice_sent(&inv3.invoice_id).await.unwrap();
    books
        .apply_credit_note(
            &cn.creditnote_id,
            &[InvoicePayment {
                invoice_id: inv3.invoice_id.clone(),
                amount_applied: dec("3.00"),
            }],
        )
        .await
        .unwrap();
    let spare = books
        .upsert_credit_note(&key("cn-2"), &note)
        .await
        .unwrap()
        .record;
    books.void_credit_note(&spare.creditnote_id).await.unwrap();

    // Sales orders through Books.
    let order = NewSalesOrder {
        customer_id: ada.contact_id.clone(),
        reference_number: Some("WEB-1".into()),
        date: today(),
        line_items: vec![line("Tea", "4.50", "2", Some(&tea.item_id))],
        ..NewSalesOrder::default()
    };
    let so = books.create_sales_order(&order).await.unwrap();
    books.get_sales_order(&so.salesorder_id).await.unwrap();
    books.open_sales_order(&so.salesorder_id).await.unwrap();
    books.invoice_sales_order(&so.salesorder_id).await.unwrap();
    let so2 = books.create_sales_order(&order).await.unwrap();
    books.void_sales_order(&so2.salesorder_id).await.unwrap();

    // Currencies.
    let euro = books.add_currency("EUR", "€").await.unwrap();
    books.currencies().await.unwrap();
    books
        .add_exchange_rate(&euro.currency_id, "2026-11-01", dec("1.08"))
        .await
        .unwrap();
    books.exchange_rates(&euro.currency_id).await.unwrap();

    // Inventory.
    let kettle = inventory
        .create_item(&NewItem {
            name: "Kettle".into(),
            rate: dec("35"),
            item_type: Some("inventory".into()),
            initial_stock: Some(dec("5")),
            ..NewItem::default()
        })
        .await
        .unwrap();
    inventory.get_item(&kettle.item_id).await.unwrap();
    let so = inventory
        .create_sales_order(&NewSalesOrder {
            line_items: vec![line("Kettle", "35", "2", Some(&kettle.item_id))],
            ..order.clone()
        })
        .await
        .unwrap();
    inventory.get_sales_order(&so.salesorder_id).await.unwrap();
    inventory
        .confirm_sales_order(&so.salesorder_id)
        .await
        .unwrap();
    inventory
        .find_sales_orders_by_reference("WEB-1")
        .await
        .unwrap();
    let package = inventory
        .create_package(
            &so.salesorder_id,
            &NewPackage {
                date: today(),
                line_items: vec![PackageLine {
                    so_line_item_id: so.line_items[0].line_item_id.clone(),
                    quantity: dec("2"),
                }],
                ..NewPackage::default()
            },
        )
        .await
        .unwrap();
    inventory.get_package(&package.package_id).await.unwrap();
    let shipment = inventory
        .create_shipment(
            &so.salesorder_id,
            &[&package.package_id],
            &NewShipment {
                date: day(1),
                delivery_method: "UPS".into(),
                tracking_number: "1Z".into(),
                ..NewShipment::default()
            },
        )
        .await
        .unwrap();
    inventory.get_shipment(&shipment.shipment_id).await.unwrap();
    inventory
        .mark_shipment_delivered(&shipment.shipment_id)
        .await
        .unwrap();
    let so3 = inventory.create_sales_order(&order).await.unwrap();
    inventory
        .void_sales_order(&so3.salesorder_id)
        .await
        .unwrap();

    // CRM.
    let mut person = Record::new();
    person.insert("Last_Name".into(), json!("Lovelace"));
    person.insert("Email".into(), json!("ada@example.com"));
    let inserted = crm
        .insert("Contacts", &[person.clone(), Record::new()])
        .await
        .unwrap();
    let id = inserted[0].id().unwrap();
    crm.upsert("Contacts", &[person.clone()], &["Email"])
        .await
        .unwrap();
    let mut change = Record::new();
    change.insert("id".into(), json!(id));
    change.insert("Phone".into(), json!("555-0100"));
    crm.update("Contacts", &[change]).await.unwrap();
    crm.get("Contacts", &id, &["Email", "Phone"]).await.unwrap();
    crm.search(
        "Contacts",
        &Search::Criteria(criteria("Email", "equals", "ada@example.com")),
        &[],
    )
    .await
    .unwrap();
    crm.find_contacts_by_email("ada@example.com").await.unwrap();
    let channel = Channel {
        channel_id: "1000000068001".into(),
        events: vec!["Contacts.all".into()],
        channel_expiry: None,
        token: "tok".into(),
        notify_url: "http://127.0.0.1:9/hooks".into(),
        return_affected_field_values: false,
    };
    crm.enable_notifications(std::slice::from_ref(&channel))
        .await
        .unwrap();
    crm.notification_channels().await.unwrap();
    crm.renew_notifications(&[channel]).await.unwrap();
    crm.disable_notifications(&["1000000068001"]).await.unwrap();
    crm.delete("Contacts", &id).await.unwrap();
}
