//! Items (zoho.md §2.8, §3): what invoices and sales orders sell. Inventory items carry stock:
//! `stock_on_hand` (what is on the shelf), `committed_stock` (promised to confirmed sales orders
//! and not yet packed) and `available_stock` (on hand less committed). Stock moves with item
//! adjustments, sales-order confirmation and packages.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::{
    BooksError, Ctx, Record, Reply, amount, apply_update, check_unique, date_or_today, decimal,
    find_by_unique, matches, merge_custom_fields, money, newest_first, position, text, timestamp,
    upsert_body, upsert_key,
};

fn fill(body: &Record, record: &mut Record) -> Result<(), BooksError> {
    let creating = record.is_empty();
    if creating || body.contains_key("name") {
        let name = text(body, "name");
        if name.is_empty() || name.chars().count() > 100 {
            return Err(BooksError::invalid("Name"));
        }
        record.insert("name".into(), json!(name));
    }
    for (key, label) in [("rate", "Rate"), ("purchase_rate", "Purchase Rate")] {
        match decimal(body.get(key)) {
            Some(Ok(value)) if value >= Decimal::ZERO => {
                record.insert(key.into(), money(value));
            }
            Some(_) => return Err(BooksError::invalid(label)),
            None if creating => {
                record.insert(key.into(), json!(0));
            }
            None => {}
        }
    }
    for key in ["description", "sku", "unit", "purchase_description"] {
        if creating || body.contains_key(key) {
            record.insert(key.into(), json!(text(body, key)));
        }
    }
    if creating || body.contains_key("product_type") {
        let product_type = match text(body, "product_type").as_str() {
            "" | "goods" => "goods",
            "service" => "service",
            "digital_service" => "digital_service",
            _ => return Err(BooksError::invalid("product_type")),
        };
        record.insert("product_type".into(), json!(product_type));
    }
    if creating || body.contains_key("item_type") {
        let item_type = match text(body, "item_type").as_str() {
            "" | "sales" => "sales",
            "purchases" => "purchases",
            "sales_and_purchases" => "sales_and_purchases",
            "inventory" => "inventory",
            _ => return Err(BooksError::invalid("item_type")),
        };
        record.insert("item_type".into(), json!(item_type));
    }
    if let Some(level) = decimal(body.get("reorder_level")) {
        let level = level.map_err(|()| BooksError::invalid("Reorder Level"))?;
        record.insert("reorder_level".into(), money(level));
    }
    let fields = merge_custom_fields(record.get("custom_fields"), body.get("custom_fields"))?;
    record.insert("custom_fields".into(), fields);
    Ok(())
}

/// Sets the derived stock figures of an item from its on-hand and committed stock.
pub(super) fn set_stock(record: &mut Record, on_hand: Decimal, committed: Decimal) {
    record.insert("stock_on_hand".into(), money(on_hand));
    record.insert("committed_stock".into(), money(committed));
    record.insert("available_stock".into(), money(on_hand - committed));
    record.insert("actual_available_stock".into(), money(on_hand - committed));
}

fn insert(ctx: &mut Ctx<'_>, body: &Record) -> Result<Record, BooksError> {
    let mut record = Record::new();
    fill(body, &mut record)?;
    let initial = match decimal(body.get("initial_stock")) {
        None => Decimal::ZERO,
        Some(Ok(stock)) if stock >= Decimal::ZERO => stock,
        Some(_) => return Err(BooksError::invalid("Opening Stock")),
    };
    if initial > Decimal::ZERO && text(&record, "item_type") != "inventory" {
        return Err(BooksError::refused(
            "Opening stock can be recorded only for inventory items.",
        ));
    }
    let now = timestamp();
    record.insert("item_id".into(), json!(ctx.id()));
    record.insert("status".into(), json!("active"));
    set_stock(&mut record, initial, Decimal::ZERO);
    record.insert("created_time".into(), json!(now));
    record.insert("last_modified_time".into(), json!(now));
    check_unique(
        &ctx.org.unique_custom_fields,
        &ctx.org.items,
        "item_id",
        &record,
    )?;
    ctx.org.items.push(record.clone());
    Ok(record)
}

fn change(ctx: &mut Ctx<'_>, index: usize, body: &Record) -> Result<Record, BooksError> {
    let mut record = ctx.org.items[index].clone();
    fill(body, &mut record)?;
    apply_update(&mut record, &Record::new(), &[]);
    check_unique(
        &ctx.org.unique_custom_fields,
        &ctx.org.items,
        "item_id",
        &record,
    )?;
    ctx.org.items[index] = record.clone();
    Ok(record)
}

pub(super) fn create(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let body = ctx.json()?;
    let record = insert(ctx, &body)?;
    // The API files: Books answers 201, Inventory 200.
    Ok(match ctx.api {
        super::Api::Books => Reply::created("The item has been added.", "item", &record),
        super::Api::Inventory => Reply::upserted("The item has been added.", "item", &record),
    })
}

pub(super) fn get(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let index = position(&ctx.org.items, "item_id", ctx.param(0), "Item")?;
    Ok(Reply::ok("success", "item", &ctx.org.items[index]))
}

pub(super) fn update(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let index = position(&ctx.org.items, "item_id", ctx.param(0), "Item")?;
    let body = ctx.json()?;
    let record = change(ctx, index, &body)?;
    Ok(Reply::ok(
        "The item details have been updated.",
        "item",
        &record,
    ))
}

pub(super) fn upsert(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let key = upsert_key(ctx)?;
    let body = upsert_body(ctx, &key)?;
    match find_by_unique(&ctx.org.items, &key) {
        Some(index) => {
            let record = change(ctx, index, &body)?;
            Ok(Reply::ok(
                "The item details have been updated.",
                "item",
                &record,
            ))
        }
        None if key.create => {
            let record = insert(ctx, &body)?;
            Ok(Reply::upserted("The item has been added.", "item", &record))
        }
        None => Err(BooksError::missing("Item")),
    }
}

pub(super) fn list(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let rows = ctx
        .org
        .items
        .iter()
        .filter(|i| {
            matches(
                ctx.query,
                i,
                &["name", "sku", "item_type", "product_type", "status"],
                &["name", "sku", "description"],
            )
        })
        .cloned()
        .map(Value::Object)
        .collect();
    Ok(Reply::List {
        key: "items",
        rows: newest_first(rows),
    })
}

/// `POST /itemadjustments`: a quantity adjustment of one or more inventory items.
pub(super) fn adjust_stock(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let body = ctx.json()?;
    let date = date_or_today(&body, "date", "Date")?;
    let reason = text(&body, "reason");
    if reason.is_empty() {
        return Err(BooksError::invalid("Reason"));
    }
    if !matches!(text(&body, "adjustment_type").as_str(), "" | "quantity") {
        return Err(BooksError::invalid("adjustment_type"));
    }
    let Some(lines) = body
        .get("line_items")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
    else {
        return Err(BooksError::invalid("line_items"));
    };
    let mut changes = Vec::new();
    for line in lines {
        let line = line
            .as_object()
            .ok_or_else(|| BooksError::invalid("line_items"))?;
        let index = position(&ctx.org.items, "item_id", &text(line, "item_id"), "Item")?;
        let item = &ctx.org.items[index];
        if text(item, "item_type") != "inventory" {
            return Err(BooksError::refused(format!(
                "{} is not an inventory item.",
                text(item, "name")
            )));
        }
        let delta = match decimal(line.get("quantity_adjusted")) {
            Some(Ok(delta)) if !delta.is_zero() => delta,
            _ => return Err(BooksError::invalid("Quantity Adjusted")),
        };
        let on_hand = amount(item, "stock_on_hand") + delta;
        if on_hand < Decimal::ZERO {
            return Err(BooksError::refused(format!(
                "The stock on hand of {} cannot go below zero.",
                text(item, "name")
            )));
        }
        changes.push((index, on_hand, line.clone()));
    }
    let mut rendered = Vec::new();
    for (index, on_hand, line) in changes {
        let item = &mut ctx.org.items[index];
        let committed = amount(item, "committed_stock");
        set_stock(item, on_hand, committed);
        rendered.push(Value::Object(line));
    }
    let mut adjustment = Record::new();
    adjustment.insert("inventory_adjustment_id".into(), json!(ctx.id()));
    adjustment.insert("date".into(), json!(date));
    adjustment.insert("reason".into(), json!(reason));
    adjustment.insert("adjustment_type".into(), json!("quantity"));
    adjustment.insert("line_items".into(), Value::Array(rendered));
    Ok(Reply::created(
        "Inventory Adjustment has been added",
        "inventory_adjustment",
        &adjustment,
    ))
}
