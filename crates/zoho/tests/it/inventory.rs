//! Zoho Inventory against the sandbox: stock committed by a confirmed order, taken off the
//! shelf by packages, shipped and delivered; the same organization as Books.

use paybridge_model::FailureKind;
use paybridge_zoho::books::{InvoiceLine, NewItem, NewSalesOrder, SalesOrderStatus};
use paybridge_zoho::inventory::{NewPackage, NewShipment, PackageLine, Stock, StockChange};
use rust_decimal::Decimal;

use crate::{ORG, client, config, contact, day, sandbox, today};

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn stock(on_hand: &str, committed: &str, available: &str) -> Stock {
    Stock {
        on_hand: dec(on_hand),
        committed: dec(committed),
        available: dec(available),
    }
}

#[tokio::test]
async fn an_order_commits_packs_and_ships_its_stock() {
    let (zoho, server) = sandbox(config()).await;
    let client = client(&server, "1000.CLIENT");
    let books = client.books(ORG);
    let inventory = client.inventory(ORG);
    let ada = books
        .create_contact(&contact("Ada Lovelace", "ada@example.com"))
        .await
        .unwrap();
    let kettle = inventory
        .create_item(&NewItem {
            name: "Kettle".into(),
            rate: dec("35.00"),
            item_type: Some("inventory".into()),
            initial_stock: Some(dec("10")),
            sku: Some("KET-1".into()),
            ..NewItem::default()
        })
        .await
        .unwrap();
    assert_eq!(
        inventory.stock(&kettle.item_id).await.unwrap(),
        stock("10", "0", "10")
    );
    let order = inventory
        .create_sales_order(&NewSalesOrder {
            customer_id: ada.contact_id.clone(),
            reference_number: Some("WEB-5".into()),
            date: today(),
            line_items: vec![InvoiceLine {
                item_id: Some(kettle.item_id.clone()),
                quantity: dec("3"),
                rate: dec("35.00"),
                ..InvoiceLine::default()
            }],
            ..NewSalesOrder::default()
        })
        .await
        .unwrap();
    let early = inventory
        .create_package(
            &order.salesorder_id,
            &NewPackage {
                date: today(),
                line_items: vec![PackageLine {
                    so_line_item_id: order.line_items[0].line_item_id.clone(),
                    quantity: dec("1"),
                }],
                ..NewPackage::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        early.kind(),
        FailureKind::Permanent,
        "a draft is not packed"
    );

    inventory
        .confirm_sales_order(&order.salesorder_id)
        .await
        .unwrap();
    let confirmed = inventory
        .get_sales_order(&order.salesorder_id)
        .await
        .unwrap();
    assert_eq!(confirmed.status, SalesOrderStatus::Confirmed);
    // Books sees the same order, in its own words.
    assert_eq!(
        books
            .get_sales_order(&order.salesorder_id)
            .await
            .unwrap()
            .status,
        SalesOrderStatus::Open
    );
    assert_eq!(
        inventory.stock(&kettle.item_id).await.unwrap(),
        stock("10", "3", "7")
    );

    let line = order.line_items[0].line_item_id.clone();
    let pack = |quantity: &str| NewPackage {
        date: today(),
        line_items: vec![PackageLine {
            so_line_item_id: line.clone(),
            quantity: dec(quantity),
        }],
        ..NewPackage::default()
    };
    let too_many = inventory
        .create_package(&order.salesorder_id, &pack("4"))
        .await
        .unwrap_err();
    assert_eq!(too_many.books_code(), Some(4), "{too_many}");
    let first = inventory
        .create_package(&order.salesorder_id, &pack("2"))
        .await
        .unwrap();
    assert_eq!(first.status, "not_shipped");
    assert_eq!(
        inventory.stock(&kettle.item_id).await.unwrap(),
        stock("8", "1", "7")
    );
    let shipment = NewShipment {
        date: day(1),
        delivery_method: "UPS".into(),
        tracking_number: "1Z999".into(),
        ..NewShipment::default()
    };
    let shipped = inventory
        .create_shipment(&order.salesorder_id, &[&first.package_id], &shipment)
        .await
        .unwrap();
    assert_eq!(shipped.status, "shipped");
    assert_eq!(
        inventory
            .get_sales_order(&order.salesorder_id)
            .await
            .unwrap()
            .shipped_status
            .as_deref(),
        Some("partially_shipped")
    );
    let again = inventory
        .create_shipment(&order.salesorder_id, &[&first.package_id], &shipment)
        .await
        .unwrap_err();
    assert_eq!(again.kind(), FailureKind::Permanent, "a package ships once");

    let second = inventory
        .create_package(&order.salesorder_id, &pack("1"))
        .await
        .unwrap();
    let last = inventory
        .create_shipment(&order.salesorder_id, &[&second.package_id], &shipment)
        .await
        .unwrap();
    let order_now = inventory
        .get_sales_order(&order.salesorder_id)
        .await
        .unwrap();
    assert_eq!(order_now.shipped_status.as_deref(), Some("shipped"));
    inventory
        .mark_shipment_delivered(&shipped.shipment_id)
        .await
        .unwrap();
    inventory
        .mark_shipment_delivered(&last.shipment_id)
        .await
        .unwrap();
    assert_eq!(
        inventory
            .get_sales_order(&order.salesorder_id)
            .await
            .unwrap()
            .shipped_status
            .as_deref(),
        Some("fulfilled")
    );
    assert_eq!(
        inventory
            .get_package(&second.package_id)
            .await
            .unwrap()
            .status,
        "delivered"
    );
    assert_eq!(
        inventory.stock(&kettle.item_id).await.unwrap(),
        stock("7", "0", "7")
    );

    inventory
        .adjust_stock(
            &day(2),
            "Restock",
            &[StockChange {
                item_id: kettle.item_id.clone(),
                quantity_adjusted: dec("5"),
            }],
        )
        .await
        .unwrap();
    assert_eq!(
        inventory.stock(&kettle.item_id).await.unwrap(),
        stock("12", "0", "12")
    );
    assert_eq!(
        inventory
            .find_sales_orders_by_reference("WEB-5")
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(zoho.books_records(ORG).unwrap().shipments.len(), 2);
}

#[tokio::test]
async fn a_void_order_releases_its_committed_stock() {
    let (_zoho, server) = sandbox(config()).await;
    let client = client(&server, "1000.CLIENT");
    let inventory = client.inventory(ORG);
    let ada = client
        .books(ORG)
        .create_contact(&contact("Ada Lovelace", "ada@example.com"))
        .await
        .unwrap();
    let mug = inventory
        .create_item(&NewItem {
            name: "Mug".into(),
            rate: dec("8"),
            item_type: Some("inventory".into()),
            initial_stock: Some(dec("4")),
            ..NewItem::default()
        })
        .await
        .unwrap();
    let order = inventory
        .create_sales_order(&NewSalesOrder {
            customer_id: ada.contact_id.clone(),
            date: today(),
            line_items: vec![InvoiceLine {
                item_id: Some(mug.item_id.clone()),
                quantity: dec("4"),
                rate: dec("8"),
                ..InvoiceLine::default()
            }],
            ..NewSalesOrder::default()
        })
        .await
        .unwrap();
    inventory
        .confirm_sales_order(&order.salesorder_id)
        .await
        .unwrap();
    assert_eq!(
        inventory.stock(&mug.item_id).await.unwrap(),
        stock("4", "4", "0")
    );
    inventory
        .void_sales_order(&order.salesorder_id)
        .await
        .unwrap();
    assert_eq!(
        inventory.stock(&mug.item_id).await.unwrap(),
        stock("4", "0", "4")
    );
    assert_eq!(
        inventory
            .get_sales_order(&order.salesorder_id)
            .await
            .unwrap()
            .status,
        SalesOrderStatus::Void
    );
}
