//! The serial transport against an independent peer: pyserial (the shared `peer_invert.py`)
//! on the far end of a socat PTY pair.
//!
//! What these tests prove:
//! * bytes cross unchanged both ways, including those a cooked tty would eat or rewrite
//!   (NUL, ^C, XON/XOFF, CR/LF, ESC, DEL, 0xFF) and every byte value;
//! * a setting the PTY does not apply (even parity, 7 data bits) is refused with a `Setting`
//!   error naming the port and the setting, while 8N1 and 8N2 open;
//! * a port whose device went away fails with `Closed`, and `reopen` finds it again once the
//!   path is back, after which bytes cross again;
//! * `list_ports` and `hil-rig ports` (table and JSON) run on this machine.

#![allow(clippy::unwrap_used)]

mod peers;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use hubgate_hil_rig::transport::serial::{
    Backoff, Parity, SerialPort, SerialSettings, list_ports, reopen,
};
use hubgate_hil_rig::transport::{ByteStream, LinkError, LinkErrorKind};
use peers::{Peer, PtyPair, peers_dir, python, scratch};

fn path_str(p: &Path) -> &str {
    p.to_str().expect("scratch paths are UTF-8")
}

/// Starts `peer_invert.py` on `end` for `exchanges` exchanges.
fn invert_peer(end: &Path, exchanges: u32) -> Option<Peer> {
    let script = peers_dir()?.join("serial/peer_invert.py");
    let mut cmd = Command::new(python()?);
    cmd.arg(script).arg(end).arg(exchanges.to_string());
    let mut peer = Peer::spawn(cmd);
    peer.wait_line("peer: ready", Duration::from_secs(10));
    Some(peer)
}

/// One exchange with the inverting peer: `len + payload` out, `len + !payload` back.
fn exchange(port: &mut SerialPort, payload: &[u8]) -> Result<(), LinkError> {
    let mut out = vec![u8::try_from(payload.len()).expect("short payload")];
    out.extend_from_slice(payload);
    port.write_all(&out)
        .and_then(|()| port.flush())
        .map_err(|e| LinkError::from_io(port.path(), &e))?;
    port.set_read_timeout(Duration::from_secs(5))?;
    let mut back = vec![0u8; out.len()];
    port.read_exact(&mut back)
        .map_err(|e| LinkError::from_io(port.path(), &e))?;
    let inverted: Vec<u8> = payload.iter().map(|b| b ^ 0xFF).collect();
    assert_eq!(back[0] as usize, payload.len());
    assert_eq!(&back[1..], &inverted[..], "the peer saw different bytes");
    Ok(())
}

/// NUL, ^C, XON, XOFF, CR, LF, HDLC flag, 0xFF, ESC, DEL, ^D, ^Z, ^\ and text.
const MANGLED_BY_COOKED_TTY: &[u8] = &[
    0x00, 0x03, 0x11, 0x13, 0x0D, 0x0A, 0x7E, 0xFF, 0x1B, 0x7F, 0x04, 0x1A, 0x1C, b'D', b'L', b'M',
    b'S', 0x0D, 0x0D, 0x0A,
];

#[test]
fn bytes_cross_a_pty_pair_to_pyserial_unchanged() {
    let Some(pair) = PtyPair::start(&scratch("serial-bytes")) else {
        return;
    };
    let Some(mut peer) = invert_peer(&pair.b, 2) else {
        return;
    };
    let mut port = SerialPort::open(path_str(&pair.a), &SerialSettings::default()).unwrap();
    assert_eq!(port.settings().to_string(), "9600 8N1");
    exchange(&mut port, MANGLED_BY_COOKED_TTY).unwrap();
    let every_byte: Vec<u8> = (0..=254u8).collect();
    exchange(&mut port, &every_byte).unwrap();
    peer.wait_line("peer: done", Duration::from_secs(10));
}

#[test]
fn settings_a_pty_cannot_apply_are_refused_naming_port_and_setting() {
    let Some(pair) = PtyPair::start(&scratch("serial-parity")) else {
        return;
    };
    let path = path_str(&pair.a);
    let even = SerialSettings {
        parity: Parity::Even,
        ..SerialSettings::default()
    };
    let e = SerialPort::open(path, &even).unwrap_err();
    assert_eq!(e.kind, LinkErrorKind::Setting, "{e}");
    assert_eq!(
        e.message,
        format!(
            "port {path} did not apply parity Even (reads back None): PTYs and some adapters cannot do parity"
        )
    );
    let seven = SerialSettings {
        data_bits: 7,
        ..SerialSettings::default()
    };
    let e = SerialPort::open(path, &seven).unwrap_err();
    assert_eq!(e.kind, LinkErrorKind::Setting, "{e}");
    assert!(
        e.message.starts_with(&format!(
            "port {path} did not apply data bits 7 (reads back 8)"
        )),
        "{e}"
    );
    // 8N1 and 8N2 are what a PTY does keep (the failed opens released the port).
    drop(SerialPort::open(path, &SerialSettings::default()).unwrap());
    let two_stop = SerialSettings {
        stop_bits: 2,
        baud: 115_200,
        ..SerialSettings::default()
    };
    let port = SerialPort::open(path, &two_stop).unwrap();
    assert_eq!(port.settings().to_string(), "115200 8N2");
}

#[test]
fn a_port_whose_device_went_away_is_closed_and_reopens_when_it_is_back() {
    let dir = scratch("serial-reopen");
    let Some(pair) = PtyPair::start(&dir) else {
        return;
    };
    let path = path_str(&pair.a).to_owned();
    let mut port = SerialPort::open(&path, &SerialSettings::default()).unwrap();
    {
        let Some(_peer) = invert_peer(&pair.b, 1) else {
            return;
        };
        exchange(&mut port, b"before").unwrap();
    }
    // The device goes away: socat (holding both PTY masters) dies.
    drop(pair);
    // socat was killed and could not remove its links; a stale link could point at a PTY
    // number the system hands out again.
    let _ = std::fs::remove_file(dir.join("a"));
    let _ = std::fs::remove_file(dir.join("b"));
    port.set_read_timeout(Duration::from_secs(2)).unwrap();
    let mut buf = [0u8; 8];
    let e = LinkError::from_io(&path, &port.read(&mut buf).unwrap_err());
    assert_eq!(e.kind, LinkErrorKind::Closed, "{e}");

    // Nothing at the path: reopening gives up with Unavailable after its time.
    let started = Instant::now();
    let e = reopen(
        &path,
        &SerialSettings::default(),
        &mut Backoff::new(Duration::from_millis(10), Duration::from_millis(40)),
        Duration::from_millis(200),
    )
    .unwrap_err();
    assert_eq!(e.kind, LinkErrorKind::Unavailable, "{e}");
    assert!(e.message.contains(&path), "{e}");
    assert!(started.elapsed() >= Duration::from_millis(200));

    // The device comes back at the same path while the rig is retrying.
    let back_dir = dir.clone();
    let comeback = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        PtyPair::start(&back_dir)
    });
    port.reopen(
        &mut Backoff::new(Duration::from_millis(20), Duration::from_millis(200)),
        Duration::from_secs(10),
    )
    .unwrap();
    let pair = comeback
        .join()
        .unwrap()
        .expect("socat was there a moment ago");
    let Some(mut peer) = invert_peer(&pair.b, 1) else {
        return;
    };
    exchange(&mut port, b"after the device came back").unwrap();
    peer.wait_line("peer: done", Duration::from_secs(10));
}

#[test]
fn list_ports_and_the_ports_command_run() {
    let ports = list_ports().unwrap();
    for p in &ports {
        assert!(p.name.starts_with("/dev/"), "{p:?}");
    }
    let exe = env!("CARGO_BIN_EXE_hil-rig");
    let out = Command::new(exe).arg("ports").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let table = String::from_utf8(out.stdout).unwrap();
    if ports.is_empty() {
        assert!(table.starts_with("no serial ports"), "{table}");
    } else {
        assert!(table.starts_with("PORT"), "{table}");
        assert_eq!(table.lines().count(), ports.len() + 1, "{table}");
    }
    let out = Command::new(exe)
        .args(["ports", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let listed = json.as_array().expect("a JSON array");
    assert_eq!(listed.len(), ports.len());
    for (j, p) in listed.iter().zip(&ports) {
        assert_eq!(j["name"], p.name.as_str());
        assert_eq!(j["kind"], p.kind.to_string().as_str());
    }
}
