//! GBCS cryptography on aws-lc-rs (PROTOCOLS.md §4.7–4.9).
