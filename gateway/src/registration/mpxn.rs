//! MPxN: the MPAN core (electricity) or MPRN (gas) that registration data is keyed by.

use std::fmt;
use std::str::FromStr;

/// The fuel of a metering point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fuel {
    /// Electricity: the point is identified by a 13-digit MPAN core.
    Electricity,
    /// Gas: the point is identified by a 6- to 10-digit MPRN.
    Gas,
}

impl Fuel {
    /// The text form used in registration files: `electricity` or `gas`.
    pub fn as_str(self) -> &'static str {
        match self {
            Fuel::Electricity => "electricity",
            Fuel::Gas => "gas",
        }
    }
}

impl fmt::Display for Fuel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Fuel {
    type Err = ();

    /// Accepts `electricity` or `gas`, in any letter case.
    fn from_str(s: &str) -> Result<Fuel, ()> {
        if s.eq_ignore_ascii_case("electricity") {
            Ok(Fuel::Electricity)
        } else if s.eq_ignore_ascii_case("gas") {
            Ok(Fuel::Gas)
        } else {
            Err(())
        }
    }
}

/// A validated MPxN, stored compactly (it is the key of every registration record).
///
/// An MPAN core is exactly 13 decimal digits; an MPRN is 6 to 10 decimal digits. Any other
/// length, or any character that is not an ASCII digit, is refused. Leading zeros are kept:
/// `0123456` and `123456` are different MPRNs, as the strings differ.
///
/// The MPAN core's final check digit is *not* enforced: the DCC's own sample messages carry
/// MPANs that do not satisfy it. [`Mpxn::mpan_check_digit_ok`] reports it for callers that
/// want to warn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mpxn {
    value: u64,
    digits: u8,
}

/// Why a string is not an MPxN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MpxnError {
    /// A character other than `0`–`9`.
    #[error("must contain only the digits 0-9")]
    NotDigits,
    /// A digit count that is neither 13 (MPAN) nor 6 to 10 (MPRN).
    #[error("must be 13 digits (MPAN) or 6 to 10 digits (MPRN), got {0} digits")]
    Length(usize),
}

impl Mpxn {
    /// The fuel implied by the form: 13 digits are an MPAN, 6 to 10 an MPRN.
    pub fn fuel(self) -> Fuel {
        if self.digits == 13 {
            Fuel::Electricity
        } else {
            Fuel::Gas
        }
    }

    /// Whether the last digit of an MPAN core is its check digit (the weighted sum of the
    /// first twelve digits by the primes 3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43, modulo
    /// 11, modulo 10). `None` for an MPRN.
    pub fn mpan_check_digit_ok(self) -> Option<bool> {
        const WEIGHTS: [u64; 12] = [3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43];
        if self.fuel() != Fuel::Electricity {
            return None;
        }
        let check = self.value % 10;
        let mut rest = self.value / 10;
        let mut sum = 0;
        for w in WEIGHTS.iter().rev() {
            sum += (rest % 10) * w;
            rest /= 10;
        }
        Some(sum % 11 % 10 == check)
    }
}

impl Mpxn {
    /// The number and its digit count (for compact storage).
    pub(super) fn raw(self) -> (u64, u8) {
        (self.value, self.digits)
    }

    /// Rebuilds an MPxN from [`Mpxn::raw`]'s parts, checking them.
    pub(super) fn from_raw(value: u64, digits: u8) -> Result<Mpxn, MpxnError> {
        let n = usize::from(digits);
        if n != 13 && !(6..=10).contains(&n) {
            return Err(MpxnError::Length(n));
        }
        if value >= 10u64.pow(u32::from(digits)) {
            return Err(MpxnError::Length(n + 1));
        }
        Ok(Mpxn { value, digits })
    }
}

impl FromStr for Mpxn {
    type Err = MpxnError;

    fn from_str(s: &str) -> Result<Mpxn, MpxnError> {
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MpxnError::NotDigits);
        }
        let digits = s.len();
        if digits != 13 && !(6..=10).contains(&digits) {
            return Err(MpxnError::Length(digits));
        }
        let value = s
            .bytes()
            .fold(0u64, |acc, b| acc * 10 + u64::from(b - b'0'));
        // `digits` is at most 13 here.
        let digits = u8::try_from(digits).map_err(|_| MpxnError::Length(digits))?;
        Ok(Mpxn { value, digits })
    }
}

impl fmt::Display for Mpxn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:0width$}",
            self.value,
            width = usize::from(self.digits)
        )
    }
}

impl serde::Serialize for Mpxn {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_mpan_and_mprn_forms() {
        let mpan: Mpxn = "1312345678111".parse().unwrap();
        assert_eq!(mpan.fuel(), Fuel::Electricity);
        assert_eq!(mpan.to_string(), "1312345678111");
        let mprn: Mpxn = "1000999888".parse().unwrap();
        assert_eq!(mprn.fuel(), Fuel::Gas);
        let short: Mpxn = "012345".parse().unwrap();
        assert_eq!(short.to_string(), "012345");
        assert_ne!(short, "0012345".parse().unwrap());
    }

    #[test]
    fn refuses_other_forms() {
        assert_eq!("12345".parse::<Mpxn>(), Err(MpxnError::Length(5)));
        assert_eq!("12345678901".parse::<Mpxn>(), Err(MpxnError::Length(11)));
        assert_eq!("123456789012".parse::<Mpxn>(), Err(MpxnError::Length(12)));
        assert_eq!("12345678901234".parse::<Mpxn>(), Err(MpxnError::Length(14)));
        assert_eq!("".parse::<Mpxn>(), Err(MpxnError::Length(0)));
        for bad in ["13123456781 1", "+123456", "1234567a", "١٢٣٤٥٦٧"] {
            assert_eq!(bad.parse::<Mpxn>(), Err(MpxnError::NotDigits), "{bad}");
        }
    }

    #[test]
    fn check_digit() {
        // 1, 2, …, 9, 0, 1, 2 weighted: 3+10+21+52+85+114+161+232+279+0+41+86 = 1084;
        // 1084 mod 11 = 6.
        let good: Mpxn = "1234567890126".parse().unwrap();
        assert_eq!(good.mpan_check_digit_ok(), Some(true));
        let bad: Mpxn = "1234567890127".parse().unwrap();
        assert_eq!(bad.mpan_check_digit_ok(), Some(false));
        let mprn: Mpxn = "1000999888".parse().unwrap();
        assert_eq!(mprn.mpan_check_digit_ok(), None);
    }

    #[test]
    fn fuel_text() {
        assert_eq!("Electricity".parse::<Fuel>(), Ok(Fuel::Electricity));
        assert_eq!("GAS".parse::<Fuel>(), Ok(Fuel::Gas));
        assert!("water".parse::<Fuel>().is_err());
    }
}
