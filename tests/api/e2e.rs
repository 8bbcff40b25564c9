//! The compiled binary, started as an operator would, spoken to over TCP.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use webhook_ingest::adapters::signature::sign_hex;

const BIN: &str = env!("CARGO_BIN_EXE_webhook-ingest");

/// A running service process; killed when dropped.
pub struct Service {
    pub child: Child,
    pub base: String,
    /// Every line the process wrote to stdout so far.
    pub stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary with `env` on a free port and waits for its "listening" log line.
pub fn start(dir: &std::path::Path, env: &[(&str, &str)]) -> Service {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_clear()
        .env("PORT", "0")
        .env("HOST", "127.0.0.1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("binary starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line.clone());
            let parsed: Value =
                serde_json::from_str(&line).unwrap_or_else(|_| panic!("stdout line is not JSON: {line}"));
            if parsed["msg"] == "listening" {
                let addr = parsed["addr"].as_str().unwrap().trim_matches(['[', ']']).to_owned();
                let _ = tx.send(addr);
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(30)).expect("service reports its address");
    Service { child, base: format!("http://{addr}"), stdout: lines }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_stores_a_signed_message_on_a_fresh_sqlite_file_and_reads_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "e2e-secret-0123456789";
    // The SQLAlchemy form with four slashes, as the earlier versions documented it.
    let url = format!("sqlite:///{}/data/x.db", dir.path().display());
    let svc = start(dir.path(), &[("WEBHOOK_SECRET", secret), ("DATABASE_URL", &url)]);
    let http = reqwest::Client::new();
    let body = json!({"message_id": "e2e-1", "from": "+919876543210", "to": "+14155550100", "ts": "2025-01-15T10:00:00Z", "text": "over TCP"}).to_string();
    let r = http
        .post(format!("{}/webhook", svc.base))
        .header("X-Signature", sign_hex(secret, body.as_bytes()))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let listed: Value =
        http.get(format!("{}/messages?from=+919876543210", svc.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["data"][0]["text"], "over TCP");
    assert!(dir.path().join("data/x.db").exists(), "the SQLite file and its directory are created");
    let ready = http.get(format!("{}/health/ready", svc.base)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
}

#[test]
fn a_bad_port_or_database_scheme_stops_start_up_naming_the_variable() {
    for (var, value) in [
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("DATABASE_URL", "mysql://localhost/x"),
        ("LOG_LEVEL", "chatty"),
        ("CONFIG_FILE", "/nonexistent/webhook-ingest.toml"),
    ] {
        let out = Command::new(BIN).env_clear().env(var, value).output().unwrap();
        assert!(!out.status.success(), "{var}={value} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(var), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stdout_line_is_json_with_access_fields_and_no_secret_or_signature() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "log-secret-never-printed-0123";
    let url = format!("sqlite://{}/app.db", dir.path().display());
    let svc = start(dir.path(), &[("WEBHOOK_SECRET", secret), ("DATABASE_URL", &url), ("LOG_LEVEL", "debug")]);
    let http = reqwest::Client::new();
    let body =
        json!({"message_id": "log-1", "from": "+919876543210", "to": "+14155550100", "ts": "2025-01-15T10:00:00Z"})
            .to_string();
    let sig = sign_hex(secret, body.as_bytes());
    let post = |sig: String, body: String| {
        http.post(format!("{}/webhook", svc.base))
            .header("X-Signature", sig)
            .header("X-Request-ID", "trace-me")
            .body(body)
            .send()
    };
    assert_eq!(post(sig.clone(), body.clone()).await.unwrap().status(), 200);
    assert_eq!(post(sig.clone(), body.clone()).await.unwrap().status(), 200);
    let wrong = sign_hex("guess", body.as_bytes());
    assert_eq!(post(wrong.clone(), body.clone()).await.unwrap().status(), 401);
    assert_eq!(http.get(format!("{}/messages?q=x", svc.base)).send().await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let lines = svc.stdout.lock().unwrap().clone();
    let logs: Vec<Value> =
        lines.iter().map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}"))).collect();
    let access: Vec<&Value> = logs.iter().filter(|l| l["msg"] == "request").collect();
    assert_eq!(access.len(), 4, "one access line per request: {lines:#?}");
    for line in &access {
        for key in ["ts", "level", "request_id", "method", "path", "status", "latency_ms"] {
            assert!(!line[key].is_null(), "{key} missing in {line}");
        }
    }
    let webhook: Vec<&&Value> = access.iter().filter(|l| l["path"] == "/webhook").collect();
    assert_eq!(webhook[0]["result"], "created");
    assert_eq!(webhook[0]["dup"], false);
    assert_eq!(webhook[0]["message_id"], "log-1");
    assert_eq!(webhook[0]["request_id"], "trace-me");
    assert_eq!(webhook[1]["dup"], true);
    assert_eq!(webhook[2]["result"], "invalid_signature");
    assert_eq!(webhook[2]["level"], 50, "a rejected signature is logged at error level");
    let all = lines.join("\n");
    for secret_thing in [secret, sig.as_str(), wrong.as_str()] {
        assert!(!all.contains(secret_thing), "{secret_thing} leaked into logs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_header_and_many_idle_connections_do_not_take_the_service_down() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/app.db", dir.path().display());
    let svc = start(dir.path(), &[("WEBHOOK_SECRET", "hostile-secret-0123456789"), ("DATABASE_URL", &url)]);
    let addr = svc.base.trim_start_matches("http://").to_owned();

    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let huge = format!("GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(1 << 20));
    let _ = conn.write_all(huge.as_bytes()).await;
    let mut answer = vec![0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut answer)).await.unwrap().unwrap_or(0);
    let head = String::from_utf8_lossy(&answer[..n]);
    assert!(n == 0 || head.starts_with("HTTP/1.1 431"), "a 1 MiB header is refused, got {head:?}");

    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    let live =
        reqwest::Client::new().get(format!("{}/health/live", svc.base)).timeout(Duration::from_secs(5)).send().await;
    assert_eq!(live.unwrap().status(), 200, "the service still answers with 300 idle connections open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_request_head_is_cut_off_but_an_idle_keep_alive_connection_is_not() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/app.db", dir.path().display());
    let env = [("WEBHOOK_SECRET", "hostile-secret-0123456789"), ("DATABASE_URL", &url), ("HEADER_TIMEOUT_SECS", "1")];
    let svc = start(dir.path(), &env);
    let addr = svc.base.trim_start_matches("http://").to_owned();
    let get = b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n";

    // One header line every 200 ms: each byte is well inside the idle timeout, the head is not.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /health/live HTTP/1.1\r\n").await.unwrap();
    let started = std::time::Instant::now();
    let mut closed = false;
    for i in 0..25 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if slow.write_all(format!("X-Trickle-{i}: a\r\n").as_bytes()).await.is_err() {
            closed = true;
            break;
        }
        let mut probe = [0u8; 64];
        if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(Duration::from_millis(1), slow.read(&mut probe)).await {
            closed = true;
            break;
        }
    }
    assert!(closed, "the connection outlived its 1 s head deadline");
    assert!(started.elapsed() < Duration::from_secs(4), "cut off after {:?}", started.elapsed());

    // Silence between requests is the idle timeout's business, not the head deadline's.
    let mut keep_alive = tokio::net::TcpStream::connect(&addr).await.unwrap();
    for _ in 0..2 {
        keep_alive.write_all(get).await.unwrap();
        let mut answer = vec![0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(5), keep_alive.read(&mut answer)).await.unwrap().unwrap();
        assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 200"));
        tokio::time::sleep(Duration::from_millis(1_500)).await;
    }
}
