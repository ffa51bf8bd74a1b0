//! `[orders]`: what one order may be.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use paybridge_commerce::OrderLimits;
use paybridge_model::{Currency, Money};
use rust_decimal::Decimal;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrdersSection {
    /// The most one order may total, as decimal texts by ISO code, and `default` for every other
    /// currency: `{ default = "1000000", JPY = "150000000" }`. Without it: 1,000,000 in any
    /// currency's major units.
    #[serde(default)]
    pub max_amount: BTreeMap<String, String>,
    /// An order on hold (a review, a partial authorization, an unclear answer) this many minutes
    /// is told to a person through `[alerts]`, and again each alert window while it stays.
    /// 1440 (a day) by default.
    #[serde(default = "default_hold_alert_minutes")]
    pub hold_alert_minutes: u64,
}

fn default_hold_alert_minutes() -> u64 {
    24 * 60
}

impl Default for OrdersSection {
    fn default() -> OrdersSection {
        OrdersSection {
            max_amount: BTreeMap::new(),
            hold_alert_minutes: default_hold_alert_minutes(),
        }
    }
}

impl OrdersSection {
    /// How long an order may stay on hold before a person is told.
    pub fn hold_alert_after(&self) -> anyhow::Result<std::time::Duration> {
        if self.hold_alert_minutes == 0 {
            bail!("orders.hold_alert_minutes: must be at least 1");
        }
        Ok(std::time::Duration::from_secs(
            self.hold_alert_minutes.saturating_mul(60),
        ))
    }

    /// The limits, checked: every key a currency (or `default`), every amount positive and
    /// exact in its currency.
    pub fn limits(&self) -> anyhow::Result<OrderLimits> {
        let mut limits = OrderLimits::default();
        for (key, text) in &self.max_amount {
            let at = format!("orders.max_amount.{key}");
            let amount = if key == "default" {
                Decimal::from_str_exact(text.trim())
                    .ok()
                    .with_context(|| format!("{at}: {text:?} is not a decimal amount"))?
            } else {
                let currency = Currency::from_code(key).with_context(|| at.clone())?;
                Money::parse_exact(text, currency)
                    .with_context(|| at.clone())?
                    .amount()
            };
            if amount <= Decimal::ZERO {
                bail!("{at}: must be more than zero");
            }
            if key == "default" {
                limits.default = amount;
            } else {
                limits.per_currency.insert(key.clone(), amount);
            }
        }
        Ok(limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_read_by_currency_and_checked() {
        let section: OrdersSection =
            toml::from_str("max_amount = { default = \"5000\", JPY = \"800000\" }").unwrap();
        let limits = section.limits().unwrap();
        assert_eq!(limits.max_for(Currency::USD), Decimal::new(5000, 0));
        assert_eq!(limits.max_for(Currency::JPY), Decimal::new(800_000, 0));
        assert_eq!(
            OrdersSection::default().limits().unwrap(),
            OrderLimits::default()
        );
        for (bad, names) in [
            ("max_amount = { XYZ = \"10\" }", "orders.max_amount.XYZ"),
            ("max_amount = { JPY = \"10.5\" }", "orders.max_amount.JPY"),
            (
                "max_amount = { default = \"-1\" }",
                "orders.max_amount.default",
            ),
            (
                "max_amount = { default = \"lots\" }",
                "orders.max_amount.default",
            ),
        ] {
            let section: OrdersSection = toml::from_str(bad).unwrap();
            let error = format!("{:#}", section.limits().unwrap_err());
            assert!(error.contains(names), "{bad}: {error}");
        }
    }
}
