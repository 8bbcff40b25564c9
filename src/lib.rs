//! Webhook ingestion: authenticate, validate and store inbound messages exactly once.

pub mod adapters;
pub mod app;
pub mod domain;
