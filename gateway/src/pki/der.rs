//! A small DER encoder: just the ASN.1 types an X.509 certificate of the SMKI profile needs.
//!
//! Every function returns a complete TLV. Constructed values take their already encoded
//! children, so a certificate is written inside out, as a tree of calls. Nothing here parses;
//! reading certificates back is x509-parser's job (and the protocol crate's).

/// Universal tag numbers (with the constructed bit where it applies).
pub mod tag {
    /// BOOLEAN.
    pub const BOOLEAN: u8 = 0x01;
    /// INTEGER.
    pub const INTEGER: u8 = 0x02;
    /// BIT STRING.
    pub const BIT_STRING: u8 = 0x03;
    /// OCTET STRING.
    pub const OCTET_STRING: u8 = 0x04;
    /// OBJECT IDENTIFIER.
    pub const OID: u8 = 0x06;
    /// UTF8String.
    pub const UTF8_STRING: u8 = 0x0c;
    /// PrintableString.
    pub const PRINTABLE_STRING: u8 = 0x13;
    /// UTCTime.
    pub const UTC_TIME: u8 = 0x17;
    /// GeneralizedTime.
    pub const GENERALIZED_TIME: u8 = 0x18;
    /// SEQUENCE (constructed).
    pub const SEQUENCE: u8 = 0x30;
    /// SET (constructed).
    pub const SET: u8 = 0x31;
}

/// One TLV: `tag`, the definite length in the shortest form, then `content`.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let significant = &bytes[skip..];
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(content);
    out
}

/// A SEQUENCE of already encoded elements.
pub fn sequence<I, T>(items: I) -> Vec<u8>
where
    I: IntoIterator<Item = T>,
    T: AsRef<[u8]>,
{
    tlv(tag::SEQUENCE, &items.into_iter().fold(Vec::new(), concat))
}

/// A SET of already encoded elements, in DER order (sorted by encoding).
pub fn set<I, T>(items: I) -> Vec<u8>
where
    I: IntoIterator<Item = T>,
    T: AsRef<[u8]>,
{
    let mut items: Vec<Vec<u8>> = items.into_iter().map(|i| i.as_ref().to_vec()).collect();
    items.sort();
    tlv(tag::SET, &items.concat())
}

/// An INTEGER from a big-endian magnitude (non-negative): leading zeros are dropped and one
/// zero byte is added back when the top bit is set, so the value stays positive.
pub fn unsigned_integer(magnitude: &[u8]) -> Vec<u8> {
    let skip = magnitude.iter().take_while(|&&b| b == 0).count();
    let m = &magnitude[skip..];
    let mut content = Vec::with_capacity(m.len() + 1);
    if m.first().is_none_or(|&b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(m);
    tlv(tag::INTEGER, &content)
}

/// An INTEGER from a small non-negative number.
pub fn small_integer(n: u64) -> Vec<u8> {
    unsigned_integer(&n.to_be_bytes())
}

/// A BOOLEAN (DER: `FF` for true).
pub fn boolean(value: bool) -> Vec<u8> {
    tlv(tag::BOOLEAN, &[if value { 0xff } else { 0x00 }])
}

/// An OBJECT IDENTIFIER from its arcs. The first two arcs must be a valid pair (0–2, and
/// below 40 unless the first is 2); the OIDs used here are constants.
pub fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut content = Vec::new();
    let (first, rest) = match arcs {
        [a, b, rest @ ..] => (a * 40 + b, rest),
        [a] => (a * 40, &[][..]),
        [] => return tlv(tag::OID, &[]),
    };
    for arc in std::iter::once(first).chain(rest.iter().copied()) {
        base128(arc, &mut content);
    }
    tlv(tag::OID, &content)
}

fn base128(mut n: u64, out: &mut Vec<u8>) {
    let mut groups = [0u8; 10];
    let mut i = groups.len();
    loop {
        i -= 1;
        groups[i] = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            break;
        }
    }
    let last = groups.len() - 1;
    for (j, g) in groups.iter().enumerate().skip(i) {
        out.push(if j == last { *g } else { g | 0x80 });
    }
}

/// A BIT STRING holding whole bytes (no unused bits).
pub fn bit_string(bytes: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(bytes.len() + 1);
    content.push(0);
    content.extend_from_slice(bytes);
    tlv(tag::BIT_STRING, &content)
}

/// A BIT STRING of named bits (bit 0 is the most significant bit of the first byte), as
/// keyUsage uses: trailing zero bits are removed, as DER requires.
pub fn named_bits(bits: &[u8]) -> Vec<u8> {
    let Some(&highest) = bits.iter().max() else {
        return tlv(tag::BIT_STRING, &[0]);
    };
    let len = usize::from(highest / 8) + 1;
    let mut bytes = vec![0u8; len];
    for &b in bits {
        bytes[usize::from(b / 8)] |= 0x80 >> (b % 8);
    }
    let unused = 7 - highest % 8;
    let mut content = Vec::with_capacity(len + 1);
    content.push(unused);
    content.extend_from_slice(&bytes);
    tlv(tag::BIT_STRING, &content)
}

/// An OCTET STRING.
pub fn octet_string(bytes: &[u8]) -> Vec<u8> {
    tlv(tag::OCTET_STRING, bytes)
}

/// A UTF8String.
pub fn utf8_string(s: &str) -> Vec<u8> {
    tlv(tag::UTF8_STRING, s.as_bytes())
}

/// A PrintableString, or `None` when `s` has characters outside its repertoire
/// (`A-Z a-z 0-9 space ' ( ) + , - . / : = ?`).
pub fn printable_string(s: &str) -> Option<Vec<u8>> {
    let ok = s.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(b, b' ' | b'\'' | b'(' | b')' | b'+' | b',')
            || matches!(b, b'-' | b'.' | b'/' | b':' | b'=' | b'?')
    });
    ok.then(|| tlv(tag::PRINTABLE_STRING, s.as_bytes()))
}

/// A certificate validity time: UTCTime for 1950–2049, GeneralizedTime otherwise
/// (RFC 5280 §4.1.2.5), in UTC to the second. `None` outside years 0–9999.
pub fn time(unix_seconds: i64) -> Option<Vec<u8>> {
    let days = unix_seconds.div_euclid(86_400);
    let secs = unix_seconds.rem_euclid(86_400);
    let (y, mo, d) = crate::clock::civil_from_days(days);
    let (h, mi, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match y {
        1950..=2049 => Some(tlv(
            tag::UTC_TIME,
            format!("{:02}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z", y % 100).as_bytes(),
        )),
        0..=9999 => Some(tlv(
            tag::GENERALIZED_TIME,
            format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z").as_bytes(),
        )),
        _ => None,
    }
}

/// A context-specific constructed tag `[n]` wrapping `content` (EXPLICIT tagging).
pub fn explicit(n: u8, content: &[u8]) -> Vec<u8> {
    tlv(0xa0 | (n & 0x1f), content)
}

/// A context-specific primitive tag `[n]` (IMPLICIT tagging of a primitive type).
pub fn implicit(n: u8, content: &[u8]) -> Vec<u8> {
    tlv(0x80 | (n & 0x1f), content)
}

fn concat<T: AsRef<[u8]>>(mut acc: Vec<u8>, item: T) -> Vec<u8> {
    acc.extend_from_slice(item.as_ref());
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_use_the_shortest_form() {
        assert_eq!(tlv(0x04, &[1, 2]), [0x04, 0x02, 1, 2]);
        let long = tlv(0x04, &[0; 200]);
        assert_eq!(&long[..3], &[0x04, 0x81, 200]);
        let longer = tlv(0x04, &[0; 300]);
        assert_eq!(&longer[..4], &[0x04, 0x82, 0x01, 0x2c]);
    }

    #[test]
    fn integers_stay_positive_and_minimal() {
        assert_eq!(small_integer(0), [0x02, 0x01, 0x00]);
        assert_eq!(small_integer(2), [0x02, 0x01, 0x02]);
        assert_eq!(small_integer(128), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(unsigned_integer(&[0, 0, 0x7f, 1]), [0x02, 0x02, 0x7f, 1]);
    }

    #[test]
    fn oids_match_known_encodings() {
        // ecdsa-with-SHA256, as in every ZAZ1 certificate.
        assert_eq!(
            oid(&[1, 2, 840, 10045, 4, 3, 2]),
            [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]
        );
        // x500UniqueIdentifier.
        assert_eq!(oid(&[2, 5, 4, 45]), [0x06, 0x03, 0x55, 0x04, 0x2d]);
        // The SMKI organisation policy OID of the ZAZ1 certificates.
        let policy = oid(&[1, 2, 826, 0, 1, 8_641_679, 1, 2, 1, 4]);
        assert_eq!(hex(&policy), "060d2a863a0001848fb90f01020104");
    }

    #[test]
    fn key_usage_bits_drop_trailing_zeros() {
        // digitalSignature: 03 02 07 80 (as in Z1-supplier-ds).
        assert_eq!(named_bits(&[0]), [0x03, 0x02, 0x07, 0x80]);
        // keyAgreement.
        assert_eq!(named_bits(&[4]), [0x03, 0x02, 0x03, 0x08]);
        // keyCertSign + cRLSign.
        assert_eq!(named_bits(&[5, 6]), [0x03, 0x02, 0x01, 0x06]);
    }

    #[test]
    fn bit_string_eui_is_nine_content_bytes() {
        let eui = [0x90, 0xb3, 0xd5, 0x1f, 0x30, 0x01, 0x00, 0x00];
        assert_eq!(hex(&bit_string(&eui)), "03090090b3d51f30010000");
    }

    #[test]
    fn times_switch_to_generalized_after_2049() {
        assert_eq!(time(0).unwrap(), tlv(tag::UTC_TIME, b"700101000000Z"));
        // 2025-10-29T23:59:59Z, the end of Z1-supplier-ds.
        assert_eq!(
            time(1_761_782_399).unwrap(),
            tlv(tag::UTC_TIME, b"251029235959Z")
        );
        // 2118-01-01T00:00:00Z, the end of the xml-sign certificates.
        assert_eq!(
            time(4_670_438_400).unwrap(),
            tlv(tag::GENERALIZED_TIME, b"21180101000000Z")
        );
    }

    #[test]
    fn printable_strings_refuse_other_characters() {
        assert!(printable_string("HubGate Test SMKI CA").is_some());
        assert!(printable_string("a_b").is_none());
        assert!(printable_string("é").is_none());
    }

    #[test]
    fn sets_are_sorted() {
        assert_eq!(
            set([[0x02, 0x01, 0x05], [0x02, 0x01, 0x01]]),
            [0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x05]
        );
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
