//! Zoho Inventory: sales orders created, confirmed (committing stock) and voided.

use paybridge_flows::spec::{ActionSpec, Effect, Recovery, Type, opt, out, req};
use paybridge_model::StepError;
use paybridge_zoho::books::{NewSalesOrder, SalesOrder};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Action, Call, Runnable};

/// The Inventory actions.
pub static ACTIONS: &[&dyn Runnable] = &[&SalesOrderCreate, &SalesOrderConfirm, &SalesOrderVoid];

fn sales_order_output(s: &SalesOrder) -> Value {
    json!({
        "salesorder_id": s.salesorder_id,
        "salesorder_number": s.salesorder_number,
        "status": s.status.as_str(),
        "total": s.total.to_string(),
    })
}

/// `zoho-inventory.sales-order.create`.
pub struct SalesOrderCreate;

impl Action for SalesOrderCreate {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "zoho-inventory.sales-order.create",
        summary: "create an Inventory sales order (found by reference on retry)",
        fields: Some(&[
            req("customer_id"),
            req("date"),
            req("line_items"),
            opt("salesorder_number"),
            opt("reference_number"),
            opt("shipment_date"),
            opt("shipping_charge"),
            opt("exchange_rate"),
            opt("delivery_method"),
            opt("notes"),
            opt("custom_fields"),
        ]),
        outputs: &[
            out("salesorder_id", Type::Text),
            out("salesorder_number", Type::Text),
            out("status", Type::Text),
            out("total", Type::Decimal),
        ],
        effect: Effect::Call,
        recovery: Recovery::LookedUp(
            "the customer's sales order with the same reference number is looked up first",
        ),
    };
    type Input = NewSalesOrder;

    async fn find_lost(
        &self,
        call: &Call<'_>,
        order: &NewSalesOrder,
    ) -> Result<Option<Value>, StepError> {
        let Some(reference) = &order.reference_number else {
            return Ok(None);
        };
        Ok(call
            .env
            .connectors
            .inventory()?
            .find_sales_orders_by_reference(reference)
            .await?
            .into_iter()
            .find(|s| s.customer_id == order.customer_id)
            .map(|found| sales_order_output(&found)))
    }

    async fn run(&self, call: &Call<'_>, order: NewSalesOrder) -> Result<Value, StepError> {
        let inventory = call.env.connectors.inventory()?;
        Ok(sales_order_output(
            &inventory.create_sales_order(&order).await?,
        ))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SalesOrderId {
    salesorder_id: String,
}

/// `zoho-inventory.sales-order.confirm`.
pub struct SalesOrderConfirm;

impl Action for SalesOrderConfirm {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "zoho-inventory.sales-order.confirm",
        summary: "confirm a draft sales order (commits stock)",
        fields: Some(&[req("salesorder_id")]),
        outputs: &[out("done", Type::Boolean)],
        effect: Effect::Call,
        recovery: Recovery::LookedUp("a sales order no longer a draft was confirmed already"),
    };
    type Input = SalesOrderId;

    async fn find_lost(
        &self,
        call: &Call<'_>,
        input: &SalesOrderId,
    ) -> Result<Option<Value>, StepError> {
        // Confirming twice is refused by Zoho: after an unknown outcome, the order's status
        // says whether the earlier attempt did it.
        let order = call
            .env
            .connectors
            .inventory()?
            .get_sales_order(&input.salesorder_id)
            .await?;
        Ok((order.status.as_str() != "draft").then(|| json!({"done": true})))
    }

    async fn run(&self, call: &Call<'_>, input: SalesOrderId) -> Result<Value, StepError> {
        call.env
            .connectors
            .inventory()?
            .confirm_sales_order(&input.salesorder_id)
            .await?;
        Ok(json!({"done": true}))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SalesOrderRef {
    #[serde(default)]
    salesorder_id: Option<String>,
    #[serde(default)]
    reference_number: Option<String>,
}

/// `zoho-inventory.sales-order.void`: one sales order, or every open one of a reference.
pub struct SalesOrderVoid;

impl Action for SalesOrderVoid {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "zoho-inventory.sales-order.void",
        summary: "void a sales order",
        fields: Some(&[opt("salesorder_id"), opt("reference_number")]),
        outputs: &[out("done", Type::Boolean)],
        effect: Effect::Call,
        recovery: Recovery::LookedUp("a sales order already void is left as it is"),
    };
    type Input = SalesOrderRef;

    async fn find_lost(
        &self,
        call: &Call<'_>,
        input: &SalesOrderRef,
    ) -> Result<Option<Value>, StepError> {
        // By reference, voiding again skips what is void already.
        let Some(salesorder_id) = &input.salesorder_id else {
            return Ok(None);
        };
        let order = call
            .env
            .connectors
            .inventory()?
            .get_sales_order(salesorder_id)
            .await?;
        Ok((order.status.as_str() == "void").then(|| json!({"done": true})))
    }

    async fn run(&self, call: &Call<'_>, input: SalesOrderRef) -> Result<Value, StepError> {
        let inventory = call.env.connectors.inventory()?;
        let salesorder_id = match (input.salesorder_id, input.reference_number) {
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
        inventory.void_sales_order(&salesorder_id).await?;
        Ok(json!({"done": true}))
    }
}
