//! Sales orders in Books (§2.9): created, read, opened, voided (Inventory's are in `inventory`).

use crate::client::segment;
use crate::client::to_value;
use crate::error::Error;
use http::Method;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::invoices::InvoiceLine;
use super::{Books, CustomField, CustomFieldValue};

paybridge_model::open_enum! {
    /// A sales order's `status`: Books says `open` where Inventory says `confirmed`.
    pub enum SalesOrderStatus {
        Draft = "draft",
        Open = "open",
        Confirmed = "confirmed",
        Closed = "closed",
        Fulfilled = "fulfilled",
        Void = "void",
        OnHold = "onhold",
    }
}

// ---------------------------------------------------------------------------------------------
// Sales orders

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewSalesOrder {
    pub customer_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub salesorder_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_number: Option<String>,
    pub date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipment_date: Option<String>,
    pub line_items: Vec<InvoiceLine>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::number::option"
    )]
    pub shipping_charge: Option<Decimal>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::number::option"
    )]
    pub exchange_rate: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_fields: Vec<CustomField>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SalesOrderLine {
    pub line_item_id: String,
    #[serde(default)]
    pub item_id: Option<String>,
    pub name: String,
    #[serde(with = "crate::number")]
    pub quantity: Decimal,
    #[serde(with = "crate::number")]
    pub rate: Decimal,
    #[serde(default, with = "crate::number::option")]
    pub quantity_packed: Option<Decimal>,
    #[serde(default, with = "crate::number::option")]
    pub quantity_shipped: Option<Decimal>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SalesOrder {
    pub salesorder_id: String,
    #[serde(default)]
    pub salesorder_number: Option<String>,
    pub status: SalesOrderStatus,
    pub customer_id: String,
    #[serde(default)]
    pub reference_number: Option<String>,
    #[serde(default)]
    pub invoiced_status: Option<String>,
    #[serde(default)]
    pub shipped_status: Option<String>,
    #[serde(with = "crate::number")]
    pub total: Decimal,
    #[serde(default)]
    pub line_items: Vec<SalesOrderLine>,
    #[serde(default)]
    pub custom_fields: Vec<CustomFieldValue>,
}

impl Books {
    // Sales orders -------------------------------------------------------------------------

    pub async fn create_sales_order(&self, order: &NewSalesOrder) -> Result<SalesOrder, Error> {
        let body = to_value(order)?;
        let answer = self
            .finance
            .send(Method::POST, "/salesorders", &[], &[], Some(&body))
            .await?;
        crate::finance::extract(&answer, &["salesorder", "sales_order"])
    }

    pub async fn get_sales_order(&self, salesorder_id: &str) -> Result<SalesOrder, Error> {
        self.get(
            &format!("/salesorders/{}", segment(salesorder_id)?),
            "salesorder",
        )
        .await
    }

    /// Books' confirmation of a sales order (`draft` → `open`).
    pub async fn open_sales_order(&self, salesorder_id: &str) -> Result<(), Error> {
        self.status(&format!(
            "/salesorders/{}/status/open",
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
}
