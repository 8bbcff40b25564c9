//! Instants in UTC, parsed strictly from RFC 3339 and kept to the microsecond.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, TimeZone, Utc};

/// An instant, truncated to whole microseconds (the precision both storage backends keep).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

/// What a timestamp field must look like, in the words the 422 body uses.
pub const TS_RULE: &str = "must be an RFC 3339 UTC timestamp ending in 'Z', e.g. 2025-01-15T10:00:00Z";

/// Whether a zone other than `Z` is acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Zone {
    UtcOnly,
    AnyOffset,
}

impl Timestamp {
    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, the only form a message's `ts` may take.
    ///
    /// # Errors
    /// Returns the rule when the text has another shape or names no real instant (Feb 30, 25:00).
    pub fn parse_utc(raw: &str) -> Result<Self, String> {
        parse(raw, Zone::UtcOnly).ok_or_else(|| TS_RULE.into())
    }

    /// Parses an RFC 3339 instant with `Z` or a `±HH:MM` offset, as the `since` filter allows.
    ///
    /// # Errors
    /// Returns a description of the accepted form.
    pub fn parse_instant(raw: &str) -> Result<Self, String> {
        parse(raw, Zone::AnyOffset)
            .ok_or_else(|| "must be an RFC 3339 timestamp with 'Z' or an offset, e.g. 2025-01-15T10:00:00Z".into())
    }

    /// Builds a timestamp from microseconds since the Unix epoch.
    pub fn from_micros(micros: i64) -> Option<Self> {
        DateTime::from_timestamp_micros(micros).map(Self)
    }

    /// Builds a timestamp from a chrono instant, dropping sub-microsecond digits.
    pub fn from_datetime(at: DateTime<Utc>) -> Self {
        Self::from_micros(at.timestamp_micros()).unwrap_or(Self(at))
    }

    /// Microseconds since the Unix epoch: the stored form, which sorts chronologically.
    pub fn as_micros(self) -> i64 {
        self.0.timestamp_micros()
    }

    /// Whole seconds since the Unix epoch.
    pub fn unix_seconds(self) -> i64 {
        self.0.timestamp()
    }

    /// RFC 3339 in UTC with `Z`, with fractional digits only when there are any.
    pub fn to_rfc3339(self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }
}

fn parse(raw: &str, zone: Zone) -> Option<Timestamp> {
    let b = raw.as_bytes();
    if b.len() < 20 || !raw.is_ascii() {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().all(u8::is_ascii_digit).then(|| raw[from..to].parse().ok())?
    };
    let seps = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if seps.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(i32::try_from(num(0, 4)?).ok()?, num(5, 7)?, num(8, 10)?)?;
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let (nanos, rest) = fraction(&raw[19..])?;
    if second > 59 {
        return None; // leap seconds have no stable representation in storage
    }
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    let offset = match (rest, zone) {
        ("Z", _) => FixedOffset::east_opt(0)?,
        (_, Zone::AnyOffset) => offset(rest)?,
        _ => return None,
    };
    let local = NaiveDateTime::new(date, time);
    let at = offset.from_local_datetime(&local).single()?;
    Some(Timestamp::from_datetime(at.with_timezone(&Utc)))
}

/// Splits an optional `.digits` prefix (1 to 9 digits) into nanoseconds and the rest.
fn fraction(s: &str) -> Option<(u32, &str)> {
    let Some(after_dot) = s.strip_prefix('.') else {
        return Some((0, s));
    };
    let digits = after_dot.bytes().take_while(u8::is_ascii_digit).count();
    if !(1..=9).contains(&digits) {
        return None;
    }
    let scale = 10u32.pow(9 - u32::try_from(digits).ok()?);
    let nanos = after_dot[..digits].parse::<u32>().ok()? * scale;
    Some((nanos, &after_dot[digits..]))
}

/// Reads `±HH:MM`; a leading space stands for a `+` that a query string decoded into a space.
fn offset(s: &str) -> Option<FixedOffset> {
    let b = s.as_bytes();
    if b.len() != 6 || b[3] != b':' {
        return None;
    }
    let sign = match b[0] {
        b'+' | b' ' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits = |r: std::ops::Range<usize>| -> Option<i32> {
        b[r.clone()].iter().all(u8::is_ascii_digit).then(|| s[r].parse().ok())?
    };
    let (h, m) = (digits(1..3)?, digits(4..6)?);
    if h > 23 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_utc_with_and_without_fraction() {
        assert_eq!(Timestamp::parse_utc("2025-01-15T10:00:00Z").unwrap().to_rfc3339(), "2025-01-15T10:00:00Z");
        assert_eq!(Timestamp::parse_utc("2025-01-15T10:00:00.5Z").unwrap().to_rfc3339(), "2025-01-15T10:00:00.500Z");
        assert_eq!(
            Timestamp::parse_utc("2025-01-15T10:00:00.123456789Z").unwrap().to_rfc3339(),
            "2025-01-15T10:00:00.123456Z"
        );
    }

    #[test]
    fn accepts_real_leap_day_and_rejects_impossible_dates() {
        assert!(Timestamp::parse_utc("2024-02-29T00:00:00Z").is_ok());
        assert!(Timestamp::parse_utc("2023-02-29T00:00:00Z").is_err());
        assert!(Timestamp::parse_utc("2024-02-30T00:00:00Z").is_err());
        assert!(Timestamp::parse_utc("2024-01-01T24:00:00Z").is_err());
        assert!(Timestamp::parse_utc("2024-01-01T23:60:00Z").is_err());
        assert!(Timestamp::parse_utc("2024-12-31T23:59:60Z").is_err());
    }

    #[test]
    fn utc_form_rejects_offsets_zoneless_and_loose_shapes() {
        for bad in [
            "2025-01-15T10:00:00+05:30",
            "2025-01-15T10:00:00+00:00",
            "2025-01-15T10:00:00",
            "2025-01-15 10:00:00Z",
            "2025-01-15t10:00:00Z",
            "2025-01-15T10:00:00z",
            "2025-01-15T10:00:00.Z",
            "2025-01-15T10:00:00.1234567890Z",
            "2025-1-15T10:00:00Z",
            "+2025-01-15T10:00:00Z",
            "2025-01-15T10:00:00ZZ",
            "",
        ] {
            assert!(Timestamp::parse_utc(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn instant_form_accepts_offsets_including_a_decoded_plus() {
        let utc = Timestamp::parse_instant("2025-01-15T04:30:00Z").unwrap();
        assert_eq!(Timestamp::parse_instant("2025-01-15T10:00:00+05:30").unwrap(), utc);
        assert_eq!(Timestamp::parse_instant("2025-01-15T10:00:00 05:30").unwrap(), utc);
        assert_eq!(Timestamp::parse_instant("2025-01-14T23:30:00-05:00").unwrap(), utc);
        assert!(Timestamp::parse_instant("2025-01-15T10:00:00").is_err());
        assert!(Timestamp::parse_instant("2025-01-15T10:00:00+24:00").is_err());
        assert!(Timestamp::parse_instant("yesterday").is_err());
    }

    #[test]
    fn micros_round_trip_and_sort_chronologically() {
        let a = Timestamp::parse_utc("2025-01-15T10:00:00Z").unwrap();
        let b = Timestamp::parse_utc("2025-01-15T10:00:00.5Z").unwrap();
        assert!(a.as_micros() < b.as_micros());
        assert_eq!(Timestamp::from_micros(b.as_micros()), Some(b));
    }
}
