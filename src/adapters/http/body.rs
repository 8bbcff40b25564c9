//! The webhook body as raw bytes: the MAC covers exactly what was received, so JSON parsing must
//! wait until after verification. The OpenAPI document still shows the JSON schema.

use poem::{Body, Request, RequestBody};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};

use super::dto::WebhookPayload;
use super::dto_envelope::CloudApiEnvelope;
use super::dto_twilio::TwilioForm;

/// The unread request body. Any content type is accepted: some providers send none.
pub struct RawJson(pub Body);

impl<'a> ApiExtractor<'a> for RawJson {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        WebhookPayload::register(registry);
        CloudApiEnvelope::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: Some(
                "A flat message, or a Meta WhatsApp Cloud API envelope (`\"object\": \"whatsapp_business_account\"`). \
                 The signature is computed over these exact bytes, so send them unchanged.",
            ),
            content: vec![MetaMediaType { content_type: "application/json", schema: one_of_bodies() }],
            required: true,
        })
    }

    async fn from_request(
        _request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        Ok(Self(body.take()?))
    }
}

/// Either accepted body, as one schema.
fn one_of_bodies() -> MetaSchemaRef {
    let mut schema = MetaSchema::new("object");
    schema.one_of = vec![WebhookPayload::schema_ref(), CloudApiEnvelope::schema_ref()];
    schema.description = Some("The flat message, or a Cloud API envelope.");
    MetaSchemaRef::Inline(Box::new(schema))
}

/// The unread body of a Twilio webhook: its signature covers the decoded parameters, so the raw
/// form is kept for the verifier and the raw object.
pub struct RawForm(pub Body);

impl<'a> ApiExtractor<'a> for RawForm {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        TwilioForm::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: Some("The parameters Twilio posts, form-encoded, exactly as sent."),
            content: vec![MetaMediaType {
                content_type: "application/x-www-form-urlencoded",
                schema: TwilioForm::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        _request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        Ok(Self(body.take()?))
    }
}

/// Why the body could not be read.
pub enum BodyError {
    /// Larger than the configured limit.
    TooLarge,
    /// The connection failed while reading.
    Unreadable,
}

/// Reads at most `limit` bytes, refusing early when the declared length is already too large.
pub async fn read_limited(request: &Request, body: Body, limit: usize) -> Result<Vec<u8>, BodyError> {
    let declared = request
        .headers()
        .get(poem::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    match body.into_bytes_limit(limit).await {
        Ok(bytes) => Ok(bytes.to_vec()),
        Err(poem::error::ReadBodyError::PayloadTooLarge) => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::Unreadable),
    }
}
