//! Fuzzes webhook delivery handling: the `v-c-signature` header parser and the verifier's
//! body parsing. Any input must give an answer (accepted or refused), never a panic.
//!
//! Run: `cargo fuzz run webhook --sanitizer none` (from this folder, with cargo-fuzz).

#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use paybridge_cybersource::webhooks::{WebhookVerifier, parse_signature_header, sign};

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let (header, body) = data.split_at(split);
    let header = String::from_utf8_lossy(header);
    let _ = parse_signature_header(&header);

    let mut verifier = WebhookVerifier::new(Duration::from_secs(3600));
    verifier.add_key("k", &secrecy::SecretString::from("dGVzdF9rZXk=")).unwrap();
    let _ = verifier.verify(Some(&header), body, 1_728_907_200_000);

    // A correctly signed header over whatever payload the input carries must not panic either.
    let payload = String::from_utf8_lossy(body);
    let signed = format!("t=1728907200000;keyId=k;sig={}", sign(b"test_key", 1_728_907_200_000, &payload));
    let _ = verifier.verify(Some(&signed), body, 1_728_907_200_000);
});
