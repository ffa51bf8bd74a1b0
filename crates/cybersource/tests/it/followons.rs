//! Captures, refunds, credits, voids and reversals, and the sandbox's rules between them.

use paybridge_cybersource::captures::{AmountOnly, CaptureRequest};
use paybridge_cybersource::followon::FollowOnStatus;
use paybridge_cybersource::payments::{AmountDetails, ClientReference, PaymentRequest};
use paybridge_cybersource::refunds::{CreditRequest, RefundRequest};
use paybridge_cybersource::reversals::{ReversalInformation, ReversalRequest};
use paybridge_cybersource::voids::{VoidRequest, VoidTarget};
use paybridge_cybersource::{Client, Error, Reason};
use paybridge_model::FailureKind;
use rust_decimal::Decimal;

use crate::{SECRET, client, sale, sandbox};

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn reference(tid: Option<&str>) -> ClientReference {
    ClientReference {
        code: "ORDER-1001".into(),
        transaction_id: tid.map(str::to_string),
    }
}

fn amount(value: &str) -> AmountOnly {
    AmountOnly {
        amount_details: AmountDetails {
            total_amount: d(value),
            currency: "USD".into(),
        },
    }
}

fn capture_of(value: &str) -> CaptureRequest {
    CaptureRequest {
        client_reference_information: reference(None),
        order_information: amount(value),
    }
}

fn refund_of(value: &str) -> RefundRequest {
    RefundRequest {
        client_reference_information: reference(None),
        order_information: amount(value),
    }
}

fn reversal_of(value: &str, tid: Option<&str>) -> ReversalRequest {
    ReversalRequest {
        client_reference_information: reference(tid),
        reversal_information: ReversalInformation {
            amount_details: AmountDetails {
                total_amount: d(value),
                currency: "USD".into(),
            },
            reason: Some("order cancelled".into()),
        },
    }
}

fn authorization(value: &str, tid: &str) -> PaymentRequest {
    let mut request = sale(value);
    request.processing_information.capture = false;
    request.client_reference_information.transaction_id = Some(tid.into());
    request
}

fn refused(error: Error) -> Reason {
    assert_eq!(error.kind(), FailureKind::Permanent, "{error}");
    match error {
        Error::InvalidRequest { reason, .. } => reason,
        other => panic!("not a refusal: {other}"),
    }
}

async fn authorized(client: &Client, value: &str, tid: &str) -> String {
    client
        .create_payment(&authorization(value, tid))
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn captures_are_partial_and_multiple_up_to_the_authorized_amount() {
    let (sandbox, server) = sandbox().await;
    let client = client(&server, SECRET);
    let id = authorized(&client, "100.00", "a-1").await;
    let first = client.capture(&id, &capture_of("60.00")).await.unwrap();
    assert_eq!(first.status, FollowOnStatus::Pending);
    assert_eq!(first.amount(), Some(d("60.00")));
    assert_eq!(first.id.len(), 22);
    client.capture(&id, &capture_of("40.00")).await.unwrap();
    assert_eq!(
        refused(client.capture(&id, &capture_of("0.01")).await.unwrap_err()),
        Reason::ExceedsAuthAmount
    );
    let payment = sandbox.payments().into_iter().find(|p| p.id == id).unwrap();
    assert_eq!(payment.captured, d("100.00"));
    assert_eq!(
        refused(
            client
                .capture("1234567890123456789012", &capture_of("1.00"))
                .await
                .unwrap_err()
        ),
        Reason::MissingAuth
    );
}

#[tokio::test]
async fn refunds_are_partial_and_never_exceed_what_was_captured() {
    let (_sandbox, server) = sandbox().await;
    let client = client(&server, SECRET);
    let sale = client.create_payment(&sale("50.00")).await.unwrap();
    let refund = client
        .refund_payment(&sale.id, &refund_of("20.00"))
        .await
        .unwrap();
    assert_eq!(
        (refund.status.clone(), refund.amount()),
        (FollowOnStatus::Pending, Some(d("20.00")))
    );
    assert_eq!(refund.currency(), Some("USD"));
    assert_eq!(
        refused(
            client
                .refund_payment(&sale.id, &refund_of("30.01"))
                .await
                .unwrap_err()
        ),
        Reason::InvalidAmount
    );
    client
        .refund_payment(&sale.id, &refund_of("30.00"))
        .await
        .unwrap();

    let id = authorized(&client, "80.00", "a-2").await;
    let capture = client.capture(&id, &capture_of("30.00")).await.unwrap();
    assert_eq!(
        refused(
            client
                .refund_capture(&capture.id, &refund_of("30.01"))
                .await
                .unwrap_err()
        ),
        Reason::InvalidAmount
    );
    client
        .refund_capture(&capture.id, &refund_of("30.00"))
        .await
        .unwrap();
}

#[tokio::test]
async fn voids_undo_before_settlement_only() {
    let (sandbox, server) = sandbox().await;
    let client = client(&server, SECRET);
    let id = authorized(&client, "100.00", "a-3").await;
    let capture = client.capture(&id, &capture_of("100.00")).await.unwrap();
    let void = VoidRequest {
        client_reference_information: reference(None),
    };
    let voided = client
        .void(VoidTarget::Capture, &capture.id, &void)
        .await
        .unwrap();
    assert_eq!(
        (voided.status.clone(), voided.amount()),
        (FollowOnStatus::Voided, Some(d("100.00")))
    );
    assert_eq!(
        refused(
            client
                .void(VoidTarget::Capture, &capture.id, &void)
                .await
                .unwrap_err()
        ),
        Reason::NotVoidable
    );
    // The voided capture gave its amount back to the authorization.
    let again = client.capture(&id, &capture_of("100.00")).await.unwrap();
    assert!(sandbox.settle().is_some());
    assert_eq!(
        refused(
            client
                .void(VoidTarget::Capture, &again.id, &void)
                .await
                .unwrap_err()
        ),
        Reason::NotVoidable
    );

    let sale = client.create_payment(&sale("10.00")).await.unwrap();
    assert_eq!(
        client
            .void(VoidTarget::Payment, &sale.id, &void)
            .await
            .unwrap()
            .status,
        FollowOnStatus::Voided
    );
    assert!(matches!(
        client.void(VoidTarget::Payment, "../../x", &void).await,
        Err(Error::InvalidInput(_))
    ));
}

#[tokio::test]
async fn reversals_release_uncaptured_authorizations_only() {
    let (_sandbox, server) = sandbox().await;
    let client = client(&server, SECRET);
    let id = authorized(&client, "75.00", "a-4").await;
    let reversal = client
        .reverse_authorization(&id, &reversal_of("75.00", None))
        .await
        .unwrap();
    assert_eq!(
        (reversal.status.clone(), reversal.amount()),
        (FollowOnStatus::Reversed, Some(d("75.00")))
    );
    assert_eq!(
        refused(
            client
                .reverse_authorization(&id, &reversal_of("75.00", None))
                .await
                .unwrap_err()
        ),
        Reason::AuthAlreadyReversed
    );
    assert_eq!(
        refused(client.capture(&id, &capture_of("1.00")).await.unwrap_err()),
        Reason::AuthAlreadyReversed
    );

    let sale = client.create_payment(&sale("75.00")).await.unwrap();
    assert_eq!(
        refused(
            client
                .reverse_authorization(&sale.id, &reversal_of("75.00", None))
                .await
                .unwrap_err()
        ),
        Reason::TransactionAlreadyReversedOrSettled
    );
}

/// Reference §4.3: when an authorization's answer never came, reverse it by the transaction id
/// it was sent with; when a sale's never came, void it by that id.
#[tokio::test]
async fn timeout_reversals_and_voids_find_their_target_by_transaction_id() {
    let (sandbox, server) = sandbox().await;
    let client = client(&server, SECRET);
    authorized(&client, "42.00", "lost-auth").await;
    let reversal = client
        .timeout_reversal(&reversal_of("42.00", Some("lost-auth")))
        .await
        .unwrap();
    assert_eq!(reversal.status, FollowOnStatus::Reversed);
    assert_eq!(reversal.amount(), Some(d("42.00")));

    // Nothing was authorized under this id: the reversal says so with the original amount.
    let nothing = client
        .timeout_reversal(&reversal_of("42.00", Some("never-arrived")))
        .await
        .unwrap();
    assert_eq!(nothing.status, FollowOnStatus::Reversed);
    assert_eq!(
        (nothing.amount(), nothing.original_transaction_amount()),
        (None, Some(d("42.00")))
    );

    let mut lost_sale = sale("12.00");
    lost_sale.client_reference_information.transaction_id = Some("lost-sale".into());
    let sale_id = client.create_payment(&lost_sale).await.unwrap().id;
    let void = VoidRequest {
        client_reference_information: reference(Some("lost-sale")),
    };
    assert_eq!(
        client.timeout_void(&void).await.unwrap().status,
        FollowOnStatus::Voided
    );
    assert!(
        sandbox
            .payments()
            .into_iter()
            .find(|p| p.id == sale_id)
            .unwrap()
            .voided
    );
    let unknown = VoidRequest {
        client_reference_information: reference(Some("no-such")),
    };
    assert_eq!(
        refused(client.timeout_void(&unknown).await.unwrap_err()),
        Reason::InvalidData
    );
    let without_id = VoidRequest {
        client_reference_information: reference(None),
    };
    assert!(matches!(
        client.timeout_void(&without_id).await,
        Err(Error::InvalidInput(_))
    ));
}

#[tokio::test]
async fn a_reused_transaction_id_is_refused() {
    let (_sandbox, server) = sandbox().await;
    let client = client(&server, SECRET);
    authorized(&client, "10.00", "once").await;
    assert_eq!(
        refused(
            client
                .create_payment(&authorization("11.00", "once"))
                .await
                .unwrap_err()
        ),
        Reason::InvalidData
    );
}

#[tokio::test]
async fn credits_send_money_to_a_card() {
    let (_sandbox, server) = sandbox().await;
    let client = client(&server, SECRET);
    let base = sale("15.00");
    let credit = CreditRequest {
        client_reference_information: reference(Some("credit-1")),
        payment_information: base.payment_information,
        order_information: base.order_information,
    };
    let answer = client.credit(&credit).await.unwrap();
    assert_eq!(
        (answer.status.clone(), answer.amount()),
        (FollowOnStatus::Pending, Some(d("15.00")))
    );
    let void = VoidRequest {
        client_reference_information: reference(None),
    };
    assert_eq!(
        client
            .void(VoidTarget::Credit, &answer.id, &void)
            .await
            .unwrap()
            .status,
        FollowOnStatus::Voided
    );
}

/// A capture whose answer was lost is found by its transaction id, or, if Cybersource never
/// made it, cancelled to be sure (reference §4.3) — never captured twice.
#[tokio::test]
async fn unanswered_captures_and_authorizations_are_found_or_cancelled() {
    use paybridge_cybersource::resolution::{Resolution, Unanswered};
    use paybridge_sandbox::faults::{FaultMode, FaultRule};
    let (sandbox, server) = sandbox().await;
    let client = client(&server, SECRET);
    let id = authorized(&client, "90.00", "auth-ok").await;

    sandbox.faults().add(FaultRule::next(
        "POST",
        "/pts/v2/payments/",
        FaultMode::ErrorAfter { status: 502 },
        1,
    ));
    let capture = CaptureRequest {
        client_reference_information: reference(Some("cap-lost")),
        order_information: amount("90.00"),
    };
    assert_eq!(
        client.capture(&id, &capture).await.unwrap_err().kind(),
        FailureKind::OutcomeUnknown
    );
    let Resolution::Found(details) = client
        .resolve_unanswered("ORDER-1001", "cap-lost", &Unanswered::Voidable, 1)
        .await
        .unwrap()
    else {
        panic!("the capture happened")
    };
    assert!(
        details
            .application_information
            .application("ics_bill")
            .unwrap()
            .succeeded()
    );

    sandbox.faults().add(FaultRule::next(
        "POST",
        "/pts/v2/payments/",
        FaultMode::ErrorBefore { status: 502 },
        1,
    ));
    let id2 = authorized(&client, "10.00", "auth-two").await;
    let never = CaptureRequest {
        client_reference_information: reference(Some("cap-never")),
        order_information: amount("10.00"),
    };
    assert!(client.capture(&id2, &never).await.is_err());
    assert!(matches!(
        client
            .resolve_unanswered("ORDER-1001", "cap-never", &Unanswered::Voidable, 1)
            .await
            .unwrap(),
        Resolution::NotFound { cancelled: false }
    ));

    sandbox.faults().add(FaultRule::next(
        "POST",
        "/pts/v2/payments",
        FaultMode::ErrorAfter { status: 502 },
        1,
    ));
    assert!(
        client
            .create_payment(&authorization("33.00", "auth-lost"))
            .await
            .is_err()
    );
    let kind = Unanswered::Authorization {
        amount: AmountDetails {
            total_amount: d("33.00"),
            currency: "USD".into(),
        },
    };
    assert!(matches!(
        client
            .resolve_unanswered("ORDER-1001", "auth-lost", &kind, 1)
            .await
            .unwrap(),
        Resolution::Found(_)
    ));
    assert!(matches!(
        client
            .resolve_unanswered("ORDER-1001", "auth-gone", &kind, 1)
            .await
            .unwrap(),
        Resolution::NotFound { cancelled: false }
    ));
}
