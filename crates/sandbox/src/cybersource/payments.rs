//! `POST /pts/v2/payments`: authorizations and sales (reference §3.2–§3.3, §3.9, §4.1–§4.2).
//!
//! Outcomes follow the real test environment, and where it has no convention, this simulator's
//! documented magic values:
//!
//! | input | outcome |
//! |---|---|
//! | whole amounts 2000–2099 | processor code = last two digits (§3.9 table), e.g. 2051 `INSUFFICIENT_FUND`, 2006/2028 and 2091 answer 502 |
//! | whole amounts 3000–3099 | `PARTIAL_AUTHORIZED` for half the amount |
//! | billing postal code `46282` | `DECLINED` / `PROCESSOR_DECLINED` |
//! | billing e-mail starting `dm-review` | `AUTHORIZED_PENDING_REVIEW` / `DECISION_PROFILE_REVIEW` (Decision Manager review) |
//! | billing e-mail starting `dm-reject` | `AUTHORIZED_RISK_DECLINED` / `DECISION_PROFILE_REJECT` |
//! | billing e-mail starting `dm-prereview` | `PENDING_REVIEW` / `DECISION_PROFILE_REVIEW`, nothing authorized |
//! | billing e-mail starting `3ds-` | `PENDING_AUTHENTICATION` / `CONSUMER_AUTHENTICATION_REQUIRED`, nothing authorized |
//! | an expiry in the past | `DECLINED` / `EXPIRED_CARD` |
//! | anything else | `AUTHORIZED` (`approvalCode 888888`, `responseCode 100`) |

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::ledger::{Kind, Transaction};
use super::risk::risk_block;
use super::wire::{FieldCheck, Refusal, hal, now_utc, text, utc};
use super::{CybersourceSandbox, Merchant};
use crate::ids;

/// What the test environment does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Approve,
    /// Authorized for this share of the amount (a half).
    PartialApprove,
    Review,
    /// Decision Manager reviews before any authorization (`PENDING_REVIEW`).
    PreReview,
    /// 3-D Secure must run first (`PENDING_AUTHENTICATION`).
    Authenticate,
    RiskDecline,
    Decline {
        reason: &'static str,
        /// The processor's response code (`processorInformation.responseCode`): a trigger
        /// amount's last two digits.
        processor_code: u8,
    },
    /// HTTP 502; nothing is created.
    ServerError {
        reason: &'static str,
    },
}

/// The magic amounts of reference §3.9: whole amounts 2000–2099 answer with the processor code
/// of their last two digits. Codes the table does not list decline as a general decline; 2000
/// (code 00) approves. Whole amounts 3000–3099 are partially approved. Others approve.
pub fn magic_amount_outcome(amount: Decimal) -> Outcome {
    let whole = amount.fract() == Decimal::ZERO;
    if whole && amount >= Decimal::from(3000) && amount <= Decimal::from(3099) {
        return Outcome::PartialApprove;
    }
    if !whole || amount < Decimal::from(2000) || amount > Decimal::from(2099) {
        return Outcome::Approve;
    }
    let code = (amount - Decimal::from(2000)).normalize().mantissa();
    let processor_code = u8::try_from(code).unwrap_or(5);
    let decline = |reason| Outcome::Decline {
        reason,
        processor_code,
    };
    match code {
        0 => Outcome::Approve,
        1 | 2 => decline("CONTACT_PROCESSOR"),
        3 => decline("INVALID_MERCHANT_CONFIGURATION"),
        4 | 7 | 41 | 43 => decline("STOLEN_LOST_CARD"),
        5 => decline("PROCESSOR_DECLINED"),
        6 | 28 => Outcome::ServerError {
            reason: "SYSTEM_ERROR",
        },
        12 | 13 | 79 => decline("PROCESSOR_DECLINED"),
        14 => decline("INVALID_ACCOUNT"),
        51 => decline("INSUFFICIENT_FUND"),
        54 => decline("EXPIRED_CARD"),
        91 => Outcome::ServerError {
            reason: "SERVER_TIMEOUT",
        },
        _ => decline("PROCESSOR_DECLINED"),
    }
}

/// The billing postal code the test server declines for any card (reference §3.9).
const DECLINING_POSTAL_CODE: &str = "46282";

fn decline_message(reason: &str) -> &'static str {
    match reason {
        "INSUFFICIENT_FUND" => "Decline - Insufficient funds in the account.",
        "EXPIRED_CARD" => {
            "Decline - Expired card. You might also receive this if the expiration date you provided does not match the date the issuing bank has on file."
        }
        "STOLEN_LOST_CARD" => "Decline - Stolen or lost card.",
        "CONTACT_PROCESSOR" => {
            "Decline - The issuing bank has questions about the request. You do not receive an authorization code programmatically, but you might receive one verbally by calling the processor."
        }
        "INVALID_ACCOUNT" => "Decline - Invalid account number",
        "INVALID_MERCHANT_CONFIGURATION" => {
            "Decline - There is a problem with the information in your CyberSource account."
        }
        "DECISION_PROFILE_REVIEW" => "Decision Manager flagged the order for review.",
        "DECISION_PROFILE_REJECT" => "Decision Manager rejected the order.",
        "CONSUMER_AUTHENTICATION_REQUIRED" => {
            "The cardholder must be authenticated (3-D Secure) before the authorization."
        }
        _ => {
            "Decline - General decline of the card. No other information provided by the issuing bank."
        }
    }
}

pub(super) fn luhn(digits: &str) -> bool {
    let mut sum = 0;
    for (i, b) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

/// Field lengths from the API description (ptsV2PaymentsPost request).
const LIMITS: &[(&str, usize)] = &[
    ("clientReferenceInformation.code", 50),
    ("clientReferenceInformation.transactionId", 30),
    ("orderInformation.billTo.firstName", 60),
    ("orderInformation.billTo.lastName", 60),
    ("orderInformation.billTo.company", 60),
    ("orderInformation.billTo.address1", 60),
    ("orderInformation.billTo.address2", 60),
    ("orderInformation.billTo.locality", 50),
    ("orderInformation.billTo.administrativeArea", 20),
    ("orderInformation.billTo.postalCode", 10),
    ("orderInformation.billTo.country", 2),
    ("orderInformation.billTo.email", 255),
    ("orderInformation.billTo.phoneNumber", 15),
];

pub(super) async fn create(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    body: Bytes,
) -> Response {
    let Ok(mut request) = serde_json::from_slice::<Value>(&body) else {
        return sandbox.refuse(&Refusal::new("INVALID_DATA"));
    };
    // Paid with a TMS customer or payment instrument and no billTo: the instrument's billing
    // address is the payment's, as Cybersource fills it in from the token.
    if request.pointer("/orderInformation/billTo").is_none() {
        let customer = text(&request, "paymentInformation.customer.id").map(str::to_string);
        let instrument =
            text(&request, "paymentInformation.paymentInstrument.id").map(str::to_string);
        if (customer.is_some() || instrument.is_some())
            && let Ok(card) = sandbox.vault().resolve(
                &merchant.0,
                customer.as_deref(),
                instrument.as_deref(),
                None,
            )
            && let (Some(bill_to), Some(order)) = (
                card.bill_to,
                request
                    .get_mut("orderInformation")
                    .and_then(Value::as_object_mut),
            )
        {
            order.insert("billTo".into(), bill_to);
        }
    }
    let mut check = FieldCheck::default();
    let mrn = check
        .text(&request, "clientReferenceInformation.code", true)
        .unwrap_or_default();
    let currency = check.currency(&request, "orderInformation.amountDetails.currency", true);
    for field in [
        "firstName",
        "lastName",
        "address1",
        "locality",
        "country",
        "email",
    ] {
        check.text(&request, &format!("orderInformation.billTo.{field}"), true);
    }
    let country = text(&request, "orderInformation.billTo.country")
        .unwrap_or_default()
        .to_string();
    let us_or_ca = matches!(country.as_str(), "US" | "CA");
    let postal_code = check.text(&request, "orderInformation.billTo.postalCode", us_or_ca);
    check.text(
        &request,
        "orderInformation.billTo.administrativeArea",
        us_or_ca,
    );
    let amount = check
        .amount(&request, "orderInformation.amountDetails.totalAmount", true)
        .unwrap_or_default();
    check.max_lengths(&request, LIMITS);

    // The payment method: a card, or tokens the vault resolves to one.
    let mut card_number =
        text(&request, "paymentInformation.card.number").map(|n| n.replace([' ', '-'], ""));
    let mut expiration = None;
    let mut vault_card_type = None;
    let customer_token = text(&request, "paymentInformation.customer.id");
    let instrument_token = text(&request, "paymentInformation.paymentInstrument.id");
    let identifier_token = text(&request, "paymentInformation.instrumentIdentifier.id");
    let transient_jwt = text(&request, "tokenInformation.transientTokenJwt");
    let transient_jti = text(&request, "tokenInformation.jti");
    if card_number.is_none() && (transient_jwt.is_some() || transient_jti.is_some()) {
        match sandbox.spend_transient(&merchant.0, transient_jwt, transient_jti) {
            Ok(card) => {
                card_number = Some(card.number);
                vault_card_type = card.card_type;
                expiration = card.expiration.and_then(|(month, year)| {
                    Some((
                        month.parse::<u8>().ok()?,
                        year.parse::<i32>().ok()?,
                        month,
                        year,
                    ))
                });
            }
            Err(field) => check.invalid.push(field.to_string()),
        }
    } else if card_number.is_none()
        && (customer_token.is_some() || instrument_token.is_some() || identifier_token.is_some())
    {
        match sandbox.vault().resolve(
            &merchant.0,
            customer_token,
            instrument_token,
            identifier_token,
        ) {
            Ok(card) => {
                card_number = Some(card.number);
                vault_card_type = card.card_type;
                if let Some((month, year)) = card.expiration {
                    expiration = month
                        .parse::<u8>()
                        .ok()
                        .zip(year.parse::<i32>().ok())
                        .map(|(m, y)| (m, y, month, year));
                }
            }
            Err(field) => check.invalid.push(field.to_string()),
        }
    }
    match &card_number {
        Some(number) => {
            if !(12..=19).contains(&number.len())
                || !number.bytes().all(|b| b.is_ascii_digit())
                || !luhn(number)
            {
                check.invalid.push("paymentInformation.card.number".into());
            }
            if expiration.is_none() {
                let month = check.text(&request, "paymentInformation.card.expirationMonth", true);
                let year = check.text(&request, "paymentInformation.card.expirationYear", true);
                if let (Some(month), Some(year)) = (month, year) {
                    match (month.parse::<u8>(), year.parse::<i32>()) {
                        (Ok(m), Ok(y)) if (1..=12).contains(&m) && y >= 1000 => {
                            expiration = Some((m, y, month, year))
                        }
                        _ => check
                            .invalid
                            .push("paymentInformation.card.expirationMonth".into()),
                    }
                }
            }
        }
        None if !check.invalid.is_empty() => {}
        None => check.missing.push("paymentInformation.card.number".into()),
    }
    let transaction_id =
        text(&request, "clientReferenceInformation.transactionId").map(str::to_string);
    if let Some(refusal) = check.refusal() {
        return sandbox.refuse(&refusal);
    }
    let currency = currency.unwrap_or_default();

    // Merchant transaction ids are unique per merchant (reused: INVALID_DATA, reference §4.2).
    if let Some(tid) = &transaction_id
        && sandbox.inner.config.unique_transaction_ids
        && sandbox.ledger().transaction_id_taken(&merchant.0, tid)
    {
        return sandbox.refuse(
            &Refusal::new("INVALID_DATA")
                .field("clientReferenceInformation.transactionId", "INVALID_DATA"),
        );
    }
    // The optional duplicate check on merchant reference numbers (off by default, §4.2).
    if let Some(window) = sandbox.inner.config.duplicate_reference_window_secs {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let window = i64::try_from(window).unwrap_or(i64::MAX);
        let duplicate = sandbox.ledger().all().iter().any(|t| {
            t.kind == Kind::Authorization
                && t.merchant_id == merchant.0
                && t.merchant_reference == mrn
                && t.is_approved_authorization()
                && now - t.submitted_at < window
        });
        if duplicate {
            return sandbox.refuse(&Refusal::new("DUPLICATE_REQUEST"));
        }
    }

    let email = text(&request, "orderInformation.billTo.email")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let today = OffsetDateTime::now_utc();
    let expired = expiration
        .as_ref()
        .is_some_and(|(m, y, _, _)| (*y, *m) < (today.year(), u8::from(today.month())));
    let outcome = if expired {
        Outcome::Decline {
            reason: "EXPIRED_CARD",
            processor_code: 54,
        }
    } else if postal_code.as_deref() == Some(DECLINING_POSTAL_CODE) {
        Outcome::Decline {
            reason: "PROCESSOR_DECLINED",
            processor_code: 5,
        }
    } else if email.starts_with("dm-review") {
        Outcome::Review
    } else if email.starts_with("dm-prereview") {
        Outcome::PreReview
    } else if email.starts_with("3ds-") {
        Outcome::Authenticate
    } else if email.starts_with("dm-reject") {
        Outcome::RiskDecline
    } else {
        magic_amount_outcome(amount)
    };
    if let Outcome::ServerError { reason } = outcome {
        sandbox.count_error(reason);
        return hal(
            StatusCode::BAD_GATEWAY,
            json!({"submitTimeUtc": now_utc(), "status": "SERVER_ERROR", "reason": reason,
                   "message": "Error - General system failure."}),
        );
    }

    let capture = request
        .pointer("/processingInformation/capture")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let (status, reason, authorized) = match &outcome {
        Outcome::Approve => ("AUTHORIZED", None, amount),
        Outcome::PartialApprove => (
            "PARTIAL_AUTHORIZED",
            None,
            (amount / Decimal::TWO).round_dp_with_strategy(2, RoundingStrategy::ToZero),
        ),
        Outcome::Review => (
            "AUTHORIZED_PENDING_REVIEW",
            Some("DECISION_PROFILE_REVIEW"),
            amount,
        ),
        Outcome::RiskDecline => (
            "AUTHORIZED_RISK_DECLINED",
            Some("DECISION_PROFILE_REJECT"),
            amount,
        ),
        Outcome::PreReview => (
            "PENDING_REVIEW",
            Some("DECISION_PROFILE_REVIEW"),
            Decimal::ZERO,
        ),
        Outcome::Authenticate => (
            "PENDING_AUTHENTICATION",
            Some("CONSUMER_AUTHENTICATION_REQUIRED"),
            Decimal::ZERO,
        ),
        Outcome::Decline { reason, .. } => ("DECLINED", Some(*reason), Decimal::ZERO),
        Outcome::ServerError { .. } => unreachable!("answered above"),
    };
    // A sale is captured with the authorization, unless Decision Manager holds or rejects it.
    let captured = if capture && matches!(outcome, Outcome::Approve | Outcome::PartialApprove) {
        authorized
    } else {
        Decimal::ZERO
    };
    let risk = match outcome {
        Outcome::Review | Outcome::PreReview => Some(risk_block("REVIEW", 75)),
        Outcome::RiskDecline => Some(risk_block("REJECT", 95)),
        _ => None,
    };
    let now = OffsetDateTime::now_utc();
    let id = ids::cybersource_transaction_id(&sandbox.inner.sequence);
    let card_type = text(&request, "paymentInformation.card.type")
        .map(str::to_string)
        .or(vault_card_type)
        .or_else(|| {
            card_number
                .as_deref()
                .and_then(super::cards::card_type)
                .map(str::to_string)
        });
    let transaction = Transaction {
        id: id.clone(),
        kind: Kind::Authorization,
        merchant_id: merchant.0.clone(),
        merchant_reference: mrn.clone(),
        transaction_id: transaction_id.clone(),
        parent_id: None,
        root_id: id.clone(),
        amount,
        authorized,
        currency: currency.clone(),
        status: status.into(),
        reason: reason.map(str::to_string),
        processor_code: match outcome {
            Outcome::Decline { processor_code, .. } => Some(format!("{processor_code:02}")),
            _ => None,
        },
        submit_time_utc: utc(now),
        submitted_at: now.unix_timestamp(),
        reconciliation_id: ids::reconciliation_id(),
        card_type: card_type.clone(),
        card_suffix: card_number
            .as_deref()
            .map(|n| n[n.len().saturating_sub(4)..].to_string()),
        card_expiration: expiration.map(|(_, _, m, y)| (m, y)),
        bill_to: request.pointer("/orderInformation/billTo").cloned(),
        risk: risk.clone(),
        sale: captured > Decimal::ZERO,
        captured,
        refunded: Decimal::ZERO,
        reversed: Decimal::ZERO,
        voided: false,
        batch_id: None,
        batch_date: None,
    };

    let mut client_reference = json!({"code": mrn});
    if let Some(tid) = &transaction_id {
        client_reference["transactionId"] = json!(tid);
    }
    let self_link = json!({"method": "GET", "href": format!("/pts/v2/payments/{id}")});
    let body = match &outcome {
        Outcome::PreReview | Outcome::Authenticate => {
            let reason = reason.unwrap_or_default();
            let mut body = json!({
                "_links": {"self": self_link},
                "clientReferenceInformation": client_reference,
                "errorInformation": {"reason": reason, "message": decline_message(reason)},
                "id": id,
                "status": status,
                "submitTimeUtc": transaction.submit_time_utc,
            });
            if outcome == Outcome::Authenticate {
                body["consumerAuthenticationInformation"] = json!({
                    "acsUrl": "https://127.0.0.1/acs/step-up",
                    "authenticationTransactionId": format!("{id}3DS"),
                    "veresEnrolled": "Y",
                });
            } else if let Some(risk) = risk.clone() {
                body["riskInformation"] = risk;
            }
            body
        }
        Outcome::Decline {
            reason,
            processor_code,
        } => json!({
            "_links": {"self": self_link},
            "clientReferenceInformation": client_reference,
            "errorInformation": {"reason": reason, "message": decline_message(reason)},
            "id": id,
            "processorInformation": {"transactionId": "460282531937765", "networkTransactionId": "460282531937765",
                "responseCode": format!("{processor_code:02}"), "avs": {"code": "D", "codeRaw": "D"}},
            "status": "DECLINED",
            "submitTimeUtc": transaction.submit_time_utc,
        }),
        _ => {
            let links = if captured > Decimal::ZERO {
                json!({"self": self_link, "void": {"method": "POST", "href": format!("/pts/v2/payments/{id}/voids")},
                       "refund": {"method": "POST", "href": format!("/pts/v2/payments/{id}/refunds")}})
            } else {
                json!({"self": self_link, "authReversal": {"method": "POST", "href": format!("/pts/v2/payments/{id}/reversals")},
                       "capture": {"method": "POST", "href": format!("/pts/v2/payments/{id}/captures")}})
            };
            let card = json!({"type": card_type.clone().unwrap_or_else(|| "001".into())});
            let mut amount_details =
                json!({"authorizedAmount": authorized.to_string(), "currency": currency});
            if outcome == Outcome::PartialApprove {
                amount_details["totalAmount"] = json!(amount.to_string());
            }
            let mut body = json!({
                "_links": links,
                "clientReferenceInformation": client_reference,
                "id": id,
                "orderInformation": {"amountDetails": amount_details},
                "paymentAccountInformation": {"card": card},
                "paymentInformation": {"tokenizedCard": card, "card": card},
                "pointOfSaleInformation": {"terminalId": "111111"},
                "processorInformation": {"approvalCode": "888888", "networkTransactionId": "123456789619999",
                    "transactionId": "123456789619999", "responseCode": "100", "avs": {"code": "X", "codeRaw": "I1"}},
                "reconciliationId": transaction.reconciliation_id,
                "status": status,
                "submitTimeUtc": transaction.submit_time_utc,
            });
            if let Some(reason) = reason {
                body["errorInformation"] =
                    json!({"reason": reason, "message": decline_message(reason)});
            }
            if let Some(risk) = risk {
                body["riskInformation"] = risk;
            }
            if let Some(tokens) = create_tokens(
                &sandbox,
                &merchant,
                &request,
                card_number.as_deref(),
                &transaction,
            ) {
                body["tokenInformation"] = tokens;
            }
            body
        }
    };
    let transaction = sandbox.ledger().insert(transaction);
    if matches!(outcome, Outcome::Review | Outcome::PreReview) {
        sandbox.open_case(&transaction, 75);
    }
    sandbox.count_payment(status);
    sandbox.emit_transaction(&transaction);
    hal(StatusCode::CREATED, body)
}

/// `processingInformation.actionList: ["TOKEN_CREATE"]`: tokens for the card just approved
/// (reference §3.2): an instrument identifier, and a customer with a payment instrument when
/// `actionTokenTypes` asks for them.
fn create_tokens(
    sandbox: &CybersourceSandbox,
    merchant: &Merchant,
    request: &Value,
    number: Option<&str>,
    t: &Transaction,
) -> Option<Value> {
    let actions = request
        .pointer("/processingInformation/actionList")?
        .as_array()?;
    if !actions.iter().any(|a| a == "TOKEN_CREATE") {
        return None;
    }
    let number = number?;
    let types: Vec<&str> = request
        .pointer("/processingInformation/actionTokenTypes")
        .and_then(Value::as_array)
        .map(|types| types.iter().filter_map(Value::as_str).collect())
        .unwrap_or_else(|| vec!["customer", "paymentInstrument", "instrumentIdentifier"]);
    let mut vault = sandbox.vault();
    if types.contains(&"customer") || types.contains(&"paymentInstrument") {
        let (month, year) = t.card_expiration.clone().unwrap_or_default();
        let card = json!({"expirationMonth": month, "expirationYear": year, "type": t.card_type});
        let bill_to = t.bill_to.clone().unwrap_or_else(|| json!({}));
        let email = bill_to["email"].as_str().map(str::to_string);
        let (customer, instrument, identifier, identifier_created) =
            vault.create_for_payment(&merchant.0, number, card, bill_to, email.as_deref());
        drop(vault);
        // Tokens made by a payment are announced like those made through TMS.
        if identifier_created {
            sandbox.emit_token_created(
                &merchant.0,
                "instrumentIdentifier",
                &identifier,
                format!("/tms/v1/instrumentidentifiers/{identifier}"),
            );
        }
        sandbox.emit_token_created(
            &merchant.0,
            "customer",
            &customer,
            format!("/tms/v2/customers/{customer}"),
        );
        sandbox.emit_token_created(
            &merchant.0,
            "paymentInstrument",
            &instrument,
            format!("/tms/v2/customers/{customer}/payment-instruments/{instrument}"),
        );
        Some(
            json!({"customer": {"id": customer}, "paymentInstrument": {"id": instrument},
                    "instrumentIdentifier": {"id": identifier, "state": "ACTIVE"}}),
        )
    } else {
        let (identifier, created) = vault.identify(&merchant.0, number);
        drop(vault);
        if created {
            sandbox.emit_token_created(
                &merchant.0,
                "instrumentIdentifier",
                &identifier,
                format!("/tms/v1/instrumentidentifiers/{identifier}"),
            );
        }
        Some(
            json!({"instrumentIdentifier": {"id": identifier, "state": "ACTIVE", "new": if created { "Y" } else { "N" }}}),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn magic_amounts_follow_the_reference_table() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        assert_eq!(magic_amount_outcome(d("102.21")), Outcome::Approve);
        assert_eq!(magic_amount_outcome(d("2000.00")), Outcome::Approve);
        assert_eq!(
            magic_amount_outcome(d("2051.00")),
            Outcome::Decline {
                reason: "INSUFFICIENT_FUND",
                processor_code: 51
            }
        );
        assert_eq!(
            magic_amount_outcome(d("2054")),
            Outcome::Decline {
                reason: "EXPIRED_CARD",
                processor_code: 54
            }
        );
        assert_eq!(
            magic_amount_outcome(d("2041")),
            Outcome::Decline {
                reason: "STOLEN_LOST_CARD",
                processor_code: 41
            }
        );
        assert_eq!(
            magic_amount_outcome(d("2006")),
            Outcome::ServerError {
                reason: "SYSTEM_ERROR"
            }
        );
        assert_eq!(
            magic_amount_outcome(d("2091")),
            Outcome::ServerError {
                reason: "SERVER_TIMEOUT"
            }
        );
        assert_eq!(magic_amount_outcome(d("2051.50")), Outcome::Approve);
        assert_eq!(magic_amount_outcome(d("2100")), Outcome::Approve);
        assert_eq!(magic_amount_outcome(d("3010.00")), Outcome::PartialApprove);
        assert_eq!(magic_amount_outcome(d("3010.50")), Outcome::Approve);
    }
}
