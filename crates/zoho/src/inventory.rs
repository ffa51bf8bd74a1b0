//! Zoho Inventory v1 (zoho.md §3): sales orders (create, confirm, void, get), items and their
//! stock, item adjustments, packages and shipments. Inventory and Books are two front-ends over
//! one organization: contacts, invoices and payments made through [`crate::Books`] are the same
//! records, and both spend the same budget.

use futures::stream::BoxStream;
use http::Method;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::books::{Item, NewItem, NewSalesOrder, SalesOrder};
use crate::client::Client;
use crate::client::segment;
use crate::client::to_value;
use crate::error::Error;
use crate::finance::{Finance, extract};

/// Zoho Inventory for one organization.
#[derive(Debug, Clone)]
pub struct Inventory {
    finance: Finance,
}

/// A line of a package: how much of a sales-order line goes in it.
#[derive(Debug, Clone, Serialize)]
pub struct PackageLine {
    pub so_line_item_id: String,
    #[serde(with = "crate::number")]
    pub quantity: Decimal,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct NewPackage {
    pub date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package_number: Option<String>,
    pub line_items: Vec<PackageLine>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Package {
    pub package_id: String,
    #[serde(default)]
    pub package_number: Option<String>,
    pub salesorder_id: String,
    pub status: String,
    #[serde(default)]
    pub shipment_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct NewShipment {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipment_number: Option<String>,
    pub date: String,
    pub delivery_method: String,
    pub tracking_number: String,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "crate::number::option"
    )]
    pub shipping_charge: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Shipment {
    pub shipment_id: String,
    #[serde(default)]
    pub shipment_number: Option<String>,
    pub salesorder_id: String,
    pub status: String,
    #[serde(default)]
    pub tracking_number: Option<String>,
    #[serde(default)]
    pub delivery_method: Option<String>,
}

/// A quantity adjustment of one item: positive adds stock, negative removes it.
#[derive(Debug, Clone, Serialize)]
pub struct StockChange {
    pub item_id: String,
    #[serde(with = "crate::number")]
    pub quantity_adjusted: Decimal,
}

#[derive(Serialize)]
struct Adjustment<'a> {
    date: &'a str,
    reason: &'a str,
    adjustment_type: &'static str,
    line_items: &'a [StockChange],
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct StockAdjustment {
    pub inventory_adjustment_id: String,
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// An item's stock figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stock {
    pub on_hand: Decimal,
    pub committed: Decimal,
    pub available: Decimal,
}

impl Inventory {
    pub(crate) fn new(client: Client, organization_id: String) -> Inventory {
        Inventory {
            finance: Finance {
                client,
                organization_id,
                base: "/inventory/v1",
            },
        }
    }

    pub fn organization_id(&self) -> &str {
        &self.finance.organization_id
    }

    async fn status(&self, path: &str) -> Result<(), Error> {
        let _: serde_json::Value = self.finance.call(Method::POST, path, &[], None, "").await?;
        Ok(())
    }

    // Sales orders -------------------------------------------------------------------------

    pub async fn create_sales_order(&self, order: &NewSalesOrder) -> Result<SalesOrder, Error> {
        let body = to_value(order)?;
        let answer = self
            .finance
            .send(Method::POST, "/salesorders", &[], &[], Some(&body))
            .await?;
        // The OpenAPI file names the created order `sales_order`; the service says `salesorder`.
        extract(&answer, &["salesorder", "sales_order"])
    }

    pub async fn get_sales_order(&self, salesorder_id: &str) -> Result<SalesOrder, Error> {
        self.finance
            .call(
                Method::GET,
                &format!("/salesorders/{}", segment(salesorder_id)?),
                &[],
                None,
                "salesorder",
            )
            .await
    }

    /// Sales orders matching list filters (`reference_number`, `customer_id`, `status`, …).
    pub fn sales_orders(
        &self,
        filters: &[(&str, &str)],
    ) -> BoxStream<'static, Result<SalesOrder, Error>> {
        self.finance.stream("/salesorders", filters, "salesorders")
    }

    /// Sales orders whose `reference_number` is exactly `reference`.
    pub async fn find_sales_orders_by_reference(
        &self,
        reference: &str,
    ) -> Result<Vec<SalesOrder>, Error> {
        let rows: Vec<SalesOrder> = self
            .finance
            .list_all(
                "/salesorders",
                &[("reference_number", reference)],
                "salesorders",
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter(|s| s.reference_number.as_deref() == Some(reference))
            .collect())
    }

    /// `draft` → `confirmed`: commits the order's stock.
    pub async fn confirm_sales_order(&self, salesorder_id: &str) -> Result<(), Error> {
        self.status(&format!(
            "/salesorders/{}/status/confirmed",
            segment(salesorder_id)?
        ))
        .await
    }

    pub async fn void_sales_order(&self, salesorder_id: &str) -> Result<(), Error> {
        self.status(&format!(
            "/salesorders/{}/status/void",
            segment(salesorder_id)?
        ))
        .await
    }

    // Items and stock ----------------------------------------------------------------------

    pub async fn create_item(&self, item: &NewItem) -> Result<Item, Error> {
        let body = to_value(item)?;
        self.finance
            .call(Method::POST, "/items", &[], Some(&body), "item")
            .await
    }

    pub async fn get_item(&self, item_id: &str) -> Result<Item, Error> {
        self.finance
            .call(
                Method::GET,
                &format!("/items/{}", segment(item_id)?),
                &[],
                None,
                "item",
            )
            .await
    }

    pub fn items(&self, filters: &[(&str, &str)]) -> BoxStream<'static, Result<Item, Error>> {
        self.finance.stream("/items", filters, "items")
    }

    /// An item's stock: on hand, committed to confirmed orders, and available to sell.
    pub async fn stock(&self, item_id: &str) -> Result<Stock, Error> {
        let item = self.get_item(item_id).await?;
        let on_hand = item.stock_on_hand.unwrap_or_default();
        let committed = item.committed_stock.unwrap_or_default();
        Ok(Stock {
            on_hand,
            committed,
            available: item.available_stock.unwrap_or(on_hand - committed),
        })
    }

    /// Adds or removes stock (`POST /itemadjustments`, a quantity adjustment).
    pub async fn adjust_stock(
        &self,
        date: &str,
        reason: &str,
        changes: &[StockChange],
    ) -> Result<StockAdjustment, Error> {
        let body = to_value(&Adjustment {
            date,
            reason,
            adjustment_type: "quantity",
            line_items: changes,
        })?;
        self.finance
            .call(
                Method::POST,
                "/itemadjustments",
                &[],
                Some(&body),
                "inventory_adjustment",
            )
            .await
    }

    // Packages and shipments ---------------------------------------------------------------

    /// Packs quantities of a confirmed order's lines (the stock leaves the shelf).
    pub async fn create_package(
        &self,
        salesorder_id: &str,
        package: &NewPackage,
    ) -> Result<Package, Error> {
        let body = to_value(package)?;
        self.finance
            .call(
                Method::POST,
                "/packages",
                &[("salesorder_id", segment(salesorder_id)?)],
                Some(&body),
                "package",
            )
            .await
    }

    pub async fn get_package(&self, package_id: &str) -> Result<Package, Error> {
        self.finance
            .call(
                Method::GET,
                &format!("/packages/{}", segment(package_id)?),
                &[],
                None,
                "package",
            )
            .await
    }

    /// Ships packages of a sales order.
    pub async fn create_shipment(
        &self,
        salesorder_id: &str,
        package_ids: &[&str],
        shipment: &NewShipment,
    ) -> Result<Shipment, Error> {
        for id in package_ids {
            segment(id)?;
        }
        let packages = package_ids.join(",");
        let body = to_value(shipment)?;
        let answer = self
            .finance
            .send(
                Method::POST,
                "/shipmentorders",
                &[
                    ("salesorder_id", segment(salesorder_id)?),
                    ("package_ids", &packages),
                ],
                &[],
                Some(&body),
            )
            .await?;
        extract(&answer, &["shipment_order", "shipmentorder"])
    }

    pub async fn get_shipment(&self, shipment_id: &str) -> Result<Shipment, Error> {
        let answer = self
            .finance
            .send(
                Method::GET,
                &format!("/shipmentorders/{}", segment(shipment_id)?),
                &[],
                &[],
                None,
            )
            .await?;
        extract(&answer, &["shipment_order", "shipmentorder"])
    }

    pub async fn mark_shipment_delivered(&self, shipment_id: &str) -> Result<(), Error> {
        self.status(&format!(
            "/shipmentorders/{}/status/delivered",
            segment(shipment_id)?
        ))
        .await
    }
}

impl Client {
    /// Zoho Inventory for one organization (the same organization as its Books).
    pub fn inventory(&self, organization_id: impl Into<String>) -> Inventory {
        Inventory::new(self.clone(), organization_id.into())
    }
}
