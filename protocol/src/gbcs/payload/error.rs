//! Errors from payload decoding. Every error names the offset (relative to the start of the
//! content slice) and what the decoder expected there.

/// Why a GBCS payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The content is empty.
    #[error("empty payload")]
    Empty,
    /// The input ended before a field was complete.
    #[error("offset {offset}: {what} needs {needed} byte(s) but only {available} remain")]
    Truncated {
        /// Offset where the field starts.
        offset: usize,
        /// The field being read.
        what: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// A value the format does not allow at this position.
    #[error("offset {offset}: {what}: found 0x{found:x}, expected {expected}")]
    Unexpected {
        /// Offset of the value.
        offset: usize,
        /// The field.
        what: &'static str,
        /// What was found.
        found: u64,
        /// What is allowed.
        expected: &'static str,
    },
    /// A length or count that does not fit the bytes that enclose it.
    #[error("offset {offset}: {what}: declared {declared}, expected {expected}")]
    Length {
        /// Offset of the length or count field.
        offset: usize,
        /// The field.
        what: &'static str,
        /// The declared value.
        declared: usize,
        /// What the surrounding structure allows.
        expected: String,
    },
    /// Bytes remain after a complete structure.
    #[error("offset {offset}: {count} trailing byte(s) after {what}")]
    Trailing {
        /// Offset of the first extra byte.
        offset: usize,
        /// Number of extra bytes.
        count: usize,
        /// The structure that was complete.
        what: &'static str,
    },
    /// Nesting deeper than the decoder allows.
    #[error("offset {offset}: nesting deeper than {limit} levels")]
    TooDeep {
        /// Offset of the element that went too deep.
        offset: usize,
        /// The limit.
        limit: usize,
    },
    /// A value that is well delimited but malformed (bad UTF-8, a zero-size element type, …).
    #[error("offset {offset}: {what}: {detail}")]
    Invalid {
        /// Offset of the value.
        offset: usize,
        /// The field.
        what: &'static str,
        /// What is wrong with it.
        detail: &'static str,
    },
}

impl PayloadError {
    /// Offset of the error, relative to the start of the content; `None` for [`Self::Empty`].
    pub fn offset(&self) -> Option<usize> {
        match self {
            PayloadError::Empty => None,
            PayloadError::Truncated { offset, .. }
            | PayloadError::Unexpected { offset, .. }
            | PayloadError::Length { offset, .. }
            | PayloadError::Trailing { offset, .. }
            | PayloadError::TooDeep { offset, .. }
            | PayloadError::Invalid { offset, .. } => Some(*offset),
        }
    }
}
