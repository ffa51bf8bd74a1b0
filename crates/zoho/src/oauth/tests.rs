//! Data centres, the token cache and its coordination.

use super::*;

#[test]
fn canada_uses_zohocloud() {
    assert_eq!(
        DataCentre::Ca.accounts_url().as_str(),
        "https://accounts.zohocloud.ca/"
    );
    assert_eq!(
        DataCentre::Eu.api_domain().as_str(),
        "https://www.zohoapis.eu/"
    );
    assert_eq!(DataCentre::from_location("AU"), Some(DataCentre::Au));
    assert_eq!(
        DataCentre::Ca.desk_url().as_str(),
        "https://desk.zohocloud.ca/"
    );
    assert_eq!(DataCentre::from_location("mars"), None);
}

#[test]
fn credentials_never_print_secrets() {
    let c = OAuthCredentials {
        accounts_url: DataCentre::Us.accounts_url(),
        client_id: "1000.ABC".into(),
        client_secret: SecretString::from("very-secret"),
        refresh_token: SecretString::from("1000.refresh.token"),
    };
    let printed = format!("{c:?}");
    assert!(
        !printed.contains("very-secret") && !printed.contains("refresh.token"),
        "{printed}"
    );
}
