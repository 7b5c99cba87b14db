//! Parse & Correlate (SEC H11): does a Pre-Command carry what the signed request asked for?
//!
//! Before a User signs a Pre-Command that the DCC returned for a critical request, it checks
//! that the GBCS bytes really encode its request: that is its protection against a
//! compromised DCC. [`correlate`] performs these checks, in this order, and stops at the
//! first mismatch:
//!
//! 1. the bytes are a Pre-Command: a bare general-signing command (`DF`, CRA 1) with no
//!    signature (an appended null signature byte `00` is tolerated, PROTOCOLS.md §1.7);
//! 2. the GBCS originator is the RequestID originator (the User), the recipient is the
//!    RequestID target device, and the originator counter is the RequestID counter;
//! 3. the message code is one of the GBCS use cases of the request's Service Reference
//!    Variant (from the [`Catalogue`]), narrowed by the body where it decides the use case
//!    (Update Payment Mode: `Credit` → ECS02/GCS02, `Prepayment` → ECS03/GCS03);
//! 4. key parameters of the fully correlated services appear in the payload: the replacement
//!    certificates of Update Security Credentials (6.15.1, 6.15.2, 6.23), the firmware hash of
//!    Activate Firmware (11.3) and the other device of Join / Unjoin (8.7.1, 8.8.1).
//!
//! What is not checked: values that the DCC re-encodes into DLMS or ZCL structures
//! (tariff prices, thresholds, execution date-times); they need the full transform tables.

use crate::catalogue::Catalogue;
use crate::duis::model::body::Body;
use crate::duis::model::request::Request;
use crate::gbcs::{self, Cra, SignatureField, message_codes};
use crate::hex;

/// The first difference between a request and a Pre-Command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: request says {expected}, Pre-Command has {found}")]
pub struct Mismatch {
    /// What was compared.
    pub field: &'static str,
    /// The value the request implies.
    pub expected: String,
    /// The value in the Pre-Command.
    pub found: String,
}

/// Why correlation could not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorrelateError {
    /// The Pre-Command bytes are not GBCS.
    #[error("the Pre-Command is not a GBCS message: {0}")]
    Parse(#[from] gbcs::GbcsError),
    /// The Pre-Command and the request disagree.
    #[error("mismatch: {0}")]
    Mismatch(#[from] Mismatch),
    /// The request names a Service Reference Variant the catalogue does not know.
    #[error("unknown Service Reference Variant {0}")]
    UnknownSrv(String),
}

/// What correlation established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correlation {
    /// The Pre-Command's message code.
    pub message_code: u16,
    /// Its use case name, when known.
    pub use_case: Option<&'static str>,
    /// The checks that were made, in order (for reports).
    pub checked: Vec<&'static str>,
    /// True when the catalogue knows no message code for this SRV, so the code could not be
    /// checked.
    pub message_code_unchecked: bool,
}

fn mismatch(
    field: &'static str,
    expected: impl Into<String>,
    found: impl Into<String>,
) -> Mismatch {
    Mismatch {
        field,
        expected: expected.into(),
        found: found.into(),
    }
}

/// Checks that `precommand` (GBCS bytes) carries what `request` asked for.
pub fn correlate(request: &Request, precommand: &[u8]) -> Result<Correlation, CorrelateError> {
    let m = gbcs::parse(precommand)?;
    let mut checked = Vec::new();
    let h = &m.header;
    if m.is_mac_wrapped() {
        return Err(mismatch("form", "a bare DF Pre-Command", "a MAC-wrapped DD message").into());
    }
    if h.cra != Cra::Command {
        return Err(mismatch("CRA flag", "command", h.cra.name()).into());
    }
    if let SignatureField::Present(_) = m.signature {
        return Err(mismatch("signature", "none (unsigned Pre-Command)", "a signature").into());
    }
    checked.push("form");
    let id = &request.header.request_id;
    if h.originator != id.originator {
        return Err(mismatch(
            "originator",
            hex::eui(&id.originator),
            hex::eui(&h.originator),
        )
        .into());
    }
    checked.push("originator");
    if h.recipient != id.target {
        return Err(mismatch(
            "target device",
            hex::eui(&id.target),
            hex::eui(&h.recipient),
        )
        .into());
    }
    checked.push("target");
    if h.counter != id.counter {
        return Err(mismatch("counter", id.counter.to_string(), h.counter.to_string()).into());
    }
    checked.push("counter");

    let srv_name = request.header.service_reference_variant.to_string();
    let srv = Catalogue::get()
        .srv(&srv_name)
        .ok_or_else(|| CorrelateError::UnknownSrv(srv_name.clone()))?;
    let code = h.other_info.message_code;
    let allowed: Vec<(String, Option<u16>)> = srv
        .use_cases
        .iter()
        .filter(|u| use_case_fits_body(&u.name, &request.body))
        .map(|u| (u.name.clone(), u.message_code))
        .collect();
    let known: Vec<u16> = allowed.iter().filter_map(|(_, c)| *c).collect();
    let message_code_unchecked = known.is_empty();
    if !message_code_unchecked && !known.contains(&code) {
        let names: Vec<&str> = allowed.iter().map(|(n, _)| n.as_str()).collect();
        return Err(mismatch(
            "message code",
            format!("one of {} for SRV {srv_name}", names.join(", ")),
            format!(
                "0x{code:04X} ({})",
                message_codes::use_case(code).unwrap_or("unknown use case")
            ),
        )
        .into());
    }
    if !message_code_unchecked {
        checked.push("message code");
    }

    for (field, value) in key_parameters(&request.body) {
        if !contains(m.content, &value) {
            return Err(mismatch(
                field,
                format!(
                    "{} ({} bytes) in the payload",
                    hex_prefix(&value),
                    value.len()
                ),
                "a payload without it",
            )
            .into());
        }
        checked.push(field);
    }
    Ok(Correlation {
        message_code: code,
        use_case: message_codes::use_case(code),
        checked,
        message_code_unchecked,
    })
}

/// Whether a use case of the SRV is the one the body asks for, where the body decides.
fn use_case_fits_body(use_case: &str, body: &Body) -> bool {
    use crate::duis::model::body::UpdatePaymentModeChoice;
    match body {
        Body::UpdatePaymentMode(b) => match b.choice {
            UpdatePaymentModeChoice::Credit(_) => matches!(use_case, "ECS02" | "GCS02"),
            UpdatePaymentModeChoice::Prepayment(_) => matches!(use_case, "ECS03" | "GCS03"),
        },
        _ => true,
    }
}

/// Byte strings of the request that the Pre-Command's payload must contain.
fn key_parameters(body: &Body) -> Vec<(&'static str, Vec<u8>)> {
    use crate::duis::model::body::ReplacementCertificatesKRP;
    let mut out = Vec::new();
    match body {
        Body::UpdateSecurityCredentialsKRP(b) => {
            let ReplacementCertificatesKRP::SupplierOrNetworkOperatorCertificates(c) =
                &b.replacement_certificates;
            for (name, cert) in [
                (
                    "replacement digital-signing certificate",
                    &c.digital_signing_certificate,
                ),
                (
                    "replacement key-agreement certificate",
                    &c.key_agreement_certificate,
                ),
                (
                    "replacement top-up key-agreement certificate",
                    &c.key_agreement_top_up_certificate,
                ),
            ] {
                if let Some(cert) = cert {
                    out.push((name, cert.clone()));
                }
            }
        }
        Body::UpdateSecurityCredentialsDevice(b) => {
            out.push(("device certificate", b.device_certificate.clone()));
        }
        Body::ActivateFirmware(b) => out.push(("firmware hash", b.firmware_hash.clone())),
        Body::JoinServiceCritical(b) | Body::UnjoinServiceCritical(b) => {
            if let Some(eui) = hex::parse_eui(&b.other_device_id) {
                out.push(("other device ID", eui.to_vec()));
            }
        }
        _ => {}
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

fn hex_prefix(b: &[u8]) -> String {
    let mut s = hex::encode(&b[..b.len().min(8)]);
    if b.len() > 8 {
        s.push('…');
    }
    s
}
