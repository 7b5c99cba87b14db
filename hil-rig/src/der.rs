//! A small DER writer: enough for the ASN.1 payloads devices answer with (CS use cases) and
//! for the X.509 certificates of generated device and organisation keys. Reading a TLV
//! ([`read_tlv`]) is the SMKI certificate parser's reader.

/// Appends a DER length.
fn write_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0x81, len as u8]);
    } else if len <= 0xffff {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    } else {
        out.extend_from_slice(&[0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8]);
    }
}

/// One TLV with a single-byte tag.
pub fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 4);
    out.push(tag);
    write_len(&mut out, value.len());
    out.extend_from_slice(value);
    out
}

/// A constructed TLV holding the concatenation of `parts`.
pub fn cons(tag: u8, parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(tag, &parts.concat())
}

/// `SEQUENCE { parts }`.
pub fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    cons(0x30, parts)
}

/// `SEQUENCE { parts }` with the length written as GBCS devices in the RTDS write it: one
/// byte below 128, else always the two-byte form `82 nn nn` (not minimal DER).
pub fn seq_gbcs(parts: &[Vec<u8>]) -> Vec<u8> {
    let body = parts.concat();
    if body.len() < 0x80 {
        return tlv(0x30, &body);
    }
    let mut out = Vec::with_capacity(body.len() + 4);
    out.push(0x30);
    out.push(0x82);
    out.extend_from_slice(&(u16::try_from(body.len()).unwrap_or(u16::MAX)).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// `INTEGER` from an unsigned big-endian magnitude (minimal, with a leading zero when the top
/// bit is set).
pub fn uint_bytes(magnitude: &[u8]) -> Vec<u8> {
    let first = magnitude
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(magnitude.len());
    let m = &magnitude[first..];
    let mut v = Vec::with_capacity(m.len() + 1);
    if m.first().is_none_or(|&b| b & 0x80 != 0) {
        v.push(0);
    }
    v.extend_from_slice(m);
    tlv(0x02, &v)
}

/// `INTEGER` from an i64 (minimal two's complement).
pub fn int(x: i64) -> Vec<u8> {
    let b = x.to_be_bytes();
    let mut start = 0;
    while start < 7 {
        let (cur, next) = (b[start], b[start + 1]);
        if (cur == 0 && next & 0x80 == 0) || (cur == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    tlv(0x02, &b[start..])
}

/// `ENUMERATED`.
pub fn enumerated(x: u8) -> Vec<u8> {
    let mut v = int(i64::from(x));
    v[0] = 0x0a;
    v
}

/// `OCTET STRING`.
pub fn octets(v: &[u8]) -> Vec<u8> {
    tlv(0x04, v)
}

/// `NULL`.
pub fn null() -> Vec<u8> {
    vec![0x05, 0x00]
}

/// `GeneralizedTime`.
pub fn generalized_time(text: &str) -> Vec<u8> {
    tlv(0x18, text.as_bytes())
}

/// `BIT STRING` with no unused bits.
pub fn bit_string(v: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(v.len() + 1);
    b.push(0);
    b.extend_from_slice(v);
    tlv(0x03, &b)
}

/// `OBJECT IDENTIFIER` from its DER body.
pub fn oid(body: &[u8]) -> Vec<u8> {
    tlv(0x06, body)
}

/// The DER `ECDSA-Sig-Value` for a raw `r‖s` signature.
pub fn ecdsa_signature(raw: &[u8; 64]) -> Vec<u8> {
    seq(&[uint_bytes(&raw[..32]), uint_bytes(&raw[32..])])
}

/// The raw `r‖s` form of a DER `ECDSA-Sig-Value`, if it is one with 32-byte-or-shorter
/// integers.
pub fn ecdsa_signature_raw(der: &[u8]) -> Option<[u8; 64]> {
    let (tag, body, rest) = read_tlv(der)?;
    if tag != 0x30 || !rest.is_empty() {
        return None;
    }
    let (t1, r, rest) = read_tlv(body)?;
    let (t2, s, rest) = read_tlv(rest)?;
    if t1 != 0x02 || t2 != 0x02 || !rest.is_empty() {
        return None;
    }
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

/// One TLV with a single-byte tag: (tag, value, rest) (the SMKI certificate parser's).
pub use hubgate_protocol::smki::cert::der_tlv as read_tlv;

/// PEM text for DER bytes.
pub fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or(""));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn integers_and_signatures() {
        assert_eq!(int(0), vec![2, 1, 0]);
        assert_eq!(int(0x8f66), vec![2, 3, 0x00, 0x8f, 0x66]);
        assert_eq!(int(-1), vec![2, 1, 0xff]);
        assert_eq!(int(1003), vec![2, 2, 0x03, 0xeb]);
        assert_eq!(enumerated(10), vec![0x0a, 1, 10]);
        let mut raw = [0u8; 64];
        raw[0] = 0x80;
        raw[63] = 1;
        let der = ecdsa_signature(&raw);
        assert_eq!(ecdsa_signature_raw(&der), Some(raw));
        assert_eq!(read_tlv(&[0x04, 0x82, 0x00]), None);
    }
}
