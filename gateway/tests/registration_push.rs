//! The Registration Data push endpoint of a running `hubgate serve`, over HTTPS with `curl`:
//! authentication, the change report, line-numbered errors that do not lose the valid rows,
//! the effect on the H4 registration check (E4 before the push, I99 after), and persistence
//! across a restart.
//!
//! Needs `curl` and the shared conformance corpus (the ZAZ1 keys and a DUIS template).

#![allow(clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SUPPLIER: &str = "90-B3-D5-1F-30-01-00-00";
const NETWORK_OPERATOR: &str = "90-B3-D5-1F-30-02-00-00";
const MPAN: &str = "1100000000001";

const INVENTORY: &str = "\
device_id,device_type,device_status,manufacturer,model,import_mpxn,export_mpan,post_code,address_identifier,associated_with
00-DB-12-34-56-78-90-A2,CHF,Commissioned,106C,433100AC,,,M22 0RR,12,
00-DB-12-34-56-78-90-A0,ESME,Commissioned,AB01,010A030B,1100000000001,,M22 0RR,12,00-DB-12-34-56-78-90-A2
";

struct Gateway {
    child: Child,
    addr: String,
    metrics: String,
    token_file: PathBuf,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `hubgate serve` on `dir/data` (seeding it with `seed` files when given).
fn start(dir: &Path, root: &Path, seed: Option<(&Path, &Path)>) -> Gateway {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hubgate"));
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--smki")
        .arg(root.join("smki"))
        // The RTDS devices' certificates, so that commands to them can be MAC'd.
        .arg("--device-keys")
        .arg(root.join("gbcs/keystore"))
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
        .env("HUBGATE_LOG_LEVEL", "warn")
        // No emulated premises: their registration records would be part of every refresh.
        .env("HUBGATE_EMULATION__HUBS", "0")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap());
    if let Some((inventory, registration)) = seed {
        cmd.arg("--inventory")
            .arg(inventory)
            .arg("--registration")
            .arg(registration);
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut addr, mut metrics, mut token_file) = (None, None, None);
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen += &line;
        seen.push('\n');
        if let Some(a) = line.strip_prefix("DUIS listening on https://") {
            addr = Some(a.trim().to_string());
        }
        if let Some(a) = line.strip_prefix("metrics listening on ") {
            metrics = Some(a.trim().to_string());
        }
        if let Some(rest) = line
            .strip_prefix("registration push: POST /api/v1/registration with the bearer token in ")
        {
            token_file = Some(PathBuf::from(rest.trim_end_matches(" (new)")));
        }
        if addr.is_some() && metrics.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "gateway did not start:\n{seen}");
    }
    std::thread::spawn(move || lines.for_each(drop));
    let err = || std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
    Gateway {
        child,
        addr: addr.unwrap_or_else(|| panic!("gateway exited:\n{seen}\n{}", err())),
        metrics: metrics.unwrap_or_else(|| panic!("no metrics listener:\n{seen}")),
        token_file: token_file.unwrap_or_else(|| panic!("no push token in the summary:\n{seen}")),
    }
}

/// `curl` against the gateway: (status, body).
fn curl(gw: &Gateway, dir: &Path, path: &str, args: &[&str]) -> (u16, String) {
    let o = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(dir.join("data/tls/ca.pem"))
        .args(["-w", "\n%{http_code}"])
        .args(args)
        .arg(format!("https://{}{path}", gw.addr))
        .output()
        .expect("curl is needed for the end-to-end tests");
    assert!(
        o.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8(o.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.trim().parse().unwrap(), body.to_string())
}

fn push(
    gw: &Gateway,
    dir: &Path,
    token: Option<&str>,
    content_type: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let file = dir.join("push.body");
    std::fs::write(&file, body).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}"));
    let ct = format!("Content-Type: {content_type}");
    let data = format!("@{}", file.display());
    let mut args = vec!["-H", ct.as_str(), "--data-binary", data.as_str()];
    if let Some(a) = &auth {
        args.extend(["-H", a.as_str()]);
    }
    let (status, text) = curl(gw, dir, "/api/v1/registration", &args);
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {status} {text}"));
    (status, value)
}

/// A 4.1.1 read request from the supplier for the ESME, signed with `counter`; the DUIS
/// response code it gets.
fn read_supply(gw: &Gateway, dir: &Path, root: &Path, counter: u64) -> String {
    let key = root.join("smki/xml-sign-90B3D51F30010000-ds.key");
    let cert = root.join("smki/xml-sign-90B3D51F30010000-ds.pem");
    let template = root.join("duis/templates/ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML");
    let signed = Command::new(env!("CARGO_BIN_EXE_hubgate"))
        .args(["duis", "sign", "--counter", &counter.to_string(), "--key"])
        .arg(key)
        .arg("--cert")
        .arg(cert)
        .arg(template)
        .output()
        .unwrap();
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    let file = dir.join("request.xml");
    std::fs::write(&file, signed.stdout).unwrap();
    let data = format!("@{}", file.display());
    let (status, answer) = curl(
        gw,
        dir,
        "/api/v1/serviceS",
        &[
            "-H",
            "Content-Type: application/xml",
            "--data-binary",
            &data,
        ],
    );
    assert_eq!(status, 200, "{answer}");
    let start = answer.find("<sr:ResponseCode>").unwrap() + "<sr:ResponseCode>".len();
    let end = answer[start..].find('<').unwrap() + start;
    answer[start..end].to_string()
}

#[test]
fn a_pushed_refresh_is_authenticated_reported_applied_and_kept() {
    let root = hubgate_protocol::conformance::require();
    let dir = std::env::temp_dir().join(format!("hubgate-push-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The supplier is not registered for the MPAN yet: only the network operator is.
    let inventory = dir.join("inventory.csv");
    let registration = dir.join("registration.csv");
    std::fs::write(&inventory, INVENTORY).unwrap();
    std::fs::write(
        &registration,
        format!("mpxn,fuel,role,party,effective_from,effective_to\n{MPAN},electricity,ED,{NETWORK_OPERATOR},2000-01-01,\n"),
    )
    .unwrap();
    let gw = start(&dir, &root, Some((&inventory, &registration)));
    let token = std::fs::read_to_string(&gw.token_file)
        .unwrap()
        .trim()
        .to_string();
    assert!(
        gw.token_file.starts_with(dir.join("data")),
        "{}",
        gw.token_file.display()
    );

    assert_eq!(
        read_supply(&gw, &dir, &root, 10),
        "E4",
        "not registered yet"
    );

    let header = "mpxn,fuel,role,party,effective_from,effective_to\n";
    let is_row = format!("{MPAN},electricity,IS,{SUPPLIER},2000-01-01,\n");
    let csv = format!("{header}{is_row}");
    // Without a token, with a wrong one, or with a token but the wrong media type: refused,
    // and nothing changes.
    let (status, v) = push(&gw, &dir, None, "text/csv", &csv);
    assert_eq!(
        (status, &v["applied"]),
        (401, &serde_json::json!(false)),
        "{v}"
    );
    let wrong = format!("{}x", &token[..token.len() - 1]);
    assert_eq!(push(&gw, &dir, Some(&wrong), "text/csv", &csv).0, 401);
    assert_eq!(push(&gw, &dir, Some(&token), "text/plain", &csv).0, 415);
    assert_eq!(
        read_supply(&gw, &dir, &root, 11),
        "E4",
        "refused pushes changed nothing"
    );

    // A body refused as a whole: 400, nothing applied.
    let (status, v) = push(&gw, &dir, Some(&token), "text/csv", "mpxn,fuel\n1,2\n");
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["applied"], false, "{v}");
    assert!(v["error"].as_str().unwrap().contains("line 1"), "{v}");

    // One good row and one bad: 400 with the bad row's line, and the good row applied. The
    // network operator's record, absent from this body, is kept because a row was rejected.
    let bad = format!("{header}{is_row}{MPAN},electricity,IS,{SUPPLIER},2000-13-01,\n");
    let (status, v) = push(&gw, &dir, Some(&token), "text/csv", &bad);
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["applied"], true, "{v}");
    assert_eq!(
        (v["added"].as_u64(), v["removed"].as_u64()),
        (Some(1), Some(0)),
        "{v}"
    );
    assert_eq!(v["removals_withheld"], 1, "{v}");
    assert_eq!(v["rejected"], 1, "{v}");
    let errors = v["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{v}");
    assert_eq!(errors[0]["line"], 3, "{v}");
    assert_eq!(errors[0]["field"], "effective_from", "{v}");
    assert_eq!(v["added_sample"][0]["party"], SUPPLIER, "{v}");

    assert_eq!(
        read_supply(&gw, &dir, &root, 12),
        "I99",
        "registered after the push"
    );

    // A clean JSON refresh: 200 and what changed (the supplier's record now ends in 2099).
    let json = format!(
        r#"[{{"mpxn":"{MPAN}","fuel":"electricity","role":"IS","party":"{SUPPLIER}","effective_from":"2000-01-01","effective_to":"2099-12-31"}},
            {{"mpxn":"{MPAN}","fuel":"electricity","role":"ED","party":"{NETWORK_OPERATOR}","effective_from":"2000-01-01"}}]"#
    );
    let (status, v) = push(&gw, &dir, Some(&token), "application/json", &json);
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (
            v["applied"].as_bool(),
            v["modified"].as_u64(),
            v["unchanged"].as_u64(),
            v["rejected"].as_u64()
        ),
        (Some(true), Some(1), Some(1), Some(0)),
        "{v}"
    );
    assert!(v["errors"].as_array().unwrap().is_empty(), "{v}");

    let m = Command::new("curl")
        .args(["-sS", &gw.metrics])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&m.stdout);
    for needle in [
        "hubgate_registration_pushes_total{outcome=\"unauthorised\"} 2",
        "hubgate_registration_pushes_total{outcome=\"refused\"} 2",
        "hubgate_registration_pushes_total{outcome=\"partial\"} 1",
        "hubgate_registration_pushes_total{outcome=\"applied\"} 1",
    ] {
        assert!(text.contains(needle), "metrics lack {needle}:\n{text}");
    }

    // After a restart without the file, the pushed data is still in force, and the token
    // file is reused.
    drop(gw);
    let gw = start(&dir, &root, None);
    assert_eq!(
        std::fs::read_to_string(&gw.token_file).unwrap().trim(),
        token
    );
    assert_eq!(
        read_supply(&gw, &dir, &root, 13),
        "I99",
        "the push survived the restart"
    );
    drop(gw);
    let _ = std::fs::remove_dir_all(&dir);
}
