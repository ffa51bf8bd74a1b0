//! The demo checks its own result: Zoho and Cybersource read back through the sandboxes' own APIs, every order accounted for.

use anyhow::{Context as _, bail};
use paybridge_model::{Currency, Money, OrderStatus};
use paybridge_sandbox::storefront::{CallbackReceiver, Expectation, PlacedOrder};
use paybridge_store::OrderRecord;
use paybridge_store::OrderStore as _;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use url::Url;

use super::DemoEnvironment;
use super::refunds::DemoRefund;
use paybridge_store::RefundStatus;

impl DemoEnvironment {
    /// Checks each refund: refunded in Cybersource once, one refunded credit note in Books,
    /// the storefront told.
    pub async fn verify_refunds(
        &self,
        refunds: &[DemoRefund],
        verification: &mut Verification,
    ) -> anyhow::Result<()> {
        let token = self.zoho_token().await?;
        let notes = self
            .books_list(&token, "creditnotes", "creditnotes")
            .await?;
        let in_cybersource: Vec<_> = self
            .cybersource
            .transactions()
            .into_iter()
            .filter(|t| t.kind == paybridge_sandbox::cybersource::ledger::Kind::Refund)
            .collect();
        let problems = &mut verification.problems;
        for refund in refunds {
            let Some(record) = self.refund_record(refund).await? else {
                problems.push(format!(
                    "{}: refund {} unknown to paybridge",
                    refund.reference, refund.refund_id
                ));
                continue;
            };
            if record.status != RefundStatus::Refunded {
                problems.push(format!(
                    "{}: refund {} is {:?} ({})",
                    refund.reference,
                    record.id,
                    record.status,
                    record.status_detail.as_deref().unwrap_or("no detail")
                ));
                continue;
            }
            let cybersource_id = record.cybersource_refund_id.clone().unwrap_or_default();
            let charged: Vec<_> = in_cybersource
                .iter()
                .filter(|t| t.id == cybersource_id)
                .collect();
            if charged.len() != 1 || charged[0].amount != refund.amount {
                problems.push(format!(
                    "{}: refund {} is not one {} refund in Cybersource",
                    refund.reference, record.id, refund.amount
                ));
            }
            // paybridge's credit note names its refund; one made in Books is the refund's own.
            let its_notes: Vec<&Value> = notes
                .iter()
                .filter(|n| match refund.source {
                    "books" => n["creditnote_id"] == refund.refund_id.as_str(),
                    _ => n["reference_number"] == record.id.as_str(),
                })
                .collect();
            match its_notes.as_slice() {
                [note]
                    if decimal_of(&note["total"]) == Some(refund.amount)
                        && decimal_of(&note["balance"]) == Some(rust_decimal::Decimal::ZERO) => {}
                other => problems.push(format!(
                    "{}: refund {} has {} credit note(s) in Books, expected one of {} paid back",
                    refund.reference,
                    record.id,
                    other.len(),
                    refund.amount
                )),
            }
            let told = self
                .callbacks
                .for_reference(&refund.reference)
                .iter()
                .filter(|c| {
                    c["status"] == "refunded" && c["details"]["refund_id"] == record.id.as_str()
                })
                .count();
            if told != 1 {
                problems.push(format!(
                    "{}: the storefront heard of refund {} {told} times",
                    refund.reference, record.id
                ));
            }
        }
        // Only the refunds made here were made.
        if in_cybersource.len() != refunds.len() {
            problems.push(format!(
                "{} refunds in Cybersource for {} asked for",
                in_cybersource.len(),
                refunds.len()
            ));
        }
        verification.ok = problems.is_empty();
        verification.refunds = refunds.to_vec();
        Ok(())
    }

    /// A Books API address of the demo's organization (`contacts/123`).
    pub(super) fn books_url(&self, path: &str) -> anyhow::Result<Url> {
        let mut url = self.zoho_url().join(&format!("books/v3/{path}"))?;
        url.query_pairs_mut()
            .append_pair("organization_id", &self.organization_id);
        Ok(url)
    }

    /// A fresh access token from the Zoho sandbox's own token endpoint.
    pub(super) async fn zoho_token(&self) -> anyhow::Result<String> {
        let (client_id, client_secret, refresh_token) = &self.zoho_client;
        let answer: Value = self
            .http
            .post(self.zoho_url().join("oauth/v2/token")?)
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", client_id),
                ("client_secret", client_secret),
                ("refresh_token", refresh_token),
            ])
            .send()
            .await?
            .json()
            .await?;
        answer["access_token"]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("no token from the Zoho sandbox: {answer}"))
    }

    /// Every row of a Zoho Books list, read through the sandbox's Books API.
    pub(super) async fn books_list(
        &self,
        token: &str,
        path: &str,
        key: &str,
    ) -> anyhow::Result<Vec<Value>> {
        let mut rows = Vec::new();
        for page in 1.. {
            let mut url = self.books_url(path)?;
            url.query_pairs_mut()
                .append_pair("page", &page.to_string())
                .append_pair("per_page", "200");
            let body: Value = self
                .http
                .get(url)
                .header("Authorization", format!("Zoho-oauthtoken {token}"))
                .send()
                .await?
                .json()
                .await?;
            if body["code"] != 0 {
                bail!("Zoho Books refused to list {path}: {body}");
            }
            rows.extend(body[key].as_array().cloned().unwrap_or_default());
            if body["page_context"]["has_more_page"] != true {
                break;
            }
        }
        Ok(rows)
    }

    /// Every record of a Zoho CRM module, read through the sandbox's CRM API.
    pub(super) async fn crm_list(
        &self,
        token: &str,
        module: &str,
        fields: &str,
    ) -> anyhow::Result<Vec<Value>> {
        let mut rows = Vec::new();
        for page in 1.. {
            let mut url = self.zoho_url().join(&format!("crm/v8/{module}"))?;
            url.query_pairs_mut()
                .append_pair("fields", fields)
                .append_pair("page", &page.to_string())
                .append_pair("per_page", "200");
            let response = self
                .http
                .get(url)
                .header("Authorization", format!("Zoho-oauthtoken {token}"))
                .send()
                .await?;
            // CRM answers an empty module with 204 and no body.
            if response.status() == reqwest::StatusCode::NO_CONTENT {
                break;
            }
            let body: Value = response.json().await?;
            let Some(data) = body["data"].as_array() else {
                bail!("Zoho CRM refused to list {module}: {body}");
            };
            rows.extend(data.iter().cloned());
            if body["info"]["more_records"] != true {
                break;
            }
        }
        Ok(rows)
    }

    /// What Zoho holds, read through its APIs.
    pub async fn books_snapshot(&self) -> anyhow::Result<BooksSnapshot> {
        let token = self.zoho_token().await?;
        Ok(BooksSnapshot {
            contacts: self.books_list(&token, "contacts", "contacts").await?,
            invoices: self.books_list(&token, "invoices", "invoices").await?,
            customer_payments: self
                .books_list(&token, "customerpayments", "customerpayments")
                .await?,
            sales_orders: self
                .books_list(&token, "salesorders", "salesorders")
                .await?,
            crm_contacts: self
                .crm_list(&token, "Contacts", "Email,First_Name,Last_Name")
                .await?,
        })
    }

    /// Checks every order against Zoho Books and Cybersource.
    pub async fn verify(&self, placed: &[PlacedOrder]) -> anyhow::Result<Verification> {
        let books = self.books_snapshot().await?;
        let charges = self.cybersource.payments();
        let store = &self.app.engine.store();
        let mut problems = Vec::new();
        let by = |rows: &[Value], field: &str| {
            let mut map: HashMap<String, Vec<Value>> = HashMap::new();
            for row in rows {
                map.entry(row[field].as_str().unwrap_or_default().to_string())
                    .or_default()
                    .push(row.clone());
            }
            map
        };
        let invoices = by(&books.invoices, "reference_number");
        let payments = by(&books.customer_payments, "reference_number");
        let sales_orders = by(&books.sales_orders, "reference_number");
        let inventory = self.app.engine.connectors().inventory.is_some();
        let crm = self.app.engine.connectors().crm.is_some();
        let mut crm_contacts: HashMap<String, usize> = HashMap::new();
        for contact in &books.crm_contacts {
            *crm_contacts
                .entry(
                    contact["Email"]
                        .as_str()
                        .unwrap_or_default()
                        .to_ascii_lowercase(),
                )
                .or_default() += 1;
        }
        let mut charges_by_reference: HashMap<&str, usize> = HashMap::new();
        for charge in &charges {
            *charges_by_reference
                .entry(charge.merchant_reference.as_str())
                .or_default() += 1;
        }
        let mut synced_emails = HashSet::new();
        for order in placed {
            let reference = &order.plan.reference;
            let Some(record) = store.order_by_reference(reference).await? else {
                problems.push(format!("{reference}: paybridge has no record of it"));
                continue;
            };
            let charged = charges_by_reference
                .get(reference.as_str())
                .copied()
                .unwrap_or(0);
            if charged != 1 {
                problems.push(format!(
                    "{reference}: charged {charged} times in Cybersource"
                ));
            }
            let its_orders = sales_orders.get(reference).map_or(&[][..], Vec::as_slice);
            // An invoice made from a sales order carries the sales order's number.
            let mut its_invoices: Vec<Value> = invoices.get(reference).cloned().unwrap_or_default();
            for sales_order in its_orders {
                if let Some(number) = sales_order["salesorder_number"].as_str() {
                    its_invoices.extend(invoices.get(number).cloned().unwrap_or_default());
                }
            }
            match (order.plan.expectation, record.status) {
                (Expectation::Approve | Expectation::ReviewAccept, OrderStatus::Completed) => {
                    synced_emails.insert(record.customer_email.clone());
                    check_synced(&record, &its_invoices, &payments, &mut problems);
                    if inventory {
                        match its_orders {
                            // Books names a confirmed sales order `open`.
                            [one] if one["status"] == "open" || one["status"] == "confirmed" => {}
                            [one] => problems.push(format!(
                                "{reference}: the sales order is {}, not confirmed",
                                one["status"]
                            )),
                            many => problems.push(format!(
                                "{reference}: {} sales orders in Zoho Inventory (expected 1)",
                                many.len()
                            )),
                        }
                    }
                    let expected: &[&str] = if order.plan.expectation == Expectation::ReviewAccept {
                        &["on_hold", "paid"]
                    } else {
                        &["paid"]
                    };
                    check_callbacks(&self.callbacks, reference, expected, &mut problems);
                    if crm && crm_contacts.get(&record.customer_email).copied() != Some(1) {
                        problems.push(format!(
                            "{reference}: {} CRM contacts for {} (expected 1)",
                            crm_contacts
                                .get(&record.customer_email)
                                .copied()
                                .unwrap_or(0),
                            record.customer_email
                        ));
                    }
                }
                (Expectation::ReviewReject, OrderStatus::Declined) => {
                    // Held, then rejected: on hold, then declined; the draft sales order void
                    // (its customer's contact stays, as in Zoho).
                    synced_emails.insert(record.customer_email.clone());
                    check_callbacks(
                        &self.callbacks,
                        reference,
                        &["on_hold", "declined"],
                        &mut problems,
                    );
                    self.check_decline_email(&record, &mut problems);
                    if !its_invoices.is_empty() || its_orders.iter().any(|o| o["status"] != "void")
                    {
                        problems.push(format!(
                            "{reference}: rejected after review, yet invoiced or its sales order not void"
                        ));
                    }
                }
                (Expectation::Decline, OrderStatus::Declined) => {
                    check_callbacks(&self.callbacks, reference, &["declined"], &mut problems);
                    // A partial authorization is released, never left charged.
                    if record.decline_reason.as_deref() == Some("PARTIAL_AUTHORIZATION")
                        && charges
                            .iter()
                            .any(|c| c.merchant_reference == *reference && !c.voided)
                    {
                        problems.push(format!(
                            "{reference}: declined as a partial authorization, yet its approved part was not voided"
                        ));
                    }
                    self.check_decline_email(&record, &mut problems);
                    if !its_invoices.is_empty() || !its_orders.is_empty() {
                        problems.push(format!(
                            "{reference}: declined, yet {} invoice(s) and {} sales order(s) in Zoho",
                            its_invoices.len(),
                            its_orders.len()
                        ));
                    }
                }
                (expected, actual) => problems.push(format!(
                    "{reference}: expected {expected:?}, paybridge says {actual} ({})",
                    record.status_detail.as_deref().unwrap_or("no detail")
                )),
            }
        }
        // One contact per customer and currency (a Books contact's currency is fixed).
        let mut seen = HashSet::new();
        for contact in &books.contacts {
            let email = contact["email"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let currency = contact["currency_code"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if !seen.insert((email.clone(), currency.clone())) {
                problems.push(format!(
                    "Zoho Books has more than one {currency} contact for {email}"
                ));
            }
        }
        let stray: Vec<&String> = seen
            .iter()
            .map(|(email, _)| email)
            .filter(|e| !synced_emails.contains(*e))
            .collect();
        if !stray.is_empty() {
            problems.push(format!(
                "{} Zoho contact(s) belong to no synced order",
                stray.len()
            ));
        }
        let throttled = self.zoho.stats().throttled;
        if throttled > 0 {
            problems.push(format!(
                "Zoho throttled {throttled} request(s): paybridge's budget let them through"
            ));
        }
        Ok(Verification {
            ok: problems.is_empty(),
            checked_orders: placed.len(),
            problems,
            books,
            refunds: Vec::new(),
            contacts_with_saved_cards: 0,
            contact_changes_to_tms: 0,
            cards_saved: 0,
        })
    }
}

pub(crate) fn decimal_of(value: &Value) -> Option<rust_decimal::Decimal> {
    match value {
        Value::Number(n) => n.to_string().parse().ok(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The storefront heard of the order's changes, each once and in order (and, for a decline,
/// why).
pub(crate) fn check_callbacks(
    callbacks: &CallbackReceiver,
    reference: &str,
    expected: &[&str],
    problems: &mut Vec<String>,
) {
    let heard = callbacks.for_reference(reference);
    let statuses: Vec<&str> = heard
        .iter()
        .map(|c| c["status"].as_str().unwrap_or_default())
        .collect();
    if statuses != expected {
        problems.push(format!(
            "{reference}: the storefront heard {statuses:?} (expected {expected:?})"
        ));
        return;
    }
    if let Some(last) = heard.last()
        && last["status"] == "declined"
        && last["message"].as_str().is_none_or(str::is_empty)
    {
        problems.push(format!(
            "{reference}: the storefront was not told why it was declined"
        ));
    }
}

impl DemoEnvironment {
    /// The declined customer got one e-mail saying why.
    pub(super) fn check_decline_email(&self, record: &OrderRecord, problems: &mut Vec<String>) {
        let reference = &record.reference;
        let to = format!("<{}>", record.customer_email);
        let mails: Vec<_> = self
            .mail
            .messages()
            .into_iter()
            .filter(|m| {
                m.to.contains(&to)
                    && m.header("Subject")
                        .is_some_and(|s| s.ends_with(&format!(" {reference}")))
            })
            .collect();
        match mails.as_slice() {
            [mail] if mail.body().contains("We could not take the") => {}
            [_] => problems.push(format!("{reference}: the decline e-mail does not say why")),
            other => problems.push(format!(
                "{reference}: {} decline e-mails to the customer (expected 1)",
                other.len()
            )),
        }
    }
}

pub(crate) fn check_synced(
    record: &OrderRecord,
    invoices: &[Value],
    payments: &HashMap<String, Vec<Value>>,
    problems: &mut Vec<String>,
) {
    let reference = &record.reference;
    let Ok(currency) = Currency::from_code(&record.currency) else {
        problems.push(format!("{reference}: unknown currency {}", record.currency));
        return;
    };
    let amount = Money::from_minor(record.amount_minor, currency).amount();
    let [invoice] = invoices else {
        problems.push(format!(
            "{reference}: {} invoices in Zoho (expected 1)",
            invoices.len()
        ));
        return;
    };
    if invoice["status"] != "paid" {
        problems.push(format!(
            "{reference}: invoice is {}, not paid",
            invoice["status"]
        ));
    }
    if decimal_of(&invoice["total"]) != Some(amount) {
        problems.push(format!(
            "{reference}: invoice total {} but {amount} was charged",
            invoice["total"]
        ));
    }
    if invoice["invoice_id"].as_str() != record.zoho_invoice_id.as_deref() {
        problems.push(format!("{reference}: paybridge points at another invoice"));
    }
    let transaction = record.payment_id.clone().unwrap_or_default();
    let its_payments = payments.get(&transaction).map_or(&[][..], Vec::as_slice);
    let [payment] = its_payments else {
        problems.push(format!(
            "{reference}: {} customer payments for transaction {transaction} (expected 1)",
            its_payments.len()
        ));
        return;
    };
    let applied_in_full = payment["invoices"].as_array().is_some_and(|applied| {
        applied.len() == 1
            && applied[0]["invoice_id"] == invoice["invoice_id"]
            && decimal_of(&applied[0]["amount_applied"]) == Some(amount)
    });
    if !applied_in_full || decimal_of(&payment["amount"]) != Some(amount) {
        problems.push(format!(
            "{reference}: the customer payment is not {amount} applied to its invoice"
        ));
    }
}

/// Zoho as read back through its APIs.
#[derive(Debug, Clone, Default)]
pub struct BooksSnapshot {
    pub contacts: Vec<Value>,
    pub invoices: Vec<Value>,
    pub customer_payments: Vec<Value>,
    /// Zoho Inventory's (the organization's) sales orders.
    pub sales_orders: Vec<Value>,
    pub crm_contacts: Vec<Value>,
}

#[derive(Debug, Clone)]
pub struct Verification {
    pub ok: bool,
    pub checked_orders: usize,
    pub problems: Vec<String>,
    pub books: BooksSnapshot,
    /// The refunds made and checked (none unless [`DemoEnvironment::refund_some`] ran).
    pub refunds: Vec<DemoRefund>,
    /// Zoho contacts that carry a saved card's tokens, and Books e-mail changes that reached
    /// the TMS customer (none unless [`DemoEnvironment::sync_customers`] ran).
    pub contacts_with_saved_cards: usize,
    pub contact_changes_to_tms: usize,
    /// Approved orders that asked to keep the card.
    pub cards_saved: usize,
}
