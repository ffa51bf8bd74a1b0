//! The connections a running engine uses.

use paybridge_model::Currency;

use crate::error::StepError;

/// The vendor clients, configured for one merchant. Zoho Books is always connected; Inventory,
/// CRM and Desk, and storefront callbacks, only when the merchant uses them (flows check
/// `run.connected.*`).
#[derive(Debug, Clone)]
pub struct Connectors {
    pub cybersource: paybridge_cybersource::Client,
    pub zoho: paybridge_zoho::Client,
    pub books: paybridge_zoho::Books,
    /// The Zoho Books organization's base currency.
    pub books_currency: Currency,
    pub inventory: Option<paybridge_zoho::Inventory>,
    pub crm: Option<paybridge_zoho::Crm>,
    pub desk: Option<paybridge_zoho::Desk>,
    /// Where order state changes are called back, signed.
    pub storefront: Option<crate::storefront::Storefront>,
}

impl Connectors {
    /// Cybersource and Zoho Books only.
    pub fn new(
        cybersource: paybridge_cybersource::Client,
        zoho: paybridge_zoho::Client,
        books: paybridge_zoho::Books,
        books_currency: Currency,
    ) -> Connectors {
        Connectors {
            cybersource,
            zoho,
            books,
            books_currency,
            inventory: None,
            crm: None,
            desk: None,
            storefront: None,
        }
    }

    /// The system name under which Zoho Books cross-references are kept (per organization).
    pub fn books_system(&self) -> String {
        format!("zoho-books:{}", self.books.organization_id())
    }

    pub fn inventory(&self) -> Result<&paybridge_zoho::Inventory, StepError> {
        self.inventory
            .as_ref()
            .ok_or_else(|| not_connected("Zoho Inventory", "inventory = true"))
    }

    pub fn crm(&self) -> Result<&paybridge_zoho::Crm, StepError> {
        self.crm
            .as_ref()
            .ok_or_else(|| not_connected("Zoho CRM", "crm = true"))
    }

    pub fn desk(&self) -> Result<&paybridge_zoho::Desk, StepError> {
        self.desk
            .as_ref()
            .ok_or_else(|| not_connected("Zoho Desk", "desk_org_id = \"…\""))
    }

    pub fn storefront(&self) -> Result<&crate::storefront::Storefront, StepError> {
        self.storefront.as_ref().ok_or_else(|| {
            StepError::permanent(
                "engine",
                "the storefront has no callback URL: set `callback_url` in the [storefront] section, or guard the step with `when`",
            )
        })
    }

    /// Which optional products are connected, as flows see it (`run.connected`).
    pub fn connected(&self) -> serde_json::Value {
        serde_json::json!({
            "books": true,
            "inventory": self.inventory.is_some(),
            "crm": self.crm.is_some(),
            "desk": self.desk.is_some(),
            "storefront": self.storefront.is_some(),
        })
    }
}

fn not_connected(product: &str, setting: &str) -> StepError {
    StepError::permanent(
        "engine",
        format!(
            "{product} is not connected: set `{setting}` in the [zoho] section, or guard the step with `when`"
        ),
    )
}
