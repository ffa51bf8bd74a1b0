//! The inbox: every input committed before it is acknowledged, once per dedupe key. (sqlite)

use super::{SqliteStore, atomic, insert_event, insert_run, one, scalar};
use crate::error::StoreError;
use crate::inbox::{Accepted, InboxEvent, InboxStore, NewEvent};
use crate::rows::inbox_event_from_row;
use crate::runs::NewRun;

impl InboxStore for SqliteStore {
    async fn accept_event(
        &self,
        event: &NewEvent,
        flows: &[&str],
        now: i64,
    ) -> Result<Accepted, StoreError> {
        let event = event.clone();
        let flows: Vec<String> = flows.iter().map(|f| (*f).to_string()).collect();
        self.write(move |conn| {
            atomic(conn, |conn| {
                let pruned: Option<i64> = scalar(
                    conn,
                    "SELECT 1 FROM inbox_seen WHERE dedupe_key = ?",
                    [&event.dedupe_key],
                )?;
                if pruned.is_some() {
                    return Ok(Accepted {
                        event_id: None,
                        duplicate: true,
                    });
                }
                let Some(id) = insert_event(conn, &event, now)? else {
                    let id: i64 = scalar(
                        conn,
                        "SELECT id FROM inbox WHERE dedupe_key = ?",
                        [&event.dedupe_key],
                    )?
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!("inbox event {:?} vanished", event.dedupe_key))
                    })?;
                    return Ok(Accepted {
                        event_id: Some(id),
                        duplicate: true,
                    });
                };
                for flow in flows {
                    let run = NewRun {
                        inbox_id: id,
                        flow,
                        entity_key: event.entity_key.clone(),
                        not_before: None,
                    };
                    insert_run(conn, &run, now)?;
                }
                Ok(Accepted {
                    event_id: Some(id),
                    duplicate: false,
                })
            })
        })
        .await
    }

    async fn inbox_event(&self, id: i64) -> Result<InboxEvent, StoreError> {
        self.read(|conn| {
            one(
                conn,
                "SELECT id, source, dedupe_key, event_type, entity_key, payload, received_at FROM inbox WHERE id = ?",
                [id],
                |row| inbox_event_from_row(row),
            )
        })?
        .ok_or_else(|| StoreError::NotFound(format!("inbox event {id}")))
    }
}
