//! 6.15.1 Update Security Credentials (KRP), critical, and 6.23 Update Security Credentials
//! (CoS) replace the remote party's certificates held in the device's trust anchor cells;
//! 6.24.1 Retrieve Device Security Credentials (KRP) asks which ones it holds (below). The
//! updates (GBCS CS02b / CS02g, ASN.1 DER):
//!
//! ```text
//! SEQUENCE {
//!   SEQUENCE {                                   -- authorising remote party control
//!     INTEGER mode,                              -- 2 supplier by supplier, 3 NO by NO,
//!                                                -- 7 supplier by TransCoS, 11 load controller by supplier
//!     [1] 01                   OPTIONAL,         -- when ApplyTimeBasedCPVChecks is false
//!     [2] { INTEGER role, BIT STRING DS },       -- the authorising party's trust anchor cell
//!     [3] INTEGER counter,                       -- the authorising party's originator counter
//!     [4] INTEGER floor        OPTIONAL,         -- new sequence-number floor (same role)
//!     [5] { { 0, top-up floor } } OPTIONAL,      -- its prepayment top-up floor
//!     [6] { { role, floor [, { { 0, top-up floor } }] } } OPTIONAL  -- floors of another role
//!   },
//!   SEQUENCE OF { Certificate, { INTEGER role, BIT STRING usage [, INTEGER 1 (top-up)] } },
//!   SEQUENCE OF Certificate,                     -- certification path
//!   GeneralizedTime OPTIONAL                     -- execution time (99991231235959Z: cancel)
//! }
//! ```
//!
//! Roles are the SMKI organisation roles (2 supplier, 3 network operator, 5 transitional
//! CoS, 8 load controller). 6.23 is originated and signed by the Transitional Change of
//! Supplier party (CS02bSupplierByTransCoS), with its own counter
//! ([`super::Context::cos_party`]).
//!
//! 6.24.2 Retrieve Device Security Credentials (Device), critical, asks a device for its own
//! certificate of one key usage (GBCS CS02e): `SEQUENCE { BIT STRING usage }`, `07 80` for
//! digital signature and `03 08` for key agreement, as the RTDS Pre-Commands carry it.
//!
//! 6.24.1 Retrieve Device Security Credentials (KRP) asks a device which remote parties'
//! certificates it holds (GBCS CS02a, and CS02f when the load controller is among the roles:
//! only an ESME holds one). The DCC's ACB sends it on its own account (no supplementary
//! remote party), MAC'd with its key-agreement key:
//!
//! ```text
//! SEQUENCE {
//!   SEQUENCE { INTEGER 4, BIT STRING keyAgreement },  -- the authorising cell: the ACB's KA
//!   SEQUENCE OF INTEGER role                         -- the roles asked for, in request order
//! }
//! ```
//!
//! with the request's roles numbered as SMKI does (0 root, 1 recovery, 2 supplier, 3 network
//! operator, 4 ACB, 5 transitional CoS, 8 load controller). Both RTDS commands are matched
//! byte for byte.

use super::der::Der;
use super::{DeviceType, Execution, Input, Origin, TransformError, UseCase};
use crate::duis::model::Body;
use crate::duis::model::body::{
    CertificationPathCertificates, CredentialType, RemotePartyRole, ReplacementCertificatesKRP,
};

const METERS: &[DeviceType] = &[DeviceType::Esme, DeviceType::Gsme];
/// Every device that holds remote parties' credentials (the GBCS Type 1 devices: all the
/// types a command can address).
const TYPE1: &[DeviceType] = &DeviceType::ALL;

pub(crate) static USE_CASES: &[UseCase] = &[
    UseCase {
        name: "CS02bSupplierBySupplier",
        srv: "6.15.1",
        devices: METERS,
        origin: Origin::User,
        fits: |b| role_is(b, RemotePartyRole::Supplier),
        build: krp,
    },
    UseCase {
        name: "CS02bNOByNO",
        srv: "6.15.1",
        devices: METERS,
        origin: Origin::User,
        fits: |b| role_is(b, RemotePartyRole::NetworkOperator),
        build: krp,
    },
    UseCase {
        name: "CS02gLoadControllerBySupplier",
        srv: "6.15.1",
        devices: &[DeviceType::Esme],
        origin: Origin::User,
        fits: |b| role_is(b, RemotePartyRole::LoadController),
        build: krp,
    },
    UseCase {
        name: "CS02bSupplierByTransCoS",
        srv: "6.23",
        devices: METERS,
        origin: Origin::TransCoS,
        fits: |b| matches!(b, Body::UpdateSecurityCredentialsCoS(_)),
        build: cos,
    },
    UseCase {
        name: "CS02c",
        srv: "6.17",
        devices: TYPE1,
        origin: Origin::User,
        fits: |b| matches!(b, Body::IssueSecurityCredentials(_)),
        build: cs02c,
    },
    UseCase {
        name: "CS02e",
        srv: "6.24.2",
        devices: TYPE1,
        origin: Origin::User,
        fits: |b| matches!(b, Body::RetrieveDeviceSecurityCredentialsDevice(_)),
        build: cs02e,
    },
    UseCase {
        name: "CS02aMAC",
        srv: "6.24.1",
        devices: TYPE1,
        origin: Origin::AcbOwn,
        fits: |b| !asks_load_controller(b),
        build: provide_details,
    },
    UseCase {
        name: "CS02fMAC",
        srv: "6.24.1",
        devices: &[DeviceType::Esme],
        origin: Origin::AcbOwn,
        fits: asks_load_controller,
        build: provide_details,
    },
];

/// Whether a 6.24.1 request asks for the load controller's credentials (CS02f).
fn asks_load_controller(b: &Body) -> bool {
    matches!(b, Body::RetrieveDeviceSecurityCredentialsKRP(r)
        if r.remote_party_role.contains(&RemotePartyRole::LoadController))
}

fn role_is(b: &Body, role: RemotePartyRole) -> bool {
    matches!(b, Body::UpdateSecurityCredentialsKRP(k) if k.remote_party_role == role)
}

/// SMKI organisation roles.
const ROLE_ROOT: i64 = 0;
const ROLE_RECOVERY: i64 = 1;
const ROLE_SUPPLIER: i64 = 2;
const ROLE_NETWORK_OPERATOR: i64 = 3;
const ROLE_ACB: i64 = 4;
const ROLE_TRANS_COS: i64 = 5;
const ROLE_LOAD_CONTROLLER: i64 = 8;

/// Key usages as X.509 KeyUsage bit strings: digitalSignature, keyAgreement.
fn usage_ds() -> Der {
    Der::bit_string(7, &[0x80])
}
fn usage_ka() -> Der {
    Der::bit_string(3, &[0x08])
}

/// GeneralizedTime of a cancellation.
const CANCEL_TIME: &str = "99991231235959Z";

/// The parts common to both services.
struct Credentials<'a> {
    mode: i64,
    authorising_role: i64,
    skip_time_based_checks: bool,
    /// Floors for the same role as the authorising party ([4], [5]).
    own_floors: Option<(Option<u64>, Option<u64>)>,
    /// Floors of another role ([6]).
    other_floors: Option<(i64, u64, Option<u64>)>,
    new_role: i64,
    ds: Option<&'a [u8]>,
    ka: Option<&'a [u8]>,
    top_up: Option<&'a [u8]>,
    path: &'a CertificationPathCertificates,
    execution: Execution,
}

fn cert(i: &Input<'_>, field: &'static str, bytes: &[u8]) -> Result<Der, TransformError> {
    Der::raw(bytes).ok_or_else(|| i.field(field, "not a single DER value"))
}

fn floor(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn encode(i: &Input<'_>, c: &Credentials<'_>) -> Result<Vec<u8>, TransformError> {
    let mut control = vec![Der::integer(c.mode)];
    if c.skip_time_based_checks {
        control.push(Der::context_primitive(1, vec![0x01]));
    }
    control.push(Der::context(
        2,
        vec![Der::integer(c.authorising_role), usage_ds()],
    ));
    control.push(Der::context_integer(
        3,
        i64::try_from(i.counter).unwrap_or(i64::MAX),
    ));
    let top_up = |t: u64| Der::sequence(vec![Der::integer(0), Der::integer(floor(t))]);
    if let Some((f, t)) = c.own_floors {
        if let Some(f) = f {
            control.push(Der::context_integer(4, floor(f)));
        }
        if let Some(t) = t {
            control.push(Der::context(5, vec![top_up(t)]));
        }
    }
    if let Some((role, f, t)) = c.other_floors {
        let mut s = vec![Der::integer(role), Der::integer(floor(f))];
        if let Some(t) = t {
            s.push(Der::sequence(vec![top_up(t)]));
        }
        control.push(Der::context(6, vec![Der::sequence(s)]));
    }
    let mut replacements = Vec::new();
    for (field, bytes, usage, top) in [
        (
            "DigitalSigningCertificate",
            c.ds,
            usage_ds as fn() -> Der,
            false,
        ),
        ("KeyAgreementCertificate", c.ka, usage_ka, false),
        ("KeyAgreementTopUpCertificate", c.top_up, usage_ka, true),
    ] {
        if let Some(bytes) = bytes {
            let mut cell = vec![Der::integer(c.new_role), usage()];
            if top {
                cell.push(Der::integer(1));
            }
            replacements.push(Der::sequence(vec![
                cert(i, field, bytes)?,
                Der::sequence(cell),
            ]));
        }
    }
    if replacements.is_empty() {
        return Err(i.field("ReplacementCertificates", "no certificate to replace"));
    }
    let path = c
        .path
        .certificate
        .iter()
        .map(|b| cert(i, "CertificationPathCertificates", b))
        .collect::<Result<Vec<_>, _>>()?;
    let mut top = vec![
        Der::sequence(control),
        Der::sequence(replacements),
        Der::sequence(path),
    ];
    match c.execution {
        Execution::Now => {}
        Execution::At(t) => top.push(Der::generalized_time(&t.generalized_time())),
        Execution::Cancel => top.push(Der::generalized_time(CANCEL_TIME)),
    }
    Ok(Der::sequence(top).encode())
}

/// CS02bSupplierBySupplier, CS02bNOByNO, CS02gLoadControllerBySupplier.
fn krp(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::UpdateSecurityCredentialsKRP(b) = i.body else {
        return Err(i.wrong_body());
    };
    let ReplacementCertificatesKRP::SupplierOrNetworkOperatorCertificates(r) =
        &b.replacement_certificates;
    let floors = (
        b.remote_party_floor_seq_number,
        b.remote_party_prepayment_top_up_floor_seq_number,
    );
    let (mode, authorising_role, new_role, own_floors, other_floors) = match b.remote_party_role {
        RemotePartyRole::Supplier => (2, ROLE_SUPPLIER, ROLE_SUPPLIER, Some(floors), None),
        RemotePartyRole::NetworkOperator => (
            3,
            ROLE_NETWORK_OPERATOR,
            ROLE_NETWORK_OPERATOR,
            Some(floors),
            None,
        ),
        RemotePartyRole::LoadController => (
            11,
            ROLE_SUPPLIER,
            ROLE_LOAD_CONTROLLER,
            None,
            Some((
                ROLE_LOAD_CONTROLLER,
                b.remote_party_floor_seq_number.unwrap_or(0),
                b.remote_party_prepayment_top_up_floor_seq_number,
            )),
        ),
        other => {
            return Err(TransformError::Unsupported {
                srv: i.srv.to_owned(),
                use_case: None,
                reason: format!("replacing the {other} credentials is not supported"),
            });
        }
    };
    encode(
        i,
        &Credentials {
            mode,
            authorising_role,
            skip_time_based_checks: !b.apply_time_based_cpv_checks,
            own_floors,
            other_floors,
            new_role,
            ds: r.digital_signing_certificate.as_deref(),
            ka: r.key_agreement_certificate.as_deref(),
            top_up: r.key_agreement_top_up_certificate.as_deref(),
            path: &b.certification_path_certificates,
            execution: i.execution(b.execution_date_time.as_ref())?,
        },
    )
}

/// CS02bSupplierByTransCoS: the gaining supplier's certificates, placed by the Transitional
/// CoS party (the floors are left out of a cancellation).
fn cos(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::UpdateSecurityCredentialsCoS(b) = i.body else {
        return Err(i.wrong_body());
    };
    let r = &b.supplier_replacement_certificates;
    let execution = i.execution(b.execution_date_time.as_ref())?;
    encode(
        i,
        &Credentials {
            mode: 7,
            authorising_role: ROLE_TRANS_COS,
            skip_time_based_checks: !b.apply_time_based_cpv_checks,
            own_floors: None,
            other_floors: (execution != Execution::Cancel).then_some((
                ROLE_SUPPLIER,
                b.supplier_floor_seq_number,
                b.supplier_prepayment_top_up_floor_seq_number,
            )),
            new_role: ROLE_SUPPLIER,
            ds: Some(&r.digital_signing_certificate),
            ka: r.key_agreement_certificate.as_deref(),
            top_up: r.key_agreement_top_up_certificate.as_deref(),
            path: &b.certification_path_certificates,
            execution,
        },
    )
}

/// The SMKI role number of a DUIS remote party role.
fn role_number(role: RemotePartyRole) -> i64 {
    match role {
        RemotePartyRole::Root => ROLE_ROOT,
        RemotePartyRole::Recovery => ROLE_RECOVERY,
        RemotePartyRole::Supplier => ROLE_SUPPLIER,
        RemotePartyRole::NetworkOperator => ROLE_NETWORK_OPERATOR,
        RemotePartyRole::Acb => ROLE_ACB,
        RemotePartyRole::TransCoS => ROLE_TRANS_COS,
        RemotePartyRole::LoadController => ROLE_LOAD_CONTROLLER,
    }
}

/// CS02aMAC, CS02fMAC: the ACB's key-agreement cell authorises the enquiry; the roles
/// follow in the request's order (a role named twice is asked for once).
fn provide_details(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::RetrieveDeviceSecurityCredentialsKRP(b) = i.body else {
        return Err(i.wrong_body());
    };
    let mut roles: Vec<i64> = Vec::with_capacity(b.remote_party_role.len());
    for r in &b.remote_party_role {
        let n = role_number(*r);
        if !roles.contains(&n) {
            roles.push(n);
        }
    }
    Ok(Der::sequence(vec![
        Der::sequence(vec![Der::integer(ROLE_ACB), usage_ka()]),
        Der::sequence(roles.into_iter().map(Der::integer).collect()),
    ])
    .encode())
}

/// CS02e: the key usage of the device certificate asked for.
fn cs02e(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::RetrieveDeviceSecurityCredentialsDevice(b) = i.body else {
        return Err(i.wrong_body());
    };
    Ok(key_usage_request(b.credential_type))
}

/// CS02c: the key usage of the new key pair the device is to generate (its answer is a
/// certification request for it); the same layout as CS02e's.
fn cs02c(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::IssueSecurityCredentials(b) = i.body else {
        return Err(i.wrong_body());
    };
    Ok(key_usage_request(b.credential_type))
}

/// `SEQUENCE { BIT STRING usage }`.
fn key_usage_request(credential: CredentialType) -> Vec<u8> {
    let usage = match credential {
        CredentialType::DigitalSignature => usage_ds(),
        CredentialType::KeyAgreement => usage_ka(),
    };
    Der::sequence(vec![usage]).encode()
}
