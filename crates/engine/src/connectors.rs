//! The connections a running engine uses.

use paybridge_model::Currency;

/// The vendor clients, configured for one merchant.
#[derive(Debug, Clone)]
pub struct Connectors {
    pub cybersource: paybridge_cybersource::Client,
    pub zoho: paybridge_zoho::Client,
    pub books: paybridge_zoho::Books,
    /// The Zoho Books organization's base currency. Orders in another currency are refused
    /// by the Zoho side until exchange rates are supported.
    pub books_currency: Currency,
}

impl Connectors {
    /// The system name under which Zoho Books cross-references are kept (per organization).
    pub fn books_system(&self) -> String {
        format!("zoho-books:{}", self.books.organization_id())
    }
}
