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

#[test]
fn deploy_diff_promote_and_versions_keep_each_environments_flows() {
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("paybridge.toml");
    std::fs::write(
        &config,
        format!("[store]\npath = {:?}\n", work.path().join("paybridge.db")),
    )
    .unwrap();
    let dir = work.path().join("flows");
    std::fs::create_dir(&dir).unwrap();
    let shipped = std::fs::read_to_string(repository().join("flows/order-declined.yaml")).unwrap();
    std::fs::write(dir.join("order-declined.yaml"), &shipped).unwrap();
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend([
            "--dir",
            dir.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ]);
        let output = flows(&all);
        let text = String::from_utf8_lossy(&output.stdout).to_string();
        assert!(
            output.status.success(),
            "{args:?}: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        text
    };

    let first = run(&["deploy", "--env", "dev", "--note", "first"]);
    assert!(first.contains("order-declined: (none) -> "), "{first}");
    assert!(run(&["diff", "--env", "dev"]).contains("order-declined: dev runs this version"));

    // An edit shows as a diff against what dev runs, then deploys as a new version.
    std::fs::write(
        dir.join("order-declined.yaml"),
        shipped.replace(
            "description: Declined payment",
            "description: A declined payment",
        ),
    )
    .unwrap();
    let diff = run(&["diff", "--env", "dev"]);
    assert!(
        diff.contains("-description: Declined payment")
            && diff.contains("+description: A declined payment"),
        "{diff}"
    );
    let second = run(&["deploy", "--env", "dev"]);
    let line = second
        .lines()
        .find(|l| l.starts_with("order-declined:"))
        .unwrap()
        .to_string();
    assert!(
        !line.contains("(none)") && line.contains(" -> "),
        "{second}"
    );
    let version = line.rsplit(' ').next().unwrap().to_string();

    // qa gets what dev runs; deploying the same again changes nothing.
    let promoted = run(&[
        "promote",
        "--from",
        "dev",
        "--to",
        "qa",
        "--flow",
        "order-declined",
    ]);
    assert!(
        promoted.contains(&format!("order-declined: (none) -> {version}")),
        "{promoted}"
    );
    assert!(
        run(&["deploy", "--env", "dev"])
            .contains(&format!("order-declined: {version} (unchanged)"))
    );
    let history = run(&["versions", "order-declined"]);
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines.len(), 3, "{history}");
    assert!(
        lines[0].contains("qa")
            && lines[0].contains(&version)
            && lines[0].contains("promoted from dev")
    );
    assert!(lines[2].contains("dev") && lines[2].contains("first"));

    // Promoting from an environment nothing was deployed to says so.
    let output = flows(&[
        "promote",
        "--from",
        "staging",
        "--to",
        "prod",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("nothing is deployed to staging"));
}

#[test]
fn run_starts_a_manual_flow_once_per_key_for_the_serving_nodes() {
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("paybridge.toml");
    std::fs::write(
        &config,
        format!("[store]\npath = {:?}\n", work.path().join("paybridge.db")),
    )
    .unwrap();
    let dir = work.path().join("flows");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("resync.yaml"),
        "name: resync\ntrigger: {source: manual}\nsteps:\n  - name: echo\n    action: map\n    with:\n      reference: event.reference\n",
    )
    .unwrap();
    let event = work.path().join("event.json");
    std::fs::write(&event, r#"{"reference": "WEB-1"}"#).unwrap();
    let run = |flow: &str| {
        flows(&[
            "run",
            flow,
            "--event",
            event.to_str().unwrap(),
            "--key",
            "resync-web-1",
            "--dir",
            dir.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ])
    };
    let first = run("resync");
    let text = String::from_utf8_lossy(&first.stdout);
    assert!(first.status.success(), "{text}");
    assert!(
        text.contains("resync started (event 1, key resync-web-1)"),
        "{text}"
    );
    let again = run("resync");
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(text.contains("nothing new"), "{text}");
    let refused = run("order-to-cash");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("is not started by hand"), "{stderr}");
}
