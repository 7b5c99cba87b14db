//! COSEM date-time (12 bytes), as carried in the GBCS grouping header.

use std::fmt;

/// A COSEM date-time: year (u16 BE), month, day of month, day of week, hour, minute, second,
/// hundredths, deviation (i16 BE, `0x8000` = not specified), clock status. `0xFF` (and
/// `0xFFFF` for the year) means "not specified".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CosemDateTime {
    /// Year, `0xFFFF` when not specified.
    pub year: u16,
    /// Month 1–12 (or special values).
    pub month: u8,
    /// Day of month.
    pub day: u8,
    /// Day of week (1 = Monday … 7), `0xFF` when not specified.
    pub day_of_week: u8,
    /// Hour.
    pub hour: u8,
    /// Minute.
    pub minute: u8,
    /// Second.
    pub second: u8,
    /// Hundredths of a second.
    pub hundredths: u8,
    /// Deviation from UTC in minutes; `i16::MIN` (`0x8000`) means not specified.
    pub deviation: i16,
    /// Clock status byte.
    pub clock_status: u8,
}

impl CosemDateTime {
    /// Decodes the 12 bytes.
    pub fn from_bytes(b: &[u8; 12]) -> Self {
        CosemDateTime {
            year: u16::from_be_bytes([b[0], b[1]]),
            month: b[2],
            day: b[3],
            day_of_week: b[4],
            hour: b[5],
            minute: b[6],
            second: b[7],
            hundredths: b[8],
            deviation: i16::from_be_bytes([b[9], b[10]]),
            clock_status: b[11],
        }
    }

    /// Encodes to the 12 wire bytes.
    pub fn to_bytes(&self) -> [u8; 12] {
        let y = self.year.to_be_bytes();
        let d = self.deviation.to_be_bytes();
        [
            y[0],
            y[1],
            self.month,
            self.day,
            self.day_of_week,
            self.hour,
            self.minute,
            self.second,
            self.hundredths,
            d[0],
            d[1],
            self.clock_status,
        ]
    }
}

impl fmt::Display for CosemDateTime {
    /// ISO-8601-like form; unspecified fields print as `*`, e.g. `2015-01-01T00:00:00.00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn field(f: &mut fmt::Formatter<'_>, v: u8) -> fmt::Result {
            if v == 0xff {
                f.write_str("**")
            } else {
                write!(f, "{v:02}")
            }
        }
        if self.year == 0xffff {
            f.write_str("****")?;
        } else {
            write!(f, "{:04}", self.year)?;
        }
        f.write_str("-")?;
        field(f, self.month)?;
        f.write_str("-")?;
        field(f, self.day)?;
        f.write_str("T")?;
        field(f, self.hour)?;
        f.write_str(":")?;
        field(f, self.minute)?;
        f.write_str(":")?;
        field(f, self.second)?;
        f.write_str(".")?;
        field(f, self.hundredths)?;
        if self.deviation != i16::MIN {
            let d = self.deviation;
            write!(
                f,
                "{}{:02}:{:02}",
                if d < 0 { '-' } else { '+' },
                d.unsigned_abs() / 60,
                d.unsigned_abs() % 60
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_rtds_example() {
        let b = [
            0x07, 0xdf, 0x01, 0x01, 0xff, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0xff,
        ];
        let dt = CosemDateTime::from_bytes(&b);
        assert_eq!(dt.year, 2015);
        assert_eq!(dt.deviation, i16::MIN);
        assert_eq!(dt.to_string(), "2015-01-01T00:00:00.00");
        assert_eq!(dt.to_bytes(), b);
    }
}
