//! Per-request observation: request id, timing, metrics and exactly one access-log line.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use poem::http::HeaderValue;
use poem::{Endpoint, IntoResponse, Request, Response};

use crate::adapters::metrics::Metrics;

/// Header carrying the request id both ways.
const REQUEST_ID: &str = "x-request-id";
/// Label for every path that matches no route, so unknown URLs cannot grow the label set.
pub const UNMATCHED: &str = "unmatched";

/// What the webhook handler learned, for the access log and the outcome counter.
#[derive(Debug, Clone, Default)]
pub struct WebhookNote {
    /// The parsed `message_id`, when the body got that far.
    pub message_id: Option<String>,
    /// `created`, `duplicate`, `ignored`, `rejected`, `invalid_signature`, `validation_error`,
    /// `payload_too_large`, `storage_unavailable`.
    pub result: &'static str,
    /// The wire format, once the body was recognised.
    pub source: Option<&'static str>,
    /// How many updates of each kind had each outcome.
    pub updates: Vec<UpdateCount>,
}

/// Updates of one kind (`message`, `status`, `other`) with one outcome (`created`, `duplicate`,
/// `ignored`, `rejected`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateCount {
    /// The kind of update.
    pub kind: &'static str,
    /// What happened to it.
    pub outcome: &'static str,
    /// How many.
    pub n: u64,
}

/// Shared slot the handler fills; the middleware reads it after the response is built.
#[derive(Clone, Default)]
pub struct NoteSlot(Arc<Mutex<Option<WebhookNote>>>);

impl NoteSlot {
    /// Records the webhook outcome of the current request.
    pub fn set(request: &Request, note: WebhookNote) {
        if let Some(slot) = request.extensions().get::<NoteSlot>() {
            *slot.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(note);
        }
    }

    fn take(&self) -> Option<WebhookNote> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    }
}

/// The route template for a path; every route of this service is a fixed path.
pub fn route_label(path: &str) -> &'static str {
    const ROUTES: &[&str] = &[
        "/webhook",
        "/webhook/twilio",
        "/messages",
        "/statuses",
        "/feed",
        "/messages/export",
        "/messages/stream",
        "/inbox",
        "/stats",
        "/health/live",
        "/health/ready",
        "/metrics",
        "/openapi.json",
        "/docs",
    ];
    if let Some(route) = ROUTES.iter().find(|r| **r == path) {
        return route;
    }
    if path.starts_with("/docs/") {
        "/docs"
    } else if path.starts_with("/inbox/") {
        "/inbox"
    } else if path.strip_prefix("/messages/").is_some_and(|id| !id.is_empty() && !id.contains('/')) {
        "/messages/{message_id}"
    } else {
        UNMATCHED
    }
}

fn method_label(method: &poem::http::Method) -> &'static str {
    const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
    METHODS.iter().find(|m| **m == method.as_str()).copied().unwrap_or("OTHER")
}

/// The caller's id when it is visible ASCII of at most 128 characters, else a new UUID.
pub fn request_id(incoming: Option<&HeaderValue>) -> String {
    incoming
        .map(HeaderValue::as_bytes)
        .filter(|b| (1..=128).contains(&b.len()) && b.iter().all(|c| (0x21..=0x7e).contains(c)))
        .and_then(|b| std::str::from_utf8(b).ok())
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// Wraps the application: every request gets an id, a metrics sample and one access-log line.
pub async fn observe<E: Endpoint>(ep: Arc<E>, mut req: Request, metrics: Metrics) -> poem::Result<Response> {
    let started = Instant::now();
    let id = request_id(req.headers().get(REQUEST_ID));
    let method = method_label(req.method());
    let path = req.uri().path().to_owned();
    let route = route_label(&path);
    let slot = NoteSlot::default();
    req.extensions_mut().insert(slot.clone());
    let mut resp = match ep.call(req).await {
        Ok(r) => r.into_response(),
        Err(e) => e.into_response(),
    };
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    let status = resp.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    metrics.observe_request(method, route, status, latency_ms);
    let note = slot.take();
    if let Some(n) = &note {
        metrics.observe_webhook(n.result);
        for u in &n.updates {
            metrics.observe_updates(n.source.unwrap_or("webhook"), u.kind, u.outcome, u.n);
        }
    }
    access_log(&id, method, &path, status, latency_ms, note.as_ref());
    Ok(resp)
}

fn access_log(id: &str, method: &str, path: &str, status: u16, latency_ms: f64, note: Option<&WebhookNote>) {
    let message_id = note.and_then(|n| n.message_id.as_deref());
    let result = note.map(|n| n.result);
    let dup = note.map(|n| n.result == "duplicate");
    let source = note.and_then(|n| n.source);
    // A delivery of many updates: `message.created=998 message.duplicate=2`.
    let updates = note
        .filter(|n| n.source != Some("webhook") && !n.updates.is_empty())
        .map(|n| n.updates.iter().map(|u| format!("{}.{}={}", u.kind, u.outcome, u.n)).collect::<Vec<_>>().join(" "));
    let latency_ms = (latency_ms * 1000.0).round() / 1000.0;
    macro_rules! line {
        ($level:ident) => {
            // Field values are evaluated only when the level is enabled, so a filtered-out line
            // costs no timestamp formatting.
            tracing::$level!(
                target: "webhook_ingest::access",
                ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                request_id = id, method, path, status, latency_ms, message_id, dup, result, source, updates,
                "request"
            )
        };
    }
    match (result, status) {
        (Some("invalid_signature"), _) => line!(error),
        (_, 500..) => line!(error),
        (_, 400..) => line!(warn),
        _ => line!(info),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_request_ids_are_kept_and_others_replaced() {
        let keep = HeaderValue::from_static("abc-123_XYZ");
        assert_eq!(request_id(Some(&keep)), "abc-123_XYZ");
        for bad in [&b"has space"[..], b"tab\there", b"\xff\xfe", b""] {
            let v = HeaderValue::from_bytes(bad).unwrap();
            assert_eq!(request_id(Some(&v)).len(), 36, "{bad:?}");
        }
        let long = HeaderValue::from_str(&"x".repeat(129)).unwrap();
        assert_ne!(request_id(Some(&long)), "x".repeat(129));
        assert_eq!(request_id(Some(&HeaderValue::from_str(&"x".repeat(128)).unwrap())), "x".repeat(128));
    }

    #[test]
    fn unknown_paths_share_one_label() {
        assert_eq!(route_label("/webhook"), "/webhook");
        assert_eq!(route_label("/docs/index.css"), "/docs");
        assert_eq!(route_label("/webhook/extra"), UNMATCHED);
        assert_eq!(route_label("/random-123"), UNMATCHED);
    }
}
