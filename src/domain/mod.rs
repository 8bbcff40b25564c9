//! The pure core: domain values, ports and use cases. No HTTP, database, environment or clock here.

pub mod cursor;
pub mod delivery;
pub mod error;
pub mod message;
pub mod payload;
pub mod ports;
pub mod query;
pub mod service;
pub mod signature;
pub mod stats;
pub mod status_query;
pub mod timestamp;
pub mod twilio;
pub mod whatsapp;
mod whatsapp_message;
mod whatsapp_parts;
