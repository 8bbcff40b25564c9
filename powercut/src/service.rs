//! The service under test as a child process: started with its database on the mount, its JSON
//! log kept in a file, killed with SIGKILL at the cut.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::http::Client;

/// How to start the service.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The release binary.
    pub binary: PathBuf,
    /// The database file (on the mount).
    pub database: PathBuf,
    /// `WEBHOOK_SECRET`.
    pub secret: String,
    /// Extra environment, such as `SQLITE_SYNCHRONOUS=normal`.
    pub extra_env: Vec<(String, String)>,
    /// Working directory (no `config.toml` there).
    pub workdir: PathBuf,
}

/// A running service.
pub struct Service {
    child: Child,
    /// `host:port` it listens on.
    pub addr: String,
    /// Its log file.
    pub log: PathBuf,
    readers: Vec<JoinHandle<()>>,
}

/// Copies a child's output into the log, reporting the `"listening"` line's address.
fn pump(from: impl std::io::Read + Send + 'static, log: PathBuf, addr: Option<mpsc::Sender<String>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let Ok(mut out) = std::fs::OpenOptions::new().create(true).append(true).open(&log) else { return };
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            let _ = out.write_all(format!("{line}\n").as_bytes());
            if let Some(tx) = &addr
                && line.contains("\"listening\"")
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                && v["msg"] == "listening"
                && let Some(a) = v["addr"].as_str()
            {
                // Logged as a list of addresses: `[127.0.0.1:PORT]`.
                let first = a.trim_matches(|c| c == '[' || c == ']').split(',').next().unwrap_or(a).trim();
                let _ = tx.send(first.to_owned());
            }
        }
    })
}

impl Service {
    /// Starts the service and waits until it is ready (bounded by `timeout`).
    ///
    /// # Errors
    /// It could not start, did not listen or did not become ready in time.
    pub fn start(config: &ServiceConfig, log: &Path, timeout: Duration) -> Result<Self, String> {
        let _ = File::create(log);
        let url = format!("sqlite://{}", config.database.display());
        let mut command = Command::new(&config.binary);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("WEBHOOK_SECRET", &config.secret)
            .env("DATABASE_URL", url)
            .env("PORT", "0")
            .env("HOST", "127.0.0.1")
            .env("LOG_LEVEL", "info")
            .current_dir(&config.workdir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &config.extra_env {
            command.env(k, v);
        }
        let mut child = command.spawn().map_err(|e| format!("start {}: {e}", config.binary.display()))?;
        let (tx, rx) = mpsc::channel();
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(pump(out, log.to_owned(), Some(tx.clone())));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(pump(err, log.to_owned(), Some(tx)));
        }
        let started = Instant::now();
        let addr = loop {
            if let Ok(addr) = rx.recv_timeout(Duration::from_millis(100)) {
                break addr;
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("the service exited at start-up ({status}); see {}", log.display()));
            }
            if started.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("the service did not listen within {timeout:?}; see {}", log.display()));
            }
        };
        let mut service = Self { child, addr, log: log.to_owned(), readers };
        let client = Client::new(&service.addr, &config.secret, Duration::from_secs(5));
        loop {
            if matches!(client.get("/health/ready"), Ok((200, _))) {
                return Ok(service);
            }
            if started.elapsed() > timeout {
                service.kill();
                return Err(format!("the service was not ready within {timeout:?}; see {}", log.display()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and waits for the process and its log.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }

    /// SIGTERM (graceful shutdown), bounded; SIGKILL past `timeout`.
    pub fn stop(&mut self, timeout: Duration) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let started = Instant::now();
        while started.elapsed() < timeout {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}

/// Log lines at warn level or above, and lines mentioning fsync, at most `n`.
pub fn notable_log_lines(log: &Path, n: usize) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(log) else { return Vec::new() };
    text.lines()
        .filter(|l| {
            let level = serde_json::from_str::<serde_json::Value>(l).ok().and_then(|v| v["level"].as_u64());
            (level.is_none_or(|lv| lv >= 40) || l.contains("fsync")) && !l.contains("READ_API_TOKEN is not set")
        })
        .take(n)
        .map(str::to_owned)
        .collect()
}
