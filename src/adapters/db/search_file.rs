//! SQLite: the text index for `q` in a file of its own beside the database (`<file>-search`).
//!
//! Filled inside the messages file, each run of the indexer held that file's one write lock, and
//! the group-commit writer waited: at 32 connections the runs alone set the write p99 (25–29 ms
//! against 12–14 without them, BENCHMARKS.md, issue 16). In a file of its own the index has its own
//! lock and its own log, so it is written while groups go on committing. Every read connection
//! attaches the file as `search`; SQLite looks a name up in `main` first and then in attached
//! files, so queries name `messages_text` as before.
//!
//! The file holds only what can be rebuilt from `messages`: the index (contentless, so the text is
//! stored once, in `messages`), how far it reaches, the token of the database it was built from,
//! and the rows a deletion is taking out. Deleted, left behind by a restore or beside another
//! database, it is built again (see `text_index`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;
use sea_orm::sqlx::{self, SqliteConnection};

/// The name the file is attached under.
pub const SCHEMA: &str = "search";

/// Bumped when the file's layout changes; a file of another version is emptied and rebuilt, but
/// for [`STAMPLESS`], which gains the column.
const VERSION: i64 = 3;

/// The version before the database's token was recorded: its files get an empty `database_id`,
/// which the next start fills in with the token of the database beside it.
const STAMPLESS: i64 = 2;

/// The file beside the database at `db`.
pub fn beside(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-search");
    PathBuf::from(name)
}

/// The file's tables under the schema name `schema`.
fn tables(schema: &str) -> String {
    // `case_sensitive 1`: `text_folded` is folded already and a match must be exact.
    // `contentless_delete`: a row leaves the index by its rowid alone.
    format!(
        "CREATE VIRTUAL TABLE IF NOT EXISTS {schema}.messages_text USING fts5(\
             text_folded, content='', contentless_delete=1, tokenize='trigram case_sensitive 1'); \
         CREATE TABLE IF NOT EXISTS {schema}.text_index_progress (\
             id INTEGER PRIMARY KEY CHECK (id = 1), indexed_upto INTEGER NOT NULL, erased INTEGER NOT NULL, \
             erased_after INTEGER NOT NULL, database_id BLOB); \
         INSERT OR IGNORE INTO {schema}.text_index_progress (id, indexed_upto, erased, erased_after) \
             VALUES (1, 0, 0, 0); \
         CREATE TABLE IF NOT EXISTS {schema}.text_unindexed (rowid INTEGER PRIMARY KEY); \
         PRAGMA {schema}.user_version = {VERSION};"
    )
}

/// Creates the file at `path`, or brings one of another version to this one: by adding the
/// column for [`STAMPLESS`], by emptying it for any other.
/// Blocking; runs once, before any pooled connection attaches the file.
///
/// # Errors
/// The file cannot be opened or written.
pub fn prepare(path: &Path) -> rusqlite::Result<()> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version == STAMPLESS {
        conn.execute_batch(&format!(
            "BEGIN; ALTER TABLE text_index_progress ADD COLUMN database_id BLOB; PRAGMA user_version = {VERSION}; COMMIT;"
        ))?;
    } else if version != 0 && version != VERSION {
        tracing::warn!(version, "the search index file is of another version; rebuilding it");
        conn.execute_batch(
            "DROP TABLE IF EXISTS messages_text; DROP TABLE IF EXISTS text_index_progress; \
             DROP TABLE IF EXISTS text_unindexed;",
        )?;
    }
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    conn.execute_batch(&tables("main"))
}

/// Attaches the search file to a new pooled connection: the file at `path`, or for an in-memory
/// database a private one, created here. Commits do not fsync: a power cut may take back the
/// last runs of the indexer, with their progress, which are then run again. The one commit that
/// must be durable, a deletion's first step, is made so by an fsync of the file's log after it
/// (see `delete`), which keeps the indexer's syncs from queueing at the disk with the writer's.
///
/// # Errors
/// The file cannot be attached.
pub async fn attach(conn: &mut SqliteConnection, path: Option<&Path>) -> Result<(), sqlx::Error> {
    let name = match path {
        Some(p) => p.to_str().ok_or_else(|| sqlx::Error::Configuration("the database path is not UTF-8".into()))?,
        None => ":memory:",
    };
    sqlx::query("ATTACH DATABASE ? AS search").bind(name).execute(&mut *conn).await?;
    sqlx::raw_sql("PRAGMA search.synchronous = NORMAL").execute(&mut *conn).await?;
    if path.is_none() {
        sqlx::raw_sql(sqlx::AssertSqlSafe(tables(SCHEMA))).execute(&mut *conn).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_named_after_the_database() {
        assert_eq!(beside(Path::new("/data/app.db")), PathBuf::from("/data/app.db-search"));
        assert_eq!(beside(Path::new("rel.db")), PathBuf::from("rel.db-search"));
    }

    #[test]
    fn a_file_of_another_version_is_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db-search");
        prepare(&path).unwrap();
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("UPDATE text_index_progress SET indexed_upto = 7; PRAGMA user_version = 99;").unwrap();
        }
        prepare(&path).unwrap();
        let conn = Connection::open(&path).unwrap();
        let upto: i64 = conn.query_row("SELECT indexed_upto FROM text_index_progress", [], |r| r.get(0)).unwrap();
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!((upto, version, mode.as_str()), (0, VERSION, "wal"));
        // The same version is kept as it is.
        conn.execute_batch("UPDATE text_index_progress SET indexed_upto = 5").unwrap();
        drop(conn);
        prepare(&path).unwrap();
        let conn = Connection::open(&path).unwrap();
        let upto: i64 = conn.query_row("SELECT indexed_upto FROM text_index_progress", [], |r| r.get(0)).unwrap();
        assert_eq!(upto, 5);
    }

    #[test]
    fn a_file_from_before_the_token_keeps_its_index_and_gains_the_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db-search");
        prepare(&path).unwrap();
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(&format!(
                "ALTER TABLE text_index_progress DROP COLUMN database_id; \
                 UPDATE text_index_progress SET indexed_upto = 7; PRAGMA user_version = {STAMPLESS};"
            ))
            .unwrap();
        }
        prepare(&path).unwrap();
        let conn = Connection::open(&path).unwrap();
        let (upto, id): (i64, Option<Vec<u8>>) = conn
            .query_row("SELECT indexed_upto, database_id FROM text_index_progress", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!((upto, id, version), (7, None, VERSION));
    }
}
