//! `contracts/` holds the vendors' API descriptions as published; the contract tests trust them.
//! Every file is listed in `contracts/SHA256SUMS` with its digest, and nothing else is there, so
//! that changing a contract is a reviewed change of that list (contracts/README.md says how).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

fn contracts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts")
}

fn files(dir: &Path, root: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, root, out);
        } else {
            let relative = path.strip_prefix(root).unwrap().to_string_lossy();
            out.push(format!("./{relative}"));
        }
    }
}

#[test]
fn the_contracts_are_the_published_files_and_only_those() {
    let root = contracts();
    let listed: BTreeMap<String, String> = std::fs::read_to_string(root.join("SHA256SUMS"))
        .expect("contracts/SHA256SUMS")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (digest, file) = l.split_once("  ").expect("`digest  ./path` lines");
            (file.to_string(), digest.to_string())
        })
        .collect();
    let mut present = Vec::new();
    files(&root, &root, &mut present);
    present.retain(|f| f != "./README.md" && f != "./SHA256SUMS");
    present.sort();
    assert_eq!(
        present,
        listed.keys().cloned().collect::<Vec<_>>(),
        "contracts/ and contracts/SHA256SUMS list different files"
    );
    for (file, digest) in &listed {
        let bytes = std::fs::read(root.join(file)).unwrap();
        assert_eq!(
            &hex::encode(Sha256::digest(&bytes)),
            digest,
            "{file} differs from the published file its digest names"
        );
    }
}
