//! Jobs: the engine's own periodic housekeeping — pruning history, keeping the Zoho access token
//! fresh, looking up payments whose request died — run as runs so that schedules fire them like
//! any flow (listed, retried, dead-lettered), and the CRM notification channel kept alive.

pub mod crm_channel;

/// The engine's jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// Retention: finished history pruned (scheduled).
    Prune,
    /// The Zoho access token refreshed ahead of its expiry, off any request's path (scheduled).
    ZohoTokenRefresh,
    /// Payments whose request died, looked up (scheduled, besides the watchdog's own beat).
    PaymentWatchdog,
}

impl Job {
    pub const ALL: [Job; 3] = [Job::Prune, Job::ZohoTokenRefresh, Job::PaymentWatchdog];

    pub fn name(self) -> &'static str {
        match self {
            Job::Prune => "prune",
            Job::ZohoTokenRefresh => "zoho-token-refresh",
            Job::PaymentWatchdog => "payment-watchdog",
        }
    }

    pub fn parse(name: &str) -> Option<Job> {
        Job::ALL.into_iter().find(|j| j.name() == name)
    }
}
