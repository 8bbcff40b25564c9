//! `GET /feed`: every stored message once, in commit order, with long polling.

use std::time::Duration;

use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::auth::{ReadAuth, Token};
use super::dto::{MessageDto, ValidationErrorBody};
use super::dto_errors::{BearerRequired, StorageUnavailable};
use super::unavailable_body;
use crate::domain::cursor::{FeedCursor, RawFeedQuery};
use crate::domain::service::MessageService;

/// How often a waiting request looks again; other replicas' writes send no signal.
const POLL_EVERY: Duration = Duration::from_millis(100);

/// The feed.
pub struct FeedApi {
    service: MessageService,
    token: Option<Token>,
}

impl FeedApi {
    /// Serves the feed through `service`, requiring `token` as a bearer token when set.
    pub fn new(service: MessageService, token: Option<Token>) -> Self {
        Self { service, token }
    }
}

/// One page of the feed.
#[derive(Debug, Object)]
#[oai(example)]
pub struct FeedBody {
    /// Messages in the order they were committed, each once.
    pub data: Vec<MessageDto>,
    /// Pass as `after` to continue; the same cursor again when nothing new was committed.
    pub next_cursor: String,
}

impl Example for FeedBody {
    fn example() -> Self {
        Self { data: vec![MessageDto::example()], next_cursor: FeedCursor { major: 1, minor: 0 }.encode() }
    }
}

/// Answers of `GET /feed`.
#[derive(ApiResponse)]
pub enum FeedResponse {
    /// The next messages after the cursor, possibly none once `wait` has passed.
    #[oai(status = 200)]
    Ok(Json<FeedBody>),
    /// `READ_API_TOKEN` is set and the request did not present it as a bearer token.
    #[oai(status = 401)]
    Unauthorized(Json<BearerRequired>),
    /// A parameter breaks its rule; every bad parameter is listed.
    #[oai(status = 422)]
    Invalid(Json<ValidationErrorBody>),
    /// Storage unavailable.
    #[oai(status = 503)]
    Unavailable(Json<StorageUnavailable>),
}

#[OpenApi]
impl FeedApi {
    /// Consume every message once
    ///
    /// Every stored message exactly once, in the order it was committed (not by `ts`: a late or
    /// redelivered message still comes), and only once it is durable. Pass back `next_cursor` as
    /// `after` each time. With `wait`, an empty answer is held until something arrives or the
    /// seconds pass (long polling).
    #[oai(path = "/feed", method = "get", tag = "ApiTags::Messages")]
    async fn feed(
        &self,
        auth: ReadAuth,
        /// The `next_cursor` of the previous answer; from the beginning when omitted.
        after: Query<Option<String>>,
        /// Messages per answer, 1 to 1000 (default 100).
        limit: Query<Option<String>>,
        /// Seconds to wait when nothing is there yet, 0 to 30 (default 0).
        wait: Query<Option<String>>,
    ) -> FeedResponse {
        if !auth.allows(self.token.as_ref()) {
            return FeedResponse::Unauthorized(Json(BearerRequired::default()));
        }
        let query = match (RawFeedQuery { after: after.0, limit: limit.0, wait: wait.0 }).parse() {
            Ok(query) => query,
            Err(errors) => return FeedResponse::Invalid(Json(errors.into())),
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(u64::from(query.wait_secs));
        loop {
            let page = match self.service.feed(query.after, query.limit).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::error!(error = %e, "feed read failed");
                    return FeedResponse::Unavailable(Json(unavailable_body()));
                }
            };
            let now = tokio::time::Instant::now();
            if !page.rows.is_empty() || now >= deadline {
                let data = page.rows.iter().map(MessageDto::from).collect();
                return FeedResponse::Ok(Json(FeedBody { data, next_cursor: page.next.encode() }));
            }
            tokio::time::sleep(POLL_EVERY.min(deadline - now)).await;
        }
    }
}
