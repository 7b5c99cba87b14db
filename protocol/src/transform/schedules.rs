//! The electricity meter's Single Action Schedules, critical: 6.8 Update Device
//! Configuration (Billing Calendar) (ECS30, ECS30a) and 6.26 Update Device Configuration
//! (Daily Resetting of Tariff Block Counter Matrix) (ECS48).
//!
//! Each sets the `execution_time` (attribute 4) of a Single Action Schedule (class 22): an
//! array of `{ time, date }` octet-strings, `time` being hour, minute, second, hundredths
//! and `date` year (two octets), month, day of month, day of week, `FF` (`FFFF` for the
//! year) meaning "any":
//!
//! - the billing schedule 0-0:15.0.0.255: one entry at the billing time on the day the
//!   periodicity names (daily: any day; weekly: that day of the week, 1 = Monday; monthly:
//!   that day of the month), or one per billing month for quarterly, six-monthly and yearly
//!   calendars (the months from `BillingPeriodStartMonth` on, every 3, 6 or 12 months,
//!   listed in calendar order);
//! - the tariff block counter reset schedule 0-0:15.1.0.255: midnight every day when
//!   daily resetting is on.
//!
//! The RTDS Pre-Commands of ECS30 (monthly), ECS30a (quarterly) and ECS48 (on) are matched
//! byte for byte. **Derived**, with no vector: the daily, weekly, six-monthly and yearly
//! entries (the same layout with other "any" fields), and ECS48 off, an empty array (no
//! execution time: the schedule never runs). ECS30 is the monthly-only form of ECS30a;
//! HubGate sends ECS30a unless ECS30 is asked for.
//!
//! `BillingTime` is an `xs:time`; one with a time zone is converted to UTC, the meter's
//! time base.

use super::axdr::{Request, Value, obis};
use super::{ESME, Input, Origin, TransformError, UseCase};
use crate::duis::model::Body;
use crate::duis::model::body::{BillingCalendar, ElectricityBillingCalendarChoice};

pub(crate) static USE_CASES: &[UseCase] = &[
    use_case!("ECS30a", "6.8", ESME, Origin::User, ecs30),
    UseCase {
        name: "ECS30",
        srv: "6.8",
        devices: ESME,
        origin: Origin::User,
        fits: is_monthly,
        build: ecs30,
    },
    use_case!("ECS48", "6.26", ESME, Origin::User, ecs48),
];

const SINGLE_ACTION_SCHEDULE: u16 = 22;
const EXECUTION_TIME: i8 = 4;
const ANY: u8 = 0xff;

fn is_monthly(b: &Body) -> bool {
    matches!(b, Body::UpdateDeviceConfigurationBillingCalendar(c)
        if matches!(&**c, BillingCalendar::ElectricityBillingCalendar(e)
            if matches!(e.choice, ElectricityBillingCalendarChoice::Monthly(_))))
}

/// One execution time: `{ time, date }`.
fn entry(time: [u8; 4], month: u8, day: u8, weekday: u8) -> Value {
    Value::Structure(vec![
        Value::OctetString(time.to_vec()),
        Value::OctetString(vec![ANY, ANY, month, day, weekday]),
    ])
}

/// An `xs:time` (`hh:mm:ss[.fff][Z|±hh:mm]`) as the COSEM time octets in UTC.
fn utc_time(i: &Input<'_>, field: &'static str, text: &str) -> Result<[u8; 4], TransformError> {
    let bad = || i.field(field, format!("{text:?} is not a time of day hh:mm:ss"));
    let (clock, zone) = match text.find(['Z', '+', '-']) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let mut parts = clock.splitn(3, ':');
    let (Some(h), Some(m), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let (s, fraction) = s.split_once('.').unwrap_or((s, ""));
    let number = |t: &str, max: u32| -> Result<u32, TransformError> {
        if t.len() != 2 || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        t.parse().ok().filter(|v| *v <= max).ok_or_else(bad)
    };
    let (h, m, s) = (number(h, 23)?, number(m, 59)?, number(s, 59)?);
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let hundredths = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(2)
        .fold(0u8, |acc, d| acc * 10 + (d - b'0'));
    let offset_minutes: i64 = match zone {
        "" | "Z" => 0,
        z => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let (zh, zm) = z[1..].split_once(':').ok_or_else(bad)?;
            sign * i64::from(number(zh, 14)? * 60 + number(zm, 59)?)
        }
    };
    let minutes = (i64::from(h * 60 + m) - offset_minutes).rem_euclid(24 * 60);
    let (h, m) = (minutes / 60, minutes % 60);
    Ok([
        u8::try_from(h).map_err(|_| bad())?,
        u8::try_from(m).map_err(|_| bad())?,
        u8::try_from(s).map_err(|_| bad())?,
        hundredths,
    ])
}

/// ECS30 / ECS30a: the billing schedule's execution times.
fn ecs30(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::UpdateDeviceConfigurationBillingCalendar(c) = i.body else {
        return Err(i.wrong_body());
    };
    let BillingCalendar::ElectricityBillingCalendar(e) = &**c else {
        return Err(i.field(
            "GasBillingCalendar",
            "an electricity meter takes ElectricityBillingCalendar",
        ));
    };
    let time = utc_time(i, "BillingTime", e.billing_time.as_str())?;
    let small = |field: &'static str, v: u64, range: std::ops::RangeInclusive<u8>| {
        u8::try_from(v)
            .ok()
            .filter(|v| range.contains(v))
            .ok_or_else(|| i.field(field, format!("{v} is out of range {range:?}")))
    };
    use ElectricityBillingCalendarChoice as P;
    let entries = match &e.choice {
        P::Daily(_) => vec![entry(time, ANY, ANY, ANY)],
        P::Weekly(d) => vec![entry(time, ANY, ANY, small("Weekly", *d, 1..=7)?)],
        P::Monthly(d) => vec![entry(time, ANY, small("Monthly", *d, 1..=31)?, ANY)],
        P::Quarterly(q) | P::SixMonthly(q) | P::Yearly(q) => {
            let every = match &e.choice {
                P::Quarterly(_) => 3,
                P::SixMonthly(_) => 6,
                _ => 12,
            };
            let day = small("DayOfMonth", q.day_of_month, 1..=31)?;
            let start = small(
                "BillingPeriodStartMonth",
                q.billing_period_start_month,
                1..=12,
            )?;
            let mut months: Vec<u8> = (0..12 / every)
                .map(|k| (start - 1 + k * every) % 12 + 1)
                .collect();
            months.sort_unstable();
            months
                .into_iter()
                .map(|m| entry(time, m, day, ANY))
                .collect()
        }
    };
    Ok(set_execution_times(i, obis(0, 0, 15, 0, 0, 255), entries))
}

/// ECS48: the tariff block counter reset schedule, midnight daily when on, never when off.
fn ecs48(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::UpdateDeviceConfigurationDailyResettingOfTariffBlockCounterMatrix(b) = i.body else {
        return Err(i.wrong_body());
    };
    let entries = if b.daily_tariff_block_counter_matrix_reset {
        vec![entry([0; 4], ANY, ANY, ANY)]
    } else {
        Vec::new()
    };
    Ok(set_execution_times(i, obis(0, 0, 15, 1, 0, 255), entries))
}

/// The set of a Single Action Schedule's execution times.
fn set_execution_times(i: &Input<'_>, schedule: [u8; 6], entries: Vec<Value>) -> Vec<u8> {
    Request::new()
        .set(
            SINGLE_ACTION_SCHEDULE,
            schedule,
            EXECUTION_TIME,
            Value::Array(entries),
        )
        .encode(i.counter)
}
