//! Books items (§2.4): created, read, upserted, found by SKU.

use crate::client::segment;
use crate::client::to_value;
use crate::error::Error;
use crate::finance::{UniqueKey, Upserted};
use futures::stream::BoxStream;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Books, CustomField, CustomFieldValue};

// ---------------------------------------------------------------------------------------------
// Items

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewItem {
    pub name: String,
    #[serde(with = "crate::number")]
    pub rate: Decimal,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// `goods`, `service` or `digital_service`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_type: Option<String>,
    /// `sales`, `purchases`, `sales_and_purchases` or `inventory` (stock-tracked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_type: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::number::option"
    )]
    pub purchase_rate: Option<Decimal>,
    /// Opening stock of an inventory item (Inventory).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::number::option"
    )]
    pub initial_stock: Option<Decimal>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::number::option"
    )]
    pub reorder_level: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_fields: Vec<CustomField>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Item {
    pub item_id: String,
    pub name: String,
    #[serde(with = "crate::number")]
    pub rate: Decimal,
    #[serde(default)]
    pub sku: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub item_type: Option<String>,
    #[serde(default)]
    pub product_type: Option<String>,
    #[serde(default, with = "crate::number::option")]
    pub stock_on_hand: Option<Decimal>,
    #[serde(default, with = "crate::number::option")]
    pub available_stock: Option<Decimal>,
    #[serde(default, with = "crate::number::option")]
    pub committed_stock: Option<Decimal>,
    #[serde(default)]
    pub custom_fields: Vec<CustomFieldValue>,
}

impl Books {
    // Items --------------------------------------------------------------------------------

    pub async fn create_item(&self, item: &NewItem) -> Result<Item, Error> {
        self.post("/items", &[], item, "item").await
    }

    pub async fn get_item(&self, item_id: &str) -> Result<Item, Error> {
        self.get(&format!("/items/{}", segment(item_id)?), "item")
            .await
    }

    pub async fn upsert_item(
        &self,
        key: &UniqueKey,
        item: &NewItem,
    ) -> Result<Upserted<Item>, Error> {
        let body = to_value(item)?;
        self.finance
            .upsert("/items", key, true, &body, "item")
            .await
    }

    /// Items matching list filters (`name`, `sku`, `search_text`, …), page by page.
    pub fn items(&self, filters: &[(&str, &str)]) -> BoxStream<'static, Result<Item, Error>> {
        self.finance.stream("/items", filters, "items")
    }

    /// The item with exactly this SKU, if any.
    pub async fn find_item_by_sku(&self, sku: &str) -> Result<Option<Item>, Error> {
        let rows: Vec<Item> = self
            .finance
            .list_all("/items", &[("sku", sku)], "items")
            .await?;
        Ok(rows.into_iter().find(|i| i.sku.as_deref() == Some(sku)))
    }
}
