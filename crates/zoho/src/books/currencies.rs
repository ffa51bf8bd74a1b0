//! Books currencies and exchange rates (§2.10): listed, added, and the rate on a date.

use crate::client::segment;
use crate::error::Error;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::Books;

// ---------------------------------------------------------------------------------------------
// Currencies

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Currency {
    pub currency_id: String,
    pub currency_code: String,
    #[serde(default)]
    pub price_precision: Option<u32>,
    #[serde(default)]
    pub is_base_currency: bool,
    #[serde(default, with = "crate::number::option")]
    pub exchange_rate: Option<Decimal>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ExchangeRate {
    pub exchange_rate_id: String,
    #[serde(default)]
    pub currency_id: Option<String>,
    #[serde(default)]
    pub currency_code: Option<String>,
    pub effective_date: String,
    #[serde(with = "crate::number")]
    pub rate: Decimal,
}

#[derive(Serialize)]
pub(crate) struct NewExchangeRate<'a> {
    effective_date: &'a str,
    #[serde(with = "crate::number")]
    rate: Decimal,
}

impl Books {
    // Currencies ---------------------------------------------------------------------------

    pub async fn currencies(&self) -> Result<Vec<Currency>, Error> {
        self.finance
            .list_all("/settings/currencies", &[], "currencies")
            .await
    }

    /// Adds a currency the organization can invoice in (its base currency is fixed).
    pub async fn add_currency(&self, code: &str, symbol: &str) -> Result<Currency, Error> {
        #[derive(Serialize)]
        struct NewCurrency<'a> {
            currency_code: &'a str,
            currency_symbol: &'a str,
            currency_format: &'a str,
        }
        self.post(
            "/settings/currencies",
            &[],
            &NewCurrency {
                currency_code: code,
                currency_symbol: symbol,
                currency_format: "1,234,567.89",
            },
            "currency",
        )
        .await
    }

    /// The organization's rates for a currency, newest first.
    pub async fn exchange_rates(&self, currency_id: &str) -> Result<Vec<ExchangeRate>, Error> {
        self.finance
            .list_all(
                &format!(
                    "/settings/currencies/{}/exchangerates",
                    segment(currency_id)?
                ),
                &[],
                "exchange_rates",
            )
            .await
    }

    /// The rate effective on `date` (`yyyy-mm-dd`): the newest one not after it.
    pub async fn exchange_rate_on(
        &self,
        currency_id: &str,
        date: &str,
    ) -> Result<Option<ExchangeRate>, Error> {
        Ok(self
            .exchange_rates(currency_id)
            .await?
            .into_iter()
            .filter(|r| r.effective_date.as_str() <= date)
            .max_by(|a, b| a.effective_date.cmp(&b.effective_date)))
    }

    pub async fn add_exchange_rate(
        &self,
        currency_id: &str,
        effective_date: &str,
        rate: Decimal,
    ) -> Result<ExchangeRate, Error> {
        self.post(
            &format!(
                "/settings/currencies/{}/exchangerates",
                segment(currency_id)?
            ),
            &[],
            &NewExchangeRate {
                effective_date,
                rate,
            },
            "exchange_rate",
        )
        .await
    }
}
