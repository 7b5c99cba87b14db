//! SMKI certificates: the fields GBCS needs, read once with x509-parser (PROTOCOLS.md §4.12).

use x509_parser::asn1_rs::{Any, Class, Tag};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Name;

use super::SmkiError;
use crate::crypto::{KeyId, PeerKey, VerifyingKey};

/// What a certified key may be used for (from the keyUsage extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Usage {
    /// `digitalSignature` only: signs GBCS APDUs or DUIS XML.
    DigitalSignature,
    /// `keyAgreement` only: ECDH for MACs and payload encryption.
    KeyAgreement,
}

impl Usage {
    /// The short form used in key file names: `ds` or `ka`.
    pub fn short(self) -> &'static str {
        match self {
            Usage::DigitalSignature => "ds",
            Usage::KeyAgreement => "ka",
        }
    }

    /// Parses the short form (`ds`, `ka`) or the keyUsage name (`digitalSignature`,
    /// `keyAgreement`, as in `keystore.json`).
    pub fn parse(s: &str) -> Option<Usage> {
        match s {
            "ds" | "digitalSignature" => Some(Usage::DigitalSignature),
            "ka" | "keyAgreement" => Some(Usage::KeyAgreement),
            _ => None,
        }
    }
}

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.short())
    }
}

/// Whose certificate it is, by where the EUI sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Holder {
    /// An organisation (supplier, network operator, ACB, …): the EUI is the subject's
    /// x500UniqueIdentifier, and the subject OU carries the role.
    Organisation,
    /// A device (meter, hub, …): empty subject, the EUI is the subjectAltName hwModule serial.
    Device,
    /// Neither pattern.
    Unknown,
}

/// A parsed SMKI certificate.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    eui: Option<[u8; 8]>,
    holder: Holder,
    usage: Option<Usage>,
    role: Option<u8>,
    common_name: Option<String>,
    serial: Vec<u8>,
    serial_decimal: String,
    issuer: String,
    subject: String,
    not_before: i64,
    not_after: i64,
    public_point: Vec<u8>,
    verifying_key: VerifyingKey,
    peer_key: PeerKey,
}

impl Certificate {
    /// Parses a DER certificate. The subject public key must be a P-256 key.
    pub fn from_der(der: &[u8]) -> Result<Self, SmkiError> {
        let (rest, x) = X509Certificate::from_der(der)
            .map_err(|e| SmkiError::InvalidCertificate(format!("not an X.509 certificate: {e}")))?;
        if !rest.is_empty() {
            return Err(SmkiError::InvalidCertificate(format!(
                "{} trailing bytes after the certificate",
                rest.len()
            )));
        }
        let spki = x.public_key();
        let verifying_key = VerifyingKey::from_bytes(spki.raw)?;
        let peer_key = PeerKey::from_bytes(spki.raw)?;

        let org_eui = unique_identifier_eui(x.subject());
        let device_eui = hw_module_eui(&x);
        let holder = if org_eui.is_some() {
            Holder::Organisation
        } else if device_eui.is_some() && x.subject().iter_rdn().next().is_none() {
            Holder::Device
        } else {
            Holder::Unknown
        };

        let usage = match x.key_usage() {
            Ok(Some(ku)) => match (ku.value.digital_signature(), ku.value.key_agreement()) {
                (true, false) => Some(Usage::DigitalSignature),
                (false, true) => Some(Usage::KeyAgreement),
                _ => None,
            },
            _ => None,
        };

        let serial = strip_leading_zeros(x.raw_serial()).to_vec();
        let serial_decimal = x.tbs_certificate.serial.to_str_radix(10);
        Ok(Certificate {
            eui: org_eui.or(device_eui),
            holder,
            usage,
            role: x
                .subject()
                .iter_organizational_unit()
                .find_map(|a| a.as_str().ok().and_then(parse_role)),
            common_name: x
                .subject()
                .iter_common_name()
                .find_map(|a| a.as_str().ok().map(str::to_string)),
            serial,
            serial_decimal,
            issuer: rfc2253(x.issuer()),
            subject: rfc2253(x.subject()),
            not_before: x.validity().not_before.timestamp(),
            not_after: x.validity().not_after.timestamp(),
            public_point: spki.subject_public_key.data.to_vec(),
            verifying_key,
            peer_key,
            der: der.to_vec(),
        })
    }

    /// Parses the first `CERTIFICATE` block of PEM text.
    pub fn from_pem(text: &[u8]) -> Result<Self, SmkiError> {
        let blocks = pem::parse_many(text)
            .map_err(|e| SmkiError::InvalidCertificate(format!("bad PEM: {e}")))?;
        let block = blocks
            .iter()
            .find(|b| b.tag() == "CERTIFICATE")
            .ok_or_else(|| SmkiError::InvalidCertificate("no CERTIFICATE block".into()))?;
        Self::from_der(block.contents())
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The holder's EUI-64: the subject x500UniqueIdentifier (organisations) or the
    /// subjectAltName hwModule serial number (devices).
    pub fn eui(&self) -> Option<[u8; 8]> {
        self.eui
    }

    /// Organisation, device or neither.
    pub fn holder(&self) -> Holder {
        self.holder
    }

    /// Digital signature or key agreement (`None` when keyUsage is absent or has both).
    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    /// The role from the subject OU: two hex digits (`02` supplier, `04` ACB, `89` = 137),
    /// or a decimal number (one test certificate has the literal `137`).
    pub fn role(&self) -> Option<u8> {
        self.role
    }

    /// The subject common name, if any.
    pub fn common_name(&self) -> Option<&str> {
        self.common_name.as_deref()
    }

    /// The serial number's magnitude, big-endian, without leading zero bytes.
    pub fn serial(&self) -> &[u8] {
        &self.serial
    }

    /// The serial number in decimal, as DUIS KeyInfo (`X509SerialNumber`) writes it.
    pub fn serial_decimal(&self) -> &str {
        &self.serial_decimal
    }

    /// The issuer DN in RFC 2253 form as Java prints it, e.g. `CN=Z1,OU=07`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The subject DN in RFC 2253 form (empty for device certificates).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Start of validity, in Unix seconds.
    pub fn not_before(&self) -> i64 {
        self.not_before
    }

    /// End of validity, in Unix seconds.
    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// True when `unix_seconds` lies within the validity period (bounds included).
    pub fn is_valid_at(&self, unix_seconds: i64) -> bool {
        self.not_before <= unix_seconds && unix_seconds <= self.not_after
    }

    /// The subject public key as a SEC1 point.
    pub fn public_point(&self) -> &[u8] {
        &self.public_point
    }

    /// The subject public key, parsed for signature verification.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying_key
    }

    /// The subject public key, parsed for key agreement.
    pub fn peer_key(&self) -> &PeerKey {
        &self.peer_key
    }

    /// The identifier of the subject public key.
    pub fn key_id(&self) -> KeyId {
        self.verifying_key.id()
    }
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("eui", &self.eui.map(|e| crate::hex::eui(&e)))
            .field("holder", &self.holder)
            .field("usage", &self.usage)
            .field("role", &self.role)
            .field("serial", &self.serial_decimal)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// DER body of OID 2.5.4.45 (x500UniqueIdentifier).
const OID_UNIQUE_IDENTIFIER: &[u8] = &[0x55, 0x04, 0x2d];
/// DER body of OID 1.3.6.1.5.5.7.8.4 (id-on-hardwareModuleName).
const OID_HW_MODULE: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x08, 0x04];

/// The EUI from x500UniqueIdentifier: a BIT STRING with no unused bits holding 8 bytes.
fn unique_identifier_eui(name: &X509Name<'_>) -> Option<[u8; 8]> {
    name.iter_attributes()
        .filter(|a| a.attr_type().as_bytes() == OID_UNIQUE_IDENTIFIER)
        .find_map(|a| {
            let v = a.attr_value();
            match (v.tag(), v.data) {
                (Tag::BitString, [0, eui @ ..]) => eui.try_into().ok(),
                _ => None,
            }
        })
}

/// The EUI from subjectAltName otherName hwModule:
/// `[0] EXPLICIT SEQUENCE { hwType OID, hwSerialNum OCTET STRING }`.
fn hw_module_eui(x: &X509Certificate<'_>) -> Option<[u8; 8]> {
    let san = x.subject_alternative_name().ok()??;
    san.value.general_names.iter().find_map(|n| match n {
        GeneralName::OtherName(oid, value) if oid.as_bytes() == OID_HW_MODULE => {
            let (tag, explicit, _) = der_tlv(value)?;
            if tag != 0xa0 {
                return None;
            }
            let (tag, seq, _) = der_tlv(explicit)?;
            if tag != 0x30 {
                return None;
            }
            let (tag, _hw_type, rest) = der_tlv(seq)?;
            if tag != 0x06 {
                return None;
            }
            match der_tlv(rest)? {
                (0x04, serial, _) => serial.try_into().ok(),
                _ => None,
            }
        }
        _ => None,
    })
}

/// One DER TLV with a single-byte tag: (tag, value, rest); `None` when `buf` is shorter
/// than the TLV says or the length takes more than three bytes.
#[must_use]
pub fn der_tlv(buf: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = buf.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 3 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    let (value, rest) = rest.split_at(len);
    Some((tag, value, rest))
}

/// Role from the subject OU: two hex digits, else a decimal number.
fn parse_role(ou: &str) -> Option<u8> {
    if ou.len() == 2 && ou.bytes().all(|b| b.is_ascii_hexdigit()) {
        u8::from_str_radix(ou, 16).ok()
    } else if !ou.is_empty() && ou.bytes().all(|b| b.is_ascii_digit()) {
        ou.parse().ok()
    } else {
        None
    }
}

fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let first = b
        .iter()
        .position(|&x| x != 0)
        .unwrap_or(b.len().saturating_sub(1));
    &b[first..]
}

/// A distinguished name in RFC 2253 form as Java's `X500Principal.getName()` writes it:
/// RDNs in reverse order joined by `,`, multi-valued RDNs joined by `+`, known attribute
/// keywords, other attributes as `OID=#hex-of-DER`.
fn rfc2253(name: &X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|a| {
                    let oid = a.attr_type().to_id_string();
                    let value = a.attr_value();
                    match (keyword(&oid), string_value(value)) {
                        (Some(k), Some(s)) => format!("{k}={}", escape_rfc2253(&s)),
                        (Some(k), None) => format!("{k}=#{}", crate::hex::encode(&der_of(value))),
                        (None, _) => format!("{oid}=#{}", crate::hex::encode(&der_of(value))),
                    }
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

/// The RFC 2253 keywords Java uses.
fn keyword(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "0.9.2342.19200300.100.1.1" => "UID",
        "0.9.2342.19200300.100.1.25" => "DC",
        _ => return None,
    })
}

fn string_value(v: &Any<'_>) -> Option<String> {
    if v.class() != Class::Universal {
        return None;
    }
    match v.tag() {
        Tag::PrintableString
        | Tag::Utf8String
        | Tag::Ia5String
        | Tag::NumericString
        | Tag::VisibleString
        | Tag::TeletexString => std::str::from_utf8(v.data).ok().map(str::to_string),
        Tag::BmpString => {
            let units: Vec<u16> = v
                .data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

fn escape_rfc2253(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let last = s.chars().count().saturating_sub(1);
    for (i, c) in s.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Re-encodes an attribute value as DER for the `#hex` form.
fn der_of(v: &Any<'_>) -> Vec<u8> {
    let class_bits: u8 = match v.class() {
        Class::Universal => 0x00,
        Class::Application => 0x40,
        Class::ContextSpecific => 0x80,
        Class::Private => 0xc0,
    };
    let constructed = if v.header.is_constructed() { 0x20 } else { 0 };
    let number = v.tag().0;
    let mut out = Vec::with_capacity(v.data.len() + 8);
    if number < 0x1f {
        out.push(class_bits | constructed | number as u8);
    } else {
        out.push(class_bits | constructed | 0x1f);
        let mut groups = Vec::new();
        let mut n = number;
        loop {
            groups.push((n & 0x7f) as u8);
            n >>= 7;
            if n == 0 {
                break;
            }
        }
        let last = groups.len() - 1;
        out.extend(
            groups
                .iter()
                .rev()
                .enumerate()
                .map(|(i, g)| if i < last { g | 0x80 } else { *g }),
        );
    }
    let len = v.data.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(v.data);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn load(rel: &str) -> Certificate {
        let path = crate::conformance::require().join(rel);
        Certificate::from_pem(&std::fs::read(&path).unwrap()).unwrap()
    }

    #[test]
    fn organisation_certificate_fields() {
        let c = load("smki/Z1-accessControlBroker-dSPXmlSign.pem");
        assert_eq!(c.holder(), Holder::Organisation);
        assert_eq!(
            c.eui().map(|e| crate::hex::eui(&e)).as_deref(),
            Some("90b3d51f30000002")
        );
        assert_eq!(c.usage(), Some(Usage::DigitalSignature));
        assert_eq!(c.role(), Some(0x89));
        assert_eq!(c.serial_decimal(), "20315062944123339095836004026371736578");
        assert_eq!(
            crate::hex::encode(c.serial()),
            "0f4889ef197d41e9016966f9d5ab0402"
        );
        assert_eq!(c.issuer(), "CN=Z1,OU=07");
        assert_eq!(c.subject(), "2.5.4.45=#03090090b3d51f30000002,OU=89");
        // Sep 1 2025 00:00:00 to Sep 1 2035 23:59:59 UTC.
        assert_eq!(c.not_before(), 1_756_684_800);
        assert_eq!(c.not_after(), 2_072_303_999);
        assert!(c.is_valid_at(1_800_000_000));
        assert!(!c.is_valid_at(1_700_000_000));
        assert_eq!(c.public_point().len(), 65);
    }

    #[test]
    fn supplier_common_name_and_decimal_role_quirk() {
        let c = load("smki/Z1-supplier-ds.pem");
        assert_eq!(c.common_name(), Some("GITTESTSUPPLIER"));
        assert_eq!(c.role(), Some(2));
        let pre = load("smki/dsp-xml-sign-90B3D51F30000002-ds-pre-1.4.1.pem");
        assert_eq!(pre.role(), Some(137));
    }

    #[test]
    fn device_certificate_fields() {
        let c = load("gbcs/keystore/00db1234567890a0-ka.pem");
        assert_eq!(c.holder(), Holder::Device);
        assert_eq!(
            c.eui().map(|e| crate::hex::eui(&e)).as_deref(),
            Some("00db1234567890a0")
        );
        assert_eq!(c.usage(), Some(Usage::KeyAgreement));
        assert_eq!(c.role(), None);
        assert_eq!(c.issuer(), "CN=E357");
        assert_eq!(c.subject(), "");
        assert_eq!(c.not_after(), 253_402_300_799); // 9999-12-31 23:59:59
    }

    #[test]
    fn helpers() {
        assert_eq!(parse_role("07"), Some(7));
        assert_eq!(parse_role("8a"), Some(0x8a));
        assert_eq!(parse_role("137"), Some(137));
        assert_eq!(parse_role("x"), None);
        assert_eq!(escape_rfc2253(" a,b "), "\\ a\\,b\\ ");
        assert_eq!(strip_leading_zeros(&[0, 0, 5]), &[5]);
        assert_eq!(strip_leading_zeros(&[0]), &[0]);
        assert_eq!(
            der_tlv(&[0x04, 0x81, 0x01, 0xaa, 0xbb]),
            Some((4, &[0xaa][..], &[0xbb][..]))
        );
        assert_eq!(der_tlv(&[0x04, 0x05, 0xaa]), None);
        assert!(Certificate::from_der(b"junk").is_err());
        assert!(Certificate::from_pem(b"no pem here").is_err());
    }
}
