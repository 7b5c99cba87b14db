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
//! same Service Reference Variant ([`cancels_held`]). Each cancelled request gets its one
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
//! GBCS command; a cancellation is a command whose activation time says "not specified"
//! ([`command_cancels`]: DLMS activation date-times with every date field `FF`, ZigBee start
//! times `FFFFFFFE`/`FFFFFFFF`, or an ASN.1 GeneralizedTime from the year 3000 on). The
//! emulated meters (and GBCS devices) drop every pending instruction of the same message
//! code and raise no alert for what they dropped — no `8F66`, no `8F67`. So when the device
//! answers a cancellation successfully ([`response_succeeded`]), the response writer forgets
//! every remembered future-dated request ([`crate::alerts::FutureDated::cancel`]) of the
//! same User for that device with the same message code (or, for records kept by an older
//! version without a message code, the same SRV), and counts them
//! (`hubgate_future_dated_cancelled_total{pattern="device"}`). The cancellation itself is not
//! remembered: it has no execution alert to wait for.
//!
//! What the original requester receives: nothing more. It had its request's Service
//! Response (`I0`, the device's acceptance) when the device took the instruction; a
//! `FutureDatedDeviceAlertMessage` cannot be sent (the device raises no alert), and the DUIS
//! schema's DCC alerts have none for a cancelled device instruction (`CommandFailure` names
//! a DSP schedule). Only the requester itself can cancel (same User), and its cancellation's
//! own Service Response (`I0` with the device's GBCS response) is the record that the
//! instruction will not run.
//!
//! Not done: a cancellation of another User's instruction (after a change of supplier) leaves
//! that User's record remembered until the bound of [`crate::alerts::MAX_FUTURE_DATED`]
//! evicts it; a new future-dated command that replaces a pending one of the same message code
//! (the device keeps only the newer) does not forget the older record either.
//!
//! `gateway/tests/future_dated_cancel.rs` proves, against a running `hubgate serve` on a
//! virtual clock with an emulated premises: a 4.1.1 read held for an hour and then cancelled
//! is never sent to the meter (past its time nothing reaches the supplier, the meter's read
//! count is unchanged) and the supplier gets exactly the two answers above, each valid
//! against the DUIS XSD with a DSP signature an independent checker verifies; a second
//! cancellation gets `E47`; the same across a SIGKILL between the cancellation's acceptance and
//! its answers; a future-dated tariff cancelled with its CANCELLATION template never raises
//! an `8F66` to the supplier and its record is forgotten and counted, while a tariff
//! future-dated afterwards still raises its `8F66`. The unit tests here prove that the
//! commands built from the CANCELLATION templates (DLMS tariff and payment mode, ZigBee gas
//! tariff, ASN.1 credentials update) are recognised as cancellations and those built from
//! their FUTURE_DATED templates are not, and the matching rule of [`cancels_held`].

use hubgate_protocol::duis::model::header::{RequestId, ServiceReferenceVariant};
use hubgate_protocol::duis::model::response::ResponseCode;
use hubgate_protocol::gbcs::frame;
use hubgate_protocol::gbcs::payload::data::Data;
use hubgate_protocol::gbcs::payload::gbz::ComponentBody;
use hubgate_protocol::gbcs::payload::{self, Payload, dlms};
pub use hubgate_protocol::transform::CANCELLATION_YEAR;

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

/// Counts `n` future-dated requests cancelled, by `pattern` (`dsp`, `device`).
pub fn count(pattern: &'static str, n: usize) {
    if n > 0 {
        metrics::counter!(metric_name::FUTURE_DATED_CANCELLED_TOTAL, "pattern" => pattern)
            .increment(n as u64);
    }
}

/// (class, attribute) of the COSEM attributes holding an activation date-time.
const ACTIVATION_ATTRIBUTES: &[(u16, i8)] = &[(20, 10), (113, 7), (9000, 6), (111, 13)];

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

/// Whether a GBCS command is a cancellation of pending future-dated instructions: a DLMS
/// activation date-time whose date and time fields are all `FF` ("not specified"), a ZigBee
/// start time `FFFFFFFE` or `FFFFFFFF`, or an ASN.1 GeneralizedTime in the year 3000 or
/// later (the credentials update's cancellation, `99991231235959Z`). `false` for anything
/// that cannot be read.
pub fn command_cancels(command: &[u8]) -> bool {
    let Ok(msg) = frame::parse(command) else {
        return false;
    };
    let content = msg.content;
    match payload::decode_with(content, payload::Context::for_message(&msg)) {
        Ok(Payload::Dlms(dlms::Apdu::AccessRequest(req))) => {
            req.specifications.iter().zip(&req.data).any(|(s, d)| {
                let dlms::AccessRequestSpec::Set(desc) = s else {
                    return false;
                };
                ACTIVATION_ATTRIBUTES.contains(&(desc.class_id, desc.id))
                    && matches!(d, Data::OctetString(b) if b.len() == 12 && b[..9].iter().all(|x| *x == 0xff))
            })
        }
        Ok(Payload::Gbz(g)) => g.components().iter().any(|c| {
            let ComponentBody::Plain(p) = c.body else {
                return false;
            };
            let Some(at) = zigbee_start_offset(c.cluster_id, c.zcl.command_id) else {
                return false;
            };
            p.get(at..at + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_le_bytes)
                .is_some_and(|t| t >= 0xffff_fffe)
        }),
        Ok(Payload::Asn1(_)) => far_generalized_time(content),
        _ => false,
    }
}

/// Whether DER bytes hold a GeneralizedTime (tag `18`, 15 octets) of a year from
/// [`CANCELLATION_YEAR`] on.
fn far_generalized_time(der: &[u8]) -> bool {
    der.windows(6).any(|w| {
        w[0] == 0x18
            && w[1] == 15
            && std::str::from_utf8(&w[2..6])
                .ok()
                .and_then(|y| y.parse::<i64>().ok())
                .is_some_and(|y| y >= CANCELLATION_YEAR)
    })
}

/// Whether a device's response to a cancellation says it was carried out: a DLMS
/// Access-Response whose every result is `success`; any other response the device sent
/// (ZigBee default responses, the credentials update's ASN.1 answer, an encrypted answer)
/// counts as carried out, since the device answered the command rather than failing it.
pub fn response_succeeded(response: &[u8]) -> bool {
    let Ok(msg) = frame::parse(response) else {
        return true;
    };
    match payload::decode_with(msg.content, payload::Context::for_message(&msg)) {
        Ok(Payload::Dlms(dlms::Apdu::AccessResponse(r))) => r
            .specifications
            .iter()
            .all(dlms::AccessResponseSpec::is_success),
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

    #[test]
    fn far_generalized_times_are_found_in_der() {
        let mut der = vec![0x30, 17, 0x18, 15];
        der.extend_from_slice(b"99991231235959Z");
        assert!(far_generalized_time(&der));
        let mut near = vec![0x30, 17, 0x18, 15];
        near.extend_from_slice(b"20300115000000Z");
        assert!(!far_generalized_time(&near));
    }
}
