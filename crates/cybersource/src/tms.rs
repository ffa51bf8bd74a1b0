//! Token Management Service (reference §3.6): customers, their payment instruments and
//! shipping addresses, and instrument identifiers. A card number goes in once, to create an
//! instrument identifier; from then on paybridge holds only token ids.
//!
//! Updates take the `ETag` of the version they change (`if-match`); a stale one is refused with
//! 412, so two writers never overwrite each other unknowingly.

use http::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::client::{Client, segment};
use crate::error::Error;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BuyerInformation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(
        default,
        rename = "merchantCustomerID",
        skip_serializing_if = "Option::is_none"
    )]
    pub merchant_customer_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenReference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NameValue {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdRef {
    pub id: String,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buyer_information: Option<BuyerInformation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_reference_information: Option<TokenReference>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub merchant_defined_information: Vec<NameValue>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    pub id: String,
    #[serde(default)]
    pub buyer_information: Option<BuyerInformation>,
    #[serde(default)]
    pub client_reference_information: Option<TokenReference>,
    #[serde(default)]
    pub default_payment_instrument: Option<IdRef>,
    #[serde(default)]
    pub default_shipping_address: Option<IdRef>,
    #[serde(default)]
    pub merchant_defined_information: Vec<NameValue>,
    /// The version this was read at, for `if-match`.
    #[serde(skip)]
    pub etag: Option<String>,
}

/// A card number on its way to become an instrument identifier.
#[derive(Clone)]
pub struct CardNumber(pub SecretString);

impl std::fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CardNumber(**REDACTED**)")
    }
}

#[derive(Serialize)]
struct InstrumentIdentifierRequest<'a> {
    card: NumberOnly<'a>,
}

#[derive(Serialize)]
struct NumberOnly<'a> {
    number: &'a str,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct MaskedCard {
    /// Masked by Cybersource (`411111XXXXXX1111`).
    #[serde(default)]
    pub number: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstrumentIdentifier {
    pub id: String,
    #[serde(default)]
    pub object: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub card: Option<MaskedCard>,
    #[serde(skip)]
    pub etag: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct InstrumentCard {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_month: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_year: Option<String>,
    /// `001` Visa, `002` Mastercard, …
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub card_type: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub administrative_area: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentInstrumentRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card: Option<InstrumentCard>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bill_to: Option<Contact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instrument_identifier: Option<IdRef>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentInstrument {
    pub id: String,
    #[serde(default)]
    pub default: bool,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub card: Option<InstrumentCard>,
    #[serde(default)]
    pub bill_to: Option<Contact>,
    #[serde(default)]
    pub instrument_identifier: Option<IdRef>,
    #[serde(skip)]
    pub etag: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShippingAddressRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<bool>,
    pub ship_to: Contact,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShippingAddress {
    pub id: String,
    #[serde(default)]
    pub default: bool,
    #[serde(default)]
    pub ship_to: Option<Contact>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", bound = "T: Deserialize<'de>")]
struct Listing<T> {
    #[serde(default, rename = "_embedded")]
    embedded: Option<Embedded<T>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", bound = "T: Deserialize<'de>")]
struct Embedded<T> {
    #[serde(
        default = "Vec::new",
        alias = "paymentInstruments",
        alias = "shippingAddresses"
    )]
    items: Vec<T>,
}

fn if_match(etag: Option<&str>) -> Vec<(&'static str, String)> {
    etag.map(|e| vec![("if-match", e.to_string())])
        .unwrap_or_default()
}

impl Client {
    pub async fn create_customer(&self, request: &CustomerRequest) -> Result<Customer, Error> {
        let (mut customer, meta): (Customer, _) = self
            .json_call(Method::POST, "/tms/v2/customers", &[], Some(request), &[])
            .await?;
        customer.etag = meta.etag;
        Ok(customer)
    }

    pub async fn customer(&self, customer_id: &str) -> Result<Customer, Error> {
        let path = format!("/tms/v2/customers/{}", segment(customer_id)?);
        let (mut customer, meta): (Customer, _) = self
            .json_call::<(), _>(Method::GET, &path, &[], None, &[])
            .await?;
        customer.etag = meta.etag;
        Ok(customer)
    }

    /// Changes a customer; with `etag`, only if it is still the version read.
    pub async fn update_customer(
        &self,
        customer_id: &str,
        request: &CustomerRequest,
        etag: Option<&str>,
    ) -> Result<Customer, Error> {
        let path = format!("/tms/v2/customers/{}", segment(customer_id)?);
        let (mut customer, meta): (Customer, _) = self
            .json_call(Method::PATCH, &path, &[], Some(request), &if_match(etag))
            .await?;
        customer.etag = meta.etag;
        Ok(customer)
    }

    pub async fn delete_customer(&self, customer_id: &str) -> Result<(), Error> {
        let path = format!("/tms/v2/customers/{}", segment(customer_id)?);
        self.send(Method::DELETE, &path, &[], None)
            .await
            .map(|_| ())
    }

    /// The card's instrument identifier: created (`true`), or the existing one for the same card.
    pub async fn create_instrument_identifier(
        &self,
        card: &CardNumber,
    ) -> Result<(InstrumentIdentifier, bool), Error> {
        let request = InstrumentIdentifierRequest {
            card: NumberOnly {
                number: card.0.expose_secret(),
            },
        };
        let (mut identifier, meta): (InstrumentIdentifier, _) = self
            .json_call(
                Method::POST,
                "/tms/v1/instrumentidentifiers",
                &[],
                Some(&request),
                &[],
            )
            .await?;
        identifier.etag = meta.etag;
        Ok((identifier, meta.status.as_u16() == 201))
    }

    pub async fn instrument_identifier(&self, id: &str) -> Result<InstrumentIdentifier, Error> {
        let path = format!("/tms/v1/instrumentidentifiers/{}", segment(id)?);
        let (mut identifier, meta): (InstrumentIdentifier, _) = self
            .json_call::<(), _>(Method::GET, &path, &[], None, &[])
            .await?;
        identifier.etag = meta.etag;
        Ok(identifier)
    }

    pub async fn delete_instrument_identifier(&self, id: &str) -> Result<(), Error> {
        let path = format!("/tms/v1/instrumentidentifiers/{}", segment(id)?);
        self.send(Method::DELETE, &path, &[], None)
            .await
            .map(|_| ())
    }

    pub async fn create_payment_instrument(
        &self,
        customer_id: &str,
        request: &PaymentInstrumentRequest,
    ) -> Result<PaymentInstrument, Error> {
        let path = format!(
            "/tms/v2/customers/{}/payment-instruments",
            segment(customer_id)?
        );
        let (mut instrument, meta): (PaymentInstrument, _) = self
            .json_call(Method::POST, &path, &[], Some(request), &[])
            .await?;
        instrument.etag = meta.etag;
        Ok(instrument)
    }

    pub async fn payment_instruments(
        &self,
        customer_id: &str,
    ) -> Result<Vec<PaymentInstrument>, Error> {
        let path = format!(
            "/tms/v2/customers/{}/payment-instruments",
            segment(customer_id)?
        );
        let (listing, _): (Listing<PaymentInstrument>, _) = self
            .json_call::<(), _>(Method::GET, &path, &[], None, &[])
            .await?;
        Ok(listing.embedded.map(|e| e.items).unwrap_or_default())
    }

    pub async fn payment_instrument(
        &self,
        customer_id: &str,
        id: &str,
    ) -> Result<PaymentInstrument, Error> {
        let path = format!(
            "/tms/v2/customers/{}/payment-instruments/{}",
            segment(customer_id)?,
            segment(id)?
        );
        let (mut instrument, meta): (PaymentInstrument, _) = self
            .json_call::<(), _>(Method::GET, &path, &[], None, &[])
            .await?;
        instrument.etag = meta.etag;
        Ok(instrument)
    }

    pub async fn update_payment_instrument(
        &self,
        customer_id: &str,
        id: &str,
        request: &PaymentInstrumentRequest,
        etag: Option<&str>,
    ) -> Result<PaymentInstrument, Error> {
        let path = format!(
            "/tms/v2/customers/{}/payment-instruments/{}",
            segment(customer_id)?,
            segment(id)?
        );
        let (mut instrument, meta): (PaymentInstrument, _) = self
            .json_call(Method::PATCH, &path, &[], Some(request), &if_match(etag))
            .await?;
        instrument.etag = meta.etag;
        Ok(instrument)
    }

    pub async fn delete_payment_instrument(
        &self,
        customer_id: &str,
        id: &str,
    ) -> Result<(), Error> {
        let path = format!(
            "/tms/v2/customers/{}/payment-instruments/{}",
            segment(customer_id)?,
            segment(id)?
        );
        self.send(Method::DELETE, &path, &[], None)
            .await
            .map(|_| ())
    }

    pub async fn create_shipping_address(
        &self,
        customer_id: &str,
        request: &ShippingAddressRequest,
    ) -> Result<ShippingAddress, Error> {
        let path = format!(
            "/tms/v2/customers/{}/shipping-addresses",
            segment(customer_id)?
        );
        Ok(self
            .json_call(Method::POST, &path, &[], Some(request), &[])
            .await?
            .0)
    }

    pub async fn shipping_addresses(
        &self,
        customer_id: &str,
    ) -> Result<Vec<ShippingAddress>, Error> {
        let path = format!(
            "/tms/v2/customers/{}/shipping-addresses",
            segment(customer_id)?
        );
        let (listing, _): (Listing<ShippingAddress>, _) = self
            .json_call::<(), _>(Method::GET, &path, &[], None, &[])
            .await?;
        Ok(listing.embedded.map(|e| e.items).unwrap_or_default())
    }

    pub async fn delete_shipping_address(&self, customer_id: &str, id: &str) -> Result<(), Error> {
        let path = format!(
            "/tms/v2/customers/{}/shipping-addresses/{}",
            segment(customer_id)?,
            segment(id)?
        );
        self.send(Method::DELETE, &path, &[], None)
            .await
            .map(|_| ())
    }
}
