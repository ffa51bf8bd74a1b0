//! The engine's own services a run can name besides flow files: the commerce services' reading
//! of vendors' events and the resolution of payments whose answer was lost. (Periodic
//! housekeeping is in [`crate::jobs`].)

use crate::jobs::Job;

/// The names a run can carry besides flow files: the engine's services and jobs.
pub fn built_in_names() -> impl Iterator<Item = &'static str> {
    Service::ALL
        .into_iter()
        .map(Service::name)
        .chain(Job::ALL.into_iter().map(Job::name))
}

/// The engine's built-in services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// A payment whose answer never came → looked up, adopted or voided.
    PaymentResolution,
    /// A Cybersource webhook → what it means for its order.
    CybersourceEvent,
    /// A Zoho Books webhook → what it means for paybridge's orders (credit notes: refunds).
    ZohoBooksEvent,
}

impl Service {
    pub const ALL: [Service; 3] = [
        Service::PaymentResolution,
        Service::CybersourceEvent,
        Service::ZohoBooksEvent,
    ];

    /// The services that call Cybersource alone — a lost payment's look-up, a webhook's
    /// meaning — run on workers of their own (`[engine] payment_workers`), so that a customer
    /// waiting on a payment never waits behind work held up by Zoho's budget.
    pub const PAYMENT_LANE: [&'static str; 2] = [
        paybridge_commerce::payments::RESOLUTION_RUN,
        "cybersource-event",
    ];

    pub fn name(self) -> &'static str {
        match self {
            Service::PaymentResolution => paybridge_commerce::payments::RESOLUTION_RUN,
            Service::CybersourceEvent => "cybersource-event",
            Service::ZohoBooksEvent => "zoho-books-event",
        }
    }

    pub fn parse(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|f| f.name() == name)
    }
}
