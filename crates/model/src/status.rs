//! Status maps between the systems, and Cybersource reason codes in words.
//!
//! The tables follow the vendors' references: Cybersource payment statuses and
//! `errorInformation.reason` values (cybersource.md §3.3, §3.7), Zoho Books invoice and sales
//! order statuses (zoho.md §2.5, §2.8). Flows reach them through the mapping function
//! `status_map(table, value)`; a merchant can shadow any of them with a table of the same name
//! in the flow file.

/// The built-in status tables: name, then `(from, to)` pairs.
pub const TABLES: &[(&str, &[(&str, &str)])] = &[
    // A Cybersource payment (or decision) status → what it means for the order.
    (
        "cybersource_payment",
        &[
            ("AUTHORIZED", "approved"),
            ("PARTIAL_AUTHORIZED", "approved"),
            ("PENDING", "approved"),
            ("TRANSMITTED", "approved"),
            ("AUTHORIZED_PENDING_REVIEW", "review"),
            ("PENDING_REVIEW", "review"),
            ("ACCEPTED", "approved"),
            ("REJECTED", "declined"),
            ("AUTHORIZED_RISK_DECLINED", "declined"),
            ("DECLINED", "declined"),
            ("INVALID_REQUEST", "declined"),
            ("PENDING_AUTHENTICATION", "authentication"),
            ("REVERSED", "cancelled"),
            ("VOIDED", "cancelled"),
        ],
    ),
    // The order's outcome → the Zoho Inventory / Books sales order status it should reach.
    (
        "zoho_sales_order",
        &[
            ("approved", "confirmed"),
            ("review", "draft"),
            ("declined", "void"),
            ("cancelled", "void"),
            ("authentication", "draft"),
        ],
    ),
    // The order's outcome → the Zoho Books invoice status it should reach.
    (
        "zoho_invoice",
        &[
            ("approved", "paid"),
            ("review", "draft"),
            ("declined", "void"),
            ("cancelled", "void"),
            ("authentication", "draft"),
        ],
    ),
    // The order's outcome → the word the storefront callback carries.
    (
        "storefront_status",
        &[
            ("approved", "paid"),
            ("review", "on_hold"),
            ("declined", "declined"),
            ("cancelled", "cancelled"),
            ("authentication", "pending"),
        ],
    ),
];

/// Looks `value` up in the built-in table `table`. `None` when either is unknown.
pub fn map_status(table: &str, value: &str) -> Option<&'static str> {
    TABLES
        .iter()
        .find(|(name, _)| *name == table)
        .and_then(|(_, rows)| {
            rows.iter()
                .find(|(from, _)| from.eq_ignore_ascii_case(value))
        })
        .map(|(_, to)| *to)
}

/// A Cybersource `errorInformation.reason` (or Decision Manager reason) as a sentence a
/// customer service agent or a shopper can read. Unknown reasons are spelled out from the code.
pub fn reason_text(reason: &str) -> String {
    let text = match reason.trim() {
        "AVS_FAILED" => "the billing address does not match the card's",
        "CONTACT_PROCESSOR" => "the card issuer asks to be contacted",
        "EXPIRED_CARD" => "the card has expired",
        "PROCESSOR_DECLINED" | "GENERAL_DECLINE" | "PAYMENT_REFUSED" => {
            "the card issuer declined the payment"
        }
        "INSUFFICIENT_FUND" => "the card has insufficient funds",
        "STOLEN_LOST_CARD" => "the card was reported lost or stolen",
        "ISSUER_UNAVAILABLE" => "the card issuer could not be reached",
        "UNAUTHORIZED_CARD" => "the card is not allowed for this kind of payment",
        "CVN_NOT_MATCH" | "CV_FAILED" => "the security code (CVV) does not match",
        "INVALID_CVN" => "the security code (CVV) is not valid",
        "EXCEEDS_CREDIT_LIMIT" => "the payment exceeds the card's credit limit",
        "BLOCKED_BY_CARDHOLDER" => "the cardholder has blocked this payment",
        "DECLINED_CHECK" => "the check was declined",
        "BLACKLISTED_CUSTOMER" => "the customer is on the merchant's negative list",
        "SUSPENDED_ACCOUNT" => "the account is suspended",
        "INVALID_ACCOUNT" => "the account number is not valid",
        "INVALID_MERCHANT_CONFIGURATION" => "the merchant account is not configured for this",
        "PROCESSOR_ERROR" => "the payment processor had an error",
        "DECISION_PROFILE_REJECT" => "fraud screening rejected the order",
        "PARTIAL_AUTHORIZATION" => {
            "the card issuer approved only part of the amount (that part was released)"
        }
        "SCORE_EXCEEDS_THRESHOLD" => "the fraud score is above the accepted threshold",
        "DECISION_PROFILE_REVIEW" => "fraud screening asks for a manual review",
        "DECISION_PROFILE_CHALLENGE" => "fraud screening asks for a challenge",
        "PENDING_AUTHENTICATION" | "CONSUMER_AUTHENTICATION_REQUIRED" => {
            "the cardholder must authenticate (3-D Secure)"
        }
        "CONSUMER_AUTHENTICATION_FAILED" => "the cardholder failed authentication (3-D Secure)",
        "CUSTOMER_WATCHLIST_MATCH" => "the customer matches a watch list",
        "ADDRESS_COUNTRY_WATCHLIST_MATCH" => "the address country is on a watch list",
        "EMAIL_COUNTRY_WATCHLIST_MATCH" => "the e-mail's country is on a watch list",
        "IP_COUNTRY_WATCHLIST_MATCH" => "the IP address's country is on a watch list",
        "MISSING_FIELD" => "a required field is missing",
        "INVALID_DATA" => "a field holds invalid data",
        other => return other.to_ascii_lowercase().replace('_', " "),
    };
    text.to_string()
}

/// Several reason codes merged into one readable sentence, each reason once, in order:
/// `["AVS_FAILED", "CVN_NOT_MATCH"]` → "The billing address does not match the card's, and
/// the security code (CVV) does not match."
pub fn merge_reasons<S: AsRef<str>>(codes: &[S]) -> String {
    let mut texts: Vec<String> = Vec::new();
    for code in codes {
        let code = code.as_ref().trim();
        if code.is_empty() {
            continue;
        }
        let text = reason_text(code);
        if !texts.contains(&text) {
            texts.push(text);
        }
    }
    let joined = match texts.len() {
        0 => return String::new(),
        1 => texts.remove(0),
        n => {
            let last = texts.remove(n - 1);
            format!("{}, and {last}", texts.join(", "))
        }
    };
    let mut chars = joined.chars();
    let first = chars.next().map(|c| c.to_uppercase().to_string());
    format!("{}{}.", first.unwrap_or_default(), chars.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_case_insensitively_and_unknowns_are_none() {
        assert_eq!(
            map_status("cybersource_payment", "authorized_pending_review"),
            Some("review")
        );
        assert_eq!(map_status("zoho_sales_order", "declined"), Some("void"));
        assert_eq!(map_status("cybersource_payment", "SOMETHING_NEW"), None);
        assert_eq!(map_status("no_such_table", "AUTHORIZED"), None);
    }

    #[test]
    fn reasons_merge_into_one_sentence_without_repeats() {
        assert_eq!(
            merge_reasons(&["AVS_FAILED", "CVN_NOT_MATCH", "CV_FAILED"]),
            "The billing address does not match the card's, and the security code (CVV) does not match."
        );
        assert_eq!(
            merge_reasons(&["INSUFFICIENT_FUND"]),
            "The card has insufficient funds."
        );
        assert_eq!(merge_reasons(&["BRAND_NEW_CODE"]), "Brand new code.");
        assert_eq!(merge_reasons::<&str>(&[]), "");
    }
}
