//! The Cybersource client against the Cybersource sandbox, over HTTP.

mod contract;
mod followons;
mod reports;
mod risk;
mod search;
mod tms;
mod webhooks;

use std::net::{Ipv4Addr, SocketAddr};

use paybridge_cybersource::payments::{
    AmountDetails, BillTo, Card, ClientReference, OrderInformation, PaymentInformation,
    PaymentOutcome, PaymentRequest, ProcessingInformation,
};
use paybridge_cybersource::{
    Client, ClientConfig, Credentials, Environment, Error, PaymentStatus, Reason,
};
use paybridge_model::FailureKind;
use paybridge_sandbox::cybersource::{CybersourceConfig, CybersourceSandbox};
use paybridge_sandbox::server::RunningServer;
use rust_decimal::Decimal;
use secrecy::SecretString;

pub const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

pub async fn sandbox() -> (CybersourceSandbox, RunningServer) {
    let sandbox = CybersourceSandbox::new(&CybersourceConfig::with_key(
        "test_merchant",
        "key-1",
        SECRET,
    ))
    .unwrap();
    let server = RunningServer::start(sandbox.router(), SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap();
    (sandbox, server)
}

pub fn client(server: &RunningServer, secret: &str) -> Client {
    Client::new(ClientConfig::new(
        Environment::Custom(server.url()),
        Credentials {
            merchant_id: "test_merchant".into(),
            key_id: "key-1".into(),
            shared_secret: SecretString::from(secret),
        },
    ))
    .unwrap()
}

pub fn sale(amount: &str) -> PaymentRequest {
    PaymentRequest {
        client_reference_information: ClientReference {
            code: "ORDER-1001".into(),
            transaction_id: Some(format!("t-{amount}")),
        },
        processing_information: ProcessingInformation {
            capture: true,
            commerce_indicator: Some("internet".into()),
            action_list: vec![],
            action_token_types: vec![],
        },
        payment_information: PaymentInformation {
            card: Some(Card {
                number: SecretString::from("4111111111111111"),
                expiration_month: "12".into(),
                expiration_year: "2031".into(),
                security_code: Some(SecretString::from("123")),
                card_type: Some("001".into()),
            }),
            ..PaymentInformation::default()
        },
        token_information: None,
        risk_information: None,
        device_information: None,
        buyer_information: None,
        order_information: OrderInformation {
            amount_details: AmountDetails {
                total_amount: amount.parse::<Decimal>().unwrap(),
                currency: "USD".into(),
            },
            bill_to: Some(BillTo {
                first_name: "John".into(),
                last_name: "Doe".into(),
                company: None,
                address1: "1 Market St".into(),
                address2: None,
                locality: "San Francisco".into(),
                administrative_area: Some("CA".into()),
                postal_code: "94105".into(),
                country: "US".into(),
                email: "test@example.com".into(),
                phone_number: None,
            }),
            line_items: vec![],
        },
    }
}

fn install_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[tokio::test]
async fn an_approved_sale_carries_the_sandbox_constants() {
    let (sandbox, server) = sandbox().await;
    let client = client(&server, SECRET);
    let response = client.create_payment(&sale("102.21")).await.unwrap();
    assert_eq!(response.status, PaymentStatus::Authorized);
    assert_eq!(response.outcome(), PaymentOutcome::Approved);
    assert_eq!(response.id.len(), 22);
    assert_eq!(response.authorized_amount(), Some(Decimal::new(10221, 2)));
    let processor = response.processor_information.unwrap();
    assert_eq!(
        (
            processor.approval_code.as_deref(),
            processor.response_code.as_deref()
        ),
        (Some("888888"), Some("100"))
    );
    assert!(
        response.correlation_id.is_some(),
        "v-c-correlation-id is kept for traces"
    );
    let recorded = &sandbox.payments()[0];
    assert_eq!(
        recorded.captured, recorded.amount,
        "a sale is captured at once"
    );
    assert_eq!(recorded.transaction_id.as_deref(), Some("t-102.21"));
    assert_eq!(client.calls(), 1);
}

#[tokio::test]
async fn magic_amounts_decline_with_their_reasons() {
    let (_sandbox, server) = sandbox().await;
    let client = client(&server, SECRET);
    for (amount, reason) in [
        ("2051.00", Reason::InsufficientFund),
        ("2054.00", Reason::ExpiredCard),
        ("2005.00", Reason::ProcessorDeclined),
    ] {
        let response = client.create_payment(&sale(amount)).await.unwrap();
        assert_eq!(response.status, PaymentStatus::Declined);
        let PaymentOutcome::Declined {
            reason: got,
            message,
        } = response.outcome()
        else {
            panic!("declined")
        };
        assert_eq!(got, reason, "{amount}");
        assert!(message.starts_with("Decline"), "{message}");
    }
}

#[tokio::test]
async fn a_server_error_on_a_payment_has_an_unknown_outcome() {
    let (_sandbox, server) = sandbox().await;
    let error = client(&server, SECRET)
        .create_payment(&sale("2091.00"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            Error::Server {
                status: 502,
                reason: Reason::ServerTimeout,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(error.kind(), FailureKind::OutcomeUnknown);
    assert!(error.correlation_id().is_some());
}

#[tokio::test]
async fn a_wrong_secret_is_a_configuration_error_that_shows_no_secret() {
    let (sandbox, server) = sandbox().await;
    let wrong = "BBECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let error = client(&server, wrong)
        .create_payment(&sale("10.00"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Unauthorized { status: 401, message, .. } if message == "Authentication Failed"),
        "{error}"
    );
    assert_eq!(error.kind(), FailureKind::Configuration);
    let printed = format!("{error} {error:?}");
    assert!(
        !printed.contains(wrong) && !printed.contains("4111111111111111"),
        "{printed}"
    );
    assert_eq!(sandbox.stats().authentication_failures, 1);
}

#[tokio::test]
async fn missing_fields_are_permanent_and_named() {
    let (_sandbox, server) = sandbox().await;
    let mut request = sale("10.00");
    request.order_information.bill_to = None;
    let error = client(&server, SECRET)
        .create_payment(&request)
        .await
        .unwrap_err();
    let Error::InvalidRequest {
        reason, details, ..
    } = &error
    else {
        panic!("{error}")
    };
    assert_eq!(*reason, Reason::MissingField);
    assert!(
        details
            .iter()
            .any(|d| d.field.as_deref() == Some("orderInformation.billTo.firstName"))
    );
    assert_eq!(error.kind(), FailureKind::Permanent);
}

#[tokio::test]
async fn over_long_fields_are_invalid_data() {
    let (_sandbox, server) = sandbox().await;
    let mut request = sale("10.00");
    request.client_reference_information.transaction_id = Some("t".repeat(31));
    let error = client(&server, SECRET)
        .create_payment(&request)
        .await
        .unwrap_err();
    let Error::InvalidRequest {
        reason, details, ..
    } = &error
    else {
        panic!("{error}")
    };
    assert_eq!(*reason, Reason::InvalidData);
    assert_eq!(
        details[0].field.as_deref(),
        Some("clientReferenceInformation.transactionId")
    );
}

#[tokio::test]
async fn an_unreachable_host_is_transient() {
    install_tls();
    // Bind and drop a listener: nothing answers on that port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = Client::new(ClientConfig::new(
        Environment::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
        Credentials {
            merchant_id: "m".into(),
            key_id: "k".into(),
            shared_secret: SecretString::from(SECRET),
        },
    ))
    .unwrap();
    let error = client.create_payment(&sale("10.00")).await.unwrap_err();
    assert!(matches!(error, Error::Connect { .. }), "{error}");
    assert_eq!(error.kind(), FailureKind::Transient);
}

/// The TLS crypto provider is installed by the client itself, so building one for the real
/// (HTTPS) hosts never panics.
#[test]
fn clients_for_real_hosts_build() {
    for environment in [
        Environment::Sandbox,
        Environment::Production,
        Environment::ProductionIndia,
    ] {
        Client::new(ClientConfig::new(
            environment,
            Credentials {
                merchant_id: "m".into(),
                key_id: "k".into(),
                shared_secret: SecretString::from(SECRET),
            },
        ))
        .unwrap();
    }
}

/// Reference §4.3: a payment whose answer never came (the effect applied, the answer late past
/// the client's timeout) has an unknown outcome, and Transaction Search finds it.
#[tokio::test]
async fn a_timeout_after_the_effect_is_an_unknown_outcome_that_search_resolves() {
    use paybridge_sandbox::faults::{FaultMode, FaultRule};
    let (sandbox, server) = sandbox().await;
    sandbox.faults().add(FaultRule::next(
        "POST",
        "/pts/v2/payments",
        FaultMode::DelayAfter { millis: 3_000 },
        1,
    ));
    let mut config = ClientConfig::new(
        Environment::Custom(server.url()),
        Credentials {
            merchant_id: "test_merchant".into(),
            key_id: "key-1".into(),
            shared_secret: SecretString::from(SECRET),
        },
    );
    config.request_timeout = std::time::Duration::from_millis(300);
    let impatient = Client::new(config).unwrap();
    let mut lost = sale("44.00");
    lost.client_reference_information.code = "LOST-1".into();
    let error = impatient.create_payment(&lost).await.unwrap_err();
    assert!(
        matches!(error, Error::NoAnswer { write: true, .. }),
        "{error}"
    );
    assert_eq!(error.kind(), FailureKind::OutcomeUnknown);
    let found = client(&server, SECRET)
        .search(&paybridge_cybersource::search::SearchRequest::by_merchant_reference("LOST-1", 1))
        .await
        .unwrap();
    assert_eq!(found.total_count, 1, "the payment happened");
    assert!(found.summaries()[0].is_successful_authorization());
}

#[tokio::test]
async fn reviews_before_authorization_and_3ds_hold_the_payment() {
    let (_sandbox, server) = sandbox().await;
    let client = client(&server, SECRET);
    for (email, status) in [
        ("dm-prereview@example.com", PaymentStatus::PendingReview),
        ("3ds-ada@example.com", PaymentStatus::PendingAuthentication),
        (
            "dm-reject@example.com",
            PaymentStatus::AuthorizedRiskDeclined,
        ),
    ] {
        let mut request = sale("60.00");
        request.client_reference_information.transaction_id = Some(format!("t-{email}"));
        request.order_information.bill_to.as_mut().unwrap().email = email.into();
        let answer = client.create_payment(&request).await.unwrap();
        assert_eq!(answer.status, status, "{email}");
        assert!(
            !matches!(answer.outcome(), PaymentOutcome::Approved),
            "{email}"
        );
    }
}

/// What Microform does in the shopper's browser: the card goes to the simulated Cybersource,
/// the storefront gets a transient token.
async fn capture_in_browser(server: &RunningServer, number: &str) -> serde_json::Value {
    install_tls();
    let answer = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap()
        .post(server.url().join("__sandbox/transient-tokens").unwrap())
        .json(&serde_json::json!({
            "number": number, "expirationMonth": "12", "expirationYear": "2031"
        }))
        .send()
        .await
        .unwrap();
    let status = answer.status();
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body
}

fn by_transient_token(jwt: &str, transaction_id: &str) -> PaymentRequest {
    let mut request = sale("41.00");
    request.client_reference_information.transaction_id = Some(transaction_id.into());
    request.payment_information.card = None;
    request.token_information = Some(paybridge_cybersource::payments::TokenInformation {
        transient_token_jwt: jwt.into(),
    });
    request
}

#[tokio::test]
async fn a_transient_token_pays_with_the_card_captured_in_the_browser() {
    let (sandbox, server) = sandbox().await;
    let client = client(&server, SECRET);
    let captured = capture_in_browser(&server, "5555 5555 5555 4444").await;
    let jwt = captured["transientToken"].as_str().unwrap();
    assert_eq!(jwt.split('.').count(), 3, "a JWT: {jwt}");
    assert_eq!(captured["jti"].as_str().unwrap().len(), 64);

    let response = client
        .create_payment(&by_transient_token(jwt, "tt-1"))
        .await
        .unwrap();
    assert_eq!(response.outcome(), PaymentOutcome::Approved);
    let recorded = &sandbox.payments()[0];
    assert_eq!(recorded.amount, Decimal::new(4100, 2));
    // The same token can be spent again while it lives (an authorization, then a token create).
    let again = client
        .create_payment(&by_transient_token(jwt, "tt-2"))
        .await
        .unwrap();
    assert_eq!(again.outcome(), PaymentOutcome::Approved);

    // A token the sandbox never issued is refused, naming the field.
    let forged = {
        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let parts: Vec<&str> = jwt.split('.').collect();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        claims["jti"] = "F".repeat(64).into();
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        format!("{}.{claims}.{}", parts[0], parts[2])
    };
    let error = client
        .create_payment(&by_transient_token(&forged, "tt-3"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), FailureKind::Permanent, "{error}");
    assert_eq!(client.calls(), 3);
}

#[tokio::test]
async fn an_expired_transient_token_is_invalid_data() {
    let sandbox = CybersourceSandbox::new(&CybersourceConfig {
        transient_token_lifetime_secs: 0,
        ..CybersourceConfig::with_key("test_merchant", "key-1", SECRET)
    })
    .unwrap();
    let server = RunningServer::start(sandbox.router(), SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap();
    let captured = capture_in_browser(&server, "4111111111111111").await;
    let error = client(&server, SECRET)
        .create_payment(&by_transient_token(
            captured["transientToken"].as_str().unwrap(),
            "tt-x",
        ))
        .await
        .unwrap_err();
    match error {
        Error::InvalidRequest {
            reason, details, ..
        } => {
            assert_eq!(reason, Reason::InvalidData);
            assert!(
                details
                    .iter()
                    .any(|d| d.field.as_deref() == Some("tokenInformation.transientTokenJwt")),
                "{details:?}"
            );
        }
        other => panic!("expected INVALID_DATA, got {other:?}"),
    }
    assert!(sandbox.payments().is_empty());
}

#[tokio::test]
async fn a_rotated_shared_secret_signs_from_the_next_request_on() {
    let (_sandbox, server) = sandbox().await;
    let wrong = "BBECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let client = client(&server, wrong);
    assert!(matches!(
        client.create_payment(&sale("10.00")).await,
        Err(Error::Unauthorized { .. })
    ));
    // Not a key: refused, and the one in use stays.
    assert!(
        client
            .set_shared_secret(&secrecy::SecretString::from("not base64!"))
            .is_err()
    );
    client
        .set_shared_secret(&secrecy::SecretString::from(SECRET))
        .unwrap();
    // Clones share it (the engine's connectors are clones).
    assert!(client.clone().create_payment(&sale("10.00")).await.is_ok());
}

#[tokio::test]
async fn a_redirect_is_reported_never_followed_with_the_signature() {
    use paybridge_sandbox::faults::{FaultMode, FaultRule};
    let (sandbox, server) = sandbox().await;
    // Back to the same path: followed, the signed request would go through and charge.
    sandbox.faults().add(FaultRule::next(
        "POST",
        "/pts/v2/payments",
        FaultMode::Redirect {
            location: "/pts/v2/payments".into(),
        },
        1,
    ));
    let error = client(&server, SECRET)
        .create_payment(&sale("10.00"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::UnexpectedResponse { status: 307, .. }),
        "{error}"
    );
    assert!(sandbox.payments().is_empty(), "the redirect was followed");
}
