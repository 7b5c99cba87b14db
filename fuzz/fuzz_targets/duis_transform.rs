//! The DUIS → GBCS transform on arbitrary requests: whatever the reader accepts, the
//! transform never panics for any device type, and every APDU it produces is a GBCS message
//! that parses, carries the message code it claims and, for a non-critical command, is
//! addressed from the ACB or the request's originator.
#![no_main]

use hubgate_protocol::duis::{reader, xml};
use hubgate_protocol::gbcs::{self, SignatureField};
use hubgate_protocol::transform::{self, Context, DeviceType, UtcDateTime};
use libfuzzer_sys::fuzz_target;

const LIMITS: xml::Limits = xml::Limits {
    max_bytes: 1 << 16,
    max_depth: 32,
    max_nodes: 4096,
};

/// The ZAZ1 Access Control Broker.
const ACB: [u8; 8] = [0x90, 0xb3, 0xd5, 0x1f, 0x30, 0x00, 0x00, 0x02];

fuzz_target!(|data: &[u8]| {
    let Ok(request) = reader::parse_request(data, &LIMITS) else {
        return;
    };
    // 2015-01-01T00:00:00Z, the RTDS date.
    let now = UtcDateTime::from_unix(1_420_070_400);
    for device_type in DeviceType::ALL {
        for (twin_element, polyphase, network_operator) in [
            (false, false, false),
            (true, false, false),
            (false, true, false),
            (false, false, true),
        ] {
            let mut ctx = Context::new(device_type, ACB, now);
            ctx.twin_element = twin_element;
            ctx.polyphase = polyphase;
            ctx.network_operator = network_operator;
            ctx.dcc_counter = Some(0x0100_0000_0000);
            ctx.cos_party = Some(([0x90, 0xb3, 0xd5, 0x1f, 0x30, 0x00, 0x00, 0x04], 7));
            let Ok(t) = transform::transform(&request, &ctx) else {
                continue;
            };
            let m = gbcs::parse(t.apdu()).unwrap_or_else(|e| {
                panic!(
                    "{} for {device_type}: the APDU does not parse: {e}",
                    t.use_case
                )
            });
            assert_eq!(
                m.header.other_info.message_code, t.message_code,
                "{}: message code",
                t.use_case
            );
            if t.critical {
                assert_eq!(
                    m.signature,
                    SignatureField::Absent,
                    "{}: a Pre-Command",
                    t.use_case
                );
            }
        }
    }
});
