//! Customer and token sync, both ways, checked through the vendors' own APIs: a saved card's
//! TMS tokens reach the Zoho Books and CRM contacts (never the card number), and a Books
//! contact's new e-mail reaches the TMS customer. Books webhooks are handed to the engine as
//! the ingress would (the HTTP side is tested in the server crate and the demo).

use paybridge_commerce::PlaceOrder;
use paybridge_store::RunStatus;
use paybridge_zoho::books::{ContactChanges, ContactPerson, custom_value};
use serde_json::Value;

use crate::helpers::{ORG, World, WorldOptions, outputs_of_run, place, quiet, runs_of};

fn saving(reference: &str, email: &str) -> PlaceOrder {
    PlaceOrder {
        save_card: true,
        ..place(reference, email, "10.00")
    }
}

/// The Books webhook of a record, as Books would post it (`{"contact": {…}}`).
async fn books_webhook(world: &World, module: &str, record: &Value) {
    let raw = serde_json::to_vec(&serde_json::json!({ module: record })).unwrap();
    let accepted = world
        .engine
        .accept_zoho_books_event(module, record.as_object().unwrap().clone(), &raw)
        .await
        .unwrap();
    assert!(!accepted.duplicate);
    quiet(world).await;
}

fn contact_record(world: &World, contact_id: &str) -> Value {
    world
        .zoho
        .books_records(ORG)
        .unwrap()
        .contacts
        .into_iter()
        .find(|c| c["contact_id"] == contact_id)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_card_reaches_the_zoho_contacts_and_a_books_email_change_reaches_tms() {
    let world = World::with(WorldOptions {
        inventory_and_crm: true,
        ..WorldOptions::default()
    })
    .await;
    world
        .engine
        .place_order(saving("T-1", "grace@example.com"))
        .await
        .unwrap();
    let order = world.settled("T-1").await;
    quiet(&world).await;
    let contact_id = order.zoho_contact_id.clone().expect("synced to Books");

    // The payment made a TMS customer with the card as its instrument.
    let cybersource = &world.engine.connectors().cybersource;
    let runs = runs_of(&world, "customer-sync").await;
    let [run] = runs.as_slice() else {
        panic!("one customer-sync run: {runs:?}")
    };
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    let tms_id = outputs_of_run(&world, run.id).await["customer_id"]
        .as_str()
        .unwrap()
        .to_string();
    let customer = cybersource.customer(&tms_id).await.unwrap();
    let instrument_id = customer.default_payment_instrument.unwrap().id;

    // Books: the tokens, brand, last four and expiry in custom fields; no card number.
    let books = world
        .engine
        .connectors()
        .books
        .get_contact(&contact_id)
        .await
        .unwrap();
    let field = |name| custom_value(&books.custom_fields, name).map(str::to_string);
    assert_eq!(field("cf_cybersource_customer"), Some(tms_id.clone()));
    assert_eq!(field("cf_cybersource_instrument"), Some(instrument_id));
    assert_eq!(field("cf_card_brand").as_deref(), Some("visa"));
    assert_eq!(field("cf_card_last4").as_deref(), Some("1111"));
    assert_eq!(field("cf_card_expiry").as_deref(), Some("12/2031"));
    let everything =
        serde_json::to_string(&world.zoho.books_records(ORG).unwrap().contacts).unwrap();
    assert!(!everything.contains("4111111111111111"));

    // CRM: the same on the contact, found by e-mail through the CRM API.
    let crm = world.engine.connectors().crm().unwrap();
    let found = crm
        .find_contacts_by_email("grace@example.com")
        .await
        .unwrap();
    let [found] = found.as_slice() else {
        panic!("one CRM contact: {found:?}")
    };
    let crm_contact = crm
        .get(
            "Contacts",
            found["id"].as_str().unwrap(),
            &[
                "Cybersource_Customer",
                "Card_Brand",
                "Card_Last_Four",
                "Card_Expiry",
            ],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(crm_contact["Cybersource_Customer"], tms_id.as_str());
    assert_eq!(crm_contact["Card_Last_Four"], "1111");
    assert_eq!(crm_contact["Card_Brand"], "visa");
    assert_eq!(crm_contact["Card_Expiry"], "12/2031");

    // paybridge's own edit of the contact came back (in Books, every edit posts the webhook):
    // it only links the TMS customer to the contact.
    books_webhook(&world, "contact", &contact_record(&world, &contact_id)).await;
    let customer = cybersource.customer(&tms_id).await.unwrap();
    let buyer = customer.buyer_information.unwrap();
    assert_eq!(buyer.email.as_deref(), Some("grace@example.com"));
    assert_eq!(
        buyer.merchant_customer_id.as_deref(),
        Some(contact_id.as_str())
    );
    let before = customer.etag.clone();
    assert!(before.is_some(), "TMS answers with an ETag");

    // The same again changes nothing in TMS (what differs only).
    let mut record = contact_record(&world, &contact_id);
    record["last_modified_time"] = "2026-11-26T10:00:00+0000".into();
    books_webhook(&world, "contact", &record).await;
    assert_eq!(cybersource.customer(&tms_id).await.unwrap().etag, before);

    // Finance changes the e-mail in Books: the TMS customer follows.
    world
        .engine
        .connectors()
        .books
        .change_contact(
            &contact_id,
            &ContactChanges {
                contact_persons: vec![ContactPerson {
                    first_name: "Ada".into(),
                    last_name: "Lovelace".into(),
                    email: "Grace.Hopper@Example.com".into(),
                    phone: None,
                    is_primary_contact: true,
                }],
                ..ContactChanges::default()
            },
        )
        .await
        .unwrap();
    books_webhook(&world, "contact", &contact_record(&world, &contact_id)).await;
    let customer = cybersource.customer(&tms_id).await.unwrap();
    assert_eq!(
        customer.buyer_information.unwrap().email.as_deref(),
        Some("grace.hopper@example.com")
    );
    let syncs = runs_of(&world, "contact-to-tms").await;
    assert_eq!(syncs.len(), 3);
    assert!(
        syncs.iter().all(|r| r.status == RunStatus::Succeeded),
        "{syncs:?}"
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_without_a_saved_card_and_contacts_without_tokens_sync_nothing() {
    let world = World::start().await;
    world
        .engine
        .place_order(place("T-2", "alan@example.com", "10.00"))
        .await
        .unwrap();
    let order = world.settled("T-2").await;
    quiet(&world).await;
    assert!(runs_of(&world, "customer-sync").await.is_empty());
    let contact_id = order.zoho_contact_id.unwrap();
    let books = world
        .engine
        .connectors()
        .books
        .get_contact(&contact_id)
        .await
        .unwrap();
    assert_eq!(
        custom_value(&books.custom_fields, "cf_cybersource_customer"),
        None
    );

    // An edit of a contact with no saved card: the flow runs and calls Cybersource for nothing.
    let calls = world.cybersource.stats().requests;
    books_webhook(&world, "contact", &contact_record(&world, &contact_id)).await;
    let runs = runs_of(&world, "contact-to-tms").await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Succeeded);
    assert_eq!(world.cybersource.stats().requests, calls);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_card_is_refused_for_a_payment_that_is_a_token_already() {
    let world = World::start().await;
    let mut request = saving("T-3", "x@example.com");
    request.payment = paybridge_commerce::PaymentMethod::TmsCustomer {
        customer_id: "F67E19FBC55DF3AAE053AF598E0A2EA6".into(),
        payment_instrument_id: None,
    };
    let refused = world.engine.place_order(request).await.unwrap_err();
    assert!(
        refused.to_string().contains("payment.save_card"),
        "{refused}"
    );
    world.stop().await;
}
