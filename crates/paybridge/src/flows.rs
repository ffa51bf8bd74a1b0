//! `paybridge flows`: check flow files, try them on a sample event, list them and the actions
//! they can use. Nothing here calls a vendor or writes to a store.

use paybridge_store::{FlowStore as _, InboxStore as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use paybridge_flows::Library;
use paybridge_flows::definition::{Definition, FlowError};
use paybridge_flows::preview::{self, Preview};
use serde_json::json;

pub enum FlowsCommand {
    /// Every flow file compiles; prints each problem as `file:line: step, field: message`.
    Validate,
    /// One flow over a sample event.
    Test {
        flow: String,
        sample: PathBuf,
        /// Sample outputs of steps, by step name (a JSON object), instead of placeholders.
        outputs: Option<PathBuf>,
        /// Optional connections taken as set up (`crm`, `inventory`, `desk`, `storefront`).
        connected: Vec<String>,
        currency: String,
        json: bool,
    },
    List {
        json: bool,
    },
    Actions {
        json: bool,
    },
    /// Deploy the flows (the directory's, over the shipped templates) to an environment.
    Deploy {
        env: String,
        note: Option<String>,
    },
    /// Deploy what one environment runs to another.
    Promote {
        from: String,
        to: String,
        flow: Option<String>,
    },
    /// The differences between the flow files and what an environment runs.
    Diff {
        env: String,
    },
    /// Where each version of a flow was deployed, newest first.
    Versions {
        flow: String,
    },
    /// Start a manual flow on an event (a JSON file), once per key.
    Start {
        flow: String,
        event: PathBuf,
        key: Option<String>,
    },
}

/// The commands that read or write the store's flow versions.
pub async fn run_with_store(
    dir: Option<&Path>,
    config: &Path,
    command: FlowsCommand,
) -> anyhow::Result<Outcome> {
    use paybridge_engine::deploy;
    use paybridge_store::Clock;

    let store = crate::config::FileConfig::load(config)?
        .open_store()
        .await?;
    let clock = Clock::new();
    let deployed_line = |d: &deploy::Deployed| {
        if d.changed {
            format!(
                "{}: {} -> {}\n",
                d.name,
                d.from.as_deref().unwrap_or("(none)"),
                d.to
            )
        } else {
            format!("{}: {} (unchanged)\n", d.name, d.to)
        }
    };
    let outcome = match command {
        FlowsCommand::Deploy { env, note } => {
            let library = match library(dir) {
                Ok(library) => library,
                Err(errors) => {
                    return Ok(Outcome {
                        text: format!("nothing deployed:\n{}", problems(&errors)),
                        ok: false,
                    });
                }
            };
            let done = deploy::Deployments::new(store.clone(), clock)
                .deploy(&env, &library, note.as_deref())
                .await?;
            let mut text = format!("deployed to {env}:\n");
            text.extend(done.iter().map(deployed_line));
            Outcome { text, ok: true }
        }
        FlowsCommand::Promote { from, to, flow } => {
            let done = deploy::Deployments::new(store.clone(), clock)
                .promote(&from, &to, flow.as_deref())
                .await?;
            let mut text = format!("promoted from {from} to {to}:\n");
            text.extend(done.iter().map(deployed_line));
            Outcome { text, ok: true }
        }
        FlowsCommand::Diff { env } => {
            let library = library(dir).map_err(|errors| anyhow::anyhow!(problems(&errors)))?;
            let deployed = store.deployments(&env).await?;
            let mut text = String::new();
            for flow in library.iter() {
                match deployed.iter().find(|d| d.name == flow.name) {
                    None => text.push_str(&format!("{}: not deployed to {env}\n", flow.name)),
                    Some(d) if d.version == flow.version => {
                        text.push_str(&format!(
                            "{}: {env} runs this version ({})\n",
                            flow.name, d.version
                        ));
                    }
                    Some(d) => {
                        let old = store
                            .flow_version(&d.name, &d.version)
                            .await?
                            .map(|r| r.text)
                            .unwrap_or_default();
                        text.push_str(&deploy::diff(
                            &format!("{env}: {} {}", d.name, d.version),
                            &old,
                            &format!("{}: {} {}", flow.origin, flow.name, flow.version),
                            &flow.text,
                        ));
                    }
                }
            }
            for d in deployed.iter().filter(|d| library.get(&d.name).is_none()) {
                text.push_str(&format!(
                    "{}: runs in {env} ({}) but has no file here\n",
                    d.name, d.version
                ));
            }
            Outcome { text, ok: true }
        }
        FlowsCommand::Versions { flow } => {
            let history = store.deployment_history(&flow).await?;
            let mut text = String::new();
            if history.is_empty() {
                text.push_str(&format!("{flow} was never deployed\n"));
            }
            for d in history {
                text.push_str(&format!(
                    "{}  {:<8} {}  {}\n",
                    crate::secrets::format_ms(d.deployed_ms),
                    d.env,
                    d.version,
                    d.note.unwrap_or_default()
                ));
            }
            Outcome { text, ok: true }
        }
        FlowsCommand::Start { flow, event, key } => {
            let library = library(dir).map_err(|errors| anyhow::anyhow!(problems(&errors)))?;
            let text =
                std::fs::read(&event).with_context(|| format!("reading {}", event.display()))?;
            let key = key.unwrap_or_else(|| {
                use sha2::Digest as _;
                hex::encode(sha2::Sha256::digest(&text))
            });
            let payload: serde_json::Value = serde_json::from_slice(&text)
                .with_context(|| format!("{} is not JSON", event.display()))?;
            let new = paybridge_engine::manual_event(&library, &flow, &key, payload)?;
            let accepted = store.accept_event(&new, &[&flow], clock.now_ms()).await?;
            let event = accepted
                .event_id
                .map_or_else(|| "pruned since".to_string(), |id| id.to_string());
            let text = if accepted.duplicate {
                format!("{flow} was started with key {key} before (event {event}); nothing new\n")
            } else {
                format!(
                    "{flow} started (event {event}, key {key}); a serving node runs it: paybridge runs list --flow {flow}\n"
                )
            };
            Outcome { text, ok: true }
        }
        other => run(dir, other)?,
    };
    store.close().await;
    Ok(outcome)
}

/// What a command printed, and whether it found problems.
pub struct Outcome {
    pub text: String,
    pub ok: bool,
}

/// The shipped templates with `dir`'s files (when given) replacing or adding to them.
fn library(dir: Option<&Path>) -> Result<Library, Vec<FlowError>> {
    match dir {
        Some(dir) => Library::load_dir(dir, paybridge_actions::catalogue()),
        None => Ok(Library::shipped(paybridge_actions::catalogue())),
    }
}

fn problems(errors: &[FlowError]) -> String {
    let mut text: String = errors.iter().map(|e| format!("{e}\n")).collect();
    text.push_str(&format!(
        "{} problem{} found\n",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    ));
    text
}

pub fn run(dir: Option<&Path>, command: FlowsCommand) -> anyhow::Result<Outcome> {
    match command {
        FlowsCommand::Validate => Ok(match library(dir) {
            Ok(library) => {
                let mut text = String::new();
                for flow in library.iter() {
                    text.push_str(&format!(
                        "ok  {} ({} steps, version {}) from {}\n",
                        flow.name,
                        flow.steps.len(),
                        flow.version,
                        flow.origin
                    ));
                }
                Outcome { text, ok: true }
            }
            Err(errors) => Outcome {
                text: problems(&errors),
                ok: false,
            },
        }),
        FlowsCommand::Test {
            flow,
            sample,
            outputs,
            connected,
            currency,
            json,
        } => {
            let library = match library(dir) {
                Ok(library) => library,
                Err(errors) => {
                    return Ok(Outcome {
                        text: problems(&errors),
                        ok: false,
                    });
                }
            };
            let Some(definition) = library.get(&flow) else {
                let known: Vec<&str> = library.iter().map(|f| f.name.as_str()).collect();
                bail!(
                    "there is no flow {flow:?} (there are: {})",
                    known.join(", ")
                );
            };
            let text = std::fs::read_to_string(&sample)
                .with_context(|| format!("reading {}", sample.display()))?;
            let event: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", sample.display()))?;
            const OPTIONAL: [&str; 4] = ["crm", "inventory", "desk", "storefront"];
            for product in &connected {
                if !OPTIONAL.contains(&product.as_str()) {
                    bail!("--connected takes {}, not {product:?}", OPTIONAL.join(", "));
                }
            }
            let mut facts = serde_json::Map::new();
            facts.insert("books".into(), json!(true));
            for product in OPTIONAL {
                facts.insert(
                    product.into(),
                    json!(connected.iter().any(|p| p == product)),
                );
            }
            let connected = serde_json::Value::Object(facts);
            let run = preview::run_facts(definition, &connected, &currency.to_ascii_uppercase());
            let samples = match &outputs {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    match serde_json::from_str(&text)
                        .with_context(|| format!("{} is not JSON", path.display()))?
                    {
                        serde_json::Value::Object(samples) => samples,
                        _ => bail!(
                            "{} must be a JSON object of step outputs by step name",
                            path.display()
                        ),
                    }
                }
                None => serde_json::Map::new(),
            };
            let result = preview::preview(definition, &event, &run, &samples);
            let text = if json {
                format!("{}\n", serde_json::to_string_pretty(&result)?)
            } else {
                render_preview(definition, &result)
            };
            Ok(Outcome {
                text,
                ok: result.ok,
            })
        }
        FlowsCommand::List { json } => {
            let library = library(dir).map_err(|errors| anyhow::anyhow!(problems(&errors)))?;
            let rows: Vec<serde_json::Value> = library
                .iter()
                .map(|f| {
                    json!({
                        "name": f.name,
                        "version": f.version,
                        "trigger": {"source": f.source, "events": f.events},
                        "steps": f.steps.iter().map(|s| json!({"name": s.name, "action": s.action.name})).collect::<Vec<_>>(),
                        "origin": f.origin,
                        "description": f.description,
                    })
                })
                .collect();
            let text = if json {
                format!("{}\n", serde_json::to_string_pretty(&rows)?)
            } else {
                library
                    .iter()
                    .map(|f| {
                        format!(
                            "{}  version {}  on {} {}  ({} steps, {})\n",
                            f.name,
                            f.version,
                            f.source.inbox_source(),
                            if f.events.is_empty() {
                                "(any event)".to_string()
                            } else {
                                f.events.join(", ")
                            },
                            f.steps.len(),
                            f.origin
                        )
                    })
                    .collect()
            };
            Ok(Outcome { text, ok: true })
        }
        FlowsCommand::Deploy { .. }
        | FlowsCommand::Promote { .. }
        | FlowsCommand::Diff { .. }
        | FlowsCommand::Versions { .. }
        | FlowsCommand::Start { .. } => {
            bail!("this command needs the store: give --config")
        }
        FlowsCommand::Actions { json } => {
            let catalogue = paybridge_actions::catalogue();
            let text = if json {
                let rows: Vec<serde_json::Value> = catalogue
                    .iter()
                    .map(|a| {
                        json!({
                            "action": a.name,
                            "summary": a.summary,
                            "fields": a.fields.map(|fields| fields.iter().map(|f| json!({"name": f.name, "required": f.required})).collect::<Vec<_>>()),
                            "outputs": a.outputs.iter().map(|o| o.name).collect::<Vec<_>>(),
                            "output_types": a.outputs.iter().map(|o| (o.name, o.ty.as_str())).collect::<std::collections::BTreeMap<_, _>>(),
                            "effect": a.has_effect(),
                            "lost_answer": a.recovery.describe(),
                        })
                    })
                    .collect();
                format!("{}\n", serde_json::to_string_pretty(&rows)?)
            } else {
                catalogue
                    .iter()
                    .map(|a| {
                        let fields = match a.fields {
                            Some(fields) => fields
                                .iter()
                                .map(|f| {
                                    if f.required {
                                        f.name.to_string()
                                    } else {
                                        format!("[{}]", f.name)
                                    }
                                })
                                .collect::<Vec<_>>()
                                .join(" "),
                            None => "any fields".into(),
                        };
                        let outputs = a
                            .outputs
                            .iter()
                            .map(|o| format!("{} ({})", o.name, o.ty.as_str()))
                            .collect::<Vec<_>>()
                            .join(", ");
                        format!(
                            "{}\n    {}\n    with: {fields}\n    gives: {}\n",
                            a.name,
                            a.summary,
                            if outputs.is_empty() {
                                "its fields"
                            } else {
                                &outputs
                            },
                        )
                    })
                    .collect()
            };
            Ok(Outcome { text, ok: true })
        }
    }
}

fn render_preview(flow: &Definition, result: &Preview) -> String {
    let mut out = format!(
        "flow {} (version {}), {} steps — nothing is called or written\n\n",
        flow.name,
        flow.version,
        flow.steps.len()
    );
    for step in &result.steps {
        out.push_str(&format!("step {} ({})", step.name, step.action));
        if step.skipped {
            out.push_str(": skipped (its `when` is false)\n");
            continue;
        }
        out.push('\n');
        if let Some(error) = &step.error {
            out.push_str(&format!("  ERROR {error}\n"));
        }
        if let Some(note) = &step.note {
            out.push_str(&format!("  note: {note}\n"));
        }
        if let Some(request) = &step.request {
            let pretty = serde_json::to_string_pretty(request).unwrap_or_default();
            for line in pretty.lines() {
                out.push_str(&format!("  {line}\n"));
            }
        }
    }
    if !result.outputs.is_empty() {
        out.push_str(&format!(
            "\noutputs {}\n",
            serde_json::Value::Object(result.outputs.clone())
        ));
    }
    out.push_str(if result.ok {
        "\nok: every condition and mapping evaluated\n"
    } else {
        "\nPROBLEMS: see ERROR above\n"
    });
    out
}
