use super::*;

const SW_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const SW_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
const SW_TS: i64 = 1_649_367_553;
const SW_BODY: &str = r#"{"email":"test@example.com","username":"test_user"}"#;
const SW_SIG: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

fn at(secs: i64) -> Timestamp {
    Timestamp::from_micros(secs * 1_000_000).unwrap()
}

fn hex_only(values: &[&str]) -> PresentedSignatures {
    PresentedSignatures { hmac_hex: values.iter().map(|v| v.to_string()).collect(), ..PresentedSignatures::default() }
}

fn standard(ts: i64, sig: &str) -> PresentedSignatures {
    PresentedSignatures {
        hmac_hex: vec![],
        standard: Some(StandardWebhookHeaders {
            id: Some(SW_ID.into()),
            timestamp: Some(ts.to_string()),
            signature: Some(sig.into()),
        }),
        twilio: None,
    }
}

fn verifier(secrets: &[&str]) -> HmacVerifier {
    HmacVerifier::new(secrets.iter().map(|s| s.to_string()).collect(), 300).unwrap()
}

#[test]
fn github_test_vector() {
    let v = verifier(&["It's a Secret to Everybody"]);
    let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    assert_eq!(v.verify(b"Hello, World!", &hex_only(&[sig]), at(0)), Ok(()));
    assert_eq!(sign_hex("It's a Secret to Everybody", b"Hello, World!"), sig.trim_start_matches("sha256="));
}

#[test]
fn hex_is_case_insensitive_and_prefix_optional() {
    let v = verifier(&["s3cret-s3cret-s3cret"]);
    let sig = sign_hex("s3cret-s3cret-s3cret", b"body");
    assert_eq!(v.verify(b"body", &hex_only(&[&sig.to_uppercase()]), at(0)), Ok(()));
    assert_eq!(v.verify(b"body", &hex_only(&[&format!("sha256={sig}")]), at(0)), Ok(()));
    assert_eq!(v.verify(b"body ", &hex_only(&[&sig]), at(0)), Err(SignatureError::Mismatch));
}

#[test]
fn malformed_empty_and_missing_headers_are_rejected() {
    let v = verifier(&["s3cret-s3cret-s3cret"]);
    assert_eq!(v.verify(b"b", &hex_only(&[""]), at(0)), Err(SignatureError::Malformed));
    assert_eq!(v.verify(b"b", &hex_only(&["zz"]), at(0)), Err(SignatureError::Malformed));
    let short = &sign_hex("s3cret-s3cret-s3cret", b"b")[..62];
    assert_eq!(v.verify(b"b", &hex_only(&[short]), at(0)), Err(SignatureError::Malformed));
    assert_eq!(v.verify(b"b", &PresentedSignatures::default(), at(0)), Err(SignatureError::Missing));
}

#[test]
fn any_secret_and_any_header_may_verify() {
    let v = verifier(&["old-secret-0123456", "new-secret-0123456"]);
    for secret in ["old-secret-0123456", "new-secret-0123456"] {
        let good = sign_hex(secret, b"b");
        assert_eq!(v.verify(b"b", &hex_only(&["garbage", &good]), at(0)), Ok(()));
    }
    assert_eq!(v.verify(b"b", &hex_only(&[&sign_hex("other", b"b")]), at(0)), Err(SignatureError::Mismatch));
}

#[test]
fn no_secret_rejects_everything() {
    let v = verifier(&["", ""]);
    assert!(!v.has_secrets());
    assert_eq!(v.verify(b"b", &hex_only(&[&sign_hex("", b"b")]), at(0)), Err(SignatureError::NoSecret));
}

#[test]
fn standard_webhooks_test_vector() {
    let v = verifier(&[SW_SECRET]);
    assert_eq!(v.verify(SW_BODY.as_bytes(), &standard(SW_TS, SW_SIG), at(SW_TS)), Ok(()));
    assert_eq!(sign_standard(SW_SECRET, SW_ID, SW_TS, SW_BODY.as_bytes()).unwrap(), SW_SIG);
}

#[test]
fn standard_webhooks_window_holds_on_both_sides() {
    let v = verifier(&[SW_SECRET]);
    let body = SW_BODY.as_bytes();
    assert_eq!(v.verify(body, &standard(SW_TS, SW_SIG), at(SW_TS + 300)), Ok(()));
    assert_eq!(v.verify(body, &standard(SW_TS, SW_SIG), at(SW_TS - 300)), Ok(()));
    assert_eq!(v.verify(body, &standard(SW_TS, SW_SIG), at(SW_TS + 301)), Err(SignatureError::Stale));
    assert_eq!(v.verify(body, &standard(SW_TS, SW_SIG), at(SW_TS - 301)), Err(SignatureError::Stale));
}

#[test]
fn standard_webhooks_last_of_several_entries_may_verify() {
    let v = verifier(&[SW_SECRET]);
    let header = format!("v1,AAAA v2,xyz v1,{} {SW_SIG}", BASE64.encode([0u8; 32]));
    assert_eq!(v.verify(SW_BODY.as_bytes(), &standard(SW_TS, &header), at(SW_TS)), Ok(()));
}

#[test]
fn standard_webhooks_rejects_empty_truncated_and_wrong() {
    let v = verifier(&[SW_SECRET]);
    let body = SW_BODY.as_bytes();
    assert_eq!(v.verify(body, &standard(SW_TS, ""), at(SW_TS)), Err(SignatureError::Malformed));
    assert_eq!(v.verify(body, &standard(SW_TS, &SW_SIG[..20]), at(SW_TS)), Err(SignatureError::Malformed));
    let wrong = format!("v1,{}", BASE64.encode([7u8; 32]));
    assert_eq!(v.verify(body, &standard(SW_TS, &wrong), at(SW_TS)), Err(SignatureError::Mismatch));
    assert_eq!(v.verify(b"{}", &standard(SW_TS, SW_SIG), at(SW_TS)), Err(SignatureError::Mismatch));
}

#[test]
fn whsec_secrets_are_checked() {
    assert_eq!(HmacVerifier::new(vec!["whsec_!!!".into()], 1).unwrap_err(), SecretError::NotBase64(1));
    assert_eq!(HmacVerifier::new(vec!["whsec_AAAA".into()], 1).unwrap_err(), SecretError::TooShort(1));
}

#[test]
fn debug_output_redacts_secrets() {
    let shown = format!("{:?}", verifier(&["very-private-secret"]));
    assert!(!shown.contains("very-private"));
}
