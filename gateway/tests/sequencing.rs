//! Request sequencing end to end: `hubgate serve` with two emulated premises, signed DUIS
//! requests over HTTPS naming a `PrecedingServiceRequestID`, and the Service Responses the
//! User pulls, in the order the gateway queued them.
//!
//! To hold a predecessor in flight for a while, eight reads first go to ESMEs behind the first
//! hub that nobody answers: they fill the hub's eight in-flight places until their response
//! timeout (3 s), so a read to the first premises' ESME waits that long before it is sent and
//! then succeeds. A dependant addressed to the second premises (another hub, free) would be
//! answered at once without sequencing; with it, its answer comes after its predecessor's.
//!
//! Needs `curl` (installed by `scripts/test`).

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Answer, Gateway, NETWORK_OPERATOR, SUPPLIER, Seeds, element_text, set_target};

const TOKEN: &str = "sequencing-pull-token-0123456789abcdef0123";
/// The first emulated premises: hub `…00`, ESME `…01`.
const ESME: &str = "00-DB-55-00-00-00-00-01";
/// The second emulated premises (hub `…10`): its ESME.
const ESME2: &str = "00-DB-55-00-00-00-00-11";
/// ESMEs behind the first hub with no emulated meter: nothing answers (RTDS devices, whose
/// certificates come with `--device-keys`, so their commands can be MAC'd).
const SILENT: [&str; 8] = [
    "00-DB-12-34-56-78-90-01",
    "00-DB-12-34-56-78-90-02",
    "00-DB-12-34-56-78-90-03",
    "00-DB-12-34-56-78-90-04",
    "00-DB-12-34-56-78-90-05",
    "00-DB-12-34-56-78-90-06",
    "00-DB-12-34-56-78-90-07",
    "00-DB-12-34-56-78-90-08",
];
const READ: &str = "ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML";
const READ_SWITCH: &str = "ECS21a_4.6.1_SINGLE_SUCCESS_REQUEST_DUIS.XML";

fn start(name: &str) -> Gateway {
    let mut inventory = String::from(
        "device_id,device_type,device_status,manufacturer,model,import_mpxn,export_mpan,post_code,address_identifier,associated_with\n",
    );
    let mut registration = String::from("mpxn,fuel,role,party,effective_from,effective_to\n");
    for (i, id) in SILENT.iter().enumerate() {
        let mpxn = format!("19000000001{i:02}");
        inventory += &format!(
            "{id},ESME,Commissioned,EE01,010A030B,{mpxn},,EM1 1AA,{i},00-DB-55-00-00-00-00-00\n"
        );
        registration += &format!("{mpxn},electricity,IS,{SUPPLIER},2000-01-01,\n");
    }
    Gateway::start(
        name,
        Seeds {
            inventory: Some(&inventory),
            registration: Some(&registration),
            rtds_device_keys: true,
            env: &[
                ("HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN", TOKEN),
                ("HUBGATE_EMULATION__HUBS", "2"),
                ("HUBGATE_ROUTING__RESPONSE_TIMEOUT_MS", "3000"),
            ],
            ..Seeds::default()
        },
    )
}

/// `template` addressed to `target`, naming `preceding` (a RequestID) as its predecessor.
fn request(gw: &Gateway, template: &str, target: &str, preceding: Option<&str>) -> String {
    let xml = set_target(&gw.template(template), target);
    match preceding {
        Some(p) => insert_after_request_id(
            &xml,
            &format!("<sr:PrecedingServiceRequestID>{p}</sr:PrecedingServiceRequestID>"),
        ),
        None => xml,
    }
}

fn insert_after_request_id(xml: &str, what: &str) -> String {
    let at = xml.find("</sr:RequestID>").unwrap() + "</sr:RequestID>".len();
    format!("{}{what}{}", &xml[..at], &xml[at..])
}

/// Signs and posts `xml` as the supplier; the code of the synchronous answer and the
/// RequestID.
fn send(gw: &Gateway, xml: &str) -> (String, String) {
    let a = gw.submit(xml, SUPPLIER);
    (a.code, a.request_id)
}

/// A Service Response the supplier can pull.
#[derive(Debug)]
struct Kept {
    /// Its place in the supplier's outbox.
    sequence: u64,
    code: String,
    xml: String,
}

/// Waits until a Service Response to each of `ids` is kept for the supplier; them, in the
/// order of `ids`.
fn answers(gw: &Gateway, ids: &[&str], wait: Duration) -> Vec<Kept> {
    let auth = format!("Authorization: Bearer {TOKEN}");
    let deadline = Instant::now() + wait;
    loop {
        let (status, body) = gw.get("/api/v1/responses?limit=500", &[&auth]);
        assert!(status == 200 || status == 204, "{status}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let all = v["messages"].as_array().cloned().unwrap_or_default();
        let found: Vec<Option<Kept>> = ids
            .iter()
            .map(|id| {
                all.iter().find_map(|m| {
                    let xml = m["xml"].as_str()?;
                    (element_text(xml, "RequestID").as_deref() == Some(*id)).then(|| Kept {
                        sequence: m["sequence"].as_u64().unwrap(),
                        code: element_text(xml, "ResponseCode").unwrap_or_default(),
                        xml: xml.to_string(),
                    })
                })
            })
            .collect();
        if found.iter().all(Option::is_some) {
            return found.into_iter().flatten().collect();
        }
        assert!(
            Instant::now() < deadline,
            "not every Service Response of {ids:?} arrived within {wait:?}; kept: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A request signed ahead of posting (signing runs a process; posting is quick).
struct Signed {
    body: Vec<u8>,
    id: String,
}

fn sign(gw: &Gateway, xml: &str) -> Signed {
    let body = gw.sign(xml, SUPPLIER);
    let id = element_text(&String::from_utf8_lossy(&body), "RequestID").unwrap();
    Signed { body, id }
}

/// Posts a device request signed ahead; the code of the synchronous answer.
fn post(gw: &Gateway, s: &Signed) -> String {
    let (http, text) = gw.post("/api/v1/serviceS", &s.body);
    let a = Answer::parse(http, &text);
    assert_eq!(a.request_id, s.id, "{text}");
    a.code
}

#[test]
fn dependants_wait_for_their_predecessor_down_a_chain_of_three() {
    let gw = start("seq-chain");
    // Everything signed first, in counter order, so the posts follow each other quickly.
    let silent: Vec<Signed> = SILENT
        .iter()
        .map(|id| sign(&gw, &request(&gw, READ, id, None)))
        .collect();
    // A: a read to the first premises' ESME; B on the second premises after A; C on the
    // second premises after B.
    let a = sign(&gw, &request(&gw, READ, ESME, None));
    let b = sign(&gw, &request(&gw, READ_SWITCH, ESME2, Some(&a.id)));
    let c = sign(&gw, &request(&gw, READ, ESME2, Some(&b.id)));

    // The eight unanswered reads fill the first hub's in-flight places for 3 s.
    let filling = Instant::now();
    for s in &silent {
        assert_eq!(post(&gw, s), "I99");
    }
    assert!(
        filling.elapsed() < Duration::from_millis(2000),
        "posting the unanswered reads took {:?}: the hub was never full",
        filling.elapsed()
    );
    // A margin before A's own deadline once the hub frees up.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(post(&gw, &a), "I99");
    assert_eq!(post(&gw, &b), "I99", "B is acknowledged at once");
    assert_eq!(post(&gw, &c), "I99", "C is acknowledged at once");

    let got = answers(&gw, &[&a.id, &b.id, &c.id], Duration::from_secs(20));
    for (k, name) in got.iter().zip(["A", "B", "C"]) {
        assert_eq!(k.code, "I0", "{name}: {}", k.xml);
        assert!(element_text(&k.xml, "GBCSPayload").is_some(), "{name}");
    }
    assert!(
        got[0].sequence < got[1].sequence && got[1].sequence < got[2].sequence,
        "Service Responses out of order: A {}, B {}, C {}",
        got[0].sequence,
        got[1].sequence,
        got[2].sequence
    );
    // A was held up by the full hub (B and C, on the free hub, then by A).
    let silent_ids: Vec<&str> = silent.iter().map(|s| s.id.as_str()).collect();
    let timeouts = answers(&gw, &silent_ids, Duration::from_secs(20));
    assert!(timeouts.iter().all(|k| k.code == "E21"), "{timeouts:?}");
    assert!(
        timeouts.iter().any(|k| k.sequence < got[0].sequence),
        "A was answered before any unanswered read timed out: it did not wait"
    );

    // A predecessor that succeeded a while ago is remembered: D is sent at once.
    let (code, d) = send(&gw, &request(&gw, READ, ESME2, Some(&a.id)));
    assert_eq!(code, "I99");
    let got_d = answers(&gw, &[&d], Duration::from_secs(10));
    assert_eq!(got_d[0].code, "I0", "{}", got_d[0].xml);
}

#[test]
fn a_failed_predecessor_fails_its_dependants_with_e45() {
    let gw = start("seq-fail");
    // A: nobody answers (E21 after 3 s).
    let (code, a) = send(&gw, &request(&gw, READ, SILENT[0], None));
    assert_eq!(code, "I99");
    // B and C to the meter that does answer, chained after A.
    let (code, b) = send(&gw, &request(&gw, READ_SWITCH, ESME, Some(&a)));
    assert_eq!(code, "I99");
    let (code, c) = send(&gw, &request(&gw, READ, ESME, Some(&b)));
    assert_eq!(code, "I99");
    let got = answers(&gw, &[&a, &b, &c], Duration::from_secs(20));
    assert_eq!(got[0].code, "E21", "{}", got[0].xml);
    for (k, name) in got[1..].iter().zip(["B", "C"]) {
        assert_eq!(k.code, "E45", "{name}: {}", k.xml);
        assert!(element_text(&k.xml, "GBCSPayload").is_none(), "{name}");
        assert!(
            k.sequence > got[0].sequence,
            "{name} answered before its predecessor"
        );
    }
    // Naming the failed request later: acknowledged, then E45 without being sent.
    let (code, d) = send(&gw, &request(&gw, READ, ESME, Some(&a)));
    assert_eq!(code, "I99");
    let got_d = answers(&gw, &[&d], Duration::from_secs(10));
    assert_eq!(got_d[0].code, "E45", "{}", got_d[0].xml);
    // The meter is fine: a request without a predecessor gets its answer.
    let (code, e) = send(&gw, &request(&gw, READ, ESME, None));
    assert_eq!(code, "I99");
    assert_eq!(answers(&gw, &[&e], Duration::from_secs(10))[0].code, "I0");
}

#[test]
fn unknown_predecessors_and_contradictions_are_refused_with_e46() {
    let gw = start("seq-unknown");
    // A request that was never sent.
    let never = format!("{SUPPLIER}:{ESME}:5");
    let (code, _) = send(&gw, &request(&gw, READ, ESME, Some(&never)));
    assert_eq!(code, "E46", "a predecessor never seen");
    // Another User's request.
    let foreign = format!("{NETWORK_OPERATOR}:{ESME}:5");
    let (code, _) = send(&gw, &request(&gw, READ, ESME, Some(&foreign)));
    assert_eq!(code, "E46", "a predecessor of another User");

    // A first request marked FirstInSequence is sent like any other and can be named.
    let first = insert_after_request_id(
        &request(&gw, READ, ESME, None),
        "<sr:FirstInSequence>true</sr:FirstInSequence>",
    );
    let (code, a) = send(&gw, &first);
    assert_eq!(code, "I99");
    assert_eq!(answers(&gw, &[&a], Duration::from_secs(10))[0].code, "I0");
    let (code, b) = send(&gw, &request(&gw, READ_SWITCH, ESME, Some(&a)));
    assert_eq!(code, "I99");
    assert_eq!(answers(&gw, &[&b], Duration::from_secs(10))[0].code, "I0");

    // FirstInSequence true together with a predecessor contradicts itself.
    let both = insert_after_request_id(
        &request(&gw, READ, ESME, Some(&a)),
        "<sr:FirstInSequence>true</sr:FirstInSequence>",
    );
    let (code, _) = send(&gw, &both);
    assert_eq!(
        code, "E46",
        "FirstInSequence with a PrecedingServiceRequestID"
    );

    // A Transform answered with its Pre-Command is not sent to a device: not a predecessor.
    let (code, t) = send(
        &gw,
        &set_target(&gw.template("ECS42_7.1_SUCCESS_REQUEST_DUIS.XML"), ESME),
    );
    assert_eq!(code, "I0");
    let (code, _) = send(&gw, &request(&gw, READ, ESME, Some(&t)));
    assert_eq!(code, "E46", "a Transform request as predecessor");
}
