//! The catalogue as flows see it.

mod catalogue;
