//! A small blocking client for the service: signed webhook posts and JSON reads, on 127.0.0.1.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How a body is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `X-Signature: <hex>` (flat messages).
    Flat,
    /// `X-Hub-Signature-256: sha256=<hex>` (Cloud API envelopes).
    Hub,
}

/// Hex HMAC-SHA256 of `body` under `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// One connection pool to the service.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    secret: String,
}

/// What the service answered: its status and body, or why no answer came.
pub type Answer = Result<(u16, String), String>;

impl Client {
    /// A client of the service at `addr` (`host:port`).
    pub fn new(addr: &str, secret: &str, timeout: Duration) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(timeout))
            .max_idle_connections_per_host(64)
            .build()
            .into();
        Self { agent, base: format!("http://{addr}"), secret: secret.to_owned() }
    }

    /// Posts a signed webhook body.
    pub fn post(&self, body: &str, scheme: Scheme) -> Answer {
        let signature = sign(&self.secret, body.as_bytes());
        let request = self.agent.post(format!("{}/webhook", self.base)).content_type("application/json");
        let request = match scheme {
            Scheme::Flat => request.header("X-Signature", signature),
            Scheme::Hub => request.header("X-Hub-Signature-256", format!("sha256={signature}")),
        };
        match request.send(body) {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let text = response.body_mut().read_to_string().unwrap_or_default();
                Ok((status, text))
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// `GET path` (with its query string, already encoded).
    pub fn get(&self, path_and_query: &str) -> Answer {
        match self.agent.get(format!("{}{path_and_query}", self.base)).call() {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let text = response.body_mut().with_config().limit(64 * 1024 * 1024).read_to_string();
                Ok((status, text.map_err(|e| e.to_string())?))
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// `GET path` that must answer 200 with JSON.
    ///
    /// # Errors
    /// No answer, another status, or a body that is not JSON.
    pub fn get_json(&self, path_and_query: &str) -> Result<serde_json::Value, String> {
        match self.get(path_and_query) {
            Ok((200, body)) => serde_json::from_str(&body).map_err(|e| format!("GET {path_and_query}: {e}")),
            Ok((status, body)) => Err(format!("GET {path_and_query}: {status} {}", truncate(&body, 300))),
            Err(e) => Err(format!("GET {path_and_query}: {e}")),
        }
    }
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The first `n` characters of `s`.
pub fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_like_openssl() {
        // printf '%s' 'abc' | openssl dgst -sha256 -hmac key
        assert_eq!(sign("key", b"abc"), "9c196e32dc0175f86f4b1cb89289d6619de6bee699e4c378e68309ed97a1a6ab");
    }

    #[test]
    fn encodes_query_values() {
        assert_eq!(encode("a+b c/é"), "a%2Bb%20c%2F%C3%A9");
    }
}
