//! Zoho Desk against the sandbox: tickets with inline contacts, updates and comments, finding a
//! ticket by its custom field, Desk's errors, and webhooks delivering arrays of events.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::Query;
use axum::routing::post;
use paybridge_model::FailureKind;
use paybridge_sandbox::server::RunningServer;
use paybridge_zoho::desk::{InlineContact, NewTicket, TicketUpdate, verify_delivery};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::{client, config, sandbox};

const DESK_ORG: &str = "60001234567";

fn cf(order: &str) -> Map<String, Value> {
    let mut cf = Map::new();
    cf.insert("cf_order_id".into(), json!(order));
    cf
}

#[tokio::test]
async fn a_ticket_finds_its_contact_by_email_and_is_found_by_its_custom_field() {
    let (_zoho, server) = sandbox(config()).await;
    let desk = client(&server, "1000.CLIENT").desk(DESK_ORG);
    let departments = desk.departments().await.unwrap();
    assert_eq!(departments.len(), 2);
    let support = departments[0].id.clone();
    let ticket = |subject: &str, order: &str| NewTicket {
        subject: subject.into(),
        department_id: support.clone(),
        contact: Some(InlineContact {
            last_name: "Lovelace".into(),
            first_name: Some("Ada".into()),
            email: Some("ada@example.com".into()),
            phone: None,
        }),
        description: Some("<p>Payment declined twice.</p>".into()),
        priority: Some("High".into()),
        classification: Some("Problem".into()),
        cf: cf(order),
        ..NewTicket::default()
    };
    let first = desk
        .create_ticket(&ticket("Declined payment", "ORDER-1"))
        .await
        .unwrap();
    assert_eq!(first.status.as_deref(), Some("Open"));
    let second = desk
        .create_ticket(&ticket("Refund request", "ORDER-2"))
        .await
        .unwrap();
    assert_eq!(
        first.contact_id, second.contact_id,
        "one contact per e-mail"
    );
    assert_eq!(
        desk.find_contacts_by_email("ada@example.com")
            .await
            .unwrap()
            .len(),
        1
    );

    let found = desk
        .find_tickets_by_custom_field("cf_order_id", "ORDER-2")
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, second.id);
    assert!(
        desk.find_tickets_by_custom_field("cf_order_id", "ORDER-3")
            .await
            .unwrap()
            .is_empty()
    );

    let closed = desk
        .update_ticket(
            &first.id,
            &TicketUpdate {
                status: Some("Closed".into()),
                cf: cf("ORDER-1-resolved"),
                ..TicketUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(closed.status.as_deref(), Some("Closed"));
    assert_eq!(closed.cf["cf_order_id"], "ORDER-1-resolved");
    let note = desk
        .comment(&first.id, "Refunded through Cybersource.", false)
        .await
        .unwrap();
    assert!(!note.is_public);
    assert_eq!(desk.comments(&first.id).await.unwrap(), vec![note]);
}

#[tokio::test]
async fn desk_errors_are_classified() {
    let (_zoho, server) = sandbox(config()).await;
    let zoho = client(&server, "1000.CLIENT");
    let desk = zoho.desk(DESK_ORG);
    let missing = desk
        .create_ticket(&NewTicket {
            subject: String::new(),
            department_id: "1".into(),
            contact_id: Some("2".into()),
            ..NewTicket::default()
        })
        .await
        .unwrap_err();
    assert_eq!(missing.api_code(), Some("INVALID_DATA"));
    assert_eq!(missing.kind(), FailureKind::Permanent);
    assert!(missing.to_string().contains("/subject"), "{missing}");

    let not_ours = zoho.desk("999").departments().await.unwrap_err();
    assert_eq!(not_ours.api_code(), Some("OAUTH_ORG_MISMATCH"));
    assert_eq!(not_ours.kind(), FailureKind::Configuration);

    let unknown = desk.get_ticket("123456").await.unwrap_err();
    assert_eq!(unknown.http_status(), Some(404));
    assert!(
        desk.create_ticket(&NewTicket {
            subject: "x".into(),
            department_id: "1".into(),
            ..NewTicket::default()
        })
        .await
        .is_err(),
        "no contact: refused before sending"
    );
}

#[derive(serde::Deserialize)]
struct Secret {
    secret: Option<String>,
}

#[tokio::test]
async fn webhooks_deliver_arrays_of_events_with_the_secret() {
    let (_zoho, server) = sandbox(config()).await;
    let desk = client(&server, "1000.CLIENT").desk(DESK_ORG);
    let (tx, mut rx) = mpsc::unbounded_channel::<(Option<String>, Bytes)>();
    let hooks = RunningServer::start(
        Router::new().route(
            "/hooks/desk",
            post(move |Query(q): Query<Secret>, body: Bytes| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send((q.secret, body));
                    "ok"
                }
            }),
        ),
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
    )
    .await
    .unwrap();
    let webhook = desk
        .create_webhook(
            &format!("{}hooks/desk?secret=wh-secret", hooks.url()),
            &["Ticket_Add", "Ticket_Update"],
        )
        .await
        .unwrap();
    assert_eq!(desk.webhooks().await.unwrap().len(), 1);
    let support = desk.departments().await.unwrap()[0].id.clone();
    let ticket = desk
        .create_ticket(&NewTicket {
            subject: "Where is my order?".into(),
            department_id: support,
            contact: Some(InlineContact {
                last_name: "Hopper".into(),
                email: Some("grace@example.com".into()),
                ..InlineContact::default()
            }),
            ..NewTicket::default()
        })
        .await
        .unwrap();
    let (secret, body) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a delivery arrives")
        .unwrap();
    let events = verify_delivery("wh-secret", secret.as_deref(), DESK_ORG, &body).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "Ticket_Add");
    assert_eq!(events[0].payload["id"], ticket.id.as_str());

    desk.update_ticket(
        &ticket.id,
        &TicketUpdate {
            priority: Some("Low".into()),
            ..TicketUpdate::default()
        },
    )
    .await
    .unwrap();
    let (_, body) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a delivery arrives")
        .unwrap();
    let events = verify_delivery("wh-secret", Some("wh-secret"), DESK_ORG, &body).unwrap();
    assert_eq!(events[0].event_type, "Ticket_Update");
    assert_eq!(events[0].prev_state.as_ref().unwrap()["priority"], "Medium");
    desk.delete_webhook(&webhook.id).await.unwrap();
    assert!(desk.webhooks().await.unwrap().is_empty());
}
