//! The vendors' official SDKs as clients of `paybridge sandbox`: a merchant's developer's view.
//! A Python virtual environment under `target/` gets the SDKs pinned in `sdk/requirements.txt`
//! from the package index (once; again when that file changes), and the project's scripts in
//! `sdk/` run their scenarios against the sandbox, checking that every answer parses into the
//! SDK's own models with the right values.
//!
//! Without Python or the package index the test says why and passes, unless
//! `PAYBRIDGE_REQUIRE_SDK` is set (CI sets it), when it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::helpers::SandboxProcess;

const MERCHANT_ID: &str = "test_merchant";
const KEY_ID: &str = "11111111-2222-3333-4444-555555555555";
const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const CLIENT_ID: &str = "1000.SANDBOXCLIENT0000000000000000";
const CLIENT_SECRET: &str = "0123456789abcdef0123456789abcdef0123456789";
const REFRESH_TOKEN: &str =
    "1000.0123456789abcdef0123456789abcdef.0123456789abcdef0123456789abcdef";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Skips (or, where required, fails) with the reason.
fn unavailable(reason: String) -> Option<PathBuf> {
    assert!(
        std::env::var_os("PAYBRIDGE_REQUIRE_SDK").is_none(),
        "the official SDKs are required here: {reason}"
    );
    eprintln!("skipped: {reason}");
    None
}

/// The virtual environment's Python with the pinned SDKs installed (made once per test run:
/// the tests that use it wait for each other here).
fn python_with_sdks() -> Option<PathBuf> {
    static PYTHON: std::sync::Mutex<Option<Option<PathBuf>>> = std::sync::Mutex::new(None);
    let mut python = PYTHON
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    python.get_or_insert_with(install_sdks).clone()
}

fn install_sdks() -> Option<PathBuf> {
    let requirements = std::fs::read_to_string(repo().join("sdk/requirements.txt")).unwrap();
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sdk-venv");
    let python = venv.join("bin/python");
    let marker = venv.join("installed-requirements.txt");
    if std::fs::read_to_string(&marker).is_ok_and(|installed| installed == requirements) {
        return Some(python);
    }
    let _ = std::fs::remove_dir_all(&venv);
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output();
    match made {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            return unavailable(format!(
                "python3 -m venv failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Err(e) => return unavailable(format!("python3 is not installed ({e})")),
    }
    let installed = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(repo().join("sdk/requirements.txt"))
        .output()
        .expect("pip runs");
    if !installed.status.success() {
        return unavailable(format!(
            "the SDKs could not be installed from the package index: {}",
            String::from_utf8_lossy(&installed.stderr)
        ));
    }
    std::fs::write(&marker, requirements).unwrap();
    Some(python)
}

/// Runs one of `sdk/`'s scripts and checks its summary: every check passed, and at least
/// `least` of them ran (a script that stopped early cannot pass).
fn run_script(python: PathBuf, script: &str, env: &[(&str, &str)], dir: &Path, least: u64) {
    let output = Command::new(python)
        .arg(repo().join("sdk").join(script))
        .arg(dir)
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = stdout.lines().last().unwrap_or_default();
    let summary: serde_json::Value = serde_json::from_str(summary).expect("a JSON summary last");
    assert!(summary["checks"].as_u64().unwrap() >= least, "{stdout}");
    assert_eq!(summary["failed"], 0, "{stdout}");
}

#[test]
fn the_official_zoho_crm_sdk_initialises_then_creates_reads_updates_upserts_searches_lists_and_deletes()
 {
    let Some(python) = python_with_sdks() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sandbox = SandboxProcess::start(dir.path());
    run_script(
        python,
        "zoho_crm_sdk.py",
        &[
            ("ZOHO_URL", &sandbox.zoho),
            ("CLIENT_ID", CLIENT_ID),
            ("CLIENT_SECRET", CLIENT_SECRET),
            ("REFRESH_TOKEN", REFRESH_TOKEN),
        ],
        dir.path(),
        50,
    );
}

#[test]
fn the_official_cybersource_sdk_pays_refunds_voids_searches_and_parses_every_answer() {
    let Some(python) = python_with_sdks() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sandbox = SandboxProcess::start(dir.path());
    run_script(
        python,
        "cybersource_sdk.py",
        &[
            ("SANDBOX_URL", &sandbox.cybersource),
            ("MERCHANT_ID", MERCHANT_ID),
            ("KEY_ID", KEY_ID),
            ("SECRET", SECRET),
        ],
        dir.path(),
        70,
    );
}
