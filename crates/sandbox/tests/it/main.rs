//! The simulators over HTTP, spoken to the way the vendors' own SDKs and docs speak.

mod cybersource;
mod zoho;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::Router;
use paybridge_sandbox::server::RunningServer;

pub async fn serve(router: Router) -> RunningServer {
    RunningServer::start(router, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap()
}

pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}
