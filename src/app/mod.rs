//! Wiring: configuration, telemetry and the composition of adapters around the core.

pub mod args;
pub mod bootstrap;
pub mod cli;
pub mod config;
pub mod header_deadline;
pub mod memory;
pub mod retention;
pub mod send;
pub mod telemetry;
