//! The credential vault as a user reaches it: `paybridge vault …`, `*_vault` references in
//! paybridge.toml, and `connect zoho --config` keeping the connection in the store and vault.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use paybridge::config::FileConfig;
use secrecy::ExposeSecret as _;
use serde_json::Value;

const SHARED_SECRET: &str = "c2hhcmVkLXNlY3JldC1mb3ItdGhlLXZhdWx0LXRlc3Q=";

/// A configuration whose master key is only in files (no variable is read).
fn config_text(dir: &Path, key_file: &str, previous_key_file: Option<&str>, zoho: &str) -> String {
    let previous = previous_key_file
        .map(|f| format!("previous_key_file = {:?}\n", dir.join(f)))
        .unwrap_or_default();
    format!(
        r#"
[server]
listen = "127.0.0.1:0"

[store]
path = {store:?}

[vault]
key_env = "PAYBRIDGE_TEST_VAULT_KEY_NEVER_SET"
previous_key_env = "PAYBRIDGE_TEST_VAULT_PREVIOUS_NEVER_SET"
key_file = {key:?}
{previous}
[cybersource]
environment = "sandbox"
merchant_id = "merchant"
key_id = "00000000-0000-0000-0000-000000000000"
shared_secret_vault = "cybersource/shared_secret"

[zoho]
{zoho}
organization_id = "10234695"
base_currency = "USD"

[storefront]
api_keys_vault = "storefront/api_keys"
"#,
        store = dir.join("paybridge.db"),
        key = dir.join(key_file),
    )
}

fn paybridge(args: &[&str], config: &Path, stdin: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_paybridge"));
    command
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("PAYBRIDGE_MASTER_KEY")
        .env_remove("PAYBRIDGE_MASTER_KEY_PREVIOUS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("paybridge runs");
    {
        use std::io::Write as _;
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

fn ok(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "exit {:?}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn failed(output: &Output) -> String {
    assert!(!output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stderr).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_set_through_the_cli_are_sealed_listed_by_name_rotated_and_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("paybridge.toml");
    let zoho = r#"data_centre = "us"
client_id = "1000.CLIENT"
client_secret_vault = "zoho/client_secret"
refresh_token_vault = "zoho/refresh_token""#;
    std::fs::write(&config, config_text(dir.path(), "old.key", None, zoho)).unwrap();

    // A new key file, owner-only; never overwritten.
    let old_key = dir.path().join("old.key");
    let stdout = ok(&paybridge(
        &["vault", "init", "--key-file", old_key.to_str().unwrap()],
        &config,
        None,
    ));
    assert!(stdout.contains("wrote a new master key"), "{stdout}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("old.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = Command::new(env!("CARGO_BIN_EXE_paybridge"))
        .args(["vault", "init", "--key-file"])
        .arg(dir.path().join("old.key"))
        .output()
        .unwrap();
    assert!(failed(&again).contains("never overwritten"));

    let secrets = [
        ("cybersource/shared_secret", SHARED_SECRET),
        ("zoho/client_secret", "zoho-client-secret-value"),
        ("zoho/refresh_token", "1000.refresh.token-value"),
        ("storefront/api_keys", "storefront-key-0123456789abcdef"),
    ];
    for (name, value) in secrets {
        let stdout = ok(&paybridge(
            &["vault", "set", name],
            &config,
            Some(&format!("{value}\n")),
        ));
        assert!(stdout.contains(name), "{stdout}");
        assert!(!stdout.contains(value));
    }
    let empty = paybridge(&["vault", "set", "x/empty"], &config, Some("\n"));
    assert!(failed(&empty).contains("empty"));

    // Listing shows names and key ids, never values.
    let listed = ok(&paybridge(&["vault", "list"], &config, None));
    let json: Value =
        serde_json::from_str(&ok(&paybridge(&["vault", "list", "--json"], &config, None))).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 4);
    let old_key_id = json[0]["key_id"].as_str().unwrap().to_string();
    for (name, value) in secrets {
        assert!(listed.contains(name), "{listed}");
        assert!(!listed.contains(value), "{listed}");
    }
    // Nothing readable at rest.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "key" || e == "toml") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        for (_, value) in secrets {
            assert!(
                !bytes.windows(value.len()).any(|w| w == value.as_bytes()),
                "{value} readable in {}",
                path.display()
            );
        }
    }

    // The configuration reads them from the vault.
    let resolved = FileConfig::load(&config).unwrap().resolve().await.unwrap();
    assert_eq!(
        resolved
            .cybersource
            .credentials
            .shared_secret
            .expose_secret(),
        SHARED_SECRET
    );
    assert_eq!(
        resolved.zoho.credentials.refresh_token.expose_secret(),
        "1000.refresh.token-value"
    );
    assert_eq!(resolved.storefront_keys.len(), 1);

    // Rotation: a new key, the old one given as previous; afterwards the new key alone reads.
    ok(&Command::new(env!("CARGO_BIN_EXE_paybridge"))
        .args(["vault", "init", "--key-file"])
        .arg(dir.path().join("new.key"))
        .output()
        .unwrap());
    std::fs::write(&config, config_text(dir.path(), "new.key", None, zoho)).unwrap();
    let before = format!(
        "{:#}",
        FileConfig::load(&config)
            .unwrap()
            .resolve()
            .await
            .unwrap_err()
    );
    assert!(before.contains("previous key"), "{before}");
    std::fs::write(
        &config,
        config_text(dir.path(), "new.key", Some("old.key"), zoho),
    )
    .unwrap();
    let rotated = ok(&paybridge(&["vault", "rotate"], &config, None));
    assert!(rotated.starts_with("4 secret(s) rewrapped"), "{rotated}");
    std::fs::write(&config, config_text(dir.path(), "new.key", None, zoho)).unwrap();
    let json: Value =
        serde_json::from_str(&ok(&paybridge(&["vault", "list", "--json"], &config, None))).unwrap();
    assert!(
        json.as_array()
            .unwrap()
            .iter()
            .all(|s| s["key_id"] != old_key_id.as_str())
    );
    let resolved = FileConfig::load(&config).unwrap().resolve().await.unwrap();
    assert_eq!(
        resolved.zoho.credentials.client_secret.expose_secret(),
        "zoho-client-secret-value"
    );

    // Deleting: the reference then names what is missing.
    ok(&paybridge(
        &["vault", "delete", "zoho/refresh_token"],
        &config,
        None,
    ));
    let error = format!(
        "{:#}",
        FileConfig::load(&config)
            .unwrap()
            .resolve()
            .await
            .unwrap_err()
    );
    assert!(
        error.contains("zoho.refresh_token_vault") && error.contains("zoho/refresh_token"),
        "{error}"
    );
    let missing = paybridge(&["vault", "delete", "zoho/refresh_token"], &config, None);
    assert!(failed(&missing).contains("no secret named"));
}

#[tokio::test]
async fn a_secret_named_twice_or_not_at_all_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("paybridge.toml");
    let text = config_text(
        dir.path(),
        "k.key",
        None,
        "data_centre = \"us\"\nclient_id = \"1000.C\"\nclient_secret_env = \"X\"\nclient_secret_vault = \"y\"\nrefresh_token_env = \"Z\"",
    );
    std::fs::write(&config, &text).unwrap();
    std::fs::write(dir.path().join("k.key"), "a passphrase long enough to pass").unwrap();
    // The Cybersource secret is missing from the vault; the error says which key and entry.
    let error = format!(
        "{:#}",
        FileConfig::load(&config)
            .unwrap()
            .resolve()
            .await
            .unwrap_err()
    );
    assert!(
        error.contains("cybersource.shared_secret_vault")
            && error.contains("cybersource/shared_secret"),
        "{error}"
    );
    // No master key at all.
    std::fs::remove_file(dir.path().join("k.key")).unwrap();
    let error = format!(
        "{:#}",
        FileConfig::load(&config)
            .unwrap()
            .resolve()
            .await
            .unwrap_err()
    );
    assert!(error.contains("vault.key_file"), "{error}");
    // Both sources for one secret.
    std::fs::write(dir.path().join("k.key"), "a passphrase long enough to pass").unwrap();
    let output = paybridge(
        &["vault", "set", "cybersource/shared_secret"],
        &config,
        Some(SHARED_SECRET),
    );
    ok(&output);
    let error = format!(
        "{:#}",
        FileConfig::load(&config)
            .unwrap()
            .resolve()
            .await
            .unwrap_err()
    );
    assert!(
        error.contains(
            "zoho.client_secret: give zoho.client_secret_env or zoho.client_secret_vault, not both"
        ),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_zoho_keeps_the_connection_sealed_and_serve_uses_it() {
    use paybridge_sandbox::server::RunningServer;
    use paybridge_sandbox::zoho::{ZohoConfig, ZohoSandbox};

    let sandbox = ZohoSandbox::new(ZohoConfig::single(
        "1000.CLIENT",
        "s3cret",
        "1000.r.t",
        "10234695",
        "USD",
    ));
    let server = RunningServer::start(
        sandbox.router(),
        std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0)),
    )
    .await
    .unwrap();
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

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("paybridge.toml");
    std::fs::write(
        &config,
        config_text(dir.path(), "k.key", None, "connection = \"books-us\""),
    )
    .unwrap();
    std::fs::write(dir.path().join("k.key"), "a passphrase long enough to pass").unwrap();
    for (name, value) in [
        ("cybersource/shared_secret", SHARED_SECRET),
        ("storefront/api_keys", "storefront-key-0123456789abcdef"),
    ] {
        ok(&paybridge(&["vault", "set", name], &config, Some(value)));
    }

    let accounts = server.url().to_string();
    let connect = tokio::task::spawn_blocking({
        let config = config.clone();
        move || {
            Command::new(env!("CARGO_BIN_EXE_paybridge"))
                .args([
                    "connect",
                    "zoho",
                    "--client-id",
                    "1000.CLIENT",
                    "--accounts-server",
                ])
                .arg(&accounts)
                .args(["--code", &code, "--connection", "books-us", "--config"])
                .arg(&config)
                .env("PAYBRIDGE_ZOHO_CLIENT_SECRET", "s3cret")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = ok(&connect);
    assert!(
        stdout.contains("stored as Zoho connection \"books-us\""),
        "{stdout}"
    );
    assert!(!stdout.contains("s3cret"));

    let resolved = FileConfig::load(&config).unwrap().resolve().await.unwrap();
    let credentials = &resolved.zoho.credentials;
    assert_eq!(credentials.accounts_url, server.url());
    assert_eq!(credentials.client_id, "1000.CLIENT");
    assert_eq!(credentials.client_secret.expose_secret(), "s3cret");
    assert!(
        !stdout.contains(credentials.refresh_token.expose_secret()),
        "the refresh token is never printed when it is stored"
    );
    // The stored token is the one Zoho issued: it refreshes.
    let answer: Value = http
        .post(server.url().join("oauth/v2/token").unwrap())
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "1000.CLIENT"),
            ("client_secret", "s3cret"),
            ("refresh_token", credentials.refresh_token.expose_secret()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(answer["access_token"].is_string(), "{answer}");
    assert_eq!(
        resolved.zoho.api_domain.as_str(),
        answer["api_domain"]
            .as_str()
            .unwrap()
            .trim_end_matches('/')
            .to_string()
            + "/"
    );

    // Disconnecting revokes the token at Zoho and forgets the connection.
    let refresh_token = credentials.refresh_token.expose_secret().to_string();
    let disconnected = ok(&paybridge(
        &["disconnect", "zoho", "--connection", "books-us"],
        &config,
        None,
    ));
    assert!(disconnected.contains("revoked at Zoho"), "{disconnected}");
    let answer: Value = http
        .post(server.url().join("oauth/v2/token").unwrap())
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "1000.CLIENT"),
            ("client_secret", "s3cret"),
            ("refresh_token", refresh_token.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(answer["access_token"].is_null(), "{answer}");
    assert!(answer["error"].is_string(), "{answer}");
    let error = format!(
        "{:#}",
        FileConfig::load(&config)
            .unwrap()
            .resolve()
            .await
            .unwrap_err()
    );
    assert!(error.contains("no Zoho connection \"books-us\""), "{error}");
    let listed = ok(&paybridge(&["vault", "list"], &config, None));
    assert!(!listed.contains("zoho/books-us"), "{listed}");

    // A connection that was never made is named.
    std::fs::write(
        &config,
        config_text(dir.path(), "k.key", None, "connection = \"eu\""),
    )
    .unwrap();
    let error = format!(
        "{:#}",
        FileConfig::load(&config)
            .unwrap()
            .resolve()
            .await
            .unwrap_err()
    );
    assert!(error.contains("no Zoho connection \"eu\""), "{error}");
}

#[test]
fn tokens_are_shown_once_listed_without_their_secret_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("paybridge.toml");
    std::fs::write(&config, config_text(dir.path(), "k.key", None, "")).unwrap();
    let created = ok(&paybridge(
        &[
            "tokens", "create", "--name", "ops: ada", "--role", "operator",
        ],
        &config,
        None,
    ));
    let token = created
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("pb_"))
        .expect("the token is printed once")
        .to_string();
    let listed = ok(&paybridge(&["tokens", "list"], &config, None));
    assert!(
        listed.contains("ops: ada") && listed.contains("operator"),
        "{listed}"
    );
    assert!(listed.contains("never used"));
    assert!(!listed.contains(&token[15..]), "{listed}");
    let json: Value = serde_json::from_str(&ok(&paybridge(
        &["tokens", "list", "--json"],
        &config,
        None,
    )))
    .unwrap();
    let id = json[0]["id"].as_str().unwrap().to_string();
    assert!(token.starts_with(&format!("pb_{id}_")));
    let bad_role = paybridge(
        &["tokens", "create", "--name", "x", "--role", "root"],
        &config,
        None,
    );
    assert!(failed(&bad_role).contains("viewer, operator or admin"));
    ok(&paybridge(&["tokens", "revoke", &id], &config, None));
    let listed = ok(&paybridge(&["tokens", "list"], &config, None));
    assert!(listed.contains("revoked"), "{listed}");
    assert!(failed(&paybridge(&["tokens", "revoke", &id], &config, None)).contains("revoked"));
    assert!(
        failed(&paybridge(
            &["tokens", "revoke", "000000000000"],
            &config,
            None
        ))
        .contains("no token with id")
    );
}

#[test]
fn store_prune_applies_the_retention_settings_and_names_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("paybridge.toml");
    let text = config_text(dir.path(), "k.key", None, "");
    std::fs::write(
        &config,
        format!("{text}\n[engine.retention]\nkeep_days = 7\nkeep_runs = 1000\n"),
    )
    .unwrap();
    let pruned = ok(&paybridge(&["store", "prune"], &config, None));
    assert!(
        pruned.starts_with("pruned 0 run(s), 0 step(s), 0 event(s)"),
        "{pruned}"
    );
    assert!(pruned.contains("last 7 days, at most 1000"), "{pruned}");
    std::fs::write(
        &config,
        format!("{text}\n[engine.retention]\nkeep_dayz = 7\n"),
    )
    .unwrap();
    let error = failed(&paybridge(&["store", "prune"], &config, None));
    assert!(
        error.contains("keep_dayz") && error.contains("engine.retention"),
        "{error}"
    );
}
