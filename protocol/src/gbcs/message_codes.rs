//! GBCS message codes → use case names.
