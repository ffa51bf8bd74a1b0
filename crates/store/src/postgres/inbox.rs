//! The inbox: every input committed before it is acknowledged, once per dedupe key. (postgres)

use super::{PostgresStore, insert_run};
use crate::error::StoreError;
use crate::inbox::{Accepted, InboxEvent, InboxStore, NewEvent};
use crate::rows::inbox_event_from_row;
use crate::runs::NewRun;

impl InboxStore for PostgresStore {
    async fn accept_event(
        &self,
        event: &NewEvent,
        flows: &[&str],
        now: i64,
    ) -> Result<Accepted, StoreError> {
        let mut tx = self.begin().await?;
        let pruned: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM inbox_seen WHERE dedupe_key = $1")
                .bind(&event.dedupe_key)
                .fetch_optional(&mut *tx)
                .await?;
        if pruned.is_some() {
            tx.commit().await?;
            return Ok(Accepted {
                event_id: None,
                duplicate: true,
            });
        }
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO inbox (source, dedupe_key, event_type, entity_key, payload, received_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
        )
        .bind(&event.source)
        .bind(&event.dedupe_key)
        .bind(&event.event_type)
        .bind(&event.entity_key)
        .bind(event.payload.to_string())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = inserted else {
            let id: i64 = sqlx::query_scalar("SELECT id FROM inbox WHERE dedupe_key = $1")
                .bind(&event.dedupe_key)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(Accepted {
                event_id: Some(id),
                duplicate: true,
            });
        };
        for flow in flows {
            let run = NewRun {
                inbox_id: id,
                flow: (*flow).to_string(),
                entity_key: event.entity_key.clone(),
                not_before: None,
            };
            insert_run(&mut tx, &run, now).await?;
        }
        tx.commit().await?;
        Ok(Accepted {
            event_id: Some(id),
            duplicate: false,
        })
    }

    async fn inbox_event(&self, id: i64) -> Result<InboxEvent, StoreError> {
        let row = sqlx::query(
            "SELECT id, source, dedupe_key, event_type, entity_key, payload, received_at FROM inbox WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("inbox event {id}")))?;
        inbox_event_from_row(&row)
    }
}
