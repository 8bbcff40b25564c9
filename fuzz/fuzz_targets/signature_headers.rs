//! Arbitrary signature headers and bodies against both verifiers, keyed with fixed secrets.
//!
//! Beyond "no panic": headers the fuzzer makes up never verify (it cannot compute an HMAC), and
//! the outcome is the one the headers call for (missing, malformed, stale or mismatched); a body
//! signed with a real secret by the service's own signing code verifies in every accepted
//! spelling, among any garbage, with either secret of a rotation; and the same signature over a
//! body changed by one byte does not.

#![no_main]

use std::sync::LazyLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use webhook_ingest::adapters::signature::{HmacVerifier, sign_hex, sign_standard};
use webhook_ingest::adapters::twilio_signature::{TwilioVerifier, sign_twilio_form, sign_twilio_json};
use webhook_ingest::domain::ports::SignatureVerifier;
use webhook_ingest::domain::signature::{PresentedSignatures, SignatureError, StandardWebhookHeaders, TwilioSignature};
use webhook_ingest::domain::timestamp::Timestamp;

const PLAIN: &str = "fuzz-secret-0123456789";
/// A Standard Webhooks secret: base64 of 24 bytes after `whsec_`.
const WHSEC: &str = "whsec_ZnV6ei1zdGFuZGFyZC1rZXktMDEyMzQ1";
const TOLERANCE_SECS: i64 = 300;
const TWILIO_TOKEN: &str = "fuzz-twilio-auth-token";
/// The URLs Twilio may be configured to post to; the verifier also tries each with its default
/// port added or removed.
const URLS: [&str; 4] = [
    "https://hooks.example.test/webhook/twilio",
    "https://hooks.example.test:443/webhook/twilio?tenant=7",
    "http://[::1]:80/webhook/twilio",
    "https://user@hooks.example.test:8443/webhook/twilio",
];

static HMAC: LazyLock<HmacVerifier> = LazyLock::new(|| {
    HmacVerifier::new(vec![PLAIN.to_owned(), WHSEC.to_owned()], TOLERANCE_SECS as u64).expect("usable secrets")
});
static TWILIO: LazyLock<Vec<TwilioVerifier>> = LazyLock::new(|| {
    URLS.iter().map(|url| TwilioVerifier::new(&["old-token".to_owned(), TWILIO_TOKEN.to_owned()], url)).collect()
});

#[derive(Debug, Arbitrary)]
struct Input {
    /// `X-Signature` and `X-Hub-Signature-256` values.
    hmac_hex: Vec<String>,
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature`.
    standard: Option<(Option<String>, Option<String>, Option<String>)>,
    /// `X-Twilio-Signature` and the `bodySHA256` query parameter.
    twilio: Option<(String, Option<String>)>,
    /// Seconds since the epoch when the request arrives.
    now_secs: u32,
    /// Where a real signature goes among the garbage, how it is spelled, and how old it is.
    position: u8,
    spelling: u8,
    age_secs: i16,
    url: u8,
    body: Vec<u8>,
}

fn refused(result: Result<(), SignatureError>, what: &str) -> SignatureError {
    match result {
        Ok(()) => panic!("made-up {what} verified"),
        Err(e) => e,
    }
}

fuzz_target!(|input: Input| {
    let Input { mut hmac_hex, standard, twilio, now_secs, position, spelling, age_secs, url, body } = input;
    hmac_hex.truncate(8);
    let now = Timestamp::from_micros(i64::from(now_secs) * 1_000_000).expect("a 32-bit instant");
    let standard = standard.map(|(id, timestamp, signature)| StandardWebhookHeaders { id, timestamp, signature });
    let twilio = twilio.map(|(signature, body_sha256)| TwilioSignature { signature, body_sha256 });
    let garbage =
        PresentedSignatures { hmac_hex: hmac_hex.clone(), standard: standard.clone(), twilio: twilio.clone() };

    // Made-up headers: never accepted, and refused for the reason they call for.
    let e = refused(HMAC.verify(&body, &garbage, now), "HMAC headers");
    if garbage.is_empty() {
        assert_eq!(e, SignatureError::Missing);
    } else if hmac_hex.is_empty() && standard.is_none() {
        assert_eq!(e, SignatureError::Missing, "a Twilio header alone is nothing the HMAC verifier reads");
    } else {
        assert_ne!(e, SignatureError::Missing);
        assert_ne!(e, SignatureError::NoSecret);
    }
    let url_index = usize::from(url) % URLS.len();
    let twilio_verifier = &TWILIO[url_index];
    let e = refused(twilio_verifier.verify(&body, &garbage, now), "Twilio header");
    assert_eq!(e == SignatureError::Missing, twilio.is_none());

    // A real X-Signature or X-Hub-Signature-256 among the garbage verifies, under either secret.
    let secret = if spelling & 1 == 0 { PLAIN } else { WHSEC };
    let hex = sign_hex(secret, &body);
    let spelled = match (spelling >> 1) % 4 {
        0 => hex.clone(),
        1 => format!("sha256={hex}"),
        2 => hex.to_ascii_uppercase(),
        _ => format!(" sha256={} ", hex.to_ascii_uppercase()),
    };
    let mut with_real = garbage.clone();
    let at = usize::from(position) % (with_real.hmac_hex.len() + 1);
    with_real.hmac_hex.insert(at, spelled.clone());
    assert_eq!(HMAC.verify(&body, &with_real, now), Ok(()), "a real signature is refused: {spelled:?}");
    assert_eq!(
        HMAC.verify(&body, &PresentedSignatures { hmac_hex: vec![spelled.clone()], ..Default::default() }, now),
        Ok(())
    );
    let stranger = HmacVerifier::new(vec!["someone-else".to_owned()], TOLERANCE_SECS as u64).expect("a plain secret");
    assert!(stranger.verify(&body, &with_real, now).is_err(), "another secret accepted it");

    // One byte changed: the same signature no longer fits (garbage cannot fit either).
    let mut tampered = body.clone();
    match tampered.get_mut(usize::from(position) % body.len().max(1)) {
        Some(b) => *b ^= 1 << (spelling % 8),
        None => tampered.push(position),
    }
    let only_real = PresentedSignatures { hmac_hex: vec![spelled], ..Default::default() };
    assert_eq!(HMAC.verify(&tampered, &only_real, now), Err(SignatureError::Mismatch));

    // A real Standard Webhooks signature among made-up entries: fresh verifies, stale does not.
    let id = format!("msg_{position}_{spelling}");
    let sent = i64::from(now_secs) + i64::from(age_secs);
    let v1 = sign_standard(secret, &id, sent, &body).expect("usable secret");
    let mut entries: Vec<String> = hmac_hex.iter().filter(|h| !h.contains(char::is_whitespace)).cloned().collect();
    entries.insert(usize::from(position) % (entries.len() + 1), v1);
    let headers =
        StandardWebhookHeaders { id: Some(id), timestamp: Some(sent.to_string()), signature: Some(entries.join(" ")) };
    let presented = PresentedSignatures { standard: Some(headers), ..Default::default() };
    let fresh = i64::from(age_secs).abs() <= TOLERANCE_SECS;
    let expected = if fresh { Ok(()) } else { Err(SignatureError::Stale) };
    assert_eq!(HMAC.verify(&body, &presented, now), expected, "Standard Webhooks, {age_secs} s old");
    if fresh {
        assert_eq!(HMAC.verify(&tampered, &presented, now), Err(SignatureError::Mismatch));
    }

    // Twilio: a form body signed over the configured URL verifies, with either token; JSON is
    // signed through the URL with the body's SHA-256, and a changed body no longer has that hash.
    let url = URLS[url_index];
    let token = if spelling & 1 == 0 { TWILIO_TOKEN } else { "old-token" };
    if let Some(signature) = sign_twilio_form(token, url, &body) {
        let presented = PresentedSignatures {
            twilio: Some(TwilioSignature { signature, body_sha256: None }),
            ..Default::default()
        };
        assert_eq!(twilio_verifier.verify(&body, &presented, now), Ok(()), "a signed form is refused");
    }
    let (signature, hash) = sign_twilio_json(token, url, &body);
    let presented = PresentedSignatures {
        twilio: Some(TwilioSignature { signature, body_sha256: Some(hash) }),
        ..Default::default()
    };
    assert_eq!(twilio_verifier.verify(&body, &presented, now), Ok(()), "a signed JSON body is refused");
    assert_eq!(twilio_verifier.verify(&tampered, &presented, now), Err(SignatureError::Mismatch));
    let elsewhere = &TWILIO[(url_index + 1) % URLS.len()];
    assert!(elsewhere.verify(&body, &presented, now).is_err(), "a signature for one URL fits another");
});
