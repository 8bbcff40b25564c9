//! The `messages` table.

use sea_orm::entity::prelude::*;

/// One stored message.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    /// The provider's id; the primary key that makes inserts idempotent.
    #[sea_orm(primary_key, auto_increment = false)]
    pub message_id: String,
    /// Sender, E.164; null for a sender known only by a user id (in `parts`).
    pub from_msisdn: Option<String>,
    /// Recipient, E.164.
    pub to_msisdn: String,
    /// Microseconds since the Unix epoch, UTC.
    pub ts: i64,
    /// The body as sent.
    pub text: Option<String>,
    /// The body case-folded, for substring search.
    pub text_folded: Option<String>,
    /// When this service stored it, microseconds since the Unix epoch.
    pub created_at: i64,
    /// `webhook`, `whatsapp` or `twilio`.
    pub source: String,
    /// The provider's `type`.
    pub kind: String,
    /// The parts beside the text, as JSON; null when there are none.
    pub parts: Option<String>,
    /// The provider's own object, byte for byte.
    pub raw: Option<String>,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
