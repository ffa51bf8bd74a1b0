//! The scheduler: each schedule's firings offered to the inbox as they come due, by every node;
//! the inbox keeps one per schedule and minute, so each runs once.

use tokio::sync::watch;

use crate::engine::Engine;
use crate::jobs::Job;
use crate::schedule::Cron;
use crate::services::Service;

/// The scheduler: offers each schedule's firings to the inbox as they come due. Every node
/// offers them; the inbox keeps one per schedule and minute, so each runs once.
pub(crate) async fn scheduler(engine: Engine, mut stop: watch::Receiver<bool>) {
    let mut schedules = Vec::new();
    for entry in &engine.settings.schedules {
        match entry.cron.parse::<Cron>() {
            Ok(_)
                if Service::parse(&entry.flow).is_none()
                    && Job::parse(&entry.flow).is_none()
                    && engine.flows().get(&entry.flow).is_none() =>
            {
                tracing::error!(schedule = %entry.name, flow = %entry.flow, "schedule ignored: no such flow");
            }
            Ok(cron) => schedules.push((entry.clone(), cron)),
            Err(e) => tracing::error!(schedule = %entry.name, error = %e, "schedule ignored"),
        }
    }
    if schedules.is_empty() {
        return;
    }
    let mut last = engine.clock.now_ms();
    loop {
        let Some(next) = schedules
            .iter()
            .filter_map(|(_, cron)| cron.next_after(last))
            .min()
        else {
            return;
        };
        tokio::select! {
            () = tokio::time::sleep_until(engine.clock.instant_at(next)) => {}
            _ = stop.changed() => return,
        }
        for (entry, cron) in &schedules {
            if cron.next_after(last) != Some(next) {
                continue;
            }
            match engine.fire_schedule(entry, next).await {
                Ok(accepted) if !accepted.duplicate => {
                    tracing::info!(schedule = %entry.name, flow = %entry.flow, "schedule fired");
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(schedule = %entry.name, error = %e, "cannot fire a schedule; the next firing will");
                }
            }
        }
        last = next;
    }
}
