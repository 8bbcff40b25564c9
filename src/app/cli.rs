//! The binary's subcommands besides serving: print the OpenAPI document, probe readiness, migrate.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use crate::adapters::clock::SystemClock;
use crate::adapters::db;
use crate::adapters::http;
use crate::adapters::memory::InMemoryMessages;
use crate::adapters::signature::HmacVerifier;
use crate::domain::service::MessageService;

use super::config::Settings;

/// The OpenAPI document the service serves; it depends on no storage, so none is opened.
pub fn openapi_document(settings: &Settings) -> String {
    let verifier = HmacVerifier::new(Vec::new(), settings.signature_tolerance_secs).unwrap_or_else(|_| unreachable!());
    let service = MessageService::new(Arc::new(InMemoryMessages::default()), Arc::new(verifier), Arc::new(SystemClock));
    http::openapi_json(&service, &settings.http())
}

/// Asks the local service whether it is ready, for a container HEALTHCHECK without curl.
///
/// # Errors
/// The service did not answer 200 within five seconds; the text says what happened.
pub fn healthcheck(port: u16) -> Result<(), String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let timeout = Duration::from_secs(5);
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /health/ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).map_err(|e| e.to_string())?;
    let status_line = String::from_utf8_lossy(&head[..n]);
    if status_line.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        Err(format!("not ready: {}", status_line.lines().next().unwrap_or("no answer")))
    }
}

/// Applies pending migrations to the configured database.
///
/// # Errors
/// The database cannot be reached or a migration failed; the text says which.
pub async fn migrate(settings: &Settings) -> Result<(), String> {
    let conn = db::connect(&settings.db()).await.map_err(|e| format!("cannot open the database: {e}"))?;
    db::migrate(&conn).await.map_err(|e| format!("migration failed: {e}"))?;
    conn.close().await.map_err(|e| e.to_string())
}
