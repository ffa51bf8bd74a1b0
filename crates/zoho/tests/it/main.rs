//! The Zoho client against the Zoho sandbox, over HTTP.

mod books;
mod contract;
mod crm;
mod desk;
mod inventory;
mod oauth;
mod quota;
mod webhooks;

use std::net::{Ipv4Addr, SocketAddr};

use paybridge_model::FailureKind;
use paybridge_sandbox::server::RunningServer;
use paybridge_sandbox::zoho::{ZohoConfig, ZohoSandbox};
use paybridge_zoho::books::{
    ContactPerson, InvoiceLine, InvoicePayment, InvoiceStatus, NewContact, NewCustomerPayment,
    NewInvoice,
};
use paybridge_zoho::{Client, ClientConfig, Error, OAuthCredentials};
use rust_decimal::Decimal;
use secrecy::SecretString;

pub const ORG: &str = "10234695";

pub async fn sandbox(config: ZohoConfig) -> (ZohoSandbox, RunningServer) {
    let sandbox = ZohoSandbox::new(config);
    let server = RunningServer::start(sandbox.router(), SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap();
    (sandbox, server)
}

/// Today's date (UTC) and the days after it, as Zoho writes dates: the sandbox judges invoices
/// overdue by the real date, so tests date their documents from it.
pub fn day(offset: i64) -> String {
    (time::OffsetDateTime::now_utc().date() + time::Duration::days(offset)).to_string()
}

pub fn today() -> String {
    day(0)
}

pub fn config() -> ZohoConfig {
    ZohoConfig::single("1000.CLIENT", "secret", "1000.refresh.token", ORG, "USD")
}

pub fn client(server: &RunningServer, client_id: &str) -> Client {
    Client::new(client_config(server, client_id)).unwrap()
}

pub fn client_config(server: &RunningServer, client_id: &str) -> ClientConfig {
    ClientConfig::new(
        OAuthCredentials {
            accounts_url: server.url(),
            client_id: client_id.into(),
            client_secret: SecretString::from("secret"),
            refresh_token: SecretString::from("1000.refresh.token"),
        },
        server.url(),
    )
}

pub fn contact(name: &str, email: &str) -> NewContact {
    NewContact {
        contact_name: name.into(),
        company_name: None,
        contact_type: "customer".into(),
        customer_sub_type: Some("individual".into()),
        billing_address: None,
        contact_persons: vec![ContactPerson {
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            email: email.into(),
            phone: None,
            is_primary_contact: true,
        }],
        ..NewContact::default()
    }
}

pub fn invoice(customer_id: &str, reference: &str, rate: &str) -> NewInvoice {
    NewInvoice {
        customer_id: customer_id.into(),
        reference_number: Some(reference.into()),
        date: today(),
        line_items: vec![InvoiceLine {
            item_id: None,
            name: "Tea".into(),
            description: None,
            rate: rate.parse().unwrap(),
            quantity: Decimal::ONE,
        }],
        ..NewInvoice::default()
    }
}

pub fn payment(
    customer_id: &str,
    invoice_id: &str,
    amount: &str,
    reference: &str,
) -> NewCustomerPayment {
    let amount: Decimal = amount.parse().unwrap();
    NewCustomerPayment {
        customer_id: customer_id.into(),
        payment_mode: "creditcard".into(),
        amount,
        date: today(),
        reference_number: Some(reference.into()),
        description: None,
        invoices: vec![InvoicePayment {
            invoice_id: invoice_id.into(),
            amount_applied: amount,
        }],
        ..NewCustomerPayment::default()
    }
}

#[tokio::test]
async fn the_books_cycle_contact_invoice_sent_payment_leaves_the_invoice_paid() {
    let (_sandbox, server) = sandbox(config()).await;
    let books = client(&server, "1000.CLIENT").books(ORG);
    let ada = books
        .create_contact(&contact("Ada Lovelace", "ada@example.com"))
        .await
        .unwrap();
    assert_eq!(
        books
            .find_customers_by_email("ada@example.com")
            .await
            .unwrap()[0]
            .contact_id,
        ada.contact_id
    );
    assert!(
        books
            .find_customers_by_email("bob@example.com")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        books
            .get_contact(&ada.contact_id)
            .await
            .unwrap()
            .contact_name,
        "Ada Lovelace"
    );

    let created = books
        .create_invoice(&invoice(&ada.contact_id, "ORDER-1", "102.21"))
        .await
        .unwrap();
    assert_eq!(created.status, InvoiceStatus::Draft);
    assert_eq!(created.total, Decimal::new(10221, 2));
    books.mark_invoice_sent(&created.invoice_id).await.unwrap();
    books.mark_invoice_sent(&created.invoice_id).await.unwrap();
    books
        .create_customer_payment(&payment(
            &ada.contact_id,
            &created.invoice_id,
            "102.21",
            "TXN-1",
        ))
        .await
        .unwrap();
    let paid = books.get_invoice(&created.invoice_id).await.unwrap();
    assert_eq!(
        (paid.status, paid.balance),
        (InvoiceStatus::Paid, Decimal::ZERO)
    );
    assert_eq!(
        books
            .find_invoices_by_reference("ORDER-1")
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        books
            .find_invoices_by_reference("ORDER-")
            .await
            .unwrap()
            .is_empty(),
        "exact match only"
    );
    assert_eq!(
        books
            .find_customer_payments_by_reference("TXN-1")
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn zoho_rules_come_back_as_classified_errors() {
    let (_sandbox, server) = sandbox(config()).await;
    let books = client(&server, "1000.CLIENT").books(ORG);
    let ada = books
        .create_contact(&contact("Ada Lovelace", "ada@example.com"))
        .await
        .unwrap();

    let duplicate = books
        .create_contact(&contact("Ada Lovelace", "other@example.com"))
        .await
        .unwrap_err();
    assert_eq!(duplicate.books_code(), Some(3062));
    assert_eq!(duplicate.kind(), FailureKind::Permanent);
    assert!(
        duplicate.to_string().contains("already exists"),
        "{duplicate}"
    );

    let missing = books.get_invoice("999").await.unwrap_err();
    assert_eq!(
        (missing.books_code(), missing.http_status()),
        (Some(1002), Some(404))
    );

    let draft = books
        .create_invoice(&invoice(&ada.contact_id, "ORDER-2", "10.00"))
        .await
        .unwrap();
    let on_draft = books
        .create_customer_payment(&payment(&ada.contact_id, &draft.invoice_id, "10.00", "T"))
        .await
        .unwrap_err();
    assert!(on_draft.to_string().contains("draft"), "{on_draft}");
    books.mark_invoice_sent(&draft.invoice_id).await.unwrap();
    let too_much = books
        .create_customer_payment(&payment(&ada.contact_id, &draft.invoice_id, "10.01", "T"))
        .await
        .unwrap_err();
    assert_eq!(too_much.kind(), FailureKind::Permanent);
    assert!(too_much.to_string().contains("balance"), "{too_much}");

    let wrong_org = client(&server, "1000.CLIENT")
        .books("99999")
        .get_contact(&ada.contact_id)
        .await
        .unwrap_err();
    assert_eq!(wrong_org.books_code(), Some(6041));
    assert_eq!(wrong_org.kind(), FailureKind::Configuration);
}

#[tokio::test]
async fn token_errors_sent_with_http_200_are_recognized() {
    let (_sandbox, server) = sandbox(config()).await;
    let error = client(&server, "1000.UNKNOWN")
        .books(ORG)
        .get_contact("1")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::OAuth { error, .. } if error == "invalid_client"),
        "{error}"
    );
    assert_eq!(error.kind(), FailureKind::Configuration);
    assert!(error.to_string().contains("data centre"));
}

#[tokio::test]
async fn concurrent_workers_share_one_refresh() {
    let (sandbox, server) = sandbox(config()).await;
    let client = client(&server, "1000.CLIENT");
    let books = client.books(ORG);
    let calls = (0..8).map(|_| books.find_customers_by_email("ada@example.com"));
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }
    assert_eq!(client.token_refreshes(), 1);
    assert_eq!(sandbox.stats().tokens_issued, 1);
}

#[tokio::test]
async fn a_rejected_token_is_refreshed_once_and_the_call_retried_once() {
    // One live access token per refresh token: minting another evicts ours, as Zoho does.
    let mut config = config();
    config.max_live_access_tokens = 1;
    let (sandbox, server) = sandbox(config).await;
    let ours = client(&server, "1000.CLIENT");
    let books = ours.books(ORG);
    books
        .find_customers_by_email("a@example.com")
        .await
        .unwrap();
    client(&server, "1000.CLIENT")
        .books(ORG)
        .find_customers_by_email("b@example.com")
        .await
        .unwrap();

    books
        .find_customers_by_email("a@example.com")
        .await
        .unwrap();
    assert_eq!(ours.token_refreshes(), 2);
    assert_eq!(
        ours.api_calls(),
        3,
        "one rejected call, one retry, one first call"
    );
    assert_eq!(sandbox.stats().books_auth_failures, 1);
}

#[tokio::test]
async fn a_card_number_never_leaves_for_zoho() {
    let (sandbox, server) = sandbox(config()).await;
    let client = client(&server, "1000.CLIENT");
    let mut with_card = contact("Ada Lovelace", "ada@example.com");
    with_card.notes = Some("paid with 4111 1111 1111 1111".into());
    let error = client
        .books(ORG)
        .create_contact(&with_card)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::CardNumberInPayload { paths } if paths == "$.notes"),
        "{error}"
    );
    assert!(!error.to_string().contains("4111"));
    assert_eq!(error.kind(), FailureKind::Permanent);
    assert_eq!(sandbox.stats().books_requests, 0, "nothing was sent");
}

#[tokio::test]
async fn the_throttle_answers_access_denied_and_is_transient() {
    let mut config = config();
    config.refreshes_per_window = 1;
    config.max_live_access_tokens = 1;
    let (_sandbox, server) = sandbox(config).await;
    client(&server, "1000.CLIENT")
        .books(ORG)
        .find_customers_by_email("a@example.com")
        .await
        .unwrap();
    let error = client(&server, "1000.CLIENT")
        .books(ORG)
        .find_customers_by_email("a@example.com")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::OAuth { error, .. } if error == "Access Denied"),
        "{error}"
    );
    assert_eq!(error.kind(), FailureKind::Transient);
    assert!(error.retry_after().is_some());
}

#[tokio::test]
async fn a_rotated_refresh_token_and_client_secret_are_used_from_the_next_call_on() {
    let (_sandbox, server) = sandbox(config()).await;
    let mut config = client_config(&server, "1000.CLIENT");
    config.credentials.refresh_token = SecretString::from("1000.revoked.token");
    config.credentials.client_secret = SecretString::from("old-secret");
    let client = Client::new(config).unwrap();
    assert!(client.books(ORG).get_contact("1").await.is_err());
    client.set_client_secret(SecretString::from("secret")).await;
    client
        .set_refresh_token(SecretString::from("1000.refresh.token"))
        .await;
    // A contact that does not exist: Books answered, so the token was good.
    let answer = client.books(ORG).get_contact("1").await;
    assert!(!matches!(answer, Err(Error::OAuth { .. })), "{answer:?}");
}
