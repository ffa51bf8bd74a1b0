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
    /// Price of one unit, as a decimal string. It may carry more decimals than the currency as
    /// long as the line's amount (quantity × unit price) does not: nothing is ever rounded.
    #[serde(with = "rust_decimal::serde::str")]
    pub unit_price: Decimal,
}

impl OrderLine {
    /// The line's amount, quantity × unit price, exactly: an amount with more decimals than
    /// the currency has is refused (charging it would round it, and Cybersource and Zoho Books
    /// would then disagree with the order's lines), as is one too large to compute.
    pub fn amount(&self, currency: Currency) -> Result<Money, MoneyError> {
        let amount = self.quantity.checked_mul(self.unit_price).ok_or_else(|| {
            MoneyError::OutOfRange(format!("{} × {}", self.quantity, self.unit_price))
        })?;
        Money::exact(amount, currency)
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
    /// The order total: the sum of its line amounts, each exact (see [`OrderLine::amount`]).
    pub fn total(&self) -> Result<Money, MoneyError> {
        self.lines
            .iter()
            .try_fold(Money::zero(self.currency), |sum, line| {
                sum.checked_add(&line.amount(self.currency)?)
                    .ok_or_else(|| {
                        MoneyError::OutOfRange(format!("the total of order {}", self.reference))
                    })
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
            if let Err(e) = line.amount(self.currency) {
                errors.push(line_error(i, line, self.currency, &e));
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

/// Why line `i`'s amount cannot be charged as it stands, naming the field at fault.
fn line_error(i: usize, line: &OrderLine, currency: Currency, error: &MoneyError) -> FieldError {
    match error {
        MoneyError::TooPrecise {
            amount, allowed, ..
        } => {
            // A whole quantity: the unit price is what has too many decimals.
            let field = if line.quantity.fract().is_zero() {
                format!("lines[{i}].unit_price")
            } else {
                format!("lines[{i}]")
            };
            let units = match allowed {
                0 => format!("{currency} has no decimals"),
                1 => format!("{currency} has 1 decimal"),
                n => format!("{currency} has {n} decimals"),
            };
            FieldError::new(
                field,
                format!(
                    "quantity × unit_price is {amount} {currency}, but {units}: it would be charged rounded; give a price (or quantity) whose line amount is exact"
                ),
            )
        }
        other => FieldError::new(format!("lines[{i}]"), other.to_string()),
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
                    unit_price: Decimal::new(3330, 3), // 3.330: three decimals, a line of 9.99
                },
                OrderLine {
                    sku: None,
                    name: "Cup".into(),
                    quantity: Decimal::ONE,
                    unit_price: Decimal::new(9222, 2),
                },
            ],
        }
    }

    #[test]
    fn total_is_the_sum_of_exact_lines() {
        assert_eq!(order().total().unwrap().to_decimal_string(), "102.21");
    }

    fn fields(o: &Order) -> Vec<(String, String)> {
        o.validate()
            .into_iter()
            .map(|e| (e.field, e.message))
            .collect()
    }

    #[test]
    fn a_line_that_would_be_charged_rounded_is_refused_naming_it() {
        // Half a unit at 1.01: 0.505 USD, which no card can be charged.
        let mut o = order();
        o.lines[0].quantity = Decimal::new(5, 1);
        o.lines[0].unit_price = Decimal::new(101, 2);
        let found = fields(&o);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "lines[0]");
        assert!(found[0].1.contains("0.505 USD"), "{found:?}");
        // A whole quantity at a price with three decimals in USD names the price.
        let mut o = order();
        o.lines[0].quantity = Decimal::ONE;
        o.lines[0].unit_price = Decimal::new(1005, 3);
        assert_eq!(fields(&o)[0].0, "lines[0].unit_price");
        // Yen have no decimals.
        let mut o = order();
        o.currency = Currency::JPY;
        o.lines = vec![OrderLine {
            sku: None,
            name: "Sencha".into(),
            quantity: Decimal::ONE,
            unit_price: Decimal::new(1005, 1),
        }];
        let found = fields(&o);
        assert_eq!(found[0].0, "lines[0].unit_price");
        assert!(found[0].1.contains("JPY has no decimals"), "{found:?}");
        // More decimals in a price are fine when the line's amount is exact: 8 × 0.0125.
        let mut o = order();
        o.lines[0].quantity = Decimal::new(8, 0);
        o.lines[0].unit_price = Decimal::new(125, 4);
        assert_eq!(o.validate(), vec![]);
        assert_eq!(o.total().unwrap().to_decimal_string(), "92.32");
    }

    #[test]
    fn amounts_too_large_to_compute_are_refused_not_a_panic() {
        let mut o = order();
        o.lines[0].quantity = Decimal::MAX;
        o.lines[0].unit_price = Decimal::new(2, 0);
        let found = fields(&o);
        assert_eq!(found[0].0, "lines[0]");
        assert!(found[0].1.contains("out of range"), "{found:?}");
        let mut o = order();
        o.lines[1].unit_price = Decimal::MAX;
        o.lines[0].unit_price = Decimal::MAX;
        o.lines[0].quantity = Decimal::ONE;
        o.lines[1].quantity = Decimal::ONE;
        assert!(o.total().is_err());
        assert!(!o.validate().is_empty());
    }

    proptest::proptest! {
        /// Whatever quantities, prices and currency: validation never panics, and an order it
        /// accepts totals exactly its lines' quantity × unit price — what Zoho Books books —
        /// at the currency's own scale, which is what Cybersource is charged.
        #[test]
        fn an_accepted_order_is_charged_exactly_what_its_lines_book(
            lines in proptest::collection::vec((1i64..=1_000_000, 0u32..4, 0i64..=100_000_000, 0u32..5), 1..5),
            currency in proptest::sample::select(vec!["USD", "JPY", "KWD", "EUR"]),
        ) {
            let mut o = order();
            o.currency = Currency::from_code(currency).unwrap();
            o.lines = lines
                .iter()
                .map(|&(q, qs, p, ps)| OrderLine {
                    sku: None,
                    name: "x".into(),
                    quantity: Decimal::new(q, qs),
                    unit_price: Decimal::new(p, ps),
                })
                .collect();
            let errors = o.validate();
            if errors.is_empty() {
                let booked = o
                    .lines
                    .iter()
                    .map(|l| l.quantity * l.unit_price)
                    .sum::<Decimal>();
                let charged = o.total().unwrap();
                proptest::prop_assert_eq!(charged.amount(), booked);
                proptest::prop_assert!(charged.amount().scale() == o.currency.minor_units());
                proptest::prop_assert_eq!(
                    Money::from_minor(charged.minor_units().unwrap(), o.currency).amount(),
                    booked
                );
            } else {
                proptest::prop_assert!(errors.iter().all(|e| e.field.starts_with("lines")));
            }
        }
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
