//! `GET /messages/export`: every match as NDJSON, streamed a page at a time, so memory stays
//! bounded at any size. Each line carries the cursor that resumes after it.

use poem::Body;
use poem_openapi::param::Query;
use poem_openapi::payload::{Json, Payload};
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry};
use poem_openapi::types::{ToJSON, Type};
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::auth::{ReadAuth, Token};
use super::dto::ValidationErrorBody;
use super::dto_errors::{BearerRequired, StorageUnavailable};
use super::dto_message::MessageDetail;
use super::unavailable_body;
use crate::domain::cursor::ListCursor;
use crate::domain::ports::MessagePage;
use crate::domain::query::{ListQuery, RawListQuery};
use crate::domain::service::MessageService;

/// Rows read per page while streaming.
const PAGE: u32 = 500;
/// Pages buffered ahead of a slow reader.
const AHEAD: usize = 2;

/// The export.
pub struct ExportApi {
    service: MessageService,
    token: Option<Token>,
}

impl ExportApi {
    /// Serves exports through `service`, requiring `token` as a bearer token when set.
    pub fn new(service: MessageService, token: Option<Token>) -> Self {
        Self { service, token }
    }
}

/// One line of an export: the message with its raw object, and where to resume after it.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ExportLine {
    /// The message.
    #[oai(flatten)]
    pub message: MessageDetail,
    /// Pass as `cursor` (with the same filters) to resume after this line.
    pub cursor: String,
}

impl poem_openapi::types::Example for ExportLine {
    fn example() -> Self {
        let message = <MessageDetail as poem_openapi::types::Example>::example();
        let cursor = ListCursor {
            ts: crate::domain::timestamp::Timestamp::parse_utc("2025-01-15T10:00:00Z")
                .unwrap_or_else(|_| unreachable!()),
            message_id: crate::domain::message::MessageId::parse("m1").unwrap_or_else(|_| unreachable!()),
        };
        Self { message, cursor: cursor.encode() }
    }
}

/// A stream of [`ExportLine`]s, one JSON object per line.
pub struct Ndjson(Body);

impl Payload for Ndjson {
    const CONTENT_TYPE: &'static str = "application/x-ndjson";

    fn schema_ref() -> MetaSchemaRef {
        ExportLine::schema_ref()
    }

    fn register(registry: &mut Registry) {
        <ExportLine as Type>::register(registry);
    }
}

impl poem::IntoResponse for Ndjson {
    fn into_response(self) -> poem::Response {
        poem::Response::builder().content_type(Self::CONTENT_TYPE).body(self.0)
    }
}

impl ApiResponse for Ndjson {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "Every match, one JSON object per line, in `ts` order.",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType { content_type: Self::CONTENT_TYPE, schema: Self::schema_ref() }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        <ExportLine as Type>::register(registry);
    }
}

/// Answers of `GET /messages/export`.
#[derive(ApiResponse)]
pub enum ExportResponse {
    /// The stream; a read failure part-way ends it without its final chunk, so no client mistakes
    /// a cut export for a whole one.
    #[oai(status = 200)]
    Ok(Ndjson),
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
impl ExportApi {
    /// Export messages
    ///
    /// Every message the filters of `GET /messages` match, as NDJSON in `ts` order, streamed with
    /// bounded memory at any size. Each line carries `cursor`: pass the last one received back
    /// to resume an interrupted export.
    #[oai(path = "/messages/export", method = "get", tag = "ApiTags::Messages")]
    #[allow(clippy::too_many_arguments, reason = "one parameter per documented query parameter")]
    async fn export(
        &self,
        auth: ReadAuth,
        /// Exact sender in E.164.
        from: Query<Option<String>>,
        /// RFC 3339 instant; keeps messages with `ts >= since`.
        since: Query<Option<String>>,
        /// Case-insensitive literal substring of `text`.
        q: Query<Option<String>>,
        /// Exact source.
        source: Query<Option<String>>,
        /// Exact provider message type.
        #[oai(name = "type")]
        kind: Query<Option<String>>,
        /// Resume after the line that carried this cursor.
        cursor: Query<Option<String>>,
    ) -> ExportResponse {
        if !auth.allows(self.token.as_ref()) {
            return ExportResponse::Unauthorized(Json(BearerRequired::default()));
        }
        let raw = RawListQuery {
            from: from.0,
            since: since.0,
            q: q.0,
            source: source.0,
            kind: kind.0,
            cursor: cursor.0,
            ..RawListQuery::default()
        };
        let query = match raw.parse() {
            Ok(query) => query,
            Err(errors) => return ExportResponse::Invalid(Json(errors.into())),
        };
        // The first page is read before answering, so that storage down is a 503, not a cut stream.
        let first = match self.service.export_page(&query, PAGE).await {
            Ok(page) => page,
            Err(e) => {
                tracing::error!(error = %e, "export failed");
                return ExportResponse::Unavailable(Json(unavailable_body()));
            }
        };
        ExportResponse::Ok(Ndjson(stream(self.service.clone(), query, first)))
    }
}

fn lines(page: &MessagePage) -> Vec<u8> {
    let mut out = Vec::new();
    for m in &page.rows {
        let cursor = ListCursor { ts: m.ts, message_id: m.message_id.clone() }.encode();
        let line = ExportLine { message: MessageDetail::from(m), cursor };
        out.extend(line.to_json_string().into_bytes());
        out.push(b'\n');
    }
    out
}

/// Pages are read by a task ahead of the reader, at most [`AHEAD`] pages buffered.
fn stream(service: MessageService, mut query: ListQuery, first: MessagePage) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(AHEAD);
    tokio::spawn(async move {
        let mut page = first;
        loop {
            if tx.send(Ok(lines(&page))).await.is_err() {
                return; // the reader went away
            }
            let Some(next) = page.next.take() else { return };
            query.filter.after = Some(next);
            page = match service.export_page(&query, PAGE).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::error!(error = %e, "export cut short");
                    let _ = tx.send(Err(std::io::Error::other("storage unavailable"))).await;
                    return;
                }
            };
        }
    });
    let chunks = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|chunk| (chunk, rx)) });
    Body::from_bytes_stream(chunks)
}
