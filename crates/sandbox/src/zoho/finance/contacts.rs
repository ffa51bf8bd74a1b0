//! Contacts (zoho.md §2.4): display names unique across the organization's customers and
//! vendors (3062 on create and on rename), the primary contact person's e-mail as the
//! contact's, updates, and upserts by a unique custom field.

use std::collections::HashMap;

use axum::http::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::{
    BooksError, Ctx, Organization, Record, Reply, amount, apply_update, check_unique, field,
    find_by_unique, matches, merge_custom_fields, money, newest_first, position, text, timestamp,
    upsert_body, upsert_key,
};

/// Fills a contact from a create or update body onto `record` (empty for a create).
fn fill(ctx: &Ctx<'_>, body: &Record, record: &mut Record) -> Result<(), BooksError> {
    let creating = record.is_empty();
    if creating || body.contains_key("contact_name") {
        let name = text(body, "contact_name");
        if name.is_empty() || name.chars().count() > 200 {
            return Err(BooksError::invalid("Contact Name"));
        }
        record.insert("contact_name".into(), json!(name));
    }
    if creating || body.contains_key("contact_type") {
        let contact_type = match text(body, "contact_type").as_str() {
            "" | "customer" => "customer",
            "vendor" => "vendor",
            _ => return Err(BooksError::invalid("contact_type")),
        };
        record.insert("contact_type".into(), json!(contact_type));
    }
    if creating || body.contains_key("customer_sub_type") {
        let sub_type = match text(body, "customer_sub_type").as_str() {
            "" | "business" => "business",
            "individual" => "individual",
            _ => return Err(BooksError::invalid("customer_sub_type")),
        };
        record.insert("customer_sub_type".into(), json!(sub_type));
    }
    for key in ["company_name", "notes", "website"] {
        if creating || body.contains_key(key) {
            record.insert(key.into(), json!(text(body, key)));
        }
    }
    for key in ["billing_address", "shipping_address"] {
        match body.get(key) {
            Some(Value::Object(address)) => {
                record.insert(key.into(), Value::Object(address.clone()));
            }
            Some(Value::Null) | None if creating => {
                record.insert(key.into(), json!({}));
            }
            Some(Value::Null) | None => {}
            Some(_) => return Err(BooksError::invalid(key)),
        }
    }
    if let Some(terms) = body.get("payment_terms") {
        let days = terms
            .as_i64()
            .or_else(|| terms.as_str().and_then(|s| s.trim().parse().ok()))
            .filter(|d| *d >= 0)
            .ok_or_else(|| BooksError::invalid("Payment Terms"))?;
        record.insert("payment_terms".into(), json!(days));
    } else if creating {
        record.insert("payment_terms".into(), json!(0));
    }
    let currency_id = text(body, "currency_id");
    if !currency_id.is_empty() {
        let currency = ctx
            .org
            .currency(&currency_id)
            .ok_or_else(|| BooksError::invalid("Currency"))?;
        record.insert("currency_id".into(), json!(currency_id));
        record.insert(
            "currency_code".into(),
            json!(text(currency, "currency_code")),
        );
    } else if creating {
        record.insert("currency_id".into(), json!(ctx.org.currency_id));
        record.insert("currency_code".into(), json!(ctx.org.currency_code));
    }
    if let Some(persons) = body.get("contact_persons") {
        let Some(persons) = persons.as_array() else {
            return Err(BooksError::invalid("contact_persons"));
        };
        let persons: Vec<Value> = persons
            .iter()
            .map(|p| {
                let mut p = p.as_object().cloned().unwrap_or_default();
                if text(&p, "contact_person_id").is_empty() {
                    p.insert("contact_person_id".into(), json!(ctx.id()));
                }
                Value::Object(p)
            })
            .collect();
        let primary = persons
            .iter()
            .find(|p| p.get("is_primary_contact").and_then(Value::as_bool) == Some(true))
            .or(persons.first())
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for key in ["first_name", "last_name", "email", "phone", "mobile"] {
            record.insert(key.into(), json!(text(&primary, key)));
        }
        record.insert("contact_persons".into(), Value::Array(persons));
    } else if creating {
        for key in ["first_name", "last_name", "email", "phone", "mobile"] {
            record.insert(key.into(), json!(""));
        }
        record.insert("contact_persons".into(), json!([]));
    }
    let fields = merge_custom_fields(record.get("custom_fields"), body.get("custom_fields"))?;
    record.insert("custom_fields".into(), fields);
    Ok(())
}

/// Refuses a name another contact already has (case-insensitive, customers and vendors alike).
fn check_name(org: &Organization, record: &Record) -> Result<(), BooksError> {
    let name = text(record, "contact_name");
    let id = text(record, "contact_id");
    let holder = org.contact_names.get(&name.to_lowercase());
    if holder.is_some_and(|holder| *holder != id) {
        let noun = if text(record, "contact_type") == "vendor" {
            "vendor"
        } else {
            "customer"
        };
        return Err(BooksError::new(
            StatusCode::BAD_REQUEST,
            3062,
            format!("The {noun} \"{name}\" already exists. Please specify a different name."),
        ));
    }
    Ok(())
}

/// Keeps the name index in step with a contact's (new) name.
fn index_name(org: &mut Organization, previous: Option<&Record>, record: &Record) {
    let id = text(record, "contact_id");
    if let Some(previous) = previous {
        org.contact_names
            .remove(&text(previous, "contact_name").to_lowercase());
        if let Some(ids) = org
            .contact_emails
            .get_mut(&text(previous, "email").to_lowercase())
        {
            ids.retain(|i| *i != id);
        }
    }
    org.contact_names
        .insert(text(record, "contact_name").to_lowercase(), id.clone());
    let email = text(record, "email").to_lowercase();
    if !email.is_empty() {
        org.contact_emails.entry(email).or_default().push(id);
    }
}

/// Every customer's outstanding receivables and unused credits, from one pass over the
/// organization's invoices, credit notes and payments.
fn balances(org: &Organization) -> HashMap<&str, (Decimal, Decimal)> {
    let mut balances: HashMap<&str, (Decimal, Decimal)> = HashMap::new();
    for invoice in &org.invoices {
        if !matches!(field(invoice, "status"), "draft" | "void") {
            balances.entry(field(invoice, "customer_id")).or_default().0 +=
                amount(invoice, "balance");
        }
    }
    for note in &org.creditnotes {
        if field(note, "status") == "open" {
            balances.entry(field(note, "customer_id")).or_default().1 += amount(note, "balance");
        }
    }
    for payment in &org.payments {
        balances.entry(field(payment, "customer_id")).or_default().1 +=
            amount(payment, "unused_amount");
    }
    balances
}

fn with_balances_from(balances: &HashMap<&str, (Decimal, Decimal)>, record: &Record) -> Record {
    let (outstanding, credits) = balances
        .get(field(record, "contact_id"))
        .copied()
        .unwrap_or_default();
    let mut record = record.clone();
    record.insert("outstanding_receivable_amount".into(), money(outstanding));
    record.insert("unused_credits_receivable_amount".into(), money(credits));
    record
}

/// Balances a contact's transactions give it.
fn with_balances(org: &Organization, record: &Record) -> Record {
    let id = field(record, "contact_id");
    let mut outstanding = Decimal::ZERO;
    let mut credits = Decimal::ZERO;
    if let Some(mine) = org.transactions_of.get(id) {
        for invoice in mine.invoices.iter().map(|i| &org.invoices[*i]) {
            if !matches!(field(invoice, "status"), "draft" | "void") {
                outstanding += amount(invoice, "balance");
            }
        }
        for note in mine.creditnotes.iter().map(|i| &org.creditnotes[*i]) {
            if field(note, "status") == "open" {
                credits += amount(note, "balance");
            }
        }
        for payment in mine.payments.iter().map(|i| &org.payments[*i]) {
            credits += amount(payment, "unused_amount");
        }
    }
    let mut balances = HashMap::new();
    balances.insert(id, (outstanding, credits));
    with_balances_from(&balances, record)
}

fn insert(ctx: &mut Ctx<'_>, body: &Record) -> Result<Record, BooksError> {
    let mut record = Record::new();
    fill(ctx, body, &mut record)?;
    let now = timestamp();
    record.insert("contact_id".into(), json!(ctx.id()));
    record.insert("status".into(), json!("active"));
    record.insert("created_time".into(), json!(now));
    record.insert("last_modified_time".into(), json!(now));
    check_name(ctx.org, &record)?;
    check_unique(
        &ctx.org.unique_custom_fields,
        &ctx.org.contacts,
        "contact_id",
        &record,
    )?;
    // A new contact has no transactions yet.
    let record = with_balances_from(&HashMap::new(), &record);
    index_name(ctx.org, None, &record);
    ctx.org.contacts.push(record.clone());
    Ok(record)
}

fn change(ctx: &mut Ctx<'_>, index: usize, body: &Record) -> Result<Record, BooksError> {
    let mut record = ctx.org.contacts[index].clone();
    fill(ctx, body, &mut record)?;
    apply_update(&mut record, &Record::new(), &[]);
    check_name(ctx.org, &record)?;
    check_unique(
        &ctx.org.unique_custom_fields,
        &ctx.org.contacts,
        "contact_id",
        &record,
    )?;
    let record = with_balances(ctx.org, &record);
    let previous = ctx.org.contacts[index].clone();
    index_name(ctx.org, Some(&previous), &record);
    ctx.org.contacts[index] = record.clone();
    Ok(record)
}

pub(super) fn create(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let body = ctx.json()?;
    let record = insert(ctx, &body)?;
    Ok(Reply::created(
        "The contact has been created",
        "contact",
        &record,
    ))
}

pub(super) fn get(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let index = position(&ctx.org.contacts, "contact_id", ctx.param(0), "Contact")?;
    let record = with_balances(ctx.org, &ctx.org.contacts[index]);
    Ok(Reply::ok("success", "contact", &record))
}

pub(super) fn update(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let index = position(&ctx.org.contacts, "contact_id", ctx.param(0), "Contact")?;
    let body = ctx.json()?;
    let record = change(ctx, index, &body)?;
    Ok(Reply::ok(
        "Contact information has been saved.",
        "contact",
        &record,
    ))
}

/// `PUT /contacts` with `X-Unique-Identifier-Key/Value` (and `X-Upsert: true` to create).
pub(super) fn upsert(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    let key = upsert_key(ctx)?;
    let body = upsert_body(ctx, &key)?;
    match find_by_unique(&ctx.org.contacts, &key) {
        Some(index) => {
            let record = change(ctx, index, &body)?;
            Ok(Reply::ok(
                "Contact information has been saved.",
                "contact",
                &record,
            ))
        }
        None if key.create => {
            let record = insert(ctx, &body)?;
            Ok(Reply::upserted(
                "The contact has been created",
                "contact",
                &record,
            ))
        }
        None => Err(BooksError::missing("Contact")),
    }
}

pub(super) fn list(ctx: &mut Ctx<'_>) -> Result<Reply, BooksError> {
    // A search by e-mail or by name reads its index instead of every contact.
    let org = &*ctx.org;
    let contact = |id: &String| {
        position(&org.contacts, "contact_id", id, "Contact")
            .ok()
            .map(|i| &org.contacts[i])
    };
    let candidates: Vec<&Record> = if let Some(email) = ctx.query.get("email") {
        org.contact_emails
            .get(&email.trim().to_lowercase())
            .into_iter()
            .flatten()
            .filter_map(contact)
            .collect()
    } else if let Some(name) = ctx.query.get("contact_name") {
        org.contact_names
            .get(&name.trim().to_lowercase())
            .into_iter()
            .filter_map(contact)
            .collect()
    } else {
        org.contacts.iter().collect()
    };
    let found: Vec<&Record> = candidates
        .into_iter()
        .filter(|c| {
            matches(
                ctx.query,
                c,
                &[
                    "contact_name",
                    "company_name",
                    "email",
                    "first_name",
                    "last_name",
                    "phone",
                    "contact_type",
                ],
                &["contact_name", "company_name", "email"],
            )
        })
        .filter(|c| match ctx.query.get("filter_by").map(String::as_str) {
            None | Some("Status.All") => true,
            Some("Status.Active") => text(c, "status") == "active",
            Some("Status.Inactive") => text(c, "status") == "inactive",
            Some(_) => false,
        })
        .collect();
    // Balances for what is returned: all at once when that is many, else one by one (a
    // search that finds one contact must not add up every organization's transactions).
    let balances = if found.len() > 8 {
        Some(balances(ctx.org))
    } else {
        None
    };
    let rows = found
        .into_iter()
        .map(|c| {
            let c = match &balances {
                Some(all) => with_balances_from(all, c),
                None => with_balances(ctx.org, c),
            };
            let row: Record = [
                "contact_id",
                "contact_name",
                "company_name",
                "contact_type",
                "customer_sub_type",
                "status",
                "currency_id",
                "currency_code",
                "outstanding_receivable_amount",
                "unused_credits_receivable_amount",
                "first_name",
                "last_name",
                "email",
                "phone",
                "created_time",
                "last_modified_time",
            ]
            .into_iter()
            .filter_map(|k| c.get(k).map(|v| (k.to_string(), v.clone())))
            .collect();
            Value::Object(row)
        })
        .collect();
    Ok(Reply::List {
        key: "contacts",
        rows: newest_first(rows),
    })
}
