//! `webhook-ingest [serve]` runs the service; `openapi` prints its OpenAPI document;
//! `healthcheck` exits 0 when the local service on `PORT` is ready.

use std::process::ExitCode;

use webhook_ingest::app::bootstrap::{Application, shutdown_signal};
use webhook_ingest::app::config::Settings;
use webhook_ingest::app::{cli, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => return fail(&format!("configuration error: {e}")),
    };
    match std::env::args().nth(1).as_deref() {
        None | Some("serve") => serve(settings).await,
        Some("openapi") => {
            println!("{}", cli::openapi_document(&settings));
            ExitCode::SUCCESS
        }
        Some("healthcheck") => match cli::healthcheck(settings.port) {
            Ok(()) => ExitCode::SUCCESS,
            // 1, not 2: container engines read 1 as "unhealthy" and reserve 2.
            Err(e) => {
                eprintln!("webhook-ingest: {e}");
                ExitCode::FAILURE
            }
        },
        Some(other) => fail(&format!("unknown command {other:?}; expected serve, openapi or healthcheck")),
    }
}

async fn serve(settings: Settings) -> ExitCode {
    telemetry::init(telemetry::subscriber("webhook-ingest", &settings.log_level, std::io::stdout));
    let app = match Application::build(&settings).await {
        Ok(app) => app,
        Err(e) => return fail(&format!("start-up failed: {e}")),
    };
    match app.serve(&settings, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e.to_string()),
    }
}

/// One clear line on stderr, then a non-zero exit.
fn fail(message: &str) -> ExitCode {
    eprintln!("webhook-ingest: {message}");
    ExitCode::from(2)
}
