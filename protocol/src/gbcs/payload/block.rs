//! Encrypted blocks inside payloads (PROTOCOLS.md §4.9): `31 00000000 ‖ ciphertext ‖ tag(12)`,
//! carried by a DLMS octet-string or by a GBZ component with control bit `0x02`.
//!
//! Block positions are found structurally: the encoder records where each block lands while it
//! rebuilds the payload, and because decoding then re-encoding is byte-identical, those are the
//! positions in the decoded content.

use std::ops::Range;

use super::length::{LengthForm, write_length};

/// Security header of an encrypted block: security-control `0x31` (authenticated and
/// encrypted, suite 1) and a zero invocation counter.
pub const SECURITY_HEADER: [u8; 5] = [0x31, 0, 0, 0, 0];
/// Length of the truncated AES-GCM tag at the end of a block.
pub const TAG_LEN: usize = 12;
/// Smallest block: security header and tag around an empty ciphertext.
pub const MIN_BLOCK_LEN: usize = SECURITY_HEADER.len() + TAG_LEN;

/// Whether a byte string has the shape of an encrypted block: it starts with
/// [`SECURITY_HEADER`] and is long enough to hold the tag.
pub fn looks_encrypted(value: &[u8]) -> bool {
    value.len() >= MIN_BLOCK_LEN && value.starts_with(&SECURITY_HEADER)
}

/// Where in the payload structure a block sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockSource {
    /// The value of a DLMS octet-string.
    DlmsOctetString,
    /// An encrypted GBZ component.
    GbzComponent {
        /// Zero-based position of the component.
        index: usize,
        /// Its ZigBee cluster ID.
        cluster_id: u16,
    },
}

/// An encrypted block. Ranges are byte offsets into the content slice that was decoded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EncryptedBlock {
    /// What carries the block.
    pub source: BlockSource,
    /// The length field in front of the block: the A-XDR octet-string length (DLMS), or the
    /// 2-byte ciphered-information length (GBZ). Its value is the length of
    /// `security_header.start..tag.end`.
    pub length_field: Range<usize>,
    /// `31 00 00 00 00`.
    pub security_header: Range<usize>,
    /// The ciphertext, without the tag.
    pub ciphertext: Range<usize>,
    /// The 12-byte tag.
    pub tag: Range<usize>,
}

impl EncryptedBlock {
    /// Builds the ranges for a block whose security header starts at `start` and that is
    /// `len` bytes long (header, ciphertext and tag), with its length field at `length_field`.
    pub(crate) fn at(
        source: BlockSource,
        length_field: Range<usize>,
        start: usize,
        len: usize,
    ) -> Self {
        let end = start + len;
        let ct = start + SECURITY_HEADER.len();
        EncryptedBlock {
            source,
            length_field,
            security_header: start..ct,
            ciphertext: ct..end - TAG_LEN,
            tag: end - TAG_LEN..end,
        }
    }

    /// The whole block, from the security header to the end of the tag.
    pub fn range(&self) -> Range<usize> {
        self.security_header.start..self.tag.end
    }

    /// Moves every range by `by` bytes.
    pub(crate) fn shift(&mut self, by: usize) {
        for r in [
            &mut self.length_field,
            &mut self.security_header,
            &mut self.ciphertext,
            &mut self.tag,
        ] {
            r.start += by;
            r.end += by;
        }
    }
}

/// An output buffer that also records where encrypted blocks land.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    /// The bytes written so far.
    pub(crate) out: Vec<u8>,
    /// Blocks, in encoding order.
    pub(crate) blocks: Vec<EncryptedBlock>,
}

impl Writer {
    /// A writer appending to `out`.
    pub(crate) fn new(out: Vec<u8>) -> Self {
        Writer {
            out,
            blocks: Vec::new(),
        }
    }

    /// Writes an A-XDR octet-string value (length and bytes), recording it when it is a block.
    pub(crate) fn octet_string(&mut self, v: &[u8]) {
        let lstart = self.out.len();
        write_length(&mut self.out, v.len(), LengthForm::minimal(v.len()));
        let start = self.out.len();
        self.out.extend_from_slice(v);
        if looks_encrypted(v) {
            self.blocks.push(EncryptedBlock::at(
                BlockSource::DlmsOctetString,
                lstart..start,
                start,
                v.len(),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_and_ranges() {
        let mut v = vec![0x31, 0, 0, 0, 0];
        v.extend_from_slice(&[0xaa; TAG_LEN]);
        assert!(looks_encrypted(&v));
        assert!(!looks_encrypted(&v[..16]));
        let mut w = Writer::default();
        w.out.push(0x09);
        w.octet_string(&v);
        assert_eq!(w.blocks.len(), 1);
        let b = &w.blocks[0];
        assert_eq!(b.length_field, 1..2);
        assert_eq!(b.security_header, 2..7);
        assert_eq!(b.ciphertext, 7..7);
        assert_eq!(b.tag, 7..19);
        assert_eq!(b.range(), 2..19);
    }
}
