//! Money as a decimal amount in an ISO 4217 currency. Each currency's minor units (USD 2, JPY 0,
//! KWD 3) decide how amounts are rounded and how they are stored (`amount_minor`).

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An ISO 4217 currency that has a defined number of minor units (so not XAU, XDR, ...).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency(iso_currency::Currency);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unknown currency code {0:?} (expected an ISO 4217 code such as USD)")]
    UnknownCurrency(String),
    #[error("currency {0} has no minor units and cannot be used for payments")]
    NoMinorUnits(String),
    #[error("{0:?} is not a decimal amount")]
    NotAnAmount(String),
    #[error("{amount} has more decimal places than {currency} allows ({allowed})")]
    TooPrecise {
        amount: String,
        currency: Currency,
        allowed: u32,
    },
    #[error("amount {0} is out of range")]
    OutOfRange(String),
}

impl Currency {
    pub const USD: Currency = Currency(iso_currency::Currency::USD);
    pub const EUR: Currency = Currency(iso_currency::Currency::EUR);
    pub const JPY: Currency = Currency(iso_currency::Currency::JPY);

    /// Parses an ISO 4217 alphabetic code (case-insensitive).
    pub fn from_code(code: &str) -> Result<Self, MoneyError> {
        let iso = iso_currency::Currency::from_code(&code.trim().to_ascii_uppercase())
            .ok_or_else(|| MoneyError::UnknownCurrency(code.to_string()))?;
        if iso.exponent().is_none() {
            return Err(MoneyError::NoMinorUnits(iso.code().to_string()));
        }
        Ok(Currency(iso))
    }

    pub fn code(self) -> &'static str {
        self.0.code()
    }

    /// Number of decimal places of the minor unit: 2 for USD, 0 for JPY, 3 for KWD.
    pub fn minor_units(self) -> u32 {
        // `from_code` only admits currencies with an exponent.
        u32::from(self.0.exponent().unwrap_or(2))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::from_code(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Currency::from_code(&code).map_err(serde::de::Error::custom)
    }
}

/// An amount in a currency, always held at exactly the currency's minor-unit scale.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    amount: Decimal,
    currency: Currency,
}

impl Money {
    /// Rounds `amount` half away from zero to the currency's minor units (commercial rounding,
    /// what Zoho Books and card processors do).
    pub fn rounded(amount: Decimal, currency: Currency) -> Money {
        let mut amount = amount.round_dp_with_strategy(
            currency.minor_units(),
            RoundingStrategy::MidpointAwayFromZero,
        );
        amount.rescale(currency.minor_units());
        Money { amount, currency }
    }

    /// Parses a decimal string that must not carry more decimals than the currency allows
    /// (`"10.5"` is fine for USD, `"10.555"` is refused; `"10.5"` is refused for JPY).
    pub fn parse_exact(amount: &str, currency: Currency) -> Result<Money, MoneyError> {
        let decimal = Decimal::from_str_exact(amount.trim())
            .map_err(|_| MoneyError::NotAnAmount(amount.to_string()))?;
        Money::exact(decimal, currency)
    }

    /// Accepts a decimal that already fits the currency's minor units.
    pub fn exact(amount: Decimal, currency: Currency) -> Result<Money, MoneyError> {
        let normalized = amount.normalize();
        if normalized.scale() > currency.minor_units() {
            return Err(MoneyError::TooPrecise {
                amount: amount.to_string(),
                currency,
                allowed: currency.minor_units(),
            });
        }
        Ok(Money::rounded(amount, currency))
    }

    pub fn from_minor(minor: i64, currency: Currency) -> Money {
        Money {
            amount: Decimal::new(minor, currency.minor_units()),
            currency,
        }
    }

    pub fn zero(currency: Currency) -> Money {
        Money::from_minor(0, currency)
    }

    pub fn amount(&self) -> Decimal {
        self.amount
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// The amount in minor units (cents), as stored.
    pub fn minor_units(&self) -> Result<i64, MoneyError> {
        // Every `Money` is held at exactly the currency's scale, so the mantissa is the count
        // of minor units.
        let minor = self.amount.mantissa();
        i64::try_from(minor).map_err(|_| MoneyError::OutOfRange(self.amount.to_string()))
    }

    pub fn is_positive(&self) -> bool {
        self.amount > Decimal::ZERO
    }

    /// Adds two amounts of the same currency; `None` on a currency mismatch or overflow.
    pub fn checked_add(&self, other: &Money) -> Option<Money> {
        if self.currency != other.currency {
            return None;
        }
        Some(Money::rounded(
            self.amount.checked_add(other.amount)?,
            self.currency,
        ))
    }

    /// The amount as the plain decimal string vendors expect (`"102.21"`, `"1500"` for JPY).
    pub fn to_decimal_string(&self) -> String {
        self.amount.to_string()
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Money({} {})", self.amount, self.currency)
    }
}

#[derive(Serialize, Deserialize)]
struct MoneyWire {
    amount: String,
    currency: Currency,
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        MoneyWire {
            amount: self.to_decimal_string(),
            currency: self.currency,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = MoneyWire::deserialize(d)?;
        Money::parse_exact(&wire.amount, wire.currency).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    #[test]
    fn minor_units_follow_iso_4217() {
        assert_eq!(Currency::USD.minor_units(), 2);
        assert_eq!(Currency::JPY.minor_units(), 0);
        assert_eq!(Currency::from_code("kwd").unwrap().minor_units(), 3);
    }

    #[test]
    fn unknown_and_unitless_currencies_are_refused() {
        assert!(matches!(
            Currency::from_code("XYZ"),
            Err(MoneyError::UnknownCurrency(_))
        ));
        assert!(matches!(
            Currency::from_code("XAU"),
            Err(MoneyError::NoMinorUnits(_))
        ));
    }

    #[test]
    fn rounding_is_half_away_from_zero_at_the_currency_scale() {
        assert_eq!(
            Money::rounded(d("10.005"), Currency::USD).to_decimal_string(),
            "10.01"
        );
        assert_eq!(
            Money::rounded(d("10.004"), Currency::USD).to_decimal_string(),
            "10.00"
        );
        assert_eq!(
            Money::rounded(d("1500.5"), Currency::JPY).to_decimal_string(),
            "1501"
        );
        assert_eq!(
            Money::rounded(d("-2.345"), Currency::USD).to_decimal_string(),
            "-2.35"
        );
    }

    #[test]
    fn parse_exact_refuses_extra_precision() {
        assert_eq!(
            Money::parse_exact("102.2", Currency::USD)
                .unwrap()
                .to_decimal_string(),
            "102.20"
        );
        assert!(matches!(
            Money::parse_exact("102.211", Currency::USD),
            Err(MoneyError::TooPrecise { .. })
        ));
        assert!(Money::parse_exact("1500.50", Currency::JPY).is_err());
        assert!(Money::parse_exact("1500.00", Currency::JPY).is_ok());
        assert!(Money::parse_exact("12,00", Currency::USD).is_err());
    }

    #[test]
    fn serializes_amount_as_string() {
        let m = Money::parse_exact("102.21", Currency::USD).unwrap();
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"amount":"102.21","currency":"USD"}"#);
        assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), m);
    }

    #[test]
    fn adding_different_currencies_is_refused() {
        let a = Money::from_minor(100, Currency::USD);
        let b = Money::from_minor(100, Currency::EUR);
        assert_eq!(a.checked_add(&b), None);
        assert_eq!(a.checked_add(&a).unwrap().to_decimal_string(), "2.00");
    }

    proptest! {
        #[test]
        fn minor_units_round_trip(minor in -1_000_000_000_000i64..1_000_000_000_000i64) {
            for currency in [Currency::USD, Currency::JPY, Currency::from_code("KWD").unwrap()] {
                let m = Money::from_minor(minor, currency);
                prop_assert_eq!(m.minor_units().unwrap(), minor);
                let parsed = Money::parse_exact(&m.to_decimal_string(), currency).unwrap();
                prop_assert_eq!(parsed, m);
            }
        }
    }
}
