//! Zoho CRM against the sandbox: batches and per-record results, upserts, duplicates, search
//! lag against COQL, notification channels, credits.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use paybridge_model::FailureKind;
use paybridge_sandbox::server::RunningServer;
use paybridge_sandbox::zoho::{CrmConfig, ZohoConfig, ZohoLimits};
use paybridge_zoho::crm::{Channel, Notification, Record, Search, Written, criteria};
use paybridge_zoho::quota::{Budgets, CrmPlan, Plans};
use paybridge_zoho::{Client, Error};
use serde_json::json;
use tokio::sync::mpsc;

use crate::{client, client_config, config, sandbox};

fn person(last: &str, email: &str) -> Record {
    let mut r = Record::new();
    r.insert("Last_Name".into(), json!(last));
    r.insert("First_Name".into(), json!("Test"));
    r.insert("Email".into(), json!(email));
    r
}

fn unlimited() -> ZohoConfig {
    ZohoConfig {
        limits: ZohoLimits::off(),
        ..config()
    }
}

#[tokio::test]
async fn batches_of_a_hundred_answer_record_by_record() {
    let (_zoho, server) = sandbox(unlimited()).await;
    let zoho = client(&server, "1000.CLIENT");
    let crm = zoho.crm("crm-org");
    let mut records: Vec<Record> = (0..150)
        .map(|n| person(&format!("Person {n}"), &format!("p{n}@example.com")))
        .collect();
    records[120].remove("Last_Name");
    records[7].insert("Email".into(), json!("not an email"));
    let before = zoho.api_calls();
    let results = crm.insert("Contacts", &records).await.unwrap();
    assert_eq!(zoho.api_calls() - before, 2, "100 + 50");
    assert_eq!(results.len(), 150);
    let inserted = results
        .iter()
        .filter(|r| matches!(r.written(), Written::Inserted(_)))
        .count();
    assert_eq!(inserted, 148);
    match results[120].written() {
        Written::Failed(e) => {
            assert_eq!(e.api_code(), Some("MANDATORY_NOT_FOUND"));
            assert_eq!(e.kind(), FailureKind::Permanent);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(results[7].code, "INVALID_DATA");

    // A batch in which every record fails is an answer (400 with results), not an error.
    let all_bad = crm
        .insert("Contacts", &[Record::new(), Record::new()])
        .await
        .unwrap();
    assert!(all_bad.iter().all(|r| r.code == "MANDATORY_NOT_FOUND"));

    let unknown = crm.insert("Spaceships", &records[..1]).await.unwrap_err();
    assert_eq!(unknown.api_code(), Some("INVALID_MODULE"));
    assert_eq!(unknown.kind(), FailureKind::Configuration);
}

#[tokio::test]
async fn upserts_find_by_duplicate_check_fields_and_unique_fields_name_the_original() {
    let (_zoho, server) = sandbox(ZohoConfig {
        crm: CrmConfig {
            unique_fields: BTreeMap::from([(
                "Accounts".to_string(),
                vec!["Account_Number".to_string()],
            )]),
            ..CrmConfig::default()
        },
        ..config()
    })
    .await;
    let crm = client(&server, "1000.CLIENT").crm("crm-org");
    let first = crm
        .upsert(
            "Contacts",
            &[person("Lovelace", "ada@example.com")],
            &["Email"],
        )
        .await
        .unwrap();
    let Written::Inserted(ada) = first[0].written() else {
        panic!("{:?}", first[0])
    };
    let mut changed = person("Lovelace", "ADA@example.com");
    changed.insert("Phone".into(), json!("+44 20 7946 0000"));
    let second = crm
        .upsert(
            "Contacts",
            &[changed, person("Hopper", "grace@example.com")],
            &["Email"],
        )
        .await
        .unwrap();
    assert!(matches!(second[0].written(), Written::Updated(ref id) if *id == ada));
    assert_eq!(second[0].duplicate_field.as_deref(), Some("Email"));
    assert!(matches!(second[1].written(), Written::Inserted(_)));
    let stored = crm
        .get("Contacts", &ada, &["Phone", "Email"])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored["Phone"], "+44 20 7946 0000");
    assert_eq!(
        crm.get("Contacts", "9999999999999999999", &[])
            .await
            .unwrap(),
        None
    );

    let mut account = Record::new();
    account.insert("Account_Name".into(), json!("Analytical Engines Ltd"));
    account.insert("Account_Number".into(), json!("AE-1"));
    let made = crm
        .insert("Accounts", std::slice::from_ref(&account))
        .await
        .unwrap();
    let original = made[0].id().unwrap();
    account.insert("Account_Name".into(), json!("Another name"));
    let again = crm.insert("Accounts", &[account]).await.unwrap();
    assert!(
        matches!(again[0].written(), Written::Duplicate(ref id) if *id == original),
        "{:?}",
        again[0]
    );
}

#[tokio::test(start_paused = true)]
async fn search_sees_a_new_record_only_after_indexing_but_coql_at_once() {
    let (_zoho, server) = sandbox(config()).await;
    let crm = client(&server, "1000.CLIENT").crm("crm-org");
    crm.insert("Contacts", &[person("Curie", "marie@example.com")])
        .await
        .unwrap();
    let by_email = Search::Email("marie@example.com".into());
    assert!(
        crm.search("Contacts", &by_email, &[])
            .await
            .unwrap()
            .is_empty(),
        "204: not indexed yet"
    );
    let found = crm
        .find_contacts_by_email("marie@example.com")
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["Last_Name"], "Curie");

    tokio::time::advance(Duration::from_secs(3)).await;
    assert_eq!(
        crm.search("Contacts", &by_email, &[]).await.unwrap().len(),
        1
    );
    let by_criteria = Search::Criteria(format!(
        "({}and{})",
        criteria("Last_Name", "starts_with", "Cur"),
        criteria("Email", "equals", "marie@")
    ));
    assert_eq!(
        crm.search("Contacts", &by_criteria, &["Email"])
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        crm.coql("select id from Contacts where Email = 'nobody@example.com'")
            .await
            .unwrap()
            .is_empty()
    );
    // A query that does not parse is a SYNTAX_ERROR naming where (Zoho's coql.json).
    let bad = crm.coql("select from where").await.unwrap_err();
    assert_eq!(bad.api_code(), Some("SYNTAX_ERROR"));
    assert_eq!(bad.kind(), paybridge_model::FailureKind::Permanent);
}

/// A receiver for CRM callbacks on a loopback port.
async fn receiver() -> (RunningServer, mpsc::UnboundedReceiver<Bytes>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let router = Router::new().route(
        "/hooks/crm",
        post(move |body: Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(body);
                "ok"
            }
        }),
    );
    let server = RunningServer::start(router, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap();
    (server, rx)
}

#[tokio::test]
async fn notification_channels_call_back_with_the_token_until_disabled() {
    let (zoho, server) = sandbox(config()).await;
    let crm = client(&server, "1000.CLIENT").crm("crm-org");
    let (hooks, mut received) = receiver().await;
    let channel = Channel {
        channel_id: "1000000068001".into(),
        events: vec!["Contacts.all".into()],
        channel_expiry: None,
        token: "channel-secret-42".into(),
        notify_url: format!("{}hooks/crm?source=paybridge", hooks.url()),
        return_affected_field_values: false,
    };
    crm.enable_notifications(std::slice::from_ref(&channel))
        .await
        .unwrap();
    let live = crm.notification_channels().await.unwrap();
    assert_eq!(live.len(), 1);

    let written = crm
        .insert("Contacts", &[person("Turing", "alan@example.com")])
        .await
        .unwrap();
    let body = tokio::time::timeout(Duration::from_secs(10), received.recv())
        .await
        .expect("a callback arrives")
        .unwrap();
    let registered = vec![(channel.channel_id.clone(), channel.token.clone())];
    let notification = Notification::verify(&body, &registered).unwrap();
    assert_eq!(notification.operation, "insert");
    assert_eq!(notification.module, "Contacts");
    assert_eq!(notification.ids, vec![written[0].id().unwrap()]);
    assert_eq!(notification.query_params["source"], "paybridge");

    // Renewing keeps the channel's events and URL.
    let renewed = Channel {
        channel_expiry: Some(
            (time::OffsetDateTime::now_utc() + time::Duration::days(6))
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap(),
        ),
        ..channel.clone()
    };
    crm.renew_notifications(&[renewed]).await.unwrap();
    crm.disable_notifications(&[&channel.channel_id])
        .await
        .unwrap();
    assert!(crm.notification_channels().await.unwrap().is_empty());
    crm.insert("Contacts", &[person("Shannon", "claude@example.com")])
        .await
        .unwrap();
    assert_eq!(
        zoho.crm_deliveries().len(),
        1,
        "no callback after the channel is gone"
    );
}

#[tokio::test]
async fn credits_are_budgeted_and_the_sandbox_enforces_them() {
    // Our budget: three credits a day.
    let (_zoho, server) = sandbox(unlimited()).await;
    let client = Client::new(paybridge_zoho::ClientConfig {
        budgets: Some(Budgets::local(Plans {
            crm: CrmPlan::new(3, 5),
            ..Plans::default()
        })),
        ..client_config(&server, "1000.CLIENT")
    })
    .unwrap();
    let crm = client.crm("crm-org");
    let twenty: Vec<Record> = (0..20)
        .map(|n| person(&format!("P{n}"), &format!("p{n}@example.com")))
        .collect();
    crm.insert("Contacts", &twenty).await.unwrap();
    crm.coql("select id from Contacts where Last_Name = 'P1'")
        .await
        .unwrap();
    let spent = crm
        .coql("select id from Contacts where Last_Name = 'P2'")
        .await
        .unwrap_err();
    assert!(matches!(spent, Error::QuotaExhausted { .. }), "{spent}");
    assert_eq!(spent.kind(), FailureKind::Transient);

    // Zoho's side: a sandbox with 2 credits answers the third call with 429.
    let (_zoho, server) = sandbox(ZohoConfig {
        limits: ZohoLimits {
            crm_credits_per_day: 2,
            ..ZohoLimits::default()
        },
        ..config()
    })
    .await;
    let crm = self::client(&server, "1000.CLIENT").crm("crm-org");
    crm.coql("select id from Contacts where Last_Name = 'A'")
        .await
        .unwrap();
    crm.coql("select id from Contacts where Last_Name = 'A'")
        .await
        .unwrap();
    let throttled = crm
        .coql("select id from Contacts where Last_Name = 'A'")
        .await
        .unwrap_err();
    assert_eq!(throttled.http_status(), Some(429), "{throttled}");
    assert!(throttled.retry_after().is_some());
}

#[tokio::test]
async fn injected_faults_speak_each_products_words() {
    use paybridge_sandbox::faults::{FaultMode, FaultRule};
    let (zoho, server) = sandbox(unlimited()).await;
    let client = client(&server, "1000.CLIENT");
    zoho.faults().add(FaultRule::next(
        "POST",
        "/crm/v8/Contacts",
        FaultMode::ErrorAfter { status: 500 },
        1,
    ));
    let lost = client
        .crm("crm-org")
        .insert("Contacts", &[person("Lovelace", "ada@example.com")])
        .await
        .unwrap_err();
    assert_eq!(lost.api_code(), Some("INTERNAL_ERROR"), "{lost}");
    assert_eq!(
        lost.kind(),
        FailureKind::OutcomeUnknown,
        "the write may have landed"
    );
    // It did: COQL finds it, so a retry must look before it writes.
    assert_eq!(
        client
            .crm("crm-org")
            .find_contacts_by_email("ada@example.com")
            .await
            .unwrap()
            .len(),
        1
    );
    zoho.faults().add(FaultRule::next(
        "GET",
        "/api/v1/departments",
        FaultMode::ErrorBefore { status: 503 },
        1,
    ));
    let desk = client.desk("60001234567").departments().await.unwrap_err();
    assert_eq!(desk.api_code(), Some("INTERNAL_SERVER_ERROR"), "{desk}");
    assert_eq!(desk.kind(), FailureKind::Transient);
}
