//! Canonical XML 1.0, inclusive and exclusive, without comments.
