//! `hubgate parse` agrees with the independent Python oracle (`gbcs_oracle.py`) on every RTDS
//! file: header fields, byte regions, and the signature and MAC verdicts.
//!
//! The oracle is driven through its own `check_message`/`describe` functions in one Python
//! process (one process per file would take minutes); `hubgate parse` runs once over all files.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected errors

use hubgate_protocol::conformance;
use std::collections::HashMap;
use std::process::Command;

use serde_json::Value;

const DRIVER: &str = r#"
import json, os, sys
root = sys.argv[1]
sys.path.insert(0, os.path.join(root, "..", "tools", "oracle"))
import gbcs_oracle as g
ks = g.KeyStore(os.path.join(root, "gbcs", "keystore"), os.path.join(root, "smki", "keystore.json"))
for path in sys.stdin.read().split("\n"):
    if not path:
        continue
    o = g.check_message(g.load_message_file(path), path, ks, "90b3d51f30000002")
    d = g.describe(o, ks)
    v = d["verification"]
    print(json.dumps({"path": path, "gh": d["grouping_header"], "regions": d["regions"],
                      "signature_field": d["signature_field"],
                      "sig": v["signature"]["result"] if isinstance(v["signature"], dict) else v["signature"],
                      "mac": v["mac"]["result"] if isinstance(v["mac"], dict) else v["mac"]}))
"#;

#[test]
fn parse_agrees_with_the_oracle_on_every_rtds_file() {
    let root = hubgate_protocol::conformance::require();
    let files = conformance::rtds_files(&root).unwrap();
    let list: String = files.iter().map(|f| format!("{}\n", f.display())).collect();

    let mut py = Command::new("python3")
        .arg("-c")
        .arg(DRIVER)
        .arg(&root)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 is needed to run the GBCS oracle (pip install cryptography)");
    {
        use std::io::Write as _;
        py.stdin.take().unwrap().write_all(list.as_bytes()).unwrap();
    }
    let out = py.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "oracle failed (is `cryptography` installed?)"
    );
    let oracle: HashMap<String, Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["path"].as_str().unwrap().to_string(), v)
        })
        .collect();
    assert_eq!(oracle.len(), files.len());

    let ours = Command::new(env!("CARGO_BIN_EXE_hubgate"))
        .arg("parse")
        .arg("--keystore")
        .arg(root.join("gbcs/keystore"))
        .arg("--keystore")
        .arg(root.join("smki"))
        .args(&files)
        .output()
        .unwrap();
    assert_eq!(
        ours.status.code(),
        Some(0),
        "hubgate parse reported a failure: {}",
        String::from_utf8_lossy(&ours.stderr)
    );
    let ours: Vec<Value> = String::from_utf8(ours.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ours.len(), files.len());

    let mut compared = 0;
    for v in &ours {
        let path = v["source"].as_str().unwrap();
        let o = &oracle[path];
        let gh = &o["gh"];
        assert_eq!(v["cra"], gh["cra"], "{path}: cra");
        assert_eq!(
            v["counter"].as_str().unwrap(),
            gh["originator_counter_int"].to_string(),
            "{path}: counter"
        );
        assert_eq!(v["originator"], gh["originator"], "{path}: originator");
        assert_eq!(v["recipient"], gh["recipient"], "{path}: recipient");
        assert_eq!(
            v["message_code"].as_str().unwrap(),
            format!("0x{}", gh["message_code"].as_str().unwrap().to_uppercase()),
            "{path}: message code"
        );
        assert_eq!(
            v["date_time"].is_null(),
            gh["date_time"].is_null(),
            "{path}: date-time presence"
        );
        if let Some(dt) = gh["date_time_decoded"].as_object() {
            let ours_dt = v["date_time"].as_str().unwrap();
            assert!(
                ours_dt.starts_with(&format!(
                    "{:04}-{:02}-{:02}",
                    dt["year"].as_u64().unwrap(),
                    dt["month"].as_u64().unwrap(),
                    dt["day_of_month"].as_u64().unwrap()
                )),
                "{path}: {ours_dt}"
            );
        }
        let sup = &v["supplementary"];
        assert_eq!(
            sup["remote_party"].as_str(),
            gh["supplementary_remote_party"].as_str(),
            "{path}: supplementary party"
        );
        for (region, theirs) in o["regions"].as_object().unwrap() {
            assert_eq!(&v["regions"][region], theirs, "{path}: region {region}");
        }
        let our_sig = v["signature"]["result"].as_str().unwrap();
        assert_eq!(
            our_sig,
            o["sig"].as_str().unwrap(),
            "{path}: signature verdict"
        );
        assert_eq!(
            v["mac"]["result"].as_str().unwrap(),
            o["mac"].as_str().unwrap(),
            "{path}: MAC verdict"
        );
        compared += 1;
    }
    println!("hubgate parse agrees with gbcs_oracle.py on {compared} files");
}

#[test]
fn parse_exits_nonzero_on_a_tampered_message() {
    let root = hubgate_protocol::conformance::require();
    let f = root.join("gbcs/rtds/4.1.1_ECS17b/ECS17b_4.1.1_ERROR_RESPONSE_GBCS.HEX");
    let mut hex = std::fs::read_to_string(f).unwrap();
    // Flip a bit of the content (byte 60): the MAC must fail.
    let i = 60 * 2;
    let flipped = u8::from_str_radix(&hex[i..i + 2], 16).unwrap() ^ 1;
    hex.replace_range(i..i + 2, &format!("{flipped:02X}"));
    let out = Command::new(env!("CARGO_BIN_EXE_hubgate"))
        .args(["parse", "--keystore"])
        .arg(root.join("gbcs/keystore"))
        .arg(&hex)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["mac"]["result"], "invalid");
    assert_eq!(v["ok"], false);

    let out = Command::new(env!("CARGO_BIN_EXE_hubgate"))
        .args(["parse", "DD00"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["error"].as_str().unwrap().starts_with("parse error"),
        "{v}"
    );
}
