//! Reading `DATABASE_URL`: SQLite in the sqlx form or the SQLAlchemy form, or PostgreSQL.

use std::path::PathBuf;

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    /// An SQLite file, created with its directory when missing.
    SqliteFile(PathBuf),
    /// A private in-memory SQLite database (tests only: nothing survives a restart).
    SqliteMemory,
    /// A PostgreSQL server, URL passed through unchanged.
    Postgres(String),
}

impl DatabaseTarget {
    /// Reads a `DATABASE_URL`.
    ///
    /// `sqlite:///abs/path.db` and the SQLAlchemy `sqlite:////abs/path.db` both name `/abs/path.db`;
    /// `sqlite://rel/path.db` and `sqlite:rel/path.db` are relative to the working directory.
    ///
    /// # Errors
    /// An unknown scheme or an SQLite URL without a path.
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        let Some(rest) = url.strip_prefix("sqlite:") else {
            let scheme = url.split(':').next().unwrap_or_default();
            return Err(format!("unsupported scheme {scheme:?}: use sqlite:// or postgres://"));
        };
        let path = rest.split('?').next().unwrap_or_default();
        if path == ":memory:" || path == "//:memory:" {
            return Ok(Self::SqliteMemory);
        }
        let path = match path.strip_prefix("//") {
            // `sqlite:///x` is absolute; `sqlite:////x` (SQLAlchemy) is too, so collapse the slashes.
            Some(p) if p.starts_with('/') => format!("/{}", p.trim_start_matches('/')),
            Some(p) => p.to_owned(),
            None => path.to_owned(),
        };
        if path.is_empty() {
            return Err("sqlite URL names no file, e.g. sqlite://data/app.db".into());
        }
        // Decoded here, once, as sqlx would: the log beside the file must be found under the name
        // SQLite gave the file (`sqlite:///data/my%20db.db` is `/data/my db.db`).
        let path = percent_encoding::percent_decode_str(&path)
            .decode_utf8()
            .map_err(|_| "sqlite URL path is not UTF-8 once percent-decoded".to_owned())?;
        Ok(Self::SqliteFile(PathBuf::from(path.into_owned())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(p: &str) -> Result<DatabaseTarget, String> {
        Ok(DatabaseTarget::SqliteFile(PathBuf::from(p)))
    }

    #[test]
    fn reads_sqlx_and_sqlalchemy_forms() {
        assert_eq!(DatabaseTarget::parse("sqlite:////data/app.db"), file("/data/app.db"));
        assert_eq!(DatabaseTarget::parse("sqlite:///data/app.db"), file("/data/app.db"));
        assert_eq!(DatabaseTarget::parse("sqlite://data/app.db"), file("data/app.db"));
        assert_eq!(DatabaseTarget::parse("sqlite:data/app.db?mode=rwc"), file("data/app.db"));
        assert_eq!(DatabaseTarget::parse("sqlite::memory:"), Ok(DatabaseTarget::SqliteMemory));
    }

    #[test]
    fn a_percent_encoded_path_is_decoded_once() {
        assert_eq!(DatabaseTarget::parse("sqlite:///data/my%20db.db"), file("/data/my db.db"));
        assert_eq!(DatabaseTarget::parse("sqlite:///data/100%2541.db"), file("/data/100%41.db"));
        assert!(DatabaseTarget::parse("sqlite:///data/%FF.db").is_err());
    }

    #[test]
    fn reads_postgres_and_rejects_others() {
        assert!(matches!(DatabaseTarget::parse("postgres://u@h/db"), Ok(DatabaseTarget::Postgres(_))));
        assert!(matches!(DatabaseTarget::parse("postgresql://u@h/db"), Ok(DatabaseTarget::Postgres(_))));
        assert!(DatabaseTarget::parse("mysql://u@h/db").is_err());
        assert!(DatabaseTarget::parse("sqlite://").is_err());
        assert!(DatabaseTarget::parse("").is_err());
    }
}
