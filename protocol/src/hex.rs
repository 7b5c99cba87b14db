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
    let mut s = String::with_capacity(23);
    for (i, b) in e.iter().enumerate() {
        if i > 0 {
            s.push('-');
        }
        s.push_str(&format!("{b:02X}"));
    }
    s
}

/// Parses an EUI-64 written as 16 hex digits, optionally separated by `-` or `:`.
pub fn parse_eui(s: &str) -> Option<[u8; 8]> {
    let digits: String = s.chars().filter(|c| *c != '-' && *c != ':').collect();
    if digits.len() != 16 {
        return None;
    }
    let v = decode(&digits).ok()?;
    v.try_into().ok()
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
    }
}
