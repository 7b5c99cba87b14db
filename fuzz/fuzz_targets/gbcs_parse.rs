//! GBCS framing and payload decoding on arbitrary bytes: never panics, and whatever parses
//! or decodes re-encodes to the same bytes.
#![no_main]

use hubgate_protocol::gbcs::{self, payload};
use libfuzzer_sys::fuzz_target;

/// Decodes `content` with `ctx` and, when it decodes, checks the byte-for-byte re-encoding
/// that [`payload::Payload::encode`] promises. The encrypted-block scan and the JSON
/// rendering run too.
fn check_payload(content: &[u8], ctx: payload::Context) {
    if let Ok(p) = payload::decode_with(content, ctx) {
        assert_eq!(p.encode(), content, "payload re-encoding differs ({ctx:?})");
        let _ = p.encrypted_blocks();
        let _ = p.to_json();
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = gbcs::parse(data) {
        assert_eq!(m.encode(), data, "message re-encoding differs");
        let _ = m.signed_bytes();
        let _ = m.header.transaction_id();
        check_payload(m.content, payload::Context::for_message(&m));
        check_payload(m.content, payload::Context::default());
    }
    check_payload(data, payload::Context::default());
    check_payload(data, payload::Context::new(gbcs::Cra::Alert));
});
