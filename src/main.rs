//! `webhook-ingest [serve]` runs the service; `--help` lists the other subcommands.

use std::process::ExitCode;

use clap::Parser;
use webhook_ingest::app::args::{Cli, Command};
use webhook_ingest::app::bootstrap::{Application, shutdown_signal};
use webhook_ingest::app::config::Settings;
use webhook_ingest::app::{cli, memory, send, telemetry};

fn main() -> ExitCode {
    memory::limit_arenas();
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => fail(&format!("cannot start the runtime: {e}")),
    }
}

async fn run() -> ExitCode {
    // Help and version need no configuration, so the command line is read first; clap exits 2
    // with the usage on a bad one.
    let command = Cli::parse().command.unwrap_or(Command::Serve);
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => return fail(&format!("configuration error: {e}")),
    };
    match command {
        Command::Serve => serve(settings).await,
        Command::Openapi => {
            println!("{}", cli::openapi_document(&settings));
            ExitCode::SUCCESS
        }
        // 1, not 2: container engines read 1 as "unhealthy" and reserve 2.
        Command::Healthcheck => report(cli::healthcheck(settings.port), ExitCode::FAILURE),
        Command::Migrate => report(cli::migrate(&settings).await, ExitCode::from(2)),
        Command::Send(args) => match send::run(&args, &settings).await {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => fail(&e),
        },
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

fn report(result: Result<(), String>, failure: ExitCode) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("webhook-ingest: {e}");
            failure
        }
    }
}

/// One clear line on stderr, then a non-zero exit.
fn fail(message: &str) -> ExitCode {
    eprintln!("webhook-ingest: {message}");
    ExitCode::from(2)
}
