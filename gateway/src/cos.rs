//! The Change of Supplier (CoS) party: SR 6.23 Update Security Credentials (CoS).
//!
//! A gaining supplier asks, with 6.23, for its certificates to replace the losing supplier's
//! in a meter's trust anchor cells. The User's request is not sent as the User's own command:
//! a separate party, the Transitional Change of Supplier party (SMKI role `05`), with a
//! digital-signature key of its own, originates and signs the GBCS credential update
//! (CS02bSupplierByTransCoS, message code `0107`), which the meter accepts because it holds
//! that party's certificate in its transitional-CoS cell.
//!
//! # What is implemented
//!
//! - **Registration check** (H4 check 6, in the ingress pipeline, unchanged here): 6.23 is a
//!   non-critical SRV, so the pipeline checks that the requester holds, on the execution date
//!   (or today for an immediate request), the supplier relationship to the device's MPxN
//!   that the registration data records. A supplier whose registration ended on the day the
//!   gaining supplier's started is refused `E4`.
//! - **The request's certificates** ([`CosParty::check_certificates`]): the CoS party puts
//!   nothing on a meter that the SMKI store does not vouch for. Every replacement
//!   certificate must be in the gateway's key store byte for byte, certify the *requester's*
//!   EUI, carry the supplier role (`02`) and the usage of its slot (digital signature, key
//!   agreement, top-up key agreement); every certification-path certificate must be in the
//!   store too, or be the CA that issued the replacement digital-signature certificate (its
//!   name and ECDSA signature checked; the ZAZ1 folder holds no CA certificates); and
//!   `ImportMPxN` must be one of the target device's MPxNs. Otherwise the
//!   request is refused (`E100`, with the reason) and nothing is sent.
//! - **The command** ([`CosParty::command`]): the protocol crate's transform builds the
//!   CS02b APDU with the CoS party as originator and its own originator counter (which only
//!   increases: it starts from the clock in microseconds); the CoS party signs it with its
//!   key and the ACB MAC-wraps it, as the RTDS COMMAND vectors of 6.23 are laid out
//!   (`DD` header ‖ `DF` APDU ‖ `40` ‖ TransCoS signature ‖ MAC). The device's answer comes
//!   back to the requester as a Service Response like any other command's.
//! - **The key**: with the local test PKI, `pki/cos-ds.pem` / `.key` (EUI
//!   `90-B3-D5-1F-40-00-00-04`, OU `05`), issued by the local CA on first start; with a DCC
//!   Boxed folder (`--smki`), the `Z1-transitionalCoS-ds` key (EUI `90-B3-D5-1F-30-00-00-04`),
//!   or failing that any role-`05` digital-signature key with its private key.
//! - **Alerts** ([`crate::alerts::change_of_supplier`]): when the device reports the
//!   replacement done, both the gaining supplier and the losing one (the party whose
//!   certificate the device held before, read from the prior-EUI fields of the device's
//!   CS02b response: [`replaced_suppliers`]) receive a DCC alert.
//!
//! # Not implemented
//!
//! - Future-dated 6.23 (`ExecutionDateTime`) is built and sent like any other (the device
//!   runs it later and raises its `8F66`/`8F67`, which goes to the requester); the alerts to
//!   both suppliers are raised only for an immediate success.
//! - The CoS party's originator counter is not persisted: it restarts from the clock.
//! - The DSP-side checks of the SMKI certificate status (revocation, validity dates) beyond
//!   presence in the key store.
//!
//! # What the tests prove
//!
//! The unit tests here: with the ZAZ1 keys, the CoS party picks `Z1-transitionalCoS-ds`, and
//! building the 6.23 template (with the RTDS request's certificates, which the template does
//! not carry) reproduces the signed part of the RTDS COMMAND byte for byte, its signature
//! verifying with the CoS certificate (as the RTDS one does) and its MAC with the ACB's; the
//! same request from a supplier the certificates do not name is refused; the losing supplier
//! is read from the RTDS CS02b response. (`protocol/tests/transform_rtds.rs` checks the
//! transform of all three 6.23 templates the same way.)
//!
//! `gateway/tests/change_of_supplier.rs`, against a running `hubgate serve` with the local
//! test PKI and an emulated meter: before the update the meter runs the losing supplier's
//! critical commands and discards the gaining supplier's; the losing supplier's 6.23 is
//! refused `E4`; a 6.23 carrying another party's certificates is refused and never reaches
//! the meter; the gaining supplier's 6.23 is answered `I0` with the meter's signed CS02b
//! response addressed to the CoS party, the recorded command verifying (CoS signature, ACB
//! MAC) with the independent GBCS oracle; both suppliers pull the `ChangeOfSupplier` DCC
//! alert (valid against the DUIS XSD); afterwards the losing supplier's critical command is
//! discarded by the meter (`E21`) and the gaining supplier's succeeds.
//!
//! The ZAZ1 test requests (templates and RTDS) are sent by one supplier
//! (`90-B3-D5-1F-30-01-00-00`) carrying another's certificates (`…-30-03-00-00`); the CoS
//! party refuses such a request, since it only puts the requester's own certificates on a
//! meter.

use std::sync::atomic::{AtomicU64, Ordering};

use hubgate_protocol::crypto::{DerivedKeyCache, KeyId};
use hubgate_protocol::duis::model::Body;
use hubgate_protocol::duis::model::body::UpdateSecurityCredentialsCoS;
use hubgate_protocol::duis::model::request::Request;
use hubgate_protocol::gbcs::auth;
use hubgate_protocol::gbcs::frame;
use hubgate_protocol::gbcs::payload::asn1::{Node, TagClass, universal};
use hubgate_protocol::smki::{Certificate, Store, Usage};
use hubgate_protocol::{hex, transform};

use crate::pki::role;

/// The SRV the CoS party serves.
pub const SRV: &str = "6.23";

/// The label stem of the ZAZ1 Transitional CoS key, preferred in a DCC Boxed folder.
pub const ZAZ1_LABEL: &str = "Z1-transitionalCoS-ds";

/// Why the CoS party does not send a credential update.
#[derive(Debug, thiserror::Error)]
pub enum CosError {
    /// The request is not a 6.23 body.
    #[error("the body is not UpdateSecurityCredentialsCoS")]
    WrongBody,
    /// A certificate of the request cannot be read.
    #[error("{field}: not a certificate ({reason})")]
    NotACertificate {
        /// The request field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A replacement certificate certifies another party than the requester.
    #[error("{field} certifies {found}, not the requesting supplier {requester}")]
    NotRequester {
        /// The request field.
        field: &'static str,
        /// The EUI in the certificate (or "no EUI").
        found: String,
        /// The requester.
        requester: String,
    },
    /// A replacement certificate does not carry the supplier role.
    #[error("{field} has role {found}, not supplier (02)")]
    NotSupplier {
        /// The request field.
        field: &'static str,
        /// The role found.
        found: String,
    },
    /// A replacement certificate has the wrong key usage for its slot.
    #[error("{field} is not a {expected} certificate")]
    WrongUsage {
        /// The request field.
        field: &'static str,
        /// The usage the slot needs.
        expected: &'static str,
    },
    /// A certificate is not in the SMKI store.
    #[error("{field} (serial {serial}) is not in the SMKI store")]
    NotInSmki {
        /// The request field.
        field: &'static str,
        /// Its serial number, decimal.
        serial: String,
    },
    /// `ImportMPxN` is not the device's.
    #[error("ImportMPxN {0} is not an MPxN of the target device")]
    WrongMpxn(String),
    /// The transform refused the request.
    #[error(transparent)]
    Transform(#[from] transform::TransformError),
    /// Signing or MAC-wrapping failed.
    #[error("building the command: {0}")]
    Auth(#[from] auth::AuthError),
    /// A key is missing from the key store.
    #[error("the key store has no {what} for {eui}")]
    MissingKey {
        /// Which key.
        what: &'static str,
        /// Whose.
        eui: String,
    },
}

/// The Transitional Change of Supplier party: its identity, its key (by public-key ID in the
/// key store) and its originator counter.
#[derive(Debug)]
pub struct CosParty {
    eui: [u8; 8],
    key: KeyId,
    certificate: Certificate,
    counter: AtomicU64,
}

impl CosParty {
    /// The CoS party whose role-`05` digital-signature key (with its private key) is in
    /// `store`: the one labelled [`ZAZ1_LABEL`] when present, else the first. `None` when the
    /// store has none. `first_counter` is its first originator counter.
    pub fn from_store(store: &Store, first_counter: u64) -> Option<CosParty> {
        let candidates: Vec<_> = store
            .by_role(role::TRANSITIONAL_COS)
            .filter(|e| e.usage() == Some(Usage::DigitalSignature) && e.signing_key().is_some())
            .collect();
        let chosen = candidates
            .iter()
            .find(|e| e.public_labels().any(|l| l.contains(ZAZ1_LABEL)))
            .or_else(|| candidates.first())?;
        let certificate = chosen
            .certificates()
            .iter()
            .find(|c| c.role() == Some(role::TRANSITIONAL_COS))?
            .clone();
        Some(CosParty {
            eui: certificate.eui()?,
            key: chosen.id(),
            certificate,
            counter: AtomicU64::new(first_counter),
        })
    }

    /// The party's EUI (the originator of its commands).
    pub fn eui(&self) -> [u8; 8] {
        self.eui
    }

    /// Its digital-signature certificate (what devices hold in their transitional-CoS cell).
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// Checks the certificates of a 6.23 request from `requester` (see the module
    /// documentation) and that `ImportMPxN` is among the device's `mpxns`.
    ///
    /// # Errors
    ///
    /// The first [`CosError`] found.
    pub fn check_certificates(
        &self,
        store: &Store,
        requester: [u8; 8],
        body: &UpdateSecurityCredentialsCoS,
        mpxns: &[String],
    ) -> Result<(), CosError> {
        if !mpxns.contains(&body.import_mpxn) {
            return Err(CosError::WrongMpxn(body.import_mpxn.clone()));
        }
        let r = &body.supplier_replacement_certificates;
        let slots = [
            (
                "DigitalSigningCertificate",
                Some(&r.digital_signing_certificate),
                Usage::DigitalSignature,
            ),
            (
                "KeyAgreementCertificate",
                r.key_agreement_certificate.as_ref(),
                Usage::KeyAgreement,
            ),
            (
                "KeyAgreementTopUpCertificate",
                r.key_agreement_top_up_certificate.as_ref(),
                Usage::KeyAgreement,
            ),
        ];
        for (field, der, usage) in slots {
            let Some(der) = der else { continue };
            let cert = read(field, der)?;
            if cert.eui() != Some(requester) {
                return Err(CosError::NotRequester {
                    field,
                    found: cert.eui().map_or("no EUI".into(), |e| hex::eui_duis(&e)),
                    requester: hex::eui_duis(&requester),
                });
            }
            if cert.role() != Some(role::SUPPLIER) {
                return Err(CosError::NotSupplier {
                    field,
                    found: cert.role().map_or("none".into(), role::ou),
                });
            }
            if cert.usage() != Some(usage) {
                return Err(CosError::WrongUsage {
                    field,
                    expected: match usage {
                        Usage::DigitalSignature => "digital-signature",
                        Usage::KeyAgreement => "key-agreement",
                    },
                });
            }
            in_store(store, field, &cert, Some((requester, usage)))?;
        }
        // The path must lead to the SMKI: each certificate is in the store, or is the CA
        // that issued the (store-held) digital-signature certificate.
        for der in &body.certification_path_certificates.certificate {
            let field = "CertificationPathCertificates";
            let cert = read(field, der)?;
            if !issued(&r.digital_signing_certificate, &cert) {
                in_store(store, field, &cert, None)?;
            }
        }
        Ok(())
    }

    /// The GBCS command for an accepted 6.23 request to a device of the context's type: the
    /// request's certificates checked, the CS02b APDU built with this party as originator
    /// and its next counter, signed with its key from `store`, then MAC-wrapped with the
    /// ACB's key-agreement key and the device's key-agreement certificate.
    ///
    /// # Errors
    ///
    /// A [`CosError`] saying what is wrong; nothing is sent then.
    pub fn command(
        &self,
        request: &Request,
        mut ctx: transform::Context,
        mpxns: &[String],
        store: &Store,
        cache: &DerivedKeyCache,
    ) -> Result<Vec<u8>, CosError> {
        let Body::UpdateSecurityCredentialsCoS(body) = &request.body else {
            return Err(CosError::WrongBody);
        };
        let id = &request.header.request_id;
        self.check_certificates(store, id.originator, body, mpxns)?;
        let counter = self.counter.fetch_add(1, Ordering::Relaxed);
        ctx.cos_party = Some((self.eui, counter));
        let built = transform::transform(request, &ctx)?;
        let signer = store
            .get(self.key)
            .and_then(|e| e.signing_key())
            .ok_or_else(|| CosError::MissingKey {
                what: "Transitional CoS private digital-signature key",
                eui: hex::eui_duis(&self.eui),
            })?;
        let signed = auth::sign_precommand(built.apdu(), signer)?;
        let acb = store
            .private_keys(&ctx.acb, Usage::KeyAgreement)
            .find_map(|e| e.agreement_key())
            .ok_or_else(|| CosError::MissingKey {
                what: "ACB private key-agreement key",
                eui: hex::eui_duis(&ctx.acb),
            })?;
        let device = store
            .public_keys(&id.target, Usage::KeyAgreement)
            .next()
            .ok_or_else(|| CosError::MissingKey {
                what: "device key-agreement certificate",
                eui: hex::eui_duis(&id.target),
            })?;
        Ok(auth::mac_wrap(&signed, acb, device.peer_key(), cache)?)
    }
}

fn read(field: &'static str, der: &[u8]) -> Result<Certificate, CosError> {
    Certificate::from_der(der).map_err(|e| CosError::NotACertificate {
        field,
        reason: e.to_string(),
    })
}

/// Whether `ca` issued the certificate `der`: `der`'s issuer name is `ca`'s subject and its
/// ECDSA signature verifies with `ca`'s key.
fn issued(der: &[u8], ca: &Certificate) -> bool {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (Ok((_, c)), Ok((_, a))) = (
        X509Certificate::from_der(der),
        X509Certificate::from_der(ca.der()),
    ) else {
        return false;
    };
    if c.issuer().as_raw() != a.subject().as_raw() {
        return false;
    }
    ecdsa_raw(&c.signature_value.data).is_some_and(|sig| {
        ca.verifying_key()
            .verify(c.tbs_certificate.as_ref(), &sig)
            .is_ok()
    })
}

/// An X.509 ECDSA-Sig-Value (`SEQUENCE { INTEGER r, INTEGER s }`) as raw r ‖ s.
fn ecdsa_raw(der: &[u8]) -> Option<[u8; 64]> {
    use hubgate_protocol::smki::cert::der_tlv;
    let (0x30, body, []) = der_tlv(der)? else {
        return None;
    };
    let (0x02, r, rest) = der_tlv(body)? else {
        return None;
    };
    let (0x02, s, []) = der_tlv(rest)? else {
        return None;
    };
    let mut out = [0u8; 64];
    let (lo, hi) = out.split_at_mut(32);
    for (src, dst) in [(r, lo), (s, hi)] {
        let src = match src {
            [0, rest @ ..] => rest,
            other => other,
        };
        if src.len() > 32 {
            return None;
        }
        dst[32 - src.len()..].copy_from_slice(src);
    }
    Some(out)
}

/// `cert` must be in `store` byte for byte (looked up under `holder` when given, else by
/// serial number).
fn in_store(
    store: &Store,
    field: &'static str,
    cert: &Certificate,
    holder: Option<([u8; 8], Usage)>,
) -> Result<(), CosError> {
    let found = match holder {
        Some((eui, usage)) => store
            .public_keys(&eui, usage)
            .flat_map(|e| e.certificates())
            .any(|c| c.der() == cert.der()),
        None => store
            .by_serial(cert.serial())
            .any(|c| c.certificate.der() == cert.der()),
    };
    if found {
        Ok(())
    } else {
        Err(CosError::NotInSmki {
            field,
            serial: cert.serial_decimal().to_string(),
        })
    }
}

/// What a device's CS02b response says of the supplier cells: `Some` with the suppliers
/// whose certificates it replaced (the prior EUI of every supplier-role (`02`) cell replaced
/// successfully, without repeats, the first [`MAX_PRIOR_SUPPLIERS`] of them; empty when the
/// cells held no EUI) when at least one supplier cell was replaced; `None` when none was, or
/// the bytes are not such a response (a future-dated acceptance carries no results).
///
/// Each result in the response is `SEQUENCE { SEQUENCE { INTEGER role, BIT STRING usage
/// [, INTEGER cell] }, ENUMERATED status, OCTET STRING prior EUI, OCTET STRING prior key ID,
/// OCTET STRING new EUI, OCTET STRING new key ID }` (the RTDS CS02b responses).
pub fn replaced_suppliers(response: &[u8]) -> Option<Vec<[u8; 8]>> {
    let msg = frame::parse(response).ok()?;
    let tree = Node::decode(msg.content).ok()?;
    let mut found = Replaced::default();
    collect_prior(&tree, &mut found);
    found.any.then_some(found.prior)
}

/// The most distinct prior suppliers taken from one response. A credentials update replaces
/// the supplier's digital-signing, key-agreement and top-up credentials at most, so a response
/// naming more is not believed beyond these: each one named costs a signed alert.
const MAX_PRIOR_SUPPLIERS: usize = 3;

#[derive(Default)]
struct Replaced {
    any: bool,
    prior: Vec<[u8; 8]>,
}

fn universal_is(n: &Node<'_>, number: u32) -> bool {
    n.tag.class == TagClass::Universal && n.tag.number == number
}

fn collect_prior(n: &Node<'_>, out: &mut Replaced) {
    if let [target, status, prior, _, _, _] = n.children.as_slice()
        && universal_is(target, universal::SEQUENCE)
        && universal_is(status, universal::ENUMERATED)
        && universal_is(prior, universal::OCTET_STRING)
    {
        let role_is_supplier = target
            .children
            .first()
            .is_some_and(|r| universal_is(r, universal::INTEGER) && r.value == [role::SUPPLIER]);
        if role_is_supplier && status.value == [0] {
            out.any = true;
            if let Ok(eui) = <[u8; 8]>::try_from(prior.value)
                && !out.prior.contains(&eui)
                && out.prior.len() < MAX_PRIOR_SUPPLIERS
            {
                out.prior.push(eui);
            }
        }
        return;
    }
    for c in &n.children {
        collect_prior(c, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_naming_many_prior_suppliers_is_believed_for_the_first_few() {
        // Five supplier cells replaced, each naming another prior supplier.
        let result = |prior: u8| -> Vec<u8> {
            let mut r = vec![0x30, 0x34];
            r.extend([
                0x30,
                0x07,
                0x02,
                0x01,
                role::SUPPLIER,
                0x03,
                0x02,
                0x07,
                0x80,
            ]);
            r.extend([0x0a, 0x01, 0x00]);
            for fill in [prior, 0xaa, 0xbb, 0xcc] {
                r.extend([0x04, 0x08]);
                r.extend([fill; 8]);
            }
            r
        };
        let body: Vec<u8> = (1..=5).flat_map(result).collect();
        let mut der = vec![0x30, 0x82, 0x01, 0x0e];
        der.extend(&body);
        assert_eq!(der.len(), 4 + 0x010e);
        let tree = Node::decode(&der).expect("DER");
        let mut found = Replaced::default();
        collect_prior(&tree, &mut found);
        assert!(found.any);
        assert_eq!(found.prior, [[1; 8], [2; 8], [3; 8]]);
    }

    #[test]
    fn the_rtds_response_names_the_supplier_replaced() {
        let root = hubgate_protocol::conformance::require();
        let hex_text = std::fs::read_to_string(root.join(
            "gbcs/rtds/6.23_CS02bSupplierByTransCoS/CS02bSupplierByTransCoS_6.23_IMMEDIATE_SUCCESS_RESPONSE_GBCS.HEX",
        ))
        .expect("RTDS response");
        let bytes = hex::decode(hex_text.trim()).expect("hex");
        let old = hex::parse_eui("90b3d51f30010000").expect("eui");
        assert_eq!(replaced_suppliers(&bytes), Some(vec![old]));
    }

    /// The 6.23 template with the certificates of the RTDS COMMAND (the template carries
    /// other ones), sent by the supplier those certificates belong to, built by the ZAZ1
    /// Transitional CoS party with the RTDS counter and date: the signed part of the APDU is
    /// the RTDS COMMAND's byte for byte, its signature verifies with the CoS party's
    /// certificate (as the RTDS one does) and its MAC with the ACB's.
    #[test]
    fn the_zaz1_cos_party_reproduces_the_rtds_command() {
        use hubgate_protocol::duis::reader;
        use hubgate_protocol::transform::{Context, DeviceType, UtcDateTime};
        let root = hubgate_protocol::conformance::require();
        let store = Store::load_conformance(&root).expect("conformance keys");
        let cache = DerivedKeyCache::default();
        let stem = "CS02bSupplierByTransCoS_6.23_IMMEDIATE_SUCCESS";
        let rtds_hex = std::fs::read_to_string(
            root.join("gbcs/rtds/6.23_CS02bSupplierByTransCoS")
                .join(format!("{stem}_COMMAND_GBCS.HEX")),
        )
        .expect("RTDS command");
        let rtds_bytes = hex::decode(rtds_hex.trim()).expect("hex");
        let rtds = frame::parse(&rtds_bytes).expect("RTDS command parses");
        let tree = Node::decode(rtds.content).expect("ASN.1");
        let replacements: Vec<Vec<u8>> = tree.children[1]
            .children
            .iter()
            .map(|r| r.children[0].to_bytes())
            .collect();
        let path: Vec<Vec<u8>> = tree.children[2]
            .children
            .iter()
            .map(|c| c.to_bytes())
            .collect();
        let xml = std::fs::read(
            root.join("duis/templates")
                .join(format!("{stem}_REQUEST_DUIS.XML")),
        )
        .expect("template");
        let mut req = reader::parse_request(&xml, &Default::default()).expect("template parses");
        let supplier2 = hex::parse_eui("90b3d51f30030000").expect("eui");
        req.header.request_id.originator = supplier2;
        let Body::UpdateSecurityCredentialsCoS(b) = &mut req.body else {
            panic!("a 6.23 body");
        };
        let r = &mut b.supplier_replacement_certificates;
        r.digital_signing_certificate = replacements[0].clone();
        r.key_agreement_certificate = Some(replacements[1].clone());
        r.key_agreement_top_up_certificate = Some(replacements[2].clone());
        b.certification_path_certificates.certificate = path;
        let mpxns = vec![b.import_mpxn.clone()];

        let cos = CosParty::from_store(&store, rtds.header.counter).expect("a CoS party");
        assert_eq!(cos.eui(), rtds.header.originator);
        let ctx = Context::new(
            DeviceType::Esme,
            auth::TEST_ACB,
            UtcDateTime::parse("2015-01-01T00:00:00Z").expect("date"),
        );
        let ours = cos
            .command(&req, ctx, &mpxns, &store, &cache)
            .expect("the CoS party builds the command");
        let parsed = frame::parse(&ours).expect("ours parses");
        assert_eq!(
            ours[parsed.regions.apdu.start..parsed.regions.content.end],
            rtds_bytes[rtds.regions.apdu.start..rtds.regions.content.end],
            "the signed part of the APDU is the RTDS one"
        );
        let mut only_cos = Store::new();
        only_cos
            .add_certificate(cos.certificate().der(), "cos")
            .expect("certificate");
        assert_eq!(
            auth::verify_signature(&parsed, &only_cos).name(),
            "verified"
        );
        assert_eq!(auth::verify_signature(&rtds, &only_cos).name(), "verified");
        assert_eq!(
            auth::verify_mac(&parsed, &store, &auth::TEST_ACB, &cache)
                .expect("MAC check")
                .name(),
            "valid"
        );

        // The same request from a supplier the certificates do not belong to is refused.
        req.header.request_id.originator = hex::parse_eui("90b3d51f30010000").expect("eui");
        let ctx = Context::new(
            DeviceType::Esme,
            auth::TEST_ACB,
            UtcDateTime::parse("2015-01-01T00:00:00Z").expect("date"),
        );
        let refused = cos.command(&req, ctx, &mpxns, &store, &cache);
        assert!(
            matches!(refused, Err(CosError::NotRequester { .. })),
            "{refused:?}"
        );
    }

    #[test]
    fn garbage_names_nobody() {
        assert!(replaced_suppliers(&[]).is_none());
        assert!(replaced_suppliers(&[0xDF, 0x09, 0x02]).is_none());
    }

    #[test]
    fn the_zaz1_folder_yields_the_zaz1_cos_party() {
        let root = hubgate_protocol::conformance::require();
        let mut store = Store::new();
        store.load_dir(&root.join("smki")).expect("ZAZ1 folder");
        let cos = CosParty::from_store(&store, 1).expect("a CoS party");
        let eui = hex::parse_eui("90b3d51f30000004").expect("eui");
        assert_eq!(cos.eui(), eui);
        assert_eq!(cos.certificate().role(), Some(role::TRANSITIONAL_COS));
    }
}
