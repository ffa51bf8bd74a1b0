//! `paybridge flows`: what an integration engineer sees when checking and trying flow files.

use std::path::Path;
use std::process::{Command, Output};

fn flows(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_paybridge"))
        .arg("flows")
        .args(args)
        .output()
        .expect("paybridge runs")
}

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .unwrap()
}

#[test]
fn validate_names_file_line_step_and_field_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("refunds.yaml"),
        "name: refunds\ntrigger:\n  source: order-api\n  events: [order.approved]\nsteps:\n  - name: credit\n    action: zoho-books.invoice.create\n    with:\n      customer_id: steps.nowhere.id\n      date: run.today\n      line_items: '[]'\n",
    )
    .unwrap();
    let output = flows(&["validate", "--dir", dir.path().to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success());
    let file = dir.path().join("refunds.yaml");
    assert!(
        stdout.contains(&format!(
            "{}:9: step `credit`, field `customer_id`: reads steps.nowhere, but that step does not exist",
            file.display()
        )),
        "{stdout}"
    );
    assert!(stdout.contains("1 problem found"), "{stdout}");

    // The shipped templates, and the repository's flows/ directory, are fine.
    let output = flows(&["validate"]);
    assert!(output.status.success());
    let output = flows(&[
        "validate",
        "--dir",
        repository().join("flows").to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("ok  order-to-cash"), "{stdout}");
}

#[test]
fn test_shows_each_steps_request_on_a_sample_and_calls_nobody() {
    let sample = repository().join("flows/samples/order-approved.json");
    let output = flows(&[
        "test",
        "order-to-cash",
        "--sample",
        sample.to_str().unwrap(),
        "--connected",
        "crm,inventory",
        "--json",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let preview: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(preview["ok"], true);
    let step = |name: &str| {
        preview["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap()
    };
    // Mapped exactly: e-mail normalized, money as decimal text, linked by placeholders.
    assert_eq!(
        step("crm_contact")["request"]["Email"],
        "ada.lovelace@example.com"
    );
    assert_eq!(
        step("sales_order")["request"]["customer_id"],
        "<steps.contact.contact_id>"
    );
    assert_eq!(step("payment")["request"]["amount"], "43.49");
    assert_eq!(
        step("payment")["request"]["description"],
        "Cybersource transaction 7000000000000000000001 (visa **** 1111) for order WEB-10042"
    );
    assert_eq!(step("invoice_direct")["skipped"], true);

    // Without Inventory the invoice is made directly.
    let output = flows(&[
        "test",
        "order-to-cash",
        "--sample",
        sample.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("step sales_order (zoho-inventory.sales-order.create): skipped"),
        "{text}"
    );
    assert!(text.contains("nothing is called or written"));
}

#[test]
fn actions_lists_the_catalogue_with_its_fields() {
    let output = flows(&["actions"]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(text.contains("zoho-books.customer-payment.record"));
    assert!(
        text.contains("with: customer_id payment_mode amount date invoices [reference_number]")
    );
}
