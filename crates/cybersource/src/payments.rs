//! Authorizations and sales: `POST /pts/v2/payments` (reference §3.2, §3.3).

use std::fmt;

use rust_decimal::Decimal;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

use crate::client::Client;
use crate::error::Error;
pub use crate::vendor_enums::{PaymentStatus, Reason};
pub use crate::wire::{BillTo, ClientReference, ErrorInformation};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequest {
    pub client_reference_information: ClientReference,
    pub processing_information: ProcessingInformation,
    pub payment_information: PaymentInformation,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_information: Option<TokenInformation>,
    pub order_information: OrderInformation,
    /// Decision Manager: the profile to screen with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk_information: Option<crate::risk::RiskProfile>,
    /// Decision Manager: the shopper's device.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_information: Option<crate::risk::DeviceInformation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buyer_information: Option<crate::risk::BuyerInformation>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessingInformation {
    /// `true` authorizes and captures in one request (a sale).
    pub capture: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commerce_indicator: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub action_list: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub action_token_types: Vec<String>,
}

/// How the customer pays: a card passed through, or a token Cybersource already holds.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentInformation {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card: Option<Card>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<TokenId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_instrument: Option<TokenId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instrument_identifier: Option<TokenId>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenId {
    pub id: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenInformation {
    pub transient_token_jwt: String,
}

/// A card on its way to Cybersource. The number and security code are secrets: they print as
/// `**REDACTED**` and are exposed only when the request body is serialized.
#[derive(Clone)]
pub struct Card {
    pub number: SecretString,
    pub expiration_month: String,
    pub expiration_year: String,
    pub security_code: Option<SecretString>,
    /// Cybersource card type code (`001` Visa, `002` Mastercard, `003` Amex, `004` Discover).
    pub card_type: Option<String>,
}

impl fmt::Debug for Card {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Card")
            .field("number", &"**REDACTED**")
            .field("expiration_month", &self.expiration_month)
            .field("expiration_year", &self.expiration_year)
            .field(
                "security_code",
                &self.security_code.as_ref().map(|_| "**REDACTED**"),
            )
            .finish()
    }
}

impl Serialize for Card {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Wire<'a> {
            number: &'a str,
            expiration_month: &'a str,
            expiration_year: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            security_code: Option<&'a str>,
            #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
            card_type: Option<&'a str>,
        }
        Wire {
            number: self.number.expose_secret(),
            expiration_month: &self.expiration_month,
            expiration_year: &self.expiration_year,
            security_code: self.security_code.as_ref().map(|c| c.expose_secret()),
            card_type: self.card_type.as_deref(),
        }
        .serialize(s)
    }
}

/// The Cybersource card type code for a brand, when there is one.
pub fn card_type_code(brand: paybridge_model::CardBrand) -> Option<&'static str> {
    use paybridge_model::CardBrand;
    match brand {
        CardBrand::Visa => Some("001"),
        CardBrand::Mastercard => Some("002"),
        CardBrand::Amex => Some("003"),
        CardBrand::Discover => Some("004"),
        CardBrand::DinersClub => Some("005"),
        CardBrand::Jcb => Some("007"),
        CardBrand::Maestro => Some("042"),
        CardBrand::UnionPay => Some("062"),
        CardBrand::Unknown => None,
    }
}

/// The brand of a Cybersource card type code (`001` → Visa).
pub fn brand_of_card_type(code: &str) -> paybridge_model::CardBrand {
    use paybridge_model::CardBrand;
    [
        CardBrand::Visa,
        CardBrand::Mastercard,
        CardBrand::Amex,
        CardBrand::Discover,
        CardBrand::DinersClub,
        CardBrand::Jcb,
        CardBrand::Maestro,
        CardBrand::UnionPay,
    ]
    .into_iter()
    .find(|brand| card_type_code(*brand) == Some(code.trim()))
    .unwrap_or(CardBrand::Unknown)
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderInformation {
    pub amount_details: AmountDetails,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bill_to: Option<BillTo>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub line_items: Vec<LineItem>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AmountDetails {
    /// Sent as a decimal string (`"102.21"`), never a float.
    #[serde(with = "rust_decimal::serde::str")]
    pub total_amount: Decimal,
    pub currency: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LineItem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_sku: Option<String>,
    pub product_name: String,
    pub quantity: u32,
    #[serde(with = "rust_decimal::serde::str")]
    pub unit_price: Decimal,
}

/// The answer to an authorization or sale. Approvals *and* declines come as HTTP 201: always
/// look at [`status`](PaymentResponse::status).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentResponse {
    pub id: String,
    pub status: PaymentStatus,
    #[serde(default)]
    pub submit_time_utc: Option<String>,
    #[serde(default)]
    pub reconciliation_id: Option<String>,
    #[serde(default)]
    pub client_reference_information: Option<ClientReference>,
    #[serde(default)]
    pub order_information: Option<ResponseOrderInformation>,
    #[serde(default)]
    pub processor_information: Option<ProcessorInformation>,
    #[serde(default)]
    pub error_information: Option<ErrorInformation>,
    #[serde(default)]
    pub risk_information: Option<crate::risk::RiskInformation>,
    #[serde(default)]
    pub token_information: Option<serde_json::Value>,
    /// Cybersource's `v-c-correlation-id` for this answer (not part of the body).
    #[serde(skip)]
    pub correlation_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseOrderInformation {
    #[serde(default)]
    pub amount_details: Option<ResponseAmountDetails>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseAmountDetails {
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub authorized_amount: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub total_amount: Option<Decimal>,
    #[serde(default)]
    pub currency: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessorInformation {
    #[serde(default)]
    pub approval_code: Option<String>,
    #[serde(default)]
    pub response_code: Option<String>,
    #[serde(default)]
    pub transaction_id: Option<String>,
    #[serde(default)]
    pub network_transaction_id: Option<String>,
}

/// What a payment answer means for the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// The full amount was authorized (and captured, for a sale).
    Approved,
    /// Authorized (or about to be) but held: Decision Manager review, or 3-D Secure first.
    Held { reason: String },
    /// The issuer approved only part of the amount (`PARTIAL_AUTHORIZED`): that part is
    /// authorized (and captured, for a sale) and must be reversed, or the rest taken another way.
    PartiallyApproved {
        authorized: Option<Decimal>,
        requested: Option<Decimal>,
    },
    /// Not approved: the card, the issuer, fraud screening or the request said no.
    Declined { reason: Reason, message: String },
    /// A status that says neither yes nor no: `SERVER_ERROR` in a 201, or one this version
    /// does not know. The money may have moved; a person must look before anything follows.
    Unknown { status: String, message: String },
}

impl PaymentResponse {
    pub fn outcome(&self) -> PaymentOutcome {
        let reason = || {
            self.error_information
                .as_ref()
                .map(|e| e.reason.clone())
                .unwrap_or(Reason::Unknown(String::new()))
        };
        let message = || {
            self.error_information
                .as_ref()
                .and_then(|e| e.message.clone())
                .unwrap_or_else(|| reason().describe().to_string())
        };
        match &self.status {
            PaymentStatus::Authorized => PaymentOutcome::Approved,
            PaymentStatus::PartialAuthorized => PaymentOutcome::PartiallyApproved {
                authorized: self.authorized_amount(),
                requested: self
                    .order_information
                    .as_ref()
                    .and_then(|o| o.amount_details.as_ref())
                    .and_then(|a| a.total_amount),
            },
            PaymentStatus::AuthorizedPendingReview | PaymentStatus::PendingReview => {
                PaymentOutcome::Held {
                    reason: format!("held for review: {}", message()),
                }
            }
            PaymentStatus::PendingAuthentication => PaymentOutcome::Held {
                reason: "the cardholder must authenticate (3-D Secure)".into(),
            },
            PaymentStatus::AuthorizedRiskDeclined
            | PaymentStatus::Declined
            | PaymentStatus::InvalidRequest => PaymentOutcome::Declined {
                reason: reason(),
                message: message(),
            },
            PaymentStatus::ServerError | PaymentStatus::Unknown(_) => PaymentOutcome::Unknown {
                status: self.status.as_str().to_string(),
                message: message(),
            },
        }
    }

    pub fn authorized_amount(&self) -> Option<Decimal> {
        self.order_information
            .as_ref()?
            .amount_details
            .as_ref()?
            .authorized_amount
    }
}

impl Client {
    /// Authorizes a payment, or authorizes and captures it when `processing_information.capture`
    /// is true. A decline is an `Ok` answer with a declining status, not an error.
    pub async fn create_payment(&self, request: &PaymentRequest) -> Result<PaymentResponse, Error> {
        let (mut response, correlation_id): (PaymentResponse, _) =
            self.post_json("/pts/v2/payments", request).await?;
        response.correlation_id = correlation_id;
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> PaymentRequest {
        PaymentRequest {
            client_reference_information: ClientReference {
                code: "ORDER-1001".into(),
                transaction_id: None,
            },
            processing_information: ProcessingInformation {
                capture: true,
                commerce_indicator: None,
                action_list: vec![],
                action_token_types: vec![],
            },
            payment_information: PaymentInformation {
                card: Some(Card {
                    number: SecretString::from("4111111111111111"),
                    expiration_month: "12".into(),
                    expiration_year: "2031".into(),
                    security_code: None,
                    card_type: None,
                }),
                ..PaymentInformation::default()
            },
            token_information: None,
            risk_information: None,
            device_information: None,
            buyer_information: None,
            order_information: OrderInformation {
                amount_details: AmountDetails {
                    total_amount: Decimal::new(10221, 2),
                    currency: "USD".into(),
                },
                bill_to: Some(BillTo {
                    first_name: "John".into(),
                    last_name: "Doe".into(),
                    company: None,
                    address1: "1 Market St".into(),
                    address2: None,
                    locality: "San Francisco".into(),
                    administrative_area: Some("CA".into()),
                    postal_code: "94105".into(),
                    country: "US".into(),
                    email: "test@example.com".into(),
                    phone_number: None,
                }),
                line_items: vec![],
            },
        }
    }

    /// Serialized exactly like reference vector A, so the signer's vector applies to what we send.
    #[test]
    fn request_serializes_to_the_reference_body() {
        let body = serde_json::to_string(&request()).unwrap();
        assert_eq!(
            body,
            r#"{"clientReferenceInformation":{"code":"ORDER-1001"},"processingInformation":{"capture":true},"paymentInformation":{"card":{"number":"4111111111111111","expirationMonth":"12","expirationYear":"2031"}},"orderInformation":{"amountDetails":{"totalAmount":"102.21","currency":"USD"},"billTo":{"firstName":"John","lastName":"Doe","address1":"1 Market St","locality":"San Francisco","administrativeArea":"CA","postalCode":"94105","country":"US","email":"test@example.com"}}}"#
        );
    }

    #[test]
    fn debug_output_never_shows_the_card() {
        let printed = format!("{:?}", request());
        assert!(!printed.contains("4111111111111111"), "{printed}");
    }

    #[test]
    fn declines_are_outcomes_with_lenient_reasons() {
        let declined: PaymentResponse = serde_json::from_str(
            r#"{"id":"6021683934456376603262","status":"DECLINED",
               "errorInformation":{"reason":"PROCESSOR_DECLINED","message":"Decline - General decline of the card."},
               "clientReferenceInformation":{"code":"EDX-43544589"},
               "_links":{"self":{"href":"/pts/v2/payments/6021683934456376603262","method":"GET"}}}"#,
        )
        .unwrap();
        assert_eq!(
            declined.outcome(),
            PaymentOutcome::Declined {
                reason: Reason::ProcessorDeclined,
                message: "Decline - General decline of the card.".into()
            }
        );
        let odd: PaymentResponse = serde_json::from_str(
            r#"{"id":"1","status":"SOMETHING_NEW","errorInformation":{"reason":"REJECT"}}"#,
        )
        .unwrap();
        assert_eq!(odd.status, PaymentStatus::Unknown("SOMETHING_NEW".into()));
        // Unknown means unknown: not a decline (the money may have moved).
        assert!(
            matches!(odd.outcome(), PaymentOutcome::Unknown { status, .. } if status == "SOMETHING_NEW")
        );
        let failed: PaymentResponse = serde_json::from_str(
            r#"{"id":"2","status":"SERVER_ERROR","errorInformation":{"reason":"SYSTEM_ERROR","message":"Error - General system failure."}}"#,
        )
        .unwrap();
        assert_eq!(
            failed.outcome(),
            PaymentOutcome::Unknown {
                status: "SERVER_ERROR".into(),
                message: "Error - General system failure.".into()
            }
        );
        let partial: PaymentResponse = serde_json::from_str(
            r#"{"id":"3","status":"PARTIAL_AUTHORIZED","orderInformation":{"amountDetails":{"totalAmount":"3085","authorizedAmount":"1542","currency":"JPY"}}}"#,
        )
        .unwrap();
        assert_eq!(
            partial.outcome(),
            PaymentOutcome::PartiallyApproved {
                authorized: Some(Decimal::from(1542)),
                requested: Some(Decimal::from(3085))
            }
        );
    }

    #[test]
    fn approval_parses_the_reference_example() {
        let approved: PaymentResponse = serde_json::from_str(
            r#"{"_links":{"self":{"method":"GET","href":"/pts/v2/payments/6750124114786780104953"}},
               "clientReferenceInformation":{"code":"ORDER-1001"},"id":"6750124114786780104953",
               "orderInformation":{"amountDetails":{"authorizedAmount":"102.21","currency":"USD"}},
               "processorInformation":{"approvalCode":"888888","networkTransactionId":"123456789619999","transactionId":"123456789619999","responseCode":"100"},
               "reconciliationId":"78243988SD9YL291","status":"AUTHORIZED","submitTimeUtc":"2023-01-29T17:13:31Z"}"#,
        )
        .unwrap();
        assert_eq!(approved.outcome(), PaymentOutcome::Approved);
        assert_eq!(approved.authorized_amount(), Some(Decimal::new(10221, 2)));
    }
}
