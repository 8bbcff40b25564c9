//! `POST /webhook/twilio`: Twilio's form-encoded webhooks (SMS, WhatsApp through Twilio, status
//! callbacks), verified with `X-Twilio-Signature` and answered with empty TwiML.

use poem::Request;
use poem_openapi::param::Header;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::body::{BodyError, RawForm, read_limited};
use super::dto::ValidationErrorBody;
use super::dto_errors::{BodyTooLarge, InvalidSignature, StorageUnavailable};
use super::observe::NoteSlot;
use super::twiml::TwiMl;
use super::webhook::{BODY_READ_TIMEOUT, delivery_note, refused_note};
use super::{ApiTags, retry_after_secs, unavailable_body};
use crate::domain::error::{FieldError, Location};
use crate::domain::service::{IngestError, MessageService};
use crate::domain::signature::{PresentedSignatures, TwilioSignature};

/// The Twilio endpoint.
pub struct TwilioApi {
    service: MessageService,
    max_body_bytes: usize,
}

impl TwilioApi {
    /// Serves Twilio's webhooks through `service`, refusing bodies over `max_body_bytes`.
    pub fn new(service: MessageService, max_body_bytes: usize) -> Self {
        Self { service, max_body_bytes }
    }
}

/// Every answer `POST /webhook/twilio` gives.
#[derive(ApiResponse)]
pub enum TwilioResponse {
    /// Stored now, or by an earlier delivery: empty TwiML, so no reply is sent.
    #[oai(status = 200)]
    Ok(TwiMl),
    /// `X-Twilio-Signature` missing or wrong, or `TWILIO_AUTH_TOKEN` / `TWILIO_WEBHOOK_URL` unset.
    #[oai(status = 401)]
    Unauthorized(Json<InvalidSignature>),
    /// Body larger than `MAX_BODY_BYTES`.
    #[oai(status = 413)]
    TooLarge(Json<BodyTooLarge>),
    /// Not a Twilio webhook: every missing or bad parameter is listed.
    #[oai(status = 422)]
    Invalid(Json<ValidationErrorBody>),
    /// Storage unavailable; nothing was stored. Twilio retries once.
    #[oai(status = 503)]
    Unavailable(Json<StorageUnavailable>, #[oai(header = "Retry-After")] u32),
}

#[OpenApi]
impl TwilioApi {
    /// Ingest a Twilio webhook
    ///
    /// An inbound SMS or WhatsApp message (`MessageSid`, `From`, `To`, `Body`, media parameters,
    /// `ProfileName`), stored with the time of receipt as `ts`, or a status callback
    /// (`MessageStatus`, `ErrorCode`), stored as a delivery status. Verified with
    /// `X-Twilio-Signature` over `TWILIO_WEBHOOK_URL` and the sorted parameters.
    #[oai(path = "/webhook/twilio", method = "post", tag = "ApiTags::Webhook")]
    async fn ingest(
        &self,
        request: &Request,
        /// Base64 HMAC-SHA1 of the configured URL and the sorted parameters, keyed with the auth token.
        #[oai(name = "X-Twilio-Signature")]
        signature: Header<Option<String>>,
        body: RawForm,
    ) -> TwilioResponse {
        let read = tokio::time::timeout(BODY_READ_TIMEOUT, read_limited(request, body.0, self.max_body_bytes));
        let raw = match read.await.unwrap_or(Err(BodyError::Unreadable)) {
            Ok(raw) => raw,
            Err(BodyError::TooLarge) => {
                NoteSlot::set(request, refused_note("payload_too_large"));
                return TwilioResponse::TooLarge(Json(BodyTooLarge::new(self.max_body_bytes)));
            }
            Err(BodyError::Unreadable) => {
                NoteSlot::set(request, refused_note("validation_error"));
                let e = FieldError::new(Location::Body, None, "request body could not be read", "body_read_error");
                return TwilioResponse::Invalid(Json(vec![e].into()));
            }
        };
        let twilio = signature.0.map(|signature| TwilioSignature { signature, body_sha256: body_sha256(request) });
        let presented = PresentedSignatures { twilio, ..PresentedSignatures::default() };
        match self.service.ingest_twilio(&raw, &presented).await {
            Ok(ingested) => {
                NoteSlot::set(request, delivery_note(&ingested));
                TwilioResponse::Ok(TwiMl)
            }
            Err(IngestError::Signature(reason)) => {
                NoteSlot::set(request, refused_note("invalid_signature"));
                tracing::error!(reason = %reason, "twilio webhook rejected: invalid signature");
                TwilioResponse::Unauthorized(Json(InvalidSignature::default()))
            }
            Err(IngestError::Invalid(errors)) => {
                NoteSlot::set(request, refused_note("validation_error"));
                TwilioResponse::Invalid(Json(errors.into()))
            }
            Err(IngestError::Unavailable { source, .. }) => {
                NoteSlot::set(request, refused_note("storage_unavailable"));
                tracing::error!(error = %source, "twilio webhook not stored");
                let retry = retry_after_secs(&source);
                TwilioResponse::Unavailable(Json(unavailable_body()), retry)
            }
        }
    }
}

/// The `bodySHA256` query parameter Twilio adds when it posts JSON.
fn body_sha256(request: &Request) -> Option<String> {
    let query = request.uri().query()?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).ok()?;
    pairs.into_iter().find(|(k, _)| k == "bodySHA256").map(|(_, v)| v)
}
