//! Counts kept beside the messages so that totals and `/stats` never count rows one by one:
//! `message_counts` holds how many messages fall in each second, minute, hour and day of `ts`
//! (a row per bucket that holds any), and the number of distinct senders; `sender_counts` gains
//! an index by count, so the busiest senders are its first entries.
//!
//! A `since` total is then a sum over at most 60 + 60 + 24 buckets and the days after them, plus
//! the rows of one partial second counted through the `ts` index. The service keeps the counts
//! in the transaction that writes or deletes the rows (`adapters/db/counts.rs`).

use sea_orm_migration::prelude::*;

use crate::run_all;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Bucket widths in microseconds, finest first; 0 is the row counting senders.
const SPANS: [i64; 4] = [1_000_000, 60_000_000, 3_600_000_000, 86_400_000_000];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sqlite = manager.get_database_backend() == sea_orm_migration::sea_orm::DbBackend::Sqlite;
        let create = format!(
            "CREATE TABLE message_counts (span BIGINT NOT NULL, start BIGINT NOT NULL, n BIGINT NOT NULL, \
             PRIMARY KEY (span, start)){}",
            if sqlite { " WITHOUT ROWID" } else { "" }
        );
        let mut statements = vec![create];
        for span in SPANS {
            // Floor division, also for instants before 1970 (`%` keeps the dividend's sign).
            statements.push(format!(
                "INSERT INTO message_counts (span, start, n) \
                 SELECT {span}, ts - (((ts % {span}) + {span}) % {span}) AS bucket, count(*) FROM messages GROUP BY bucket"
            ));
        }
        statements.push("INSERT INTO message_counts (span, start, n) SELECT 0, 0, count(*) FROM sender_counts".into());
        statements
            .push("CREATE INDEX idx_sender_counts_busiest ON sender_counts (message_count DESC, from_msisdn)".into());
        let statements: Vec<&str> = statements.iter().map(String::as_str).collect();
        run_all(manager.get_connection(), &statements).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_all(
            manager.get_connection(),
            &["DROP INDEX IF EXISTS idx_sender_counts_busiest", "DROP TABLE IF EXISTS message_counts"],
        )
        .await
    }
}
