//! Device services end to end, SRV by SRV: a real `hubgate serve` with one in-process emulated
//! premises (hub, ESME, GSME, GPF, PPMID), signed DUIS requests over HTTPS built from the
//! conformance templates, and the Service Responses pulled from the User's pull endpoint.
//!
//! For every device SRV the gateway transforms, each test checks the acknowledgement (`I99`
//! for a non-critical request; `I0` with the Pre-Command for a critical one, which is then
//! signed with the supplier's GBCS key and sent back as CommandVariant 5, answered `I99`),
//! then the Service Response: `I0` whose GBCS payload parses (grouping header and payload
//! structure, by `hubgate_protocol`'s GBCS parser) as the response of the template's use
//! case (its message code), from the addressed device. Each group also has failure paths:
//! a device type that does not fit the SRV (`E11`), and the SRVs the gateway does not
//! transform, which are refused with `E100` at once and whose reason the gateway logs.
//!
//! Joins (8.7.1, 8.7.2): the gateway fills the other device's type from the inventory and
//! its key-agreement certificate from the key store; the emulated PPMID joins the ESME
//! (CS03A2NonCritical, ACB-signed) and the ESME joins the PPMID (CS03CCritical, through the
//! Pre-Command), each answering INTEGER 0; a join naming a device off the inventory, or a
//! method B join of a non-Type 2 device, is refused with `E100`.
//!
//! Also proved here: the critical flow as a User runs it, with `hubgate correlate` checking
//! the Pre-Command against the original request before it is signed; and a device answer
//! with a bad MAC (the emulated ESME's `emulation.mac_fault_devices` fault switch) is
//! rejected by the hub actor, counted under `hubgate_actors_auth_failures_total{kind="mac"}`,
//! and the User gets `E21`.
//!
//! Not covered: use cases whose emulated answer is an error layout (fault injection by
//! message code), and SRVs outside the list in each test.
//!
//! Needs `curl` and the conformance data.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::critical::signed_precommand_request;
use common::{
    Answer, Gateway, NETWORK_OPERATOR, SUPPLIER, Seeds, element_text, metric_value, pull_answer,
    set_target, unb64,
};
use hubgate_protocol::crypto::SigningKey;
use hubgate_protocol::gbcs::{Cra, auth, frame, message_codes, payload};

const TOKEN: &str = "device-services-pull-token-0123456789abcdef";
/// The network operator's pull token.
const NO_TOKEN: &str = "device-services-operator-pull-token-0123456789";
/// The ZAZ1 other User (role OU) and its pull token.
const OTHER_USER: &str = "00-DB-12-34-56-78-00-04";
const OU_TOKEN: &str = "device-services-other-user-pull-token-012345";

/// The pull token of `sender`.
fn token_of(sender: &str) -> &'static str {
    match sender {
        NETWORK_OPERATOR => NO_TOKEN,
        OTHER_USER => OU_TOKEN,
        _ => TOKEN,
    }
}

/// The emulated premises (`emulation.hubs = 1`).
const CHF: &str = "00-DB-55-00-00-00-00-00";
const ESME: &str = "00-DB-55-00-00-00-00-01";
const GSME: &str = "00-DB-55-00-00-00-00-02";
const GPF: &str = "00-DB-55-00-00-00-00-03";
const PPMID: &str = "00-DB-55-00-00-00-00-04";

/// The RTDS devices the templates name, and the emulated device of the same kind.
const RTDS_TO_EMULATED: [(&str, &str); 5] = [
    ("00-DB-12-34-56-78-90-A0", ESME),
    ("00-DB-12-34-56-78-90-A1", GSME),
    ("00-DB-12-34-56-78-90-A2", CHF),
    ("00-DB-12-34-56-78-90-A3", GPF),
    ("00-DB-12-34-56-78-90-A4", PPMID),
];

/// The Access Control Broker of the DCC Boxed SMKI: originator of the commands the DCC
/// sends on a User's behalf.
const ACB: &str = "90-B3-D5-1F-30-00-00-02";

fn start(name: &str, extra: &[(&str, &str)]) -> Gateway {
    let mut env: Vec<(&str, &str)> = vec![
        ("HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN", TOKEN),
        ("HUBGATE_USERS__90B3D51F30020000__PULL_TOKEN", NO_TOKEN),
        ("HUBGATE_USERS__00DB123456780004__PULL_TOKEN", OU_TOKEN),
        ("HUBGATE_EMULATION__HUBS", "1"),
        ("HUBGATE_ROUTING__RESPONSE_TIMEOUT_MS", "3000"),
        // The reason for a refusal is logged at info.
        ("HUBGATE_LOG_LEVEL", "info"),
    ];
    env.extend_from_slice(extra);
    Gateway::start(
        name,
        Seeds {
            env: &env,
            ..Seeds::default()
        },
    )
}

/// The template `file` with every RTDS device ID replaced by the emulated device of the same
/// kind (the RequestID target, and devices its body names), then addressed to `target` if
/// given.
fn request(gw: &Gateway, file: &str, target: Option<&str>) -> String {
    let mut xml = gw.template(file);
    for (rtds, emulated) in RTDS_TO_EMULATED {
        xml = xml.replace(rtds, emulated);
    }
    // Sent by the supplier, whoever the template's originator is.
    let id = element_text(&xml, "RequestID").unwrap();
    let (_, rest) = id.split_once(':').unwrap();
    xml = xml.replace(&id, &format!("{SUPPLIER}:{rest}"));
    match target {
        Some(t) => set_target(&xml, t),
        None => xml,
    }
}

/// The GBCS use case of a template: its file name up to the first `_`.
fn use_case(file: &str) -> &str {
    file.split('_').next().unwrap()
}

/// The GBCS message code of a template's use case. Variants that share their use case's
/// code (`ECS70Commission`, `CS04ACCritical`, `ECS47Reset`, …) are named by the shared use
/// case.
fn expected_code(file: &str) -> u16 {
    let name = use_case(file);
    message_codes::code_of(name)
        .or_else(|| {
            [
                "Commission",
                "NonCritical",
                "Critical",
                "Activate",
                "Deactivate",
                "Reset",
                "MAC",
            ]
            .iter()
            .find_map(|s| name.strip_suffix(s).and_then(message_codes::code_of))
        })
        .unwrap_or_else(|| panic!("{file}: no message code for {name}"))
}

/// What the gateway did with a request: the acknowledgement, and the RequestID its answer
/// will carry.
struct Sent {
    ack: Answer,
    request_id: String,
    /// The Pre-Command of a critical request (its CV 4 answer).
    precommand: Option<Vec<u8>>,
}

fn supplier_key(gw: &Gateway) -> SigningKey {
    SigningKey::from_pem_or_der(&std::fs::read(gw.root.join("smki/Z1-supplier-ds.key")).unwrap())
        .unwrap()
}

/// Sends `xml` as the supplier. A Transform request (CV 4) that gets its Pre-Command is
/// signed with the supplier's GBCS key and sent again as CV 5; the answer to that is `ack`.
fn send(gw: &Gateway, xml: &str) -> Sent {
    send_as(gw, xml, SUPPLIER)
}

/// As [`send`], signed by `sender` (critical requests: the supplier only).
fn send_as(gw: &Gateway, xml: &str, sender: &str) -> Sent {
    let first = gw.submit(xml, sender);
    let cv = element_text(xml, "CommandVariant").unwrap();
    if cv != "4" || first.code != "I0" {
        return Sent {
            request_id: first.request_id.clone(),
            ack: first,
            precommand: None,
        };
    }
    let precommand = unb64(&element_text(&first.xml, "GBCSPayload").expect("a Pre-Command"));
    let signed = auth::sign_precommand(&precommand, &supplier_key(gw)).unwrap();
    let body = gw.sign_with(
        &signed_precommand_request(xml, &first.request_id, &signed),
        SUPPLIER,
        None,
    );
    let (http, text) = gw.post("/api/v1/serviceS", &body);
    Sent {
        ack: Answer::parse(http, &text),
        request_id: first.request_id,
        precommand: Some(precommand),
    }
}

/// Checks that the Service Response `xml` answers `request_id` with `I0` and a GBCS response
/// of `file`'s use case from `device`, whose payload parses; returns the parsed message's
/// message code and whether it is MAC'd.
fn check_response(xml: &str, request_id: &str, file: &str, device: &str) -> (u16, bool) {
    assert_eq!(
        element_text(xml, "ResponseCode").as_deref(),
        Some("I0"),
        "{file}: {xml}"
    );
    assert_eq!(
        element_text(xml, "RequestID").as_deref(),
        Some(request_id),
        "{file}"
    );
    let bytes = unb64(
        &element_text(xml, "GBCSPayload").unwrap_or_else(|| panic!("{file}: no GBCS: {xml}")),
    );
    let msg = frame::parse(&bytes).unwrap_or_else(|e| panic!("{file}: GBCS does not parse: {e}"));
    let h = &msg.header;
    assert_eq!(h.cra, Cra::Response, "{file}: not a response");
    assert_eq!(
        hubgate_protocol::hex::eui_duis(&h.originator),
        device,
        "{file}: the response is not from the addressed device"
    );
    let code = h.other_info.message_code;
    let expected = expected_code(file);
    assert_eq!(
        code,
        expected,
        "{file}: response message code {code:#06x} ({}), expected {expected:#06x}",
        message_codes::use_case(code).unwrap_or("?")
    );
    // The recipient is the command's originator: the User, or the ACB for commands the
    // DCC originates on the User's behalf (the User then rides along as remote party).
    let recipient = hubgate_protocol::hex::eui_duis(&h.recipient);
    assert!(
        recipient == SUPPLIER || recipient == NETWORK_OPERATOR || recipient == ACB,
        "{file}: response addressed to {recipient}"
    );
    if recipient != ACB {
        let counter: u64 = request_id.rsplit(':').next().unwrap().parse().unwrap();
        assert_eq!(h.counter, counter, "{file}: response counter");
    }
    payload::decode_with(msg.content, payload::Context::new(Cra::Response))
        .unwrap_or_else(|e| panic!("{file}: the response payload does not parse: {e}"));
    (code, msg.is_mac_wrapped())
}

/// Every get, set and action result of the DLMS response in Service Response `xml` is
/// `success` (0).
fn assert_every_item_succeeded(xml: &str, file: &str) {
    use hubgate_protocol::gbcs::payload::dlms::{AccessResponseSpec, Apdu};
    let bytes = unb64(&element_text(xml, "GBCSPayload").unwrap());
    let msg = frame::parse(&bytes).unwrap();
    let decoded = payload::decode_with(msg.content, payload::Context::new(Cra::Response)).unwrap();
    let payload::Payload::Dlms(Apdu::AccessResponse(r)) = decoded else {
        panic!("{file}: not a DLMS Access-Response")
    };
    let results: Vec<u8> = r
        .specifications
        .iter()
        .map(|s| match s {
            AccessResponseSpec::Get(r) | AccessResponseSpec::Set(r) => r.0,
            AccessResponseSpec::Action(r) => r.0,
        })
        .collect();
    assert!(
        !results.is_empty() && results.iter().all(|r| *r == 0),
        "{file}: results {results:?}"
    );
}

/// The gas meter's answer in Service Response `xml` ends with a ZCL component of `cluster`
/// and `command`, with `plain` as its payload when given, and none of its Default Responses
/// reports a failure.
fn assert_zcl_answer(xml: &str, file: &str, cluster: u16, command: u8, plain: Option<&[u8]>) {
    let bytes = unb64(&element_text(xml, "GBCSPayload").unwrap());
    let msg = frame::parse(&bytes).unwrap();
    let decoded = payload::decode_with(msg.content, payload::Context::new(Cra::Response)).unwrap();
    let payload::Payload::Gbz(g) = decoded else {
        panic!("{file}: not GBZ")
    };
    // The last component, and every component's Default Response a success.
    let c = g.components().last().unwrap();
    assert_eq!(
        (c.cluster_id, c.zcl.command_id),
        (cluster, command),
        "{file}: the answer"
    );
    for d in g.components() {
        if d.zcl.frame_control & 0x03 == 0
            && d.zcl.command_id == 0x0b
            && let payload::gbz::ComponentBody::Plain(p) = d.body
        {
            assert_eq!(p.get(1), Some(&0), "{file}: a Default Response {p:02x?}");
        }
    }
    if let Some(plain) = plain {
        let payload::gbz::ComponentBody::Plain(p) = c.body else {
            panic!("{file}: encrypted")
        };
        assert_eq!(p, plain, "{file}: payload");
    }
}

/// The gas meter's answer in Service Response `xml` to a *Change Supply* is a *Supply
/// Status Response* giving `status` (0 off, 1 armed) as the valve's new state.
fn assert_supply_status(xml: &str, file: &str, status: u8) {
    let bytes = unb64(&element_text(xml, "GBCSPayload").unwrap());
    let msg = frame::parse(&bytes).unwrap();
    let payload::Payload::Gbz(g) = payload::decode(msg.content).unwrap() else {
        panic!("{file}: not GBZ")
    };
    let c = &g.components()[0];
    assert_eq!(
        (c.cluster_id, c.zcl.command_id),
        (0x0702, 0x0c),
        "{file}: a Supply Status Response"
    );
    let payload::gbz::ComponentBody::Plain(p) = c.body else {
        panic!("{file}: the Supply Status Response is encrypted")
    };
    assert_eq!(p.last(), Some(&status), "{file}: the supply status");
}

/// The CS02a / CS02f answer in Service Response `xml` reports, first, the supplier role
/// (2) with status 0 and the supplier's certificates: its digital-signature cell and
/// key-agreement cell name the supplier's EUI.
fn assert_holds_supplier(xml: &str, file: &str) {
    use hubgate_protocol::gbcs::payload::asn1::Node;
    let bytes = unb64(&element_text(xml, "GBCSPayload").unwrap());
    let msg = frame::parse(&bytes).unwrap();
    let top = Node::decode(msg.content).unwrap();
    let supplier = &top.children[0].children;
    assert_eq!(supplier[0].value, [2], "{file}: the first role answered");
    assert_eq!(supplier[1].value, [0], "{file}: the supplier's status");
    let cells = &supplier[3].children;
    let euis: Vec<String> = cells
        .iter()
        .map(|c| {
            hubgate_protocol::hex::eui_duis(
                c.children[c.children.len() - 2].value.try_into().unwrap(),
            )
        })
        .collect();
    assert!(
        cells.len() >= 2 && euis.iter().all(|e| e == SUPPLIER),
        "{file}: supplier cells name {euis:?}"
    );
}

/// One request and what must come of it.
struct Case {
    /// Template file name.
    file: &'static str,
    /// The device it is sent to; `None`: the template's device, mapped to the emulated one.
    target: Option<&'static str>,
    /// For a join: the other device the body names instead of the template's.
    other: Option<&'static str>,
    /// The User that signs and sends it.
    sender: &'static str,
    /// What the gateway must do.
    expect: Expect,
}

enum Expect {
    /// Acknowledged (I99, after I0 + Pre-Command for a critical SRV), then a Service
    /// Response I0 with the use case's GBCS response from the target device.
    Answered,
    /// As [`Answered`], and every item of the DLMS response (each get, set and action
    /// result) is `success`: the emulated meter holds what the command reads or writes.
    Succeeded,
    /// Answered at once with this code, no Service Response; the gateway's log names the
    /// reason with this text (empty: not checked).
    Refused(&'static str, &'static str),
    /// Acknowledged (I99), then a Service Response with this code and no GBCS (the device
    /// discarded the command); the gateway's log has this text.
    NoAnswer(&'static str, &'static str),
}

use Expect::{Answered, NoAnswer, Refused, Succeeded};

const fn ok(file: &'static str) -> Case {
    Case {
        file,
        target: None,
        other: None,
        sender: SUPPLIER,
        expect: Answered,
    }
}

/// `file` to its template's device, every item of the answer a success.
const fn all_ok(file: &'static str) -> Case {
    Case {
        file,
        target: None,
        other: None,
        sender: SUPPLIER,
        expect: Succeeded,
    }
}

const fn to(file: &'static str, target: &'static str, expect: Expect) -> Case {
    Case {
        file,
        target: Some(target),
        other: None,
        sender: SUPPLIER,
        expect,
    }
}

/// A join `file` sent to `target`, naming `other` as the device to join.
const fn join(
    file: &'static str,
    target: &'static str,
    other: &'static str,
    expect: Expect,
) -> Case {
    Case {
        file,
        target: Some(target),
        other: Some(other),
        sender: SUPPLIER,
        expect,
    }
}

/// `file` sent by the network operator to its template's device, every item of the answer
/// a success.
const fn by_network_operator(file: &'static str) -> Case {
    Case {
        file,
        target: None,
        other: None,
        sender: NETWORK_OPERATOR,
        expect: Succeeded,
    }
}

/// `file` sent by `sender` to its template's device.
const fn by(file: &'static str, sender: &'static str, expect: Expect) -> Case {
    Case {
        file,
        target: None,
        other: None,
        sender,
        expect,
    }
}

const fn refused(file: &'static str, code: &'static str, reason: &'static str) -> Case {
    Case {
        file,
        target: None,
        other: None,
        sender: SUPPLIER,
        expect: Refused(code, reason),
    }
}

/// Runs `cases` in order on one gateway; every failure is collected and reported together.
fn run(name: &str, cases: &[Case]) {
    let gw = start(name, &[]);
    let mut failures = Vec::new();
    for case in cases {
        let mut xml = request(&gw, case.file, case.target);
        if case.sender != SUPPLIER {
            xml = xml.replace(&format!("{SUPPLIER}:"), &format!("{}:", case.sender));
        }
        if let Some(other) = case.other {
            let named = element_text(&xml, "OtherDeviceID").unwrap();
            xml = xml.replace(
                &format!("OtherDeviceID>{named}<"),
                &format!("OtherDeviceID>{other}<"),
            );
        }
        let target = element_text(&xml, "RequestID")
            .and_then(|id| id.split(':').nth(1).map(str::to_string))
            .unwrap();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let sent = send_as(&gw, &xml, case.sender);
            let token = token_of(case.sender);
            match &case.expect {
                Answered | Succeeded => {
                    assert_eq!(sent.ack.code, "I99", "{}: {}", case.file, sent.ack.xml);
                    if element_text(&xml, "CommandVariant").as_deref() == Some("4") {
                        let pre = sent.precommand.as_ref().expect("a Pre-Command");
                        let pre = frame::parse(pre).unwrap();
                        assert_eq!(
                            pre.header.other_info.message_code,
                            expected_code(case.file),
                            "{}: Pre-Command message code",
                            case.file
                        );
                    }
                    let answer = pull_answer(&gw, token, &sent.request_id, Duration::from_secs(20));
                    check_response(&answer, &sent.request_id, case.file, &target);
                    if matches!(case.expect, Succeeded) {
                        assert_every_item_succeeded(&answer, case.file);
                    }
                    if use_case(case.file) == "CS02e" {
                        // The device's own digital-signature certificate.
                        let bytes = unb64(&element_text(&answer, "GBCSPayload").unwrap());
                        let msg = frame::parse(&bytes).unwrap();
                        let c = hubgate_protocol::smki::Certificate::from_der(msg.content)
                            .unwrap_or_else(|e| panic!("{}: {e}", case.file));
                        assert_eq!(
                            c.eui().map(|e| hubgate_protocol::hex::eui_duis(&e)),
                            Some(target.clone()),
                            "{}: the certificate's subject",
                            case.file
                        );
                        assert_eq!(
                            c.usage(),
                            Some(hubgate_protocol::smki::Usage::DigitalSignature)
                        );
                    }
                    // The gas meter's answers: (cluster, command, plain payload if known).
                    let expected_zcl: Option<(u16, u8, Option<&[u8]>)> = match use_case(case.file) {
                        // A Default Response SUCCESS to *Request New Password Response*
                        // and to *Update CIN*.
                        "GCS11" => Some((0x0708, 0x0b, Some(&[0x02, 0x00]))),
                        "GCS36" => Some((0x0708, 0x0b, Some(&[0x06, 0x00]))),
                        // *Start Sampling Response*: the network data's sample ID.
                        "GCS31" => Some((0x0702, 0x0d, Some(&[0x02, 0x00]))),
                        // *Get Sampled Data Response* (encrypted), not NOT_FOUND: the
                        // recording GCS31 started is there.
                        "GCS18" => Some((0x0702, 0x07, None)),
                        // The last of the critical commands' Default Responses.
                        "GCS04" => Some((0x0705, 0x0b, Some(&[0x02, 0x00]))),
                        "GCS23" => Some((0x0700, 0x0b, Some(&[0x03, 0x00]))),
                        "GCS24" => Some((0x0702, 0x0b, Some(&[0x0d, 0x00]))),
                        _ => None,
                    };
                    if let Some((cluster, command, plain)) = expected_zcl {
                        assert_zcl_answer(&answer, case.file, cluster, command, plain);
                    }
                    if use_case(case.file) == "CS02c" {
                        let bytes = unb64(&element_text(&answer, "GBCSPayload").unwrap());
                        let msg = frame::parse(&bytes).unwrap();
                        use x509_parser::prelude::FromDer;
                        let parsed =
                            x509_parser::certification_request::X509CertificationRequest::from_der(
                                msg.content,
                            );
                        assert!(parsed.is_ok(), "{}: not a PKCS#10 request", case.file);
                    }
                    if use_case(case.file) == "DBCH03" {
                        // The configuration DBCH04 wrote before: lower-band channels 1 and 2.
                        let bytes = unb64(&element_text(&answer, "GBCSPayload").unwrap());
                        let content = frame::parse(&bytes).unwrap().content.to_vec();
                        assert!(
                            hubgate_protocol::hex::encode(&content).contains("0420e0000006"),
                            "{}: {}",
                            case.file,
                            hubgate_protocol::hex::encode(&content)
                        );
                    }
                    if matches!(use_case(case.file), "ECS50" | "GCS36") {
                        // SR 9.1: the new CIN comes with the meter's answer.
                        let cin = element_text(&answer, "CustomerIdentificationNumber");
                        assert!(
                            cin.as_deref()
                                .is_some_and(hubgate_protocol::transform::is_cin),
                            "{}: CIN {cin:?} in {answer}",
                            case.file
                        );
                        // A CINMessage the DUIS XSD and the XML-DSig checker accept.
                        common::oracle::xml_oracle(
                            &gw,
                            &answer,
                            &format!("cin-{}", use_case(case.file)),
                        );
                    }
                    if matches!(use_case(case.file), "CS02aMAC" | "CS02fMAC") {
                        assert_holds_supplier(&answer, case.file);
                    }
                    if let Some(status) = match use_case(case.file) {
                        "GCS32" => Some(0),
                        "GCS39" => Some(1),
                        _ => None,
                    } {
                        assert_supply_status(&answer, case.file, status);
                    }
                    if use_case(case.file).starts_with("CS03") {
                        // The device joined the other one: its answer is INTEGER 0.
                        let bytes = unb64(&element_text(&answer, "GBCSPayload").unwrap());
                        let msg = frame::parse(&bytes).unwrap();
                        assert_eq!(
                            msg.content,
                            [0x02, 0x01, 0x00],
                            "{}: join result",
                            case.file
                        );
                    }
                }
                NoAnswer(code, reason) => {
                    assert_eq!(sent.ack.code, "I99", "{}: {}", case.file, sent.ack.xml);
                    let answer = pull_answer(&gw, TOKEN, &sent.request_id, Duration::from_secs(20));
                    assert_eq!(
                        element_text(&answer, "ResponseCode").as_deref(),
                        Some(*code),
                        "{}: {answer}",
                        case.file
                    );
                    assert!(element_text(&answer, "GBCSPayload").is_none(), "{answer}");
                    assert!(
                        gw.log().contains(reason),
                        "{}: no {reason:?} in the log",
                        case.file
                    );
                }
                Refused(code, reason) => {
                    assert_eq!(&sent.ack.code, code, "{}: {}", case.file, sent.ack.xml);
                    assert!(
                        sent.ack.payload("PreCommand").is_none(),
                        "{}: a refusal carries no Pre-Command",
                        case.file
                    );
                    if !reason.is_empty() {
                        let log = gw.log();
                        let line = log
                            .lines()
                            .rev()
                            .find(|l| l.contains(&format!("code={code}")) || l.contains(code));
                        assert!(
                            line.is_some_and(|l| l.contains(reason)),
                            "{}: the gateway's reason does not mention {reason:?}: {line:?}",
                            case.file
                        );
                    }
                }
            }
        }));
        if let Err(e) = result {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{} → {target}: {msg}", case.file));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

#[test]
fn meter_reads() {
    run(
        "reads",
        &[
            ok("ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML"),
            ok("ECS20b_4.4.2_SINGLE_SUCCESS_REQUEST_DUIS.XML"),
            ok("GCS15b_4.4.2_SUCCESS_REQUEST_DUIS.XML"),
            ok("GCS15c_4.4.3_SUCCESS_REQUEST_DUIS.XML"),
            ok("ECS20a_4.4.4_SUCCESS_REQUEST_DUIS.XML"),
            ok("GCS15d_4.4.4_SUCCESS_REQUEST_DUIS.XML"),
            ok("ECS20d_4.4.5_SUCCESS_REQUEST_DUIS.XML"),
            ok("GCS15e_4.4.5_SUCCESS_REQUEST_DUIS.XML"),
            ok("ECS21a_4.6.1_SINGLE_SUCCESS_REQUEST_DUIS.XML"),
            ok("GCS16a_4.6.1_SUCCESS_REQUEST_DUIS.XML"),
            ok("ECS22b_4.8.1_SINGLE_SUCCESS_REQUEST_DUIS.XML"),
            ok("GCS17_4.8.1_SUCCESS_REQUEST_DUIS.XML"),
            // The gas register, read from the GPF's copy (the templates' device) and from
            // the GSME itself.
            ok("GCS13a_4.1.1_SUCCESS_RELIABLE_GPF_REQUEST_DUIS.XML"),
            to(
                "GCS13a_4.1.1_SUCCESS_RELIABLE_GSME_REQUEST_DUIS.XML",
                GSME,
                Answered,
            ),
            ok("ECS24_4.11.1_SUCCESS_REQUEST_DUIS.XML"),
            ok("GCS21f_4.11.1_SUCCESS_REQUEST_DUIS.XML"),
            ok("ECS24b_4.11.2_SUCCESS_REQUEST_DUIS.XML"),
            // The fixed-list reads.
            all_ok("ECS17a_4.2_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS18b_4.12.1_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS18a_4.12.2_SUCCESS_REQUEST_DUIS.XML"),
            ok("ECS26a_4.13_SINGLE_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS27_4.15_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS17c_4.16_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS82_4.18_SUCCESS_REQUEST_DUIS.XML"),
            ok("GCS60_4.18_SUCCESS_REQUEST_DUIS.XML"),
            ok("GCS21b_4.13_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS22a_4.8.3_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS34_6.12_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS66_4.17_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS35a_6.13_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS35b_6.13_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS35f_6.13_SUCCESS_REQUEST_DUIS.XML"),
            // The same read from the network operator is ECS35g.
            by_network_operator("ECS35g_6.13_SUCCESS_REQUEST_DUIS.XML"),
            ok("ECS35d_6.13_SUCCESS_REQUEST_DUIS.XML"),
            ok("CS10a_6.13_SUCCESS_REQUEST_DUIS.XML"),
            ok("CS10b_6.13_SUCCESS_REQUEST_DUIS.XML"),
            to("CS10a_6.13_SUCCESS_REQUEST_DUIS.XML", GPF, Answered),
            all_ok("ECS61e_7.15_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS19_4.3_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS21b_4.14_KRP_SUCCESS_REQUEST_DUIS.XML"),
            // For an unknown remote party: the ACB sends it with the User's certificate.
            all_ok("ECS21b_4.14_URP_SUCCESS_REQUEST_DUIS.XML"),
            // To the GPF, which keeps the gas daily consumption log.
            ok("GCS61_4.17_SUCCESS_REQUEST_DUIS.XML"),
            to(
                "GCS61_4.17_SUCCESS_REQUEST_DUIS.XML",
                GSME,
                Refused("E100", "SRV 4.17 has no supported use case for a GSME"),
            ),
            ok("GCS14_4.3_SUCCESS_RELIABLE_GPF_REQUEST_DUIS.XML"),
            to(
                "GCS14_4.3_SUCCESS_UNRELIABLE_REQUEST_DUIS.XML",
                GSME,
                Answered,
            ),
            ok("GCS16b_4.14_KRP_SUCCESS_REQUEST_DUIS.XML"),
            // Failure paths: a read of a meter's registers sent to the hub.
            to(
                "ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML",
                CHF,
                Refused("E11", "device type CHF does not fit SRV 4.1.1"),
            ),
            to(
                "ECS22b_4.8.1_SINGLE_SUCCESS_REQUEST_DUIS.XML",
                PPMID,
                Refused("E11", "device type PPMID does not fit SRV 4.8.1"),
            ),
            // Use cases with no transform: refused at once, naming what is supported.
            refused(
                "ECS20c_4.4.3_SINGLE_SUCCESS_REQUEST_DUIS.XML",
                "E100",
                "SRV 4.4.3 has no supported use case for a ESME (supported: GCS15c for GSME)",
            ),
            to(
                "GCS17_4.8.1_SUCCESS_REQUEST_DUIS.XML",
                GPF,
                Refused(
                    "E100",
                    "SRV 4.8.1 has no supported use case for a GPF (supported: ECS22b for \
                     ESME, GCS17 for GSME)",
                ),
            ),
        ],
    );
}

#[test]
fn configuration_firmware_and_supply_reads() {
    run(
        "config",
        &[
            ok("ECS26k_6.2.1_SUCCESS_REQUEST_DUIS.XML"),
            ok("ECS26c_6.2.2_SUCCESS_REQUEST_DUIS.XML"),
            ok("ECS26d_6.2.3_SUCCESS_REQUEST_DUIS.XML"),
            ok("GCS21k_6.2.3_SUCCESS_REQUEST_DUIS.XML"),
            ok("ECS26i_6.2.4_SUCCESS_REQUEST_DUIS.XML"),
            ok("ECS40_6.2.7_SINGLE_SUCCESS_REQUEST_DUIS.XML"),
            ok("GCS46_6.2.7_SUCCESS_REQUEST_DUIS.XML"),
            ok("GCS21a_6.2.8_SUCCESS_REQUEST_DUIS.XML"),
            ok("ECS26j_6.2.9_SUCCESS_REQUEST_DUIS.XML"),
            ok("ECS25r1_6.2.10_SUCCESS_REQUEST_DUIS.XML"),
            ok("ECS52_11.2_SUCCESS_REQUEST_DUIS.XML"),
            ok("GCS38_11.2_SUCCESS_REQUEST_DUIS.XML"),
            ok("CS08_11.2_SUCCESS_REQUEST_DUIS.XML"),
            // The credentials each device holds, asked by the ACB.
            ok("CS02aMAC_6.24.1_SUCCESS_REQUEST_DUIS.XML"),
            to("CS02aMAC_6.24.1_SUCCESS_REQUEST_DUIS.XML", GSME, Answered),
            ok("CS02fMAC_6.24.1_SUCCESS_REQUEST_DUIS.XML"),
            to(
                "CS02fMAC_6.24.1_SUCCESS_REQUEST_DUIS.XML",
                GSME,
                Refused("E100", "SRV 6.24.1 has no supported use case for a GSME"),
            ),
            ok("ECS45_7.4_SUCCESS_REQUEST_DUIS.XML"),
            to(
                "ECS45_7.4_SUCCESS_REQUEST_DUIS.XML",
                CHF,
                Refused("E11", "device type CHF does not fit SRV 7.4"),
            ),
            ok("GCS33_7.4_SUCCESS_REQUEST_DUIS.XML"),
            to(
                "GCS33_7.4_SUCCESS_REQUEST_DUIS.XML",
                GPF,
                Refused(
                    "E100",
                    "SRV 7.4 has no supported use case for a GPF (supported: ECS45 for ESME, \
                     GCS33 for GSME)",
                ),
            ),
        ],
    );
}

#[test]
fn resets_settings_and_network_reads() {
    run(
        "settings",
        &[
            all_ok("ECS23_4.10_SUCCESS_REQUEST_DUIS.XML"),
            by_network_operator("ECS29e_6.27_SUCCESS_REQUEST_DUIS.XML"),
            by_network_operator("ECS29a_6.5_SUCCESS_REQUEST_DUIS.XML"),
            by_network_operator("ECS29c_6.5_SUCCESS_REQUEST_DUIS.XML"),
            by_network_operator("ECS57_6.18.2_ALL_OPTIONALS_SUCCESS_REQUEST_DUIS.XML"),
            // Network operator services are not the supplier's.
            refused(
                "ECS57_6.18.2_SOME_OPTIONALS_SUCCESS_REQUEST_DUIS.XML",
                "E2",
                "",
            ),
            all_ok("ECS28b_6.4.2_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS15a_3.3_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS16_3.4_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS39a_6.20.1_SINGLE_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS39b_6.20.2_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS62Add_7.9_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS61c_7.11_SUCCESS_REQUEST_DUIS.XML"),
            // Critical: through the Pre-Command, signed by the supplier.
            all_ok("ECS04a_1.5_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS04b_1.5_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS09_2.5_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS30a_6.8_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS48_6.26_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS28a_6.4.1_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML"),
            ok("CS02e_6.24.2_SUCCESS_REQUEST_DUIS.XML"),
            to("CS02e_6.24.2_SUCCESS_REQUEST_DUIS.XML", GSME, Answered),
            // The gas meter's.
            ok("GCS40a_1.5_SUCCESS_REQUEST_DUIS.XML"),
            ok("GCS40c_1.5_SUCCESS_REQUEST_DUIS.XML"),
            ok("GCS40d_1.5_SUCCESS_REQUEST_DUIS.XML"),
            ok("GCS06_2.5_SUCCESS_REQUEST_DUIS.XML"),
            ok("GCS25a_6.8_SUCCESS_REQUEST_DUIS.XML"),
            ok("CS11_3.3_SUCCESS_REQUEST_DUIS.XML"),
            ok("GCS44_3.4_SUCCESS_REQUEST_DUIS.XML"),
            ok("GCS41_6.20.1_SUCCESS_REQUEST_DUIS.XML"),
            to(
                "ECS16_3.4_SUCCESS_REQUEST_DUIS.XML",
                GPF,
                Refused("E100", "SRV 3.4 has no supported use case for a GPF"),
            ),
            to(
                "ECS23_4.10_SUCCESS_REQUEST_DUIS.XML",
                CHF,
                Refused("E11", "device type CHF does not fit SRV 4.10"),
            ),
        ],
    );
}

#[test]
fn prices_credentials_gas_settings_customer_number_network_data_and_sub_ghz_radio() {
    run(
        "customer",
        &[
            ok("GCS11_3.5_SUCCESS_REQUEST_DUIS.XML"),
            // 9.1 is the other User's: the DCC draws the CIN, the ACB sets it on the meter.
            by("GCS36_9.1_SUCCESS_REQUEST_DUIS.XML", OTHER_USER, Answered),
            by("ECS50_9.1_SUCCESS_REQUEST_DUIS.XML", OTHER_USER, Succeeded),
            refused("ECS50_9.1_SUCCESS_REQUEST_DUIS.XML", "E2", ""),
            // 14.1 is the gas transporter's; the recording it starts is what 4.10 reads.
            by(
                "GCS31_14.1_SUCCESS_REQUEST_DUIS.XML",
                NETWORK_OPERATOR,
                Answered,
            ),
            refused("GCS31_14.1_SUCCESS_REQUEST_DUIS.XML", "E2", ""),
            ok("GCS18_4.10_SUCCESS_REQUEST_DUIS.XML"),
            // The dual-band hub's sub-GHz radio, through the ACB.
            all_ok("DBCH04_6.28_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("DBCH05_6.29_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("DBCH03_6.30_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("DBCH01_6.31_SUCCESS_REQUEST_DUIS.XML"),
            // Critical gas settings, through the Pre-Command signed by the supplier: a
            // Default Response SUCCESS to each command.
            ok("GCS04_2.3_SUCCESS_REQUEST_DUIS.XML"),
            ok("GCS23_6.6_SUCCESS_REQUEST_DUIS.XML"),
            ok("GCS24_6.7_SUCCESS_REQUEST_DUIS.XML"),
            // 1.2.1 / 1.2.2: prices alone; 1.1.2: the secondary element's tariff.
            all_ok("ECS01b_1.2.1_IMMEDIATE_TOU_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS01d_1.2.2_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS01c_1.1.2_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML"),
            // 2.1 on the ESME; the gas meter's form is not built, and says so.
            all_ok("ECS08_2.1_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS46c_6.14.2_IMMEDIATE_SOME_OPTIONALS_SUCCESS_REQUEST_DUIS.XML"),
            refused(
                "GCS05_2.1_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML",
                "E100",
                "no supported use case for a GSME",
            ),
            ok("GCS01b_1.2.1_IMMEDIATE_TOU_SUCCESS_REQUEST_DUIS.XML"),
            // 6.17: the meter answers with a certification request for a new key.
            ok("CS02c_6.17_SUCCESS_REQUEST_DUIS.XML"),
            to(
                "DBCH03_6.30_SUCCESS_REQUEST_DUIS.XML",
                ESME,
                Refused("E11", "device type ESME does not fit SRV 6.30"),
            ),
        ],
    );
}

#[test]
fn top_up_and_display_message() {
    run(
        "prepay",
        &[
            ok("CS01a_2.2_SUCCESS_REQUEST_DUIS.XML"),
            ok("CS01b_2.2_SUCCESS_REQUEST_DUIS.XML"),
            ok("ECS10_3.1_SUCCESS_REQUEST_DUIS.XML"),
            ok("GCS07_3.1_SUCCESS_REQUEST_DUIS.XML"),
            to(
                "CS01a_2.2_SUCCESS_REQUEST_DUIS.XML",
                CHF,
                Refused("E11", "device type CHF does not fit SRV 2.2"),
            ),
            to(
                "ECS10_3.1_SUCCESS_REQUEST_DUIS.XML",
                GPF,
                Refused("E100", "SRV 3.1 has no supported use case for a GPF"),
            ),
        ],
    );
}

#[test]
fn critical_commands() {
    run(
        "critical",
        &[
            ok("ECS01a_1.1.1_IMMEDIATE_TOU_SUCCESS_REQUEST_DUIS.XML"),
            ok("GCS01a_1.1.1_IMMEDIATE_TOU_SUCCESS_REQUEST_DUIS.XML"),
            ok("ECS02_1.6_IMMEDIATE_SINGLE_SUCCESS_REQUEST_DUIS.XML"),
            ok("GCS02_1.6_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML"),
            ok("ECS70_6.11_SUCCESS_REQUEST_DUIS.XML"),
            ok("GCS28_6.11_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS42_7.1_SUCCESS_REQUEST_DUIS.XML"),
            ok("GCS32_7.2_SUCCESS_REQUEST_DUIS.XML"),
            ok("GCS39_7.3_SUCCESS_REQUEST_DUIS.XML"),
            ok("ECS70Commission_8.1.1_SUCCESS_REQUEST_DUIS.XML"),
            ok("GCS28Commission_8.1.1_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS46a_6.14.1_ALL_OPTIONALS_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS81_6.25_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS38_7.12_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS47Activate_7.5_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS47Deactivate_7.6_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS47Reset_7.8_SUCCESS_REQUEST_DUIS.XML"),
            all_ok("ECS44_7.3_SUCCESS_REQUEST_DUIS.XML"),
            // Failure paths: refused at the Transform, before any Pre-Command.
            to(
                "ECS42_7.1_SUCCESS_REQUEST_DUIS.XML",
                CHF,
                Refused("E11", "device type CHF does not fit SRV 7.1"),
            ),
            to(
                "ECS01a_1.1.1_IMMEDIATE_TOU_SUCCESS_REQUEST_DUIS.XML",
                PPMID,
                Refused("E11", "device type PPMID does not fit SRV 1.1.1"),
            ),
            refused(
                "ECS43_7.2_SUCCESS_REQUEST_DUIS.XML",
                "E100",
                "SRV 7.2 has no supported use case for a ESME (supported: GCS32 for GSME)",
            ),
            // Last: it replaces the supplier's certificate on the ESME.
            ok("CS02bSupplierBySupplier_6.15.1_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML"),
        ],
    );
}

#[test]
fn han_device_log_services() {
    run(
        "devlog",
        &[
            ok("CCS06_8.9_SUCCESS_REQUEST_DUIS.XML"),
            ok("CCS07_8.9_SUCCESS_REQUEST_DUIS.XML"),
            // The same DUIS request as CCS06; to the GPF the gateway sends CCS05CCS04, which
            // the emulated GPF does not implement: it discards the command.
            to(
                "CCS05CCS04_8.9_SUCCESS_REQUEST_DUIS.XML",
                GPF,
                NoAnswer(
                    "E21",
                    "use case 0x0004 is not implemented by this emulated device",
                ),
            ),
            // Nor does the emulated GSME implement CS07.
            to(
                "CS07_8.9_SUCCESS_REQUEST_DUIS.XML",
                GSME,
                NoAnswer(
                    "E21",
                    "use case 0x0013 is not implemented by this emulated device",
                ),
            ),
            ok("CS04ACNonCritical_8.8.2_SUCCESS_REQUEST_DUIS.XML"),
            ok("CS04ACCritical_8.8.1_SUCCESS_REQUEST_DUIS.XML"),
            to(
                "CCS06_8.9_SUCCESS_REQUEST_DUIS.XML",
                PPMID,
                Refused("E100", "no supported use case for a PPMID"),
            ),
            // Joins: the gateway fills the other device's type from the inventory and its
            // key-agreement certificate from the key store. The PPMID joins the ESME by
            // method A (the ACB originates and signs the command to the PPMID); the ESME
            // joins the PPMID by method C (critical: Pre-Command, signed, then sent).
            join(
                "CS03A2NonCritical_8.7.2_SUCCESS_REQUEST_DUIS.XML",
                PPMID,
                ESME,
                Answered,
            ),
            join(
                "CS03CCritical_8.7.1_SUCCESS_REQUEST_DUIS.XML",
                ESME,
                PPMID,
                Answered,
            ),
            // Refused: the other device is not on the inventory; method B joins only a
            // Type 2 device, and the premises' PPMID is not one.
            refused(
                "CS03A1_8.7.1_SUCCESS_REQUEST_DUIS.XML",
                "E100",
                "SRV 8.7.1: the other device 00-DB-12-34-56-78-90-9A is not in the Smart Metering Inventory",
            ),
            join(
                "CS03B_8.7.2_SUCCESS_REQUEST_DUIS.XML",
                ESME,
                PPMID,
                Refused("E100", "CS03B joins a Type 2 device"),
            ),
            // 8.11 and 8.12.x run end to end in `device_log.rs`. A restore naming an old
            // device the inventory does not know has no DCC copy to carry: refused.
            refused(
                "CCS03_8.12.1_SUCCESS_REQUEST_DUIS.XML",
                "E100",
                "SRV 8.12.1: the old device",
            ),
            refused(
                "GCS59_8.12.2_SUCCESS_REQUEST_DUIS.XML",
                "E100",
                "SRV 8.12.2: the old device",
            ),
        ],
    );
}

/// The critical flow as a User runs it: Transform, `hubgate correlate` on the Pre-Command
/// with the original request, sign, send, acknowledgement, Service Response.
#[test]
fn critical_flow_checked_with_hubgate_correlate() {
    let gw = start("correlate", &[]);
    let file = "ECS42_7.1_SUCCESS_REQUEST_DUIS.XML";
    let xml = request(&gw, file, None);
    let transform = gw.submit(&xml, SUPPLIER);
    assert_eq!(transform.code, "I0", "{}", transform.xml);

    // The User keeps the request it signed and the DUIS answer carrying the Pre-Command.
    let signed_request = gw.dir.join("transform-request.xml");
    std::fs::write(
        &signed_request,
        xml.replace(
            &element_text(&xml, "RequestID").unwrap(),
            &transform.request_id,
        ),
    )
    .unwrap();
    let answer_file = gw.dir.join("transform-answer.xml");
    std::fs::write(&answer_file, &transform.xml).unwrap();
    let correlate = |pre: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_hubgate"))
            .args(["correlate", "--request"])
            .arg(&signed_request)
            .arg("--precommand")
            .arg(pre)
            .output()
            .unwrap()
    };
    let out = correlate(&answer_file);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.starts_with("CORRELATED"), "{said}");
    assert!(said.contains("ECS42"), "{said}");

    // The check can fail: the same Pre-Command against another request of the User's.
    let other = gw.dir.join("other-request.xml");
    std::fs::write(
        &other,
        set_target(&std::fs::read_to_string(&signed_request).unwrap(), GSME),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hubgate"))
        .args(["correlate", "--request"])
        .arg(&other)
        .arg("--precommand")
        .arg(&answer_file)
        .output()
        .unwrap();
    let mismatch = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{mismatch}");
    assert!(mismatch.starts_with("MISMATCH"), "{mismatch}");

    // Correlated: sign and send.
    let precommand = unb64(&element_text(&transform.xml, "GBCSPayload").unwrap());
    let signed = auth::sign_precommand(&precommand, &supplier_key(&gw)).unwrap();
    let body = gw.sign_with(
        &signed_precommand_request(&xml, &transform.request_id, &signed),
        SUPPLIER,
        None,
    );
    let (http, text) = gw.post("/api/v1/serviceS", &body);
    let ack = Answer::parse(http, &text);
    assert_eq!(ack.code, "I99", "{text}");
    assert_eq!(ack.request_id, transform.request_id);
    let response = pull_answer(&gw, TOKEN, &transform.request_id, Duration::from_secs(20));
    check_response(&response, &transform.request_id, file, ESME);
    let msg_bytes = unb64(&element_text(&response, "GBCSPayload").unwrap());
    let msg = frame::parse(&msg_bytes).unwrap();
    assert!(
        matches!(msg.signature, frame::SignatureField::Present(_)),
        "a signed command gets a device-signed response"
    );
}

/// A device that answers with a corrupted MAC: the hub actor rejects the answer and counts
/// it; the command ends without a valid answer, E21. The same gateway's other meter, whose
/// MAC is intact, still answers.
#[test]
fn an_answer_with_a_bad_mac_is_rejected_counted_and_the_user_gets_e21() {
    let gw = start("badmac", &[("HUBGATE_EMULATION__MAC_FAULT_DEVICES", ESME)]);
    assert!(
        gw.startup.contains("answers with a corrupted MAC"),
        "{}",
        gw.startup
    );
    let series = "hubgate_actors_auth_failures_total";
    let before = metric_value(&gw.metrics_text(), series, "kind=\"mac\"");

    // The GSME's answer is intact.
    let file = "GCS21f_4.11.1_SUCCESS_REQUEST_DUIS.XML";
    let sent = send(&gw, &request(&gw, file, None));
    assert_eq!(sent.ack.code, "I99", "{}", sent.ack.xml);
    let xml = pull_answer(&gw, TOKEN, &sent.request_id, Duration::from_secs(20));
    check_response(&xml, &sent.request_id, file, GSME);
    assert_eq!(
        metric_value(&gw.metrics_text(), series, "kind=\"mac\""),
        before
    );

    // The ESME's answer carries a bad MAC.
    let file = "ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML";
    let sent = send(&gw, &request(&gw, file, None));
    assert_eq!(sent.ack.code, "I99", "{}", sent.ack.xml);
    let xml = pull_answer(&gw, TOKEN, &sent.request_id, Duration::from_secs(20));
    assert_eq!(
        element_text(&xml, "ResponseCode").as_deref(),
        Some("E21"),
        "{xml}"
    );
    assert!(
        element_text(&xml, "GBCSPayload").is_none(),
        "the rejected answer is not passed on: {xml}"
    );
    let metrics = gw.metrics_text();
    let after = metric_value(&metrics, series, "kind=\"mac\"");
    assert_eq!(after, before + 1.0, "{metrics}");
    assert!(
        metric_value(&metrics, "hubgate_actors_timeouts_total", "code=\"E21\"") >= 1.0,
        "{metrics}"
    );
}
