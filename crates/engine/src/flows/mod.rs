//! The flows the engine runs. Each is a sequence of memoized steps over one inbox event.
//!
//! - Flow files ([`definition`]): the merchant's YAML — trigger, steps from the [`catalogue`],
//!   mappings — compiled once per version, kept in a [`library`], run by the [`interpreter`].
//!   The shipped templates (order to cash, …) are flow files. Versions are recorded and
//!   deployed per environment, and promoted from one to the next ([`deploy`]).
//! - Built-in flows ([`Flow`]): the engine's own work — resolving lost payments, Cybersource
//!   events about them, and the scheduled jobs.

pub mod catalogue;
pub mod customer_tokens;
pub mod cybersource_actions;
pub mod cybersource_event;
pub mod definition;
pub mod deploy;
pub mod edit;
pub mod interpreter;
pub mod library;
pub mod maintenance;
pub mod payment_resolution;
pub mod preview;
pub mod view;
pub mod zoho_books_event;

use crate::Engine;
use crate::error::StepError;
use crate::runtime::RunContext;
use crate::store::InboxEvent;

/// The engine's built-in flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// A payment whose answer never came → looked up, adopted or voided.
    PaymentResolution,
    /// A Cybersource webhook → what it means for its order.
    CybersourceEvent,
    /// A Zoho Books webhook → what it means for paybridge's orders (credit notes: refunds).
    ZohoBooksEvent,
    /// Retention: finished history pruned (scheduled).
    Prune,
    /// The Zoho access token refreshed ahead of its expiry, off any request's path (scheduled).
    ZohoTokenRefresh,
    /// Payments whose request died, looked up (scheduled, besides the watchdog's own beat).
    PaymentWatchdog,
}

impl Flow {
    pub const ALL: [Flow; 6] = [
        Flow::PaymentResolution,
        Flow::CybersourceEvent,
        Flow::ZohoBooksEvent,
        Flow::Prune,
        Flow::ZohoTokenRefresh,
        Flow::PaymentWatchdog,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Flow::PaymentResolution => "payment-resolution",
            Flow::CybersourceEvent => "cybersource-event",
            Flow::ZohoBooksEvent => "zoho-books-event",
            Flow::Prune => "prune",
            Flow::ZohoTokenRefresh => "zoho-token-refresh",
            Flow::PaymentWatchdog => "payment-watchdog",
        }
    }

    pub fn parse(name: &str) -> Option<Flow> {
        Flow::ALL.into_iter().find(|f| f.name() == name)
    }

    pub async fn execute(self, ctx: &RunContext<'_>, event: &InboxEvent) -> Result<(), StepError> {
        match self {
            Flow::PaymentResolution => payment_resolution::execute(ctx, event).await,
            Flow::CybersourceEvent => cybersource_event::execute(ctx, event).await,
            Flow::ZohoBooksEvent => zoho_books_event::execute(ctx, event).await,
            Flow::Prune => maintenance::prune(ctx).await,
            Flow::ZohoTokenRefresh => maintenance::zoho_token_refresh(ctx).await,
            Flow::PaymentWatchdog => maintenance::payment_watchdog(ctx).await,
        }
    }

    /// What the flow records when a run of it is dead-lettered.
    pub async fn on_dead_letter(self, engine: &Engine, event: &InboxEvent, error: &StepError) {
        match self {
            // The order stays `payment_unknown`, with the dead run saying why it could not be
            // resolved; replaying the run tries again.
            Flow::PaymentResolution => {
                tracing::error!(event = event.id, %error, "a lost payment could not be resolved");
                engine.notify_progress();
            }
            Flow::CybersourceEvent => {
                tracing::error!(event = event.id, %error, "a Cybersource event could not be processed");
            }
            Flow::ZohoBooksEvent => {
                tracing::error!(event = event.id, %error, "a Zoho Books event could not be processed");
            }
            Flow::Prune | Flow::ZohoTokenRefresh | Flow::PaymentWatchdog => {
                tracing::error!(event = event.id, flow = self.name(), %error, "a scheduled job failed for good");
            }
        }
    }
}
