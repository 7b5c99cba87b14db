//! SR 3.2 Restrict Access for Change of Tenancy end to end: a real `hubgate serve` with one
//! in-process emulated premises, signed DUIS requests over HTTPS, and the messages pulled
//! from the Users' pull endpoints.
//!
//! Proved here: the supplier's 3.2 to the ESME is acknowledged `I99` and answered `I0` with
//! the ESME's GBCS response (ECS12, message code `0x0022`: one successful set), and to the
//! GPF likewise (GCS09, `0x0072`: a ZCL Default Response `SUCCESS`); the 3.2 answered `I0`
//! removes the schedule an Other User (`OU`) created on the ESME, and that User receives
//! the `DSPScheduleRemoval` DCC alert (`N10`), valid against the DUIS XSD and signed by the
//! DSP (checked by the independent XML-DSig oracle); 5.2 then no longer finds the schedule,
//! by ID or by device, while the supplier's own schedule on the same ESME stays.
//!
//! Needs `curl`, `python3` with lxml and cryptography, and the conformance data.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::{
    Answer, Gateway, SUPPLIER, Seeds, element_text, next_message, oracle, pull_answer,
    replace_element, rfc3339, set_target, set_text,
};
use hubgate_protocol::gbcs::payload::dlms::{AccessResponseSpec, Apdu, DataAccessResult};
use hubgate_protocol::gbcs::payload::{self, Payload};
use hubgate_protocol::gbcs::{Cra, frame};

const SUPPLIER_TOKEN: &str = "tenancy-supplier-pull-token-0123456789abcdef";
const OTHER_TOKEN: &str = "tenancy-other-user-pull-token-0123456789abcd";
/// The DCC Boxed Other User (role OU), with an XML-signing key in the SMKI folder.
const OTHER_USER: &str = "00-DB-12-34-56-78-00-04";
/// The emulated premises (`emulation.hubs = 1`).
const ESME: &str = "00-DB-55-00-00-00-00-01";
const GPF: &str = "00-DB-55-00-00-00-00-03";
const DAY: i64 = 86_400;

fn start() -> Gateway {
    Gateway::start(
        "change-of-tenancy",
        Seeds {
            env: &[
                (
                    "HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN",
                    SUPPLIER_TOKEN,
                ),
                ("HUBGATE_USERS__00DB123456780004__PULL_TOKEN", OTHER_TOKEN),
                ("HUBGATE_EMULATION__HUBS", "1"),
                ("HUBGATE_ROUTING__RESPONSE_TIMEOUT_MS", "5000"),
                ("HUBGATE_SCHEDULES__TICK_MS", "50"),
            ],
            ..Seeds::default()
        },
    )
}

/// The template's RequestID with `user` as originator (the harness signs as `user`).
fn from_user(xml: &str, user: &str) -> String {
    let id = element_text(xml, "RequestID").unwrap();
    let (_, rest) = id.split_once(':').unwrap();
    set_text(xml, "RequestID", &format!("{user}:{rest}"))
}

/// 5.1 as `user`: 4.8.1 Read Active Import Profile Data from the ESME, daily from `start`.
fn create_schedule(gw: &Gateway, user: &str, start: &str) -> u64 {
    let mut xml = from_user(
        &gw.template("ECS21a_5.1._DCC_SCHEDULED_REQUEST_DUIS.XML"),
        user,
    );
    xml = set_text(&xml, "ScheduleStartDate", start);
    xml = set_text(&xml, "DeviceID", ESME);
    xml = set_text(&xml, "DSPScheduledServiceReference", "4.8");
    xml = set_text(&xml, "DSPScheduledServiceReferenceVariant", "4.8.1");
    xml = replace_element(
        &xml,
        "DSPRetrieveImportDailyReadLog",
        "<sr:DSPReadActiveImportProfileData>\
         <sr:StartDateOffset>-1</sr:StartDateOffset>\
         <sr:StartTime>00:00:00.00Z</sr:StartTime>\
         <sr:EndDateOffset>0</sr:EndDateOffset>\
         <sr:EndTime>00:00:00.00Z</sr:EndTime>\
         </sr:DSPReadActiveImportProfileData>",
    );
    let a = gw.submit(&xml, user);
    assert_eq!(a.code, "I0", "5.1 as {user}: {}", a.xml);
    element_text(&a.xml, "DSPScheduleID")
        .expect("a DSPScheduleID")
        .parse()
        .unwrap()
}

/// 5.2 as `user` by schedule ID.
fn read_by_id(gw: &Gateway, user: &str, id: u64) -> Answer {
    let xml = from_user(&gw.template("5.2_READ_SCHEDULE_REQUEST_DUIS.XML"), user);
    gw.submit(&set_text(&xml, "DSPScheduleID", &id.to_string()), user)
}

/// 5.2 as `user` by device (the ESME).
fn read_by_device(gw: &Gateway, user: &str) -> Answer {
    let xml = from_user(&gw.template("5.2_READ_SCHEDULE_REQUEST_DUIS.XML"), user);
    let xml = replace_element(
        &xml,
        "DSPScheduleID",
        &format!("<sr:DeviceID>{ESME}</sr:DeviceID>"),
    );
    gw.submit(&xml, user)
}

/// The supplier's 3.2 from `template` to `target`: acknowledged `I99`, then the Service
/// Response, which must be `I0` with a GBCS response from `target` of `code`. Returns the
/// GBCS payload.
fn restrict(gw: &Gateway, template: &str, target: &str, code: u16) -> Vec<u8> {
    let xml = set_target(&from_user(&gw.template(template), SUPPLIER), target);
    let ack = gw.submit(&xml, SUPPLIER);
    assert_eq!(ack.code, "I99", "3.2 to {target}: {}", ack.xml);
    let answer = pull_answer(gw, SUPPLIER_TOKEN, &ack.request_id, Duration::from_secs(20));
    assert_eq!(
        element_text(&answer, "ResponseCode").as_deref(),
        Some("I0"),
        "{answer}"
    );
    assert_eq!(
        element_text(&answer, "ServiceReferenceVariant").as_deref(),
        Some("3.2")
    );
    oracle::xml_oracle(gw, &answer, &format!("tenancy-response-{code:04x}"));
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(element_text(&answer, "GBCSPayload").expect("a GBCSPayload"))
        .unwrap();
    let m = frame::parse(&bytes).unwrap();
    assert_eq!(m.header.cra, Cra::Response);
    assert_eq!(m.header.other_info.message_code, code);
    assert_eq!(
        hubgate_protocol::hex::eui_duis(&m.header.originator),
        target
    );
    bytes
}

#[test]
fn restrict_access_for_change_of_tenancy_removes_other_user_schedules() {
    let gw = start();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // Two days ahead: nothing runs during the test.
    let start = rfc3339(now - now.rem_euclid(DAY) + 2 * DAY)[..10].to_string();

    // An Other User's schedule and the supplier's own, on the same ESME.
    let other = create_schedule(&gw, OTHER_USER, &start);
    let own = create_schedule(&gw, SUPPLIER, &start);
    let listed = read_by_device(&gw, OTHER_USER);
    assert_eq!(listed.code, "I0", "{}", listed.xml);
    assert!(
        listed
            .xml
            .contains(&format!("<sr:DSPScheduleID>{other}</sr:DSPScheduleID>")),
        "{}",
        listed.xml
    );

    // 3.2 to the GPF (GCS09): a ZCL Default Response SUCCESS to Publish Change of Tenancy.
    let gcs09 = restrict(&gw, "GCS09_3.2_SUCCESS_REQUEST_DUIS.XML", GPF, 0x0072);
    let m = frame::parse(&gcs09).unwrap();
    let Payload::Gbz(g) = payload::decode(m.content).unwrap() else {
        panic!("GCS09: not GBZ")
    };
    let c = &g.components()[0];
    assert_eq!((c.cluster_id, c.zcl.command_id), (0x0708, 0x0b));
    assert!(
        matches!(c.body, payload::gbz::ComponentBody::Plain(p) if p == [0x00, 0x00]),
        "Default Response to command 00, status SUCCESS"
    );

    // 3.2 to the ESME (ECS12): one successful set.
    let ecs12 = restrict(&gw, "ECS12_3.2_SUCCESS_REQUEST_DUIS.XML", ESME, 0x0022);
    let m = frame::parse(&ecs12).unwrap();
    let Payload::Dlms(Apdu::AccessResponse(r)) = payload::decode(m.content).unwrap() else {
        panic!("ECS12: not a DLMS access-response")
    };
    assert_eq!(
        r.specifications,
        [AccessResponseSpec::Set(DataAccessResult(0))]
    );

    // The Other User is told its schedule is gone.
    let alert = next_message(&gw, OTHER_TOKEN, Duration::from_secs(20));
    assert!(alert.contains("<sr:DCCAlertMessage>"), "{alert}");
    assert_eq!(
        element_text(&alert, "DCCAlertCode").as_deref(),
        Some("N10"),
        "{alert}"
    );
    assert!(alert.contains("<sr:DSPScheduleRemoval>"), "{alert}");
    assert_eq!(
        element_text(&alert, "DSPScheduleID").as_deref(),
        Some(other.to_string().as_str())
    );
    assert_eq!(element_text(&alert, "DeviceID").as_deref(), Some(ESME));
    oracle::xml_oracle(&gw, &alert, "tenancy-removal-alert");

    // 5.2 no longer finds it; the supplier's schedule stays.
    let by_id = read_by_id(&gw, OTHER_USER, other);
    assert_eq!(by_id.code, "E050201", "{}", by_id.xml);
    let by_device = read_by_device(&gw, OTHER_USER);
    assert_eq!(by_device.code, "W050201", "{}", by_device.xml);
    let kept = read_by_id(&gw, SUPPLIER, own);
    assert_eq!(kept.code, "I0", "{}", kept.xml);
    assert!(
        kept.xml
            .contains(&format!("<sr:DSPScheduleID>{own}</sr:DSPScheduleID>")),
        "{}",
        kept.xml
    );
}
