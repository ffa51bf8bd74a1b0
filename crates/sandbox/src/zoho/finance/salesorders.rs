//! Sales orders, packages and shipments (zoho.md §2.8, §3). An order is `draft` until Books
//! opens it (`/status/open`) or Inventory confirms it (`/status/confirmed`): the same state,
//! which Books calls `open` and Inventory `confirmed`. Confirming commits the inventory items'
//! stock; packing takes it off the shelf; shipping moves `shipped_status`; invoicing it once
//! moves `invoiced_status`. A void order releases what it committed.

use std::collections::HashMap;

use axum::http::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::items::set_stock;
use super::{
    Api, BooksError, Ctx, Record, Reply, amount, check_unique, currency_for, customer,
    date_or_today, decimal, field, find_by_unique, matches, merge_custom_fields, money,
    newest_first, position, price_lines, round, text, timestamp, upsert_body, upsert_key,
    valid_date,
};

/// A sales order as the front-end it is read through names its status.
fn render(order: &Record, api: Api) -> Record {
    rendered(order, api).into_owned()
}

/// The order as `api` shows it, copied only when it differs (a list filters thousands).
fn rendered(order: &Record, api: Api) -> std::borrow::Cow<'_, Record> {
    if api == Api::Books && text(order, "status") == "confirmed" {
        let mut order = order.clone();
        order.insert("status".into(), json!("open"));
        order.insert("order_status".into(), json!("open"));
        std::borrow::Cow::Owned(order)
    } else {
        std::borrow::Cow::Borrowed(order)
    }
}

fn lines(order: &Record) -> Vec<Record> {
    order
        .get("line_items")
        .and_then(Value::as_array)
        .map(|lines| {
            lines
                .iter()
                .filter_map(|l| l.as_object().cloned())
                .collect()
        })
        .unwrap_or_default()
}

fn set_lines(order: &mut Record, lines: Vec<Record>) {
    order.insert(
        "line_items".into(),
        Value::Array(lines.into_iter().map(Value::Object).collect()),
    );
}

/// Moves an inventory item's stock: `on_hand` and `committed` change by the deltas.
fn move_stock(
    ctx: &mut Ctx<'_>,
    item_id: &str,
    on_hand_delta: Decimal,
    committed_delta: Decimal,
) -> Result<(), BooksError> {
    if item_id.is_empty() {
        return Ok(());
    }
    let Some(item) = ctx
        .org
        .items
        .iter_mut()
        .find(|i| field(i, "item_id") == item_id)
    else {
        return Ok(());
    };
    if text(item, "item_type") != "inventory" {
        return Ok(());
    }
    let on_hand = amount(item, "stock_on_hand") + on_hand_delta;
    if on_hand < Decimal::ZERO {
        return Err(BooksError::refused(format!(
            "There is not enough stock of {} to pack this quantity.",
            text(item, "name")
        )));
    }
    let committed = (amount(item, "committed_stock") + committed_delta).max(Decimal::ZERO);
    set_stock(item, on_hand, committed);
    Ok(())
}

fn insert(ctx: &mut Ctx<'_>, body: &Record) -> Result<Record, BooksError> {
    let customer_id = text(body, "customer_id");
    let customer = customer(ctx.org, &customer_id)?.clone();
    let date = date_or_today(body, "date", "Sales Order Date")?;
    let shipment_date = match text(body, "shipment_date") {
        d if d.is_empty() => String::new(),
        d if valid_date(&d) => d,
        _ => return Err(BooksError::invalid("Expected Shipment Date")),
    };
    let (currency_id, currency_code, exchange_rate) =
        currency_for(ctx.org, &customer, body, &date)?;
    let precision = super::currency_precision(&currency_code);
    let (priced, sub_total) = price_lines(ctx, body, precision)?;
    let shipping = match decimal(body.get("shipping_charge")) {
        None => Decimal::ZERO,
        Some(Ok(charge)) if charge >= Decimal::ZERO => charge,
        Some(_) => return Err(BooksError::invalid("Shipping Charge")),
    };
    let number = if ctx.query_flag("ignore_auto_number_generation") {
        match text(body, "salesorder_number") {
            n if n.is_empty() => return Err(BooksError::invalid("Sales Order#")),
            n => n,
        }
    } else {
        format!("SO-{:05}", ctx.org.next_number("salesorder"))
    };
    if ctx
        .org
        .salesorders
        .iter()
        .any(|s| field(s, "salesorder_number").eq_ignore_ascii_case(&number))
    {
        return Err(BooksError::new(
            axum::http::StatusCode::BAD_REQUEST,
            1001,
            format!("Sales order number {number} already exists. Please enter a unique number."),
        ));
    }
    let priced: Vec<Value> = priced
        .into_iter()
        .map(|mut line| {
            if let Some(line) = line.as_object_mut() {
                line.insert("quantity_packed".into(), json!(0));
                line.insert("quantity_shipped".into(), json!(0));
                line.insert("quantity_invoiced".into(), json!(0));
            }
            line
        })
        .collect();
    let now = timestamp();
    let mut order = Record::new();
    order.insert("salesorder_id".into(), json!(ctx.id()));
    order.insert("salesorder_number".into(), json!(number));
    order.insert("date".into(), json!(date));
    order.insert("shipment_date".into(), json!(shipment_date));
    order.insert("status".into(), json!("draft"));
    order.insert("order_status".into(), json!("draft"));
    order.insert("invoiced_status".into(), json!("not_invoiced"));
    order.insert("shipped_status".into(), json!("pending"));
    order.insert("paid_status".into(), json!("unpaid"));
    order.insert("customer_id".into(), json!(customer_id));
    order.insert(
        "customer_name".into(),
        json!(text(&customer, "contact_name")),
    );
    order.insert("currency_id".into(), json!(currency_id));
    order.insert("currency_code".into(), json!(currency_code));
    order.insert("exchange_rate".into(), money(exchange_rate));
    order.insert(
        "reference_number".into(),
        json!(text(body, "reference_number")),
    );
    order.insert("line_items".into(), Value::Array(priced));
    order.insert("sub_total".into(), money(sub_total));
    order.insert("shipping_charge".into(), money(shipping));
    order.insert(
        "total".into(),
        money(round(sub_total + shipping, precision)),
    );
    order.insert("notes".into(), json!(text(body, "notes")));
    order.insert(
        "delivery_method".into(),
        json!(text(body, "delivery_method")),
    );
    order.insert(
        "custom_fields".into(),
        merge_custom_fields(None, body.get("custom_fields"))?,
    );
    order.insert("invoices".into(), json!([]));
    order.insert("packages".into(), json!([]));
    order.insert("created_time".into(), json!(now));
    order.insert("last_modified_time".into(), json!(now));
    check_unique(
        &ctx.org.unique_custom_fields,
        &ctx.org.salesorders,
        "salesorder_id",
        &order,
    )?;
    ctx.org.salesorders.push(order.clone());
    Ok(order)
}

pub(super) fn create(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let body = ctx.json()?;
    let order = insert(ctx, &body)?;
    Ok(Reply::created(
        "Sales Order has been created.",
        "salesorder",
        &render(&order, ctx.api),
    ))
}

pub(super) fn get(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let index = position(
        &ctx.org.salesorders,
        "salesorder_id",
        ctx.param(0),
        "Sales Order",
    )?;
    Ok(Reply::ok(
        "success",
        "salesorder",
        &render(&ctx.org.salesorders[index], ctx.api),
    ))
}

/// `PUT /salesorders` by a unique custom field: reference, notes, dates and custom fields
/// change; a new one is created with `X-Upsert: true`.
pub(super) fn upsert(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let key = upsert_key(ctx)?;
    let body = upsert_body(ctx, &key)?;
    match find_by_unique(&ctx.org.salesorders, &key) {
        Some(index) => {
            let mut order = ctx.org.salesorders[index].clone();
            for key in ["reference_number", "notes", "delivery_method"] {
                if body.contains_key(key) {
                    order.insert(key.into(), json!(text(&body, key)));
                }
            }
            if body.contains_key("shipment_date") {
                let date = text(&body, "shipment_date");
                if !valid_date(&date) {
                    return Err(BooksError::invalid("Expected Shipment Date"));
                }
                order.insert("shipment_date".into(), json!(date));
            }
            let fields =
                merge_custom_fields(order.get("custom_fields"), body.get("custom_fields"))?;
            order.insert("custom_fields".into(), fields);
            order.insert("last_modified_time".into(), json!(timestamp()));
            check_unique(
                &ctx.org.unique_custom_fields,
                &ctx.org.salesorders,
                "salesorder_id",
                &order,
            )?;
            ctx.org.salesorders[index] = order.clone();
            Ok(Reply::ok(
                "Sales Order has been updated.",
                "salesorder",
                &render(&order, ctx.api),
            ))
        }
        None if key.create => {
            let order = insert(ctx, &body)?;
            Ok(Reply::upserted(
                "Sales Order has been created.",
                "salesorder",
                &render(&order, ctx.api),
            ))
        }
        None => Err(BooksError::missing("Sales Order")),
    }
}

pub(super) fn list(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let api = ctx.api;
    let rows = ctx
        .org
        .salesorders
        .iter()
        .map(|s| rendered(s, api))
        .filter(|s| {
            matches(
                ctx.query,
                s,
                &[
                    "salesorder_number",
                    "reference_number",
                    "customer_id",
                    "customer_name",
                    "status",
                ],
                &["salesorder_number", "reference_number", "customer_name"],
            )
        })
        .map(|s| Value::Object(s.into_owned()))
        .collect();
    Ok(Reply::List {
        key: "salesorders",
        rows: newest_first(rows),
    })
}

/// Books `/status/open`, Inventory `/status/confirmed`: commits the order's inventory stock.
pub(super) fn confirm(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let index = position(
        &ctx.org.salesorders,
        "salesorder_id",
        ctx.param(0),
        "Sales Order",
    )?;
    let order = ctx.org.salesorders[index].clone();
    match text(&order, "status").as_str() {
        "draft" => {
            for line in lines(&order) {
                move_stock(
                    ctx,
                    &text(&line, "item_id"),
                    Decimal::ZERO,
                    amount(&line, "quantity"),
                )?;
            }
            let order = &mut ctx.org.salesorders[index];
            order.insert("status".into(), json!("confirmed"));
            order.insert("order_status".into(), json!("confirmed"));
            order.insert("last_modified_time".into(), json!(timestamp()));
        }
        "void" => {
            return Err(BooksError::refused(
                "A void sales order cannot be confirmed.",
            ));
        }
        _ => {}
    }
    // The API files: Books answers 201, Inventory 200.
    Ok(match ctx.api {
        Api::Books => Reply::done_with(
            StatusCode::CREATED,
            "Sales order status has been changed to open.",
        ),
        Api::Inventory => Reply::done("Sales order status has been changed to 'Confirmed'."),
    })
}

pub(super) fn void(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let index = position(
        &ctx.org.salesorders,
        "salesorder_id",
        ctx.param(0),
        "Sales Order",
    )?;
    let order = ctx.org.salesorders[index].clone();
    if text(&order, "invoiced_status") != "not_invoiced" {
        return Err(BooksError::refused(
            "A sales order that has been invoiced cannot be voided.",
        ));
    }
    if lines(&order)
        .iter()
        .any(|l| !amount(l, "quantity_packed").is_zero())
    {
        return Err(BooksError::refused(
            "A sales order with packages cannot be voided. Delete its packages first.",
        ));
    }
    if text(&order, "status") == "confirmed" {
        for line in lines(&order) {
            move_stock(
                ctx,
                &text(&line, "item_id"),
                Decimal::ZERO,
                -amount(&line, "quantity"),
            )?;
        }
    }
    let order = &mut ctx.org.salesorders[index];
    order.insert("status".into(), json!("void"));
    order.insert("order_status".into(), json!("void"));
    order.insert("last_modified_time".into(), json!(timestamp()));
    let message = "Sales order status has been changed to void.";
    Ok(match ctx.api {
        Api::Books => Reply::done_with(StatusCode::CREATED, message),
        Api::Inventory => Reply::done(message),
    })
}

fn salesorder_index(ctx: &Ctx<'_>) -> Result<usize, BooksError> {
    let id = ctx.query.get("salesorder_id").cloned().unwrap_or_default();
    if id.is_empty() {
        return Err(BooksError::invalid("salesorder_id"));
    }
    position(&ctx.org.salesorders, "salesorder_id", &id, "Sales Order")
}

/// `POST /packages?salesorder_id=…`: packs quantities of a confirmed order's lines.
pub(super) fn create_package(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let so_index = salesorder_index(ctx)?;
    let body = ctx.json()?;
    let date = text(&body, "date");
    if !valid_date(&date) {
        return Err(BooksError::invalid("Date"));
    }
    let order = ctx.org.salesorders[so_index].clone();
    if text(&order, "status") != "confirmed" {
        return Err(BooksError::refused(
            "Packages can be created only for confirmed sales orders.",
        ));
    }
    let Some(wanted) = body
        .get("line_items")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
    else {
        return Err(BooksError::invalid("line_items"));
    };
    let mut order_lines = lines(&order);
    let mut packed: HashMap<String, Decimal> = HashMap::new();
    for line in wanted {
        let line = line.as_object().cloned().unwrap_or_default();
        let so_line = text(&line, "so_line_item_id");
        let quantity = match decimal(line.get("quantity")) {
            Some(Ok(q)) if q > Decimal::ZERO => q,
            _ => return Err(BooksError::invalid("Quantity")),
        };
        *packed.entry(so_line).or_default() += quantity;
    }
    let mut package_lines = Vec::new();
    for (so_line, quantity) in &packed {
        let Some(line) = order_lines
            .iter_mut()
            .find(|l| field(l, "line_item_id") == *so_line)
        else {
            return Err(BooksError::invalid("so_line_item_id"));
        };
        let left = amount(line, "quantity") - amount(line, "quantity_packed");
        if *quantity > left {
            return Err(BooksError::refused(format!(
                "The quantity to pack of {} is more than the {left} left to pack.",
                text(line, "name")
            )));
        }
        line.insert(
            "quantity_packed".into(),
            money(amount(line, "quantity_packed") + *quantity),
        );
        package_lines.push((
            text(line, "item_id"),
            text(line, "name"),
            so_line.clone(),
            *quantity,
        ));
    }
    for (item_id, _, _, quantity) in &package_lines {
        move_stock(ctx, item_id, -*quantity, -*quantity)?;
    }
    let number = match text(&body, "package_number") {
        n if n.is_empty() => format!("PKG-{:05}", ctx.org.next_number("package")),
        n => n,
    };
    let package_id = ctx.id();
    let rendered_lines: Vec<Value> = package_lines
        .iter()
        .map(|(item_id, name, so_line, quantity)| {
            json!({"line_item_id": ctx.id(), "so_line_item_id": so_line, "item_id": item_id,
                   "name": name, "quantity": money(*quantity)})
        })
        .collect();
    let mut package = Record::new();
    package.insert("package_id".into(), json!(package_id));
    package.insert("package_number".into(), json!(number));
    package.insert("salesorder_id".into(), json!(text(&order, "salesorder_id")));
    package.insert(
        "salesorder_number".into(),
        json!(text(&order, "salesorder_number")),
    );
    package.insert("customer_id".into(), json!(text(&order, "customer_id")));
    package.insert("customer_name".into(), json!(text(&order, "customer_name")));
    package.insert("date".into(), json!(date));
    package.insert("status".into(), json!("not_shipped"));
    package.insert("shipment_id".into(), json!(""));
    package.insert("line_items".into(), Value::Array(rendered_lines));
    package.insert("notes".into(), json!(text(&body, "notes")));
    package.insert("created_time".into(), json!(timestamp()));
    ctx.org.packages.push(package.clone());
    let order = &mut ctx.org.salesorders[so_index];
    set_lines(order, order_lines);
    let mut packages = order
        .get("packages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    packages
        .push(json!({"package_id": package_id, "package_number": number, "status": "not_shipped"}));
    order.insert("packages".into(), Value::Array(packages));
    order.insert("last_modified_time".into(), json!(timestamp()));
    Ok(Reply::created(
        "Package created successfully. It's now time to ship!",
        "package",
        &package,
    ))
}

pub(super) fn get_package(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let index = position(&ctx.org.packages, "package_id", ctx.param(0), "Package")?;
    Ok(Reply::ok("success", "package", &ctx.org.packages[index]))
}

pub(super) fn list_packages(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let rows = ctx
        .org
        .packages
        .iter()
        .filter(|p| {
            matches(
                ctx.query,
                p,
                &["salesorder_id", "status", "package_number"],
                &[],
            )
        })
        .cloned()
        .map(Value::Object)
        .collect();
    Ok(Reply::List {
        key: "packages",
        rows: newest_first(rows),
    })
}

/// `POST /shipmentorders?salesorder_id=…&package_ids=…`: ships packed packages.
pub(super) fn create_shipment(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let so_index = salesorder_index(ctx)?;
    let body = ctx.json()?;
    let package_ids: Vec<String> = ctx
        .query
        .get("package_ids")
        .map(|ids| {
            ids.split(',')
                .map(str::trim)
                .filter(|i| !i.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if package_ids.is_empty() {
        return Err(BooksError::invalid("package_ids"));
    }
    let date = text(&body, "date");
    if !valid_date(&date) {
        return Err(BooksError::invalid("Shipment Date"));
    }
    let delivery_method = text(&body, "delivery_method");
    if delivery_method.is_empty() {
        return Err(BooksError::invalid("Delivery Method"));
    }
    let order_id = text(&ctx.org.salesorders[so_index], "salesorder_id");
    let mut indices = Vec::new();
    for id in &package_ids {
        let index = position(&ctx.org.packages, "package_id", id, "Package")?;
        let package = &ctx.org.packages[index];
        if text(package, "salesorder_id") != order_id {
            return Err(BooksError::refused(format!(
                "Package {} does not belong to this sales order.",
                text(package, "package_number")
            )));
        }
        if text(package, "status") != "not_shipped" {
            return Err(BooksError::refused(format!(
                "Package {} has already been shipped.",
                text(package, "package_number")
            )));
        }
        indices.push(index);
    }
    let number = match text(&body, "shipment_number") {
        n if n.is_empty() => format!("SH-{:05}", ctx.org.next_number("shipment")),
        n => n,
    };
    let shipment_id = ctx.id();
    let mut shipped: HashMap<String, Decimal> = HashMap::new();
    for index in &indices {
        let package = &mut ctx.org.packages[*index];
        package.insert("status".into(), json!("shipped"));
        package.insert("shipment_id".into(), json!(shipment_id));
        for line in lines(package) {
            *shipped.entry(text(&line, "so_line_item_id")).or_default() +=
                amount(&line, "quantity");
        }
    }
    let order = &mut ctx.org.salesorders[so_index];
    let mut order_lines = lines(order);
    for line in &mut order_lines {
        if let Some(quantity) = shipped.get(&text(line, "line_item_id")) {
            line.insert(
                "quantity_shipped".into(),
                money(amount(line, "quantity_shipped") + *quantity),
            );
        }
    }
    let all_shipped = order_lines
        .iter()
        .all(|l| amount(l, "quantity_shipped") >= amount(l, "quantity"));
    set_lines(order, order_lines);
    order.insert(
        "shipped_status".into(),
        json!(if all_shipped {
            "shipped"
        } else {
            "partially_shipped"
        }),
    );
    let mut packages = Vec::new();
    for p in order
        .get("packages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        let mut p = p.as_object().cloned().unwrap_or_default();
        if package_ids.contains(&text(&p, "package_id")) {
            p.insert("status".into(), json!("shipped"));
        }
        packages.push(Value::Object(p));
    }
    order.insert("packages".into(), Value::Array(packages));
    order.insert("last_modified_time".into(), json!(timestamp()));
    let mut shipment = Record::new();
    shipment.insert("shipment_id".into(), json!(shipment_id));
    shipment.insert("shipment_number".into(), json!(number));
    shipment.insert("salesorder_id".into(), json!(order_id));
    shipment.insert(
        "salesorder_number".into(),
        json!(text(order, "salesorder_number")),
    );
    shipment.insert("customer_id".into(), json!(text(order, "customer_id")));
    shipment.insert("customer_name".into(), json!(text(order, "customer_name")));
    shipment.insert("package_ids".into(), json!(package_ids));
    shipment.insert("date".into(), json!(date));
    shipment.insert("status".into(), json!("shipped"));
    shipment.insert("delivery_method".into(), json!(delivery_method));
    shipment.insert(
        "tracking_number".into(),
        json!(text(&body, "tracking_number")),
    );
    shipment.insert(
        "reference_number".into(),
        json!(text(&body, "reference_number")),
    );
    shipment.insert(
        "shipping_charge".into(),
        money(amount(&body, "shipping_charge")),
    );
    shipment.insert("notes".into(), json!(text(&body, "notes")));
    shipment.insert("created_time".into(), json!(timestamp()));
    ctx.org.shipments.push(shipment.clone());
    // The create answer names it as the Inventory OpenAPI file does (`shipment_order`).
    Ok(Reply::created(
        "Shipment created successfully.",
        "shipment_order",
        &shipment,
    ))
}

pub(super) fn get_shipment(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let index = position(&ctx.org.shipments, "shipment_id", ctx.param(0), "Shipment")?;
    Ok(Reply::ok(
        "success",
        "shipment_order",
        &ctx.org.shipments[index],
    ))
}

pub(super) fn mark_delivered(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let index = position(&ctx.org.shipments, "shipment_id", ctx.param(0), "Shipment")?;
    let shipment = &mut ctx.org.shipments[index];
    shipment.insert("status".into(), json!("delivered"));
    let packages: Vec<String> = shipment
        .get("package_ids")
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let order_id = text(shipment, "salesorder_id");
    for package in &mut ctx.org.packages {
        if packages.contains(&text(package, "package_id")) {
            package.insert("status".into(), json!("delivered"));
        }
    }
    let delivered_all = ctx
        .org
        .packages
        .iter()
        .filter(|p| field(p, "salesorder_id") == order_id)
        .all(|p| text(p, "status") == "delivered");
    if let Some(order) = ctx
        .org
        .salesorders
        .iter_mut()
        .find(|s| field(s, "salesorder_id") == order_id)
        && delivered_all
        && text(order, "shipped_status") == "shipped"
    {
        order.insert("shipped_status".into(), json!("fulfilled"));
        order.insert("last_modified_time".into(), json!(timestamp()));
    }
    Ok(Reply::done("Shipment has been marked as Delivered."))
}
