//! Setting up and ending Zoho connections against the sandbox: self-client and consent codes,
//! their single use and expiry, the refresh-token cap, data centres, revocation.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use paybridge_model::FailureKind;
use paybridge_sandbox::server::RunningServer;
use paybridge_sandbox::zoho::{ZohoConfig, ZohoSandbox};
use paybridge_zoho::{Accounts, Client, ClientConfig, Error, OAuthCredentials};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::{ORG, config};

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn serve(sandbox: &ZohoSandbox, location: &str) -> RunningServer {
    RunningServer::start(
        sandbox.router_for(location),
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
    )
    .await
    .unwrap()
}

/// What the API console's Self Client tab hands out.
async fn self_client_code(server: &RunningServer) -> String {
    let answer: Value = http()
        .post(server.url().join("__sandbox/oauth/grant-codes").unwrap())
        .json(&json!({"client_id": "1000.CLIENT", "scope": "ZohoBooks.fullaccess.all"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["code"].as_str().unwrap().to_string()
}

fn secret() -> SecretString {
    SecretString::from("secret")
}

fn client_for(server: &RunningServer, refresh_token: SecretString) -> Client {
    Client::new(ClientConfig::new(
        OAuthCredentials {
            accounts_url: server.url(),
            client_id: "1000.CLIENT".into(),
            client_secret: secret(),
            refresh_token,
        },
        server.url(),
    ))
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_self_client_code_is_exchanged_once_for_a_working_connection() {
    let sandbox = ZohoSandbox::new(config());
    let server = serve(&sandbox, "us").await;
    let accounts = Accounts::new(server.url()).unwrap();
    let code = self_client_code(&server).await;
    let connection = accounts
        .exchange_code("1000.CLIENT", &secret(), &code, None)
        .await
        .unwrap();
    assert_eq!(
        connection.api_domain.as_str().trim_end_matches('/'),
        server.url().as_str().trim_end_matches('/')
    );
    assert!(
        !format!("{connection:?}").contains(secrecy::ExposeSecret::expose_secret(
            &connection.refresh_token
        ))
    );
    client_for(&server, connection.refresh_token.clone())
        .books(ORG)
        .find_customers_by_email("ada@example.com")
        .await
        .unwrap();

    let reused = accounts
        .exchange_code("1000.CLIENT", &secret(), &code, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&reused, Error::OAuth { error, .. } if error == "invalid_code"),
        "{reused}"
    );
    assert_eq!(reused.kind(), FailureKind::Configuration);

    let late = self_client_code(&server).await;
    tokio::time::advance(Duration::from_secs(181)).await;
    let expired = accounts
        .exchange_code("1000.CLIENT", &secret(), &late, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&expired, Error::OAuth { error, .. } if error == "invalid_code"),
        "{expired}"
    );
}

#[tokio::test]
async fn the_consent_redirect_carries_the_code_and_the_data_centre() {
    let mut config = config();
    config.clients[0].redirect_uris = vec!["http://127.0.0.1:9/zoho/callback".into()];
    let sandbox = ZohoSandbox::new(config);
    let server = serve(&sandbox, "us").await;
    let accounts = Accounts::new(server.url()).unwrap();
    let consent = accounts.consent_url(
        "1000.CLIENT",
        &["ZohoBooks.fullaccess.all", "ZohoCRM.modules.ALL"],
        "http://127.0.0.1:9/zoho/callback",
        "state-123",
    );
    let answer = http().get(consent).send().await.unwrap();
    assert_eq!(answer.status(), 303);
    let back = url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
    let param = |k: &str| {
        back.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    assert_eq!(back.path(), "/zoho/callback");
    assert_eq!(param("state"), "state-123");
    assert_eq!(param("location"), "us");
    let accounts_server = url::Url::parse(&param("accounts-server")).unwrap();
    assert_eq!(accounts_server.port(), server.url().port());

    let wrong = accounts
        .exchange_code(
            "1000.CLIENT",
            &secret(),
            &param("code"),
            Some("http://127.0.0.1:9/other"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&wrong, Error::OAuth { error, .. } if error == "invalid_redirect_uri"),
        "{wrong}"
    );
    // A code is spent by its first exchange, right or wrong: ask again.
    let answer = http()
        .get(accounts.consent_url(
            "1000.CLIENT",
            &["ZohoBooks.fullaccess.all"],
            "http://127.0.0.1:9/zoho/callback",
            "s",
        ))
        .send()
        .await
        .unwrap();
    let back = url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
    let code = back
        .query_pairs()
        .find(|(n, _)| n == "code")
        .unwrap()
        .1
        .into_owned();
    let connection = Accounts::new(accounts_server)
        .unwrap()
        .exchange_code(
            "1000.CLIENT",
            &secret(),
            &code,
            Some("http://127.0.0.1:9/zoho/callback"),
        )
        .await
        .unwrap();
    client_for(&server, connection.refresh_token)
        .books(ORG)
        .find_customers_by_email("ada@example.com")
        .await
        .unwrap();

    let unregistered = http()
        .get(accounts.consent_url(
            "1000.CLIENT",
            &["ZohoBooks.fullaccess.all"],
            "http://evil.example/",
            "s",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(unregistered.status(), 400);
}

#[tokio::test]
async fn the_twenty_first_refresh_token_silently_kills_the_oldest() {
    let sandbox = ZohoSandbox::new(ZohoConfig {
        max_refresh_tokens_per_client: 2,
        ..config()
    });
    let server = serve(&sandbox, "us").await;
    let accounts = Accounts::new(server.url()).unwrap();
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let code = self_client_code(&server).await;
        tokens.push(
            accounts
                .exchange_code("1000.CLIENT", &secret(), &code, None)
                .await
                .unwrap()
                .refresh_token,
        );
    }
    let oldest = client_for(&server, tokens[0].clone())
        .books(ORG)
        .find_customers_by_email("a@example.com")
        .await
        .unwrap_err();
    assert!(
        matches!(&oldest, Error::OAuth { error, .. } if error == "invalid_code"),
        "{oldest}"
    );
    assert!(oldest.to_string().contains("reconnect"), "{oldest}");
    client_for(&server, tokens[2].clone())
        .books(ORG)
        .find_customers_by_email("a@example.com")
        .await
        .unwrap();
}

#[tokio::test]
async fn tokens_and_clients_belong_to_their_data_centre() {
    let mut config = config();
    config.clients[0].data_centre = "eu".into();
    let sandbox = ZohoSandbox::new(config);
    let us = serve(&sandbox, "us").await;
    let eu = serve(&sandbox, "eu").await;
    // The client exists only in the EU: the US accounts server does not know it.
    let wrong_dc = client_for(&us, SecretString::from("1000.refresh.token"))
        .books(ORG)
        .find_customers_by_email("a@example.com")
        .await
        .unwrap_err();
    assert!(
        matches!(&wrong_dc, Error::OAuth { error, .. } if error == "invalid_client"),
        "{wrong_dc}"
    );
    assert!(wrong_dc.to_string().contains("data centre"));

    // At home it works, and the answer names the EU API domain.
    let answer: Value = http()
        .post(eu.url().join("oauth/v2/token").unwrap())
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "1000.CLIENT"),
            ("client_secret", "secret"),
            ("refresh_token", "1000.refresh.token"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = answer["access_token"].as_str().unwrap();
    assert_eq!(
        answer["api_domain"],
        eu.url().as_str().trim_end_matches('/')
    );
    // An EU token at the US API fails the way Zoho fails: 401, code 57.
    let misused = http()
        .get(us.url().join("books/v3/contacts").unwrap())
        .query(&[("organization_id", ORG)])
        .header("Authorization", format!("Zoho-oauthtoken {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(misused.status(), 401);
    let body: Value = misused.json().await.unwrap();
    assert_eq!(body["code"], 57);
    client_for(&eu, SecretString::from("1000.refresh.token"))
        .books(ORG)
        .find_customers_by_email("a@example.com")
        .await
        .unwrap();
}

#[tokio::test]
async fn revocation_ends_the_connection_and_its_access_tokens() {
    let sandbox = ZohoSandbox::new(config());
    let server = serve(&sandbox, "us").await;
    let accounts = Accounts::new(server.url()).unwrap();
    let code = self_client_code(&server).await;
    let connection = accounts
        .exchange_code("1000.CLIENT", &secret(), &code, None)
        .await
        .unwrap();
    let client = client_for(&server, connection.refresh_token.clone());
    let books = client.books(ORG);
    books
        .find_customers_by_email("a@example.com")
        .await
        .unwrap();
    accounts.revoke(&connection.refresh_token).await.unwrap();
    // The cached access token died with it; the refresh that follows is refused.
    let error = books
        .find_customers_by_email("a@example.com")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::OAuth { error, .. } if error == "invalid_code"),
        "{error}"
    );
    assert_eq!(error.kind(), FailureKind::Configuration);
    assert_eq!(client.token_refreshes(), 2);
}

/// A redirect from the token endpoint is reported, never followed: the request carries the
/// client secret and the code, which must not go wherever a redirect points.
#[tokio::test]
async fn a_redirect_from_accounts_is_reported_and_never_followed_with_the_secret() {
    use paybridge_sandbox::faults::{FaultMode, FaultRule};
    let sandbox = ZohoSandbox::new(config());
    let server = serve(&sandbox, "us").await;
    // Where the redirect points: anything that arrives there is a leak.
    let leaked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = leaked.clone();
    let catcher = axum::Router::new().fallback(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async { "caught" }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let elsewhere = format!("http://{}/oauth/v2/token", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, catcher).await });
    sandbox.faults().add(FaultRule::next(
        "POST",
        "/oauth/v2/token",
        FaultMode::Redirect {
            location: elsewhere.clone(),
        },
        1,
    ));
    let code = self_client_code(&server).await;
    let error = Accounts::new(server.url())
        .unwrap()
        .exchange_code("1000.CLIENT", &secret(), &code, None)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("redirect") && error.to_string().contains(&elsewhere),
        "{error}"
    );
    assert_eq!(leaked.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert!(
        !error.to_string().contains(&code),
        "the code is not told: {error}"
    );
}
