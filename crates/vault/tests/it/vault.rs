//! The credential vault over the store: sealed at rest, tamper-evident, rotated without
//! downtime, values never listed.

use paybridge_store::{AuthStore as _, Clock, SealedSecret};
use paybridge_vault::{KeySource, Vault, VaultError};
use secrecy::{ExposeSecret as _, SecretString};

use paybridge_store::testing::open_store;

fn raw(byte: u8) -> KeySource {
    use base64::Engine as _;
    KeySource::parse(&base64::engine::general_purpose::STANDARD.encode([byte; 32])).unwrap()
}

#[tokio::test]
async fn secrets_are_sealed_at_rest_and_read_back() {
    let (dir, store) = open_store().await;
    let vault = Vault::open(store.clone(), Clock::new(), raw(7), vec![])
        .await
        .unwrap();
    let secret = SecretString::from("1000.3f9a7c2e5b1d8a4c6e0f2b9d7a5c3e1f.aa55");
    vault.set("zoho/refresh_token", &secret).await.unwrap();
    vault
        .set(
            "cybersource/shared_secret",
            &SecretString::from("AAECAwQFBgcICQoL"),
        )
        .await
        .unwrap();
    assert_eq!(
        vault
            .require("zoho/refresh_token")
            .await
            .unwrap()
            .expose_secret(),
        secret.expose_secret()
    );
    assert!(vault.get("nothing/here").await.unwrap().is_none());
    assert!(matches!(
        vault.require("nothing/here").await,
        Err(VaultError::Missing(_))
    ));

    let listed = vault.list().await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["cybersource/shared_secret", "zoho/refresh_token"]
    );
    assert!(listed.iter().all(|s| s.key_id == vault.current_key_id()));
    let printed = format!("{listed:?}{vault:?}");
    assert!(!printed.contains("3f9a7c2e"), "{printed}");

    // Nothing readable on disk.
    store.close().await;
    let mut on_disk = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        on_disk.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let needle = b"3f9a7c2e5b1d8a4c";
    assert!(
        !on_disk.windows(needle.len()).any(|w| w == needle),
        "the secret is on disk in clear"
    );
}

#[tokio::test]
async fn a_secret_moved_or_altered_does_not_open() {
    let (_dir, store) = open_store().await;
    let vault = Vault::open(store.clone(), Clock::new(), raw(7), vec![])
        .await
        .unwrap();
    vault
        .set("a", &SecretString::from("value of a"))
        .await
        .unwrap();
    vault
        .set("b", &SecretString::from("value of b"))
        .await
        .unwrap();
    let a = store.vault_get("a").await.unwrap().unwrap();
    // b's row given a's sealed value and key: the names are bound in, so it does not open.
    store
        .vault_put(
            &SealedSecret {
                name: "b".into(),
                ..a.clone()
            },
            1,
        )
        .await
        .unwrap();
    assert!(matches!(vault.get("b").await, Err(VaultError::Tampered(_))));
    let mut flipped = a.clone();
    let last = flipped.sealed.len() - 1;
    flipped.sealed[last] ^= 1;
    store.vault_put(&flipped, 2).await.unwrap();
    assert!(matches!(vault.get("a").await, Err(VaultError::Tampered(_))));
    assert!(matches!(
        vault.set("../x", &SecretString::from("v")).await,
        Err(VaultError::BadName(_))
    ));
}

#[tokio::test]
async fn rotation_rewraps_keys_and_reads_go_on_throughout() {
    let (_dir, store) = open_store().await;
    let clock = Clock::new();
    let old = Vault::open(store.clone(), clock, raw(1), vec![])
        .await
        .unwrap();
    for n in 0..3 {
        old.set(&format!("s{n}"), &SecretString::from(format!("value {n}")))
            .await
            .unwrap();
    }
    // A new key alone cannot read what the old one sealed, and says which key is missing.
    let new_only = Vault::open(store.clone(), clock, raw(2), vec![])
        .await
        .unwrap();
    match new_only.get("s0").await {
        Err(VaultError::UnknownKey { key_id, .. }) => assert_eq!(key_id, old.current_key_id()),
        other => panic!("{other:?}"),
    }
    // During the rotation both keys are given: everything reads.
    let rotating = Vault::open(store.clone(), clock, raw(2), vec![raw(1)])
        .await
        .unwrap();
    assert_eq!(
        rotating.require("s1").await.unwrap().expose_secret(),
        "value 1"
    );
    assert_eq!(rotating.rotate().await.unwrap(), 3);
    assert_eq!(rotating.rotate().await.unwrap(), 0, "nothing left to move");
    assert_eq!(
        new_only.require("s2").await.unwrap().expose_secret(),
        "value 2"
    );
    assert!(matches!(
        old.get("s2").await,
        Err(VaultError::UnknownKey { .. })
    ));
}

#[tokio::test]
async fn passphrases_are_stretched_with_the_stores_own_salt() {
    let (_dir, store) = open_store().await;
    let clock = Clock::new();
    let phrase = || KeySource::parse("correct horse battery staple").unwrap();
    let first = Vault::open(store.clone(), clock, phrase(), vec![])
        .await
        .unwrap();
    first.set("k", &SecretString::from("v")).await.unwrap();
    let again = Vault::open(store.clone(), clock, phrase(), vec![])
        .await
        .unwrap();
    assert_eq!(first.current_key_id(), again.current_key_id());
    assert_eq!(again.require("k").await.unwrap().expose_secret(), "v");
    let (_other_dir, other_store) = open_store().await;
    let elsewhere = Vault::open(other_store, clock, phrase(), vec![])
        .await
        .unwrap();
    assert_ne!(
        elsewhere.current_key_id(),
        first.current_key_id(),
        "each store has its salt"
    );
    assert!(matches!(
        KeySource::parse("short"),
        Err(VaultError::WeakKey)
    ));
}
