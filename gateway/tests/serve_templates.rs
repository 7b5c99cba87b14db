//! End to end over HTTPS: every DUIS template, re-signed, submitted to `hubgate serve` seeded
//! with an inventory and registration data that make it valid; every answer is checked with
//! programs we did not write (lxml against the DUIS XSD, and the XML-DSig oracle). A negative
//! table then checks each H4 refusal and that it changes no state.
//!
//! Needs `curl`, `python3` with lxml and cryptography, and `xmlsec1` (installed by
//! `scripts/test`).

#![allow(clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SUPPLIER: &str = "90-B3-D5-1F-30-01-00-00";
const NETWORK_OPERATOR: &str = "90-B3-D5-1F-30-02-00-00";

/// Inventory: the hub first, then meters, then devices associated with a meter.
const INVENTORY: &str = "\
device_id,device_type,device_status,manufacturer,model,import_mpxn,export_mpan,post_code,address_identifier,associated_with
00-DB-12-34-56-78-90-A2,CHF,Commissioned,106C,433100AC,,,M22 0RR,12,
00-DB-12-34-56-78-90-A0,ESME,Commissioned,AB01,010A030B,1100000000001,1100000000002,M22 0RR,12,00-DB-12-34-56-78-90-A2
00-DB-12-34-56-78-90-A1,GSME,Commissioned,AB01,020A030B,1000999888,,M22 0RR,12,00-DB-12-34-56-78-90-A2
00-DB-12-34-56-78-90-A3,GPF,Commissioned,AB01,030A030B,,,M22 0RR,12,00-DB-12-34-56-78-90-A1
00-DB-12-34-56-78-90-A4,PPMID,Commissioned,AB01,040A030B,,,M22 0RR,12,00-DB-12-34-56-78-90-A0
00-DB-12-34-56-78-90-A5,HCALCS,Commissioned,AB01,050A030B,,,M22 0RR,12,00-DB-12-34-56-78-90-A0
00-DB-12-34-56-78-90-A6,ESME,Commissioned,AB01,010A030B,1100000000003,,M22 0RR,14,00-DB-12-34-56-78-90-A2
00-DB-12-34-56-78-90-B0,ESME,Pending,AB01,010A030B,1100000000004,,M22 0RR,16,
";

fn registration() -> String {
    let mut s = String::from("mpxn,fuel,role,party,effective_from,effective_to\n");
    for mpan in ["1100000000001", "1100000000003", "1100000000004"] {
        s += &format!("{mpan},electricity,IS,{SUPPLIER},2000-01-01,\n");
        s += &format!("{mpan},electricity,ED,{NETWORK_OPERATOR},2000-01-01,\n");
    }
    s += &format!("1100000000002,electricity,ES,{SUPPLIER},2000-01-01,\n");
    s += &format!("1100000000002,electricity,ED,{NETWORK_OPERATOR},2000-01-01,\n");
    s += &format!("1000999888,gas,GS,{SUPPLIER},2000-01-01,\n");
    s += &format!("1000999888,gas,GT,{NETWORK_OPERATOR},2000-01-01,\n");
    s
}

const WAN: &str = "postcode_prefix,csp_region,coverage,wan_technology,connectivity_likelihood,anticipated_coverage_date,auxiliary_equipment,additional_information\nM22,Central,true,4G,High,,,\n";

struct Gateway {
    child: Child,
    addr: String,
    metrics: String,
    dir: PathBuf,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn hubgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hubgate"))
}

fn start(name: &str, root: &Path) -> Gateway {
    start_with(name, root, &[])
}

fn start_with(name: &str, root: &Path, env: &[(&str, &str)]) -> Gateway {
    let dir = std::env::temp_dir().join(format!("hubgate-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("inventory.csv"), INVENTORY).unwrap();
    std::fs::write(dir.join("registration.csv"), registration()).unwrap();
    std::fs::write(dir.join("wan.csv"), WAN).unwrap();
    let mut child = hubgate()
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--smki")
        .arg(root.join("smki"))
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
        .arg("--inventory")
        .arg(dir.join("inventory.csv"))
        .arg("--registration")
        .arg(dir.join("registration.csv"))
        .arg("--wan-matrix")
        .arg(dir.join("wan.csv"))
        .arg("--device-keys")
        .arg(root.join("gbcs/keystore"))
        .env("HUBGATE_LOG_LEVEL", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut addr, mut metrics) = (None, None);
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen += &line;
        seen.push('\n');
        assert!(!line.starts_with("  line "), "seed row refused: {line}");
        if let Some(a) = line.strip_prefix("DUIS listening on https://") {
            addr = Some(a.trim().to_string());
        }
        if let Some(a) = line.strip_prefix("metrics listening on ") {
            metrics = Some(a.trim().to_string());
        }
        if addr.is_some() && metrics.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "gateway did not start:\n{seen}");
    }
    let addr = addr.unwrap_or_else(|| {
        let err = std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
        panic!("gateway exited before listening:\n{seen}\n{err}")
    });
    let metrics = metrics.unwrap_or_else(|| panic!("no metrics listener:\n{seen}"));
    // Keep reading what the gateway prints, so that it never writes into a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    assert!(
        seen.contains("8 imported, 0 refused"),
        "inventory seed:\n{seen}"
    );
    Gateway {
        child,
        addr,
        metrics,
        dir,
    }
}

/// Signs `xml` (with `counter`) as `eui`'s XML-signing key, via `hubgate duis sign`.
fn sign(root: &Path, template: &Path, counter: u64, signer_eui: &str) -> Vec<u8> {
    let compact: String = signer_eui.chars().filter(|c| *c != '-').collect();
    let key = root.join(format!("smki/xml-sign-{compact}-ds.key"));
    let cert = root.join(format!("smki/xml-sign-{compact}-ds.pem"));
    let out = hubgate()
        .args(["duis", "sign", "--counter", &counter.to_string(), "--key"])
        .arg(key)
        .arg("--cert")
        .arg(cert)
        .arg(template)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sign {}: {}",
        template.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn post(gw: &Gateway, path: &str, body: &[u8], out: &Path) -> u16 {
    let req = out.with_extension("req.xml");
    std::fs::write(&req, body).unwrap();
    let o = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(gw.dir.join("data/tls/ca.pem"))
        .args(["-H", "Content-Type: application/xml", "--data-binary"])
        .arg(format!("@{}", req.display()))
        .arg("-o")
        .arg(out)
        .args(["-w", "%{http_code}"])
        .arg(format!("https://{}{path}", gw.addr))
        .output()
        .expect("curl is needed for the end-to-end tests");
    let _ = std::fs::remove_file(req);
    assert!(
        o.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
}

fn path_for_cv(cv: u8) -> &'static str {
    match cv {
        4 => "/api/v1/serviceT",
        2 | 6 | 8 => "/api/v1/serviceD",
        _ => "/api/v1/serviceS",
    }
}

fn field<'a>(xml: &'a str, name: &str) -> &'a str {
    let open = format!("<sr:{name}>");
    let start = xml
        .find(&open)
        .map(|i| i + open.len())
        .unwrap_or_else(|| panic!("no {name} in {xml}"));
    let end = xml[start..].find('<').unwrap() + start;
    &xml[start..end]
}

/// Runs the oracle's `xsd` and `verify` over every answer; both must accept all.
fn oracle_checks(root: &Path, answers: &[PathBuf]) {
    let oracle = root.join("../tools/oracle/xmldsig_oracle.py");
    let xsd = Command::new("python3")
        .arg(&oracle)
        .arg("xsd")
        .args(answers)
        .output()
        .unwrap();
    assert!(
        xsd.status.success(),
        "answers not valid against the DUIS XSD:\n{}",
        String::from_utf8_lossy(&xsd.stdout)
    );
    let verify = Command::new("python3")
        .arg(&oracle)
        .args(["verify", "--certs"])
        .arg(root.join("smki/Z1-accessControlBroker-dSPXmlSign.pem"))
        .args(answers)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "answers whose DSP signature the oracle rejects:\n{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

struct Template {
    path: PathBuf,
    name: String,
    originator: String,
    cv: u8,
    srv: String,
}

fn templates(root: &Path) -> Vec<Template> {
    let mut v: Vec<Template> = std::fs::read_dir(root.join("duis/templates"))
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let id = field(&text, "RequestID");
            Template {
                name: path.file_name().unwrap().to_string_lossy().to_string(),
                originator: id.split(':').next().unwrap().to_uppercase(),
                cv: field(&text, "CommandVariant").parse().unwrap(),
                srv: field(&text, "ServiceReferenceVariant").to_string(),
                path,
            }
        })
        .collect();
    // Device services first: some non-device services (decommission, hub returns) change the
    // inventory the device services need.
    v.sort_by_key(|t| (t.cv == 8, t.name.clone()));
    v
}

#[test]
fn every_template_signed_by_hubgate_is_answered_validly() {
    let root = hubgate_protocol::conformance::require();
    let gw = start("templates", &root);
    let answers_dir = gw.dir.join("answers");
    std::fs::create_dir_all(&answers_dir).unwrap();
    let mut answers = Vec::new();
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    let mut wrong = Vec::new();
    let mut precommands = 0;
    let mut routed = 0;
    for (i, t) in templates(&root).iter().enumerate() {
        // Only the supplier and the network operator have User XML-signing keys in the ZAZ1
        // set; templates from other parties are signed by the supplier, like the oracle does,
        // and must then be refused: the certificate is not the originator's (E41).
        let has_key = t.originator == SUPPLIER || t.originator == NETWORK_OPERATOR;
        let signer = if has_key {
            t.originator.as_str()
        } else {
            SUPPLIER
        };
        let body = sign(&root, &t.path, 1_700_000_000_000 + i as u64, signer);
        let out = answers_dir.join(format!("{i:03}-{}", t.name));
        let status = post(&gw, path_for_cv(t.cv), &body, &out);
        let answer = std::fs::read_to_string(&out).unwrap();
        assert_eq!(status, 200, "{}: HTTP {status}: {answer}", t.name);
        let code = field(&answer, "ResponseCode").to_string();
        *counts.entry(code.clone()).or_default() += 1;
        let device = t.cv != 8 && t.cv != 2;
        // SRVs the request matrix gives no eligible role (8.5, 8.6, 7.16) cannot be sent by
        // any User.
        // The ZAZ1 roles: the supplier holds IS, ES and GS; the network operator ED and GT.
        use hubgate_protocol::catalogue::Role;
        let roles: &[Role] = if t.originator == NETWORK_OPERATOR {
            &[Role::parse("ED").unwrap(), Role::parse("GT").unwrap()]
        } else {
            &[
                Role::parse("IS").unwrap(),
                Role::parse("ES").unwrap(),
                Role::parse("GS").unwrap(),
            ]
        };
        let eligible = hubgate_protocol::catalogue::Catalogue::get()
            .srv(&t.srv)
            .is_some_and(|s| roles.iter().any(|r| s.allows_role(*r)));
        let want: Option<&str> = if !has_key {
            Some("E41")
        } else if !eligible {
            Some("E2")
        } else if device && t.cv == 4 {
            // A Pre-Command (I0), or E100 where the transform does not build this use case;
            // every Pre-Command must correlate with its request.
            if code == "I0" {
                let req = out.with_extension("sent.xml");
                std::fs::write(&req, &body).unwrap();
                let c = hubgate()
                    .args(["correlate", "--request"])
                    .arg(&req)
                    .arg("--precommand")
                    .arg(&out)
                    .output()
                    .unwrap();
                if !c.status.success() {
                    wrong.push(format!(
                        "{}: the Pre-Command does not correlate: {}{}",
                        t.name,
                        String::from_utf8_lossy(&c.stdout),
                        String::from_utf8_lossy(&c.stderr)
                    ));
                }
                precommands += 1;
                None
            } else {
                Some("E100")
            }
        } else if device {
            // Acknowledged and sent (I99) where the transform builds the command; E100 where
            // it does not (the gateway refuses what it cannot send rather than acknowledge it).
            if code == "I99" {
                routed += 1;
                None
            } else {
                Some("E100")
            }
        } else {
            match t.srv.as_str() {
                "8.2" | "12.1" => Some("I0"),
                "5.1" | "5.2" | "5.3" | "8.13" | "11.1" | "11.4" => Some("E100"),
                _ => None,
            }
        };
        match want {
            Some(w) if w != code => wrong.push(format!(
                "{} ({} CV {}): {code}, expected {w}",
                t.name, t.srv, t.cv
            )),
            None if matches!(
                code.as_str(),
                "E1" | "E2" | "E3" | "E4" | "E31" | "E40" | "E41" | "E42"
            ) =>
            {
                wrong.push(format!("{} ({} CV {}): {code}", t.name, t.srv, t.cv))
            }
            _ => {}
        }
        answers.push(out);
    }
    println!("{} templates answered: {counts:?}", answers.len());
    assert!(
        wrong.is_empty(),
        "{} unexpected answers:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(answers.len(), 297);
    assert!(routed >= 50, "only {routed} device requests were sent");
    assert!(
        precommands >= 20,
        "only {precommands} Transform requests got a Pre-Command"
    );
    oracle_checks(&root, &answers);
}

#[test]
fn templates_signed_by_xmlsec1_are_accepted() {
    let root = hubgate_protocol::conformance::require();
    if Command::new("xmlsec1").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("HUBGATE_SKIP_INTEROP").is_some(),
            "xmlsec1 is required (apt-get install xmlsec1)"
        );
        return;
    }
    let gw = start("xmlsec1", &root);
    let cert = hubgate_protocol::smki::Certificate::from_pem(
        &std::fs::read(root.join("smki/xml-sign-90B3D51F30010000-ds.pem")).unwrap(),
    )
    .unwrap();
    let mut answers = Vec::new();
    let mut n = 0;
    let mut acknowledged = 0;
    let mut no_transform = 0;
    for (i, t) in templates(&root).iter().enumerate() {
        if t.originator != SUPPLIER || !(t.cv == 1 || t.cv == 4 || t.cv == 8) {
            continue;
        }
        // The template's own Signature element is the xmlsec1 template: point its KeyInfo at
        // the real certificate and give the request a fresh counter, then let xmlsec1 sign.
        let text = std::fs::read_to_string(&t.path).unwrap();
        let id = field(&text, "RequestID");
        let fresh = format!(
            "{}:{}",
            id.rsplit_once(':').unwrap().0,
            1_800_000_000_000u64 + i as u64
        );
        let text = text
            .replacen(id, &fresh, 1)
            .replace(
                "<ds:X509IssuerName>CN=U1, OU=07</ds:X509IssuerName>",
                &format!("<ds:X509IssuerName>{}</ds:X509IssuerName>", cert.issuer()),
            )
            .replace(
                "<ds:X509SerialNumber>1234567890</ds:X509SerialNumber>",
                &format!(
                    "<ds:X509SerialNumber>{}</ds:X509SerialNumber>",
                    cert.serial_decimal()
                ),
            );
        let unsigned = gw.dir.join(format!("xmlsec1-in-{i}.xml"));
        let signed = gw.dir.join(format!("xmlsec1-signed-{i}.xml"));
        std::fs::write(&unsigned, text).unwrap();
        let o = Command::new("xmlsec1")
            .args(["--sign", "--privkey-der"])
            .arg(root.join("smki/xml-sign-90B3D51F30010000-ds.key"))
            .arg("--output")
            .arg(&signed)
            .arg(&unsigned)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "xmlsec1 --sign {}: {}",
            t.name,
            String::from_utf8_lossy(&o.stderr)
        );
        let out = gw.dir.join(format!("xmlsec1-answer-{i}.xml"));
        let status = post(
            &gw,
            path_for_cv(t.cv),
            &std::fs::read(&signed).unwrap(),
            &out,
        );
        let answer = std::fs::read_to_string(&out).unwrap();
        assert_eq!(status, 200, "{}: {answer}", t.name);
        let code = field(&answer, "ResponseCode");
        // Past the structure and signature checks: the xmlsec1 signature was accepted (later
        // checks may still refuse, e.g. an SRV no role of the supplier may send).
        assert!(
            !matches!(code, "E40" | "E41" | "E31"),
            "{}: xmlsec1 signature refused: {answer}",
            t.name
        );
        // Device requests are acknowledged (I99), Transform requests answered with their
        // Pre-Command (I0).
        if code == "I99" || (code == "I0" && t.cv == 4) {
            acknowledged += 1;
        }
        if code == "E100" && t.cv != 8 {
            no_transform += 1;
        }
        answers.push(out);
        n += 1;
    }
    println!(
        "{n} templates signed by xmlsec1 passed the signature check, {acknowledged} \
         acknowledged or answered with a Pre-Command, {no_transform} device requests \
         without a transform (E100)"
    );
    assert!(n > 200, "only {n} templates tried");
    assert!(
        acknowledged > 50 && acknowledged + no_transform > 200,
        "only {acknowledged} acknowledged"
    );
    oracle_checks(&root, &answers);
}

#[test]
fn each_refusal_gets_its_code_and_changes_no_state() {
    let root = hubgate_protocol::conformance::require();
    // The ZAZ1 User 00-DB-12-34-56-78-00-04 is suspended by configuration.
    let gw = start_with(
        "negative",
        &root,
        &[("HUBGATE_USERS__00DB123456780004__SUSPENDED", "true")],
    );
    let dir = gw.dir.join("neg");
    std::fs::create_dir_all(&dir).unwrap();
    let t = |name: &str| root.join("duis/templates").join(name);
    let read_supply = t("ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML");
    let mut n = 0u32;
    let mut send = |body: &[u8], path: &str| -> (u16, String) {
        n += 1;
        let out = dir.join(format!("{n}.xml"));
        let status = post(&gw, path, body, &out);
        (status, std::fs::read_to_string(&out).unwrap())
    };
    let code = |a: &str| field(a, "ResponseCode").to_string();

    // Baseline: accepted with counter 10.
    let ok = sign(&root, &read_supply, 10, SUPPLIER);
    let (_, a) = send(&ok, "/api/v1/serviceS");
    assert_eq!(code(&a), "I99", "{a}");

    // Replay: the same request again, and a lower counter.
    let (_, a) = send(&ok, "/api/v1/serviceS");
    assert_eq!(code(&a), "E42", "{a}");
    let (_, a) = send(&sign(&root, &read_supply, 9, SUPPLIER), "/api/v1/serviceS");
    assert_eq!(code(&a), "E42", "{a}");

    // Wrong path for the CommandVariant.
    let (_, a) = send(&sign(&root, &read_supply, 20, SUPPLIER), "/api/v1/serviceT");
    assert_eq!(code(&a), "E13", "{a}");

    // Wrong role: 7.1 Enable Supply is for import suppliers only; the network operator sends it.
    let enable = std::fs::read_to_string(t("ECS42_7.1_SUCCESS_REQUEST_DUIS.XML"))
        .unwrap()
        .replace(SUPPLIER, NETWORK_OPERATOR);
    let f = dir.join("enable-by-no.xml");
    std::fs::write(&f, enable).unwrap();
    let (_, a) = send(&sign(&root, &f, 21, NETWORK_OPERATOR), "/api/v1/serviceT");
    assert_eq!(code(&a), "E2", "{a}");

    // A suspended User.
    let inventory_read = std::fs::read_to_string(t("8.2_READ_INVENTORY_REQUEST_DUIS.XML"))
        .unwrap()
        .replace(SUPPLIER, "00-DB-12-34-56-78-00-04");
    let f = dir.join("suspended.xml");
    std::fs::write(&f, inventory_read).unwrap();
    let (_, a) = send(
        &sign(&root, &f, 22, "00-DB-12-34-56-78-00-04"),
        "/api/v1/serviceD",
    );
    assert_eq!(code(&a), "E3", "{a}");

    // Unknown device, wrong device status (B0 is Pending), wrong device type (a gas meter
    // for an electricity-only SRV).
    for (counter, device, want) in [
        (30, "00-DB-12-34-56-78-90-FF", "E19"),
        (31, "00-DB-12-34-56-78-90-B0", "E5"),
    ] {
        let x = std::fs::read_to_string(&read_supply)
            .unwrap()
            .replace("00-DB-12-34-56-78-90-A0", device);
        let f = dir.join(format!("dev-{want}.xml"));
        std::fs::write(&f, x).unwrap();
        let (_, a) = send(&sign(&root, &f, counter, SUPPLIER), "/api/v1/serviceS");
        assert_eq!(code(&a), want, "{a}");
    }
    let x = std::fs::read_to_string(t("ECS42_7.1_SUCCESS_REQUEST_DUIS.XML"))
        .unwrap()
        .replace("00-DB-12-34-56-78-90-A0", "00-DB-12-34-56-78-90-A1");
    let f = dir.join("type.xml");
    std::fs::write(&f, x).unwrap();
    let (_, a) = send(&sign(&root, &f, 60, SUPPLIER), "/api/v1/serviceT");
    assert_eq!(code(&a), "E11", "{a}");

    // Not the registered supplier at the execution date: the registration data starts in
    // 2000; a future-dated read executing in 1999 is not authorised.
    let x = std::fs::read_to_string(t("ECS17b_4.1.1_DSP_FUTURE_DATED_REQUEST_DUIS.XML"))
        .map(|s| {
            let start = s.find("<sr:ExecutionDateTime>").unwrap() + "<sr:ExecutionDateTime>".len();
            let end = s[start..].find('<').unwrap() + start;
            format!("{}1999-06-01T00:00:00Z{}", &s[..start], &s[end..])
        })
        .unwrap();
    let f = dir.join("unregistered.xml");
    std::fs::write(&f, x).unwrap();
    let (_, a) = send(&sign(&root, &f, 70, SUPPLIER), "/api/v1/serviceS");
    assert_eq!(code(&a), "E4", "{a}");

    // Bad signature, unknown signer, malformed XML, XXE.
    let mut tampered = String::from_utf8(sign(&root, &read_supply, 80, SUPPLIER)).unwrap();
    tampered = tampered.replacen("<sr:CommandVariant>1<", "<sr:CommandVariant>3<", 1);
    let (_, a) = send(tampered.as_bytes(), "/api/v1/serviceS");
    assert_eq!(code(&a), "E40", "{a}");
    let by_other = {
        let out = hubgate()
            .args(["duis", "sign", "--counter", "81", "--key"])
            .arg(root.join("smki/Z1-supplier2-ds.key"))
            .arg("--cert")
            .arg(root.join("smki/Z1-supplier2-ds.pem"))
            .arg(&read_supply)
            .output()
            .unwrap();
        out.stdout
    };
    let (_, a) = send(&by_other, "/api/v1/serviceS");
    assert_eq!(code(&a), "E41", "{a}");
    let (status, a) = send(
        b"<sr:Request xmlns:sr=\"http://www.dccinterface.co.uk/ServiceUserGateway\"><oops>",
        "/api/v1/serviceS",
    );
    assert_eq!(status, 400, "{a}");
    assert!(a.starts_with("E31"), "{a}");
    let xxe = std::fs::read(root.join("duis/signing-vectors/duis-xxe.xml")).unwrap();
    let (status, a) = send(&xxe, "/api/v1/serviceS");
    assert_eq!(status, 400, "{a}");
    assert!(a.contains("DOCTYPE"), "{a}");

    // None of the refusals consumed a counter: counter 11 is still the next acceptable one.
    let (_, a) = send(&sign(&root, &read_supply, 11, SUPPLIER), "/api/v1/serviceS");
    assert_eq!(code(&a), "I99", "refusals changed the counter state: {a}");

    // What happened is visible in Prometheus text format, under the documented names.
    let m = Command::new("curl")
        .args(["-sS", &gw.metrics])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&m.stdout);
    for needle in [
        "hubgate_ingress_requests_total{service=\"send_command\",srv=\"4.1.1\",cv=\"1\",code=\"I99\"} 2",
        "hubgate_ingress_rejected_total{check=\"4\"} 2",
        "hubgate_ingress_rejected_total{check=\"5\"} 3",
        "hubgate_ingress_requests_total{service=\"send_command\",srv=\"4.1.1\",cv=\"1\",code=\"E42\"} 2",
        "hubgate_ingress_stage_seconds_count{stage=\"signature\"}",
        "hubgate_verifier_batch_jobs_count",
    ] {
        assert!(text.contains(needle), "metrics lack {needle}:\n{text}");
    }
}
