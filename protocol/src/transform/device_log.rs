//! The HAN device logs: 8.9 Read Device Log, 8.11 Update HAN Device Log, 8.12.1 Restore HAN
//! Device Log and 8.12.2 Restore GPF Device Log; and, for the DCC's copy of a hub's log, what
//! a device-log command, its response and the CS14 alert say about the CHF Device Log.
//!
//! | use case | SRV | target | origin | payload | source |
//! |---|---|---|---|---|---|
//! | CCS05CCS04, CCS06 | 8.9 | CHF (GPF) | ACB | DLMS get, class 104 `0-0:30.3.0.255` attribute 4 | RTDS, exact |
//! | CCS07 | 8.9 | CHF | ACB | DLMS action, method 4 of `0-0:30.3.0.255` and `0-0:30.3.1.255` | RTDS, exact |
//! | CS07 | 8.9 | GSME, ESME | User | ASN.1 NULL | RTDS, exact |
//! | CCS01 | 8.11 (`Add`) | CHF | ACB | DLMS action, method 1 (`register_device`) of `0-0:30.3.0.255`: `structure { octet-string ieee_address, octet-string key, long-unsigned join_timeout }` | derived |
//! | CCS02 | 8.11 (`Remove`) | CHF | ACB | DLMS action, method 2 (`unregister_device`): `octet-string ieee_address` | derived |
//! | CCS03 | 8.12.1 | CHF | ACB | DLMS action, method 5 (`restore_PAN`): `structure { octet-string date-time, octet-string extended_PAN_ID, array of structure { octet-string EUI, octet-string hashed TC link key } }` | derived |
//! | GCS59 | 8.12.2 | GPF | User | ASN.1 `SEQUENCE { SEQUENCE OF SEQUENCE { OCTET STRING EUI, INTEGER device type } }` | RTDS, exact |
//!
//! # How sure the derived encodings are
//!
//! The conformance corpus has no command, response or message code for CCS01, CCS02 or
//! CCS03. What is known: the CHF Device Log is the class 104 object `0-0:30.3.0.255` (the
//! RTDS CCS06 get and CCS07 action address it); CCS07 invokes its method 4 and gets back
//! `structure { date-time, extended PAN ID, array of structure { EUI, hashed TC link key } }`
//! (the same structure the CS14 alert carries); the use-case table names the CCS01 method
//! `register_device` with parameters `ieee_address`, `key` and `join_timeout` (in that
//! order in its text), and the CCS03 parameter `restore_PAN` with an `extended_PAN_ID`
//! field. From there:
//!
//! - **Object and methods** — class 104 is the DLMS ZigBee network control class, whose
//!   methods are numbered register_device 1, unregister_device 2, backup_PAN 4 and
//!   restore_PAN 5; method 4 matching the corpus's backup is the evidence for that numbering.
//!   Fairly sure.
//! - **CCS01 parameter** — the member order follows the use-case text; the key is the DUIS
//!   `InstallCode` bytes as given (6 to 16 bytes), the join timeout the DUIS
//!   `JoinTimePeriod` as a long-unsigned (the XSD bounds it to 3600). The member types are
//!   an assumption.
//! - **CCS02 parameter** — the EUI alone, as an octet-string. An assumption.
//! - **CCS03 parameter** — shaped as the backup the corpus shows (restore is the inverse of
//!   backup): the date-time is the transform's current time, the extended PAN ID the old
//!   CHF's EUI (a ZigBee coordinator's usual extended PAN ID; the DCC's copy does not keep
//!   the old one), and every entry of the DCC's copy with an empty hashed link key (the copy
//!   holds none). The least sure of the three.
//! - **Origin** — CCS01–CCS03 are sent by the ACB on the User's behalf, as every CHF command
//!   in the corpus (CCS05CCS04, CCS06, CCS07). GCS59 is originated by the requesting User
//!   with its RequestID counter, as the RTDS command is.
//! - **Message codes** — 0x0001, 0x0002 and 0x0003, by the GBCS numbering of the CCS use
//!   cases (CCS05CCS04 is 0x0004 in the corpus, and 0x0001–0x0003 are unused there). Not
//!   confirmed by any vector.
//!
//! The restore commands carry the DCC's copy of the old device's log, which the request does
//! not: [`Context::device_log`](super::Context::device_log) must hold it (the gateway fills it
//! from the hub actor's copy), or the restore is refused. GCS59 entries need their GBCS device
//! type code ([`LogEntry::device_type`]); an entry without one is refused.
//!
//! # The DCC's copy
//!
//! [`chf_log_change`] reads back what a CCS01/CCS02/CCS03 command (as this module encodes it)
//! does to the CHF Device Log, [`chf_log_succeeded`] whether the CHF's response says every
//! action succeeded, and [`chf_log_alert`] the whitelist a CS14 alert (`8F12`) carries. The
//! hub actor keeps its copy with them. None of them panics on any input.
//!
//! # Tests
//!
//! `protocol/tests/transform_rtds.rs` checks GCS59 byte for byte (APDU and MAC) against the
//! RTDS command; the unit tests here check the derived layouts decode as intended, the
//! read-back functions on our own commands, the RTDS CS14 alert and the RTDS GCS59 response,
//! and the refusals.

use super::axdr::{Request, Value, obis};
use super::der::{self, Der};
use super::{CHF, DeviceType, Input, Origin, TransformError, UseCase, any_body};
use crate::duis::model::Body;
use crate::duis::model::body::UpdateHANDeviceLogRequestType;
use crate::duis::model::header::parse_eui;
use crate::gbcs::payload::data::Data;
use crate::gbcs::payload::dlms::{AccessRequestSpec, Apdu};
use crate::gbcs::payload::{self, Payload};
use crate::hex;

pub(crate) static USE_CASES: &[UseCase] = &[
    UseCase {
        name: "CCS06",
        srv: "8.9",
        devices: &[DeviceType::Chf],
        origin: Origin::Acb,
        fits: without_security_details,
        build: read_log,
    },
    UseCase {
        name: "CCS05CCS04",
        srv: "8.9",
        devices: &[DeviceType::Chf, DeviceType::Gpf],
        origin: Origin::Acb,
        fits: without_security_details,
        build: read_log,
    },
    UseCase {
        name: "CCS07",
        srv: "8.9",
        devices: &[DeviceType::Chf],
        origin: Origin::Acb,
        fits: with_security_details,
        build: ccs07,
    },
    UseCase {
        name: "CS07",
        srv: "8.9",
        devices: &[DeviceType::Gsme, DeviceType::Esme],
        origin: Origin::User,
        fits: without_security_details,
        build: cs07,
    },
    UseCase {
        name: "CCS01",
        srv: "8.11",
        devices: &[DeviceType::Chf],
        origin: Origin::Acb,
        fits: adds,
        build: ccs01,
    },
    UseCase {
        name: "CCS02",
        srv: "8.11",
        devices: &[DeviceType::Chf],
        origin: Origin::Acb,
        fits: removes,
        build: ccs02,
    },
    use_case!("CCS03", "8.12.1", CHF, Origin::Acb, ccs03),
    UseCase {
        name: "GCS59",
        srv: "8.12.2",
        devices: &[DeviceType::Gpf],
        origin: Origin::User,
        fits: any_body,
        build: gcs59,
    },
];

/// Message codes of the use cases here that the catalogue and the corpus do not give (see
/// the module documentation: derived, not confirmed by a vector).
pub(crate) const DERIVED_MESSAGE_CODES: &[(&str, u16)] =
    &[("CCS01", CCS01), ("CCS02", CCS02), ("CCS03", CCS03)];

/// CCS01 Add Device to CHF device log (derived).
pub const CCS01: u16 = 0x0001;
/// CCS02 Remove device from CHF device log (derived).
pub const CCS02: u16 = 0x0002;
/// CCS03 Restore CHF Device Log (derived).
pub const CCS03: u16 = 0x0003;
/// GCS59 Restore GPF Device Log (RTDS).
pub const GCS59: u16 = 0x008c;
/// The message codes of the commands that change the CHF Device Log.
pub const CHF_LOG_CODES: [u16; 3] = [CCS01, CCS02, CCS03];
/// CS14 device log alert (RTDS).
pub const CS14: u16 = 0x0018;
/// The alert code a CS14 alert carries.
pub const DEVICE_LOG_ALERT_CODE: u16 = 0x8f12;

/// Most entries a restore command carries (a CHF Device Log has a small fixed number of
/// slots; this keeps a command small whatever the copy holds).
pub const MAX_RESTORE_ENTRIES: usize = 64;

/// One device of the DCC's copy of a HAN device log, as a restore command carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LogEntry {
    /// The device's EUI-64.
    pub eui: [u8; 8],
    /// Its GBCS device type code, as GPF device log entries carry it (the corpus's joins
    /// and device logs give ESME 0, GSME 1, Type 2 device 3, PPMID 5); `None` when unknown.
    /// Only GCS59 needs it.
    pub device_type: Option<u8>,
}

/// What a CHF device-log command does to the CHF Device Log once the CHF answers it with
/// success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogChange {
    /// CCS01: these devices are added (kept if already there).
    Add(Vec<[u8; 8]>),
    /// CCS02: these devices are removed.
    Remove(Vec<[u8; 8]>),
    /// CCS03: the log becomes these devices.
    Replace(Vec<[u8; 8]>),
}

fn with_security_details(b: &Body) -> bool {
    matches!(b, Body::ReadDeviceLog(r) if r.read_security_details.is_some())
}

fn without_security_details(b: &Body) -> bool {
    matches!(b, Body::ReadDeviceLog(r) if r.read_security_details.is_none())
}

fn adds(b: &Body) -> bool {
    matches!(b, Body::UpdateHANDeviceLog(u) if u.request_type == UpdateHANDeviceLogRequestType::Add)
}

fn removes(b: &Body) -> bool {
    matches!(b, Body::UpdateHANDeviceLog(u) if u.request_type == UpdateHANDeviceLogRequestType::Remove)
}

/// The CHF's device log objects (class 104, ZigBee network control).
const DEVICE_LOG: u16 = 104;
/// The CHF Device Log.
const CHF_LOG: [u8; 6] = obis(0, 0, 30, 3, 0, 255);
/// The second class 104 object CCS07 reads.
const SECOND_LOG: [u8; 6] = obis(0, 0, 30, 3, 1, 255);
/// Class 104 methods.
const REGISTER_DEVICE: i8 = 1;
const UNREGISTER_DEVICE: i8 = 2;
const BACKUP: i8 = 4;
const RESTORE: i8 = 5;

/// CCS05CCS04 / CCS06: get the device log entries (attribute 4).
fn read_log(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    Ok(Request::new().get(DEVICE_LOG, CHF_LOG, 4).encode(i.counter))
}

/// CCS07: the device logs with their security details (method 4 of both logs).
fn ccs07(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    Ok(Request::new()
        .action(DEVICE_LOG, CHF_LOG, BACKUP, Value::Null)
        .action(DEVICE_LOG, SECOND_LOG, BACKUP, Value::Null)
        .encode(i.counter))
}

/// CS07: an empty request.
fn cs07(_: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    Ok(der::null())
}

/// The device an 8.11 request names.
fn update_device(i: &Input<'_>) -> Result<[u8; 8], TransformError> {
    let Body::UpdateHANDeviceLog(b) = i.body else {
        return Err(i.wrong_body());
    };
    parse_eui(&b.device_id).ok_or_else(|| i.field("DeviceID", "not an EUI-64"))
}

/// CCS01: register_device (derived encoding, see the module documentation).
fn ccs01(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let eui = update_device(i)?;
    let Body::UpdateHANDeviceLog(b) = i.body else {
        return Err(i.wrong_body());
    };
    let add = b.add_device_to_chf_whitelist.as_ref().ok_or_else(|| {
        i.field(
            "AddDeviceToCHFWhitelist",
            "an Add request must carry the install code and join time period",
        )
    })?;
    let timeout = u16::try_from(add.join_time_period)
        .ok()
        .filter(|t| (1..=3600).contains(t))
        .ok_or_else(|| {
            i.field(
                "JoinTimePeriod",
                format!("{} is outside 1..=3600", add.join_time_period),
            )
        })?;
    if !(6..=16).contains(&add.install_code.len()) {
        return Err(i.field(
            "InstallCode",
            format!("{} bytes, expected 6 to 16", add.install_code.len()),
        ));
    }
    Ok(Request::new()
        .action(
            DEVICE_LOG,
            CHF_LOG,
            REGISTER_DEVICE,
            Value::Structure(vec![
                Value::OctetString(eui.to_vec()),
                Value::OctetString(add.install_code.clone()),
                Value::LongUnsigned(timeout),
            ]),
        )
        .encode(i.counter))
}

/// CCS02: unregister_device (derived encoding).
fn ccs02(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let eui = update_device(i)?;
    Ok(Request::new()
        .action(
            DEVICE_LOG,
            CHF_LOG,
            UNREGISTER_DEVICE,
            Value::OctetString(eui.to_vec()),
        )
        .encode(i.counter))
}

/// The DCC's copy of the log for a restore, bounded.
fn restore_log<'a>(i: &'a Input<'_>, use_case: &str) -> Result<&'a [LogEntry], TransformError> {
    let log = i
        .ctx
        .device_log
        .as_deref()
        .ok_or_else(|| TransformError::Unsupported {
            srv: i.srv.to_owned(),
            use_case: Some(use_case.to_owned()),
            reason: "the restore command carries the DCC's copy of the old device's log, and \
                     the context has none"
                .to_owned(),
        })?;
    if log.len() > MAX_RESTORE_ENTRIES {
        return Err(i.field(
            "device log copy",
            format!(
                "{} entries, at most {MAX_RESTORE_ENTRIES} are restored",
                log.len()
            ),
        ));
    }
    Ok(log)
}

/// CCS03: restore_PAN with the DCC's copy (derived encoding).
fn ccs03(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::RestoreHANDeviceLog(b) = i.body else {
        return Err(i.wrong_body());
    };
    let old = parse_eui(&b.old_chfid).ok_or_else(|| i.field("OldCHFID", "not an EUI-64"))?;
    let log = restore_log(i, "CCS03")?;
    let entries = log
        .iter()
        .map(|e| {
            Value::Structure(vec![
                Value::OctetString(e.eui.to_vec()),
                Value::OctetString(Vec::new()),
            ])
        })
        .collect();
    Ok(Request::new()
        .action(
            DEVICE_LOG,
            CHF_LOG,
            RESTORE,
            Value::Structure(vec![
                Value::date_time(&i.ctx.now.cosem()),
                Value::OctetString(old.to_vec()),
                Value::Array(entries),
            ]),
        )
        .encode(i.counter))
}

/// GCS59: the DCC's copy of the GPF device log (RTDS layout).
fn gcs59(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::RestoreGPFDeviceLog(b) = i.body else {
        return Err(i.wrong_body());
    };
    parse_eui(&b.old_gpfid).ok_or_else(|| i.field("OldGPFID", "not an EUI-64"))?;
    let log = restore_log(i, "GCS59")?;
    let mut entries = Vec::with_capacity(log.len());
    for e in log {
        let code = e.device_type.ok_or_else(|| {
            i.field(
                "device log copy",
                format!("no GBCS device type is known for {}", hex::eui(&e.eui)),
            )
        })?;
        entries.push(Der::sequence(vec![
            Der::octets(&e.eui),
            Der::integer(i64::from(code)),
        ]));
    }
    Ok(Der::sequence(vec![Der::sequence(entries)]).encode())
}

/// An 8-byte octet-string.
fn eui_of(d: &Data<'_>) -> Option<[u8; 8]> {
    match d {
        Data::OctetString(b) => (*b).try_into().ok(),
        _ => None,
    }
}

/// The EUI of a CCS01 parameter (a structure whose first member is the EUI) or a CCS02 one
/// (the EUI).
fn named_eui(d: &Data<'_>) -> Option<[u8; 8]> {
    match d {
        Data::Structure(m) => m.first().and_then(eui_of),
        other => eui_of(other),
    }
}

/// The EUIs of a backup / restore structure: `{ date-time, extended PAN ID, array of
/// structure { EUI, … } }`.
fn backup_euis(d: &Data<'_>) -> Option<Vec<[u8; 8]>> {
    let Data::Structure(m) = d else {
        return None;
    };
    let Some(Data::Array(entries)) = m.get(2) else {
        return None;
    };
    entries.iter().map(named_eui).collect()
}

/// What a CHF device-log command (CCS01, CCS02, CCS03 as this module encodes them) does to
/// the CHF Device Log: `command` is the whole GBCS message (MAC-wrapped or not). `None` for
/// any other command, or one that does not read as one of those.
pub fn chf_log_change(command: &[u8]) -> Option<LogChange> {
    let msg = crate::gbcs::frame::parse(command).ok()?;
    let code = msg.header.other_info.message_code;
    if !CHF_LOG_CODES.contains(&code) {
        return None;
    }
    let Payload::Dlms(Apdu::AccessRequest(req)) = payload::decode(msg.content).ok()? else {
        return None;
    };
    let ([AccessRequestSpec::Action(d)], [data]) =
        (req.specifications.as_slice(), req.data.as_slice())
    else {
        return None;
    };
    if d.class_id != DEVICE_LOG || d.instance_id.0 != CHF_LOG {
        return None;
    }
    match (code, d.id) {
        (CCS01, REGISTER_DEVICE) => Some(LogChange::Add(vec![named_eui(data)?])),
        (CCS02, UNREGISTER_DEVICE) => Some(LogChange::Remove(vec![named_eui(data)?])),
        (CCS03, RESTORE) => Some(LogChange::Replace(backup_euis(data)?)),
        _ => None,
    }
}

/// Whether a device's response to a device-log command reports success: a DLMS
/// Access-Response whose every result is success, or a GCS59 ASN.1 response whose every
/// entry result is 0. `response` is the whole GBCS message.
pub fn chf_log_succeeded(response: &[u8]) -> bool {
    let Ok(msg) = crate::gbcs::frame::parse(response) else {
        return false;
    };
    match payload::decode(msg.content) {
        Ok(Payload::Dlms(Apdu::AccessResponse(r))) => {
            !r.specifications.is_empty() && r.specifications.iter().all(|s| s.is_success())
        }
        Ok(Payload::Asn1(node)) if msg.header.other_info.message_code == GCS59 => {
            gcs59_results(&node).is_some_and(|r| r.iter().all(|&(_, ok)| ok))
        }
        _ => false,
    }
}

/// The `(EUI, result is 0)` pairs of a GCS59 response: `SEQUENCE { SEQUENCE OF SEQUENCE {
/// SEQUENCE { OCTET STRING, INTEGER }, INTEGER } }`.
fn gcs59_results(node: &payload::asn1::Node<'_>) -> Option<Vec<([u8; 8], bool)>> {
    let [list] = node.children.as_slice() else {
        return None;
    };
    list.children
        .iter()
        .map(|item| {
            let [entry, result] = item.children.as_slice() else {
                return None;
            };
            let eui: [u8; 8] = entry.children.first()?.value.try_into().ok()?;
            Some((eui, result.value.iter().all(|&b| b == 0)))
        })
        .collect()
}

/// The whitelist a CS14 alert (message code 0x0018, alert code `8F12`) carries: the EUIs of
/// the CHF Device Log after the change. `alert` is the whole GBCS message; `None` for any
/// other message.
pub fn chf_log_alert(alert: &[u8]) -> Option<Vec<[u8; 8]>> {
    let msg = crate::gbcs::frame::parse(alert).ok()?;
    if msg.header.other_info.message_code != CS14 {
        return None;
    }
    let Payload::Dlms(Apdu::DataNotification(n)) =
        payload::decode_with(msg.content, payload::Context::for_message(&msg)).ok()?
    else {
        return None;
    };
    let Data::Structure(m) = &n.body else {
        return None;
    };
    match m.as_slice() {
        [Data::LongUnsigned(DEVICE_LOG_ALERT_CODE), _, backup] => backup_euis(backup),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::gbcs::frame::{Cra, GroupingHeader, LenForm, OtherInfo, Supplementary};

    fn message(code: u16, cra: Cra, content: &[u8]) -> Vec<u8> {
        let header = GroupingHeader {
            cra,
            counter: 7,
            originator: [0x90, 0xb3, 0xd5, 0x1f, 0x30, 0, 0, 2],
            recipient: [0, 0xdb, 0x12, 0x34, 0x56, 0x78, 0x90, 0xa2],
            date_time: None,
            other_info: OtherInfo {
                message_code: code,
                supplementary: Supplementary::None,
            },
        };
        crate::gbcs::frame::encode_apdu(
            &header,
            content,
            Some(None),
            LenForm::Short,
            LenForm::minimal(content.len()),
        )
    }

    const A: [u8; 8] = [0, 0xdb, 0x12, 0x34, 0x56, 0x78, 0x90, 0xa0];
    const B: [u8; 8] = [0, 0xdb, 0x12, 0x34, 0x56, 0x78, 0x90, 0xa4];

    #[test]
    fn derived_commands_read_back_as_their_changes() {
        let add = Request::new()
            .action(
                DEVICE_LOG,
                CHF_LOG,
                REGISTER_DEVICE,
                Value::Structure(vec![
                    Value::OctetString(A.to_vec()),
                    Value::OctetString(b"0123456789ABCDEF".to_vec()),
                    Value::LongUnsigned(90),
                ]),
            )
            .encode(7);
        assert_eq!(
            chf_log_change(&message(CCS01, Cra::Command, &add)),
            Some(LogChange::Add(vec![A]))
        );
        // The same payload under another message code is not a device-log change.
        assert_eq!(chf_log_change(&message(0x0004, Cra::Command, &add)), None);
        let remove = Request::new()
            .action(
                DEVICE_LOG,
                CHF_LOG,
                UNREGISTER_DEVICE,
                Value::OctetString(B.to_vec()),
            )
            .encode(7);
        assert_eq!(
            chf_log_change(&message(CCS02, Cra::Command, &remove)),
            Some(LogChange::Remove(vec![B]))
        );
        let restore = Request::new()
            .action(
                DEVICE_LOG,
                CHF_LOG,
                RESTORE,
                Value::Structure(vec![
                    Value::OctetString(vec![0; 12]),
                    Value::OctetString(A.to_vec()),
                    Value::Array(vec![
                        Value::Structure(vec![
                            Value::OctetString(A.to_vec()),
                            Value::OctetString(vec![]),
                        ]),
                        Value::Structure(vec![
                            Value::OctetString(B.to_vec()),
                            Value::OctetString(vec![]),
                        ]),
                    ]),
                ]),
            )
            .encode(7);
        assert_eq!(
            chf_log_change(&message(CCS03, Cra::Command, &restore)),
            Some(LogChange::Replace(vec![A, B]))
        );
        // A method that does not match the code, a truncated message, garbage: nothing.
        assert_eq!(chf_log_change(&message(CCS01, Cra::Command, &remove)), None);
        // (Without its last byte, the null signature, the APDU is still whole.)
        let whole = message(CCS03, Cra::Command, &restore);
        for n in 0..whole.len() - 1 {
            assert_eq!(chf_log_change(&whole[..n]), None);
        }
    }

    #[test]
    fn rtds_cs14_alert_and_gcs59_response_read_back() {
        let alert = hex::decode(
            "DD00000000000081A51100000000DF09030000000000000FA00800DB1234567890A20890B3D51F3000000200020018710F20000FA0000203128F12090C07DF0101FF000000008000FF0203090C07DF0101FF000000008000FF0908000102030405060701020202090800DB1234567890A0091083FED3407A939723A5C639B26916D5060202090800DB1234567890A1091083FED3407A939723A5C639B26916D50500223A858288D69C04E3271A97",
        )
        .unwrap();
        let mut a1 = A;
        a1[7] = 0xa1;
        assert_eq!(chf_log_alert(&alert), Some(vec![A, a1]));
        let response = hex::decode(
            "DD000000000000601100000000DF090200000000000005140800DB1234567890A30890B3D51F300000020002008C2C302A30283012300D040800112233445566770201050201003012300D04088899AABBCCDDEEFF02010602010000AD7FD6A205D83BEDBB7A4CB8",
        )
        .unwrap();
        assert!(chf_log_succeeded(&response));
        assert_eq!(chf_log_alert(&response), None);
        // The RTDS CCS06 error response carries a failed result.
        let error = hex::decode(
            "DD000000000000501100000000DF090200000000000005150800DB1234567890A20890B3D51F300000020012010F90B3D51F3001000000000000000003E90CDA20000515000001000101010064E97D69B066F668C71F5242",
        )
        .unwrap();
        assert!(!chf_log_succeeded(&error));
        assert!(!chf_log_succeeded(&[0xdf, 0x09]));
    }
}
