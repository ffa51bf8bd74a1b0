//! `paybridge runs list|show` and `paybridge dlq list|show|replay|discard`: what the engine did
//! and what it could not, read from (and acted on in) the store a configuration names. A
//! `paybridge serve` on the same store picks replayed runs up within seconds.

use paybridge_store::RunStore as _;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, bail};
use paybridge_engine::dlq::{self, RunDetail};
use paybridge_store::Clock;
use paybridge_store::{RunFilter, RunRecord, RunStatus};

use crate::secrets::format_ms;

/// Which runs a command is about.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub status: Option<String>,
    pub flow: Option<String>,
    pub entity: Option<String>,
    /// RFC 3339, or a span back from now: `30m`, `6h`, `7d`.
    pub since: Option<String>,
    pub limit: u32,
}

#[derive(Debug, Clone)]
pub enum RunsCommand {
    List {
        selection: Selection,
        json: bool,
    },
    Show {
        id: i64,
        json: bool,
    },
    /// Replay (or discard) these dead letters, or with `all` every one the selection matches.
    Act {
        ids: Vec<i64>,
        all: Option<Selection>,
        discard: bool,
        /// Replay on the flow version each run ran, not the one deployed now.
        original_version: bool,
    },
}

fn parse_since(text: &str, clock: &Clock) -> anyhow::Result<i64> {
    let text = text.trim();
    if let Ok(at) =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
    {
        return Ok(i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0));
    }
    let split = text.len().saturating_sub(1);
    let (number, unit) = text.split_at(split);
    let unit_ms: i64 = match unit {
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => bail!("--since {text:?}: give an RFC 3339 time or a span like 30m, 6h, 7d"),
    };
    let number: i64 = number.parse().with_context(|| {
        format!("--since {text:?}: give an RFC 3339 time or a span like 30m, 6h, 7d")
    })?;
    Ok(clock.now_ms() - number.saturating_mul(unit_ms))
}

fn filter(selection: &Selection, clock: &Clock) -> anyhow::Result<RunFilter> {
    let status = match selection.status.as_deref() {
        None => None,
        Some(name) => Some(RunStatus::from_name(name).with_context(|| {
            format!("--status {name:?} is not one of queued, running, succeeded, dead, discarded")
        })?),
    };
    Ok(RunFilter {
        status,
        flow: selection.flow.clone(),
        entity: selection.entity.clone(),
        since_ms: selection
            .since
            .as_deref()
            .map(|s| parse_since(s, clock))
            .transpose()?,
        until_ms: None,
        before_id: None,
        limit: if selection.limit == 0 {
            50
        } else {
            selection.limit
        },
    })
}

/// Runs a command on the store `config` names; returns what to print.
pub async fn run(config: &Path, command: RunsCommand) -> anyhow::Result<String> {
    let store = crate::config::FileConfig::load(config)?
        .open_store()
        .await?;
    let clock = Clock::new();
    let result = execute(&store, &clock, command).await;
    store.close().await;
    result
}

async fn execute(
    store: &paybridge_store::Store,
    clock: &Clock,
    command: RunsCommand,
) -> anyhow::Result<String> {
    let runs = dlq::Runs::new(store.clone(), *clock);
    match command {
        RunsCommand::List { selection, json } => {
            let runs = runs.list(&filter(&selection, clock)?).await?;
            Ok(if json {
                format!("{}\n", serde_json::to_string_pretty(&runs)?)
            } else {
                table(&runs)
            })
        }
        RunsCommand::Show { id, json } => {
            let detail = runs.show(id).await?;
            Ok(if json {
                format!("{}\n", serde_json::to_string_pretty(&detail)?)
            } else {
                timeline(&detail)
            })
        }
        RunsCommand::Act {
            ids,
            all,
            discard,
            original_version,
        } => {
            let verb = if discard { "discarded" } else { "replayed" };
            if let Some(selection) = all {
                if !ids.is_empty() {
                    bail!("give run ids or --all, not both");
                }
                if original_version {
                    bail!("--original-version replays the runs named by id, not --all");
                }
                let done = runs
                    .bulk(&filter(&selection, clock)?, discard, false)
                    .await?;
                let mut out = format!("{verb} {} dead letter(s)", done.done.len());
                if !done.skipped.is_empty() {
                    let _ = write!(
                        out,
                        "; {} changed meanwhile and were left alone",
                        done.skipped.len()
                    );
                }
                out.push('\n');
                return Ok(out);
            }
            if ids.is_empty() {
                bail!(
                    "give the dead letters' run ids, or --all (with --flow, --entity, --since to narrow it)"
                );
            }
            let mut out = String::new();
            let mut failures = Vec::new();
            for id in ids {
                let outcome = if discard {
                    runs.discard(id).await
                } else if original_version {
                    runs.replay_original(id).await
                } else {
                    runs.replay(id).await
                };
                match outcome {
                    Ok(()) => {
                        let _ = writeln!(out, "{verb} run {id}");
                    }
                    Err(e) => failures.push(e.to_string()),
                }
            }
            if !failures.is_empty() {
                bail!("{out}{}", failures.join("\n"));
            }
            Ok(out)
        }
    }
}

fn table(runs: &[RunRecord]) -> String {
    if runs.is_empty() {
        return "no runs match\n".into();
    }
    let mut out = format!(
        "{:>8}  {:<10}  {:<16}  {:<28}  {:>7}  {:<24}  LAST ERROR\n",
        "RUN", "STATUS", "FLOW", "ENTITY", "ATTEMPT", "UPDATED"
    );
    for run in runs {
        let error = run
            .last_error
            .as_deref()
            .map(|e| e.chars().take(100).collect::<String>())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:>8}  {:<10}  {:<16}  {:<28}  {:>7}  {:<24}  {error}",
            run.id,
            run.status.as_str(),
            run.flow,
            run.entity_key,
            run.attempt,
            format_ms(run.updated_at)
        );
    }
    out
}

fn timeline(detail: &RunDetail) -> String {
    let run = &detail.run;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "run {} — {} — flow {} — entity {}",
        run.id,
        run.status.as_str(),
        run.flow,
        run.entity_key
    );
    let _ = writeln!(
        out,
        "event {} from {}, received {}; attempt {}, created {}, updated {}",
        detail.event_type,
        detail.event_source,
        format_ms(detail.received_at),
        run.attempt,
        format_ms(run.created_at),
        format_ms(run.updated_at)
    );
    if run.status == RunStatus::Queued && run.last_error.is_some() {
        let _ = writeln!(out, "next attempt {}", format_ms(run.next_attempt_at));
    }
    if let Some(error) = &run.last_error {
        let _ = writeln!(out, "\nwhy it failed: {error}");
        if let Some(step) = &run.last_error_step {
            let _ = writeln!(out, "  step        {step}");
        }
        if let Some(kind) = run.last_error_kind {
            let _ = writeln!(out, "  kind        {}", kind.as_str());
        }
        if let Some(status) = run.last_error_status {
            let _ = writeln!(out, "  HTTP status {status}");
        }
        if let Some(id) = &run.last_error_request_id {
            let _ = writeln!(out, "  request id  {id}");
        }
    }
    let _ = writeln!(out, "\nsteps:");
    if detail.steps.is_empty() {
        let _ = writeln!(out, "  (none yet)");
    }
    for step in &detail.steps {
        let _ = writeln!(
            out,
            "  {} {:<28} {:<9} attempts {}  {}",
            format_ms(step.started_at),
            step.name,
            format!("{:?}", step.status).to_lowercase(),
            step.attempts,
            step.error.as_deref().unwrap_or("")
        );
        if let Some(input) = &step.input {
            let _ = writeln!(out, "      input  {input}");
        }
        if let Some(output) = &step.output {
            let _ = writeln!(out, "      output {output}");
        }
    }
    if run.status == RunStatus::Dead {
        let _ = writeln!(
            out,
            "\nreplay from the failed step: paybridge dlq replay {}   (or discard it: paybridge dlq discard {})",
            run.id, run.id
        );
    }
    out
}

/// `paybridge store prune`: applies `[engine.retention]` now; returns what to print.
pub async fn prune(config: &Path) -> anyhow::Result<String> {
    let file = crate::config::FileConfig::load(config)?;
    let retention = &file.engine.retention;
    let store = file.open_store().await?;
    let report = store.prune(&retention.cutoffs(Clock::new().now_ms())).await;
    store.close().await;
    let report = report?;
    Ok(format!(
        "pruned {} run(s), {} step(s), {} event(s); {} bytes given back to the file system \
         (kept: finished runs of the last {} days, at most {}; every dead letter; every order)\n",
        report.runs,
        report.steps,
        report.inbox_events,
        report.bytes_freed,
        retention.keep_days,
        retention.keep_runs
    ))
}
