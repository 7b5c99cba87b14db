//! A bounds-checked reader over a byte slice. Every read returns a [`PayloadError`] carrying
//! the absolute offset (relative to the whole content) instead of panicking.

use super::error::PayloadError;
use super::length::LengthForm;

/// Reads fields from `buf`, reporting offsets as `base + position`.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor over the whole content (offsets start at 0).
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor {
            buf,
            pos: 0,
            base: 0,
        }
    }

    /// Absolute offset of the next byte.
    pub(crate) fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Bytes not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Whether everything has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The bytes not yet read, without consuming them.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    /// The next byte, without consuming it.
    pub(crate) fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// The byte after the next one, without consuming anything.
    pub(crate) fn peek2(&self) -> Option<u8> {
        self.buf.get(self.pos.checked_add(1)?).copied()
    }

    /// Consumes `n` bytes.
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], PayloadError> {
        let err = PayloadError::Truncated {
            offset: self.offset(),
            what,
            needed: n,
            available: self.remaining(),
        };
        let end = self.pos.checked_add(n).ok_or_else(|| err.clone())?;
        let s = self.buf.get(self.pos..end).ok_or(err)?;
        self.pos = end;
        Ok(s)
    }

    /// Consumes a fixed-size array.
    pub(crate) fn array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<[u8; N], PayloadError> {
        let offset = self.offset();
        let s = self.take(N, what)?;
        s.try_into().map_err(|_| PayloadError::Truncated {
            offset,
            what,
            needed: N,
            available: s.len(),
        })
    }

    /// Consumes one byte.
    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, PayloadError> {
        Ok(self.array::<1>(what)?[0])
    }

    /// Consumes a big-endian u16.
    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, PayloadError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    /// Consumes a big-endian u32.
    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, PayloadError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    /// Consumes a big-endian u64.
    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64, PayloadError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    /// Consumes `n` bytes and returns a cursor over them that reports absolute offsets.
    pub(crate) fn sub(&mut self, n: usize, what: &'static str) -> Result<Cursor<'a>, PayloadError> {
        let base = self.offset();
        let buf = self.take(n, what)?;
        Ok(Cursor { buf, pos: 0, base })
    }

    /// Fails unless every byte has been read.
    pub(crate) fn finish(&self, what: &'static str) -> Result<(), PayloadError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(PayloadError::Trailing {
                offset: self.offset(),
                count: self.remaining(),
                what,
            })
        }
    }

    /// Reads a length field (`00`–`7F` or `8N` + N bytes, 1 ≤ N ≤ 4) and the form it used.
    /// The value is not yet checked against the bytes that remain.
    pub(crate) fn length_any(
        &mut self,
        what: &'static str,
    ) -> Result<(usize, LengthForm), PayloadError> {
        let offset = self.offset();
        let first = self.u8(what)?;
        if first < 0x80 {
            return Ok((usize::from(first), LengthForm::Short));
        }
        let n = first & 0x7f;
        if !(1..=4).contains(&n) {
            return Err(PayloadError::Unexpected {
                offset,
                what,
                found: u64::from(first),
                expected: "a length 00-7f or 81-84 followed by that many bytes",
            });
        }
        let bytes = self.take(usize::from(n), what)?;
        let value = bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        let value = usize::try_from(value).map_err(|_| PayloadError::Length {
            offset,
            what,
            declared: usize::MAX,
            expected: "a length that fits in memory".to_owned(),
        })?;
        Ok((value, LengthForm::Long(n)))
    }

    /// Reads a length that must use the minimal form (A-XDR in DLMS).
    pub(crate) fn length_minimal(&mut self, what: &'static str) -> Result<usize, PayloadError> {
        let offset = self.offset();
        let first = self.peek().unwrap_or(0);
        let (len, form) = self.length_any(what)?;
        if !form.is_minimal_for(len) {
            return Err(PayloadError::Unexpected {
                offset,
                what,
                found: u64::from(first),
                expected: "the minimal length encoding",
            });
        }
        Ok(len)
    }

    /// Reads a minimal length and checks that at least `len * min_unit` bytes remain, so that
    /// a count can size an allocation safely.
    pub(crate) fn count(
        &mut self,
        what: &'static str,
        min_unit: usize,
    ) -> Result<usize, PayloadError> {
        let offset = self.offset();
        let n = self.length_minimal(what)?;
        let need = n.saturating_mul(min_unit);
        if need > self.remaining() {
            return Err(PayloadError::Length {
                offset,
                what,
                declared: n,
                expected: format!(
                    "at most {} (each entry takes at least {min_unit} byte(s), {} remain)",
                    self.remaining() / min_unit.max(1),
                    self.remaining()
                ),
            });
        }
        Ok(n)
    }

    /// Reads a minimal length and the bytes it covers.
    pub(crate) fn length_prefixed(&mut self, what: &'static str) -> Result<&'a [u8], PayloadError> {
        let offset = self.offset();
        let len = self.length_minimal(what)?;
        if len > self.remaining() {
            return Err(PayloadError::Length {
                offset,
                what,
                declared: len,
                expected: format!("at most the {} byte(s) that remain", self.remaining()),
            });
        }
        self.take(len, what)
    }

    /// Reads a minimal length and returns a cursor over the bytes it covers.
    pub(crate) fn length_prefixed_cursor(
        &mut self,
        what: &'static str,
    ) -> Result<Cursor<'a>, PayloadError> {
        let buf = self.length_prefixed(what)?;
        let base = self.offset() - buf.len();
        Ok(Cursor { buf, pos: 0, base })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_bounds() {
        let mut c = Cursor::new(&[0x01, 0x02, 0x03, 0x81, 0x80]);
        assert_eq!(c.u16("a").ok(), Some(0x0102));
        assert!(matches!(
            c.u32("b"),
            Err(PayloadError::Truncated {
                offset: 2,
                needed: 4,
                available: 3,
                ..
            })
        ));
        assert_eq!(c.u8("c").ok(), Some(3));
        assert_eq!(c.length_minimal("d").ok(), Some(0x80));
        assert!(c.finish("e").is_ok());
        let mut c = Cursor::new(&[0x81, 0x10]);
        assert!(matches!(
            c.length_minimal("x"),
            Err(PayloadError::Unexpected { offset: 0, .. })
        ));
        let mut c = Cursor::new(&[0x80]);
        assert!(c.length_any("x").is_err());
        let mut c = Cursor::new(&[0x85, 1, 2, 3, 4, 5]);
        assert!(c.length_any("x").is_err());
        let mut c = Cursor::new(&[0xaa, 0x02, 0x01]);
        c.u8("skip").ok();
        let sub = c.sub(2, "sub");
        assert_eq!(sub.map(|s| s.offset()).ok(), Some(1));
        assert!(c.take(usize::MAX, "huge").is_err());
    }
}
