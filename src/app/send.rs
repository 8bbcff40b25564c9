//! `webhook-ingest send`: signs a body the way its provider would and posts it, so an integrator
//! can try every scheme by hand without writing the MAC code.

use std::io::Read;
use std::path::Path;

use super::args::SendArgs;
use super::config::Settings;
use crate::adapters::signing::{Scheme, content_type, sign};
use crate::domain::whatsapp::is_envelope;

/// What went wrong before an answer came back.
pub type SendError = String;

/// Posts the signed body; returns whether the answer was a 2xx, after printing its status and body.
///
/// # Errors
/// The body could not be read or signed, or the service could not be reached.
pub async fn run(args: &SendArgs, settings: &Settings) -> Result<bool, SendError> {
    let body = read_body(&args.body)?;
    let scheme = args.scheme.map_or_else(|| guess(&args.body, &body), Scheme::from);
    let secret = match &args.secret {
        Some(secret) => secret.clone(),
        None => configured_secret(scheme, settings)?,
    };
    let path = if scheme == Scheme::Twilio { "/webhook/twilio" } else { "/webhook" };
    let url = args.url.clone().unwrap_or_else(|| format!("http://127.0.0.1:{}{path}", settings.port));
    let signed_url =
        args.signed_url.clone().or_else(|| settings.twilio_webhook_url.clone()).unwrap_or_else(|| url.clone());
    let unix_now = chrono::Utc::now().timestamp();
    let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let headers = sign(scheme, &secret, &body, &signed_url, &id, unix_now).map_err(|e| e.to_string())?;
    let mut request = reqwest::Client::new().post(&url).header("Content-Type", content_type(scheme)).body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await.map_err(|e| format!("cannot reach {url}: {e}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    println!("{} {text}", status.as_u16());
    Ok(status.is_success())
}

fn read_body(path: &Path) -> Result<Vec<u8>, SendError> {
    if path.as_os_str() == "-" {
        let mut body = Vec::new();
        std::io::stdin().read_to_end(&mut body).map_err(|e| format!("cannot read standard input: {e}"))?;
        return Ok(body);
    }
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn guess(path: &Path, body: &[u8]) -> Scheme {
    if path.extension().is_some_and(|e| e == "form") {
        Scheme::Twilio
    } else if is_envelope(body) {
        Scheme::Whatsapp
    } else {
        Scheme::XSignature
    }
}

fn configured_secret(scheme: Scheme, settings: &Settings) -> Result<String, SendError> {
    let first = |secrets: Vec<String>| secrets.into_iter().next();
    let secret = match scheme {
        Scheme::Twilio => first(settings.twilio_tokens()),
        Scheme::Whatsapp => settings.whatsapp_secrets().and_then(first).or_else(|| first(settings.secrets())),
        _ => first(settings.secrets()),
    };
    secret.ok_or_else(|| {
        let variable = match scheme {
            Scheme::Twilio => "TWILIO_AUTH_TOKEN",
            _ => "WEBHOOK_SECRET",
        };
        format!("no secret to sign with: pass --secret or set {variable}")
    })
}
