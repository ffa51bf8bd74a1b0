//! Flow files run by the engine against the sandboxes: the shipped order-to-cash template with
//! every Zoho product connected, and what a bad flow file can (not) do.

use paybridge_engine::dlq;
use paybridge_model::OrderStatus;
use paybridge_store::{FlowStore as _, OrderStore as _, RunStore as _};
use paybridge_store::{RunStatus, StepStatus};

use crate::helpers::{ORG, World, WorldOptions, place, runs_of};

fn with_flows(flows: &[(&str, &str)]) -> WorldOptions {
    WorldOptions {
        flows: flows
            .iter()
            .map(|(name, text)| (name.to_string(), text.to_string()))
            .collect(),
        ..WorldOptions::default()
    }
}

/// A finished run's outputs (kept as its `outputs` step).
fn outputs_of(detail: &dlq::RunDetail) -> Option<serde_json::Value> {
    detail
        .steps
        .iter()
        .find(|s| s.name == "outputs" && s.status == StepStatus::Succeeded)
        .and_then(|s| s.output.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_to_cash_with_crm_and_inventory_ends_in_a_confirmed_invoiced_and_paid_sales_order() {
    let world = World::with(WorldOptions {
        inventory_and_crm: true,
        ..WorldOptions::default()
    })
    .await;
    let mut request = place("S-1", "Ada@Example.com", "12.50");
    request.order.customer.company = Some("Analytical Engines".into());
    world.engine.place_order(request).await.unwrap();
    let order = world.settled("S-1").await;
    assert_eq!(
        order.status,
        OrderStatus::Completed,
        "{:?}",
        order.status_detail
    );

    // CRM, read back through its API: the contact (found by e-mail) linked to its account.
    let crm = world.engine.connectors().crm().unwrap();
    let contacts = crm.find_contacts_by_email("ada@example.com").await.unwrap();
    let [contact] = contacts.as_slice() else {
        panic!("one CRM contact: {contacts:?}")
    };
    assert_eq!(contact["Last_Name"], "Lovelace");
    // (COQL: CRM's search index lags behind a fresh write.)
    let accounts = crm
        .coql("select Account_Name from Accounts where Account_Name = 'Analytical Engines'")
        .await
        .unwrap();
    assert_eq!(accounts.len(), 1, "{accounts:?}");

    // Inventory and Books: one confirmed sales order, invoiced; the invoice paid in full.
    let books = world.zoho.books_records(ORG).unwrap();
    let [sales_order] = books.sales_orders.as_slice() else {
        panic!("one sales order")
    };
    assert_eq!(sales_order["reference_number"], "S-1");
    assert_eq!(sales_order["status"], "confirmed");
    assert_eq!(sales_order["invoiced_status"], "invoiced");
    let [invoice] = books.invoices.as_slice() else {
        panic!("one invoice")
    };
    assert_eq!(invoice["status"], "paid");
    assert_eq!(invoice["total"], 25.0);
    assert_eq!(
        invoice["invoice_id"].as_str(),
        order.zoho_invoice_id.as_deref()
    );
    let [payment] = books.customer_payments.as_slice() else {
        panic!("one payment")
    };
    assert_eq!(
        payment["reference_number"].as_str(),
        order.payment_id.as_deref()
    );

    // The run's timeline names the flow's steps, in order, CRM and Inventory included.
    let run = &runs_of(&world, "order-to-cash").await[0];
    let detail = world.engine.runs().show(run.id).await.unwrap();
    let names: Vec<&str> = detail.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "crm_account",
            "crm_contact",
            "contact",
            "sales_order",
            "confirm",
            "invoice_from_order",
            "invoice_sent",
            "payment",
            "synced",
            "outputs"
        ]
    );
    world.stop().await;
}

const LOOPING: &str = r#"
name: looping
trigger: {source: order-api, events: [order.approved]}
steps:
  - name: spin
    action: map
    with:
      forever: 'loop { }'
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_that_never_ends_fails_its_own_run_and_nothing_else() {
    let world = World::with(with_flows(&[("looping.yaml", LOOPING)])).await;
    world
        .engine
        .place_order(place("S-1", "ada@example.com", "10.00"))
        .await
        .unwrap();
    // The shipped flow for the same order is unaffected.
    assert_eq!(world.settled("S-1").await.status, OrderStatus::Completed);
    let [run] = runs_of(&world, "looping").await.try_into().unwrap();
    assert_eq!(run.status, RunStatus::Dead);
    assert_eq!(run.attempt, 1, "a mapping error is permanent: no retries");
    let error = run.last_error.unwrap();
    assert!(
        error.contains("step `spin`, field `forever`: the expression exceeded its limits"),
        "{error}"
    );
    world.stop().await;
}

const LEAKY: &str = r#"
name: leaky
trigger: {source: order-api, events: [order.approved]}
steps:
  - name: invoice
    action: zoho-books.invoice.create
    with:
      customer_id: '"123"'
      date: run.today
      line_items: '[#{ name: "x", rate: "1", quantity: "1" }]'
      notes: '"card 4111 1111 1111 1111"'
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_number_mapped_into_a_zoho_payload_stops_the_step_before_any_call() {
    let world = World::with(with_flows(&[("leaky.yaml", LEAKY)])).await;
    world
        .engine
        .place_order(place("S-1", "ada@example.com", "10.00"))
        .await
        .unwrap();
    world.settled("S-1").await;
    let [run] = runs_of(&world, "leaky").await.try_into().unwrap();
    assert_eq!(run.status, RunStatus::Dead);
    assert!(
        run.last_error
            .as_deref()
            .unwrap()
            .contains("holds a card number"),
        "{:?}",
        run.last_error
    );
    // Only the shipped flow's invoice exists; the card number went nowhere, the store included.
    let books = world.zoho.books_records(ORG).unwrap();
    assert_eq!(books.invoices.len(), 1);
    let detail = serde_json::to_value(world.engine.runs().show(run.id).await.unwrap()).unwrap();
    // The number itself, not any "4111" (a random id or a timestamp may hold those digits).
    let text = detail.to_string();
    assert!(
        !text.contains("4111 1111 1111 1111") && !text.contains("4111111111111111"),
        "{text}"
    );
    assert_eq!(
        paybridge_model::pan::find_in_json(&detail),
        Vec::<String>::new()
    );
    world.stop().await;
}

const BRANCHING: &str = r#"
name: branching
trigger: {source: order-api, events: [order.approved]}
steps:
  - name: optional
    action: check
    with: {that: 'false', message: '"this one may fail"'}
    on_error: {then: continue}
  - name: gate
    action: check
    with: {that: 'event.order.reference == "nope"', message: '"not that order"'}
    on_error: {then: after}
  - name: skipped_by_goto
    action: map
    with: {x: '1'}
  - name: after
    action: map
    when: steps.optional.failed
    with:
      why: steps.optional.error
      gate: steps.gate.error
outputs:
  why: steps.after.why
  gate: steps.gate.error
  jumped: steps.skipped_by_goto == ()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_error_continue_and_go_to_carry_the_error_to_later_steps() {
    let world = World::with(with_flows(&[("branching.yaml", BRANCHING)])).await;
    world
        .engine
        .place_order(place("S-1", "ada@example.com", "10.00"))
        .await
        .unwrap();
    world.settled("S-1").await;
    let [run] = runs_of(&world, "branching").await.try_into().unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.last_error);
    let detail = world.engine.runs().show(run.id).await.unwrap();
    let outputs = outputs_of(&detail).expect("the flow's outputs are kept");
    assert_eq!(outputs["why"], "this one may fail");
    assert_eq!(outputs["gate"], "not that order");
    assert_eq!(outputs["jumped"], true);
    world.stop().await;
}

/// A storefront whose first answer to each callback is a 503, then takes them as the sandbox's
/// receiver does (verifying the signature on its own).
async fn flaky_storefront(
    secret: &str,
) -> (
    paybridge_sandbox::storefront::CallbackReceiver,
    paybridge_sandbox::server::RunningServer,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::response::IntoResponse;
    use tower::ServiceExt as _;

    let receiver = paybridge_sandbox::storefront::CallbackReceiver::new(secret);
    let calls = Arc::new(AtomicUsize::new(0));
    let (inner, counter) = (receiver.router(), calls.clone());
    let flaky = axum::Router::new().route(
        "/callbacks",
        axum::routing::post(move |request: Request<Body>| {
            let (inner, counter) = (inner.clone(), counter.clone());
            async move {
                if counter.fetch_add(1, Ordering::SeqCst) % 2 == 0 {
                    return (
                        StatusCode::SERVICE_UNAVAILABLE,
                        [("retry-after", "0")],
                        "busy",
                    )
                        .into_response();
                }
                inner.oneshot(request).await.into_response()
            }
        }),
    );
    let server = paybridge_sandbox::server::RunningServer::start(
        flaky,
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .unwrap();
    (receiver, server, calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_storefront_hears_paid_and_declined_once_each_signed_and_retried_until_taken() {
    let secret = "a-callback-secret-of-24-chars";
    let (receiver, server, calls) = flaky_storefront(secret).await;
    let world = World::with(WorldOptions {
        storefront: Some((server.url().join("callbacks").unwrap(), secret.into())),
        ..WorldOptions::default()
    })
    .await;
    world
        .engine
        .place_order(place("S-1", "ada@example.com", "10.00"))
        .await
        .unwrap();
    // 2051.00: the test environment's insufficient funds.
    world
        .engine
        .place_order(place("S-2", "grace@example.com", "1025.50"))
        .await
        .unwrap();
    assert_eq!(world.settled("S-1").await.status, OrderStatus::Completed);
    assert_eq!(world.settled("S-2").await.status, OrderStatus::Declined);

    let taken = receiver.callbacks();
    assert_eq!(taken.refused, 0, "every signature verified");
    assert_eq!(taken.deliveries.len(), 2, "{:?}", taken.deliveries);
    // Each was refused once with a 503, then taken.
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 4);
    let [paid] = receiver.for_reference("S-1").try_into().unwrap();
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["details"]["amount"], "20.00");
    let [declined] = receiver.for_reference("S-2").try_into().unwrap();
    assert_eq!(declined["status"], "declined");
    assert_eq!(declined["reason"], "INSUFFICIENT_FUND");
    assert_eq!(declined["message"], "The card has insufficient funds.");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_in_euro_and_yen_are_booked_in_their_currency_at_the_recorded_rate() {
    use paybridge_model::Currency;

    let world = World::start().await;
    let books = &world.engine.connectors().books;
    let today = world.engine.clock.today();
    for (code, symbol, rate) in [("EUR", "€", "1.0836"), ("JPY", "¥", "0.0067")] {
        let currency = books.add_currency(code, symbol).await.unwrap();
        books
            .add_exchange_rate(&currency.currency_id, &today, rate.parse().unwrap())
            .await
            .unwrap();
    }
    // A currency Books has, without a rate: the order cannot be booked, and says why.
    books.add_currency("GBP", "£").await.unwrap();

    let mut orders = Vec::new();
    for (reference, currency, price) in [
        ("FX-USD", Currency::USD, "10.00"),
        ("FX-EUR", Currency::EUR, "10.00"),
        ("FX-JPY", Currency::JPY, "1000"),
        ("FX-GBP", Currency::from_code("GBP").unwrap(), "10.00"),
    ] {
        let mut request = place(reference, "ada@example.com", price);
        request.order.currency = currency;
        world.engine.place_order(request).await.unwrap();
        orders.push(reference);
    }
    for reference in &orders[..3] {
        let order = world.settled(reference).await;
        assert_eq!(
            order.status,
            OrderStatus::Completed,
            "{reference}: {:?}",
            order.status_detail
        );
    }
    let gbp = world.settled("FX-GBP").await;
    assert_eq!(gbp.status, OrderStatus::SyncFailed);
    let detail = gbp.status_detail.unwrap();
    assert!(
        detail.contains("Zoho Books has no GBP exchange rate on or before")
            && detail.contains("exchange_rates table"),
        "{detail}"
    );

    let records = world.zoho.books_records(ORG).unwrap();
    let invoice = |reference: &str| {
        records
            .invoices
            .iter()
            .find(|i| i["reference_number"] == reference)
            .cloned()
            .unwrap()
    };
    let eur = invoice("FX-EUR");
    assert_eq!(eur["currency_code"], "EUR");
    assert_eq!(eur["total"], 20.0);
    assert_eq!(eur["exchange_rate"], 1.0836);
    assert_eq!(eur["status"], "paid");
    let jpy = invoice("FX-JPY");
    assert_eq!(jpy["currency_code"], "JPY");
    assert_eq!(jpy["total"], 2000.0);
    assert_eq!(jpy["exchange_rate"], 0.0067);
    assert_eq!(jpy["status"], "paid");
    assert_eq!(invoice("FX-USD")["currency_code"], "USD");
    // One customer, one contact per currency (a Books contact's currency is fixed); the GBP
    // order stopped before writing anything.
    let codes: std::collections::BTreeSet<String> = records
        .contacts
        .iter()
        .map(|c| c["currency_code"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        codes.into_iter().collect::<Vec<_>>(),
        ["EUR", "JPY", "USD"].map(str::to_string)
    );
    // The rate and where it came from are kept with the run.
    let runs = runs_of(&world, "order-to-cash").await;
    let mut sources = Vec::new();
    for run in runs {
        let detail = world.engine.runs().show(run.id).await.unwrap();
        if let Some(outputs) = outputs_of(&detail) {
            sources.push((
                outputs["exchange_rate"].clone(),
                outputs["exchange_rate_source"].clone(),
            ));
        }
    }
    assert!(sources.contains(&(
        serde_json::json!("1.0836"),
        serde_json::json!(format!("zoho-books {today}"))
    )));
    world.stop().await;
}

const VERSION_ONE: &str = r#"
name: versioned
trigger: {source: order-api, events: [order.approved]}
steps:
  - name: say
    action: map
    with: {version: '"one"'}
outputs:
  version: steps.say.version
"#;

const VERSION_TWO: &str = r#"
name: versioned
trigger: {source: order-api, events: [order.approved]}
steps:
  - name: say
    action: check
    with: {that: 'false', message: '"version two refuses every order"'}
outputs:
  version: '"two"'
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_replays_on_the_deployed_version_or_on_the_one_it_ran() {
    use paybridge_flows::definition;
    use paybridge_store::FlowVersionRecord;

    let world = World::with(with_flows(&[("versioned.yaml", VERSION_TWO)])).await;
    let store = world.engine.store();
    world
        .engine
        .place_order(place("V-1", "ada@example.com", "10.00"))
        .await
        .unwrap();
    world.settled("V-1").await;
    let [run] = runs_of(&world, "versioned").await.try_into().unwrap();
    assert_eq!(run.status, RunStatus::Dead);
    let two = definition::version_of(VERSION_TWO);
    assert_eq!(run.flow_version.as_deref(), Some(two.as_str()));
    // The deployed version's text was kept when it ran.
    assert!(
        store
            .flow_version("versioned", &two)
            .await
            .unwrap()
            .is_some()
    );

    // Say the run had executed version one (deployed before two): replaying it on its original
    // version runs one, from the store; a plain replay runs two again.
    let one = definition::version_of(VERSION_ONE);
    store
        .record_flow_version(&FlowVersionRecord {
            name: "versioned".into(),
            version: one.clone(),
            text: VERSION_ONE.into(),
            origin: "versioned.yaml".into(),
            recorded_ms: 0,
        })
        .await
        .unwrap();
    store.set_run_flow_version(run.id, &one).await.unwrap();
    let runs = world.engine.runs();
    runs.replay_original(run.id).await.unwrap();
    world.engine.wake_workers();
    world.settled("V-1").await;
    let detail = runs.show(run.id).await.unwrap();
    assert_eq!(
        detail.run.status,
        RunStatus::Succeeded,
        "{:?}",
        detail.run.last_error
    );
    assert_eq!(detail.run.flow_version.as_deref(), Some(one.as_str()));
    let outputs = outputs_of(&detail).unwrap();
    assert_eq!(outputs["version"], "one");
    world.stop().await;
}

#[tokio::test]
async fn an_environment_runs_the_versions_deployed_to_it_on_both_stores() {
    use paybridge_engine::deploy;
    use paybridge_flows::Library;

    for db in crate::helpers::backends().await {
        let store = db.open().await;
        let deployments = deploy::Deployments::new(store.clone(), paybridge_store::Clock::new());
        assert!(matches!(
            deploy::library_for(&store, "prod", paybridge_actions::catalogue()).await,
            Err(deploy::DeployError::NothingDeployed(_))
        ));
        let mut one = Library::empty();
        one.insert(
            paybridge_flows::compile("v.yaml", VERSION_ONE, paybridge_actions::catalogue())
                .unwrap(),
        );
        let done = deployments.deploy("qa", &one, None).await.unwrap();
        assert!(done[0].changed && done[0].from.is_none());
        let again = deployments.deploy("qa", &one, None).await.unwrap();
        assert!(!again[0].changed);
        deployments.promote("qa", "prod", None).await.unwrap();

        let prod = deploy::library_for(&store, "prod", paybridge_actions::catalogue())
            .await
            .unwrap();
        let versioned = prod.get("versioned").expect("deployed to prod");
        assert_eq!(
            versioned.version,
            paybridge_flows::definition::version_of(VERSION_ONE)
        );
        // The shipped templates run beside it.
        assert!(prod.get("order-to-cash").is_some());
        assert_eq!(store.deployments("prod").await.unwrap().len(), 1);
        assert_eq!(
            store.deployment_history("versioned").await.unwrap().len(),
            2
        );
    }
}

/// What Cybersource's webhook says when a reviewer decides a case.
async fn reviewer_decides(world: &World, payment_id: &str, reference: &str, accept: bool) {
    let event_type = if accept {
        "risk.casemanagement.decision.accept"
    } else {
        "risk.casemanagement.decision.reject"
    };
    world
        .cybersource
        .decide_case(payment_id, accept, "checked by phone");
    let notification = serde_json::json!({
        "event_type": event_type,
        "payload": [{"data": {
            "id": payment_id, "type": "casemanagement", "referenceNumber": reference,
            "decision": if accept { "ACCEPT" } else { "REJECT" },
            "notes": [{"comments": "checked by phone"}]
        }}],
    });
    world
        .engine
        .accept_cybersource_event(
            format!("cybersource:wh:{payment_id}:{event_type}"),
            event_type.into(),
            Some(payment_id),
            notification,
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_order_waits_with_a_ticket_then_is_captured_and_booked_or_reversed_and_voided() {
    let world = World::with(WorldOptions {
        inventory_and_crm: true,
        ..WorldOptions::default()
    })
    .await;
    for (reference, email) in [
        ("H-1", "dm-review-ada@example.com"),
        ("H-2", "dm-review-bob@example.com"),
    ] {
        world
            .engine
            .place_order(place(reference, email, "300.00"))
            .await
            .unwrap();
        assert_eq!(world.settled(reference).await.status, OrderStatus::OnHold);
    }
    // Held: a draft sales order each, nothing invoiced, a ticket each with the reasons.
    let books = world.zoho.books_records(ORG).unwrap();
    assert_eq!(books.sales_orders.len(), 2);
    assert!(books.sales_orders.iter().all(|o| o["status"] == "draft"));
    assert!(books.invoices.is_empty());
    let desk = world.engine.connectors().desk().unwrap();
    let tickets = desk
        .find_tickets_by_custom_field(paybridge_actions::desk::DESK_KEY_FIELD, &{
            use sha2::Digest as _;
            hex::encode(&sha2::Sha256::digest(b"order:H-1:zoho-desk:review")[..16])
        })
        .await
        .unwrap();
    let [ticket] = tickets.as_slice() else {
        let runs = runs_of(&world, "fraud-review").await;
        panic!(
            "one review ticket: {tickets:?} {:?}",
            runs.iter()
                .map(|r| (r.status, r.last_error.clone()))
                .collect::<Vec<_>>()
        )
    };
    assert_eq!(ticket.subject, "Review order H-1 (fraud score 75)");
    assert_eq!(
        ticket.priority.as_deref(),
        Some("High"),
        "600.00 is above the 500 threshold"
    );
    let ticket = desk.get_ticket(&ticket.id).await.unwrap();
    assert_eq!(ticket.status.as_deref(), Some("Open"));

    // The reviewer accepts H-1: captured, booked, the ticket closed.
    let h1 = world
        .engine
        .store()
        .order_by_reference("H-1")
        .await
        .unwrap()
        .unwrap();
    reviewer_decides(&world, h1.payment_id.as_deref().unwrap(), "H-1", true).await;
    let h1 = world.settled("H-1").await;
    assert_eq!(h1.status, OrderStatus::Completed, "{:?}", h1.status_detail);
    let captures: Vec<_> = world
        .cybersource
        .transactions()
        .into_iter()
        .filter(|t| t.kind == paybridge_sandbox::cybersource::ledger::Kind::Capture)
        .collect();
    assert_eq!(captures.len(), 1);
    assert_eq!(captures[0].amount.to_string(), "600.00");
    assert_eq!(
        desk.get_ticket(&ticket.id).await.unwrap().status.as_deref(),
        Some("Closed")
    );

    // The reviewer rejects H-2: reversed, its sales order voided, the order declined.
    let h2 = world
        .engine
        .store()
        .order_by_reference("H-2")
        .await
        .unwrap()
        .unwrap();
    reviewer_decides(&world, h2.payment_id.as_deref().unwrap(), "H-2", false).await;
    let h2 = world.settled("H-2").await;
    assert_eq!(h2.status, OrderStatus::Declined);
    assert_eq!(
        h2.decline_reason.as_deref(),
        Some("DECISION_PROFILE_REJECT")
    );
    assert!(
        world
            .cybersource
            .transactions()
            .iter()
            .any(|t| t.kind == paybridge_sandbox::cybersource::ledger::Kind::Reversal)
    );
    let books = world.zoho.books_records(ORG).unwrap();
    let status_of = |reference: &str| {
        books
            .sales_orders
            .iter()
            .find(|o| o["reference_number"] == reference)
            .map(|o| o["status"].clone())
    };
    assert_eq!(status_of("H-1"), Some(serde_json::json!("confirmed")));
    assert_eq!(status_of("H-2"), Some(serde_json::json!("void")));
    assert_eq!(
        books.invoices.len(),
        1,
        "only the accepted order is invoiced"
    );
    world.stop().await;
}

const ON_REFUND_WEBHOOK: &str = r#"
name: refund-heard
trigger: {source: cybersource, events: [payments.refund.status.accepted]}
steps:
  - name: heard
    action: map
    with:
      refund: event.payload[0].data.id
outputs:
  refund: steps.heard.refund
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flows_triggered_by_cybersource_webhooks_run_after_paybridges_own_reading() {
    let world = World::with(with_flows(&[("refund-heard.yaml", ON_REFUND_WEBHOOK)])).await;
    for (n, event_type) in [
        "payments.refund.status.accepted",
        "payments.capture.status.accepted",
    ]
    .into_iter()
    .enumerate()
    {
        let notification = serde_json::json!({
            "eventType": event_type,
            "payload": [{"data": {"id": format!("70000000000000000000{n}"),
                                  "clientReferenceInformation": {"code": "NOBODY"}}}],
        });
        world
            .engine
            .accept_cybersource_event(
                format!("cybersource:wh:{n}"),
                event_type.into(),
                Some("7000"),
                notification,
            )
            .await
            .unwrap();
    }
    let store = world.engine.store();
    let wait = world
        .engine
        .wait_until(std::time::Duration::from_millis(50), || async {
            let counts = store.counts().await?;
            Ok(counts.runs_by_status.get("succeeded").copied().unwrap_or(0) == 3)
        });
    tokio::time::timeout(std::time::Duration::from_secs(30), wait)
        .await
        .expect("the runs finish")
        .unwrap();
    // Both events were read by the engine; only the refund one started the flow file.
    assert_eq!(runs_of(&world, "cybersource-event").await.len(), 2);
    let [run] = runs_of(&world, "refund-heard").await.try_into().unwrap();
    assert_eq!(run.status, RunStatus::Succeeded);
    let detail = world.engine.runs().show(run.id).await.unwrap();
    assert_eq!(
        outputs_of(&detail),
        Some(serde_json::json!({"refund": "700000000000000000000"}))
    );
    world.stop().await;
}
