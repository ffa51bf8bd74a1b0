//! Events in: verified webhooks, schedule firings and manual starts, each committed to the inbox
//! with the runs it starts before it is acknowledged (a repeat changes nothing).

use paybridge_flows::{Library, TriggerSource};
use paybridge_store::{Accepted, InboxStore as _, NewEvent, StoreError};
use sha2::Digest as _;

use crate::engine::Engine;
use crate::schedule::Schedule;
use crate::services::Service;

impl Engine {
    /// Commits a verified Cybersource notification to the inbox and queues its processing;
    /// a repeat of one already in (same webhook, resource and event type) changes nothing.
    pub async fn accept_cybersource_event(
        &self,
        dedupe_key: String,
        event_type: String,
        resource: Option<&str>,
        notification: serde_json::Value,
    ) -> Result<Accepted, StoreError> {
        let event = NewEvent {
            source: "cybersource-webhook".into(),
            dedupe_key,
            event_type,
            // Events about one payment are processed in the order they came.
            entity_key: format!("cybersource-payment:{}", resource.unwrap_or("-")),
            payload: notification,
        };
        // The engine's own reading first (what the event means for its order).
        self.accept_triggered(
            &event,
            TriggerSource::Cybersource,
            Some(Service::CybersourceEvent),
        )
        .await
    }

    /// Commits `event` to the inbox with a run of `built_in` (first) and of every flow file its
    /// source and type trigger, and wakes the workers when it is new.
    pub async fn accept_triggered(
        &self,
        event: &NewEvent,
        source: TriggerSource,
        built_in: Option<Service>,
    ) -> Result<Accepted, StoreError> {
        let mut flows: Vec<String> = built_in.map(|f| f.name().to_string()).into_iter().collect();
        flows.extend(
            self.flows()
                .triggered_by(source.inbox_source(), &event.event_type),
        );
        let names: Vec<&str> = flows.iter().map(String::as_str).collect();
        self.accept(event, &names).await
    }

    /// Commits `event` to the inbox with a run of each of `flows`, and wakes the workers when
    /// it is new (a repeat changes nothing).
    pub async fn accept(&self, event: &NewEvent, flows: &[&str]) -> Result<Accepted, StoreError> {
        let accepted = self
            .store()
            .accept_event(event, flows, self.clock.now_ms())
            .await?;
        if !accepted.duplicate {
            self.wake_workers();
        }
        Ok(accepted)
    }

    /// Commits a verified Zoho Books webhook delivery (a module's record) to the inbox as a
    /// `books.<module>` event and queues its processing: the engine's own reading of credit
    /// notes (a refund asked for in Books), then the flow files it triggers. The same delivery
    /// again (byte for byte) changes nothing.
    pub async fn accept_zoho_books_event(
        &self,
        module: &str,
        record: serde_json::Map<String, serde_json::Value>,
        raw: &[u8],
    ) -> Result<Accepted, StoreError> {
        let event_type = format!("books.{module}");
        let id = record
            .get(&format!("{module}_id"))
            .and_then(|v| {
                v.as_str()
                    .map(str::to_string)
                    .or_else(|| v.as_i64().map(|n| n.to_string()))
            })
            .unwrap_or_else(|| "-".into());
        let event = NewEvent {
            source: TriggerSource::Zoho.inbox_source().into(),
            dedupe_key: format!("zoho-books:{}", hex::encode(sha2::Sha256::digest(raw))),
            event_type,
            // Events about one record are processed in the order they came.
            entity_key: format!("zoho-books:{module}:{id}"),
            payload: serde_json::json!({"module": module, "record": record}),
        };
        // Credit notes are read by the engine first: a refund asked for in Books.
        let built_in = (module == "creditnote").then_some(Service::ZohoBooksEvent);
        self.accept_triggered(&event, TriggerSource::Zoho, built_in)
            .await
    }

    /// Commits a verified Zoho CRM notification to the inbox as a `crm.<Module>.<operation>`
    /// event and queues the flows it triggers. The same callback again (byte for byte)
    /// changes nothing.
    pub async fn accept_zoho_crm_event(
        &self,
        notification: &paybridge_zoho::crm::Notification,
        raw: &[u8],
    ) -> Result<Accepted, StoreError> {
        let event_type = format!("crm.{}.{}", notification.module, notification.operation);
        let event = NewEvent {
            source: TriggerSource::Zoho.inbox_source().into(),
            dedupe_key: format!("zoho-crm:{}", hex::encode(sha2::Sha256::digest(raw))),
            event_type,
            entity_key: format!(
                "zoho-crm:{}:{}",
                notification.module,
                notification.ids.first().map(String::as_str).unwrap_or("-")
            ),
            payload: serde_json::to_value(notification).unwrap_or_default(),
        };
        self.accept_triggered(&event, TriggerSource::Zoho, None)
            .await
    }

    /// Commits one event of a verified Zoho Desk webhook delivery as a `desk.<eventType>` event
    /// (`desk.Ticket_Update`) and queues the flows it triggers; the same event again changes
    /// nothing.
    pub async fn accept_zoho_desk_event(
        &self,
        event: &paybridge_zoho::desk::Event,
    ) -> Result<Accepted, StoreError> {
        let event_type = format!("desk.{}", event.event_type);
        let payload = serde_json::to_value(event).unwrap_or_default();
        let id = event.payload["id"]
            .as_str()
            .map(str::to_string)
            .or_else(|| event.payload["id"].as_i64().map(|n| n.to_string()))
            .unwrap_or_else(|| "-".into());
        let new = NewEvent {
            source: TriggerSource::Zoho.inbox_source().into(),
            dedupe_key: format!(
                "zoho-desk:{}",
                hex::encode(sha2::Sha256::digest(payload.to_string().as_bytes()))
            ),
            event_type,
            entity_key: format!("zoho-desk:{id}"),
            payload,
        };
        self.accept_triggered(&new, TriggerSource::Zoho, None).await
    }

    /// Starts a flow whose trigger is `manual` on `event` (any JSON object: the run's `event`),
    /// once per `key` however often it is asked. Refuses a flow that is not manual.
    pub async fn start_manual(
        &self,
        flow: &str,
        key: &str,
        event: serde_json::Value,
    ) -> Result<Accepted, ManualError> {
        let new = manual_event(&self.flows(), flow, key, event)?;
        self.accept(&new, &[flow]).await.map_err(ManualError::Store)
    }

    /// Offers one firing of a schedule to the inbox (duplicates from other nodes collapse).
    pub async fn fire_schedule(
        &self,
        entry: &Schedule,
        at_ms: i64,
    ) -> Result<Accepted, StoreError> {
        let event = NewEvent {
            source: "schedule".into(),
            dedupe_key: format!("schedule:{}:{at_ms}", entry.name),
            event_type: "schedule.fired".into(),
            entity_key: format!("schedule:{}", entry.name),
            payload: serde_json::json!({"schedule": entry.name, "cron": entry.cron, "at_ms": at_ms}),
        };
        self.accept(&event, &[entry.flow.as_str()]).await
    }
}

/// The inbox event that starts manual flow `flow` of `library` on `event`, once per `key`
/// (the CLI commits it to the store for the serving nodes; [`Engine::start_manual`] for itself).
pub fn manual_event(
    library: &Library,
    flow: &str,
    key: &str,
    event: serde_json::Value,
) -> Result<NewEvent, ManualError> {
    let Some(definition) = library.get(flow) else {
        return Err(ManualError::NoFlow(flow.to_string()));
    };
    if definition.source != TriggerSource::Manual {
        return Err(ManualError::NotManual(flow.to_string()));
    }
    if !event.is_object() {
        return Err(ManualError::Event("the event must be a JSON object".into()));
    }
    if !paybridge_model::pan::find_in_json(&event).is_empty() {
        return Err(ManualError::Event(
            "the event carries a card number; paybridge stores none".into(),
        ));
    }
    let key = key.trim();
    if key.is_empty() || key.len() > 255 {
        return Err(ManualError::Event(
            "the key must be 1 to 255 characters".into(),
        ));
    }
    Ok(NewEvent {
        source: "manual".into(),
        dedupe_key: format!("manual:{flow}:{key}"),
        event_type: "manual".into(),
        entity_key: format!("manual:{flow}:{key}"),
        payload: event,
    })
}

/// Why a manual run was not started.
#[derive(Debug, thiserror::Error)]
pub enum ManualError {
    #[error("there is no flow {0:?}")]
    NoFlow(String),
    #[error("flow {0:?} is not started by hand (its trigger's source is not manual)")]
    NotManual(String),
    #[error("{0}")]
    Event(String),
    #[error(transparent)]
    Store(StoreError),
}
