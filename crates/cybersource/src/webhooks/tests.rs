//! Webhook verification, events, keys and subscriptions, tested against the reference's vectors.

use super::*;

/// Reference §5.3's vector: key `dGVzdF9rZXk=`, t=1728907200000.
const VECTOR_PAYLOAD: &str = r#"{"data":{"_links":{"instrumentIdentifiers":[{"href":"/tms/v1/instrumentidentifiers/7010000000016241111"}]},"id":"7010000000016241111","type":"tokenizedCardEnrollments","version":"1.0"},"organizationId":"test_merchant"}"#;
const VECTOR_SIG: &str = "+lbmGWIBUqKsGMs6QQ5bFXyTEl2nbnmICFG1qyPC7YE=";
const T: i64 = 1_728_907_200_000;

fn body(payload: &str) -> String {
    format!(
        r#"{{"eventType":"tms.networktoken.provisioned","webhookId":"e339e8b1-d540-4efd-e053-8d588e0a2de5","productId":"tokenManagement","organizationId":"test_merchant","eventDate":"2024-10-14T12:00:00","transactionTraceId":"7ac2ad9f-6a89-d3e9-e053-34b8d30aaf40","retryNumber":0,"requestType":"NEW","payload":{payload}}}"#
    )
}

fn verifier() -> WebhookVerifier {
    let mut v = WebhookVerifier::new(Duration::from_secs(300));
    v.add_key(
        "bf44c857-b182-bb05-e053-34b8d30a7a72",
        &SecretString::from("dGVzdF9rZXk="),
    )
    .unwrap();
    v
}

fn header(sig: &str) -> String {
    format!("t={T};keyId=bf44c857-b182-bb05-e053-34b8d30a7a72;sig={sig}")
}

#[test]
fn the_reference_vector_signs_and_verifies() {
    assert_eq!(sign(b"test_key", T, VECTOR_PAYLOAD), VECTOR_SIG);
    let notification = verifier()
        .verify(
            Some(&header(VECTOR_SIG)),
            body(VECTOR_PAYLOAD).as_bytes(),
            T + 1_000,
        )
        .unwrap();
    assert_eq!(notification.event_type, EventType::NetworkTokenProvisioned);
    assert_eq!(notification.resource_id(), Some("7010000000016241111"));
    assert_eq!(notification.payload.len(), 1);
    assert_eq!(
        notification.dedupe_key(),
        "cybersource:e339e8b1-d540-4efd-e053-8d588e0a2de5:7010000000016241111:tms.networktoken.provisioned"
    );
}

#[test]
fn a_pretty_printed_payload_verifies_through_its_compact_form() {
    let pretty = serde_json::to_string_pretty(
        &serde_json::from_str::<serde_json::Value>(VECTOR_PAYLOAD).unwrap(),
    )
    .unwrap();
    // serde_json sorts keys in Value; the vector's order is alphabetical, so it is unchanged.
    assert_eq!(compact(&pretty), VECTOR_PAYLOAD);
    assert!(
        verifier()
            .verify(Some(&header(VECTOR_SIG)), body(&pretty).as_bytes(), T)
            .is_ok()
    );
}

#[test]
fn tampering_wrong_keys_and_staleness_are_refused() {
    let v = verifier();
    let tampered = VECTOR_PAYLOAD.replace(
        "7010000000016241111\",\"type",
        "7010000000016249999\",\"type",
    );
    assert_eq!(
        v.verify(Some(&header(VECTOR_SIG)), body(&tampered).as_bytes(), T)
            .err(),
        Some(WebhookError::BadSignature)
    );
    let other_key =
        "t=1728907200000;keyId=someone-else;sig=+lbmGWIBUqKsGMs6QQ5bFXyTEl2nbnmICFG1qyPC7YE=";
    assert!(matches!(
        v.verify(Some(other_key), body(VECTOR_PAYLOAD).as_bytes(), T),
        Err(WebhookError::UnknownKey(_))
    ));
    assert!(matches!(
        v.verify(
            Some(&header(VECTOR_SIG)),
            body(VECTOR_PAYLOAD).as_bytes(),
            T + 301_000
        ),
        Err(WebhookError::Stale(_))
    ));
    assert_eq!(
        v.verify(None, body(VECTOR_PAYLOAD).as_bytes(), T).err(),
        Some(WebhookError::MissingSignature)
    );
    assert!(
        v.verify(
            Some(&header(VECTOR_SIG)),
            body(VECTOR_PAYLOAD).as_bytes(),
            T
        )
        .is_ok()
    );
    // The same delivery again verifies too: whether it is a repeat is the store's to say, when
    // the event is committed (a delivery refused with a 503 and sent again must be taken).
    assert!(
        v.verify(
            Some(&header(VECTOR_SIG)),
            body(VECTOR_PAYLOAD).as_bytes(),
            T + 5
        )
        .is_ok()
    );
    // A timestamp at the ends of the range is stale, never an overflow.
    for t in [i64::MIN, i64::MAX, 0] {
        let header = format!("t={t};keyId=bf44c857-b182-bb05-e053-34b8d30a7a72;sig={VECTOR_SIG}");
        assert!(matches!(
            v.verify(Some(&header), body(VECTOR_PAYLOAD).as_bytes(), T),
            Err(WebhookError::Stale(_))
        ));
    }
}

#[test]
fn the_signature_header_splits_on_the_first_equals_only() {
    let parsed = parse_signature_header("t=1617830804768;keyId=bf44c857-b182-bb05-e053-34b8d30a7a72;sig=CzHY47nzJgCSD/BREtSIb+9l/vfkaaL4qf9n8MNJ4CY=").unwrap();
    assert_eq!(parsed.timestamp_ms, 1_617_830_804_768);
    assert_eq!(parsed.signature.len(), 32);
    assert!(parse_signature_header("t=abc;keyId=k;sig=AA==").is_err());
    assert!(parse_signature_header("t=1;sig=AA==").is_err());
}

#[test]
fn array_payloads_and_unknown_events_are_read() {
    let mut v = WebhookVerifier::new(Duration::from_secs(60));
    v.add_key("k", &SecretString::from("dGVzdF9rZXk=")).unwrap();
    let payload = r#"[{"data":{"id":"123"},"organizationId":"m"}]"#;
    let body = body(payload).replace("tms.networktoken.provisioned", "payments.something.new");
    let sig = sign(b"test_key", T, payload);
    let n = v
        .verify(
            Some(&format!("t={T};keyId=k;sig={sig}")),
            body.as_bytes(),
            T,
        )
        .unwrap();
    assert_eq!(
        n.event_type,
        EventType::Unknown("payments.something.new".into())
    );
    assert_eq!(n.event_type.meaning(), EventMeaning::Other);
    assert_eq!(n.resource_id(), Some("123"));
}

#[test]
fn both_catalogues_mean_the_same() {
    assert_eq!(
        EventType::from("payments.payments.accept").meaning(),
        EventMeaning::PaymentApproved
    );
    assert_eq!(
        EventType::from("payments.authorization.status.accepted").meaning(),
        EventMeaning::PaymentApproved
    );
    assert_eq!(
        EventType::from("payments.refunds.accept").meaning(),
        EventMeaning::Refunded
    );
    assert_eq!(
        EventType::from("risk.casemanagement.decision.reject").meaning(),
        EventMeaning::ReviewRejected
    );
}

proptest::proptest! {
    #[test]
    fn the_header_parser_never_panics(input in "\\PC{0,200}") {
        let _ = parse_signature_header(&input);
    }

    #[test]
    fn any_signed_payload_verifies(id in "[a-z0-9]{1,20}", t in 1_600_000_000_000i64..1_900_000_000_000i64) {
        let mut v = WebhookVerifier::new(Duration::from_secs(60));
        v.add_key("k", &SecretString::from("dGVzdF9rZXk=")).unwrap();
        let payload = format!(r#"{{"data":{{"id":"{id}"}}}}"#);
        let header = format!("t={t};keyId=k;sig={}", sign(b"test_key", t, &payload));
        proptest::prop_assert!(v.verify(Some(&header), body(&payload).as_bytes(), t).is_ok());
    }
}
