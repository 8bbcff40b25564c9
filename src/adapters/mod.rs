//! Adapters: everything that touches the outside world, each plugged into a port of the core.

pub mod batching;
pub mod clock;
pub mod db;
pub mod http;
pub mod memory;
pub mod metrics;
pub mod signature;
pub mod signing;
pub mod twilio_signature;
