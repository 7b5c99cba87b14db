//! Every decoder the rig runs on bytes from a peer — the SMWAN link's frames, HDLC and its
//! DLMS APDUs, SLCAN lines, the ZigBee stack's ZNP, EZSP, ASH and ZCL frames, A-XDR values —
//! on arbitrary bytes: never panic, and whatever decodes (and has an encoder) encodes again
//! to something that decodes to the same value.
//!
//! The first byte picks the decoder; the rest is its input.
#![no_main]

use hubgate_hil_rig::link;
use hubgate_hil_rig::transport::hdlc::{Frame as HdlcFrame, HdlcParams, apdu, frame};
use hubgate_hil_rig::transport::slcan;
use hubgate_hil_rig::transport::zigbee::ash::{self, AshDecoder, AshFrame};
use hubgate_hil_rig::transport::zigbee::ezsp::{EzspFrame, FrameFormat};
use hubgate_hil_rig::transport::zigbee::zcl::ZclFrame;
use hubgate_hil_rig::transport::zigbee::znp::{AfIncomingMsg, MtCommand, MtDecoder};
use hubgate_hil_rig::value::Value;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, input)) = data.split_first() else {
        return;
    };
    match which % 12 {
        0 => smwan(input),
        1 => hdlc_stream(input),
        2 => hdlc_frame(input),
        3 => dlms_apdu(input),
        4 => slcan_line(input),
        5 => zcl(input),
        6 => znp(input),
        7 => ezsp(input),
        8 => ash_frame(input),
        9 => ash_stream(input),
        10 => {
            // Compared as bytes: a float may be NaN, which is not equal to itself.
            if let Some(v) = Value::decode(input) {
                let wire = v.encode();
                let again = Value::decode(&wire).expect("an encoded A-XDR value decodes");
                assert_eq!(again.encode(), wire, "A-XDR value round trip");
            }
        }
        _ => {
            if let Ok(p) = HdlcParams::decode(input) {
                assert_eq!(HdlcParams::decode(&p.encode()), Ok(p), "HDLC parameters");
            }
        }
    }
});

fn smwan(input: &[u8]) {
    let Ok(f) = link::Frame::decode(input) else {
        return;
    };
    let wire = f.encode().expect("a decoded SMWAN frame encodes");
    let again = link::Frame::decode(&wire[4..]).expect("an encoded SMWAN frame decodes");
    assert_eq!(again, f, "SMWAN frame round trip");
}

fn hdlc_stream(input: &[u8]) {
    let mut buf = input.to_vec();
    // Every call consumes at least a flag, so this ends; the bound is a second guard.
    for _ in 0..=input.len() {
        match frame::take_frame(&mut buf) {
            None => break,
            Some(Ok(f)) => hdlc_round_trip(&f),
            Some(Err(_)) => {}
        }
    }
}

fn hdlc_frame(input: &[u8]) {
    if let Ok(f) = HdlcFrame::decode(input) {
        hdlc_round_trip(&f);
    }
}

fn hdlc_round_trip(f: &HdlcFrame) {
    let Ok(wire) = f.encode() else {
        return;
    };
    let mut buf = wire;
    let again = frame::take_frame(&mut buf).expect("an encoded HDLC frame is complete");
    assert_eq!(again.as_ref(), Ok(f), "HDLC frame round trip");
}

fn dlms_apdu(input: &[u8]) {
    let _ = apdu::decode_aarq(input);
    let _ = apdu::decode_aare(input);
    let _ = apdu::decode_rlrq(input);
    let _ = apdu::decode_rlre(input);
    let _ = apdu::decode_data(input);
    let _ = apdu::confirmed_service_error(input);
    // Compared as bytes: the values may hold a NaN float, which is not equal to itself.
    if let Ok(r) = apdu::GetRequest::decode(input) {
        let wire = r.encode();
        let again = apdu::GetRequest::decode(&wire).expect("an encoded GET request decodes");
        assert_eq!(again.encode(), wire, "GET request round trip");
    }
    if let Ok(r) = apdu::GetResponse::decode(input) {
        let wire = r.encode();
        let again = apdu::GetResponse::decode(&wire).expect("an encoded GET response decodes");
        assert_eq!(again.encode(), wire, "GET response round trip");
    }
}

fn slcan_line(input: &[u8]) {
    let _ = slcan::is_frame_line(input);
    if let Ok(f) = slcan::decode(input) {
        let line = slcan::encode(&f).expect("a decoded SLCAN frame encodes");
        let line = line.strip_suffix(b"\r").unwrap_or(&line);
        assert_eq!(slcan::decode(line).ok(), Some(f), "SLCAN round trip");
    }
}

fn zcl(input: &[u8]) {
    let Some((cluster, bytes)) = input.split_first_chunk::<2>() else {
        return;
    };
    let cluster = u16::from_be_bytes(*cluster);
    // Compared as bytes: a float attribute may hold NaN, which is not equal to itself.
    if let Ok(f) = ZclFrame::decode(cluster, bytes)
        && let Ok(wire) = f.encode()
    {
        let again = ZclFrame::decode(cluster, &wire).expect("an encoded ZCL frame decodes");
        assert_eq!(again.encode().ok(), Some(wire), "ZCL round trip");
    }
}

fn znp(input: &[u8]) {
    if let Ok(m) = AfIncomingMsg::decode(input) {
        let _ = m.zcl();
    }
    if let Ok(c) = MtCommand::from_link_bytes(input) {
        assert_eq!(
            MtCommand::from_link_bytes(&c.to_link_bytes()).ok(),
            Some(c),
            "MT command round trip"
        );
    }
    let mut decoder = MtDecoder::default();
    decoder.push(input);
    for _ in 0..=input.len() {
        match decoder.next_frame() {
            None => break,
            Some(Ok(c)) => {
                if let Ok(frame) = c.encode_frame() {
                    let mut d = MtDecoder::default();
                    d.push(&frame);
                    assert_eq!(d.next_frame().and_then(Result::ok), Some(c), "MT frame");
                }
            }
            Some(Err(_)) => {}
        }
    }
}

fn ezsp(input: &[u8]) {
    for format in [FrameFormat::Legacy, FrameFormat::Extended] {
        if let Ok(f) = EzspFrame::decode(input, format)
            && let Ok(wire) = f.encode(format)
        {
            assert_eq!(
                EzspFrame::decode(&wire, format).ok(),
                Some(f),
                "EZSP {format:?}"
            );
        }
    }
}

fn ash_frame(input: &[u8]) {
    let _ = ash::unstuff(input);
    if let Ok(f) = AshFrame::decode(input) {
        let wire = f.encode();
        let raw = ash::unstuff(wire.strip_suffix(&[ash::FLAG]).unwrap_or(&wire))
            .expect("an encoded ASH frame unstuffs");
        assert_eq!(AshFrame::decode(&raw).ok(), Some(f), "ASH frame round trip");
    }
}

fn ash_stream(input: &[u8]) {
    let mut decoder = AshDecoder::default();
    decoder.push(input);
    while let Some(f) = decoder.next_frame() {
        let Ok(f) = f else { continue };
        let mut d = AshDecoder::default();
        d.push(&f.encode());
        assert_eq!(
            d.next_frame().and_then(Result::ok),
            Some(f),
            "ASH stream round trip"
        );
    }
}
