//! Flow actions beyond the shipped templates', against the sandboxes and a receiver started
//! here: charging a saved card (sale, authorize, void, search) from a flow started by hand, and
//! the generic `http` action with named credentials, retries and one Idempotency-Key.
//! Long because each test drives a whole flow through two sandboxes and a receiver, and says
//! what every step sent.

use paybridge_store::RunStore as _;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use paybridge_actions::http::{HttpAuth, HttpCredential};
use paybridge_engine::ManualError;
use paybridge_sandbox::cybersource::ledger::Kind;
use paybridge_sandbox::faults::FaultMode;
use paybridge_store::RunStatus;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::helpers::{World, WorldOptions, outputs_of_run, place, quiet, runs_of};

const CHARGE: &str = r#"
name: charge-saved-card
trigger: {source: manual}
steps:
  - name: charge
    action: cybersource.sale
    with:
      reference: event.reference
      amount: event.amount
      currency: '"USD"'
      customer_id: event.customer_id
  - name: found
    action: cybersource.search
    when: steps.charge.outcome == "approved"
    with:
      reference: event.reference
  - name: undo
    action: cybersource.void
    when: event.cancel == true && steps.charge.outcome == "approved"
    with:
      transaction_id: steps.charge.transaction_id
      reference: event.reference
outputs:
  outcome: steps.charge.outcome
  reason: steps.charge.reason
  transaction_id: steps.charge.transaction_id
  found: steps.found.count
  void_id: steps.undo.void_id
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_card_is_charged_once_even_when_the_answer_is_lost_and_declines_are_outcomes() {
    let world = World::with(WorldOptions {
        flows: vec![("charge-saved-card.yaml".into(), CHARGE.into())],
        ..WorldOptions::default()
    })
    .await;
    world
        .engine
        .place_order(paybridge_commerce::PlaceOrder {
            save_card: true,
            ..place("A-1", "ada@example.com", "10.00")
        })
        .await
        .unwrap();
    world.settled("A-1").await;
    let payment = world
        .engine
        .store()
        .step(&paybridge_commerce::payments::payment_step_key("A-1"))
        .await
        .unwrap()
        .unwrap();
    let customer = payment.output.unwrap()["tokens"]["customer_id"]
        .as_str()
        .unwrap()
        .to_string();

    // Cybersource charges, then its answer is lost: the retry finds the charge.
    world.fault(
        false,
        "POST",
        "/pts/v2/payments",
        FaultMode::ErrorAfter { status: 502 },
        1,
    );
    let event = json!({"reference": "SUB-2026-11", "amount": "12.34", "customer_id": customer});
    world
        .engine
        .start_manual("charge-saved-card", "sub-2026-11", event.clone())
        .await
        .unwrap();
    // Asked again with the same key: nothing new.
    let again = world
        .engine
        .start_manual("charge-saved-card", "sub-2026-11", event)
        .await
        .unwrap();
    assert!(again.duplicate);
    quiet(&world).await;
    let sales: Vec<_> = world
        .cybersource
        .transactions()
        .into_iter()
        .filter(|t| t.kind == Kind::Authorization && t.amount.to_string() == "12.34")
        .collect();
    assert_eq!(sales.len(), 1, "one charge: {sales:?}");
    let [run] = runs_of(&world, "charge-saved-card")
        .await
        .try_into()
        .unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.last_error);
    let outputs = outputs_of_run(&world, run.id).await;
    assert_eq!(outputs["outcome"], "approved");
    assert_eq!(outputs["transaction_id"], sales[0].id.as_str());
    assert_eq!(outputs["found"], 1);

    // A decline is the step's outcome, for the flow to act on — not a failure.
    world
        .engine
        .start_manual(
            "charge-saved-card",
            "sub-declined",
            json!({"reference": "SUB-D", "amount": "2051.00", "customer_id": customer}),
        )
        .await
        .unwrap();
    // And a charge voided in the same flow.
    world
        .engine
        .start_manual(
            "charge-saved-card",
            "sub-voided",
            json!({"reference": "SUB-V", "amount": "3.00", "customer_id": customer, "cancel": true}),
        )
        .await
        .unwrap();
    quiet(&world).await;
    for run in runs_of(&world, "charge-saved-card").await {
        assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.last_error);
        let outputs = outputs_of_run(&world, run.id).await;
        match outputs["transaction_id"].as_str() {
            _ if outputs["outcome"] == "declined" => {
                assert_eq!(outputs["reason"], "INSUFFICIENT_FUND");
            }
            _ if outputs["void_id"].is_string() => {
                let voided = world
                    .cybersource
                    .transactions()
                    .into_iter()
                    .filter(|t| t.kind == Kind::Void)
                    .count();
                assert_eq!(voided, 1);
            }
            _ => assert_eq!(outputs["outcome"], "approved"),
        }
    }
    assert_eq!(runs_of(&world, "charge-saved-card").await.len(), 3);

    // Only manual flows start by hand, and never on a card number.
    assert!(matches!(
        world
            .engine
            .start_manual("order-to-cash", "x", json!({}))
            .await,
        Err(ManualError::NotManual(_))
    ));
    assert!(matches!(
        world
            .engine
            .start_manual(
                "charge-saved-card",
                "y",
                json!({"note": "4111 1111 1111 1111"})
            )
            .await,
        Err(ManualError::Event(_))
    ));
    world.stop().await;
}

const NOTIFY_ERP: &str = r#"
name: notify-erp
trigger: {source: order-api, events: [order.approved]}
steps:
  - name: erp
    action: http
    with:
      url: tables.erp.url
      auth: '"erp"'
      headers: '#{ "X-Source": "paybridge" }'
      body: '#{ reference: event.order.reference, amount: event.payment.amount }'
  - name: ack
    action: map
    with:
      erp_id: steps.erp.body.id
outputs:
  erp_id: steps.ack.erp_id
  status: steps.erp.status
tables:
  erp:
    url: "URL"
"#;

#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
    answers: Arc<Mutex<Vec<StatusCode>>>,
}

async fn receive(
    State(receiver): State<Receiver>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> (StatusCode, axum::Json<Value>) {
    receiver.seen.lock().unwrap().push((headers, body));
    let status = receiver
        .answers
        .lock()
        .unwrap()
        .pop()
        .unwrap_or(StatusCode::CREATED);
    if status.is_success() {
        (status, axum::Json(json!({"id": "ERP-77"})))
    } else {
        (
            status,
            axum::Json(json!({"error": "order 4111111111111111 refused"})),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_steps_carry_named_credentials_and_one_idempotency_key_through_retries() {
    let receiver = Receiver::default();
    // Popped from the end: first 503, then 201.
    *receiver.answers.lock().unwrap() = vec![StatusCode::CREATED, StatusCode::SERVICE_UNAVAILABLE];
    let router = axum::Router::new()
        .route("/orders", post(receive))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/orders", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let flow = NOTIFY_ERP.replace("\"URL\"", &format!("{url:?}"));
    let world = World::with(WorldOptions {
        flows: vec![("notify-erp.yaml".into(), flow)],
        http_auth: BTreeMap::from([(
            "erp".to_string(),
            HttpCredential {
                auth: HttpAuth::Bearer(SecretString::from("erp-token-123")),
                hosts: vec!["127.0.0.1".into()],
                allow_http: true,
            },
        )]),
        ..WorldOptions::default()
    })
    .await;
    world
        .engine
        .place_order(place("H-1", "ada@example.com", "10.00"))
        .await
        .unwrap();
    world.settled("H-1").await;
    quiet(&world).await;

    let seen = receiver.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "a 503, then the retry");
    let key = |h: &HeaderMap| h["idempotency-key"].to_str().unwrap().to_string();
    assert_eq!(key(&seen[0].0), key(&seen[1].0));
    assert_eq!(seen[1].0["authorization"], "Bearer erp-token-123");
    assert_eq!(seen[1].0["x-source"], "paybridge");
    assert_eq!(seen[1].1, json!({"reference": "H-1", "amount": "20.00"}));
    let [run] = runs_of(&world, "notify-erp").await.try_into().unwrap();
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(
        outputs_of_run(&world, run.id).await,
        json!({"erp_id": "ERP-77", "status": 201})
    );

    // A refusal fails the run with the status and the start of the body, never a secret or a
    // card number.
    *receiver.answers.lock().unwrap() = vec![StatusCode::UNPROCESSABLE_ENTITY];
    world
        .engine
        .place_order(place("H-2", "grace@example.com", "10.00"))
        .await
        .unwrap();
    world.settled("H-2").await;
    quiet(&world).await;
    let dead: Vec<_> = runs_of(&world, "notify-erp")
        .await
        .into_iter()
        .filter(|r| r.status == RunStatus::Dead)
        .collect();
    let [dead] = dead.as_slice() else {
        panic!("one dead run: {dead:?}")
    };
    let error = dead.last_error.clone().unwrap();
    assert!(error.contains("answered HTTP 422"), "{error}");
    assert!(
        !error.contains("4111111111111111") && !error.contains("erp-token-123"),
        "{error}"
    );
    assert_eq!(dead.last_error_status, Some(422));
    world.stop().await;
}

const NEW_CUSTOMER: &str = r#"
name: new-tms-customer
trigger: {source: manual}
steps:
  - name: customer
    action: cybersource.customer.create
    with:
      email: event.email
      merchant_customer_id: event.contact_id
outputs:
  customer_id: steps.customer.customer_id
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tms_customer_is_created_and_an_unknown_outcome_stops_for_a_person() {
    let world = World::with(WorldOptions {
        flows: vec![("new-tms-customer.yaml".into(), NEW_CUSTOMER.into())],
        ..WorldOptions::default()
    })
    .await;
    world
        .engine
        .start_manual(
            "new-tms-customer",
            "c-1",
            json!({"email": "ada@example.com", "contact_id": "460000000026049"}),
        )
        .await
        .unwrap();
    quiet(&world).await;
    let [run] = runs_of(&world, "new-tms-customer")
        .await
        .try_into()
        .unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.last_error);
    let id = outputs_of_run(&world, run.id).await["customer_id"]
        .as_str()
        .unwrap()
        .to_string();
    let customer = world
        .engine
        .connectors()
        .cybersource
        .customer(&id)
        .await
        .unwrap();
    let buyer = customer.buyer_information.unwrap();
    assert_eq!(buyer.email.as_deref(), Some("ada@example.com"));
    assert_eq!(
        buyer.merchant_customer_id.as_deref(),
        Some("460000000026049")
    );

    // Created, but the answer lost: no second customer; the run waits for a person.
    world.fault(
        false,
        "POST",
        "/tms/v2/customers",
        FaultMode::ErrorAfter { status: 502 },
        1,
    );
    world
        .engine
        .start_manual(
            "new-tms-customer",
            "c-2",
            json!({"email": "grace@example.com"}),
        )
        .await
        .unwrap();
    quiet(&world).await;
    let dead: Vec<_> = runs_of(&world, "new-tms-customer")
        .await
        .into_iter()
        .filter(|r| r.status == RunStatus::Dead)
        .collect();
    let [dead] = dead.as_slice() else {
        panic!("one dead run: {dead:?}")
    };
    assert_eq!(dead.attempt, 2, "one more look, no more writes");
    assert!(
        dead.last_error
            .as_deref()
            .unwrap()
            .contains("may have succeeded, and TMS cannot be searched for it"),
        "{:?}",
        dead.last_error
    );
    world.stop().await;
}

const CRM_EDITED: &str = r#"
name: crm-contact-edited
trigger: {source: zoho, events: [crm.Contacts.update]}
steps:
  - name: seen
    action: map
    with:
      id: event.ids[0]
      module: event["module"]
outputs:
  id: steps.seen.id
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paybridge_keeps_a_crm_channel_whose_callbacks_start_flows() {
    use paybridge_engine::jobs::crm_channel::CrmChannel;
    use paybridge_zoho::crm::Notification;
    let world = World::with(WorldOptions {
        inventory_and_crm: true,
        flows: vec![("crm-contact-edited.yaml".into(), CRM_EDITED.into())],
        ..WorldOptions::default()
    })
    .await;
    // paybridge's `/webhooks/zoho/crm`, as the server crate serves it: the token checked, the
    // notification committed.
    let token = "crm-channel-token-0123";
    let engine = world.engine.clone();
    let router = axum::Router::new().route(
        "/webhooks/zoho/crm",
        post(move |body: axum::body::Bytes| {
            let engine = engine.clone();
            async move {
                let registered = [("1000000068001".to_string(), token.to_string())];
                match Notification::verify(&body, &registered) {
                    Ok(n) => {
                        engine.accept_zoho_crm_event(&n, &body).await.unwrap();
                        StatusCode::ACCEPTED
                    }
                    Err(_) => StatusCode::UNAUTHORIZED,
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let notify_url = format!(
        "http://{}/webhooks/zoho/crm",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, router).await });

    let channel = CrmChannel {
        channel_id: "1000000068001".into(),
        events: vec!["Contacts.edit".into()],
        notify_url,
        token: SecretString::from(token),
    };
    // Created the first time, renewed after.
    channel.keep(&world.engine).await.unwrap();
    channel.keep(&world.engine).await.unwrap();
    let crm = world.engine.connectors().crm().unwrap();
    let live = crm.notification_channels().await.unwrap();
    assert_eq!(live.len(), 1, "{live:?}");

    // A contact edited in CRM: its callback starts the flow.
    let created = crm
        .upsert(
            "Contacts",
            &[
                serde_json::from_value(
                    json!({"Last_Name": "Hopper", "Email": "grace@example.com"}),
                )
                .unwrap(),
            ],
            &["Email"],
        )
        .await
        .unwrap();
    let id = created[0].details["id"].as_str().unwrap().to_string();
    crm.update(
        "Contacts",
        &[serde_json::from_value(json!({"id": id, "Phone": "555-0100"})).unwrap()],
    )
    .await
    .unwrap();
    let store = world.engine.store();
    let wait = world
        .engine
        .wait_until(Duration::from_millis(20), || async {
            Ok(!runs_of(&world, "crm-contact-edited").await.is_empty())
        });
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("the callback came")
        .unwrap();
    quiet(&world).await;
    let [run] = runs_of(&world, "crm-contact-edited")
        .await
        .try_into()
        .unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.last_error);
    assert_eq!(outputs_of_run(&world, run.id).await, json!({"id": id}));
    assert!(store.counts().await.unwrap().inbox_by_source["zoho-webhook"] >= 1);
    world.stop().await;
}

const DECIDE: &str = r#"
name: decide-case
trigger: {source: manual}
steps:
  - name: decided
    action: cybersource.case.decide
    with:
      case_id: event.case_id
      decision: '"accept"'
      comments: '"checked by phone"'
      settle: true
outputs:
  settled: steps.decided.settled
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_case_is_decided_and_captured_from_a_flow() {
    let world = World::with(WorldOptions {
        flows: vec![("decide-case.yaml".into(), DECIDE.into())],
        ..WorldOptions::default()
    })
    .await;
    world
        .engine
        .place_order(place("D-1", "dm-review-ada@example.com", "10.00"))
        .await
        .unwrap();
    let order = world.settled("D-1").await;
    let payment = order.payment_id.clone().unwrap();
    world
        .engine
        .start_manual("decide-case", "d-1", json!({"case_id": payment}))
        .await
        .unwrap();
    quiet(&world).await;
    let [run] = runs_of(&world, "decide-case").await.try_into().unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.last_error);
    assert_eq!(
        outputs_of_run(&world, run.id).await,
        json!({"settled": true})
    );
    let captured: Vec<_> = world
        .cybersource
        .transactions()
        .into_iter()
        .filter(|t| t.kind == Kind::Capture && t.parent_id.as_deref() == Some(payment.as_str()))
        .collect();
    assert_eq!(captured.len(), 1, "{captured:?}");

    // Decided already: Cybersource refuses a second decision, which fails the run with its words.
    world
        .engine
        .start_manual("decide-case", "d-2", json!({"case_id": payment}))
        .await
        .unwrap();
    quiet(&world).await;
    let dead: Vec<_> = runs_of(&world, "decide-case")
        .await
        .into_iter()
        .filter(|r| r.status == RunStatus::Dead)
        .collect();
    assert_eq!(dead.len(), 1);
    world.stop().await;
}

const REFUND_PAYMENT: &str = r#"
name: refund-payment
trigger: {source: manual}
tables:
  modes: {card: creditcard}
steps:
  - name: mode
    action: lookup
    with:
      in: tables.modes
      key: event.method
      default: '"cash"'
  - name: route
    action: branch
    with:
      to: 'if dec(event.amount) > dec("100") { "too_much" } else { "" }'
  - name: refund
    action: zoho-books.customer-payment.refund
    with:
      payment_id: event.payment_id
      date: run.today
      amount: event.amount
      refund_mode: steps.mode.value
      reference_number: event.reference
  - name: done
    action: branch
    with:
      to: '"end"'
  - name: too_much
    action: check
    with:
      that: 'false'
      message: '"refunds over 100 go through finance"'
  - name: end
    action: map
    with:
      refund_id: steps.refund.payment_refund_id
outputs:
  refund_id: steps.end.refund_id
  mode: steps.mode.value
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_and_branch_steps_route_a_books_payment_refund() {
    let world = World::with(WorldOptions {
        flows: vec![("refund-payment.yaml".into(), REFUND_PAYMENT.into())],
        ..WorldOptions::default()
    })
    .await;
    world
        .engine
        .place_order(place("P-1", "ada@example.com", "10.00"))
        .await
        .unwrap();
    let order = world.settled("P-1").await;
    // An advance the customer paid in Books (unapplied: it can be refunded).
    let advance = world
        .engine
        .connectors()
        .books
        .create_customer_payment(&paybridge_zoho::books::NewCustomerPayment {
            customer_id: order.zoho_contact_id.clone().unwrap(),
            payment_mode: "banktransfer".into(),
            amount: "20.00".parse().unwrap(),
            date: world.engine.clock.today(),
            reference_number: Some("ADV-1".into()),
            description: None,
            account_id: None,
            exchange_rate: None,
            invoices: Vec::new(),
            custom_fields: Vec::new(),
        })
        .await
        .unwrap();
    let payment_id = advance.payment_id;
    for (key, amount) in [("small", "5.00"), ("big", "150.00")] {
        world
            .engine
            .start_manual(
                "refund-payment",
                key,
                json!({"payment_id": payment_id, "amount": amount, "method": "card", "reference": format!("RF-{key}")}),
            )
            .await
            .unwrap();
    }
    quiet(&world).await;
    let runs = runs_of(&world, "refund-payment").await;
    let small = runs
        .iter()
        .find(|r| r.entity_key.ends_with("small"))
        .unwrap();
    assert_eq!(small.status, RunStatus::Succeeded, "{:?}", small.last_error);
    let outputs = outputs_of_run(&world, small.id).await;
    assert_eq!(outputs["mode"], "creditcard");
    let refunds = world
        .engine
        .connectors()
        .books
        .customer_payment_refunds(&payment_id)
        .await
        .unwrap();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0].amount, rust_decimal::Decimal::new(5, 0));
    assert_eq!(refunds[0].refund_mode.as_deref(), Some("creditcard"));
    assert_eq!(outputs["refund_id"], refunds[0].payment_refund_id.as_str());
    // The big one branched past the refund to the check, which stopped it.
    let big = runs.iter().find(|r| r.entity_key.ends_with("big")).unwrap();
    assert_eq!(big.status, RunStatus::Dead);
    assert!(
        big.last_error
            .as_deref()
            .unwrap()
            .contains("refunds over 100 go through finance")
    );
    world.stop().await;
}

const UPSERT: &str = r#"
name: upsert-customer
trigger: {source: manual}
steps:
  - name: contact
    action: zoho-books.contact.upsert
    with:
      unique_field: '"cf_paybridge_id"'
      unique_value: event.customer_ref
      contact_name: event.name
      contact_type: '"customer"'
      notes: event.note
  - name: invoice
    action: zoho-books.invoice.upsert
    with:
      unique_field: '"cf_paybridge_id"'
      unique_value: '"INV-" + event.customer_ref'
      customer_id: steps.contact.contact_id
      date: run.today
      line_items: '[#{ name: "Subscription", rate: event.price, quantity: 1 }]'
outputs:
  contact_id: steps.contact.contact_id
  contact_created: steps.contact.created
  invoice_id: steps.invoice.invoice_id
  invoice_created: steps.invoice.created
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn books_upserts_create_once_then_update_the_same_records() {
    let world = World::with(WorldOptions {
        flows: vec![("upsert-customer.yaml".into(), UPSERT.into())],
        ..WorldOptions::default()
    })
    .await;
    let mut outputs = Vec::new();
    for (key, note, price) in [("first", "new", "10.00"), ("second", "changed", "12.00")] {
        world
            .engine
            .start_manual(
                "upsert-customer",
                key,
                json!({"customer_ref": "CUS-7", "name": "Ada Lovelace", "note": note, "price": price}),
            )
            .await
            .unwrap();
        quiet(&world).await;
        let run = runs_of(&world, "upsert-customer")
            .await
            .into_iter()
            .find(|r| r.entity_key.ends_with(key))
            .unwrap();
        assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.last_error);
        outputs.push(outputs_of_run(&world, run.id).await);
    }
    assert_eq!(outputs[0]["contact_created"], true);
    assert_eq!(outputs[1]["contact_created"], false);
    assert_eq!(outputs[0]["contact_id"], outputs[1]["contact_id"]);
    assert_eq!(outputs[0]["invoice_id"], outputs[1]["invoice_id"]);
    let books = world.books();
    assert_eq!(books.contacts.len(), 1);
    assert_eq!(books.contacts[0]["notes"], "changed");
    assert_eq!(books.invoices.len(), 1);
    assert_eq!(books.invoices[0]["total"], 12.0);
    world.stop().await;
}

const DESK_CLOSED: &str = r#"
name: review-ticket-closed
trigger: {source: zoho, events: [desk.Ticket_Update]}
steps:
  - name: closed
    action: map
    when: event.payload.status == "Closed"
    with:
      ticket: event.payload.id
      decision: default_to(event.payload.cf.cf_decision, "none")
outputs:
  decision: steps.closed.decision
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desk_webhook_events_start_the_flows_of_their_type() {
    let world = World::with(WorldOptions {
        flows: vec![("review-ticket-closed.yaml".into(), DESK_CLOSED.into())],
        ..WorldOptions::default()
    })
    .await;
    let event: paybridge_zoho::desk::Event = serde_json::from_value(json!({
        "eventType": "Ticket_Update", "orgId": "60001234567",
        "payload": {"id": "1892000000093001", "status": "Closed", "cf": {"cf_decision": "accept"}}
    }))
    .unwrap();
    assert!(
        !world
            .engine
            .accept_zoho_desk_event(&event)
            .await
            .unwrap()
            .duplicate
    );
    assert!(
        world
            .engine
            .accept_zoho_desk_event(&event)
            .await
            .unwrap()
            .duplicate
    );
    let other: paybridge_zoho::desk::Event =
        serde_json::from_value(json!({"eventType": "Ticket_Add", "payload": {"id": "2"}})).unwrap();
    world.engine.accept_zoho_desk_event(&other).await.unwrap();
    quiet(&world).await;
    let [run] = runs_of(&world, "review-ticket-closed")
        .await
        .try_into()
        .unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.last_error);
    assert_eq!(
        outputs_of_run(&world, run.id).await,
        json!({"decision": "accept"})
    );
    world.stop().await;
}
