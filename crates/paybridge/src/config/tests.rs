//! The configuration read and resolved.

use crate::config::alerts::AlertsSection;
use crate::config::file::FileConfig;
use crate::config::http::HttpSection;
use crate::config::zoho::{QuotaSection, ZohoWebhooksSection};
use paybridge_actions::email::SmtpSecurity;
use paybridge_zoho::quota::Plans;
use paybridge_zoho::webhooks::BooksWebhookAuth;
use std::path::{Path, PathBuf};

const EXAMPLE: &str = include_str!("../../../../paybridge.example.toml");

/// The repository's `flows/`, which the example's `[flows] dir` means.
fn repository_flows() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../flows")
}

#[test]
fn the_example_file_parses() {
    let config: FileConfig = toml::from_str(EXAMPLE).unwrap();
    assert_eq!(
        config.zoho.as_ref().unwrap().connection.as_deref(),
        Some("main")
    );
    assert_eq!(
        config
            .cybersource
            .as_ref()
            .unwrap()
            .shared_secret_vault
            .as_deref(),
        Some("cybersource/shared_secret")
    );
    assert_eq!(config.engine.workers, 16);
    let plans = config
        .zoho
        .as_ref()
        .unwrap()
        .quotas
        .plans()
        .unwrap()
        .unwrap();
    assert_eq!(
        (plans.finance.per_minute, plans.finance.per_day),
        (100, 2_000)
    );
}

#[test]
fn quotas_default_to_zohos_limits_and_name_bad_plans() {
    let plans = QuotaSection::default().plans().unwrap().unwrap();
    assert_eq!(plans, Plans::default());
    let bad = QuotaSection {
        books_plan: "gold".into(),
        ..QuotaSection::default()
    };
    let error = format!("{:#}", bad.plans().unwrap_err());
    assert!(
        error.contains("zoho.quotas.books_plan") && error.contains("gold"),
        "{error}"
    );
}

#[tokio::test]
async fn alerts_need_a_channel_and_explain_bad_settings() {
    let parse = |text: &str| toml::from_str::<AlertsSection>(text).unwrap();
    let none = parse("dedupe_minutes = 30");
    let error = format!("{:#}", none.resolve(None).await.unwrap_err());
    assert!(
        error.contains("[alerts.slack] or [alerts.email]"),
        "{error}"
    );

    let email = "[email]\nhost = \"127.0.0.1\"\nport = 2525\nfrom = \"p@example.com\"\nto = [\"ops@example.com\"]\n";
    let config = parse(&format!("{email}security = \"none\"\n"))
        .resolve(None)
        .await
        .unwrap();
    assert_eq!(config.settings.dedupe, std::time::Duration::from_secs(3600));
    assert_eq!(config.email.unwrap().security, SmtpSecurity::None);

    let error = format!(
        "{:#}",
        parse(&format!("{email}security = \"ssl\"\n"))
            .resolve(None)
            .await
            .unwrap_err()
    );
    assert!(error.contains("alerts.email.security"), "{error}");
    let error = format!(
        "{:#}",
        parse(&format!("{email}security = \"none\"\nusername = \"u\"\n"))
            .resolve(None)
            .await
            .unwrap_err()
    );
    assert!(error.contains("username and a password"), "{error}");
    let error = format!(
        "{:#}",
        parse("[slack]\nwebhook_url_vault = \"alerts/slack\"\n")
            .resolve(None)
            .await
            .unwrap_err()
    );
    assert!(error.contains("alerts.slack.webhook_url_vault"), "{error}");
}

#[tokio::test]
async fn schedules_are_checked_when_the_configuration_is_read() {
    for (schedule, problem) in [
        ("cron = \"61 * * * *\"\nflow = \"prune\"", "minute"),
        (
            "cron = \"* * * * *\"\nflow = \"reconcile\"",
            "no flow named",
        ),
    ] {
        let text = EXAMPLE.replace(
            "[[engine.schedules]]\nname = \"prune\"\ncron = \"7 * * * *\"\nflow = \"prune\"",
            &format!("[[engine.schedules]]\nname = \"prune\"\n{schedule}"),
        );
        let mut config: FileConfig = toml::from_str(&text).unwrap();
        config.flows.dir = Some(repository_flows());
        let error = format!("{:#}", config.resolve().await.unwrap_err());
        assert!(
            error.contains(problem) && error.contains("engine.schedules"),
            "{error}"
        );
    }
}

#[test]
fn unknown_keys_are_named() {
    let text = EXAMPLE.replace("[server]", "[server]\nlisten_adress = \"x\"");
    let error = toml::from_str::<FileConfig>(&text).unwrap_err().to_string();
    assert!(error.contains("listen_adress"), "{error}");
}

#[tokio::test]
async fn books_webhooks_take_a_token_or_a_signature_and_say_what_is_wrong() {
    let config: FileConfig = toml::from_str(EXAMPLE).unwrap();
    let section = config
        .zoho
        .expect("the example connects Zoho")
        .webhooks
        .expect("the example sets up Books webhooks");
    assert_eq!(section.auth, "token");
    // PATH is set wherever tests run, and longer than 16 characters.
    let from_env = |auth: &str| ZohoWebhooksSection {
        auth: auth.into(),
        secret_env: Some("PATH".into()),
        secret_vault: None,
        header: "X-Paybridge-Token".into(),
        query: "token".into(),
        window_secs: 300,
    };
    match from_env("token").resolve(None).await.unwrap() {
        BooksWebhookAuth::Token { header, query, .. } => {
            assert_eq!(
                (header.as_str(), query.as_str()),
                ("x-paybridge-token", "token")
            );
        }
        other => panic!("{other:?}"),
    }
    let error = from_env("hmac")
        .resolve(None)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("not token or signature"), "{error}");
    let mut missing = from_env("token");
    missing.secret_env = Some("PAYBRIDGE_TEST_SURELY_UNSET_VARIABLE".into());
    let error = format!("{:#}", missing.resolve(None).await.unwrap_err());
    assert!(
        error.contains("PAYBRIDGE_TEST_SURELY_UNSET_VARIABLE"),
        "{error}"
    );
}

#[tokio::test]
async fn customer_email_needs_a_safe_relay_and_whole_credentials() {
    let config: FileConfig = toml::from_str(EXAMPLE).unwrap();
    let mut email = config.email.expect("the example sets up e-mail");
    email.password_vault = None;
    let error = format!("{:#}", email.resolve(None).await.unwrap_err());
    assert!(error.contains("give username and a password"), "{error}");
    email.username = None;
    email.security = "none".into();
    let error = format!("{:#}", email.resolve(None).await.unwrap_err());
    assert!(
        error.contains("only to a relay on a loopback address"),
        "{error}"
    );
    email.host = "127.0.0.1".into();
    assert!(email.resolve(None).await.is_ok());
    email.from = "not an address".into();
    let error = format!("{:#}", email.resolve(None).await.unwrap_err());
    assert!(error.contains("from"), "{error}");
}

#[tokio::test]
async fn http_credentials_are_named_once_with_what_their_type_needs() {
    let section = |entries: &str| -> HttpSection {
        toml::from_str::<FileConfig>(&EXAMPLE.replace(
            "[[http.auth]]\nname = \"erp\"\ntype = \"bearer\"\nsecret_vault = \"http/erp_token\"\nhosts = [\"erp.example.com\"]",
            entries,
        ))
        .unwrap()
        .http
    };
    // PATH is set wherever tests run.
    let named = section(
        "[[http.auth]]\nname = \"erp\"\ntype = \"basic\"\nusername = \"pb\"\nsecret_env = \"PATH\"\nhosts = [\"erp.example.com\"]\n[[http.auth]]\nname = \"wms\"\ntype = \"header\"\nheader = \"X-Api-Key\"\nsecret_env = \"PATH\"\nhosts = [\"*.wms.example.com\"]\nallow_http = true",
    )
    .resolve(None)
    .await
    .unwrap();
    assert_eq!(named.credentials.keys().collect::<Vec<_>>(), ["erp", "wms"]);
    assert_eq!(named.credentials["wms"].hosts, ["*.wms.example.com"]);
    assert!(named.credentials["wms"].allow_http && !named.credentials["erp"].allow_http);
    assert!(!named.allow_local, "off unless configured");
    assert!(!format!("{named:?}").contains(&std::env::var("PATH").unwrap()));
    for (entries, complaint) in [
        (
            "[[http.auth]]\nname = \"erp\"\ntype = \"basic\"\nsecret_env = \"PATH\"",
            "basic a username too",
        ),
        (
            "[[http.auth]]\nname = \"erp\"\ntype = \"oauth\"\nsecret_env = \"PATH\"",
            "is not bearer, basic or header",
        ),
        (
            "[[http.auth]]\nname = \"a\"\ntype = \"bearer\"\nsecret_env = \"PATH\"\nhosts = [\"a.example\"]\n[[http.auth]]\nname = \"a\"\ntype = \"bearer\"\nsecret_env = \"PATH\"\nhosts = [\"a.example\"]",
            "used twice",
        ),
        (
            "[[http.auth]]\nname = \"erp\"\ntype = \"bearer\"\nsecret_env = \"PATH\"",
            "hosts is required",
        ),
        (
            "[[http.auth]]\nname = \"erp\"\ntype = \"bearer\"\nsecret_env = \"PATH\"\nhosts = [\"https://erp.example.com/\"]",
            "is not a host name",
        ),
    ] {
        let error = section(entries)
            .resolve(None)
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains(complaint), "{error}");
    }
}

#[tokio::test]
async fn missing_secrets_name_their_variable() {
    let mut config: FileConfig = toml::from_str(EXAMPLE).unwrap();
    // Everything from the environment: the vault (and the store) is not opened — and if
    // it were, it would be a throwaway one, never the example's path.
    let dir = tempfile::tempdir().unwrap();
    config.store.path = Some(dir.path().join("paybridge.db"));
    config.flows.dir = Some(repository_flows());
    config.zoho.as_mut().unwrap().connection = None;
    config.alerts = None;
    config.storefront.api_keys_vault = None;
    config.storefront.callback_secret_vault = None;
    config.storefront.callback_url = None;
    config.cybersource.as_mut().unwrap().shared_secret_vault = None;
    config.cybersource.as_mut().unwrap().webhooks = None;
    config.zoho.as_mut().unwrap().webhooks = None;
    config.email = None;
    config.http.auth.clear();
    config.cybersource.as_mut().unwrap().shared_secret_env =
        Some("PAYBRIDGE_TEST_SURELY_UNSET_VARIABLE".into());
    let error = format!("{:#}", config.resolve().await.unwrap_err());
    assert!(
        error.contains("PAYBRIDGE_TEST_SURELY_UNSET_VARIABLE"),
        "{error}"
    );
}
