//! Customer payments (zoho.md §2.6): applied to the customer's invoices (no more than received,
//! no more than each invoice's balance, never to void invoices nor, by default, drafts), the
//! rest kept as unused credit, which alone can be refunded.

use axum::http::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::invoices::settle;
use super::{
    BooksError, Ctx, Record, Reply, amount, check_unique, currency_for, customer, decimal, field,
    find_by_unique, matches, merge_custom_fields, money, newest_first, position, round, text,
    timestamp, upsert_body, upsert_key, valid_date,
};

fn insert(ctx: &mut Ctx<'_>, body: &Record) -> Result<Record, BooksError> {
    let customer_id = text(body, "customer_id");
    let payment_mode = text(body, "payment_mode");
    let date = text(body, "date");
    let customer = customer(ctx.org, &customer_id)?.clone();
    if payment_mode.is_empty() {
        return Err(BooksError::invalid("Payment Mode"));
    }
    if !valid_date(&date) {
        return Err(BooksError::invalid("Payment Date"));
    }
    let received = match decimal(body.get("amount")) {
        Some(Ok(amount)) if amount > Decimal::ZERO => amount,
        _ => return Err(BooksError::invalid("Amount")),
    };
    let Some(applications) = body.get("invoices").and_then(Value::as_array) else {
        return Err(BooksError::invalid("invoices"));
    };
    let (currency_id, currency_code, exchange_rate) =
        currency_for(ctx.org, &customer, body, &date)?;
    let precision = super::currency_precision(&currency_code);
    let received = round(received, precision);
    let account_id = match text(body, "account_id") {
        id if id.is_empty() => text(&ctx.org.accounts[0], "account_id"),
        id if ctx
            .org
            .accounts
            .iter()
            .any(|a| field(a, "account_id") == id) =>
        {
            id
        }
        _ => return Err(BooksError::invalid("Deposit To")),
    };
    let mut wanted = Vec::with_capacity(applications.len());
    for application in applications {
        let application = application.as_object().cloned().unwrap_or_default();
        let invoice_id = text(&application, "invoice_id");
        match decimal(application.get("amount_applied")) {
            Some(Ok(applied)) if applied > Decimal::ZERO && !invoice_id.is_empty() => {
                wanted.push((invoice_id, round(applied, precision)));
            }
            _ => return Err(BooksError::invalid("Amount Applied")),
        }
    }
    let applied_total: Decimal = wanted.iter().map(|(_, a)| *a).sum();
    if applied_total > received {
        return Err(BooksError::refused(
            "The amount applied to invoices is more than the amount received.",
        ));
    }
    // Check every application before changing anything.
    let allow_draft = ctx.config.allow_payments_on_draft_invoices;
    let mut applied = Vec::with_capacity(wanted.len());
    for (invoice_id, amount_applied) in &wanted {
        let index = position(&ctx.org.invoices, "invoice_id", invoice_id, "Invoice")?;
        let invoice = &ctx.org.invoices[index];
        let number = text(invoice, "invoice_number");
        let status = text(invoice, "status");
        let refusal = if text(invoice, "customer_id") != customer_id {
            Some(format!(
                "Invoice {number} does not belong to this customer."
            ))
        } else if text(invoice, "currency_id") != currency_id {
            Some(format!(
                "Invoice {number} is in another currency than the payment."
            ))
        } else if status == "void" {
            Some(format!(
                "Payments cannot be recorded for the void invoice {number}."
            ))
        } else if status == "draft" && !allow_draft {
            Some(format!(
                "Payments cannot be recorded for the draft invoice {number}. Mark it as sent first."
            ))
        } else if *amount_applied > amount(invoice, "balance") {
            Some(format!(
                "The amount applied exceeds the balance due of invoice {number}."
            ))
        } else {
            None
        };
        if let Some(message) = refusal {
            return Err(BooksError::refused(message));
        }
        applied.push((index, number, *amount_applied));
    }
    let now = timestamp();
    let payment_id = ctx.id();
    let mut rendered = Vec::with_capacity(applied.len());
    for (index, number, amount_applied) in &applied {
        let invoice = &mut ctx.org.invoices[*index];
        let made = amount(invoice, "payment_made") + *amount_applied;
        invoice.insert("payment_made".into(), money(made));
        settle(invoice, precision);
        rendered.push(json!({
            "invoice_id": text(invoice, "invoice_id"), "invoice_number": number,
            "amount_applied": money(*amount_applied), "date": date,
        }));
    }
    let account_name = ctx
        .org
        .accounts
        .iter()
        .find(|a| field(a, "account_id") == account_id)
        .map(|a| text(a, "account_name"))
        .unwrap_or_default();
    let number = ctx.org.next_number("payment");
    let mut payment = Record::new();
    payment.insert("payment_id".into(), json!(payment_id));
    payment.insert("payment_number".into(), json!(number.to_string()));
    payment.insert("customer_id".into(), json!(customer_id));
    payment.insert(
        "customer_name".into(),
        json!(text(&customer, "contact_name")),
    );
    payment.insert("payment_mode".into(), json!(payment_mode));
    payment.insert("amount".into(), money(received));
    payment.insert("unused_amount".into(), money(received - applied_total));
    payment.insert("amount_refunded".into(), json!(0));
    payment.insert("bank_charges".into(), money(amount(body, "bank_charges")));
    payment.insert("date".into(), json!(date));
    payment.insert("status".into(), json!("success"));
    payment.insert(
        "reference_number".into(),
        json!(text(body, "reference_number")),
    );
    payment.insert("description".into(), json!(text(body, "description")));
    payment.insert("account_id".into(), json!(account_id));
    payment.insert("account_name".into(), json!(account_name));
    payment.insert("invoices".into(), Value::Array(rendered));
    payment.insert("currency_id".into(), json!(currency_id));
    payment.insert("currency_code".into(), json!(currency_code));
    payment.insert("exchange_rate".into(), money(exchange_rate));
    payment.insert(
        "custom_fields".into(),
        merge_custom_fields(None, body.get("custom_fields"))?,
    );
    payment.insert("created_time".into(), json!(now));
    payment.insert("last_modified_time".into(), json!(now));
    check_unique(
        &ctx.org.unique_custom_fields,
        &ctx.org.payments,
        "payment_id",
        &payment,
    )?;
    ctx.org.push_payment(payment.clone());
    Ok(payment)
}

pub(super) fn create(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let body = ctx.json()?;
    let payment = insert(ctx, &body)?;
    Ok(Reply::created(
        "The payment has been created.",
        "payment",
        &payment,
    ))
}

pub(super) fn get(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let index = position(
        &ctx.org.payments,
        "payment_id",
        ctx.param(0),
        "Customer payment",
    )?;
    Ok(Reply::ok("success", "payment", &ctx.org.payments[index]))
}

/// `PUT /customerpayments` by a unique custom field: its reference, description, date, mode
/// and custom fields change; what it applied stays (delete and record it again for that).
pub(super) fn upsert(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let key = upsert_key(ctx)?;
    let body = upsert_body(ctx, &key)?;
    match find_by_unique(&ctx.org.payments, &key) {
        Some(index) => {
            let mut payment = ctx.org.payments[index].clone();
            if let Some(wanted) = decimal(body.get("amount"))
                && wanted != Ok(amount(&payment, "amount"))
            {
                return Err(BooksError::refused(
                    "The amount of a recorded payment cannot be changed by an upsert in this simulator; delete the payment and record it again.",
                ));
            }
            for key in ["reference_number", "description", "payment_mode"] {
                if body.contains_key(key) {
                    payment.insert(key.into(), json!(text(&body, key)));
                }
            }
            if body.contains_key("date") {
                let date = text(&body, "date");
                if !valid_date(&date) {
                    return Err(BooksError::invalid("Payment Date"));
                }
                payment.insert("date".into(), json!(date));
            }
            let fields =
                merge_custom_fields(payment.get("custom_fields"), body.get("custom_fields"))?;
            payment.insert("custom_fields".into(), fields);
            payment.insert("last_modified_time".into(), json!(timestamp()));
            check_unique(
                &ctx.org.unique_custom_fields,
                &ctx.org.payments,
                "payment_id",
                &payment,
            )?;
            ctx.org.payments[index] = payment.clone();
            Ok(Reply::ok(
                "The customer payment has been updated.",
                "payment",
                &payment,
            ))
        }
        None if key.create => {
            let payment = insert(ctx, &body)?;
            Ok(Reply::upserted(
                "The payment has been created.",
                "payment",
                &payment,
            ))
        }
        None => Err(BooksError::missing("Customer payment")),
    }
}

pub(super) fn list(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let rows = ctx
        .org
        .payments
        .iter()
        .filter(|p| {
            matches(
                ctx.query,
                p,
                &[
                    "reference_number",
                    "customer_id",
                    "customer_name",
                    "payment_mode",
                    "date",
                ],
                &["reference_number", "customer_name", "description"],
            )
        })
        .cloned()
        .map(Value::Object)
        .collect();
    Ok(Reply::List {
        key: "customerpayments",
        rows: newest_first(rows),
    })
}

/// `POST /customerpayments/{id}/refunds`: money back from the payment's unused amount.
pub(super) fn refund(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let index = position(
        &ctx.org.payments,
        "payment_id",
        ctx.param(0),
        "Customer payment",
    )?;
    let body = ctx.json()?;
    let date = text(&body, "date");
    if !valid_date(&date) {
        return Err(BooksError::invalid("Date"));
    }
    let account_id = text(&body, "from_account_id");
    let Some(account) = ctx
        .org
        .accounts
        .iter()
        .find(|a| field(a, "account_id") == account_id)
        .cloned()
    else {
        return Err(BooksError::invalid("Refund From"));
    };
    let payment = &ctx.org.payments[index];
    let precision = super::currency_precision(&text(payment, "currency_code"));
    let refund_amount = match decimal(body.get("amount")) {
        Some(Ok(a)) if a > Decimal::ZERO => round(a, precision),
        _ => return Err(BooksError::invalid("Amount")),
    };
    let unused = amount(payment, "unused_amount");
    if refund_amount > unused {
        return Err(BooksError::refused(format!(
            "The refund amount is more than the unused amount ({unused}) of this payment. Only the unused part of a payment can be refunded."
        )));
    }
    let refund_id = ctx.id();
    let payment = &mut ctx.org.payments[index];
    payment.insert("unused_amount".into(), money(unused - refund_amount));
    let refunded = amount(payment, "amount_refunded") + refund_amount;
    payment.insert("amount_refunded".into(), money(refunded));
    payment.insert("last_modified_time".into(), json!(timestamp()));
    let mut refund = Record::new();
    refund.insert("payment_refund_id".into(), json!(refund_id));
    refund.insert("payment_id".into(), json!(text(payment, "payment_id")));
    refund.insert("customer_id".into(), json!(text(payment, "customer_id")));
    refund.insert(
        "customer_name".into(),
        json!(text(payment, "customer_name")),
    );
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
    refund.insert(
        "exchange_rate".into(),
        payment.get("exchange_rate").cloned().unwrap_or(json!(1)),
    );
    refund.insert("from_account_id".into(), json!(account_id));
    refund.insert(
        "from_account_name".into(),
        json!(text(&account, "account_name")),
    );
    ctx.org.payment_refunds.push(refund.clone());
    Ok(Reply::One {
        status: StatusCode::OK,
        message: "The refund information for this payment has been saved.",
        key: "payment_refunds",
        value: json!([refund]),
        created: true,
    })
}

pub(super) fn refunds(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let payment_id = ctx.param(0).to_string();
    position(
        &ctx.org.payments,
        "payment_id",
        &payment_id,
        "Customer payment",
    )?;
    let rows = ctx
        .org
        .payment_refunds
        .iter()
        .filter(|r| field(r, "payment_id") == payment_id)
        .cloned()
        .map(Value::Object)
        .collect();
    Ok(Reply::List {
        key: "payment_refunds",
        rows,
    })
}
