//! `paybridge sandbox`: the Cybersource and Zoho simulators on their own, on chosen loopback
//! ports, so that any tool (an official SDK, curl, Postman) can be pointed at them.
//!
//! Credentials come from a TOML file (`sandbox.example.toml`); without one, fresh credentials
//! are generated and printed in that same format, ready to be saved and reused.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use paybridge_sandbox::cybersource::{CybersourceConfig, CybersourceSandbox};
use paybridge_sandbox::server::RunningServer;
use paybridge_sandbox::zoho::{ZohoConfig, ZohoSandbox};
use rand::RngExt as _;
use serde::{Deserialize, Serialize};

/// The sandbox file: where each simulator listens and the credentials it accepts.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxFile {
    /// Loopback address of the Cybersource simulator.
    #[serde(default = "cybersource_listen")]
    pub cybersource_listen: SocketAddr,
    /// Loopback address of the Zoho simulator (accounts server and API domain in one).
    #[serde(default = "zoho_listen")]
    pub zoho_listen: SocketAddr,
    /// More Zoho data centres, each on its own loopback address (`eu = "127.0.0.1:8083"`):
    /// a client works only at its own data centre (or at all with `multi_dc`), and a token only
    /// where it was issued. `zoho_listen` is `us`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub zoho_data_centres: BTreeMap<String, SocketAddr>,
    pub cybersource: CybersourceConfig,
    pub zoho: ZohoConfig,
}

/// The data centres Zoho runs (zoho.md §1.1).
const DATA_CENTRES: &[&str] = &["us", "eu", "in", "au", "jp", "ca", "sa", "cn", "uk"];

fn cybersource_listen() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 8081))
}

fn zoho_listen() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 8082))
}

impl SandboxFile {
    pub fn load(path: &Path) -> anyhow::Result<SandboxFile> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("{} is not a valid sandbox file", path.display()))
    }

    /// Fresh credentials for one merchant, one Zoho client and one organization.
    pub fn generate() -> SandboxFile {
        let mut rng = rand::rng();
        let secret: [u8; 32] = rng.random();
        let hex = |n: usize| {
            let mut rng = rand::rng();
            (0..n)
                .map(|_| format!("{:02x}", rng.random::<u8>()))
                .collect::<String>()
        };
        SandboxFile {
            cybersource_listen: cybersource_listen(),
            zoho_listen: zoho_listen(),
            zoho_data_centres: BTreeMap::new(),
            cybersource: CybersourceConfig::with_key(
                "paybridge_sandbox",
                &uuid::Uuid::new_v4().to_string(),
                &base64::engine::general_purpose::STANDARD.encode(secret),
            ),
            zoho: ZohoConfig::single(
                &format!("1000.{}", hex(15).to_uppercase()),
                &hex(21),
                &format!("1000.{}.{}", hex(16), hex(16)),
                "10234695",
                "USD",
            ),
        }
    }
}

/// Runs both simulators until Ctrl-C.
pub async fn run(file: SandboxFile, print_credentials: bool) -> anyhow::Result<()> {
    for addr in [file.cybersource_listen, file.zoho_listen]
        .iter()
        .chain(file.zoho_data_centres.values())
    {
        if !addr.ip().is_loopback() {
            bail!("the simulators listen on loopback addresses only, not {addr}");
        }
    }
    for dc in file.zoho_data_centres.keys() {
        if dc == "us" || !DATA_CENTRES.contains(&dc.as_str()) {
            bail!(
                "zoho_data_centres: {dc:?} is not one of eu, in, au, jp, ca, sa, cn, uk (us is zoho_listen)"
            );
        }
    }
    let cybersource = CybersourceSandbox::new(&file.cybersource)?;
    let _settlement = cybersource.spawn_settlement_clock()?;
    let cybersource_server = RunningServer::start(cybersource.router(), file.cybersource_listen)
        .await
        .with_context(|| format!("listening on {}", file.cybersource_listen))?;
    let zoho = ZohoSandbox::new(file.zoho.clone());
    let zoho_server = RunningServer::start(zoho.router(), file.zoho_listen)
        .await
        .with_context(|| format!("listening on {}", file.zoho_listen))?;
    let mut more_zoho = Vec::new();
    for (dc, addr) in &file.zoho_data_centres {
        let server = RunningServer::start(zoho.router_for(dc), *addr)
            .await
            .with_context(|| format!("listening on {addr} for Zoho's {dc} data centre"))?;
        more_zoho.push((dc.clone(), server));
    }
    if print_credentials {
        let file = SandboxFile {
            cybersource_listen: cybersource_server.addr(),
            zoho_listen: zoho_server.addr(),
            zoho_data_centres: more_zoho
                .iter()
                .map(|(dc, server)| (dc.clone(), server.addr()))
                .collect(),
            ..file
        };
        println!("# Generated sandbox credentials; save them and pass --config to reuse them.");
        println!("{}", toml::to_string(&file)?);
    }
    eprintln!(
        "Cybersource sandbox  {}   (control API under /__sandbox/)",
        cybersource_server.url()
    );
    eprintln!(
        "Zoho sandbox         {}   (token endpoint /oauth/v2/token, Books under /books/v3/)",
        zoho_server.url()
    );
    for (dc, server) in &more_zoho {
        eprintln!(
            "Zoho sandbox ({dc})    {}   (the {dc} data centre)",
            server.url()
        );
    }
    eprintln!("Ctrl-C stops them.");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    cybersource_server.shutdown().await;
    zoho_server.shutdown().await;
    for (_, server) in more_zoho {
        server.shutdown().await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_parses_and_generated_files_round_trip() {
        let example: SandboxFile =
            toml::from_str(include_str!("../../../sandbox.example.toml")).unwrap();
        assert_eq!(example.cybersource.keys.len(), 1);
        assert_eq!(example.zoho.organizations[0].currency_code, "USD");
        let generated = SandboxFile::generate();
        let again: SandboxFile = toml::from_str(&toml::to_string(&generated).unwrap()).unwrap();
        assert_eq!(
            again.cybersource.keys[0].key_id,
            generated.cybersource.keys[0].key_id
        );
    }
}
