//! The flows the engine runs. Each is a sequence of memoized steps over one inbox event.
//!
//! Flows are code for now; the declarative (YAML) layer will compile to the same steps.

pub mod cybersource_event;
pub mod maintenance;
pub mod order_to_cash;
pub mod payment_resolution;

use crate::Engine;
use crate::error::StepError;
use crate::runtime::RunContext;
use crate::store::InboxEvent;

/// Every flow the engine knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// A paid order → Zoho Books contact, invoice, customer payment applied to it.
    OrderToCash,
    /// A payment whose answer never came → looked up, adopted or voided.
    PaymentResolution,
    /// A Cybersource webhook → what it means for its order.
    CybersourceEvent,
    /// Retention: finished history pruned (scheduled).
    Prune,
    /// The Zoho access token refreshed ahead of its expiry, off any request's path (scheduled).
    ZohoTokenRefresh,
    /// Payments whose request died, looked up (scheduled, besides the watchdog's own beat).
    PaymentWatchdog,
}

impl Flow {
    pub const ALL: [Flow; 6] = [
        Flow::OrderToCash,
        Flow::PaymentResolution,
        Flow::CybersourceEvent,
        Flow::Prune,
        Flow::ZohoTokenRefresh,
        Flow::PaymentWatchdog,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Flow::OrderToCash => "order-to-cash",
            Flow::PaymentResolution => "payment-resolution",
            Flow::CybersourceEvent => "cybersource-event",
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
            Flow::OrderToCash => order_to_cash::execute(ctx, event).await,
            Flow::PaymentResolution => payment_resolution::execute(ctx, event).await,
            Flow::CybersourceEvent => cybersource_event::execute(ctx, event).await,
            Flow::Prune => maintenance::prune(ctx).await,
            Flow::ZohoTokenRefresh => maintenance::zoho_token_refresh(ctx).await,
            Flow::PaymentWatchdog => maintenance::payment_watchdog(ctx).await,
        }
    }

    /// What the flow records when a run of it is dead-lettered.
    pub async fn on_dead_letter(self, engine: &Engine, event: &InboxEvent, error: &StepError) {
        match self {
            Flow::OrderToCash => order_to_cash::on_dead_letter(engine, event, error).await,
            // The order stays `payment_unknown`, with the dead run saying why it could not be
            // resolved; replaying the run tries again.
            Flow::PaymentResolution => {
                tracing::error!(event = event.id, %error, "a lost payment could not be resolved");
                engine.notify_progress();
            }
            Flow::CybersourceEvent => {
                tracing::error!(event = event.id, %error, "a Cybersource event could not be processed");
            }
            Flow::Prune | Flow::ZohoTokenRefresh | Flow::PaymentWatchdog => {
                tracing::error!(event = event.id, flow = self.name(), %error, "a scheduled job failed for good");
            }
        }
    }
}
