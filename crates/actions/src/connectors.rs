//! The connections a running engine uses.

use paybridge_model::Currency;

use paybridge_model::StepError;

/// The connections paybridge talks to, by the name the admin API uses.
pub const CONNECTIONS: [&str; 3] = ["cybersource", "zoho", "storefront"];

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
    /// The organization's time zone (IANA): flows' `run.today` is its date there.
    pub books_time_zone: String,
    pub inventory: Option<paybridge_zoho::Inventory>,
    pub crm: Option<paybridge_zoho::Crm>,
    pub desk: Option<paybridge_zoho::Desk>,
    /// Where order state changes are called back, signed.
    pub storefront: Option<crate::storefront::Storefront>,
    /// E-mail to customers (`[email]`).
    pub mailer: Option<crate::email::Mailer>,
    /// Flows' `http` steps, with the credentials of `[[http.auth]]` by name.
    pub http: crate::http::HttpConnections,
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
            books_time_zone: "UTC".into(),
            inventory: None,
            crm: None,
            desk: None,
            storefront: None,
            mailer: None,
            http: crate::http::HttpConnections::default(),
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

    pub fn mailer(&self) -> Result<&crate::email::Mailer, StepError> {
        self.mailer.as_ref().ok_or_else(|| {
            StepError::permanent(
                "engine",
                "e-mail is not set up: add an [email] section (an SMTP relay and a from address), or guard the step with `when: run.connected.email`",
            )
        })
    }

    /// Calls `connection` once to see that it answers and takes the credentials, changing
    /// nothing: Cybersource looks up a transaction that cannot exist (a 404 proves the
    /// request was authenticated), Zoho lists the Books organization's currencies (a token
    /// refresh if needed, and one API call), the storefront gets a signed `paybridge.test`
    /// callback. Returns what was seen, in words.
    pub async fn test(&self, connection: &str, now_ms: i64) -> Result<String, String> {
        match connection {
            "cybersource" => match self.cybersource.transaction("0").await {
                Ok(_) | Err(paybridge_cybersource::Error::NotFound { .. }) => Ok(format!(
                    "Cybersource accepted the credentials of merchant {}",
                    self.cybersource.merchant_id()
                )),
                Err(e) => Err(e.to_string()),
            },
            "zoho" => match self.books.currencies().await {
                Ok(currencies) => Ok(format!(
                    "Zoho Books answered for organization {} ({} currencies)",
                    self.books.organization_id(),
                    currencies.len()
                )),
                Err(e) => Err(e.to_string()),
            },
            "storefront" => {
                let storefront = self.storefront().map_err(|e| e.message)?;
                let delivery = format!("test-{now_ms}");
                let body = serde_json::json!({"event": "paybridge.test", "delivery": delivery});
                match storefront.deliver(&delivery, &body, now_ms).await {
                    Ok(status) => Ok(format!(
                        "the storefront took a signed test callback (HTTP {status})"
                    )),
                    Err(e) => Err(e.to_string()),
                }
            }
            other => Err(format!(
                "there is no connection {other:?} (there are: {})",
                CONNECTIONS.join(", ")
            )),
        }
    }

    /// Which optional products are connected, as flows see it (`run.connected`).
    pub fn connected(&self) -> serde_json::Value {
        serde_json::json!({
            "books": true,
            "inventory": self.inventory.is_some(),
            "crm": self.crm.is_some(),
            "desk": self.desk.is_some(),
            "storefront": self.storefront.is_some(),
            "email": self.mailer.is_some(),
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
