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
    assert_eq!(summary["api_calls"]["cybersource"], 30);
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
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandbox.toml");
    let example = include_str!("../../../../sandbox.example.toml")
        .replace("127.0.0.1:8081", "127.0.0.1:0")
        .replace("127.0.0.1:8082", "127.0.0.1:0");
    std::fs::write(&path, example).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_paybridge"))
        .args(["sandbox", "--config"])
        .arg(&path)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("paybridge runs");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut url_of = |name: &str| loop {
        let line = lines
            .next()
            .expect("the sandbox prints its addresses")
            .unwrap();
        if line.starts_with(name) {
            return line.split_whitespace().nth(2).unwrap().to_string();
        }
    };
    let cybersource = url_of("Cybersource sandbox");
    let zoho = url_of("Zoho sandbox");

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
        let token: serde_json::Value = reqwest::Client::builder()
            .build()
            .unwrap()
            .post(format!("{zoho}oauth/v2/token"))
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
            .json()
            .await
            .unwrap();
        (search, token)
    });
    child.kill().unwrap();
    let _ = child.wait();
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
}
