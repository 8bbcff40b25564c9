//! `sqlite-baseline` mode: what SQLite alone commits from Rust at full durability, the
//! storage ceiling the service's ingest is compared with.
//!
//! The same shape as the issue's reference: WAL, `synchronous=FULL`, `messages` with a text
//! primary key and two indexes, one multi-row `INSERT … ON CONFLICT DO NOTHING RETURNING
//! message_id` per group (split into statements of at most `MAX_ROWS_PER_STATEMENT` rows), one
//! transaction per group. Each group size gets a fresh database in a fresh temporary directory.
//! Rows come from the same generator as `write` and are built before the clock starts.
//!
//! `--schema service` adds what the service's own write does on SQLite, to split the gap between
//! the service and this loop into storage and the rest: a case-folded copy of the text, an FTS5
//! trigram index over it filled by a trigger, and one per-sender count upsert per group.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow};
use hdrhistogram::Histogram;
use rusqlite::{Connection, params_from_iter, types::Value as Sql};
use serde_json::{Value, json};

use crate::BaselineArgs;
use crate::payload::{Generator, run_prefix, sender};
use crate::report::emit;

/// 6 or 7 parameters a row: 1000 rows stay far below SQLite's 32766-parameter limit.
const MAX_ROWS_PER_STATEMENT: usize = 1000;

const SCHEMA: &str = "
    CREATE TABLE messages (
        message_id  TEXT PRIMARY KEY,
        from_msisdn TEXT NOT NULL,
        to_msisdn   TEXT NOT NULL,
        ts          INTEGER NOT NULL,
        text        TEXT,
        created_at  INTEGER NOT NULL
    );
    CREATE INDEX messages_from_ts ON messages (from_msisdn, ts, message_id);
    CREATE INDEX messages_ts ON messages (ts, message_id);
";

/// Added by `--schema service`: the service's migrations on SQLite, in short.
const SERVICE_SCHEMA: &str = "
    ALTER TABLE messages ADD COLUMN text_folded TEXT;
    CREATE VIRTUAL TABLE messages_text USING fts5(
        text_folded, content='messages', content_rowid='rowid', tokenize='trigram case_sensitive 1');
    CREATE TRIGGER messages_text_after_insert AFTER INSERT ON messages WHEN new.text_folded IS NOT NULL
        BEGIN INSERT INTO messages_text (rowid, text_folded) VALUES (new.rowid, new.text_folded); END;
    CREATE TABLE sender_counts (from_msisdn TEXT PRIMARY KEY, message_count INTEGER NOT NULL);
";

/// `--schema current`: the tables and indexes the service's migrations leave on SQLite today
/// (`seq` AUTOINCREMENT for the feed, `created_at` for retention, per-sender counts with an index
/// by count for `/stats`, per-second/minute/hour/day counts for totals, the FTS5 index filled
/// after the fact in runs).
const CURRENT_SCHEMA: &str = "
    CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL UNIQUE,
        from_msisdn TEXT NULL, to_msisdn TEXT NOT NULL, ts BIGINT NOT NULL, text TEXT NULL, text_folded TEXT NULL,
        created_at BIGINT NOT NULL, source TEXT NOT NULL DEFAULT 'webhook', kind TEXT NOT NULL DEFAULT 'text',
        parts TEXT NULL, raw TEXT NULL);
    CREATE INDEX idx_messages_ts_id ON messages (ts, message_id);
    CREATE INDEX idx_messages_from_ts_id ON messages (from_msisdn, ts, message_id);
    CREATE INDEX idx_messages_created ON messages (created_at);
    CREATE TABLE sender_counts (from_msisdn TEXT NOT NULL PRIMARY KEY, message_count INTEGER NOT NULL);
    CREATE INDEX idx_sender_counts_busiest ON sender_counts (message_count DESC, from_msisdn);
    CREATE TABLE message_counts (span BIGINT NOT NULL, start BIGINT NOT NULL, n BIGINT NOT NULL,
        PRIMARY KEY (span, start)) WITHOUT ROWID;
";

/// The service's text index, in a file of its own beside the database (`<file>-search`).
const SEARCH_SCHEMA: &str = "
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = FULL;
    CREATE VIRTUAL TABLE messages_text USING fts5(
        text_folded, content='', contentless_delete=1, tokenize='trigram case_sensitive 1');
";

/// The service's statements on SQLite, each prepared once and run once per row, sender or bucket.
const CURRENT_INSERT: &str = "INSERT INTO messages (message_id, from_msisdn, to_msisdn, ts, text, text_folded,     created_at, source, kind) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'webhook', 'text')     ON CONFLICT (message_id) DO NOTHING RETURNING seq";
const CURRENT_SENDER: &str = "INSERT INTO sender_counts (from_msisdn, message_count) VALUES (?1, ?2)     ON CONFLICT (from_msisdn) DO UPDATE SET message_count = sender_counts.message_count + excluded.message_count     RETURNING message_count";
const CURRENT_BUCKET: &str = "INSERT INTO message_counts (span, start, n) VALUES (?1, ?2, ?3)     ON CONFLICT (span, start) DO UPDATE SET n = message_counts.n + excluded.n";
/// The service indexes text in runs of this many rows, in transactions of their own.
const TEXT_INDEX_RUN: i64 = 1_000;
/// And looks for new rows to index this often.
const TEXT_INDEX_EVERY: Duration = Duration::from_millis(200);
/// Bucket widths of `message_counts`, in microseconds.
const SPANS: [i64; 4] = [1_000_000, 60_000_000, 3_600_000_000, 86_400_000_000];

/// One row, ready to bind: id, from, to, ts, text, text folded.
struct Row([Sql; 6]);

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Schema {
    /// The issue's reference: the table, its primary key and two indexes.
    Issue,
    /// Also the service's extras: folded text, FTS5 trigram index, per-sender counts.
    Service,
    /// Everything the service's SQLite schema holds and writes today, written as the service
    /// writes it (see `CURRENT_SCHEMA`).
    Current,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Synchronous {
    Full,
    Normal,
    Off,
}

pub fn run(a: BaselineArgs) -> Result<ExitCode> {
    let groups = a.group_sizes()?;
    let seed = a.seed.unwrap_or_else(rand::random);
    let generator = Generator::new(run_prefix(), "unused", a.senders.count(), a.senders.skew(), a.senders.dist, seed);
    eprintln!("sqlite-baseline: building {} rows (SQLite {})", a.rows, rusqlite::version());
    let rows: Vec<Row> = (0..a.rows as u64)
        .map(|i| {
            let f = generator.fields(i);
            let (ts, from) = (f.ts_micros(), sender(f.rank));
            let folded = match (&f.text, a.schema) {
                (Some(t), Schema::Service | Schema::Current) => Sql::Text(t.to_lowercase()),
                _ => Sql::Null,
            };
            let text = f.text.map_or(Sql::Null, Sql::Text);
            Row([Sql::Text(f.message_id), Sql::Text(from), Sql::Text(f.to), Sql::Integer(ts), text, folded])
        })
        .collect();
    let mut results = Vec::new();
    let sync = match a.synchronous {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
        Synchronous::Off => "OFF",
    };
    let schema = match a.schema {
        Schema::Issue => "issue",
        Schema::Service => "service",
        Schema::Current => "current",
    };
    let statements = if a.schema == Schema::Current {
        "single-row statements prepared once"
    } else {
        "multi-row INSERT … ON CONFLICT DO NOTHING RETURNING"
    };
    let mut human = format!(
        "sqlite-baseline: WAL, synchronous={sync}, schema {schema} (PK + 2 indexes{}), {statements}\n\
         {:>6}  {:>9}  {:>8}  {:>12}  {:>14}  {:>14}",
        match a.schema {
            Schema::Issue => "",
            Schema::Service => " + FTS5 trigram + sender counts",
            Schema::Current => ", the service's tables and statements of today",
        },
        "group",
        "rows",
        "seconds",
        "rows/s",
        "commit p50 ms",
        "commit p99 ms"
    );
    for &group in &groups {
        let dir = TempDir::new(a.dir.as_deref())?;
        let r = insert_loop(&dir.0.join("baseline.db"), &rows, group, a.duration, a.schema, sync)
            .with_context(|| format!("group size {group}"))?;
        human.push_str(&format!(
            "\n{group:>6}  {:>9}  {:>8.2}  {:>12.1}  {:>14.3}  {:>14.3}",
            r["rows"].as_u64().unwrap_or(0),
            r["elapsed_s"].as_f64().unwrap_or(0.0),
            r["rows_per_s"].as_f64().unwrap_or(0.0),
            r["commit_ms"]["p50"].as_f64().unwrap_or(0.0),
            r["commit_ms"]["p99"].as_f64().unwrap_or(0.0),
        ));
        if r["pool_exhausted"].as_bool() == Some(true) {
            human.push_str("  (stopped early: all pre-built rows used; raise --rows)");
        }
        results.push(r);
    }
    let best = results.iter().filter_map(|r| r["rows_per_s"].as_f64()).fold(0.0, f64::max);
    let figures = json!({
        "mode": "sqlite-baseline", "sqlite_version": rusqlite::version(), "synchronous": sync, "schema": schema,
        "duration_s": a.duration.as_secs_f64(), "groups": results, "best_rows_per_s": best,
    });
    emit(a.json, &human, &figures);
    Ok(ExitCode::SUCCESS)
}

/// Commits groups of `group` rows into a fresh database until `duration` has passed or the rows
/// run out; returns rows/s and the latency of a whole group (insert + commit).
fn insert_loop(
    path: &Path,
    rows: &[Row],
    group: usize,
    duration: Duration,
    schema: Schema,
    sync: &str,
) -> Result<Value> {
    let mut db = Connection::open(path)?;
    let mode: String = db.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(anyhow!("journal_mode is {mode}, not wal"));
    }
    db.execute_batch(&format!("PRAGMA synchronous={sync};"))?;
    if schema == Schema::Current {
        db.execute_batch(CURRENT_SCHEMA)?;
        let mut search = path.as_os_str().to_owned();
        search.push("-search");
        Connection::open(&search)?.execute_batch(SEARCH_SCHEMA)?;
        let stop = Arc::new(AtomicBool::new(false));
        let indexer = {
            let (db, search, stop) = (path.to_owned(), PathBuf::from(search), Arc::clone(&stop));
            std::thread::spawn(move || index_text(&db, &search, &stop))
        };
        let result = current_loop(&mut db, rows, group, duration);
        stop.store(true, Ordering::Relaxed);
        indexer.join().map_err(|_| anyhow!("the text indexer panicked"))??;
        return result;
    }
    db.execute_batch(SCHEMA)?;
    let service = schema == Schema::Service;
    if service {
        db.execute_batch(SERVICE_SCHEMA)?;
    }
    // The folded text is bound after `created_at`, and only for the service's schema.
    let folded = if service { 5..6 } else { 5..5 };
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut next, mut created) = (0usize, 0usize);
    let start = Instant::now();
    while start.elapsed() < duration && next + group <= rows.len() {
        let t = Instant::now();
        let now = Sql::Integer(SystemTime::now().duration_since(UNIX_EPOCH)?.as_micros() as i64);
        let tx = db.transaction()?;
        let mut per_sender: BTreeMap<&str, i64> = BTreeMap::new();
        for chunk in rows[next..next + group].chunks(MAX_ROWS_PER_STATEMENT) {
            let mut stmt = tx.prepare_cached(&insert_sql(chunk.len(), service))?;
            let params = chunk.iter().flat_map(|r| r.0[..5].iter().chain([&now]).chain(&r.0[folded.clone()]));
            let mut returned = stmt.query(params_from_iter(params))?;
            while returned.next()?.is_some() {
                created += 1;
            }
            if service {
                // Every row of this loop is new, so each counts for its sender.
                for r in chunk {
                    if let Sql::Text(from) = &r.0[1] {
                        *per_sender.entry(from).or_default() += 1;
                    }
                }
            }
        }
        if service {
            let values = vec!["(?, ?)"; per_sender.len()].join(", ");
            let sql = format!(
                "INSERT INTO sender_counts (from_msisdn, message_count) VALUES {values} ON CONFLICT (from_msisdn) \
                 DO UPDATE SET message_count = sender_counts.message_count + excluded.message_count"
            );
            let params: Vec<Sql> =
                per_sender.iter().flat_map(|(f, n)| [Sql::Text((*f).to_owned()), Sql::Integer(*n)]).collect();
            tx.execute(&sql, params_from_iter(params))?;
        }
        tx.commit()?;
        hist.saturating_record(t.elapsed().as_micros().max(1) as u64);
        next += group;
    }
    summarize(start.elapsed(), duration, &hist, group, next, created)
}

/// The figures of one group size: `next` rows offered, `created` reported by RETURNING.
fn summarize(
    elapsed: Duration,
    duration: Duration,
    hist: &Histogram<u64>,
    group: usize,
    next: usize,
    created: usize,
) -> Result<Value> {
    let exhausted = elapsed < duration;
    let elapsed = elapsed.as_secs_f64();
    if created != next {
        return Err(anyhow!("RETURNING reported {created} created rows for {next} unique ids"));
    }
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    Ok(json!({
        "group": group, "rows": next, "commits": hist.len(), "elapsed_s": (elapsed * 1000.0).round() / 1000.0,
        "rows_per_s": (next as f64 / elapsed.max(1e-9) * 10.0).round() / 10.0,
        "commit_ms": { "p50": ms(0.5), "p99": ms(0.99), "max": hist.max() as f64 / 1000.0 },
        "pool_exhausted": exhausted,
    }))
}

/// The service's text indexer, on a thread of its own as the service runs it beside the writer:
/// every [`TEXT_INDEX_EVERY`], the rows committed since, in runs of [`TEXT_INDEX_RUN`], into the
/// search file. Once `stop` is set, it indexes what is left and returns.
fn index_text(db: &Path, search: &Path, stop: &AtomicBool) -> Result<()> {
    let conn = Connection::open(search)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.execute("ATTACH DATABASE ?1 AS m", [db.to_string_lossy()])?;
    let mut indexed = 0i64;
    loop {
        let last = stop.load(Ordering::Relaxed);
        let top: i64 = conn.query_row("SELECT coalesce(max(seq), 0) FROM m.messages", [], |r| r.get(0))?;
        while indexed < top {
            let upto = top.min(indexed + TEXT_INDEX_RUN);
            conn.execute(
                "INSERT INTO main.messages_text (rowid, text_folded) SELECT seq, text_folded FROM m.messages \
                 WHERE seq > ?1 AND seq <= ?2 AND text_folded IS NOT NULL",
                rusqlite::params![indexed, upto],
            )?;
            indexed = upto;
        }
        if last {
            return Ok(());
        }
        std::thread::sleep(TEXT_INDEX_EVERY);
    }
}

/// [`insert_loop`] for `--schema current`: per group, what the service's writer does in one
/// transaction (the text index is filled beside it, see [`index_text`]).
fn current_loop(db: &mut Connection, rows: &[Row], group: usize, duration: Duration) -> Result<Value> {
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut next, mut created) = (0usize, 0usize);
    let start = Instant::now();
    while start.elapsed() < duration && next + group <= rows.len() {
        let t = Instant::now();
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_micros() as i64;
        let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut per_sender: BTreeMap<&str, i64> = BTreeMap::new();
        let mut buckets: BTreeMap<(i64, i64), i64> = BTreeMap::new();
        {
            let mut insert = tx.prepare_cached(CURRENT_INSERT)?;
            for r in &rows[next..next + group] {
                let [id, from, to, ts, text, folded] = &r.0;
                let mut returned = insert.query(rusqlite::params![id, from, to, ts, text, folded, now])?;
                if returned.next()?.is_some() {
                    created += 1;
                    if let Sql::Text(from) = from {
                        *per_sender.entry(from).or_default() += 1;
                    }
                    if let Sql::Integer(ts) = ts {
                        for span in SPANS {
                            *buckets.entry((span, ts - ts.rem_euclid(span))).or_default() += 1;
                        }
                    }
                }
            }
            let mut count = tx.prepare_cached(CURRENT_SENDER)?;
            let mut new = 0i64;
            for (from, n) in &per_sender {
                let counted: i64 = count.query_row(rusqlite::params![from, n], |r| r.get(0))?;
                new += i64::from(counted == *n);
            }
            if new != 0 {
                *buckets.entry((0, 0)).or_default() += new;
            }
            let mut bump = tx.prepare_cached(CURRENT_BUCKET)?;
            for ((span, start), n) in &buckets {
                bump.execute(rusqlite::params![span, start, n])?;
            }
        }
        tx.commit()?;
        hist.saturating_record(t.elapsed().as_micros().max(1) as u64);
        next += group;
    }
    summarize(start.elapsed(), duration, &hist, group, next, created)
}

fn insert_sql(n: usize, service: bool) -> String {
    let (extra, marks) = if service { (", text_folded", "(?, ?, ?, ?, ?, ?, ?)") } else { ("", "(?, ?, ?, ?, ?, ?)") };
    let values = vec![marks; n].join(", ");
    format!(
        "INSERT INTO messages (message_id, from_msisdn, to_msisdn, ts, text, created_at{extra}) VALUES {values} \
         ON CONFLICT (message_id) DO NOTHING RETURNING message_id"
    )
}

/// A fresh directory, removed with everything in it when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(parent: Option<&Path>) -> Result<Self> {
        let parent = parent.map_or_else(std::env::temp_dir, Path::to_path_buf);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.subsec_nanos();
        let dir = parent.join(format!("loadgen-baseline-{}-{nanos:x}", std::process::id()));
        std::fs::create_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize, senders: usize) -> Vec<Row> {
        (0..n)
            .map(|i| {
                let ts = 1_735_689_600_000_000 + (i as i64 % 90) * 1_000_000;
                let text = format!("hello number {i}");
                Row([
                    Sql::Text(format!("id-{i}")),
                    Sql::Text(format!("+1555{:07}", i % senders)),
                    Sql::Text("+15550000000".into()),
                    Sql::Integer(ts),
                    Sql::Text(text.clone()),
                    Sql::Text(text),
                ])
            })
            .collect()
    }

    #[test]
    fn the_current_schema_loop_keeps_every_count_the_service_keeps() {
        let dir = TempDir::new(None).unwrap();
        let rows = rows(2_500, 7);
        let r =
            insert_loop(&dir.0.join("c.db"), &rows, 100, Duration::from_secs(60), Schema::Current, "NORMAL").unwrap();
        assert_eq!(r["rows"], 2_500);
        let db = Connection::open(dir.0.join("c.db")).unwrap();
        let one = |sql: &str| db.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
        assert_eq!(one("SELECT count(*) FROM messages"), 2_500);
        assert_eq!(one("SELECT sum(message_count) FROM sender_counts"), 2_500);
        assert_eq!(one("SELECT n FROM message_counts WHERE span = 0"), 7, "distinct senders");
        for span in SPANS {
            assert_eq!(one(&format!("SELECT sum(n) FROM message_counts WHERE span = {span}")), 2_500);
        }
        assert_eq!(one("SELECT count(*) FROM message_counts WHERE span = 1000000"), 90, "one bucket per second");
        let search = Connection::open(dir.0.join("c.db-search")).unwrap();
        let indexed: i64 = search
            .query_row("SELECT count(*) FROM messages_text WHERE messages_text MATCH '\"number\"'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(indexed, 2_500, "the text index, in its own file, holds every row once the loop ends");
    }
}
