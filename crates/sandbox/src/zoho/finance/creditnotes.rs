//! Credit notes (zoho.md §2.7): made for a customer (optionally against an invoice), `open`
//! with their total as balance; the balance is applied to the customer's invoices or refunded,
//! and the note is `closed` when nothing is left. `void` only while untouched.

use axum::http::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::invoices::settle;
use super::{
    BooksError, Ctx, Record, Reply, amount, check_unique, currency_for, customer, date_or_today,
    decimal, field, find_by_unique, matches, merge_custom_fields, money, newest_first, position,
    price_lines, round, text, timestamp, upsert_body, upsert_key, valid_date,
};

fn close_if_spent(note: &mut Record) {
    if amount(note, "balance").is_zero() && text(note, "status") == "open" {
        note.insert("status".into(), json!("closed"));
    }
    note.insert("last_modified_time".into(), json!(timestamp()));
}

fn insert(ctx: &mut Ctx<'_>, body: &Record) -> Result<Record, BooksError> {
    let customer_id = text(body, "customer_id");
    let customer = customer(ctx.org, &customer_id)?.clone();
    let date = date_or_today(body, "date", "Date")?;
    let invoice_id = ctx.query.get("invoice_id").cloned().unwrap_or_default();
    let invoice = if invoice_id.is_empty() {
        None
    } else {
        let index = position(&ctx.org.invoices, "invoice_id", &invoice_id, "Invoice")?;
        let invoice = ctx.org.invoices[index].clone();
        if text(&invoice, "customer_id") != customer_id {
            return Err(BooksError::refused(
                "The invoice does not belong to this customer.",
            ));
        }
        Some(invoice)
    };
    let (currency_id, currency_code, exchange_rate) =
        currency_for(ctx.org, &customer, body, &date)?;
    let precision = super::currency_precision(&currency_code);
    let (lines, sub_total) = price_lines(ctx, body, precision)?;
    let total = round(sub_total, precision);
    let number = if ctx.query_flag("ignore_auto_number_generation") {
        match text(body, "creditnote_number") {
            n if n.is_empty() => return Err(BooksError::invalid("Credit Note Number")),
            n => n,
        }
    } else {
        format!("CN-{:05}", ctx.org.next_number("creditnote"))
    };
    if ctx
        .org
        .creditnotes
        .iter()
        .any(|c| field(c, "creditnote_number").eq_ignore_ascii_case(&number))
    {
        return Err(BooksError::new(
            StatusCode::BAD_REQUEST,
            1001,
            format!("Credit note number {number} already exists. Please enter a unique number."),
        ));
    }
    let draft = body.get("is_draft").and_then(Value::as_bool) == Some(true);
    let now = timestamp();
    let mut note = Record::new();
    note.insert("creditnote_id".into(), json!(ctx.id()));
    note.insert("creditnote_number".into(), json!(number));
    note.insert("date".into(), json!(date));
    note.insert("status".into(), json!(if draft { "draft" } else { "open" }));
    note.insert("customer_id".into(), json!(customer_id));
    note.insert(
        "customer_name".into(),
        json!(text(&customer, "contact_name")),
    );
    note.insert("currency_id".into(), json!(currency_id));
    note.insert("currency_code".into(), json!(currency_code));
    note.insert("exchange_rate".into(), money(exchange_rate));
    note.insert(
        "reference_number".into(),
        json!(text(body, "reference_number")),
    );
    note.insert(
        "invoice_id".into(),
        json!(
            invoice
                .as_ref()
                .map(|i| text(i, "invoice_id"))
                .unwrap_or_default()
        ),
    );
    note.insert(
        "invoice_number".into(),
        json!(
            invoice
                .as_ref()
                .map(|i| text(i, "invoice_number"))
                .unwrap_or_default()
        ),
    );
    note.insert("line_items".into(), Value::Array(lines));
    note.insert("sub_total".into(), money(sub_total));
    note.insert("total".into(), money(total));
    note.insert("balance".into(), money(total));
    note.insert("refunded_amount".into(), json!(0));
    note.insert("invoices_credited".into(), json!([]));
    note.insert("notes".into(), json!(text(body, "notes")));
    note.insert(
        "custom_fields".into(),
        merge_custom_fields(None, body.get("custom_fields"))?,
    );
    note.insert("created_time".into(), json!(now));
    note.insert("last_modified_time".into(), json!(now));
    check_unique(
        &ctx.org.unique_custom_fields,
        &ctx.org.creditnotes,
        "creditnote_id",
        &note,
    )?;
    ctx.org.push_creditnote(note.clone());
    Ok(note)
}

pub(super) fn create(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let body = ctx.json()?;
    let note = insert(ctx, &body)?;
    Ok(Reply::created(
        "The credit note has been created.",
        "creditnote",
        &note,
    ))
}

pub(super) fn get(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let index = position(
        &ctx.org.creditnotes,
        "creditnote_id",
        ctx.param(0),
        "Credit Note",
    )?;
    Ok(Reply::ok(
        "success",
        "creditnote",
        &ctx.org.creditnotes[index],
    ))
}

/// `PUT /creditnotes` by a unique custom field: reference, notes and custom fields change.
pub(super) fn upsert(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let key = upsert_key(ctx)?;
    let body = upsert_body(ctx, &key)?;
    match find_by_unique(&ctx.org.creditnotes, &key) {
        Some(index) => {
            let mut note = ctx.org.creditnotes[index].clone();
            for key in ["reference_number", "notes"] {
                if body.contains_key(key) {
                    note.insert(key.into(), json!(text(&body, key)));
                }
            }
            let fields = merge_custom_fields(note.get("custom_fields"), body.get("custom_fields"))?;
            note.insert("custom_fields".into(), fields);
            note.insert("last_modified_time".into(), json!(timestamp()));
            check_unique(
                &ctx.org.unique_custom_fields,
                &ctx.org.creditnotes,
                "creditnote_id",
                &note,
            )?;
            ctx.org.creditnotes[index] = note.clone();
            Ok(Reply::ok(
                "Credit Note has been updated.",
                "creditnote",
                &note,
            ))
        }
        None if key.create => {
            let note = insert(ctx, &body)?;
            Ok(Reply::upserted(
                "The credit note has been created.",
                "creditnote",
                &note,
            ))
        }
        None => Err(BooksError::missing("Credit Note")),
    }
}

pub(super) fn list(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let rows = ctx
        .org
        .creditnotes
        .iter()
        .filter(|c| {
            matches(
                ctx.query,
                c,
                &[
                    "creditnote_number",
                    "reference_number",
                    "customer_id",
                    "customer_name",
                    "status",
                    "invoice_id",
                ],
                &["creditnote_number", "reference_number", "customer_name"],
            )
        })
        .cloned()
        .map(Value::Object)
        .collect();
    Ok(Reply::List {
        key: "creditnotes",
        rows: newest_first(rows),
    })
}

/// `POST /creditnotes/{id}/invoices`: the note's balance applied to the customer's invoices.
pub(super) fn apply(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let index = position(
        &ctx.org.creditnotes,
        "creditnote_id",
        ctx.param(0),
        "Credit Note",
    )?;
    let body = ctx.json()?;
    let note = ctx.org.creditnotes[index].clone();
    if text(&note, "status") != "open" {
        return Err(BooksError::refused(format!(
            "Credits can be applied only from an open credit note; {} is {}.",
            text(&note, "creditnote_number"),
            text(&note, "status")
        )));
    }
    let precision = super::currency_precision(&text(&note, "currency_code"));
    let Some(applications) = body
        .get("invoices")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
    else {
        return Err(BooksError::invalid("invoices"));
    };
    let mut wanted = Vec::new();
    for application in applications {
        let application = application.as_object().cloned().unwrap_or_default();
        let invoice_index = position(
            &ctx.org.invoices,
            "invoice_id",
            &text(&application, "invoice_id"),
            "Invoice",
        )?;
        let applied = match decimal(application.get("amount_applied")) {
            Some(Ok(a)) if a > Decimal::ZERO => round(a, precision),
            _ => return Err(BooksError::invalid("Amount Applied")),
        };
        let invoice = &ctx.org.invoices[invoice_index];
        let number = text(invoice, "invoice_number");
        if text(invoice, "customer_id") != text(&note, "customer_id") {
            return Err(BooksError::refused(format!(
                "Invoice {number} does not belong to the credit note's customer."
            )));
        }
        if matches!(text(invoice, "status").as_str(), "void" | "draft") {
            return Err(BooksError::refused(format!(
                "Credits cannot be applied to the {} invoice {number}.",
                text(invoice, "status")
            )));
        }
        if applied > amount(invoice, "balance") {
            return Err(BooksError::refused(format!(
                "The amount applied exceeds the balance due of invoice {number}."
            )));
        }
        wanted.push((invoice_index, applied));
    }
    let total: Decimal = wanted.iter().map(|(_, a)| *a).sum();
    if total > amount(&note, "balance") {
        return Err(BooksError::refused(
            "The amount applied is more than the credit note's balance.",
        ));
    }
    let mut credited = note
        .get("invoices_credited")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (invoice_index, applied) in wanted {
        let link_id = ctx.id();
        let invoice = &mut ctx.org.invoices[invoice_index];
        let credits = amount(invoice, "credits_applied") + applied;
        invoice.insert("credits_applied".into(), money(credits));
        settle(invoice, precision);
        credited.push(json!({
            "creditnote_invoice_id": link_id,
            "invoice_id": text(invoice, "invoice_id"),
            "invoice_number": text(invoice, "invoice_number"),
            "amount_applied": money(applied),
        }));
    }
    let note = &mut ctx.org.creditnotes[index];
    note.insert("balance".into(), money(amount(note, "balance") - total));
    note.insert("invoices_credited".into(), Value::Array(credited));
    close_if_spent(note);
    Ok(Reply::done("Credits have been applied to the invoice(s)."))
}

/// `POST /creditnotes/{id}/refunds`: money back from the note's balance.
pub(super) fn refund(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let index = position(
        &ctx.org.creditnotes,
        "creditnote_id",
        ctx.param(0),
        "Credit Note",
    )?;
    let body = ctx.json()?;
    let date = date_or_today(&body, "date", "Date")?;
    if !valid_date(&date) {
        return Err(BooksError::invalid("Date"));
    }
    let account = match text(&body, "from_account_id") {
        id if id.is_empty() => ctx.org.accounts[0].clone(),
        id => ctx
            .org
            .accounts
            .iter()
            .find(|a| field(a, "account_id") == id)
            .cloned()
            .ok_or_else(|| BooksError::invalid("Refund From"))?,
    };
    let note = &ctx.org.creditnotes[index];
    if text(note, "status") != "open" {
        return Err(BooksError::refused(format!(
            "Only an open credit note can be refunded; {} is {}.",
            text(note, "creditnote_number"),
            text(note, "status")
        )));
    }
    let precision = super::currency_precision(&text(note, "currency_code"));
    let refund_amount = match decimal(body.get("amount")) {
        Some(Ok(a)) if a > Decimal::ZERO => round(a, precision),
        _ => return Err(BooksError::invalid("Amount")),
    };
    let balance = amount(note, "balance");
    if refund_amount > balance {
        return Err(BooksError::refused(format!(
            "The refund amount is more than the credit note's balance ({balance})."
        )));
    }
    let refund_id = ctx.id();
    let note = &mut ctx.org.creditnotes[index];
    note.insert("balance".into(), money(balance - refund_amount));
    let refunded = amount(note, "refunded_amount") + refund_amount;
    note.insert("refunded_amount".into(), money(refunded));
    close_if_spent(note);
    let mut refund = Record::new();
    refund.insert("creditnote_refund_id".into(), json!(refund_id));
    refund.insert("creditnote_id".into(), json!(text(note, "creditnote_id")));
    refund.insert(
        "creditnote_number".into(),
        json!(text(note, "creditnote_number")),
    );
    refund.insert("customer_id".into(), json!(text(note, "customer_id")));
    refund.insert("customer_name".into(), json!(text(note, "customer_name")));
    refund.insert("date".into(), json!(date));
    refund.insert(
        "refund_mode".into(),
        json!(match text(&body, "refund_mode") {
            m if m.is_empty() => "cash".to_string(),
            m => m,
        }),
    );
    refund.insert(
        "reference_number".into(),
        json!(text(&body, "reference_number")),
    );
    refund.insert("description".into(), json!(text(&body, "description")));
    refund.insert("amount".into(), money(refund_amount));
    refund.insert("currency_code".into(), json!(text(note, "currency_code")));
    refund.insert(
        "exchange_rate".into(),
        note.get("exchange_rate").cloned().unwrap_or(json!(1)),
    );
    refund.insert(
        "from_account_id".into(),
        json!(text(&account, "account_id")),
    );
    refund.insert(
        "from_account_name".into(),
        json!(text(&account, "account_name")),
    );
    ctx.org.creditnote_refunds.push(refund.clone());
    Ok(Reply::ok(
        "The credit note amount is refunded successfully.",
        "creditnote_refund",
        &refund,
    ))
}

pub(super) fn refunds(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let id = ctx.param(0).to_string();
    position(&ctx.org.creditnotes, "creditnote_id", &id, "Credit Note")?;
    let rows = ctx
        .org
        .creditnote_refunds
        .iter()
        .filter(|r| field(r, "creditnote_id") == id)
        .cloned()
        .map(Value::Object)
        .collect();
    Ok(Reply::List {
        key: "creditnote_refunds",
        rows,
    })
}

pub(super) fn all_refunds(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let rows = ctx
        .org
        .creditnote_refunds
        .iter()
        .filter(|r| matches(ctx.query, r, &["customer_id", "reference_number"], &[]))
        .cloned()
        .map(Value::Object)
        .collect();
    Ok(Reply::List {
        key: "creditnote_refunds",
        rows: newest_first(rows),
    })
}

pub(super) fn void(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let index = position(
        &ctx.org.creditnotes,
        "creditnote_id",
        ctx.param(0),
        "Credit Note",
    )?;
    let note = &mut ctx.org.creditnotes[index];
    if amount(note, "balance") != amount(note, "total") {
        return Err(BooksError::refused(
            "A credit note that has been applied or refunded cannot be voided.",
        ));
    }
    note.insert("status".into(), json!("void"));
    note.insert("last_modified_time".into(), json!(timestamp()));
    Ok(Reply::done("Credit note status has been changed to Void."))
}
