//! `AmzDate`: the `YYYYMMDDTHHMMSSZ` timestamp of SigV4 (`X-Amz-Date`).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A UTC instant with one-second resolution, as carried in `X-Amz-Date`.
///
/// Valid from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z. `Display` renders the wire form
/// (`20150830T123600Z`); [`AmzDate::date_stamp`] gives the scope date (`20150830`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AmzDate {
    secs: u64,
}

/// Why a timestamp could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DateError {
    /// The text is not of the form `YYYYMMDDTHHMMSSZ`.
    #[error("timestamp `{0}` is not of the form YYYYMMDDTHHMMSSZ (for example 20150830T123600Z)")]
    Format(String),
    /// The fields are in range syntactically but do not name a real instant.
    #[error("timestamp `{0}` names no valid date and time (year 1970-9999, real month and day)")]
    Range(String),
}

const MAX_SECS: u64 = 253_402_300_799; // 9999-12-31T23:59:59Z

impl AmzDate {
    /// The instant `t`, truncated to whole seconds.
    ///
    /// Instants before 1970 become the epoch; instants after year 9999 become its last second.
    pub fn from_system_time(t: SystemTime) -> Self {
        let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Self {
            secs: secs.min(MAX_SECS),
        }
    }

    /// The instant `secs` seconds after the Unix epoch, if it is no later than year 9999.
    pub fn from_unix(secs: u64) -> Option<Self> {
        (secs <= MAX_SECS).then_some(Self { secs })
    }

    /// Parses the wire form `YYYYMMDDTHHMMSSZ`, strictly.
    ///
    /// # Errors
    /// [`DateError::Format`] for any other shape, [`DateError::Range`] for a date that does not
    /// exist (month 13, February 30, hour 24, a year before 1970).
    pub fn parse(text: &str) -> Result<Self, DateError> {
        let b = text.as_bytes();
        let shape_ok = b.len() == 16
            && b[8] == b'T'
            && b[15] == b'Z'
            && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit);
        if !shape_ok {
            return Err(DateError::Format(truncate(text)));
        }
        let num = |r: std::ops::Range<usize>| {
            b[r].iter()
                .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'))
        };
        let (y, mo, d) = (num(0..4), num(4..6), num(6..8));
        let (h, mi, s) = (num(9..11), num(11..13), num(13..15));
        let valid = is_real_day(y, mo, d) && h < 24 && mi < 60 && s < 60;
        if !valid {
            return Err(DateError::Range(text.to_owned()));
        }
        let days = days_from_civil(y, mo, d);
        Ok(Self {
            secs: days * 86_400 + h * 3600 + mi * 60 + s,
        })
    }

    /// Seconds since the Unix epoch.
    pub fn unix(self) -> u64 {
        self.secs
    }

    /// The same instant as a `SystemTime`.
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.secs)
    }

    /// This instant plus `secs` seconds, saturating at year 9999.
    pub fn plus_secs(self, secs: u64) -> Self {
        Self {
            secs: self.secs.saturating_add(secs).min(MAX_SECS),
        }
    }

    /// The wire form as bytes, `YYYYMMDDTHHMMSSZ`, without allocating.
    pub fn to_bytes(self) -> [u8; 16] {
        let (y, mo, d) = civil_from_days(self.secs / 86_400);
        let rem = self.secs % 86_400;
        let mut out = *b"00000000T000000Z";
        put_digits(&mut out[0..4], y);
        put_digits(&mut out[4..6], mo);
        put_digits(&mut out[6..8], d);
        put_digits(&mut out[9..11], rem / 3600);
        put_digits(&mut out[11..13], rem % 3600 / 60);
        put_digits(&mut out[13..15], rem % 60);
        out
    }

    /// RFC 3339 in UTC, `YYYY-MM-DDTHH:MM:SSZ`: the form AWS STS writes `Expiration` in.
    pub fn to_rfc3339(self) -> String {
        let b = self.to_bytes();
        let mut out = String::with_capacity(20);
        for (part, sep) in [
            (&b[0..4], "-"),
            (&b[4..6], "-"),
            (&b[6..8], "T"),
            (&b[9..11], ":"),
            (&b[11..13], ":"),
            (&b[13..15], "Z"),
        ] {
            out.push_str(ascii(part));
            out.push_str(sep);
        }
        out
    }

    /// The scope date, `YYYYMMDD`.
    pub fn date_stamp(self) -> DateStamp {
        DateStamp::of(&self.to_bytes())
    }
}

impl fmt::Display for AmzDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(ascii(&self.to_bytes()))
    }
}

/// The `YYYYMMDD` date of a credential scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DateStamp([u8; 8]);

impl DateStamp {
    /// The date part of a timestamp already rendered by [`AmzDate::to_bytes`].
    pub(crate) fn of(timestamp: &[u8; 16]) -> Self {
        let mut out = [0u8; 8];
        out.copy_from_slice(&timestamp[..8]);
        Self(out)
    }

    /// Parses a scope date `YYYYMMDD`: eight digits naming a real day from 1970 to 9999
    /// (exactly the dates [`AmzDate::parse`] accepts), kept as written.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let b: [u8; 8] = text.as_bytes().try_into().ok()?;
        if !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let num = |r: std::ops::Range<usize>| {
            b[r].iter()
                .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'))
        };
        let (y, mo, d) = (num(0..4), num(4..6), num(6..8));
        is_real_day(y, mo, d).then_some(Self(b))
    }

    /// The eight ASCII digits as bytes.
    pub(crate) fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }

    /// The eight ASCII digits.
    pub fn as_str(&self) -> &str {
        ascii(&self.0)
    }
}

impl fmt::Display for DateStamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Our date buffers only ever hold ASCII digits, `T` and `Z`.
fn ascii(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or("")
}

fn truncate(text: &str) -> String {
    text.chars().take(40).collect()
}

fn put_digits(out: &mut [u8], mut value: u64) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// A day from 1970-01-01 to 9999-12-31 that exists.
fn is_real_day(y: u64, mo: u64, d: u64) -> bool {
    (1970..=9999).contains(&y) && (1..=12).contains(&mo) && d >= 1 && d <= days_in_month(y, mo)
}

fn is_leap(y: u64) -> bool {
    y.is_multiple_of(4) && (!y.is_multiple_of(100) || y.is_multiple_of(400))
}

fn days_in_month(y: u64, m: u64) -> u64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (H. Hinnant's `days_from_civil`, for years >= 1970).
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_renders_the_suite_timestamp() {
        let d = AmzDate::parse("20150830T123600Z").unwrap();
        assert_eq!(d.unix(), 1_440_938_160);
        assert_eq!(d.to_string(), "20150830T123600Z");
        assert_eq!(d.date_stamp().as_str(), "20150830");
        assert_eq!(d.to_rfc3339(), "2015-08-30T12:36:00Z");
        assert_eq!(
            AmzDate::from_unix(MAX_SECS).unwrap().to_rfc3339(),
            "9999-12-31T23:59:59Z"
        );
    }

    #[test]
    fn round_trips_leap_days_and_bounds() {
        for text in [
            "19700101T000000Z",
            "20000229T235959Z",
            "20240229T120000Z",
            "99991231T235959Z",
        ] {
            assert_eq!(AmzDate::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn every_day_for_sixty_years_round_trips() {
        for day in 0..(60 * 366) {
            let d = AmzDate::from_unix(day * 86_400 + 3_661).unwrap();
            assert_eq!(AmzDate::parse(&d.to_string()).unwrap(), d);
        }
    }

    #[test]
    fn scope_dates_are_the_dates_of_valid_timestamps() {
        let mut texts: Vec<String> = vec![
            String::new(),
            "2015083".into(),
            "201508300".into(),
            "2015-830".into(),
            "２015083".into(),
            "1969123１".into(),
        ];
        for y in [1969, 1970, 2000, 2023, 2024, 2100, 9999] {
            for mo in 0..=13 {
                for d in [0, 1, 28, 29, 30, 31, 32] {
                    texts.push(format!("{y:04}{mo:02}{d:02}"));
                }
            }
        }
        for text in texts {
            let via_timestamp = AmzDate::parse(&format!("{text}T000000Z"))
                .ok()
                .map(AmzDate::date_stamp);
            assert_eq!(DateStamp::parse(&text), via_timestamp, "{text}");
        }
    }

    #[test]
    fn rejects_malformed_timestamps_with_the_right_reason() {
        for bad in [
            "",
            "20150830",
            "20150830T123600",
            "20150830t123600Z",
            "2015-08-30T12:36:00Z",
            "20150830T1236000Z",
            "２0150830T123600Z",
        ] {
            assert!(
                matches!(AmzDate::parse(bad), Err(DateError::Format(_))),
                "{bad}"
            );
        }
        for bad in [
            "20151330T123600Z",
            "20150230T123600Z",
            "20230229T000000Z",
            "20150830T243600Z",
            "20150830T126000Z",
            "19691231T235959Z",
            "20150800T000000Z",
        ] {
            assert!(
                matches!(AmzDate::parse(bad), Err(DateError::Range(_))),
                "{bad}"
            );
        }
    }
}
