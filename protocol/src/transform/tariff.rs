//! 1.1.1 Update Import Tariff (Primary Element), critical and future-datable on the device.
//!
//! ESME (ECS01a): the passive tariff is written and then activated at the execution time:
//!
//! - the Activity Calendar (class 20, 0-0:13.0.0.255) passive season profiles (attribute 7:
//!   name, start date as a COSEM date-time at midnight, week), week profiles (8: week name
//!   and the day profile of each weekday) and day profiles (9: for each switch time the
//!   tariff script 0-0:10.0.100.255 with selector *n* for TOU rate *n*, 100 + *n* for block
//!   tariff action *n*);
//! - the Special Days table (class 11, 0-1:11.0.0.255, attribute 2: index, date, day
//!   profile);
//! - the block thresholds of TOU rates 1–8 (Register Monitors 0-0:16.1.11–18.255);
//! - the currency (0-0:94.44.2.0 attribute 4: true for GBP);
//! - the standing charge and the price matrix (Charge objects 0-0:19.20.4.255 and
//!   0-0:19.20.0.255, passive unit charge): 48 TOU prices (indices `01`–`30`) then 4 × 8 block
//!   prices (`a1`–`a8` for block 1 of TOU rates 1–8, … `d1`–`d8`), absent prices 0;
//! - six activation times, all the execution time (all zero: now; `FF`: cancellation).
//!
//! 1.1.2 Update Import Tariff (Secondary Element), critical and future-datable (ECS01c):
//! the secondary element's price matrix (as ECS01d's, below), its Activity Calendar
//! 0-0:13.0.1.255 (as the primary one, TOU rate *n* running script 200 + *n*) and Special
//! Days 0-1:11.0.1.255, then the activation times of the calendar, the prices and
//! 0-0:94.44.128.30.
//!
//! 1.2.1 Update Price (Primary Element) and 1.2.2 (Secondary Element), critical and
//! future-datable: ECS01b sets the standing charge and price matrix as ECS01a does, then
//! their two activation times; ECS01d sets the secondary element's price matrix (Charge
//! 0-0:19.20.5.255 for register 1-20:1.8.0.255: four prices `01`–`04`, absent ones 0) and its
//! activation time; the gas meter's GCS01b publishes GCS01a's *Publish Tariff Information*
//! (with the body's number of thresholds) and *Publish Price Matrix*, without the calendar
//! and thresholds.

use super::axdr::{Request, Value, obis};
use super::{DeviceType, Execution, Input, Origin, TransformError, UseCase};
use crate::duis::model::Body;
use crate::duis::model::body::{
    CurrencyUnits, DateType, DayOfMonth, DayOfWeek, ElecBlocks, ElecPriceElementsPrimary,
    ElecPriceElementsPrimaryTariff, ElecPrimaryTOUPrice, ElecProfileSchedulePrimaryTariffAction,
    ElecSeasonsPrimary, ElecSpecialDaysPrimary, ElecTariffElements, ElecWeekProfiles, Month,
    PricePrimary, TariffPrimaryElement, TariffPrimaryElementTariffElements, Year,
};
use crate::gbcs::CosemDateTime;

pub(crate) static USE_CASES: &[UseCase] = &[
    UseCase {
        name: "ECS01a",
        srv: "1.1.1",
        devices: &[DeviceType::Esme],
        origin: Origin::User,
        fits: is_electricity,
        build: ecs01a,
    },
    UseCase {
        name: "ECS01b",
        srv: "1.2.1",
        devices: &[DeviceType::Esme],
        origin: Origin::User,
        fits: |b| {
            matches!(b, Body::UpdatePricePrimaryElement(p)
                if matches!(p.price_elements, PricePrimary::ElectricityPriceElements(_)))
        },
        build: ecs01b,
    },
    UseCase {
        name: "ECS01c",
        srv: "1.1.2",
        devices: &[DeviceType::Esme],
        origin: Origin::User,
        fits: |b| matches!(b, Body::UpdateImportTariffSecondaryElement(_)),
        build: ecs01c,
    },
    UseCase {
        name: "ECS01d",
        srv: "1.2.2",
        devices: &[DeviceType::Esme],
        origin: Origin::User,
        fits: |b| matches!(b, Body::UpdatePriceSecondaryElement(_)),
        build: ecs01d,
    },
];

fn is_electricity(b: &Body) -> bool {
    matches!(b, Body::UpdateImportTariffPrimaryElement(t) if matches!(
        **t,
        TariffPrimaryElement {
            tariff_elements: TariffPrimaryElementTariffElements::ElecTariffElements(_),
            price_elements: PricePrimary::ElectricityPriceElements(_),
            ..
        }
    ))
}

const CALENDAR: [u8; 6] = obis(0, 0, 13, 0, 0, 255);
const SPECIAL_DAYS: [u8; 6] = obis(0, 1, 11, 0, 0, 255);
const TARIFF_SCRIPTS: [u8; 6] = obis(0, 0, 10, 0, 100, 255);
const CURRENCY: [u8; 6] = obis(0, 0, 94, 44, 2, 0);
const STANDING_CHARGE: [u8; 6] = obis(0, 0, 19, 20, 4, 255);
const PRICES: [u8; 6] = obis(0, 0, 19, 20, 0, 255);
/// The secondary element's price matrix (twin-element meters), and the register it prices.
const SECONDARY_PRICES: [u8; 6] = obis(0, 0, 19, 20, 5, 255);
const SECONDARY_IMPORT: [u8; 6] = obis(1, 20, 1, 8, 0, 255);
/// Prices of the secondary element's matrix.
const SECONDARY_TOU_PRICES: u8 = 4;
/// The secondary element's Activity Calendar and Special Days table.
const SECONDARY_CALENDAR: [u8; 6] = obis(0, 0, 13, 0, 1, 255);
const SECONDARY_SPECIAL_DAYS: [u8; 6] = obis(0, 1, 11, 0, 1, 255);
/// Further object activated with the secondary element's tariff.
const SECONDARY_TARIFF_ACTIVATION: [u8; 6] = obis(0, 0, 94, 44, 128, 30);
/// Script selector of the secondary element's TOU rate *n*: 200 + *n*.
const SECONDARY_SCRIPT_BASE: u64 = 200;
/// Further objects activated with the tariff.
const TARIFF_ACTIVATION: [u8; 6] = obis(0, 0, 94, 44, 128, 29);
const BLOCK_ACTIVATION: [u8; 6] = obis(0, 0, 63, 1, 1, 255);

/// Script selector of block tariff action *n*: 100 + *n*.
const BLOCK_SCRIPT_BASE: u16 = 100;
/// TOU prices, then 4 blocks × 8 TOU rates.
const TOU_PRICES: u8 = 48;
const BLOCKS: u8 = 4;
const BLOCK_RATES: u8 = 8;

fn ecs01a(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::UpdateImportTariffPrimaryElement(b) = i.body else {
        return Err(i.wrong_body());
    };
    let (
        TariffPrimaryElementTariffElements::ElecTariffElements(t),
        PricePrimary::ElectricityPriceElements(p),
    ) = (&b.tariff_elements, &b.price_elements)
    else {
        return Err(i.wrong_body());
    };
    let e = i.execution(b.execution_date_time.as_ref())?;
    let mut r = Request::new()
        .set(20, CALENDAR, 7, seasons(i, &t.switching_table.seasons)?)
        .set(20, CALENDAR, 8, weeks(i, &t.switching_table.week_profiles)?)
        .set(20, CALENDAR, 9, days(i, t)?)
        .set(11, SPECIAL_DAYS, 2, special_days(i, &t.special_days)?);
    let mut thresholds = t.threshold_matrix.thresholds.clone();
    thresholds.sort_by_key(|x| x.index);
    for (n, th) in (11u8..=18).zip(&thresholds) {
        let mut blocks = th.block_threshold.clone();
        blocks.sort_by_key(|x| x.index);
        r = r.set(
            21,
            obis(0, 0, 16, 1, n, 255),
            2,
            Value::Array(
                blocks
                    .iter()
                    .map(|x| Value::DoubleLongUnsigned(x.value))
                    .collect(),
            ),
        );
    }
    let at = activation(e);
    Ok(r.set(
        9000,
        CURRENCY,
        4,
        Value::Boolean(t.currency_units == CurrencyUnits::Gbp),
    )
    .set(113, STANDING_CHARGE, 6, standing_charge(i, p)?)
    .set(113, PRICES, 6, prices(i, p)?)
    .set(20, CALENDAR, 10, at.clone())
    .set(9000, TARIFF_ACTIVATION, 6, at.clone())
    .set(9000, CURRENCY, 6, at.clone())
    .set(113, STANDING_CHARGE, 7, at.clone())
    .set(113, PRICES, 7, at.clone())
    .set(9000, BLOCK_ACTIVATION, 6, at)
    .encode(i.counter))
}

/// ECS01b: the primary element's prices alone, as ECS01a sets them: the passive standing
/// charge and price matrix, then their activation time.
fn ecs01b(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::UpdatePricePrimaryElement(b) = i.body else {
        return Err(i.wrong_body());
    };
    let PricePrimary::ElectricityPriceElements(p) = &b.price_elements else {
        return Err(i.wrong_body());
    };
    let at = activation(i.execution(b.execution_date_time.as_ref())?);
    Ok(Request::new()
        .set(113, STANDING_CHARGE, 6, standing_charge(i, p)?)
        .set(113, PRICES, 6, prices(i, p)?)
        .set(113, STANDING_CHARGE, 7, at.clone())
        .set(113, PRICES, 7, at)
        .encode(i.counter))
}

/// ECS01c: the secondary element's tariff: its passive price matrix (as ECS01d's), Activity
/// Calendar (0-0:13.0.1.255: seasons, weeks, and day profiles whose TOU rate *n* runs tariff
/// script 200 + *n*) and Special Days table (0-1:11.0.1.255), then the activation times of
/// the calendar, the prices and 0-0:94.44.128.30.
fn ecs01c(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::UpdateImportTariffSecondaryElement(b) = i.body else {
        return Err(i.wrong_body());
    };
    let st = &b.switching_table;
    let profiles = st.day_profiles.day_profile.iter().map(|d| {
        let actions = d.profile_schedule.iter().map(|p| {
            (
                p.start_time.as_str(),
                SECONDARY_SCRIPT_BASE + p.tou_tariff_action,
            )
        });
        (d.day_name, actions.collect::<Vec<_>>())
    });
    let at = activation(i.execution(b.execution_date_time.as_ref())?);
    Ok(Request::new()
        .set(
            113,
            SECONDARY_PRICES,
            6,
            secondary_prices(i, &b.price_elements)?,
        )
        .set(20, SECONDARY_CALENDAR, 7, seasons(i, &st.seasons)?)
        .set(20, SECONDARY_CALENDAR, 8, weeks(i, &st.week_profiles)?)
        .set(20, SECONDARY_CALENDAR, 9, day_profiles(i, profiles)?)
        .set(
            11,
            SECONDARY_SPECIAL_DAYS,
            2,
            special_days(i, &b.special_days)?,
        )
        .set(20, SECONDARY_CALENDAR, 10, at.clone())
        .set(113, SECONDARY_PRICES, 7, at.clone())
        .set(9000, SECONDARY_TARIFF_ACTIVATION, 6, at)
        .encode(i.counter))
}

/// ECS01d: the secondary element's prices and their activation time.
fn ecs01d(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::UpdatePriceSecondaryElement(b) = i.body else {
        return Err(i.wrong_body());
    };
    Ok(Request::new()
        .set(
            113,
            SECONDARY_PRICES,
            6,
            secondary_prices(i, &b.price_elements)?,
        )
        .set(
            113,
            SECONDARY_PRICES,
            7,
            activation(i.execution(b.execution_date_time.as_ref())?),
        )
        .encode(i.counter))
}

/// The secondary element's passive price matrix: four prices by index (0 where the request
/// gives none) for register 1-20:1.8.0.255.
fn secondary_prices(
    i: &Input<'_>,
    p: &crate::duis::model::body::PriceSecondary,
) -> Result<Value, TransformError> {
    let table = (1..=SECONDARY_TOU_PRICES)
        .map(|n| {
            let price = p
                .electricity_price_element
                .iter()
                .find(|x| x.index == u64::from(n))
                .map_or(0, |x| x.value);
            Value::Structure(vec![Value::OctetString(vec![n]), Value::Long(price)])
        })
        .collect();
    Ok(unit_charge(
        3,
        scale(i, "PriceScale", p.price_scale)?,
        (3, SECONDARY_IMPORT, 2),
        table,
    ))
}

/// The activation time as a COSEM date-time (see the module documentation).
pub(crate) fn activation(e: Execution) -> Value {
    let fill = |b: u8| CosemDateTime {
        year: u16::from_be_bytes([b, b]),
        month: b,
        day: b,
        day_of_week: b,
        hour: b,
        minute: b,
        second: b,
        hundredths: b,
        deviation: i16::MIN,
        clock_status: 0xff,
    };
    Value::date_time(&match e {
        Execution::Now => fill(0),
        Execution::At(t) => t.cosem(),
        Execution::Cancel => fill(0xff),
    })
}

fn small(i: &Input<'_>, field: &'static str, v: u64) -> Result<u8, TransformError> {
    u8::try_from(v).map_err(|_| i.field(field, format!("{v} does not fit one byte")))
}

/// A DUIS date as COSEM (year, month, day, day of week); wildcards as "not specified", last
/// and second-last day of month as `FE` and `FD`.
pub(crate) fn date(
    i: &Input<'_>,
    field: &'static str,
    d: &DateType,
) -> Result<[u8; 5], TransformError> {
    let year = match d.year {
        Year::SpecifiedYear(y) => u16::try_from(y)
            .ok()
            .filter(|y| *y != 0xffff)
            .ok_or_else(|| i.field(field, format!("year {y} out of range")))?,
        Year::NonSpecifiedYear(_) => 0xffff,
    };
    let month = match d.month {
        Month::SpecifiedMonth(m) => small(i, field, m)?,
        Month::NonSpecifiedMonth(_) => 0xff,
    };
    let day = match d.day_of_month {
        DayOfMonth::SpecifiedDayOfMonth(n) => small(i, field, n)?,
        DayOfMonth::LastDayOfMonth(_) => 0xfe,
        DayOfMonth::SecondLastDayOfMonth(_) => 0xfd,
        DayOfMonth::NonSpecifiedDayOfMonth(_) => 0xff,
    };
    let dow = match d.day_of_week {
        DayOfWeek::SpecifiedDayOfWeek(n) => small(i, field, n)?,
        DayOfWeek::NonSpecifiedDayOfWeek(_) => 0xff,
    };
    let y = year.to_be_bytes();
    Ok([y[0], y[1], month, day, dow])
}

fn seasons(i: &Input<'_>, seasons: &ElecSeasonsPrimary) -> Result<Value, TransformError> {
    let mut out = Vec::new();
    for s in &seasons.season {
        let d = date(i, "SeasonStartDate", &s.season_start_date)?;
        let start = CosemDateTime {
            year: u16::from_be_bytes([d[0], d[1]]),
            month: d[2],
            day: d[3],
            day_of_week: d[4],
            hour: 0,
            minute: 0,
            second: 0,
            hundredths: 0,
            deviation: i16::MIN,
            clock_status: 0xff,
        };
        out.push(Value::Structure(vec![
            Value::OctetString(s.season_name.as_bytes().to_vec()),
            Value::date_time(&start),
            Value::OctetString(vec![small(
                i,
                "ReferencedWeekName",
                s.referenced_week_name,
            )?]),
        ]));
    }
    Ok(Value::Array(out))
}

fn weeks(i: &Input<'_>, weeks: &ElecWeekProfiles) -> Result<Value, TransformError> {
    let mut out = Vec::new();
    for w in &weeks.week_profile {
        let mut days = w.referenced_day_name.clone();
        days.sort_by_key(|d| d.index);
        let mut s = vec![Value::OctetString(vec![small(i, "WeekName", w.week_name)?])];
        for d in days {
            s.push(Value::Unsigned(small(i, "ReferencedDayName", d.value)?));
        }
        out.push(Value::Structure(s));
    }
    Ok(Value::Array(out))
}

/// `hh:mm:ss[.ff]` of an `xs:time` (a time zone, if any, is ignored: the templates write
/// `Z`, and switch times are local meter times).
pub(crate) fn switch_time(i: &Input<'_>, text: &str) -> Result<[u8; 4], TransformError> {
    let bad = || i.field("StartTime", format!("{text:?} is not hh:mm:ss[.ff]"));
    let b = text.as_bytes();
    if b.len() < 8 || b[2] != b':' || b[5] != b':' {
        return Err(bad());
    }
    let two = |at: usize| -> Option<u8> {
        let (x, y) = (*b.get(at)?, *b.get(at + 1)?);
        (x.is_ascii_digit() && y.is_ascii_digit()).then(|| (x - b'0') * 10 + (y - b'0'))
    };
    let (h, m, s) = (
        two(0).ok_or_else(bad)?,
        two(3).ok_or_else(bad)?,
        two(6).ok_or_else(bad)?,
    );
    let hundredths = if b.get(8) == Some(&b'.') {
        two(9).ok_or_else(bad)?
    } else {
        0
    };
    if h > 23 || m > 59 || s > 59 {
        return Err(bad());
    }
    Ok([h, m, s, hundredths])
}

/// The primary element's day profiles: TOU rate *n* runs tariff script *n*, block tariff
/// action *n* script 100 + *n*.
fn days(i: &Input<'_>, t: &ElecTariffElements) -> Result<Value, TransformError> {
    let profiles = t.switching_table.day_profiles.day_profile.iter().map(|d| {
        let actions = d.profile_schedule.iter().map(|p| {
            let selector = match p.tariff_action {
                ElecProfileSchedulePrimaryTariffAction::TOUTariffAction(n) => n,
                ElecProfileSchedulePrimaryTariffAction::BlockTariffAction(n) => {
                    u64::from(BLOCK_SCRIPT_BASE) + n
                }
            };
            (p.start_time.as_str(), selector)
        });
        (d.day_name, actions.collect::<Vec<_>>())
    });
    day_profiles(i, profiles)
}

/// The Activity Calendar day profiles attribute: for each day its switch times, each
/// running the tariff script with its selector.
fn day_profiles<'a>(
    i: &Input<'_>,
    days: impl Iterator<Item = (u64, Vec<(&'a str, u64)>)>,
) -> Result<Value, TransformError> {
    let mut out = Vec::new();
    for (name, schedule) in days {
        let mut actions = Vec::new();
        for (start, selector) in schedule {
            let selector = u16::try_from(selector)
                .map_err(|_| i.field("TariffAction", format!("{selector} out of range")))?;
            actions.push(Value::Structure(vec![
                Value::OctetString(switch_time(i, start)?.to_vec()),
                Value::OctetString(TARIFF_SCRIPTS.to_vec()),
                Value::LongUnsigned(selector),
            ]));
        }
        out.push(Value::Structure(vec![
            Value::Unsigned(small(i, "DayName", name)?),
            Value::Array(actions),
        ]));
    }
    Ok(Value::Array(out))
}

fn special_days(i: &Input<'_>, days: &ElecSpecialDaysPrimary) -> Result<Value, TransformError> {
    let mut out = Vec::new();
    for (n, s) in days.special_day.iter().enumerate() {
        out.push(special_day_entry(
            u16::try_from(n + 1).unwrap_or(u16::MAX),
            date(i, "SpecialDay/Date", &s.date)?,
            small(i, "ReferencedDayName", s.referenced_day_name)?,
        ));
    }
    Ok(Value::Array(out))
}

/// An entry of a Special Days table (class 11, attribute 2): its index, its COSEM date and
/// the day profile it selects.
pub(crate) fn special_day_entry(index: u16, date: [u8; 5], day: u8) -> Value {
    Value::Structure(vec![
        Value::LongUnsigned(index),
        Value::OctetString(date.to_vec()),
        Value::Unsigned(day),
    ])
}

fn scale(i: &Input<'_>, field: &'static str, v: i64) -> Result<i8, TransformError> {
    i8::try_from(v).map_err(|_| i.field(field, format!("{v} out of range")))
}

/// Charge `unit_charge`: scaler-unit (commodity scale, price scale), the commodity
/// reference, and the charge table.
fn unit_charge(
    commodity_scale: i8,
    price_scale: i8,
    commodity: (u16, [u8; 6], i8),
    table: Vec<Value>,
) -> Value {
    Value::Structure(vec![
        Value::Structure(vec![
            Value::Integer(commodity_scale),
            Value::Integer(price_scale),
        ]),
        Value::Structure(vec![
            Value::LongUnsigned(commodity.0),
            Value::OctetString(commodity.1.to_vec()),
            Value::Integer(commodity.2),
        ]),
        Value::Array(table),
    ])
}

fn standing_charge(i: &Input<'_>, p: &ElecPriceElementsPrimary) -> Result<Value, TransformError> {
    Ok(unit_charge(
        0,
        scale(i, "StandingChargeScale", p.standing_charge_scale)?,
        (0, [0; 6], 0),
        vec![Value::Structure(vec![
            Value::OctetString(Vec::new()),
            Value::Long(p.standing_charge),
        ])],
    ))
}

fn prices(i: &Input<'_>, p: &ElecPriceElementsPrimary) -> Result<Value, TransformError> {
    let (blocks, tou): (&[ElecBlocks], &[ElecPrimaryTOUPrice]) = match &p.tariff {
        ElecPriceElementsPrimaryTariff::BlockTariff(b) => (&b.block_prices, &[]),
        ElecPriceElementsPrimaryTariff::TOUTariff(t) => (&[], &t.tou_price),
        ElecPriceElementsPrimaryTariff::HybridTariff(h) => (&h.block_prices, &h.tou_price),
    };
    let mut table = Vec::new();
    for n in 1..=TOU_PRICES {
        let price = tou
            .iter()
            .find(|x| x.index == u64::from(n))
            .map_or(0, |x| x.value);
        table.push(Value::Structure(vec![
            Value::OctetString(vec![n]),
            Value::Long(price),
        ]));
    }
    for block in 1..=BLOCKS {
        for rate in 1..=BLOCK_RATES {
            let price = blocks
                .iter()
                .find(|x| x.index == u64::from(rate))
                .and_then(|x| x.block_price.iter().find(|y| y.index == u64::from(block)))
                .map_or(0, |y| y.value);
            table.push(Value::Structure(vec![
                Value::OctetString(vec![0xa0 + 0x10 * (block - 1) + rate]),
                Value::Long(price),
            ]));
        }
    }
    Ok(unit_charge(
        3,
        scale(i, "PriceScale", p.price_scale)?,
        (3, obis(1, 0, 1, 8, 0, 255), 2),
        table,
    ))
}

/// GSME (GCS01a): the tariff is published to the meter with the Calendar and Price
/// clusters' publish commands, all with provider 0, the current time as issuer event ID (and
/// issuer calendar ID), issuer tariff ID 1, and the execution time as start time (0: now;
/// `FFFFFFFE`, or `FFFFFFFF` for *Publish Tariff Information*: cancellation):
///
/// - *Publish Calendar* (delivered calendar, no name, the numbers of seasons, weeks and days);
/// - one *Publish Day Profile* per day: a single entry from midnight with the TOU tier, or
///   tier 0 for a block-tariff day;
/// - one *Publish Week Profile* per week (day profile of Monday … Sunday);
/// - *Publish Seasons* (start dates in ZCL date form: year − 1900, `FF` unspecified);
/// - *Publish Special Days*;
/// - *Publish Tariff Information* (block or TOU scheme, tiers or thresholds in use, kWh, GBP
///   (ISO 4217 826), 5 trailing price digits, the standing charge, threshold divisor 1000);
/// - for a block tariff, *Publish Block Thresholds* (48-bit thresholds);
/// - *Publish Price Matrix* (block prices by block, or TOU prices by tier).
pub(crate) static GAS_USE_CASES: &[UseCase] = &[
    UseCase {
        name: "GCS01a",
        srv: "1.1.1",
        devices: &[DeviceType::Gsme],
        origin: Origin::User,
        fits: is_gas,
        build: gcs01a,
    },
    UseCase {
        name: "GCS01b",
        srv: "1.2.1",
        devices: &[DeviceType::Gsme],
        origin: Origin::User,
        fits: |b| {
            matches!(b, Body::UpdatePricePrimaryElement(p)
                if matches!(p.price_elements, PricePrimary::GasPriceElements(_)))
        },
        build: gcs01b,
    },
];

fn is_gas(b: &Body) -> bool {
    matches!(b, Body::UpdateImportTariffPrimaryElement(t) if matches!(
        **t,
        TariffPrimaryElement {
            tariff_elements: TariffPrimaryElementTariffElements::GasTariffElements(_),
            price_elements: PricePrimary::GasPriceElements(_),
            ..
        }
    ))
}

/// Calendar cluster publish commands.
const PUBLISH_CALENDAR: u8 = 0x00;
const PUBLISH_DAY_PROFILE: u8 = 0x01;
const PUBLISH_WEEK_PROFILE: u8 = 0x02;
const PUBLISH_SEASONS: u8 = 0x03;
const PUBLISH_SPECIAL_DAYS: u8 = 0x04;
/// Price cluster publish commands.
const PUBLISH_TARIFF_INFORMATION: u8 = 0x04;
const PUBLISH_PRICE_MATRIX: u8 = 0x05;
const PUBLISH_BLOCK_THRESHOLDS: u8 = 0x06;
/// Calendar type: delivered calendar.
const DELIVERED_CALENDAR: u8 = 0x00;
/// Issuer tariff ID of the published tariff.
const ISSUER_TARIFF_ID: u32 = 1;
/// Tariff type / charging scheme: TOU (delivered), block (delivered).
const SCHEME_TOU: u8 = 0x00;
const SCHEME_BLOCK: u8 = 0x10;
/// ISO 4217 code of pound sterling (and of the euro).
const CURRENCY_GBP: u16 = 826;
const CURRENCY_EUR: u16 = 978;
/// Price trailing digit (upper nibble: 5 digits after the decimal point).
const PRICE_TRAILING_DIGIT: u8 = 0x50;
/// Tier block mode: not used.
const TIER_BLOCK_MODE_UNUSED: u8 = 0xff;
/// Block thresholds are in units of 1/1000.
const THRESHOLD_DIVISOR: u32 = 1000;

fn zcl_date(
    i: &Input<'_>,
    field: &'static str,
    d: &crate::duis::model::body::GasDateWithWildcards,
) -> Result<[u8; 4], TransformError> {
    use crate::duis::model::body::GasDayOfMonthWithWildcards;
    let year = match d.gas_year_with_wildcards {
        Year::SpecifiedYear(y) => y
            .checked_sub(1900)
            .and_then(|y| u8::try_from(y).ok())
            .filter(|y| *y != 0xff)
            .ok_or_else(|| i.field(field, format!("year {y} is outside 1900–2154")))?,
        Year::NonSpecifiedYear(_) => 0xff,
    };
    let month = match d.gas_month_with_wildcards {
        Month::SpecifiedMonth(m) => small(i, field, m)?,
        Month::NonSpecifiedMonth(_) => 0xff,
    };
    let day = match d.gas_day_of_month_with_wildcards {
        GasDayOfMonthWithWildcards::SpecifiedDayOfMonth(n) => small(i, field, n)?,
        GasDayOfMonthWithWildcards::GasNonSpecifiedDayOfMonth(_) => 0xff,
    };
    let dow = match d.gas_day_of_week_with_wildcards {
        DayOfWeek::SpecifiedDayOfWeek(n) => small(i, field, n)?,
        DayOfWeek::NonSpecifiedDayOfWeek(_) => 0xff,
    };
    Ok([year, month, day, dow])
}

fn gcs01a(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    use super::zcl::{self, Command, Fields, cluster};
    use crate::duis::model::body::GasDayProfileChoice;
    let Body::UpdateImportTariffPrimaryElement(b) = i.body else {
        return Err(i.wrong_body());
    };
    let (
        TariffPrimaryElementTariffElements::GasTariffElements(t),
        PricePrimary::GasPriceElements(p),
    ) = (&b.tariff_elements, &b.price_elements)
    else {
        return Err(i.wrong_body());
    };
    let (start, tariff_start, now) = gas_start_times(i, b.execution_date_time.as_ref())?;
    let head = |f: Fields| f.u32(0).u32(now);
    let calendar = |f: Fields| head(f).u32(now);
    let publish = |command: u8, payload: Fields| {
        Command::cluster(cluster::CALENDAR, command, payload.done())
            .frame_control(zcl::CLUSTER_SPECIFIC_NO_DEFAULT_RESPONSE)
    };
    let st = &t.switching_table;
    let count = |n: usize, what: &'static str| {
        u8::try_from(n).map_err(|_| i.field(what, format!("{n} entries")))
    };
    let mut commands = vec![publish(
        PUBLISH_CALENDAR,
        calendar(Fields::new())
            .u32(start)
            .u8(DELIVERED_CALENDAR)
            .u8(0)
            .string(&[])
            .u8(count(st.seasons.season.len(), "Seasons")?)
            .u8(count(st.week_profiles.week_profile.len(), "WeekProfiles")?)
            .u8(count(st.day_profiles.day_profile.len(), "DayProfiles")?),
    )];
    for d in &st.day_profiles.day_profile {
        let tier = match d.choice {
            GasDayProfileChoice::TOUTariffAction(n) => small(i, "TOUTariffAction", n)?,
            GasDayProfileChoice::BlockTariff(_) => 0,
        };
        // One schedule entry, command 0 of 1, from midnight.
        commands.push(publish(
            PUBLISH_DAY_PROFILE,
            calendar(Fields::new())
                .u8(small(i, "DayName", d.day_name)?)
                .u8(1)
                .u8(0)
                .u8(1)
                .u8(DELIVERED_CALENDAR)
                .u16(0)
                .u8(tier),
        ));
    }
    for w in &st.week_profiles.week_profile {
        let mut days = w.referenced_day_name.clone();
        days.sort_by_key(|d| d.index);
        let mut f = calendar(Fields::new()).u8(small(i, "WeekName", w.week_name)?);
        for d in days {
            f = f.u8(small(i, "ReferencedDayName", d.value)?);
        }
        commands.push(publish(PUBLISH_WEEK_PROFILE, f));
    }
    let mut f = calendar(Fields::new()).u8(0).u8(1);
    for s in &st.seasons.season {
        for b in zcl_date(i, "SeasonStartDate", &s.season_start_date)? {
            f = f.u8(b);
        }
        f = f.u8(small(i, "ReferencedWeekName", s.referenced_week_name)?);
    }
    commands.push(publish(PUBLISH_SEASONS, f));
    let special = &t.special_days.special_day;
    let mut f = calendar(Fields::new())
        .u32(start)
        .u8(DELIVERED_CALENDAR)
        .u8(count(special.len(), "SpecialDays")?)
        .u8(0)
        .u8(1);
    for s in special {
        for b in zcl_date(i, "SpecialDay/Date", &s.date)? {
            f = f.u8(b);
        }
        f = f.u8(small(i, "ReferencedDayName", s.referenced_day_name)?);
    }
    commands.push(publish(PUBLISH_SPECIAL_DAYS, f));

    let mut th = t.threshold_matrix.block_threshold.clone();
    th.sort_by_key(|x| x.index);
    let thresholds: Vec<u64> = th.into_iter().map(|x| x.value).collect();
    commands.extend(gas_prices(
        i,
        p,
        (start, tariff_start, now),
        Some(&thresholds),
    )?);
    Ok(zcl::encode(&commands))
}

/// GCS01b: the gas prices alone, as GCS01a publishes them (no calendar, no block
/// thresholds).
fn gcs01b(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::UpdatePricePrimaryElement(b) = i.body else {
        return Err(i.wrong_body());
    };
    let PricePrimary::GasPriceElements(p) = &b.price_elements else {
        return Err(i.wrong_body());
    };
    let times = gas_start_times(i, b.execution_date_time.as_ref())?;
    Ok(super::zcl::encode(&gas_prices(i, p, times, None)?))
}

/// The publish start time, the tariff information's start time and the current time for
/// an execution date-time: 0 (now), the execution time, or for a cancellation `FFFFFFFE`
/// and `FFFFFFFF` (*Publish Tariff Information*).
fn gas_start_times(
    i: &Input<'_>,
    execution: Option<&crate::duis::model::xsd::DateTime>,
) -> Result<(u32, u32, u32), TransformError> {
    let (start, tariff_start) = match i.execution(execution)? {
        Execution::Now => (0, 0),
        Execution::At(t) => {
            let z = t
                .zigbee()
                .map_err(|e| i.field("ExecutionDateTime", e.to_string()))?;
            (z, z)
        }
        Execution::Cancel => (0xffff_fffe, 0xffff_ffff),
    };
    Ok((start, tariff_start, i.now_zigbee()?))
}

/// The gas price commands of GCS01a and GCS01b: *Publish Tariff Information*, for a block
/// tariff *Publish Block Thresholds* when the thresholds are given (GCS01a; GCS01b sends the
/// prices alone, with the number of thresholds its body states), and *Publish Price Matrix*.
/// `times` are the publish start, the tariff information's start and the current time
/// (issuer event ID), as [`gcs01a`] derives them.
fn gas_prices(
    i: &Input<'_>,
    p: &crate::duis::model::body::GasPriceElements,
    (start, tariff_start, now): (u32, u32, u32),
    block_thresholds: Option<&[u64]>,
) -> Result<Vec<super::zcl::Command>, TransformError> {
    use super::zcl::{self, Command, Fields, cluster};
    use crate::duis::model::body::GasPriceElementsTariff;
    let head = |f: Fields| f.u32(0).u32(now);
    let price = |command: u8, payload: Fields| {
        Command::cluster(cluster::PRICE, command, payload.done())
            .frame_control(zcl::CLUSTER_SPECIFIC_NO_DEFAULT_RESPONSE)
    };
    let count = |n: usize, what: &'static str| {
        u8::try_from(n).map_err(|_| i.field(what, format!("{n} entries")))
    };
    let mut commands = Vec::new();
    let currency = match p.currency_units {
        CurrencyUnits::Gbp => CURRENCY_GBP,
        CurrencyUnits::Ecb => CURRENCY_EUR,
    };
    let (scheme, tiers, thresholds) = match &p.tariff {
        GasPriceElementsTariff::BlockTariff(m) => {
            let n = match block_thresholds {
                Some(th) => count(th.len(), "ThresholdMatrix")?,
                None => small(i, "NumberOfThresholds", m.number_of_thresholds)?,
            };
            (SCHEME_BLOCK, 0, n)
        }
        GasPriceElementsTariff::TOUTariff(m) => {
            (SCHEME_TOU, count(m.tou_price.len(), "TOUTariff")?, 0)
        }
    };
    commands.push(price(
        PUBLISH_TARIFF_INFORMATION,
        head(Fields::new())
            .u32(ISSUER_TARIFF_ID)
            .u32(tariff_start)
            .u8(scheme)
            .string(&[])
            .u8(tiers)
            .u8(thresholds)
            .u8(0)
            .u16(currency)
            .u8(PRICE_TRAILING_DIGIT)
            .u32(p.standing_charge)
            .u8(TIER_BLOCK_MODE_UNUSED)
            .u24(1)
            .u24(THRESHOLD_DIVISOR),
    ));
    let tariff_head = |f: Fields, control: u8| {
        head(f)
            .u32(start)
            .u32(ISSUER_TARIFF_ID)
            .u8(0)
            .u8(1)
            .u8(control)
    };
    match &p.tariff {
        GasPriceElementsTariff::BlockTariff(m) => {
            if let Some(th) = block_thresholds {
                // Sub-payload control 1: thresholds for every tier; tier 0 ‖ count.
                let mut f = tariff_head(Fields::new(), 1).u8(thresholds & 0x0f);
                for x in th {
                    f = f.u48(*x);
                }
                commands.push(price(PUBLISH_BLOCK_THRESHOLDS, f));
            }
            let mut prices = m.block_price.clone();
            prices.sort_by_key(|x| x.index);
            // Sub-payload control 0: block prices, ID = tier 0 ‖ block − 1.
            let mut f = tariff_head(Fields::new(), 0);
            for x in prices {
                f = f
                    .u8(small(i, "BlockPrice", x.index.saturating_sub(1))?)
                    .u32(x.value);
            }
            commands.push(price(PUBLISH_PRICE_MATRIX, f));
        }
        GasPriceElementsTariff::TOUTariff(m) => {
            let mut prices = m.tou_price.clone();
            prices.sort_by_key(|x| x.index);
            // Sub-payload control 1: TOU prices, ID = tier.
            let mut f = tariff_head(Fields::new(), 1);
            for x in prices {
                f = f.u8(small(i, "TOUPrice", x.index)?).u32(x.value);
            }
            commands.push(price(PUBLISH_PRICE_MATRIX, f));
        }
    }
    Ok(commands)
}
