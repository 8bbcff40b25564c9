//! One error body type per answer, so that the OpenAPI document's example of each response is
//! the body that response really sends.

use poem_openapi::Object;
use poem_openapi::types::Example;

use super::INVALID_SIGNATURE;

macro_rules! detail_body {
    ($(#[doc = $doc:literal] $name:ident => $example:expr;)*) => {
        $(
            #[doc = $doc]
            #[derive(Debug, Object)]
            #[oai(example)]
            pub struct $name {
                /// What went wrong, without internals.
                pub detail: String,
            }

            impl Example for $name {
                fn example() -> Self {
                    Self { detail: $example.into() }
                }
            }
        )*
    };
}

detail_body! {
    /// The signature is missing, malformed, stale or wrong.
    InvalidSignature => INVALID_SIGNATURE;
    /// The body is larger than `MAX_BODY_BYTES` (4 MiB by default).
    BodyTooLarge => "request body exceeds 4194304 bytes";
    /// Storage is unavailable or busy; nothing was stored or read. Retry later.
    StorageUnavailable => "storage unavailable, retry later";
    /// No such resource.
    NotFound => "Not Found";
    /// `READ_API_TOKEN` is set and the request did not present it as a bearer token.
    BearerRequired => "missing or invalid bearer token";
    /// The subscription handshake failed: no verify token configured, or a wrong one.
    VerificationFailed => "verification failed";
}

impl BodyTooLarge {
    /// Names the configured limit.
    pub fn new(limit: usize) -> Self {
        Self { detail: format!("request body exceeds {limit} bytes") }
    }
}

/// Bodies that do not vary are their example.
macro_rules! fixed {
    ($($name:ident),*) => {
        $(
            impl Default for $name {
                fn default() -> Self {
                    Self::example()
                }
            }
        )*
    };
}

fixed!(InvalidSignature, StorageUnavailable, NotFound, BearerRequired, VerificationFailed);
