//! `write --envelope N`: Meta WhatsApp Cloud API envelopes (`object: whatsapp_business_account`)
//! of N text messages each, signed as Meta signs them (`X-Hub-Signature-256: sha256=<hex>`).
//! Envelope `k` holds messages `k*N .. k*N+N` of the generator, so every message keeps its unique
//! id (`wamid.<run prefix>-<n>`), sender and text; each business number (`to`) gets its own change,
//! with the `contacts` of the senders in it.

use std::collections::BTreeMap;

use bytes::Bytes;
use hyper::header::HeaderValue;
use serde_json::{Value, json};

use crate::payload::{Generator, sender};
use crate::write::Batch;

/// The WhatsApp Business Account id every entry carries (Meta's published example).
const WABA_ID: &str = "102290129340398";

/// One change being built: the senders already in its contacts, the contacts, the messages.
#[derive(Default)]
struct Change {
    ranks: Vec<usize>,
    contacts: Vec<Value>,
    messages: Vec<Value>,
}

/// Envelope `k` of `n` messages, signed.
pub fn envelope(generator: &Generator, k: u64, n: u32) -> Batch {
    let first = k * u64::from(n);
    let mut senders = Vec::with_capacity(n as usize);
    // Business number (digits) → its change.
    let mut by_to: BTreeMap<String, Change> = BTreeMap::new();
    for i in first..first + u64::from(n) {
        let f = generator.fields(i);
        senders.push(f.rank as u32);
        let wa_id = sender(f.rank).trim_start_matches('+').to_string();
        let to = f.to.trim_start_matches('+').to_string();
        let change = by_to.entry(to).or_default();
        if !change.ranks.contains(&f.rank) {
            change.ranks.push(f.rank);
            change.contacts.push(json!({"profile": {"name": format!("Sender {}", f.rank + 1)}, "wa_id": wa_id}));
        }
        change.messages.push(json!({
            "from": wa_id,
            "id": f.message_id,
            "timestamp": f.ts.div_euclid(1_000_000).to_string(),
            "type": "text",
            // A Cloud API text always has a body: the generator's null text is sent empty.
            "text": {"body": f.text.unwrap_or_default()},
        }));
    }
    let changes: Vec<Value> = by_to
        .into_iter()
        .map(|(to, Change { contacts, messages, .. })| {
            json!({
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": to, "phone_number_id": format!("1065{to}")},
                    "contacts": contacts,
                    "messages": messages,
                },
                "field": "messages",
            })
        })
        .collect();
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": WABA_ID, "changes": changes}]});
    let body = serde_json::to_vec(&body).expect("a JSON value serialises");
    let signature = format!("sha256={}", generator.sign_hex(&body));
    let signature = HeaderValue::from_str(&signature).expect("hex is a valid header value");
    Batch { body: Bytes::from(body), header: "x-hub-signature-256", signature, first, senders }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::Dist;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    #[test]
    fn envelopes_hold_n_signed_messages() {
        let g = Generator::new("wamid.p".into(), "app-secret", 50, 1.0, Dist::Realistic, 9);
        let b = envelope(&g, 3, 100);
        assert_eq!((b.first, b.senders.len()), (300, 100));
        let mac = Hmac::<Sha256>::new_from_slice(b"app-secret").unwrap().chain_update(&b.body).finalize();
        assert_eq!(b.signature.to_str().unwrap(), format!("sha256={}", hex::encode(mac.into_bytes())));
        let v: Value = serde_json::from_slice(&b.body).unwrap();
        assert_eq!(v["object"], "whatsapp_business_account");
        let changes = v["entry"][0]["changes"].as_array().unwrap();
        let mut ids = Vec::new();
        for c in changes {
            assert_eq!(c["field"], "messages");
            let value = &c["value"];
            let wa_ids: Vec<&str> =
                value["contacts"].as_array().unwrap().iter().map(|c| c["wa_id"].as_str().unwrap()).collect();
            for m in value["messages"].as_array().unwrap() {
                assert_eq!(m["type"], "text");
                assert!(m["text"]["body"].is_string());
                let from = m["from"].as_str().unwrap();
                assert!(!from.starts_with('+') && wa_ids.contains(&from));
                ids.push(m["id"].as_str().unwrap().to_string());
            }
        }
        let expected: Vec<String> = (300..400).map(|i| format!("wamid.p-{i}")).collect();
        ids.sort_by_key(|id| id.rsplit('-').next().unwrap().parse::<u64>().unwrap());
        assert_eq!(ids, expected);
    }
}
