//! sea-orm entities; they never leave `adapters::db`.

pub mod message;
pub mod message_count;
pub mod sender_count;
pub mod status;
pub mod write_probe;
