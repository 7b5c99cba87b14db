//! Fresh key pairs and SMKI-shaped certificates for emulated devices and test organisations.
//!
//! Certificates follow the layout of the ZAZ1 test PKI (PROTOCOLS.md §4.12) closely enough for
//! [`hubgate_protocol::smki::Store`] and the independent oracle to index them: device
//! certificates have an empty subject and a critical subjectAltName `hwModule` holding the
//! EUI; organisation certificates carry the EUI as `x500UniqueIdentifier` and the role as the
//! subject OU (two hex digits). Both have a critical keyUsage (digitalSignature or
//! keyAgreement) and an 8-byte subjectKeyIdentifier. They are signed (ECDSA P-256 / SHA-256)
//! by a [`CertificateAuthority`] made here; nothing checks that chain, as with the RTDS data.

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use hubgate_protocol::crypto::SigningKey;
use serde::{Deserialize, Serialize};

use crate::der::{self, bit_string, cons, int, octets, oid, seq, tlv};
use crate::error::DeviceError;

/// DER body of ecdsa-with-SHA256.
const OID_ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
/// DER body of id-ecPublicKey.
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// DER body of prime256v1.
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// DER body of commonName.
const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
/// DER body of organizationalUnitName.
const OID_OU: &[u8] = &[0x55, 0x04, 0x0b];
/// DER body of x500UniqueIdentifier.
const OID_UNIQUE_ID: &[u8] = &[0x55, 0x04, 0x2d];
/// DER body of keyUsage.
const OID_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
/// DER body of subjectAltName.
const OID_SAN: &[u8] = &[0x55, 0x1d, 0x11];
/// DER body of subjectKeyIdentifier.
const OID_SKI: &[u8] = &[0x55, 0x1d, 0x0e];
/// DER body of id-on-hardwareModuleName.
const OID_HW_MODULE: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x08, 0x04];
/// DER body of the hwType OID found in the RTDS device certificates.
const OID_HW_TYPE: &[u8] = &[
    0x2a, 0x86, 0x3a, 0x00, 0x01, 0x84, 0x8f, 0xb9, 0x0f, 0x01, 0x02, 0x02, 0x01,
];

/// What a key is certified for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum KeyUsage {
    /// digitalSignature.
    DigitalSignature,
    /// keyAgreement.
    KeyAgreement,
}

impl KeyUsage {
    /// The protocol crate's usage.
    pub fn to_smki(self) -> hubgate_protocol::smki::Usage {
        match self {
            KeyUsage::DigitalSignature => hubgate_protocol::smki::Usage::DigitalSignature,
            KeyUsage::KeyAgreement => hubgate_protocol::smki::Usage::KeyAgreement,
        }
    }

    /// From the protocol crate's usage.
    pub fn from_smki(u: hubgate_protocol::smki::Usage) -> Self {
        match u {
            hubgate_protocol::smki::Usage::DigitalSignature => KeyUsage::DigitalSignature,
            hubgate_protocol::smki::Usage::KeyAgreement => KeyUsage::KeyAgreement,
        }
    }

    /// `ds` or `ka`.
    pub fn short(self) -> &'static str {
        self.to_smki().short()
    }

    /// The keyUsage BIT STRING as in the RTDS certificates (and as CS02 commands name a
    /// credential): `07 80` digitalSignature, `03 08` keyAgreement.
    pub fn bit_string_body(self) -> [u8; 2] {
        match self {
            KeyUsage::DigitalSignature => [0x07, 0x80],
            KeyUsage::KeyAgreement => [0x03, 0x08],
        }
    }
}

/// A freshly generated P-256 key pair.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneratedKey {
    /// PKCS#8 DER private key.
    pub pkcs8: Vec<u8>,
    /// Uncompressed SEC1 public point.
    pub public_point: Vec<u8>,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKey")
            .field(
                "public_point",
                &hubgate_protocol::hex::encode(&self.public_point),
            )
            .finish_non_exhaustive()
    }
}

impl GeneratedKey {
    /// Generates a P-256 key pair.
    pub fn generate() -> Result<Self, DeviceError> {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| DeviceError::Internal("P-256 key generation"))?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref())
            .map_err(|_| DeviceError::Internal("reading a generated key"))?;
        Ok(GeneratedKey {
            pkcs8: doc.as_ref().to_vec(),
            public_point: pair.public_key().as_ref().to_vec(),
        })
    }

    /// The PEM `PRIVATE KEY` text.
    pub fn private_pem(&self) -> String {
        der::pem("PRIVATE KEY", &self.pkcs8)
    }
}

/// Who a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject<'a> {
    /// A device: empty subject, EUI in subjectAltName hwModule.
    Device {
        /// The device EUI.
        eui: [u8; 8],
    },
    /// An organisation: OU = role (two hex digits), x500UniqueIdentifier = EUI, optional CN.
    Organisation {
        /// The organisation EUI.
        eui: [u8; 8],
        /// The SMKI role (2 supplier, 3 network operator, 4 ACB, …).
        role: u8,
        /// Optional common name.
        common_name: Option<&'a str>,
    },
}

/// A certificate issuer with its own signing key.
pub struct CertificateAuthority {
    key: SigningKey,
    name: Vec<u8>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// A new issuer named `CN=<common_name>` with a fresh key.
    pub fn generate(common_name: &str) -> Result<Self, DeviceError> {
        let k = GeneratedKey::generate()?;
        let key = SigningKey::from_der(&k.pkcs8)
            .map_err(|_| DeviceError::Internal("loading a generated key"))?;
        Ok(CertificateAuthority {
            key,
            name: seq(&[cons(
                0x31,
                &[seq(&[oid(OID_CN), tlv(0x13, common_name.as_bytes())])],
            )]),
        })
    }

    /// Issues a certificate for `public_point` (uncompressed SEC1). Returns DER.
    pub fn issue(
        &self,
        subject: Subject<'_>,
        usage: KeyUsage,
        public_point: &[u8],
    ) -> Result<Vec<u8>, DeviceError> {
        let mut serial = [0u8; 16];
        aws_lc_rs::rand::fill(&mut serial).map_err(|_| DeviceError::Internal("random serial"))?;
        serial[0] = (serial[0] & 0x7f) | 0x40;
        let ski_full = digest::digest(&digest::SHA256, public_point);
        let ski = &ski_full.as_ref()[..8];
        let key_usage = key_usage_extension(usage);
        let ski_ext = seq(&[oid(OID_SKI), octets(&octets(ski))]);
        let (subject_name, extra) = match subject {
            Subject::Device { eui } => (seq(&[]), Some(device_name_extension(&eui))),
            Subject::Organisation {
                eui,
                role,
                common_name,
            } => {
                let mut rdns = Vec::new();
                if let Some(cn) = common_name {
                    rdns.push(cons(0x31, &[seq(&[oid(OID_CN), tlv(0x0c, cn.as_bytes())])]));
                }
                rdns.push(cons(
                    0x31,
                    &[seq(&[
                        oid(OID_OU),
                        tlv(0x0c, format!("{role:02X}").as_bytes()),
                    ])],
                ));
                rdns.push(cons(0x31, &[seq(&[oid(OID_UNIQUE_ID), bit_string(&eui)])]));
                (seq(&rdns), None)
            }
        };
        let mut extensions = vec![key_usage];
        extensions.extend(extra);
        extensions.push(ski_ext);
        let tbs = seq(&[
            cons(0xa0, &[int(2)]),
            der::uint_bytes(&serial),
            seq(&[oid(OID_ECDSA_SHA256)]),
            self.name.clone(),
            seq(&[tlv(0x17, b"150101000000Z"), tlv(0x18, b"99991231235959Z")]),
            subject_name,
            seq(&[
                seq(&[oid(OID_EC_PUBLIC_KEY), oid(OID_P256)]),
                bit_string(public_point),
            ]),
            cons(0xa3, &[seq(&extensions)]),
        ]);
        let sig = self
            .key
            .try_sign(&tbs)
            .map_err(|_| DeviceError::Internal("signing a certificate"))?;
        Ok(seq(&[
            tbs,
            seq(&[oid(OID_ECDSA_SHA256)]),
            bit_string(&der::ecdsa_signature(&sig)),
        ]))
    }
}

/// The critical keyUsage extension of `usage`.
fn key_usage_extension(usage: KeyUsage) -> Vec<u8> {
    seq(&[
        oid(OID_KEY_USAGE),
        tlv(0x01, &[0xff]),
        octets(&tlv(0x03, &usage.bit_string_body())),
    ])
}

/// The critical subjectAltName extension naming a device: `hwModule` with its EUI.
fn device_name_extension(eui: &[u8; 8]) -> Vec<u8> {
    let other_name = cons(
        0xa0,
        &[
            oid(OID_HW_MODULE),
            cons(0xa0, &[seq(&[oid(OID_HW_TYPE), octets(eui)])]),
        ],
    );
    seq(&[
        oid(OID_SAN),
        tlv(0x01, &[0xff]),
        octets(&seq(&[other_name])),
    ])
}

/// PKCS#9 extensionRequest.
const OID_EXTENSION_REQUEST: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0e];

/// A PKCS#10 certification request for the device `eui`'s new `key` of `usage`, as a GBCS
/// device answers CS02c (6.17 Issue Security Credentials) and as the RTDS answer lays it out:
/// version 0, an empty subject, the P-256 public key, an extensionRequest for a critical
/// keyUsage and a critical subjectAltName `hwModule` with the EUI, signed with the new key
/// (ecdsa-with-SHA256). Returns DER.
pub fn certification_request(
    eui: &[u8; 8],
    usage: KeyUsage,
    key: &GeneratedKey,
) -> Result<Vec<u8>, DeviceError> {
    let info = seq(&[
        int(0),
        seq(&[]),
        seq(&[
            seq(&[oid(OID_EC_PUBLIC_KEY), oid(OID_P256)]),
            bit_string(&key.public_point),
        ]),
        cons(
            0xa0,
            &[seq(&[
                oid(OID_EXTENSION_REQUEST),
                cons(
                    0x31,
                    &[seq(&[
                        key_usage_extension(usage),
                        device_name_extension(eui),
                    ])],
                ),
            ])],
        ),
    ]);
    let signer = SigningKey::from_pem_or_der(&key.pkcs8)
        .map_err(|_| DeviceError::Internal("reading a generated key"))?;
    let sig = signer
        .try_sign(&info)
        .map_err(|_| DeviceError::Internal("signing a certification request"))?;
    Ok(seq(&[
        info,
        seq(&[oid(OID_ECDSA_SHA256)]),
        bit_string(&der::ecdsa_signature(&sig)),
    ]))
}

/// The 8-byte subjectKeyIdentifier of a certificate, if it has one.
pub fn subject_key_identifier(cert_der: &[u8]) -> Option<Vec<u8>> {
    use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};
    let (_, x) = X509Certificate::from_der(cert_der).ok()?;
    x.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use hubgate_protocol::smki::{Certificate, Holder, Usage};

    #[test]
    fn issued_certificates_parse_as_smki_certificates() {
        let ca = CertificateAuthority::generate("EMUL").unwrap();
        let k = GeneratedKey::generate().unwrap();
        let eui = [0x00, 0xdb, 0x12, 0x34, 0x56, 0x78, 0x90, 0xa0];
        let der = ca
            .issue(
                Subject::Device { eui },
                KeyUsage::KeyAgreement,
                &k.public_point,
            )
            .unwrap();
        let c = Certificate::from_der(&der).unwrap();
        assert_eq!(c.eui(), Some(eui));
        assert_eq!(c.holder(), Holder::Device);
        assert_eq!(c.usage(), Some(Usage::KeyAgreement));
        assert_eq!(c.public_point(), k.public_point.as_slice());
        assert_eq!(subject_key_identifier(&der).map(|s| s.len()), Some(8));

        let org = [0x90, 0xb3, 0xd5, 0x1f, 0x30, 0x01, 0x00, 0x00];
        let der = ca
            .issue(
                Subject::Organisation {
                    eui: org,
                    role: 2,
                    common_name: Some("SUPPLIER"),
                },
                KeyUsage::DigitalSignature,
                &k.public_point,
            )
            .unwrap();
        let c = Certificate::from_der(&der).unwrap();
        assert_eq!(c.eui(), Some(org));
        assert_eq!(c.holder(), Holder::Organisation);
        assert_eq!(c.role(), Some(2));
        assert_eq!(c.usage(), Some(Usage::DigitalSignature));
    }
}
