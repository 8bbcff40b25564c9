//! Bearer-token protection of the read API and the token of the WhatsApp subscription handshake.

use constant_time_eq::constant_time_eq_32;
use poem::{Request, RequestBody};
use poem_openapi::registry::{MetaSecurityScheme, Registry};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use sha2::{Digest, Sha256};

/// Name of the security scheme in the OpenAPI document.
const SCHEME: &str = "ReadApiToken";

/// A configured secret token, kept only as its SHA-256 so that comparisons take the same time
/// whatever the length or content of the presented value.
#[derive(Clone)]
pub struct Token([u8; 32]);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(redacted)")
    }
}

impl Token {
    /// `None` for an unset or blank token.
    pub fn new(raw: Option<&str>) -> Option<Self> {
        raw.map(str::trim).filter(|t| !t.is_empty()).map(|t| Self(Sha256::digest(t.as_bytes()).into()))
    }

    /// Constant-time check of a presented value.
    pub fn matches(&self, presented: &str) -> bool {
        constant_time_eq_32(&self.0, &Sha256::digest(presented.as_bytes()).into())
    }
}

/// The bearer token a request presented, if any. Declares the scheme in the OpenAPI document;
/// the handler decides, so that an unset `READ_API_TOKEN` leaves the read API open.
pub struct ReadAuth(Option<String>);

impl ReadAuth {
    /// The bearer token `req` presents, for routes outside the OpenAPI operations.
    pub fn of(req: &Request) -> Self {
        let presented = req
            .headers()
            .get(poem::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim().to_owned());
        Self(presented)
    }

    /// Whether this request may read: always when no token is configured.
    pub fn allows(&self, required: Option<&Token>) -> bool {
        match required {
            None => true,
            Some(token) => self.0.as_deref().is_some_and(|p| token.matches(p)),
        }
    }
}

impl<'a> ApiExtractor<'a> for ReadAuth {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_security_scheme(
            SCHEME,
            MetaSecurityScheme {
                ty: "http",
                description: Some(
                    "`Authorization: Bearer <READ_API_TOKEN>`; required only when READ_API_TOKEN is set.",
                ),
                name: None,
                key_in: None,
                scheme: Some("bearer"),
                bearer_format: None,
                flows: None,
                openid_connect_url: None,
            },
        );
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![SCHEME]
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        Ok(Self::of(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_exactly() {
        let t = Token::new(Some("s3cret")).unwrap();
        assert!(t.matches("s3cret"));
        assert!(!t.matches("s3cret "));
        assert!(!t.matches(""));
        assert!(Token::new(Some("  ")).is_none());
        assert!(!format!("{t:?}").contains("s3cret"));
    }
}
