//! The DUIS XML-DSig profile (PROTOCOLS.md §3).
