//! GBCS framing: the general-ciphering MAC wrapper and the general-signing APDU.
