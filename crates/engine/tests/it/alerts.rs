//! Alerts over real protocols: an SMTP server and a Slack-compatible webhook started here, on
//! loopback. An outage of many dead letters sends one alert per kind, not one per letter.

use std::time::Duration;

use paybridge_actions::email::SmtpSecurity;
use paybridge_engine::alerts::{AlertSettings, Channel};
use paybridge_model::OrderStatus;
use paybridge_sandbox::faults::FaultMode;
use secrecy::SecretString;

use crate::helpers::{World, WorldOptions, place, slack_webhook};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_of_dead_letters_sends_one_alert_per_kind_by_slack_and_email() {
    let sink = paybridge_sandbox::mail::MailSink::start().await.unwrap();
    let smtp = sink.addr();
    let (webhook, posts) = slack_webhook().await;
    let channels = vec![
        Channel::slack(SecretString::from(webhook.clone())).unwrap(),
        Channel::email(
            "127.0.0.1",
            smtp.port(),
            SmtpSecurity::None,
            Some(("paybridge".into(), SecretString::from("smtp-password"))),
            "paybridge <paybridge@example.com>",
            &["ops@example.com".into(), "Ada <ada@example.com>".into()],
        )
        .unwrap(),
    ];
    let settings = AlertSettings {
        dedupe: Duration::from_secs(3600),
        error_rate_percent: 50,
        error_rate_window: Duration::from_secs(300),
        error_rate_min_runs: 3,
    };
    let world = World::with(WorldOptions {
        max_attempts: 1,
        alerts: Some((settings, channels)),
        ..WorldOptions::default()
    })
    .await;
    // Zoho refuses every invoice: five orders, five dead letters of one kind.
    world.fault(
        true,
        "POST",
        "/books/v3/invoices",
        FaultMode::ErrorBefore { status: 400 },
        5,
    );
    for n in 0..5 {
        let reference = format!("A-{n}");
        world
            .engine
            .place_order(place(&reference, &format!("c{n}@example.com"), "10.00"))
            .await
            .unwrap();
        assert_eq!(
            world.settled(&reference).await.status,
            OrderStatus::SyncFailed
        );
    }
    let alerts = world.engine.alerts.clone().unwrap();
    alerts.flush().await;

    let posts = posts.lock().unwrap().clone();
    assert_eq!(
        posts.len(),
        2,
        "one dead-letter alert and one error-rate alert: {posts:#?}"
    );
    let dead = posts
        .iter()
        .find(|t| t.contains("dead letter in order-to-cash"))
        .expect("the dead letter is told");
    for expected in [
        "at step invoice_direct",
        "HTTP status: 400",
        "paybridge dlq show",
        "held back for 60 minute(s)",
    ] {
        assert!(dead.contains(expected), "{expected:?} in {dead}");
    }
    assert!(
        posts
            .iter()
            .any(|t| t.contains("of the last") && t.contains("runs failed"))
    );

    let mails = sink.messages();
    assert_eq!(mails.len(), 2, "{mails:#?}");
    let mail = mails
        .iter()
        .find(|m| m.data.contains("dead letter in order-to-cash"))
        .unwrap();
    assert_eq!(mail.from, "<paybridge@example.com>");
    assert_eq!(mail.to, ["<ops@example.com>", "<ada@example.com>"]);
    assert!(
        mail.data
            .contains("Subject: [paybridge] dead letter in order-to-cash")
    );
    assert!(mail.data.contains("HTTP status: 400"));
    // AUTH PLAIN: "\0user\0password" in base64.
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD
        .decode(mail.auth.as_deref().unwrap())
        .unwrap();
    assert_eq!(auth, b"\0paybridge\0smtp-password");
    // The webhook's secret path is never in an alert or a log line's reach.
    assert!(posts.iter().all(|t| !t.contains("XXXX")));
    world.stop().await;
}

#[test]
fn plain_text_smtp_is_refused_beyond_loopback_and_addresses_are_checked() {
    let error = Channel::email(
        "smtp.example.com",
        25,
        SmtpSecurity::None,
        None,
        "paybridge@example.com",
        &["ops@example.com".into()],
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("loopback"), "{error}");
    let error = Channel::email(
        "127.0.0.1",
        25,
        SmtpSecurity::None,
        None,
        "not an address",
        &["ops@example.com".into()],
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("from"), "{error}");
    assert!(
        Channel::email(
            "127.0.0.1",
            25,
            SmtpSecurity::None,
            None,
            "a@example.com",
            &[]
        )
        .is_err()
    );
    assert!(Channel::slack(SecretString::from("not a url")).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crm_channel_that_cannot_be_renewed_is_told_once() {
    let (webhook, posts) = slack_webhook().await;
    let world = World::with(WorldOptions {
        inventory_and_crm: true,
        alerts: Some((
            AlertSettings::default(),
            vec![Channel::slack(SecretString::from(webhook)).unwrap()],
        )),
        ..WorldOptions::default()
    })
    .await;
    // CRM refuses to list the channels: the keeper cannot renew.
    world.fault(
        true,
        "GET",
        "/crm/v8/actions/watch",
        FaultMode::ErrorBefore { status: 500 },
        100,
    );
    let channel = paybridge_engine::jobs::crm_channel::CrmChannel {
        channel_id: "1000000068001".into(),
        events: vec!["Contacts.edit".into()],
        notify_url: "http://127.0.0.1:9/webhooks/zoho/crm".into(),
        token: SecretString::from("crm-channel-token-0123"),
    };
    let (close, closing) = tokio::sync::watch::channel(false);
    let keeper = channel.spawn_keeper(world.engine.clone(), closing);
    let alerts = world.engine.alerts.clone().unwrap();
    let wait = world
        .engine
        .wait_until(Duration::from_millis(20), || async {
            alerts.flush().await;
            Ok(!posts.lock().unwrap().is_empty())
        });
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("the alert went out")
        .unwrap();
    close.send(true).unwrap();
    keeper.await.unwrap();
    let posts = posts.lock().unwrap().clone();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert!(
        posts[0].contains("Zoho CRM notification channel 1000000068001 could not be renewed"),
        "{posts:?}"
    );
    world.stop().await;
}
