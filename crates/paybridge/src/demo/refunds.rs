//! The demo's refunds from every side — asked through the order API (each twice), made in Cybersource by hand, credit notes issued in Books — and their check.

use anyhow::Context as _;
use paybridge_model::{Currency, Money};
use paybridge_sandbox::storefront::{Expectation, PlacedOrder};
use paybridge_store::{OrderStore as _, RunStore as _};
use paybridge_store::{RefundStatus, RunStatus};
use serde_json::Value;
use std::time::Duration;

use super::DemoEnvironment;

impl DemoEnvironment {
    /// Refunds some approved orders both ways: every third through the order API (half of it,
    /// then the same request again), every fifth by hand in Cybersource (1.00, learnt from its
    /// webhook); waits until each is booked.
    pub async fn refund_some(&self, placed: &[PlacedOrder]) -> anyhow::Result<Vec<DemoRefund>> {
        let store = &self.app.engine.store();
        let mut made = Vec::new();
        let mut books_token: Option<String> = None;
        let approved: Vec<&PlacedOrder> = placed
            .iter()
            .filter(|p| p.plan.expectation == Expectation::Approve)
            .collect();
        for (i, order) in approved.iter().enumerate() {
            let reference = &order.plan.reference;
            let Some(record) = store.order_by_reference(reference).await? else {
                continue;
            };
            let currency = Currency::from_code(&record.currency)?;
            if i % 3 == 0 {
                let half = Money::rounded(
                    Money::from_minor(record.amount_minor, currency).amount()
                        / rust_decimal::Decimal::TWO,
                    currency,
                );
                let url = self
                    .app
                    .url()
                    .join(&format!("api/v1/orders/{}/refunds", record.id))?;
                let body =
                    serde_json::json!({"amount": half.to_decimal_string(), "reason": "returned"});
                let mut answer = Value::Null;
                // The storefront retries its request: one refund, not two.
                for _ in 0..2 {
                    answer = self
                        .http
                        .post(url.clone())
                        .header("Authorization", format!("Bearer {}", self.storefront_key))
                        .header("Idempotency-Key", format!("{reference}-refund-1"))
                        .json(&body)
                        .send()
                        .await?
                        .error_for_status()?
                        .json()
                        .await?;
                }
                made.push(DemoRefund {
                    reference: reference.clone(),
                    refund_id: answer["id"].as_str().unwrap_or_default().to_string(),
                    amount: half.amount(),
                    source: "api",
                });
            } else if i % 5 == 1 {
                use paybridge_cybersource::captures::AmountOnly;
                use paybridge_cybersource::payments::{AmountDetails, ClientReference};
                let amount = rust_decimal::Decimal::ONE;
                let refund = self
                    .cybersource_admin
                    .refund_payment(
                        record.payment_id.as_deref().unwrap_or_default(),
                        &paybridge_cybersource::refunds::RefundRequest {
                            client_reference_information: ClientReference {
                                code: reference.clone(),
                                transaction_id: None,
                            },
                            order_information: AmountOnly {
                                amount_details: AmountDetails {
                                    total_amount: amount,
                                    currency: record.currency.clone(),
                                },
                            },
                        },
                    )
                    .await?;
                made.push(DemoRefund {
                    reference: reference.clone(),
                    refund_id: refund.id,
                    amount,
                    source: "cybersource",
                });
            } else if i % 5 == 3 {
                // Finance issues a credit note in Books against the order's invoice: paybridge
                // refunds it on the card and records the refund on the note.
                let amount = rust_decimal::Decimal::ONE;
                // One access token for all of them (Zoho throttles refreshes).
                if books_token.is_none() {
                    books_token = Some(self.zoho_token().await?);
                }
                let token = books_token.as_deref().unwrap_or_default();
                let creditnote_id = self.credit_note_in_books(token, &record, amount).await?;
                made.push(DemoRefund {
                    reference: reference.clone(),
                    refund_id: creditnote_id,
                    amount,
                    source: "books",
                });
            }
        }
        let engine = &self.app.engine;
        let wait = engine.wait_until(Duration::from_millis(100), || async {
            for refund in &made {
                let found = self.refund_record(refund).await?;
                if found.is_none_or(|r| r.status == RefundStatus::Requested) {
                    return Ok(false);
                }
            }
            let counts = store.counts().await?;
            let busy = [RunStatus::Queued, RunStatus::Running]
                .iter()
                .map(|s| counts.runs_by_status.get(s.as_str()).copied().unwrap_or(0))
                .sum::<u64>();
            Ok(busy == 0)
        });
        tokio::time::timeout(Duration::from_secs(60), wait)
            .await
            .context("not every refund was booked within 60 s")??;
        Ok(made)
    }

    /// paybridge's record of a refund the demo made.
    pub(super) async fn refund_record(
        &self,
        refund: &DemoRefund,
    ) -> Result<Option<paybridge_store::RefundRecord>, paybridge_store::StoreError> {
        let store = &self.app.engine.store();
        match refund.source {
            "api" => store.refund(&refund.refund_id).await,
            "cybersource" => store.refund_by_cybersource_id(&refund.refund_id).await,
            _ => {
                let Some(order) = store.order_by_reference(&refund.reference).await? else {
                    return Ok(None);
                };
                let key = format!("books:creditnote:{}", refund.refund_id);
                Ok(store
                    .refunds_of(&order.id)
                    .await?
                    .into_iter()
                    .find(|r| r.idempotency_key == key))
            }
        }
    }

    /// A credit note for `amount` against the order's invoice, made through the Books API as
    /// the finance team would in Books; its id.
    pub(super) async fn credit_note_in_books(
        &self,
        token: &str,
        order: &paybridge_store::OrderRecord,
        amount: rust_decimal::Decimal,
    ) -> anyhow::Result<String> {
        let mut url = self.books_url("creditnotes")?;
        url.query_pairs_mut().append_pair(
            "invoice_id",
            order.zoho_invoice_id.as_deref().unwrap_or_default(),
        );
        let body: Value = self
            .http
            .post(url)
            .header("Authorization", format!("Zoho-oauthtoken {token}"))
            .json(&serde_json::json!({
                "customer_id": order.zoho_contact_id,
                "date": self.app.engine.clock.today(),
                "line_items": [{"name": "Goodwill refund", "rate": amount.to_string(), "quantity": 1}],
                "notes": "Refund to the customer's card.",
            }))
            .send()
            .await?
            .json()
            .await?;
        body["creditnote"]["creditnote_id"]
            .as_str()
            .map(str::to_string)
            .with_context(|| {
                format!(
                    "Books refused the credit note for {}: {body}",
                    order.reference
                )
            })
    }
}

/// A refund the demo made: through the order API, or in Cybersource by hand.
#[derive(Debug, Clone)]
pub struct DemoRefund {
    pub reference: String,
    /// paybridge's refund id (`api`) or Cybersource's (`cybersource`).
    pub refund_id: String,
    pub amount: rust_decimal::Decimal,
    pub source: &'static str,
}
