//! The store's conformance suite: one contract, run on SQLite and (when
//! `PAYBRIDGE_TEST_POSTGRES_URL` is set) PostgreSQL. Times are passed in, so nothing here waits
//! for a clock.

mod console;
mod coordination;
mod fixtures;
mod orders;
mod retention;
mod runs;
mod xrefs;
