//! The Monthly Service Metrics of SEC Annex 5 Table 5.3 and the rules that go with them
//! (paragraphs 407–411), as pure functions over counts the gateway keeps.
//!
//! | metric | Service Reference, roles | formula (for User *u*, month *m*) | Monthly Service Threshold |
//! |---|---|---|---|
//! | `display_message_12m` | 3.1, IS GS | *R*₁₂ / ASMSm | 24 |
//! | `read_profile_data_supplier_month` | 4.8, IS ES GS | *R*ₘ / SMSₘ | days in *m* |
//! | `update_firmware_12m` | 11.1, IS GS | *R*₁₂ / ASMSm | 6 |
//! | `read_profile_data_network_month` | 4.8, ED GT | *R*ₘ / SMSₘ | 10⁻³ × 48 × days in *m* |
//! | `read_profile_data_network_12m` | 4.8, ED GT | *R*₁₂ / ASMSm | 4 |
//! | `read_network_data_month` | 4.10, ED | *R*ₘ / SMSₘ | 10⁻³ × days in *m* |
//! | `read_network_data_12m` | 4.10, ED | *R*₁₂ / ASMSm | 4 |
//!
//! - *R*ₘ: the Service Requests of the row's type the User sent in month *m*; *R*₁₂: the
//!   total over *m* and the eleven months before it.
//! - SMSₘ: the Smart Metering Systems enrolled on the 15th of *m* for which the User is the
//!   registered supplier (supplier rows) or the Electricity Distributor or Gas Transporter
//!   (network rows).
//! - ASMSm ([`asms`]): the mean of SMS on the 15th of *m* and of each of the eleven months
//!   before it, months before the User's First Service Month disregarded (paragraph 411).
//! - First Service Month ([`first_service_month`]): the month after the one in which the
//!   User first sent a Service Request of any type (paragraph 409); no metric is determined
//!   for a month before it (paragraph 410).
//! - Paragraph 411: where the twelve months reach back before the First Service Month, the
//!   value is multiplied by twelve and divided by the number of months of the period; the
//!   text says "number of month in that time period prior to the First Service Month", read
//!   here as the months of the period that are *not* before it (from the First Service Month
//!   to *m*), the reading that annualises a partial year ([`rolling`]).
//!
//! Months for which the gateway holds no enrolment count (it was not running on or after
//! the 15th) are left out of ASMSm; a monthly metric for such a month is not determined.

use crate::performance::Month;

/// `m` moved `n` months back.
pub fn months_back(m: Month, n: u32) -> Month {
    let index = i64::from(m.year()) * 12 + i64::from(m.month()) - 1 - i64::from(n);
    let year = u16::try_from(index.div_euclid(12)).unwrap_or(1000);
    let month = u8::try_from(index.rem_euclid(12) + 1).unwrap_or(1);
    Month::new(year, month).unwrap_or(m)
}

/// The months `m - 11 ..= m`, oldest first: the twelve months of a rolling metric.
pub fn twelve_months(m: Month) -> Vec<Month> {
    (0..12).rev().map(|n| months_back(m, n)).collect()
}

/// Calendar days in `m`.
pub fn days_in_month(m: Month) -> u32 {
    let first = crate::clock::days_from_civil(i64::from(m.year()), u32::from(m.month()), 1);
    let next = m.next();
    let after = crate::clock::days_from_civil(i64::from(next.year()), u32::from(next.month()), 1);
    u32::try_from(after - first).unwrap_or(30)
}

/// Paragraph 409: the month after the month of the User's first Service Request.
pub fn first_service_month(first_request: Month) -> Month {
    first_request.next()
}

/// Why a metric could not be determined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotDetermined {
    /// Paragraph 410: `m` is before the User's First Service Month (or the User has sent
    /// nothing yet).
    BeforeFirstServiceMonth,
    /// No enrolment count for the 15th of the month (the gateway was not running on or after
    /// the 15th, or the month has not reached it yet).
    NoEnrolmentCount(Month),
    /// No enrolment count for any month of the ASMSm mean.
    NoAsms,
    /// The divisor is zero: no Smart Metering System enrolled for the User.
    NoSmartMeteringSystems,
}

impl std::fmt::Display for NotDetermined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotDetermined::BeforeFirstServiceMonth => {
                f.write_str("not determined before the User's First Service Month")
            }
            NotDetermined::NoEnrolmentCount(m) => {
                write!(f, "no count of Smart Metering Systems enrolled on 15 {m}")
            }
            NotDetermined::NoAsms => {
                f.write_str("no count of enrolled Smart Metering Systems for ASMSm")
            }
            NotDetermined::NoSmartMeteringSystems => {
                f.write_str("no Smart Metering System enrolled for the User")
            }
        }
    }
}

/// The monthly rows of Table 5.3: *R*ₘ / SMSₘ.
///
/// # Errors
///
/// [`NotDetermined::NoSmartMeteringSystems`] when `sms_on_15th` is zero.
#[allow(clippy::cast_precision_loss)]
pub fn per_month(requests_in_m: u64, sms_on_15th: u64) -> Result<f64, NotDetermined> {
    if sms_on_15th == 0 {
        return Err(NotDetermined::NoSmartMeteringSystems);
    }
    Ok(requests_in_m as f64 / sms_on_15th as f64)
}

/// ASMSm: the mean of the enrolment counts `sms` (month → SMS on its 15th) over `m` and the
/// eleven months before it, leaving out months before `first_service_month` and months with
/// no count.
///
/// # Errors
///
/// [`NotDetermined::NoAsms`] when no month of the window has a count.
#[allow(clippy::cast_precision_loss)]
pub fn asms(
    sms: &dyn Fn(Month) -> Option<u64>,
    m: Month,
    first_service_month: Month,
) -> Result<f64, NotDetermined> {
    let counts: Vec<u64> = twelve_months(m)
        .into_iter()
        .filter(|month| *month >= first_service_month)
        .filter_map(sms)
        .collect();
    if counts.is_empty() {
        return Err(NotDetermined::NoAsms);
    }
    let sum: u128 = counts.iter().map(|c| u128::from(*c)).sum();
    Ok(sum as f64 / counts.len() as f64)
}

/// The rolling rows of Table 5.3: *R*₁₂ / ASMSm, with paragraph 411's annualisation when the
/// twelve months reach back before the First Service Month.
///
/// # Errors
///
/// [`NotDetermined`]: `m` before the First Service Month, no ASMSm, or ASMSm zero.
#[allow(clippy::cast_precision_loss)]
pub fn rolling(
    requests: &dyn Fn(Month) -> u64,
    sms: &dyn Fn(Month) -> Option<u64>,
    m: Month,
    first_service_month: Month,
) -> Result<f64, NotDetermined> {
    if m < first_service_month {
        return Err(NotDetermined::BeforeFirstServiceMonth);
    }
    let window = twelve_months(m);
    let total: u64 = window
        .iter()
        .map(|month| requests(*month))
        .fold(0, u64::saturating_add);
    let mean = asms(sms, m, first_service_month)?;
    if mean <= 0.0 {
        return Err(NotDetermined::NoSmartMeteringSystems);
    }
    let value = total as f64 / mean;
    let served = window
        .iter()
        .filter(|month| **month >= first_service_month)
        .count();
    Ok(if served < 12 {
        value * 12.0 / served as f64
    } else {
        value
    })
}

/// Whether `actual` is at least 110 % of `limit` (exact for counts: 10 × actual ≥ 11 × limit).
pub fn at_least_110_percent_of_count(actual: u64, limit: u64) -> bool {
    u128::from(actual) * 10 >= u128::from(limit) * 11 && actual > 0
}

/// Whether `value` is at least 110 % of `threshold`, allowing for the rounding of the
/// divisions that produced it.
pub fn at_least_110_percent(value: f64, threshold: f64) -> bool {
    let bar = threshold * 1.1;
    value >= bar - bar.abs() * 1e-12 && value > 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Month {
        Month::parse(s).unwrap()
    }

    #[test]
    fn months_and_days() {
        assert_eq!(months_back(m("2026-03"), 3), m("2025-12"));
        assert_eq!(months_back(m("2026-12"), 11), m("2026-01"));
        assert_eq!(months_back(m("2026-01"), 0), m("2026-01"));
        let w = twelve_months(m("2026-10"));
        assert_eq!((w[0], w[11], w.len()), (m("2025-11"), m("2026-10"), 12));
        assert_eq!(days_in_month(m("2026-02")), 28);
        assert_eq!(days_in_month(m("2024-02")), 29);
        assert_eq!(days_in_month(m("2026-10")), 31);
        assert_eq!(days_in_month(m("2026-11")), 30);
        assert_eq!(first_service_month(m("2026-12")), m("2027-01"));
    }

    #[test]
    fn monthly_rows_divide_by_the_count_on_the_15th() {
        // 4.8 as a supplier: 1 500 requests in the month, 50 systems on the 15th: 30 a
        // system, under a 31-day month's threshold of 31.
        assert_eq!(per_month(1500, 50), Ok(30.0));
        assert_eq!(per_month(3, 0), Err(NotDetermined::NoSmartMeteringSystems));
    }

    #[test]
    fn asms_is_the_mean_from_the_first_service_month() {
        // Counts on the 15th: 100 in 2025-11 (before the First Service Month 2026-01),
        // 200 in 2026-01, none recorded in 2026-02, 400 in 2026-03.
        let sms = |month: Month| match month.to_string().as_str() {
            "2025-11" => Some(100),
            "2026-01" => Some(200),
            "2026-03" => Some(400),
            _ => None,
        };
        // (200 + 400) / 2, 2025-11 disregarded.
        assert_eq!(asms(&sms, m("2026-03"), m("2026-01")), Ok(300.0));
        // With an earlier First Service Month 2025-11 counts too: (100 + 200 + 400) / 3.
        let v = asms(&sms, m("2026-03"), m("2025-11")).unwrap();
        assert!((v - 700.0 / 3.0).abs() < 1e-9);
        // Twelve months after 2025-11 it has left the window: 2026-11 sees 2026-01, 2026-03.
        assert_eq!(asms(&sms, m("2026-11"), m("2025-11")), Ok(300.0));
        assert_eq!(
            asms(&sms, m("2027-06"), m("2025-11")),
            Err(NotDetermined::NoAsms)
        );
    }

    #[test]
    fn rolling_rows_annualise_a_partial_year() {
        // A supplier first sent a request in 2026-01: First Service Month 2026-02. Display
        // Messages: 10 in 2026-01, 30 in 2026-02, 20 in 2026-03; 10 systems on every 15th.
        let requests = |month: Month| match month.to_string().as_str() {
            "2026-01" => 10,
            "2026-02" => 30,
            "2026-03" => 20,
            _ => 0,
        };
        let sms = |_: Month| Some(10);
        let fsm = first_service_month(m("2026-01"));
        // 2026-03: R12 = 60, ASMSm = 10, two months since the First Service Month:
        // 60 / 10 × 12 / 2 = 36, at or over 110 % of the threshold of 24 (26.4).
        let v = rolling(&requests, &sms, m("2026-03"), fsm).unwrap();
        assert!((v - 36.0).abs() < 1e-9, "{v}");
        assert!(at_least_110_percent(v, 24.0));
        // 2027-01: a full twelve months after 2026-02 (2026-02 .. 2027-01): 50 / 10 = 5.
        let v = rolling(&requests, &sms, m("2027-01"), fsm).unwrap();
        assert!((v - 5.0).abs() < 1e-9, "{v}");
        assert!(!at_least_110_percent(v, 6.0));
        // Before the First Service Month: not determined.
        assert_eq!(
            rolling(&requests, &sms, m("2026-01"), fsm),
            Err(NotDetermined::BeforeFirstServiceMonth)
        );
        let none = |_: Month| Some(0);
        assert_eq!(
            rolling(&requests, &none, m("2026-03"), fsm),
            Err(NotDetermined::NoSmartMeteringSystems)
        );
    }

    #[test]
    fn the_110_percent_rule_includes_its_edge() {
        assert!(at_least_110_percent_of_count(11, 10));
        assert!(!at_least_110_percent_of_count(10, 10));
        assert!(at_least_110_percent_of_count(1, 0));
        assert!(!at_least_110_percent_of_count(0, 0));
        // 4.8 as a network operator in a 30-day month: threshold 0.048 × 30 = 1.44; 110 %
        // is 1.584.
        let threshold = 1e-3 * 48.0 * 30.0;
        assert!(at_least_110_percent(1.584, threshold));
        assert!(!at_least_110_percent(1.583, threshold));
        assert!(at_least_110_percent(26.4, 24.0));
        assert!(!at_least_110_percent(26.39, 24.0));
    }
}
