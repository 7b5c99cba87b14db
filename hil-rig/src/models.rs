//! Populated device states: the COSEM objects, ZigBee attributes and HAN networks the
//! covered use cases read and write, with plain initial values, plus helpers that read and
//! advance the meter data (registers, logs, payment mode, supply state).

use crate::cosem::{Attr, Objects, Profile};
use crate::dlms::{HanDevice, HanNetwork};
use crate::state::{DeviceKind, DeviceState, JoinedDevice};
use crate::time;
use crate::trust::TrustedParties;
use crate::value::{TypeDesc, Value};
use crate::zcl::{ZclAttribute, ZigbeeModel, cluster};

/// Logical names of the ESME objects.
pub mod obis {
    /// Clock.
    pub const CLOCK: [u8; 6] = [0, 0, 1, 0, 0, 255];
    /// Active import energy register.
    pub const IMPORT_ENERGY: [u8; 6] = [1, 0, 1, 8, 0, 255];
    /// Active export energy register.
    pub const EXPORT_ENERGY: [u8; 6] = [1, 0, 2, 8, 0, 255];
    /// Reactive export energy register.
    pub const REACTIVE_EXPORT_ENERGY: [u8; 6] = [1, 0, 4, 8, 0, 255];
    /// Instantaneous import registers (read protected by ECS17b).
    pub const IMPORT_REGISTERS: [u8; 6] = [0, 0, 94, 44, 34, 10];
    /// TOU registers (read protected by ECS17d).
    pub const TOU_REGISTERS: [u8; 6] = [0, 0, 94, 44, 34, 1];
    /// Half-hourly import profile (ECS22b).
    pub const HALF_HOUR_PROFILE: [u8; 6] = [0, 0, 99, 1, 0, 255];
    /// Daily import log (ECS20a).
    pub const DAILY_IMPORT_LOG: [u8; 6] = [0, 0, 98, 1, 4, 255];
    /// Daily export log (ECS20d).
    pub const DAILY_EXPORT_LOG: [u8; 6] = [0, 0, 98, 1, 5, 255];
    /// Billing data log (ECS20b).
    pub const BILLING_LOG: [u8; 6] = [0, 0, 98, 1, 2, 255];
    /// Daily read log (ECS21a).
    pub const DAILY_READ_LOG: [u8; 6] = [0, 0, 98, 1, 9, 255];
    /// Activity calendar (tariff switching table).
    pub const CALENDAR: [u8; 6] = [0, 0, 13, 0, 0, 255];
    /// Special days table.
    pub const SPECIAL_DAYS: [u8; 6] = [0, 1, 11, 0, 0, 255];
    /// The secondary element's Activity Calendar and Special Days table (twin-element
    /// meters).
    pub const SECONDARY_CALENDAR: [u8; 6] = [0, 0, 13, 0, 1, 255];
    pub const SECONDARY_SPECIAL_DAYS: [u8; 6] = [0, 1, 11, 0, 1, 255];
    /// Account (payment mode).
    pub const ACCOUNT: [u8; 6] = [0, 1, 19, 0, 0, 255];
    /// Disconnect control (supply state).
    pub const DISCONNECT_CONTROL: [u8; 6] = [0, 0, 96, 3, 10, 255];
    /// Change of Tenancy date (class 1, attribute 2; set by ECS12).
    pub const CHANGE_OF_TENANCY: [u8; 6] = [0, 0, 94, 44, 3, 2];
    /// Daily consumption log (Profile Generic).
    pub const DAILY_CONSUMPTION_LOG: [u8; 6] = [0, 0, 99, 1, 3, 255];
    /// Event log (Profile Generic).
    pub const EVENT_LOG: [u8; 6] = [0, 0, 99, 98, 0, 255];
    /// Security log (Profile Generic).
    pub const SECURITY_LOG: [u8; 6] = [0, 0, 99, 98, 1, 255];
    /// Auxiliary load control switch event log (Profile Generic).
    pub const ALCS_EVENT_LOG: [u8; 6] = [0, 17, 99, 98, 2, 255];
    /// Supply Script Table (enable, arm).
    pub const SUPPLY_SCRIPTS: [u8; 6] = [0, 0, 10, 0, 106, 255];
    /// Auxiliary load control switches' Script Table.
    pub const SWITCH_SCRIPTS: [u8; 6] = [0, 0, 10, 0, 103, 255];
    /// Export profile (Profile Generic).
    pub const EXPORT_PROFILE: [u8; 6] = [0, 0, 99, 1, 1, 255];
    /// The dual-band CHF's sub-GHz configuration, channel scan request and channel in use.
    pub const SUB_GHZ_CONFIGURATION: [u8; 6] = [0, 0, 94, 44, 10, 0];
    pub const SUB_GHZ_CHANNEL_SCAN: [u8; 6] = [0, 0, 94, 44, 10, 1];
    pub const SUB_GHZ_CHANNEL: [u8; 6] = [0, 0, 94, 44, 10, 2];
    /// Instantaneous power thresholds (Register Monitor).
    pub const POWER_THRESHOLDS: [u8; 6] = [0, 0, 16, 0, 0, 255];
    /// Average RMS voltage profile (4.10), single phase.
    pub const RMS_VOLTAGE_PROFILE: [u8; 6] = [1, 0, 32, 24, 0, 255];
    /// RMS voltage sag and swell counters (4.10, 6.27), single phase.
    pub const RMS_VOLTAGE_COUNTERS: [[u8; 6]; 2] = [[1, 0, 32, 32, 0, 4], [1, 0, 32, 36, 0, 4]];
    /// Prepayment daily read log (4.14).
    pub const PREPAYMENT_DAILY_READ_LOG: [u8; 6] = [0, 0, 98, 1, 8, 255];
    /// Single Action Schedule of billing (6.8).
    pub const BILLING_SCHEDULE: [u8; 6] = [0, 0, 15, 0, 0, 255];
    /// Single Action Schedule of the tariff block counter matrix reset (6.26).
    pub const BLOCK_COUNTER_RESET_SCHEDULE: [u8; 6] = [0, 0, 15, 1, 0, 255];
    /// The boost button's uses (7.11): start and end, UTC seconds.
    pub const BOOST_LOG: [u8; 6] = [0, 0, 99, 98, 20, 255];
}

const DLU: u8 = 6;
const DL: u8 = 5;

fn dlu_array(n: usize) -> Value {
    Value::Array(vec![Value::DoubleLongUnsigned(0); n])
}

fn array_desc(n: u16, element: u8) -> TypeDesc {
    TypeDesc::Array {
        count: n,
        element: Box::new(TypeDesc::Simple(element)),
    }
}

/// The COSEM objects of an ESME: registers, logs, tariff (calendar, special days, block
/// thresholds, charges and the GBCS class 9000 objects), account, credit, clock, disconnect
/// control and the Change of Tenancy date. Values start at zero (empty logs, credit mode, supply connected).
pub fn esme_objects() -> Objects {
    let mut o = Objects::new();
    let scaler = |unit: u8| Value::Structure(vec![Value::Integer(0), Value::Enum(unit)]);
    for (obis, unit) in [
        (obis::IMPORT_ENERGY, 30),
        (obis::EXPORT_ENERGY, 30),
        (obis::REACTIVE_EXPORT_ENERGY, 32),
    ] {
        o.put(Attr::new(3, obis, 2), Value::DoubleLongUnsigned(0));
        o.put(Attr::new(3, obis, 3), scaler(unit));
    }
    o.put(
        Attr::new(1, obis::IMPORT_REGISTERS, 2),
        Value::Structure(vec![
            Value::DoubleLongUnsigned(0),
            scaler(30),
            Value::DoubleLongUnsigned(0),
            scaler(32),
        ]),
    );
    o.put(
        Attr::new(1, obis::TOU_REGISTERS, 2),
        Value::Structure(vec![dlu_array(48)]),
    );
    let pair = TypeDesc::Structure(vec![TypeDesc::Simple(DLU), TypeDesc::Simple(DLU)]);
    o.add_profile(obis::HALF_HOUR_PROFILE, Profile::new(pair.clone(), 48 * 31));
    o.add_profile(obis::DAILY_IMPORT_LOG, Profile::new(pair.clone(), 731));
    o.add_profile(obis::DAILY_EXPORT_LOG, Profile::new(pair, 731));
    let mut registers = vec![
        TypeDesc::Simple(DLU),
        TypeDesc::Simple(DLU),
        array_desc(48, DLU),
    ];
    registers.extend((0..4).map(|_| array_desc(8, DLU)));
    o.add_profile(
        obis::DAILY_READ_LOG,
        Profile::new(TypeDesc::Structure(registers.clone()), 31),
    );
    registers.extend((0..6).map(|_| TypeDesc::Simple(DL)));
    o.add_profile(
        obis::BILLING_LOG,
        Profile::new(TypeDesc::Structure(registers), 13),
    );
    // Tariff.
    let unset = Value::OctetString(
        vec![0xff; 9]
            .into_iter()
            .chain([0x80, 0x00, 0xff])
            .collect(),
    );
    // The primary element's Activity Calendar and Special Days, and the secondary
    // element's (twin-element meters, 1.1.2).
    for (calendar, special_days) in [
        (obis::CALENDAR, obis::SPECIAL_DAYS),
        (obis::SECONDARY_CALENDAR, obis::SECONDARY_SPECIAL_DAYS),
    ] {
        for id in 2..=9 {
            let v = if id == 2 || id == 6 {
                Value::OctetString(Vec::new())
            } else {
                Value::Array(Vec::new())
            };
            o.put(Attr::new(20, calendar, id), v);
        }
        o.put(Attr::new(20, calendar, 10), unset.clone());
        o.put(Attr::new(11, special_days, 2), Value::Array(Vec::new()));
    }
    for n in 11..=18u8 {
        o.put(
            Attr::new(21, [0, 0, 16, 1, n, 255], 2),
            Value::Array(vec![Value::DoubleLongUnsigned(u32::MAX)]),
        );
    }
    for n in 0..=5u8 {
        let charge = [0, 0, 19, 20, n, 255];
        for id in [5, 6] {
            o.put(Attr::new(113, charge, id), Value::Null);
        }
        o.put(Attr::new(113, charge, 7), unset.clone());
    }
    for gb in [
        [0, 0, 94, 44, 2, 0],
        [0, 0, 94, 44, 128, 29],
        [0, 0, 94, 44, 128, 30],
        [0, 0, 94, 44, 128, 22],
        [0, 0, 63, 1, 1, 255],
        // The prepay configuration (2.1): maximum meter balance and credit threshold, debt
        // recovery rate cap and its period, low credit threshold, emergency credit limit
        // and threshold, and the non-disablement schedule's and calendar's activations.
        [0, 0, 94, 44, 2, 20],
        [0, 0, 94, 44, 2, 10],
        [0, 0, 94, 44, 128, 12],
        [0, 0, 94, 44, 128, 13],
        [0, 0, 94, 44, 128, 9],
        [0, 0, 94, 44, 128, 2],
        [0, 0, 94, 44, 128, 3],
        [0, 0, 94, 44, 128, 31],
        [0, 0, 94, 44, 128, 28],
        // The ALCS scheduler's schedule and special days activations (6.14.2).
        [0, 0, 94, 44, 128, 26],
        [0, 0, 94, 44, 128, 35],
    ] {
        o.put(Attr::new(9000, gb, 4), Value::Null);
        o.put(Attr::new(9000, gb, 6), unset.clone());
    }
    o.put(
        Attr::new(9000, [0, 0, 94, 44, 2, 20], 2),
        Value::DoubleLong(0),
    );
    // The non-disablement special days and schedule (2.1), and the ALCS scheduler's
    // (6.14.2) with the identities of switches 1–5 (0-0:94.44.0.21–25).
    for (special_days, schedule) in [
        ([0, 1, 11, 0, 2, 255], [0, 1, 12, 0, 1, 255]),
        ([0, 1, 11, 0, 3, 255], [0, 1, 12, 0, 2, 255]),
    ] {
        o.put(Attr::new(11, special_days, 2), Value::Array(Vec::new()));
        o.put(Attr::new(10, schedule, 2), Value::Array(Vec::new()));
    }
    for n in 21..=25u8 {
        o.put(
            Attr::new(1, [0, 0, 94, 44, 0, n], 2),
            Value::OctetString(vec![0; 8]),
        );
    }
    // Account: credit mode, active.
    o.put(
        Attr::new(111, obis::ACCOUNT, 2),
        Value::Structure(vec![Value::Enum(1), Value::Enum(1)]),
    );
    o.put(Attr::new(111, obis::ACCOUNT, 11), Value::Array(Vec::new()));
    o.put(Attr::new(111, obis::ACCOUNT, 13), unset.clone());
    // Active power import (4.16): value, scaler/unit (W), and a second value, as the RTDS
    // ECS17c response carries them.
    o.put(
        Attr::new(1, [0, 0, 94, 44, 34, 20], 2),
        Value::Structure(vec![
            Value::DoubleLongUnsigned(0),
            scaler(27),
            Value::DoubleLongUnsigned(0),
        ]),
    );
    // Maximum demand (4.12.1, 4.12.2): the configuration dates, and the import (two) and
    // export extended registers: value, scaler/unit (W), capture time not yet set.
    for n in 0..=2u8 {
        o.put(Attr::new(1, [0, 0, 94, 44, 5, n], 2), unset.clone());
    }
    for register in [
        [1, 0, 1, 6, 0, 255],
        [1, 0, 1, 6, 1, 255],
        [1, 0, 2, 6, 0, 255],
    ] {
        o.put(Attr::new(4, register, 2), Value::DoubleLongUnsigned(0));
        o.put(Attr::new(4, register, 3), scaler(27));
        o.put(Attr::new(4, register, 5), unset.clone());
    }
    o.put(
        Attr::new(10, [0, 0, 12, 0, 0, 255], 2),
        Value::Array(Vec::new()),
    );
    // Load limiting (4.15): off, the counter at zero, and the limiter's threshold and
    // minimum durations unset (zero).
    o.put(
        Attr::new(9000, [0, 0, 94, 44, 0, 3], 2),
        Value::Boolean(false),
    );
    o.put(
        Attr::new(3, [0, 0, 94, 44, 42, 255], 2),
        Value::DoubleLongUnsigned(0),
    );
    o.put(
        Attr::new(3, [0, 0, 94, 44, 42, 255], 3),
        Value::Structure(vec![Value::Integer(0), Value::Enum(255)]),
    );
    for id in [4, 6, 7] {
        o.put(
            Attr::new(71, [0, 0, 17, 0, 0, 255], id),
            Value::DoubleLongUnsigned(0),
        );
    }
    // The export profile (4.8.3): half-hour entries of (UTC seconds, active export, reactive
    // export), as the RTDS ECS22a response carries them.
    o.add_profile(
        obis::EXPORT_PROFILE,
        Profile::new(TypeDesc::Structure(vec![TypeDesc::Simple(DLU); 3]), 48 * 31),
    );
    // The daily consumption log (4.17): (UTC seconds, consumption) a day for two years.
    o.add_profile(
        obis::DAILY_CONSUMPTION_LOG,
        Profile::new(TypeDesc::Structure(vec![TypeDesc::Simple(DLU); 2]), 731),
    );
    // The event, security and auxiliary load control switch event logs (6.13), as the RTDS
    // ECS35a, ECS35b and ECS35f responses carry their entries: UTC seconds, event code, and
    // an octet-string / nothing / switch state and its own time.
    use hubgate_protocol::gbcs::payload::data::tag;
    let (lu, os, en) = (
        TypeDesc::Simple(tag::LONG_UNSIGNED),
        TypeDesc::Simple(tag::OCTET_STRING),
        TypeDesc::Simple(tag::ENUM),
    );
    for (log, columns, capacity) in [
        (
            obis::EVENT_LOG,
            vec![TypeDesc::Simple(DLU), lu.clone(), os],
            100,
        ),
        (
            obis::SECURITY_LOG,
            vec![TypeDesc::Simple(DLU), lu.clone()],
            100,
        ),
        (
            obis::ALCS_EVENT_LOG,
            vec![TypeDesc::Simple(DLU), lu, en, TypeDesc::Simple(DLU)],
            100,
        ),
    ] {
        o.add_profile(log, Profile::new(TypeDesc::Structure(columns), capacity));
    }
    // The instantaneous power thresholds (6.12): low/medium, medium/high, in W.
    o.put(
        Attr::new(21, obis::POWER_THRESHOLDS, 2),
        Value::Array(vec![Value::DoubleLongUnsigned(0); 2]),
    );
    // The auxiliary controllers' identities and operational data (7.15): octet-strings and
    // UTF-8 (JSON) strings, as the RTDS ECS61e response carries them; the supply tamper
    // state (6.25, unlocked) and the randomised offset limit (7.12, seconds).
    for n in 21..=25u8 {
        o.put(
            Attr::new(1, [0, 0, 94, 44, 0, n], 2),
            Value::OctetString(Vec::new()),
        );
        o.put(
            Attr::new(1, [0, 0, 94, 44, 0, n + 10], 2),
            Value::Utf8String("{}".to_owned()),
        );
    }
    o.put(Attr::new(1, [0, 0, 94, 44, 0, 4], 2), Value::Boolean(false));
    o.put(
        Attr::new(1, [0, 0, 94, 44, 0, 1], 2),
        Value::LongUnsigned(0),
    );
    // The Script Tables of the supply (7.1, 7.3) and of the auxiliary load control switches
    // (7.5, 7.6, 7.8), and the switches' activation and deactivation durations (minutes).
    for table in [obis::SUPPLY_SCRIPTS, obis::SWITCH_SCRIPTS] {
        o.put(Attr::new(9, table, 2), Value::Array(Vec::new()));
    }
    for n in 1..=5u8 {
        for group in [117, 119] {
            o.put(
                Attr::new(1, [0, 0, 94, 44, group, n], 2),
                Value::LongUnsigned(0),
            );
        }
    }
    // The auxiliary load control switches' descriptions (6.14.1), empty.
    for n in 11..=15u8 {
        o.put(
            Attr::new(1, [0, 0, 94, 44, 0, n], 2),
            Value::VisibleString(Vec::new()),
        );
    }
    // No Change of Tenancy yet: every date field not specified.
    o.put(Attr::new(1, obis::CHANGE_OF_TENANCY, 2), unset.clone());
    for n in 0..=2u8 {
        o.put(
            Attr::new(112, [0, 0, 19, 10, n, 255], 2),
            Value::DoubleLong(0),
        );
    }
    // Network data and voltage settings of phase L1 (4.10, 6.27, 6.5).
    phase_objects(&mut o, PHASES[0]);
    let pair = TypeDesc::Structure(vec![TypeDesc::Simple(DLU); 2]);
    // The boost button (7.9, 7.11): enabled, its uses (start, end), and the switches 1–5 it
    // boosts, none yet.
    o.put(
        Attr::new(1, [0, 0, 94, 44, 7, 255], 2),
        Value::Boolean(true),
    );
    o.add_profile(obis::BOOST_LOG, Profile::new(pair, 100));
    for n in 1..=5u8 {
        o.put(Attr::new(1, [0, 0, 94, 44, 6, n], 2), Value::Boolean(false));
    }
    // The supplier's telephone number and name (3.4), the import and export MPANs (6.20.1,
    // 6.20.2) and the Customer Identification Number (9.1), not yet set.
    for (class_id, object) in [
        (9000, [0, 0, 96, 13, 0, 255]),
        (9000, [0, 0, 96, 13, 1, 255]),
        (1, [0, 3, 96, 13, 1, 255]),
        (1, [0, 0, 94, 44, 34, 11]),
        (1, [1, 0, 0, 0, 2, 255]),
    ] {
        o.put(
            Attr::new(class_id, object, 2),
            Value::OctetString(Vec::new()),
        );
    }
    // Load limiting settings (6.4.1): GBCS data objects with a value (2), a passive value (4)
    // and its activation time (6): the supply state on exceeding the limit (0-0:94.44.0.3,
    // whose value 4.15 reads), the threshold, the period and the restoration period.
    o.put(
        Attr::new(9000, [0, 0, 94, 44, 0, 3], 4),
        Value::Boolean(false),
    );
    o.put(Attr::new(9000, [0, 0, 94, 44, 0, 3], 6), unset.clone());
    for n in [6u8, 7, 8] {
        for id in [2, 4] {
            o.put(
                Attr::new(9000, [0, 0, 94, 44, 128, n], id),
                Value::DoubleLongUnsigned(0),
            );
        }
        o.put(Attr::new(9000, [0, 0, 94, 44, 128, n], 6), unset.clone());
    }
    // Voltage settings (6.5): the RMS voltage Limiters (extreme over, extreme under, sag,
    // swell: threshold and minimum duration) and the average RMS over- and under-voltage
    // thresholds.
    for n in 1..=4u8 {
        for id in [4, 6] {
            o.put(
                Attr::new(71, [0, 0, 17, 0, n, 255], id),
                Value::DoubleLongUnsigned(0),
            );
        }
    }
    // Prepayment values (4.3): six credit and debt amounts; the prepayment daily read log
    // (4.14): (UTC seconds, six amounts) a day for a month, as the RTDS ECS19 and ECS21b
    // responses carry them.
    o.put(
        Attr::new(1, [0, 0, 94, 44, 34, 30], 2),
        Value::Structure(vec![Value::DoubleLong(0); 6]),
    );
    let mut daily = vec![TypeDesc::Simple(DLU)];
    daily.extend((0..6).map(|_| TypeDesc::Simple(DL)));
    o.add_profile(
        obis::PREPAYMENT_DAILY_READ_LOG,
        Profile::new(TypeDesc::Structure(daily), 31),
    );
    // The Single Action Schedules of billing (6.8) and of the tariff block counter reset
    // (6.26): no execution time yet.
    for schedule in [obis::BILLING_SCHEDULE, obis::BLOCK_COUNTER_RESET_SCHEDULE] {
        o.put(Attr::new(22, schedule, 4), Value::Array(Vec::new()));
    }
    o.put(Attr::new(8, obis::CLOCK, 3), Value::Long(0));
    o.put(Attr::new(8, obis::CLOCK, 4), Value::Unsigned(0));
    o.put(Attr::new(8, obis::CLOCK, 9), Value::Enum(1));
    o.put(
        Attr::new(70, obis::DISCONNECT_CONTROL, 2),
        Value::Boolean(true),
    );
    o.put(Attr::new(70, obis::DISCONNECT_CONTROL, 3), Value::Enum(1));
    o
}

/// A ZigBee model for a GSME (or the GPF mirroring it): summation delivered, the valve open,
/// credit remaining, and empty logs.
pub fn gsme_model() -> ZigbeeModel {
    let mut m = ZigbeeModel::new();
    // CurrentSummationDelivered (uint48).
    m.attributes.insert(
        (cluster::METERING, 0x0000),
        ZclAttribute {
            data_type: 0x25,
            value: vec![0; 6],
        },
    );
    // SupplyStatus (enum8): on, the valve open.
    m.attributes.insert(
        (cluster::METERING, crate::zcl::SUPPLY_STATUS_ATTRIBUTE),
        ZclAttribute {
            data_type: 0x30,
            value: vec![0x02],
        },
    );
    // The Metering cluster's balance attribute 0x0A00 (uint32) that GCS60 reads.
    m.attributes.insert(
        (cluster::METERING, 0x0a00),
        ZclAttribute {
            data_type: 0x23,
            value: vec![0; 4],
        },
    );
    // CreditRemaining (int32).
    m.attributes.insert(
        (cluster::PREPAYMENT, 0x0001),
        ZclAttribute {
            data_type: 0x2b,
            value: vec![0; 4],
        },
    );
    m
}

/// A ZigBee channel mask: the channel page in the top five bits, a bit per channel of the
/// page below them (the page's first channel in bit 0).
fn channel_mask(page: u32, channels: u32) -> Value {
    Value::BitString {
        bits: 32,
        bytes: ((page << 27) | channels).to_be_bytes().to_vec(),
    }
}

/// The COSEM objects of a (dual-band) CHF: its sub-GHz configuration (6.28, 6.30), channel
/// scan request (6.29) and channel in use (6.31), GBCS data objects (class 1). Out of the
/// box every lower-band channel 0–26 is allowed and channel 0 is in use; the thresholds are
/// a duty cycle of 1.00 % (limited) and 2.00 % (critical), 4 channel changes a week, a GSME
/// curfew of 6, channel quieter and noisier thresholds of 6 and 10, 50.00 % poor non-GSME
/// communications over 125 periods, a noise measurement period of 90, and 50.00 % failures
/// and 30.00 % retries, in the units and order DBCH04 writes them.
pub fn chf_objects() -> Objects {
    let mut o = Objects::new();
    o.put(
        Attr::new(1, obis::SUB_GHZ_CONFIGURATION, 2),
        Value::Structure(vec![
            channel_mask(28, (1 << 27) - 1),
            channel_mask(29, 0),
            channel_mask(30, 0),
            channel_mask(31, 0),
            Value::LongUnsigned(100),
            Value::LongUnsigned(200),
            Value::Unsigned(4),
            Value::LongUnsigned(6),
            Value::Unsigned(6),
            Value::Unsigned(10),
            Value::LongUnsigned(5000),
            Value::Unsigned(125),
            Value::LongUnsigned(90),
            Value::LongUnsigned(5000),
            Value::LongUnsigned(3000),
        ]),
    );
    o.put(
        Attr::new(1, obis::SUB_GHZ_CHANNEL_SCAN, 2),
        Value::Unsigned(0),
    );
    o.put(Attr::new(1, obis::SUB_GHZ_CHANNEL, 2), channel_mask(28, 1));
    o
}

/// The two HAN networks of a CHF (class 104 objects `0.0.30.3.0.255` and `0.0.30.3.1.255`),
/// with empty whitelists.
pub fn chf_networks() -> Vec<HanNetwork> {
    [[0, 0, 30, 3, 0, 255], [0, 0, 30, 3, 1, 255]]
        .into_iter()
        .map(|obis| HanNetwork {
            obis,
            extended_pan_id: [0, 1, 2, 3, 4, 5, 6, 7],
            devices: Vec::new(),
        })
        .collect()
}

/// A device of `kind` with the populated model of its kind and the given credentials.
pub fn device_state(eui: [u8; 8], kind: DeviceKind, trusted: TrustedParties) -> DeviceState {
    let mut s = DeviceState::new(eui, kind);
    s.trusted = trusted;
    match kind {
        DeviceKind::Esme => s.model = crate::state::Model::Cosem(esme_objects()),
        DeviceKind::Gsme | DeviceKind::Gpf => s.model = crate::state::Model::Zigbee(gsme_model()),
        DeviceKind::Chf => {
            s.han_networks = chf_networks();
            s.model = crate::state::Model::Cosem(chf_objects());
        }
        DeviceKind::Ppmid | DeviceKind::Ihd => {}
    }
    s
}

/// Adds a device to a CHF whitelist (network 0 for meters and the PPMID, 1 otherwise) as
/// if CCS01 had run and the device had joined.
pub fn whitelist(chf: &mut DeviceState, eui: [u8; 8], network: usize, link_key_hash: Vec<u8>) {
    if let Some(net) = chf.han_networks.get_mut(network)
        && !net.devices.iter().any(|d| d.eui == eui)
    {
        net.devices.push(HanDevice {
            eui,
            key: Vec::new(),
            hashed_link_key: link_key_hash,
        });
    }
}

/// Records a join on a meter or PPMID as if CS03B had run.
pub fn join(state: &mut DeviceState, eui: [u8; 8], device_type: i64) {
    if !state.joined.iter().any(|d| d.eui == eui) {
        state.joined.push(JoinedDevice {
            eui,
            method: 2,
            device_type,
            certificate: None,
        });
    }
}

fn u32_of(o: &Objects, a: Attr) -> u32 {
    o.get(&a)
        .and_then(Value::as_u64)
        .and_then(|x| u32::try_from(x).ok())
        .unwrap_or(0)
}

/// Refreshes what a PPMID or IHD displays from the meters' current state, as the HAN reads
/// would (no transport is emulated).
pub fn refresh_display(
    display: &mut DeviceState,
    esme: Option<&DeviceState>,
    gsme: Option<&DeviceState>,
    now: i64,
) {
    let electricity_import_wh = esme.and_then(import_energy);
    let electricity_payment_mode = esme.and_then(payment_mode);
    let gas_summation = gsme.and_then(gas_summation);
    if let crate::state::Model::Display(d) = &mut display.model {
        d.electricity_import_wh = electricity_import_wh;
        d.electricity_payment_mode = electricity_payment_mode;
        d.gas_summation = gas_summation;
        d.updated = Some(now);
    }
}

/// ESME active import energy (register value, Wh).
pub fn import_energy(s: &DeviceState) -> Option<u32> {
    Some(u32_of(s.cosem()?, Attr::new(3, obis::IMPORT_ENERGY, 2)))
}

/// GSME (or GPF) gas consumed: *CurrentSummationDelivered*, read little-endian.
pub fn gas_summation(s: &DeviceState) -> Option<u64> {
    let a = s.zigbee()?.attributes.get(&(cluster::METERING, 0x0000))?;
    let mut b = [0u8; 8];
    let n = a.value.len().min(8);
    b[..n].copy_from_slice(&a.value[..n]);
    Some(u64::from_le_bytes(b))
}

/// ESME payment mode: 1 credit, 2 prepayment (account class 111 attribute 2).
pub fn payment_mode(s: &DeviceState) -> Option<u8> {
    match s.cosem()?.get(&Attr::new(111, obis::ACCOUNT, 2))? {
        Value::Structure(m) => m.first()?.as_u64().and_then(|x| u8::try_from(x).ok()),
        _ => None,
    }
}

/// ESME supply state: true when connected (disconnect control output state).
pub fn supply_connected(s: &DeviceState) -> Option<bool> {
    match s
        .cosem()?
        .get(&Attr::new(70, obis::DISCONNECT_CONTROL, 2))?
    {
        Value::Boolean(b) => Some(*b),
        _ => None,
    }
}

/// The active season profile of the ESME tariff (calendar attribute 3).
pub fn active_season_profile(s: &DeviceState) -> Option<&Value> {
    s.cosem()?.get(&Attr::new(20, obis::CALENDAR, 3))
}

/// The passive season profile of the ESME tariff (calendar attribute 7).
pub fn passive_season_profile(s: &DeviceState) -> Option<&Value> {
    s.cosem()?.get(&Attr::new(20, obis::CALENDAR, 7))
}

/// Adds `import_wh` of consumption at `now` (device clock) to an ESME: the import
/// register, the instantaneous import registers, the first TOU register and a half-hourly
/// profile entry stamped with the start of the current half hour.
pub fn consume(s: &mut DeviceState, now: i64, import_wh: u32) {
    let Some(o) = s.cosem_mut() else { return };
    let total = u32_of(o, Attr::new(3, obis::IMPORT_ENERGY, 2)).wrapping_add(import_wh);
    o.put(
        Attr::new(3, obis::IMPORT_ENERGY, 2),
        Value::DoubleLongUnsigned(total),
    );
    if let Some(Value::Structure(m)) = o.get(&Attr::new(1, obis::IMPORT_REGISTERS, 2)).cloned() {
        let mut m = m;
        if let Some(first) = m.first_mut() {
            *first = Value::DoubleLongUnsigned(total);
        }
        o.put(Attr::new(1, obis::IMPORT_REGISTERS, 2), Value::Structure(m));
    }
    if let Some(Value::Structure(mut m)) = o.get(&Attr::new(1, obis::TOU_REGISTERS, 2)).cloned()
        && let Some(Value::Array(tiers)) = m.first_mut()
        && let Some(Value::DoubleLongUnsigned(t)) = tiers.first_mut()
    {
        *t = t.wrapping_add(import_wh);
        o.put(Attr::new(1, obis::TOU_REGISTERS, 2), Value::Structure(m));
    }
    let slot = time::zigbee_from_unix(now - now.rem_euclid(1800));
    if let Some(p) = o.profile_mut(&obis::HALF_HOUR_PROFILE) {
        match p.entries.last_mut() {
            Some(Value::Structure(e))
                if e.first().and_then(Value::as_u64) == Some(u64::from(slot)) =>
            {
                if let Some(Value::DoubleLongUnsigned(v)) = e.get_mut(1) {
                    *v = v.wrapping_add(import_wh);
                }
            }
            _ => p.push(Value::Structure(vec![
                Value::DoubleLongUnsigned(slot),
                Value::DoubleLongUnsigned(import_wh),
            ])),
        }
    }
}

/// Adds `volume` of gas consumed at `now` (device clock) to a GSME or GPF: the summation
/// delivered (*CurrentSummationDelivered*, uint48), the half-hour profile entry of the
/// half hour `now` falls in, and the daily consumption log's entry of its day.
pub fn consume_gas(s: &mut DeviceState, now: i64, volume: u32) {
    const UINT48: u64 = 0xffff_ffff_ffff;
    let total = ((gas_summation(s).unwrap_or(0) & UINT48) + u64::from(volume)) & UINT48;
    let Some(m) = s.zigbee_mut() else { return };
    m.attributes
        .entry((cluster::METERING, 0x0000))
        .or_insert_with(|| ZclAttribute {
            data_type: 0x25,
            value: Vec::new(),
        })
        .value = total.to_le_bytes()[..6].to_vec();
    let t = time::zigbee_from_unix(now);
    m.add_to_profile(t - t % 1800, volume);
    m.add_to_daily(t - t % 86_400, volume);
    if let Some(r) = m.network.as_mut() {
        r.add(t, volume);
    }
}

/// The OBIS value group C of the voltage quantities of phase L1, L2 and L3.
pub const PHASES: [u8; 3] = [32, 52, 72];

/// The voltage objects of one phase (value group `c`): the RMS voltage sag and swell
/// counters (Registers 1-0:c.32.0.4 and 1-0:c.36.0.4; a count, unit 255), the average RMS
/// voltage profile 1-0:c.24.0.255 (hourly, as the RTDS ECS23 response carries it) and the
/// average RMS over- and under-voltage thresholds (1-0:c.35.0.4, 1-0:c.31.0.4).
fn phase_objects(o: &mut Objects, c: u8) {
    let scaler = |unit: u8| Value::Structure(vec![Value::Integer(0), Value::Enum(unit)]);
    for counter in [[1, 0, c, 32, 0, 4], [1, 0, c, 36, 0, 4]] {
        o.put(Attr::new(3, counter, 2), Value::DoubleLongUnsigned(0));
        o.put(Attr::new(3, counter, 3), scaler(255));
    }
    let profile = [1, 0, c, 24, 0, 255];
    let pair = TypeDesc::Structure(vec![TypeDesc::Simple(DLU); 2]);
    o.add_profile(profile, Profile::new(pair, 24 * 31));
    o.put(Attr::new(7, profile, 4), Value::DoubleLongUnsigned(3600));
    for threshold in [[1, 0, c, 35, 0, 4], [1, 0, c, 31, 0, 4]] {
        o.put(Attr::new(1, threshold, 2), Value::DoubleLongUnsigned(0));
    }
}

/// Makes an ESME polyphase: adds the voltage objects of phases L2 and L3 (value groups C 52
/// and 72), which the polyphase use cases ECS23b, ECS29d and ECS29f address. An emulated
/// ESME is single phase until this is called.
pub fn make_polyphase(s: &mut DeviceState) {
    if let Some(o) = s.cosem_mut() {
        for c in &PHASES[1..] {
            phase_objects(o, *c);
        }
    }
}

/// Closes the day on an ESME at `now` (device clock): appends the import register to the
/// daily import log, stamped with `now`.
pub fn close_day(s: &mut DeviceState, now: i64) {
    let Some(o) = s.cosem_mut() else { return };
    let total = u32_of(o, Attr::new(3, obis::IMPORT_ENERGY, 2));
    let export = u32_of(o, Attr::new(3, obis::EXPORT_ENERGY, 2));
    let t = time::zigbee_from_unix(now);
    for (obis, v) in [
        (obis::DAILY_IMPORT_LOG, total),
        (obis::DAILY_EXPORT_LOG, export),
    ] {
        if let Some(p) = o.profile_mut(&obis) {
            p.push(Value::Structure(vec![
                Value::DoubleLongUnsigned(t),
                Value::DoubleLongUnsigned(v),
            ]));
        }
    }
}
