//! The answer Twilio expects: TwiML as `text/xml`. An empty `<Response/>` sends no reply to the
//! person who wrote; an empty body would be an error in Twilio's debugger (11200).

use poem::{IntoResponse, Response};
use poem_openapi::ApiResponse;
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry};

/// The empty TwiML document.
pub const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>";

/// A TwiML body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwiMl;

impl Payload for TwiMl {
    const CONTENT_TYPE: &'static str = "text/xml; charset=utf-8";

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema::new("string");
        schema.description = Some("Empty TwiML: no reply is sent.");
        schema.example = Some(serde_json::Value::String(EMPTY_TWIML.to_owned()));
        MetaSchemaRef::Inline(Box::new(schema))
    }
}

impl IntoResponse for TwiMl {
    fn into_response(self) -> Response {
        Response::builder().content_type(Self::CONTENT_TYPE).body(EMPTY_TWIML)
    }
}

impl ApiResponse for TwiMl {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType { content_type: Self::CONTENT_TYPE, schema: Self::schema_ref() }],
                headers: vec![],
            }],
        }
    }

    fn register(_registry: &mut Registry) {}
}
