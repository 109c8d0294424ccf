//! Calendar arithmetic and timestamp formats, without a time-zone database.
//!
//! aqstream keeps every event time as milliseconds since the Unix epoch in UTC
//! ([`EpochMillis`]). The only zone it needs to know is China Standard Time (UTC+8, no
//! daylight saving since 1991), the zone of HJ 212 `DataTime` fields.

use std::fmt::Write as _;

/// Milliseconds since 1970-01-01T00:00:00Z.
pub type EpochMillis = i64;

/// One minute in milliseconds.
pub const MINUTE_MS: i64 = 60_000;
/// One hour in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;
/// One day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;
/// Offset of China Standard Time from UTC, in milliseconds.
pub const CST_OFFSET_MS: i64 = 8 * HOUR_MS;

/// A timestamp that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// The text does not have the expected shape.
    #[error("expected {expected}, found `{found}`")]
    Malformed {
        /// The expected format.
        expected: &'static str,
        /// The offending text (shortened).
        found: String,
    },
    /// A field is outside its calendar range (month 13, 25 o'clock, 31 February).
    #[error("{field} out of range in `{found}`")]
    Range {
        /// Which calendar field.
        field: &'static str,
        /// The offending text (shortened).
        found: String,
    },
}

fn shorten(s: &str) -> String {
    let mut end = s.len().min(40);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// Days since 1970-01-01 of the proleptic Gregorian date `y-m-d`.
pub const fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400; // [0, 399]
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date `(year, month, day)` of a day number since 1970-01-01.
pub const fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Number of days in month `m` of year `y`.
pub fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        _ => 28,
    }
}

/// Parses exactly `n` ASCII digits at `b[at..at+n]`.
fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let s = b.get(at..at + n)?;
    let mut v = 0u32;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// Milliseconds of a validated civil date-time (no offset applied).
fn civil_ms(
    text: &str,
    y: u32,
    mo: u32,
    d: u32,
    h: u32,
    mi: u32,
    s: u32,
) -> Result<EpochMillis, TimeError> {
    let range = |field| TimeError::Range {
        field,
        found: shorten(text),
    };
    if !(1..=12).contains(&mo) {
        return Err(range("month"));
    }
    if d == 0 || d > days_in_month(i64::from(y), mo) {
        return Err(range("day"));
    }
    if h > 23 {
        return Err(range("hour"));
    }
    if mi > 59 {
        return Err(range("minute"));
    }
    if s > 59 {
        return Err(range("second"));
    }
    let days = days_from_civil(i64::from(y), mo, d);
    Ok(days * DAY_MS + i64::from(h) * HOUR_MS + i64::from(mi) * MINUTE_MS + i64::from(s) * 1000)
}

const RFC3339: &str = "RFC 3339 date-time with offset, e.g. 2026-11-22T08:03:00Z";

/// Parses an RFC 3339 date-time with a mandatory offset (`Z`, `+08:00`, `-05:30`) to
/// epoch milliseconds. Fractions of a second beyond milliseconds are truncated. A space
/// or a lower-case `t` is accepted as the date/time separator, as RFC 3339 allows.
pub fn parse_rfc3339(text: &str) -> Result<EpochMillis, TimeError> {
    let b = text.as_bytes();
    let bad = || TimeError::Malformed {
        expected: RFC3339,
        found: shorten(text),
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let y = digits(b, 0, 4).ok_or_else(bad)?;
    let mo = digits(b, 5, 2).ok_or_else(bad)?;
    let d = digits(b, 8, 2).ok_or_else(bad)?;
    let h = digits(b, 11, 2).ok_or_else(bad)?;
    let mi = digits(b, 14, 2).ok_or_else(bad)?;
    let s = digits(b, 17, 2).ok_or_else(bad)?;
    let mut i = 19;
    let mut millis = 0u32;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 3 {
                millis = millis * 10 + u32::from(b[i] - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return Err(bad());
        }
        for _ in n..3 {
            millis *= 10;
        }
    }
    let offset_ms: i64 = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let oh = digits(b, i + 1, 2).ok_or_else(bad)?;
            let om = digits(b, i + 4, 2).ok_or_else(bad)?;
            if oh > 23 || om > 59 {
                return Err(TimeError::Range {
                    field: "offset",
                    found: shorten(text),
                });
            }
            let v = i64::from(oh) * HOUR_MS + i64::from(om) * MINUTE_MS;
            if sign == b'+' { v } else { -v }
        }
        _ => return Err(bad()),
    };
    Ok(civil_ms(text, y, mo, d, h, mi, s)? + i64::from(millis) - offset_ms)
}

/// Formats epoch milliseconds as RFC 3339 in UTC: `2026-11-22T08:03:00Z`, with
/// `.sss` only when the milliseconds are not zero.
pub fn format_rfc3339(ms: EpochMillis) -> String {
    let mut s = String::with_capacity(24);
    write_rfc3339(&mut s, ms);
    s
}

/// Appends [`format_rfc3339`] of `ms` to `out`.
pub fn write_rfc3339(out: &mut String, ms: EpochMillis) {
    let days = ms.div_euclid(DAY_MS);
    let rem = ms.rem_euclid(DAY_MS);
    let (y, m, d) = civil_from_days(days);
    let secs = rem / 1000;
    let frac = rem % 1000;
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    if frac != 0 {
        let _ = write!(out, ".{frac:03}");
    }
    out.push('Z');
}

const HJ212_TIME: &str = "yyyyMMddHHmmss (14 digits)";

/// Parses an HJ 212 `DataTime` (`yyyyMMddHHmmss`, China Standard Time) to UTC epoch ms.
/// A 17-digit form with milliseconds (`yyyyMMddHHmmssSSS`, used by `QN`) is accepted too.
pub fn parse_hj212_time(text: &str) -> Result<EpochMillis, TimeError> {
    let b = text.as_bytes();
    let bad = || TimeError::Malformed {
        expected: HJ212_TIME,
        found: shorten(text),
    };
    if b.len() != 14 && b.len() != 17 {
        return Err(bad());
    }
    let y = digits(b, 0, 4).ok_or_else(bad)?;
    let mo = digits(b, 4, 2).ok_or_else(bad)?;
    let d = digits(b, 6, 2).ok_or_else(bad)?;
    let h = digits(b, 8, 2).ok_or_else(bad)?;
    let mi = digits(b, 10, 2).ok_or_else(bad)?;
    let s = digits(b, 12, 2).ok_or_else(bad)?;
    let ms = if b.len() == 17 {
        digits(b, 14, 3).ok_or_else(bad)?
    } else {
        0
    };
    Ok(civil_ms(text, y, mo, d, h, mi, s)? + i64::from(ms) - CST_OFFSET_MS)
}

/// Formats UTC epoch ms as an HJ 212 `DataTime` in China Standard Time.
pub fn format_hj212_time(ms: EpochMillis) -> String {
    let local = ms + CST_OFFSET_MS;
    let days = local.div_euclid(DAY_MS);
    let secs = local.rem_euclid(DAY_MS) / 1000;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Formats UTC epoch ms as an HJ 212 `QN` (`yyyyMMddHHmmssSSS`, China Standard Time).
pub fn format_hj212_qn(ms: EpochMillis) -> String {
    format!(
        "{}{:03}",
        format_hj212_time(ms),
        (ms + CST_OFFSET_MS).rem_euclid(1000)
    )
}

/// The UTC calendar date `YYYY-MM-DD` of an instant (used for `date=` partitions).
pub fn utc_date(ms: EpochMillis) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(DAY_MS));
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_over_centuries() {
        for z in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
            assert!(d >= 1 && d <= days_in_month(y, m));
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(20_415), (2025, 11, 23));
    }

    #[test]
    fn rfc3339_parse_and_format() {
        let z = parse_rfc3339("2026-11-22T08:03:00Z").unwrap();
        assert_eq!(z, 1_795_334_580_000);
        assert_eq!(parse_rfc3339("2026-11-22T16:03:00+08:00").unwrap(), z);
        assert_eq!(parse_rfc3339("2026-11-22 02:33:00-05:30").unwrap(), z);
        assert_eq!(parse_rfc3339("2026-11-22t08:03:00.5z").unwrap(), z + 500);
        assert_eq!(
            parse_rfc3339("2026-11-22T08:03:00.123456789Z").unwrap(),
            z + 123
        );
        assert_eq!(format_rfc3339(z), "2026-11-22T08:03:00Z");
        assert_eq!(format_rfc3339(z + 7), "2026-11-22T08:03:00.007Z");
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn rfc3339_rejects() {
        for bad in [
            "",
            "2026-11-22T08:03:00",
            "2026-11-22T08:03:00+0800",
            "2026-11-22T08:03Z",
            "2026-13-22T08:03:00Z",
            "2026-02-29T08:03:00Z",
            "2026-11-22T24:00:00Z",
            "2026-11-22T08:03:60Z",
            "2026-11-22T08:03:00.Z",
            "2026-11-22T08:03:00Zjunk",
            "２０２６-11-22T08:03:00Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
        assert!(parse_rfc3339("2024-02-29T00:00:00Z").is_ok());
    }

    #[test]
    fn hj212_time_is_china_standard_time() {
        let ms = parse_hj212_time("20210107140000").unwrap();
        assert_eq!(format_rfc3339(ms), "2021-01-07T06:00:00Z");
        assert_eq!(format_hj212_time(ms), "20210107140000");
        assert_eq!(format_hj212_qn(ms + 223), "20210107140000223");
        assert_eq!(parse_hj212_time("20210107140000223").unwrap(), ms + 223);
        assert!(parse_hj212_time("2021010714000").is_err());
        assert!(parse_hj212_time("20210230140000").is_err());
        assert_eq!(utc_date(ms), "2021-01-07");
    }
}
