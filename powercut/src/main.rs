//! The power-cut driver: runs the release service on the power-cut file system, cuts the power
//! under write load again and again, and checks after each cut that every acknowledged message
//! and status survived, that SQLite finds the file sound, and that the restarted service's
//! `/stats`, searches and reads agree with the rows. Then it shows that it can see loss: a few
//! cuts with `SQLITE_SYNCHRONOUS=normal`, which answers 200 before the log is synced, must lose
//! acknowledged messages; what survived them must still read back whole, and searches be exact,
//! after a restart (there the index may have run ahead of the rows the cut kept).
//!
//! Environment (all optional):
//! `POWERCUT_CUTS` (20) cuts at full durability; `POWERCUT_NORMAL_CUTS` (3) most cuts with
//! `SQLITE_SYNCHRONOUS=normal`, stopping at the first that loses something; `POWERCUT_SEED`;
//! `POWERCUT_WRITERS` (6); `POWERCUT_TORN` (`alternate`, `always` or `never`);
//! `POWERCUT_TIME_LIMIT` (540 s for the whole run); `POWERCUT_WORKDIR` (/tmp/powercut);
//! `POWERCUT_SERVICE_BIN` (the release binary); `POWERCUT_EXAMPLES` (examples/whatsapp);
//! `POWERCUT_SAMPLE` (400 ids read back one by one per restart); `POWERCUT_STRICT_DIRS=1`: an
//! fsync of a file does not make its own new directory entry durable (POSIX, not ext4);
//! `POWERCUT_ONLY=NAME` cuts always one way (see `STRATEGIES`); `POWERCUT_RESTART_MAX_MS` (1500)
//! bounds how long after a graceful restart the `restart` cut comes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use powercut::check::{Acked, Ledger, Losses, Survivor, online};
use powercut::fs::{Control, Trigger, TriggerOp, lazy_unmount, mount};
use powercut::http::Client;
use powercut::load::{Load, Outcome, TOKENS, Templates, token};
use powercut::rng::Rng;
use powercut::service::{Service, ServiceConfig, notable_log_lines};

const SECRET: &str = "powercut-test-secret-0123456789";
const DB_NAME: &str = "app.db";

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Torn {
    Alternate,
    Always,
    Never,
}

struct Config {
    cuts: usize,
    normal_cuts: usize,
    seed: u64,
    writers: usize,
    torn: Torn,
    time_limit: Duration,
    workdir: PathBuf,
    binary: PathBuf,
    examples: PathBuf,
    sample: usize,
    strict_dirs: bool,
}

impl Config {
    fn from_env() -> Self {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new(".")).to_owned();
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo.join("target"), PathBuf::from);
        let seed = env_or(
            "POWERCUT_SEED",
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(1, |d| d.as_secs() ^ u64::from(d.subsec_nanos())),
        );
        let torn = match std::env::var("POWERCUT_TORN").unwrap_or_default().as_str() {
            "always" => Torn::Always,
            "never" | "0" => Torn::Never,
            _ => Torn::Alternate,
        };
        Self {
            cuts: env_or("POWERCUT_CUTS", 20),
            normal_cuts: env_or("POWERCUT_NORMAL_CUTS", 3),
            seed,
            writers: env_or("POWERCUT_WRITERS", 6usize).max(1),
            torn,
            time_limit: Duration::from_secs(env_or("POWERCUT_TIME_LIMIT", 540)),
            workdir: std::env::var_os("POWERCUT_WORKDIR").map_or_else(|| PathBuf::from("/tmp/powercut"), PathBuf::from),
            binary: std::env::var_os("POWERCUT_SERVICE_BIN")
                .map_or_else(|| target.join("release/webhook-ingest"), PathBuf::from),
            examples: std::env::var_os("POWERCUT_EXAMPLES")
                .map_or_else(|| repo.join("examples/whatsapp"), PathBuf::from),
            sample: env_or("POWERCUT_SAMPLE", 400),
            strict_dirs: env_or("POWERCUT_STRICT_DIRS", 0u8) == 1,
        }
    }
}

/// Where and how a round cuts the power.
#[derive(Debug, Clone)]
enum Strategy {
    /// After a random delay under steady load.
    Steady { after: Duration },
    /// Right after a burst has been answered.
    Burst { after: Duration, size: usize },
    /// In the middle of a checkpoint: at its `nth` write into the database file.
    Checkpoint { after: Duration, nth: u32 },
    /// At the checkpoint's fsync of the database file, before it is done.
    DatabaseFsync { after: Duration },
    /// When the log starts over (its header is rewritten) after a complete checkpoint.
    LogRestart { after: Duration },
    /// At an fsync of the log: a group committed, its answer not sent.
    LogFsync { after: Duration, nth: u32 },
    /// At the `nth` write into the log: a group half written.
    LogWrite { after: Duration, nth: u32 },
    /// After a graceful restart on the same mount (the log is checkpointed, removed and made
    /// anew), `then` into the new service's load.
    Restart { after: Duration, then: Duration },
}

/// Strategy names, in the order cuts go through them (`POWERCUT_ONLY` picks one).
const STRATEGIES: [&str; 8] =
    ["steady", "burst", "checkpoint", "log-fsync", "db-fsync", "log-restart", "log-write", "restart"];

impl Strategy {
    fn pick(rng: &mut Rng, index: usize) -> Self {
        let after = Duration::from_millis(rng.between(300, 3_500));
        let only = std::env::var("POWERCUT_ONLY").ok().and_then(|o| STRATEGIES.iter().position(|s| *s == o));
        match only.unwrap_or(index % STRATEGIES.len()) {
            0 => Self::Steady { after },
            1 => Self::Burst { after, size: usize::try_from(rng.between(100, 600)).unwrap_or(300) },
            2 => Self::Checkpoint { after, nth: u32::try_from(rng.between(1, 40)).unwrap_or(1) },
            3 => Self::LogFsync { after, nth: u32::try_from(rng.between(1, 10)).unwrap_or(1) },
            4 => Self::DatabaseFsync { after },
            5 => Self::LogRestart { after },
            6 => Self::LogWrite { after, nth: u32::try_from(rng.between(20, 3_000)).unwrap_or(100) },
            _ => {
                let longest = env_or("POWERCUT_RESTART_MAX_MS", 1_500u64).max(20);
                Self::Restart { after, then: Duration::from_millis(rng.between(20, longest)) }
            }
        }
    }

    fn after(&self) -> Duration {
        match self {
            Self::Steady { after }
            | Self::Burst { after, .. }
            | Self::Checkpoint { after, .. }
            | Self::DatabaseFsync { after }
            | Self::LogRestart { after }
            | Self::LogFsync { after, .. }
            | Self::LogWrite { after, .. }
            | Self::Restart { after, .. } => *after,
        }
    }

    fn trigger(&self, torn: bool) -> Option<Trigger> {
        let wal = format!("{DB_NAME}-wal");
        let t = |name: &str, op, at_offset, nth| Trigger { name: name.into(), op, at_offset, nth, torn };
        match self {
            Self::Steady { .. } | Self::Burst { .. } | Self::Restart { .. } => None,
            Self::Checkpoint { nth, .. } => Some(t(DB_NAME, TriggerOp::Write, None, *nth)),
            Self::DatabaseFsync { .. } => Some(t(DB_NAME, TriggerOp::Fsync, None, 1)),
            Self::LogRestart { .. } => Some(t(&wal, TriggerOp::Write, Some(0), 1)),
            Self::LogFsync { nth, .. } => Some(t(&wal, TriggerOp::Fsync, None, *nth)),
            Self::LogWrite { nth, .. } => Some(t(&wal, TriggerOp::Write, None, *nth)),
        }
    }
}

/// One directory tree under test, and what it must hold.
struct Bed {
    name: &'static str,
    backing: PathBuf,
    mnt: PathBuf,
    extra_env: Vec<(String, String)>,
    /// Whether a 200 waits for the log's fsync (`synchronous=full`).
    synced: bool,
    ledger: Ledger,
    survivor: Option<Survivor>,
}

impl Bed {
    fn new(
        workdir: &Path,
        name: &'static str,
        extra_env: Vec<(String, String)>,
        synced: bool,
    ) -> std::io::Result<Self> {
        let backing = workdir.join(name).join("backing");
        let mnt = workdir.join(name).join("mnt");
        // The database's directory exists before the first start, as a provisioned volume's
        // would: its own entry is not what is tested.
        std::fs::create_dir_all(backing.join("data"))?;
        std::fs::create_dir_all(&mnt)?;
        Ok(Self { name, backing, mnt, extra_env, synced, ledger: Ledger::default(), survivor: None })
    }

    fn database_on_mount(&self) -> PathBuf {
        self.mnt.join("data").join(DB_NAME)
    }

    fn database_on_backing(&self) -> PathBuf {
        self.backing.join("data").join(DB_NAME)
    }
}

/// The result of one cut.
struct CutResult {
    /// Distinct message ids and statuses answered 200 for the first time in this round.
    acknowledged: usize,
    losses: Losses,
    problems: Vec<String>,
    log: PathBuf,
}

struct Driver {
    config: Config,
    rng: Rng,
    templates: Arc<Templates>,
    logs: PathBuf,
    run_tag: String,
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1_048_576.0)
}

impl Driver {
    fn service_config(&self, bed: &Bed) -> ServiceConfig {
        ServiceConfig {
            binary: self.config.binary.clone(),
            database: bed.database_on_mount(),
            secret: SECRET.into(),
            extra_env: bed.extra_env.clone(),
            workdir: self.config.workdir.clone(),
        }
    }

    /// Mounts, starts the service, checks what the last cut left through HTTP, runs load, cuts
    /// the power, kills the service, unmounts and reads what survived.
    fn cut(&mut self, bed: &mut Bed, label: &str, strategy: &Strategy, torn: bool) -> Result<CutResult, String> {
        let t0 = Instant::now();
        let mounted = mount(&bed.backing, &bed.mnt, self.rng.next_u64()).map_err(|e| format!("mount: {e}"))?;
        let control = mounted.control();
        control.set_strict_dirs(self.config.strict_dirs);
        let log = self.logs.join(format!("{}-{label}.log", bed.name));
        let mut problems = Vec::new();
        let mut service = match Service::start(&self.service_config(bed), &log, Duration::from_secs(60)) {
            Ok(s) => s,
            Err(e) => {
                drop(mounted);
                return Err(e);
            }
        };
        if let Some(survivor) = &bed.survivor {
            let client = Client::new(&service.addr, SECRET, Duration::from_secs(30));
            let full = label.ends_with('0') || label.ends_with('5');
            let (found, checked) = online(&client, survivor, &bed.ledger, &mut self.rng, self.config.sample, full);
            println!(
                "powercut: {} {label}: restarted on what survived; checked {checked}: {} problems",
                bed.name,
                found.len()
            );
            problems.extend(found.into_iter().map(|p| format!("after restart: {p}")));
        }
        let t_up = t0.elapsed();
        let prefix = format!("{}{}-{label}", self.run_tag, bed.name);
        let limit = strategy.after() + Duration::from_secs(12);
        let mut load = Load::start(
            &service.addr,
            SECRET,
            &prefix,
            self.config.writers,
            self.templates.clone(),
            self.rng.fork(),
            limit,
        );
        let mut extra = Outcome::default();
        std::thread::sleep(strategy.after());
        match strategy {
            Strategy::Restart { then, .. } => {
                service.stop(Duration::from_secs(15));
                extra.merge(load.finish());
                let log = self.logs.join(format!("{}-{label}-restarted.log", bed.name));
                service = Service::start(&self.service_config(bed), &log, Duration::from_secs(60))?;
                load = Load::start(
                    &service.addr,
                    SECRET,
                    &format!("{prefix}-again"),
                    self.config.writers,
                    self.templates.clone(),
                    self.rng.fork(),
                    *then + Duration::from_secs(12),
                );
                std::thread::sleep(*then);
                control.cut(torn);
            }
            Strategy::Steady { .. } => {
                control.cut(torn);
            }
            Strategy::Burst { size, .. } => {
                load.quiesce(Duration::from_secs(5));
                extra.merge(load.burst(*size, 24, Duration::from_secs(15)));
                control.cut(torn);
            }
            Strategy::LogRestart { .. } => {
                // Nothing written for a while: the background checkpoint copies the whole log,
                // and the next commit starts it over.
                load.quiesce(Duration::from_secs(5));
                std::thread::sleep(Duration::from_millis(700));
                if let Some(t) = strategy.trigger(torn) {
                    control.arm(t);
                }
                load.resume();
                wait_for_cut(&control, Duration::from_secs(6));
                control.cut(torn);
            }
            _ => {
                if let Some(t) = strategy.trigger(torn) {
                    control.arm(t);
                }
                wait_for_cut(&control, Duration::from_secs(6));
                control.cut(torn);
            }
        }
        let report = control.report().unwrap_or_default();
        let cut_at = report.at.unwrap_or_else(Instant::now);
        let t_cut = t0.elapsed();
        service.kill();
        let mut outcome = load.finish();
        outcome.merge(extra);
        let counters = control.counters();
        mounted.unmount(torn).map_err(|e| format!("unmount: {e}"))?;
        let t_down = t0.elapsed();

        let round = self.round_index(label);
        let known = bed.ledger.messages.len() + bed.ledger.statuses.len();
        for (id, at) in &outcome.messages {
            bed.ledger.messages.entry(id.clone()).or_insert(Acked { round, at: *at });
        }
        for (key, at) in &outcome.statuses {
            bed.ledger.statuses.entry(key.clone()).or_insert(Acked { round, at: *at });
        }
        let acknowledged = bed.ledger.messages.len() + bed.ledger.statuses.len() - known;
        for (id, at) in &outcome.fed {
            bed.ledger.fed.entry(id.clone()).or_insert(Acked { round, at: *at });
        }
        let first = self.rng.below(TOKENS);
        let second = (first + 1 + self.rng.below(TOKENS - 1)) % TOKENS;
        let tokens = vec![token(first), token(second)];
        let survivor = Survivor::read(&bed.database_on_backing(), &tokens)?.unwrap_or_default();
        problems.extend(survivor.problems(bed.synced));
        if !bed.synced && survivor.index_ahead() {
            println!(
                "powercut: {} {label}: the search index reaches rowid {} past the last surviving row {}; \
                 the service must empty it at start",
                bed.name, survivor.indexed_upto, survivor.max_rowid
            );
        }
        let losses = bed.ledger.settle(&survivor, cut_at);
        let acked_after_cut = outcome.messages.iter().filter(|(_, at)| *at > cut_at).count();
        let refused: BTreeMap<_, _> = outcome.refused.iter().collect();
        println!(
            "powercut: {} {label} [{strategy:?}{}] posted {} (redelivered {}), 200 for {} messages and {} statuses \
             ({acked_after_cut} answered after the cut), refused {refused:?}; cut: {}, {} dirty files \
             ({} un-synced), {} torn; fs saw {} writes, {} fsyncs, {} dir fsyncs; survivor: {} rows, {} statuses, \
             db {}, wal {}; lost {}; {:.1} s (up and checked {:.1}, cut at {:.1}, down {:.1})",
            bed.name,
            if torn { ", torn" } else { "" },
            outcome.posted,
            outcome.redelivered,
            outcome.messages.len(),
            outcome.statuses.len(),
            report.cause,
            report.dirty_files,
            mib(report.unsynced_bytes),
            mib(report.torn_bytes),
            counters.writes,
            counters.fsyncs,
            counters.fsyncdirs,
            survivor.messages.len(),
            survivor.statuses.len(),
            mib(survivor.db_bytes),
            mib(survivor.wal_bytes),
            losses.count(),
            t0.elapsed().as_secs_f64(),
            t_up.as_secs_f64(),
            t_cut.as_secs_f64(),
            t_down.as_secs_f64(),
        );
        bed.survivor = Some(survivor);
        Ok(CutResult { acknowledged, losses, problems, log })
    }

    fn round_index(&self, label: &str) -> usize {
        label.trim_start_matches(|c: char| !c.is_ascii_digit()).parse().unwrap_or(0)
    }

    /// The last look: restart on what survived, check everything (full listing), stop cleanly.
    fn final_check(&mut self, bed: &Bed) -> Result<Vec<String>, String> {
        let Some(survivor) = &bed.survivor else { return Ok(Vec::new()) };
        let mounted = mount(&bed.backing, &bed.mnt, 0).map_err(|e| format!("mount: {e}"))?;
        let log = self.logs.join(format!("{}-final.log", bed.name));
        let mut service = Service::start(&self.service_config(bed), &log, Duration::from_secs(60))?;
        let client = Client::new(&service.addr, SECRET, Duration::from_secs(30));
        let (problems, checked) = online(&client, survivor, &bed.ledger, &mut self.rng, self.config.sample * 2, true);
        println!(
            "powercut: {} final: restarted on what survived; checked {checked}: {} problems",
            bed.name,
            problems.len()
        );
        service.stop(Duration::from_secs(15));
        mounted.unmount(false).map_err(|e| format!("unmount: {e}"))?;
        Ok(problems.into_iter().map(|p| format!("final check: {p}")).collect())
    }
}

fn wait_for_cut(control: &Control, timeout: Duration) {
    let started = Instant::now();
    while !control.is_cut() && started.elapsed() < timeout {
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn print_losses(kind: &str, label: &str, losses: &Losses, log: &Path) {
    if losses.count() == 0 {
        return;
    }
    eprintln!(
        "powercut: {kind} {label}: LOST {} messages, {} statuses, {} messages the feed had shown",
        losses.messages.len(),
        losses.statuses.len(),
        losses.fed.len()
    );
    if let (Some(first), Some(last)) = (losses.messages.first(), losses.messages.last()) {
        eprintln!("  lost messages were answered 200 between {} and {} ms before the cut", first.2, last.2);
    }
    for (id, round, ms) in losses.messages.iter().take(20) {
        eprintln!("  lost message {id} (200 in round {round}, {ms} ms before the cut)");
    }
    for ((id, status), round, ms) in losses.statuses.iter().take(10) {
        eprintln!("  lost status {id}/{status} (200 in round {round}, {ms} ms before the cut)");
    }
    for (id, round, ms) in losses.fed.iter().take(10) {
        eprintln!("  lost fed message {id} (shown in round {round}, {ms} ms before the cut)");
    }
    for line in notable_log_lines(log, 20) {
        eprintln!("  log: {line}");
    }
    eprintln!("  service log: {}", log.display());
}

fn prepare_workdir(workdir: &Path) -> std::io::Result<()> {
    for bed in ["full", "normal"] {
        let _ = lazy_unmount(&workdir.join(bed).join("mnt"));
    }
    if workdir.exists() {
        std::fs::remove_dir_all(workdir)?;
    }
    std::fs::create_dir_all(workdir.join("logs"))
}

fn main() -> ExitCode {
    let config = Config::from_env();
    let started = Instant::now();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !Path::new("/dev/fuse").exists() {
        eprintln!("powercut: needs root and /dev/fuse to mount the file system");
        return ExitCode::FAILURE;
    }
    if !config.binary.is_file() {
        eprintln!("powercut: no service binary at {} (cargo build --release first)", config.binary.display());
        return ExitCode::FAILURE;
    }
    let templates = match Templates::load(&config.examples) {
        Ok(t) => Arc::new(t),
        Err(e) => {
            eprintln!("powercut: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = prepare_workdir(&config.workdir) {
        eprintln!("powercut: {}: {e}", config.workdir.display());
        return ExitCode::FAILURE;
    }
    println!(
        "powercut: seed {}, {} cuts, {} writers, torn writes {:?}, strict directories {}, service {}, work dir {}",
        config.seed,
        config.cuts,
        config.writers,
        config.torn,
        config.strict_dirs,
        config.binary.display(),
        config.workdir.display()
    );
    let mut driver = Driver {
        rng: Rng::new(config.seed),
        templates,
        logs: config.workdir.join("logs"),
        run_tag: format!("{:x}", config.seed % 0xfff_fff),
        config,
    };
    let deadline = started + driver.config.time_limit;
    let mut failures: Vec<String> = Vec::new();

    // Full durability: nothing answered 200 may be lost.
    let mut full = match Bed::new(&driver.config.workdir, "full", Vec::new(), true) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("powercut: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (mut cuts, mut acknowledged, mut lost) = (0, 0, 0);
    let normal_budget = Duration::from_secs(20 * driver.config.normal_cuts.max(1) as u64 + 20);
    for i in 0..driver.config.cuts {
        if Instant::now() + normal_budget + Duration::from_secs(30) > deadline {
            failures.push(format!("time limit: stopped after {cuts} of {} cuts", driver.config.cuts));
            break;
        }
        let strategy = Strategy::pick(&mut driver.rng, i);
        let torn = match driver.config.torn {
            Torn::Always => true,
            Torn::Never => false,
            Torn::Alternate => i % 2 == 1,
        };
        let label = format!("cut{i:02}");
        match driver.cut(&mut full, &label, &strategy, torn) {
            Ok(r) => {
                cuts += 1;
                acknowledged += r.acknowledged;
                lost += r.losses.count();
                print_losses("full durability", &label, &r.losses, &r.log);
                if r.losses.count() > 0 {
                    failures.push(format!("{label}: {} acknowledged items lost", r.losses.count()));
                }
                for p in r.problems {
                    eprintln!("powercut: {label}: {p}");
                    failures.push(format!("{label}: {p}"));
                }
            }
            Err(e) => {
                eprintln!("powercut: {label}: {e}");
                failures.push(format!("{label}: {e}"));
                break;
            }
        }
    }
    match driver.final_check(&full) {
        Ok(problems) => {
            for p in problems {
                eprintln!("powercut: {p}");
                failures.push(p);
            }
        }
        Err(e) => failures.push(format!("final check: {e}")),
    }

    // synchronous=normal: a 200 before the log is synced. The harness must see the loss.
    let mut normal_lost = 0;
    let mut normal_lost_messages = 0;
    let mut normal_acked = 0;
    let mut normal_cuts = 0;
    match Bed::new(&driver.config.workdir, "normal", vec![("SQLITE_SYNCHRONOUS".into(), "normal".into())], false) {
        Ok(mut bed) => {
            for i in 0..driver.config.normal_cuts {
                let strategy = Strategy::Steady { after: Duration::from_millis(driver.rng.between(1_500, 3_000)) };
                let label = format!("cut{i:02}");
                match driver.cut(&mut bed, &label, &strategy, false) {
                    Ok(r) => {
                        normal_cuts += 1;
                        normal_acked += r.acknowledged;
                        normal_lost += r.losses.count();
                        normal_lost_messages += r.losses.messages.len();
                        print_losses("synchronous=normal", &label, &r.losses, &r.log);
                        for p in r.problems {
                            eprintln!("powercut: normal {label}: {p}");
                            failures.push(format!("normal {label}: {p}"));
                        }
                        if normal_lost > 0 {
                            break;
                        }
                    }
                    Err(e) => {
                        failures.push(format!("normal {label}: {e}"));
                        break;
                    }
                }
            }
            if normal_cuts > 0 && normal_lost == 0 {
                failures.push(format!(
                    "synchronous=normal lost nothing in {normal_cuts} cuts: the harness cannot see loss"
                ));
            }
            // What was lost is lost, but what survived must read back whole and searches must be
            // exact, even where the index had run ahead of the surviving rows.
            match driver.final_check(&bed) {
                Ok(problems) => {
                    for p in problems {
                        eprintln!("powercut: normal {p}");
                        failures.push(format!("normal {p}"));
                    }
                }
                Err(e) => failures.push(format!("normal final check: {e}")),
            }
        }
        Err(e) => failures.push(format!("normal: {e}")),
    }

    println!(
        "powercut: synchronous=normal: {normal_cuts} cuts, {normal_acked} acknowledged, {normal_lost} lost \
         ({normal_lost_messages} messages; expected > 0: the harness sees loss)"
    );
    for f in &failures {
        eprintln!("powercut: FAILED: {f}");
    }
    println!("powercut: {:.0} s", started.elapsed().as_secs_f64());
    println!("powercut: {cuts} cuts, {acknowledged} acknowledged, {lost} lost");
    if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
