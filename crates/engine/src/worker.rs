//! Workers: claim a due run, execute its flow, and record the outcome — done, retry later, or
//! dead-letter. A worker holds a lease on its run and renews it while it works, so a crashed
//! worker's run is picked up again once its lease runs out.

use std::time::Duration;

use rand::RngExt as _;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument as _;

use paybridge_commerce::view::order_of;
use paybridge_flows::Definition;
use paybridge_model::StepError;
use paybridge_store::{
    ClaimedRun, CoordinationStore as _, FailureRecord, InboxEvent, InboxStore as _, Lease,
    RecordedStep, Retry, RunStore as _, Steps,
};

use crate::engine::Engine;
use crate::host::run_flow;
use crate::jobs::Job;
use crate::retry::{next_attempt, throttled_wait};
use crate::services::Service;

/// Longest a worker sleeps without looking at the store (new work from this process wakes it
/// at once).
const IDLE_POLL: Duration = Duration::from_secs(2);

/// The least a worker that found nothing to claim waits before it looks again unasked.
const BLOCKED_PAUSE: Duration = Duration::from_millis(20);

/// Running workers; [`Workers::stop`] lets in-flight runs finish and releases nothing mid-step.
#[derive(Debug)]
pub struct Workers {
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Engine {
    /// Starts this process's workers, its scheduler and its watchdog.
    pub fn start_workers(&self) -> Workers {
        Workers::start(self)
    }
}

impl Workers {
    fn start(engine: &Engine) -> Workers {
        let (shutdown, _) = watch::channel(false);
        let mut tasks = JoinSet::new();
        for n in 0..engine.settings.workers.max(1) {
            let engine = engine.clone();
            let owner = format!("{}/w{n}", engine.node_id());
            let stop = shutdown.subscribe();
            tasks.spawn(async move { work(engine, owner, None, stop).await });
        }
        for n in 0..engine.settings.payment_workers {
            let engine = engine.clone();
            let owner = format!("{}/p{n}", engine.node_id());
            let stop = shutdown.subscribe();
            let lane: &[&str] = &Service::PAYMENT_LANE;
            tasks.spawn(async move { work(engine, owner, Some(lane), stop).await });
        }
        let maintenance = engine.clone();
        let stop = shutdown.subscribe();
        tasks.spawn(async move { crate::scheduler::scheduler(maintenance, stop).await });
        let watchdog_engine = engine.clone();
        let stop = shutdown.subscribe();
        tasks.spawn(async move { watchdog(watchdog_engine, stop).await });
        if engine.flows_env().is_some() {
            let following = engine.clone();
            let stop = shutdown.subscribe();
            tasks.spawn(async move { follow_deployments(following, stop).await });
        }
        // On PostgreSQL, runs queued by other nodes wake this one at once (LISTEN/NOTIFY);
        // elsewhere workers look every IDLE_POLL.
        let listening = engine.clone();
        let mut stop = shutdown.subscribe();
        tasks.spawn(async move {
            let dispatch = listening.dispatch.clone();
            match listening
                .store()
                .listen(move || dispatch.wake.notify_waiters())
                .await
            {
                Ok(Some(listener)) => {
                    let _ = stop.changed().await;
                    listener.abort();
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot listen for runs queued by other nodes; polling instead"),
            }
        });
        Workers { shutdown, tasks }
    }

    /// Asks every worker to stop after its current run, and waits for them.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

/// A worker: claims due runs (of `lane`'s flows only, when given) and executes them, until
/// told to stop.
async fn work(
    engine: Engine,
    owner: String,
    lane: Option<&'static [&'static str]>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        // Registered before looking, so a run queued in between still wakes us.
        let woken = engine.dispatch.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        match engine
            .store()
            .claim_run_of(&owner, engine.clock.now_ms(), engine.settings.lease, lane)
            .await
        {
            Ok(Some(run)) => {
                metrics::counter!("paybridge_claims_total", "outcome" => "run").increment(1);
                execute(&engine, &owner, run).await;
                continue;
            }
            Ok(None) => {
                metrics::counter!("paybridge_claims_total", "outcome" => "none").increment(1);
            }
            Err(e) => {
                tracing::error!(worker = %owner, error = %e, "cannot claim runs; will try again")
            }
        }
        // A run due but not claimable (its entity's earlier run still going, or outside this
        // worker's lane) must not make the worker spin: it looks again when woken, or after a
        // short pause at the least.
        let now = tokio::time::Instant::now();
        let until = match engine.store().next_wakeup().await {
            Ok(Some(at)) => engine
                .clock
                .instant_at(at)
                .clamp(now + BLOCKED_PAUSE, now + IDLE_POLL),
            _ => now + IDLE_POLL,
        };
        tokio::select! {
            () = &mut woken => {}
            () = tokio::time::sleep_until(until) => {}
            _ = stop.changed() => {}
        }
    }
}

/// How often a node following an environment looks for versions deployed by other nodes.
const FOLLOW_EVERY: Duration = Duration::from_secs(15);

/// Picks up flow versions deployed to the followed environment from elsewhere (another node's
/// console, the CLI); a deployment made through this node's admin API takes effect at once.
async fn follow_deployments(engine: Engine, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(FOLLOW_EVERY) => {}
            _ = stop.changed() => return,
        }
        if let Err(e) = engine.reload_flows().await {
            tracing::warn!(error = %e, "cannot reload the deployed flows; running the ones loaded");
        }
    }
}

/// The version of a flow file a run executes: the deployed one, unless a replay pinned the run
/// to the version it ran before (then that one, from the store).
async fn pinned_version(
    engine: &Engine,
    run: &ClaimedRun,
    deployed: &std::sync::Arc<Definition>,
) -> std::sync::Arc<Definition> {
    match &run.flow_version {
        Some(version) if run.flow_version_pinned && *version != deployed.version => {
            match crate::deploy::compiled(
                engine.store(),
                &run.flow,
                version,
                paybridge_actions::catalogue(),
            )
            .await
            {
                Ok(original) => std::sync::Arc::new(original),
                Err(e) => {
                    tracing::error!(run_id = run.id, %version, error = %e, "the pinned flow version cannot be run; running the deployed one");
                    deployed.clone()
                }
            }
        }
        _ => deployed.clone(),
    }
}

/// What a run's flow name names: a flow file, one of the engine's services, or a job.
enum Runnable {
    File(std::sync::Arc<Definition>),
    Service(Service),
    Job(Job),
}

impl Runnable {
    fn named(engine: &Engine, name: &str) -> Option<Runnable> {
        if let Some(file) = engine.flows().get(name) {
            return Some(Runnable::File(file.clone()));
        }
        Service::parse(name)
            .map(Runnable::Service)
            .or_else(|| Job::parse(name).map(Runnable::Job))
    }
}

/// Renews the run's lease every third of it while the run goes on. The lease is lost — and the
/// run told, through `lease`, to stop at its next step — when a renewal is refused (another
/// worker took the run over) or when none succeeded for a whole lease (another may have).
pub async fn heartbeat(
    store: paybridge_store::Store,
    clock: paybridge_store::Clock,
    length: Duration,
    (owner, run_id): (String, i64),
    lease: std::sync::Arc<Lease>,
) {
    let mut renewed = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(length / 3).await;
        match store
            .renew_lease(run_id, &owner, clock.now_ms(), length)
            .await
        {
            Ok(true) => renewed = tokio::time::Instant::now(),
            Ok(false) => {
                tracing::warn!(
                    run_id,
                    "lease lost: another worker may run it now; this one stops at its next step"
                );
                lease.mark_lost();
                return;
            }
            Err(e) => {
                tracing::warn!(run_id, error = %e, "could not renew the lease");
                if renewed.elapsed() >= length {
                    tracing::warn!(
                        run_id,
                        "no renewal for a whole lease: this worker stops the run at its next step"
                    );
                    lease.mark_lost();
                    return;
                }
            }
        }
    }
}

/// Executes one claimed run, every log line of it carrying the run id (the span is attached to
/// the future, never entered across an await).
async fn execute(engine: &Engine, owner: &str, run: ClaimedRun) {
    let span = tracing::info_span!("run", run_id = run.id, flow = %run.flow, attempt = run.attempt);
    execute_in_span(engine, owner, run).instrument(span).await;
}

async fn execute_in_span(engine: &Engine, owner: &str, mut run: ClaimedRun) {
    let lease = std::sync::Arc::new(Lease::default());
    let heartbeat = tokio::spawn(heartbeat(
        engine.store().clone(),
        engine.clock,
        engine.settings.lease,
        (owner.to_string(), run.id),
        lease.clone(),
    ));
    let started = std::time::Instant::now();
    let flow = match Runnable::named(engine, &run.flow) {
        Some(Runnable::File(file)) => {
            Some(Runnable::File(pinned_version(engine, &run, &file).await))
        }
        other => other,
    };
    // Read with the claim; read again only to say why it could not be.
    let event = match run.event.take() {
        Some(event) => Ok(event),
        None => engine.store().inbox_event(run.inbox_id).await,
    };
    let version = match &flow {
        Some(Runnable::File(file)) => Some(file.version.clone()),
        _ => None,
    };
    let result = match (&flow, &event) {
        (Some(flow), Ok(event)) => match flow {
            Runnable::File(file) => run_flow(engine, Some(run.id), Some(&lease), file, event).await,
            Runnable::Service(service) => {
                let steps = Steps {
                    store: engine.store(),
                    clock: &engine.clock,
                    run_id: Some(run.id),
                    observer: &*engine.health,
                    lease: Some(&lease),
                };
                run_service(*service, engine, &steps, event)
                    .await
                    .map(|()| None)
            }
            Runnable::Job(job) => run_job(*job, engine).await.map(|()| None),
        },
        (None, _) => Err(StepError::permanent(
            "engine",
            format!("no flow named {:?} is deployed", run.flow),
        )),
        (_, Err(e)) => Err(StepError::permanent(
            "store",
            format!("the run's event cannot be read: {e}"),
        )),
    };
    heartbeat.abort();

    let now = engine.clock.now_ms();
    let outcome = match result {
        Ok(outputs) => {
            let record = outputs.as_ref().map(|o| RecordedStep {
                key: &o.key,
                name: "outputs",
                value: &o.value,
            });
            engine
                .store()
                .finish_run(run.id, owner, version.as_deref(), record, now)
                .await
                .map(|kept| (kept, "succeeded"))
        }
        Err(mut error) => {
            // Told to slow down: wait as told without spending an attempt, up to the ceiling.
            let throttled = error.throttled && error.kind.is_retryable();
            let policy = &engine.settings.retry;
            let waited = Duration::from_millis(u64::try_from(run.throttled_ms).unwrap_or(0));
            let wait = if throttled {
                let wait = throttled_wait(policy, error.retry_after, waited);
                if wait.is_none() {
                    error.message = format!(
                        "{} — told to slow down for {} min in all, past the ceiling of {} min ([engine.retry] throttle_ceiling); replay it once the vendor's limits allow",
                        error.message,
                        waited.as_secs() / 60,
                        policy.throttle_ceiling.as_secs() / 60
                    );
                }
                wait
            } else if error.kind.is_retryable() {
                let sample = rand::rng().random::<u64>();
                next_attempt(policy, run.attempt, error.retry_after, sample)
            } else {
                None
            };
            match wait {
                Some(wait) => {
                    let wait_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
                    let at = now.saturating_add(wait_ms);
                    if throttled {
                        tracing::info!(%error, wait_ms, "told to slow down; waiting as told (no attempt spent)");
                        metrics::counter!("paybridge_throttled_waits_total", "system" => error.system).increment(1);
                    } else {
                        tracing::info!(%error, retry_in_ms = wait.as_millis(), "run failed; will retry");
                    }
                    engine
                        .store()
                        .retry_run(
                            run.id,
                            owner,
                            version.as_deref(),
                            Retry {
                                at,
                                throttled_ms: throttled.then_some(wait_ms),
                            },
                            &FailureRecord::from(&error),
                            now,
                        )
                        .await
                        .map(|kept| (kept, "retrying"))
                }
                None => {
                    tracing::error!(%error, kind = error.kind.as_str(), "run dead-lettered");
                    // A flow file's run about an approved order leaves it `sync_failed`, in the
                    // same transaction.
                    let detail = format!("Zoho sync failed: {error}");
                    let order_failed = match (&flow, &event) {
                        (Some(Runnable::File(_)), Ok(event)) => {
                            order_of(event).map(|order_id| (order_id, detail.as_str()))
                        }
                        _ => None,
                    };
                    let result = engine
                        .store()
                        .dead_letter_run(
                            run.id,
                            owner,
                            version.as_deref(),
                            &FailureRecord::from(&error),
                            order_failed,
                            now,
                        )
                        .await;
                    match (flow, &event, &result) {
                        (Some(Runnable::Service(service)), Ok(event), Ok(true)) => {
                            service_dead_lettered(service, engine, event, &error);
                        }
                        (Some(Runnable::Job(job)), Ok(event), Ok(true)) => {
                            tracing::error!(event = event.id, job = job.name(), %error, "a scheduled job failed for good");
                        }
                        (Some(Runnable::File(_)), Ok(_), Ok(true)) => engine.notify_progress(),
                        _ => {}
                    }
                    if let (Some(alerts), Ok(true)) = (&engine.alerts, &result) {
                        alerts.dead_letter(run.id, &run.flow, &run.entity_key, &error);
                    }
                    result.map(|kept| (kept, "dead"))
                }
            }
        }
    };
    if let Ok((true, status)) = &outcome {
        if let Some(alerts) = &engine.alerts {
            alerts.run_finished(*status != "succeeded");
        }
        let flow_name = run.flow.clone();
        metrics::counter!("paybridge_runs_total", "flow" => flow_name.clone(), "outcome" => *status)
            .increment(1);
        metrics::histogram!("paybridge_run_duration_seconds", "flow" => flow_name.clone())
            .record(started.elapsed().as_secs_f64());
        match *status {
            "retrying" => {
                metrics::counter!("paybridge_retries_total", "flow" => flow_name).increment(1);
            }
            "dead" => {
                metrics::counter!("paybridge_dead_letters_total", "flow" => flow_name).increment(1);
            }
            _ => {}
        }
    }
    match outcome {
        Ok((true, status)) => tracing::debug!(status, "run recorded"),
        Ok((false, _)) => tracing::warn!(
            "the run's lease was lost before its outcome was recorded; it will run again and reuse its finished steps"
        ),
        Err(e) => {
            tracing::error!(error = %e, "could not record the run's outcome; it will run again when its lease expires")
        }
    }
}

/// Runs one of the engine's services.
async fn run_service(
    service: Service,
    engine: &Engine,
    steps: &Steps<'_>,
    event: &InboxEvent,
) -> Result<(), StepError> {
    let commerce = engine.commerce();
    match service {
        Service::PaymentResolution => commerce.resolve_payment(steps, event).await,
        Service::CybersourceEvent => commerce.cybersource_event(steps, event).await,
        Service::ZohoBooksEvent => commerce.books_event(event).await,
    }
}

/// What a service's dead letter leaves behind.
fn service_dead_lettered(service: Service, engine: &Engine, event: &InboxEvent, error: &StepError) {
    match service {
        // The order stays `payment_unknown`, with the dead run saying why it could not be
        // resolved; replaying the run tries again.
        Service::PaymentResolution => {
            tracing::error!(event = event.id, %error, "a lost payment could not be resolved");
            engine.notify_progress();
        }
        Service::CybersourceEvent => {
            tracing::error!(event = event.id, %error, "a Cybersource event could not be processed");
        }
        Service::ZohoBooksEvent => {
            tracing::error!(event = event.id, %error, "a Zoho Books event could not be processed");
        }
    }
}

/// How long the Zoho token must still last after a refresh check (two schedule periods).
const TOKEN_LASTING: Duration = Duration::from_secs(20 * 60);

/// Runs one of the engine's jobs.
async fn run_job(job: Job, engine: &Engine) -> Result<(), StepError> {
    match job {
        Job::Prune => {
            engine.prune().await?;
        }
        Job::ZohoTokenRefresh => {
            engine
                .connectors()
                .zoho
                .keep_token_fresh(TOKEN_LASTING)
                .await?;
        }
        Job::PaymentWatchdog => {
            engine.watch_payments().await.map_err(|e| {
                StepError::new(
                    paybridge_model::FailureKind::Transient,
                    "engine",
                    e.to_string(),
                )
            })?;
        }
    }
    Ok(())
}

/// The payment watchdog's beat: every `watchdog_every`, the node that wins the lease resolves
/// payments whose request died before Cybersource's answer was recorded.
async fn watchdog(engine: Engine, mut stop: watch::Receiver<bool>) {
    let every = engine
        .settings
        .watchdog_every
        .max(Duration::from_millis(100));
    let holder = format!("{}/watchdog", engine.node_id());
    let ttl = i64::try_from(every.as_millis()).unwrap_or(i64::MAX) / 2;
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        match engine
            .store()
            .try_lease("maintenance:watchdog", &holder, engine.clock.now_ms(), ttl)
            .await
        {
            Ok(true) => {
                if let Err(e) = engine.watch_payments().await {
                    tracing::warn!(error = %e, "the payment watchdog failed; will try again");
                }
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "cannot take the watchdog lease"),
        }
    }
}
