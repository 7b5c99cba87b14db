//! Date-times for the transform: `xs:dateTime` values of DUIS requests converted to the three
//! forms GBCS payloads carry them in.
//!
//! - COSEM date-time (12 bytes, DLMS payloads): the UTC fields, day of week and clock status
//!   not specified (`FF`), deviation not specified (`8000`).
//! - ZigBee UTC time (u32, GBZ payloads): seconds since 2000-01-01T00:00:00Z.
//! - ASN.1 GeneralizedTime (`YYYYMMDDhhmmssZ`, CS-series payloads).
//!
//! Values are converted to UTC first; a value without a time zone is taken as UTC (every
//! DUIS template writes `Z`).

use std::fmt;

use crate::duis::model::xsd;
use crate::gbcs::CosemDateTime;

/// Seconds from 1970-01-01 to 2000-01-01 (the ZigBee epoch).
const ZIGBEE_EPOCH: i64 = 946_684_800;

/// Why a date-time cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Not an `xs:dateTime` this module reads.
    #[error("{0:?} is not an xs:dateTime of the form YYYY-MM-DDThh:mm:ss[.ss][Z|+hh:mm]")]
    Lexical(String),
    /// A field is out of range (month 13, hour 25, …).
    #[error("{0:?} has a field out of range")]
    Range(String),
    /// Before 2000-01-01, which ZigBee time cannot express.
    #[error("{0} is before 2000-01-01T00:00:00Z, the start of ZigBee time")]
    BeforeZigbeeEpoch(UtcDateTime),
}

/// A UTC date-time with hundredths of a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcDateTime {
    /// Seconds since 1970-01-01T00:00:00Z.
    unix: i64,
    /// Hundredths of a second (0–99).
    hundredths: u8,
}

impl UtcDateTime {
    /// The instant `unix` seconds after 1970-01-01T00:00:00Z.
    pub fn from_unix(unix: i64) -> Self {
        UtcDateTime {
            unix,
            hundredths: 0,
        }
    }

    /// The UTC date-time of the given civil fields.
    pub fn from_fields(year: i64, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> Self {
        let days = days_from_civil(year, month, day);
        UtcDateTime::from_unix(
            days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second),
        )
    }

    /// Parses the `xs:dateTime` lexical form (`[-]YYYY-MM-DDThh:mm:ss[.fff][Z|±hh:mm]`).
    ///
    /// # Errors
    ///
    /// [`TimeError`] when the text is not of that form or a field is out of range.
    pub fn parse(s: &str) -> Result<Self, TimeError> {
        let lexical = || TimeError::Lexical(s.to_owned());
        let range = || TimeError::Range(s.to_owned());
        let (date, rest) = s.split_once('T').ok_or_else(lexical)?;
        let (negative, date) = match date.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, date),
        };
        let mut d = date.split('-');
        let (Some(y), Some(mo), Some(da), None) = (d.next(), d.next(), d.next(), d.next()) else {
            return Err(lexical());
        };
        if !(4..=6).contains(&y.len()) || mo.len() != 2 || da.len() != 2 {
            return Err(lexical());
        }
        let mut year = digits(y).ok_or_else(lexical)?;
        if negative {
            year = -year;
        }
        let month = u8::try_from(digits(mo).ok_or_else(lexical)?).map_err(|_| range())?;
        let day = u8::try_from(digits(da).ok_or_else(lexical)?).map_err(|_| range())?;
        // Time zone: Z, ±hh:mm, or none.
        let (time, offset_minutes) = if let Some(t) = rest.strip_suffix('Z') {
            (t, 0i64)
        } else if rest.len() > 6 && matches!(rest.as_bytes()[rest.len() - 6], b'+' | b'-') {
            let (t, tz) = rest.split_at(rest.len() - 6);
            let sign = if tz.starts_with('-') { -1 } else { 1 };
            let (h, m) = tz[1..].split_once(':').ok_or_else(lexical)?;
            if h.len() != 2 || m.len() != 2 {
                return Err(lexical());
            }
            let (h, m) = (
                digits(h).ok_or_else(lexical)?,
                digits(m).ok_or_else(lexical)?,
            );
            if h > 14 || m > 59 {
                return Err(range());
            }
            (t, sign * (h * 60 + m))
        } else {
            (rest, 0)
        };
        let (hms, fraction) = match time.split_once('.') {
            Some((hms, f)) => (hms, Some(f)),
            None => (time, None),
        };
        let mut t = hms.split(':');
        let (Some(h), Some(mi), Some(se), None) = (t.next(), t.next(), t.next(), t.next()) else {
            return Err(lexical());
        };
        if h.len() != 2 || mi.len() != 2 || se.len() != 2 {
            return Err(lexical());
        }
        let hour = u8::try_from(digits(h).ok_or_else(lexical)?).map_err(|_| range())?;
        let minute = u8::try_from(digits(mi).ok_or_else(lexical)?).map_err(|_| range())?;
        let second = u8::try_from(digits(se).ok_or_else(lexical)?).map_err(|_| range())?;
        let hundredths = match fraction {
            None => 0,
            Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
                let b = f.as_bytes();
                (b[0] - b'0') * 10 + b.get(1).map_or(0, |c| c - b'0')
            }
            Some(_) => return Err(lexical()),
        };
        let end_of_day = hour == 24 && minute == 0 && second == 0 && hundredths == 0;
        if !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
            || (hour > 23 && !end_of_day)
            || minute > 59
            || second > 59
        {
            return Err(range());
        }
        let local = UtcDateTime::from_fields(year, month, day, hour, minute, second);
        Ok(UtcDateTime {
            unix: local.unix - offset_minutes * 60,
            hundredths,
        })
    }

    /// Converts a DUIS `xs:dateTime` leaf.
    ///
    /// # Errors
    ///
    /// As [`UtcDateTime::parse`].
    pub fn from_xsd(v: &xsd::DateTime) -> Result<Self, TimeError> {
        UtcDateTime::parse(v.as_str())
    }

    /// Seconds since 1970-01-01T00:00:00Z.
    pub fn unix(&self) -> i64 {
        self.unix
    }

    /// The instant `seconds` later (earlier when negative).
    pub fn plus_seconds(&self, seconds: i64) -> Self {
        UtcDateTime {
            unix: self.unix.saturating_add(seconds),
            hundredths: self.hundredths,
        }
    }

    /// Year, month, day, hour, minute, second.
    pub fn fields(&self) -> (i64, u8, u8, u8, u8, u8) {
        let days = self.unix.div_euclid(86_400);
        let secs = self.unix.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        (
            y,
            m,
            d,
            (secs / 3600) as u8,
            (secs / 60 % 60) as u8,
            (secs % 60) as u8,
        )
    }

    /// The COSEM date-time GBCS commands carry: UTC fields, day of week `FF`, deviation
    /// `8000` (not specified), clock status `FF`. Years outside 0–65534 are written as not
    /// specified (`FFFF`).
    pub fn cosem(&self) -> CosemDateTime {
        let (y, m, d, h, mi, s) = self.fields();
        CosemDateTime {
            year: u16::try_from(y)
                .ok()
                .filter(|y| *y != 0xffff)
                .unwrap_or(0xffff),
            month: m,
            day: d,
            day_of_week: 0xff,
            hour: h,
            minute: mi,
            second: s,
            hundredths: self.hundredths,
            deviation: i16::MIN,
            clock_status: 0xff,
        }
    }

    /// ZigBee UTC time: seconds since 2000-01-01T00:00:00Z. Instants after the last one a
    /// `u32` can express (`FFFFFFFE`; `FFFFFFFF` means "not specified") are clamped to it.
    ///
    /// # Errors
    ///
    /// [`TimeError::BeforeZigbeeEpoch`] for instants before 2000.
    pub fn zigbee(&self) -> Result<u32, TimeError> {
        let s = self.unix - ZIGBEE_EPOCH;
        if s < 0 {
            return Err(TimeError::BeforeZigbeeEpoch(*self));
        }
        Ok(u32::try_from(s).unwrap_or(u32::MAX - 1).min(u32::MAX - 1))
    }

    /// ASN.1 GeneralizedTime text, `YYYYMMDDhhmmssZ` (whole seconds).
    pub fn generalized_time(&self) -> String {
        let (y, m, d, h, mi, s) = self.fields();
        format!("{y:04}{m:02}{d:02}{h:02}{mi:02}{s:02}Z")
    }
}

impl fmt::Display for UtcDateTime {
    /// `YYYY-MM-DDThh:mm:ss.hhZ`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d, h, mi, s) = self.fields();
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:02}Z",
            self.hundredths
        )
    }
}

/// A non-empty run of ASCII digits as a number (at most 12 digits).
fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u8) -> u8 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u8, d: u8) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn conversions_match_the_rtds_encodings() {
        // ECS20a: 2014-12-22T09:30:00Z is ZigBee time 472555800.
        let t = UtcDateTime::parse("2014-12-22T09:30:00.00Z").unwrap();
        assert_eq!(t.zigbee().unwrap(), 472_555_800);
        // ECS20b: the COSEM form.
        let t = UtcDateTime::parse("2014-10-02T09:00:00.00Z").unwrap();
        assert_eq!(
            crate::hex::encode(&t.cosem().to_bytes()),
            "07de0a02ff090000008000ff"
        );
        // GCS28: GeneralizedTime.
        let t = UtcDateTime::parse("2014-12-31T23:30:00.00Z").unwrap();
        assert_eq!(t.plus_seconds(3600).generalized_time(), "20150101003000Z");
        // Time zones and the end of day.
        assert_eq!(
            UtcDateTime::parse("2015-01-01T01:00:00+01:00").unwrap(),
            UtcDateTime::parse("2015-01-01T00:00:00Z").unwrap()
        );
        assert_eq!(
            UtcDateTime::parse("2014-12-31T24:00:00Z").unwrap(),
            UtcDateTime::parse("2015-01-01T00:00:00Z").unwrap()
        );
        // Far future clamps; before 2000 is an error.
        let far = UtcDateTime::parse("3000-12-31T00:00:00.00Z").unwrap();
        assert_eq!(far.zigbee().unwrap(), 0xffff_fffe);
        assert!(
            UtcDateTime::parse("1999-12-31T23:59:59Z")
                .unwrap()
                .zigbee()
                .is_err()
        );
        assert_eq!(far.to_string(), "3000-12-31T00:00:00.00Z");
    }

    #[test]
    fn bad_text_is_an_error_not_a_panic() {
        for s in [
            "",
            "T",
            "2015-13-01T00:00:00Z",
            "2015-02-29T00:00:00Z",
            "2015-01-01T25:00:00Z",
            "2015-01-01",
            "2015-01-01T00:00",
            "2015-01-01T00:00:00.Z",
            "2015-01-01T00:00:00+1:00",
            "2015-01-01T00:00:00+15:00",
            "ab-cd-efTgh:ij:klZ",
            "2015-01-01T\u{e9}0:00:00Z",
            "99999999999999-01-01T00:00:00Z",
        ] {
            assert!(UtcDateTime::parse(s).is_err(), "{s:?}");
        }
    }
}
