//! Signing a request as each accepted scheme's sender would: the CLI's `send` and the tests use
//! this, over the same MAC code the verifiers use, so neither can drift from them.

use super::signature::{SecretError, sign_hex, sign_standard};
use super::twilio_signature::sign_twilio_form;

/// The ways a sender can sign a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `X-Signature: <hex HMAC-SHA256>`.
    XSignature,
    /// `X-Hub-Signature-256: sha256=<hex>`, the GitHub form.
    Hub,
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`.
    Standard,
    /// Meta's WhatsApp Cloud API: `X-Hub-Signature-256` keyed with the app secret.
    Whatsapp,
    /// Twilio: `X-Twilio-Signature` over the configured URL and the sorted form parameters.
    Twilio,
}

/// Why a request could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    /// The secret cannot key this scheme.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// Twilio signs form parameters, and the body is not a form.
    #[error("a Twilio body must be application/x-www-form-urlencoded")]
    NotAForm,
}

/// The headers that sign `body` under `scheme`. `signed_url` is the URL Twilio signs; `id` and
/// `unix_now` feed the Standard Webhooks headers.
///
/// # Errors
/// See [`SigningError`].
pub fn sign(
    scheme: Scheme,
    secret: &str,
    body: &[u8],
    signed_url: &str,
    id: &str,
    unix_now: i64,
) -> Result<Vec<(&'static str, String)>, SigningError> {
    Ok(match scheme {
        Scheme::XSignature => vec![("X-Signature", sign_hex(secret, body))],
        Scheme::Hub | Scheme::Whatsapp => vec![("X-Hub-Signature-256", format!("sha256={}", sign_hex(secret, body)))],
        Scheme::Standard => vec![
            ("webhook-id", id.to_owned()),
            ("webhook-timestamp", unix_now.to_string()),
            ("webhook-signature", sign_standard(secret, id, unix_now, body)?),
        ],
        Scheme::Twilio => {
            vec![("X-Twilio-Signature", sign_twilio_form(secret, signed_url, body).ok_or(SigningError::NotAForm)?)]
        }
    })
}

/// The content type a scheme's sender puts on the body.
pub fn content_type(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::Twilio => "application/x-www-form-urlencoded",
        _ => "application/json",
    }
}
