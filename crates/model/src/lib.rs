//! The canonical model of paybridge: what an order, a customer, an amount of money and a card
//! *summary* are, independent of any vendor's wire format. Pure data and pure functions, no I/O.
//!
//! - [`money`]: ISO currencies with their minor units, and decimal [`Money`] (never floats).
//! - [`order`]: orders, their lines and customers, and the order lifecycle ([`OrderStatus`]).
//! - [`card`]: card brands and the only card facts paybridge keeps (brand, last four, expiry).
//! - [`pan`]: the detector that keeps card numbers out of Zoho payloads, the store and logs.
//! - [`secrets`]: credentials in payloads, URLs and log lines, redacted wherever they are shown.
//! - [`status`]: status maps between Cybersource, Zoho and the storefront; reason codes in words.
//! - [`failure`]: how an external call failed, in the terms the engine decides on.
//! - [`open_enum!`]: vendor enums with an `Unknown(String)` for values added later.

pub mod card;
pub mod failure;
pub mod money;
pub mod open_enum;
pub mod order;
pub mod pan;
pub mod secrets;
pub mod status;

pub use card::{CardBrand, CardSummary};
pub use failure::{FailureKind, StepError, route_label};
pub use money::{Currency, Money, MoneyError};
pub use order::{Address, Customer, Order, OrderLine, OrderStatus};
