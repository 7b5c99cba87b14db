//! GBCS payload (the grouping header's content): DLMS COSEM APDUs, ZigBee GBZ containers and
//! ASN.1 DER structures (PROTOCOLS.md §4.6).
