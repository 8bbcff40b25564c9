//! Latency and status recording, CPU sampling from /proc, and the human and JSON summaries.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// What one worker saw for one endpoint; merged across workers at the end.
pub struct Recorder {
    /// Latency in microseconds of every request that got a response, whatever its status.
    pub hist: Histogram<u64>,
    pub ok: u64,
    pub unavailable: u64,
    pub other: BTreeMap<u16, u64>,
    pub errors: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        let hist = Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds");
        Self { hist, ok: 0, unavailable: 0, other: BTreeMap::new(), errors: 0 }
    }
}

impl Recorder {
    /// Records a response (`Some(status)`) or a transport error (`None`).
    pub fn record(&mut self, status: Option<u16>, latency: Duration) {
        let Some(status) = status else {
            self.errors += 1;
            return;
        };
        self.hist.saturating_record(latency.as_micros().clamp(1, u128::from(u64::MAX)) as u64);
        match status {
            200 => self.ok += 1,
            503 => self.unavailable += 1,
            s => *self.other.entry(s).or_default() += 1,
        }
    }

    pub fn merge(&mut self, other: &Recorder) {
        self.hist.add(&other.hist).expect("histograms share bounds");
        self.ok += other.ok;
        self.unavailable += other.unavailable;
        self.errors += other.errors;
        for (s, n) in &other.other {
            *self.other.entry(*s).or_default() += n;
        }
    }

    pub fn requests(&self) -> u64 {
        self.hist.len() + self.errors
    }

    fn ms(&self, q: f64) -> f64 {
        if self.hist.is_empty() { 0.0 } else { self.hist.value_at_quantile(q) as f64 / 1000.0 }
    }

    /// The figures as JSON: rate, latency percentiles (ms) and the status breakdown.
    pub fn figures(&self, elapsed: Duration) -> Value {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let other: BTreeMap<String, u64> = self.other.iter().map(|(s, n)| (s.to_string(), *n)).collect();
        json!({
            "requests": self.requests(),
            "rps": round(self.requests() as f64 / secs),
            "latency_ms": {
                "p50": self.ms(0.5), "p90": self.ms(0.9), "p99": self.ms(0.99),
                "max": self.hist.max() as f64 / 1000.0, "mean": round(self.hist.mean() / 1000.0),
            },
            "status": { "200": self.ok, "503": self.unavailable, "other": other, "errors": self.errors },
        })
    }

    /// Two human lines: rate and latency, then statuses.
    pub fn human(&self, name: &str, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let other: Vec<String> = self.other.iter().map(|(s, n)| format!("{s}={n}")).collect();
        let other = if other.is_empty() { "other=0".to_string() } else { other.join(" ") };
        format!(
            "{name:<10} {:>9} req  {:>9.1} req/s  p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms\n\
             {:<10} status 200={} 503={} {} errors={}",
            self.requests(),
            self.requests() as f64 / secs,
            self.ms(0.5),
            self.ms(0.9),
            self.ms(0.99),
            self.hist.max() as f64 / 1000.0,
            "",
            self.ok,
            self.unavailable,
            other,
            self.errors,
        )
    }
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// CPU time (user + system) of a process from /proc/<pid>/stat, assuming 100 ticks per second.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state is field 3, utime 14, stime 15 (1-based over the whole line).
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// CPU use over the measured window: cores busy for loadgen and, when its pid is given, the service.
pub struct CpuWindow {
    service_pid: Option<u32>,
    start: (Option<f64>, Option<f64>),
}

impl CpuWindow {
    pub fn start(service_pid: Option<u32>) -> Self {
        Self { service_pid, start: (cpu_seconds(std::process::id()), service_pid.and_then(cpu_seconds)) }
    }

    pub fn finish(&self, elapsed: Duration) -> Value {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let used = |before: Option<f64>, pid: Option<u32>| {
            Some(((cpu_seconds(pid?)? - before?) / secs * 100.0).round() / 100.0)
        };
        json!({
            "loadgen_cores": used(self.start.0, Some(std::process::id())),
            "service_cores": used(self.start.1, self.service_pid),
        })
    }
}

/// Prints the human summary (stdout, or stderr when `--json` owns stdout), then the JSON line.
pub fn emit(json_mode: bool, human: &str, figures: &Value) {
    if json_mode {
        eprintln!("{human}");
        println!("{figures}");
    } else {
        println!("{human}");
    }
}

pub fn cpu_human(cpu: &Value) -> String {
    let show = |v: &Value| v.as_f64().map_or("n/a".to_string(), |c| format!("{c:.2}"));
    format!(
        "cpu        loadgen {} cores  service {} cores (of {} online)",
        show(&cpu["loadgen_cores"]),
        show(&cpu["service_cores"]),
        std::thread::available_parallelism().map_or(0, usize::from)
    )
}
