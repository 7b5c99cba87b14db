//! A calendar date (the registration "effective from / to" days and the execution date).

use std::fmt;
use std::str::FromStr;

use crate::clock::{civil_from_days, days_from_civil};

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// A proleptic-Gregorian calendar date between 0001-01-01 and 9999-12-31.
///
/// The fields are private and checked on construction, so every `Date` names a real day.
/// Ordering is chronological. The text form is ISO 8601 `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    // Field order matters: the derived `Ord` compares year, then month, then day.
    year: u16,
    month: u8,
    day: u8,
}

/// Why a date was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    /// The text is not `YYYY-MM-DD`.
    #[error("expected a date as YYYY-MM-DD, got {0:?}")]
    Format(String),
    /// The year is outside 1..=9999.
    #[error("year {0} is outside 1..=9999")]
    Year(i64),
    /// The month is outside 1..=12.
    #[error("month {0} is outside 1..=12")]
    Month(u32),
    /// The month has no such day.
    #[error("{year:04}-{month:02} has no day {day}")]
    Day {
        /// Year.
        year: u16,
        /// Month.
        month: u8,
        /// The day that does not exist.
        day: u32,
    },
}

impl Date {
    /// The earliest representable date, 0001-01-01.
    pub const MIN: Date = Date {
        year: 1,
        month: 1,
        day: 1,
    };
    /// The latest representable date, 9999-12-31.
    pub const MAX: Date = Date {
        year: 9999,
        month: 12,
        day: 31,
    };

    /// Builds a date, checking that it exists.
    pub fn new(year: i64, month: u32, day: u32) -> Result<Date, DateError> {
        let year = u16::try_from(year)
            .ok()
            .filter(|y| (1..=9999).contains(y))
            .ok_or(DateError::Year(year))?;
        let month = u8::try_from(month)
            .ok()
            .filter(|m| (1..=12).contains(m))
            .ok_or(DateError::Month(month))?;
        if day == 0 || day > u32::from(days_in_month(year, month)) {
            return Err(DateError::Day { year, month, day });
        }
        // `day` ≤ 31 was checked just above.
        let day = u8::try_from(day).map_err(|_| DateError::Day {
            year,
            month,
            day: u32::MAX,
        })?;
        Ok(Date { year, month, day })
    }

    /// The year (1..=9999).
    pub fn year(self) -> u16 {
        self.year
    }

    /// The month (1..=12).
    pub fn month(self) -> u8 {
        self.month
    }

    /// The day of the month (1..=31).
    pub fn day(self) -> u8 {
        self.day
    }

    /// Days since 1970-01-01 (negative before it).
    pub fn days_since_epoch(self) -> i64 {
        days_from_civil(
            i64::from(self.year),
            u32::from(self.month),
            u32::from(self.day),
        )
    }

    /// The date `days` days after 1970-01-01.
    pub fn from_days_since_epoch(days: i64) -> Result<Date, DateError> {
        let (y, m, d) = civil_from_days(days);
        Date::new(y, m, d)
    }

    /// The next day, or `None` after [`Date::MAX`].
    pub fn succ(self) -> Option<Date> {
        Date::from_days_since_epoch(self.days_since_epoch() + 1).ok()
    }

    /// The previous day, or `None` before [`Date::MIN`].
    pub fn pred(self) -> Option<Date> {
        Date::from_days_since_epoch(self.days_since_epoch() - 1).ok()
    }

    /// The UTC calendar date of an instant given in milliseconds since the Unix epoch.
    pub fn utc_from_unix_ms(ms: i64) -> Result<Date, DateError> {
        Date::from_days_since_epoch(ms.div_euclid(DAY_MS))
    }

    /// The calendar date in Great Britain (GMT in winter, BST = UTC+1 from 01:00 UTC on the
    /// last Sunday of March to 01:00 UTC on the last Sunday of October) of an instant given in
    /// milliseconds since the Unix epoch.
    ///
    /// Registration dates are GB settlement days, so this is the conversion to use for a
    /// DUIS execution date-time, which is carried in UTC: 23:30 UTC on 30 June is already
    /// 1 July in Great Britain.
    pub fn gb_from_unix_ms(ms: i64) -> Result<Date, DateError> {
        let (year, _, _) = civil_from_days(ms.div_euclid(DAY_MS));
        let bst_start = last_sunday(year, 3) * DAY_MS + HOUR_MS;
        let bst_end = last_sunday(year, 10) * DAY_MS + HOUR_MS;
        let offset = if (bst_start..bst_end).contains(&ms) {
            HOUR_MS
        } else {
            0
        };
        Date::utc_from_unix_ms(ms.saturating_add(offset))
    }
}

/// Days since the epoch of the last Sunday of `month` in `year`.
fn last_sunday(year: i64, month: u32) -> i64 {
    let last_day = days_from_civil(year, month, 31);
    // 1970-01-01 was a Thursday; with Sunday = 0, its weekday is 4.
    last_day - (last_day + 4).rem_euclid(7)
}

fn is_leap(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 31,
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl FromStr for Date {
    type Err = DateError;

    /// Parses exactly `YYYY-MM-DD` (four, two and two ASCII digits).
    fn from_str(s: &str) -> Result<Date, DateError> {
        let b = s.as_bytes();
        let shape_ok = b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
        if !shape_ok {
            return Err(DateError::Format(s.chars().take(32).collect()));
        }
        let num = |r: std::ops::Range<usize>| {
            b[r].iter()
                .fold(0u32, |acc, c| acc * 10 + u32::from(c - b'0'))
        };
        Date::new(i64::from(num(0..4)), num(5..7), num(8..10))
    }
}

impl serde::Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Date {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_prints() {
        let x: Date = "2024-02-29".parse().unwrap();
        assert_eq!((x.year(), x.month(), x.day()), (2024, 2, 29));
        assert_eq!(x.to_string(), "2024-02-29");
    }

    #[test]
    fn refuses_bad_dates() {
        assert!(matches!(
            "2023-02-29".parse::<Date>(),
            Err(DateError::Day { .. })
        ));
        assert!(matches!(
            "2023-13-01".parse::<Date>(),
            Err(DateError::Month(13))
        ));
        assert!(matches!(
            "0000-01-01".parse::<Date>(),
            Err(DateError::Year(0))
        ));
        assert!(matches!(
            "2023-04-31".parse::<Date>(),
            Err(DateError::Day { .. })
        ));
        for bad in [
            "",
            "2023-1-01",
            "2023/01/01",
            "2023-01-01T00:00",
            "+023-01-01",
            "２０２３-01-01",
        ] {
            assert!(
                matches!(bad.parse::<Date>(), Err(DateError::Format(_))),
                "{bad}"
            );
        }
        assert!("1900-02-29".parse::<Date>().is_err());
        assert!("2000-02-29".parse::<Date>().is_ok());
    }

    #[test]
    fn orders_chronologically_and_steps() {
        assert!(d("2024-12-31") < d("2025-01-01"));
        assert!(d("2025-01-31") < d("2025-02-01"));
        assert_eq!(d("2024-02-28").succ(), Some(d("2024-02-29")));
        assert_eq!(d("2025-01-01").pred(), Some(d("2024-12-31")));
        assert_eq!(Date::MAX.succ(), None);
        assert_eq!(Date::MIN.pred(), None);
        assert_eq!(d("1970-01-01").days_since_epoch(), 0);
    }

    #[test]
    fn gb_local_date_follows_bst() {
        // 2025-06-30T23:30:00Z is 00:30 BST on 1 July.
        let summer = d("2025-06-30").days_since_epoch() * DAY_MS + 23 * HOUR_MS + 30 * 60_000;
        assert_eq!(Date::utc_from_unix_ms(summer), Ok(d("2025-06-30")));
        assert_eq!(Date::gb_from_unix_ms(summer), Ok(d("2025-07-01")));
        // 2025-12-31T23:30:00Z is still 31 December in GMT.
        let winter = d("2025-12-31").days_since_epoch() * DAY_MS + 23 * HOUR_MS + 30 * 60_000;
        assert_eq!(Date::gb_from_unix_ms(winter), Ok(d("2025-12-31")));
        // BST 2025 starts 30 March 01:00 UTC and ends 26 October 01:00 UTC.
        let start = d("2025-03-30").days_since_epoch() * DAY_MS + HOUR_MS;
        let end = d("2025-10-26").days_since_epoch() * DAY_MS + HOUR_MS;
        let eve = |day: &str| d(day).days_since_epoch() * DAY_MS - 30 * 60_000;
        assert_eq!(Date::gb_from_unix_ms(start - 1), Ok(d("2025-03-30")));
        assert_eq!(
            Date::gb_from_unix_ms(eve("2025-03-30")),
            Ok(d("2025-03-29"))
        );
        assert_eq!(
            Date::gb_from_unix_ms(eve("2025-04-01")),
            Ok(d("2025-04-01"))
        );
        assert_eq!(
            Date::gb_from_unix_ms(eve("2025-10-26")),
            Ok(d("2025-10-26"))
        );
        assert_eq!(Date::gb_from_unix_ms(end), Ok(d("2025-10-26")));
        assert_eq!(
            Date::gb_from_unix_ms(eve("2025-10-28")),
            Ok(d("2025-10-27"))
        );
    }

    #[test]
    fn serde_round_trip() {
        let x = d("2025-04-01");
        let j = serde_json::to_string(&x).unwrap();
        assert_eq!(j, "\"2025-04-01\"");
        assert_eq!(serde_json::from_str::<Date>(&j).ok(), Some(x));
        assert!(serde_json::from_str::<Date>("\"2025-02-30\"").is_err());
    }
}
