//! `GET /messages`, `GET /messages/{message_id}`, `GET /statuses` and `GET /stats`.

use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::auth::{ReadAuth, Token};
use super::dto::{MessageDto, MessageList, StatsBody, ValidationErrorBody};
use super::dto_errors::{BearerRequired, NotFound, StorageUnavailable};
use super::dto_message::MessageDetail;
use super::dto_status::{StatusDto, StatusList};
use super::{ApiTags, unavailable_body};
use crate::domain::cursor::ListCursor;
use crate::domain::message::MessageId;
use crate::domain::ports::RepoError;
use crate::domain::query::RawListQuery;
use crate::domain::service::MessageService;
use crate::domain::status_query::RawStatusQuery;

/// The read API.
pub struct MessagesApi {
    service: MessageService,
    token: Option<Token>,
}

impl MessagesApi {
    /// Serves reads through `service`, requiring `token` as a bearer token when set.
    pub fn new(service: MessageService, token: Option<Token>) -> Self {
        Self { service, token }
    }
}

/// Answers of `GET /messages`.
#[derive(ApiResponse)]
pub enum ListResponse {
    /// One page of matches and the total number of matches.
    #[oai(status = 200)]
    Ok(Json<MessageList>),
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

/// Answers of `GET /messages/{message_id}`.
#[derive(ApiResponse)]
pub enum GetResponse {
    /// The message, with its provider's own object.
    #[oai(status = 200)]
    Ok(Json<Box<MessageDetail>>),
    /// `READ_API_TOKEN` is set and the request did not present it as a bearer token.
    #[oai(status = 401)]
    Unauthorized(Json<BearerRequired>),
    /// No message has this id: `{"detail":"Not Found"}`.
    #[oai(status = 404)]
    NotFound(Json<NotFound>),
    /// Storage unavailable.
    #[oai(status = 503)]
    Unavailable(Json<StorageUnavailable>),
}

/// Answers of `DELETE /messages/{message_id}`.
#[derive(ApiResponse)]
pub enum DeleteResponse {
    /// Deleted, with its raw object and its search entry.
    #[oai(status = 204)]
    Deleted,
    /// `READ_API_TOKEN` is set and the request did not present it as a bearer token.
    #[oai(status = 401)]
    Unauthorized(Json<BearerRequired>),
    /// No message has this id: `{"detail":"Not Found"}`.
    #[oai(status = 404)]
    NotFound(Json<NotFound>),
    /// Storage unavailable; nothing was deleted.
    #[oai(status = 503)]
    Unavailable(Json<StorageUnavailable>),
}

/// Answers of `GET /statuses`.
#[derive(ApiResponse)]
pub enum StatusesResponse {
    /// One page of matching statuses and the total number of matches.
    #[oai(status = 200)]
    Ok(Json<StatusList>),
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

/// Answers of `GET /stats`.
#[derive(ApiResponse)]
pub enum StatsResponse {
    /// Aggregates over every stored message.
    #[oai(status = 200)]
    Ok(Json<StatsBody>),
    /// `READ_API_TOKEN` is set and the request did not present it as a bearer token.
    #[oai(status = 401)]
    Unauthorized(Json<BearerRequired>),
    /// Storage unavailable.
    #[oai(status = 503)]
    Unavailable(Json<StorageUnavailable>),
}

fn unauthorized() -> Json<BearerRequired> {
    Json(BearerRequired::default())
}

fn log_unavailable(e: &RepoError) -> Json<StorageUnavailable> {
    tracing::error!(error = %e, "read failed");
    Json(unavailable_body())
}

#[OpenApi]
impl MessagesApi {
    /// List and search messages
    ///
    /// Filters combine with AND. Results are always ordered by `ts` ascending, then `message_id`
    /// ascending; `total` counts every match regardless of `limit` and `offset`.
    #[oai(path = "/messages", method = "get", tag = "ApiTags::Messages")]
    #[allow(clippy::too_many_arguments, reason = "one parameter per documented query parameter")]
    async fn list(
        &self,
        auth: ReadAuth,
        /// Page size, an integer from 1 to 100 (default 50).
        limit: Query<Option<String>>,
        /// Matches to skip, an integer >= 0 (default 0).
        offset: Query<Option<String>>,
        /// Exact sender in E.164. An unencoded `+` arrives as a space and is read back as `+`.
        from: Query<Option<String>>,
        /// RFC 3339 instant; keeps messages with `ts >= since`.
        since: Query<Option<String>>,
        /// Case-insensitive substring of `text`; every character is literal (no wildcards).
        q: Query<Option<String>>,
        /// Exact source: `webhook`, `whatsapp` or `twilio`.
        source: Query<Option<String>>,
        /// Exact provider message type, e.g. `text`, `image`, `interactive`.
        #[oai(name = "type")]
        kind: Query<Option<String>>,
        /// Continue after the last row of a page: its `next_cursor`, with the same filters. One
        /// index range at any depth; not combinable with `offset`.
        cursor: Query<Option<String>>,
    ) -> ListResponse {
        if !auth.allows(self.token.as_ref()) {
            return ListResponse::Unauthorized(unauthorized());
        }
        let raw = RawListQuery {
            limit: limit.0,
            offset: offset.0,
            from: from.0,
            since: since.0,
            q: q.0,
            source: source.0,
            kind: kind.0,
            cursor: cursor.0,
        };
        let query = match raw.parse() {
            Ok(query) => query,
            Err(errors) => return ListResponse::Invalid(Json(errors.into())),
        };
        match self.service.list(&query).await {
            Ok(page) => ListResponse::Ok(Json(MessageList {
                data: page.rows.iter().map(MessageDto::from).collect(),
                total: page.total,
                limit: query.page.limit,
                offset: query.page.offset,
                next_cursor: page.next.as_ref().map(ListCursor::encode),
            })),
            Err(e) => ListResponse::Unavailable(log_unavailable(&e)),
        }
    }

    /// One message
    ///
    /// The whole message and, for provider deliveries, the provider's own JSON object for it,
    /// exactly as received.
    #[oai(path = "/messages/:message_id", method = "get", tag = "ApiTags::Messages")]
    async fn get(
        &self,
        auth: ReadAuth,
        /// The provider's message id.
        message_id: Path<String>,
    ) -> GetResponse {
        if !auth.allows(self.token.as_ref()) {
            return GetResponse::Unauthorized(unauthorized());
        }
        let not_found = || GetResponse::NotFound(Json(NotFound::default()));
        let Ok(id) = MessageId::parse(&message_id.0) else { return not_found() };
        match self.service.get(&id).await {
            Ok(Some(stored)) => GetResponse::Ok(Json(Box::new(MessageDetail::from(&stored)))),
            Ok(None) => not_found(),
            Err(e) => GetResponse::Unavailable(log_unavailable(&e)),
        }
    }

    /// Delete one message
    ///
    /// An erasure request: the message, its provider's raw object and its search entry are
    /// deleted, and the counts no longer include it. A provider's later redelivery of the same id
    /// stores it again.
    #[oai(path = "/messages/:message_id", method = "delete", tag = "ApiTags::Messages")]
    async fn delete(
        &self,
        auth: ReadAuth,
        /// The provider's message id.
        message_id: Path<String>,
    ) -> DeleteResponse {
        if !auth.allows(self.token.as_ref()) {
            return DeleteResponse::Unauthorized(unauthorized());
        }
        let not_found = || DeleteResponse::NotFound(Json(NotFound::default()));
        let Ok(id) = MessageId::parse(&message_id.0) else { return not_found() };
        match self.service.delete(&id).await {
            Ok(true) => DeleteResponse::Deleted,
            Ok(false) => not_found(),
            Err(e) => DeleteResponse::Unavailable(log_unavailable(&e)),
        }
    }

    /// Delivery statuses
    ///
    /// Statuses of messages the business sent (`sent`, `delivered`, `read`, `failed`, `played`,
    /// or the provider's own word), each stored once per (message id, status). Ordered by `ts`,
    /// then message id, then status.
    #[oai(path = "/statuses", method = "get", tag = "ApiTags::Messages")]
    #[allow(clippy::too_many_arguments, reason = "one parameter per documented query parameter")]
    async fn statuses(
        &self,
        auth: ReadAuth,
        /// The business's message id.
        message_id: Query<Option<String>>,
        /// Exact recipient, e.g. `+16505551234`; an unencoded `+` is read back as `+`.
        recipient: Query<Option<String>>,
        /// Exact status word.
        status: Query<Option<String>>,
        /// RFC 3339 instant; keeps statuses with `ts >= since`.
        since: Query<Option<String>>,
        /// Page size, an integer from 1 to 100 (default 50).
        limit: Query<Option<String>>,
        /// Matches to skip, an integer >= 0 (default 0).
        offset: Query<Option<String>>,
    ) -> StatusesResponse {
        if !auth.allows(self.token.as_ref()) {
            return StatusesResponse::Unauthorized(unauthorized());
        }
        let raw = RawStatusQuery {
            message_id: message_id.0,
            recipient: recipient.0,
            status: status.0,
            since: since.0,
            limit: limit.0,
            offset: offset.0,
        };
        let query = match raw.parse() {
            Ok(query) => query,
            Err(errors) => return StatusesResponse::Invalid(Json(errors.into())),
        };
        match self.service.statuses(&query).await {
            Ok(page) => StatusesResponse::Ok(Json(StatusList {
                data: page.rows.iter().map(StatusDto::from).collect(),
                total: page.total,
                limit: query.page.limit,
                offset: query.page.offset,
            })),
            Err(e) => StatusesResponse::Unavailable(log_unavailable(&e)),
        }
    }

    /// Message statistics
    ///
    /// Totals, distinct senders, the ten busiest senders (count descending, ties by sender
    /// ascending) and the first and last `ts` (null when nothing is stored).
    #[oai(path = "/stats", method = "get", tag = "ApiTags::Messages")]
    async fn stats(&self, auth: ReadAuth) -> StatsResponse {
        if !auth.allows(self.token.as_ref()) {
            return StatsResponse::Unauthorized(unauthorized());
        }
        match self.service.stats().await {
            Ok(stats) => StatsResponse::Ok(Json(stats.into())),
            Err(e) => StatsResponse::Unavailable(log_unavailable(&e)),
        }
    }
}
