//! The workspace held to its architecture (ARCHITECTURE.md): no import circles, crates that
//! depend one way, readable files, and the vendors' contracts kept as they were published.

mod circles;
mod contracts;
mod layers;
mod sizes;
