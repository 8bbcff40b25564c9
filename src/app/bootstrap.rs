//! Builds the adapters from settings, hands them to the core, and serves until told to stop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{Endpoint, Server};

use super::config::Settings;
use super::header_deadline::HeaderDeadline;
use crate::adapters::batching::{self, BatchingWriter};
use crate::adapters::clock::SystemClock;
use crate::adapters::db::{self, SqlMessages};
use crate::adapters::http::{self, HttpConfig};
use crate::adapters::signature::HmacVerifier;
use crate::adapters::twilio_signature::TwilioVerifier;
use crate::domain::service::MessageService;

/// A start-up failure; `Display` is the one line printed before exiting.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A setting is unusable.
    #[error("{0}")]
    Config(#[from] super::config::ConfigError),
    /// A secret in `WEBHOOK_SECRET` is unusable.
    #[error("WEBHOOK_SECRET: {0}")]
    Secret(#[from] crate::adapters::signature::SecretError),
    /// The database could not be opened or migrated.
    #[error("DATABASE_URL: {0}")]
    Database(String),
    /// The port could not be bound.
    #[error("PORT: cannot listen: {0}")]
    Bind(std::io::Error),
}

/// The running parts, before serving.
pub struct Application {
    /// The core, for callers that want to drive it directly.
    pub service: MessageService,
    /// The repository, to close its pool at shutdown.
    pub repository: SqlMessages,
    http: HttpConfig,
    /// The retention task, when `RETENTION_DAYS` is set.
    retention: Option<tokio::task::JoinHandle<()>>,
}

impl Application {
    /// Opens storage, applies migrations and wires the core.
    ///
    /// # Errors
    /// See [`StartupError`].
    pub async fn build(settings: &Settings) -> Result<Self, StartupError> {
        let secrets = settings.secrets();
        let verifier = HmacVerifier::new(secrets.clone(), settings.signature_tolerance_secs)?;
        warn_about_secrets(&secrets);
        let http = settings.http();
        if http.read_api_token.is_none() {
            tracing::warn!(
                "READ_API_TOKEN is not set: GET /messages and GET /stats are open to anyone who can reach them"
            );
        }
        let db_config = settings.db();
        let conn = db::connect(&db_config).await.map_err(|e| StartupError::Database(e.to_string()))?;
        db::migrate(&conn).await.map_err(|e| StartupError::Database(format!("migration failed: {e}")))?;
        let repository = db::repository(conn, &db_config, db::CheckpointPolicy::default())
            .await
            .map_err(|e| StartupError::Database(e.to_string()))?;
        let writer =
            BatchingWriter::spawn(Arc::new(repository.clone()), batching::DEFAULT_QUEUE, batching::DEFAULT_GROUP);
        let mut service = MessageService::new(Arc::new(writer), Arc::new(verifier), Arc::new(SystemClock));
        if let Some(app_secrets) = settings.whatsapp_secrets() {
            let whatsapp = HmacVerifier::new(app_secrets, settings.signature_tolerance_secs)?;
            service = service.with_whatsapp_verifier(Arc::new(whatsapp));
        }
        match settings.twilio() {
            Some((tokens, url)) => service = service.with_twilio_verifier(Arc::new(TwilioVerifier::new(&tokens, &url))),
            None if settings.twilio_auth_token.is_some() || settings.twilio_webhook_url.is_some() => tracing::warn!(
                "TWILIO_AUTH_TOKEN and TWILIO_WEBHOOK_URL must both be set: POST /webhook/twilio answers 401 until they are"
            ),
            None => {}
        }
        let retention = settings.retention_days.map(|days| super::retention::spawn(service.clone(), days));
        Ok(Self { service, repository, http, retention })
    }

    /// The HTTP application over this core.
    pub fn endpoint(&self) -> impl Endpoint + 'static {
        http::app(&self.service, &self.http)
    }

    /// Serves on `host:port` until `shutdown` resolves, then lets in-flight requests finish within
    /// `grace` and closes the database.
    ///
    /// # Errors
    /// The port cannot be bound, or the server fails.
    pub async fn serve(
        self,
        settings: &Settings,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        let addr = format!("{}:{}", settings.host, settings.port);
        let acceptor = TcpListener::bind(addr).into_acceptor().await.map_err(StartupError::Bind)?;
        let acceptor = HeaderDeadline::new(acceptor, Duration::from_secs(settings.header_timeout_secs));
        let local: Vec<SocketAddr> = acceptor.local_addr().iter().filter_map(|a| a.as_socket_addr().copied()).collect();
        tracing::info!(addr = ?local, version = env!("CARGO_PKG_VERSION"), "listening");
        let grace = Duration::from_secs(settings.shutdown_timeout_secs);
        let result = Server::new_with_acceptor(acceptor)
            .idle_timeout(Duration::from_secs(60))
            .run_with_graceful_shutdown(self.endpoint(), shutdown, Some(grace))
            .await;
        if let Some(task) = &self.retention {
            task.abort();
        }
        if let Err(e) = self.repository.close().await {
            tracing::warn!(error = %e, "closing the database pool failed");
        }
        tracing::info!("stopped");
        result.map_err(StartupError::Bind)
    }
}

fn warn_about_secrets(secrets: &[String]) {
    if secrets.is_empty() {
        tracing::warn!("WEBHOOK_SECRET is not set: every webhook will be rejected and /health/ready answers 503");
    }
    for (i, s) in secrets.iter().enumerate() {
        if !s.starts_with("whsec_") && s.chars().count() < 16 {
            tracing::warn!(secret_index = i + 1, "a webhook secret is shorter than 16 characters; use a longer one");
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
