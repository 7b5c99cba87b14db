//! The ASN.1 use cases: joins and unjoins (CS03, CS04), credentials updates (CS02b), the
//! credentials a device holds (CS02a, CS02f), PPMID
//! firmware version (CS08), gas meter clock checks (GCS28) and the GPF device log restore
//! (GCS59, which replaces the GPF's device log, [`DeviceState::joined`]).
//!
//! Their payload layouts mirror the RTDS vectors; result numbers that the vectors do not
//! explain are noted where they are chosen.

use hubgate_protocol::gbcs::payload::asn1::{Node, TagClass, universal};
use hubgate_protocol::hex;
use hubgate_protocol::smki::Certificate;

use crate::der;
use crate::device::{AlertBody, AlertSpec, Ctx, Outcome, alert, alert_code};
use crate::error::{DeviceError, bad};
use crate::pki::{KeyUsage, subject_key_identifier};
use crate::state::{DeviceKind, DeviceState, JoinedDevice, Pending, PendingWork};
use crate::time;
use crate::trust::role;

/// Message codes of the use cases here.
pub mod code {
    /// CS03B Method B join.
    pub const CS03B: u16 = 0x000e;
    /// CS03A2 Method A join (PPMID).
    pub const CS03A2: u16 = 0x00ab;
    /// CS03C Method C join.
    pub const CS03C: u16 = 0x00af;
    /// CS04AC Method A or C unjoin.
    pub const CS04AC: u16 = 0x000f;
    /// CS08 Read PPMID firmware version.
    pub const CS08: u16 = 0x0129;
    /// CS06 Activate Firmware.
    pub const CS06: u16 = 0x0012;
    /// GCS28 Set clock on the GSME (validity window check).
    pub const GCS28: u16 = 0x007f;
    /// GCS59 Restore GPF Device Log.
    pub const GCS59: u16 = 0x008c;
    /// CS02e Retrieve Device Security Credentials (the device's own certificate).
    pub const CS02E: u16 = 0x000c;
    /// CS02c Issue Security Credentials (a new key pair and its certification request).
    pub const CS02C: u16 = 0x000a;
    /// CS02a Provide Security Credentials Details.
    pub const CS02A: u16 = 0x0008;
    /// CS02f Provide Security Credential Details (ESME, with the load controller).
    pub const CS02F: u16 = 0x011b;
    /// CS02b Update Security Credentials, by variant: supplier by supplier, NO by NO, ACB by
    /// ACB, WAN provider by WAN provider, supplier by TransCoS, any by contingency; CS02g
    /// load controller variants.
    pub const CS02B: &[u16] = &[
        0x0102, 0x0103, 0x0104, 0x0105, 0x0107, 0x0109, 0x0124, 0x0125, 0x0126,
    ];
}

/// Most devices a device log holds.
pub const JOIN_CAPACITY: usize = 8;

/// CS02b result: credential replaced.
pub const CREDENTIAL_OK: u8 = 0;
/// CS02b result: credential not replaced. The RTDS uses 10 for a certificate issued by
/// another CA than the one in the command; the emulator uses it for every rejected
/// certificate.
pub const CREDENTIAL_REJECTED: u8 = 10;

pub(crate) fn is(node: &Node<'_>, number: u32) -> bool {
    node.tag.class == TagClass::Universal && node.tag.number == number
}

pub(crate) fn integer(node: &Node<'_>) -> Option<i64> {
    if !is(node, universal::INTEGER) && !is(node, universal::ENUMERATED) {
        return None;
    }
    let v = node.value;
    if v.is_empty() || v.len() > 8 {
        return None;
    }
    let mut x: i64 = if v[0] & 0x80 != 0 { -1 } else { 0 };
    for &b in v {
        x = (x << 8) | i64::from(b);
    }
    Some(x)
}

/// Executes an ASN.1 use case.
pub(crate) fn execute(
    state: &mut DeviceState,
    ctx: &Ctx,
    node: &Node<'_>,
    content: &[u8],
) -> Result<Outcome, DeviceError> {
    if state.kind == DeviceKind::Ihd {
        return Err(DeviceError::Unsupported(ctx.code));
    }
    let payload = match ctx.code {
        code::CS03B | code::CS03A2 | code::CS03C
            if matches!(
                state.kind,
                DeviceKind::Esme | DeviceKind::Gsme | DeviceKind::Ppmid
            ) =>
        {
            join(state, ctx, node)?
        }
        code::CS04AC
            if matches!(
                state.kind,
                DeviceKind::Esme | DeviceKind::Gsme | DeviceKind::Ppmid
            ) =>
        {
            unjoin(state, ctx, node)?
        }
        code::CS08 if state.kind == DeviceKind::Ppmid => {
            if !is(node, universal::NULL) {
                return Err(bad(ctx.code, "CS08 carries NULL"));
            }
            if ctx.fault {
                der::seq(&[der::octets(&[0; 4]), der::int(1)])
            } else {
                der::seq(&[der::octets(&state.firmware_version), der::int(0)])
            }
        }
        code::CS06 if matches!(state.kind, DeviceKind::Esme | DeviceKind::Gsme) => {
            crate::firmware::activate(state, ctx, node)?
        }
        code::GCS28 if matches!(state.kind, DeviceKind::Gsme) => clock_check(ctx, node)?,
        code::GCS59 if state.kind == DeviceKind::Gpf => restore_gpf_log(state, ctx, node)?,
        code::CS02A => credential_details(state, ctx, node, false)?,
        code::CS02F if state.kind == DeviceKind::Esme => {
            credential_details(state, ctx, node, true)?
        }
        c if code::CS02B.contains(&c) => return credentials(state, ctx, node, content),
        c => return Err(DeviceError::Unsupported(c)),
    };
    Ok(Outcome {
        payload,
        ..Outcome::default()
    })
}

/// CS03: `SEQUENCE { INTEGER method, OCTET STRING eui, INTEGER device type, [certificate] }`
/// answered with `INTEGER` 0 (joined). A join refused by fault injection or a full log
/// answers 2 (the RTDS CS03B error value), a method C join whose certificate is missing or
/// unreadable answers 11 (the RTDS CS03C error value).
fn join(state: &mut DeviceState, ctx: &Ctx, node: &Node<'_>) -> Result<Vec<u8>, DeviceError> {
    let c = &node.children;
    let (Some(method), Some(eui_node), Some(device_type)) = (
        c.first().and_then(integer),
        c.get(1).filter(|n| is(n, universal::OCTET_STRING)),
        c.get(2).and_then(integer),
    ) else {
        return Err(bad(
            ctx.code,
            "CS03 expects SEQUENCE {INTEGER, OCTET STRING, INTEGER, ...}",
        ));
    };
    let eui: [u8; 8] = eui_node
        .value
        .try_into()
        .map_err(|_| bad(ctx.code, "the device EUI is not 8 bytes"))?;
    let certificate = c.get(3).map(Node::to_bytes);
    let refuse = |state: &mut DeviceState, result: i64, why: &str| {
        state.event_log.push(
            ctx.now,
            "join-refused",
            format!("{}: {why}", hex::eui(&eui)),
        );
        der::int(result)
    };
    if ctx.fault {
        return Ok(refuse(
            state,
            if method == 3 { 11 } else { 2 },
            "fault injected",
        ));
    }
    if method == 3 {
        // The RTDS joins a device with another device's certificate, so only its presence
        // and form are checked.
        let ok = certificate
            .as_deref()
            .is_some_and(|der| Certificate::from_der(der).is_ok());
        if !ok {
            return Ok(refuse(state, 11, "no usable certificate for the device"));
        }
    }
    let entry = JoinedDevice {
        eui,
        method,
        device_type,
        certificate,
    };
    match state.joined.iter().position(|d| d.eui == eui) {
        Some(i) => state.joined[i] = entry,
        None if state.joined.len() >= JOIN_CAPACITY => {
            return Ok(refuse(state, 2, "device log full"));
        }
        None => state.joined.push(entry),
    }
    state.event_log.push(
        ctx.now,
        "joined",
        format!("{} (method {method})", hex::eui(&eui)),
    );
    Ok(der::int(0))
}

/// GCS59: `SEQUENCE { SEQUENCE OF SEQUENCE { OCTET STRING eui, INTEGER device type } }`
/// replaces the GPF device log, answered as the RTDS response is: `SEQUENCE { SEQUENCE OF
/// SEQUENCE { SEQUENCE { eui, type }, INTEGER result } }` with result 0 for each restored
/// entry. Entries beyond [`JOIN_CAPACITY`], and every entry under fault injection, answer 1
/// (a value the corpus does not show) and are not restored.
fn restore_gpf_log(
    state: &mut DeviceState,
    ctx: &Ctx,
    node: &Node<'_>,
) -> Result<Vec<u8>, DeviceError> {
    let malformed = || {
        bad(
            ctx.code,
            "GCS59 expects SEQUENCE { SEQUENCE OF SEQUENCE { OCTET STRING, INTEGER } }",
        )
    };
    let [list] = node.children.as_slice() else {
        return Err(malformed());
    };
    if !is(node, universal::SEQUENCE) || !is(list, universal::SEQUENCE) {
        return Err(malformed());
    }
    let mut entries = Vec::with_capacity(list.children.len());
    for item in &list.children {
        let [eui, device_type] = item.children.as_slice() else {
            return Err(malformed());
        };
        let eui = <[u8; 8]>::try_from(eui.value)
            .ok()
            .filter(|_| is(eui, universal::OCTET_STRING));
        let (Some(eui), Some(device_type)) = (eui, integer(device_type)) else {
            return Err(malformed());
        };
        entries.push((eui, device_type));
    }
    let mut restored = Vec::new();
    let mut answers = Vec::with_capacity(entries.len());
    for (i, &(eui, device_type)) in entries.iter().enumerate() {
        let ok = !ctx.fault && i < JOIN_CAPACITY;
        if ok {
            restored.push(JoinedDevice {
                eui,
                method: 0,
                device_type,
                certificate: None,
            });
        }
        answers.push(der::seq(&[
            der::seq(&[der::octets(&eui), der::int(device_type)]),
            der::int(if ok { 0 } else { 1 }),
        ]));
    }
    if !ctx.fault {
        state.joined = restored;
        state.event_log.push(
            ctx.now,
            "device-log-restored",
            format!("{} entries", state.joined.len()),
        );
    }
    Ok(der::seq(&[der::seq(&answers)]))
}

/// CS04: `OCTET STRING eui` answered with `INTEGER` 0 (removed) or 1 (not in the log, or
/// fault injection; the RTDS error value).
fn unjoin(state: &mut DeviceState, ctx: &Ctx, node: &Node<'_>) -> Result<Vec<u8>, DeviceError> {
    if !is(node, universal::OCTET_STRING) {
        return Err(bad(ctx.code, "CS04 carries an OCTET STRING"));
    }
    let eui: [u8; 8] = node
        .value
        .try_into()
        .map_err(|_| bad(ctx.code, "the device EUI is not 8 bytes"))?;
    if ctx.fault {
        return Ok(der::int(1));
    }
    match state.joined.iter().position(|d| d.eui == eui) {
        Some(i) => {
            state.joined.remove(i);
            state.event_log.push(ctx.now, "unjoined", hex::eui(&eui));
            Ok(der::int(0))
        }
        None => Ok(der::int(1)),
    }
}

/// GCS28: `SEQUENCE { GeneralizedTime from, GeneralizedTime to }`. Inside the window the
/// answer is `SEQUENCE { from, 0 }`, outside it `SEQUENCE { device time, 2 }`, as in the
/// RTDS vectors. The device clock is not changed.
fn clock_check(ctx: &Ctx, node: &Node<'_>) -> Result<Vec<u8>, DeviceError> {
    let c = &node.children;
    let times: Option<Vec<(i64, &[u8])>> = c
        .iter()
        .take(2)
        .map(|n| {
            (is(n, universal::GENERALIZED_TIME))
                .then(|| time::unix_from_generalized(n.value).map(|t| (t, n.value)))
                .flatten()
        })
        .collect();
    let Some(times) = times.filter(|t| t.len() == 2) else {
        return Err(bad(
            ctx.code,
            "GCS28 expects SEQUENCE {GeneralizedTime, GeneralizedTime}",
        ));
    };
    let ((from, from_text), (to, _)) = (times[0], times[1]);
    Ok(if !ctx.fault && from <= ctx.now && ctx.now <= to {
        der::seq(&[der::tlv(0x18, from_text), der::int(0)])
    } else {
        der::seq(&[
            der::generalized_time(&time::generalized_from_unix(ctx.now)),
            der::int(2),
        ])
    })
}

/// CS02a / CS02f status: the role's cells follow.
pub const DETAILS_OK: u8 = 0;
/// CS02a / CS02f status: the device holds no cell for the role (the RTDS CS02a ERROR
/// answer for the network operator on a gas meter).
pub const DETAILS_NO_CELLS: u8 = 25;
/// CS02a / CS02f status: the command may not ask for the role. The RTDS CS02f ERROR answers
/// the transitional CoS party with it; the emulator also gives it for a role number it does
/// not know and, under CS02a, for the load controller (CS02f's role).
pub const DETAILS_NOT_ASKABLE: u8 = 127;

/// CS02a / CS02f: `SEQUENCE { SEQUENCE { INTEGER role, BIT STRING usage }, SEQUENCE OF
/// INTEGER role }`, the first being the authorising cell (the ACB's key-agreement cell, as
/// the command's MAC already proved). Answered, role by role in the command's order, with
/// `SEQUENCE { INTEGER role, ENUMERATED status [, INTEGER floor, SEQUENCE OF cell] }`, a cell
/// being `SEQUENCE { BIT STRING usage, [INTEGER 1 (prepayment KA cell),] OCTET STRING
/// subject EUI, OCTET STRING subject key identifier }` (digital signature first). The floor
/// is the highest originator counter the device had accepted from the parties in the role's
/// cells when the command arrived (0 when none): the floor under which it refuses their
/// commands. Lengths are written as the RTDS devices write them.
fn credential_details(
    state: &DeviceState,
    ctx: &Ctx,
    node: &Node<'_>,
    with_load_controller: bool,
) -> Result<Vec<u8>, DeviceError> {
    let c = &node.children;
    let (Some(authorising), Some(roles)) = (c.first(), c.get(1)) else {
        return Err(bad(
            ctx.code,
            "CS02a/CS02f expect SEQUENCE {authorising cell, SEQUENCE OF role}",
        ));
    };
    let authorising_role = authorising.children.first().and_then(integer);
    let authorising_usage = authorising.children.get(1).map(|n| n.value);
    if authorising_role != Some(i64::from(role::ACB)) || authorising_usage != Some(&[3, 0x08]) {
        return Err(bad(
            ctx.code,
            "the authorising cell must be the ACB's key agreement",
        ));
    }
    let mut answers = Vec::with_capacity(roles.children.len());
    for r in &roles.children {
        let number = integer(r).ok_or_else(|| bad(ctx.code, "a role is an INTEGER"))?;
        let askable = match u8::try_from(number) {
            Ok(role::TRANSITIONAL_COS) | Err(_) => None,
            Ok(role::LOAD_CONTROLLER) if !with_load_controller => None,
            Ok(n) if n <= role::WAN_PROVIDER || n == role::LOAD_CONTROLLER => Some(n),
            Ok(_) => None,
        };
        let Some(role_number) = askable else {
            answers.push(der::seq_gbcs(&[
                der::int(number),
                der::enumerated(DETAILS_NOT_ASKABLE),
            ]));
            continue;
        };
        let mut cells: Vec<_> = state
            .trusted
            .cells()
            .iter()
            .filter(|cell| cell.role == role_number)
            .collect();
        if cells.is_empty() {
            answers.push(der::seq_gbcs(&[
                der::int(number),
                der::enumerated(DETAILS_NO_CELLS),
            ]));
            continue;
        }
        cells.sort_by_key(|cell| (cell.usage != KeyUsage::DigitalSignature, cell.index));
        let floor = cells
            .iter()
            .filter_map(|cell| {
                if cell.eui == ctx.originator {
                    ctx.previous_counter
                } else {
                    state.counters.get(&cell.eui).copied()
                }
            })
            .max()
            .unwrap_or(0);
        let contents: Vec<Vec<u8>> = cells
            .iter()
            .map(|cell| {
                let mut parts = vec![match cell.usage {
                    KeyUsage::DigitalSignature => der::tlv(0x03, &[7, 0x80]),
                    KeyUsage::KeyAgreement => der::tlv(0x03, &[3, 0x08]),
                }];
                if cell.index != 0 {
                    parts.push(der::int(i64::from(cell.index)));
                }
                parts.push(der::octets(&cell.eui));
                parts.push(der::octets(
                    &subject_key_identifier(&cell.certificate).unwrap_or_default(),
                ));
                der::seq_gbcs(&parts)
            })
            .collect();
        answers.push(der::seq_gbcs(&[
            der::int(number),
            der::enumerated(DETAILS_OK),
            der::uint_bytes(&floor.to_be_bytes()),
            der::seq_gbcs(&contents),
        ]));
    }
    Ok(der::seq_gbcs(&answers))
}

/// CS02e result: the certificate of that usage cannot be given (the RTDS ERROR answer).
pub const OWN_CERTIFICATE_REFUSED: i64 = 3;

/// CS02e: `SEQUENCE { BIT STRING usage }` answered with the device's own certificate of that
/// usage (DER), or `INTEGER 3` under fault injection or for a usage that is neither digital
/// signature nor key agreement. An RTDS device answers with the substitute digital-signature
/// certificate its signatures verify with (see [`crate::keys`]), not the RTDS one.
pub(crate) fn own_certificate(
    ctx: &Ctx,
    node: &Node<'_>,
    identity: &crate::keys::Identity,
) -> Result<Vec<u8>, DeviceError> {
    let certificate = match requested_usage(ctx, node, "CS02e")? {
        Some(crate::pki::KeyUsage::DigitalSignature) => Some(identity.ds_certificate()),
        Some(crate::pki::KeyUsage::KeyAgreement) => Some(identity.ka_certificate()),
        None => None,
    };
    Ok(match certificate {
        Some(c) if !ctx.fault => c.to_vec(),
        _ => der::int(OWN_CERTIFICATE_REFUSED),
    })
}

/// The key usage a CS02c or CS02e command (`SEQUENCE { BIT STRING usage }`) names: `None`
/// for one that is neither digital signature (`07 80`) nor key agreement (`03 08`).
fn requested_usage(
    ctx: &Ctx,
    node: &Node<'_>,
    use_case: &str,
) -> Result<Option<crate::pki::KeyUsage>, DeviceError> {
    let usage = node
        .children
        .first()
        .filter(|n| is(n, universal::BIT_STRING))
        .map(|n| n.value)
        .ok_or_else(|| {
            bad(
                ctx.code,
                format!("{use_case} expects SEQUENCE {{BIT STRING key usage}}"),
            )
        })?;
    Ok(match usage {
        [7, 0x80] => Some(crate::pki::KeyUsage::DigitalSignature),
        [3, 0x08] => Some(crate::pki::KeyUsage::KeyAgreement),
        _ => None,
    })
}

/// CS02c: `SEQUENCE { BIT STRING usage }` answered with a PKCS#10 certification request
/// for a new key pair of that usage ([`crate::pki::certification_request`]); the device
/// keeps the key pair ([`DeviceState::requested_keys`]). `INTEGER 3` under fault injection
/// or for a usage that is neither digital signature nor key agreement, as CS02e.
pub(crate) fn issue_credentials(
    state: &mut DeviceState,
    ctx: &Ctx,
    node: &Node<'_>,
) -> Result<Vec<u8>, DeviceError> {
    use crate::pki::GeneratedKey;
    let Some(usage) = requested_usage(ctx, node, "CS02c")?.filter(|_| !ctx.fault) else {
        return Ok(der::int(OWN_CERTIFICATE_REFUSED));
    };
    let key = GeneratedKey::generate()?;
    let request = crate::pki::certification_request(&state.eui, usage, &key)?;
    state.requested_keys.retain(|(u, _)| *u != usage);
    state.requested_keys.push((usage, key));
    Ok(request)
}

/// A replacement certificate and the cell it is for.
struct Replacement {
    certificate: Vec<u8>,
    role: u8,
    usage: KeyUsage,
    index: u8,
    /// The target as the command wrote it (echoed in the results).
    target: Vec<u8>,
}

/// A parsed CS02b command.
struct CredentialsUpdate {
    /// First INTEGER of the control information.
    first: i64,
    /// The role of the authorising credential ([2]).
    authorising_role: i64,
    /// The counter ([3]).
    counter: i64,
    /// [4].
    flag: i64,
    /// [5] contents.
    extra: Vec<u8>,
    replacements: Vec<Replacement>,
    /// The issuing CA certificate(s) the command carries.
    cas: Vec<Vec<u8>>,
    execution: Option<i64>,
    execution_text: Option<Vec<u8>>,
}

fn context_child<'n, 'a>(node: &'n Node<'a>, number: u32) -> Option<&'n Node<'a>> {
    node.children
        .iter()
        .find(|c| c.tag.class == TagClass::ContextSpecific && c.tag.number == number)
}

fn parse_update(code: u16, node: &Node<'_>) -> Result<CredentialsUpdate, DeviceError> {
    let c = &node.children;
    let (Some(control), Some(list), Some(ca)) = (c.first(), c.get(1), c.get(2)) else {
        return Err(bad(
            code,
            "CS02b expects SEQUENCE {control, replacements, CA certificate, ...}",
        ));
    };
    let uint_of = |n: Option<&Node<'_>>| -> i64 {
        n.map(|n| {
            n.value
                .iter()
                .fold(0i64, |acc, b| (acc << 8) | i64::from(*b))
        })
        .unwrap_or(0)
    };
    let authorising_role = context_child(control, 2)
        .and_then(|n| n.children.first())
        .and_then(integer)
        .unwrap_or(0);
    let mut replacements = Vec::new();
    for r in &list.children {
        let (Some(cert), Some(target)) = (r.children.first(), r.children.get(1)) else {
            return Err(bad(code, "a replacement is SEQUENCE {certificate, target}"));
        };
        let t = &target.children;
        let role = t.first().and_then(integer).unwrap_or(-1);
        let usage = match t.get(1).map(|n| n.value) {
            Some([7, b, ..]) if b & 0x80 != 0 => KeyUsage::DigitalSignature,
            Some([3, b, ..]) if b & 0x08 != 0 => KeyUsage::KeyAgreement,
            _ => return Err(bad(code, "replacement target key usage")),
        };
        replacements.push(Replacement {
            certificate: cert.to_bytes(),
            role: u8::try_from(role).map_err(|_| bad(code, "replacement target role"))?,
            usage,
            index: t
                .get(2)
                .and_then(integer)
                .and_then(|i| u8::try_from(i).ok())
                .unwrap_or(0),
            target: target.to_bytes(),
        });
    }
    let time_node = c.get(3).filter(|n| is(n, universal::GENERALIZED_TIME));
    Ok(CredentialsUpdate {
        first: control.children.first().and_then(integer).unwrap_or(0),
        authorising_role,
        counter: uint_of(context_child(control, 3)),
        flag: uint_of(context_child(control, 4)),
        extra: context_child(control, 5)
            .map(|n| n.children.iter().flat_map(Node::to_bytes).collect())
            .unwrap_or_default(),
        replacements,
        // A SEQUENCE OF certificates (as in the RTDS), or one certificate.
        cas: if ca.children.first().is_some_and(|c| c.children.len() == 3) {
            ca.children.iter().map(Node::to_bytes).collect()
        } else {
            vec![ca.to_bytes()]
        },
        execution: time_node.and_then(|n| time::unix_from_generalized(n.value)),
        execution_text: time_node.map(|n| n.value.to_vec()),
    })
}

/// Whether `cert` was issued by `ca` (issuer name and ECDSA signature).
fn issued_by(cert: &[u8], ca: &[u8]) -> bool {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (Ok((_, c)), Ok((_, a))) = (
        X509Certificate::from_der(cert),
        X509Certificate::from_der(ca),
    ) else {
        return false;
    };
    if c.issuer().as_raw() != a.subject().as_raw() {
        return false;
    }
    let Some(sig) = der::ecdsa_signature_raw(&c.signature_value.data) else {
        return false;
    };
    hubgate_protocol::crypto::VerifyingKey::from_bytes(a.public_key().raw)
        .is_ok_and(|k| k.verify(c.tbs_certificate.as_ref(), &sig).is_ok())
}

/// Applies a credentials update; returns the inner result structure and whether every
/// replacement succeeded.
fn apply_update(
    state: &mut DeviceState,
    originator: [u8; 8],
    u: &CredentialsUpdate,
    now: i64,
) -> (Vec<u8>, bool) {
    let originator_role = state.trusted.role_of(&originator);
    let mut results = Vec::with_capacity(u.replacements.len());
    let mut all_ok = true;
    for r in &u.replacements {
        let prior = state.trusted.cell(r.role, r.usage, r.index).cloned();
        let (prior_eui, prior_ski) = prior
            .as_ref()
            .map(|p| {
                (
                    p.eui.to_vec(),
                    subject_key_identifier(&p.certificate).unwrap_or_default(),
                )
            })
            .unwrap_or_default();
        let authorised = match originator_role {
            Some(o) if o == r.role => true,
            Some(role::RECOVERY) => true,
            Some(role::TRANSITIONAL_COS) => r.role == role::SUPPLIER,
            Some(role::SUPPLIER) => r.role == role::LOAD_CONTROLLER,
            _ => false,
        };
        let parsed = Certificate::from_der(&r.certificate).ok();
        let valid = parsed.as_ref().is_some_and(|c| {
            c.usage() == Some(r.usage.to_smki()) && c.role() == Some(r.role) && c.eui().is_some()
        }) && u.cas.iter().any(|ca| issued_by(&r.certificate, ca));
        let (status, new_eui, new_ski) = match parsed {
            Some(c) if authorised && valid => {
                let eui = c.eui().unwrap_or_default();
                state
                    .trusted
                    .set(r.role, r.usage, r.index, eui, r.certificate.clone());
                state.security_log.push(
                    now,
                    "credential-replaced",
                    format!(
                        "role {} {} cell {}: {}",
                        r.role,
                        r.usage.short(),
                        r.index,
                        hex::eui(&eui)
                    ),
                );
                (
                    CREDENTIAL_OK,
                    eui.to_vec(),
                    subject_key_identifier(&r.certificate).unwrap_or_default(),
                )
            }
            _ => {
                all_ok = false;
                state.security_log.push(
                    now,
                    "credential-rejected",
                    format!(
                        "role {} {} cell {}: {}",
                        r.role,
                        r.usage.short(),
                        r.index,
                        if authorised {
                            "invalid certificate"
                        } else {
                            "not authorised"
                        }
                    ),
                );
                (CREDENTIAL_REJECTED, prior_eui.clone(), prior_ski.clone())
            }
        };
        results.push(der::seq(&[
            r.target.clone(),
            der::enumerated(status),
            der::octets(&prior_eui),
            der::octets(&prior_ski),
            der::octets(&new_eui),
            der::octets(&new_ski),
        ]));
    }
    let inner = der::seq_gbcs(&[
        der::int(u.counter),
        der::int(u.authorising_role),
        der::seq(&[der::seq(&[
            der::int(u.first),
            der::int(u.flag),
            der::tlv(0x30, &u.extra),
        ])]),
        der::seq_gbcs(&results),
    ]);
    (inner, all_ok)
}

/// Execution dates from this one on cancel a pending update (the RTDS uses 9999-12-31).
const CANCEL_FROM: i64 = 32_503_680_000; // 3000-01-01T00:00:00Z

/// CS02b: replaces credentials now (`SEQUENCE { NULL, results }`), or later when the command
/// carries a future execution time (`SEQUENCE { NULL }` now, an 8F66/8F67 alert later). A
/// time from the year 3000 on cancels a pending update of the same message code.
fn credentials(
    state: &mut DeviceState,
    ctx: &Ctx,
    node: &Node<'_>,
    content: &[u8],
) -> Result<Outcome, DeviceError> {
    let u = parse_update(ctx.code, node)?;
    let deferred = der::seq(&[der::null()]);
    match u.execution {
        Some(t) if t >= CANCEL_FROM => {
            state.pending.retain(|p| p.message_code != ctx.code);
            state.event_log.push(
                ctx.now,
                "future-dated-cancelled",
                format!("{:#06x}", ctx.code),
            );
            Ok(Outcome {
                payload: deferred,
                ..Outcome::default()
            })
        }
        Some(t) if t > ctx.now => {
            state.pending.retain(|p| p.message_code != ctx.code);
            Ok(Outcome {
                payload: deferred,
                pending: Some(Pending {
                    due: t,
                    message_code: ctx.code,
                    originator: ctx.remote_party(),
                    counter: ctx.counter,
                    work: PendingWork::Credentials {
                        content: content.to_vec(),
                    },
                }),
                ..Outcome::default()
            })
        }
        _ => {
            let (inner, _) = apply_update(state, ctx.remote_party(), &u, ctx.now);
            Ok(Outcome {
                payload: der::seq_gbcs(&[der::null(), inner]),
                ..Outcome::default()
            })
        }
    }
}

/// Runs a due credentials update and returns its 8F66 (every credential replaced) or 8F67
/// alert.
pub(crate) fn run_pending(state: &mut DeviceState, p: &Pending, now: i64) -> Vec<AlertSpec> {
    let PendingWork::Credentials { content } = &p.work else {
        return Vec::new();
    };
    let Ok(node) = Node::decode(content) else {
        return Vec::new();
    };
    let Ok(u) = parse_update(p.message_code, &node) else {
        return Vec::new();
    };
    let (inner, ok) = apply_update(state, p.originator, &u, now);
    let execution = u
        .execution_text
        .clone()
        .unwrap_or_else(|| time::generalized_from_unix(now).into_bytes());
    vec![AlertSpec {
        message_code: alert_code::FUTURE_DATED_CREDENTIALS,
        critical: true,
        recipient: p.originator,
        body: AlertBody::Asn1(der::seq_gbcs(&[
            der::int(i64::from(if ok {
                alert::FUTURE_DATED_SUCCESS
            } else {
                alert::FUTURE_DATED_FAILURE
            })),
            der::tlv(0x18, &execution),
            inner,
        ])),
    }]
}
