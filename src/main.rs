//! `webhook-ingest`: serve (default), `openapi` (print the OpenAPI document), `healthcheck`.

use std::process::ExitCode;

use webhook_ingest::app::bootstrap::{Application, shutdown_signal};
use webhook_ingest::app::config::Settings;
use webhook_ingest::app::telemetry;

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    telemetry::init(telemetry::subscriber("webhook-ingest", &settings.log_level, std::io::stdout));
    let app = match Application::build(&settings).await {
        Ok(app) => app,
        Err(e) => return fail(&e),
    };
    match app.serve(&settings, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// One clear line on stderr, then a non-zero exit.
fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("webhook-ingest: configuration error: {e}");
    ExitCode::from(2)
}
