use super::*;
use crate::domain::signature::TwilioSignature;

const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
const FORM: &str = "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212";

fn now() -> Timestamp {
    Timestamp::from_micros(0).unwrap()
}

fn presented(signature: &str, body_sha256: Option<&str>) -> PresentedSignatures {
    let twilio = TwilioSignature { signature: signature.into(), body_sha256: body_sha256.map(str::to_owned) };
    PresentedSignatures { twilio: Some(twilio), ..PresentedSignatures::default() }
}

fn verifier(url: &str) -> TwilioVerifier {
    TwilioVerifier::new(&["12345".to_owned()], url)
}

#[test]
fn the_published_form_vector_verifies() {
    assert_eq!(sign_twilio_form("12345", URL, FORM.as_bytes()).unwrap(), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
    let result = verifier(URL).verify(FORM.as_bytes(), &presented("0/KCTR6DLpKmkAf8muzZqo1nDgQ=", None), now());
    assert_eq!(result, Ok(()));
}

#[test]
fn the_published_json_vector_verifies() {
    let body = br#"{"property": "value", "boolean": true}"#;
    let (signature, hash) = sign_twilio_json("12345", "https://example.com/myapp", body);
    assert_eq!(hash, "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620");
    assert_eq!(signature, "Klp85180pYIxzIO5cuyxpfh1BKw=");
    let v = verifier("https://example.com/myapp");
    assert_eq!(v.verify(body, &presented(&signature, Some(&hash)), now()), Ok(()));
    let other = br#"{"property": "other", "boolean": true}"#;
    assert_eq!(v.verify(other, &presented(&signature, Some(&hash)), now()), Err(SignatureError::Mismatch));
}

#[test]
fn changed_added_or_reordered_parts_do_not_verify() {
    let good = presented("0/KCTR6DLpKmkAf8muzZqo1nDgQ=", None);
    let changed = FORM.replace("Digits=1234", "Digits=1235");
    let added = format!("{FORM}&Extra=1");
    for body in [changed.as_str(), added.as_str()] {
        assert_eq!(verifier(URL).verify(body.as_bytes(), &good, now()), Err(SignatureError::Mismatch), "{body}");
    }
    let reordered_query = "https://mycompany.com/myapp.php?bar=2&foo=1";
    let other_port = "https://mycompany.com:8443/myapp.php?foo=1&bar=2";
    for url in [reordered_query, other_port, "http://mycompany.com/myapp.php?foo=1&bar=2"] {
        assert_eq!(verifier(url).verify(FORM.as_bytes(), &good, now()), Err(SignatureError::Mismatch), "{url}");
    }
}

#[test]
fn the_form_parameters_may_come_in_any_order() {
    let shuffled = "To=%2B18005551212&Digits=1234&CallSid=CA1234567890ABCDE&From=%2B12349013030&Caller=%2B12349013030";
    let result = verifier(URL).verify(shuffled.as_bytes(), &presented("0/KCTR6DLpKmkAf8muzZqo1nDgQ=", None), now());
    assert_eq!(result, Ok(()));
}

#[test]
fn the_default_port_may_be_written_or_left_out_on_either_side() {
    let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
    let signed_with_port = sign_twilio_form("12345", with_port, FORM.as_bytes()).unwrap();
    assert_eq!(verifier(URL).verify(FORM.as_bytes(), &presented(&signed_with_port, None), now()), Ok(()));
    let good = presented("0/KCTR6DLpKmkAf8muzZqo1nDgQ=", None);
    assert_eq!(verifier(with_port).verify(FORM.as_bytes(), &good, now()), Ok(()));
    assert_eq!(url_variants("http://h.example/x"), ["http://h.example/x", "http://h.example:80/x"]);
    assert_eq!(url_variants("https://h.example:8443/x"), ["https://h.example:8443/x"]);
}

#[test]
fn encoded_plus_spaces_percent_and_non_ascii_verify() {
    let url = "https://example.com/webhook/twilio";
    let body = "Body=1%2B1+is+2%2C+100%25+s%C3%BBr+%F0%9F%98%80&From=%2B14155550100&MessageSid=SM1";
    let signature = sign_twilio_form("12345", url, body.as_bytes()).unwrap();
    // The values are signed decoded: "1+1 is 2, 100% sûr 😀".
    let mut mac = keyed(b"12345");
    mac.update(format!("{url}Body1+1 is 2, 100% sûr 😀From+14155550100MessageSidSM1").as_bytes());
    assert_eq!(signature, BASE64.encode(mac.finalize().into_bytes()));
    assert_eq!(verifier(url).verify(body.as_bytes(), &presented(&signature, None), now()), Ok(()));
}

#[test]
fn missing_unreadable_or_unconfigured_is_refused() {
    let none = TwilioVerifier::new(&[], URL);
    assert_eq!(none.verify(FORM.as_bytes(), &presented("x", None), now()), Err(SignatureError::NoSecret));
    assert_eq!(
        verifier(URL).verify(FORM.as_bytes(), &PresentedSignatures::default(), now()),
        Err(SignatureError::Missing)
    );
    assert_eq!(
        verifier(URL).verify(FORM.as_bytes(), &presented("not base64!", None), now()),
        Err(SignatureError::Malformed)
    );
}

#[test]
fn any_of_several_tokens_verifies_and_debug_hides_them() {
    let v = TwilioVerifier::new(&["old-token".to_owned(), "12345".to_owned()], URL);
    assert_eq!(v.verify(FORM.as_bytes(), &presented("0/KCTR6DLpKmkAf8muzZqo1nDgQ=", None), now()), Ok(()));
    assert!(!format!("{v:?}").contains("12345"));
}
