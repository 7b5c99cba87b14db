//! Length fields shared by DLMS A-XDR and ASN.1 DER: one byte `00`–`7F`, or `8N` followed by N
//! big-endian bytes (1 ≤ N ≤ 4).
//!
//! A-XDR lengths in DLMS payloads must be minimal. DER lengths should be minimal too, but some
//! real GBCS credential payloads write lengths of 128–255 as `82 00 nn`; the ASN.1 decoder
//! accepts that and keeps the [`LengthForm`] so that re-encoding is byte-identical.

/// How a length field was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LengthForm {
    /// A single byte, `00`–`7F`.
    Short,
    /// `8N` followed by N bytes (1 ≤ N ≤ 4).
    Long(u8),
}

impl LengthForm {
    /// The shortest form that holds `len`.
    pub fn minimal(len: usize) -> Self {
        if len < 0x80 {
            LengthForm::Short
        } else {
            let bytes = (usize::BITS - len.leading_zeros()).div_ceil(8);
            LengthForm::Long(bytes as u8)
        }
    }

    /// Whether `len` can be written in this form.
    pub fn holds(self, len: usize) -> bool {
        match self {
            LengthForm::Short => len < 0x80,
            LengthForm::Long(n) => {
                (1..=4).contains(&n) && (len as u64) < (1u64 << (8 * u32::from(n)))
            }
        }
    }

    /// Bytes the length field takes.
    pub fn size(self) -> usize {
        match self {
            LengthForm::Short => 1,
            LengthForm::Long(n) => 1 + usize::from(n),
        }
    }

    /// Whether this is the minimal (DER) form for `len`.
    pub fn is_minimal_for(self, len: usize) -> bool {
        self == LengthForm::minimal(len)
    }
}

/// Appends `len` in `form`, or in the minimal form when `form` cannot hold it.
pub(crate) fn write_length(out: &mut Vec<u8>, len: usize, form: LengthForm) {
    let form = if form.holds(len) {
        form
    } else {
        LengthForm::minimal(len)
    };
    match form {
        LengthForm::Short => out.push(len as u8),
        LengthForm::Long(n) => {
            out.push(0x80 | n);
            let be = (len as u64).to_be_bytes();
            out.extend_from_slice(&be[8 - usize::from(n)..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(LengthForm::minimal(0x7f), LengthForm::Short);
        assert_eq!(LengthForm::minimal(0x80), LengthForm::Long(1));
        assert_eq!(LengthForm::minimal(0x100), LengthForm::Long(2));
        assert_eq!(LengthForm::minimal(0x1_0000), LengthForm::Long(3));
        assert!(LengthForm::Long(2).holds(0x83));
        assert!(!LengthForm::Long(1).holds(0x100));
        assert!(!LengthForm::Short.holds(0x80));
        let mut v = Vec::new();
        write_length(&mut v, 0x83, LengthForm::Long(2));
        assert_eq!(v, [0x82, 0x00, 0x83]);
        v.clear();
        write_length(&mut v, 0x183, LengthForm::Short);
        assert_eq!(v, [0x82, 0x01, 0x83]);
    }
}
