//! The `paybridge` command.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use paybridge::app::RunningApp;
use paybridge::config::FileConfig;
use paybridge::demo::{self, DemoOptions};
use paybridge::telemetry::{self, LogFormat};

/// mimalloc instead of the system allocator: the engine allocates and frees many small buffers
/// per run (JSON, HTTP, rhai values), and glibc's malloc took about a sixth of its CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// paybridge connects Cybersource payments with Zoho Books, Inventory, CRM and Desk.
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
    /// Set up a connection to a vendor account.
    Connect {
        #[command(subcommand)]
        vendor: Box<Vendor>,
    },
    /// End a connection: revoke its tokens at the vendor and forget its secrets.
    Disconnect {
        #[command(subcommand)]
        vendor: DisconnectVendor,
    },
    /// Keep secrets in the credential vault (sealed in the store; values are write-only).
    Vault {
        /// The configuration file naming the store and the master key ([store], [vault]).
        #[arg(long, default_value = "paybridge.toml", global = true)]
        config: PathBuf,
        #[command(subcommand)]
        command: VaultCommand,
    },
    /// Runs: what the engine did for each event and flow.
    Runs {
        /// The configuration file naming the store ([store]).
        #[arg(long, default_value = "paybridge.toml", global = true)]
        config: PathBuf,
        #[command(subcommand)]
        command: RunsCommand,
    },
    /// The dead-letter queue: runs that failed for good, to replay or discard.
    Dlq {
        /// The configuration file naming the store ([store]).
        #[arg(long, default_value = "paybridge.toml", global = true)]
        config: PathBuf,
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// The store's upkeep.
    Store {
        /// The configuration file naming the store ([store], [engine.retention]).
        #[arg(long, default_value = "paybridge.toml", global = true)]
        config: PathBuf,
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Admin API tokens (for the admin API, /metrics and the console).
    Tokens {
        /// The configuration file naming the store ([store]).
        #[arg(long, default_value = "paybridge.toml", global = true)]
        config: PathBuf,
        #[command(subcommand)]
        command: TokensCommand,
    },
    /// Flow files: check them, try one on a sample event, list them and the actions they use.
    Flows {
        /// A directory of flow files (default: the shipped templates alone).
        #[arg(long, global = true)]
        dir: Option<PathBuf>,
        /// The configuration naming the store (deploy, promote, diff, versions).
        #[arg(long, global = true, default_value = "paybridge.toml")]
        config: PathBuf,
        #[command(subcommand)]
        command: FlowsCommand,
    },
    /// Run paybridge against real Cybersource and Zoho accounts.
    Serve {
        /// The configuration file (see paybridge.example.toml).
        #[arg(long, default_value = "paybridge.toml")]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum FlowsCommand {
    /// Check every flow file: each problem with its file, line, step and field.
    Validate,
    /// Evaluate one flow over a sample event and show each step's request; calls nobody.
    Test {
        /// The flow's name.
        flow: String,
        /// A JSON file with the trigger event, as mappings see it (`event`).
        #[arg(long)]
        sample: PathBuf,
        /// A JSON file of sample step outputs by step name (default: placeholders).
        #[arg(long)]
        outputs: Option<PathBuf>,
        /// Take these optional connections as set up: crm, inventory, desk, storefront.
        #[arg(long, value_delimiter = ',')]
        connected: Vec<String>,
        /// The Zoho Books organization's currency.
        #[arg(long, default_value = "USD")]
        currency: String,
        #[arg(long)]
        json: bool,
    },
    /// The flows that would run: name, version, trigger, steps.
    List {
        #[arg(long)]
        json: bool,
    },
    /// The actions steps can take, with their fields.
    Actions {
        #[arg(long)]
        json: bool,
    },
    /// Record the flows' versions in the store and deploy them to an environment.
    Deploy {
        /// dev, qa, prod, … (a serve node runs `[flows] env`).
        #[arg(long)]
        env: String,
        /// Why (kept with the deployment).
        #[arg(long)]
        note: Option<String>,
    },
    /// Deploy to one environment the versions another runs (tested there).
    Promote {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// Only this flow.
        #[arg(long)]
        flow: Option<String>,
    },
    /// What differs between the flow files and what an environment runs.
    Diff {
        #[arg(long)]
        env: String,
    },
    /// Where each version of a flow was deployed, newest first.
    Versions { flow: String },
    /// Start a flow whose trigger is `manual` on an event (a JSON file); a serving node runs it.
    Run {
        flow: String,
        /// A JSON file: the run's `event`.
        #[arg(long)]
        event: PathBuf,
        /// Starts the flow once per key, however often it is asked (default: the file's
        /// SHA-256).
        #[arg(long)]
        key: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum Vendor {
    /// Print the Zoho consent URL, or exchange a grant code for the connection's refresh token.
    Zoho {
        /// The data centre of the Zoho account: us, eu, in, au, jp, ca, sa, cn, uk.
        #[arg(long)]
        data_centre: Option<String>,
        /// The `accounts-server` the consent redirect named (overrides --data-centre).
        #[arg(long)]
        accounts_server: Option<url::Url>,
        /// The client id from the Zoho API console.
        #[arg(long)]
        client_id: String,
        /// Environment variable holding the client secret.
        #[arg(long, default_value = "PAYBRIDGE_ZOHO_CLIENT_SECRET")]
        client_secret_env: String,
        /// The grant code (from the consent redirect, or a Self Client's); without it the
        /// consent URL is printed.
        #[arg(long)]
        code: Option<String>,
        /// The redirect URI registered for the client (needed for the consent URL, and with a
        /// code that came from it).
        #[arg(long)]
        redirect_uri: Option<String>,
        /// Scopes to ask for (repeatable; default: what paybridge's flows use).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Store the connection (refresh token and client secret sealed in the vault) in the
        /// store this configuration names, instead of printing the refresh token.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The name to store the connection under (paybridge.toml: [zoho] connection = NAME).
        #[arg(long, default_value = "main")]
        connection: String,
    },
}

#[derive(Debug, Subcommand)]
enum DisconnectVendor {
    /// Revoke the stored Zoho connection's refresh token and forget the connection.
    Zoho {
        /// The configuration file naming the store and the vault's key.
        #[arg(long, default_value = "paybridge.toml")]
        config: PathBuf,
        /// The connection's name.
        #[arg(long, default_value = "main")]
        connection: String,
    },
}

/// Which runs (all filters combine).
#[derive(Debug, clap::Args)]
struct Selection {
    /// Only runs of this flow (e.g. order-to-cash).
    #[arg(long)]
    flow: Option<String>,
    /// Only runs for this entity (e.g. order:R-1001).
    #[arg(long)]
    entity: Option<String>,
    /// Only runs created since: RFC 3339, or a span back from now (30m, 6h, 7d).
    #[arg(long)]
    since: Option<String>,
    /// At most this many (newest first).
    #[arg(long, default_value_t = 50)]
    limit: u32,
}

impl Selection {
    fn with_status(self, status: Option<String>) -> paybridge::runs::Selection {
        paybridge::runs::Selection {
            status,
            flow: self.flow,
            entity: self.entity,
            since: self.since,
            limit: self.limit,
        }
    }
}

#[derive(Debug, Subcommand)]
enum RunsCommand {
    /// Recent runs, newest first.
    List {
        /// queued, running, succeeded, dead or discarded.
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        selection: Selection,
        #[arg(long)]
        json: bool,
    },
    /// One run: its event, why it failed, and each step with its input, output and error.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum DlqCommand {
    /// Dead letters, newest first.
    List {
        #[command(flatten)]
        selection: Selection,
        #[arg(long)]
        json: bool,
    },
    /// One dead letter: the vendor's message, HTTP status, request id, and the failed step's input.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Run dead letters again from the step that failed (steps that succeeded are not repeated).
    Replay {
        /// Run ids.
        ids: Vec<i64>,
        /// Every dead letter the filters match.
        #[arg(long)]
        all: bool,
        /// Run them on the flow version they ran (not the one deployed now).
        #[arg(long)]
        original_version: bool,
        #[command(flatten)]
        selection: Selection,
    },
    /// Set dead letters aside (kept as history; they can still be replayed).
    Discard {
        ids: Vec<i64>,
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        selection: Selection,
    },
}

#[derive(Debug, Subcommand)]
enum StoreCommand {
    /// Apply [engine.retention] now (paybridge serve does it every hour) and shrink the file.
    Prune,
}

#[derive(Debug, Subcommand)]
enum TokensCommand {
    /// Make a token; it is printed this once.
    Create {
        /// Who or what uses it, e.g. "prometheus" or "ops: ada".
        #[arg(long)]
        name: String,
        /// viewer (reads), operator (also replays and discards), admin (also changes flows,
        /// connections and tokens).
        #[arg(long)]
        role: paybridge_engine::tokens::Role,
    },
    /// Every token: id, name, role, last use (never the token itself).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its id; it stops working at once.
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
enum VaultCommand {
    /// Make a new master key: printed, or written to a new owner-only file.
    Init {
        /// Write the key to this file (never overwritten) instead of printing it.
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
    /// Store a secret: its value is read from standard input (e.g. `printf %s "$X" | …`).
    Set {
        /// The secret's name, e.g. cybersource/shared_secret.
        name: String,
    },
    /// The secrets' names, master key ids and dates (never their values).
    List {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a secret.
    Delete { name: String },
    /// Rewrap every secret under the current master key (the previous one given in
    /// PAYBRIDGE_MASTER_KEY_PREVIOUS or [vault] previous_key_file).
    Rotate,
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
        Command::Connect { vendor } => {
            let Vendor::Zoho {
                data_centre,
                accounts_server,
                client_id,
                client_secret_env,
                code,
                redirect_uri,
                scopes,
                config,
                connection,
            } = *vendor;
            telemetry::init(cli.log_format, "warn");
            let printed = paybridge::connect::run(paybridge::connect::ConnectZoho {
                data_centre,
                accounts_server,
                client_id,
                client_secret_env,
                code,
                redirect_uri,
                scopes,
                config,
                connection,
            })
            .await?;
            print!("{printed}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Vault { config, command } => {
            telemetry::init(cli.log_format, "warn");
            use paybridge::secrets::VaultCommand as Run;
            let command = match command {
                VaultCommand::Init { key_file } => Run::Init { key_file },
                VaultCommand::Set { name } => Run::Set { name },
                VaultCommand::List { json } => Run::List { json },
                VaultCommand::Delete { name } => Run::Delete { name },
                VaultCommand::Rotate => Run::Rotate,
            };
            print!("{}", paybridge::secrets::run(&config, command).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Disconnect {
            vendor: DisconnectVendor::Zoho { config, connection },
        } => {
            telemetry::init(cli.log_format, "warn");
            print!(
                "{}",
                paybridge::connect::disconnect_zoho(&config, &connection).await?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Runs { config, command } => {
            telemetry::init(cli.log_format, "warn");
            use paybridge::runs::RunsCommand as Run;
            let command = match command {
                RunsCommand::List {
                    status,
                    selection,
                    json,
                } => Run::List {
                    selection: selection.with_status(status),
                    json,
                },
                RunsCommand::Show { id, json } => Run::Show { id, json },
            };
            print!("{}", paybridge::runs::run(&config, command).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Dlq { config, command } => {
            telemetry::init(cli.log_format, "warn");
            use paybridge::runs::RunsCommand as Run;
            let dead = || Some("dead".to_string());
            let command = match command {
                DlqCommand::List { selection, json } => Run::List {
                    selection: selection.with_status(dead()),
                    json,
                },
                DlqCommand::Show { id, json } => Run::Show { id, json },
                DlqCommand::Replay {
                    ids,
                    all,
                    original_version,
                    selection,
                } => Run::Act {
                    ids,
                    all: all.then(|| selection.with_status(dead())),
                    discard: false,
                    original_version,
                },
                DlqCommand::Discard {
                    ids,
                    all,
                    selection,
                } => Run::Act {
                    ids,
                    all: all.then(|| selection.with_status(dead())),
                    discard: true,
                    original_version: false,
                },
            };
            print!("{}", paybridge::runs::run(&config, command).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Store {
            config,
            command: StoreCommand::Prune,
        } => {
            telemetry::init(cli.log_format, "warn");
            print!("{}", paybridge::runs::prune(&config).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Tokens { config, command } => {
            telemetry::init(cli.log_format, "warn");
            use paybridge::tokens::TokensCommand as Run;
            let command = match command {
                TokensCommand::Create { name, role } => Run::Create { name, role },
                TokensCommand::List { json } => Run::List { json },
                TokensCommand::Revoke { id } => Run::Revoke { id },
            };
            print!("{}", paybridge::tokens::run(&config, command).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Flows {
            dir,
            config,
            command,
        } => {
            telemetry::init(cli.log_format, "warn");
            use paybridge::flows::FlowsCommand as Run;
            let command = match command {
                FlowsCommand::Validate => Run::Validate,
                FlowsCommand::Test {
                    flow,
                    sample,
                    outputs,
                    connected,
                    currency,
                    json,
                } => Run::Test {
                    flow,
                    sample,
                    outputs,
                    connected,
                    currency,
                    json,
                },
                FlowsCommand::List { json } => Run::List { json },
                FlowsCommand::Actions { json } => Run::Actions { json },
                FlowsCommand::Deploy { env, note } => Run::Deploy { env, note },
                FlowsCommand::Promote { from, to, flow } => Run::Promote { from, to, flow },
                FlowsCommand::Diff { env } => Run::Diff { env },
                FlowsCommand::Versions { flow } => Run::Versions { flow },
                FlowsCommand::Run { flow, event, key } => Run::Start { flow, event, key },
            };
            let needs_store = matches!(
                command,
                Run::Deploy { .. }
                    | Run::Promote { .. }
                    | Run::Diff { .. }
                    | Run::Versions { .. }
                    | Run::Start { .. }
            );
            let outcome = if needs_store {
                paybridge::flows::run_with_store(dir.as_deref(), &config, command).await?
            } else {
                paybridge::flows::run(dir.as_deref(), command)?
            };
            print!("{}", outcome.text);
            Ok(if outcome.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Serve { config } => {
            telemetry::init(cli.log_format, "info");
            let config = FileConfig::load(&config)?.resolve().await?;
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
