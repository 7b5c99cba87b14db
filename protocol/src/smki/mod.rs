//! SMKI certificate and key store (PROTOCOLS.md §4.12, §5.4).
