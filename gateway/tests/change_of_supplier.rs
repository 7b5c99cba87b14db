//! Change of Supplier (SR 6.23) end to end, against a running `hubgate serve` with the local
//! test PKI and one emulated premises whose meters trust the demo import supplier (the
//! losing supplier) and the gateway's Transitional CoS party. The gaining supplier is the
//! load-test User `load-00001`, registered as the import supplier of the premises' MPAN from
//! today.
//!
//! Proves: the losing supplier's 6.23 is refused `E4` (registration check); a 6.23 whose
//! replacement certificates are not the requester's is refused and not sent; the gaining
//! supplier's 6.23 reaches the meter as a command originated and signed by the CoS party
//! and MAC-wrapped by the ACB (checked on the recorded command with the CoS party's
//! certificate, and by the independent GBCS oracle on the recording) and comes back `I0`
//! with the meter's signed CS02b response; both suppliers pull a `ChangeOfSupplier` DCC alert
//! naming the request (valid against the DUIS XSD); afterwards a critical command signed with
//! the losing supplier's key gets no device answer (`E21`), while the gaining supplier's
//! succeeds (and before the update, the other way round). With a limit of one Service
//! Response a minute for the hub, the 6.23's response is held: neither supplier gets its
//! `ChangeOfSupplier` alert while it is held, only the gaining supplier gets the
//! `QuarantinedRequest` alert, the quarantine record holds the response and both alerts, and
//! its release delivers all three, once.
//!
//! Needs `curl`, `python3` with lxml and cryptography (installed by `scripts/test`).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{Answer, Gateway, Seeds, element_text, pull_answer, replace_element, set_text};
use hubgate_protocol::crypto::SigningKey;
use hubgate_protocol::gbcs::{auth, frame};
use hubgate_protocol::hex;
use hubgate_protocol::smki::Store;

/// The demo import supplier: the premises' supplier until today.
const OLD: &str = "90-B3-D5-1F-40-01-00-00";
const OLD_NAME: &str = "import-supplier";
const OLD_TOKEN: &str = "cos-old-supplier-pull-token-0123456789abcdef";
/// Load-test User 1 (import and gas supplier): the gaining supplier.
const NEW: &str = "90-B3-D5-1F-50-00-00-01";
const NEW_NAME: &str = "load-00001";
const NEW_TOKEN: &str = "cos-new-supplier-pull-token-0123456789abcdef";
/// The local PKI's Access Control Broker (the DCC).
const ACB: &str = "90b3d51f40000002";
/// The local PKI's Transitional CoS party.
const COS: &str = "90-B3-D5-1F-40-00-00-04";
/// The first emulated premises: ESME `…01`, MPAN 1900000000001.
const ESME: &str = "00-DB-55-00-00-00-00-01";
const MPAN: &str = "1900000000001";

const TEMPLATE: &str = "CS02bSupplierByTransCoS_6.23_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML";
const TARIFF: &str = "ECS01a_1.1.1_IMMEDIATE_TOU_SUCCESS_REQUEST_DUIS.XML";

/// One RequestID counter for every User: strictly increasing for each.
static COUNTER: AtomicU64 = AtomicU64::new(1_000);

fn today() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    hubgate_gateway::registration::Date::gb_from_unix_ms(ms)
        .unwrap()
        .to_string()
}

fn start(name: &str, record: &Path) -> Gateway {
    start_with(name, record, &[])
}

/// [`start`] with `extra` settings.
fn start_with(name: &str, record: &Path, extra: &[(&str, &str)]) -> Gateway {
    let registration = format!(
        "mpxn,fuel,role,party,effective_from,effective_to\n{MPAN},electricity,IS,{NEW},{},\n",
        today()
    );
    let record = record.display().to_string();
    let mut env = vec![
        ("HUBGATE_PKI__LOAD_TEST_USERS", "1"),
        ("HUBGATE_USERS__90B3D51F40010000__PULL_TOKEN", OLD_TOKEN),
        ("HUBGATE_USERS__90B3D51F50000001__PULL_TOKEN", NEW_TOKEN),
        ("HUBGATE_EMULATION__HUBS", "1"),
        ("HUBGATE_EMULATION__RECORD_DIR", &record),
        ("HUBGATE_ROUTING__RESPONSE_TIMEOUT_MS", "3000"),
    ];
    env.extend_from_slice(extra);
    Gateway::start_local_pki(
        name,
        Seeds {
            registration: Some(&registration),
            env: &env,
            ..Seeds::default()
        },
    )
}

fn pki(gw: &Gateway) -> std::path::PathBuf {
    gw.dir.join("data/pki")
}

fn user_file(gw: &Gateway, user: &str, file: &str) -> std::path::PathBuf {
    pki(gw).join("users").join(user).join(file)
}

/// The base64 DER of a PEM certificate file.
fn pem_base64(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect()
}

/// `xml` from `user` (by its local PKI folder `name`) to `target`, signed with its XML-signing
/// key and the next counter, posted; the synchronous answer.
fn submit(gw: &Gateway, xml: &str, user: &str, name: &str) -> Answer {
    let counter = COUNTER.fetch_add(1, Ordering::SeqCst) + 1;
    let id = element_text(xml, "RequestID").unwrap();
    let target = id.split(':').nth(1).unwrap().to_string();
    let xml = set_text(xml, "RequestID", &format!("{user}:{target}:{counter}"));
    let body = gw.sign_as(
        &xml,
        &user_file(gw, name, "xml-sign.key"),
        &user_file(gw, name, "xml-sign.pem"),
        None,
    );
    let cv: u8 = element_text(&xml, "CommandVariant")
        .unwrap()
        .parse()
        .unwrap();
    let (http, text) = gw.post(common::path_for_cv(cv), &body);
    let answer = Answer::parse(http, &text);
    assert_eq!(
        answer.request_id,
        format!("{user}:{target}:{counter}"),
        "{text}"
    );
    answer
}

/// The 6.23 request for the ESME replacing the supplier certificates with `certs_of`'s.
fn cos_request(gw: &Gateway, certs_of: &str) -> String {
    let mut xml = common::set_target(&gw.template(TEMPLATE), ESME);
    xml = set_text(
        &xml,
        "DigitalSigningCertificate",
        &pem_base64(&user_file(gw, certs_of, "ds.pem")),
    );
    xml = set_text(
        &xml,
        "KeyAgreementCertificate",
        &pem_base64(&user_file(gw, certs_of, "ka.pem")),
    );
    xml = replace_element(&xml, "KeyAgreementTopUpCertificate", "");
    xml = set_text(&xml, "Certificate", &pem_base64(&pki(gw).join("ca.pem")));
    xml = set_text(&xml, "ApplyTimeBasedCPVChecks", "false");
    set_text(&xml, "ImportMPxN", MPAN)
}

/// Waits for a kept message for the User with `token` that satisfies `pred`; removes it.
fn wait_for(gw: &Gateway, token: &str, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let auth = format!("Authorization: Bearer {token}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = gw.get("/api/v1/responses?limit=100", &[&auth]);
        assert!(status == 200 || status == 204, "{status}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let found = v["messages"].as_array().and_then(|all| {
            all.iter().find_map(|m| {
                let xml = m["xml"].as_str()?;
                pred(xml).then(|| (m["sequence"].as_u64(), xml.to_string()))
            })
        });
        if let Some((Some(seq), xml)) = found {
            let code = gw.remove_message(&auth, seq);
            assert!(code == "200" || code == "204", "removing {seq}: {code}");
            return xml;
        }
        assert!(
            Instant::now() < deadline,
            "no {what} within 20 s; kept: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The GBCS payload of a Service Response.
fn gbcs_payload(xml: &str) -> Vec<u8> {
    let payload = element_text(xml, "GBCSPayload").expect("a GBCSPayload");
    base64::engine::general_purpose::STANDARD
        .decode(payload.trim())
        .unwrap()
}

/// Sends a critical 1.1.1 to the ESME as `user`: CV 4, then the Pre-Command signed with
/// the User's GBCS key `name/ds.key` as CV 5. The Service Response kept for the User.
fn critical_tariff(gw: &Gateway, user: &str, name: &str, token: &str) -> String {
    let transform = common::set_target(&gw.template(TARIFF), ESME);
    let pre = submit(gw, &transform, user, name);
    assert_eq!(pre.code, "I0", "{}", pre.xml);
    let precommand = gbcs_payload(&pre.xml);
    let key = SigningKey::from_pem_or_der(&std::fs::read(user_file(gw, name, "ds.key")).unwrap())
        .unwrap();
    let signed = auth::sign_precommand(&precommand, &key).unwrap();
    let send = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <sr:Request xmlns:sr=\"http://www.dccinterface.co.uk/ServiceUserGateway\" schemaVersion=\"5.4\">\
         <sr:Header><sr:RequestID>{}</sr:RequestID><sr:CommandVariant>5</sr:CommandVariant>\
         <sr:ServiceReference>1.1</sr:ServiceReference>\
         <sr:ServiceReferenceVariant>1.1.1</sr:ServiceReferenceVariant></sr:Header>\
         <sr:Body><sr:SignedPreCommand><sr:GBCSPayload>{}</sr:GBCSPayload></sr:SignedPreCommand></sr:Body>\
         </sr:Request>",
        pre.request_id,
        base64::engine::general_purpose::STANDARD.encode(&signed)
    );
    let body = gw.sign_as(
        &send,
        &user_file(gw, name, "xml-sign.key"),
        &user_file(gw, name, "xml-sign.pem"),
        None,
    );
    let (http, text) = gw.post("/api/v1/serviceS", &body);
    let ack = Answer::parse(http, &text);
    assert_eq!(ack.code, "I99", "{text}");
    pull_answer(gw, token, &pre.request_id, Duration::from_secs(20))
}

/// The recorded commands the ESME received with message code `code`.
fn recorded_commands(record: &Path, code: &str) -> Vec<Vec<u8>> {
    let esme = ESME.replace('-', "").to_lowercase();
    let mut names: Vec<String> = std::fs::read_dir(record.join("messages"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(&esme) && n.ends_with(&format!("_{code}_COMMAND_GBCS.HEX")))
        .collect();
    names.sort();
    names
        .iter()
        .map(|n| {
            hex::decode(
                std::fs::read_to_string(record.join("messages").join(n))
                    .unwrap()
                    .trim(),
            )
            .unwrap()
        })
        .collect()
}

/// Runs the independent GBCS oracle over the recorded 6.23 messages (code `0107`: the
/// command and the meter's response), copied to a folder of their own, with only the
/// recording's key folder: the (kind, signature result, MAC result) of each.
fn oracle_on_cos_messages(gw: &Gateway, record: &Path) -> Vec<(String, String, String)> {
    let dir = gw.dir.join("cos-messages");
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(record.join("messages")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if name.contains("_0107_") {
            std::fs::copy(record.join("messages").join(&name), dir.join(&name)).unwrap();
        }
    }
    let empty_json = gw.dir.join("no-keystore.json");
    std::fs::write(&empty_json, "{}").unwrap();
    let csv = gw.dir.join("oracle.csv");
    let out = Command::new("python3")
        .arg(gw.root.join("../tools/oracle/gbcs_oracle.py"))
        .arg(&gw.root)
        .arg("--dir")
        .arg(&dir)
        .arg("--keystore")
        .arg(record.join("keys"))
        .arg("--keystore-json")
        .arg(&empty_json)
        .arg("--csv")
        .arg(&csv)
        .args(["--acb", ACB])
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&csv).unwrap_or_else(|_| {
        panic!(
            "the GBCS oracle wrote no results: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (path, sig, mac) = (col("path"), col("signature_result"), col("mac_result"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let kind = if f[path].contains("_COMMAND_") {
                "command"
            } else {
                "response"
            };
            (kind.to_string(), f[sig].to_string(), f[mac].to_string())
        })
        .collect()
}

#[test]
fn the_gaining_supplier_takes_over_the_meter() {
    let record = std::env::temp_dir().join(format!("hubgate-it-cos-rec-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&record);
    let gw = start("cos", &record);
    assert!(
        gw.startup
            .contains(&format!("Transitional CoS party {COS}")),
        "{}",
        gw.startup
    );

    // Before: the meter takes the old supplier's critical commands, not the new one's.
    let before = critical_tariff(&gw, OLD, OLD_NAME, OLD_TOKEN);
    assert_eq!(
        element_text(&before, "ResponseCode").as_deref(),
        Some("I0"),
        "{before}"
    );
    let before = critical_tariff(&gw, NEW, NEW_NAME, NEW_TOKEN);
    assert_eq!(
        element_text(&before, "ResponseCode").as_deref(),
        Some("E21"),
        "{before}"
    );

    // The losing supplier is no longer the registered supplier: E4 (check 6).
    let refused = submit(&gw, &cos_request(&gw, OLD_NAME), OLD, OLD_NAME);
    assert_eq!(refused.code, "E4", "{}", refused.xml);

    // The gaining supplier asking for another party's certificates: refused, nothing sent.
    let foreign = submit(&gw, &cos_request(&gw, OLD_NAME), NEW, NEW_NAME);
    assert_eq!(foreign.code, "E100", "{}", foreign.xml);

    // The gaining supplier's own certificates: sent by the CoS party, answered I0.
    let ack = submit(&gw, &cos_request(&gw, NEW_NAME), NEW, NEW_NAME);
    assert_eq!(ack.code, "I99", "{}", ack.xml);
    let answer = pull_answer(&gw, NEW_TOKEN, &ack.request_id, Duration::from_secs(20));
    assert_eq!(
        element_text(&answer, "ResponseCode").as_deref(),
        Some("I0"),
        "{answer}"
    );
    let response = gbcs_payload(&answer);
    let msg = frame::parse(&response).unwrap();
    assert_eq!(hex::eui_duis(&msg.header.originator), ESME);
    assert_eq!(
        hex::eui_duis(&msg.header.recipient),
        COS,
        "the meter answers the CoS party"
    );
    assert!(
        matches!(msg.signature, frame::SignatureField::Present(_)),
        "the meter signs its CS02b response"
    );
    let new_eui = hex::parse_eui(NEW).unwrap();
    assert_eq!(
        hubgate_gateway::cos::replaced_suppliers(&response),
        Some(vec![hex::parse_eui(OLD).unwrap()]),
        "the meter replaced the old supplier's cells"
    );
    assert!(
        response.windows(8).any(|w| w == new_eui),
        "the response names the new supplier"
    );

    // The command the meter got: one CS02b (0107), originated by the CoS party, its
    // signature verifying with the CoS party's certificate, MAC-wrapped.
    let commands = recorded_commands(&record, "0107");
    assert_eq!(
        commands.len(),
        1,
        "only the accepted 6.23 reached the meter"
    );
    let cmd = frame::parse(&commands[0]).unwrap();
    assert!(cmd.is_mac_wrapped(), "the ACB MAC wraps it");
    assert_eq!(hex::eui_duis(&cmd.header.originator), COS);
    let mut cos_store = Store::new();
    cos_store
        .add_certificate(
            &std::fs::read(pki(&gw).join("cos-ds.pem")).unwrap(),
            "cos-ds.pem",
        )
        .unwrap();
    assert_eq!(
        auth::verify_signature(&cmd, &cos_store).name(),
        "verified",
        "signed by the CoS party"
    );

    // The independent oracle agrees: the command's CoS signature and ACB MAC, the meter's
    // signature on its response.
    let mut checked = oracle_on_cos_messages(&gw, &record);
    checked.sort();
    assert_eq!(
        checked,
        [
            ("command".into(), "verified".into(), "valid".into()),
            ("response".into(), "verified".into(), "none".into()),
        ],
        "GBCS oracle results"
    );

    // Both suppliers are alerted, naming the 6.23 request.
    both_suppliers_alerted(&gw, &ack.request_id, "cos-alert");

    // The meter now trusts only the new supplier: the old supplier's critical command is
    // discarded (no answer: E21), the new supplier's succeeds.
    let old = critical_tariff(&gw, OLD, OLD_NAME, OLD_TOKEN);
    assert_eq!(
        element_text(&old, "ResponseCode").as_deref(),
        Some("E21"),
        "{old}"
    );
    let new = critical_tariff(&gw, NEW, NEW_NAME, NEW_TOKEN);
    assert_eq!(
        element_text(&new, "ResponseCode").as_deref(),
        Some("I0"),
        "{new}"
    );
    let tariff_bytes = gbcs_payload(&new);
    let tariff = frame::parse(&tariff_bytes).unwrap();
    assert_eq!(hex::eui_duis(&tariff.header.recipient), NEW);
    let _ = std::fs::remove_dir_all(&record);
}

/// Waits for the `ChangeOfSupplier` DCC alert (`N42`) naming the 6.23 `request_id` for the
/// gaining and the losing supplier, each valid against the DUIS XSD (checked as
/// `<tag>-<who>`) and delivered once.
fn both_suppliers_alerted(gw: &Gateway, request_id: &str, tag: &str) {
    let names_cos = |xml: &str| {
        xml.contains("DCCAlertMessage")
            && element_text(xml, "ChangeOfSupplierServiceRequestID").as_deref() == Some(request_id)
    };
    for (token, who) in [(NEW_TOKEN, "gaining"), (OLD_TOKEN, "losing")] {
        let alert = wait_for(
            gw,
            token,
            &format!("alert for the {who} supplier"),
            names_cos,
        );
        assert_eq!(
            element_text(&alert, "DCCAlertCode").as_deref(),
            Some("N42"),
            "{alert}"
        );
        common::oracle::xsd_valid(gw, &alert, &format!("{tag}-{who}"));
        assert!(
            !kept(gw, token).iter().any(|x| names_cos(x)),
            "{who}: delivered twice"
        );
    }
}

/// Every kept message for the User with `token` (XML), left in place.
fn kept(gw: &Gateway, token: &str) -> Vec<String> {
    common::pull::kept_messages(gw, token)
        .into_iter()
        .map(|(_, xml)| xml)
        .collect()
}

/// With a limit of one Service Response a minute for the hub, the 6.23's response is held:
/// neither supplier receives a `ChangeOfSupplier` alert while it is held, the gaining
/// supplier (the requester, a User) is told by a `QuarantinedRequest` alert, and releasing
/// the record delivers the response and both suppliers' alerts, once.
#[test]
fn a_held_change_of_supplier_response_holds_its_alerts_until_released() {
    const ADMIN: &str = "cos-held-admin-token-0123456789abcdef0123";
    let record =
        std::env::temp_dir().join(format!("hubgate-it-cos-held-rec-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&record);
    let gw = start_with(
        "cos-held",
        &record,
        &[
            ("HUBGATE_ANOMALY__HUB_RESPONSES_PER_MINUTE", "1"),
            ("HUBGATE_ANOMALY__ADMIN_TOKEN", ADMIN),
        ],
    );
    // The hub's one response of the minute.
    let first = critical_tariff(&gw, OLD, OLD_NAME, OLD_TOKEN);
    assert_eq!(
        element_text(&first, "ResponseCode").as_deref(),
        Some("I0"),
        "{first}"
    );
    // The 6.23's response is the second: held.
    let ack = submit(&gw, &cos_request(&gw, NEW_NAME), NEW, NEW_NAME);
    assert_eq!(ack.code, "I99", "{}", ack.xml);
    let notice = wait_for(&gw, NEW_TOKEN, "QuarantinedRequest alert", |xml| {
        xml.contains("QuarantinedRequest")
            && element_text(xml, "RequestID").as_deref() == Some(ack.request_id.as_str())
    });
    assert_eq!(
        element_text(&notice, "DCCAlertCode").as_deref(),
        Some("N24"),
        "{notice}"
    );
    let names_cos = |xml: &str| {
        element_text(xml, "ChangeOfSupplierServiceRequestID").as_deref()
            == Some(ack.request_id.as_str())
    };
    let answers_cos = |xml: &str| {
        !xml.contains("DCCAlertMessage")
            && element_text(xml, "RequestID").as_deref() == Some(ack.request_id.as_str())
    };
    // Stored in the batch that held the response: nothing about the 6.23 went out.
    for token in [NEW_TOKEN, OLD_TOKEN] {
        let kept = kept(&gw, token);
        assert!(
            !kept.iter().any(|x| names_cos(x) || answers_cos(x)),
            "delivered while held: {kept:?}"
        );
    }
    assert!(
        !kept(&gw, OLD_TOKEN)
            .iter()
            .any(|x| x.contains("QuarantinedRequest")),
        "only the requester is told"
    );

    // The record holds the response and both alerts; releasing it delivers them.
    let held: Vec<serde_json::Value> = common::admin::quarantine_held(&gw, ADMIN)
        .into_iter()
        .filter(|h| h["request_id"].as_str() == Some(ack.request_id.as_str()))
        .collect();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["kind"], "response", "{held:?}");
    assert_eq!(held[0]["messages"].as_u64(), Some(3), "{held:?}");
    let id = held[0]["id"].as_u64().unwrap();
    let (status, body) = gw.call(
        "POST",
        &format!("{}/{id}/release", common::admin::QUARANTINE_PATH),
        Some(ADMIN),
    );
    assert_eq!(status, 200, "{body}");
    let answer = wait_for(&gw, NEW_TOKEN, "the released Service Response", answers_cos);
    assert_eq!(
        element_text(&answer, "ResponseCode").as_deref(),
        Some("I0"),
        "{answer}"
    );
    both_suppliers_alerted(&gw, &ack.request_id, "held-cos-alert");
    let _ = std::fs::remove_dir_all(&record);
}
