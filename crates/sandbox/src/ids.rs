//! Identifier formats of the simulated vendors.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::RngExt as _;

/// Cybersource transaction ids: 22 digits, the epoch seconds followed by 12 more digits
/// (`6750124114786780104953` was created at 1675012411).
pub fn cybersource_transaction_id(sequence: &AtomicU64) -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let seq = sequence.fetch_add(1, Ordering::Relaxed) % 1_000_000;
    let noise: u32 = rand::rng().random_range(0..1_000_000);
    format!("{:010}{:06}{:06}", secs % 10_000_000_000, seq, noise)
}

/// Cybersource reconciliation ids: 16 upper-case alphanumerics.
pub fn reconciliation_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// Zoho record ids: long numeric strings. A leading 9 keeps them out of every card range.
pub fn zoho_id(sequence: &AtomicU64) -> String {
    format!(
        "9{:018}",
        460_000_000_000_000 + sequence.fetch_add(1, Ordering::Relaxed)
    )
}

/// Zoho access and refresh tokens: `1000.<32 hex>.<32 hex>`.
pub fn zoho_token() -> String {
    let mut rng = rand::rng();
    let a: u128 = rng.random();
    let b: u128 = rng.random();
    format!("1000.{a:032x}.{b:032x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_the_vendors() {
        let seq = AtomicU64::new(0);
        let id = cybersource_transaction_id(&seq);
        assert_eq!(id.len(), 22, "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_digit()));
        let rid = reconciliation_id();
        assert_eq!(rid.len(), 16);
        let zid = zoho_id(&seq);
        assert_eq!(zid.len(), 19, "{zid}");
        let token = zoho_token();
        assert_eq!(token.len(), 4 + 1 + 32 + 1 + 32);
    }
}
