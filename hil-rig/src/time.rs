//! Time conversions between the forms GBCS uses: Unix seconds (what callers pass in as
//! `now`), COSEM date-time (DLMS and the grouping header), ZigBee UTC time (seconds since
//! 2000-01-01, GBZ and DLMS profile timestamps) and ASN.1 GeneralizedTime (CS use cases).

/// Seconds from 1970-01-01 to 2000-01-01 (the ZigBee epoch).
pub const ZIGBEE_EPOCH: i64 = 946_684_800;

/// A calendar date and time in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// Year.
    pub year: i64,
    /// Month 1–12.
    pub month: u8,
    /// Day of month 1–31.
    pub day: u8,
    /// Hour 0–23.
    pub hour: u8,
    /// Minute.
    pub minute: u8,
    /// Second.
    pub second: u8,
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: u8, d: u8) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

impl Civil {
    /// The civil time of a Unix time.
    pub fn from_unix(t: i64) -> Self {
        let (year, month, day) = civil_from_days(t.div_euclid(86_400));
        let s = t.rem_euclid(86_400);
        Civil {
            year,
            month,
            day,
            hour: (s / 3600) as u8,
            minute: (s / 60 % 60) as u8,
            second: (s % 60) as u8,
        }
    }

    /// The Unix time, if the fields are in range.
    pub fn to_unix(&self) -> Option<i64> {
        if !(1..=12).contains(&self.month)
            || !(1..=31).contains(&self.day)
            || self.hour > 23
            || self.minute > 59
            || self.second > 59
        {
            return None;
        }
        Some(
            days_from_civil(self.year, self.month, self.day) * 86_400
                + i64::from(self.hour) * 3600
                + i64::from(self.minute) * 60
                + i64::from(self.second),
        )
    }
}

/// A COSEM date-time for a Unix time, in the form GBCS devices write: day of week, deviation
/// and clock status not specified (`FF`, `8000`, `FF`), hundredths zero.
pub fn cosem_from_unix(t: i64) -> [u8; 12] {
    let c = Civil::from_unix(t);
    let y = u16::try_from(c.year).unwrap_or(0xffff).to_be_bytes();
    [
        y[0], y[1], c.month, c.day, 0xff, c.hour, c.minute, c.second, 0x00, 0x80, 0x00, 0xff,
    ]
}

/// What a COSEM date-time in a command means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CosemInstant {
    /// A specific instant (Unix seconds).
    At(i64),
    /// Every date field `00`: "now" (GBCS immediate execution).
    Immediate,
    /// Every date field `FF`: not specified (GBCS cancellation of a future-dated action).
    Unspecified,
}

/// Reads a COSEM date-time. Wildcards in only some fields are treated as unspecified.
pub fn cosem_to_instant(b: &[u8]) -> Option<CosemInstant> {
    let b: &[u8; 12] = b.try_into().ok()?;
    if b[..8].iter().all(|&x| x == 0) {
        return Some(CosemInstant::Immediate);
    }
    let year = u16::from_be_bytes([b[0], b[1]]);
    if year == 0xffff || b[2] == 0xff || b[3] == 0xff {
        return Some(CosemInstant::Unspecified);
    }
    let field = |x: u8| if x == 0xff { 0 } else { x };
    let t = Civil {
        year: i64::from(year),
        month: b[2],
        day: b[3],
        hour: field(b[5]),
        minute: field(b[6]),
        second: field(b[7]),
    }
    .to_unix()?;
    let deviation = i16::from_be_bytes([b[9], b[10]]);
    // COSEM deviation is local time minus UTC in minutes, with the sign inverted
    // (local = UTC - deviation); 0x8000 means not specified.
    let t = if deviation == i16::MIN {
        t
    } else {
        t + i64::from(deviation) * 60
    };
    Some(CosemInstant::At(t))
}

/// ZigBee UTC time (seconds since 2000-01-01) for a Unix time, saturating at the ends.
pub fn zigbee_from_unix(t: i64) -> u32 {
    u32::try_from((t - ZIGBEE_EPOCH).max(0)).unwrap_or(u32::MAX - 2)
}

/// The Unix time of a ZigBee UTC time.
pub fn unix_from_zigbee(z: u32) -> i64 {
    i64::from(z) + ZIGBEE_EPOCH
}

/// ASN.1 GeneralizedTime text `YYYYMMDDHHMMSSZ` for a Unix time.
pub fn generalized_from_unix(t: i64) -> String {
    let c = Civil::from_unix(t);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// The Unix time of an ASN.1 GeneralizedTime `YYYYMMDDHHMMSSZ` (the only form GBCS uses).
pub fn unix_from_generalized(text: &[u8]) -> Option<i64> {
    if text.len() != 15 || text[14] != b'Z' || !text[..14].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| {
        text[r]
            .iter()
            .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'))
    };
    Civil {
        year: n(0..4),
        month: u8::try_from(n(4..6)).ok()?,
        day: u8::try_from(n(6..8)).ok()?,
        hour: u8::try_from(n(8..10)).ok()?,
        minute: u8::try_from(n(10..12)).ok()?,
        second: u8::try_from(n(12..14)).ok()?,
    }
    .to_unix()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// 2015-01-01T00:00:00Z, the clock of the RTDS responses.
    const RTDS_NOW: i64 = 1_420_070_400;

    #[test]
    fn conversions_agree_with_rtds_values() {
        assert_eq!(
            cosem_from_unix(RTDS_NOW),
            [0x07, 0xdf, 1, 1, 0xff, 0, 0, 0, 0, 0x80, 0x00, 0xff]
        );
        assert_eq!(
            cosem_to_instant(&cosem_from_unix(RTDS_NOW)),
            Some(CosemInstant::At(RTDS_NOW))
        );
        // 473299200 in an ECS22b profile entry is 2014-12-31T00:00:00Z.
        assert_eq!(unix_from_zigbee(473_299_200), RTDS_NOW - 86_400);
        assert_eq!(zigbee_from_unix(RTDS_NOW), 473_385_600);
        assert_eq!(generalized_from_unix(RTDS_NOW), "20150101000000Z");
        assert_eq!(unix_from_generalized(b"20150101000000Z"), Some(RTDS_NOW));
        assert_eq!(unix_from_generalized(b"2015010100000Z"), None);
        assert_eq!(cosem_to_instant(&[0; 12]).unwrap(), CosemInstant::Immediate);
        assert_eq!(
            cosem_to_instant(&[
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80, 0, 0xff
            ]),
            Some(CosemInstant::Unspecified)
        );
        for t in [0, RTDS_NOW, 1_900_000_000, 253_402_300_799] {
            assert_eq!(Civil::from_unix(t).to_unix(), Some(t));
        }
    }
}
