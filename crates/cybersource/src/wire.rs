//! The wire types every Cybersource API shares: the merchant's reference, the bill-to address and
//! the error information of a refused request.

use serde::{Deserialize, Serialize};

use crate::error::ErrorDetail;
use crate::vendor_enums::Reason;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ClientReference {
    /// The merchant reference number (MRN): the order reference.
    pub code: String,
    /// The merchant's own unique id for this request; needed for timeout reversals (§4.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BillTo {
    pub first_name: String,
    pub last_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    pub address1: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address2: Option<String>,
    pub locality: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub administrative_area: Option<String>,
    pub postal_code: String,
    pub country: String,
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ErrorInformation {
    #[serde(default = "unknown_reason")]
    pub reason: Reason,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub details: Vec<ErrorDetail>,
}

fn unknown_reason() -> Reason {
    Reason::Unknown(String::new())
}
