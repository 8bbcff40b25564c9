//! The HMAC-SHA256 verifier: `X-Signature`, `X-Hub-Signature-256` and Standard Webhooks, with
//! several secrets active at once so they can be rotated without downtime.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use constant_time_eq::constant_time_eq_32;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::domain::ports::SignatureVerifier;
use crate::domain::signature::{PresentedSignatures, SignatureError, StandardWebhookHeaders};
use crate::domain::timestamp::Timestamp;

type HmacSha256 = Hmac<Sha256>;

/// Prefix of Standard Webhooks secrets whose key is the base64 text that follows.
const WHSEC_PREFIX: &str = "whsec_";
/// Shortest key accepted for a `whsec_` secret.
pub const MIN_KEY_BYTES: usize = 16;

/// One configured secret, with its two keyed MAC states computed once at start-up.
#[derive(Clone)]
struct Secret {
    /// Keyed with the secret's UTF-8 bytes: `X-Signature`, `X-Hub-Signature-256`.
    plain: HmacSha256,
    /// Keyed as Standard Webhooks specifies: base64 after `whsec_`, else the UTF-8 bytes.
    standard: HmacSha256,
}

/// A configured secret that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// `whsec_` followed by text that is not base64.
    #[error("secret #{0} starts with whsec_ but the rest is not valid base64")]
    NotBase64(usize),
    /// `whsec_` followed by a key that is too short to be safe.
    #[error("secret #{0} decodes to fewer than {MIN_KEY_BYTES} bytes")]
    TooShort(usize),
}

/// Verifies HMAC-SHA256 signatures against every configured secret.
#[derive(Clone)]
pub struct HmacVerifier {
    secrets: Vec<Secret>,
    tolerance_secs: i64,
}

impl fmt::Debug for HmacVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacVerifier")
            .field("secrets", &format_args!("[{} redacted]", self.secrets.len()))
            .field("tolerance_secs", &self.tolerance_secs)
            .finish()
    }
}

impl HmacVerifier {
    /// Builds a verifier; empty strings are skipped. `tolerance_secs` bounds the Standard Webhooks
    /// timestamp in both directions.
    ///
    /// # Errors
    /// A `whsec_` secret that is not base64 or is shorter than 16 bytes.
    pub fn new(secrets: Vec<String>, tolerance_secs: u64) -> Result<Self, SecretError> {
        let secrets = secrets
            .iter()
            .filter(|s| !s.is_empty())
            .enumerate()
            .map(|(i, s)| {
                let standard_key = match s.strip_prefix(WHSEC_PREFIX) {
                    Some(b64) => {
                        let key = BASE64.decode(b64).map_err(|_| SecretError::NotBase64(i + 1))?;
                        if key.len() < MIN_KEY_BYTES {
                            return Err(SecretError::TooShort(i + 1));
                        }
                        key
                    }
                    None => s.as_bytes().to_vec(),
                };
                Ok(Secret { plain: keyed(s.as_bytes()), standard: keyed(&standard_key) })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { secrets, tolerance_secs: i64::try_from(tolerance_secs).unwrap_or(i64::MAX) })
    }

    fn verify_hex(&self, body: &[u8], header: &str) -> Result<(), SignatureError> {
        let presented = parse_hex_signature(header).ok_or(SignatureError::Malformed)?;
        let any = self.secrets.iter().any(|s| {
            let mut mac = s.plain.clone();
            mac.update(body);
            constant_time_eq_32(&mac.finalize().into_bytes().into(), &presented)
        });
        if any { Ok(()) } else { Err(SignatureError::Mismatch) }
    }

    fn verify_standard(&self, body: &[u8], h: &StandardWebhookHeaders, now: Timestamp) -> Result<(), SignatureError> {
        let (Some(id), Some(ts), Some(sigs)) = (&h.id, &h.timestamp, &h.signature) else {
            return Err(SignatureError::Malformed);
        };
        let sent: i64 = ts.trim().parse().map_err(|_| SignatureError::Malformed)?;
        if now.unix_seconds().abs_diff(sent) > self.tolerance_secs.unsigned_abs() {
            return Err(SignatureError::Stale);
        }
        let presented: Vec<[u8; 32]> = sigs.split_ascii_whitespace().filter_map(parse_v1_entry).collect();
        if presented.is_empty() {
            return Err(SignatureError::Malformed);
        }
        let any = self.secrets.iter().any(|s| {
            let mut mac = s.standard.clone();
            mac.update(id.as_bytes());
            mac.update(b".");
            mac.update(ts.as_bytes());
            mac.update(b".");
            mac.update(body);
            let expected: [u8; 32] = mac.finalize().into_bytes().into();
            // Every entry is compared so that timing does not reveal which one matched.
            presented.iter().fold(false, |hit, p| constant_time_eq_32(&expected, p) | hit)
        });
        if any { Ok(()) } else { Err(SignatureError::Mismatch) }
    }
}

impl SignatureVerifier for HmacVerifier {
    fn has_secrets(&self) -> bool {
        !self.secrets.is_empty()
    }

    fn verify(&self, body: &[u8], presented: &PresentedSignatures, now: Timestamp) -> Result<(), SignatureError> {
        if self.secrets.is_empty() {
            return Err(SignatureError::NoSecret);
        }
        if presented.is_empty() {
            return Err(SignatureError::Missing);
        }
        let hex_results = presented.hmac_hex.iter().map(|h| self.verify_hex(body, h));
        let standard_result = presented.standard.as_ref().map(|h| self.verify_standard(body, h, now));
        let results: Vec<_> = hex_results.chain(standard_result).collect();
        if results.iter().any(Result::is_ok) {
            return Ok(());
        }
        // Report the most telling failure: a readable-but-wrong signature beats an unreadable one.
        let rank = |e: &SignatureError| match e {
            SignatureError::Mismatch => 3,
            SignatureError::Stale => 2,
            _ => 1,
        };
        Err(results.into_iter().filter_map(Result::err).max_by_key(rank).unwrap_or(SignatureError::Missing))
    }
}

fn keyed(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    <HmacSha256 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
}

/// Reads `<hex>` or `sha256=<hex>`, upper- or lowercase, surrounding blanks ignored.
fn parse_hex_signature(header: &str) -> Option<[u8; 32]> {
    let h = header.trim();
    let hex_part = h.strip_prefix("sha256=").unwrap_or(h);
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut out).ok()?;
    Some(out)
}

/// Reads one `v1,<base64>` entry; other versions are not ours to check.
fn parse_v1_entry(entry: &str) -> Option<[u8; 32]> {
    let b64 = entry.strip_prefix("v1,")?;
    BASE64.decode(b64).ok()?.try_into().ok()
}

/// Lowercase hex HMAC-SHA256 of `body` keyed with `secret`: what a sender puts in `X-Signature`.
pub fn sign_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = keyed(secret.as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// A Standard Webhooks `v1,<base64>` signature for `id`, `timestamp` and `body`.
///
/// # Errors
/// The secret is unusable (see [`SecretError`]).
pub fn sign_standard(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, SecretError> {
    let v = HmacVerifier::new(vec![secret.to_owned()], 0)?;
    let mut mac = v.secrets[0].standard.clone();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Ok(format!("v1,{}", BASE64.encode(mac.finalize().into_bytes())))
}

#[cfg(test)]
#[path = "signature_tests.rs"]
mod tests;
