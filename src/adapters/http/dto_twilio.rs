//! The parameters of a Twilio webhook, as the OpenAPI document shows them. Only the document uses
//! this type: the form is verified as raw bytes and decoded by the core.

use poem_openapi::Object;
use poem_openapi::types::Example;

/// The parameters Twilio posts (it adds others without notice; they are kept in the raw form).
#[derive(Debug, Object)]
#[oai(example, rename_all = "PascalCase")]
pub struct TwilioForm {
    /// The message's id: the idempotency key.
    #[oai(validator(min_length = 1, max_length = 256, pattern = r"^[^\x00]*\S[^\x00]*$"))]
    pub message_sid: String,
    /// The Twilio account.
    pub account_sid: Option<String>,
    /// The sender, E.164, `whatsapp:`-prefixed for WhatsApp.
    #[oai(validator(pattern = r"^(whatsapp:)?\+[1-9][0-9]{1,14}$"))]
    pub from: String,
    /// The recipient, E.164, `whatsapp:`-prefixed for WhatsApp.
    #[oai(validator(pattern = r"^(whatsapp:)?\+[1-9][0-9]{1,14}$"))]
    pub to: String,
    /// The text, at most 4096 characters.
    #[oai(validator(max_length = 4096))]
    pub body: Option<String>,
    /// How many media are attached.
    pub num_media: Option<String>,
    /// The first medium's URL (then `MediaUrl1`, …).
    pub media_url0: Option<String>,
    /// The first medium's content type (then `MediaContentType1`, …).
    pub media_content_type0: Option<String>,
    /// WhatsApp: the sender's profile name.
    pub profile_name: Option<String>,
    /// WhatsApp: the sender's number without `+`.
    pub wa_id: Option<String>,
    /// WhatsApp: `text`, `image`, `location`, …
    pub message_type: Option<String>,
    /// A status callback: `queued`, `sent`, `delivered`, `undelivered`, `failed`, `read`, …
    pub message_status: Option<String>,
    /// A status callback's error code.
    pub error_code: Option<String>,
}

impl Example for TwilioForm {
    fn example() -> Self {
        Self {
            message_sid: "SM5f0b6c27a3f84c2a9e1d1f7e2b3c4d5e".into(),
            account_sid: Some("AC0123456789abcdef0123456789abcdef".into()),
            from: "+14155550100".into(),
            to: "+14155238886".into(),
            body: Some("Is my order #1042 shipped?".into()),
            num_media: Some("0".into()),
            media_url0: None,
            media_content_type0: None,
            profile_name: None,
            wa_id: None,
            message_type: None,
            message_status: None,
            error_code: None,
        }
    }
}
