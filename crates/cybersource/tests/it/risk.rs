//! Decision Manager: decisions, a review held on a payment, and the decisions that release or
//! reverse it — the merchant's own (case actions) and a reviewer's (a webhook).

use paybridge_cybersource::payments::{ClientReference, PaymentOutcome, PaymentStatus};
use paybridge_cybersource::risk::{
    CaseDecision, DecisionAmount, DecisionOrder, DecisionRequest, DecisionStatus,
};
use paybridge_cybersource::webhooks::{EventMeaning, EventType};

use crate::webhooks::{next, now_ms, receiver, sandbox_with_fast_minutes, subscribe};
use crate::{SECRET, client, sale, sandbox};

fn decision(email: &str) -> DecisionRequest {
    let mut bill_to = sale("1.00").order_information.bill_to.unwrap();
    bill_to.email = email.into();
    DecisionRequest {
        client_reference_information: ClientReference {
            code: "ORDER-DM".into(),
            transaction_id: None,
        },
        order_information: DecisionOrder {
            amount_details: DecisionAmount {
                total_amount: "250.00".parse().unwrap(),
                currency: "USD".into(),
            },
            bill_to,
        },
        device_information: None,
        buyer_information: None,
        risk_information: None,
    }
}

fn reviewed_sale(amount: &str) -> paybridge_cybersource::PaymentRequest {
    let mut request = sale(amount);
    request.order_information.bill_to.as_mut().unwrap().email = "dm-review.ada@example.com".into();
    request
}

#[tokio::test]
async fn decisions_follow_the_documented_outcomes() {
    let (_sandbox, server) = sandbox().await;
    let client = client(&server, SECRET);
    assert_eq!(
        client
            .create_decision(&decision("ada@example.com"))
            .await
            .unwrap()
            .status,
        DecisionStatus::Accepted
    );
    let review = client
        .create_decision(&decision("dm-review@example.com"))
        .await
        .unwrap();
    assert_eq!(review.status, DecisionStatus::PendingReview);
    assert_eq!(review.risk_information.score(), Some(75));
    assert!(!review.risk_information.triggered_rules().is_empty());
    assert_eq!(
        client
            .create_decision(&decision("dm-reject@example.com"))
            .await
            .unwrap()
            .status,
        DecisionStatus::Rejected
    );
}

#[tokio::test]
async fn a_held_payment_is_released_by_the_merchants_decision_with_a_capture() {
    let (sandbox, server) = sandbox().await;
    let client = client(&server, SECRET);
    let held = client
        .create_payment(&reviewed_sale("300.00"))
        .await
        .unwrap();
    assert_eq!(held.status, PaymentStatus::AuthorizedPendingReview);
    assert!(matches!(held.outcome(), PaymentOutcome::Held { .. }));
    assert_eq!(
        held.risk_information.as_ref().and_then(|r| r.score()),
        Some(75)
    );
    assert_eq!(
        sandbox.payments()[0].captured,
        "0".parse().unwrap(),
        "a held sale is not captured"
    );

    client
        .comment_case(&held.id, "called the customer")
        .await
        .unwrap();
    let decided = client
        .decide_case(
            &held.id,
            CaseDecision::Accept { capture: true },
            "verified by phone",
        )
        .await
        .unwrap();
    assert_eq!(decided.status.as_deref(), Some("ACCEPTED"));
    let details = client.transaction(&held.id).await.unwrap();
    assert_eq!(details.related_ids().len(), 1, "the capture");
    assert!(
        client
            .decide_case(&held.id, CaseDecision::Reject { reverse: true }, "too late")
            .await
            .is_err(),
        "decided once"
    );
}

#[tokio::test]
async fn a_reviewers_decision_arrives_as_a_webhook() {
    let (sandbox, server) = sandbox_with_fast_minutes().await;
    let client = client(&server, SECRET);
    let (hooks, mut rx) = receiver(0).await;
    let (_, verifier) = subscribe(
        &client,
        format!("{}hooks", hooks.url()),
        "decisionManager",
        &["risk.casemanagement.decision.reject"],
    )
    .await;
    let held = client
        .create_payment(&reviewed_sale("301.00"))
        .await
        .unwrap();

    sandbox
        .decide_case(&held.id, false, "stolen card pattern")
        .expect("an open case");
    let (headers, body) = next(&mut rx).await;
    let notification = verifier
        .verify(
            headers.get("v-c-signature").and_then(|v| v.to_str().ok()),
            &body,
            now_ms(),
        )
        .unwrap();
    assert_eq!(notification.event_type, EventType::CaseDecisionReject);
    assert_eq!(
        notification.event_type.meaning(),
        EventMeaning::ReviewRejected
    );
    assert_eq!(notification.resource_id(), Some(held.id.as_str()));
    assert_eq!(
        notification.payload[0].data["referenceNumber"],
        "ORDER-1001"
    );

    // The merchant then reverses the authorization the reviewer rejected.
    let reversal = paybridge_cybersource::reversals::ReversalRequest {
        client_reference_information: ClientReference {
            code: "ORDER-1001".into(),
            transaction_id: None,
        },
        reversal_information: paybridge_cybersource::reversals::ReversalInformation {
            amount_details: paybridge_cybersource::payments::AmountDetails {
                total_amount: "301.00".parse().unwrap(),
                currency: "USD".into(),
            },
            reason: Some("rejected in review".into()),
        },
    };
    assert!(
        client
            .reverse_authorization(&held.id, &reversal)
            .await
            .unwrap()
            .status
            .succeeded()
    );
}
