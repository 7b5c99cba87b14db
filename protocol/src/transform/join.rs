//! 8.7.1 / 8.7.2 Join Service and 8.8.1 / 8.8.2 Unjoin Service: add the other device to, or
//! remove it from, the target's device log.
//!
//! **Unjoin** (CS04AC): the payload is the other device's EUI-64 as an ASN.1 OCTET STRING. To
//! a PPMID or HCALCS the ACB sends it on the User's behalf and signs it (CS04ACNonCritical).
//!
//! **Join** (CS03x): `SEQUENCE { INTEGER join method and role, OCTET STRING other device EUI,
//! INTEGER other device type, [Certificate other device key agreement] }`. The request names
//! only the other device; its GBCS device type, and for method C its key-agreement
//! certificate, come from the Smart Metering Inventory and the key store through
//! [`Context::join_peer`](super::Context::join_peer). Without it a join is refused with
//! [`TransformError::Unsupported`] saying what is missing.
//!
//! | use case | SRV | target | method and role | other device | origin |
//! |---|---|---|---|---|---|
//! | CS03B | 8.7.2 | ESME, GSME | 2 (method B) | a Type 2 device | User, null signature |
//! | CS03A2NonCritical | 8.7.2 | PPMID, HCALCS | 1 (method A, non-meter) | ESME, GSME | ACB, signed by the ACB |
//! | CS03CNonCritical | 8.7.2 | PPMID, HCALCS | 3 (method C), with the certificate | ESME, GSME | ACB, signed by the ACB |
//! | CS03CCritical | 8.7.1 | ESME, GSME | 3 (method C), with the certificate | PPMID | User, Pre-Command |
//!
//! To a PPMID or HCALCS, CS03A2NonCritical is the default; CS03CNonCritical is produced when
//! [`Context::use_case`](super::Context::use_case) asks for it. CS03A1 and CS03A2Critical are
//! not produced: the conformance corpus has no message code for them.
//!
//! The GBCS device-type codes are those the RTDS join commands and device-log responses
//! carry: ESME 0 (CS03CNonCritical), GSME 1 (CS03A2NonCritical), Type 2 device 3 (CS03B, and
//! the CS07 device log), PPMID 5 (CS03CCritical). The HCALCS, CHF and GPF codes appear in no
//! join of the corpus, so joins with those devices as the other device are refused.

use super::der::Der;
use super::{DeviceType, Input, Origin, TransformError, UseCase, any_body};
use crate::duis::model::Body;
use crate::duis::model::header::parse_eui;
use crate::hex;

/// The other device of a join, as its GBCS join command names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JoinDeviceType {
    /// Electricity Smart Metering Equipment (code 0).
    Esme,
    /// Gas Smart Metering Equipment (code 1).
    Gsme,
    /// A Type 2 device: In-Home Display or Consumer Access Device (code 3).
    Type2,
    /// Prepayment Meter Interface Device (code 5).
    Ppmid,
}

impl JoinDeviceType {
    /// The GBCS device-type code in the join command.
    pub fn code(self) -> i64 {
        match self {
            JoinDeviceType::Esme => 0,
            JoinDeviceType::Gsme => 1,
            JoinDeviceType::Type2 => 3,
            JoinDeviceType::Ppmid => 5,
        }
    }

    /// The join device type of a device that takes GBCS commands; `None` for those whose
    /// code is not known (CHF, GPF, HCALCS).
    pub fn of(device: DeviceType) -> Option<JoinDeviceType> {
        match device {
            DeviceType::Esme => Some(JoinDeviceType::Esme),
            DeviceType::Gsme => Some(JoinDeviceType::Gsme),
            DeviceType::Ppmid => Some(JoinDeviceType::Ppmid),
            DeviceType::Gpf | DeviceType::Chf | DeviceType::Hcalcs => None,
        }
    }
}

/// What a join command carries about the other device, beyond its EUI in the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinPeer {
    /// The other device's EUI-64 (must equal the request's `OtherDeviceID`).
    pub eui: [u8; 8],
    /// Its device type, from the Smart Metering Inventory.
    pub device_type: JoinDeviceType,
    /// Its key-agreement certificate (DER), from the key store: required by method C.
    pub certificate: Option<Vec<u8>>,
}

pub(crate) static USE_CASES: &[UseCase] = &[
    UseCase {
        name: "CS03B",
        srv: "8.7.2",
        devices: &[DeviceType::Esme, DeviceType::Gsme],
        origin: Origin::User,
        fits: any_body,
        build: join_b,
    },
    UseCase {
        name: "CS03A2NonCritical",
        srv: "8.7.2",
        devices: &[DeviceType::Ppmid, DeviceType::Hcalcs],
        origin: Origin::AcbSigned,
        fits: any_body,
        build: join_a2,
    },
    UseCase {
        name: "CS03CNonCritical",
        srv: "8.7.2",
        devices: &[DeviceType::Ppmid, DeviceType::Hcalcs],
        origin: Origin::AcbSigned,
        fits: any_body,
        build: join_c_meter,
    },
    UseCase {
        name: "CS03CCritical",
        srv: "8.7.1",
        devices: &[DeviceType::Esme, DeviceType::Gsme],
        origin: Origin::User,
        fits: any_body,
        build: join_c_non_meter,
    },
    UseCase {
        name: "CS04ACCritical",
        srv: "8.8.1",
        devices: &[DeviceType::Esme, DeviceType::Gsme],
        origin: Origin::User,
        fits: any_body,
        build: unjoin,
    },
    UseCase {
        name: "CS04ACNonCritical",
        srv: "8.8.2",
        devices: &[DeviceType::Ppmid, DeviceType::Hcalcs],
        origin: Origin::AcbSigned,
        fits: any_body,
        build: unjoin,
    },
];

fn unjoin(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let b = match i.body {
        Body::UnjoinServiceCritical(b) | Body::UnjoinServiceNonCritical(b) => b,
        _ => return Err(i.wrong_body()),
    };
    let eui =
        parse_eui(&b.other_device_id).ok_or_else(|| i.field("OtherDeviceID", "not an EUI-64"))?;
    Ok(Der::octets(&eui).encode())
}

/// Method B: a Type 2 device joins an ESME or GSME.
fn join_b(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    join(
        i,
        "CS03B",
        2,
        |t| t == JoinDeviceType::Type2,
        "a Type 2 device",
    )
}

/// Method A, non-meter role: a PPMID or HCALCS joins an ESME or GSME.
fn join_a2(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    join(i, "CS03A2NonCritical", 1, is_meter, "an ESME or GSME")
}

/// Method C, sent to the PPMID or HCALCS: the other device is a meter.
fn join_c_meter(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    join(i, "CS03CNonCritical", 3, is_meter, "an ESME or GSME")
}

/// Method C, sent to the meter: the other device is a PPMID.
fn join_c_non_meter(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    join(
        i,
        "CS03CCritical",
        3,
        |t| t == JoinDeviceType::Ppmid,
        "a PPMID",
    )
}

fn is_meter(t: JoinDeviceType) -> bool {
    matches!(t, JoinDeviceType::Esme | JoinDeviceType::Gsme)
}

fn join(
    i: &Input<'_>,
    use_case: &str,
    method: i64,
    allowed: fn(JoinDeviceType) -> bool,
    allowed_name: &str,
) -> Result<Vec<u8>, TransformError> {
    let b = match i.body {
        Body::JoinServiceCritical(b) | Body::JoinServiceNonCritical(b) => b,
        _ => return Err(i.wrong_body()),
    };
    let eui =
        parse_eui(&b.other_device_id).ok_or_else(|| i.field("OtherDeviceID", "not an EUI-64"))?;
    let unsupported = |reason: String| TransformError::Unsupported {
        srv: i.srv.to_owned(),
        use_case: Some(use_case.to_owned()),
        reason,
    };
    let peer = i.ctx.join_peer.as_ref().ok_or_else(|| {
        unsupported(format!(
            "a Join command carries the other device's GBCS device type{}, which come from the \
             Smart Metering Inventory; the context does not describe {}",
            if method == 3 {
                " and key-agreement certificate"
            } else {
                ""
            },
            hex::eui(&eui)
        ))
    })?;
    if peer.eui != eui {
        return Err(i.field(
            "OtherDeviceID",
            format!(
                "the request names {} but the context describes {}",
                hex::eui(&eui),
                hex::eui(&peer.eui)
            ),
        ));
    }
    if !allowed(peer.device_type) {
        return Err(i.field(
            "OtherDeviceID",
            format!(
                "{use_case} joins {allowed_name}, and {} is a {:?} device",
                hex::eui(&eui),
                peer.device_type
            ),
        ));
    }
    let mut items = vec![
        Der::integer(method),
        Der::octets(&eui),
        Der::integer(peer.device_type.code()),
    ];
    if method == 3 {
        let der = peer.certificate.as_deref().ok_or_else(|| {
            unsupported(format!(
                "method C carries the other device's key-agreement certificate, and the key \
                 store has none for {}",
                hex::eui(&eui)
            ))
        })?;
        let cert = Der::raw(der).ok_or_else(|| {
            i.field(
                "OtherDeviceID",
                format!(
                    "the key-agreement certificate of {} is not one DER value",
                    hex::eui(&eui)
                ),
            )
        })?;
        items.push(cert);
    }
    Ok(Der::sequence(items).encode())
}
