//! ZigBee (GBZ) use cases of the GSME and GPF: each GBZ component is one ZCL command,
//! answered by one response component with the same cluster and sequence number.
//!
//! - Read Attributes (general command `00`) → Read Attributes Response (`01`) from
//!   [`ZigbeeModel::attributes`]; unknown attributes answer `UNSUPPORTED_ATTRIBUTE` (`86`).
//!   Metering attribute `0206` reads the firmware version (GCS38).
//! - GetSnapshot (Metering `06`) and GetPrepaySnapshot (Prepayment `07`) → PublishSnapshot /
//!   PublishPrepaySnapshot for the snapshot at the requested offset among those in the time
//!   window with a matching cause (oldest first, as in the RTDS), else a Default Response
//!   `NOT_FOUND` (`8B`) (GCS15b, GCS15c).
//! - GetTopUpLog (Prepayment `08`) → PublishTopUpLog (`05`), GetDebtRepaymentLog
//!   (Prepayment `0A`) → PublishDebtLog (`06`), newest records first (GCS15e, GCS15d).
//! - GetSampledData (Metering `08`, sample 1: the GPF's daily consumption log, GCS61) →
//!   GetSampledDataResponse (`07`): the days from the earliest sample time's day to today,
//!   at most the number asked for ([`ZigbeeModel::daily`]), else `NOT_FOUND`.
//! - *Start Sampling* (Metering `07`, GCS31) → *Start Sampling Response* (`0D`) with sample
//!   ID 2: the gas network data recording ([`ZigbeeModel::network`]) of consumption delivered,
//!   from its start time (0: now) in intervals of the length asked for, at most the number
//!   asked for; another sample type, a zero interval or count is `INVALID_VALUE`. GetSampledData of sample 2
//!   (GCS18) answers the recording's samples from the earliest sample time on, up to now.
//! - GetEventLog (Events `00`, CS10a, CS10b) → PublishEventLog (`01`) of the matching events
//!   ([`ZigbeeModel::events`]), else `NOT_FOUND`.
//! - The Calendar cluster's client gets (`0707`/`00`–`04`, GCS21b) → the publishes of the
//!   calendar last published to the meter ([`ZigbeeModel::calendar`]), else `NOT_FOUND`.
//! - *Change Supply* (Metering `0B`, GCS32, GCS39) sets *SupplyStatus*; with the
//!   acknowledgement bit it is answered by a *Supply Status Response* (`0C`) giving the new
//!   status, without it by a Default Response `SUCCESS`.
//! - Publish commands of the Price (`0700`) and Calendar (`0707`) clusters, and any other
//!   cluster-specific command (GCS01a tariffs, GCS09): accepted with a Default Response
//!   `SUCCESS` and recorded. A start time of 0 means now, `FFFFFFFE`/`FFFFFFFF` cancels a
//!   pending command of the same message code, a later time makes the command future-dated;
//!   then one 8F66 alert follows per publish that carries a start time.
//!
//!   Default Responses go the other way than the command: `00` for a server-to-client publish,
//!   `08` for a client command (the Prepayment cluster's *Select Available Emergency Credit*
//!   and *Credit Adjustment*, GCS06, GCS40a–d). A *Credit Adjustment* changes the credit it
//!   names ([`ZigbeeModel`]'s *CreditRemaining* or meter balance attribute).
//! - Events *Clear Event Log Request* (`0709`/`01`, CS11) → *Clear Event Log Response* (`02`)
//!   with the event log's bit (`08`) when the request names it (or all logs), after which
//!   the device's event log holds only the clearing and CS10a finds no event; under fault injection nothing is
//!   cleared (`00`), as the RTDS ERROR response.
//! - Device Management *Publish Change of Tenancy* (`0708`/`00`, GCS09 to the GPF): accepted
//!   like the other publishes (Default Response `SUCCESS`, frame control `00`, as the RTDS
//!   response) and kept; its implementation date-time is the Change of Tenancy date
//!   ([`change_of_tenancy`]). From then on, snapshot, top-up and debt log reads by a remote
//!   party other than the device's supplier return only records at or after that date. The
//!   date is not treated as a start time (no pending command, no 8F66 alert): 3.2 is
//!   future-dated by the DCC, not by the device.
//!
//! Responses to the sensitive use cases (GCS13–GCS18, GCS61) are encrypted per component
//! (control bit `02`), except Price cluster components and Default Responses.
//!
//! Fault injection mirrors the RTDS ZigBee ERROR vectors: with several components, the
//! second-to-last is answered by a Default Response of status `C0` and the last by one for
//! command `FF` with status `01` (for the billing calendar, GCS25/GCS25a, only the last
//! fails, with `C0`), and nothing is scheduled; a single Read Attributes gets
//! status `C0` for every attribute, any other single command a Default Response `C0`.

use std::collections::BTreeMap;

use hubgate_protocol::gbcs::message_codes;
use hubgate_protocol::gbcs::payload::gbz::{
    self, Component, ComponentBody, EncryptionHeader, Gbz, GbzBody, ZclHeader,
};
use serde::{Deserialize, Serialize};

use crate::device::{AlertBody, AlertSpec, Ctx, Outcome, alert, alert_code};
use crate::error::DeviceError;
use crate::state::{DeviceState, Pending, PendingWork};
use crate::time;

/// ZigBee clusters.
pub mod cluster {
    /// Price.
    pub const PRICE: u16 = 0x0700;
    /// Metering.
    pub const METERING: u16 = 0x0702;
    /// Prepayment.
    pub const PREPAYMENT: u16 = 0x0705;
    /// Calendar.
    pub const CALENDAR: u16 = 0x0707;
    /// Device Management.
    pub const DEVICE_MANAGEMENT: u16 = 0x0708;
}

/// The Events cluster, its *Clear Event Log Request* (client) and *Clear Event Log Response*
/// (server), and the event log's ID (its bit in the response's cleared-logs bitmap).
pub const EVENTS: u16 = 0x0709;
/// *Clear Event Log Request*.
pub const CLEAR_EVENT_LOG: u8 = 0x01;
/// *Clear Event Log Response*.
pub const CLEAR_EVENT_LOG_RESPONSE: u8 = 0x02;
/// The event log's ID.
pub const EVENT_LOG: u8 = 0x03;
/// The security log's ID.
pub const SECURITY_LOG: u8 = 0x04;
/// *Get Event Log* (client).
pub const GET_EVENT_LOG: u8 = 0x00;
/// *Publish Event Log* (server).
pub const PUBLISH_EVENT_LOG: u8 = 0x01;

/// Prepayment command *Credit Adjustment*.
pub const CREDIT_ADJUSTMENT: u8 = 0x05;

/// The frame control of a Default Response to a command of frame control `fc`: the other
/// direction (a server-to-client publish is answered client-to-server, `00`; a client command
/// server-to-client, `08`), as the RTDS responses have it.
fn answer_direction(fc: u8) -> u8 {
    if fc & 0x08 != 0 { 0x00 } else { 0x08 }
}

/// Device Management command *Publish Change of Tenancy*.
pub const PUBLISH_CHANGE_OF_TENANCY: u8 = 0x00;

/// The Change of Tenancy date (ZigBee seconds) of the last *Publish Change of Tenancy*
/// received: its implementation date-time, after the provider ID, issuer event ID and tariff
/// type.
pub fn change_of_tenancy(model: &ZigbeeModel) -> Option<u32> {
    let p = model
        .published
        .get(&(cluster::DEVICE_MANAGEMENT, PUBLISH_CHANGE_OF_TENANCY))?;
    u32_le(&p.payload, 9)
}

/// ZCL status values.
pub mod status {
    /// SUCCESS.
    pub const SUCCESS: u8 = 0x00;
    /// UNSUP_CLUSTER_COMMAND.
    pub const UNSUPPORTED_COMMAND: u8 = 0x81;
    /// UNSUPPORTED_ATTRIBUTE.
    pub const UNSUPPORTED_ATTRIBUTE: u8 = 0x86;
    /// INVALID_VALUE.
    pub const INVALID_VALUE: u8 = 0x87;
    /// NOT_FOUND.
    pub const NOT_FOUND: u8 = 0x8b;
    /// The error status of the RTDS ZigBee ERROR vectors.
    pub const FAULT: u8 = 0xc0;
}

/// Metering attribute that reads the firmware version.
pub const FIRMWARE_VERSION_ATTRIBUTE: u16 = 0x0206;

/// A ZCL attribute: its data type and its encoded value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZclAttribute {
    /// ZCL data type.
    pub data_type: u8,
    /// The value as encoded on the wire (strings with their length byte).
    pub value: Vec<u8>,
}

/// A snapshot (billing data captured at a time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Metering or Prepayment.
    pub cluster: u16,
    /// Snapshot ID.
    pub id: u32,
    /// Capture time, ZigBee seconds.
    pub time: u32,
    /// Snapshot cause bits.
    pub cause: u32,
    /// Snapshot payload type.
    pub payload_type: u8,
    /// Snapshot payload.
    pub payload: Vec<u8>,
}

/// A top-up record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopUp {
    /// The top-up code (UTRN).
    pub code: Vec<u8>,
    /// Amount.
    pub amount: i32,
    /// When, ZigBee seconds.
    pub time: u32,
}

/// A debt repayment record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebtRecord {
    /// Collection time, ZigBee seconds.
    pub time: u32,
    /// Amount collected.
    pub amount: u32,
    /// Debt type.
    pub debt_type: u8,
    /// Outstanding debt.
    pub outstanding: u32,
}

/// A publish command made active (tariff elements).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    /// Frame control as received.
    pub frame_control: u8,
    /// The ZCL payload.
    pub payload: Vec<u8>,
}

/// The data a GSME or GPF answers from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZigbeeModel {
    /// Attributes by (cluster, attribute ID).
    #[serde(with = "crate::serde_map")]
    pub attributes: BTreeMap<(u16, u16), ZclAttribute>,
    /// Snapshots, oldest first.
    pub snapshots: Vec<Snapshot>,
    /// Top-ups, oldest first.
    pub top_ups: Vec<TopUp>,
    /// Debt repayments, oldest first.
    pub debts: Vec<DebtRecord>,
    /// The active publish commands (tariff), by (cluster, command ID).
    #[serde(with = "crate::serde_map")]
    pub published: BTreeMap<(u16, u8), Published>,
    /// The half-hour consumption profile, oldest first: (start of the half hour, ZigBee
    /// seconds; consumption in it), one entry per half hour with consumption, at most
    /// [`PROFILE_CAPACITY`] entries.
    #[serde(default)]
    pub profile: Vec<(u32, u32)>,
    /// The active calendar (tariff switching table), as published to the meter: its
    /// *Publish Calendar* (command 00), day profiles (01, by day ID), week profiles (02, by
    /// week ID), seasons (03) and special days (04), each (command, payload). A *Publish
    /// Calendar* starts a new calendar.
    #[serde(default)]
    pub calendar: Vec<(u8, Vec<u8>)>,
    /// The daily consumption log, oldest first: (start of the day, ZigBee seconds;
    /// consumption in it), one entry per day with consumption, at most [`DAILY_CAPACITY`]
    /// entries.
    #[serde(default)]
    pub daily: Vec<(u32, u32)>,
    /// The ZigBee event logs (general events, log 3; security events, log 4), oldest
    /// first, at most [`EVENTS_CAPACITY`] entries of each log.
    #[serde(default)]
    pub events: Vec<ZclEvent>,
    /// The gas network data recording *Start Sampling* (GCS31) began, if any.
    #[serde(default)]
    pub network: Option<NetworkRecording>,
}

/// A *Start Sampling* recording of consumption delivered (the gas network data, sample ID
/// [`SAMPLE_NETWORK_DATA`]): the consumption of each interval from the start, filled by
/// [`crate::models::consume_gas`] until `max` intervals have passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRecording {
    /// The start of the first interval, ZigBee seconds.
    pub start: u32,
    /// The interval, seconds (at least 1).
    pub interval: u16,
    /// Most samples recorded.
    pub max: u16,
    /// The consumption of each interval so far, oldest first.
    pub samples: Vec<u32>,
}

impl NetworkRecording {
    /// Adds `volume` consumed at `t` (ZigBee seconds) to its interval, when `t` falls in the
    /// recording.
    pub fn add(&mut self, t: u32, volume: u32) {
        let Some(since) = t.checked_sub(self.start) else {
            return;
        };
        let at = (since / u32::from(self.interval.max(1))) as usize;
        if at >= usize::from(self.max) {
            return;
        }
        if self.samples.len() <= at {
            self.samples.resize(at + 1, 0);
        }
        self.samples[at] = self.samples[at].wrapping_add(volume);
    }
}

/// An entry of a ZigBee event log, as *Publish Event Log* carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZclEvent {
    /// The log: [`EVENT_LOG`] or [`SECURITY_LOG`].
    pub log: u8,
    /// The GBCS event code.
    pub id: u16,
    /// When, ZigBee seconds.
    pub time: u32,
    /// Event data (at most 254 bytes).
    pub data: Vec<u8>,
}

/// Entries each event log keeps (GBCS asks for 100 general and 100 security events on a
/// GSME).
pub const EVENTS_CAPACITY: usize = 100;

/// Entries the GSME profile keeps: 31 days of half hours, as the emulated ESME's profile.
pub const PROFILE_CAPACITY: usize = 48 * 31;

/// The profile's interval, seconds.
const HALF_HOUR: u32 = 1800;

/// Calendar cluster command IDs, the same for a client's *Get* and the server's *Publish*:
/// calendar, day profiles, week profiles, seasons, special days.
const CALENDAR_PUBLISH_CALENDAR: u8 = 0x00;
const CALENDAR_DAY_PROFILES: u8 = 0x01;
const CALENDAR_WEEK_PROFILES: u8 = 0x02;
const CALENDAR_SEASONS: u8 = 0x03;
const CALENDAR_SPECIAL_DAYS: u8 = 0x04;
/// Where a day or week profile publish has its ID: after the provider ID, issuer event ID
/// and issuer calendar ID.
const ID_AT: usize = 12;

/// Days the daily consumption log keeps: two years, a leap day included.
pub const DAILY_CAPACITY: usize = 731;

/// A day, seconds.
const DAY: u32 = 86_400;

/// Metering command *Get Sampled Data* (client) and *Get Sampled Data Response* (server).
pub const GET_SAMPLED_DATA: u8 = 0x08;
/// *Get Sampled Data Response*.
pub const GET_SAMPLED_DATA_RESPONSE: u8 = 0x07;
/// The sample ID of the daily consumption log.
pub const SAMPLE_DAILY_CONSUMPTION: u16 = 0x0001;
/// The sample ID the GSME gives its network data recording.
pub const SAMPLE_NETWORK_DATA: u16 = 0x0002;
/// Metering command *Start Sampling* (client) and *Start Sampling Response* (server).
pub const START_SAMPLING: u8 = 0x07;
/// *Start Sampling Response*.
pub const START_SAMPLING_RESPONSE: u8 = 0x0d;

/// Metering command *Get Profile* (client) and *Get Profile Response* (server).
pub const GET_PROFILE: u8 = 0x00;

/// Metering attribute *SupplyStatus* (enum8: 0 off, 1 armed, 2 on).
pub const SUPPLY_STATUS_ATTRIBUTE: u16 = 0x0014;

/// Metering command *Change Supply* (client).
pub const CHANGE_SUPPLY: u8 = 0x0b;
/// Metering command *Supply Status Response* (server), the answer to a *Change Supply* that
/// asks for an acknowledgement.
pub const SUPPLY_STATUS_RESPONSE: u8 = 0x0c;
/// *Change Supply* control bit: acknowledgement required.
const ACKNOWLEDGE_REQUIRED: u8 = 0x01;

impl ZigbeeModel {
    /// Adds `volume` to the half hour starting at `slot` (ZigBee seconds, a multiple of
    /// 1800), in time order, and keeps the newest [`PROFILE_CAPACITY`] entries.
    pub fn add_to_profile(&mut self, slot: u32, volume: u32) {
        add_to_series(&mut self.profile, slot, volume, PROFILE_CAPACITY);
    }

    /// Puts a Calendar cluster publish into the active calendar: a *Publish Calendar*
    /// replaces the whole calendar; a day or week profile replaces the one of its ID (the
    /// byte after the provider ID, issuer event ID and issuer calendar ID); seasons and
    /// special days replace their predecessor.
    fn keep_calendar_element(&mut self, command: u8, payload: &[u8]) {
        match command {
            CALENDAR_PUBLISH_CALENDAR => self.calendar.clear(),
            CALENDAR_DAY_PROFILES | CALENDAR_WEEK_PROFILES => {
                let id = payload.get(ID_AT);
                self.calendar
                    .retain(|(c, p)| !(*c == command && p.get(ID_AT) == id));
            }
            CALENDAR_SEASONS | CALENDAR_SPECIAL_DAYS => {
                self.calendar.retain(|(c, _)| *c != command);
            }
            _ => return,
        }
        self.calendar.push((command, payload.to_vec()));
    }

    /// The publishes that answer a Calendar cluster *Get* command `command` with payload `p`
    /// (the get and its publish share the command ID): for day and week profiles those from
    /// the start ID (after provider ID and issuer calendar ID) on, at most the number asked
    /// for (0: all), in ID order; otherwise the one element kept. Empty when the calendar has
    /// none.
    fn calendar_answer(&self, command: u8, p: &[u8]) -> Vec<Vec<u8>> {
        let mut found: Vec<&Vec<u8>> = self
            .calendar
            .iter()
            .filter(|(c, _)| *c == command)
            .map(|(_, payload)| payload)
            .collect();
        if matches!(command, CALENDAR_DAY_PROFILES | CALENDAR_WEEK_PROFILES) {
            let start = p.get(8).copied().unwrap_or(0);
            let number = p.get(9).copied().unwrap_or(0);
            found.retain(|e| e.get(ID_AT).is_some_and(|id| *id >= start));
            found.sort_by_key(|e| e.get(ID_AT).copied());
            if number != 0 {
                found.truncate(usize::from(number));
            }
        }
        found.into_iter().cloned().collect()
    }

    /// Adds `volume` to the day starting at `day` (ZigBee seconds, a multiple of 86 400),
    /// and keeps the newest [`DAILY_CAPACITY`] days.
    pub fn add_to_daily(&mut self, day: u32, volume: u32) {
        add_to_series(&mut self.daily, day, volume, DAILY_CAPACITY);
    }

    /// The *Get Sampled Data Response* payload for a *Get Sampled Data* `p` (sample ID,
    /// earliest sample time, sample type, number of samples) of the daily consumption log
    /// (sample ID 1, consumption delivered): the days from the earliest sample time's day
    /// (and no earlier than the oldest day the log holds, nor than `floor`, the Change of
    /// Tenancy date for a party other than the supplier) through today at `now`, at most the
    /// number asked for. Each sample is the day's consumption (uint24, 0 for a day with
    /// none); the sample request interval is `FFFF`, as the RTDS answer has it (a day does
    /// not fit a uint16 of seconds). `Ok(None)` when no day is in range or the sample ID or
    /// type is another; `Err(())` when the request is too short.
    fn sampled_data(&self, p: &[u8], now: u32, floor: u32) -> Result<Option<Vec<u8>>, ()> {
        let (Some(id), Some(earliest), Some(&kind), Some(number)) =
            (u16_le(p, 0), u32_le(p, 2), p.get(6), u16_le(p, 7))
        else {
            return Err(());
        };
        if id == SAMPLE_NETWORK_DATA {
            return Ok(self.network_data(earliest, kind, number, now));
        }
        let Some(&(oldest, _)) = self.daily.first() else {
            return Ok(None);
        };
        if id != SAMPLE_DAILY_CONSUMPTION || kind != 0 || number == 0 {
            return Ok(None);
        }
        let today = now - now % DAY;
        let start = (earliest - earliest % DAY)
            .max(oldest)
            .max(floor.div_ceil(DAY).saturating_mul(DAY));
        if start > today {
            return Ok(None);
        }
        let count = ((today - start) / DAY + 1).min(u32::from(number));
        let mut out = Vec::with_capacity(11 + 3 * count as usize);
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&start.to_le_bytes());
        out.push(kind);
        out.extend_from_slice(&0xffffu16.to_le_bytes());
        out.extend_from_slice(&(count as u16).to_le_bytes());
        for n in 0..count {
            let v = value_at(&self.daily, start + n * DAY);
            out.extend_from_slice(&v.min(0x00ff_ffff).to_le_bytes()[..3]);
        }
        Ok(Some(out))
    }

    /// The *Get Sampled Data Response* payload for the network data recording: its samples
    /// from the first interval starting at or after `earliest` (1 asks from the first) up to
    /// the interval `now` falls in, at most `number` of them and at most the recording's
    /// `max`; each sample a uint24 (0 for an interval with no consumption). Unlike the daily
    /// log and the profile, no Change of Tenancy cut-off applies: the recording is the
    /// network's (four hours at most). `None` when no recording was started, the sample type is not consumption delivered (0), or no
    /// interval is in range.
    fn network_data(&self, earliest: u32, kind: u8, number: u16, now: u32) -> Option<Vec<u8>> {
        let r = self.network.as_ref()?;
        if kind != 0 || number == 0 || now < r.start {
            return None;
        }
        let interval = u32::from(r.interval.max(1));
        let first = earliest.saturating_sub(r.start).div_ceil(interval);
        let elapsed = ((now - r.start) / interval + 1).min(u32::from(r.max));
        if first >= elapsed {
            return None;
        }
        let count = (elapsed - first).min(u32::from(number));
        let start = r.start + first * interval;
        let mut out = Vec::with_capacity(11 + 3 * count as usize);
        out.extend_from_slice(&SAMPLE_NETWORK_DATA.to_le_bytes());
        out.extend_from_slice(&start.to_le_bytes());
        out.push(kind);
        out.extend_from_slice(&r.interval.to_le_bytes());
        out.extend_from_slice(&(count as u16).to_le_bytes());
        for n in first..first + count {
            let v = r.samples.get(n as usize).copied().unwrap_or(0);
            out.extend_from_slice(&v.min(0x00ff_ffff).to_le_bytes()[..3]);
        }
        Some(out)
    }

    /// The *Get Profile Response* payload for consumption (channel 0) intervals ending at or
    /// before `end` (0: the last complete half hour at `now`), at most `periods`, newest
    /// first: end time of the newest, status, interval period (2: 30 minutes), number of
    /// periods, then one uint24 per half hour (0 for a half hour with no consumption, back
    /// to the oldest the profile holds, and none that began before `floor`, the Change of
    /// Tenancy date for a party other than the supplier). Status 1 for an undefined channel,
    /// 2 for channel 1 (consumption received, which a GSME does not record), 5 when no
    /// interval is available.
    fn get_profile(&self, channel: u8, end: u32, periods: u8, now: u32, floor: u32) -> Vec<u8> {
        const SUCCESS: u8 = 0x00;
        const UNDEFINED_CHANNEL: u8 = 0x01;
        const CHANNEL_NOT_SUPPORTED: u8 = 0x02;
        const NO_INTERVALS: u8 = 0x05;
        const THIRTY_MINUTES: u8 = 0x02;
        let latest = now - now % HALF_HOUR;
        let end = if end == 0 { latest } else { end.min(latest) };
        let end = end - end % HALF_HOUR;
        let answer = |end: u32, status: u8, values: &[u32]| {
            let mut p = Vec::with_capacity(7 + 3 * values.len());
            p.extend_from_slice(&end.to_le_bytes());
            p.extend_from_slice(&[status, THIRTY_MINUTES, values.len() as u8]);
            for v in values {
                p.extend_from_slice(&v.min(&0x00ff_ffff).to_le_bytes()[..3]);
            }
            p
        };
        match channel {
            0 => {}
            1 => return answer(end, CHANNEL_NOT_SUPPORTED, &[]),
            _ => return answer(end, UNDEFINED_CHANNEL, &[]),
        }
        let Some(oldest) = self.profile.first().map(|&(s, _)| s.max(floor)) else {
            return answer(end, NO_INTERVALS, &[]);
        };
        let mut values = Vec::new();
        let mut start = end.checked_sub(HALF_HOUR);
        while let Some(s) = start
            && s >= oldest
            && values.len() < usize::from(periods)
        {
            values.push(value_at(&self.profile, s));
            start = s.checked_sub(HALF_HOUR);
        }
        if values.is_empty() {
            answer(end, NO_INTERVALS, &[])
        } else {
            answer(end, SUCCESS, &values)
        }
    }

    /// Makes a publish command active, and carries out what it changes in the model: a
    /// *Change Supply* sets *SupplyStatus* to its proposed status, a Calendar cluster publish
    /// becomes part of the active calendar ([`ZigbeeModel::calendar`]).
    pub fn apply(&mut self, cluster: u16, frame_control: u8, command: u8, payload: Vec<u8>) {
        if cluster == cluster::CALENDAR && frame_control & 0x08 != 0 {
            self.keep_calendar_element(command, &payload);
        }
        if (cluster, command) == (cluster::PREPAYMENT, CREDIT_ADJUSTMENT)
            && let (Some(&kind), Some(value)) = (payload.get(8), u32_le(&payload, 9))
        {
            self.adjust_credit(kind, i32::from_le_bytes(value.to_le_bytes()));
        }
        if (cluster, command) == (cluster::METERING, CHANGE_SUPPLY)
            && let Some(&proposed) = payload.get(16)
            && proposed <= 2
        {
            self.attributes.insert(
                (cluster::METERING, SUPPLY_STATUS_ATTRIBUTE),
                ZclAttribute {
                    data_type: 0x30,
                    value: vec![proposed],
                },
            );
        }
        self.published.insert(
            (cluster, command),
            Published {
                frame_control,
                payload,
            },
        );
    }
}

impl ZigbeeModel {
    /// Records an event in log `log` and keeps that log's newest [`EVENTS_CAPACITY`]
    /// entries.
    pub fn log_event(&mut self, log: u8, id: u16, time: u32, data: &[u8]) {
        self.events.push(ZclEvent {
            log,
            id,
            time,
            data: data[..data.len().min(254)].to_vec(),
        });
        let mut kept = self.events.iter().filter(|e| e.log == log).count();
        self.events.retain(|e| {
            if e.log == log && kept > EVENTS_CAPACITY {
                kept -= 1;
                false
            } else {
                true
            }
        });
    }

    /// The *Publish Event Log* payload for a *Get Event Log* `p` (event control / log ID,
    /// event ID, start and end time, number of events, event offset), or `None` when the
    /// request is too short. Log 0 is every log and event ID 0 every event; number 0 is all
    /// of them. The payload gives the number of matching events, command index 0 of 1
    /// command, a payload control of 0 (as the RTDS answers have it), then the events after
    /// the offset, oldest first: log ID, event ID, time and data. `Some(None)` when no event
    /// matches.
    fn event_log(&self, p: &[u8]) -> Option<Option<Vec<u8>>> {
        let log = p.first()? & 0x0f;
        let id = u16_le(p, 1)?;
        let (start, end) = (u32_le(p, 3)?, u32_le(p, 7)?);
        let count = usize::from(*p.get(11)?);
        let offset = usize::from(u16_le(p, 12)?);
        let matching: Vec<&ZclEvent> = self
            .events
            .iter()
            .filter(|e| {
                (log == 0 || e.log == log)
                    && (id == 0 || e.id == id)
                    && start <= e.time
                    && e.time <= end
            })
            .collect();
        if matching.is_empty() {
            return Some(None);
        }
        let total = u16::try_from(matching.len()).unwrap_or(u16::MAX);
        let mut out = total.to_le_bytes().to_vec();
        out.extend_from_slice(&[0, 1, 0]);
        let take = if count == 0 { usize::MAX } else { count };
        for e in matching.into_iter().skip(offset).take(take) {
            out.push(e.log);
            out.extend_from_slice(&e.id.to_le_bytes());
            out.extend_from_slice(&e.time.to_le_bytes());
            out.push(e.data.len() as u8);
            out.extend_from_slice(&e.data);
        }
        Some(Some(out))
    }

    /// A *Credit Adjustment*: types 0 and 1 add to or set *CreditRemaining* (Prepayment
    /// `0001`, int32), types 2 and 3 set or add to the meter balance (Metering `0A00`, kept as
    /// the two's complement of the balance). Other types change nothing.
    fn adjust_credit(&mut self, kind: u8, value: i32) {
        let (key, data_type) = match kind {
            0 | 1 => ((cluster::PREPAYMENT, 0x0001), 0x2b),
            2 | 3 => ((cluster::METERING, 0x0a00), 0x23),
            _ => return,
        };
        let current = self
            .attributes
            .get(&key)
            .and_then(|a| a.value.get(..4))
            .and_then(|v| <[u8; 4]>::try_from(v).ok())
            .map_or(0, i32::from_le_bytes);
        let new = if kind == 0 || kind == 3 {
            current.saturating_add(value)
        } else {
            value
        };
        self.attributes.insert(
            key,
            ZclAttribute {
                data_type,
                value: new.to_le_bytes().to_vec(),
            },
        );
    }

    /// An empty model.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Use cases whose GBZ responses are encrypted.
fn sensitive(code: u16) -> bool {
    const NAMES: &[&str] = &[
        "GCS13a", "GCS13b", "GCS13c", "GCS14", "GCS15b", "GCS15c", "GCS15d", "GCS16a", "GCS16b",
        "GCS17", "GCS18", "GCS61",
    ];
    message_codes::use_case(code).is_some_and(|n| NAMES.contains(&n))
}

/// An owned response component before encoding.
struct Out {
    cluster: u16,
    frame_control: u8,
    sequence: u8,
    command: u8,
    payload: Vec<u8>,
    /// Default Responses are never encrypted.
    data: bool,
}

fn default_response(cluster: u16, seq: u8, command: u8, status: u8) -> Out {
    Out {
        cluster,
        frame_control: 0x08,
        sequence: seq,
        command: 0x0b,
        payload: vec![command, status],
        data: false,
    }
}

/// Adds `volume` to the entry of `slot` in `series` (time order, one entry per slot), and
/// keeps the newest `capacity` entries. Consumption usually arrives in time order, so the
/// newest entry is tried first.
fn add_to_series(series: &mut Vec<(u32, u32)>, slot: u32, volume: u32, capacity: usize) {
    match series.last_mut() {
        Some((s, v)) if *s == slot => *v = v.wrapping_add(volume),
        Some((s, _)) if *s > slot => match series.binary_search_by_key(&slot, |(s, _)| *s) {
            Ok(i) => series[i].1 = series[i].1.wrapping_add(volume),
            Err(i) => series.insert(i, (slot, volume)),
        },
        _ => series.push((slot, volume)),
    }
    if series.len() > capacity {
        let excess = series.len() - capacity;
        series.drain(..excess);
    }
}

/// The value of `slot` in `series` (see [`add_to_series`]); 0 for a slot with no entry.
fn value_at(series: &[(u32, u32)], slot: u32) -> u32 {
    series
        .binary_search_by_key(&slot, |(s, _)| *s)
        .map_or(0, |i| series[i].1)
}

fn u16_le(p: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(p.get(at..at + 2)?.try_into().ok()?))
}

fn u32_le(p: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(p.get(at..at + 4)?.try_into().ok()?))
}

/// Whether a command asks for data (rather than publishing it).
fn is_get(profile_wide: bool, frame_control: u8, cl: u16, cmd: u8) -> bool {
    (profile_wide && cmd == 0x00)
        || (!profile_wide && (cl, cmd) == (cluster::METERING, GET_PROFILE))
        || (cl, cmd) == (cluster::METERING, 0x06)
        || (cl, cmd) == (cluster::METERING, GET_SAMPLED_DATA)
        || (cl == cluster::PREPAYMENT && matches!(cmd, 0x07 | 0x08 | 0x0a))
        || (cl, cmd) == (EVENTS, GET_EVENT_LOG)
        || (cl == cluster::CALENDAR && cmd <= CALENDAR_SPECIAL_DAYS && frame_control & 0x08 == 0)
}

/// Where the start time sits in a publish command, if it has one.
fn start_time_offset(cluster: u16, command: u8) -> Option<usize> {
    match (cluster, command) {
        (cluster::CALENDAR, 0x00) | (cluster::CALENDAR, 0x04) | (cluster::PRICE, 0x04) => Some(12),
        (cluster::PRICE, 0x05) | (cluster::PRICE, 0x06) => Some(8),
        _ => None,
    }
}

/// Executes a GBZ command payload.
pub(crate) fn execute(
    state: &mut DeviceState,
    ctx: &Ctx,
    g: &Gbz<'_>,
) -> Result<Outcome, DeviceError> {
    let firmware = state.firmware_version.clone();
    let supplier = state.trusted.eui_of(crate::trust::role::SUPPLIER);
    let floor = match state.zigbee() {
        Some(m) if supplier != Some(ctx.remote_party()) => change_of_tenancy(m).unwrap_or(0),
        _ => 0,
    };
    let model = state
        .zigbee_mut()
        .ok_or(DeviceError::Unsupported(ctx.code))?;
    let mut outs = Vec::new();
    let mut publishes = Vec::new();
    let mut state_event_log_cleared = false;
    let n = g.components().len();
    // The billing calendar's, gas conversion's and gas flow's ERROR vectors fail only the
    // last of their two commands.
    let last_only_fails = message_codes::use_case(ctx.code)
        .is_some_and(|u| matches!(u, "GCS25" | "GCS25a" | "GCS23" | "GCS24"));
    for (i, c) in g.components().iter().enumerate() {
        let ComponentBody::Plain(p) = c.body else {
            return Err(crate::error::bad(ctx.code, "encrypted command components"));
        };
        let z = c.zcl;
        let seq = z.sequence_number;
        let profile_wide = z.frame_control & 0x03 == 0;
        if ctx.fault && last_only_fails && i + 1 == n {
            let mut out = default_response(c.cluster_id, seq, z.command_id, status::FAULT);
            out.frame_control = answer_direction(z.frame_control);
            outs.push(out);
            continue;
        }
        if ctx.fault && !last_only_fails && n >= 2 && i + 2 >= n {
            let mut out = if i + 2 == n {
                default_response(c.cluster_id, seq, z.command_id, status::FAULT)
            } else {
                default_response(c.cluster_id, seq, 0xff, 0x01)
            };
            if !is_get(profile_wide, z.frame_control, c.cluster_id, z.command_id) {
                out.frame_control = answer_direction(z.frame_control);
            }
            outs.push(out);
            continue;
        }
        if ctx.fault
            && n == 1
            && (c.cluster_id, z.command_id) == (cluster::METERING, START_SAMPLING)
        {
            // A sampling that cannot start answers sample ID FFFF, as the RTDS ERROR
            // response.
            outs.push(Out {
                cluster: cluster::METERING,
                frame_control: 0x09,
                sequence: seq,
                command: START_SAMPLING_RESPONSE,
                payload: vec![0xff, 0xff],
                data: false,
            });
            continue;
        }
        if ctx.fault && n == 1 && (c.cluster_id, z.command_id) == (EVENTS, CLEAR_EVENT_LOG) {
            outs.push(Out {
                cluster: EVENTS,
                frame_control: 0x09,
                sequence: seq,
                command: CLEAR_EVENT_LOG_RESPONSE,
                payload: vec![0],
                data: false,
            });
            continue;
        }
        if ctx.fault && n == 1 {
            outs.push(if profile_wide && z.command_id == 0x00 {
                let mut payload = Vec::new();
                for id in p.chunks_exact(2) {
                    payload.extend_from_slice(id);
                    payload.push(status::FAULT);
                }
                Out {
                    cluster: c.cluster_id,
                    frame_control: 0x08,
                    sequence: seq,
                    command: 0x01,
                    payload,
                    data: false,
                }
            } else {
                let mut out = default_response(c.cluster_id, seq, z.command_id, status::FAULT);
                out.frame_control = answer_direction(z.frame_control);
                out
            });
            continue;
        }
        match (profile_wide, c.cluster_id, z.command_id) {
            (true, cl, 0x00) => {
                let mut payload = Vec::new();
                for id in p.chunks_exact(2) {
                    let attr = u16::from_le_bytes([id[0], id[1]]);
                    payload.extend_from_slice(id);
                    if cl == cluster::METERING && attr == FIRMWARE_VERSION_ATTRIBUTE {
                        payload.extend_from_slice(&[status::SUCCESS, 0x41, firmware.len() as u8]);
                        payload.extend_from_slice(&firmware);
                    } else if let Some(a) = model.attributes.get(&(cl, attr)) {
                        payload.push(status::SUCCESS);
                        payload.push(a.data_type);
                        payload.extend_from_slice(&a.value);
                    } else {
                        payload.push(status::UNSUPPORTED_ATTRIBUTE);
                    }
                }
                outs.push(Out {
                    cluster: cl,
                    frame_control: 0x08,
                    sequence: seq,
                    command: 0x01,
                    payload,
                    data: true,
                });
            }
            (true, cl, cmd) => {
                outs.push(default_response(cl, seq, cmd, status::UNSUPPORTED_COMMAND));
            }
            (false, cl @ (cluster::METERING | cluster::PREPAYMENT), cmd)
                if (cl, cmd) == (cluster::METERING, 0x06)
                    || (cl, cmd) == (cluster::PREPAYMENT, 0x07) =>
            {
                let (Some(start), Some(end), Some(&offset), Some(cause)) =
                    (u32_le(p, 0), u32_le(p, 4), p.get(8), u32_le(p, 9))
                else {
                    outs.push(default_response(cl, seq, cmd, status::FAULT));
                    continue;
                };
                let found: Vec<&Snapshot> = model
                    .snapshots
                    .iter()
                    .filter(|s| {
                        s.cluster == cl
                            && start.max(floor) <= s.time
                            && s.time <= end
                            && (cause == u32::MAX || s.cause & cause != 0)
                    })
                    .collect();
                match found.get(usize::from(offset)) {
                    Some(s) => {
                        let mut payload = Vec::with_capacity(16 + s.payload.len());
                        payload.extend_from_slice(&s.id.to_le_bytes());
                        payload.extend_from_slice(&s.time.to_le_bytes());
                        payload.push(u8::try_from(found.len()).unwrap_or(u8::MAX));
                        payload.extend_from_slice(&[0, 1]);
                        payload.extend_from_slice(&s.cause.to_le_bytes());
                        payload.push(s.payload_type);
                        payload.extend_from_slice(&s.payload);
                        outs.push(Out {
                            cluster: cl,
                            frame_control: 0x19,
                            sequence: seq,
                            command: if cl == cluster::METERING { 0x06 } else { 0x01 },
                            payload,
                            data: true,
                        });
                    }
                    None => outs.push(default_response(cl, seq, cmd, status::NOT_FOUND)),
                }
            }
            (false, cluster::METERING, GET_PROFILE) => {
                let (Some(&channel), Some(end), Some(&periods)) =
                    (p.first(), u32_le(p, 1), p.get(5))
                else {
                    outs.push(default_response(
                        cluster::METERING,
                        seq,
                        GET_PROFILE,
                        status::FAULT,
                    ));
                    continue;
                };
                let now = time::zigbee_from_unix(ctx.now);
                outs.push(Out {
                    cluster: cluster::METERING,
                    frame_control: 0x19,
                    sequence: seq,
                    command: GET_PROFILE,
                    payload: model.get_profile(channel, end, periods, now, floor),
                    data: true,
                });
            }
            (false, cluster::CALENDAR, cmd @ 0x00..=0x04) if z.frame_control & 0x08 == 0 => {
                let found = model.calendar_answer(cmd, p);
                if found.is_empty() {
                    outs.push(default_response(
                        cluster::CALENDAR,
                        seq,
                        cmd,
                        status::NOT_FOUND,
                    ));
                }
                for payload in found {
                    outs.push(Out {
                        cluster: cluster::CALENDAR,
                        frame_control: 0x19,
                        sequence: seq,
                        command: cmd,
                        payload,
                        data: true,
                    });
                }
            }
            (false, cluster::METERING, GET_SAMPLED_DATA) => {
                let now = time::zigbee_from_unix(ctx.now);
                // The RTDS answers: the GPF's daily log with the disable-default-response
                // bit and bit 4 (0x19), the GSME's network data without bit 4 (0x09).
                let network = u16_le(p, 0) == Some(SAMPLE_NETWORK_DATA);
                match model.sampled_data(p, now, floor) {
                    Ok(Some(payload)) => outs.push(Out {
                        cluster: cluster::METERING,
                        frame_control: if network { 0x09 } else { 0x19 },
                        sequence: seq,
                        command: GET_SAMPLED_DATA_RESPONSE,
                        payload,
                        data: true,
                    }),
                    Ok(None) => outs.push(default_response(
                        cluster::METERING,
                        seq,
                        GET_SAMPLED_DATA,
                        status::NOT_FOUND,
                    )),
                    Err(()) => outs.push(default_response(
                        cluster::METERING,
                        seq,
                        GET_SAMPLED_DATA,
                        status::FAULT,
                    )),
                }
            }
            (false, cluster::PREPAYMENT, cmd @ (0x08 | 0x0a)) => {
                let from = c.from_date_time.unwrap_or(0).max(floor);
                let (Some(end), Some(&count)) = (u32_le(p, 0), p.get(4)) else {
                    outs.push(default_response(
                        cluster::PREPAYMENT,
                        seq,
                        cmd,
                        status::FAULT,
                    ));
                    continue;
                };
                let end = if end >= 0xffff_fffe {
                    time::zigbee_from_unix(ctx.now)
                } else {
                    end
                };
                let mut payload = vec![0, 1];
                let mut n = 0;
                if cmd == 0x08 {
                    for t in model.top_ups.iter().rev() {
                        if n < count && from <= t.time && t.time <= end {
                            payload.push(u8::try_from(t.code.len()).unwrap_or(u8::MAX));
                            payload.extend_from_slice(&t.code);
                            payload.extend_from_slice(&t.amount.to_le_bytes());
                            payload.extend_from_slice(&t.time.to_le_bytes());
                            n += 1;
                        }
                    }
                } else {
                    let debt_type = p.get(5).copied().unwrap_or(0xff);
                    for d in model.debts.iter().rev() {
                        if n < count
                            && from <= d.time
                            && d.time <= end
                            && (debt_type == 0xff || d.debt_type == debt_type)
                        {
                            payload.extend_from_slice(&d.time.to_le_bytes());
                            payload.extend_from_slice(&d.amount.to_le_bytes());
                            payload.push(d.debt_type);
                            payload.extend_from_slice(&d.outstanding.to_le_bytes());
                            n += 1;
                        }
                    }
                }
                if n == 0 {
                    outs.push(default_response(
                        cluster::PREPAYMENT,
                        seq,
                        cmd,
                        status::NOT_FOUND,
                    ));
                } else {
                    outs.push(Out {
                        cluster: cluster::PREPAYMENT,
                        frame_control: 0x19,
                        sequence: seq,
                        command: if cmd == 0x08 { 0x05 } else { 0x06 },
                        payload,
                        data: true,
                    });
                }
            }
            (false, EVENTS, GET_EVENT_LOG) => match model.event_log(p) {
                Some(Some(payload)) => outs.push(Out {
                    cluster: EVENTS,
                    frame_control: 0x19,
                    sequence: seq,
                    command: PUBLISH_EVENT_LOG,
                    payload,
                    data: true,
                }),
                Some(None) => outs.push(default_response(
                    EVENTS,
                    seq,
                    GET_EVENT_LOG,
                    status::NOT_FOUND,
                )),
                None => outs.push(default_response(EVENTS, seq, GET_EVENT_LOG, status::FAULT)),
            },
            (false, EVENTS, CLEAR_EVENT_LOG) => {
                // Log 0 is every log; the GSME keeps its event log (3) in the device state.
                let cleared = match p.first() {
                    Some(0) | Some(&EVENT_LOG) => 1u8 << EVENT_LOG,
                    _ => 0,
                };
                if cleared != 0 {
                    state_event_log_cleared = true;
                }
                outs.push(Out {
                    cluster: EVENTS,
                    frame_control: 0x09,
                    sequence: seq,
                    command: CLEAR_EVENT_LOG_RESPONSE,
                    payload: vec![cleared],
                    data: false,
                });
            }
            (false, cluster::METERING, START_SAMPLING) => {
                // Issuer event ID, start sampling time (0: now), sample type, sample
                // request interval (seconds), maximum number of samples.
                let (Some(at), Some(&kind), Some(interval), Some(max)) =
                    (u32_le(p, 4), p.get(8), u16_le(p, 9), u16_le(p, 11))
                else {
                    outs.push(default_response(
                        cluster::METERING,
                        seq,
                        START_SAMPLING,
                        status::FAULT,
                    ));
                    continue;
                };
                if kind != 0 || interval == 0 || max == 0 {
                    outs.push(default_response(
                        cluster::METERING,
                        seq,
                        START_SAMPLING,
                        status::INVALID_VALUE,
                    ));
                    continue;
                }
                let now = time::zigbee_from_unix(ctx.now);
                let start = if at == 0 { now } else { at };
                model.network = Some(NetworkRecording {
                    start: start - start % u32::from(interval),
                    interval,
                    max,
                    samples: Vec::new(),
                });
                outs.push(Out {
                    cluster: cluster::METERING,
                    frame_control: 0x09,
                    sequence: seq,
                    command: START_SAMPLING_RESPONSE,
                    payload: SAMPLE_NETWORK_DATA.to_le_bytes().to_vec(),
                    data: false,
                });
            }
            (false, cluster::METERING, CHANGE_SUPPLY) => {
                // Provider ID, issuer event ID, request and implementation date-times,
                // proposed supply status (0 off, 1 armed, 2 on), supply control bits.
                let (Some(&proposed), Some(&control)) = (p.get(16), p.get(17)) else {
                    outs.push(default_response(
                        cluster::METERING,
                        seq,
                        CHANGE_SUPPLY,
                        status::FAULT,
                    ));
                    continue;
                };
                if proposed > 2 {
                    outs.push(default_response(
                        cluster::METERING,
                        seq,
                        CHANGE_SUPPLY,
                        status::INVALID_VALUE,
                    ));
                    continue;
                }
                publishes.push((
                    cluster::METERING,
                    z.frame_control,
                    CHANGE_SUPPLY,
                    p.to_vec(),
                ));
                if control & ACKNOWLEDGE_REQUIRED != 0 {
                    // *Supply Status Response*: provider ID, issuer event ID, implementation
                    // date-time and the supply status it sets.
                    let mut payload = p[0..8].to_vec();
                    payload.extend_from_slice(&p[12..16]);
                    payload.push(proposed);
                    outs.push(Out {
                        cluster: cluster::METERING,
                        frame_control: 0x09,
                        sequence: seq,
                        command: SUPPLY_STATUS_RESPONSE,
                        payload,
                        data: true,
                    });
                } else {
                    outs.push(default_response(
                        cluster::METERING,
                        seq,
                        CHANGE_SUPPLY,
                        status::SUCCESS,
                    ));
                }
            }
            (false, cl, cmd) => {
                publishes.push((cl, z.frame_control, cmd, p.to_vec()));
                let mut out = default_response(cl, seq, cmd, status::SUCCESS);
                out.frame_control = answer_direction(z.frame_control);
                outs.push(out);
            }
        }
    }

    if state_event_log_cleared {
        if let Some(m) = state.zigbee_mut() {
            m.events.retain(|e| e.log != EVENT_LOG);
        }
        state.event_log.entries.clear();
        state.event_log.push(ctx.now, "event-log-cleared", "");
    }
    let pending = if publishes.is_empty() || ctx.fault {
        None
    } else {
        schedule_publishes(state, ctx, publishes)
    };

    // Encode, encrypting the data components of sensitive use cases.
    let encrypt = sensitive(ctx.code);
    let mut sealed: Vec<Option<(Vec<u8>, [u8; 12])>> = Vec::with_capacity(outs.len());
    for o in &outs {
        sealed.push(if encrypt && o.data && o.cluster != cluster::PRICE {
            Some(ctx.encrypt_split(&o.payload)?)
        } else {
            None
        });
    }
    let mut frame_counter = 0u8;
    let components: Vec<Component<'_>> = outs
        .iter()
        .zip(&sealed)
        .map(|(o, s)| Component {
            cluster_id: o.cluster,
            from_date_time: None,
            zcl: ZclHeader {
                frame_control: o.frame_control,
                manufacturer_code: None,
                sequence_number: o.sequence,
                command_id: o.command,
            },
            body: match s {
                Some((ct, tag)) => {
                    let header = EncryptionHeader {
                        additional_header_control: 0,
                        frame_counter,
                    };
                    frame_counter = frame_counter.wrapping_add(1);
                    ComponentBody::Encrypted {
                        header,
                        ciphertext: ct,
                        tag,
                    }
                }
                None => ComponentBody::Plain(&o.payload),
            },
        })
        .collect();
    let mut payload = Vec::new();
    Gbz {
        alert: None,
        body: GbzBody::Components(components),
    }
    .encode(&mut payload);
    Ok(Outcome {
        payload,
        alerts: Vec::new(),
        pending,
    })
}

/// Applies publish commands now, cancels, or keeps them for later, by their start times.
fn schedule_publishes(
    state: &mut DeviceState,
    ctx: &Ctx,
    publishes: Vec<(u16, u8, u8, Vec<u8>)>,
) -> Option<Pending> {
    let mut future = None;
    let mut cancel = false;
    for (cl, _, cmd, p) in &publishes {
        if let Some(at) = start_time_offset(*cl, *cmd)
            && let Some(t) = u32_le(p, at)
        {
            match t {
                0 => {}
                0xffff_fffe | 0xffff_ffff => cancel = true,
                t if time::unix_from_zigbee(t) > ctx.now => future = future.or(Some(t)),
                _ => {}
            }
        }
    }
    if cancel {
        state.pending.retain(|p| p.message_code != ctx.code);
        state.event_log.push(
            ctx.now,
            "future-dated-cancelled",
            format!("{:#06x}", ctx.code),
        );
        return None;
    }
    if let Some(t) = future {
        state.pending.retain(|p| p.message_code != ctx.code);
        return Some(Pending {
            due: time::unix_from_zigbee(t),
            message_code: ctx.code,
            originator: ctx.remote_party(),
            counter: ctx.counter,
            work: PendingWork::Zcl {
                publishes,
                execution: t,
            },
        });
    }
    if let Some(m) = state.zigbee_mut() {
        for (cl, fc, cmd, p) in publishes {
            m.apply(cl, fc, cmd, p);
        }
    }
    None
}

/// Makes a due future-dated publish command active; one 8F66 alert per publish with a start
/// time.
pub(crate) fn run_pending(state: &mut DeviceState, p: &Pending) -> Vec<AlertSpec> {
    let PendingWork::Zcl {
        publishes,
        execution,
    } = &p.work
    else {
        return Vec::new();
    };
    let Some(m) = state.zigbee_mut() else {
        return Vec::new();
    };
    let mut alerts = Vec::new();
    for (cl, fc, cmd, payload) in publishes {
        m.apply(*cl, *fc, *cmd, payload.clone());
        if start_time_offset(*cl, *cmd).is_some() {
            alerts.push(AlertSpec {
                message_code: alert_code::FUTURE_DATED_GBZ,
                critical: true,
                recipient: p.originator,
                body: AlertBody::Gbz {
                    code: alert::FUTURE_DATED_SUCCESS,
                    timestamp: *execution,
                    record: Some(gbz::FutureDatedAlert {
                        message_code: p.message_code,
                        originator_counter: p.counter,
                        cluster_id: *cl,
                        frame_control: *fc,
                        command_id: *cmd,
                    }),
                },
            });
        }
    }
    alerts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (end, status, values) of a *Get Profile Response* payload.
    fn read(p: &[u8]) -> (u32, u8, Vec<u32>) {
        let end = u32::from_le_bytes([p[0], p[1], p[2], p[3]]);
        assert_eq!(p[5], 0x02, "30-minute intervals");
        let values = p[7..]
            .chunks_exact(3)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], 0]))
            .collect::<Vec<_>>();
        assert_eq!(values.len(), usize::from(p[6]));
        (end, p[4], values)
    }

    #[test]
    fn the_profile_is_read_back_within_its_bounds() {
        let mut m = ZigbeeModel::new();
        let day = 86_400;
        m.add_to_profile(day, 5);
        m.add_to_profile(day + 3600, 7);
        m.add_to_profile(day + 1800, 6);
        m.add_to_profile(day + 1800, 1);
        assert_eq!(m.profile, [(day, 5), (day + 1800, 7), (day + 3600, 7)]);
        let now = day + 3 * 3600 + 60;
        // End 0: the newest complete half hour; zeros down to the oldest entry.
        assert_eq!(
            read(&m.get_profile(0, 0, 48, now, 0)),
            (day + 3 * 3600, 0, vec![0, 0, 0, 7, 7, 5])
        );
        // A later end is capped at now; at most `periods`; an unaligned end rounds down.
        assert_eq!(
            read(&m.get_profile(0, u32::MAX, 2, now, 0)),
            (day + 3 * 3600, 0, vec![0, 0])
        );
        assert_eq!(
            read(&m.get_profile(0, day + 3600 + 900, 48, now, 0)),
            (day + 3600, 0, vec![7, 5])
        );
        // Nothing before the Change of Tenancy date for another party.
        assert_eq!(
            read(&m.get_profile(0, day + 7200, 48, now, day + 1800)),
            (day + 7200, 0, vec![0, 7, 7])
        );
        assert_eq!(
            read(&m.get_profile(0, day + 1800, 48, now, day + 1800)),
            (day + 1800, 5, vec![])
        );
        // Other channels.
        assert_eq!(read(&m.get_profile(1, 0, 48, now, 0)).1, 0x02);
        assert_eq!(read(&m.get_profile(7, 0, 48, now, 0)).1, 0x01);
        // Before the ZigBee epoch's first half hour, and an empty profile.
        assert_eq!(read(&m.get_profile(0, 0, 48, 100, 0)), (0, 5, vec![]));
        assert_eq!(
            read(&ZigbeeModel::new().get_profile(0, 0, 48, now, 0)).1,
            0x05
        );
        // The newest entries are kept.
        for i in 0..PROFILE_CAPACITY as u32 + 10 {
            m.add_to_profile(2 * day + i * 1800, 1);
        }
        assert_eq!(m.profile.len(), PROFILE_CAPACITY);
        assert_eq!(m.profile[0].0, 2 * day + 10 * 1800);
    }
}
