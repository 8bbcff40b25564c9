//! The list-and-search query: filters and pagination, parsed from raw query-string values.

use super::cursor::ListCursor;
use super::delivery::{Kind, Source};
use super::error::{FieldError, Location};
use super::message::{MAX_TEXT_CHARS, Message, Msisdn, fold_case};
use super::timestamp::Timestamp;

/// Default and largest page size.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size a caller may ask for.
pub const MAX_LIMIT: u32 = 100;

/// Which messages to return. Every present filter must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageFilter {
    /// Exact sender.
    pub from: Option<Msisdn>,
    /// Keeps messages with `ts >= since`.
    pub since: Option<Timestamp>,
    /// Case-insensitive literal substring of the text.
    pub text: Option<TextQuery>,
    /// Exact source.
    pub source: Option<Source>,
    /// Exact provider `type`.
    pub kind: Option<Kind>,
    /// Keyset paging: only rows after this one in the (`ts`, `message_id`) order. It narrows the
    /// page, never `total`.
    pub after: Option<ListCursor>,
}

/// A search needle, already case-folded; it is a literal: no character has a special meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextQuery(String);

impl TextQuery {
    /// The folded needle.
    pub fn folded(&self) -> &str {
        &self.0
    }
}

impl MessageFilter {
    /// Whether `message` passes every filter but `after`; the reference semantics every
    /// repository must match (`total` counts these).
    pub fn matches(&self, message: &Message) -> bool {
        self.from.as_ref().is_none_or(|f| message.from.as_ref() == Some(f))
            && self.since.is_none_or(|s| message.ts >= s)
            && self.source.is_none_or(|s| message.source == s)
            && self.kind.as_ref().is_none_or(|k| message.kind == *k)
            && self
                .text
                .as_ref()
                .is_none_or(|q| message.text.as_ref().is_some_and(|t| t.search_key().contains(q.folded())))
    }
}

/// A window into the ordered result: `limit` rows after skipping `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// 1 to 100.
    pub limit: u32,
    /// 0 or more.
    pub offset: u64,
}

impl Default for Page {
    fn default() -> Self {
        Self { limit: DEFAULT_LIMIT, offset: 0 }
    }
}

/// The query-string values as received, before any rule is applied.
#[derive(Debug, Clone, Default)]
pub struct RawListQuery {
    /// `limit`.
    pub limit: Option<String>,
    /// `offset`.
    pub offset: Option<String>,
    /// `from`.
    pub from: Option<String>,
    /// `since`.
    pub since: Option<String>,
    /// `q`.
    pub q: Option<String>,
    /// `source`.
    pub source: Option<String>,
    /// `type`.
    pub kind: Option<String>,
    /// `cursor`.
    pub cursor: Option<String>,
}

/// A validated list query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// What to match.
    pub filter: MessageFilter,
    /// Which slice of the matches to return.
    pub page: Page,
}

impl RawListQuery {
    /// Applies every rule, reporting all that are broken.
    ///
    /// # Errors
    /// One entry per bad parameter.
    pub fn parse(self) -> Result<ListQuery, Vec<FieldError>> {
        let mut errors = Vec::new();
        let limit = check(&mut errors, "limit", parse_limit(self.limit.as_deref()));
        let offset = check(&mut errors, "offset", parse_offset(self.offset.as_deref()));
        let from = check(&mut errors, "from", self.from.as_deref().map(parse_sender).transpose());
        let since = check(&mut errors, "since", self.since.as_deref().map(Timestamp::parse_instant).transpose());
        let text = check(&mut errors, "q", self.q.as_deref().map(parse_needle).transpose());
        let source = check(&mut errors, "source", self.source.as_deref().map(Source::parse).transpose());
        let kind = check(&mut errors, "type", self.kind.as_deref().map(Kind::parse).transpose());
        let after = check(&mut errors, "cursor", self.cursor.as_deref().map(ListCursor::parse).transpose());
        if self.cursor.is_some() && self.offset.is_some() {
            errors.push(FieldError::value(Location::Query, "cursor", "cannot be combined with offset"));
        }
        match (limit, offset, from, since, text, source, kind, after) {
            (Some(limit), Some(offset), Some(from), Some(since), Some(text), Some(source), Some(kind), Some(after))
                if errors.is_empty() =>
            {
                Ok(ListQuery {
                    filter: MessageFilter { from, since, text: text.flatten(), source, kind, after },
                    page: Page { limit, offset },
                })
            }
            _ => Err(errors),
        }
    }
}

pub(crate) fn check<T>(errors: &mut Vec<FieldError>, name: &str, result: Result<T, String>) -> Option<T> {
    result.map_err(|msg| errors.push(FieldError::value(Location::Query, name, msg))).ok()
}

pub(crate) fn parse_limit(raw: Option<&str>) -> Result<u32, String> {
    let rule = || format!("must be an integer from 1 to {MAX_LIMIT}");
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(s) => s.trim().parse::<u32>().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(rule),
    }
}

pub(crate) fn parse_offset(raw: Option<&str>) -> Result<u64, String> {
    match raw {
        None => Ok(0),
        Some(s) => s
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|&n| i64::try_from(n).is_ok())
            .ok_or_else(|| "must be an integer >= 0".into()),
    }
}

/// An unencoded `+` reaches us as a space; a leading space followed by digits is read as `+`.
pub(crate) fn parse_sender(raw: &str) -> Result<Msisdn, String> {
    match raw.strip_prefix(' ') {
        Some(rest) if rest.bytes().next().is_some_and(|b| b.is_ascii_digit()) => Msisdn::parse(&format!("+{rest}")),
        _ => Msisdn::parse(raw),
    }
}

/// An empty needle matches everything, so it is the same as no filter.
fn parse_needle(raw: &str) -> Result<Option<TextQuery>, String> {
    if raw.chars().count() > MAX_TEXT_CHARS {
        return Err(format!("must be at most {MAX_TEXT_CHARS} characters"));
    }
    if raw.contains('\0') {
        return Err("must not contain NUL characters".into());
    }
    Ok((!raw.is_empty()).then(|| TextQuery(fold_case(raw))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> RawListQuery {
        let get = |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned());
        RawListQuery {
            limit: get("limit"),
            offset: get("offset"),
            from: get("from"),
            since: get("since"),
            q: get("q"),
            source: get("source"),
            kind: get("type"),
            cursor: get("cursor"),
        }
    }

    #[test]
    fn defaults_apply_when_nothing_is_given() {
        let q = raw(&[]).parse().unwrap();
        assert_eq!(q.page, Page { limit: 50, offset: 0 });
        assert_eq!(q.filter, MessageFilter::default());
    }

    #[test]
    fn limit_edges() {
        assert_eq!(raw(&[("limit", "1")]).parse().unwrap().page.limit, 1);
        assert_eq!(raw(&[("limit", "100")]).parse().unwrap().page.limit, 100);
        for bad in ["0", "101", "-1", "ten", "", "1.5"] {
            assert!(raw(&[("limit", bad)]).parse().is_err(), "limit={bad}");
        }
    }

    #[test]
    fn every_bad_parameter_is_reported() {
        let errors = raw(&[("limit", "0"), ("offset", "-1"), ("from", "abc"), ("since", "x")]).parse().unwrap_err();
        let names: Vec<_> = errors.iter().map(|e| e.loc[1].as_str()).collect();
        assert_eq!(names, ["limit", "offset", "from", "since"]);
    }

    #[test]
    fn a_leading_space_before_digits_reads_as_plus() {
        let q = raw(&[("from", " 919876543210")]).parse().unwrap();
        assert_eq!(q.filter.from.unwrap().as_str(), "+919876543210");
        assert!(raw(&[("from", " abc")]).parse().is_err());
    }

    #[test]
    fn source_and_type_filters_are_exact_words() {
        let q = raw(&[("source", "whatsapp"), ("type", "image")]).parse().unwrap();
        assert_eq!((q.filter.source, q.filter.kind.unwrap().as_str()), (Some(Source::Whatsapp), "image"));
        let errors = raw(&[("source", "telegram"), ("type", "two words")]).parse().unwrap_err();
        let names: Vec<_> = errors.iter().map(|e| e.loc[1].as_str()).collect();
        assert_eq!(names, ["source", "type"]);
    }

    #[test]
    fn a_cursor_with_an_offset_is_refused() {
        let cursor = ListCursor {
            ts: Timestamp::from_micros(0).unwrap(),
            message_id: crate::domain::message::MessageId::parse("m").unwrap(),
        };
        assert!(raw(&[("cursor", &cursor.encode())]).parse().unwrap().filter.after.is_some());
        let errors = raw(&[("cursor", &cursor.encode()), ("offset", "0")]).parse().unwrap_err();
        assert_eq!(errors[0].loc, ["query", "cursor"]);
        assert_eq!(raw(&[("cursor", "garbage")]).parse().unwrap_err()[0].loc, ["query", "cursor"]);
    }

    #[test]
    fn needle_is_folded_and_empty_means_no_filter() {
        let q = raw(&[("q", "HeLLo %_'")]).parse().unwrap();
        assert_eq!(q.filter.text.unwrap().folded(), "hello %_'");
        assert!(raw(&[("q", "")]).parse().unwrap().filter.text.is_none());
    }
}
