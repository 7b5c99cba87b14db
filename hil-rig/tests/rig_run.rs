//! The `hil-rig run` machinery without a gateway: rig files that do not check name the
//! field; an adapter ESME in front of the gurux DLMS meter simulator (TCP, HDLC) answers
//! GBCS reads with the simulator's energy register, MAC'd with its own identity; a bridged
//! device gets each command byte for byte and its answer comes back byte for byte; a
//! bridged peer killed mid-command leaves the command unanswered, counts a `closed` error
//! and drops the port's up gauge, and the port is reopened (and counted) when the peer
//! returns; the rig dashboard uses only metrics the rig exports, and `/metrics` serves them.
//!
//! Commands are handed to the rig's [`Responder`] as the SMWAN link would; answers arrive
//! through [`Replies`]. The peers are independent processes: `dlms/meter_sim.py` (gurux) from
//! the shared peers folder, and `tests/py/gbcs_frame_peer.py` for the bridged device.

#![allow(clippy::unwrap_used)]

mod common;
mod peers;

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::SUPPLIER;
use hubgate_hil_rig::link::Frame;
use hubgate_hil_rig::link::rig::{Replies, Responder};
use hubgate_hil_rig::models::obis;
use hubgate_hil_rig::rig::Rig;
use hubgate_hil_rig::rig::config::{DevicePlan, PortAddr, RigConfig};
use hubgate_hil_rig::rig::metrics as rig_metrics;
use hubgate_protocol::crypto::DerivedKeyCache;
use hubgate_protocol::gbcs;
use hubgate_protocol::gbcs::auth::{self, MacVerdict, TEST_ACB};
use hubgate_protocol::gbcs::payload::data::Data;
use hubgate_protocol::gbcs::payload::dlms::Apdu;
use hubgate_protocol::gbcs::payload::{self, Payload};
use hubgate_protocol::smki::Store;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use peers::{Peer, free_port};
use tokio::sync::mpsc::Receiver;

/// The process-wide metrics recorder (installed before any rig metric is touched).
fn recorder() -> &'static PrometheusHandle {
    static H: OnceLock<PrometheusHandle> = OnceLock::new();
    H.get_or_init(|| {
        let h = PrometheusBuilder::new().install_recorder().unwrap();
        rig_metrics::describe();
        h
    })
}

/// The value of the series `name` whose labels include all of `labels`.
fn metric(name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let text = recorder().render();
    text.lines().find_map(|l| {
        let (series, value) = l.rsplit_once(' ')?;
        let (n, rest) = series.split_once('{').unwrap_or((series, "}"));
        if n != name {
            return None;
        }
        let ok = labels
            .iter()
            .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
        ok.then(|| value.parse().ok()).flatten()
    })
}

/// Waits until `metric(name, labels)` is `want`.
fn wait_metric(name: &str, labels: &[(&str, &str)], want: f64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let v = metric(name, labels);
        if v == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name}{labels:?} is {v:?}, expected {want}:\n{}",
            recorder().render()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A rig file for one hub at `hub` with `devices` (TOML `[[hubs.devices]]` tables).
fn rig_toml(work: &Path, hub: &str, devices: &str) -> String {
    format!(
        r#"
keys_out = "{keys}"

[gateway]
address = "127.0.0.1:9"
ca = "ca.pem"
cert = "rig.pem"
key = "rig.key"

[trust]
parties = ["{smki}"]

[[hubs]]
eui = "{hub}"
{devices}
"#,
        keys = work.join("keys").display(),
        smki = common::root().join("smki").display(),
    )
}

/// Starts a rig whose one hub, `hub`, has the `[[hubs.devices]]` tables `devices`, with its
/// keys under `work`; returns the rig and the hub's EUI.
fn start_rig(work: &Path, hub: &str, devices: &str) -> (Rig, [u8; 8]) {
    let config = RigConfig::parse(&rig_toml(work, hub, devices), "rig.toml").unwrap();
    let rig = Rig::start(&config).unwrap();
    (rig, hubgate_protocol::hex::parse_eui(hub).unwrap())
}

/// A MAC'd ECS17a-coded read of the ESME's import energy register (class 3 attribute 2),
/// as the ACB wraps commands for the device's KA certificate in `store`.
fn read_import_register(store: &Store, device: [u8; 8], counter: u64) -> Vec<u8> {
    common::mac_command_in(
        store,
        &TEST_ACB,
        &common::command_header(SUPPLIER, device, counter, 0x0026),
        &common::get_request(counter, 3, obis::IMPORT_ENERGY, 2),
    )
}

/// Hands `read_import_register` for `esme` to the rig and waits for the answer: it comes
/// from `hub`'s ESME with the command's counter, its MAC checks, and it is an access
/// response carrying `want`. Returns the answer's recipient.
fn read_through_rig(
    (rig, replies, rx): (&Rig, &Replies, &mut Receiver<Frame>),
    store: &Store,
    (hub, esme): ([u8; 8], [u8; 8]),
    counter: u64,
    want: Data<'_>,
) -> [u8; 8] {
    let cmd = read_import_register(store, esme, counter);
    assert!(
        rig.command(hub, esme, &cmd, replies).is_empty(),
        "answered later"
    );
    let Some(Frame::FromHub { hub: from, bytes }) = next_answer(rx, Duration::from_secs(15)) else {
        panic!("no answer:\n{}", recorder().render())
    };
    assert_eq!(from, hub);
    let msg = gbcs::parse(&bytes).unwrap();
    assert_eq!(msg.header.originator, esme);
    assert_eq!(msg.header.counter, counter);
    // MAC'd with the adapter identity's key (and the supplier's, held in the store).
    let verdict = auth::verify_mac(&msg, store, &TEST_ACB, &DerivedKeyCache::default()).unwrap();
    assert!(matches!(verdict, MacVerdict::Valid { .. }), "{verdict:?}");
    let Payload::Dlms(Apdu::AccessResponse(r)) = payload::decode(msg.content).unwrap() else {
        panic!("not an access response")
    };
    assert_eq!(r.data, vec![want], "{r:?}");
    msg.header.recipient
}

/// What the echoing test peers answer to `command`: its bytes reversed, then `ANSWER`.
fn echoed(command: &[u8]) -> Vec<u8> {
    let mut want: Vec<u8> = command.iter().rev().copied().collect();
    want.extend_from_slice(b"ANSWER");
    want
}

/// The next frame the rig sends towards the gateway, within `within`.
fn next_answer(rx: &mut Receiver<Frame>, within: Duration) -> Option<Frame> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(f) = rx.try_recv() {
            return Some(f);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn rig_file_errors_name_the_field() {
    let work = peers::scratch("rig-config");
    let cases: &[(&str, &str, &str)] = &[
        (
            "[[hubs.devices]]\nslot = \"esme\"\nmode = \"adapter\"\nmeter = { protocol = \"dlms\" }\nport = { serial = \"/dev/null\", bauds = 9600 }",
            "hubs[0].devices[0].port.bauds",
            "unknown field `bauds`",
        ),
        (
            "[[hubs.devices]]\nslot = \"esme\"\nmode = \"telepathy\"",
            "hubs[0].devices[0].mode",
            "unknown variant `telepathy`",
        ),
        (
            "[[hubs.devices]]\nslot = \"esme\"\nmode = \"adapter\"\nport = { tcp = \"127.0.0.1:1\" }",
            "hubs[0].devices[0].meter",
            "required for mode \"adapter\"",
        ),
        (
            "[[hubs.devices]]\nmode = \"bridged\"\neui = \"00db56\"\nport = { tcp = \"127.0.0.1:1\" }",
            "hubs[0].devices[0].eui",
            "is not an EUI",
        ),
        (
            "[[hubs.devices]]\nmode = \"bridged\"\neui = \"00db5600000000a0\"\nport = { tcp = \"localhost\" }",
            "hubs[0].devices[0].port.tcp",
            "is not HOST:PORT",
        ),
        (
            "[[hubs.devices]]\nmode = \"bridged\"\neui = \"00db5600000000a0\"\nport = { tcp = \"127.0.0.1:1\", baud = 9600 }",
            "hubs[0].devices[0].port.baud",
            "only for a serial port",
        ),
        (
            "[[hubs.devices]]\nmode = \"bridged\"\neui = \"00db5600000000a0\"\nport = { serial = \"/dev/ttyS0\", data_bits = 9 }",
            "hubs[0].devices[0].port.data_bits",
            "5, 6, 7 or 8",
        ),
        (
            "[[hubs.devices]]\nmode = \"bridged\"\neui = \"00db560000000001\"\nport = { tcp = \"127.0.0.1:1\" }",
            "hubs[0].devices[0].eui",
            "already used by hubs[0].eui",
        ),
        (
            "[[hubs.devices]]\nslot = \"esme\"\nmode = \"adapter\"\nport = { tcp = \"127.0.0.1:1\" }\nmeter = { protocol = \"dlms\", client_address = 300 }",
            "hubs[0].devices[0].meter.client_address",
            "1 to 127",
        ),
        (
            "[[hubs.devices]]\nslot = \"esme\"\nmode = \"emulated\"\ntimeout_ms = 5",
            "hubs[0].devices[0].timeout_ms",
            "not used by mode \"emulated\"",
        ),
        // CAN ports.
        (
            "[[hubs.devices]]\nmode = \"bridged\"\neui = \"00db5600000000a0\"\nport = { slcan = \"/dev/ttyACM0\" }",
            "hubs[0].devices[0].port.isotp",
            "required for a CAN port",
        ),
        (
            "[[hubs.devices]]\nmode = \"bridged\"\neui = \"00db5600000000a0\"\nport = { slcan = \"/dev/ttyACM0\", bitrate = 33333, isotp = { tx_id = 0x7E0, rx_id = 0x7E8 } }",
            "hubs[0].devices[0].port.bitrate",
            "SLCAN has no bit rate 33333",
        ),
        (
            "[[hubs.devices]]\nmode = \"bridged\"\neui = \"00db5600000000a0\"\nport = { slcan = \"/dev/ttyACM0\", isotp = { tx_id = 0x800, rx_id = 0x7E8 } }",
            "hubs[0].devices[0].port.isotp.tx_id",
            "does not fit 11 bits",
        ),
        (
            "[[hubs.devices]]\nmode = \"bridged\"\neui = \"00db5600000000a0\"\nport = { slcan = \"/dev/ttyACM0\", isotp = { tx_id = 0x7E0, rx_id = 0x7E8, st_min_us = 150 } }",
            "hubs[0].devices[0].port.isotp.st_min_us",
            "steps of 100",
        ),
        (
            "[[hubs.devices]]\nmode = \"bridged\"\neui = \"00db5600000000a0\"\nport = { slcan = \"/dev/ttyACM0\", isotp = { tx_id = 0x7E0, rx_id = 0x7E8, pad = 0 } }",
            "hubs[0].devices[0].port.isotp.pad",
            "unknown field `pad`",
        ),
        (
            "[[hubs.devices]]\nmode = \"bridged\"\neui = \"00db5600000000a0\"\nport = { slcan = \"/dev/ttyACM0\", isotp = { tx_id = 0x7E0, rx_id = 0x7E0 } }",
            "hubs[0].devices[0].port.isotp.rx_id",
            "must differ from tx_id",
        ),
        (
            "[[hubs.devices]]\nmode = \"bridged\"\neui = \"00db5600000000a0\"\nport = { socketcan = \"can0\", bitrate = 500000, isotp = { tx_id = 0x7E0, rx_id = 0x7E8 } }",
            "hubs[0].devices[0].port.bitrate",
            "only for an slcan port",
        ),
        (
            "[[hubs.devices]]\nmode = \"bridged\"\neui = \"00db5600000000a0\"\nport = { tcp = \"127.0.0.1:1\", isotp = { tx_id = 0x7E0, rx_id = 0x7E8 } }",
            "hubs[0].devices[0].port.isotp",
            "only for a CAN port",
        ),
        (
            "[[hubs.devices]]\nmode = \"bridged\"\neui = \"00db5600000000a0\"\nport = { slcan = \"/dev/ttyACM0\", socketcan = \"can0\" }",
            "hubs[0].devices[0].port",
            "give one of tcp, serial, slcan or socketcan, not slcan and socketcan",
        ),
        (
            "[[hubs.devices]]\nslot = \"esme\"\nmode = \"adapter\"\nport = { socketcan = \"can0\", isotp = { tx_id = 0x7E0, rx_id = 0x7E8 } }\nmeter = { protocol = \"dlms\" }",
            "hubs[0].devices[0].port",
            "CAN ports carry bridged devices",
        ),
        // ZigBee meters.
        (
            "[[hubs.devices]]\nslot = \"esme\"\nmode = \"adapter\"\nport = { serial = \"/dev/ttyUSB0\" }\nmeter = { protocol = \"zcl\" }",
            "hubs[0].devices[0].meter.nwk_address",
            "required for protocol \"zcl\"",
        ),
        (
            "[[hubs.devices]]\nslot = \"esme\"\nmode = \"adapter\"\nport = { serial = \"/dev/ttyUSB0\" }\nmeter = { protocol = \"zcl\", nwk_address = 0x1234, client_address = 16 }",
            "hubs[0].devices[0].meter.client_address",
            "not used by protocol \"zcl\"",
        ),
        (
            "[[hubs.devices]]\nslot = \"esme\"\nmode = \"adapter\"\nport = { serial = \"/dev/ttyUSB0\" }\nmeter = { protocol = \"zcl\", nwk_address = 0x1234, endpoint = 0 }",
            "hubs[0].devices[0].meter.endpoint",
            "1 to 240",
        ),
    ];
    for (devices, field, message) in cases {
        let text = rig_toml(&work, "00db560000000000", devices);
        let e = RigConfig::parse(&text, "rig.toml").expect_err(devices);
        assert_eq!(e.field, *field, "{devices}\n{e}");
        assert!(e.message.contains(message), "{devices}\n{e}");
        assert!(
            e.to_string().starts_with(&format!("rig.toml: {field}: ")),
            "{e}"
        );
    }
    // A top-level typo and a syntax error.
    let text = rig_toml(&work, "00db560000000000", "").replace("keys_out", "key_out");
    let e = RigConfig::parse(&text, "rig.toml").unwrap_err();
    assert!(e.message.contains("unknown field `key_out`"), "{e}");
    let e = RigConfig::parse("hubs = [", "rig.toml").unwrap_err();
    assert!(e.message.contains("line 1"), "{e}");
    let e = RigConfig::parse(&rig_toml(&work, "xyz", ""), "rig.toml").unwrap_err();
    assert_eq!(e.field, "hubs[0].eui", "{e}");
    // And a good one.
    let ok = rig_toml(
        &work,
        "00db560000000000",
        "[[hubs.devices]]\nslot = \"esme\"\nmode = \"adapter\"\nport = { serial = \"/dev/ttyUSB0\", baud = 9600, parity = \"even\" }\nmeter = { protocol = \"dlms\" }",
    );
    let c = RigConfig::parse(&ok, "rig.toml").unwrap();
    assert_eq!(c.plan().unwrap()[0].devices.len(), 1);
    // And one with every port kind.
    let ok = rig_toml(
        &work,
        "00db560000000000",
        "[[hubs.devices]]\nslot = \"esme\"\nmode = \"adapter\"\nport = { serial = \"/dev/ttyUSB0\" }\nmeter = { protocol = \"zcl\", nwk_address = 0x1234, endpoint = 1 }\n\
         [[hubs.devices]]\nmode = \"bridged\"\neui = \"00db5600000000a0\"\nport = { slcan = \"/dev/ttyACM0\", bitrate = 250000, isotp = { tx_id = 0x18DA10F1, rx_id = 0x18DAF110, extended = true, padding = 0xCC, block_size = 8, st_min_us = 500 } }\n\
         [[hubs.devices]]\nmode = \"bridged\"\neui = \"00db5600000000a1\"\nport = { socketcan = \"can0\", isotp = { tx_id = 0x7E0, rx_id = 0x7E8 } }\n\
         [[hubs.devices]]\nmode = \"bridged\"\neui = \"00db5600000000a2\"\nport = { tcp = \"127.0.0.1:5000\" }",
    );
    let c = RigConfig::parse(&ok, "rig.toml").unwrap();
    let plan = c.plan().unwrap();
    let names: Vec<String> = plan[0]
        .devices
        .iter()
        .map(|d| match d {
            DevicePlan::Bridged { port, .. } | DevicePlan::Adapter { port, .. } => port.name(),
        })
        .collect();
    assert_eq!(
        names,
        [
            "/dev/ttyUSB0",
            "slcan:/dev/ttyACM0",
            "socketcan:can0",
            "tcp://127.0.0.1:5000"
        ]
    );
    let DevicePlan::Bridged {
        port: PortAddr::Slcan { bitrate, isotp, .. },
        ..
    } = &plan[0].devices[1]
    else {
        panic!("{plan:?}")
    };
    assert_eq!(*bitrate, 250_000);
    assert_eq!(
        (isotp.tx_id, isotp.rx_id, isotp.extended),
        (0x18DA10F1, 0x18DAF110, true)
    );
    assert_eq!((isotp.padding, isotp.block_size), (Some(0xCC), 8));
    assert_eq!(isotp.st_min, Duration::from_micros(500));
    let DevicePlan::Adapter {
        port: PortAddr::Serial(serial),
        ..
    } = &plan[0].devices[0]
    else {
        panic!("{plan:?}")
    };
    assert_eq!(
        serial.settings.baud, 115_200,
        "a ZigBee dongle's default baud rate"
    );
}

/// Starts the gurux meter simulator on TCP `port` (HDLC).
fn meter_sim_tcp(port: u16) -> Option<Peer> {
    let (python, dir) = (peers::python()?, peers::peers_dir()?);
    let mut cmd = Command::new(python);
    cmd.arg(dir.join("dlms/meter_sim.py"))
        .args(["--tcp", &port.to_string()]);
    let mut p = Peer::spawn(cmd);
    p.wait_line("ready", Duration::from_secs(30));
    Some(p)
}

/// The keys folder's device certificates and the conformance parties (with the ACB's and
/// the supplier's private keys).
fn store_with(keys: &Path) -> Store {
    let mut s = Store::load_conformance(&common::root()).unwrap();
    s.load_dir(keys).unwrap();
    s
}

#[test]
fn an_adapter_esme_answers_with_the_dlms_meters_energy_register() {
    recorder();
    let port = free_port();
    let Some(_sim) = meter_sim_tcp(port) else {
        return;
    };
    let work = peers::scratch("rig-adapter");
    let hub = "00db570000000000";
    let esme = [0x00, 0xdb, 0x57, 0, 0, 0, 0, 0x01];
    let (rig, hub_eui) = start_rig(
        &work,
        hub,
        &format!(
            "[[hubs.devices]]\nslot = \"esme\"\nmode = \"adapter\"\nport = {{ tcp = \"127.0.0.1:{port}\" }}\nmeter = {{ protocol = \"dlms\", client_address = 16, server_address = 1 }}\ntimeout_ms = 5000"
        ),
    );
    let store = store_with(&work.join("keys"));
    let (replies, mut rx) = Replies::channel(16);
    let label = format!("tcp://127.0.0.1:{port}");
    wait_metric(rig_metrics::PORT_UP, &[("port", &label)], 1.0);

    for (counter, want) in [(1_000u64, 123_457u32), (1_001, 123_458)] {
        // The simulator's register starts at 123456 and counts every read of it.
        let to = read_through_rig(
            (&rig, &replies, &mut rx),
            &store,
            (hub_eui, esme),
            counter,
            Data::DoubleLongUnsigned(want),
        );
        assert_eq!(to, SUPPLIER);
    }
    wait_metric(
        rig_metrics::PORT_METER_READS_TOTAL,
        &[("port", &label), ("outcome", "ok")],
        2.0,
    );
    assert!(
        metric(
            rig_metrics::PORT_BYTES_TOTAL,
            &[("port", &label), ("direction", "in")]
        )
        .unwrap()
            > 0.0
    );
    assert_eq!(
        metric(
            rig_metrics::HUB_COMMANDS_TOTAL,
            &[("hub", "00db570000000000"), ("mode", "adapter")]
        ),
        Some(2.0)
    );
}

/// Starts the frame peer on `port`.
fn frame_peer(port: u16, silent: bool) -> Option<Peer> {
    let python = peers::python()?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/gbcs_frame_peer.py");
    let mut cmd = Command::new(python);
    cmd.arg(script).args(["--port", &port.to_string()]);
    if silent {
        cmd.arg("--silent");
    }
    let mut p = Peer::spawn(cmd);
    p.wait_line("ready", Duration::from_secs(30));
    Some(p)
}

#[test]
fn a_bridged_device_is_unplugged_mid_command_and_comes_back() {
    recorder();
    let port = free_port();
    let Some(mut peer) = frame_peer(port, true) else {
        return;
    };
    let work = peers::scratch("rig-bridged");
    let hub = "00db580000000000";
    let device = [0x00, 0xdb, 0x58, 0, 0, 0, 0, 0xa0];
    let (rig, hub_eui) = start_rig(
        &work,
        hub,
        &format!(
            "[[hubs.devices]]\nmode = \"bridged\"\neui = \"00db5800000000a0\"\nport = {{ tcp = \"127.0.0.1:{port}\" }}\ntimeout_ms = 20000"
        ),
    );
    let label = format!("tcp://127.0.0.1:{port}");
    let (replies, mut rx) = Replies::channel(16);
    peer.wait_line("connected", Duration::from_secs(10));
    wait_metric(rig_metrics::PORT_UP, &[("port", &label)], 1.0);

    // The peer takes the command (byte for byte) and is killed before it answers.
    let command = b"\xdd\x00\x01\x7e\x0d\x0a\x11\x13 any bytes".to_vec();
    assert!(rig.command(hub_eui, device, &command, &replies).is_empty());
    let line = peer.wait_line("frame", Duration::from_secs(10));
    assert_eq!(
        line,
        format!("frame {}", hubgate_protocol::hex::encode(&command))
    );
    drop(peer);
    wait_metric(
        rig_metrics::PORT_ERRORS_TOTAL,
        &[("port", &label), ("kind", "closed")],
        1.0,
    );
    wait_metric(rig_metrics::PORT_UP, &[("port", &label)], 0.0);
    assert_eq!(
        metric(
            rig_metrics::HUB_UNANSWERED_TOTAL,
            &[("hub", "00db580000000000"), ("reason", "port_error")]
        ),
        Some(1.0)
    );
    assert!(
        next_answer(&mut rx, Duration::from_millis(300)).is_none(),
        "not answered"
    );

    // While the peer is away a command is not answered either, and nothing hangs.
    let started = Instant::now();
    assert!(
        rig.command(hub_eui, device, b"while away", &replies)
            .is_empty()
    );
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "command() never waits"
    );
    wait_metric(
        rig_metrics::HUB_UNANSWERED_TOTAL,
        &[("hub", "00db580000000000"), ("reason", "port_down")],
        1.0,
    );

    // The peer returns: the port is reopened with back-off and answers flow again.
    let mut peer = frame_peer(port, false).unwrap();
    peer.wait_line("connected", Duration::from_secs(15));
    wait_metric(rig_metrics::PORT_RECONNECTS_TOTAL, &[("port", &label)], 1.0);
    wait_metric(rig_metrics::PORT_UP, &[("port", &label)], 1.0);
    let command = b"\xdf\x09second command".to_vec();
    assert!(rig.command(hub_eui, device, &command, &replies).is_empty());
    let Some(Frame::FromHub { hub: from, bytes }) = next_answer(&mut rx, Duration::from_secs(15))
    else {
        panic!("no answer after the port came back")
    };
    assert_eq!(from, hub_eui);
    assert_eq!(bytes, echoed(&command), "the answer comes back untouched");
    assert!(
        metric(
            rig_metrics::PORT_FRAMES_TOTAL,
            &[("port", &label), ("direction", "in")]
        )
        .unwrap()
            >= 1.0
    );
}

/// Every `hubgate_rig_*` name in `expr`, with `_sum`/`_count` folded into the histogram's.
fn rig_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("hubgate_rig_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let name = name
            .strip_suffix("_sum")
            .or_else(|| name.strip_suffix("_count"))
            .unwrap_or(name);
        out.push(name.to_string());
        rest = &tail[end..];
    }
    out
}

#[test]
fn the_rig_dashboard_uses_the_rigs_metrics_and_they_are_served() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards/grafana/hil-rig.json");
    let d: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert!(d["uid"].as_str().is_some_and(|u| !u.is_empty()));
    let mut used = std::collections::BTreeSet::new();
    let mut stack: Vec<&serde_json::Value> = d["panels"].as_array().unwrap().iter().collect();
    while let Some(p) = stack.pop() {
        if let Some(inner) = p["panels"].as_array() {
            stack.extend(inner);
        }
        for t in p["targets"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            let expr = t["expr"].as_str().unwrap();
            let names = rig_names(expr);
            assert!(!names.is_empty(), "{expr}: no rig metric");
            used.extend(names);
        }
    }
    for v in d["templating"]["list"].as_array().unwrap() {
        if v["type"] == "query" {
            used.extend(rig_names(
                v["query"]["query"]
                    .as_str()
                    .or(v["query"].as_str())
                    .unwrap(),
            ));
        }
    }
    let exported: std::collections::BTreeSet<String> =
        rig_metrics::ALL.iter().map(|s| s.to_string()).collect();
    assert!(
        used.is_subset(&exported),
        "not exported: {:?}",
        used.difference(&exported).collect::<Vec<_>>()
    );
    assert_eq!(used, exported, "every exported metric has a panel");

    // The /metrics listener serves what the recorder holds.
    recorder();
    metrics::counter!(rig_metrics::GATEWAY_REGISTRATIONS_TOTAL).increment(0);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let addr = runtime
        .block_on(rig_metrics::serve(
            "127.0.0.1:0".parse().unwrap(),
            recorder().clone(),
        ))
        .unwrap();
    let fetch = |path: &str| {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text
    };
    let served = std::thread::scope(|scope| {
        let h = scope.spawn(|| (fetch("/metrics"), fetch("/other")));
        runtime.block_on(async {
            while !h.is_finished() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        h.join().unwrap()
    });
    assert!(served.0.starts_with("HTTP/1.1 200"), "{}", served.0);
    assert!(
        served.0.contains(rig_metrics::GATEWAY_REGISTRATIONS_TOTAL),
        "{}",
        served.0
    );
    assert!(served.1.starts_with("HTTP/1.1 404"), "{}", served.1);
}

#[test]
fn a_socketcan_port_on_a_kernel_without_can_fails_at_start_in_plain_words() {
    if Path::new("/proc/net/can").exists() {
        eprintln!("skipped: this kernel has CAN (the vcan test is in can_peers.rs)");
        return;
    }
    recorder();
    let work = peers::scratch("rig-socketcan");
    let text = rig_toml(
        &work,
        "00db5b0000000000",
        "[[hubs.devices]]\nmode = \"bridged\"\neui = \"00db5b00000000a0\"\nport = { socketcan = \"vcan0\", isotp = { tx_id = 0x7E0, rx_id = 0x7E8 } }",
    );
    let e = Rig::start(&RigConfig::parse(&text, "rig.toml").unwrap()).unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with("hubs[0].devices[0].port.socketcan: this kernel has no CAN support"),
        "{text}"
    );
}

/// Starts `tests/py/gbcs_can_peer.py` (python-can `slcan` + ISO-TP) on `pty`.
fn can_peer(pty: &Path, silent: bool) -> Option<Peer> {
    let python = peers::python()?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/gbcs_can_peer.py");
    let mut cmd = Command::new(python);
    cmd.arg(script).arg(pty);
    if silent {
        cmd.arg("--silent");
    }
    let mut p = Peer::spawn(cmd);
    p.wait_line("ready", Duration::from_secs(30));
    Some(p)
}

/// Points the symbolic link `link` (the rig's adapter path) at `target`.
fn plug(link: &Path, target: &Path) {
    let _ = std::fs::remove_file(link);
    std::os::unix::fs::symlink(target, link).unwrap();
}

/// A GBCS-sized command: the bytes a cooked tty or a careless codec would mangle, repeated.
fn long_command(n: usize) -> Vec<u8> {
    let pattern = b"\xdd\x00\x01\x7e\x0d\x0a\x11\x13\x07\xff";
    (0..n)
        .map(|i| pattern[i % pattern.len()] ^ (i / pattern.len()) as u8)
        .collect()
}

#[test]
fn a_bridged_device_on_slcan_isotp_gets_multi_frame_gbcs_from_python_can_and_is_unplugged() {
    recorder();
    let work = peers::scratch("rig-slcan");
    let (bus1, bus2) = (work.join("bus1"), work.join("bus2"));
    std::fs::create_dir_all(&bus1).unwrap();
    std::fs::create_dir_all(&bus2).unwrap();
    let Some(pair) = peers::PtyPair::start(&bus1) else {
        return;
    };
    let Some(mut peer) = can_peer(&pair.b, false) else {
        return;
    };
    let adapter = work.join("adapter");
    plug(&adapter, &pair.a);
    let hub = "00db5a0000000000";
    let device = [0x00, 0xdb, 0x5a, 0, 0, 0, 0, 0xa0];
    let (rig, hub_eui) = start_rig(
        &work,
        hub,
        &format!(
            "[[hubs.devices]]\nmode = \"bridged\"\neui = \"00db5a00000000a0\"\nport = {{ slcan = \"{}\", bitrate = 500000, isotp = {{ tx_id = 0x7E0, rx_id = 0x7E8, padding = 0xCC, block_size = 4, st_min_us = 1000 }} }}\ntimeout_ms = 20000",
            adapter.display()
        ),
    );
    let label = format!("slcan:{}", adapter.display());
    let (replies, mut rx) = Replies::channel(16);
    wait_metric(rig_metrics::PORT_UP, &[("port", &label)], 1.0);

    // 200 bytes: a first frame and 28 consecutive frames, the last one padded.
    let command = long_command(200);
    assert!(rig.command(hub_eui, device, &command, &replies).is_empty());
    let line = peer.wait_line("frame", Duration::from_secs(15));
    assert_eq!(
        line,
        format!(
            "frame {} frames=29 padded=0xcc",
            hubgate_protocol::hex::encode(&command)
        )
    );
    let Some(Frame::FromHub { hub: from, bytes }) = next_answer(&mut rx, Duration::from_secs(15))
    else {
        panic!("no answer over ISO-TP:\n{}", recorder().render())
    };
    assert_eq!(from, hub_eui);
    assert_eq!(
        bytes,
        echoed(&command),
        "the multi-frame answer comes back byte for byte"
    );

    // Unplugged mid-command: a silent device takes the command, then the adapter goes away.
    drop(peer);
    let mut peer = can_peer(&pair.b, true).unwrap();
    let command = long_command(64);
    assert!(rig.command(hub_eui, device, &command, &replies).is_empty());
    let line = peer.wait_line("frame", Duration::from_secs(15));
    assert!(
        line.starts_with(&format!(
            "frame {} ",
            hubgate_protocol::hex::encode(&command)
        )),
        "{line}"
    );
    drop(peer);
    drop(pair);
    let _ = std::fs::remove_file(&adapter);
    wait_metric(
        rig_metrics::PORT_ERRORS_TOTAL,
        &[("port", &label), ("kind", "closed")],
        1.0,
    );
    wait_metric(rig_metrics::PORT_UP, &[("port", &label)], 0.0);
    assert_eq!(
        metric(
            rig_metrics::HUB_UNANSWERED_TOTAL,
            &[("hub", hub), ("reason", "port_error")]
        ),
        Some(1.0)
    );
    assert!(
        next_answer(&mut rx, Duration::from_millis(300)).is_none(),
        "not answered"
    );

    // Plugged back in (a new PTY behind the same path): reopened, and answers flow again.
    let pair = peers::PtyPair::start(&bus2).unwrap();
    let _peer = can_peer(&pair.b, false).unwrap();
    plug(&adapter, &pair.a);
    wait_metric(rig_metrics::PORT_RECONNECTS_TOTAL, &[("port", &label)], 1.0);
    wait_metric(rig_metrics::PORT_UP, &[("port", &label)], 1.0);
    let command = long_command(31);
    assert!(rig.command(hub_eui, device, &command, &replies).is_empty());
    let Some(Frame::FromHub { bytes, .. }) = next_answer(&mut rx, Duration::from_secs(15)) else {
        panic!("no answer after the adapter came back")
    };
    assert_eq!(bytes, echoed(&command));
}

#[test]
fn an_adapter_esme_reads_a_zigbee_meter_through_our_fake_znp_dongle_built_on_zigpy_znp() {
    recorder();
    let (Some(python), Some(dir)) = (peers::python(), peers::peers_dir()) else {
        return;
    };
    let work = peers::scratch("rig-zcl");
    let link = work.join("znp");
    let mut cmd = Command::new(python);
    cmd.arg(dir.join("zigbee/fake_znp.py"))
        .arg("--link")
        .arg(&link)
        .arg("--emit-report");
    let mut fake = Peer::spawn(cmd);
    fake.wait_line("ready", Duration::from_secs(30));

    let hub = "00db590000000000";
    let esme = [0x00, 0xdb, 0x59, 0, 0, 0, 0, 0x01];
    let (rig, hub_eui) = start_rig(
        &work,
        hub,
        &format!(
            "[[hubs.devices]]\nslot = \"esme\"\nmode = \"adapter\"\nport = {{ serial = \"{}\", baud = 115200 }}\nmeter = {{ protocol = \"zcl\", nwk_address = 0x1234, endpoint = 1 }}\ntimeout_ms = 2000",
            link.display()
        ),
    );
    let store = store_with(&work.join("keys"));
    let (replies, mut rx) = Replies::channel(16);
    let label = link.display().to_string();
    wait_metric(rig_metrics::PORT_UP, &[("port", &label)], 1.0);

    // The fake pushes one Metering report (CurrentSummationDelivered = 123456789, zigpy's
    // encoding) half a second after SYS.Ping, and refuses AF.DataRequest: the first read
    // waits for the report, the second gets no answer and uses the last values.
    for counter in [2_000u64, 2_001] {
        read_through_rig(
            (&rig, &replies, &mut rx),
            &store,
            (hub_eui, esme),
            counter,
            Data::DoubleLongUnsigned(123_456_789),
        );
    }
    wait_metric(
        rig_metrics::PORT_METER_READS_TOTAL,
        &[("port", &label), ("outcome", "ok")],
        2.0,
    );
}

#[test]
fn the_readme_rig_file_checks() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme.find("```toml\n").unwrap() + "```toml\n".len();
    let text = &readme[start..start + readme[start..].find("```").unwrap()];
    let config = RigConfig::parse(text, "README.md").unwrap();
    let plan = config.plan().unwrap();
    let kinds: Vec<Vec<String>> = plan
        .iter()
        .map(|h| {
            h.devices
                .iter()
                .map(|d| match d {
                    DevicePlan::Bridged { port, .. } => format!("bridged {}", port.name()),
                    DevicePlan::Adapter { port, meter, .. } => {
                        format!("adapter {} {}", meter.protocol.as_str(), port.name())
                    }
                })
                .collect()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            vec![
                "adapter dlms /dev/ttyUSB0",
                "bridged tcp://192.0.2.10:5000",
                "bridged /dev/ttyUSB1",
                "bridged slcan:/dev/ttyACM0",
            ],
            vec![
                "adapter zcl /dev/serial/by-id/usb-Texas_Instruments_CC2652-if00",
                "bridged socketcan:can0",
            ],
        ]
    );
    // A second device on the adapter's serial path is refused.
    let twice = text.replace("slcan = \"/dev/ttyACM0\"", "slcan = \"/dev/ttyUSB1\"");
    let e = RigConfig::parse(&twice, "README.md").unwrap_err();
    assert_eq!(e.field, "hubs[0].devices[4].port", "{e}");
    assert!(e.message.contains("already used by"), "{e}");
}
