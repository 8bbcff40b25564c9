//! RFC 3339 instants in UTC as microseconds since the Unix epoch: formatting for the bodies and
//! query values loadgen sends, parsing for the timestamps `GET /stats` reports. Proleptic
//! Gregorian calendar, days counted from 1970-01-01 with the usual era arithmetic.

const MICROS_PER_SEC: i64 = 1_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// Days since 1970-01-01 of a calendar date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let shifted_month = i64::from((month + 9) % 12); // March = 0
    let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The calendar date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Microseconds of a UTC date and time of day.
pub fn micros(year: i64, month: u32, day: u32, hour: u32, min: u32, sec: u32) -> i64 {
    (days_from_civil(year, month, day) * SECS_PER_DAY + i64::from(hour * 3600 + min * 60 + sec)) * MICROS_PER_SEC
}

/// `2025-01-15T10:00:00Z`, with `.ffffff` only when there is a fraction of a second.
pub fn format(micros: i64) -> String {
    let secs = micros.div_euclid(MICROS_PER_SEC);
    let frac = micros.rem_euclid(MICROS_PER_SEC);
    let (year, month, day) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
    let tod = secs.rem_euclid(SECS_PER_DAY);
    let (h, m, s) = (tod / 3600, tod / 60 % 60, tod % 60);
    if frac == 0 {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
    } else {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{frac:06}Z")
    }
}

/// Reads `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+00:00)`; `None` for anything else.
pub fn parse(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z').or_else(|| s.strip_suffix("+00:00"))?;
    let (date, time) = s.split_once(['T', 't', ' '])?;
    let mut d = date.splitn(3, '-');
    let (year, month, day) = (d.next()?.parse().ok()?, d.next()?.parse().ok()?, d.next()?.parse().ok()?);
    let (hms, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':');
    let (h, m, sec): (u32, u32, u32) = (t.next()?.parse().ok()?, t.next()?.parse().ok()?, t.next()?.parse().ok()?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Microseconds: the first six digits of the fraction, right-padded with zeros.
    let frac_micros =
        fraction.bytes().chain(std::iter::repeat(b'0')).take(6).fold(0i64, |n, b| n * 10 + i64::from(b - b'0'));
    Some(micros(year, month, day, h, m, sec) + frac_micros)
}

/// The wall clock now, in microseconds since the epoch.
pub fn now_micros() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_micros()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        assert_eq!(micros(2025, 1, 1, 0, 0, 0), 1_735_689_600 * MICROS_PER_SEC);
        assert_eq!(format(micros(2025, 1, 31, 23, 59, 58)), "2025-01-31T23:59:58Z");
        assert_eq!(format(micros(2024, 2, 29, 12, 0, 0) + 500_000), "2024-02-29T12:00:00.500000Z");
        assert_eq!(parse("2025-01-15T10:05:00.5Z"), Some(micros(2025, 1, 15, 10, 5, 0) + 500_000));
        assert_eq!(parse("1999-12-31T23:59:59+00:00"), Some(micros(1999, 12, 31, 23, 59, 59)));
        assert_eq!(parse("2025-13-01T00:00:00Z"), None);
        assert_eq!(parse("2025-01-01T00:00:00"), None);
        for us in [0, 1, 1_749_416_383_123_456, 951_782_400_000_000, 4_102_444_800_000_000 - 1] {
            assert_eq!(parse(&format(us)), Some(us), "{us}");
        }
    }
}
