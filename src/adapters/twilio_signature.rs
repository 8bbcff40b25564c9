//! Twilio's request validation: base64 HMAC-SHA1, keyed with the account's auth token, over the
//! URL Twilio requested followed by every POST parameter sorted by name (name then value, no
//! separators). A JSON body is signed through the URL alone, which then carries the body's
//! SHA-256 as `bodySHA256`. Behind a proxy the service cannot rebuild the public URL, so it is
//! configured (`TWILIO_WEBHOOK_URL`), and, as Twilio's own validators do, it is tried with and
//! without the scheme's default port.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use constant_time_eq::constant_time_eq;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::domain::ports::SignatureVerifier;
use crate::domain::signature::{PresentedSignatures, SignatureError};
use crate::domain::timestamp::Timestamp;

type HmacSha1 = Hmac<Sha1>;

/// Verifies `X-Twilio-Signature` against every configured auth token.
#[derive(Clone)]
pub struct TwilioVerifier {
    tokens: Vec<HmacSha1>,
    url: String,
}

impl fmt::Debug for TwilioVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioVerifier")
            .field("tokens", &format_args!("[{} redacted]", self.tokens.len()))
            .field("url", &self.url)
            .finish()
    }
}

impl TwilioVerifier {
    /// A verifier for requests Twilio sends to `url` (exactly as configured in its console);
    /// empty tokens are skipped.
    pub fn new(tokens: &[String], url: &str) -> Self {
        let tokens = tokens.iter().filter(|t| !t.is_empty()).map(|t| keyed(t.as_bytes())).collect();
        Self { tokens, url: url.to_owned() }
    }

    fn matches(&self, signed: &str, presented: &[u8]) -> bool {
        // Every token is tried so that timing does not reveal which one matched.
        self.tokens.iter().fold(false, |hit, key| {
            let mut mac = key.clone();
            mac.update(signed.as_bytes());
            constant_time_eq(&mac.finalize().into_bytes(), presented) | hit
        })
    }
}

impl SignatureVerifier for TwilioVerifier {
    fn has_secrets(&self) -> bool {
        !self.tokens.is_empty()
    }

    fn verify(&self, body: &[u8], presented: &PresentedSignatures, _now: Timestamp) -> Result<(), SignatureError> {
        if self.tokens.is_empty() {
            return Err(SignatureError::NoSecret);
        }
        let twilio = presented.twilio.as_ref().ok_or(SignatureError::Missing)?;
        let signature = BASE64.decode(twilio.signature.trim()).map_err(|_| SignatureError::Malformed)?;
        let signed: Vec<String> = match &twilio.body_sha256 {
            Some(hash) => {
                if !constant_time_eq(hex::encode(Sha256::digest(body)).as_bytes(), hash.to_ascii_lowercase().as_bytes())
                {
                    return Err(SignatureError::Mismatch);
                }
                url_variants(&with_query(&self.url, &format!("bodySHA256={hash}")))
            }
            None => {
                let params = sorted_params(body).ok_or(SignatureError::Malformed)?;
                url_variants(&self.url).into_iter().map(|url| url + &params).collect()
            }
        };
        if signed.iter().any(|s| self.matches(s, &signature)) { Ok(()) } else { Err(SignatureError::Mismatch) }
    }
}

fn keyed(key: &[u8]) -> HmacSha1 {
    // HMAC accepts keys of any length, so this cannot fail.
    <HmacSha1 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
}

/// Every parameter of a form body, sorted by name (values of a repeated name sorted too), each as
/// its name followed by its value. `None` when the body is not a form.
fn sorted_params(body: &[u8]) -> Option<String> {
    let mut pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    pairs.sort();
    Some(pairs.into_iter().map(|(k, v)| k + &v).collect())
}

fn with_query(url: &str, param: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{param}")
}

/// The URL as configured, and the same URL with its scheme's default port added or removed.
fn url_variants(url: &str) -> Vec<String> {
    let Some((scheme, rest)) = url.split_once("://") else { return vec![url.to_owned()] };
    let default = match scheme.to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return vec![url.to_owned()],
    };
    let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(split);
    // The host may carry user info before an `@`; the port is after the last `:` outside brackets.
    let other = match authority.rsplit_once(':').filter(|(_, port)| !port.contains(']')) {
        Some((host, port)) if port == default => format!("{scheme}://{host}{tail}"),
        Some(_) => return vec![url.to_owned()],
        None => format!("{scheme}://{authority}:{default}{tail}"),
    };
    vec![url.to_owned(), other]
}

/// `X-Twilio-Signature` for a form body posted to `url`: what Twilio would send.
pub fn sign_twilio_form(token: &str, url: &str, body: &[u8]) -> Option<String> {
    let mut mac = keyed(token.as_bytes());
    mac.update((url.to_owned() + &sorted_params(body)?).as_bytes());
    Some(BASE64.encode(mac.finalize().into_bytes()))
}

/// `X-Twilio-Signature` for a JSON body posted to `url` with `bodySHA256` added, and that hash.
pub fn sign_twilio_json(token: &str, url: &str, body: &[u8]) -> (String, String) {
    let hash = hex::encode(Sha256::digest(body));
    let mut mac = keyed(token.as_bytes());
    mac.update(with_query(url, &format!("bodySHA256={hash}")).as_bytes());
    (BASE64.encode(mac.finalize().into_bytes()), hash)
}

#[cfg(test)]
#[path = "twilio_signature_tests.rs"]
mod tests;
