//! What survived a cut: the database read straight from the backing directory while nothing
//! runs (offline), and the same data through the restarted service's HTTP API (online).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::time::{Instant, SystemTime};

use rusqlite::{Connection, OpenFlags, config::DbConfig};

use crate::http::{Client, encode};
use crate::rng::Rng;

/// The surviving database, as SQLite reads it after the cut.
#[derive(Debug, Default)]
pub struct Survivor {
    /// `PRAGMA integrity_check` rows (`["ok"]` when sound).
    pub integrity: Vec<String>,
    /// Stored message ids.
    pub messages: HashSet<String>,
    /// Stored (message id, status) pairs.
    pub statuses: HashSet<(String, String)>,
    /// Sum of the per-sender counts, which `/stats` reports as its total.
    pub sender_total: u64,
    /// For each searched token, the ids whose text contains it.
    pub searches: Vec<(String, BTreeSet<String>)>,
    /// `text_index_progress.indexed_upto`.
    pub indexed_upto: i64,
    /// Highest rowid of `messages`.
    pub max_rowid: i64,
    /// Sizes of the database file and its log.
    pub db_bytes: u64,
    /// Size of the log.
    pub wal_bytes: u64,
}

fn stamp(path: &Path) -> Option<(u64, SystemTime)> {
    std::fs::metadata(path).ok().map(|m| (m.len(), m.modified().unwrap_or(SystemTime::UNIX_EPOCH)))
}

impl Survivor {
    /// Reads the database at `db` (on the backing directory). `None` when no database file
    /// survived. The file and its log are left as they are: the connection only reads and does
    /// not checkpoint on close.
    ///
    /// # Errors
    /// SQLite could not read it, or reading it changed the files.
    pub fn read(db: &Path, tokens: &[String]) -> Result<Option<Self>, String> {
        if !db.exists() {
            return Ok(None);
        }
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        let wal = std::path::PathBuf::from(wal);
        let before = (stamp(db), stamp(&wal));
        let s = Self::query(db, tokens).map_err(|e| format!("{}: {e}", db.display()))?;
        let after = (stamp(db), stamp(&wal));
        if before != after {
            return Err(format!("reading {} changed it: {before:?} -> {after:?}", db.display()));
        }
        Ok(Some(Self { db_bytes: before.0.map_or(0, |s| s.0), wal_bytes: before.1.map_or(0, |s| s.0), ..s }))
    }

    fn query(db: &Path, tokens: &[String]) -> rusqlite::Result<Self> {
        let conn =
            Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
        conn.pragma_update(None, "query_only", true)?;
        let mut s = Self::default();
        let mut stmt = conn.prepare("PRAGMA integrity_check")?;
        s.integrity = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<_, _>>()?;
        drop(stmt);
        let has = |table: &str| -> rusqlite::Result<bool> {
            conn.query_row("SELECT count(*) FROM sqlite_master WHERE name = ?1", [table], |r| r.get::<_, i64>(0))
                .map(|n| n > 0)
        };
        if !has("messages")? {
            // Cut before the migrations were durable: an empty database.
            return Ok(s);
        }
        let mut stmt = conn.prepare("SELECT message_id FROM messages")?;
        s.messages = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<_, _>>()?;
        drop(stmt);
        if has("statuses")? {
            let mut stmt = conn.prepare("SELECT message_id, status FROM statuses")?;
            s.statuses = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
        }
        s.sender_total = conn
            .query_row("SELECT coalesce(sum(message_count), 0) FROM sender_counts", [], |r| r.get::<_, i64>(0))?
            .unsigned_abs();
        s.max_rowid = conn.query_row("SELECT coalesce(max(rowid), 0) FROM messages", [], |r| r.get(0))?;
        // The index lives in a file of its own beside the database; versions before kept it inside.
        let mut search = db.as_os_str().to_owned();
        search.push("-search");
        if has("text_index_progress")? {
            s.indexed_upto = conn.query_row("SELECT indexed_upto FROM text_index_progress", [], |r| r.get(0))?;
        } else if Path::new(&search).exists() {
            let index = Connection::open_with_flags(
                &search,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            index.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
            index.pragma_update(None, "query_only", true)?;
            s.indexed_upto = index.query_row("SELECT indexed_upto FROM text_index_progress", [], |r| r.get(0))?;
        }
        for token in tokens {
            // Straight from the rows, not through the search index the service uses.
            let mut stmt = conn.prepare("SELECT message_id FROM messages WHERE instr(text_folded, ?1) > 0")?;
            let ids = stmt.query_map([token], |r| r.get::<_, String>(0))?.collect::<Result<_, _>>()?;
            s.searches.push((token.clone(), ids));
        }
        Ok(s)
    }

    /// Problems SQLite itself sees in the file: integrity, counters, the search index's mark.
    /// With `synced` false (`synchronous=normal`) the index may hold rows the cut took back, as
    /// nothing waits for the log; the service must then empty it at start, which the restart's
    /// searches check, so here it is no problem.
    pub fn problems(&self, synced: bool) -> Vec<String> {
        let mut p = Vec::new();
        if self.integrity != ["ok"] {
            p.push(format!("integrity_check: {}", self.integrity.join("; ")));
        }
        if self.sender_total != self.messages.len() as u64 {
            p.push(format!("sender counts add up to {} for {} rows", self.sender_total, self.messages.len()));
        }
        if synced && self.index_ahead() {
            p.push(format!("the text index claims rowid {} but the last row is {}", self.indexed_upto, self.max_rowid));
        }
        p
    }

    /// Whether the search index claims rows past the last one that survived.
    pub fn index_ahead(&self) -> bool {
        self.indexed_upto > self.max_rowid
    }
}

/// When something was acknowledged.
#[derive(Debug, Clone, Copy)]
pub struct Acked {
    /// The cut round (0-based).
    pub round: usize,
    /// The instant of the 200.
    pub at: Instant,
}

/// Everything acknowledged so far that must still be there.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Messages answered 200.
    pub messages: HashMap<String, Acked>,
    /// Statuses answered 200.
    pub statuses: HashMap<(String, String), Acked>,
    /// Messages the feed showed.
    pub fed: HashMap<String, Acked>,
}

/// Acknowledged data missing after a cut.
#[derive(Debug, Default)]
pub struct Losses {
    /// (id, round acknowledged, milliseconds from the 200 to the cut; negative: after it).
    pub messages: Vec<(String, usize, i64)>,
    /// Statuses.
    pub statuses: Vec<((String, String), usize, i64)>,
    /// Messages a feed consumer had been shown.
    pub fed: Vec<(String, usize, i64)>,
}

impl Losses {
    /// Total count.
    pub fn count(&self) -> usize {
        self.messages.len() + self.statuses.len() + self.fed.len()
    }
}

fn before_cut(at: Instant, cut: Instant) -> i64 {
    if cut >= at {
        i64::try_from(cut.duration_since(at).as_millis()).unwrap_or(i64::MAX)
    } else {
        -i64::try_from(at.duration_since(cut).as_millis()).unwrap_or(i64::MAX)
    }
}

impl Ledger {
    /// What the ledger holds that the survivor lacks; those entries leave the ledger, so each
    /// loss is reported once.
    pub fn settle(&mut self, survivor: &Survivor, cut: Instant) -> Losses {
        let mut losses = Losses::default();
        self.messages.retain(|id, a| {
            let kept = survivor.messages.contains(id);
            if !kept {
                losses.messages.push((id.clone(), a.round, before_cut(a.at, cut)));
            }
            kept
        });
        self.statuses.retain(|key, a| {
            let kept = survivor.statuses.contains(key);
            if !kept {
                losses.statuses.push((key.clone(), a.round, before_cut(a.at, cut)));
            }
            kept
        });
        self.fed.retain(|id, a| {
            let kept = survivor.messages.contains(id);
            if !kept {
                losses.fed.push((id.clone(), a.round, before_cut(a.at, cut)));
            }
            kept
        });
        losses.messages.sort_by_key(|l| l.2);
        losses.statuses.sort_by_key(|l| l.2);
        losses.fed.sort_by_key(|l| l.2);
        losses
    }
}

/// Pages through `/messages` (with `filter`, already encoded) by cursor; returns the ids and
/// the `total` of the first page.
fn list_all(client: &Client, filter: &str, max_pages: usize) -> Result<(BTreeSet<String>, u64), String> {
    let mut ids = BTreeSet::new();
    let mut cursor: Option<String> = None;
    let mut total = None;
    for _ in 0..max_pages {
        let at = cursor.as_ref().map_or(String::new(), |c| format!("&cursor={}", encode(c)));
        let page = client.get_json(&format!("/messages?limit=100{filter}{at}"))?;
        total.get_or_insert(page["total"].as_u64().unwrap_or(0));
        for row in page["data"].as_array().into_iter().flatten() {
            if let Some(id) = row["message_id"].as_str() {
                ids.insert(id.to_owned());
            }
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok((ids, total.unwrap_or(0))),
        }
    }
    Err(format!("/messages{filter}: more than {max_pages} pages"))
}

/// What the restarted service must show of the survivor: `/stats` counts its rows, searches
/// agree with its rows, acknowledged messages and statuses read back (a sample of
/// `sample` ids), and with `full`, listing every message gives exactly its rows. Returns the
/// problems, and what was checked.
pub fn online(
    client: &Client,
    survivor: &Survivor,
    ledger: &Ledger,
    rng: &mut Rng,
    sample: usize,
    full: bool,
) -> (Vec<String>, String) {
    let mut problems = Vec::new();
    let mut checked = vec!["/stats".to_owned()];
    match client.get_json("/stats") {
        Ok(stats) => {
            let total = stats["total_messages"].as_u64().unwrap_or(u64::MAX);
            if total != survivor.messages.len() as u64 {
                problems.push(format!("/stats total_messages {total}, but {} rows survived", survivor.messages.len()));
            }
        }
        Err(e) => problems.push(e),
    }
    for (token, expected) in &survivor.searches {
        match list_all(client, &format!("&q={}", encode(token)), 10_000) {
            Ok((found, total)) => {
                if &found != expected || total != expected.len() as u64 {
                    let missing: Vec<_> = expected.difference(&found).take(5).collect();
                    let extra: Vec<_> = found.difference(expected).take(5).collect();
                    problems.push(format!(
                        "q={token}: {} found (total {total}), {} rows contain it; missing {missing:?}, extra {extra:?}",
                        found.len(),
                        expected.len()
                    ));
                }
            }
            Err(e) => problems.push(e),
        }
        checked.push(format!("q={token} ({} rows)", expected.len()));
    }
    let mut ids: Vec<&String> = ledger.messages.keys().collect();
    ids.sort_unstable();
    for _ in 0..sample.min(ids.len()) {
        let id = ids[usize::try_from(rng.below(ids.len() as u64)).unwrap_or(0)];
        match client.get_json(&format!("/messages/{}", encode(id))) {
            Ok(m) if m["message_id"] == id.as_str() => {}
            Ok(m) => problems.push(format!("/messages/{id} answered another message: {}", m["message_id"])),
            Err(e) => problems.push(e),
        }
    }
    checked.push(format!("{} messages by id", sample.min(ids.len())));
    let mut statuses: Vec<&(String, String)> = ledger.statuses.keys().collect();
    statuses.sort_unstable();
    for _ in 0..(sample / 4).min(statuses.len()) {
        let (id, status) = statuses[usize::try_from(rng.below(statuses.len() as u64)).unwrap_or(0)];
        match client.get_json(&format!("/statuses?message_id={}", encode(id))) {
            Ok(page) => {
                let rows = page["data"].as_array().cloned().unwrap_or_default();
                if !rows.iter().any(|r| r["status"] == status.as_str()) {
                    problems.push(format!("/statuses?message_id={id} lacks {status}"));
                }
            }
            Err(e) => problems.push(e),
        }
    }
    checked.push(format!("{} statuses", (sample / 4).min(statuses.len())));
    if full {
        checked.push(format!("a listing of all {} rows", survivor.messages.len()));
        match list_all(client, "", 100_000) {
            Ok((found, total)) => {
                let rows: BTreeSet<String> = survivor.messages.iter().cloned().collect();
                if found != rows || total != rows.len() as u64 {
                    problems.push(format!(
                        "listing /messages gave {} ids (total {total}) for {} rows",
                        found.len(),
                        rows.len()
                    ));
                }
            }
            Err(e) => problems.push(e),
        }
    }
    (problems, checked.join(", "))
}
