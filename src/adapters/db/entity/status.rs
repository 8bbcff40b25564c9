//! The `statuses` table: delivery statuses of messages the business sent.

use sea_orm::entity::prelude::*;

/// One status of one message; the pair is the key, so a redelivered status is stored once.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "statuses")]
pub struct Model {
    /// The business's message the status is about.
    #[sea_orm(primary_key, auto_increment = false)]
    pub message_id: String,
    /// `sent`, `delivered`, `read`, `failed`, `played`, or the provider's own word.
    #[sea_orm(primary_key, auto_increment = false)]
    pub status: String,
    /// When the provider says it happened, microseconds since the Unix epoch.
    pub ts: i64,
    /// Who the message was sent to.
    pub recipient: Option<String>,
    /// The provider's errors, as JSON.
    pub errors: Option<String>,
    /// The pricing category.
    pub pricing_category: Option<String>,
    /// `whatsapp` or `twilio`.
    pub source: String,
    /// The provider's own object, byte for byte.
    pub raw: Option<String>,
    /// When this service stored it, microseconds since the Unix epoch.
    pub created_at: i64,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
