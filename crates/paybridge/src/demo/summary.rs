//! The demo's summary: orders, records, calls, webhooks, time and where the data lives — as text or JSON.

use paybridge_model::OrderStatus;
use paybridge_sandbox::storefront::{Expectation, PlacedOrder};
use paybridge_store::{OrderStore as _, RunStore as _};
use serde::Serialize;
use std::collections::HashSet;
use std::time::Duration;

use super::DemoEnvironment;
use super::verify::Verification;

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub orders: usize,
    pub approved: usize,
    pub declined: usize,
    pub on_hold: usize,
    pub failed: usize,
    /// Orders placed by a customer who had ordered before in this run.
    pub returning_customer_orders: usize,
    /// Orders Decision Manager held, then accepted or rejected by a reviewer.
    pub reviews_accepted: usize,
    pub reviews_rejected: usize,
    /// Approved orders by currency (each booked in its own currency in Zoho Books).
    pub approved_by_currency: std::collections::BTreeMap<String, usize>,
    pub zoho_records_created: ZohoRecords,
    pub api_calls: ApiCalls,
    /// Cybersource webhook events received (each committed once, however often delivered).
    pub webhooks: u64,
    /// Refunds made through the order API, in Cybersource and in Books, each booked in Books.
    pub refunds_through_api: usize,
    pub refunds_in_cybersource: usize,
    pub refunds_in_books: usize,
    /// Approved orders that kept their card, Zoho contacts carrying a saved card's tokens, and
    /// Books e-mail changes that reached the TMS customer.
    pub cards_saved: usize,
    pub contacts_with_saved_cards: usize,
    pub contact_changes_to_tms: usize,
    /// Zoho Books webhook events received.
    pub books_webhooks: u64,
    /// E-mails to customers (declined ones told why).
    pub customer_emails: usize,
    /// Signed callbacks the storefront took (each delivery once), and those it refused.
    pub callbacks: usize,
    pub callbacks_refused: usize,
    pub elapsed_ms: u64,
    pub seed: u64,
    pub reference_prefix: String,
    pub data_dir: String,
    pub data_dir_is_temporary: bool,
    pub store: String,
    pub verification: VerificationSummary,
}

#[derive(Debug, Clone, Serialize)]
pub struct ZohoRecords {
    pub crm_contacts: usize,
    pub sales_orders: usize,
    pub sales_orders_confirmed: usize,
    pub contacts: usize,
    pub invoices: usize,
    pub invoices_paid: usize,
    pub customer_payments: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApiCalls {
    pub cybersource: u64,
    pub zoho_accounts: u64,
    pub zoho_books: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerificationSummary {
    pub ok: bool,
    pub checked_orders: usize,
    pub problems: Vec<String>,
}

impl DemoEnvironment {
    pub async fn summary(
        &self,
        placed: &[PlacedOrder],
        verification: &Verification,
        elapsed: Duration,
    ) -> anyhow::Result<Summary> {
        let counts = self.app.engine.store().counts().await?;
        let by_status = |statuses: &[OrderStatus]| -> usize {
            statuses
                .iter()
                .map(|s| {
                    counts
                        .orders_by_status
                        .get(s.as_str())
                        .copied()
                        .unwrap_or(0)
                })
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
                .sum()
        };
        let mut seen = HashSet::new();
        let returning = placed
            .iter()
            .filter(|p| !seen.insert(p.plan.customer_email.clone()))
            .count();
        let books = &verification.books;
        let connectors = &self.app.engine.connectors();
        Ok(Summary {
            orders: placed.len(),
            approved: by_status(&[
                OrderStatus::Approved,
                OrderStatus::Completed,
                OrderStatus::SyncFailed,
            ]),
            declined: by_status(&[OrderStatus::Declined]),
            on_hold: by_status(&[OrderStatus::OnHold]),
            failed: by_status(&[
                OrderStatus::PaymentFailed,
                OrderStatus::PaymentUnknown,
                OrderStatus::SyncFailed,
            ]),
            returning_customer_orders: returning,
            reviews_accepted: placed
                .iter()
                .filter(|p| p.plan.expectation == Expectation::ReviewAccept)
                .count(),
            reviews_rejected: placed
                .iter()
                .filter(|p| p.plan.expectation == Expectation::ReviewReject)
                .count(),
            approved_by_currency: {
                let mut by_currency = std::collections::BTreeMap::new();
                for order in self.app.engine.store().orders(u32::MAX).await? {
                    if order.status == OrderStatus::Completed {
                        *by_currency.entry(order.currency).or_default() += 1;
                    }
                }
                by_currency
            },
            zoho_records_created: ZohoRecords {
                crm_contacts: books.crm_contacts.len(),
                sales_orders: books.sales_orders.len(),
                sales_orders_confirmed: books
                    .sales_orders
                    .iter()
                    .filter(|o| o["status"] == "open" || o["status"] == "confirmed")
                    .count(),
                contacts: books.contacts.len(),
                invoices: books.invoices.len(),
                invoices_paid: books
                    .invoices
                    .iter()
                    .filter(|i| i["status"] == "paid")
                    .count(),
                customer_payments: books.customer_payments.len(),
            },
            api_calls: ApiCalls {
                cybersource: connectors.cybersource.calls(),
                zoho_accounts: connectors.zoho.token_refreshes(),
                zoho_books: connectors.zoho.api_calls(),
            },
            webhooks: counts
                .inbox_by_source
                .get("cybersource-webhook")
                .copied()
                .unwrap_or(0),
            refunds_through_api: verification
                .refunds
                .iter()
                .filter(|r| r.source == "api")
                .count(),
            refunds_in_cybersource: verification
                .refunds
                .iter()
                .filter(|r| r.source == "cybersource")
                .count(),
            refunds_in_books: verification
                .refunds
                .iter()
                .filter(|r| r.source == "books")
                .count(),
            cards_saved: verification.cards_saved,
            contacts_with_saved_cards: verification.contacts_with_saved_cards,
            contact_changes_to_tms: verification.contact_changes_to_tms,
            books_webhooks: counts
                .inbox_by_source
                .get("zoho-webhook")
                .copied()
                .unwrap_or(0),
            customer_emails: self.mail.messages().len(),
            callbacks: self.callbacks.callbacks().deliveries.len(),
            callbacks_refused: self.callbacks.callbacks().refused,
            elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            seed: self.storefront.seed(),
            reference_prefix: self.reference_prefix.clone(),
            data_dir: self.data_dir.display().to_string(),
            data_dir_is_temporary: self.data_dir_is_temporary,
            store: self.app.engine.store().location(),
            verification: VerificationSummary {
                ok: verification.ok,
                checked_orders: verification.checked_orders,
                problems: verification.problems.clone(),
            },
        })
    }
}

/// The summary for people.
pub fn render(summary: &Summary) -> String {
    let s = summary;
    let z = &s.zoho_records_created;
    let a = &s.api_calls;
    let synced = z.customer_payments.max(1);
    let per_order = rust_decimal::Decimal::from(a.zoho_books) / rust_decimal::Decimal::from(synced);
    let mut out = String::new();
    out.push_str(&format!(
        "paybridge demo: {} orders in {}.{:03} s (seed {}, references {}-*)\n\n",
        s.orders,
        s.elapsed_ms / 1000,
        s.elapsed_ms % 1000,
        s.seed,
        s.reference_prefix
    ));
    out.push_str(&format!(
        "  orders       {} approved · {} declined · {} on hold · {} failed ({} from returning customers)\n",
        s.approved, s.declined, s.on_hold, s.failed, s.returning_customer_orders
    ));
    out.push_str(&format!(
        "  reviews      {} held by Decision Manager: {} accepted (captured, booked) · {} rejected (reversed, voided)\n",
        s.reviews_accepted + s.reviews_rejected,
        s.reviews_accepted,
        s.reviews_rejected
    ));
    out.push_str(&format!(
        "  currencies   {}\n",
        s.approved_by_currency
            .iter()
            .map(|(code, n)| format!("{n} {code}"))
            .collect::<Vec<_>>()
            .join(" · ")
    ));
    out.push_str(&format!(
        "  Zoho CRM     {} contacts\n  Zoho Inv.    {} sales orders ({} confirmed)\n",
        z.crm_contacts, z.sales_orders, z.sales_orders_confirmed
    ));
    out.push_str(&format!(
        "  Zoho Books   {} contacts · {} invoices ({} paid) · {} customer payments\n",
        z.contacts, z.invoices, z.invoices_paid, z.customer_payments
    ));
    out.push_str(&format!(
        "  API calls    Cybersource {} · Zoho Accounts {} · Zoho {} ({} per synced order)\n",
        a.cybersource,
        a.zoho_accounts,
        a.zoho_books,
        per_order.round_dp(2)
    ));
    out.push_str(&format!(
        "  webhooks     {} Cybersource and {} Zoho Books events received, verified and processed\n",
        s.webhooks, s.books_webhooks
    ));
    out.push_str(&format!(
        "  refunds      {} through the order API · {} made in Cybersource · {} asked for in Books — each a refunded credit note in Books\n",
        s.refunds_through_api, s.refunds_in_cybersource, s.refunds_in_books
    ));
    out.push_str(&format!(
        "  saved cards  {} orders kept the card · {} Zoho contacts carry their TMS tokens (brand, last four, expiry) · {} e-mail changes in Books sent to TMS\n",
        s.cards_saved, s.contacts_with_saved_cards, s.contact_changes_to_tms
    ));
    out.push_str(&format!(
        "  e-mail       {} declined customers told why (SMTP)\n",
        s.customer_emails
    ));
    out.push_str(&format!(
        "  storefront   {} signed callbacks taken ({} refused)\n",
        s.callbacks, s.callbacks_refused
    ));
    if s.verification.ok {
        out.push_str(&format!(
            "  verified     all {} orders: each approved one is one paid invoice and one payment in Zoho and one charge in Cybersource; no declined order reached Zoho and each declined customer got one e-mail saying why; each refund is one Cybersource refund and one refunded credit note; each saved card is on its Zoho contact and no card number is; the storefront heard of each once\n",
            s.verification.checked_orders
        ));
    } else {
        out.push_str(&format!(
            "  PROBLEMS     {} found:\n",
            s.verification.problems.len()
        ));
        for problem in &s.verification.problems {
            out.push_str(&format!("               - {problem}\n"));
        }
    }
    out.push_str(&format!(
        "  data         {}{} ({})\n",
        s.data_dir,
        if s.data_dir_is_temporary {
            " (temporary directory, kept)"
        } else {
            ""
        },
        s.store
    ));
    out
}
