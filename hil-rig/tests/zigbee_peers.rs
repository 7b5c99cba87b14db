//! The ZigBee dongle transports against independent peers.
//!
//! - ZCL: the rig's encodings equal zigpy's for every shared vector
//!   (`zigbee/zcl_vectors.json`) and for the frames `tests/py/zigbee_zcl_oracle.py` encodes
//!   with zigpy at test time (general commands on Basic, Time, Metering, Price, Prepayment
//!   and Messaging, most data types, both directions, manufacturer-specific frames, and
//!   cluster commands); and decoding zigpy's bytes gives back the same fields.
//! - ZNP: the host talks to `zigbee/fake_znp.py`, a fake dongle whose every frame is
//!   encoded and parsed by zigpy-znp's MT codec (the answers it chooses are our code).
//! - EZSP/ASH: the host talks to `zigbee/fake_ezsp.py`, a fake NCP whose ASH frames (CRC,
//!   randomisation, stuffing) come from bellows' ASH codec (the answers are our code).
//!
//! Each test skips when the Python environment is missing, and fails under `CI=true`.

#![allow(clippy::unwrap_used)]

mod peers;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use hubgate_hil_rig::transport::zigbee::FileByteStream;
use hubgate_hil_rig::transport::zigbee::ezsp::{EzspLink, FrameFormat, frame_id};
use hubgate_hil_rig::transport::zigbee::zcl::{
    AttributeRecord, ClusterCommand, DataType, Direction, DisplayMessage, GeneralCommand,
    PublishPrice, PublishPriceExtension, ReadAttributeStatus, ReportingConfig, ReportingFailure,
    WriteAttributeFailure, ZclFrame, ZclPayload, ZclValue, cluster, metering, status,
};
use hubgate_hil_rig::transport::zigbee::znp::{MtType, ZnpLink, subsystem};
use hubgate_hil_rig::transport::{Link, LinkErrorKind};
use peers::{Peer, peers_dir, python, scratch};

const T0: u32 = 0x2F3A_1B00;

fn hex(s: &str) -> Vec<u8> {
    hubgate_protocol::hex::decode(s).unwrap()
}

fn s2c(tsn: u8, c: GeneralCommand) -> ZclFrame {
    ZclFrame::general(tsn, Direction::ServerToClient, c)
}

fn c2s(tsn: u8, c: GeneralCommand) -> ZclFrame {
    ZclFrame::general(tsn, Direction::ClientToServer, c)
}

fn ok(id: u16, value: ZclValue) -> ReadAttributeStatus {
    ReadAttributeStatus {
        id,
        status: status::SUCCESS,
        value: Some(value),
    }
}

fn failed(id: u16, st: u8) -> ReadAttributeStatus {
    ReadAttributeStatus {
        id,
        status: st,
        value: None,
    }
}

fn rec(id: u16, value: ZclValue) -> AttributeRecord {
    AttributeRecord { id, value }
}

fn bytes(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// Encodes each frame, compares with the peer's bytes, then decodes the peer's bytes and
/// compares fields. Returns the mismatches.
fn compare(expected: &[(&str, u16, ZclFrame)], peer: &BTreeMap<String, String>) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, cl, frame) in expected {
        let Some(theirs) = peer.get(*name) else {
            problems.push(format!("{name}: the peer produced no frame"));
            continue;
        };
        let ours = frame.encode().unwrap();
        if hubgate_protocol::hex::encode(&ours) != *theirs {
            problems.push(format!(
                "{name}: rig encodes {}, peer {theirs}",
                hubgate_protocol::hex::encode(&ours)
            ));
        }
        match ZclFrame::decode(*cl, &hex(theirs)) {
            Ok(decoded) if decoded == *frame => {}
            Ok(decoded) => {
                problems.push(format!("{name}: decoded {decoded:?}, expected {frame:?}"))
            }
            Err(e) => problems.push(format!("{name}: decoding the peer's bytes failed: {e}")),
        }
    }
    for name in peer.keys() {
        if !expected.iter().any(|(n, _, _)| n == name) {
            problems.push(format!(
                "{name}: the peer has a vector the test does not check"
            ));
        }
    }
    problems
}

fn shared_vector_frames() -> Vec<(&'static str, u16, ZclFrame)> {
    use GeneralCommand as G;
    vec![
        (
            "metering_read_attributes",
            cluster::METERING,
            c2s(
                0x11,
                G::ReadAttributes(vec![0x0000, 0x0300, 0x0301, 0x0302]),
            ),
        ),
        (
            "metering_read_attributes_rsp",
            cluster::METERING,
            s2c(
                0x11,
                G::ReadAttributesResponse(vec![
                    ok(0x0000, ZclValue::uint48(123_456_789)),
                    ok(0x0300, ZclValue::Enum8(0)),
                    ok(0x0301, ZclValue::Uint(3, 1)),
                    failed(0x0302, status::UNSUPPORTED_ATTRIBUTE),
                ]),
            ),
        ),
        (
            "metering_report_current_summ_delivered",
            cluster::METERING,
            s2c(
                0x42,
                G::ReportAttributes(vec![rec(
                    metering::CURRENT_SUMMATION_DELIVERED,
                    ZclValue::uint48(123_456_789),
                )]),
            ),
        ),
        (
            "metering_configure_reporting",
            cluster::METERING,
            c2s(
                0x12,
                G::ConfigureReporting(vec![ReportingConfig::Send {
                    id: 0x0000,
                    data_type: DataType::UINT48,
                    min_interval: 30,
                    max_interval: 900,
                    reportable_change: Some(ZclValue::uint48(10)),
                }]),
            ),
        ),
        (
            "metering_get_profile",
            cluster::METERING,
            ZclFrame::cluster(
                0x13,
                ClusterCommand::GetProfile {
                    interval_channel: 0,
                    end_time: 0,
                    number_of_periods: 24,
                },
            ),
        ),
        (
            "price_read_attributes",
            cluster::PRICE,
            c2s(0x20, G::ReadAttributes(vec![0x0000, 0x0615])),
        ),
        (
            "prepayment_report_credit_remaining",
            cluster::PREPAYMENT,
            s2c(
                0x21,
                G::ReportAttributes(vec![rec(0x0001, ZclValue::Int(4, -1500))]),
            ),
        ),
    ]
}

#[test]
fn zcl_encodings_equal_the_shared_zigpy_vectors() {
    let Some(dir) = peers_dir() else { return };
    let text = std::fs::read_to_string(dir.join("zigbee/zcl_vectors.json")).unwrap();
    let vectors: BTreeMap<String, String> = serde_json::from_str(&text).unwrap();
    assert_eq!(
        vectors.len(),
        7,
        "the shared vector file changed: {vectors:?}"
    );
    let problems = compare(&shared_vector_frames(), &vectors);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[allow(clippy::too_many_lines)]
fn live_frames() -> Vec<(&'static str, u16, ZclFrame)> {
    use ClusterCommand as C;
    use GeneralCommand as G;
    let s = ZclValue::text;
    let common = PublishPrice {
        provider_id: 0x1122_3344,
        rate_label: bytes("Day"),
        issuer_event_id: 7,
        current_time: T0,
        unit_of_measure: 0,
        currency: 826,
        price_trailing_digit_and_tier: 0x31,
        number_of_price_tiers_and_register_tier: 0x21,
        start_time: 0,
        duration_in_minutes: 0xFFFF,
        price: 1234,
        extension: None,
        trailing: Vec::new(),
    };
    let types = vec![
        ZclValue::Bool(Some(true)),
        ZclValue::Bool(Some(false)),
        ZclValue::Data(1, 0xAB),
        ZclValue::Bitmap(2, 0xA55A),
        ZclValue::Bitmap(3, 0x12_3456),
        ZclValue::Bitmap(4, 0x89AB_CDEF),
        ZclValue::Bitmap(6, 0x0000_FFFF_0000),
        ZclValue::Uint(1, 255),
        ZclValue::Uint(2, 65535),
        ZclValue::Uint(3, 0xAB_CDEF),
        ZclValue::Uint(4, 0xFFFF_FFFE),
        ZclValue::Uint(5, 0x01_0203_0405),
        ZclValue::Uint(7, 0x01_0203_0405_0607),
        ZclValue::Uint(8, u64::MAX),
        ZclValue::Int(1, -128),
        ZclValue::Int(2, -2),
        ZclValue::Int(5, -(1 << 39)),
        ZclValue::Int(6, (1 << 47) - 1),
        ZclValue::Int(7, -3),
        ZclValue::Int(8, i64::MIN),
        ZclValue::Enum16(0x0102),
        ZclValue::Single(1.5),
        ZclValue::OctetString(vec![0x00, 0x7E, 0xFF]),
        s("meter"),
        ZclValue::UtcTime(0xFFFF_FFFF),
        ZclValue::ClusterId(0x0702),
        ZclValue::AttributeId(0x0400),
    ];
    let mut type_records: Vec<AttributeRecord> = types
        .into_iter()
        .zip(0x1000u16..)
        .map(|(v, id)| rec(id, v))
        .collect();
    type_records.push(rec(0x1100, ZclValue::IeeeAddress(0x0011_2233_4455_6677)));

    vec![
        // Basic
        (
            "basic_read_attributes",
            cluster::BASIC,
            c2s(
                0x01,
                G::ReadAttributes(vec![0x0004, 0x0005, 0x0006, 0x4000]),
            ),
        ),
        (
            "basic_read_attributes_rsp",
            cluster::BASIC,
            s2c(
                0x01,
                G::ReadAttributesResponse(vec![
                    ok(0x0004, s("HubGate Labs")),
                    ok(0x0005, s("ESME-1")),
                    ok(0x0000, ZclValue::Uint(1, 3)),
                    ok(0x0007, ZclValue::Enum8(1)),
                    failed(0x4000, status::UNSUPPORTED_ATTRIBUTE),
                ]),
            ),
        ),
        (
            "basic_report_data_types",
            cluster::BASIC,
            s2c(0x90, G::ReportAttributes(type_records)),
        ),
        // Time
        (
            "time_read_attributes_rsp",
            cluster::TIME,
            s2c(
                0x02,
                G::ReadAttributesResponse(vec![
                    ok(0x0000, ZclValue::UtcTime(T0)),
                    ok(0x0001, ZclValue::Bitmap(1, 0x02)),
                    ok(0x0002, ZclValue::Int(4, -3600)),
                    ok(0x0007, ZclValue::Uint(4, u64::from(T0) + 3600)),
                ]),
            ),
        ),
        (
            "time_write_attributes",
            cluster::TIME,
            c2s(
                0x03,
                G::WriteAttributes(vec![
                    rec(0x0000, ZclValue::UtcTime(T0)),
                    rec(0x0002, ZclValue::Int(4, 0)),
                ]),
            ),
        ),
        (
            "time_write_attributes_rsp_ok",
            cluster::TIME,
            s2c(0x03, G::WriteAttributesResponse(vec![])),
        ),
        (
            "time_write_attributes_rsp_failed",
            cluster::TIME,
            s2c(
                0x04,
                G::WriteAttributesResponse(vec![
                    WriteAttributeFailure {
                        status: status::READ_ONLY,
                        id: 0x0000,
                    },
                    WriteAttributeFailure {
                        status: status::UNSUPPORTED_ATTRIBUTE,
                        id: 0x0005,
                    },
                ]),
            ),
        ),
        // Metering, general commands
        (
            "metering_report_several",
            cluster::METERING,
            s2c(
                0x50,
                G::ReportAttributes(vec![
                    rec(
                        metering::CURRENT_SUMMATION_DELIVERED,
                        ZclValue::uint48(123_456_789),
                    ),
                    rec(metering::CURRENT_SUMMATION_RECEIVED, ZclValue::uint48(42)),
                    rec(metering::INSTANTANEOUS_DEMAND, ZclValue::Int(3, -1234)),
                    rec(metering::STATUS, ZclValue::Bitmap(1, 0x81)),
                ]),
            ),
        ),
        (
            "metering_configure_reporting_mixed",
            cluster::METERING,
            c2s(
                0x51,
                G::ConfigureReporting(vec![
                    ReportingConfig::Send {
                        id: metering::INSTANTANEOUS_DEMAND,
                        data_type: DataType::INT24,
                        min_interval: 1,
                        max_interval: 60,
                        reportable_change: Some(ZclValue::Int(3, 5)),
                    },
                    ReportingConfig::Send {
                        id: metering::STATUS,
                        data_type: DataType::BITMAP8,
                        min_interval: 0,
                        max_interval: 3600,
                        reportable_change: None,
                    },
                    ReportingConfig::Receive {
                        id: 0x0000,
                        timeout: 1800,
                    },
                ]),
            ),
        ),
        (
            "metering_configure_reporting_rsp_ok",
            cluster::METERING,
            s2c(0x51, G::ConfigureReportingResponse(vec![])),
        ),
        (
            "metering_configure_reporting_rsp_failed",
            cluster::METERING,
            s2c(
                0x52,
                G::ConfigureReportingResponse(vec![ReportingFailure {
                    status: status::UNREPORTABLE_ATTRIBUTE,
                    direction: 0,
                    id: metering::INSTANTANEOUS_DEMAND,
                }]),
            ),
        ),
        (
            "metering_default_response",
            cluster::METERING,
            s2c(
                0x53,
                G::DefaultResponse {
                    command_id: 0x06,
                    status: status::UNSUP_CLUSTER_COMMAND,
                },
            ),
        ),
        (
            "metering_read_attributes_mfr",
            cluster::METERING,
            c2s(0x54, G::ReadAttributes(vec![0x0000, 0x5000])).with_manufacturer(0x1234),
        ),
        (
            "metering_report_mfr_s2c",
            cluster::METERING,
            s2c(
                0x55,
                G::ReportAttributes(vec![rec(0x5000, ZclValue::Uint(2, 500))]),
            )
            .with_manufacturer(0x1234),
        ),
        (
            "metering_mfr_cluster_command",
            cluster::METERING,
            ZclFrame::cluster(
                0x56,
                C::Raw {
                    command_id: 0x05,
                    payload: vec![0x01, 0x02, 0xFF],
                },
            )
            .with_manufacturer(0x1002),
        ),
        // Metering, cluster commands
        (
            "metering_get_profile_received",
            cluster::METERING,
            ZclFrame::cluster(
                0x57,
                C::GetProfile {
                    interval_channel: 1,
                    end_time: T0,
                    number_of_periods: 48,
                },
            ),
        ),
        (
            "metering_get_profile_response",
            cluster::METERING,
            ZclFrame::cluster(
                0x57,
                C::GetProfileResponse {
                    end_time: T0,
                    status: 0,
                    profile_interval_period: 2,
                    intervals: vec![100, 200, 0xFF_FFFF],
                },
            ),
        ),
        (
            "metering_request_fast_poll_mode",
            cluster::METERING,
            ZclFrame::cluster(
                0x58,
                C::RequestFastPollMode {
                    fast_poll_update_period: 5,
                    duration: 15,
                },
            ),
        ),
        (
            "metering_request_fast_poll_mode_response",
            cluster::METERING,
            ZclFrame::cluster(
                0x58,
                C::RequestFastPollModeResponse {
                    applied_update_period: 5,
                    fast_poll_mode_end_time: T0 + 900,
                },
            ),
        ),
        // Price
        (
            "price_read_attributes_rsp",
            cluster::PRICE,
            s2c(
                0x60,
                G::ReadAttributesResponse(vec![
                    ok(0x0615, ZclValue::Enum8(0)),
                    ok(0x0616, ZclValue::Uint(2, 826)),
                    ok(0x0610, ZclValue::OctetString(bytes("Standard"))),
                    ok(0x0301, ZclValue::Uint(4, 2500)),
                ]),
            ),
        ),
        (
            "price_get_current_price",
            cluster::PRICE,
            ZclFrame::cluster(0x61, C::GetCurrentPrice { command_options: 1 }),
        ),
        (
            "price_publish_price_se11",
            cluster::PRICE,
            ZclFrame::cluster(
                0x62,
                C::PublishPrice(PublishPrice {
                    extension: Some(PublishPriceExtension {
                        price_ratio: 0xFF,
                        generation_price: 0xFFFF_FFFF,
                        generation_price_ratio: 0xFF,
                        alternate_cost_delivered: 0xFFFF_FFFF,
                        alternate_cost_unit: 0xFF,
                        alternate_cost_trailing_digit: 0xFF,
                        number_of_block_thresholds: 0,
                        price_control: 0,
                    }),
                    ..common.clone()
                }),
            ),
        ),
        (
            "price_publish_price_se10",
            cluster::PRICE,
            ZclFrame::cluster(0x63, C::PublishPrice(common)),
        ),
        // Prepayment
        (
            "prepayment_read_attributes_rsp",
            cluster::PREPAYMENT,
            s2c(
                0x70,
                G::ReadAttributesResponse(vec![
                    ok(0x0001, ZclValue::Int(4, -1500)),
                    ok(0x0020, ZclValue::uint48(987_654_321)),
                    ok(0x0003, ZclValue::Bitmap(1, 0x05)),
                    ok(0x0004, ZclValue::UtcTime(T0)),
                    ok(0x0000, ZclValue::Bitmap(2, 0x0102)),
                ]),
            ),
        ),
        (
            "prepayment_configure_reporting",
            cluster::PREPAYMENT,
            c2s(
                0x71,
                G::ConfigureReporting(vec![ReportingConfig::Send {
                    id: 0x0001,
                    data_type: DataType::INT32,
                    min_interval: 10,
                    max_interval: 300,
                    reportable_change: Some(ZclValue::Int(4, 100)),
                }]),
            ),
        ),
        (
            "prepayment_select_emergency_credit",
            cluster::PREPAYMENT,
            ZclFrame::cluster(
                0x72,
                C::SelectAvailableEmergencyCredit {
                    command_issue_date_time: T0,
                    originating_device: 2,
                },
            ),
        ),
        (
            "prepayment_emergency_credit_setup",
            cluster::PREPAYMENT,
            ZclFrame::cluster(
                0x73,
                C::EmergencyCreditSetup {
                    issuer_event_id: 9,
                    start_time: 0,
                    emergency_credit_limit: 500,
                    emergency_credit_threshold: 100,
                },
            ),
        ),
        (
            "prepayment_consumer_top_up",
            cluster::PREPAYMENT,
            ZclFrame::cluster(
                0x74,
                C::ConsumerTopUp {
                    originating_device: 1,
                    top_up_code: bytes("12345678901234567890"),
                },
            ),
        ),
        (
            "prepayment_consumer_top_up_response",
            cluster::PREPAYMENT,
            ZclFrame::cluster(
                0x74,
                C::ConsumerTopUpResponse {
                    result_type: 0,
                    top_up_value: 2000,
                    source_of_top_up: 1,
                    credit_remaining: -250,
                },
            ),
        ),
        // Messaging
        (
            "messaging_display_message",
            cluster::MESSAGING,
            ZclFrame::cluster(
                0x80,
                C::DisplayMessage(DisplayMessage {
                    message_id: 0xDEAD_BEEF,
                    message_control: 0x08,
                    start_time: 0,
                    duration_in_minutes: 60,
                    message: bytes("Credit low"),
                    extended_message_control: Some(0),
                }),
            ),
        ),
        (
            "messaging_cancel_message",
            cluster::MESSAGING,
            ZclFrame::cluster(
                0x81,
                C::CancelMessage {
                    message_id: 0xDEAD_BEEF,
                    message_control: 0,
                },
            ),
        ),
        (
            "messaging_get_last_message",
            cluster::MESSAGING,
            ZclFrame::cluster(0x82, C::GetLastMessage),
        ),
        (
            "messaging_message_confirmation",
            cluster::MESSAGING,
            ZclFrame::cluster(
                0x83,
                C::MessageConfirmation {
                    message_id: 0xDEAD_BEEF,
                    confirmation_time: T0,
                    response: None,
                },
            ),
        ),
        (
            "messaging_message_confirmation_se12",
            cluster::MESSAGING,
            ZclFrame::cluster(
                0x84,
                C::MessageConfirmation {
                    message_id: 1,
                    confirmation_time: T0,
                    response: Some((0x01, bytes("OK"))),
                },
            ),
        ),
        (
            "messaging_read_attributes_unsupported",
            cluster::MESSAGING,
            s2c(
                0x85,
                G::ReadAttributesResponse(vec![failed(0x0000, status::UNSUPPORTED_ATTRIBUTE)]),
            ),
        ),
    ]
}

#[test]
fn zcl_frames_equal_zigpy_live_encodings() {
    let Some(py) = python() else { return };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/zigbee_zcl_oracle.py");
    let out = Command::new(py).arg(&script).output().unwrap();
    assert!(
        out.status.success(),
        "zigpy oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let peer: BTreeMap<String, String> = serde_json::from_slice(&out.stdout).unwrap();
    let expected = live_frames();
    assert!(expected.len() >= 30, "only {} frames", expected.len());
    let problems = compare(&expected, &peer);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Starts one of the shared fake dongles on a fresh PTY link and opens it.
fn start_fake(script: &str, extra: &[&str]) -> Option<(Peer, FileByteStream)> {
    let py = python()?;
    let dir = peers_dir()?;
    let link = scratch("zigbee").join("tty");
    let mut cmd = Command::new(py);
    cmd.arg(dir.join("zigbee").join(script))
        .arg("--link")
        .arg(&link)
        .args(extra);
    let mut peer = Peer::spawn(cmd);
    peer.wait_line("ready", Duration::from_secs(30));
    let stream = FileByteStream::open(&link).unwrap();
    Some((peer, stream))
}

#[test]
fn znp_host_against_our_fake_dongle_built_on_zigpy_znp_frames() {
    let Some((_peer, stream)) = start_fake("fake_znp.py", &["--emit-report"]) else {
        return;
    };
    let t = Duration::from_secs(3);
    let mut znp = ZnpLink::new(stream);

    // SYS.Ping: SYS | AF | ZDO | UTIL, as zigpy-znp's MTCapabilities encode them.
    let caps = znp.ping(t).unwrap();
    assert_eq!(caps, 0x0001 | 0x0008 | 0x0010 | 0x0040);

    let v = znp.version(t).unwrap();
    assert_eq!(
        (v.transport_rev, v.product_id, v.major, v.minor, v.maint),
        (2, 1, 2, 7, 1)
    );
    assert_eq!(v.code_revision, Some(20_250_101));

    // The fake sends the AF.IncomingMsg callback 0.5 s after the Ping.
    let msg = znp.next_incoming_msg(Duration::from_secs(5)).unwrap();
    assert_eq!(
        (msg.cluster_id, msg.src_addr, msg.src_endpoint, msg.lqi),
        (cluster::METERING, 0x1234, 1, 200)
    );
    let zcl = msg.zcl().unwrap();
    assert_eq!(zcl.header.direction, Direction::ServerToClient);
    let ZclPayload::General(GeneralCommand::ReportAttributes(records)) = zcl.payload else {
        panic!("not a Report Attributes: {zcl:?}");
    };
    assert_eq!(
        records,
        [rec(
            metering::CURRENT_SUMMATION_DELIVERED,
            ZclValue::uint48(123_456_789)
        )]
    );

    // A command the dongle does not know comes back as an RPC error.
    let e = znp.startup_from_app(0, t).unwrap_err();
    assert_eq!(e.kind, LinkErrorKind::Protocol, "{e}");
    assert!(e.message.contains("RPC error"), "{e}");

    // The same dongle through the Link interface: frames are `cmd0 cmd1 data`.
    znp.send(&[0x21, 0x01]).unwrap();
    let f = znp.recv(t).unwrap();
    assert_eq!(f, [0x61, 0x01, 0x59, 0x00]);
    let c = hubgate_hil_rig::transport::zigbee::znp::MtCommand::from_link_bytes(&f).unwrap();
    assert_eq!((c.kind, c.subsystem), (MtType::Srsp, subsystem::SYS));
}

#[test]
fn ezsp_host_against_our_fake_ncp_built_on_bellows_ash_frames() {
    let Some((_peer, stream)) = start_fake("fake_ezsp.py", &[]) else {
        return;
    };
    let t = Duration::from_secs(3);
    let mut ezsp = EzspLink::new(stream);

    // RST -> RSTACK, version in the legacy layout (protocol 8), then in the extended one.
    let v = ezsp.connect(t).unwrap();
    assert_eq!((v.protocol, v.stack_type, v.stack_version), (8, 2, 0x6A70));
    assert_eq!(ezsp.format(), FrameFormat::Extended);
    assert_eq!(ezsp.protocol(), Some(8));

    assert_eq!(ezsp.echo(b"meter-hil", t).unwrap(), b"meter-hil");
    ezsp.nop(t).unwrap();

    // The fake NCP answers anything else with invalidCommand.
    let e = ezsp
        .command(
            frame_id::NETWORK_INIT,
            &hubgate_hil_rig::transport::zigbee::ezsp::params::network_init(0),
            t,
        )
        .unwrap_err();
    assert_eq!(e.kind, LinkErrorKind::Protocol, "{e}");
    assert!(e.message.contains("invalidCommand"), "{e}");

    // Through the Link interface: a whole extended-layout EZSP frame (seq 0x40, echo "ab").
    ezsp.send(&[0x40, 0x00, 0x01, 0x81, 0x00, 0x02, b'a', b'b'])
        .unwrap();
    let f = ezsp.recv(t).unwrap();
    assert_eq!(f, [0x40, 0x80, 0x01, 0x81, 0x00, 0x02, b'a', b'b']);

    assert_eq!(ezsp.ash_mut().retransmissions, 0);
}
