//! The catalogue as flows see it: the shipped templates compile against it, and a flow's
//! problems with its actions are found and located.

use paybridge_actions::catalogue;
use paybridge_flows::compile;
use paybridge_flows::library::{Library, SHIPPED};

fn errors(text: &str) -> Vec<String> {
    compile("f.yaml", text, catalogue())
        .unwrap_err()
        .into_iter()
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn problems_name_file_line_step_and_field() {
    let text = r#"name: bad
trigger:
  source: order-api
  events: [order.paid]
steps:
  - name: invoice
    action: zoho-books.invoice.create
    with:
      customer_id: steps.contact.contact_id
      date: '"2026-01-01"'
      line_items: '[]'
      colour: '"blue"'
  - name: pay
    action: zoho-books.customer-paymnet.record
  - name: later
    action: map
    with:
      x: event.order +
    on_error: {then: invoice}
"#;
    let found = errors(text);
    assert_eq!(
        found,
        vec![
            "f.yaml:4: field `events`: the order API has no event \"order.paid\" (it has order.approved, order.declined, order.held, order.partially_authorized, order.payment_unclear, order.refund_requested, order.review_accepted, order.review_rejected, order.card_saved)",
            "f.yaml:12: step `invoice`, field `colour`: zoho-books.invoice.create has no field `colour` (it has customer_id, date, line_items, invoice_number, reference_number, due_date, shipping_charge, exchange_rate, notes, custom_fields)",
            "f.yaml:9: step `invoice`, field `customer_id`: reads steps.contact, but that step does not exist",
            "f.yaml:14: step `pay`, field `action`: there is no action \"zoho-books.customer-paymnet.record\" (did you mean \"zoho-books.customer-payment.record\"?)",
            "f.yaml:18: step `later`, field `x`: syntax error at line 1, column 14 of the expression: Script is incomplete",
            "f.yaml:19: step `later`, field `then`: on_error can only go forward, and step `invoice` is not after this one",
        ],
        "{found:#?}"
    );
}

#[test]
fn required_fields_and_forward_references_are_caught() {
    let text = "name: x\ntrigger: {source: manual}\nsteps:\n  - name: a\n    action: zoho-books.invoice.mark-sent\n    with: {}\n  - name: b\n    action: map\n    with:\n      v: steps.c.x\n  - name: c\n    action: map\n";
    let found = errors(text);
    assert_eq!(
        found,
        vec![
            "f.yaml:6: step `a`, field `with`: zoho-books.invoice.mark-sent needs the field `invoice_id`",
            "f.yaml:10: step `b`, field `v`: reads steps.c, but that step runs later",
        ]
    );
}

#[test]
fn every_shipped_template_compiles() {
    for (file, text) in SHIPPED {
        if let Err(errors) = compile(file, text, catalogue()) {
            panic!(
                "{}",
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
    assert_eq!(Library::shipped(catalogue()).iter().count(), SHIPPED.len());
}

#[test]
fn order_events_start_the_order_to_cash_template() {
    let library = Library::shipped(catalogue());
    assert_eq!(
        library.triggered_by("order-api", "order.approved"),
        vec!["order-to-cash"]
    );
}

#[test]
fn every_action_is_in_the_catalogue_once_with_its_outputs_declared() {
    let names: Vec<&str> = catalogue().iter().map(|a| a.name).collect();
    let expected = [
        "branch",
        "check",
        "cybersource.authorize",
        "cybersource.capture",
        "cybersource.case.decide",
        "cybersource.customer.create",
        "cybersource.customer.get",
        "cybersource.customer.update",
        "cybersource.payment-instrument.get",
        "cybersource.refund",
        "cybersource.reverse",
        "cybersource.sale",
        "cybersource.search",
        "cybersource.void",
        "email.send",
        "http",
        "lookup",
        "map",
        "order.review-settled",
        "order.synced",
        "refund.recorded",
        "storefront.callback",
        "zoho-books.contact.ensure",
        "zoho-books.contact.update",
        "zoho-books.contact.upsert",
        "zoho-books.credit-note.create",
        "zoho-books.credit-note.refund",
        "zoho-books.customer-payment.record",
        "zoho-books.customer-payment.refund",
        "zoho-books.exchange-rate",
        "zoho-books.invoice.create",
        "zoho-books.invoice.from-sales-order",
        "zoho-books.invoice.mark-sent",
        "zoho-books.invoice.upsert",
        "zoho-books.invoice.void",
        "zoho-crm.account.upsert",
        "zoho-crm.contact.upsert",
        "zoho-desk.ticket.create",
        "zoho-desk.ticket.update",
        "zoho-inventory.sales-order.confirm",
        "zoho-inventory.sales-order.create",
        "zoho-inventory.sales-order.void",
    ];
    assert_eq!(names, expected);
    for action in catalogue().iter() {
        // Every action with an effect is run by name, and says what it gives back.
        if action.has_effect() {
            let runnable = paybridge_actions::actions()
                .get(action.name)
                .unwrap_or_else(|| panic!("{} cannot be run", action.name));
            assert!(std::ptr::eq(runnable.spec(), action));
            assert!(
                !action.outputs.is_empty(),
                "{} declares no output",
                action.name
            );
        }
    }
}
