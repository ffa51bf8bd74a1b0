//! Sealing: XChaCha20-Poly1305 with a random 24-byte nonce kept in front of the ciphertext, and
//! associated data that names what is sealed (so a sealed value moved to another name does not
//! open). Every secret paybridge keeps at rest is sealed here, and only here.

use std::fmt;

use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngExt as _;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// The nonce's length, in front of every sealed value.
const NONCE: usize = 24;

/// A 256-bit key; never printed.
#[derive(Clone)]
pub struct Key(Zeroizing<[u8; 32]>);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(**REDACTED**)")
    }
}

impl Key {
    /// A fresh random key (a data key).
    pub fn random() -> Key {
        Key(Zeroizing::new(rand::rng().random()))
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Key {
        Key(Zeroizing::new(bytes))
    }

    /// A key of exactly 32 bytes, or `None`.
    pub fn from_slice(bytes: &[u8]) -> Option<Key> {
        Some(Key::from_bytes(bytes.try_into().ok()?))
    }

    /// A key derived from secrets that whoever must open the value holds and the store does
    /// not: SHA-256 over `context`, a zero byte and `material`.
    pub fn derived(context: &str, material: &[u8]) -> Key {
        let digest = Sha256::new()
            .chain_update(context.as_bytes())
            .chain_update(b"\0")
            .chain_update(material)
            .finalize();
        Key::from_bytes(digest.into())
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// `plaintext` sealed under `key`, bound to `aad`: the nonce, then the ciphertext and its tag.
pub fn seal(key: &Key, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let nonce: [u8; NONCE] = rand::rng().random();
    let ciphertext = XChaCha20Poly1305::new(&(*key.0).into())
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("sealing with a 32-byte key cannot fail");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ciphertext);
    out
}

/// What [`seal`] sealed, if `key` and `aad` are the ones it was sealed with and nothing was
/// altered; `None` otherwise.
pub fn open(key: &Key, aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if sealed.len() < NONCE {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE);
    XChaCha20Poly1305::new(&(*key.0).into())
        .decrypt(
            &XNonce::try_from(nonce).ok()?,
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .ok()
        .map(Zeroizing::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_its_name() {
        let key = Key::random();
        let sealed = seal(&key, b"name", b"secret");
        assert_eq!(open(&key, b"name", &sealed).unwrap().as_slice(), b"secret");
        assert!(
            open(&key, b"other", &sealed).is_none(),
            "moved to another name"
        );
        assert!(
            open(&Key::random(), b"name", &sealed).is_none(),
            "another key"
        );
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(open(&key, b"name", &altered).is_none(), "altered");
        assert!(open(&key, b"name", &sealed[..10]).is_none(), "cut short");
        assert!(
            !sealed.windows(6).any(|w| w == b"secret"),
            "nothing readable"
        );
    }

    #[test]
    fn derived_keys_depend_on_context_and_material() {
        let a = Key::derived("ctx", b"material");
        assert_eq!(a.bytes(), Key::derived("ctx", b"material").bytes());
        assert_ne!(a.bytes(), Key::derived("other", b"material").bytes());
        assert_ne!(a.bytes(), Key::derived("ctx", b"materiaL").bytes());
        assert_eq!(format!("{a:?}"), "Key(**REDACTED**)");
    }
}
