//! The vendors' official SDKs as clients of `paybridge sandbox`: a merchant's developer's view.
//! A Python virtual environment under `target/` gets the SDKs pinned in `sdk/requirements.txt`
//! from the package index (once; again when that file changes), and the project's scripts in
//! `sdk/` run their scenarios against the sandbox, checking that every answer parses into the
//! SDK's own models with the right values.
//!
//! Without Python or the package index the test says why and passes, unless
//! `PAYBRIDGE_REQUIRE_SDK` is set (CI sets it), when it fails.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const MERCHANT_ID: &str = "test_merchant";
const KEY_ID: &str = "11111111-2222-3333-4444-555555555555";
const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

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

/// The virtual environment's Python with the pinned SDKs installed.
fn python_with_sdks() -> Option<PathBuf> {
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

struct Sandbox {
    process: Child,
    cybersource: String,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn sandbox(dir: &Path) -> Sandbox {
    let path = dir.join("sandbox.toml");
    let config = include_str!("../../../../sandbox.example.toml")
        .replace("127.0.0.1:8081", "127.0.0.1:0")
        .replace("127.0.0.1:8082", "127.0.0.1:0")
        .replace("127.0.0.1:8083", "127.0.0.1:0");
    std::fs::write(&path, config).unwrap();
    let mut process = Command::new(env!("CARGO_BIN_EXE_paybridge"))
        .args(["sandbox", "--config"])
        .arg(&path)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("paybridge runs");
    let mut lines = BufReader::new(process.stderr.take().unwrap()).lines();
    let cybersource = loop {
        let line = lines
            .next()
            .expect("the sandbox prints its addresses")
            .unwrap();
        if line.starts_with("Cybersource sandbox") {
            break line
                .split_whitespace()
                .find(|w| w.starts_with("http://"))
                .unwrap()
                .to_string();
        }
    };
    // Keep reading its output so that it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Sandbox {
        process,
        cybersource,
    }
}

#[test]
fn the_official_cybersource_sdk_pays_refunds_voids_searches_and_parses_every_answer() {
    let Some(python) = python_with_sdks() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sandbox = sandbox(dir.path());
    let output = Command::new(python)
        .arg(repo().join("sdk/cybersource_sdk.py"))
        .env("SANDBOX_URL", &sandbox.cybersource)
        .env("MERCHANT_ID", MERCHANT_ID)
        .env("KEY_ID", KEY_ID)
        .env("SECRET", SECRET)
        .current_dir(dir.path())
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
    assert!(summary["checks"].as_u64().unwrap() >= 40, "{stdout}");
    assert_eq!(summary["failed"], 0, "{stdout}");
}
