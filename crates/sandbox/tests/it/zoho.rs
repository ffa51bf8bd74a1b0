use paybridge_sandbox::zoho::{ZohoConfig, ZohoSandbox};
use serde_json::{Value, json};

use crate::{http, serve};

const ORG: &str = "10234695";

async fn start() -> (
    ZohoSandbox,
    paybridge_sandbox::server::RunningServer,
    String,
) {
    let sandbox = ZohoSandbox::new(ZohoConfig::single("1000.C", "s", "1000.r.t", ORG, "USD"));
    let server = serve(sandbox.router()).await;
    let answer: Value = http()
        .post(server.url().join("oauth/v2/token").unwrap())
        .query(&[
            ("grant_type", "refresh_token"),
            ("client_id", "1000.C"),
            ("client_secret", "s"),
            ("refresh_token", "1000.r.t"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = answer["access_token"].as_str().unwrap().to_string();
    assert_eq!(answer["expires_in"], 3600);
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(
        answer["api_domain"],
        server.url().as_str().trim_end_matches('/')
    );
    (sandbox, server, token)
}

async fn books(
    server: &paybridge_sandbox::server::RunningServer,
    token: Option<&str>,
    method: reqwest::Method,
    path: &str,
    query: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = http()
        .request(method, server.url().join(path).unwrap())
        .query(query);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Zoho-oauthtoken {token}"));
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn token_errors_come_back_as_http_200() {
    let (_sandbox, server, _) = start().await;
    for (client, secret, refresh, error) in [
        ("1000.X", "s", "1000.r.t", "invalid_client"),
        ("1000.C", "wrong", "1000.r.t", "invalid_client"),
        ("1000.C", "s", "1000.revoked", "invalid_code"),
    ] {
        let response = http()
            .post(server.url().join("oauth/v2/token").unwrap())
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", client),
                ("client_secret", secret),
                ("refresh_token", refresh),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"error": error})
        );
    }
}

#[tokio::test]
async fn books_checks_the_token_and_the_organization() {
    let (_sandbox, server, token) = start().await;
    let get = reqwest::Method::GET;
    let (status, body) = books(
        &server,
        None,
        get.clone(),
        "books/v3/contacts",
        &[("organization_id", ORG)],
        None,
    )
    .await;
    assert_eq!((status, body["code"].as_i64()), (401, Some(14)));
    let (status, body) = books(
        &server,
        Some("1000.not.live"),
        get.clone(),
        "books/v3/contacts",
        &[("organization_id", ORG)],
        None,
    )
    .await;
    assert_eq!((status, body["code"].as_i64()), (401, Some(57)));
    let (status, body) = books(
        &server,
        Some(&token),
        get.clone(),
        "books/v3/contacts",
        &[],
        None,
    )
    .await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(2)));
    assert_eq!(body["message"], "Invalid value passed for organization_id");
    let (status, body) = books(
        &server,
        Some(&token),
        get.clone(),
        "books/v3/contacts",
        &[("organization_id", "42")],
        None,
    )
    .await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(6041)));
    let (status, body) = books(
        &server,
        Some(&token),
        get,
        "books/v3/nothing",
        &[("organization_id", ORG)],
        None,
    )
    .await;
    assert_eq!((status, body["code"].as_i64()), (404, Some(5)));
}

#[tokio::test]
async fn the_legacy_jsonstring_form_and_bad_json() {
    let (_sandbox, server, token) = start().await;
    let url = server.url().join("books/v3/contacts").unwrap();
    let form = http()
        .post(url.clone())
        .query(&[("organization_id", ORG)])
        .header("Authorization", format!("Zoho-oauthtoken {token}"))
        .form(&[("JSONString", r#"{"contact_name":"Grace Hopper"}"#)])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 201);
    let created: Value = form.json().await.unwrap();
    assert_eq!(
        (created["code"].as_i64(), created["message"].as_str()),
        (Some(0), Some("The contact has been created"))
    );
    assert_eq!(created["contact"]["contact_name"], "Grace Hopper");
    let bad = http()
        .post(url)
        .query(&[("organization_id", ORG)])
        .header("Authorization", format!("Zoho-oauthtoken {token}"))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.json::<Value>().await.unwrap()["code"], 1038);
}

#[tokio::test]
async fn lists_page_at_most_200_rows() {
    let (_sandbox, server, token) = start().await;
    for n in 0..5 {
        let (status, _) = books(
            &server,
            Some(&token),
            reqwest::Method::POST,
            "books/v3/contacts",
            &[("organization_id", ORG)],
            Some(json!({"contact_name": format!("C{n}")})),
        )
        .await;
        assert_eq!(status, 201);
    }
    let (_, page) = books(
        &server,
        Some(&token),
        reqwest::Method::GET,
        "books/v3/contacts",
        &[("organization_id", ORG), ("per_page", "2"), ("page", "3")],
        None,
    )
    .await;
    assert_eq!(page["contacts"].as_array().unwrap().len(), 1);
    assert_eq!(page["page_context"]["has_more_page"], false);
    let (_, page) = books(
        &server,
        Some(&token),
        reqwest::Method::GET,
        "books/v3/contacts",
        &[("organization_id", ORG), ("per_page", "2")],
        None,
    )
    .await;
    assert_eq!(page["page_context"]["has_more_page"], true);
    let (status, body) = books(
        &server,
        Some(&token),
        reqwest::Method::GET,
        "books/v3/contacts",
        &[("organization_id", ORG), ("per_page", "201")],
        None,
    )
    .await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(2)));
}

#[tokio::test]
async fn contacts_are_found_by_exact_name_and_email_after_a_rename_too() {
    let (_sandbox, server, token) = start().await;
    let token = Some(token.as_str());
    let get = reqwest::Method::GET;
    let mut ids = Vec::new();
    for (name, email) in [
        ("Ada Lovelace", "ada@example.com"),
        ("Ada Byron", "ada@example.com"),
    ] {
        let (status, made) = books(
            &server,
            token,
            reqwest::Method::POST,
            "books/v3/contacts",
            &[("organization_id", ORG)],
            Some(json!({"contact_name": name, "contact_persons": [{"email": email, "is_primary_contact": true}]})),
        )
        .await;
        assert_eq!(status, 201, "{made}");
        ids.push(made["contact"]["contact_id"].as_str().unwrap().to_string());
    }
    let names = |page: &Value| -> Vec<String> {
        page["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["contact_name"].as_str().unwrap().to_string())
            .collect()
    };
    let search = |query: Vec<(&'static str, &'static str)>| {
        let server = &server;
        let get = get.clone();
        async move {
            let mut query = query;
            query.push(("organization_id", ORG));
            let (status, page) = books(server, token, get, "books/v3/contacts", &query, None).await;
            assert_eq!(status, 200, "{page}");
            page
        }
    };
    // Exact match on the name, ignoring case and surrounding spaces; a prefix is no match.
    let page = search(vec![("contact_name", "  ADA lovelace ")]).await;
    assert_eq!(names(&page), ["Ada Lovelace"]);
    assert!(names(&search(vec![("contact_name", "Ada")]).await).is_empty());
    // Both share the e-mail; the name narrows it down.
    let mut both = names(&search(vec![("email", "ADA@example.com")]).await);
    both.sort();
    assert_eq!(both, ["Ada Byron", "Ada Lovelace"]);
    let page = search(vec![
        ("email", "ada@example.com"),
        ("contact_name", "Ada Byron"),
    ])
    .await;
    assert_eq!(names(&page), ["Ada Byron"]);
    // A renamed contact is found by its new name only.
    let (status, _) = books(
        &server,
        token,
        reqwest::Method::PUT,
        &format!("books/v3/contacts/{}", ids[0]),
        &[("organization_id", ORG)],
        Some(json!({"contact_name": "Augusta King"})),
    )
    .await;
    assert_eq!(status, 200);
    assert!(names(&search(vec![("contact_name", "Ada Lovelace")]).await).is_empty());
    assert_eq!(
        names(&search(vec![("contact_name", "augusta king")]).await),
        ["Augusta King"]
    );
}

#[tokio::test]
async fn a_revoked_refresh_token_takes_its_access_tokens_with_it() {
    let (_sandbox, server, token) = start().await;
    let revoked: Value = http()
        .post(server.url().join("oauth/v2/token/revoke").unwrap())
        .query(&[("token", "1000.r.t")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(revoked["status"], "success");
    let (status, body) = books(
        &server,
        Some(&token),
        reqwest::Method::GET,
        "books/v3/contacts",
        &[("organization_id", ORG)],
        None,
    )
    .await;
    assert_eq!((status, body["code"].as_i64()), (401, Some(57)));
}

#[tokio::test]
async fn without_the_control_api_its_paths_are_unknown() {
    let config = ZohoConfig {
        control_api: false,
        ..ZohoConfig::single("1000.C", "s", "1000.r.t", ORG, "USD")
    };
    let sandbox = ZohoSandbox::new(config);
    let server = serve(sandbox.router()).await;
    for path in ["__sandbox/reset", "__sandbox/faults"] {
        let (status, body) = books(&server, None, reqwest::Method::POST, path, &[], None).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    let (status, _) = books(
        &server,
        None,
        reqwest::Method::GET,
        "__sandbox/stats",
        &[],
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn unknown_urls_and_methods_are_refused_in_each_products_own_words() {
    use reqwest::Method;
    let (_sandbox, server, token) = start().await;
    let (status, body) = books(
        &server,
        Some(&token),
        Method::GET,
        "crm/v8/nothing/here/at/all",
        &[],
        None,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("INVALID_URL_PATTERN")),
        "{body}"
    );
    let (status, body) = books(
        &server,
        Some(&token),
        Method::PATCH,
        "crm/v8/Contacts",
        &[],
        None,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (405, Some("INVALID_REQUEST_METHOD")),
        "{body}"
    );
    let (status, body) = books(
        &server,
        Some(&token),
        Method::GET,
        "api/v1/nothing",
        &[],
        None,
    )
    .await;
    assert_eq!(
        (status, body["errorCode"].as_str()),
        (404, Some("URL_NOT_FOUND")),
        "{body}"
    );
    let (status, body) = books(
        &server,
        Some(&token),
        Method::GET,
        "books/v3/nothing",
        &[],
        None,
    )
    .await;
    assert_eq!((status, body["code"].as_i64()), (404, Some(5)), "{body}");
}

#[tokio::test]
async fn crm_counts_deletes_many_and_lists_only_the_ids_asked_for() {
    use reqwest::Method;
    let (_sandbox, server, token) = start().await;
    let records: Vec<Value> = (0..3)
        .map(|i| json!({"Last_Name": format!("Count{i}"), "Email": format!("c{i}@example.com")}))
        .collect();
    let (status, body) = books(
        &server,
        Some(&token),
        Method::POST,
        "crm/v8/Contacts",
        &[],
        Some(json!({"data": records})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let ids: Vec<String> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["details"]["id"].as_str().unwrap().to_string())
        .collect();
    let (_, body) = books(
        &server,
        Some(&token),
        Method::GET,
        "crm/v8/Contacts/actions/count",
        &[],
        None,
    )
    .await;
    assert_eq!(body["count"], 3);
    let (_, body) = books(
        &server,
        Some(&token),
        Method::GET,
        "crm/v8/Contacts",
        &[("fields", "Last_Name"), ("ids", &ids[1])],
        None,
    )
    .await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["data"][0]["id"], ids[1].as_str());
    let both = format!("{},{},404404", ids[0], ids[2]);
    let (status, body) = books(
        &server,
        Some(&token),
        Method::DELETE,
        "crm/v8/Contacts",
        &[("ids", &both)],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let codes: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["SUCCESS", "SUCCESS", "INVALID_DATA"]);
    let (_, body) = books(
        &server,
        Some(&token),
        Method::GET,
        "crm/v8/Contacts/actions/count",
        &[],
        None,
    )
    .await;
    assert_eq!(body["count"], 1);
    // A text longer than its field takes (Last_Name: 80) is refused with the length.
    let (_, body) = books(
        &server,
        Some(&token),
        Method::POST,
        "crm/v8/Contacts",
        &[],
        Some(json!({"data": [{"Last_Name": "x".repeat(81)}]})),
    )
    .await;
    assert_eq!(body["data"][0]["details"]["maximum_length"], "80", "{body}");
}

#[tokio::test]
async fn every_books_answer_says_where_the_daily_allowance_stands() {
    let (_sandbox, server, token) = start().await;
    let mut remaining = Vec::new();
    for _ in 0..2 {
        let response = http()
            .get(server.url().join("books/v3/contacts").unwrap())
            .query(&[("organization_id", ORG)])
            .header("Authorization", format!("Zoho-oauthtoken {token}"))
            .send()
            .await
            .unwrap();
        let header =
            |name: &str| -> u64 { response.headers()[name].to_str().unwrap().parse().unwrap() };
        assert!(header("x-rate-limit-limit") > 0);
        assert!(header("x-rate-limit-reset") <= 86_400);
        remaining.push(header("x-rate-limit-remaining"));
    }
    assert_eq!(remaining[0], remaining[1] + 1, "each call spends one");
}

#[tokio::test]
async fn desk_moves_tickets_to_the_trash_and_knows_no_comments_of_a_ticket_it_lacks() {
    let (_sandbox, server, token) = start().await;
    let desk = |method: reqwest::Method, path: &str| {
        http()
            .request(method, server.url().join(path).unwrap())
            .header("Authorization", format!("Zoho-oauthtoken {token}"))
            .header("orgId", "60001234567")
    };
    let departments: Value = desk(reqwest::Method::GET, "api/v1/departments")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let department = departments["data"][0]["id"].as_str().unwrap().to_string();
    let ticket: Value = desk(reqwest::Method::POST, "api/v1/tickets")
        .json(&json!({"subject": "Refund", "departmentId": department,
                      "contact": {"lastName": "Lovelace", "email": "ada@example.com"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = ticket["id"].as_str().unwrap().to_string();

    let unknown = desk(reqwest::Method::GET, "api/v1/tickets/404404/comments")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["errorCode"], "URL_NOT_FOUND");

    let refused = desk(reqwest::Method::POST, "api/v1/tickets/moveToTrash")
        .json(&json!({"ticketIds": [id, "404404"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422, "an unknown id moves nothing");
    let trashed = desk(reqwest::Method::POST, "api/v1/tickets/moveToTrash")
        .json(&json!({"ticketIds": [id]}))
        .send()
        .await
        .unwrap();
    assert_eq!(trashed.status(), 204);
    let gone = desk(reqwest::Method::GET, &format!("api/v1/tickets/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
}

#[tokio::test]
async fn books_and_inventory_list_the_organizations_a_token_sees() {
    use reqwest::Method;
    let (_sandbox, server, token) = start().await;
    for path in ["books/v3/organizations", "inventory/v1/organizations"] {
        let (status, body) = books(&server, Some(&token), Method::GET, path, &[], None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["code"], 0);
        assert_eq!(body["organizations"][0]["organization_id"], ORG, "{body}");
        assert_eq!(body["organizations"][0]["currency_code"], "USD");
        assert_eq!(body["organizations"][0]["is_default_org"], true);
        let (status, body) = books(&server, None, Method::GET, path, &[], None).await;
        assert_eq!((status, body["code"].as_i64()), (401, Some(14)), "{body}");
    }
}
