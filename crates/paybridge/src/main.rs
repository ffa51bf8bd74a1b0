//! The `paybridge` command.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use paybridge::app::RunningApp;
use paybridge::config::FileConfig;
use paybridge::demo::{self, DemoOptions};
use paybridge::telemetry::{self, LogFormat};

/// paybridge connects Cybersource payments with Zoho (Books today; CRM, Inventory and Desk next).
#[derive(Debug, Parser)]
#[command(name = "paybridge", version, about)]
struct Cli {
    /// Log format on stderr (the level comes from RUST_LOG).
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole product against built-in Cybersource and Zoho sandboxes, and check the result.
    Demo {
        /// How many orders the storefront places.
        #[arg(long, default_value_t = 25)]
        orders: usize,
        /// Seed for the storefront's orders (same seed, same orders).
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Where to keep the SQLite store (default: a new temporary directory, kept afterwards).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Print the summary as one JSON object.
        #[arg(long)]
        json: bool,
        /// Keep paybridge and the sandboxes running after the summary, until Ctrl-C.
        #[arg(long)]
        keep_running: bool,
    },
    /// Run the Cybersource and Zoho simulators on their own, for any tool to use.
    Sandbox {
        /// Credentials and addresses (see sandbox.example.toml); generated and printed if absent.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Run paybridge against real Cybersource and Zoho accounts.
    Serve {
        /// The configuration file (see paybridge.example.toml).
        #[arg(long, default_value = "paybridge.toml")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // reqwest is built without a bundled TLS crypto provider (STACK.md); install ring first.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("paybridge: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("paybridge: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Demo {
            orders,
            seed,
            data_dir,
            json,
            keep_running,
        } => {
            telemetry::init(cli.log_format, "warn");
            let options = DemoOptions {
                orders,
                seed,
                data_dir,
                ..DemoOptions::default()
            };
            let verified = demo::run(options, json, keep_running).await?;
            Ok(if verified {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Command::Sandbox { config } => {
            telemetry::init(cli.log_format, "info");
            match config {
                Some(path) => {
                    paybridge::sandbox::run(paybridge::sandbox::SandboxFile::load(&path)?, false)
                        .await?
                }
                None => {
                    paybridge::sandbox::run(paybridge::sandbox::SandboxFile::generate(), true)
                        .await?
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { config } => {
            telemetry::init(cli.log_format, "info");
            let config = FileConfig::load(&config)?.resolve()?;
            let app = RunningApp::start(config).await?;
            eprintln!("paybridge is serving on {} (Ctrl-C stops it)", app.url());
            tokio::signal::ctrl_c()
                .await
                .context("waiting for Ctrl-C")?;
            tracing::info!("stopping: finishing in-flight runs");
            app.stop().await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
