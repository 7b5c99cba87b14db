//! Cancelling future-dated requests (PROTOCOLS.md §1.6): a request whose `ExecutionDateTime`
//! falls in the year [`CANCELLATION_YEAR`] or later ("CANCELLATION", `3000-12-31T00:00:00Z`
//! in the DUIS templates) cancels a pending future-dated request of the same kind.
//!
//! # DSP pattern (the gateway holds the request)
//!
//! A request of an SRV whose future-dated pattern is `DSP` (4.1.1 and the other non-critical
//! reads) with an execution time from [`CANCELLATION_YEAR`] on is never held: when
//! [`crate::routing::Router`] dispatches it, it takes from the deferred queue every request
//! held for the same User (RequestID originator), the same device (RequestID target) and the
//! same Service Reference Variant ([`cancels_held`]), found through the queue's index by
//! (User, device, SRV) without a scan of the queue. Each cancelled request gets its one
//! final answer, a signed Service Response with [`CANCELLED_CODE`] (`E48`) and no body; the
//! cancellation itself gets a signed Service Response `I0` with no body (the DUIS response of
//! a request carried out that returns nothing). Both go through the response writer, which
//! removes the journal entries of the cancelled requests and of the cancellation in the
//! transaction that stores the answers, so the pair is durable together. Over HTTPS the
//! cancellation is acknowledged (`I99`) like every device request the gateway routes; the two
//! answers follow through delivery.
//!
//! A cancellation that finds nothing held (never held, already sent, or cancelled before)
//! is answered `E47` ([`crate::ingress::codes::Rejection::NothingToCancel`]), synchronously
//! when it arrives, and its journal entry is removed.
//!
//! Restart: the held requests and the cancellation are both in the write-ahead journal until
//! the answers are stored. [`crate::routing::Router::recover`] replays the journal in
//! acceptance order, so the held request is held again before the cancellation takes it
//! again; a restart at any point gives the same two answers once.
//!
//! # Device pattern (the device holds the instruction)
//!
//! For SRVs whose pattern is `Device` or `DSP & Device` the execution time travels in the
//! GBCS command ([`command_execution`], read once per request by the router and kept with
//! it; [`Execution::defers`] then says whether it supersedes at the time it is sent); a cancellation is a command whose activation time
//! says "not specified" ([`command_cancels`]: DLMS activation date-times with every date
//! field `FF`, ZigBee start times `FFFFFFFE`/`FFFFFFFF`, or an ASN.1 GeneralizedTime from the
//! year 3000 on). A device keeps at most one pending instruction per message code, whoever
//! sent it: the emulated meters (`hil-rig`, DLMS, ZigBee and the credentials update alike),
//! like GBCS devices, drop every pending instruction of the message code when they carry out
//! a cancellation, and when they accept a newer future-dated command of that message code
//! they keep only the newer. Neither raises an alert for what was dropped — no `8F66`, no
//! `8F67` — so the gateway forgets the requests it remembered for them
//! ([`crate::alerts::FutureDated::drop_instructions`]: every User's records for that device
//! with that message code, or, for records kept by an older version without a message
//! code, the same SRV):
//!
//! * when the device answers a cancellation successfully ([`response_succeeded`]), counted
//!   as `hubgate_future_dated_cancelled_total{pattern="device"}`; the cancellation itself is
//!   not remembered: it has no execution alert to wait for;
//! * when the device answers successfully a future-dated command whose execution time is
//!   ahead of the gateway's clock when it is sent ([`command_defers`]; the emulated meters
//!   run on the same clock), before that command is remembered, counted as
//!   `pattern="superseded"`. A command to be run now, one whose time has passed, one with no
//!   time the gateway can read, and one the device partly failed replace nothing: the
//!   pending instruction stays and so does its record.
//!
//! A command that asks to be run now (an activation date-time of zeros, a ZigBee start time
//! of 0) is not remembered at all: the device carries it out at once and raises no
//! execution alert, so its record would only wait for the size bound.
//!
//! Both happen in the response writer, in the batch whose transaction also stores the
//! answers, so the records are forgotten durably with them. Each forgotten request is
//! logged (its RequestID, `info`).
//!
//! What the older requester receives: nothing more. It had its request's Service Response
//! (`I0`, the device's acceptance) when the device took the instruction; a
//! `FutureDatedDeviceAlertMessage` cannot be sent (the device raises no alert), and the
//! DUIS schema's DCC alerts have none for a cancelled or replaced device instruction
//! (`CommandFailure` names a DSP schedule). Telling it by some other means was rejected:
//! after a change of supplier the older requester is the losing supplier, which is no longer
//! entitled to hear about the premises, and a replacement by the same User is its own act.
//! The newer command's (or the cancellation's) Service Response, with the device's GBCS
//! response, is the record that the older instruction will not run.
//!
//! Not done: a device the gateway does not emulate may keep several pending instructions of
//! one message code (GBCS allows it only for some use cases); the gateway assumes one.
//!
//! `gateway/tests/future_dated_cancel.rs` proves, against a running `hubgate serve` on a
//! virtual clock with an emulated premises: a 4.1.1 read held for an hour and then cancelled
//! is never sent to the meter (past its time nothing reaches the supplier, the meter's read
//! count is unchanged) and the supplier gets exactly the two answers above, each valid
//! against the DUIS XSD with a DSP signature an independent checker verifies; a second
//! cancellation gets `E47`; the same across a SIGKILL between the cancellation's acceptance and
//! its answers; a future-dated tariff cancelled with its CANCELLATION template never raises
//! an `8F66` to the supplier and its record is forgotten and counted, while a tariff
//! future-dated afterwards still raises its `8F66`; of two tariffs future-dated in a row,
//! only the second's `8F66` reaches the supplier (tied to the second request), the first is
//! forgotten and counted `superseded` — also across a restart in between — and an immediate
//! tariff in between supersedes nothing. The unit tests here prove, on the conformance
//! templates and the RTDS vectors, that cancellations are recognised as such and the
//! future-dated commands are read with their execution time (so they defer until it), the
//! immediate ones do not defer, the RTDS error responses are failures, the COSEM, ZigBee and
//! GeneralizedTime readings, the matching rule of [`cancels_held`], and that
//! [`crate::alerts::FutureDated::drop_instructions`] forgets every User's records of the
//! device and message code (and only those), durably.

use hubgate_protocol::duis::model::header::{RequestId, ServiceReferenceVariant};
use hubgate_protocol::duis::model::response::ResponseCode;
use hubgate_protocol::gbcs::frame;
use hubgate_protocol::gbcs::payload::data::Data;
use hubgate_protocol::gbcs::payload::gbz::ComponentBody;
use hubgate_protocol::gbcs::payload::{self, Payload, dlms};
pub use hubgate_protocol::transform::CANCELLATION_YEAR;

use crate::alerts::ACTIVATION_ATTRIBUTES;
use crate::journal::Entry;
use crate::metric_name;

/// The final answer of a DSP future-dated request cancelled before its execution time.
/// `E48` is in the DUIS schema's enumeration; the published sources available to this
/// project give it no meaning, so HubGate uses it for this (documented with the other codes
/// in [`crate::ingress::codes`]).
pub const CANCELLED_CODE: &str = "E48";

/// [`CANCELLED_CODE`] as a response code.
pub fn cancelled_code() -> ResponseCode {
    ResponseCode::parse(CANCELLED_CODE).unwrap_or(ResponseCode::I99)
}

/// The first instant of [`CANCELLATION_YEAR`] (milliseconds since the Unix epoch).
pub fn cancellation_from_ms() -> i64 {
    crate::clock::days_from_civil(CANCELLATION_YEAR, 1, 1) * 86_400_000
}

/// Whether an execution time (milliseconds) asks for a cancellation.
pub fn is_cancellation_time(ms: i64) -> bool {
    ms >= cancellation_from_ms()
}

/// What a DSP cancellation is matched on, taken from a journal entry ([`Matched::of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matched {
    /// The request's RequestID (its originator is the User).
    pub request_id: RequestId,
    /// The target device.
    pub device: [u8; 8],
    /// The Service Reference Variant.
    pub srv: ServiceReferenceVariant,
    /// Whether it is itself a cancellation (execution time from [`CANCELLATION_YEAR`] on).
    pub cancellation: bool,
}

impl Matched {
    /// The fields of `e` a cancellation is matched on.
    pub fn of(e: &Entry) -> Matched {
        Matched {
            request_id: e.request_id,
            device: e.device,
            srv: e.service.1,
            cancellation: e.not_before_ms.is_some_and(is_cancellation_time),
        }
    }
}

/// Whether the DSP cancellation `cancel` takes the held request `held`: the same User, the
/// same device and the same Service Reference Variant; a held cancellation (there is none:
/// they are never held) is not taken.
pub fn cancels_held(cancel: &Matched, held: &Matched) -> bool {
    held.request_id.originator == cancel.request_id.originator
        && held.device == cancel.device
        && held.srv == cancel.srv
        && held.request_id != cancel.request_id
        && !held.cancellation
}

/// Counts `n` future-dated requests cancelled, by `pattern` (`dsp`, `device`, `superseded`).
pub fn count(pattern: &'static str, n: usize) {
    if n > 0 {
        metrics::counter!(metric_name::FUTURE_DATED_CANCELLED_TOTAL, "pattern" => pattern)
            .increment(n as u64);
    }
}

/// Logs and counts the remembered requests to `device` forgotten because the device dropped
/// their pending instructions: by a cancellation (`pattern` `device`) or by a newer
/// future-dated command of the same message code (`superseded`).
pub fn forgotten(pattern: &'static str, device: [u8; 8], requests: &[RequestId]) {
    for r in requests {
        tracing::info!(
            device = %hubgate_protocol::hex::eui_duis(&device),
            request = %r,
            pattern,
            "a future-dated request's pending instruction was dropped by its device: forgotten"
        );
    }
    count(pattern, requests.len());
}

/// Seconds from the Unix epoch to the ZigBee epoch (2000-01-01T00:00:00Z).
const ZIGBEE_EPOCH_S: i64 = 946_684_800;

/// ZigBee clusters and commands that carry a start or implementation time, and where it is
/// in the payload (little-endian `u32`): Calendar *Publish Calendar* and *Publish Special
/// Days*, Price *Publish Tariff Information*, *Publish Price Matrix* and *Publish Block
/// Thresholds*, Prepayment *Change Payment Mode*.
fn zigbee_start_offset(cluster: u16, command: u8) -> Option<usize> {
    match (cluster, command) {
        (0x0707, 0x00 | 0x04) | (0x0700, 0x04) => Some(12),
        (0x0700, 0x05 | 0x06) | (0x0705, 0x06) => Some(8),
        _ => None,
    }
}

/// When a GBCS command asks its device to carry out its instructions, as read from the
/// execution times it carries ([`command_execution`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Execution {
    /// "Now": a DLMS activation date-time of zeros, a ZigBee start time of 0.
    Now,
    /// At this instant (milliseconds since the Unix epoch): the latest of the times the
    /// command carries. Later than the device's clock, the device keeps the command as a
    /// pending instruction and drops the pending ones of the same message code.
    At(i64),
    /// "Not specified": cancel the pending instructions of the same message code.
    Cancel,
}

impl Execution {
    /// Whether a command with this execution time, sent at `now_ms`, is kept pending by its
    /// device (replacing its pending instruction of the same message code): a time later
    /// than `now_ms`.
    pub fn defers(self, now_ms: i64) -> bool {
        matches!(self, Execution::At(t) if t > now_ms)
    }
}

/// One execution time read from a command.
fn fold(acc: Option<Execution>, next: Execution) -> Option<Execution> {
    Some(match (acc, next) {
        (Some(Execution::Cancel), _) | (_, Execution::Cancel) => Execution::Cancel,
        (Some(Execution::At(a)), Execution::At(b)) => Execution::At(a.max(b)),
        (Some(Execution::At(a)), Execution::Now) | (Some(Execution::Now), Execution::At(a)) => {
            Execution::At(a)
        }
        (_, n) => n,
    })
}

/// A COSEM date-time (12 octets) as an execution time: every date and time field `FF` is
/// [`Execution::Cancel`], a date and time of zeros [`Execution::Now`], otherwise the instant
/// (unspecified hour, minute or second fields read as 0; the deviation, when specified, is
/// minutes to add to reach UTC). `None` for a wildcard date or a field out of range.
fn cosem_execution(b: &[u8]) -> Option<Execution> {
    let b: &[u8; 12] = b.try_into().ok()?;
    if b[..9].iter().all(|x| *x == 0xff) {
        return Some(Execution::Cancel);
    }
    if b[..8].iter().all(|x| *x == 0) {
        return Some(Execution::Now);
    }
    let year = i64::from(u16::from_be_bytes([b[0], b[1]]));
    let (month, day) = (u32::from(b[2]), u32::from(b[3]));
    if year == 0xffff || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let field = |x: u8, max: u8| match x {
        0xff => Some(0i64),
        x if x <= max => Some(i64::from(x)),
        _ => None,
    };
    let (h, m, s) = (field(b[5], 23)?, field(b[6], 59)?, field(b[7], 59)?);
    let mut secs =
        crate::clock::days_from_civil(year, month, day) * 86_400 + h * 3_600 + m * 60 + s;
    let deviation = i16::from_be_bytes([b[9], b[10]]);
    if deviation != i16::MIN {
        secs += i64::from(deviation) * 60;
    }
    Some(Execution::At(secs * 1000))
}

/// A ZigBee start time as an execution time: 0 now, `FFFFFFFE`/`FFFFFFFF` cancel, else
/// seconds since the ZigBee epoch.
fn zigbee_execution(t: u32) -> Execution {
    match t {
        0 => Execution::Now,
        t if t >= 0xffff_fffe => Execution::Cancel,
        t => Execution::At((i64::from(t) + ZIGBEE_EPOCH_S) * 1000),
    }
}

/// An ASN.1 GeneralizedTime (`YYYYMMDDHHMMSSZ`, the form GBCS uses) as an execution time:
/// from [`CANCELLATION_YEAR`] on a cancellation. `None` for any other form.
fn generalized_execution(text: &[u8]) -> Option<Execution> {
    if text.len() != 15 || text[14] != b'Z' || !text[..14].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = |from: usize, to: usize| {
        text[from..to]
            .iter()
            .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'))
    };
    let year = n(0, 4);
    if year >= CANCELLATION_YEAR {
        return Some(Execution::Cancel);
    }
    let (month, day) = (u32::try_from(n(4, 6)).ok()?, u32::try_from(n(6, 8)).ok()?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let (h, m, s) = (n(8, 10), n(10, 12), n(12, 14));
    if h > 23 || m > 59 || s > 59 {
        return None;
    }
    let secs = crate::clock::days_from_civil(year, month, day) * 86_400 + h * 3_600 + m * 60 + s;
    Some(Execution::At(secs * 1000))
}

/// The execution time a GBCS command carries for its future-datable instructions, `None`
/// when it carries none the gateway can read (or the command cannot be read):
///
/// * DLMS: the sets of activation date-time attributes (class 20 attribute 10, 113/7,
///   9000/6, 111/13);
/// * ZigBee: the start or implementation time of the publish commands that carry one
///   (Calendar, Price, Prepayment *Change Payment Mode*);
/// * ASN.1 (the credentials update): a GeneralizedTime directly in the command's outer
///   SEQUENCE (times inside the certificates it carries are not execution times).
///
/// Any "not specified" time makes it [`Execution::Cancel`]; otherwise the latest instant,
/// else "now".
pub fn command_execution(command: &[u8]) -> Option<Execution> {
    use hubgate_protocol::gbcs::payload::asn1::{TagClass, universal};
    let msg = frame::parse(command).ok()?;
    let content = msg.content;
    match payload::decode_with(content, payload::Context::for_message(&msg)).ok()? {
        Payload::Dlms(dlms::Apdu::AccessRequest(req)) => req
            .specifications
            .iter()
            .zip(&req.data)
            .filter_map(|(s, d)| match (s, d) {
                (dlms::AccessRequestSpec::Set(desc), Data::OctetString(b))
                    if ACTIVATION_ATTRIBUTES.contains(&(desc.class_id, desc.id)) =>
                {
                    cosem_execution(b)
                }
                _ => None,
            })
            .fold(None, fold),
        Payload::Gbz(g) => g
            .components()
            .iter()
            .filter_map(|c| {
                let ComponentBody::Plain(p) = c.body else {
                    return None;
                };
                let at = zigbee_start_offset(c.cluster_id, c.zcl.command_id)?;
                let b = <[u8; 4]>::try_from(p.get(at..at + 4)?).ok()?;
                Some(zigbee_execution(u32::from_le_bytes(b)))
            })
            .fold(None, fold),
        Payload::Asn1(node) => node
            .children
            .iter()
            .filter(|c| {
                c.tag.class == TagClass::Universal
                    && !c.tag.constructed
                    && c.tag.number == universal::GENERALIZED_TIME
            })
            .filter_map(|c| generalized_execution(c.value))
            .fold(None, fold),
        _ => None,
    }
}

/// Whether a GBCS command is a cancellation of pending future-dated instructions: a DLMS
/// activation date-time whose date and time fields are all `FF` ("not specified"), a ZigBee
/// start time `FFFFFFFE` or `FFFFFFFF`, or an ASN.1 GeneralizedTime in the year 3000 or
/// later (the credentials update's cancellation, `99991231235959Z`). `false` for anything
/// that cannot be read.
pub fn command_cancels(command: &[u8]) -> bool {
    command_execution(command) == Some(Execution::Cancel)
}

/// Whether a GBCS command, sent at `now_ms`, is a future-dated instruction its device will
/// keep pending — replacing (superseding) any pending instruction of the same message code,
/// as GBCS devices and the emulated meters do: it carries an execution time later than
/// `now_ms`. A command to be run now, one without a readable time and a cancellation are not.
pub fn command_defers(command: &[u8], now_ms: i64) -> bool {
    command_execution(command).is_some_and(|e| e.defers(now_ms))
}

/// Whether a device's response to a command says it was carried out: a DLMS
/// Access-Response whose every result is `success`, and a ZigBee response none of whose
/// Default Responses carries a status other than `SUCCESS`. Any other response the device
/// sent (the credentials update's ASN.1 answer, an encrypted answer, one that cannot be
/// read) counts as carried out, since the device answered the command rather than failing
/// it.
pub fn response_succeeded(response: &[u8]) -> bool {
    let Ok(msg) = frame::parse(response) else {
        return true;
    };
    match payload::decode_with(msg.content, payload::Context::for_message(&msg)) {
        Ok(Payload::Dlms(dlms::Apdu::AccessResponse(r))) => r
            .specifications
            .iter()
            .all(dlms::AccessResponseSpec::is_success),
        Ok(Payload::Gbz(g)) => !g.components().iter().any(|c| {
            // A general (frame type 0) Default Response (0B): commanded ID, then status.
            c.zcl.frame_control & 0x03 == 0
                && c.zcl.command_id == 0x0b
                && matches!(c.body, ComponentBody::Plain(p) if p.get(1).is_some_and(|s| *s != 0))
        }),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(user: u8, device: u8, counter: u64, srv: &str, at: Option<i64>) -> Matched {
        Matched {
            request_id: RequestId::new([user; 8], [device; 8], counter),
            device: [device; 8],
            srv: ServiceReferenceVariant::parse(srv).expect("SRV"),
            cancellation: at.is_some_and(is_cancellation_time),
        }
    }

    #[test]
    fn the_cancellation_year_starts_where_the_clock_says() {
        assert_eq!(
            Some(cancellation_from_ms()),
            crate::clock::parse_rfc3339_ms("3000-01-01T00:00:00Z")
        );
        assert!(is_cancellation_time(
            crate::clock::parse_rfc3339_ms("3000-12-31T00:00:00.00Z").expect("time")
        ));
        assert!(!is_cancellation_time(
            crate::clock::parse_rfc3339_ms("2999-12-31T23:59:59.999Z").expect("time")
        ));
    }

    #[test]
    fn a_cancellation_takes_only_the_same_users_request_for_the_same_device_and_srv() {
        let far = cancellation_from_ms() + 1;
        let cancel = entry(1, 2, 10, "4.1.1", Some(far));
        assert!(cancels_held(&cancel, &entry(1, 2, 5, "4.1.1", Some(1_000))));
        assert!(!cancels_held(
            &cancel,
            &entry(3, 2, 5, "4.1.1", Some(1_000))
        ));
        assert!(!cancels_held(
            &cancel,
            &entry(1, 4, 5, "4.1.1", Some(1_000))
        ));
        assert!(!cancels_held(
            &cancel,
            &entry(1, 2, 5, "4.1.2", Some(1_000))
        ));
        assert!(!cancels_held(&cancel, &cancel));
        assert!(!cancels_held(&cancel, &entry(1, 2, 5, "4.1.1", Some(far))));
    }

    #[test]
    fn garbage_is_neither_a_cancellation_nor_a_failed_response() {
        assert!(!command_cancels(&[]));
        assert!(!command_cancels(&[0xDD, 0x00, 0x01]));
        assert!(response_succeeded(&[]));
    }

    /// The Pre-Command the gateway builds from the conformance template `name` for a
    /// device of type `device`.
    fn precommand(name: &str, device: hubgate_protocol::transform::DeviceType) -> Vec<u8> {
        use hubgate_protocol::duis::{reader, xml};
        use hubgate_protocol::transform;
        let root = hubgate_protocol::conformance::require();
        let text = std::fs::read(root.join("duis/templates").join(name)).expect("template");
        let doc = xml::parse(&text, &xml::Limits::default()).expect("XML");
        let request = reader::read_request_unsigned(&doc).expect("request");
        let now = transform::UtcDateTime::from_unix(1_750_000_000);
        let ctx = transform::Context::new(device, [0x90, 0xB3, 0xD5, 0x1F, 0x30, 0, 0, 1], now);
        let out = transform::transform(&request, &ctx).expect("transform");
        out.precommand().expect("a critical SRV").to_vec()
    }

    #[test]
    fn the_cancellation_templates_build_cancelling_commands_and_the_future_dated_do_not() {
        use hubgate_protocol::transform::DeviceType::{Esme, Gsme};
        // DLMS (ESME tariff and payment mode), ZigBee (GSME tariff), ASN.1 (credentials).
        for (future, cancel, device) in [
            (
                "ECS01a_1.1.1_FUTURE_DATED_TOU_BLOCK_SUCCESS_REQUEST_DUIS.XML",
                "ECS01a_1.1.1_CANCELLATION_TOU_BLOCK_SUCCESS_REQUEST_DUIS.XML",
                Esme,
            ),
            (
                "ECS03_1.6_FUTURE_DATED_TWIN_SUCCESS_REQUEST_DUIS.XML",
                "ECS03_1.6_CANCELLATION_TWIN_SUCCESS_REQUEST_DUIS.XML",
                Esme,
            ),
            (
                "GCS01a_1.1.1_FUTURE_DATED_BLOCK_SUCCESS_REQUEST_DUIS.XML",
                "GCS01a_1.1.1_CANCELLATION_BLOCK_SUCCESS_REQUEST_DUIS.XML",
                Gsme,
            ),
            (
                "CS02bSupplierBySupplier_6.15.1_FUTURE_DATED_SUCCESS_REQUEST_DUIS.XML",
                "CS02bSupplierBySupplier_6.15.1_CANCELLATION_SUCCESS_REQUEST_DUIS.XML",
                Esme,
            ),
        ] {
            assert!(!command_cancels(&precommand(future, device)), "{future}");
            assert!(command_cancels(&precommand(cancel, device)), "{cancel}");
        }
    }

    /// An RTDS vector (`gbcs/rtds/<folder>/<name>_GBCS.HEX`) as bytes.
    fn rtds(folder: &str, name: &str) -> Vec<u8> {
        let root = hubgate_protocol::conformance::require();
        let text = std::fs::read_to_string(
            root.join("gbcs/rtds")
                .join(folder)
                .join(format!("{name}_GBCS.HEX")),
        )
        .expect("RTDS vector");
        hubgate_protocol::hex::decode(text.trim()).expect("hex")
    }

    fn ms(s: &str) -> i64 {
        crate::clock::parse_rfc3339_ms(s).expect("time")
    }

    #[test]
    fn future_dated_templates_carry_their_execution_time_and_defer_until_it() {
        use hubgate_protocol::transform::DeviceType::{Esme, Gsme};
        // The templates' ExecutionDateTime; the Pre-Commands are built at 2025-06-15.
        for (name, device, at) in [
            (
                "ECS01a_1.1.1_FUTURE_DATED_TOU_BLOCK_SUCCESS_REQUEST_DUIS.XML",
                Esme,
                "2030-01-15T09:00:00Z",
            ),
            (
                "ECS03_1.6_FUTURE_DATED_TWIN_SUCCESS_REQUEST_DUIS.XML",
                Esme,
                "2030-01-15T09:00:00Z",
            ),
            (
                "GCS01a_1.1.1_FUTURE_DATED_BLOCK_SUCCESS_REQUEST_DUIS.XML",
                Gsme,
                "2030-01-15T09:00:00Z",
            ),
            (
                "CS02bSupplierBySupplier_6.15.1_FUTURE_DATED_SUCCESS_REQUEST_DUIS.XML",
                Esme,
                "2030-01-15T00:00:00Z",
            ),
        ] {
            let command = precommand(name, device);
            assert_eq!(
                command_execution(&command),
                Some(Execution::At(ms(at))),
                "{name}"
            );
            assert!(command_defers(&command, ms(at) - 1), "{name}");
            assert!(
                !command_defers(&command, ms(at)),
                "{name}: its time has come"
            );
            assert!(!command_cancels(&command), "{name}");
        }
    }

    #[test]
    fn immediate_templates_run_now_and_supersede_nothing() {
        use hubgate_protocol::transform::DeviceType::{Esme, Gsme};
        for (name, device) in [
            ("ECS01a_1.1.1_IMMEDIATE_TOU_SUCCESS_REQUEST_DUIS.XML", Esme),
            (
                "ECS01a_1.1.1_IMMEDIATE_BLOCK_SUCCESS_REQUEST_DUIS.XML",
                Esme,
            ),
            ("GCS01a_1.1.1_IMMEDIATE_TOU_SUCCESS_REQUEST_DUIS.XML", Gsme),
        ] {
            let command = precommand(name, device);
            assert_eq!(command_execution(&command), Some(Execution::Now), "{name}");
            assert!(!command_defers(&command, 0), "{name}");
        }
        // The credentials update without an execution time carries none.
        let command = precommand(
            "CS02bSupplierBySupplier_6.15.1_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML",
            Esme,
        );
        assert_eq!(command_execution(&command), None);
        assert!(!command_defers(&command, 0));
    }

    #[test]
    fn rtds_commands_read_as_their_names_say() {
        for (folder, name, expected) in [
            (
                "1.1.1_ECS01a",
                "ECS01a_1.1.1_FUTURE_DATED_TOU_BLOCK_SUCCESS_COMMAND",
                "at",
            ),
            (
                "1.1.1_ECS01a",
                "ECS01a_1.1.1_CANCELLATION_TOU_BLOCK_SUCCESS_COMMAND",
                "cancel",
            ),
            (
                "1.1.1_ECS01a",
                "ECS01a_1.1.1_IMMEDIATE_TOU_SUCCESS_COMMAND",
                "now",
            ),
            (
                "1.1.1_GCS01a",
                "GCS01a_1.1.1_FUTURE_DATED_BLOCK_SUCCESS_COMMAND",
                "at",
            ),
            (
                "1.1.1_GCS01a",
                "GCS01a_1.1.1_CANCELLATION_BLOCK_SUCCESS_COMMAND",
                "cancel",
            ),
            (
                "1.1.1_GCS01a",
                "GCS01a_1.1.1_IMMEDIATE_TOU_SUCCESS_COMMAND",
                "now",
            ),
        ] {
            let got = command_execution(&rtds(folder, name));
            match expected {
                "at" => assert!(matches!(got, Some(Execution::At(_))), "{name}: {got:?}"),
                "cancel" => assert_eq!(got, Some(Execution::Cancel), "{name}"),
                _ => assert_eq!(got, Some(Execution::Now), "{name}"),
            }
        }
    }

    #[test]
    fn rtds_error_responses_are_failures_and_success_responses_are_not() {
        for (folder, name, ok) in [
            (
                "1.1.1_ECS01a",
                "ECS01a_1.1.1_FUTURE_DATED_TOU_BLOCK_SUCCESS_RESPONSE",
                true,
            ),
            (
                "1.1.1_ECS01a",
                "ECS01a_1.1.1_IMMEDIATE_ERROR_RESPONSE",
                false,
            ),
            (
                "1.1.1_GCS01a",
                "GCS01a_1.1.1_FUTURE_DATED_BLOCK_SUCCESS_RESPONSE",
                true,
            ),
            (
                "1.1.1_GCS01a",
                "GCS01a_1.1.1_FUTURE_DATED_BLOCK_ERROR_RESPONSE",
                false,
            ),
            (
                "1.1.1_GCS01a",
                "GCS01a_1.1.1_CANCELLATION_BLOCK_SUCCESS_RESPONSE",
                true,
            ),
        ] {
            assert_eq!(response_succeeded(&rtds(folder, name)), ok, "{name}");
        }
    }

    #[test]
    fn cosem_date_times_read_as_instants_now_or_cancel() {
        let at = |b: [u8; 12]| cosem_execution(&b);
        // 2030-01-15 09:00:00, deviation not specified: UTC.
        assert_eq!(
            at([0x07, 0xEE, 1, 15, 0xFF, 9, 0, 0, 0, 0x80, 0x00, 0xFF]),
            Some(Execution::At(ms("2030-01-15T09:00:00Z")))
        );
        // Deviation -60 (local time one hour ahead of UTC): 10:00 local is 09:00 UTC.
        assert_eq!(
            at([0x07, 0xEE, 1, 15, 0xFF, 10, 0, 0, 0, 0xFF, 0xC4, 0x00]),
            Some(Execution::At(ms("2030-01-15T09:00:00Z")))
        );
        // Unspecified hour, minute and second read as midnight.
        assert_eq!(
            at([
                0x07, 0xEE, 1, 15, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x80, 0x00, 0xFF
            ]),
            Some(Execution::At(ms("2030-01-15T00:00:00Z")))
        );
        assert_eq!(at([0; 12]), Some(Execution::Now));
        assert_eq!(at([0xFF; 12]), Some(Execution::Cancel));
        // A wildcard date, a month or hour out of range: not an execution time.
        assert_eq!(
            at([0xFF, 0xFF, 1, 15, 0xFF, 9, 0, 0, 0, 0x80, 0, 0xFF]),
            None
        );
        assert_eq!(
            at([0x07, 0xEE, 13, 15, 0xFF, 9, 0, 0, 0, 0x80, 0, 0xFF]),
            None
        );
        assert_eq!(
            at([0x07, 0xEE, 1, 15, 0xFF, 24, 0, 0, 0, 0x80, 0, 0xFF]),
            None
        );
        assert_eq!(cosem_execution(&[0x07, 0xEE, 1]), None);
    }

    #[test]
    fn zigbee_and_generalized_times_read_as_instants_now_or_cancel() {
        assert_eq!(zigbee_execution(0), Execution::Now);
        assert_eq!(zigbee_execution(0xFFFF_FFFE), Execution::Cancel);
        assert_eq!(zigbee_execution(0xFFFF_FFFF), Execution::Cancel);
        assert_eq!(
            zigbee_execution(86_400),
            Execution::At(ms("2000-01-02T00:00:00Z"))
        );
        assert_eq!(
            generalized_execution(b"20300115000000Z"),
            Some(Execution::At(ms("2030-01-15T00:00:00Z")))
        );
        assert_eq!(
            generalized_execution(b"99991231235959Z"),
            Some(Execution::Cancel)
        );
        assert_eq!(generalized_execution(b"20301315000000Z"), None);
        assert_eq!(generalized_execution(b"2030011500000Z"), None);
        assert_eq!(generalized_execution(b"2030011500000AZ"), None);
    }

    #[test]
    fn several_times_fold_to_a_cancel_or_the_latest() {
        let f = |v: &[Execution]| v.iter().copied().fold(None, fold);
        assert_eq!(f(&[]), None);
        assert_eq!(f(&[Execution::Now]), Some(Execution::Now));
        assert_eq!(
            f(&[Execution::At(5), Execution::Now, Execution::At(9)]),
            Some(Execution::At(9))
        );
        assert_eq!(
            f(&[Execution::At(5), Execution::Cancel, Execution::At(9)]),
            Some(Execution::Cancel)
        );
    }

    #[test]
    fn dropped_instructions_forget_every_users_records_of_that_device_and_code() {
        use crate::alerts::FutureDated;
        use hubgate_protocol::duis::model::header::ServiceReference;
        let service = |srv: &str| {
            let sr = if srv == "1.1.1" { "1.1" } else { srv };
            (
                ServiceReference::parse(sr).expect("SR"),
                ServiceReferenceVariant::parse(srv).expect("SRV"),
            )
        };
        let (esme, gsme) = ([0x0E; 8], [0x06; 8]);
        let (old_supplier, new_supplier) = ([0x01; 8], [0x02; 8]);
        let mut fd = FutureDated::default();
        // The losing supplier's tariff, the gaining supplier's tariff (same code), another
        // code on the same device, the same code on another device.
        fd.remember(
            esme,
            10,
            RequestId::new(old_supplier, esme, 10),
            service("1.1.1"),
            Some(6),
            Some(0x00CC),
        );
        fd.remember(
            esme,
            11,
            RequestId::new(new_supplier, esme, 11),
            service("1.1.1"),
            Some(6),
            Some(0x00CC),
        );
        fd.remember(
            esme,
            12,
            RequestId::new(new_supplier, esme, 12),
            service("1.6"),
            Some(1),
            Some(0x00D1),
        );
        fd.remember(
            gsme,
            13,
            RequestId::new(new_supplier, gsme, 13),
            service("1.1.1"),
            None,
            Some(0x00CC),
        );
        let _ = fd.drain_writes();
        let gone = fd.drop_instructions(esme, service("1.1.1").1, 0x00CC);
        assert_eq!(
            gone,
            vec![
                RequestId::new(old_supplier, esme, 10),
                RequestId::new(new_supplier, esme, 11)
            ]
        );
        assert!(!fd.remembers(esme, 10) && !fd.remembers(esme, 11));
        assert!(fd.remembers(esme, 12) && fd.remembers(gsme, 13));
        assert_eq!(fd.len(), 2);
        // Both removals are recorded for the durable copy, and nothing else.
        let writes = fd.drain_writes();
        assert_eq!(writes.len(), 2, "{writes:?}");
        assert!(writes.iter().all(|(k, v)| v.is_none() && k[..8] == esme));
        // Nothing left to drop.
        assert!(
            fd.drop_instructions(esme, service("1.1.1").1, 0x00CC)
                .is_empty()
        );
    }
}
