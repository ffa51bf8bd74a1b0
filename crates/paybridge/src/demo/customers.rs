//! The demo's saved cards: the tokens on the Zoho contacts, and e-mails corrected in Books reaching Cybersource.

use anyhow::bail;
use paybridge_sandbox::storefront::{Expectation, PlacedOrder};
use paybridge_store::OrderStore as _;
use serde_json::Value;
use std::time::Duration;

use super::DemoEnvironment;
use super::verify::Verification;

impl DemoEnvironment {
    /// Customer and token sync, both ways: every saved card is on its customer's Books
    /// contact (TMS customer, brand, last four, expiry — and nothing like a card number), and
    /// the finance team's change of a few of those contacts' e-mail in Books reaches their TMS
    /// customers.
    pub async fn sync_customers(
        &self,
        placed: &[PlacedOrder],
        verification: &mut Verification,
    ) -> anyhow::Result<()> {
        let store = &self.app.engine.store();
        let token = self.zoho_token().await?;
        // The saved cards' contacts, each with the last four of the card saved.
        let mut saved: std::collections::BTreeMap<String, String> = Default::default();
        let saving: Vec<&PlacedOrder> = placed
            .iter()
            .filter(|p| {
                p.plan.body["payment"]["save_card"] == true
                    && p.plan.expectation == Expectation::Approve
            })
            .collect();
        verification.cards_saved = saving.len();
        for order in saving {
            let Some(record) = store.order_by_reference(&order.plan.reference).await? else {
                continue;
            };
            let (Some(contact_id), Some(number)) = (
                record.zoho_contact_id.clone(),
                order.plan.body["payment"]["card"]["number"].as_str(),
            ) else {
                continue;
            };
            saved.insert(
                contact_id,
                number[number.len().saturating_sub(4)..].to_string(),
            );
        }
        let mut tms_customers = Vec::new();
        for (contact_id, last4) in &saved {
            let contact = self.books_contact(&token, contact_id).await?;
            let field = |name: &str| {
                contact["custom_fields"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|f| f["api_name"] == name)
                    .and_then(|f| f["value"].as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            let customer = field("cf_cybersource_customer");
            if customer.is_empty() || field("cf_card_last4") != *last4 {
                verification.problems.push(format!(
                    "Books contact {contact_id} does not carry its saved card (TMS customer {customer:?}, last four {:?})",
                    field("cf_card_last4")
                ));
                continue;
            }
            if paybridge_model::pan::find_in_json(&contact).is_empty() {
                tms_customers.push((contact_id.clone(), customer, contact));
            } else {
                verification
                    .problems
                    .push(format!("Books contact {contact_id} holds a card number"));
            }
        }
        // Finance corrects three customers' e-mail in Books; Books' webhook tells paybridge.
        let mut changed = Vec::new();
        for (contact_id, customer, contact) in tms_customers.iter().take(3) {
            let email = format!(
                "billing.{}",
                contact["email"].as_str().unwrap_or("customer@example.com")
            );
            let url = self.books_url(&format!("contacts/{contact_id}"))?;
            let answer: Value = self
                .http
                .put(url)
                .header("Authorization", format!("Zoho-oauthtoken {token}"))
                .json(&serde_json::json!({"contact_persons": [{
                    "first_name": contact["first_name"], "last_name": contact["last_name"],
                    "email": email, "is_primary_contact": true,
                }]}))
                .send()
                .await?
                .json()
                .await?;
            if answer["code"] != 0 {
                bail!("Books refused the contact change: {answer}");
            }
            changed.push((customer.clone(), email));
        }
        let admin = &self.cybersource_admin;
        let wait = self
            .app
            .engine
            .wait_until(Duration::from_millis(100), || async {
                for (customer, email) in &changed {
                    let found = admin
                        .customer(customer)
                        .await
                        .map_err(|e| paybridge_store::StoreError::Corrupt(e.to_string()))?;
                    if found.buyer_information.and_then(|b| b.email).as_deref()
                        != Some(email.as_str())
                    {
                        return Ok(false);
                    }
                }
                Ok(true)
            });
        if tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .is_err()
        {
            verification.problems.push(
                "a Books contact's new e-mail did not reach its TMS customer within 30 s".into(),
            );
        }
        verification.contacts_with_saved_cards = tms_customers.len();
        verification.contact_changes_to_tms = changed.len();
        verification.ok = verification.problems.is_empty();
        Ok(())
    }

    pub(super) async fn books_contact(
        &self,
        token: &str,
        contact_id: &str,
    ) -> anyhow::Result<Value> {
        let url = self.books_url(&format!("contacts/{contact_id}"))?;
        let body: Value = self
            .http
            .get(url)
            .header("Authorization", format!("Zoho-oauthtoken {token}"))
            .send()
            .await?
            .json()
            .await?;
        if body["code"] != 0 {
            bail!("Zoho Books refused contact {contact_id}: {body}");
        }
        Ok(body["contact"].clone())
    }
}
