//! DLMS/COSEM over HDLC and the TCP wrapper against independent peers.
//!
//! Client side: the rig's [`DlmsMeter`] reads the gurux-dlms meter simulator (shared
//! `dlms/meter_sim.py`) over a PTY, over TCP with HDLC (also addressing it with two- and
//! four-byte server addresses) and over TCP with the wrapper, and the readings must equal
//! what the simulator serves (its energy register counts up by one on every read). One run negotiates a 32-byte HDLC information field, so the simulator
//! segments its answers and the rig acknowledges each segment; another proposes a PDU size
//! the simulator refuses, and the error must name its initiate-error. (The simulator cannot
//! be made to send data blocks: gurux refuses PDU sizes under 64 bytes, none of its objects
//! is that long, and its object list raises inside gurux-dlms 1.0.203. The client's block
//! reassembly is therefore run against the rig's own server, whose blocks gurux reads.)
//!
//! Server side: the rig's [`DlmsServer`] is read by the gurux client (shared
//! `dlms/dlms_client.py`) and by the strict dlms-cosem client (shared
//! `dlms/dlms_cosem_client.py`) over TCP with HDLC, over TCP with the wrapper and over a
//! socat PTY pair; the values they print must equal what the rig serves, and they must
//! finish their release (dlms-cosem refuses a malformed RLRE). The HDLC server offers only
//! 32 bytes of information field, so its AARE and RLRE go out in segments acknowledged
//! with RR. A gurux client of our own (`tests/py/dlms_object_list.py`) reads the
//! association object list with a small PDU, which the server must send in blocks; the
//! rig's client then reads the same list from the rig's server (a consistency check of the
//! block reassembly, the format itself being proven by gurux).

// Test harness: a failed step is a failed test.
#![allow(clippy::unwrap_used)]

mod peers;

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hubgate_hil_rig::protocol::gbcs::CosemDateTime;
use hubgate_hil_rig::transport::hdlc::apdu::AttributeRef;
use hubgate_hil_rig::transport::hdlc::client::ClientConfig;
use hubgate_hil_rig::transport::hdlc::server::{
    ServerConfig, TcpFraming, TcpServerHandle, spawn_tcp,
};
use hubgate_hil_rig::transport::hdlc::{
    Address, DlmsLink, DlmsMeter, DlmsServer, FileByteStream, HdlcConfig, HdlcLink, HdlcParams,
    ObjectTable, WrapperLink,
};
use hubgate_hil_rig::transport::{LinkErrorKind, MeterSource, TcpByteStream};
use peers::{Peer, PtyPair, free_port, peers_dir, python, scratch};

const WAIT: Duration = Duration::from_secs(20);

/// Starts the gurux meter simulator on a free TCP port (`extra` after `--tcp PORT`) and
/// connects to it; `None` when the simulator is not installed.
fn meter_sim_tcp(extra: &[&str]) -> Option<(Peer, TcpByteStream)> {
    let port = free_port().to_string();
    let args: Vec<&str> = ["--tcp", &port]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    let sim = meter_sim(&args)?;
    let stream = TcpByteStream::connect(&format!("127.0.0.1:{port}"), WAIT).unwrap();
    Some((sim, stream))
}

/// Starts the gurux meter simulator with `args` and waits for its `ready` line.
fn meter_sim(args: &[&str]) -> Option<Peer> {
    let (py, dir) = (python()?, peers_dir()?);
    let mut cmd = Command::new(py);
    cmd.arg(dir.join("dlms/meter_sim.py"))
        .args(args)
        .stdin(Stdio::null());
    let mut p = Peer::spawn(cmd);
    p.wait_line("ready", WAIT);
    Some(p)
}

/// Runs a client to completion (killed after `WAIT`): exit success, stdout, stderr.
fn run(mut cmd: Command) -> (bool, String, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let to = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let te = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.success();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break false;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, to.join().unwrap(), te.join().unwrap())
}

fn hdlc_client_cfg(params: HdlcParams) -> HdlcConfig {
    HdlcConfig {
        params,
        ..HdlcConfig::default()
    }
}

/// Reads the simulator twice and checks every value against what meter_sim.py serves.
fn check_simulator(link: Box<dyn DlmsLink>, cfg: ClientConfig) {
    let mut meter = DlmsMeter::new(link, cfg);
    let r = meter.read_all().unwrap();
    assert_eq!(r.logical_device_name.as_deref(), Some(&b"GRX0000001"[..]));
    let e = r.energy.unwrap();
    assert_eq!((e.raw, e.scaler, e.unit), (123_457, 0, 30));
    let v = r.voltage.unwrap();
    assert_eq!((v.raw, v.scaler, v.unit), (2304, -1, 35));
    let c = r.clock.unwrap();
    assert_eq!(
        (c.year, c.month, c.day, c.hour, c.minute, c.second),
        (2026, 1, 2, 3, 4, 5)
    );
    // The second read through the MeterSource interface: the register has counted up.
    let m = MeterSource::read(&mut meter).unwrap();
    assert_eq!(m.import_active_energy_wh, Some(123_458));
    assert_eq!(m.voltage_decivolts, Some(2304));
    assert_eq!(m.identifier.as_deref(), Some("GRX0000001"));
    // A missing object is refused by name.
    let err = meter
        .client()
        .get(AttributeRef {
            class_id: 3,
            obis: [1, 0, 99, 8, 0, 255],
            attribute: 2,
        })
        .unwrap_err();
    assert_eq!(err.kind, LinkErrorKind::Protocol, "{err}");
    assert!(err.message.contains("1.0.99.8.0.255"), "{err}");
    // RLRQ/RLRE and DISC/UA.
    meter.close().unwrap();
}

#[test]
fn client_reads_gurux_simulator_over_pty_hdlc() {
    let dir = scratch("dlms-sim-pty");
    let link_path = dir.join("meter");
    let Some(_sim) = meter_sim(&["--pty", link_path.to_str().unwrap()]) else {
        return;
    };
    let stream = FileByteStream::open(&link_path).unwrap();
    let link = HdlcLink::client(Box::new(stream), HdlcConfig::default());
    check_simulator(Box::new(link), ClientConfig::default());
}

#[test]
fn client_reads_gurux_simulator_over_tcp_hdlc() {
    let Some((_sim, stream)) = meter_sim_tcp(&[]) else {
        return;
    };
    let link = HdlcLink::client(Box::new(stream), HdlcConfig::default());
    check_simulator(Box::new(link), ClientConfig::default());
}

#[test]
fn client_reads_gurux_simulator_over_tcp_wrapper() {
    let Some((_sim, stream)) = meter_sim_tcp(&["--wrapper"]) else {
        return;
    };
    let link = WrapperLink::client(Box::new(stream), 16, 1);
    check_simulator(Box::new(link), ClientConfig::default());
}

#[test]
fn client_follows_segments_from_gurux_simulator() {
    let Some((_sim, stream)) = meter_sim_tcp(&[]) else {
        return;
    };
    let params = HdlcParams {
        max_info_tx: 32,
        max_info_rx: 32,
        ..HdlcParams::default()
    };
    let mut link = HdlcLink::client(Box::new(stream), hdlc_client_cfg(params));
    link.open().unwrap();
    assert_eq!(link.negotiated().max_info_rx, 32);
    let mut meter = DlmsMeter::new(Box::new(link), ClientConfig::default());
    // The AARQ (34 bytes with its LLC header) goes out in two segments, the simulator
    // acknowledging the first with RR; the AARE (55 bytes) comes back in 32-byte segments,
    // each acknowledged by the rig with RR.
    let r = meter.read_all().unwrap();
    assert_eq!(r.energy.map(|e| e.raw), Some(123_457));
    assert_eq!(r.logical_device_name.as_deref(), Some(&b"GRX0000001"[..]));
    let c = r.clock.unwrap();
    assert_eq!((c.year, c.month, c.day, c.second), (2026, 1, 2, 5));
    meter.close().unwrap();
}

#[test]
fn client_reads_gurux_simulator_with_two_and_four_byte_server_addresses() {
    for server in [Address::server(1, 17), Address::server(1, 0x3FFF)] {
        let Some((_sim, stream)) = meter_sim_tcp(&[]) else {
            return;
        };
        let cfg = HdlcConfig {
            server,
            ..HdlcConfig::default()
        };
        let mut meter = DlmsMeter::new(
            Box::new(HdlcLink::client(Box::new(stream), cfg)),
            ClientConfig::default(),
        );
        let m = MeterSource::read(&mut meter).unwrap();
        assert_eq!(m.import_active_energy_wh, Some(123_457), "{server:?}");
        meter.close().unwrap();
    }
}

#[test]
fn client_names_the_reason_when_the_simulator_refuses_the_association() {
    let Some((_sim, stream)) = meter_sim_tcp(&["--wrapper"]) else {
        return;
    };
    let link = WrapperLink::client(Box::new(stream), 16, 1);
    // gurux refuses PDU sizes under 64 with initiate-error pdu-size-too-short.
    let cfg = ClientConfig {
        max_receive_pdu: 16,
        ..ClientConfig::default()
    };
    let mut meter = DlmsMeter::new(Box::new(link), cfg);
    let err = MeterSource::read(&mut meter).unwrap_err();
    assert_eq!(err.kind, LinkErrorKind::Protocol, "{err}");
    assert!(err.message.contains("pdu-size-too-short"), "{err}");
}

#[test]
fn client_reports_a_dead_stream_as_closed_and_silence_as_timeout() {
    // A listener that accepts and says nothing, then one that closes at once.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let silent = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        std::thread::sleep(Duration::from_millis(600));
        drop(s);
    });
    let stream = TcpByteStream::connect(&addr, WAIT).unwrap();
    let cfg = HdlcConfig {
        timeout: Duration::from_millis(200),
        ..HdlcConfig::default()
    };
    let mut link = HdlcLink::client(Box::new(stream), cfg);
    assert_eq!(link.open().unwrap_err().kind, LinkErrorKind::Timeout);
    silent.join().unwrap();
    assert_eq!(link.open().unwrap_err().kind, LinkErrorKind::Closed);
}

// ---- the rig as a meter

const SERVED_LDN: &str = "RIG0000042";

fn served_table() -> Arc<Mutex<ObjectTable>> {
    // 2026-03-04 05:06:07, day of week unspecified, deviation 0, status 0.
    let clock = CosemDateTime::from_bytes(&[0x07, 0xEA, 3, 4, 0xFF, 5, 6, 7, 0, 0, 0, 0]);
    Arc::new(Mutex::new(ObjectTable::lab_meter(
        SERVED_LDN.as_bytes(),
        98_765,
        2317,
        &clock,
    )))
}

fn served_hdlc() -> HdlcConfig {
    HdlcConfig {
        params: HdlcParams {
            max_info_tx: 32,
            max_info_rx: 128,
            ..HdlcParams::default()
        },
        ..HdlcConfig::default()
    }
}

fn server() -> Arc<DlmsServer> {
    Arc::new(DlmsServer::new(served_table(), ServerConfig::default()))
}

/// Runs the shared peers' `script` with `args` to completion.
fn peer_client(script: &str, args: &[&str]) -> Option<(bool, String, String)> {
    let (py, dir) = (python()?, peers_dir()?);
    let mut cmd = Command::new(py);
    cmd.arg(dir.join(script)).args(args);
    Some(run(cmd))
}

fn gurux_client(args: &[&str]) -> Option<(bool, String, String)> {
    peer_client("dlms/dlms_client.py", args)
}

fn cosem_client(args: &[&str]) -> Option<(bool, String, String)> {
    peer_client("dlms/dlms_cosem_client.py", args)
}

/// Serves [`server`] on a free TCP port with `framing`.
fn serve_tcp(framing: TcpFraming) -> TcpServerHandle {
    spawn_tcp(TcpListener::bind("127.0.0.1:0").unwrap(), framing, server()).unwrap()
}

/// What the gurux client must print for the served table.
fn check_gurux(res: (bool, String, String)) {
    let (ok, out, err) = res;
    assert!(ok, "gurux client failed:\n{out}\n{err}");
    assert!(
        out.contains(&format!("logical device name: b'{SERVED_LDN}'")),
        "{out}"
    );
    assert!(
        out.contains("register 1.0.1.8.0.255: 98765 then 98765  scaler=1.0 unit=30"),
        "{out}"
    );
    // gurux applies the scaler in floating point (231.70000000000002).
    let volts: Vec<f64> = out
        .lines()
        .find_map(|l| l.strip_prefix("register 1.0.32.7.0.255: "))
        .map(|rest| {
            rest.split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(volts.len(), 2, "{out}");
    assert!(volts.iter().all(|v| (v - 231.7).abs() < 1e-6), "{out}");
    assert!(out.contains("scaler=0.1 unit=35"), "{out}");
    assert!(out.contains("clock: 03/04/26 05:06:07"), "{out}");
    // Printed only after RLRQ/RLRE (and DISC/UA on HDLC) went through.
    assert!(out.trim_end().ends_with("OK"), "{out}");
}

/// What dlms-cosem must print for the served table; its session ends with the release,
/// and a malformed RLRE would make it fail.
fn check_cosem(kind: &str, res: (bool, String, String)) {
    let (ok, out, err) = res;
    assert!(ok, "dlms-cosem client failed:\n{out}\n{err}");
    let ldn_hex: String = SERVED_LDN.bytes().map(|b| format!("{b:02x}")).collect();
    for line in [
        format!("[{kind}] ldn: raw=090a{ldn_hex} -> b'{SERVED_LDN}'"),
        format!("[{kind}] energy: raw=06000181cd -> 98765"),
        format!("[{kind}] energy_scaler_unit: raw=02020f00161e -> [0, 30]"),
        format!("[{kind}] clock: raw=090c07ea0304ff05060700000000"),
    ] {
        assert!(out.contains(&line), "missing {line:?} in:\n{out}");
    }
    assert!(!err.contains("Traceback"), "{err}");
}

#[test]
fn server_is_read_by_gurux_and_dlms_cosem_over_tcp_hdlc() {
    let h = serve_tcp(TcpFraming::Hdlc(served_hdlc()));
    let ep = h.addr.to_string();
    let Some(g) = gurux_client(&["--tcp", &ep]) else {
        return;
    };
    check_gurux(g);
    check_cosem("hdlc/tcp", cosem_client(&["tcp-hdlc", &ep]).unwrap());
}

#[test]
fn server_is_read_by_gurux_and_dlms_cosem_over_tcp_wrapper() {
    let h = serve_tcp(TcpFraming::Wrapper(1));
    let ep = h.addr.to_string();
    let Some(g) = gurux_client(&["--tcp", &ep, "--wrapper"]) else {
        return;
    };
    check_gurux(g);
    check_cosem("wrapper/tcp", cosem_client(&["tcp-wrapper", &ep]).unwrap());
}

fn serve_pty(path: &Path, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let stream = FileByteStream::open(path).unwrap();
    let srv = server();
    std::thread::spawn(move || {
        let mut link = HdlcLink::server(Box::new(stream), served_hdlc());
        srv.serve(&mut link, &stop).unwrap();
    })
}

#[test]
fn server_is_read_by_gurux_and_dlms_cosem_over_pty() {
    let dir = scratch("dlms-server-pty");
    let Some(pair) = PtyPair::start(&dir) else {
        return;
    };
    let stop = Arc::new(AtomicBool::new(false));
    let t = serve_pty(&pair.a, Arc::clone(&stop));
    let b = pair.b.to_str().unwrap();
    let g = gurux_client(&["--serial", b]);
    let c = cosem_client(&["pty", b]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    t.join().unwrap();
    let Some(g) = g else { return };
    check_gurux(g);
    check_cosem("hdlc/pty", c.unwrap());
}

#[test]
fn server_answers_unknown_objects_with_object_undefined() {
    let h = serve_tcp(TcpFraming::Hdlc(served_hdlc()));
    let ep = h.addr.to_string();
    let Some((ok, out, err)) = cosem_client(&["tcp-hdlc", &ep, "1.0.99.8.0.255"]) else {
        return;
    };
    assert!(!ok, "reading an unknown register must fail:\n{out}");
    let all = format!("{out}\n{err}");
    assert!(all.contains("OBJECT_UNDEFINED"), "{all}");
}

#[test]
fn server_sends_the_object_list_in_blocks_to_gurux() {
    let Some(py) = python() else { return };
    let h = serve_tcp(TcpFraming::Hdlc(served_hdlc()));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/dlms_object_list.py");
    let mut cmd = Command::new(py);
    cmd.arg(script).arg(h.addr.to_string()).arg("64");
    let (ok, out, err) = run(cmd);
    assert!(ok, "gurux object list client failed:\n{out}\n{err}");
    // gurux decoded the UA parameter block: the rig sends at most 32 bytes, receives 128.
    assert!(
        out.contains("ua client_tx 128 client_rx 32 window_tx 1 window_rx 1"),
        "{out}"
    );
    for (class, obis) in [
        (1, "0.0.42.0.0.255"),
        (3, "1.0.1.8.0.255"),
        (3, "1.0.32.7.0.255"),
        (8, "0.0.1.0.0.255"),
        (15, "0.0.40.0.0.255"),
    ] {
        assert!(out.contains(&format!("object {class} {obis}")), "{out}");
    }
    // More exchanges than one request per service: block continuations happened.
    let cont: u32 = out
        .lines()
        .find_map(|l| l.split("continuations ").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .unwrap();
    assert!(cont >= 2, "{out}");
    assert!(out.trim_end().ends_with("OK"), "{out}");
}

#[test]
fn client_reassembles_blocks_from_the_rig_server() {
    let h = serve_tcp(TcpFraming::Hdlc(served_hdlc()));
    let stream = TcpByteStream::connect(&h.addr.to_string(), WAIT).unwrap();
    let link = HdlcLink::client(Box::new(stream), HdlcConfig::default());
    let cfg = ClientConfig {
        max_receive_pdu: 64,
        ..ClientConfig::default()
    };
    let mut meter = DlmsMeter::new(Box::new(link), cfg);
    let m = MeterSource::read(&mut meter).unwrap();
    assert_eq!(m.import_active_energy_wh, Some(98_765));
    assert_eq!(m.voltage_decivolts, Some(2317));
    assert_eq!(m.identifier.as_deref(), Some(SERVED_LDN));
    let list = meter
        .client()
        .get(AttributeRef {
            class_id: 15,
            obis: [0, 0, 40, 0, 0, 255],
            attribute: 2,
        })
        .unwrap();
    assert!(list.encode().len() > 64);
    assert_eq!(list.as_array().map(<[_]>::len), Some(5));
    meter.close().unwrap();
}
