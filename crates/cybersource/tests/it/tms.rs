//! Token Management against the sandbox: a card becomes tokens once, and tokens pay.

use paybridge_cybersource::payments::{PaymentInformation, PaymentStatus, TokenId};
use paybridge_cybersource::tms::{
    BuyerInformation, CardNumber, Contact, CustomerRequest, IdRef, InstrumentCard,
    PaymentInstrumentRequest, ShippingAddressRequest,
};
use paybridge_cybersource::{Client, Error};
use paybridge_model::FailureKind;
use secrecy::SecretString;

use crate::{SECRET, client, sale, sandbox};

fn card(number: &str) -> CardNumber {
    CardNumber(SecretString::from(number))
}

async fn customer_with_card(client: &Client) -> (String, String, String) {
    let (identifier, created) = client
        .create_instrument_identifier(&card("4111111111111111"))
        .await
        .unwrap();
    assert!(created);
    let customer = client
        .create_customer(&CustomerRequest {
            buyer_information: Some(BuyerInformation {
                email: Some("ada@example.com".into()),
                merchant_customer_id: Some("C-1".into()),
            }),
            ..CustomerRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(customer.id.len(), 32);
    let instrument = client
        .create_payment_instrument(
            &customer.id,
            &PaymentInstrumentRequest {
                card: Some(InstrumentCard {
                    expiration_month: Some("12".into()),
                    expiration_year: Some("2031".into()),
                    card_type: Some("001".into()),
                }),
                instrument_identifier: Some(IdRef {
                    id: identifier.id.clone(),
                }),
                ..PaymentInstrumentRequest::default()
            },
        )
        .await
        .unwrap();
    assert!(instrument.default, "the first instrument is the default");
    (customer.id, instrument.id, identifier.id)
}

#[tokio::test]
async fn a_card_number_becomes_one_stable_identifier() {
    let (_sandbox, server) = sandbox().await;
    let client = client(&server, SECRET);
    let (first, created) = client
        .create_instrument_identifier(&card("4111111111111111"))
        .await
        .unwrap();
    assert!(created);
    assert_eq!(first.id.len(), 19);
    assert_eq!(
        first.card.as_ref().and_then(|c| c.number.as_deref()),
        Some("411111XXXXXX1111"),
        "masked"
    );
    let (again, created_again) = client
        .create_instrument_identifier(&card("4111111111111111"))
        .await
        .unwrap();
    assert_eq!((again.id, created_again), (first.id.clone(), false));
    let error = client
        .create_instrument_identifier(&card("4111111111111112"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Tms { status: 400, kind, fields, .. } if kind == "invalidFields" && fields == &["card.number"]),
        "{error}"
    );
    assert!(!format!("{error} {:?}", card("4111111111111111")).contains("4111111111111111"));
}

#[tokio::test]
async fn customers_pay_with_their_default_instrument_or_a_named_one() {
    let (sandbox, server) = sandbox().await;
    let client = client(&server, SECRET);
    let (customer_id, instrument_id, identifier_id) = customer_with_card(&client).await;

    let mut by_customer = sale("25.00");
    by_customer.payment_information = PaymentInformation {
        customer: Some(TokenId {
            id: customer_id.clone(),
        }),
        ..PaymentInformation::default()
    };
    assert_eq!(
        client.create_payment(&by_customer).await.unwrap().status,
        PaymentStatus::Authorized
    );

    let mut by_instrument = sale("26.00");
    by_instrument.payment_information = PaymentInformation {
        customer: Some(TokenId {
            id: customer_id.clone(),
        }),
        payment_instrument: Some(TokenId { id: instrument_id }),
        ..PaymentInformation::default()
    };
    assert_eq!(
        client.create_payment(&by_instrument).await.unwrap().status,
        PaymentStatus::Authorized
    );

    // An identifier alone carries no expiry: the request must (and this one does not).
    let mut by_identifier = sale("27.00");
    by_identifier.payment_information = PaymentInformation {
        instrument_identifier: Some(TokenId { id: identifier_id }),
        ..PaymentInformation::default()
    };
    let error = client.create_payment(&by_identifier).await.unwrap_err();
    assert!(error.to_string().contains("expirationMonth"), "{error}");
    assert!(
        sandbox
            .payments()
            .iter()
            .all(|p| p.card_suffix.as_deref() == Some("1111"))
    );

    let mut unknown = sale("28.00");
    unknown.payment_information = PaymentInformation {
        customer: Some(TokenId { id: "0".repeat(32) }),
        ..PaymentInformation::default()
    };
    assert_eq!(
        client.create_payment(&unknown).await.unwrap_err().kind(),
        FailureKind::Permanent
    );
}

#[tokio::test]
async fn a_sale_can_create_the_tokens_it_pays_with() {
    let (_sandbox, server) = sandbox().await;
    let client = client(&server, SECRET);
    let mut first = sale("30.00");
    first.processing_information.action_list = vec!["TOKEN_CREATE".into()];
    first.processing_information.action_token_types = vec![
        "customer".into(),
        "paymentInstrument".into(),
        "instrumentIdentifier".into(),
    ];
    let paid = client.create_payment(&first).await.unwrap();
    let tokens = paid.token_information.expect("tokens come back");
    let customer_id = tokens["customer"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        client
            .payment_instruments(&customer_id)
            .await
            .unwrap()
            .len(),
        1
    );

    let mut again = sale("31.00");
    again.payment_information = PaymentInformation {
        customer: Some(TokenId { id: customer_id }),
        ..PaymentInformation::default()
    };
    assert_eq!(
        client.create_payment(&again).await.unwrap().status,
        PaymentStatus::Authorized
    );
}

#[tokio::test]
async fn updates_take_the_version_they_change() {
    let (_sandbox, server) = sandbox().await;
    let client = client(&server, SECRET);
    let (customer_id, _, identifier_id) = customer_with_card(&client).await;
    let read = client.customer(&customer_id).await.unwrap();
    let etag = read.etag.clone().expect("an ETag");
    let change = CustomerRequest {
        buyer_information: Some(BuyerInformation {
            email: Some("ada@lovelace.example".into()),
            merchant_customer_id: None,
        }),
        ..CustomerRequest::default()
    };
    let updated = client
        .update_customer(&customer_id, &change, Some(&etag))
        .await
        .unwrap();
    assert_eq!(
        updated.buyer_information.unwrap().email.as_deref(),
        Some("ada@lovelace.example")
    );
    assert_ne!(updated.etag.as_deref(), Some(etag.as_str()));
    let stale = client
        .update_customer(&customer_id, &change, Some(&etag))
        .await
        .unwrap_err();
    assert!(matches!(stale, Error::Tms { status: 412, .. }), "{stale}");

    let in_use = client
        .delete_instrument_identifier(&identifier_id)
        .await
        .unwrap_err();
    assert!(matches!(in_use, Error::Tms { status: 409, .. }), "{in_use}");

    let address = client
        .create_shipping_address(
            &customer_id,
            &ShippingAddressRequest {
                default: None,
                ship_to: Contact {
                    first_name: Some("Ada".into()),
                    address1: Some("1 Market St".into()),
                    country: Some("US".into()),
                    ..Contact::default()
                },
            },
        )
        .await
        .unwrap();
    assert!(address.default);
    assert_eq!(
        client.shipping_addresses(&customer_id).await.unwrap().len(),
        1
    );
    client
        .delete_shipping_address(&customer_id, &address.id)
        .await
        .unwrap();
    client.delete_customer(&customer_id).await.unwrap();
    assert!(matches!(
        client.customer(&customer_id).await.unwrap_err(),
        Error::Tms { status: 404, .. }
    ));
}

#[tokio::test]
async fn new_tokens_are_announced_by_webhook() {
    use crate::webhooks::{next, now_ms, receiver, sandbox_with_fast_minutes, subscribe};
    use paybridge_cybersource::webhooks::{EventMeaning, EventType};
    let (_sandbox, server) = sandbox_with_fast_minutes().await;
    let client = client(&server, SECRET);
    let (hooks, mut rx) = receiver(0).await;
    let (_, verifier) = subscribe(
        &client,
        format!("{}hooks", hooks.url()),
        "tokenManagement",
        &["tms.token.created"],
    )
    .await;
    let customer = client
        .create_customer(&CustomerRequest::default())
        .await
        .unwrap();
    let (headers, body) = next(&mut rx).await;
    let n = verifier
        .verify(
            headers.get("v-c-signature").and_then(|v| v.to_str().ok()),
            &body,
            now_ms(),
        )
        .unwrap();
    assert_eq!(n.event_type, EventType::TokenCreated);
    assert_eq!(n.event_type.meaning(), EventMeaning::Token);
    assert_eq!(n.resource_id(), Some(customer.id.as_str()));
}

#[tokio::test]
async fn tokens_a_payment_creates_are_announced_too() {
    use crate::webhooks::{next, now_ms, receiver, sandbox_with_fast_minutes, subscribe};
    use paybridge_cybersource::webhooks::EventType;
    let (_sandbox, server) = sandbox_with_fast_minutes().await;
    let client = client(&server, SECRET);
    let (hooks, mut rx) = receiver(0).await;
    let (_, verifier) = subscribe(
        &client,
        format!("{}hooks", hooks.url()),
        "tokenManagement",
        &["tms.token.created"],
    )
    .await;
    let mut paying = sale("32.00");
    paying.processing_information.action_list = vec!["TOKEN_CREATE".into()];
    paying.processing_information.action_token_types = vec![
        "customer".into(),
        "paymentInstrument".into(),
        "instrumentIdentifier".into(),
    ];
    let tokens = client
        .create_payment(&paying)
        .await
        .unwrap()
        .token_information
        .expect("tokens come back");
    let mut announced = Vec::new();
    for _ in 0..3 {
        let (headers, body) = next(&mut rx).await;
        let n = verifier
            .verify(
                headers.get("v-c-signature").and_then(|v| v.to_str().ok()),
                &body,
                now_ms(),
            )
            .unwrap();
        assert_eq!(n.event_type, EventType::TokenCreated);
        announced.push(n.resource_id().unwrap().to_string());
    }
    announced.sort();
    let mut made = vec![
        tokens["customer"]["id"].as_str().unwrap().to_string(),
        tokens["paymentInstrument"]["id"]
            .as_str()
            .unwrap()
            .to_string(),
        tokens["instrumentIdentifier"]["id"]
            .as_str()
            .unwrap()
            .to_string(),
    ];
    made.sort();
    assert_eq!(
        announced, made,
        "each token the payment made is announced once"
    );
}
