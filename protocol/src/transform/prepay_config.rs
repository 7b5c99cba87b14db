//! 2.1 Update Prepay Configuration on the ESME (ECS08), critical and future-datable (its
//! Schedule entries, [`ScheduleEntry`], serve the ALCS scheduler, ECS46c, too): the
//! credit thresholds and the non-disablement calendar (the times the supply is not
//! disabled for want of credit), as the RTDS commands lay them out, which
//! `protocol/tests/transform_rtds.rs` compares byte for byte:
//!
//! 1. the non-disablement special days (Special Days Table 0-1:11.0.2.255, attribute 2):
//!    for each special day its index, its date (COSEM date, `FFFF` for a wildcard year
//!    and `FF` for an unspecified field) and the index again as day ID;
//! 2. the maximum meter balance (0-0:94.44.2.20, attribute 2) and the maximum credit
//!    threshold (0-0:94.44.2.10, attribute 4);
//! 3. the non-disablement schedule (Schedule 0-1:12.0.1.255, attribute 2): one enabled
//!    entry per `ElectricityNonDisablementSchedule`, numbered from 1, running script
//!    0-0:10.0.106.255 with selector 32 (`START`) or 33 (`STOP`) at its switch time
//!    (hh mm ss hundredths), validity window `FFFF`, the days of the week it applies on
//!    (7 bits, Monday first), the special days it applies on (one bit per special day of
//!    the request, the first first) and its start and end dates;
//! 4. the passive debt recovery rate cap (0-0:94.44.128.12, `long-unsigned`) and its period
//!    (0-0:94.44.128.13: one week, 604 800 seconds, which the request does not carry), the
//!    low credit threshold (128.9), the emergency credit limit (128.2), then the activation
//!    time of 128.31, the emergency credit threshold (128.3), and the activation times of
//!    2.20, 2.10, 128.12, 128.13, 128.9, 128.2, 128.3 and 128.28, each the execution time (all
//!    zero: now; `FF`: cancellation).

use super::axdr::{Request, Value, obis};
use super::tariff::{activation, date, special_day_entry, switch_time};
use super::{ESME, Input, TransformError, UseCase};
use crate::duis::model::Body;
use crate::duis::model::body::{
    DateType, DayOfWeekID, ElectricityNonDisablementSchedule, NonDisablementScript,
    UpdatePrepayConfigurationChoice,
};
use crate::duis::model::xsd;

pub(crate) static USE_CASES: &[UseCase] = &[UseCase {
    name: "ECS08",
    srv: "2.1",
    devices: ESME,
    origin: super::Origin::User,
    fits: |b| {
        matches!(b, Body::UpdatePrepayConfiguration(p)
            if matches!(p.choice, UpdatePrepayConfigurationChoice::UpdatePrepayConfigElectricity(_)))
    },
    build: ecs08,
}];

const SPECIAL_DAYS: [u8; 6] = obis(0, 1, 11, 0, 2, 255);
const SCHEDULE: [u8; 6] = obis(0, 1, 12, 0, 1, 255);
const SCRIPTS: [u8; 6] = obis(0, 0, 10, 0, 106, 255);
const MAX_METER_BALANCE: [u8; 6] = obis(0, 0, 94, 44, 2, 20);
const MAX_CREDIT_THRESHOLD: [u8; 6] = obis(0, 0, 94, 44, 2, 10);
const DEBT_RECOVERY_RATE_CAP: [u8; 6] = obis(0, 0, 94, 44, 128, 12);
const DEBT_RECOVERY_CAP_PERIOD: [u8; 6] = obis(0, 0, 94, 44, 128, 13);
const LOW_CREDIT_THRESHOLD: [u8; 6] = obis(0, 0, 94, 44, 128, 9);
const EMERGENCY_CREDIT_LIMIT: [u8; 6] = obis(0, 0, 94, 44, 128, 2);
const EMERGENCY_CREDIT_THRESHOLD: [u8; 6] = obis(0, 0, 94, 44, 128, 3);
/// Objects activated with the configuration but not written by it.
const SCHEDULE_ACTIVATION: [u8; 6] = obis(0, 0, 94, 44, 128, 31);
const CALENDAR_ACTIVATION: [u8; 6] = obis(0, 0, 94, 44, 128, 28);
/// The debt recovery rate cap period: one week, seconds.
const ONE_WEEK_S: i32 = 604_800;
/// Script selectors of the non-disablement schedule.
const START: u16 = 32;
const STOP: u16 = 33;
/// Every entry of the schedule is valid whenever the meter was off (no window).
const ANY_VALIDITY: u16 = 0xffff;

fn ecs08(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::UpdatePrepayConfiguration(b) = i.body else {
        return Err(i.wrong_body());
    };
    let UpdatePrepayConfigurationChoice::UpdatePrepayConfigElectricity(c) = &b.choice else {
        return Err(i.wrong_body());
    };
    let calendar = &c.electricity_non_disablement_calendar;
    let special = &calendar.electricity_special_days.special_day;
    let mut special_days = Vec::with_capacity(special.len());
    for s in special {
        special_days.push(numbered_special_day(
            i,
            ("SpecialDay/@index", "SpecialDay/Date"),
            s.index,
            &s.date,
        )?);
    }
    let mut entries = Vec::new();
    for (n, s) in calendar
        .electricity_non_disablement_schedule
        .iter()
        .enumerate()
    {
        entries.push(schedule_entry(i, n + 1, s, special.len())?);
    }
    let at = activation(i.execution(b.execution_date_time.as_ref())?);
    let mut r = Request::new()
        .set(11, SPECIAL_DAYS, 2, Value::Array(special_days))
        .set(
            9000,
            MAX_METER_BALANCE,
            2,
            Value::DoubleLong(c.max_meter_balance),
        )
        .set(
            9000,
            MAX_CREDIT_THRESHOLD,
            4,
            Value::DoubleLong(c.max_credit_threshold),
        )
        .set(10, SCHEDULE, 2, Value::Array(entries))
        .set(
            9000,
            DEBT_RECOVERY_RATE_CAP,
            4,
            Value::LongUnsigned(c.debt_recovery_rate_cap),
        )
        .set(
            9000,
            DEBT_RECOVERY_CAP_PERIOD,
            4,
            Value::DoubleLong(ONE_WEEK_S),
        )
        .set(
            9000,
            LOW_CREDIT_THRESHOLD,
            4,
            Value::DoubleLong(c.low_credit_threshold),
        )
        .set(
            9000,
            EMERGENCY_CREDIT_LIMIT,
            4,
            Value::DoubleLong(c.emergency_credit_limit),
        )
        .set(9000, SCHEDULE_ACTIVATION, 6, at.clone())
        .set(
            9000,
            EMERGENCY_CREDIT_THRESHOLD,
            4,
            Value::DoubleLong(c.emergency_credit_threshold),
        );
    for object in [
        MAX_METER_BALANCE,
        MAX_CREDIT_THRESHOLD,
        DEBT_RECOVERY_RATE_CAP,
        DEBT_RECOVERY_CAP_PERIOD,
        LOW_CREDIT_THRESHOLD,
        EMERGENCY_CREDIT_LIMIT,
        EMERGENCY_CREDIT_THRESHOLD,
        CALENDAR_ACTIVATION,
    ] {
        r = r.set(9000, object, 6, at.clone());
    }
    Ok(r.encode(i.counter))
}

/// A special day of the non-disablement and ALCS calendars: its index, its date, and the
/// index again as its day ID. `fields` name the index and the date in errors.
pub(crate) fn numbered_special_day(
    i: &Input<'_>,
    (index_field, date_field): (&'static str, &'static str),
    index: u64,
    on: &DateType,
) -> Result<Value, TransformError> {
    let index =
        u16::try_from(index).map_err(|_| i.field(index_field, format!("{index} out of range")))?;
    Ok(special_day_entry(
        index,
        date(i, date_field, on)?,
        u8::try_from(index).unwrap_or(u8::MAX),
    ))
}

/// Entry `n` of the non-disablement schedule (see the module documentation); the request
/// defines `special_days` special days.
fn schedule_entry(
    i: &Input<'_>,
    n: usize,
    s: &ElectricityNonDisablementSchedule,
    special_days: usize,
) -> Result<Value, TransformError> {
    let times = &s.schedule_dates_and_time;
    let selector = match s.non_disablement_script {
        NonDisablementScript::Start => START,
        NonDisablementScript::Stop => STOP,
    };
    ScheduleEntry {
        script: SCRIPTS,
        selector,
        weekdays: s
            .days_of_week_applicability
            .day_of_week_applicability
            .iter()
            .map(|d| d.day_of_week_id)
            .collect(),
        special_days: s
            .special_days_applicability
            .special_day_applicability
            .iter()
            .map(|a| a.special_day_id)
            .collect(),
        switch_time: times.switch_time.as_str(),
        start: cosem_date(i, "StartDate", &times.start_date)?,
        end: cosem_date(i, "EndDate", &times.end_date)?,
    }
    .encode(i, n, special_days)
}

/// One entry of a Schedule (class 10) as the non-disablement and ALCS schedules write it:
/// its number from 1, enabled, the script and selector, the switch time (hh mm ss
/// hundredths), validity window `FFFF`, the days of the week (7 bits, Monday first), the
/// special days (one bit per special day the request defines, the first first) and the
/// start and end dates (COSEM dates).
pub(crate) struct ScheduleEntry<'a> {
    pub(crate) script: [u8; 6],
    pub(crate) selector: u16,
    pub(crate) weekdays: Vec<DayOfWeekID>,
    /// The special days (1-based IDs) it applies on.
    pub(crate) special_days: Vec<u64>,
    pub(crate) switch_time: &'a str,
    pub(crate) start: [u8; 5],
    pub(crate) end: [u8; 5],
}

impl ScheduleEntry<'_> {
    /// Entry `n`, for a request that defines `special_days` special days.
    pub(crate) fn encode(
        &self,
        i: &Input<'_>,
        n: usize,
        special_days: usize,
    ) -> Result<Value, TransformError> {
        let index = u16::try_from(n).map_err(|_| i.field("Schedule", format!("{n} entries")))?;
        let mut weekdays = 0u8;
        for d in &self.weekdays {
            let bit = match d {
                DayOfWeekID::Monday => 0,
                DayOfWeekID::Tuesday => 1,
                DayOfWeekID::Wednesday => 2,
                DayOfWeekID::Thursday => 3,
                DayOfWeekID::Friday => 4,
                DayOfWeekID::Saturday => 5,
                DayOfWeekID::Sunday => 6,
            };
            weekdays |= 0x80 >> bit;
        }
        let mut applicable = vec![0u8; special_days.div_ceil(8)];
        for &id in &self.special_days {
            let k = usize::try_from(id)
                .ok()
                .filter(|k| (1..=special_days).contains(k))
                .ok_or_else(|| {
                    i.field(
                        "SpecialDayID",
                        format!("{id} names none of the {special_days} special days"),
                    )
                })?;
            applicable[(k - 1) / 8] |= 0x80 >> ((k - 1) % 8);
        }
        Ok(Value::Structure(vec![
            Value::LongUnsigned(index),
            Value::Boolean(true),
            Value::OctetString(self.script.to_vec()),
            Value::LongUnsigned(self.selector),
            Value::OctetString(switch_time(i, self.switch_time)?.to_vec()),
            Value::LongUnsigned(ANY_VALIDITY),
            Value::BitString {
                bits: 7,
                bytes: vec![weekdays],
            },
            Value::BitString {
                bits: special_days,
                bytes: applicable,
            },
            Value::OctetString(self.start.to_vec()),
            Value::OctetString(self.end.to_vec()),
        ]))
    }
}

/// An `xs:date` as a COSEM date: year (65535, the DUIS wildcard, as `FFFF`), month, day,
/// day of week unspecified (`FF`). A time zone is ignored, as for switch times.
fn cosem_date(
    i: &Input<'_>,
    field: &'static str,
    d: &xsd::Date,
) -> Result<[u8; 5], TransformError> {
    let text = d.as_str();
    let bad = || i.field(field, format!("{text:?} is not a date of year 0 to 65535"));
    let (year, rest) = text.split_once('-').ok_or_else(bad)?;
    let year: u16 = year.parse().map_err(|_| bad())?;
    let month: u8 = rest
        .get(0..2)
        .and_then(|m| m.parse().ok())
        .ok_or_else(bad)?;
    let day: u8 = rest
        .get(3..5)
        .and_then(|m| m.parse().ok())
        .ok_or_else(bad)?;
    let y = year.to_be_bytes();
    Ok([y[0], y[1], month, day, 0xff])
}
