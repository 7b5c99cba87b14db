//! `hubgate transform` on DUIS templates: the printed hex equals the RTDS file made from the
//! same request, and the independent GBCS oracle (`gbcs_oracle.py`) parses it and verifies
//! its MAC with the RTDS key store.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected errors

use std::path::Path;
use std::process::{Command, Output};

fn transform(args: &[&str], template: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hubgate"))
        .arg("transform")
        .args(args)
        .arg(template)
        .output()
        .unwrap()
}

fn stdout_hex(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .trim()
        .to_owned()
}

/// The oracle's verdict on one message: `(ok, MAC result)`; `None` when Python or its
/// `cryptography` package is not installed.
fn oracle(root: &Path, hex: &str) -> Option<(bool, String)> {
    let script = root.join("../tools/oracle/gbcs_oracle.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(root)
        .arg("--hex")
        .arg(hex)
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some((
        v["ok"].as_bool()?,
        v["verification"]["mac"]["result"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
    ))
}

#[test]
fn transform_prints_the_rtds_command_and_precommand() {
    let root = hubgate_protocol::conformance::require();
    let t = root.join("duis/templates");
    let rtds = |p: &str| {
        std::fs::read_to_string(root.join("gbcs/rtds").join(p))
            .unwrap()
            .trim()
            .to_owned()
    };
    let now = ["--now", "2015-01-01T00:00:00Z"];

    // Non-critical, DLMS: the MAC'd Command (ACB key from the default key store).
    let out = transform(
        &["--device-type", "ESME"],
        &t.join("ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML"),
    );
    let hex = stdout_hex(&out);
    assert_eq!(
        hex,
        rtds("4.1.1_ECS17b/ECS17b_4.1.1_SINGLE_SUCCESS_COMMAND_GBCS.HEX")
    );
    let checked = oracle(&root, &hex);
    if let Some((ok, mac)) = &checked {
        assert!(ok, "the oracle rejects {hex}");
        assert_eq!(mac, "valid");
    }

    // Non-critical, ZigBee: the issuer event ID is the current time.
    let out = transform(
        &["--device-type", "gsme", now[0], now[1]],
        &t.join("GCS07_3.1_SUCCESS_REQUEST_DUIS.XML"),
    );
    let hex = stdout_hex(&out);
    assert_eq!(hex, rtds("3.1_GCS07/GCS07_3.1_SUCCESS_COMMAND_GBCS.HEX"));
    if let Some((ok, mac)) = oracle(&root, &hex) {
        assert!(ok, "the oracle rejects {hex}");
        assert_eq!(mac, "valid");
    }

    // Critical: the Pre-Command; the device type follows from the body.
    let out = transform(
        &[now[0], now[1]],
        &t.join("GCS01a_1.1.1_FUTURE_DATED_BLOCK_SUCCESS_REQUEST_DUIS.XML"),
    );
    let hex = stdout_hex(&out);
    assert_eq!(
        hex,
        rtds("1.1.1_GCS01a/GCS01a_1.1.1_FUTURE_DATED_BLOCK_SUCCESS_PRECOMMAND_GBCS.HEX")
    );
    if let Some((ok, mac)) = oracle(&root, &hex) {
        assert!(ok, "the oracle rejects {hex}");
        assert_eq!(mac, "none");
    }
    // 9.1: the CIN given on the command line; without one, a new one is drawn and named.
    let gcs36 = t.join("GCS36_9.1_SUCCESS_REQUEST_DUIS.XML");
    let acb_args = [
        "--device-type",
        "GSME",
        "--dcc-counter",
        "1300",
        now[0],
        now[1],
    ];
    let out = transform(&[&acb_args[..], &["--cin", "1234"]].concat(), &gcs36);
    assert_eq!(
        stdout_hex(&out),
        rtds("9.1_GCS36/GCS36_9.1_SUCCESS_COMMAND_GBCS.HEX")
    );
    let out = transform(&acb_args, &gcs36);
    let named = String::from_utf8_lossy(&out.stderr).into_owned();
    let drawn = named
        .trim()
        .strip_prefix("hubgate: Customer Identification Number ")
        .unwrap_or_else(|| panic!("{named}"));
    let command = hubgate_protocol::hex::decode(&stdout_hex(&out)).unwrap();
    assert_eq!(
        hubgate_protocol::transform::cin_in_command(&command).as_deref(),
        Some(drawn)
    );
    println!(
        "oracle {}",
        if checked.is_some() {
            "checked the outputs"
        } else {
            "not available (python3 with cryptography): compared with the RTDS files only"
        }
    );
}

#[test]
fn transform_errors_name_the_srv_or_the_option() {
    let root = hubgate_protocol::conformance::require();
    let t = root.join("duis/templates");
    let stderr = |o: &Output| String::from_utf8_lossy(&o.stderr).into_owned();

    // A non-device service.
    let out = transform(&[], &t.join("5.2_READ_SCHEDULE_REQUEST_DUIS.XML"));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("SRV 5.2"), "{}", stderr(&out));

    // An SRV with a different command per device type, and none given.
    let out = transform(&[], &t.join("ECS52_11.2_SUCCESS_REQUEST_DUIS.XML"));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--device-type"), "{}", stderr(&out));

    // An unsupported use case is named with the reason.
    let out = transform(&[], &t.join("CS03B_8.7.2_SUCCESS_REQUEST_DUIS.XML"));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("CS03B"), "{}", stderr(&out));

    // A key store without the ACB's key.
    let empty = std::env::temp_dir().join(format!("hubgate-transform-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let out = transform(
        &[
            "--device-type",
            "esme",
            "--keystore",
            empty.to_str().unwrap(),
        ],
        &t.join("ECS52_11.2_SUCCESS_REQUEST_DUIS.XML"),
    );
    let _ = std::fs::remove_dir(&empty);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("ACB"), "{}", stderr(&out));

    // A bad option value.
    let out = transform(
        &["--device-type", "esme", "--now", "yesterday"],
        &t.join("ECS52_11.2_SUCCESS_REQUEST_DUIS.XML"),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--now"), "{}", stderr(&out));
    let out = transform(
        &["--device-type", "esme", "--cin", "12x4"],
        &t.join("ECS50_9.1_SUCCESS_REQUEST_DUIS.XML"),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--cin"), "{}", stderr(&out));
}
