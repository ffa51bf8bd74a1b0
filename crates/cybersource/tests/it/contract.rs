//! Contract tests: every request the connector builds and every answer the sandbox gives, for
//! the operations the 2020 Cybersource API description covers, validate against that file's
//! schemas (`contracts/cybersource/cybersource-rest-spec-2020.json`, kept in the repository).

use std::path::PathBuf;
use std::time::SystemTime;

use paybridge_cybersource::auth::{Credentials, Signer, SigningInput, http_date};
use paybridge_cybersource::captures::{AmountOnly, CaptureRequest};
use paybridge_cybersource::payments::{AmountDetails, ClientReference};
use paybridge_cybersource::refunds::{CreditRequest, RefundRequest};
use paybridge_cybersource::reversals::{ReversalInformation, ReversalRequest};
use paybridge_cybersource::search::SearchRequest;
use paybridge_cybersource::voids::VoidRequest;
use paybridge_sandbox::server::RunningServer;
use secrecy::SecretString;
use serde::Serialize;
use serde_json::Value;

use crate::{SECRET, sale, sandbox};

/// The vendors' API descriptions, in the repository (`contracts/`, see its README).
fn contracts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../contracts")
}

struct Spec(Value);

impl Spec {
    fn load() -> Spec {
        let path = contracts_dir().join("cybersource/cybersource-rest-spec-2020.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("the API description must be at {}: {e}", path.display()));
        Spec(serde_json::from_str(&text).unwrap())
    }

    fn operation(&self, method: &str, path: &str) -> &Value {
        let op = &self.0["paths"][path][method];
        assert!(
            op.is_object(),
            "{method} {path} is not in the API description"
        );
        op
    }

    fn request(&self, method: &str, path: &str) -> Value {
        self.operation(method, path)["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["in"] == "body")
            .map(|p| p["schema"].clone())
            .unwrap_or_else(|| panic!("{method} {path} has no body"))
    }

    fn response(&self, method: &str, path: &str, status: u16) -> Value {
        let schema =
            self.operation(method, path)["responses"][status.to_string()]["schema"].clone();
        assert!(
            schema.is_object(),
            "{method} {path} documents no {status} schema"
        );
        schema
    }
}

fn assert_valid(schema: &Value, instance: &Value, what: &str) {
    let validator = jsonschema::draft4::new(schema)
        .unwrap_or_else(|e| panic!("{what}: the schema does not compile: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match the API description:\n{}\n{instance:#}",
        errors.join("\n")
    );
}

/// Sends a signed request and returns the status and the body, as the wire carries them.
async fn signed<B: Serialize>(
    server: &RunningServer,
    method: &str,
    path: &str,
    body: Option<&B>,
) -> (u16, Value) {
    let signer = Signer::new(&Credentials {
        merchant_id: "test_merchant".into(),
        key_id: "key-1".into(),
        shared_secret: SecretString::from(SECRET),
    })
    .unwrap();
    let host = format!("127.0.0.1:{}", server.addr().port());
    let bytes = body
        .map(|b| serde_json::to_vec(b).unwrap())
        .unwrap_or_default();
    let date = http_date(SystemTime::now());
    let headers = signer.sign(&SigningInput {
        method,
        host: &host,
        path_and_query: path,
        date: &date,
        body: &bytes,
    });
    let http = reqwest::Client::builder().build().unwrap();
    let mut request = http
        .request(method.parse().unwrap(), format!("http://{host}{path}"))
        .header("v-c-merchant-id", headers.merchant_id)
        .header("date", headers.date)
        .header("signature", headers.signature);
    if let Some(digest) = headers.digest {
        request = request
            .header("digest", digest)
            .header("content-type", "application/json")
            .body(bytes);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn reference(tid: Option<&str>) -> ClientReference {
    ClientReference {
        code: "ORDER-1001".into(),
        transaction_id: tid.map(str::to_string),
    }
}

fn amount(value: &str) -> AmountDetails {
    AmountDetails {
        total_amount: value.parse().unwrap(),
        currency: "USD".into(),
    }
}

/// Checks one exchange: the request against the documented body, the answer against the
/// documented response of its status. Returns the answer.
async fn exchange<B: Serialize>(
    spec: &Spec,
    server: &RunningServer,
    doc_path: &str,
    path: &str,
    body: &B,
    expect: u16,
) -> Value {
    let request = serde_json::to_value(body).unwrap();
    assert_valid(
        &spec.request("post", doc_path),
        &request,
        &format!("the request to POST {doc_path}"),
    );
    let (status, answer) = signed(server, "POST", path, Some(body)).await;
    assert_eq!(status, expect, "POST {path}: {answer}");
    assert_valid(
        &spec.response("post", doc_path, status),
        &answer,
        &format!("the {status} answer of POST {doc_path}"),
    );
    answer
}

#[tokio::test]
async fn payments_and_their_follow_ons_match_the_api_description() {
    let spec = Spec::load();
    let (_sandbox, server) = sandbox().await;

    // Sales: approved, declined (also 201), refused (400), failed (502).
    let mut approved = sale("102.21");
    approved.client_reference_information.transaction_id = Some("c-sale".into());
    let paid = exchange(
        &spec,
        &server,
        "/pts/v2/payments",
        "/pts/v2/payments",
        &approved,
        201,
    )
    .await;
    let declined = exchange(
        &spec,
        &server,
        "/pts/v2/payments",
        "/pts/v2/payments",
        &sale("2051.00"),
        201,
    )
    .await;
    assert_eq!(declined["status"], "DECLINED");
    let mut missing = sale("10.00");
    missing.order_information.bill_to = None;
    exchange(
        &spec,
        &server,
        "/pts/v2/payments",
        "/pts/v2/payments",
        &missing,
        400,
    )
    .await;
    exchange(
        &spec,
        &server,
        "/pts/v2/payments",
        "/pts/v2/payments",
        &sale("2006.00"),
        502,
    )
    .await;
    assert_eq!(paid["status"], "AUTHORIZED");

    // An authorization, captured in part, the capture refunded in part, then voided.
    let mut auth = sale("80.00");
    auth.processing_information.capture = false;
    let auth = exchange(
        &spec,
        &server,
        "/pts/v2/payments",
        "/pts/v2/payments",
        &auth,
        201,
    )
    .await;
    let auth_id = auth["id"].as_str().unwrap();
    let capture = CaptureRequest {
        client_reference_information: reference(None),
        order_information: AmountOnly {
            amount_details: amount("50.00"),
        },
    };
    let captured = exchange(
        &spec,
        &server,
        "/pts/v2/payments/{id}/captures",
        &format!("/pts/v2/payments/{auth_id}/captures"),
        &capture,
        201,
    )
    .await;
    let capture_id = captured["id"].as_str().unwrap();
    let too_much = CaptureRequest {
        client_reference_information: reference(None),
        order_information: AmountOnly {
            amount_details: amount("99.00"),
        },
    };
    exchange(
        &spec,
        &server,
        "/pts/v2/payments/{id}/captures",
        &format!("/pts/v2/payments/{auth_id}/captures"),
        &too_much,
        400,
    )
    .await;
    let refund = RefundRequest {
        client_reference_information: reference(None),
        order_information: AmountOnly {
            amount_details: amount("20.00"),
        },
    };
    let refunded = exchange(
        &spec,
        &server,
        "/pts/v2/captures/{id}/refunds",
        &format!("/pts/v2/captures/{capture_id}/refunds"),
        &refund,
        201,
    )
    .await;
    let refundable = exchange(
        &spec,
        &server,
        "/pts/v2/payments",
        "/pts/v2/payments",
        &sale("40.00"),
        201,
    )
    .await;
    let refundable_id = refundable["id"].as_str().unwrap();
    exchange(
        &spec,
        &server,
        "/pts/v2/payments/{id}/refunds",
        &format!("/pts/v2/payments/{refundable_id}/refunds"),
        &refund,
        201,
    )
    .await;
    let void = VoidRequest {
        client_reference_information: reference(None),
    };
    let refund_id = refunded["id"].as_str().unwrap();
    exchange(
        &spec,
        &server,
        "/pts/v2/refunds/{id}/voids",
        &format!("/pts/v2/refunds/{refund_id}/voids"),
        &void,
        201,
    )
    .await;
    exchange(
        &spec,
        &server,
        "/pts/v2/captures/{id}/voids",
        &format!("/pts/v2/captures/{capture_id}/voids"),
        &void,
        201,
    )
    .await;

    // A credit, voided; a sale voided by its transaction id after a "timeout".
    let base = sale("15.00");
    let credit = CreditRequest {
        client_reference_information: reference(Some("c-credit")),
        payment_information: base.payment_information,
        order_information: base.order_information,
    };
    let credited = exchange(
        &spec,
        &server,
        "/pts/v2/credits",
        "/pts/v2/credits",
        &credit,
        201,
    )
    .await;
    let credit_id = credited["id"].as_str().unwrap();
    exchange(
        &spec,
        &server,
        "/pts/v2/credits/{id}/voids",
        &format!("/pts/v2/credits/{credit_id}/voids"),
        &void,
        201,
    )
    .await;
    let timeout_void = VoidRequest {
        client_reference_information: reference(Some("c-sale")),
    };
    exchange(
        &spec,
        &server,
        "/pts/v2/voids/",
        "/pts/v2/voids",
        &timeout_void,
        201,
    )
    .await;

    // Reversals: of an authorization by id, and by transaction id after a "timeout".
    let mut other = sale("30.00");
    other.processing_information.capture = false;
    other.client_reference_information.transaction_id = Some("c-auth".into());
    let other = exchange(
        &spec,
        &server,
        "/pts/v2/payments",
        "/pts/v2/payments",
        &other,
        201,
    )
    .await;
    let reversal = |tid: Option<&str>| ReversalRequest {
        client_reference_information: reference(tid),
        reversal_information: ReversalInformation {
            amount_details: amount("30.00"),
            reason: Some("cancelled".into()),
        },
    };
    let mut third = sale("30.00");
    third.processing_information.capture = false;
    let third = exchange(
        &spec,
        &server,
        "/pts/v2/payments",
        "/pts/v2/payments",
        &third,
        201,
    )
    .await;
    let third_id = third["id"].as_str().unwrap();
    exchange(
        &spec,
        &server,
        "/pts/v2/payments/{id}/reversals",
        &format!("/pts/v2/payments/{third_id}/reversals"),
        &reversal(None),
        201,
    )
    .await;
    exchange(
        &spec,
        &server,
        "/pts/v2/reversals/",
        "/pts/v2/reversals",
        &reversal(Some("c-auth")),
        201,
    )
    .await;
    assert_eq!(other["status"], "AUTHORIZED");
}

#[tokio::test]
async fn transaction_search_matches_the_api_description() {
    let spec = Spec::load();
    let (_sandbox, server) = sandbox().await;
    let (_, paid) = signed(&server, "POST", "/pts/v2/payments", Some(&sale("12.00"))).await;
    let id = paid["id"].as_str().unwrap();

    let (status, details) =
        signed::<()>(&server, "GET", &format!("/tss/v2/transactions/{id}"), None).await;
    assert_eq!(status, 200);
    assert_valid(
        &spec.response("get", "/tss/v2/transactions/{id}", 200),
        &details,
        "transaction details",
    );

    let search = SearchRequest::by_merchant_reference("ORDER-1001", 7);
    let found = exchange(
        &spec,
        &server,
        "/tss/v2/searches",
        "/tss/v2/searches",
        &search,
        201,
    )
    .await;
    assert_eq!(found["totalCount"], 1);
    let search_id = found["searchId"].as_str().unwrap();
    let (status, again) = signed::<()>(
        &server,
        "GET",
        &format!("/tss/v2/searches/{search_id}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_valid(
        &spec.response("get", "/tss/v2/searches/{searchId}", 200),
        &again,
        "a stored search",
    );
}

#[test]
fn every_shape_of_payment_request_matches_the_api_description() {
    use paybridge_cybersource::payments::{
        LineItem, PaymentInformation, TokenId, TokenInformation,
    };
    let spec = Spec::load();
    let schema = spec.request("post", "/pts/v2/payments");
    let mut with_lines = sale("30.00");
    with_lines.order_information.line_items = vec![LineItem {
        product_sku: Some("TEA-SEN-100".into()),
        product_name: "Sencha green tea, 100 g".into(),
        quantity: 3,
        unit_price: "10.00".parse().unwrap(),
    }];
    with_lines.processing_information.action_list = vec!["TOKEN_CREATE".into()];
    with_lines.processing_information.action_token_types =
        vec!["customer".into(), "paymentInstrument".into()];
    let mut instance = serde_json::to_value(&with_lines).unwrap();
    assert_valid(
        &schema,
        &instance,
        "a sale with line items and token creation",
    );
    // The schemas bite: a quantity sent as text, or an over-long merchant reference, is refused.
    instance["orderInformation"]["lineItems"][0]["quantity"] = serde_json::json!("3");
    assert!(
        !jsonschema::draft4::new(&schema)
            .unwrap()
            .is_valid(&instance)
    );
    instance["orderInformation"]["lineItems"][0]["quantity"] = serde_json::json!(3);
    instance["clientReferenceInformation"]["code"] = serde_json::json!("X".repeat(51));
    assert!(
        !jsonschema::draft4::new(&schema)
            .unwrap()
            .is_valid(&instance)
    );

    let mut by_customer = sale("30.00");
    by_customer.payment_information = PaymentInformation {
        customer: Some(TokenId {
            id: "F67E19FBC55DF3AAE053AF598E0A2EA6".into(),
        }),
        payment_instrument: Some(TokenId {
            id: "F67E1AD7A0E2A8B2E053AF598E0A21F0".into(),
        }),
        ..PaymentInformation::default()
    };
    assert_valid(
        &schema,
        &serde_json::to_value(&by_customer).unwrap(),
        "a payment by TMS customer",
    );

    let mut by_transient = sale("30.00");
    by_transient.payment_information = PaymentInformation::default();
    by_transient.token_information = Some(TokenInformation {
        transient_token_jwt: "eyJraWQiOiIwOEd...".into(),
    });
    assert_valid(
        &schema,
        &serde_json::to_value(&by_transient).unwrap(),
        "a payment by transient token",
    );

    let search =
        serde_json::to_value(SearchRequest::by_merchant_reference("ORDER-1001", 7)).unwrap();
    assert_valid(
        &spec.request("post", "/tss/v2/searches"),
        &search,
        "a search",
    );
}

#[tokio::test]
async fn funding_views_match_the_api_description() {
    let spec = Spec::load();
    let (sandbox, server) = sandbox().await;
    signed(&server, "POST", "/pts/v2/payments", Some(&sale("100.00"))).await;
    sandbox.settle().unwrap();
    let now = time::OffsetDateTime::now_utc();
    let window = |at: time::OffsetDateTime| {
        at.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let query = format!(
        "startTime={}&endTime={}",
        window(now - time::Duration::hours(1)),
        window(now + time::Duration::hours(1))
    );
    for path in [
        "/reporting/v3/purchase-refund-details",
        "/reporting/v3/net-fundings",
    ] {
        let (status, body) = signed::<()>(
            &server,
            "GET",
            &format!("{path}?{}", query.replace(':', "%3A")),
            None,
        )
        .await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_valid(&spec.response("get", path, 200), &body, path);
    }
}

/// The reporting API's refusals carry `details` — its description requires them on a 400 —
/// naming each field at fault.
#[tokio::test]
async fn reporting_refusals_match_the_api_description() {
    let spec = Spec::load();
    let (_sandbox, server) = sandbox().await;
    for (path, query, field) in [
        (
            "/reporting/v3/report-downloads",
            "reportName=PaymentBatchDetailReport",
            "reportDate",
        ),
        (
            "/reporting/v3/report-downloads",
            "reportDate=05-12-2026&reportName=x",
            "reportDate",
        ),
        (
            "/reporting/v3/purchase-refund-details",
            "endTime=2026-12-05T00%3A00%3A00Z",
            "startTime",
        ),
        (
            "/reporting/v3/net-fundings",
            "startTime=yesterday&endTime=today",
            "startTime",
        ),
    ] {
        let (status, body) = signed::<()>(&server, "GET", &format!("{path}?{query}"), None).await;
        assert_eq!(status, 400, "{path}?{query}: {body}");
        assert_valid(&spec.response("get", path, 400), &body, path);
        assert_eq!(body["details"][0]["field"], field, "{path}?{query}: {body}");
    }
}

#[tokio::test]
async fn tokens_and_decisions_match_the_api_description() {
    use paybridge_cybersource::risk::{DecisionAmount, DecisionOrder, DecisionRequest};
    let spec = Spec::load();
    let (_sandbox, server) = sandbox().await;

    // The connector sends exactly `{"card":{"number":…}}` for an instrument identifier.
    let identifier = serde_json::json!({"card": {"number": "4111111111111111"}});
    let created = exchange(
        &spec,
        &server,
        "/tms/v1/instrumentidentifiers",
        "/tms/v1/instrumentidentifiers",
        &identifier,
        201,
    )
    .await;
    assert_eq!(created["card"]["number"], "411111XXXXXX1111");
    exchange(
        &spec,
        &server,
        "/tms/v1/instrumentidentifiers",
        "/tms/v1/instrumentidentifiers",
        &identifier,
        200,
    )
    .await;

    let decision = DecisionRequest {
        client_reference_information: reference(None),
        order_information: DecisionOrder {
            amount_details: DecisionAmount {
                total_amount: "250.00".parse().unwrap(),
                currency: "USD".into(),
            },
            bill_to: sale("1.00").order_information.bill_to.unwrap(),
        },
        device_information: None,
        buyer_information: None,
        risk_information: None,
    };
    let decided = exchange(
        &spec,
        &server,
        "/risk/v1/decisions",
        "/risk/v1/decisions",
        &decision,
        201,
    )
    .await;
    assert_eq!(decided["status"], "ACCEPTED");
}
