//! Decides whether the PostgreSQL tests run (see below), and records the git revision for the `build_info` metric: `GIT_REVISION` when the build sets it
//! (container builds have no `.git`), else `git rev-parse`, else "unknown".

fn main() {
    // The PostgreSQL variants of the tests are compiled as ignored unless a server is configured,
    // so that `cargo test` reports them as ignored rather than as passed.
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    println!("cargo:rerun-if-env-changed=TEST_POSTGRES_URL");
    if std::env::var_os("TEST_POSTGRES_URL").is_some_and(|u| !u.is_empty()) {
        println!("cargo:rustc-cfg=postgres_tests");
    }
    println!("cargo:rerun-if-env-changed=GIT_REVISION");
    if let Some(preset) = std::env::var("GIT_REVISION").ok().filter(|r| !r.trim().is_empty()) {
        println!("cargo:rustc-env=GIT_REVISION={}", preset.trim());
        return;
    }
    let revision = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "unknown".to_owned(), |s| s.trim().to_owned());
    println!("cargo:rustc-env=GIT_REVISION={revision}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
}
