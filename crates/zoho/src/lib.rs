//! Zoho client.
//!
//! - [`oauth`]: data centres, the refresh-token grant, and the access-token cache that refreshes
//!   once, early, and never in a storm (reference zoho.md §1, pitfall 1).
//! - [`client`]: the authenticated transport shared by every Zoho product, with the
//!   refresh-and-retry-once rule on 401 and call accounting.
//! - [`books`]: Zoho Books v3 (§2): contacts, items, invoices, customer payments and refunds,
//!   credit notes, sales orders, currencies and exchange rates; upserts by a unique custom field.
//! - [`quota`]: per-organization budgets that requests wait for instead of drawing 429s.
//! - [`inventory`]: Zoho Inventory v1 (§3): sales orders, items and stock, packages, shipments.
//! - [`crm`]: Zoho CRM v8 (§4): batched writes with per-record results, upserts, search, COQL,
//!   notification channels.
//! - [`desk`]: Zoho Desk v1 (§5): tickets, comments, contacts, departments, webhooks.
//! - [`webhooks`]: verification of Zoho Books workflow webhooks (secret token or signature).
//! - [`error`]: failures classified for the engine; any non-zero Books `code` is an error.

pub mod books;
pub mod client;
pub mod crm;
pub mod desk;
pub mod error;
mod finance;
pub mod inventory;
mod number;
pub mod oauth;
pub mod quota;
pub mod webhooks;

pub use books::Books;
pub use client::{Client, ClientConfig};
pub use crm::Crm;
pub use desk::Desk;
pub use error::Error;
pub use inventory::Inventory;
pub use oauth::{
    Accounts, Connection, Coordination, DataCentre, OAuthCredentials, RefreshLock, TokenKey,
};
