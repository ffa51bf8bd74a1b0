//! Transaction Search Service (reference §3.5): one transaction's details, and searches by
//! merchant reference, id or time. This is how an unknown outcome is looked up: a payment whose
//! answer never came is searched for by its merchant reference before anything else is done.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::client::{Client, segment};
use crate::error::Error;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    pub name: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub reason_code: Option<String>,
    #[serde(default)]
    pub r_code: Option<String>,
    #[serde(default)]
    pub r_flag: Option<String>,
    #[serde(default)]
    pub r_message: Option<String>,
}

impl Application {
    /// `rCode "1"` means the application succeeded.
    pub fn succeeded(&self) -> bool {
        self.r_code.as_deref() == Some("1")
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationInformation {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub reason_code: Option<String>,
    #[serde(default)]
    pub r_code: Option<String>,
    #[serde(default)]
    pub r_flag: Option<String>,
    #[serde(default)]
    pub applications: Vec<Application>,
}

impl ApplicationInformation {
    /// The application of this legacy name (`ics_auth`, `ics_bill`, `ics_credit`, …), if it ran.
    pub fn application(&self, name: &str) -> Option<&Application> {
        self.applications.iter().find(|a| a.name == name)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchedReference {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub transaction_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchedAmounts {
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub total_amount: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub authorized_amount: Option<Decimal>,
    #[serde(default)]
    pub currency: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchedOrder {
    #[serde(default)]
    pub amount_details: Option<SearchedAmounts>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Link {
    pub href: String,
    #[serde(default)]
    pub method: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DetailLinks {
    #[serde(default, rename = "self")]
    pub self_link: Option<Link>,
    #[serde(default)]
    pub related_transactions: Vec<Link>,
}

/// `GET /tss/v2/transactions/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionDetails {
    pub id: String,
    #[serde(default)]
    pub root_id: Option<String>,
    #[serde(default)]
    pub reconciliation_id: Option<String>,
    #[serde(default)]
    pub merchant_id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    /// Spelled `submitTimeUTC` here (unlike everywhere else).
    #[serde(default, rename = "submitTimeUTC")]
    pub submit_time_utc: Option<String>,
    #[serde(default)]
    pub application_information: ApplicationInformation,
    #[serde(default)]
    pub client_reference_information: SearchedReference,
    #[serde(default)]
    pub order_information: SearchedOrder,
    #[serde(default)]
    pub risk_information: Option<serde_json::Value>,
    #[serde(default, rename = "_links")]
    pub links: DetailLinks,
}

impl TransactionDetails {
    /// Ids of the other transactions of the chain (captures, refunds, reversals, …).
    pub fn related_ids(&self) -> Vec<String> {
        self.links
            .related_transactions
            .iter()
            .filter_map(|l| l.href.rsplit('/').next().map(str::to_string))
            .collect()
    }
}

/// One row of a search answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionSummary {
    pub id: String,
    #[serde(default)]
    pub submit_time_utc: Option<String>,
    #[serde(default)]
    pub merchant_id: Option<String>,
    #[serde(default)]
    pub application_information: ApplicationInformation,
    #[serde(default)]
    pub client_reference_information: SearchedReference,
    #[serde(default)]
    pub order_information: SearchedOrder,
}

impl TransactionSummary {
    /// An authorization (`ics_auth`) that succeeded.
    pub fn is_successful_authorization(&self) -> bool {
        self.application_information
            .application("ics_auth")
            .is_some_and(Application::succeeded)
    }

    pub fn amount(&self) -> Option<Decimal> {
        self.order_information.amount_details.as_ref()?.total_amount
    }
}

/// `POST /tss/v2/searches`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchRequest {
    pub save: bool,
    pub name: String,
    pub timezone: String,
    pub query: String,
    pub offset: u32,
    pub limit: u32,
    pub sort: String,
}

/// A value inside a query, quoted so that spaces, colons and brackets stay literal.
fn quoted(value: &str) -> String {
    let plain = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if plain {
        value.to_string()
    } else {
        format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn instant(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

impl SearchRequest {
    fn with_query(query: String) -> SearchRequest {
        SearchRequest {
            save: false,
            name: "paybridge".into(),
            timezone: "UTC".into(),
            query,
            offset: 0,
            limit: 100,
            sort: "submitTimeUtc:desc".into(),
        }
    }

    /// Transactions with this merchant reference submitted in the last `days` days.
    pub fn by_merchant_reference(code: &str, days: u32) -> SearchRequest {
        SearchRequest::with_query(format!(
            "clientReferenceInformation.code:{} AND submitTimeUtc:[NOW/DAY-{days}DAYS TO NOW/DAY+1DAY}}",
            quoted(code)
        ))
    }

    pub fn by_id(id: &str) -> SearchRequest {
        SearchRequest::with_query(format!("id:{}", quoted(id)))
    }

    /// Transactions submitted in `[from, to)`.
    pub fn by_time(from: OffsetDateTime, to: OffsetDateTime) -> SearchRequest {
        SearchRequest::with_query(format!(
            "submitTimeUtc:[{} TO {}}}",
            instant(from),
            instant(to)
        ))
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchEmbedded {
    #[serde(default)]
    pub transaction_summaries: Vec<TransactionSummary>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchResponse {
    pub search_id: String,
    #[serde(default)]
    pub count: u32,
    #[serde(default)]
    pub total_count: u32,
    #[serde(default, rename = "_embedded")]
    pub embedded: SearchEmbedded,
}

impl SearchResponse {
    pub fn summaries(&self) -> &[TransactionSummary] {
        &self.embedded.transaction_summaries
    }
}

impl Client {
    pub async fn transaction(&self, id: &str) -> Result<TransactionDetails, Error> {
        let path = format!("/tss/v2/transactions/{}", segment(id)?);
        Ok(self.get_json(&path, &[]).await?.0)
    }

    pub async fn search(&self, request: &SearchRequest) -> Result<SearchResponse, Error> {
        Ok(self
            .post_json::<_, SearchResponse>("/tss/v2/searches", request)
            .await?
            .0)
    }

    /// A stored search's answer again.
    pub async fn search_result(&self, search_id: &str) -> Result<SearchResponse, Error> {
        let path = format!("/tss/v2/searches/{}", segment(search_id)?);
        Ok(self.get_json(&path, &[]).await?.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_quote_what_needs_it() {
        assert_eq!(
            SearchRequest::by_merchant_reference("ORDER-1001", 7).query,
            "clientReferenceInformation.code:ORDER-1001 AND submitTimeUtc:[NOW/DAY-7DAYS TO NOW/DAY+1DAY}"
        );
        assert_eq!(SearchRequest::by_id("a b:c").query, r#"id:"a b:c""#);
        let from = time::macros::datetime!(2026-11-01 0:00 UTC);
        let to = time::macros::datetime!(2026-11-02 0:00 UTC);
        assert_eq!(
            SearchRequest::by_time(from, to).query,
            "submitTimeUtc:[2026-11-01T00:00:00Z TO 2026-11-02T00:00:00Z}"
        );
    }

    #[test]
    fn details_parse_the_reference_shape() {
        let details: TransactionDetails = serde_json::from_str(
            r#"{"id":"1","rootId":"1","submitTimeUTC":"2024-10-14T12:00:00Z",
               "applicationInformation":{"applications":[{"name":"ics_auth","rCode":"1","rFlag":"SOK"},{"name":"ics_bill","rCode":"1"}]},
               "_links":{"relatedTransactions":[{"href":"/tss/v2/transactions/2","method":"GET"}]}}"#,
        )
        .unwrap();
        assert!(
            details
                .application_information
                .application("ics_bill")
                .unwrap()
                .succeeded()
        );
        assert_eq!(details.related_ids(), ["2"]);
        assert_eq!(
            details.submit_time_utc.as_deref(),
            Some("2024-10-14T12:00:00Z")
        );
    }
}
