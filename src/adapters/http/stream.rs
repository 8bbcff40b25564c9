//! `GET /messages/stream`: new messages as server-sent events, for the inbox page and `curl -N`.
//! It follows the feed, so it shows each durable message once in commit order; each event's id is
//! the feed cursor after it, so a reconnect with `Last-Event-ID` resumes exactly there.

use std::sync::Arc;
use std::time::Duration;

use poem::http::StatusCode;
use poem::web::Json;
use poem::web::sse::{Event, SSE};
use poem::{IntoResponse, Request, Response};
use poem_openapi::types::ToJSON;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::auth::{ReadAuth, Token};
use super::dto::MessageDto;
use super::dto_errors::{BearerRequired, StorageUnavailable};
use crate::domain::cursor::FeedCursor;
use crate::domain::service::MessageService;

/// Streams open at once; past this a new one is a 503, so subscribers cannot exhaust the server.
pub const MAX_SUBSCRIBERS: usize = 64;
/// How often each stream looks for new messages.
const POLL_EVERY: Duration = Duration::from_millis(200);
/// Messages read per look.
const BATCH: u32 = 100;

/// The live stream's state, shared by every request.
#[derive(Clone)]
pub struct LiveStream {
    service: MessageService,
    token: Option<Token>,
    slots: Arc<Semaphore>,
}

impl LiveStream {
    /// Streams through `service`, behind `token` when set.
    pub fn new(service: MessageService, token: Option<Token>) -> Self {
        Self { service, token, slots: Arc::new(Semaphore::new(MAX_SUBSCRIBERS)) }
    }

    /// Answers one request: 401, 422 (a bad `Last-Event-ID`), 503 (too many streams, or storage
    /// down), or the event stream.
    pub async fn handle(&self, req: &Request) -> Response {
        if !ReadAuth::of(req).allows(self.token.as_ref()) {
            return Json(BearerRequired::default().to_json()).with_status(StatusCode::UNAUTHORIZED).into_response();
        }
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            let body = serde_json::json!({"detail": "too many live streams, retry later"});
            return Json(body)
                .with_status(StatusCode::SERVICE_UNAVAILABLE)
                .with_header("Retry-After", "5")
                .into_response();
        };
        let resume = req.headers().get("last-event-id").and_then(|v| v.to_str().ok()).map(FeedCursor::parse);
        let start = match resume {
            Some(Ok(cursor)) => cursor,
            Some(Err(rule)) => {
                let body = serde_json::json!({"detail": [{"loc": ["header", "Last-Event-ID"], "msg": rule, "type": "value_error"}]});
                return Json(body).with_status(StatusCode::UNPROCESSABLE_ENTITY).into_response();
            }
            None => match self.service.feed_tail().await {
                Ok(cursor) => cursor,
                Err(e) => {
                    tracing::error!(error = %e, "live stream could not start");
                    let body = StorageUnavailable::default().to_json();
                    return Json(body).with_status(StatusCode::SERVICE_UNAVAILABLE).into_response();
                }
            },
        };
        SSE::new(events(self.service.clone(), start, permit)).keep_alive(Duration::from_secs(15)).into_response()
    }
}

/// The events after `start`, until the client goes away (which drops the stream and its permit).
fn events(
    service: MessageService,
    start: FeedCursor,
    permit: OwnedSemaphorePermit,
) -> impl futures_util::Stream<Item = Event> {
    let state = (service, start, Vec::<Event>::new(), permit);
    futures_util::stream::unfold(state, |(service, mut after, mut ready, permit)| async move {
        loop {
            if let Some(event) = ready.pop() {
                return Some((event, (service, after, ready, permit)));
            }
            match service.feed(after, BATCH).await {
                Ok(page) if !page.rows.is_empty() => {
                    after = page.next;
                    // Popped from the end, so pushed in reverse.
                    ready = page
                        .rows
                        .iter()
                        .zip(&page.cursors)
                        .rev()
                        .map(|(m, c)| {
                            Event::message(MessageDto::from(m).to_json_string()).event_type("message").id(c.encode())
                        })
                        .collect();
                }
                Ok(_) => tokio::time::sleep(POLL_EVERY).await,
                Err(e) => {
                    tracing::warn!(error = %e, "live stream read failed; retrying");
                    tokio::time::sleep(POLL_EVERY * 5).await;
                }
            }
        }
    })
}
