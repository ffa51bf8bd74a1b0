//! Zoho Desk: tickets opened (found again by the step's key, kept in a custom field) and
//! changed.

use paybridge_flows::spec::{ActionSpec, Effect, Recovery, Type, opt, out, req};
use paybridge_model::StepError;
use paybridge_zoho::desk::{NewTicket, Ticket, TicketUpdate};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::input::{read, short_id};
use crate::{Action, Call, Runnable};

/// The Desk actions.
pub static ACTIONS: &[&dyn Runnable] = &[&TicketCreate, &TicketUpdateAction];

/// The Desk custom field that carries a ticket's paybridge key.
pub const DESK_KEY_FIELD: &str = "cf_paybridge_key";

fn ticket_output(t: &Ticket) -> Value {
    json!({"ticket_id": t.id, "ticket_number": t.ticket_number, "web_url": t.web_url})
}

/// `zoho-desk.ticket.create`.
pub struct TicketCreate;

impl Action for TicketCreate {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "zoho-desk.ticket.create",
        summary: "open a Desk ticket (found by its paybridge key on retry)",
        fields: Some(&[
            req("subject"),
            opt("departmentId"),
            opt("department"),
            opt("contactId"),
            opt("contact"),
            opt("description"),
            opt("email"),
            opt("priority"),
            opt("status"),
            opt("classification"),
            opt("channel"),
            opt("category"),
            opt("cf"),
        ]),
        outputs: &[
            out("ticket_id", Type::Text),
            out("ticket_number", Type::Text),
            out("web_url", Type::Text),
        ],
        effect: Effect::Call,
        recovery: Recovery::LookedUp(
            "the ticket carrying the step's key in its cf_paybridge_key field is looked up first",
        ),
    };
    type Input = Value;

    async fn run(&self, call: &Call<'_>, input: Value) -> Result<Value, StepError> {
        let desk = call.env.connectors.desk()?;
        let input = with_department_id(desk, input).await?;
        let mut ticket: NewTicket = read(Self::SPEC, input)?;
        // Desk has no idempotency key: the step's own key, in a custom field, finds the ticket
        // an earlier attempt opened.
        let marker = short_id(call.key);
        ticket
            .cf
            .insert(DESK_KEY_FIELD.into(), Value::String(marker.clone()));
        if call.attempt.uncertain
            && let Some(found) = desk
                .find_tickets_by_custom_field(DESK_KEY_FIELD, &marker)
                .await?
                .into_iter()
                .next()
        {
            return Ok(ticket_output(&found));
        }
        Ok(ticket_output(&desk.create_ticket(&ticket).await?))
    }
}

#[derive(Deserialize)]
pub struct TicketChange {
    #[serde(default)]
    ticket_id: Option<String>,
    /// The key of the step that opened the ticket, instead of its id.
    #[serde(default)]
    ticket_key: Option<String>,
    #[serde(flatten)]
    change: TicketUpdate,
}

/// `zoho-desk.ticket.update`.
pub struct TicketUpdateAction;

impl Action for TicketUpdateAction {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "zoho-desk.ticket.update",
        summary: "change a Desk ticket's fields",
        fields: Some(&[
            opt("ticket_id"),
            opt("ticket_key"),
            opt("subject"),
            opt("description"),
            opt("status"),
            opt("priority"),
            opt("assigneeId"),
            opt("cf"),
        ]),
        outputs: &[out("done", Type::Boolean)],
        effect: Effect::Call,
        recovery: Recovery::Repeatable,
    };
    type Input = TicketChange;

    async fn run(&self, call: &Call<'_>, input: TicketChange) -> Result<Value, StepError> {
        let TicketChange {
            ticket_id,
            ticket_key,
            change,
        } = input;
        let desk = call.env.connectors.desk()?;
        let ticket_id = match (ticket_id, ticket_key) {
            (Some(id), _) => id,
            // The ticket a step with this key opened.
            (None, Some(key)) => {
                match desk
                    .find_tickets_by_custom_field(DESK_KEY_FIELD, &short_id(&key))
                    .await?
                    .into_iter()
                    .next()
                {
                    Some(ticket) => ticket.id,
                    None => return Ok(json!({"done": false, "found": false})),
                }
            }
            (None, None) => {
                return Err(StepError::permanent(
                    "engine",
                    "zoho-desk.ticket.update needs `ticket_id` or `ticket_key`",
                ));
            }
        };
        // Setting the same fields again is harmless.
        desk.update_ticket(&ticket_id, &change).await?;
        Ok(json!({"done": true}))
    }
}

/// A ticket's `department` (by name) as the `departmentId` Desk needs.
async fn with_department_id(
    desk: &paybridge_zoho::Desk,
    mut input: Value,
) -> Result<Value, StepError> {
    let Some(fields) = input.as_object_mut() else {
        return Ok(input);
    };
    let name = fields.remove("department");
    if fields.contains_key("departmentId") {
        return Ok(input);
    }
    let Some(name) = name.as_ref().and_then(Value::as_str) else {
        return Err(StepError::permanent(
            "engine",
            "zoho-desk.ticket.create needs `departmentId` or `department` (its name)",
        ));
    };
    let departments = desk.departments().await?;
    let found = departments
        .iter()
        .find(|d| d.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            let known: Vec<&str> = departments.iter().map(|d| d.name.as_str()).collect();
            StepError::permanent(
                "zoho-desk",
                format!(
                    "Desk has no department {name:?} (it has {})",
                    known.join(", ")
                ),
            )
        })?;
    fields.insert("departmentId".into(), Value::String(found.id.clone()));
    Ok(input)
}
