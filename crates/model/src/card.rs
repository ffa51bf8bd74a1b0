//! What paybridge may know about a card: its brand, last four digits and expiry. The full number
//! only ever passes through memory on its way to Cybersource (test mode), never into storage.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Card networks, detected from the leading digits (IIN/BIN ranges).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardBrand {
    Visa,
    Mastercard,
    Amex,
    Discover,
    Jcb,
    DinersClub,
    Maestro,
    UnionPay,
    Unknown,
}

impl CardBrand {
    /// Detects the brand from the leading digits of a card number.
    pub fn detect(number: &str) -> CardBrand {
        let digits: String = number.chars().filter(char::is_ascii_digit).collect();
        let prefix = |n: usize| digits.get(..n).and_then(|p| p.parse::<u32>().ok());
        let in_range =
            |n: usize, lo: u32, hi: u32| prefix(n).is_some_and(|p| (lo..=hi).contains(&p));
        if digits.starts_with('4') {
            CardBrand::Visa
        } else if in_range(2, 51, 55) || in_range(4, 2221, 2720) {
            CardBrand::Mastercard
        } else if in_range(2, 34, 34) || in_range(2, 37, 37) {
            CardBrand::Amex
        } else if digits.starts_with("6011")
            || in_range(3, 644, 649)
            || digits.starts_with("65")
            || in_range(6, 622126, 622925)
        {
            CardBrand::Discover
        } else if in_range(4, 3528, 3589) {
            CardBrand::Jcb
        } else if in_range(3, 300, 305) || in_range(2, 36, 36) || in_range(2, 38, 39) {
            CardBrand::DinersClub
        } else if digits.starts_with("62") {
            CardBrand::UnionPay
        } else if digits.starts_with("50") || in_range(2, 56, 69) {
            CardBrand::Maestro
        } else {
            CardBrand::Unknown
        }
    }

    /// Whether a number of `len` digits is a valid length for this brand.
    pub fn valid_length(self, len: usize) -> bool {
        match self {
            CardBrand::Visa => matches!(len, 13 | 16 | 19),
            CardBrand::Mastercard => len == 16,
            CardBrand::Amex => len == 15,
            CardBrand::Discover | CardBrand::Jcb | CardBrand::UnionPay => (16..=19).contains(&len),
            CardBrand::DinersClub => (14..=19).contains(&len),
            CardBrand::Maestro => (12..=19).contains(&len),
            CardBrand::Unknown => false,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CardBrand::Visa => "visa",
            CardBrand::Mastercard => "mastercard",
            CardBrand::Amex => "amex",
            CardBrand::Discover => "discover",
            CardBrand::Jcb => "jcb",
            CardBrand::DinersClub => "diners_club",
            CardBrand::Maestro => "maestro",
            CardBrand::UnionPay => "unionpay",
            CardBrand::Unknown => "unknown",
        }
    }
}

impl fmt::Display for CardBrand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Luhn (mod 10) check every card number satisfies.
pub fn luhn_valid(digits: &str) -> bool {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The card facts that may be stored and shown: never the number itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardSummary {
    pub brand: CardBrand,
    pub last4: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_month: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_year: Option<String>,
}

impl CardSummary {
    /// Summarizes a card number; the number itself is not kept.
    pub fn of_number(number: &str, expiration_month: &str, expiration_year: &str) -> CardSummary {
        let digits: String = number.chars().filter(char::is_ascii_digit).collect();
        let last4 = digits
            .get(digits.len().saturating_sub(4)..)
            .unwrap_or_default()
            .to_string();
        CardSummary {
            brand: CardBrand::detect(&digits),
            last4,
            expiration_month: Some(expiration_month.to_string()),
            expiration_year: Some(expiration_year.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_the_reference_test_cards() {
        // Test cards from the Cybersource testing guide (reference §3.9).
        for (number, brand) in [
            ("4111111111111111", CardBrand::Visa),
            ("4622943127013705", CardBrand::Visa),
            ("2222420000001113", CardBrand::Mastercard),
            ("5555555555554444", CardBrand::Mastercard),
            ("378282246310005", CardBrand::Amex),
            ("6011111111111117", CardBrand::Discover),
            ("3566111111111113", CardBrand::Jcb),
            ("50339619890917", CardBrand::Maestro),
            ("6759411100000008", CardBrand::Maestro),
        ] {
            assert_eq!(CardBrand::detect(number), brand, "{number}");
            assert!(luhn_valid(number), "{number} passes Luhn");
            assert!(
                brand.valid_length(number.len()),
                "{number} has a valid length"
            );
        }
    }

    #[test]
    fn luhn_rejects_a_changed_digit() {
        assert!(luhn_valid("4111111111111111"));
        assert!(!luhn_valid("4111111111111112"));
        assert!(!luhn_valid(""));
        assert!(!luhn_valid("4111-1111"));
    }

    #[test]
    fn summary_keeps_only_last_four() {
        let s = CardSummary::of_number("4111 1111 1111 1111", "12", "2031");
        assert_eq!(s.brand, CardBrand::Visa);
        assert_eq!(s.last4, "1111");
        let json = serde_json::to_string(&s).unwrap();
        assert!(!json.contains("41111111"));
    }
}
