//! Hexadecimal helpers for the API edge (RTDS `.HEX` files, EUIs, CLI input).

/// Lower-case hex of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0x0f) as usize] as char);
    }
    s
}

/// Error from [`decode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// A character that is not a hex digit, whitespace or `:`.
    #[error("invalid hex character {0:?} at offset {1}")]
    BadChar(char, usize),
    /// An odd number of hex digits.
    #[error("odd number of hex digits")]
    OddLength,
}

/// Decodes hex, ignoring ASCII whitespace and `:` separators; either case.
pub fn decode(s: &str) -> Result<Vec<u8>, HexError> {
    let mut out = Vec::with_capacity(s.len() / 2);
    let mut hi: Option<u8> = None;
    for (i, c) in s.char_indices() {
        if c.is_ascii_whitespace() || c == ':' {
            continue;
        }
        let v = c.to_digit(16).ok_or(HexError::BadChar(c, i))? as u8;
        match hi.take() {
            Some(h) => out.push((h << 4) | v),
            None => hi = Some(v),
        }
    }
    if hi.is_some() {
        return Err(HexError::OddLength);
    }
    Ok(out)
}

/// Formats an EUI-64 as 16 lower-case hex digits, the form GBCS tools print.
pub fn eui(e: &[u8; 8]) -> String {
    encode(e)
}

/// Formats an EUI-64 the DUIS way: eight upper-case hex pairs joined by `-`.
pub fn eui_duis(e: &[u8; 8]) -> String {
    EuiText::new(e).as_str().to_owned()
}

/// An EUI-64 in the DUIS form (see [`eui_duis`]) on the stack, for formatting without
/// allocating: EUIs are written into every request ID, log line and map key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct EuiText([u8; 23]);

impl std::fmt::Debug for EuiText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl EuiText {
    /// `e` as eight upper-case hex pairs joined by `-`.
    pub fn new(e: &[u8; 8]) -> EuiText {
        const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
        let mut out = [b'-'; 23];
        for (i, b) in e.iter().enumerate() {
            out[3 * i] = DIGITS[(b >> 4) as usize];
            out[3 * i + 1] = DIGITS[(b & 0x0f) as usize];
        }
        EuiText(out)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits and '-' are ever written into it.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Display for EuiText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses an EUI-64 written as 16 hex digits, optionally separated by `-` or `:`.
pub fn parse_eui(s: &str) -> Option<[u8; 8]> {
    let mut out = [0u8; 8];
    let mut n = 0usize;
    for c in s.bytes().filter(|c| *c != b'-' && *c != b':') {
        let v = (c as char).to_digit(16)? as u8;
        let byte = out.get_mut(n / 2)?;
        *byte = (*byte << 4) | v;
        n += 1;
    }
    (n == 16).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_separators() {
        assert_eq!(decode("DD 00:0a").unwrap(), vec![0xdd, 0x00, 0x0a]);
        assert_eq!(encode(&[0xde, 0xad]), "dead");
        assert_eq!(decode("abc"), Err(HexError::OddLength));
        assert!(matches!(decode("zz"), Err(HexError::BadChar('z', 0))));
        let e = parse_eui("90-B3-D5-1F-30-01-00-00").unwrap();
        assert_eq!(eui(&e), "90b3d51f30010000");
        assert_eq!(eui_duis(&e), "90-B3-D5-1F-30-01-00-00");
        assert_eq!(parse_eui("90-B3"), None);
        assert_eq!(parse_eui("90b3d51f30010000"), Some(e));
        assert_eq!(parse_eui("90:b3:d5:1f:30:01:00:00"), Some(e));
        for bad in [
            "90-B3-D5-1F-30-01-00-00-11",
            "90-B3-D5-1F-30-01-00-0",
            "90 B3 D5 1F 30 01 00 00",
            "9G-B3-D5-1F-30-01-00-00",
            "90-B3-D5-1F-30-01-00-0é",
            "",
        ] {
            assert_eq!(parse_eui(bad), None, "{bad}");
        }
    }

    #[test]
    fn duis_form_matches_the_formatter_for_every_byte() {
        for b in 0..=255u8 {
            let e = [b, 0, 0xFF, b, 1, 0x10, b.wrapping_add(7), b];
            let expected: Vec<String> = e.iter().map(|x| format!("{x:02X}")).collect();
            assert_eq!(eui_duis(&e), expected.join("-"));
            assert_eq!(EuiText::new(&e).to_string(), expected.join("-"));
            assert_eq!(parse_eui(&eui_duis(&e)), Some(e));
        }
    }
}
