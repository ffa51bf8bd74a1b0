//! The `paybridge` binary as a user runs it.

use std::process::Command;

use serde_json::Value;

use crate::helpers::TEST_CARDS;

#[test]
fn demo_json_reports_every_order_and_keeps_cards_out_of_logs_and_store() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_paybridge"))
        .args([
            "demo",
            "--orders",
            "30",
            "--seed",
            "3",
            "--json",
            "--data-dir",
        ])
        .arg(dir.path())
        .env("RUST_LOG", "debug")
        .output()
        .expect("paybridge runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}\n{stdout}\n{stderr}",
        output.status
    );

    let summary: Value = serde_json::from_str(&stdout).expect("stdout is one JSON object");
    assert_eq!(summary["orders"], 30);
    assert_eq!(summary["verification"]["ok"], true, "{summary}");
    let approved = summary["approved"].as_u64().unwrap();
    let declined = summary["declined"].as_u64().unwrap();
    assert_eq!(approved + declined, 30);
    assert!(declined > 0);
    assert_eq!(summary["zoho_records_created"]["invoices"], approved);
    assert_eq!(summary["zoho_records_created"]["invoices_paid"], approved);
    assert_eq!(
        summary["zoho_records_created"]["customer_payments"],
        approved
    );
    // 30 payments and the refunds asked through the API; a refund's webhook may read its
    // transaction to learn whether it is one of paybridge's.
    let through_api = summary["refunds_through_api"].as_u64().unwrap();
    let in_cybersource = summary["refunds_in_cybersource"].as_u64().unwrap();
    assert!(through_api > 0 && in_cybersource > 0, "{summary}");
    // A reviewed order's capture or reversal is one more.
    let reviews = summary["reviews_accepted"].as_u64().unwrap()
        + summary["reviews_rejected"].as_u64().unwrap();
    assert!(reviews > 0, "{summary}");
    // A refund asked for in Books is refunded there too; a saved card is read from TMS (the
    // instrument and its identifier) and each edit of its contact may read and change the TMS
    // customer.
    let in_books = summary["refunds_in_books"].as_u64().unwrap();
    let saved = summary["cards_saved"].as_u64().unwrap();
    let changes = summary["contact_changes_to_tms"].as_u64().unwrap();
    assert!(in_books > 0 && saved > 0 && changes > 0, "{summary}");
    let calls = summary["api_calls"]["cybersource"].as_u64().unwrap();
    let refunds = through_api + in_cybersource + in_books;
    let least = 30 + through_api + in_books + reviews + 2 * saved;
    let most = 30 + through_api + in_books + refunds + reviews + 6 * saved + 2 * changes;
    assert!((least..=most).contains(&calls), "{calls} Cybersource calls");
    // Payments, refunds and the reviewers' decisions: each notified once.
    assert_eq!(
        summary["webhooks"].as_u64().unwrap(),
        30 + refunds + reviews,
        "every payment's, refund's and review's webhook came and was taken once"
    );
    assert_eq!(
        summary["api_calls"]["zoho_accounts"], 1,
        "one token refresh for the whole run"
    );
    assert_eq!(summary["data_dir"], dir.path().display().to_string());

    // No card number in any log line, nor anywhere in the store's files.
    for card in TEST_CARDS {
        assert!(!stderr.contains(card), "a card number was logged");
        assert!(!stdout.contains(card));
    }
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for card in TEST_CARDS {
            assert!(!text.contains(card), "a card number was stored");
        }
    }
}

#[test]
fn demo_text_summary_names_what_it_checked() {
    let output = Command::new(env!("CARGO_BIN_EXE_paybridge"))
        .args(["demo", "--orders", "8"])
        .output()
        .expect("paybridge runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "8 orders",
        "approved",
        "declined",
        "Zoho Books",
        "API calls",
        "verified",
        "data",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} missing from:\n{stdout}"
        );
    }
}

#[test]
fn serve_explains_a_bad_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paybridge.toml");
    std::fs::write(&path, "[server]\nlisten = \"127.0.0.1:0\"\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_paybridge"))
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .expect("paybridge runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("missing field"), "{stderr}");
}

#[test]
fn sandbox_runs_standalone_with_credentials_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = crate::helpers::SandboxProcess::start(dir.path());
    let (cybersource, zoho, zoho_eu) = (
        sandbox.cybersource.clone(),
        sandbox.zoho.clone(),
        sandbox.zoho_eu.clone(),
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = runtime.block_on(async {
        let client = paybridge_cybersource::Client::new(paybridge_cybersource::ClientConfig::new(
            paybridge_cybersource::Environment::parse(&cybersource).unwrap(),
            paybridge_cybersource::Credentials {
                merchant_id: "test_merchant".into(),
                key_id: "11111111-2222-3333-4444-555555555555".into(),
                shared_secret: secrecy::SecretString::from(
                    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
                ),
            },
        ))
        .unwrap();
        let search = client
            .search(&paybridge_cybersource::search::SearchRequest::by_merchant_reference("NONE", 1))
            .await
            .map(|answer| answer.total_count);
        let refresh = |accounts: String| async move {
            reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .unwrap()
                .post(format!("{accounts}oauth/v2/token"))
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("client_id", "1000.SANDBOXCLIENT0000000000000000"),
                    (
                        "client_secret",
                        "0123456789abcdef0123456789abcdef0123456789",
                    ),
                    (
                        "refresh_token",
                        "1000.0123456789abcdef0123456789abcdef.0123456789abcdef0123456789abcdef",
                    ),
                ])
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        };
        let token = refresh(zoho.clone()).await;
        // The client is registered in the us data centre: the eu one does not know it.
        let elsewhere = refresh(zoho_eu.clone()).await;
        (search, token, elsewhere)
    });
    drop(sandbox);
    assert_eq!(
        result.0.unwrap(),
        0,
        "a signed request with the file's key is accepted"
    );
    assert!(
        result.1["access_token"]
            .as_str()
            .unwrap()
            .starts_with("1000.")
    );
    assert!(result.2["access_token"].is_null(), "{}", result.2);
    assert!(result.2["error"].is_string(), "{}", result.2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_zoho_prints_the_consent_url_then_exchanges_the_code() {
    use paybridge_sandbox::server::RunningServer;
    use paybridge_sandbox::zoho::{ZohoConfig, ZohoSandbox};

    let mut config = ZohoConfig::single("1000.CLIENT", "s3cret", "1000.r.t", "10234695", "USD");
    config.clients[0].redirect_uris = vec!["https://merchant.example/zoho".into()];
    let sandbox = ZohoSandbox::new(config);
    let server = RunningServer::start(
        sandbox.router(),
        std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0)),
    )
    .await
    .unwrap();
    let accounts = server.url().to_string();
    let run = move |args: Vec<String>| {
        let accounts = accounts.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_paybridge"))
                .args([
                    "connect",
                    "zoho",
                    "--client-id",
                    "1000.CLIENT",
                    "--accounts-server",
                ])
                .arg(&accounts)
                .args(args)
                .env("PAYBRIDGE_ZOHO_CLIENT_SECRET", "s3cret")
                .output()
                .expect("paybridge runs")
        })
    };

    let consent = run(vec![
        "--redirect-uri".into(),
        "https://merchant.example/zoho".into(),
    ])
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&consent.stdout);
    assert!(
        consent.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&consent.stderr)
    );
    assert!(
        stdout.contains("/oauth/v2/auth?scope=ZohoBooks.fullaccess.all"),
        "{stdout}"
    );
    assert!(
        stdout.contains("access_type=offline") && stdout.contains("prompt=consent"),
        "{stdout}"
    );

    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap();
    let code: Value = http
        .post(server.url().join("__sandbox/oauth/grant-codes").unwrap())
        .json(&serde_json::json!({"client_id": "1000.CLIENT", "scope": "ZohoBooks.fullaccess.all"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = code["code"].as_str().unwrap().to_string();
    let exchanged = run(vec!["--code".into(), code.clone()]).await.unwrap();
    let stdout = String::from_utf8_lossy(&exchanged.stdout).to_string();
    assert!(
        exchanged.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&exchanged.stderr)
    );
    assert!(stdout.contains("Connected."), "{stdout}");
    // The Books organizations the token sees are offered, the one to choose named.
    assert!(
        stdout.contains("Books organizations this connection sees")
            && stdout.contains("10234695")
            && stdout.contains("Sandbox Organization (USD), default"),
        "{stdout}"
    );
    let refresh = stdout
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("1000.") && l.matches('.').count() == 2)
        .expect("the refresh token is printed");
    // The printed refresh token works.
    let answer: Value = http
        .post(server.url().join("oauth/v2/token").unwrap())
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "1000.CLIENT"),
            ("client_secret", "s3cret"),
            ("refresh_token", refresh),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(answer["access_token"].is_string(), "{answer}");

    // The code was single-use; the error says so and exits non-zero.
    let again = run(vec!["--code".into(), code]).await.unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("invalid_code"));
}
