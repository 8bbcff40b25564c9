//! `loadgen`: load generator for the webhook-ingest service.
//!
//! Modes: `write` (default) measures signed `POST /webhook` and then verifies that every
//! acknowledged message is stored; `read` measures `GET /messages` with random filters and
//! `GET /stats` (or walks cursor pages); `seed` fills a database through the API as fast as it
//! can; `feed` drains `GET /feed`; `consume` writes while one consumer long-polls the feed, then
//! checks every acknowledged message came through exactly once; `sqlite-baseline` measures a
//! plain Rust SQLite insert loop, the storage ceiling ingest is compared with.

mod baseline;
mod client;
mod consume;
mod dist;
mod envelope;
mod feed;
mod payload;
mod read;
mod report;
mod rfc3339;
mod seed;
mod verify;
mod walk;
mod write;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    mode: Option<Mode>,
    /// `write` options, used when no mode is named.
    #[command(flatten)]
    write: WriteArgs,
}

#[derive(Subcommand)]
enum Mode {
    /// Signed POST /webhook in a closed loop, then a durability check (the default mode).
    Write(WriteArgs),
    /// GET /messages with random filters, plus a share of GET /stats.
    Read(ReadArgs),
    /// Fill the database through the API, as fast as it goes.
    Seed(SeedArgs),
    /// Drain GET /feed from the beginning on one connection, until an empty page.
    Feed(FeedArgs),
    /// `write` plus one consumer long-polling GET /feed; checks each acknowledged id came once.
    Consume(ConsumeArgs),
    /// A plain Rust SQLite insert loop (WAL, synchronous=FULL) committing in groups; no HTTP.
    SqliteBaseline(BaselineArgs),
}

/// Options every mode takes.
#[derive(Args, Clone)]
pub struct Common {
    /// Base URL of the service (plain HTTP).
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    pub target: String,
    /// Concurrent connections; each sends its requests one after another (closed loop).
    #[arg(long, short = 'c', default_value_t = 32)]
    pub connections: usize,
    /// Tokio worker threads for loadgen itself.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Bearer token for /messages and /stats when the service sets READ_API_TOKEN.
    #[arg(long, env = "READ_API_TOKEN")]
    pub token: Option<String>,
    /// Pid of the service, to report the CPU it used during the measured window.
    #[arg(long)]
    pub service_pid: Option<u32>,
    /// Seed for the random choices (default: random).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Also print one JSON object line with the figures on stdout (the human summary moves to stderr).
    #[arg(long)]
    pub json: bool,
}

/// How long a timed run lasts.
#[derive(Args, Clone)]
pub struct Timing {
    /// Measured time, after the warm-up (e.g. 10s, 500ms, 2m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Unmeasured time before the measurement starts.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub warmup: Duration,
}

/// How senders and timestamps are drawn.
#[derive(Args, Clone)]
pub struct Senders {
    /// Message distribution: `january` (ts in January 2025) or `realistic` (ts = now, ~1% late).
    #[arg(long, value_enum, default_value = "january")]
    pub dist: dist::Dist,
    /// Number of distinct senders [default: 1000, or 100000 with --dist realistic].
    #[arg(long)]
    pub senders: Option<usize>,
    /// Zipf exponent of the sender distribution (0 = uniform) [default: 1.1, or 1.0 with --dist realistic].
    #[arg(long)]
    pub skew: Option<f64>,
}

/// What a mode that posts signed webhooks takes.
#[derive(Args, Clone)]
pub struct Posting {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub senders: Senders,
    /// Webhook secret used to sign the bodies.
    #[arg(long, env = "WEBHOOK_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
}

#[derive(Args, Clone)]
pub struct WriteArgs {
    #[command(flatten)]
    pub posting: Posting,
    #[command(flatten)]
    pub timing: Timing,
    /// Measure exactly this many requests instead of a duration.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Messages to pre-build (default: enough for 20,000 req/s over warm-up and measurement).
    #[arg(long)]
    pub pool: Option<usize>,
    /// Skip the durability check.
    #[arg(long)]
    pub no_verify: bool,
    /// Send WhatsApp Cloud API envelopes of N text messages each (1 to 1000), signed with
    /// X-Hub-Signature-256, instead of flat messages.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub envelope: Option<u32>,
    /// Meta app secret for --envelope (the service's WHATSAPP_APP_SECRET; falls back to --secret).
    #[arg(long, env = "WHATSAPP_APP_SECRET", hide_env_values = true)]
    pub app_secret: Option<String>,
}

#[derive(Args, Clone)]
pub struct ReadArgs {
    #[command(flatten)]
    pub common: Common,
    /// Senders the filters pick from (should match what was written) [default: 1000, or 100000
    /// with --dist realistic].
    #[arg(long)]
    pub senders: Option<usize>,
    /// `realistic`: `since` is drawn between the first and last ts of GET /stats (fetched once).
    #[arg(long, value_enum, default_value = "january")]
    pub dist: dist::Dist,
    /// Walk pages by cursor: each request starts a walk or continues the connection's walk.
    #[arg(long)]
    pub cursor: bool,
    /// Longest cursor walk, in pages.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_depth: u32,
    #[command(flatten)]
    pub timing: Timing,
    /// Fraction of requests that are GET /stats.
    #[arg(long, default_value_t = 0.1)]
    pub stats_share: f64,
    /// Largest `offset` drawn for deep-paging requests.
    #[arg(long, default_value_t = 1000)]
    pub max_offset: u64,
}

#[derive(Args, Clone)]
pub struct SeedArgs {
    #[command(flatten)]
    pub posting: Posting,
    /// Messages to store.
    #[arg(long, default_value_t = 1_000_000)]
    pub count: u64,
}

#[derive(Args, Clone)]
pub struct FeedArgs {
    #[command(flatten)]
    pub common: Common,
    /// Messages per page, 1 to 1000.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
}

#[derive(Args, Clone)]
pub struct ConsumeArgs {
    #[command(flatten)]
    pub write: WriteArgs,
    /// Give up draining the feed this long after the writers stopped.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub drain_timeout: Duration,
}

#[derive(Args, Clone)]
pub struct BaselineArgs {
    /// Rows committed per transaction; repeat the option or give a comma list (`--group 1,100,1000`).
    #[arg(long, value_delimiter = ',', default_values_t = [1, 100, 1000])]
    pub group: Vec<usize>,
    /// Time spent inserting for each group size.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Rows pre-built before the clock starts; a group size stops early if it uses them all.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: usize,
    /// `issue`: the reference schema; `service`: also the service's FTS5 trigram index,
    /// folded text and per-sender counts.
    /// `current`: the service's SQLite tables and per-row statements as they are today.
    #[arg(long, value_enum, default_value = "issue")]
    pub schema: baseline::Schema,
    /// SQLite `synchronous` (the service's default, and the reference's, is full).
    #[arg(long, value_enum, default_value = "full")]
    pub synchronous: baseline::Synchronous,
    /// Where the temporary databases go (default: the system temp directory, i.e. TMPDIR).
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub senders: Senders,
    /// Seed for the generated rows (default: random).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Also print one JSON object line with the figures on stdout (the human summary moves to stderr).
    #[arg(long)]
    pub json: bool,
}

impl BaselineArgs {
    pub fn group_sizes(&self) -> anyhow::Result<Vec<usize>> {
        if self.group.contains(&0) {
            anyhow::bail!("--group sizes must be at least 1");
        }
        Ok(self.group.clone())
    }
}

/// `10s`, `500ms`, `2m`, or a bare number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.find(|c: char| c.is_ascii_alphabetic()).map_or((s, "s"), |i| s.split_at(i));
    let n: f64 = num.trim().parse().map_err(|_| format!("{s:?} is not a duration like 10s, 500ms, 2m"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("unknown unit {unit:?}: use ms, s or m")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mode = cli.mode.unwrap_or(Mode::Write(cli.write));
    let common = match &mode {
        Mode::Write(a) => &a.posting.common,
        Mode::Read(a) => &a.common,
        Mode::Seed(a) => &a.posting.common,
        Mode::Feed(a) => &a.common,
        Mode::Consume(a) => &a.write.posting.common,
        // No HTTP and no runtime: a plain synchronous loop.
        Mode::SqliteBaseline(a) => return report_exit(baseline::run(a.clone())),
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(common.threads.max(1)).enable_all().build();
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match mode {
            Mode::Write(a) => write::run(a).await,
            Mode::Read(a) => read::run(a).await,
            Mode::Seed(a) => seed::run(a).await,
            Mode::Feed(a) => feed::run(a).await,
            Mode::Consume(a) => consume::run(a).await,
            Mode::SqliteBaseline(_) => unreachable!("run without a runtime above"),
        }
    });
    report_exit(result)
}

fn report_exit(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("3h").is_err());
    }

    #[test]
    fn default_mode_is_write() {
        let cli = Cli::try_parse_from(["loadgen", "--secret", "s", "--duration", "5s"]).unwrap();
        assert!(cli.mode.is_none());
        assert_eq!(cli.write.timing.duration, Duration::from_secs(5));
        let cli = Cli::try_parse_from(["loadgen", "read", "--stats-share", "0.2"]).unwrap();
        assert!(matches!(cli.mode, Some(Mode::Read(_))));
    }

    #[test]
    fn new_modes_and_options() {
        let cli = Cli::try_parse_from(["loadgen", "--secret", "s", "--dist", "realistic"]).unwrap();
        assert_eq!(cli.write.posting.senders.count(), 100_000);
        assert_eq!(cli.write.posting.senders.skew(), 1.0);
        let cli = Cli::try_parse_from(["loadgen", "write", "--senders", "5", "--envelope", "100"]).unwrap();
        let Some(Mode::Write(a)) = cli.mode else { panic!("not write") };
        assert_eq!((a.posting.senders.count(), a.posting.senders.skew(), a.envelope), (5, 1.1, Some(100)));
        assert!(Cli::try_parse_from(["loadgen", "write", "--envelope", "1001"]).is_err());
        let cli = Cli::try_parse_from(["loadgen", "read", "--cursor"]).unwrap();
        let Some(Mode::Read(a)) = cli.mode else { panic!("not read") };
        assert!(a.cursor && a.max_depth == 200);
        let cli = Cli::try_parse_from(["loadgen", "feed"]).unwrap();
        assert!(matches!(cli.mode, Some(Mode::Feed(ref a)) if a.limit == 1000));
        let cli = Cli::try_parse_from(["loadgen", "consume", "--duration", "2s", "-c", "2"]).unwrap();
        assert!(matches!(cli.mode, Some(Mode::Consume(ref a)) if a.write.posting.common.connections == 2));
    }

    #[test]
    fn baseline_group_sizes() {
        let cli = Cli::try_parse_from(["loadgen", "sqlite-baseline", "--group", "1", "--group", "100,1000"]).unwrap();
        let Some(Mode::SqliteBaseline(a)) = cli.mode else { panic!("not sqlite-baseline") };
        assert_eq!(a.group_sizes().unwrap(), [1, 100, 1000]);
        let cli = Cli::try_parse_from(["loadgen", "sqlite-baseline"]).unwrap();
        let Some(Mode::SqliteBaseline(a)) = cli.mode else { panic!("not sqlite-baseline") };
        assert_eq!(a.group, [1, 100, 1000]);
        let cli = Cli::try_parse_from(["loadgen", "sqlite-baseline", "--group", "0"]).unwrap();
        let Some(Mode::SqliteBaseline(a)) = cli.mode else { panic!("not sqlite-baseline") };
        assert!(a.group_sizes().is_err());
    }
}
