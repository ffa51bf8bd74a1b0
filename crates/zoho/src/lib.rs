//! Zoho client.
//!
//! - [`oauth`]: data centres, the refresh-token grant, and the access-token cache that refreshes
//!   once, early, and never in a storm (reference zoho.md §1, pitfall 1).
//! - [`client`]: the authenticated transport shared by every Zoho product, with the
//!   refresh-and-retry-once rule on 401 and call accounting.
//! - [`books`]: Zoho Books v3 contacts, invoices and customer payments (§2).
//! - [`quota`]: per-organization budgets that requests wait for instead of drawing 429s.
//! - [`error`]: failures classified for the engine; any non-zero Books `code` is an error.

pub mod books;
pub mod client;
pub mod error;
pub mod oauth;
pub mod quota;

pub use books::Books;
pub use client::{Client, ClientConfig};
pub use error::Error;
pub use oauth::{DataCentre, OAuthCredentials};
