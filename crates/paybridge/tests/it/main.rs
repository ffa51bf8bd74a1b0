//! End-to-end tests of the paybridge binary and of the demo environment over HTTP.

mod browser;
mod cli;
mod crash;
mod demo;
mod faults;
mod flows;
mod helpers;
mod scale;
mod sdk;
mod sweep;
mod vault;
