//! Orders as the storefront places them, and their lifecycle across Cybersource and Zoho.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::{Currency, Money, MoneyError};

/// A customer as the storefront knows them. The e-mail address identifies the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    pub billing_address: Address,
}

impl Customer {
    pub fn display_name(&self) -> String {
        format!("{} {}", self.first_name.trim(), self.last_name.trim())
    }

    /// The e-mail address in the form used to match customers across systems.
    pub fn email_key(&self) -> String {
        self.email.trim().to_ascii_lowercase()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub city: String,
    /// State, province or region code (required for US and CA addresses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    pub name: String,
    pub quantity: Decimal,
    /// Price of one unit, as a decimal string; may carry more decimals than the currency.
    #[serde(with = "rust_decimal::serde::str")]
    pub unit_price: Decimal,
}

impl OrderLine {
    /// The line's amount, rounded to the currency's minor units the way Zoho Books rounds it.
    pub fn amount(&self, currency: Currency) -> Money {
        Money::rounded(self.quantity * self.unit_price, currency)
    }
}

/// An order: what was bought, by whom, in which currency. The card never appears here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The merchant's order reference (Cybersource's merchant reference number).
    pub reference: String,
    pub currency: Currency,
    pub customer: Customer,
    pub lines: Vec<OrderLine>,
}

/// One problem with an order, named by the field it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl Order {
    /// The order total: the sum of its rounded line amounts.
    pub fn total(&self) -> Result<Money, MoneyError> {
        self.lines
            .iter()
            .try_fold(Money::zero(self.currency), |sum, line| {
                sum.checked_add(&line.amount(self.currency))
                    .ok_or_else(|| MoneyError::OutOfRange(self.reference.clone()))
            })
    }

    /// Every problem with the order, so that the caller can fix them all at once.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let reference = self.reference.trim();
        if reference.is_empty() {
            errors.push(FieldError::new("reference", "is required"));
        } else if reference.len() > 50 {
            errors.push(FieldError::new(
                "reference",
                "must be at most 50 characters",
            ));
        } else if !reference
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./#".contains(c))
        {
            errors.push(FieldError::new(
                "reference",
                "may contain only letters, digits and - _ . / #",
            ));
        }
        let c = &self.customer;
        let a = &c.billing_address;
        // The longest values Cybersource's billTo accepts.
        for (field, value, max) in [
            ("customer.first_name", c.first_name.as_str(), 60),
            ("customer.last_name", c.last_name.as_str(), 60),
            (
                "customer.company",
                c.company.as_deref().unwrap_or_default(),
                60,
            ),
            ("customer.phone", c.phone.as_deref().unwrap_or_default(), 15),
            ("customer.billing_address.line1", a.line1.as_str(), 60),
            (
                "customer.billing_address.line2",
                a.line2.as_deref().unwrap_or_default(),
                60,
            ),
            ("customer.billing_address.city", a.city.as_str(), 50),
            (
                "customer.billing_address.region",
                a.region.as_deref().unwrap_or_default(),
                20,
            ),
            (
                "customer.billing_address.postal_code",
                a.postal_code.as_str(),
                10,
            ),
        ] {
            if value.trim().chars().count() > max {
                errors.push(FieldError::new(
                    field,
                    format!("must be at most {max} characters"),
                ));
            }
        }
        if !is_plausible_email(&c.email) {
            errors.push(FieldError::new(
                "customer.email",
                "is not an e-mail address",
            ));
        }
        if c.first_name.trim().is_empty() {
            errors.push(FieldError::new("customer.first_name", "is required"));
        }
        if c.last_name.trim().is_empty() {
            errors.push(FieldError::new("customer.last_name", "is required"));
        }
        for (field, value) in [
            ("customer.billing_address.line1", &a.line1),
            ("customer.billing_address.city", &a.city),
            ("customer.billing_address.postal_code", &a.postal_code),
        ] {
            if value.trim().is_empty() {
                errors.push(FieldError::new(field, "is required"));
            }
        }
        if a.country.len() != 2 || !a.country.chars().all(|ch| ch.is_ascii_uppercase()) {
            errors.push(FieldError::new(
                "customer.billing_address.country",
                "must be an ISO 3166 alpha-2 code such as US",
            ));
        } else if matches!(a.country.as_str(), "US" | "CA")
            && a.region.as_deref().is_none_or(|r| r.trim().is_empty())
        {
            errors.push(FieldError::new(
                "customer.billing_address.region",
                "is required for US and CA addresses",
            ));
        }
        if self.lines.is_empty() {
            errors.push(FieldError::new("lines", "must contain at least one line"));
        }
        for (i, line) in self.lines.iter().enumerate() {
            if line.name.trim().is_empty() {
                errors.push(FieldError::new(format!("lines[{i}].name"), "is required"));
            }
            if line.quantity <= Decimal::ZERO {
                errors.push(FieldError::new(
                    format!("lines[{i}].quantity"),
                    "must be positive",
                ));
            }
            if line.unit_price < Decimal::ZERO {
                errors.push(FieldError::new(
                    format!("lines[{i}].unit_price"),
                    "must not be negative",
                ));
            }
        }
        if errors.is_empty() {
            match self.total() {
                Ok(total) if total.is_positive() => {}
                Ok(_) => errors.push(FieldError::new("lines", "the order total must be positive")),
                Err(e) => errors.push(FieldError::new("lines", e.to_string())),
            }
        }
        errors
    }
}

fn is_plausible_email(email: &str) -> bool {
    let email = email.trim();
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.contains(char::is_whitespace)
                && email.len() <= 254
        }
        None => false,
    }
}

/// Where an order stands across both systems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Accepted and recorded; the payment request has not been answered yet.
    PendingPayment,
    /// Paid in Cybersource; the Zoho side is being written.
    Approved,
    /// Paid, and invoiced and settled in Zoho.
    Completed,
    /// Cybersource declined the payment; nothing is written to Zoho.
    Declined,
    /// Authorized but held (Decision Manager review, or only part of the amount approved);
    /// nothing is written to Zoho until someone decides.
    OnHold,
    /// The payment request failed before anything was charged (invalid request, configuration).
    PaymentFailed,
    /// The payment request's outcome is unknown (timeout, processor error); it must be resolved
    /// with Cybersource before anything else happens.
    PaymentUnknown,
    /// Paid, but writing it to Zoho failed permanently; the run is in the dead-letter queue.
    SyncFailed,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 8] = [
        OrderStatus::PendingPayment,
        OrderStatus::Approved,
        OrderStatus::Completed,
        OrderStatus::Declined,
        OrderStatus::OnHold,
        OrderStatus::PaymentFailed,
        OrderStatus::PaymentUnknown,
        OrderStatus::SyncFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingPayment => "pending_payment",
            OrderStatus::Approved => "approved",
            OrderStatus::Completed => "completed",
            OrderStatus::Declined => "declined",
            OrderStatus::OnHold => "on_hold",
            OrderStatus::PaymentFailed => "payment_failed",
            OrderStatus::PaymentUnknown => "payment_unknown",
            OrderStatus::SyncFailed => "sync_failed",
        }
    }

    /// Whether nothing more will happen to the order without outside action.
    pub fn is_settled(self) -> bool {
        !matches!(self, OrderStatus::PendingPayment | OrderStatus::Approved)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrderStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown order status {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> Order {
        Order {
            reference: "ORDER-1001".into(),
            currency: Currency::USD,
            customer: Customer {
                email: "ada@example.com".into(),
                first_name: "Ada".into(),
                last_name: "Lovelace".into(),
                company: None,
                phone: None,
                billing_address: Address {
                    line1: "1 Market St".into(),
                    line2: None,
                    city: "San Francisco".into(),
                    region: Some("CA".into()),
                    postal_code: "94105".into(),
                    country: "US".into(),
                },
            },
            lines: vec![
                OrderLine {
                    sku: Some("TEA".into()),
                    name: "Tea".into(),
                    quantity: Decimal::new(3, 0),
                    unit_price: Decimal::new(3333, 3), // 3.333 -> line 9.999 -> 10.00
                },
                OrderLine {
                    sku: None,
                    name: "Cup".into(),
                    quantity: Decimal::ONE,
                    unit_price: Decimal::new(9221, 2),
                },
            ],
        }
    }

    #[test]
    fn total_is_the_sum_of_rounded_lines() {
        assert_eq!(order().total().unwrap().to_decimal_string(), "102.21");
    }

    #[test]
    fn a_valid_order_has_no_errors() {
        assert_eq!(order().validate(), vec![]);
    }

    #[test]
    fn validation_names_every_bad_field() {
        let mut o = order();
        o.reference = String::new();
        o.customer.email = "not-an-email".into();
        o.customer.billing_address.region = None;
        o.lines[0].quantity = Decimal::ZERO;
        let fields: Vec<String> = o.validate().into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "reference",
                "customer.email",
                "customer.billing_address.region",
                "lines[0].quantity"
            ]
        );
    }

    #[test]
    fn fields_longer_than_cybersource_takes_are_refused() {
        let mut o = order();
        o.customer.billing_address.postal_code = "12345678901".into();
        o.customer.first_name = "A".repeat(61);
        let fields: Vec<String> = o.validate().into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "customer.first_name",
                "customer.billing_address.postal_code"
            ]
        );
    }

    #[test]
    fn status_round_trips_through_text() {
        for status in OrderStatus::ALL {
            assert_eq!(status.as_str().parse::<OrderStatus>().unwrap(), status);
        }
    }
}
