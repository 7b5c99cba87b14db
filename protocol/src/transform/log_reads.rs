//! Log reads over a period: 4.4.2 – 4.4.5 billing data logs, 4.6.1 Retrieve Import Daily Read
//! Log, 4.8.1 Read Active Import Profile Data, 4.8.3 Read Export Profile Data, 4.10 Read
//! Network Data (single-phase and polyphase ESME), 4.14 Read Prepayment Daily Read Log, 4.17
//! Retrieve Daily Consumption Log (ESME, and the GPF's gas log), 6.13 Read Event or Security
//! Log (ESME and CHF logs; GSME and GPF event and security logs), 7.11 Read Boost Button
//! Details.
//!
//! On the ESME the sensitive logs (billing snapshots, daily reads, profile data) are read
//! through a Data Protection object with a range selection on the capture time (COSEM
//! date-times); the prepayment logs, the export profile and the event and security logs are
//! plain Profile Generic reads restricted by a UTC timestamp register (ZigBee seconds). On the GSME the snapshots are ZCL *Get Snapshot*
//! commands, one per snapshot offset, the prepayment logs *Get Debt Repayment Log* /
//! *Get Top Up Log* with the start of the period as the component's from-date-time, and the
//! half-hour profile one *Get Profile* per day of the period (GCS17, see [`gcs17`]).
//!
//! A read for an unknown remote party (`KAPublicSecurityCredentials`) is sent by the ACB
//! with the User's key-agreement certificate in the grouping header (see the crate's
//! transform docs); its payload is the same.

use super::axdr::{Request, Value, obis, protected_get, protected_object};
use super::zcl::{self, Command, Fields, cluster};
use super::{DeviceType, ESME, GSME, Input, Origin, TransformError, UseCase, UtcDateTime};
use crate::duis::model::Body;
use crate::duis::model::body::{LogToRead, ReadLogPeriod};

pub(crate) static USE_CASES: &[UseCase] = &[
    use_case!("ECS20b", "4.4.2", ESME, Origin::User, ecs20b),
    use_case!("GCS15b", "4.4.2", GSME, Origin::User, gcs15b),
    use_case!("GCS15c", "4.4.3", GSME, Origin::User, gcs15c),
    use_case!("ECS20a", "4.4.4", ESME, Origin::User, ecs20a),
    use_case!("GCS15d", "4.4.4", GSME, Origin::Acb, gcs15d),
    use_case!("ECS20d", "4.4.5", ESME, Origin::User, ecs20d),
    use_case!("GCS15e", "4.4.5", GSME, Origin::User, gcs15e),
    use_case!("ECS21a", "4.6.1", ESME, Origin::User, ecs21a),
    use_case!("GCS16a", "4.6.1", GSME, Origin::User, gcs16a),
    use_case!("ECS22b", "4.8.1", ESME, Origin::User, ecs22b),
    use_case!("ECS22a", "4.8.3", ESME, Origin::User, ecs22a),
    use_case!("ECS66", "4.17", ESME, Origin::User, ecs66),
    use_case!("GCS61", "4.17", &[DeviceType::Gpf], Origin::User, gcs61),
    use_case!("GCS18", "4.10", GSME, Origin::User, gcs18),
    use_case!("GCS31", "14.1", GSME, Origin::Acb, gcs31),
    use_case!("ECS23", "4.10", ESME, Origin::User, ecs23),
    use_case!("ECS23b", "4.10", ESME, Origin::User, ecs23b),
    use_case!("ECS21b", "4.14", ESME, Origin::User, ecs21b),
    use_case!("GCS16b", "4.14", GSME, Origin::User, gcs16b),
    use_case!("ECS61c", "7.11", ESME, Origin::User, ecs61c),
    UseCase {
        name: "ECS35a",
        srv: "6.13",
        devices: &[DeviceType::Esme],
        origin: Origin::User,
        fits: |b| log_to_read(b) == Some(LogToRead::Event),
        build: event_or_security_log,
    },
    UseCase {
        name: "ECS35b",
        srv: "6.13",
        devices: &[DeviceType::Esme],
        origin: Origin::User,
        fits: |b| log_to_read(b) == Some(LogToRead::Security),
        build: event_or_security_log,
    },
    UseCase {
        name: "ECS35d",
        srv: "6.13",
        devices: &[DeviceType::Chf],
        origin: Origin::Acb,
        fits: |b| log_to_read(b) == Some(LogToRead::Security),
        build: event_or_security_log,
    },
    UseCase {
        name: "ECS35f",
        srv: "6.13",
        devices: &[DeviceType::Esme],
        origin: Origin::User,
        fits: |b| log_to_read(b) == Some(LogToRead::ALCSEvent),
        build: event_or_security_log,
    },
    UseCase {
        name: "ECS35g",
        srv: "6.13",
        devices: &[DeviceType::Esme],
        origin: Origin::User,
        fits: |b| log_to_read(b) == Some(LogToRead::ALCSEvent),
        build: event_or_security_log,
    },
    UseCase {
        name: "CS10a",
        srv: "6.13",
        devices: &[DeviceType::Gsme, DeviceType::Gpf],
        origin: Origin::User,
        fits: |b| log_to_read(b) == Some(LogToRead::Event),
        build: zigbee_event_log,
    },
    UseCase {
        name: "CS10b",
        srv: "6.13",
        devices: &[DeviceType::Gsme, DeviceType::Gpf],
        origin: Origin::User,
        fits: |b| log_to_read(b) == Some(LogToRead::Security),
        build: zigbee_event_log,
    },
    use_case!("GCS17", "4.8.1", GSME, Origin::User, gcs17),
];

/// The read period of the body, checked for order.
fn period(i: &Input<'_>) -> Result<(UtcDateTime, UtcDateTime), TransformError> {
    let p: &ReadLogPeriod = match i.body {
        Body::RetrieveCoMOrTariffTriggeredBillingDataLog(b)
        | Body::RetrieveBillingCalendarTriggeredBillingDataLog(b)
        | Body::RetrieveImportDailyReadLog(b)
        | Body::ReadActiveImportProfileData(b)
        | Body::RetrieveDailyConsumptionLog(b)
        | Body::ReadPrepaymentDailyReadLog(b)
        | Body::ReadNetworkData(b) => &b.read_log_period,
        Body::RetrieveBillingDataLogDebtPayments(b)
        | Body::RetrieveBillingDataLogPrepaymentCredits(b)
        | Body::ReadExportProfileData(b)
        | Body::ReadBoostButtonDetails(b) => &b.read_log_period,
        Body::ReadEventOrSecurityLog(b) => &b.read_log_period,
        _ => return Err(i.wrong_body()),
    };
    let start = i.time("ReadLogPeriod/StartDateTime", &p.start_date_time)?;
    let end = i.time("ReadLogPeriod/EndDateTime", &p.end_date_time)?;
    if end < start {
        return Err(i.field(
            "ReadLogPeriod",
            format!("EndDateTime {end} is before StartDateTime {start}"),
        ));
    }
    Ok((start, end))
}

/// The read period of the body ([`period`]) in ZigBee seconds.
fn zigbee_period(i: &Input<'_>) -> Result<(u32, u32), TransformError> {
    let (start, end) = period(i)?;
    let zig = |t: UtcDateTime, field| t.zigbee().map_err(|e| i.field(field, e.to_string()));
    Ok((
        zig(start, "ReadLogPeriod/StartDateTime")?,
        zig(end, "ReadLogPeriod/EndDateTime")?,
    ))
}

/// A protected read of a Profile Generic buffer restricted to capture times in the period
/// (range descriptor, selector 1: from and to as COSEM date-times).
fn protected_log(
    i: &Input<'_>,
    protection: [u8; 6],
    profile: [u8; 6],
) -> Result<Vec<u8>, TransformError> {
    let (start, end) = period(i)?;
    let range = Value::Structure(vec![
        Value::date_time(&start.cosem()),
        Value::date_time(&end.cosem()),
    ]);
    Ok(protected_get(
        protection,
        vec![protected_object(7, profile, 2, Some((1, range)))],
        i.counter,
        &i.user,
        &i.target,
    ))
}

/// ECS20b: the change-of-mode / tariff triggered billing snapshots (Profile Generic
/// 0-0:98.1.2.255).
fn ecs20b(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    protected_log(i, obis(0, 0, 43, 2, 3, 255), obis(0, 0, 98, 1, 2, 255))
}

/// ECS21a: the daily read log (Profile Generic 0-0:98.1.9.255).
fn ecs21a(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    protected_log(i, obis(0, 0, 43, 2, 5, 255), obis(0, 0, 98, 1, 9, 255))
}

/// ECS21b: the prepayment daily read log (Profile Generic 0-0:98.1.8.255, through
/// 0-0:43.2.6.255).
fn ecs21b(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !matches!(i.body, Body::ReadPrepaymentDailyReadLog(_)) {
        return Err(i.wrong_body());
    }
    protected_log(i, obis(0, 0, 43, 2, 6, 255), obis(0, 0, 98, 1, 8, 255))
}

/// ECS22b: the active import half-hourly profile (Profile Generic 0-0:99.1.0.255).
fn ecs22b(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    protected_log(i, obis(0, 0, 43, 2, 7, 255), obis(0, 0, 99, 1, 0, 255))
}

/// Metering cluster command *Get Profile*.
pub(crate) const GET_PROFILE: u8 = 0x00;
/// *Get Profile* interval channel: consumption delivered.
pub(crate) const CHANNEL_CONSUMPTION_DELIVERED: u8 = 0x00;
/// The profile's interval, seconds.
pub(crate) const HALF_HOUR: u32 = 1800;
/// Intervals asked for by one *Get Profile*: a day.
pub(crate) const PERIODS_PER_GET_PROFILE: u32 = 48;

/// GCS17: the half-hour consumption intervals that lie wholly within the period and have
/// ended, newest first, as ZigBee *Get Profile* commands (interval channel 0, end time,
/// number of periods): the first ends at the last half-hour boundary at or before the
/// period's end and the current time (a meter answers a later end time with its newest
/// intervals, which a second command would then repeat),
/// each asks for at most a day (48 intervals), and the next ends where the last began.
///
/// Derived: the corpus has no GCS17 command. A GBZ payload holds at most 255 components,
/// so a period of more than 255 days is refused, as is one that holds no whole half hour.
fn gcs17(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !matches!(i.body, Body::ReadActiveImportProfileData(_)) {
        return Err(i.wrong_body());
    }
    let (start, end) = zigbee_period(i)?;
    let end = end.min(i.now_zigbee()?);
    let last_end = end - end % HALF_HOUR;
    let first_start = start.div_ceil(HALF_HOUR).saturating_mul(HALF_HOUR);
    if last_end <= first_start {
        return Err(i.field(
            "ReadLogPeriod",
            format!(
                "the period {start}..{end} (ZigBee seconds, its end no later than now) holds \
                 no whole half hour"
            ),
        ));
    }
    let periods = (last_end - first_start) / HALF_HOUR;
    let commands = periods.div_ceil(PERIODS_PER_GET_PROFILE);
    if commands > 255 {
        return Err(i.field(
            "ReadLogPeriod",
            format!(
                "the period holds {periods} half hours; one command reads at most {} (255 days)",
                255 * PERIODS_PER_GET_PROFILE
            ),
        ));
    }
    let mut out = Vec::new();
    let mut block_end = last_end;
    let mut left = periods;
    while left > 0 {
        let n = left.min(PERIODS_PER_GET_PROFILE);
        out.push(Command::cluster(
            cluster::METERING,
            GET_PROFILE,
            Fields::new()
                .u8(CHANNEL_CONSUMPTION_DELIVERED)
                .u32(block_end)
                .u8(n as u8)
                .done(),
        ));
        block_end -= n * HALF_HOUR;
        left -= n;
    }
    Ok(zcl::encode(&out))
}

/// The range descriptor (selector 1) that restricts a Profile Generic read to the request's
/// period by the UTC timestamp register 0-0:94.44.100.255: from and to as ZigBee seconds,
/// all columns.
fn utc_range(i: &Input<'_>) -> Result<Value, TransformError> {
    let (start, end) = zigbee_period(i)?;
    Ok(Value::Structure(vec![
        Value::Structure(vec![
            Value::LongUnsigned(1),
            Value::OctetString(obis(0, 0, 94, 44, 100, 255).to_vec()),
            Value::Integer(2),
            Value::LongUnsigned(0),
        ]),
        Value::DoubleLongUnsigned(start),
        Value::DoubleLongUnsigned(end),
        Value::Array(Vec::new()),
    ]))
}

/// A Profile Generic read restricted by the UTC timestamp register ([`utc_range`]).
fn utc_range_log(i: &Input<'_>, profile: [u8; 6]) -> Result<Vec<u8>, TransformError> {
    Ok(Request::new()
        .get_with_selection(7, profile, 2, 1, utc_range(i)?)
        .encode(i.counter))
}

/// The OBIS value group C of the voltage quantities of phase L1, L2 and L3.
pub(crate) const PHASES: [u8; 3] = [32, 52, 72];

/// ECS23 (single phase): the RMS voltage sag and swell counters (Registers 1-0:32.32.0.4
/// and 1-0:32.36.0.4, value and scaler/unit), the average RMS voltage profile
/// (1-0:32.24.0.255) in the period ([`utc_range`]) and its capture period (attribute 4).
fn ecs23(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    network_data(i, &PHASES[..1])
}

/// ECS23b (polyphase): ECS23's reads for phase L1, then L2 (value group C 52), then L3
/// (72).
fn ecs23b(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    network_data(i, &PHASES)
}

/// The network data reads of [`ecs23`] for each phase of `phases` in turn.
fn network_data(i: &Input<'_>, phases: &[u8]) -> Result<Vec<u8>, TransformError> {
    if !matches!(i.body, Body::ReadNetworkData(_)) {
        return Err(i.wrong_body());
    }
    let range = utc_range(i)?;
    let mut request = Request::new();
    for &c in phases {
        let (sag, swell, profile) = (
            obis(1, 0, c, 32, 0, 4),
            obis(1, 0, c, 36, 0, 4),
            obis(1, 0, c, 24, 0, 255),
        );
        request = request
            .get(3, sag, 2)
            .get(3, sag, 3)
            .get(3, swell, 2)
            .get(3, swell, 3)
            .get_with_selection(7, profile, 2, 1, range.clone())
            .get(7, profile, 4);
    }
    Ok(request.encode(i.counter))
}

/// ECS61c: the boost button's enabled flag (0-0:94.44.7.255), its uses in the period (the
/// Profile Generic 0-0:99.98.20.255, [`utc_range`]) and which switches 1–5 it boosts
/// (0-0:94.44.6.1 to .5).
fn ecs61c(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !matches!(i.body, Body::ReadBoostButtonDetails(_)) {
        return Err(i.wrong_body());
    }
    let mut request = Request::new()
        .get(1, obis(0, 0, 94, 44, 7, 255), 2)
        .get_with_selection(7, obis(0, 0, 99, 98, 20, 255), 2, 1, utc_range(i)?);
    for n in 1..=5u8 {
        request = request.get(1, obis(0, 0, 94, 44, 6, n), 2);
    }
    Ok(request.encode(i.counter))
}

/// ECS20a: the payment-based debt payments log (Profile Generic 0-0:98.1.4.255).
fn ecs20a(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    utc_range_log(i, obis(0, 0, 98, 1, 4, 255))
}

/// ECS22a: the export profile (Profile Generic 0-0:99.1.1.255), not sensitive, so read as
/// the prepayment logs are ([`utc_range_log`]) rather than through a Data Protection object.
fn ecs22a(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !matches!(i.body, Body::ReadExportProfileData(_)) {
        return Err(i.wrong_body());
    }
    utc_range_log(i, obis(0, 0, 99, 1, 1, 255))
}

/// ECS66: the daily consumption log (Profile Generic 0-0:99.1.3.255), through the Data
/// Protection object 0-0:43.2.4.255.
fn ecs66(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !matches!(i.body, Body::RetrieveDailyConsumptionLog(_)) {
        return Err(i.wrong_body());
    }
    protected_log(i, obis(0, 0, 43, 2, 4, 255), obis(0, 0, 99, 1, 3, 255))
}

/// Metering cluster *Get Sampled Data*.
const GET_SAMPLED_DATA: u8 = 0x08;
/// *Get Sampled Data* sample ID of the daily consumption log.
const SAMPLE_DAILY_CONSUMPTION: u16 = 0x0001;
/// *Get Sampled Data* sample type: consumption delivered.
const SAMPLE_CONSUMPTION_DELIVERED: u8 = 0x00;
/// Days the GPF's gas daily consumption log holds (two years, a leap day included), and so
/// the most one read asks for.
const DAILY_CONSUMPTION_DAYS: u32 = 731;
/// A day, seconds.
const DAY: u32 = 86_400;

/// GCS61: the gas daily consumption log the GPF keeps, one *Get Sampled Data* (sample ID 1,
/// consumption delivered) from the start of the period's first day (UTC midnight) for every
/// day up to and including the period's last: a period of 2014-12-10T00:00Z to
/// 2014-12-20T00:00Z asks for 11 samples, as the corpus's NOT_FOUND command does for its
/// own period. A period of more than [`DAILY_CONSUMPTION_DAYS`] days is refused.
fn gcs61(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !matches!(i.body, Body::RetrieveDailyConsumptionLog(_)) {
        return Err(i.wrong_body());
    }
    let (start, end) = zigbee_period(i)?;
    let first = start - start % DAY;
    let days = (end - first) / DAY + 1;
    if days > DAILY_CONSUMPTION_DAYS {
        return Err(i.field(
            "ReadLogPeriod",
            format!("the period covers {days} days; the GPF keeps {DAILY_CONSUMPTION_DAYS}"),
        ));
    }
    Ok(zcl::encode(&[Command::cluster(
        cluster::METERING,
        GET_SAMPLED_DATA,
        Fields::new()
            .u16(SAMPLE_DAILY_CONSUMPTION)
            .u32(first)
            .u8(SAMPLE_CONSUMPTION_DELIVERED)
            .u16(days as u16)
            .done(),
    )]))
}

/// Metering *Start Sampling* (client).
const START_SAMPLING: u8 = 0x07;
/// *Get Sampled Data* sample ID of the gas network data recording.
const SAMPLE_NETWORK_DATA: u16 = 0x0002;
/// The network data recording: consumption every 6 minutes over four hours, both ends
/// included (SEC Annex 5, SRV 14.1).
const NETWORK_DATA_INTERVAL_S: u16 = 360;
const NETWORK_DATA_SAMPLES: u16 = 41;
/// *Get Sampled Data* earliest sample time asking for a recording from its first sample.
const FROM_FIRST_SAMPLE: u32 = 1;

/// GCS31: *Start Sampling* of gas consumption delivered, from now (start time 0), every 6
/// minutes, at most 41 samples: the four-hour recording 14.1 asks for. The ACB sends it on
/// the gas transporter's behalf, as the corpus's command is (the transporter is its
/// supplementary remote party).
fn gcs31(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !matches!(i.body, Body::RecordNetworkDataGAS(_)) {
        return Err(i.wrong_body());
    }
    Ok(zcl::encode(&[Command::cluster(
        cluster::METERING,
        START_SAMPLING,
        Fields::new()
            .u32(i.now_zigbee()?)
            .u32(0)
            .u8(SAMPLE_CONSUMPTION_DELIVERED)
            .u16(NETWORK_DATA_INTERVAL_S)
            .u16(NETWORK_DATA_SAMPLES)
            .done(),
    )]))
}

/// GCS18: the gas network data recording (GCS31's), whole: *Get Sampled Data* of the
/// network data sample (ID 2) from its first sample (earliest sample time 1), all 41
/// samples, as every corpus command has it. The request's period is checked (its end not
/// before its start) but does not narrow the command: the recording is at most four hours
/// long and the meter answers it from its start.
fn gcs18(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !matches!(i.body, Body::ReadNetworkData(_)) {
        return Err(i.wrong_body());
    }
    period(i)?;
    Ok(zcl::encode(&[Command::cluster(
        cluster::METERING,
        GET_SAMPLED_DATA,
        Fields::new()
            .u16(SAMPLE_NETWORK_DATA)
            .u32(FROM_FIRST_SAMPLE)
            .u8(SAMPLE_CONSUMPTION_DELIVERED)
            .u16(NETWORK_DATA_SAMPLES)
            .done(),
    )]))
}

/// The log a 6.13 request names.
fn log_to_read(b: &Body) -> Option<LogToRead> {
    match b {
        Body::ReadEventOrSecurityLog(r) => Some(r.log_to_read),
        _ => None,
    }
}

/// ECS35a, ECS35b, ECS35d, ECS35f, ECS35g: the event log (Profile Generic
/// 0-0:99.98.0.255), the security log (0-0:99.98.1.255, on the ESME, or on the CHF, where the
/// ACB sends it on the User's behalf) or the auxiliary load control switches' event log
/// (0-17:99.98.2.255; ECS35g when a network operator asks), restricted by the UTC timestamp
/// register.
fn event_or_security_log(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let profile = match log_to_read(i.body) {
        Some(LogToRead::Event) => obis(0, 0, 99, 98, 0, 255),
        Some(LogToRead::Security) => obis(0, 0, 99, 98, 1, 255),
        Some(LogToRead::ALCSEvent) => obis(0, 17, 99, 98, 2, 255),
        Some(other) => {
            return Err(i.field(
                "LogToRead",
                format!("{other:?} is not read from this device by a DLMS log read"),
            ));
        }
        None => return Err(i.wrong_body()),
    };
    utc_range_log(i, profile)
}

/// Events cluster *Get Event Log*.
const GET_EVENT_LOG: u8 = 0x00;
/// The event control nibble of CS10a's *Get Event Log* (the corpus's value; CS10b's is 0).
const CS10A_EVENT_CONTROL: u8 = 0x10;

/// CS10a, CS10b: one *Get Event Log* of the general event log (3) or the security log (4)
/// of a GSME or GPF: event control and log ID, event ID 0 (every event), the period's start
/// and end (ZigBee seconds), number of events 0 (all) and offset 0.
fn zigbee_event_log(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let control_and_log = match log_to_read(i.body) {
        Some(LogToRead::Event) => CS10A_EVENT_CONTROL | zcl::log::EVENT,
        Some(LogToRead::Security) => zcl::log::SECURITY,
        Some(other) => {
            return Err(i.field(
                "LogToRead",
                format!("{other:?} is not a log of a ZigBee device"),
            ));
        }
        None => return Err(i.wrong_body()),
    };
    let (start, end) = zigbee_period(i)?;
    Ok(zcl::encode(&[Command::cluster(
        cluster::EVENTS,
        GET_EVENT_LOG,
        Fields::new()
            .u8(control_and_log)
            .u16(0)
            .u32(start)
            .u32(end)
            .u8(0)
            .u16(0)
            .done(),
    )]))
}

/// ECS20d: the prepayment credits log (Profile Generic 0-0:98.1.5.255).
fn ecs20d(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    utc_range_log(i, obis(0, 0, 98, 1, 5, 255))
}

/// ZCL *Get Snapshot* (Metering, command 06) and *Get Prepay Snapshot* (Prepayment, 07).
const GET_SNAPSHOT: (u16, u8) = (cluster::METERING, 0x06);
const GET_PREPAY_SNAPSHOT: (u16, u8) = (cluster::PREPAYMENT, 0x07);

/// Snapshot causes: general (daily), end of billing period, and change of tariff / mode.
const CAUSE_GENERAL: u32 = 0x0000_0001;
const CAUSE_BILLING_PERIOD: u32 = 0x0000_0002;
const CAUSE_CHANGE_OF_TARIFF_OR_MODE: u32 = 0x0000_6008;

/// One *Get Snapshot* per offset `0..count` for each `(cluster, command)`, all for the
/// period and `cause`.
fn snapshots(
    i: &Input<'_>,
    order: &[(u16, u8)],
    count: u8,
    cause: u32,
) -> Result<Vec<u8>, TransformError> {
    let (start, end) = zigbee_period(i)?;
    let mut commands = Vec::new();
    for (cl, cmd) in order {
        for offset in 0..count {
            commands.push(Command::cluster(
                *cl,
                *cmd,
                Fields::new()
                    .u32(start)
                    .u32(end)
                    .u8(offset)
                    .u32(cause)
                    .done(),
            ));
        }
    }
    Ok(zcl::encode(&commands))
}

/// GCS15b: the last 12 change-of-tariff / mode snapshots, prepayment then metering.
fn gcs15b(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    snapshots(
        i,
        &[GET_PREPAY_SNAPSHOT, GET_SNAPSHOT],
        12,
        CAUSE_CHANGE_OF_TARIFF_OR_MODE,
    )
}

/// GCS15c: the last 12 billing-period snapshots, metering then prepayment.
fn gcs15c(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    snapshots(
        i,
        &[GET_SNAPSHOT, GET_PREPAY_SNAPSHOT],
        12,
        CAUSE_BILLING_PERIOD,
    )
}

/// GCS16a: the last 31 daily snapshots.
fn gcs16a(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    snapshots(i, &[GET_SNAPSHOT], 31, CAUSE_GENERAL)
}

/// GCS16b: the prepayment daily reads, 31 *Get Prepay Snapshot* of the daily snapshots.
fn gcs16b(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !matches!(i.body, Body::ReadPrepaymentDailyReadLog(_)) {
        return Err(i.wrong_body());
    }
    snapshots(i, &[GET_PREPAY_SNAPSHOT], 31, CAUSE_GENERAL)
}

/// A Prepayment log command: from-date-time = start of the period, payload = the end of the
/// period and `tail`.
fn prepayment_zcl(i: &Input<'_>, command: u8, tail: &[u8]) -> Result<Vec<u8>, TransformError> {
    let (start, end) = period(i)?;
    let zig = |t: UtcDateTime, field| t.zigbee().map_err(|e| i.field(field, e.to_string()));
    let mut payload = Fields::new()
        .u32(zig(end, "ReadLogPeriod/EndDateTime")?)
        .done();
    payload.extend_from_slice(tail);
    Ok(zcl::encode(&[Command::cluster(
        cluster::PREPAYMENT,
        command,
        payload,
    )
    .from(zig(start, "ReadLogPeriod/StartDateTime")?)]))
}

/// GCS15d: *Get Debt Repayment Log*, up to 10 entries of every debt type.
fn gcs15d(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    prepayment_zcl(i, 0x0a, &[10, 0x02])
}

/// GCS15e: *Get Top Up Log*, up to 5 entries.
fn gcs15e(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    prepayment_zcl(i, 0x08, &[5])
}
