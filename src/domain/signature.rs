//! What a request presents to prove it came from the provider.

use thiserror::Error;

/// Every signature-bearing header the request carried, as raw text; the verifier parses them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PresentedSignatures {
    /// Values of `X-Signature` (bare hex) and `X-Hub-Signature-256` (`sha256=` hex).
    pub hmac_hex: Vec<String>,
    /// The Standard Webhooks triple (`webhook-*` or `svix-*` headers), when any part is present.
    pub standard: Option<StandardWebhookHeaders>,
    /// Twilio's `X-Twilio-Signature`, with the `bodySHA256` query parameter of a JSON request.
    pub twilio: Option<TwilioSignature>,
}

/// What Twilio presents: a signature over its configured URL and the request's parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TwilioSignature {
    /// `X-Twilio-Signature`: base64 HMAC-SHA1.
    pub signature: String,
    /// The `bodySHA256` query parameter Twilio adds to the URL when it posts JSON.
    pub body_sha256: Option<String>,
}

/// The three Standard Webhooks headers, each possibly absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StandardWebhookHeaders {
    /// `webhook-id`.
    pub id: Option<String>,
    /// `webhook-timestamp`, Unix seconds.
    pub timestamp: Option<String>,
    /// `webhook-signature`, space-separated `v1,<base64>` entries.
    pub signature: Option<String>,
}

impl PresentedSignatures {
    /// Whether the request carried nothing to verify.
    pub fn is_empty(&self) -> bool {
        self.hmac_hex.is_empty() && self.standard.is_none() && self.twilio.is_none()
    }
}

/// Why a request is not authentic. All of these answer 401 alike; the reason is for logs only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SignatureError {
    /// No secret is configured, so nothing can verify.
    #[error("no webhook secret is configured")]
    NoSecret,
    /// No signature header was sent.
    #[error("no signature header")]
    Missing,
    /// A signature header was present but unreadable.
    #[error("malformed signature header")]
    Malformed,
    /// The Standard Webhooks timestamp is outside the tolerance window.
    #[error("signature timestamp outside the tolerance window")]
    Stale,
    /// Well-formed, but no signature matched any secret.
    #[error("signature does not match")]
    Mismatch,
}
