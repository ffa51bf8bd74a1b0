//! Zoho CRM v8 (zoho.md §4): records of any module by their API field names, written up to 100
//! a call with a result per record, upserts with `duplicate_check_fields`, search (204 means
//! none, and a record just written may not be found yet) and COQL (which finds it), and
//! notification channels (`actions/watch`) with the verification of their callbacks.
//!
//! A write spends one credit per ten records; everything else one. `DUPLICATE_DATA` names the
//! existing record, which is as good as having written it.

use http::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq as _;

use crate::client::to_value;
use crate::client::{Answer, Call, Client, Host, Meter};
use crate::error::Error;
use crate::quota::{CrmPlan, Product};

/// A CRM record: field API names to values (`Last_Name`, `Email`, `Account_Name: {"id"}`).
pub type Record = Map<String, Value>;

/// The most records CRM takes in one call.
pub const BATCH: usize = 100;

/// Zoho CRM for one organization.
#[derive(Debug, Clone)]
pub struct Crm {
    client: Client,
    organization: String,
}

/// One record's result in a write.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct RecordResult {
    pub code: String,
    pub status: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub details: Map<String, Value>,
    /// Upserts: `insert` or `update`.
    #[serde(default)]
    pub action: Option<String>,
    /// Upserts: the field that found the existing record.
    #[serde(default)]
    pub duplicate_field: Option<String>,
}

/// What happened to one record.
#[derive(Debug)]
pub enum Written {
    Inserted(String),
    Updated(String),
    /// Refused as a duplicate of this existing record: the record is there.
    Duplicate(String),
    Failed(Error),
}

impl RecordResult {
    /// The record's fate, with `DUPLICATE_DATA` resolved to the existing record.
    pub fn written(&self) -> Written {
        let id = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        if self.status == "success" {
            let Some(record_id) = id(self.details.get("id")) else {
                return Written::Failed(self.error());
            };
            return match self.action.as_deref() {
                Some("update") => Written::Updated(record_id),
                Some("insert") => Written::Inserted(record_id),
                _ if self.message == "record updated" => Written::Updated(record_id),
                _ => Written::Inserted(record_id),
            };
        }
        if self.code == "DUPLICATE_DATA" {
            let existing = id(self
                .details
                .get("duplicate_record")
                .and_then(|d| d.get("id")))
            .or_else(|| id(self.details.get("id")));
            if let Some(existing) = existing {
                return Written::Duplicate(existing);
            }
        }
        Written::Failed(self.error())
    }

    /// The record's id when it was written or already there.
    pub fn id(&self) -> Option<String> {
        match self.written() {
            Written::Inserted(id) | Written::Updated(id) | Written::Duplicate(id) => Some(id),
            Written::Failed(_) => None,
        }
    }

    fn error(&self) -> Error {
        Error::Api {
            product: "CRM",
            status: 400,
            code: self.code.clone(),
            message: self.message.clone(),
            details: Value::Object(self.details.clone()),
            write: true,
        }
    }
}

/// How to search (§4.3); criteria take `((Field:operator:value)and(…))`, see [`criteria`].
#[derive(Debug, Clone)]
pub enum Search {
    Criteria(String),
    Email(String),
    Phone(String),
    Word(String),
}

/// One `(field:operator:value)` condition, with CRM's escaping of `(`, `)`, `,` and `\`.
pub fn criteria(field: &str, operator: &str, value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '(' | ')' | ',' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    format!("({field}:{operator}:{escaped})")
}

/// A COQL string literal (`'…'` with `'` and `\` escaped).
pub fn coql_literal(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A notification channel to create or renew (§4.5).
#[derive(Debug, Clone, Serialize)]
pub struct Channel {
    pub channel_id: String,
    /// `Contacts.create`, `Accounts.all`, …
    pub events: Vec<String>,
    /// At most a week ahead (`2026-11-30T10:00:00+00:00`); Zoho makes it an hour otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_expiry: Option<String>,
    /// Echoed in every callback; at most 50 characters.
    pub token: String,
    pub notify_url: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub return_affected_field_values: bool,
}

/// A channel as Zoho lists it.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ChannelInfo {
    pub channel_id: Value,
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(default)]
    pub channel_expiry: Option<String>,
    #[serde(default)]
    pub notify_url: Option<String>,
}

/// A CRM notification callback.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Notification {
    /// Epoch milliseconds.
    pub server_time: i64,
    pub module: String,
    #[serde(default)]
    pub resource_uri: Option<String>,
    pub ids: Vec<String>,
    /// `insert`, `update` or `delete`.
    pub operation: String,
    pub channel_id: Value,
    /// The channel's token: the callback's proof, checked by [`Notification::verify`] and then
    /// dropped, so that no verified notification carries it on (into the store, a run, a page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default)]
    pub affected_fields: Vec<Value>,
    #[serde(default)]
    pub affected_values: Vec<Value>,
    #[serde(default)]
    pub query_params: Map<String, Value>,
}

/// Why a notification callback was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NotificationError {
    #[error("the body is not a CRM notification: {0}")]
    Malformed(String),
    #[error("notification for channel {0}, which paybridge did not register")]
    UnknownChannel(String),
    #[error("the token does not match the channel's")]
    WrongToken,
    #[error("the notification's server_time is {0} s away from now")]
    Stale(i64),
}

impl Notification {
    /// Parses a callback and checks that it echoes the channel and token paybridge registered
    /// (CRM signs nothing: the token is the proof, §4.5). `registered` is `(channel_id, token)`.
    /// The notification returned no longer holds the token.
    pub fn verify(
        body: &[u8],
        registered: &[(String, String)],
    ) -> Result<Notification, NotificationError> {
        let notification: Notification = serde_json::from_slice(body)
            .map_err(|e| NotificationError::Malformed(e.to_string()))?;
        let channel = match &notification.channel_id {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let Some((_, token)) = registered.iter().find(|(id, _)| *id == channel) else {
            return Err(NotificationError::UnknownChannel(channel));
        };
        let mut notification = notification;
        let given = notification.token.take().unwrap_or_default();
        if !bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
            return Err(NotificationError::WrongToken);
        }
        Ok(notification)
    }

    /// Refuses a notification whose `server_time` (Zoho's clock, epoch ms) is more than
    /// `window` away from `now_ms`: a delivery captured and sent again later, or a forged one
    /// with the token, is not taken as news (the store knows repeats within the window by
    /// their body).
    pub fn check_recent(
        &self,
        now_ms: i64,
        window: std::time::Duration,
    ) -> Result<(), NotificationError> {
        let skew = now_ms.saturating_sub(self.server_time) / 1000;
        if skew.unsigned_abs() > window.as_secs() {
            return Err(NotificationError::Stale(skew));
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct DataAnswer<T> {
    #[serde(default = "Vec::new")]
    data: Vec<T>,
    #[serde(default)]
    info: Option<Info>,
}

#[derive(Deserialize)]
struct Info {
    #[serde(default)]
    more_records: bool,
}

/// Judges a CRM answer: 2xx (204 included) and a 400 that still lists per-record results are
/// answers; anything else is the request-level `{code, message, details}` error.
fn check(answer: &Answer) -> Result<(), Error> {
    if (200..300).contains(&answer.status) {
        return Ok(());
    }
    let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    if answer.status == 400 && body.get("data").is_some_and(Value::is_array) {
        return Ok(());
    }
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Err(Error::Api {
        product: "CRM",
        status: answer.status,
        code: match text("code") {
            c if c.is_empty() => format!("HTTP_{}", answer.status),
            c => c,
        },
        message: text("message"),
        details: body.get("details").cloned().unwrap_or(Value::Null),
        write: answer.write,
    })
}

fn decode<T: for<'de> Deserialize<'de>>(answer: &Answer) -> Result<T, Error> {
    serde_json::from_slice(&answer.body).map_err(|e| Error::UnexpectedResponse {
        status: answer.status,
        problem: format!("not a CRM answer: {e}"),
        excerpt: String::from_utf8_lossy(&answer.body[..answer.body.len().min(200)]).into_owned(),
        write: answer.write,
    })
}

impl Crm {
    pub(crate) fn new(client: Client, organization: String) -> Crm {
        Crm {
            client,
            organization,
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        cost: u64,
    ) -> Result<Answer, Error> {
        let path = format!("/crm/v8{path}");
        self.client
            .send(
                check,
                &Call {
                    host: Host::Api,
                    meter: Meter {
                        product: Product::Crm,
                        organization: &self.organization,
                        cost,
                    },
                    method,
                    path: &path,
                    query,
                    headers: &[],
                    body,
                },
            )
            .await
    }

    async fn write(
        &self,
        method: Method,
        path: &str,
        records: &[Record],
        extra: &[(&str, Value)],
    ) -> Result<Vec<RecordResult>, Error> {
        let mut results = Vec::with_capacity(records.len());
        for batch in records.chunks(BATCH) {
            let mut body = json!({"data": batch});
            for (key, value) in extra {
                body[*key] = value.clone();
            }
            let answer = self
                .send(
                    method.clone(),
                    path,
                    &[],
                    Some(&body),
                    CrmPlan::cost(batch.len()),
                )
                .await?;
            let answer: DataAnswer<RecordResult> = decode(&answer)?;
            if answer.data.len() != batch.len() {
                return Err(Error::UnexpectedResponse {
                    status: 200,
                    problem: format!("{} results for {} records", answer.data.len(), batch.len()),
                    excerpt: String::new(),
                    write: true,
                });
            }
            results.extend(answer.data);
        }
        Ok(results)
    }

    /// Inserts records, a hundred a call; one result per record, in order.
    pub async fn insert(
        &self,
        module: &str,
        records: &[Record],
    ) -> Result<Vec<RecordResult>, Error> {
        self.write(
            Method::POST,
            &format!("/{}", module_name(module)?),
            records,
            &[],
        )
        .await
    }

    /// Updates records; each carries its `id`.
    pub async fn update(
        &self,
        module: &str,
        records: &[Record],
    ) -> Result<Vec<RecordResult>, Error> {
        self.write(
            Method::PUT,
            &format!("/{}", module_name(module)?),
            records,
            &[],
        )
        .await
    }

    /// Inserts or updates records, finding existing ones by `duplicate_check_fields` in order
    /// (empty: the module's system field, then its unique fields).
    pub async fn upsert(
        &self,
        module: &str,
        records: &[Record],
        duplicate_check_fields: &[&str],
    ) -> Result<Vec<RecordResult>, Error> {
        let extra = if duplicate_check_fields.is_empty() {
            vec![]
        } else {
            vec![("duplicate_check_fields", json!(duplicate_check_fields))]
        };
        self.write(
            Method::POST,
            &format!("/{}/upsert", module_name(module)?),
            records,
            &extra,
        )
        .await
    }

    /// One record, or `None` when there is no such record.
    pub async fn get(
        &self,
        module: &str,
        id: &str,
        fields: &[&str],
    ) -> Result<Option<Record>, Error> {
        let fields = fields.join(",");
        let query: Vec<(&str, &str)> = if fields.is_empty() {
            vec![]
        } else {
            vec![("fields", fields.as_str())]
        };
        let answer = self
            .send(
                Method::GET,
                &format!("/{}/{}", module_name(module)?, crate::client::segment(id)?),
                &query,
                None,
                1,
            )
            .await?;
        if answer.status == 204 || answer.body.is_empty() {
            return Ok(None);
        }
        let answer: DataAnswer<Record> = decode(&answer)?;
        Ok(answer.data.into_iter().next())
    }

    pub async fn delete(&self, module: &str, id: &str) -> Result<(), Error> {
        self.send(
            Method::DELETE,
            &format!("/{}/{}", module_name(module)?, crate::client::segment(id)?),
            &[],
            None,
            1,
        )
        .await?;
        Ok(())
    }

    /// Records matching a search, every page (CRM stops at 2,000). Empty when nothing matches
    /// — including a record written a moment ago: use [`Crm::coql`] to read what was just
    /// written.
    pub async fn search(
        &self,
        module: &str,
        search: &Search,
        fields: &[&str],
    ) -> Result<Vec<Record>, Error> {
        let (key, value) = match search {
            Search::Criteria(c) => ("criteria", c.as_str()),
            Search::Email(e) => ("email", e.as_str()),
            Search::Phone(p) => ("phone", p.as_str()),
            Search::Word(w) => ("word", w.as_str()),
        };
        let path = format!("/{}/search", module_name(module)?);
        let fields = fields.join(",");
        let mut rows = Vec::new();
        for page in 1..=10usize {
            let page = page.to_string();
            let mut query = vec![(key, value), ("page", page.as_str()), ("per_page", "200")];
            if !fields.is_empty() {
                query.push(("fields", fields.as_str()));
            }
            let answer = self.send(Method::GET, &path, &query, None, 1).await?;
            if answer.status == 204 || answer.body.is_empty() {
                break;
            }
            let answer: DataAnswer<Record> = decode(&answer)?;
            rows.extend(answer.data);
            if !answer.info.is_some_and(|i| i.more_records) {
                break;
            }
        }
        Ok(rows)
    }

    /// Runs a COQL query (`select … from … where … limit …`); read-after-write consistent.
    pub async fn coql(&self, select_query: &str) -> Result<Vec<Record>, Error> {
        let body = json!({"select_query": select_query});
        let answer = self
            .send(Method::POST, "/coql", &[], Some(&body), 1)
            .await?;
        if answer.status == 204 || answer.body.is_empty() {
            return Ok(Vec::new());
        }
        Ok(decode::<DataAnswer<Record>>(&answer)?.data)
    }

    /// The contacts with this e-mail, found through COQL so that a contact written a moment ago
    /// is found too.
    pub async fn find_contacts_by_email(&self, email: &str) -> Result<Vec<Record>, Error> {
        self.coql(&format!(
            "select id, Email, First_Name, Last_Name from Contacts where Email = {} limit 200",
            coql_literal(email)
        ))
        .await
    }

    // Notifications --------------------------------------------------------------------------

    async fn watch(&self, method: Method, channels: &[Channel]) -> Result<(), Error> {
        let body = json!({"watch": to_value(&channels)?});
        let answer = self
            .send(method, "/actions/watch", &[], Some(&body), 1)
            .await?;
        let answer: Value = decode(&answer)?;
        let failed = answer
            .get("watch")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|w| w.get("status").and_then(Value::as_str) != Some("success"));
        if let Some(failed) = failed {
            let text = |k: &str| {
                failed
                    .get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            return Err(Error::Api {
                product: "CRM",
                status: 202,
                code: text("code"),
                message: text("message"),
                details: failed.get("details").cloned().unwrap_or(Value::Null),
                write: true,
            });
        }
        Ok(())
    }

    /// Creates notification channels.
    pub async fn enable_notifications(&self, channels: &[Channel]) -> Result<(), Error> {
        self.watch(Method::POST, channels).await
    }

    /// Renews channels before they expire (a new `channel_expiry`), keeping their events.
    pub async fn renew_notifications(&self, channels: &[Channel]) -> Result<(), Error> {
        self.watch(Method::PATCH, channels).await
    }

    /// The live channels.
    pub async fn notification_channels(&self) -> Result<Vec<ChannelInfo>, Error> {
        let answer = self
            .send(Method::GET, "/actions/watch", &[], None, 1)
            .await?;
        if answer.status == 204 || answer.body.is_empty() {
            return Ok(Vec::new());
        }
        #[derive(Deserialize)]
        struct Watch {
            #[serde(default)]
            watch: Vec<ChannelInfo>,
        }
        Ok(decode::<Watch>(&answer)?.watch)
    }

    pub async fn disable_notifications(&self, channel_ids: &[&str]) -> Result<(), Error> {
        let ids = channel_ids.join(",");
        self.send(
            Method::DELETE,
            "/actions/watch",
            &[("channel_ids", ids.as_str())],
            None,
            1,
        )
        .await?;
        Ok(())
    }
}

/// A module's API name: letters, digits and underscores.
fn module_name(module: &str) -> Result<&str, Error> {
    if !module.is_empty()
        && module
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        Ok(module)
    } else {
        Err(Error::InvalidInput(format!(
            "{module:?} is not a CRM module name"
        )))
    }
}

impl Client {
    /// Zoho CRM; `organization` names the CRM organization for its budget.
    pub fn crm(&self, organization: impl Into<String>) -> Crm {
        Crm::new(self.clone(), organization.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(json: Value) -> RecordResult {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn duplicates_resolve_to_the_existing_record() {
        let dup = result(
            json!({"code": "DUPLICATE_DATA", "status": "error", "message": "duplicate data",
            "details": {"api_name": "Email", "id": "111", "duplicate_record": {"id": "222"}}}),
        );
        assert!(matches!(dup.written(), Written::Duplicate(id) if id == "222"));
        let ok = result(
            json!({"code": "SUCCESS", "status": "success", "message": "record added",
            "details": {"id": "333"}}),
        );
        assert!(matches!(ok.written(), Written::Inserted(id) if id == "333"));
        let updated = result(
            json!({"code": "SUCCESS", "status": "success", "message": "record updated",
            "action": "update", "duplicate_field": "Email", "details": {"id": "444"}}),
        );
        assert!(matches!(updated.written(), Written::Updated(id) if id == "444"));
        let missing = result(json!({"code": "MANDATORY_NOT_FOUND", "status": "error",
            "message": "required field not found", "details": {"api_name": "Last_Name"}}));
        match missing.written() {
            Written::Failed(e) => {
                assert_eq!(e.kind(), paybridge_model::FailureKind::Permanent);
                assert!(e.to_string().contains("Last_Name"), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn criteria_and_literals_are_escaped() {
        assert_eq!(
            criteria("Last_Name", "equals", "O(Brien), Jr"),
            "(Last_Name:equals:O\\(Brien\\)\\, Jr)"
        );
        assert_eq!(coql_literal("O'Brien"), "'O\\'Brien'");
    }

    #[test]
    fn notifications_must_echo_the_registered_token() {
        let body = br#"{"server_time":1718115953625,"query_params":{},"module":"Contacts","resource_uri":"https://www.zohoapis.com/crm/v8/Contacts","ids":["5725767000003000010"],"affected_fields":[],"operation":"update","channel_id":"1000000068001","token":"s3cret"}"#;
        let registered = vec![("1000000068001".to_string(), "s3cret".to_string())];
        let n = Notification::verify(body, &registered).unwrap();
        assert_eq!(n.operation, "update");
        assert_eq!(n.ids, vec!["5725767000003000010"]);
        let wrong = vec![("1000000068001".to_string(), "other".to_string())];
        assert_eq!(
            Notification::verify(body, &wrong),
            Err(NotificationError::WrongToken)
        );
        assert!(matches!(
            Notification::verify(body, &[]),
            Err(NotificationError::UnknownChannel(_))
        ));
        assert!(matches!(
            Notification::verify(b"{}", &registered),
            Err(NotificationError::Malformed(_))
        ));
        // Recent by Zoho's clock, or refused; a sender's time never overflows the check.
        let hour = std::time::Duration::from_secs(3600);
        assert!(n.check_recent(1718115953625 + 60_000, hour).is_ok());
        assert_eq!(
            n.check_recent(1718115953625 + 7_200_000, hour),
            Err(NotificationError::Stale(7200))
        );
        let forged = Notification {
            server_time: i64::MIN,
            ..n.clone()
        };
        assert!(matches!(
            forged.check_recent(1718115953625, hour),
            Err(NotificationError::Stale(_))
        ));
    }
}
