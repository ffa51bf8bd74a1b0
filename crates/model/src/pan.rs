//! The PAN guard: finds card numbers (primary account numbers) in text and JSON so that none
//! reaches Zoho, the store or a log line. A PAN is a run of 12–19 digits (optionally grouped by
//! single spaces or dashes) that passes Luhn and has a length valid for the brand its leading
//! digits name.

use crate::card::{CardBrand, luhn_valid};

/// True when `text` contains something that looks like a card number.
pub fn contains_pan(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if let Some(run) = run_at(bytes, i) {
            if run.looks_like_pan() && !inside_token(bytes, i, run.end) {
                return true;
            }
            i = run.end;
        } else {
            i += 1;
        }
    }
    false
}

/// Whether the digits at `start..end` are part of an identifier rather than a card number
/// written out: a long hexadecimal token or a UUID.
fn inside_token(bytes: &[u8], start: usize, end: usize) -> bool {
    inside_hex_token(bytes, start, end) || inside_uuid(bytes, start, end)
}

/// Whether the digits at `start..end` lie in a UUID (`8-4-4-4-12` hexadecimal groups, as
/// Cybersource's `transactionTraceId` and every vendor's request ids): one in about 1,800
/// random UUIDs has dash-grouped digits that pass Luhn (`…-6716-7360-3243-…`), and a webhook
/// refused for it would be lost.
fn inside_uuid(bytes: &[u8], start: usize, end: usize) -> bool {
    let mut from = start;
    while from > 0 && (bytes[from - 1].is_ascii_hexdigit() || bytes[from - 1] == b'-') {
        from -= 1;
    }
    let mut to = end;
    while to < bytes.len() && (bytes[to].is_ascii_hexdigit() || bytes[to] == b'-') {
        to += 1;
    }
    // The span may run on into dashes or hex around the UUID (`order-<uuid>`): look for a
    // UUID in it that covers the digits, with neither a letter nor a digit on either side.
    if to - from < 36 {
        return false;
    }
    let not_alphanumeric = |at: usize| bytes.get(at).is_none_or(|b| !b.is_ascii_alphanumeric());
    let first = from.max(end.saturating_sub(36));
    let last = start.min(to.saturating_sub(36));
    (first..=last).any(|at| {
        bytes[at..at + 36].iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        }) && (at == 0 || not_alphanumeric(at - 1))
            && not_alphanumeric(at + 36)
    })
}

/// Whether the digits at `start..end` are part of a long hexadecimal token — a vendor id such
/// as a TMS customer's (32 hex characters), a UUID without dashes, a digest — rather than a card
/// number written out: the letters and digits around them, taken together, are all hex and at
/// least 24 characters long.
fn inside_hex_token(bytes: &[u8], start: usize, end: usize) -> bool {
    let mut from = start;
    while from > 0 && bytes[from - 1].is_ascii_alphanumeric() {
        from -= 1;
    }
    let mut to = end;
    while to < bytes.len() && bytes[to].is_ascii_alphanumeric() {
        to += 1;
    }
    let token = &bytes[from..to];
    token.len() >= 24 && token.len() > end - start && token.iter().all(u8::is_ascii_hexdigit)
}

/// Replaces every card number in `text` with a mask that keeps the last four digits: what is
/// left has none ([`contains_pan`] finds nothing in it).
pub fn redact(text: &str) -> String {
    let mut out = redact_once(text);
    // A mask can change what surrounds a neighbouring run of digits (a long hex token it was
    // part of is cut), so that run reads as a card number now: mask again, until none is left.
    while contains_pan(&out) {
        let again = redact_once(&out);
        if again == out {
            break;
        }
        out = again;
    }
    out
}

fn redact_once(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if let Some(run) = run_at(bytes, i)
            && run.looks_like_pan()
            && !inside_token(bytes, i, run.end)
        {
            out.push_str("[card ****");
            out.push_str(run.last_four());
            out.push(']');
            i = run.end;
            continue;
        }
        let ch = text[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// Finds the JSON paths of string or number values that look like card numbers. A value under
/// a key that names identifiers (`id`, `ids`, `*_id`, `*_ids`, `*Id`, `*Ids`) that has a vendor
/// id's shape — 19 digits (Zoho CRM and Desk ids), or a run of five zeros (Zoho's ids are an
/// organization prefix, zeros, a sequence) — is an id, not a card: Zoho ids pass Luhn one time in
/// ten. Anything else under such a key (`"customer_id": "4111111111111111"`) is still a card.
pub fn find_in_json(value: &serde_json::Value) -> Vec<String> {
    let mut found = Vec::new();
    walk(value, &mut Vec::new(), None, &mut found);
    found
}

/// One step of the way from the root to a value: a member's key or an item's index.
enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

/// Walks `value` at `path` (kept as segments and written out only for a find: payloads are
/// scanned on every step, and almost all of them hold no card).
fn walk<'a>(
    value: &'a serde_json::Value,
    path: &mut Vec<Segment<'a>>,
    key: Option<&str>,
    found: &mut Vec<String>,
) {
    use serde_json::Value;
    let is_id = key.is_some_and(is_identifier_key);
    let card = match value {
        Value::String(text) => !(is_id && has_id_shape(text)) && contains_pan(text),
        Value::Number(n) => {
            let text = n.to_string();
            !(is_id && has_id_shape(&text)) && number_may_be_pan(n) && contains_pan(&text)
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Segment::Index(i));
                walk(item, path, key, found);
                path.pop();
            }
            false
        }
        Value::Object(fields) => {
            for (k, v) in fields {
                path.push(Segment::Key(k));
                walk(v, path, Some(k), found);
                path.pop();
            }
            false
        }
        Value::Null | Value::Bool(_) => false,
    };
    if card {
        let mut written = String::from("$");
        for segment in path.iter() {
            match segment {
                Segment::Key(k) => {
                    written.push('.');
                    written.push_str(k);
                }
                Segment::Index(i) => {
                    written.push('[');
                    written.push_str(&i.to_string());
                    written.push(']');
                }
            }
        }
        found.push(written);
    }
}

/// Whether a JSON number can hold a card number: an integer needs at least 12 digits; any
/// other number is checked as written.
fn number_may_be_pan(n: &serde_json::Number) -> bool {
    const SMALLEST: u64 = 100_000_000_000;
    match (n.as_u64(), n.as_i64()) {
        (Some(u), _) => u >= SMALLEST,
        (None, Some(i)) => i.unsigned_abs() >= SMALLEST,
        (None, None) => true,
    }
}

fn is_identifier_key(key: &str) -> bool {
    matches!(key, "id" | "ids")
        || key.ends_with("_id")
        || key.ends_with("_ids")
        || key.ends_with("Id")
        || key.ends_with("Ids")
}

/// A vendor id's shape (see [`find_in_json`]): all digits, and 19 of them or a run of five
/// zeros.
fn has_id_shape(text: &str) -> bool {
    let text = text.trim();
    !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text.len() == 19 || text.contains("00000"))
}

/// A run of digits (grouping spaces and dashes left out): the first 19 are kept, which is all a
/// card number can have; a longer run is no card.
struct Run {
    end: usize,
    len: usize,
    digits: [u8; 19],
}

impl Run {
    fn digits(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.digits[..self.len.min(19)]).unwrap_or("")
    }

    fn looks_like_pan(&self) -> bool {
        let digits = self.digits();
        (12..=19).contains(&self.len)
            && CardBrand::detect(digits).valid_length(self.len)
            && luhn_valid(digits)
    }

    fn last_four(&self) -> &str {
        let digits = self.digits();
        &digits[digits.len().saturating_sub(4)..]
    }
}

/// If a digit run starts at `start` (and is not the tail of a longer run), returns where it ends
/// and its digits.
fn run_at(bytes: &[u8], start: usize) -> Option<Run> {
    if !bytes[start].is_ascii_digit() || (start > 0 && bytes[start - 1].is_ascii_digit()) {
        return None;
    }
    let mut run = Run {
        end: start,
        len: 0,
        digits: [0; 19],
    };
    let mut i = start;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_digit() {
            if let Some(slot) = run.digits.get_mut(run.len) {
                *slot = b;
            }
            run.len += 1;
            i += 1;
            run.end = i;
        } else if (b == b' ' || b == b'-')
            && i + 1 < bytes.len()
            && bytes[i + 1].is_ascii_digit()
            && i > start
            && bytes[i - 1].is_ascii_digit()
        {
            i += 1;
        } else {
            break;
        }
    }
    Some(run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn digits_inside_long_hex_ids_are_not_cards() {
        // A TMS customer id whose digits happen to hold a Luhn-valid Visa number.
        let id = "F6E4111111111111111DAB2EA6A0C3E9";
        assert_eq!(id.len(), 32);
        assert!(!contains_pan(id));
        assert!(find_in_json(&serde_json::json!({"value": id})).is_empty());
        assert_eq!(redact(id), id);
        // Written out, or glued to a word that is not hex, it is still a card number.
        assert!(contains_pan("card 4111111111111111"));
        assert!(contains_pan("ref4111111111111111"));
        assert!(contains_pan("x-4111111111111111-DAB2EA6A0C3E9"));
    }

    /// Found by the demo sweep: a Cybersource webhook's `transactionTraceId` (a random UUID)
    /// whose middle groups read as a dash-grouped Maestro number; the webhook was refused and
    /// its payment waited for the look-up.
    #[test]
    fn a_uuid_is_an_id_and_a_card_beside_one_is_still_a_card() {
        for uuid in [
            "5318a91f-6716-7360-3243-9ecbbf65c3e6",
            "b2d63413-5942-866e-e24c-2a59090b60fd",
            "ABED5904-4737-7931-5014-E865FA9023C7",
        ] {
            assert!(!contains_pan(uuid), "{uuid}");
            assert!(!contains_pan(&format!("trace {uuid}, retry 0")), "{uuid}");
            assert!(!contains_pan(&format!("order-{uuid}")), "{uuid}");
            let json = serde_json::json!({"transactionTraceId": uuid});
            assert!(find_in_json(&json).is_empty(), "{uuid}");
            assert_eq!(redact(uuid), uuid);
        }
        // Not a UUID's shape (a group too long, a letter glued on, a card in place of one):
        // the digits are read as a card number.
        assert!(contains_pan("5318a91f-6716-7360-3243-9ecbbf65c3e6a"));
        assert!(contains_pan("x5318a91f-6716-7360-3243-9ecbbf65c3e6"));
        assert!(contains_pan("5318a91f-6716-7360-3243-9ecbbf65c3e"));
        assert!(contains_pan("5318a91f-4111-1111-1111-1111"));
        assert!(contains_pan(
            "trace 5318a91f-6716-7360-3243-9ecbbf65c3e6 card 4111 1111 1111 1111"
        ));
    }

    #[test]
    fn finds_plain_and_grouped_numbers() {
        assert!(contains_pan("card 4111111111111111 used"));
        assert!(contains_pan("card 4111 1111 1111 1111 used"));
        assert!(contains_pan("card 4111-1111-1111-1111"));
        assert!(contains_pan("amex 378282246310005"));
    }

    #[test]
    fn ignores_lookalikes() {
        assert!(!contains_pan("4111111111111112")); // fails Luhn
        assert!(!contains_pan("txn 6750124114786780104953")); // 22-digit Cybersource id
        assert!(!contains_pan("amount 102.21, qty 3, phone 4158880000"));
        assert!(!contains_pan("last four 1111"));
    }

    #[test]
    fn redacts_keeping_last_four() {
        assert_eq!(
            redact("paid with 4111 1111 1111 1111 today"),
            "paid with [card ****1111] today"
        );
        assert_eq!(redact("no card here: 12345"), "no card here: 12345");
    }

    /// Found by the `order_body` fuzz target: masking one number cut the hex token a
    /// neighbouring one was read as part of, which then read as a card number.
    #[test]
    fn what_redaction_leaves_holds_no_card_number() {
        let text = "\"bf11000-9368077741114+111000035511111bf1100060983-77741114+11100003551111111000-038233085589/z36837870308080-6626038233085589/z368378703089/z36000000000003623x707110-00038233085589/z3683787030800(-0382335/z78098368333085589/z360000\"";
        assert!(!contains_pan(&redact(text)), "{}", redact(text));
    }

    #[test]
    fn json_guard_skips_identifier_fields() {
        // 4000000000000002 passes Luhn and is a valid Visa length: as an id it is allowed,
        // as a note it is not.
        let value = serde_json::json!({
            "customer_id": "4000000000000002",
            "notes": "card 4000000000000002",
            "line_items": [{"name": "ok", "description": "4111111111111111"}],
            "amount": 4111111111111111u64,
        });
        assert_eq!(
            find_in_json(&value),
            vec!["$.amount", "$.line_items[0].description", "$.notes"]
        );
    }

    /// Decided by context: a Zoho id in a field of ids is an id (one Zoho id in ten passes Luhn:
    /// a CRM notification naming one was refused), a card number is a card whatever the field.
    #[test]
    fn zoho_ids_in_id_fields_are_ids_and_cards_are_cards_anywhere() {
        assert!(luhn_valid("5725767000003000015"));
        let ids = serde_json::json!({
            "ids": ["5725767000003000015"],
            "contact_id": "460000000026049",
            "record": {"id": 5725767000003000015u64, "ownerId": "2000000000001"},
        });
        assert!(find_in_json(&ids).is_empty(), "{:?}", find_in_json(&ids));
        let cards = serde_json::json!({
            "ids": ["5555555555554444"],
            "customer_id": "4111111111111111",
            "card_id": 378282246310005u64,
        });
        assert_eq!(
            find_in_json(&cards),
            vec!["$.card_id", "$.customer_id", "$.ids[0]"]
        );
    }

    #[test]
    fn json_paths_name_members_and_items_and_numbers_of_any_sign() {
        let value = serde_json::json!({
            "a": [[0, "x"], ["4111111111111111"]],
            "b": {"c": -4111111111111111i64, "d": 411111111111.0, "e": 41111111111u64},
            "f": "4111111111111111 and 5555555555554444",
        });
        assert_eq!(
            find_in_json(&value),
            vec!["$.a[1][0]", "$.b.c", "$.f"],
            "the float has 12 digits but is no valid Visa length; 11 digits are never a card"
        );
        assert_eq!(
            redact("4111111111111111 and 5555555555554444"),
            "[card ****1111] and [card ****4444]"
        );
    }

    fn luhn_complete(prefix: &str) -> String {
        (0..10)
            .map(|d| format!("{prefix}{d}"))
            .find(|candidate| luhn_valid(candidate))
            .unwrap()
    }

    proptest! {
        #[test]
        fn redaction_leaves_no_card_number(text in "[0-9a-f\\- +/\"z]{0,200}") {
            prop_assert!(!contains_pan(&redact(&text)), "{}", redact(&text));
        }

        #[test]
        fn any_valid_visa_number_is_found_in_any_text(
            body in "[0-9]{14}",
            before in "[a-z ]{0,20}",
            after in "[a-z ]{0,20}",
        ) {
            let pan = luhn_complete(&format!("4{body}"));
            let text = format!("{before}{pan}{after}");
            prop_assert!(contains_pan(&text));
            prop_assert!(!contains_pan(&redact(&text)));
        }

        /// The guard on payloads: a card number (Visa, Mastercard or Amex; plain, spaced or
        /// dashed) anywhere in a JSON payload, at any depth, under any ordinary key, is found.
        #[test]
        fn a_card_number_anywhere_in_a_payload_is_found(
            brand in 0usize..3,
            digits in "[0-9]{16}",
            separator in prop::sample::select(vec!["", " ", "-"]),
            key in "[a-z]{1,8}_(notes|name|description|memo)",
            depth in 0usize..4,
            in_list in any::<bool>(),
            words in "[a-z ]{0,12}",
        ) {
            let (prefix, length) = [("4", 16), ("51", 16), ("37", 15)][brand];
            let pan = luhn_complete(&format!("{prefix}{}", &digits[..length - prefix.len() - 1]));
            let grouped = pan
                .as_bytes()
                .chunks(4)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect::<Vec<_>>()
                .join(separator);
            let mut value = serde_json::json!(format!("{words}{grouped}"));
            for level in 0..depth {
                value = if in_list && level % 2 == 0 {
                    serde_json::json!([1, value])
                } else {
                    serde_json::json!({ key.clone(): value, "amount": "10.00" })
                };
            }
            let payload = serde_json::json!({ "customer_id": "460000000012345", key.clone(): value });
            prop_assert!(!find_in_json(&payload).is_empty(), "{payload}");
        }
    }
}
