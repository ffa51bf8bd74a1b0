//! Decision Manager (reference §3.7): fraud decisions, a merchant's own decisions on review
//! cases (with the capture or reversal that goes with them), and case comments. A reviewer's
//! decision in the Business Center arrives as a `risk.casemanagement.decision.*` webhook.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client::{Client, segment};
use crate::error::Error;
use crate::wire::{BillTo, ClientReference, ErrorInformation};

paybridge_model::open_enum! {
    /// `status` of a decision (conventionally ACCEPT ≙ `ACCEPTED`, REVIEW ≙ `PENDING_REVIEW`,
    /// REJECT ≙ `REJECTED`).
    pub enum DecisionStatus {
        Accepted = "ACCEPTED",
        Rejected = "REJECTED",
        PendingReview = "PENDING_REVIEW",
        Declined = "DECLINED",
        PendingAuthentication = "PENDING_AUTHENTICATION",
        InvalidRequest = "INVALID_REQUEST",
        AuthenticationFailed = "AUTHENTICATION_FAILED",
        Challenge = "CHALLENGE",
    }
}

/// The Decision Manager fields a payment or decision request may carry.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RiskProfile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileName>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProfileName {
    pub name: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DeviceInformation {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint_session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BuyerInformation {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_customer_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionAmount {
    #[serde(with = "rust_decimal::serde::str")]
    pub total_amount: Decimal,
    pub currency: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionOrder {
    pub amount_details: DecisionAmount,
    pub bill_to: BillTo,
}

/// `POST /risk/v1/decisions`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionRequest {
    pub client_reference_information: ClientReference,
    pub order_information: DecisionOrder,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_information: Option<DeviceInformation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buyer_information: Option<BuyerInformation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk_information: Option<RiskProfile>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Score {
    #[serde(default)]
    pub result: Option<String>,
    #[serde(default)]
    pub factor_codes: Vec<String>,
    #[serde(default)]
    pub model_used: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Rule {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub decision: String,
}

/// What Decision Manager says about an order (in a decision and in a payment response).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RiskInformation {
    #[serde(default)]
    pub score: Option<Score>,
    #[serde(default)]
    pub rules: Vec<Rule>,
    #[serde(default)]
    pub info_codes: Option<Value>,
    /// A number in the API description; some answers send it as text.
    #[serde(default)]
    pub case_priority: Option<Value>,
}

impl RiskInformation {
    /// The score as a number, when there is one.
    pub fn score(&self) -> Option<u32> {
        self.score.as_ref()?.result.as_deref()?.trim().parse().ok()
    }

    /// The names of the rules that did not just ignore the order.
    pub fn triggered_rules(&self) -> Vec<&str> {
        self.rules
            .iter()
            .filter(|r| r.decision != "IGNORE")
            .map(|r| r.name.as_str())
            .collect()
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionResponse {
    pub id: String,
    pub status: DecisionStatus,
    #[serde(default)]
    pub submit_time_utc: Option<String>,
    #[serde(default)]
    pub risk_information: RiskInformation,
    #[serde(default)]
    pub error_information: Option<ErrorInformation>,
}

/// A merchant's decision on a review case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseDecision {
    /// Accept; with `capture`, also capture the reviewed authorization.
    Accept { capture: bool },
    /// Reject; with `reverse`, also reverse the reviewed authorization.
    Reject { reverse: bool },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CaseActionRequest<'a> {
    decision_information: DecisionInformation<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    processing_information: Option<ActionList>,
}

#[derive(Serialize)]
struct DecisionInformation<'a> {
    decision: &'static str,
    comments: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ActionList {
    action_list: Vec<&'static str>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CaseActionResponse {
    pub id: String,
    #[serde(default)]
    pub status: Option<String>,
    /// The capture or reversal made with the decision, if any (`_embedded.capture` /
    /// `_embedded.reversal`, each with its status and link).
    #[serde(default, rename = "_embedded")]
    pub embedded: Option<CaseFollowOns>,
}

/// What a case decision did to its payment.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct CaseFollowOns {
    #[serde(default)]
    pub capture: Option<Value>,
    #[serde(default)]
    pub reversal: Option<Value>,
}

impl CaseActionResponse {
    /// Whether the decision captured or reversed the payment.
    pub fn settled(&self) -> bool {
        self.embedded
            .as_ref()
            .is_some_and(|e| e.capture.is_some() || e.reversal.is_some())
    }
}

impl Client {
    pub async fn create_decision(
        &self,
        request: &DecisionRequest,
    ) -> Result<DecisionResponse, Error> {
        Ok(self.post_json("/risk/v1/decisions", request).await?.0)
    }

    /// Decides a review case (`POST /risk/v1/decisions/{id}/actions`); `CAPTURE` goes only
    /// with ACCEPT and `REVERSE` only with REJECT, which the types enforce.
    pub async fn decide_case(
        &self,
        case_id: &str,
        decision: CaseDecision,
        comments: &str,
    ) -> Result<CaseActionResponse, Error> {
        let (decision, action) = match decision {
            CaseDecision::Accept { capture } => ("ACCEPT", capture.then_some("CAPTURE")),
            CaseDecision::Reject { reverse } => ("REJECT", reverse.then_some("REVERSE")),
        };
        let request = CaseActionRequest {
            decision_information: DecisionInformation { decision, comments },
            processing_information: action.map(|a| ActionList {
                action_list: vec![a],
            }),
        };
        let path = format!("/risk/v1/decisions/{}/actions", segment(case_id)?);
        Ok(self.post_json(&path, &request).await?.0)
    }

    pub async fn comment_case(&self, case_id: &str, comments: &str) -> Result<Value, Error> {
        let path = format!("/risk/v1/decisions/{}/comments", segment(case_id)?);
        Ok(self
            .post_json(&path, &serde_json::json!({"comments": comments}))
            .await?
            .0)
    }
}
