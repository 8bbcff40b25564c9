//! The command line as a new user meets it: help, version, bad commands, and `send` signing each
//! scheme against the real binary.

use std::process::{Command, Output};

use crate::e2e::start;
use crate::helpers::SECRET;

const BIN: &str = env!("CARGO_BIN_EXE_webhook-ingest");
const EXAMPLES: &str = env!("CARGO_MANIFEST_DIR");
const TWILIO_TOKEN: &str = "twilio-token-for-the-cli";
const TWILIO_URL: &str = "https://hooks.example.com/webhook/twilio";

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).env_clear().output().expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn help_and_version_exit_zero_and_name_every_subcommand() {
    for args in [&["--help"][..], &["-h"], &["help"]] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        for sub in ["serve", "openapi", "healthcheck", "migrate", "send"] {
            assert!(stdout(&o).contains(sub), "{args:?} does not name {sub}");
        }
    }
    for sub in ["serve", "openapi", "healthcheck", "migrate", "send"] {
        assert_eq!(run(&[sub, "--help"]).status.code(), Some(0), "{sub} --help");
    }
    let version = run(&["--version"]);
    assert_eq!(version.status.code(), Some(0));
    assert_eq!(stdout(&version).trim(), format!("webhook-ingest {}", env!("CARGO_PKG_VERSION")));
    assert_eq!(run(&["send", "--version"]).status.code(), Some(0));
}

#[test]
fn an_unknown_subcommand_exits_2_with_the_usage() {
    let o = run(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("unrecognized subcommand") && err.contains("Usage:"), "{err}");
}

#[test]
fn migrate_applies_the_schema_to_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/m.db", dir.path().display());
    let o = Command::new(BIN).arg("migrate").env_clear().env("DATABASE_URL", &url).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(dir.path().join("m.db").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_signs_every_scheme_and_a_wrong_secret_gets_401() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/app.db", dir.path().display());
    let env = [
        ("WEBHOOK_SECRET", SECRET),
        ("DATABASE_URL", url.as_str()),
        ("TWILIO_AUTH_TOKEN", TWILIO_TOKEN),
        ("TWILIO_WEBHOOK_URL", TWILIO_URL),
    ];
    let svc = start(dir.path(), &env);
    let flat = dir.path().join("flat.json");
    let cases: Vec<(String, &str, &str, String)> = vec![
        ("x-signature".into(), SECRET, "/webhook", flat_body(&flat, "cli-1")),
        ("hub".into(), SECRET, "/webhook", flat_body(&dir.path().join("f2.json"), "cli-2")),
        ("standard".into(), SECRET, "/webhook", flat_body(&dir.path().join("f3.json"), "cli-3")),
        ("whatsapp".into(), SECRET, "/webhook", format!("{EXAMPLES}/examples/whatsapp/text.json")),
        ("twilio".into(), TWILIO_TOKEN, "/webhook/twilio", format!("{EXAMPLES}/examples/twilio/sms.form")),
    ];
    for (scheme, secret, path, file) in &cases {
        let target = format!("{}{path}", svc.base);
        let send = |secret: &str| {
            Command::new(BIN)
                .args([
                    "send",
                    file,
                    "--scheme",
                    scheme,
                    "--url",
                    &target,
                    "--secret",
                    secret,
                    "--signed-url",
                    TWILIO_URL,
                ])
                .env_clear()
                .output()
                .unwrap()
        };
        let ok = send(secret);
        assert_eq!(ok.status.code(), Some(0), "{scheme}: {} {}", stdout(&ok), String::from_utf8_lossy(&ok.stderr));
        assert!(stdout(&ok).starts_with("200 "), "{scheme}: {}", stdout(&ok));
        let wrong = send("a-wrong-secret-of-some-length");
        assert_eq!(wrong.status.code(), Some(1), "{scheme}");
        assert!(stdout(&wrong).starts_with("401 "), "{scheme}: {}", stdout(&wrong));
    }
    // Without --scheme and --secret, the file's kind and the configured secret are used.
    let guessed = Command::new(BIN)
        .args(["send", &format!("{EXAMPLES}/examples/whatsapp/image.json"), "--url", &format!("{}/webhook", svc.base)])
        .env_clear()
        .env("WEBHOOK_SECRET", SECRET)
        .output()
        .unwrap();
    assert_eq!(guessed.status.code(), Some(0), "{}", stdout(&guessed));
    let listed: serde_json::Value =
        reqwest::get(format!("{}/messages?limit=100", svc.base)).await.unwrap().json().await.unwrap();
    assert_eq!(listed["total"], 6, "three flat, two WhatsApp, one Twilio message: {listed}");
}

fn flat_body(path: &std::path::Path, id: &str) -> String {
    let body = format!(
        r#"{{"message_id":"{id}","from":"+14155550100","to":"+14155238886","ts":"2025-01-15T10:00:00Z","text":"hi"}}"#
    );
    std::fs::write(path, body).unwrap();
    path.display().to_string()
}
