//! Card brands by number prefix, as Cybersource types them (`paymentInformation.card.type`):
//! 001 Visa, 002 Mastercard, 003 American Express, 004 Discover, 005 Diners Club, 007 JCB,
//! 024 Maestro (UK domestic), 042 Maestro (international), 062 China UnionPay.

/// The card type code of a number's prefix; `None` when no brand claims it.
pub fn card_type(number: &str) -> Option<&'static str> {
    let prefix = |n: usize| -> Option<u32> { number.get(..n)?.parse().ok() };
    let (two, three, four) = (prefix(2)?, prefix(3).unwrap_or(0), prefix(4).unwrap_or(0));
    match () {
        () if number.starts_with('4') => Some("001"),
        () if (51..=55).contains(&two) || (2221..=2720).contains(&four) => Some("002"),
        () if two == 34 || two == 37 => Some("003"),
        () if (3528..=3589).contains(&four) => Some("007"),
        () if (300..=305).contains(&three) || [36, 38, 39].contains(&two) => Some("005"),
        () if four == 6759 || four == 6767 => Some("024"),
        () if two == 50
            || (56..=58).contains(&two)
            || two == 67
            || four == 6304
            || four == 6390 =>
        {
            Some("042")
        }
        () if four == 6011 || (644..=649).contains(&three) || two == 65 => Some("004"),
        () if two == 62 => Some("062"),
        () => None,
    }
}

/// The brand's name, as reports print it.
pub fn card_name(card_type: Option<&str>) -> &'static str {
    match card_type {
        Some("001") => "Visa",
        Some("002") => "MasterCard",
        Some("003") => "American Express",
        Some("004") => "Discover",
        Some("005") => "Diners Club",
        Some("007") => "JCB",
        Some("024") => "Maestro (UK Domestic)",
        Some("042") => "Maestro (International)",
        Some("062") => "China UnionPay",
        _ => "Card",
    }
}

#[cfg(test)]
mod tests {
    use super::card_type;

    /// The test environment's cards (reference §3.9), each typed by its brand.
    #[test]
    fn the_test_cards_are_typed_by_brand() {
        for (number, kind) in [
            ("4111111111111111", "001"),
            ("4622943127013705", "001"),
            ("2222420000001113", "002"),
            ("5555555555554444", "002"),
            ("378282246310005", "003"),
            ("6011111111111117", "004"),
            ("3566111111111113", "007"),
            ("50339619890917", "042"),
            ("586824160825533338", "042"),
            ("6759411100000008", "024"),
            ("6759560045005727054", "024"),
        ] {
            assert_eq!(card_type(number), Some(kind), "{number}");
        }
        assert_eq!(card_type("9999999999999995"), None);
        assert_eq!(card_type(""), None);
    }
}
