//! Invoices (zoho.md §2.5): `draft` on create (`sent` with `?send=true`), `sent` → `overdue`
//! past the due date → `partially_paid` → `paid` as payments and credits are applied; `void`
//! only while nothing is applied, and back to `draft`. Invoice numbers are unique; with
//! `ignore_auto_number_generation=true` the caller gives one. Invoices are made from sales
//! orders too.

use rust_decimal::Decimal;
use serde_json::{Value, json};
use time::macros::format_description;

use super::{
    BooksError, Ctx, Organization, Record, Reply, amount, apply_update, check_unique, currency_for,
    customer, date_or_today, decimal, find_by_unique, matches, merge_custom_fields, money,
    newest_first, position, price_lines, round, text, timestamp, today, upsert_body, upsert_key,
    valid_date,
};

/// `due_date` from the date and the customer's payment terms.
fn due_date(date: &str, terms_days: i64) -> String {
    let format = format_description!("[year]-[month]-[day]");
    time::Date::parse(date, format)
        .ok()
        .and_then(|d| d.checked_add(time::Duration::days(terms_days)))
        .and_then(|d| d.format(format).ok())
        .unwrap_or_else(|| date.to_string())
}

/// Sets `balance` and the payment status after an amount was applied or taken back.
pub(super) fn settle(invoice: &mut Record, precision: u32) {
    let total = amount(invoice, "total");
    let applied = amount(invoice, "payment_made") + amount(invoice, "credits_applied");
    let balance = round(total - applied, precision);
    invoice.insert("balance".into(), money(balance));
    let status = text(invoice, "status");
    if status == "void" || status == "draft" && applied.is_zero() {
        return;
    }
    let status = if balance.is_zero() {
        "paid"
    } else if applied.is_zero() {
        "sent"
    } else {
        "partially_paid"
    };
    invoice.insert("status".into(), json!(status));
    invoice.insert("last_modified_time".into(), json!(timestamp()));
}

/// Sent invoices past their due date are overdue.
fn age(org: &mut Organization) {
    let today = today();
    for invoice in &mut org.invoices {
        if matches!(text(invoice, "status").as_str(), "sent" | "partially_paid")
            && text(invoice, "due_date") < today
            && amount(invoice, "balance") > Decimal::ZERO
        {
            invoice.insert("status".into(), json!("overdue"));
        }
    }
}

/// Builds a new invoice from a body (and the sales order it comes from, if any).
pub(super) fn build(
    ctx: &mut Ctx<'_>,
    body: &Record,
    salesorder: Option<&Record>,
) -> Result<Record, BooksError> {
    let customer_id = text(body, "customer_id");
    let customer = customer(ctx.org, &customer_id)?;
    let customer_name = text(customer, "contact_name");
    let terms = customer
        .get("payment_terms")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let date = date_or_today(body, "date", "Invoice Date")?;
    let (currency_id, currency_code, exchange_rate) = currency_for(ctx.org, customer, body, &date)?;
    let precision = super::currency_precision(&currency_code);
    let due = match text(body, "due_date") {
        d if d.is_empty() => due_date(&date, terms),
        d if valid_date(&d) && d >= date => d,
        _ => return Err(BooksError::invalid("Due Date")),
    };
    let (lines, sub_total) = price_lines(ctx, body, precision)?;
    let mut extras = Decimal::ZERO;
    for (key, label) in [
        ("shipping_charge", "Shipping Charge"),
        ("adjustment", "Adjustment"),
    ] {
        if let Some(value) = decimal(body.get(key)) {
            extras += value.map_err(|()| BooksError::invalid(label))?;
        }
    }
    let total = round(sub_total + extras, precision);
    if total < Decimal::ZERO {
        return Err(BooksError::refused("The invoice total cannot be negative."));
    }
    let number = if ctx.query_flag("ignore_auto_number_generation") {
        match text(body, "invoice_number") {
            n if n.is_empty() => return Err(BooksError::invalid("Invoice Number")),
            n => n,
        }
    } else {
        format!("INV-{:06}", ctx.org.next_number("invoice"))
    };
    if ctx
        .org
        .invoice_numbers
        .contains(&number.to_ascii_lowercase())
    {
        // The code for a repeated invoice number is not documented (zoho.md §6).
        return Err(BooksError::new(
            axum::http::StatusCode::BAD_REQUEST,
            1001,
            format!("Invoice number {number} already exists. Please enter a unique number."),
        ));
    }
    let now = timestamp();
    let id = ctx.id();
    let mut invoice = Record::new();
    invoice.insert("invoice_id".into(), json!(id));
    invoice.insert("invoice_number".into(), json!(number));
    invoice.insert("date".into(), json!(date));
    invoice.insert("due_date".into(), json!(due));
    invoice.insert("status".into(), json!("draft"));
    invoice.insert("customer_id".into(), json!(customer_id));
    invoice.insert("customer_name".into(), json!(customer_name));
    invoice.insert("currency_id".into(), json!(currency_id));
    invoice.insert("currency_code".into(), json!(currency_code));
    invoice.insert("exchange_rate".into(), money(exchange_rate));
    invoice.insert(
        "reference_number".into(),
        json!(text(body, "reference_number")),
    );
    invoice.insert(
        "salesorder_id".into(),
        json!(
            salesorder
                .map(|so| text(so, "salesorder_id"))
                .unwrap_or_default()
        ),
    );
    invoice.insert("line_items".into(), Value::Array(lines));
    invoice.insert("sub_total".into(), money(sub_total));
    invoice.insert(
        "shipping_charge".into(),
        money(amount(body, "shipping_charge")),
    );
    invoice.insert("adjustment".into(), money(amount(body, "adjustment")));
    invoice.insert("total".into(), money(total));
    invoice.insert("payment_made".into(), json!(0));
    invoice.insert("credits_applied".into(), json!(0));
    invoice.insert("write_off_amount".into(), json!(0));
    invoice.insert("balance".into(), money(total));
    invoice.insert("price_precision".into(), json!(precision));
    invoice.insert("is_emailed".into(), json!(false));
    invoice.insert(
        "invoice_url".into(),
        json!(format!("https://books.zoho.com/portal/invoice/{id}")),
    );
    invoice.insert("notes".into(), json!(text(body, "notes")));
    invoice.insert("terms".into(), json!(text(body, "terms")));
    invoice.insert(
        "custom_fields".into(),
        merge_custom_fields(None, body.get("custom_fields"))?,
    );
    invoice.insert("created_time".into(), json!(now));
    invoice.insert("last_modified_time".into(), json!(now));
    if ctx.query_flag("send") {
        invoice.insert("status".into(), json!("sent"));
    }
    check_unique(
        &ctx.org.unique_custom_fields,
        &ctx.org.invoices,
        "invoice_id",
        &invoice,
    )?;
    Ok(invoice)
}

fn insert(ctx: &mut Ctx<'_>, body: &Record) -> Result<Record, BooksError> {
    let invoice = build(ctx, body, None)?;
    ctx.org.push_invoice(invoice.clone());
    Ok(invoice)
}

/// Changes an invoice: its lines and charges (the new total must cover what is applied),
/// reference, notes, dates and custom fields.
fn change(ctx: &mut Ctx<'_>, index: usize, body: &Record) -> Result<Record, BooksError> {
    let mut invoice = ctx.org.invoices[index].clone();
    if text(&invoice, "status") == "void" {
        return Err(BooksError::refused("A void invoice cannot be edited."));
    }
    let precision = super::currency_precision(&text(&invoice, "currency_code"));
    if body.contains_key("line_items") {
        let (lines, sub_total) = price_lines(ctx, body, precision)?;
        let total = round(
            sub_total + amount(&invoice, "shipping_charge") + amount(&invoice, "adjustment"),
            precision,
        );
        let applied = amount(&invoice, "payment_made") + amount(&invoice, "credits_applied");
        if total < applied {
            return Err(BooksError::refused(
                "The invoice total cannot be less than the payments and credits applied to it.",
            ));
        }
        invoice.insert("line_items".into(), Value::Array(lines));
        invoice.insert("sub_total".into(), money(sub_total));
        invoice.insert("total".into(), money(total));
    }
    for key in ["reference_number", "notes", "terms"] {
        if body.contains_key(key) {
            invoice.insert(key.into(), json!(text(body, key)));
        }
    }
    for (key, label) in [("date", "Invoice Date"), ("due_date", "Due Date")] {
        if body.contains_key(key) {
            let value = text(body, key);
            if !valid_date(&value) {
                return Err(BooksError::invalid(label));
            }
            invoice.insert(key.into(), json!(value));
        }
    }
    let fields = merge_custom_fields(invoice.get("custom_fields"), body.get("custom_fields"))?;
    invoice.insert("custom_fields".into(), fields);
    apply_update(&mut invoice, &Record::new(), &[]);
    settle(&mut invoice, precision);
    check_unique(
        &ctx.org.unique_custom_fields,
        &ctx.org.invoices,
        "invoice_id",
        &invoice,
    )?;
    ctx.org.invoices[index] = invoice.clone();
    Ok(invoice)
}

pub(super) fn create(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let body = ctx.json()?;
    let invoice = insert(ctx, &body)?;
    Ok(Reply::created(
        "The invoice has been created.",
        "invoice",
        &invoice,
    ))
}

pub(super) fn get(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    age(ctx.org);
    let index = position(&ctx.org.invoices, "invoice_id", ctx.param(0), "Invoice")?;
    Ok(Reply::ok("success", "invoice", &ctx.org.invoices[index]))
}

pub(super) fn update(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let index = position(&ctx.org.invoices, "invoice_id", ctx.param(0), "Invoice")?;
    let body = ctx.json()?;
    let invoice = change(ctx, index, &body)?;
    Ok(Reply::ok(
        "Invoice information has been updated.",
        "invoice",
        &invoice,
    ))
}

pub(super) fn upsert(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let key = upsert_key(ctx)?;
    let body = upsert_body(ctx, &key)?;
    match find_by_unique(&ctx.org.invoices, &key) {
        Some(index) => {
            let invoice = change(ctx, index, &body)?;
            Ok(Reply::ok(
                "Invoice information has been updated.",
                "invoice",
                &invoice,
            ))
        }
        None if key.create => {
            let invoice = insert(ctx, &body)?;
            Ok(Reply::upserted(
                "The invoice has been created.",
                "invoice",
                &invoice,
            ))
        }
        None => Err(BooksError::missing("Invoice")),
    }
}

pub(super) fn list(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    age(ctx.org);
    let status = ctx.query.get("status").map(|s| s.to_ascii_lowercase());
    let filter_by = ctx.query.get("filter_by").map(|s| s.to_ascii_lowercase());
    let rows = ctx
        .org
        .invoices
        .iter()
        .filter(|i| {
            matches(
                ctx.query,
                i,
                &[
                    "invoice_number",
                    "reference_number",
                    "customer_id",
                    "customer_name",
                ],
                &["invoice_number", "reference_number", "customer_name"],
            )
        })
        .filter(|i| {
            let actual = text(i, "status");
            let wanted = status.clone().or_else(|| {
                filter_by
                    .as_deref()
                    .and_then(|f| f.strip_prefix("status."))
                    .map(str::to_string)
            });
            match wanted.as_deref() {
                None | Some("all") => true,
                Some("unpaid") => matches!(actual.as_str(), "sent" | "overdue" | "partially_paid"),
                Some(wanted) => wanted == actual,
            }
        })
        .map(|i| {
            let row: Record = [
                "invoice_id",
                "invoice_number",
                "customer_id",
                "customer_name",
                "status",
                "reference_number",
                "date",
                "due_date",
                "currency_id",
                "currency_code",
                "exchange_rate",
                "total",
                "balance",
                "salesorder_id",
                "custom_fields",
                "created_time",
                "last_modified_time",
            ]
            .into_iter()
            .filter_map(|k| i.get(k).map(|v| (k.to_string(), v.clone())))
            .collect();
            Value::Object(row)
        })
        .collect();
    Ok(Reply::List {
        key: "invoices",
        rows: newest_first(rows),
    })
}

pub(super) fn mark_sent(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let index = position(&ctx.org.invoices, "invoice_id", ctx.param(0), "Invoice")?;
    let invoice = &mut ctx.org.invoices[index];
    match text(invoice, "status").as_str() {
        "draft" => {
            invoice.insert("status".into(), json!("sent"));
            invoice.insert("last_modified_time".into(), json!(timestamp()));
        }
        "void" => {
            return Err(BooksError::refused(
                "A voided invoice cannot be marked as sent.",
            ));
        }
        // Already sent, or further along: nothing to change.
        _ => {}
    }
    Ok(Reply::done("Invoice status has been changed to Sent."))
}

pub(super) fn void(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let index = position(&ctx.org.invoices, "invoice_id", ctx.param(0), "Invoice")?;
    let invoice = &mut ctx.org.invoices[index];
    if !amount(invoice, "payment_made").is_zero() || !amount(invoice, "credits_applied").is_zero() {
        return Err(BooksError::refused(
            "Invoices that have payments or credits applied cannot be voided. Delete the payments and credits first.",
        ));
    }
    invoice.insert("status".into(), json!("void"));
    invoice.insert("last_modified_time".into(), json!(timestamp()));
    Ok(Reply::done("Invoice status has been changed to Void."))
}

pub(super) fn draft(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let index = position(&ctx.org.invoices, "invoice_id", ctx.param(0), "Invoice")?;
    let invoice = &mut ctx.org.invoices[index];
    match text(invoice, "status").as_str() {
        "void" | "draft" => {
            invoice.insert("status".into(), json!("draft"));
            invoice.insert("last_modified_time".into(), json!(timestamp()));
            Ok(Reply::done("Status of invoice changed from void to draft."))
        }
        _ => Err(BooksError::refused(
            "Only a void invoice can be changed back to draft.",
        )),
    }
}

/// `POST /invoices/fromsalesorder?salesorder_id=…`: the order's lines, once.
pub(super) fn from_sales_order(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let salesorder_id = ctx.query.get("salesorder_id").cloned().unwrap_or_default();
    if salesorder_id.is_empty() {
        return Err(BooksError::invalid("salesorder_id"));
    }
    let so_index = position(
        &ctx.org.salesorders,
        "salesorder_id",
        &salesorder_id,
        "Sales Order",
    )?;
    let so = ctx.org.salesorders[so_index].clone();
    match text(&so, "status").as_str() {
        "draft" => {
            return Err(BooksError::refused(
                "A draft sales order cannot be converted to an invoice. Confirm it first.",
            ));
        }
        "void" => {
            return Err(BooksError::refused(
                "A void sales order cannot be converted to an invoice.",
            ));
        }
        _ => {}
    }
    if text(&so, "invoiced_status") == "invoiced" {
        return Err(BooksError::refused(
            "This sales order has already been invoiced.",
        ));
    }
    let lines: Vec<Value> = so
        .get("line_items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|line| {
            let line = line.as_object().cloned().unwrap_or_default();
            json!({
                "item_id": text(&line, "item_id"), "name": text(&line, "name"),
                "description": text(&line, "description"), "rate": line.get("rate"),
                "quantity": line.get("quantity"), "salesorder_item_id": text(&line, "line_item_id"),
            })
        })
        .collect();
    let mut body = Record::new();
    body.insert("customer_id".into(), json!(text(&so, "customer_id")));
    body.insert(
        "reference_number".into(),
        json!(text(&so, "salesorder_number")),
    );
    body.insert("currency_id".into(), json!(text(&so, "currency_id")));
    body.insert(
        "exchange_rate".into(),
        so.get("exchange_rate").cloned().unwrap_or(json!(1)),
    );
    body.insert("line_items".into(), Value::Array(lines));
    if let Some(charge) = so.get("shipping_charge") {
        body.insert("shipping_charge".into(), charge.clone());
    }
    let invoice = build(ctx, &body, Some(&so))?;
    ctx.org.push_invoice(invoice.clone());
    let so = &mut ctx.org.salesorders[so_index];
    so.insert("invoiced_status".into(), json!("invoiced"));
    let mut invoices = so
        .get("invoices")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    invoices.push(json!({
        "invoice_id": text(&invoice, "invoice_id"),
        "invoice_number": text(&invoice, "invoice_number"),
        "status": text(&invoice, "status"),
        "total": invoice.get("total"),
    }));
    so.insert("invoices".into(), Value::Array(invoices));
    so.insert("last_modified_time".into(), json!(timestamp()));
    Ok(Reply::created(
        "The invoice has been created.",
        "invoice",
        &invoice,
    ))
}
