//! XML Schema simple values as used by the DUIS schema: lexical checks, facets and the
//! value types of the model's leaves.
//!
//! Leaves map to Rust types as follows: `xs:string`/`xs:token` → [`String`], `xs:boolean` →
//! `bool`, the integer types → the matching Rust integer (`xs:integer`,
//! `xs:nonPositiveInteger` → `i64`; `xs:positiveInteger`, `xs:nonNegativeInteger` → `u64`),
//! `xs:decimal` → [`Decimal`], `xs:dateTime`/`xs:date`/`xs:time` → [`DateTime`], [`Date`],
//! [`Time`], `xs:hexBinary`/`xs:base64Binary` → `Vec<u8>`, and enumerations → Rust enums.
//! Restricting facets (ranges, lengths, digits, patterns) are described by [`Facets`] and
//! checked when reading.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use base64::Engine as _;

/// Error for a value that does not match its XML Schema type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

/// `xs:dateTime` value, kept as written (after whitespace collapsing); the lexical form is
/// checked (`[-]YYYY-MM-DDThh:mm:ss[.fff][Z|±hh:mm]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DateTime(String);

/// `xs:date` value, kept as written (`[-]YYYY-MM-DD[Z|±hh:mm]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date(String);

/// `xs:time` value, kept as written (`hh:mm:ss[.fff][Z|±hh:mm]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Time(String);

/// `xs:decimal` value, kept as written (`[+-]digits[.digits]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Decimal(String);

macro_rules! lexical_newtype {
    ($t:ident, $check:ident, $what:literal) => {
        impl $t {
            /// Checks `s` (leading and trailing whitespace removed) and wraps it.
            ///
            /// # Errors
            ///
            /// [`ValueError`] naming what is wrong with the lexical form.
            pub fn new(s: &str) -> Result<Self, ValueError> {
                let s = s.trim_matches(is_xml_space);
                $check(s).map_err(|e| {
                    ValueError(format!(concat!("invalid ", $what, " {:?}: {}"), s, e))
                })?;
                Ok($t(s.to_owned()))
            }

            /// The lexical form.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $t {
            type Err = ValueError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $t::new(s)
            }
        }
    };
}

lexical_newtype!(DateTime, check_date_time, "xs:dateTime");
lexical_newtype!(Date, check_date, "xs:date");
lexical_newtype!(Time, check_time, "xs:time");
lexical_newtype!(Decimal, check_decimal, "xs:decimal");

impl Decimal {
    /// Wraps a literal known to be a valid decimal.
    pub(crate) fn from_trusted(s: &str) -> Decimal {
        Decimal(s.to_owned())
    }

    /// Compares two decimals by value.
    pub fn cmp_value(&self, other: &Decimal) -> Ordering {
        cmp_decimal(&self.0, &other.0)
    }
}

/// Whitespace handling of a simple type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ws {
    /// `xs:string`: the value is taken exactly as written.
    Preserve,
    /// Everything else: leading/trailing whitespace removed, inner runs become one space.
    Collapse,
}

/// Binary encoding of a `Vec<u8>` leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bin {
    /// Not binary.
    None,
    /// `xs:hexBinary` (written in upper case).
    Hex,
    /// `xs:base64Binary` (written without line breaks).
    Base64,
}

/// The restricting facets of a simple type, as declared in the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facets {
    /// Whitespace handling.
    pub ws: Ws,
    /// Binary encoding (for `Vec<u8>` leaves).
    pub bin: Bin,
    /// `minInclusive`.
    pub min_inclusive: Option<&'static str>,
    /// `maxInclusive`.
    pub max_inclusive: Option<&'static str>,
    /// `minExclusive`.
    pub min_exclusive: Option<&'static str>,
    /// `maxExclusive`.
    pub max_exclusive: Option<&'static str>,
    /// `length` (characters, or octets for binary).
    pub length: Option<usize>,
    /// `minLength`.
    pub min_length: Option<usize>,
    /// `maxLength`.
    pub max_length: Option<usize>,
    /// `totalDigits`.
    pub total_digits: Option<usize>,
    /// `fractionDigits`.
    pub fraction_digits: Option<usize>,
    /// `pattern`s (all must match), in XML Schema regular-expression syntax.
    pub patterns: &'static [&'static str],
}

impl Facets {
    /// No restriction, whitespace collapsed.
    pub const NONE: Facets = Facets {
        ws: Ws::Collapse,
        bin: Bin::None,
        min_inclusive: None,
        max_inclusive: None,
        min_exclusive: None,
        max_exclusive: None,
        length: None,
        min_length: None,
        max_length: None,
        total_digits: None,
        fraction_digits: None,
        patterns: &[],
    };
    /// Plain `xs:string`.
    pub const STRING: Facets = Facets {
        ws: Ws::Preserve,
        ..Facets::NONE
    };
    /// Plain `xs:base64Binary`.
    pub const BASE64: Facets = Facets {
        bin: Bin::Base64,
        ..Facets::NONE
    };
    /// Plain `xs:hexBinary`.
    pub const HEX: Facets = Facets {
        bin: Bin::Hex,
        ..Facets::NONE
    };

    /// Applies the whitespace rule to a raw text value.
    pub fn normalise<'a>(&self, raw: &'a str) -> Cow<'a, str> {
        match self.ws {
            Ws::Preserve => Cow::Borrowed(raw),
            Ws::Collapse => collapse(raw),
        }
    }

    /// Checks the length facets against `len` (characters or octets).
    fn check_length(&self, len: usize) -> Result<(), String> {
        if let Some(l) = self.length
            && len != l
        {
            return Err(format!("length is {len}, must be {l}"));
        }
        if let Some(l) = self.min_length
            && len < l
        {
            return Err(format!("length is {len}, must be at least {l}"));
        }
        if let Some(l) = self.max_length
            && len > l
        {
            return Err(format!("length is {len}, must be at most {l}"));
        }
        Ok(())
    }

    /// Checks the patterns against the (normalised) lexical form.
    fn check_patterns(&self, s: &str) -> Result<(), String> {
        for p in self.patterns {
            match pattern::matches(p, s) {
                Ok(true) => {}
                Ok(false) => return Err(format!("does not match the pattern {p}")),
                Err(e) => return Err(format!("bad schema pattern {p}: {e}")),
            }
        }
        Ok(())
    }

    /// Checks range and digit facets against a decimal/integer lexical form.
    fn check_number(&self, s: &str) -> Result<(), String> {
        if let Some(b) = self.min_inclusive
            && cmp_decimal(s, b) == Ordering::Less
        {
            return Err(format!("{s} is below the minimum {b}"));
        }
        if let Some(b) = self.max_inclusive
            && cmp_decimal(s, b) == Ordering::Greater
        {
            return Err(format!("{s} is above the maximum {b}"));
        }
        if let Some(b) = self.min_exclusive
            && cmp_decimal(s, b) != Ordering::Greater
        {
            return Err(format!("{s} must be greater than {b}"));
        }
        if let Some(b) = self.max_exclusive
            && cmp_decimal(s, b) != Ordering::Less
        {
            return Err(format!("{s} must be less than {b}"));
        }
        if self.total_digits.is_some() || self.fraction_digits.is_some() {
            let (_, int, frac) = split_decimal(s);
            let int = int.trim_start_matches('0');
            let frac = frac.trim_end_matches('0');
            if let Some(t) = self.total_digits
                && int.len() + frac.len() > t
            {
                return Err(format!("{s} has more than {t} digits"));
            }
            if let Some(fd) = self.fraction_digits
                && frac.len() > fd
            {
                return Err(format!("{s} has more than {fd} fraction digits"));
            }
        }
        self.check_patterns(s)
    }
}

/// A value that can be an element's text or an attribute value.
pub trait Leaf: Sized {
    /// Parses the raw text (before whitespace processing) and checks `facets`.
    ///
    /// # Errors
    ///
    /// A message saying what is wrong with the value.
    fn parse_leaf(raw: &str, facets: &Facets) -> Result<Self, String>;

    /// The lexical form to write.
    fn lexical(&self, facets: &Facets) -> Cow<'_, str>;
}

impl Leaf for String {
    fn parse_leaf(raw: &str, facets: &Facets) -> Result<Self, String> {
        let s = facets.normalise(raw);
        facets.check_length(s.chars().count())?;
        facets.check_patterns(&s)?;
        Ok(s.into_owned())
    }

    fn lexical(&self, _: &Facets) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}

impl Leaf for bool {
    fn parse_leaf(raw: &str, _: &Facets) -> Result<Self, String> {
        match collapse(raw).as_ref() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            other => Err(format!("{other:?} is not a boolean")),
        }
    }

    fn lexical(&self, _: &Facets) -> Cow<'_, str> {
        Cow::Borrowed(if *self { "true" } else { "false" })
    }
}

macro_rules! int_leaf {
    ($($t:ty),*) => {$(
        impl Leaf for $t {
            fn parse_leaf(raw: &str, facets: &Facets) -> Result<Self, String> {
                let s = collapse(raw);
                check_integer(&s)?;
                let v: $t = s
                    .strip_prefix('+')
                    .unwrap_or(&s)
                    .parse()
                    .map_err(|_| format!("{s} is out of range"))?;
                facets.check_number(&s)?;
                Ok(v)
            }

            fn lexical(&self, _: &Facets) -> Cow<'_, str> {
                Cow::Owned(self.to_string())
            }
        }
    )*};
}

int_leaf!(i8, i16, i32, i64, u8, u16, u32, u64);

impl Leaf for Decimal {
    fn parse_leaf(raw: &str, facets: &Facets) -> Result<Self, String> {
        let d = Decimal::new(&collapse(raw)).map_err(|e| e.0)?;
        facets.check_number(&d.0)?;
        Ok(d)
    }

    fn lexical(&self, _: &Facets) -> Cow<'_, str> {
        Cow::Borrowed(&self.0)
    }
}

macro_rules! temporal_leaf {
    ($($t:ty),*) => {$(
        impl Leaf for $t {
            fn parse_leaf(raw: &str, facets: &Facets) -> Result<Self, String> {
                let v = <$t>::new(&collapse(raw)).map_err(|e| e.0)?;
                facets.check_patterns(&v.0)?;
                Ok(v)
            }

            fn lexical(&self, _: &Facets) -> Cow<'_, str> {
                Cow::Borrowed(&self.0)
            }
        }
    )*};
}

temporal_leaf!(DateTime, Date, Time);

impl Leaf for Vec<u8> {
    fn parse_leaf(raw: &str, facets: &Facets) -> Result<Self, String> {
        let bytes = match facets.bin {
            Bin::Hex => decode_hex(&collapse(raw))?,
            Bin::Base64 | Bin::None => decode_base64(raw)?,
        };
        facets.check_length(bytes.len())?;
        Ok(bytes)
    }

    fn lexical(&self, facets: &Facets) -> Cow<'_, str> {
        match facets.bin {
            Bin::Hex => Cow::Owned(encode_hex_upper(self)),
            Bin::Base64 | Bin::None => {
                Cow::Owned(base64::engine::general_purpose::STANDARD.encode(self))
            }
        }
    }
}

/// An XML Schema enumeration mapped to a Rust enum.
pub trait XsdEnum: Sized + Copy + 'static {
    /// The enumerated lexical values, in schema order.
    const VALUES: &'static [&'static str];
    /// Whether the base type collapses whitespace (anything but `xs:string`).
    const COLLAPSE: bool;
    /// Whether the base type is an integer type (values compare numerically).
    const NUMERIC: bool;

    /// The variant for the exact lexical value `s`.
    fn from_value(s: &str) -> Option<Self>;

    /// The lexical value.
    fn as_str(self) -> &'static str;

    /// Parses a raw text value: whitespace and numeric normalisation per the base type.
    fn parse_value(raw: &str) -> Option<Self> {
        let s = if Self::COLLAPSE {
            collapse(raw)
        } else {
            Cow::Borrowed(raw)
        };
        if let Some(v) = Self::from_value(&s) {
            return Some(v);
        }
        if Self::NUMERIC && check_integer(&s).is_ok() {
            let canon = canonical_integer(&s);
            return Self::from_value(&canon);
        }
        None
    }
}

/// Defines a Rust enum for an XML Schema enumeration, with [`XsdEnum`] and [`Leaf`]; each
/// variant is documented with its value.
macro_rules! xsd_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident (collapse = $collapse:literal, numeric = $numeric:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* #[doc = concat!("`", $value, "`.")] $variant, )+
        }

        impl $crate::duis::model::xsd::XsdEnum for $name {
            const VALUES: &'static [&'static str] = &[$($value),+];
            const COLLAPSE: bool = $collapse;
            const NUMERIC: bool = $numeric;

            fn from_value(s: &str) -> Option<Self> {
                match s {
                    $( $value => Some($name::$variant), )+
                    _ => None,
                }
            }

            fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $value, )+
                }
            }
        }

        impl $name {
            /// The lexical value, as in the schema.
            pub fn as_str(self) -> &'static str {
                <Self as $crate::duis::model::xsd::XsdEnum>::as_str(self)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl $crate::duis::model::xsd::Leaf for $name {
            fn parse_leaf(
                raw: &str,
                _: &$crate::duis::model::xsd::Facets,
            ) -> Result<Self, String> {
                <Self as $crate::duis::model::xsd::XsdEnum>::parse_value(raw).ok_or_else(|| {
                    $crate::duis::model::xsd::enum_error(
                        raw,
                        <Self as $crate::duis::model::xsd::XsdEnum>::VALUES,
                    )
                })
            }

            fn lexical(
                &self,
                _: &$crate::duis::model::xsd::Facets,
            ) -> ::std::borrow::Cow<'_, str> {
                ::std::borrow::Cow::Borrowed(self.as_str())
            }
        }
    };
}

pub(crate) use xsd_enum;

/// The message for a value outside an enumeration.
pub fn enum_error(raw: &str, values: &[&str]) -> String {
    const SHOWN: usize = 12;
    let mut list = values
        .iter()
        .take(SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if values.len() > SHOWN {
        list.push_str(&format!(", … ({} values)", values.len()));
    }
    format!("{raw:?} is not one of {list}")
}

/// XML whitespace (space, tab, CR, LF).
pub fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// XML Schema `collapse`: trims and replaces inner whitespace runs by one space.
pub fn collapse(s: &str) -> Cow<'_, str> {
    let trimmed = s.trim_matches(is_xml_space);
    let needs = trimmed.as_bytes().windows(2).any(|w| {
        matches!(w[0], b' ' | b'\t' | b'\r' | b'\n') && matches!(w[1], b' ' | b'\t' | b'\r' | b'\n')
    }) || trimmed.contains(['\t', '\r', '\n']);
    if !needs {
        return Cow::Borrowed(trimmed);
    }
    let mut out = String::with_capacity(trimmed.len());
    let mut space = false;
    for c in trimmed.chars() {
        if is_xml_space(c) {
            space = true;
        } else {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Upper-case hex.
pub fn encode_hex_upper(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    s
}

/// Strict `xs:hexBinary` decoding (even number of hex digits, either case, nothing else).
pub fn decode_hex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err("hexBinary has an odd number of digits".to_owned());
    }
    s.as_bytes()
        .chunks(2)
        .map(|p| {
            let hi = (p[0] as char).to_digit(16);
            let lo = (p[1] as char).to_digit(16);
            match (hi, lo) {
                (Some(h), Some(l)) => Ok(((h << 4) | l) as u8),
                _ => Err(format!("{s:?} is not hexBinary")),
            }
        })
        .collect()
}

/// `xs:base64Binary` decoding: whitespace anywhere is ignored, padding is required.
pub fn decode_base64(s: &str) -> Result<Vec<u8>, String> {
    let compact: Cow<'_, str> = if s.contains(is_xml_space) {
        Cow::Owned(s.chars().filter(|c| !is_xml_space(*c)).collect())
    } else {
        Cow::Borrowed(s)
    };
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| format!("invalid base64: {e}"))
}

fn check_integer(s: &str) -> Result<(), String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{s:?} is not an integer"));
    }
    Ok(())
}

fn canonical_integer(s: &str) -> String {
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let digits = digits.trim_start_matches('0');
    match (digits.is_empty(), neg) {
        (true, _) => "0".to_owned(),
        (false, true) => format!("-{digits}"),
        (false, false) => digits.to_owned(),
    }
}

fn check_decimal(s: &str) -> Result<(), String> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let digits_ok = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if !digits_ok(int)
        || !frac.is_none_or(digits_ok)
        || (int.is_empty() && frac.is_none_or(str::is_empty))
    {
        return Err("expected [+-]digits[.digits]".to_owned());
    }
    Ok(())
}

/// Splits a decimal lexical form into (negative, integer digits, fraction digits).
fn split_decimal(s: &str) -> (bool, &str, &str) {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    match body.split_once('.') {
        Some((i, f)) => (neg, i, f),
        None => (neg, body, ""),
    }
}

/// Compares two decimal (or integer) lexical forms by value.
pub fn cmp_decimal(a: &str, b: &str) -> Ordering {
    let (an, ai, af) = split_decimal(a);
    let (bn, bi, bf) = split_decimal(b);
    let ai = ai.trim_start_matches('0');
    let bi = bi.trim_start_matches('0');
    let af = af.trim_end_matches('0');
    let bf = bf.trim_end_matches('0');
    let a_zero = ai.is_empty() && af.is_empty();
    let b_zero = bi.is_empty() && bf.is_empty();
    let an = an && !a_zero;
    let bn = bn && !b_zero;
    let magnitude = ai
        .len()
        .cmp(&bi.len())
        .then_with(|| ai.cmp(bi))
        .then_with(|| af.cmp(bf));
    match (an, bn) {
        (false, false) => magnitude,
        (true, true) => magnitude.reverse(),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
    }
}

fn digits(s: &[u8], n: usize) -> Option<u32> {
    if s.len() < n || !s[..n].iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        s[..n]
            .iter()
            .fold(0, |acc, d| acc * 10 + u32::from(d - b'0')),
    )
}

/// Checks `[-]YYYY-MM-DD`, returning the rest of the input.
fn check_date_part(s: &str) -> Result<&str, String> {
    let b = s.strip_prefix('-').unwrap_or(s).as_bytes();
    let year_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if year_len < 4 || (year_len > 4 && b[0] == b'0') {
        return Err("bad year".to_owned());
    }
    let rest = &b[year_len..];
    if rest.len() < 6 || rest[0] != b'-' || rest[3] != b'-' {
        return Err("expected -MM-DD after the year".to_owned());
    }
    let month = digits(&rest[1..], 2).ok_or("bad month")?;
    let day = digits(&rest[4..], 2).ok_or("bad day")?;
    if !(1..=12).contains(&month) {
        return Err(format!("month {month} out of range"));
    }
    let max_day = match month {
        2 => 29,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day == 0 || day > max_day {
        return Err(format!("day {day} out of range"));
    }
    let consumed = s.len() - rest.len() + 6;
    Ok(&s[consumed..])
}

/// Checks `hh:mm:ss[.f+]`, returning the rest of the input.
fn check_time_part(s: &str) -> Result<&str, String> {
    let b = s.as_bytes();
    if b.len() < 8 || b[2] != b':' || b[5] != b':' {
        return Err("expected hh:mm:ss".to_owned());
    }
    let h = digits(b, 2).ok_or("bad hour")?;
    let m = digits(&b[3..], 2).ok_or("bad minute")?;
    let sec = digits(&b[6..], 2).ok_or("bad second")?;
    let mut i = 8;
    let mut frac_nonzero = false;
    if b.get(i) == Some(&b'.') {
        let n = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return Err("empty fraction of a second".to_owned());
        }
        frac_nonzero = b[i + 1..i + 1 + n].iter().any(|&c| c != b'0');
        i += 1 + n;
    }
    let end_of_day = h == 24 && m == 0 && sec == 0 && !frac_nonzero;
    if (h > 23 && !end_of_day) || m > 59 || sec > 59 {
        return Err("time out of range".to_owned());
    }
    Ok(&s[i..])
}

fn check_timezone(s: &str) -> Result<(), String> {
    if s.is_empty() || s == "Z" {
        return Ok(());
    }
    let b = s.as_bytes();
    if b.len() == 6 && matches!(b[0], b'+' | b'-') && b[3] == b':' {
        let h = digits(&b[1..], 2).ok_or("bad timezone hour")?;
        let m = digits(&b[4..], 2).ok_or("bad timezone minute")?;
        if h < 14 && m < 60 || h == 14 && m == 0 {
            return Ok(());
        }
    }
    Err(format!("bad timezone {s:?}"))
}

fn check_date_time(s: &str) -> Result<(), String> {
    let rest = check_date_part(s)?;
    let rest = rest
        .strip_prefix('T')
        .ok_or("expected 'T' between date and time")?;
    check_timezone(check_time_part(rest)?)
}

fn check_date(s: &str) -> Result<(), String> {
    check_timezone(check_date_part(s)?)
}

fn check_time(s: &str) -> Result<(), String> {
    check_timezone(check_time_part(s)?)
}

/// A small XML Schema regular-expression matcher (character classes, groups, alternation
/// and quantifiers), enough for the patterns of the DUIS schema. It compiles to a Thompson
/// automaton and simulates it, so time is linear in the input and there is no recursion
/// over the input.
pub mod pattern {
    use std::collections::HashMap;
    use std::rc::Rc;

    /// Whether all of `input` matches `pattern`.
    ///
    /// # Errors
    ///
    /// A message if the pattern uses syntax this matcher does not support.
    pub fn matches(pattern: &str, input: &str) -> Result<bool, String> {
        // Every request checks the same few dozen schema patterns: each thread keeps the
        // automata it compiled (a bounded number, so arbitrary patterns cannot grow it).
        thread_local! {
            static COMPILED: std::cell::RefCell<HashMap<String, Rc<(Prog, usize)>>> =
                std::cell::RefCell::new(HashMap::new());
        }
        if let Some(hit) = COMPILED.with(|c| c.borrow().get(pattern).cloned()) {
            return Ok(hit.0.run(hit.1, input));
        }
        let (prog, start) = compile(pattern)?;
        let matched = prog.run(start, input);
        COMPILED.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() < MAX_COMPILED {
                c.insert(pattern.to_string(), Rc::new((prog, start)));
            }
        });
        Ok(matched)
    }

    /// Most automata one thread keeps compiled.
    const MAX_COMPILED: usize = 512;

    /// The automaton for `pattern` and its start state.
    fn compile(pattern: &str) -> Result<(Prog, usize), String> {
        let ast = Parser {
            chars: pattern.chars().collect(),
            pos: 0,
        }
        .parse()?;
        let mut prog = Prog { states: Vec::new() };
        let frag = prog.compile(&ast)?;
        let accept = prog.push(State::Accept);
        prog.patch(&frag.outs, accept);
        Ok((prog, frag.start))
    }

    #[derive(Debug, Clone)]
    enum Ast {
        Class(Vec<(char, char)>, bool),
        Any,
        Seq(Vec<Ast>),
        Alt(Vec<Ast>),
        Repeat(Box<Ast>, usize, Option<usize>),
    }

    struct Parser {
        chars: Vec<char>,
        pos: usize,
    }

    impl Parser {
        fn parse(mut self) -> Result<Ast, String> {
            let a = self.alt()?;
            if self.pos != self.chars.len() {
                return Err(format!("unexpected {:?}", self.chars[self.pos]));
            }
            Ok(a)
        }

        fn peek(&self) -> Option<char> {
            self.chars.get(self.pos).copied()
        }

        fn alt(&mut self) -> Result<Ast, String> {
            let mut alts = vec![self.seq()?];
            while self.peek() == Some('|') {
                self.pos += 1;
                alts.push(self.seq()?);
            }
            Ok(if alts.len() == 1 {
                alts.remove(0)
            } else {
                Ast::Alt(alts)
            })
        }

        fn seq(&mut self) -> Result<Ast, String> {
            let mut items = Vec::new();
            while let Some(c) = self.peek() {
                if c == '|' || c == ')' {
                    break;
                }
                let atom = self.atom()?;
                items.push(self.quantified(atom)?);
            }
            Ok(Ast::Seq(items))
        }

        fn number(&mut self) -> Option<usize> {
            let start = self.pos;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
            self.chars[start..self.pos]
                .iter()
                .collect::<String>()
                .parse()
                .ok()
        }

        fn quantified(&mut self, atom: Ast) -> Result<Ast, String> {
            let (min, max) = match self.peek() {
                Some('*') => (0, None),
                Some('+') => (1, None),
                Some('?') => (0, Some(1)),
                Some('{') => {
                    self.pos += 1;
                    let min = self.number().ok_or("bad quantifier")?;
                    let max = if self.peek() == Some(',') {
                        self.pos += 1;
                        if self.peek() == Some('}') {
                            None
                        } else {
                            Some(self.number().ok_or("bad quantifier")?)
                        }
                    } else {
                        Some(min)
                    };
                    if self.peek() != Some('}') {
                        return Err("unclosed quantifier".to_owned());
                    }
                    self.pos += 1;
                    return Ok(Ast::Repeat(Box::new(atom), min, max));
                }
                _ => return Ok(atom),
            };
            self.pos += 1;
            Ok(Ast::Repeat(Box::new(atom), min, max))
        }

        fn escape(&mut self) -> Result<char, String> {
            let c = self.peek().ok_or("dangling escape")?;
            self.pos += 1;
            match c {
                'n' => Ok('\n'),
                'r' => Ok('\r'),
                't' => Ok('\t'),
                '\\' | '|' | '.' | '-' | '^' | '?' | '*' | '+' | '{' | '}' | '(' | ')' | '['
                | ']' => Ok(c),
                other => Err(format!("unsupported escape \\{other}")),
            }
        }

        fn atom(&mut self) -> Result<Ast, String> {
            let c = self.peek().ok_or("unexpected end")?;
            self.pos += 1;
            match c {
                '(' => {
                    let inner = self.alt()?;
                    if self.peek() != Some(')') {
                        return Err("unclosed group".to_owned());
                    }
                    self.pos += 1;
                    Ok(inner)
                }
                '[' => self.class(),
                '.' => Ok(Ast::Any),
                '\\' => {
                    let e = self.escape()?;
                    Ok(Ast::Class(vec![(e, e)], false))
                }
                '*' | '+' | '?' | '{' | '}' | ']' => Err(format!("unexpected {c:?}")),
                _ => Ok(Ast::Class(vec![(c, c)], false)),
            }
        }

        fn class(&mut self) -> Result<Ast, String> {
            let negated = self.peek() == Some('^');
            if negated {
                self.pos += 1;
            }
            let mut ranges = Vec::new();
            loop {
                let c = self.peek().ok_or("unclosed class")?;
                self.pos += 1;
                if c == ']' && !ranges.is_empty() {
                    break;
                }
                let lo = if c == '\\' { self.escape()? } else { c };
                if self.peek() == Some('-')
                    && self.chars.get(self.pos + 1).is_some_and(|&n| n != ']')
                {
                    self.pos += 1;
                    let h = self.peek().ok_or("unclosed class")?;
                    self.pos += 1;
                    let hi = if h == '\\' { self.escape()? } else { h };
                    ranges.push((lo, hi));
                } else {
                    ranges.push((lo, lo));
                }
            }
            Ok(Ast::Class(ranges, negated))
        }
    }

    #[derive(Debug, Clone)]
    enum State {
        Char(Vec<(char, char)>, bool, usize),
        AnyChar(usize),
        Split(usize, usize),
        Jump(usize),
        Accept,
    }

    struct Frag {
        start: usize,
        outs: Vec<usize>,
    }

    struct Prog {
        states: Vec<State>,
    }

    const HOLE: usize = usize::MAX;
    const MAX_STATES: usize = 100_000;

    impl Prog {
        fn push(&mut self, s: State) -> usize {
            self.states.push(s);
            self.states.len() - 1
        }

        fn patch(&mut self, outs: &[usize], target: usize) {
            for &o in outs {
                match &mut self.states[o] {
                    State::Char(_, _, n) | State::AnyChar(n) | State::Jump(n) => *n = target,
                    State::Split(a, b) => {
                        if *a == HOLE {
                            *a = target;
                        } else {
                            *b = target;
                        }
                    }
                    State::Accept => {}
                }
            }
        }

        fn empty(&mut self) -> Frag {
            let j = self.push(State::Jump(HOLE));
            Frag {
                start: j,
                outs: vec![j],
            }
        }

        fn compile(&mut self, ast: &Ast) -> Result<Frag, String> {
            if self.states.len() > MAX_STATES {
                return Err("pattern too large".to_owned());
            }
            Ok(match ast {
                Ast::Class(r, neg) => {
                    let s = self.push(State::Char(r.clone(), *neg, HOLE));
                    Frag {
                        start: s,
                        outs: vec![s],
                    }
                }
                Ast::Any => {
                    let s = self.push(State::AnyChar(HOLE));
                    Frag {
                        start: s,
                        outs: vec![s],
                    }
                }
                Ast::Seq(items) => {
                    let mut frag = self.empty();
                    for item in items {
                        let f = self.compile(item)?;
                        self.patch(&frag.outs, f.start);
                        frag.outs = f.outs;
                    }
                    frag
                }
                Ast::Alt(alts) => {
                    let mut outs = Vec::new();
                    let mut starts = Vec::new();
                    for a in alts {
                        let f = self.compile(a)?;
                        starts.push(f.start);
                        outs.extend(f.outs);
                    }
                    let mut start = starts.pop().ok_or("empty alternation")?;
                    while let Some(s) = starts.pop() {
                        start = self.push(State::Split(s, start));
                    }
                    Frag { start, outs }
                }
                Ast::Repeat(inner, min, max) => {
                    let mut frag = self.empty();
                    for _ in 0..*min {
                        let f = self.compile(inner)?;
                        self.patch(&frag.outs, f.start);
                        frag.outs = f.outs;
                    }
                    match max {
                        None => {
                            let f = self.compile(inner)?;
                            let split = self.push(State::Split(f.start, HOLE));
                            self.patch(&f.outs, split);
                            self.patch(&frag.outs, split);
                            frag.outs = vec![split];
                        }
                        Some(max) => {
                            let mut exits = Vec::new();
                            for _ in *min..*max {
                                let f = self.compile(inner)?;
                                let split = self.push(State::Split(f.start, HOLE));
                                self.patch(&frag.outs, split);
                                exits.push(split);
                                frag.outs = f.outs;
                            }
                            frag.outs.extend(exits);
                        }
                    }
                    frag
                }
            })
        }

        /// Adds `s` and the states reachable from it without input to `set`; `mark[x] ==
        /// generation` records states already added for this step.
        fn add(&self, set: &mut Vec<usize>, mark: &mut [usize], generation: usize, s: usize) {
            let mut stack = vec![s];
            while let Some(s) = stack.pop() {
                if s == HOLE || mark[s] == generation {
                    continue;
                }
                mark[s] = generation;
                match &self.states[s] {
                    State::Split(a, b) => {
                        stack.push(*b);
                        stack.push(*a);
                    }
                    State::Jump(n) => stack.push(*n),
                    _ => set.push(s),
                }
            }
        }

        fn run(&self, start: usize, input: &str) -> bool {
            let mut mark = vec![usize::MAX; self.states.len()];
            let mut current = Vec::new();
            let mut next = Vec::new();
            self.add(&mut current, &mut mark, 0, start);
            for (step, c) in input.chars().enumerate() {
                next.clear();
                for &s in &current {
                    let target = match &self.states[s] {
                        State::Char(ranges, neg, out) => {
                            let inside = ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi);
                            (inside != *neg).then_some(*out)
                        }
                        State::AnyChar(out) => (c != '\n' && c != '\r').then_some(*out),
                        _ => None,
                    };
                    if let Some(t) = target {
                        self.add(&mut next, &mut mark, step + 1, t);
                    }
                }
                if next.is_empty() {
                    return false;
                }
                std::mem::swap(&mut current, &mut next);
            }
            current
                .iter()
                .any(|&s| matches!(self.states[s], State::Accept))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let eui = "[A-Fa-f0-9]{2}(-[A-Fa-f0-9]{2}){7}";
        assert_eq!(pattern::matches(eui, "90-B3-D5-1F-30-01-00-00"), Ok(true));
        assert_eq!(pattern::matches(eui, "90-B3-D5-1F-30-01-00"), Ok(false));
        assert_eq!(pattern::matches("[ -~]+", "Hello"), Ok(true));
        assert_eq!(pattern::matches("[ -~]+", ""), Ok(false));
        assert_eq!(pattern::matches("[0-9]{4}", "12a4"), Ok(false));
        assert_eq!(pattern::matches("(0|[1-9][0-9]{0,2})", "007"), Ok(false));
        assert_eq!(pattern::matches("(0|[1-9][0-9]{0,2})", "700"), Ok(true));
        let list = "(AA,)*AA";
        let long = "AA,".repeat(100_000) + "AA";
        assert_eq!(pattern::matches(list, &long), Ok(true));
    }

    #[test]
    fn a_compiled_pattern_is_reused_with_the_same_answers_and_a_bad_one_is_never_kept() {
        let eui = "[A-Fa-f0-9]{2}(-[A-Fa-f0-9]{2}){7}";
        for _ in 0..3 {
            assert_eq!(pattern::matches(eui, "90-B3-D5-1F-30-01-00-00"), Ok(true));
            assert_eq!(pattern::matches(eui, "90-B3-D5-1F-30-01-00-0G"), Ok(false));
            assert_eq!(pattern::matches(eui, ""), Ok(false));
            assert!(pattern::matches("(unclosed", "x").is_err());
        }
        // More distinct patterns than a thread keeps: each is still matched correctly.
        for n in 0..600 {
            let p = format!("a{{{n}}}");
            assert_eq!(pattern::matches(&p, &"a".repeat(n)), Ok(true), "{p}");
            assert_eq!(pattern::matches(&p, &"a".repeat(n + 1)), Ok(false), "{p}");
        }
    }

    #[test]
    fn numbers_and_facets() {
        let f = Facets {
            min_inclusive: Some("0.5"),
            max_inclusive: Some("2.0"),
            fraction_digits: Some(1),
            ..Facets::NONE
        };
        assert!(Decimal::parse_leaf(" 1.5 ", &f).is_ok());
        assert!(Decimal::parse_leaf("2.05", &f).is_err());
        assert!(Decimal::parse_leaf("0.4", &f).is_err());
        assert!(Decimal::parse_leaf("1.", &f).is_ok());
        assert!(Decimal::parse_leaf(".", &f).is_err());
        assert_eq!(u8::parse_leaf("+007", &Facets::NONE), Ok(7));
        assert!(u8::parse_leaf("256", &Facets::NONE).is_err());
        assert!(i32::parse_leaf("1 2", &Facets::NONE).is_err());
        assert_eq!(cmp_decimal("-0", "0.000"), Ordering::Equal);
        assert_eq!(cmp_decimal("-1.5", "-1.25"), Ordering::Less);
        assert_eq!(cmp_decimal("10", "9.99"), Ordering::Greater);
    }

    #[test]
    fn temporal() {
        assert!(DateTime::new("2030-01-15T00:00:00.00Z").is_ok());
        assert!(DateTime::new("2025-10-30T20:56:25.804+01:00").is_ok());
        assert!(DateTime::new("2025-13-30T20:56:25Z").is_err());
        assert!(DateTime::new("2025-10-30 20:56:25Z").is_err());
        assert!(Date::new("2025-02-29").is_ok());
        assert!(Time::new("24:00:00").is_ok());
        assert!(Time::new("24:00:01").is_err());
    }

    #[test]
    fn binary() {
        let hex = Facets::HEX;
        assert_eq!(Vec::<u8>::parse_leaf(" 8f0A ", &hex), Ok(vec![0x8f, 0x0a]));
        assert_eq!(vec![0x8fu8, 0x0a].lexical(&hex), "8F0A");
        assert!(Vec::<u8>::parse_leaf("8F0", &hex).is_err());
        assert_eq!(
            Vec::<u8>::parse_leaf("3Q\n==", &Facets::BASE64),
            Ok(vec![0xdd])
        );
        assert!(Vec::<u8>::parse_leaf("3Q=", &Facets::BASE64).is_err());
    }

    #[test]
    fn strings() {
        let f = Facets {
            ws: Ws::Preserve,
            max_length: Some(3),
            ..Facets::NONE
        };
        assert_eq!(String::parse_leaf(" ab", &f), Ok(" ab".to_owned()));
        assert!(String::parse_leaf("abcd", &f).is_err());
        assert_eq!(collapse("  a \n\t b  "), "a b");
    }
}
