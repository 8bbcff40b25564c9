//! Rule violations found while turning untrusted input into domain values.

use std::fmt;

/// One broken rule, located the way FastAPI/Pydantic report it so that integrators of the earlier
/// versions can keep parsing our 422 bodies unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Where the problem is, e.g. `["body", "from"]` or `["query", "limit"]`.
    pub loc: Vec<String>,
    /// A human-readable explanation.
    pub msg: String,
    /// A machine-readable category: `missing`, `string_type`, `json_invalid`, `value_error`, …
    pub kind: &'static str,
}

impl FieldError {
    /// A value that is present but breaks a rule of its field.
    pub fn value(loc: Location, field: &str, msg: impl Into<String>) -> Self {
        Self::new(loc, Some(field), msg, "value_error")
    }

    /// A required field that is absent.
    pub fn missing(loc: Location, field: &str) -> Self {
        Self::new(loc, Some(field), "Field required", "missing")
    }

    /// A field that is present but not a string.
    pub fn not_a_string(loc: Location, field: &str) -> Self {
        Self::new(loc, Some(field), "Input should be a valid string", "string_type")
    }

    /// Builds an error at `loc` (and `field` inside it, when given).
    pub fn new(loc: Location, field: Option<&str>, msg: impl Into<String>, kind: &'static str) -> Self {
        let mut path = vec![loc.as_str().to_owned()];
        path.extend(field.map(str::to_owned));
        Self { loc: path, msg: msg.into(), kind }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.loc.join("."), self.msg)
    }
}

/// The part of a request an error points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// The request body.
    Body,
    /// The URL query string.
    Query,
}

impl Location {
    fn as_str(self) -> &'static str {
        match self {
            Self::Body => "body",
            Self::Query => "query",
        }
    }
}
