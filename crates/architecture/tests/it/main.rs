//! The workspace held to its architecture (ARCHITECTURE.md): no import circles, crates that
//! depend one way, readable files.

mod circles;
mod layers;
mod sizes;
