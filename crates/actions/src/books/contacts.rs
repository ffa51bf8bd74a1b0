//! Books contacts: the customer's contact found or made once (`contact.ensure`), changed, or
//! upserted by a unique custom field.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use paybridge_flows::spec::{ActionSpec, Effect, Recovery, Type, opt, out, req};
use paybridge_model::StepError;
use paybridge_store::{Attempt, XrefEntry, XrefStore as _};
use paybridge_zoho::books::{Contact, ContactChanges, NewContact, UniqueKey};
use paybridge_zoho::error::DUPLICATE_CONTACT_NAME;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::input::{read, take_required};
use crate::{Action, Call, Env};

/// `zoho-books.contact.ensure`: the customer's Books contact, known (xref), found by e-mail, or
/// created.
pub struct Ensure;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnsureInput {
    email: String,
    contact: NewContact,
    /// The code of `contact.currency_id`, for the name of a second contact of one customer.
    #[serde(default)]
    currency_code: Option<String>,
}

impl Action for Ensure {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "zoho-books.contact.ensure",
        summary: "find the customer's Books contact by e-mail (remembered), or create it",
        fields: Some(&[req("email"), req("contact"), opt("currency_code")]),
        outputs: &[out("contact_id", Type::Text), out("created", Type::Boolean)],
        effect: Effect::Call,
        recovery: Recovery::LookedUp(
            "the contact is looked up by e-mail (and, if its name is taken, by name) before one is created",
        ),
    };
    type Input = EnsureInput;

    async fn run(&self, call: &Call<'_>, input: EnsureInput) -> Result<Value, StepError> {
        ensure_contact(
            call.env,
            call.attempt,
            &input.email,
            input.contact,
            input.currency_code.as_deref(),
        )
        .await
    }
}

/// `zoho-books.contact.update`: a Books contact's fields changed (custom fields one by one).
pub struct Update;

impl Action for Update {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "zoho-books.contact.update",
        summary: "change a Books contact's fields (custom fields one by one; the rest stay)",
        fields: Some(&[
            req("contact_id"),
            opt("contact_name"),
            opt("company_name"),
            opt("payment_terms"),
            opt("billing_address"),
            opt("shipping_address"),
            opt("contact_persons"),
            opt("custom_fields"),
            opt("notes"),
        ]),
        outputs: &[out("contact_id", Type::Text), out("email", Type::Text)],
        effect: Effect::Call,
        recovery: Recovery::Repeatable,
    };
    type Input = Value;

    async fn run(&self, call: &Call<'_>, mut input: Value) -> Result<Value, StepError> {
        let contact_id = take_required(Self::SPEC, &mut input, "contact_id")?;
        let changes: ContactChanges = read(Self::SPEC, input)?;
        // Setting the same fields again is harmless: no look-up needed.
        let contact = call
            .env
            .connectors
            .books
            .change_contact(&contact_id, &changes)
            .await?;
        Ok(json!({"contact_id": contact.contact_id, "email": contact.email}))
    }
}

/// `zoho-books.contact.upsert`: a Books contact updated or created, found by a unique custom
/// field.
pub struct Upsert;

impl Action for Upsert {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "zoho-books.contact.upsert",
        summary: "update the record whose unique custom field has this value, or create it (its own look-up)",
        fields: Some(&[
            req("unique_field"),
            req("unique_value"),
            req("contact_name"),
            req("contact_type"),
            opt("company_name"),
            opt("customer_sub_type"),
            opt("currency_id"),
            opt("payment_terms"),
            opt("billing_address"),
            opt("shipping_address"),
            opt("contact_persons"),
            opt("custom_fields"),
            opt("notes"),
        ]),
        outputs: &[out("contact_id", Type::Text), out("created", Type::Boolean)],
        effect: Effect::Call,
        recovery: Recovery::SameKey(
            "Books upserts by the unique custom field: a repeat updates what the first made",
        ),
    };
    type Input = Value;

    async fn run(&self, call: &Call<'_>, input: Value) -> Result<Value, StepError> {
        let (key, input) = unique_key(Self::SPEC, input)?;
        let contact: NewContact = read(Self::SPEC, input)?;
        let done = call
            .env
            .connectors
            .books
            .upsert_contact(&key, &contact)
            .await?;
        Ok(json!({"contact_id": done.record.contact_id, "created": done.created}))
    }
}

/// The unique custom field an upsert finds its record by, taken out of the mapped fields.
pub(crate) fn unique_key(
    action: &ActionSpec,
    mut input: Value,
) -> Result<(UniqueKey, Value), StepError> {
    let api_name = take_required(action, &mut input, "unique_field")?;
    let value = take_required(action, &mut input, "unique_value")?;
    Ok((
        UniqueKey {
            api_name: api_name.trim().to_string(),
            value: value.trim().to_string(),
        },
        input,
    ))
}

const CONTACT_BY_EMAIL: &str = "contact-by-email";
/// Display names of the contacts paybridge made or found (lower case): names are unique in an
/// organization, so a namesake goes straight to "Name (email)" instead of a refused create.
const CONTACT_NAME: &str = "contact-name";

/// A display name as `CONTACT_NAME` keeps it (Books compares names ignoring case).
fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// The customer's Books contact: known from the xref table, else found by e-mail, else
/// created. A contact's currency is fixed, so a customer paying in another currency than the
/// organization's gets a contact of that currency (`contact.currency_id`). A display-name clash
/// (3062) with another contact is resolved by naming ours "Name (email)" (and the currency).
async fn ensure_contact(
    env: &Env,
    attempt: Attempt,
    email: &str,
    contact: NewContact,
    currency_code: Option<&str>,
) -> Result<Value, StepError> {
    let store = &env.store;
    let books = &env.connectors.books;
    let system = env.connectors.books_system();
    let email = email.trim().to_ascii_lowercase();
    let currency = contact.currency_id.clone();
    let kind = match &currency {
        Some(id) => format!("{CONTACT_BY_EMAIL}:{id}"),
        None => CONTACT_BY_EMAIL.to_string(),
    };
    if let Some(contact_id) = store.xref(&system, &kind, &email).await? {
        return Ok(json!({"contact_id": contact_id, "created": false}));
    }
    let (system, email, kind) = (&system, &email, &kind);
    let remember = |contact: Contact, created: bool| async move {
        let now = env.clock.now_ms();
        let name = name_key(&contact.contact_name);
        let entries = [
            XrefEntry {
                kind,
                key: email,
                value: &contact.contact_id,
            },
            XrefEntry {
                kind: CONTACT_NAME,
                key: &name,
                value: &contact.contact_id,
            },
        ];
        // The e-mail's contact: this one, or the one a concurrent run kept first.
        let contact_id = store
            .put_xrefs(system, &entries, now)
            .await?
            .into_iter()
            .next();
        let contact_id = contact_id.unwrap_or(contact.contact_id);
        Ok::<_, StepError>(json!({"contact_id": contact_id, "created": created}))
    };
    // Ours when its currency is the one asked for (none asked: the organization's).
    let same_currency = |c: &Contact| match &currency {
        Some(id) => c.currency_id.as_deref() == Some(id.as_str()),
        None => c
            .currency_code
            .as_deref()
            .is_none_or(|code| code.eq_ignore_ascii_case(env.connectors.books_currency.code())),
    };
    if let Some(existing) = books
        .find_customers_by_email(email)
        .await?
        .into_iter()
        .find(same_currency)
    {
        return remember(existing, false).await;
    }
    let name = contact.contact_name.clone();
    // A name paybridge has seen on a contact is taken (after an attempt whose answer was
    // lost, Books is asked: the contact may be this customer's own), and so is one another
    // run of this process is creating a contact under (a namesake placed at the same moment).
    let held_as = name_key(&name);
    let claim = NameClaim::take(&env.contact_names, held_as.clone());
    let known_taken = !attempt.uncertain
        && (claim.is_none() || store.xref(system, CONTACT_NAME, &held_as).await?.is_some());
    if !known_taken {
        match books.create_contact(&contact).await {
            Ok(made) => return remember(made, true).await,
            Err(e) if e.books_code() == Some(DUPLICATE_CONTACT_NAME) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // The name is taken: by someone else, or by this customer when an earlier attempt created
    // the contact and its answer was lost (with the e-mail not yet searchable). Only then is
    // the holder worth a look: otherwise the search by e-mail just found no customer of ours,
    // and runs of one customer go one at a time, so the holder is someone else.
    if attempt.uncertain
        && let Some(same) = books.find_contact_by_name(&name).await?.filter(|c| {
            c.email
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(email))
                && c.contact_type.as_deref().is_none_or(|t| t == "customer")
                && same_currency(c)
        })
    {
        return remember(same, false).await;
    }
    let distinct = match &currency {
        Some(id) => format!("{name} ({email}, {})", currency_code.unwrap_or(id)),
        None => format!("{name} ({email})"),
    };
    let renamed = NewContact {
        contact_name: distinct.clone(),
        ..contact
    };
    match books.create_contact(&renamed).await {
        Ok(made) => remember(made, true).await,
        Err(e) if e.books_code() == Some(DUPLICATE_CONTACT_NAME) => {
            let ours = books
                .find_contact_by_name(&distinct)
                .await?
                .ok_or_else(|| {
                    StepError::permanent(
                        "zoho-books",
                        format!("contact {distinct:?} exists but cannot be found"),
                    )
                })?;
            remember(ours, false).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The display names runs of this process are creating Books contacts under right now.
#[derive(Debug, Default)]
pub(crate) struct NameClaims(Mutex<HashSet<String>>);

/// A display name this run is creating a Books contact under, until the contact is made and
/// its name kept (or the attempt ends): other runs of the process treat the name as taken.
struct NameClaim<'e> {
    names: &'e NameClaims,
    name: String,
}

impl<'e> NameClaim<'e> {
    /// The claim on `name`, or `None` when another run holds it.
    fn take(names: &'e NameClaims, name: String) -> Option<NameClaim<'e>> {
        let fresh = names
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.clone());
        fresh.then_some(NameClaim { names, name })
    }
}

impl Drop for NameClaim<'_> {
    fn drop(&mut self) {
        self.names
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.name);
    }
}
