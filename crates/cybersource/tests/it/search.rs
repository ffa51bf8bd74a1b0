//! Transaction details and searches.

use paybridge_cybersource::Error;
use paybridge_cybersource::captures::{AmountOnly, CaptureRequest};
use paybridge_cybersource::payments::{AmountDetails, ClientReference};
use paybridge_cybersource::search::SearchRequest;

use crate::{SECRET, client, sale, sandbox};

#[tokio::test]
async fn a_sale_shows_its_authorization_and_capture_applications() {
    let (_sandbox, server) = sandbox().await;
    let client = client(&server, SECRET);
    let sale = client.create_payment(&sale("99.99")).await.unwrap();
    let details = client.transaction(&sale.id).await.unwrap();
    assert_eq!(details.id, sale.id);
    assert_eq!(details.root_id.as_deref(), Some(sale.id.as_str()));
    let apps = &details.application_information;
    assert!(apps.application("ics_auth").unwrap().succeeded());
    assert!(apps.application("ics_bill").unwrap().succeeded());
    assert_eq!(
        details.client_reference_information.code.as_deref(),
        Some("ORDER-1001")
    );
    assert_eq!(
        details
            .order_information
            .amount_details
            .unwrap()
            .total_amount,
        Some("99.99".parse().unwrap())
    );
    assert!(matches!(
        client.transaction("1234567890123456789012").await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn follow_ons_are_linked_to_their_payment() {
    let (_sandbox, server) = sandbox().await;
    let client = client(&server, SECRET);
    let mut auth = sale("30.00");
    auth.processing_information.capture = false;
    let auth = client.create_payment(&auth).await.unwrap();
    let capture = CaptureRequest {
        client_reference_information: ClientReference {
            code: "ORDER-1001".into(),
            transaction_id: None,
        },
        order_information: AmountOnly {
            amount_details: AmountDetails {
                total_amount: "30.00".parse().unwrap(),
                currency: "USD".into(),
            },
        },
    };
    let capture = client.capture(&auth.id, &capture).await.unwrap();
    let details = client.transaction(&capture.id).await.unwrap();
    assert_eq!(details.root_id.as_deref(), Some(auth.id.as_str()));
    assert!(
        details
            .application_information
            .application("ics_bill")
            .unwrap()
            .succeeded()
    );
    assert_eq!(
        client.transaction(&auth.id).await.unwrap().related_ids(),
        [capture.id]
    );
}

#[tokio::test]
async fn searches_find_payments_by_merchant_reference() {
    let (_sandbox, server) = sandbox().await;
    let client = client(&server, SECRET);
    let mut mine = sale("10.00");
    mine.client_reference_information.code = "FIND-ME".into();
    let found_id = client.create_payment(&mine).await.unwrap().id;
    client.create_payment(&sale("11.00")).await.unwrap();

    let answer = client
        .search(&SearchRequest::by_merchant_reference("FIND-ME", 7))
        .await
        .unwrap();
    assert_eq!(answer.total_count, 1);
    let summary = &answer.summaries()[0];
    assert_eq!(summary.id, found_id);
    assert!(summary.is_successful_authorization());
    assert_eq!(summary.amount(), Some("10.00".parse().unwrap()));
    assert_eq!(
        client
            .search_result(&answer.search_id)
            .await
            .unwrap()
            .total_count,
        1
    );

    let by_id = client
        .search(&SearchRequest::by_id(&found_id))
        .await
        .unwrap();
    assert_eq!(by_id.summaries()[0].id, found_id);
    let now = time::OffsetDateTime::now_utc();
    let recent = client
        .search(&SearchRequest::by_time(
            now - time::Duration::hours(1),
            now + time::Duration::hours(1),
        ))
        .await
        .unwrap();
    assert_eq!(recent.total_count, 2);
    let none = client
        .search(&SearchRequest::by_merchant_reference("NOBODY", 7))
        .await
        .unwrap();
    assert_eq!(none.total_count, 0);
}
