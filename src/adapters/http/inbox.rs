//! `GET /inbox`: a page to look at what arrived — conversations, messages by kind, delivery
//! statuses, arrivals per minute, live. Everything is embedded in the binary (no CDN, works
//! offline), served under a strict Content-Security-Policy with no inline script or style, and
//! the script puts every stored string into the page as text, never as HTML.

use poem::http::StatusCode;
use poem::{IntoResponse, Response};

const PAGE: &str = include_str!("inbox/index.html");
const SCRIPT: &str = include_str!("inbox/app.js");
const STYLE: &str = include_str!("inbox/style.css");

/// Only this origin's own script, style and API; no plug-ins, frames, forms or base changes.
pub const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
     img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The asset at `path` (`/inbox`, `/inbox/app.js`, `/inbox/style.css`, and
/// `/inbox/config.json`, which tells the page whether to ask for the read token), or a 404.
pub fn asset(path: &str, token_required: bool) -> Response {
    let config = if token_required { r#"{"token_required":true}"# } else { r#"{"token_required":false}"# };
    let (body, content_type) = match path {
        "/inbox" | "/inbox/" => (PAGE, "text/html; charset=utf-8"),
        "/inbox/app.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "/inbox/style.css" => (STYLE, "text/css; charset=utf-8"),
        "/inbox/config.json" => (config, "application/json"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    Response::builder()
        .content_type(content_type)
        .header("Content-Security-Policy", POLICY)
        .header("X-Content-Type-Options", "nosniff")
        .header("Referrer-Policy", "no-referrer")
        .header("Cache-Control", "no-cache")
        .body(body)
}
