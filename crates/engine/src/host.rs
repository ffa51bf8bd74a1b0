//! Where a flow file's run executes: the interpreter's [`Host`], which runs each step's action
//! exactly once per idempotency key (through the store's step record) on the engine's
//! connections.

use std::sync::atomic::{AtomicU32, Ordering};

use paybridge_actions::Call;
use paybridge_flows::Definition;
use paybridge_flows::interpreter::{self, Host, Outputs, Run, StepCall};
use paybridge_flows::spec::Effect;
use paybridge_model::StepError;
use paybridge_store::{Attempt, InboxEvent, Steps};
use serde_json::{Map, Value, json};

use crate::engine::Engine;

/// Runs `flow` for `event` (in run `run_id`, `None` outside one); what it gives is the run's
/// outputs, if the flow has any.
pub(crate) async fn run_flow(
    engine: &Engine,
    run_id: Option<i64>,
    lease: Option<&paybridge_store::Lease>,
    flow: &Definition,
    event: &InboxEvent,
) -> Result<Option<Outputs>, StepError> {
    if run_id.is_some() {
        // Which version ran is part of the run's history (and what a replay can ask for): its
        // text is kept once, and the run notes the version with its outcome.
        engine.record_flow_version(flow).await?;
    }
    let trigger = engine.commerce().event_view(event).await?;
    let host = RunHost {
        engine,
        steps: Steps {
            store: engine.store(),
            clock: &engine.clock,
            run_id,
            observer: &*engine.health,
            lease,
        },
        event,
        trigger: &trigger,
    };
    let run = Run {
        id: run_id,
        event_id: event.id,
        event_type: &event.event_type,
        event: &trigger,
    };
    interpreter::execute(flow, &host, &run).await
}

/// One run's host.
struct RunHost<'a> {
    engine: &'a Engine,
    steps: Steps<'a>,
    event: &'a InboxEvent,
    /// What mappings see as `event`, as read when the run began.
    trigger: &'a Value,
}

impl Host for RunHost<'_> {
    fn run_facts(&self) -> Map<String, Value> {
        let engine = self.engine;
        let connectors = engine.connectors();
        let mut facts = Map::new();
        facts.insert("now_ms".into(), json!(engine.clock.now_ms()));
        facts.insert(
            "today".into(),
            json!(engine.clock.today_in(&connectors.books_time_zone)),
        );
        facts.insert("connected".into(), connectors.connected());
        facts.insert(
            "books".into(),
            json!({
                "organization_id": connectors.books.organization_id(),
                "currency": connectors.books_currency.code(),
                "time_zone": connectors.books_time_zone,
            }),
        );
        facts
    }

    async fn act(&self, step: StepCall<'_>, input: Value) -> (Result<Value, StepError>, u32) {
        let Some(action) = paybridge_actions::actions().get(step.action.name) else {
            let error = StepError::permanent(
                "engine",
                format!("no action {} can run here", step.action.name),
            );
            return (Err(error), 1);
        };
        let call = |attempt| Call {
            env: self.engine.env(),
            run_id: self.steps.run_id,
            step: step.step,
            attempt,
            key: step.key,
            event: self.event,
            trigger: self.trigger,
        };
        if step.action.effect == Effect::RecordsItsOwnStep {
            let once = Attempt {
                number: 1,
                uncertain: false,
            };
            let result = self
                .steps
                .own_step(step.step, step.key, input, |input| async move {
                    action.execute(&call(once), input).await
                })
                .await;
            return (result, 1);
        }
        let attempts = AtomicU32::new(0);
        let result = self
            .steps
            .step(step.step, step.key, input, |attempt, input| {
                attempts.store(attempt.number, Ordering::Relaxed);
                let call = call(attempt);
                async move { action.execute(&call, input).await }
            })
            .await;
        (result, attempts.load(Ordering::Relaxed))
    }
}
