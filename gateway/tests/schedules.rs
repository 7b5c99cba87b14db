//! DSP schedules end to end, on virtual time: a real `hubgate serve` whose clock follows a
//! file the test writes (`clock.follow_file`), one in-process emulated premises, signed DUIS
//! requests over HTTPS, and the messages pulled from the supplier's pull endpoint.
//!
//! Proved here: SR 5.1 creates a schedule (`I0` + `DSPScheduleID`); nothing runs before its
//! time; moving the clock past each daily occurrence makes the emulated ESME answer once,
//! and the Service Response reaches the User as `DSPScheduledMessage` carrying the meter's
//! GBCS response and the schedule ID, valid against the DUIS XSD with a DSP signature an
//! independent checker verifies; 5.2 reads it back; 5.3 deletes it and no execution follows;
//! 5.1 with a start date in the past and an unschedulable SRV are refused; decommissioning
//! the device (8.3) removes another schedule with a `DSPScheduleRemoval` DCC alert (`N9`).
//!
//! Needs `curl`, `python3` with lxml and cryptography, and the conformance data.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::clock::{DAY, VirtualClock, date, midnight_today};
use common::pull::next_message_within;
use common::{Gateway, SUPPLIER, element_text, oracle, set_text};
use hubgate_protocol::gbcs::frame;

const TOKEN: &str = "schedules-pull-token-0123456789abcdef0123";
/// The emulated premises' ESME.
const ESME: &str = "00-DB-55-00-00-00-00-01";

fn create(gw: &Gateway, start_date: &str, srv: Option<(&str, &str)>) -> common::Answer {
    let mut xml = gw.template("ECS21a_5.1._DCC_SCHEDULED_REQUEST_DUIS.XML");
    xml = set_text(&xml, "ScheduleStartDate", start_date);
    xml = set_text(&xml, "DeviceID", ESME);
    if let Some((r, v)) = srv {
        xml = set_text(&xml, "DSPScheduledServiceReference", r);
        xml = set_text(&xml, "DSPScheduledServiceReferenceVariant", v);
    }
    gw.submit(&xml, SUPPLIER)
}

fn schedule_request(gw: &Gateway, template: &str, id: u64) -> common::Answer {
    let xml = set_text(&gw.template(template), "DSPScheduleID", &id.to_string());
    gw.submit(&xml, SUPPLIER)
}

/// Checks a scheduled execution's Service Response: I0, the schedule's ID, the ESME's
/// GBCS response to ECS21a (message code 0x0033).
fn check_execution(gw: &Gateway, xml: &str, id: u64, name: &str) {
    assert_eq!(
        element_text(xml, "ResponseCode").as_deref(),
        Some("I0"),
        "{xml}"
    );
    assert!(xml.contains("<sr:DSPScheduledMessage>"), "{xml}");
    assert_eq!(
        element_text(xml, "DSPScheduleID").as_deref(),
        Some(id.to_string().as_str())
    );
    assert_eq!(
        element_text(xml, "ServiceReferenceVariant").as_deref(),
        Some("4.6.1")
    );
    let rid = element_text(xml, "RequestID").unwrap();
    assert!(rid.starts_with(&format!("{SUPPLIER}:{ESME}:")), "{rid}");
    assert!(element_text(xml, "ResponseID").is_some(), "{xml}");
    let payload = base64::engine::general_purpose::STANDARD
        .decode(element_text(xml, "GBCSPayload").unwrap())
        .unwrap();
    let msg = frame::parse(&payload).unwrap();
    assert_eq!(msg.header.other_info.message_code, 0x0033, "ECS21a");
    assert_eq!(
        hubgate_protocol::hex::eui_duis(&msg.header.originator),
        ESME,
        "the answer comes from the ESME"
    );
    oracle::xml_oracle(gw, xml, name);
}

#[test]
fn schedules_run_at_their_times_and_are_read_deleted_and_removed() {
    // Virtual time: today (real) at noon, so registration data and certificates hold.
    let today = midnight_today();
    let clock = VirtualClock::new("schedules", today + DAY / 2);
    let file = clock.path();
    let gw = Gateway::start(
        "schedules",
        common::Seeds {
            env: &[
                ("HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN", TOKEN),
                ("HUBGATE_EMULATION__HUBS", "1"),
                ("HUBGATE_CLOCK__FOLLOW_FILE", &file),
                ("HUBGATE_SCHEDULES__TICK_MS", "50"),
                ("HUBGATE_ROUTING__RESPONSE_TIMEOUT_MS", "5000"),
            ],
            ..common::Seeds::default()
        },
    );

    // Refusals: a start date in the past; an SRV that is not DCC-schedulable (4.2 is in
    // the schema's list but not a scheduled service).
    let past = create(&gw, &date(today - DAY), None);
    assert_eq!(past.code, "E050102", "{}", past.xml);
    let not_schedulable = create(&gw, &date(today + DAY), Some(("4.2", "4.2")));
    assert_eq!(not_schedulable.code, "E050101", "{}", not_schedulable.xml);

    // 5.1: daily from tomorrow, 00:00 UTC.
    let created = create(&gw, &date(today + DAY), None);
    assert_eq!(created.code, "I0", "{}", created.xml);
    let id: u64 = element_text(&created.xml, "DSPScheduleID")
        .expect("a DSPScheduleID")
        .parse()
        .unwrap();
    oracle::xml_oracle(&gw, &created.xml, "create");

    // Not yet due: nothing runs.
    clock.set(today + DAY - 60);
    assert_eq!(
        next_message_within(&gw, TOKEN, Duration::from_secs(1)),
        None
    );

    // Each day's execution is answered by the meter, tagged with the schedule ID.
    for day in 1..=2 {
        clock.set(today + day * DAY + 1);
        let xml = next_message_within(&gw, TOKEN, Duration::from_secs(20))
            .unwrap_or_else(|| panic!("no Service Response for day {day}"));
        check_execution(&gw, &xml, id, &format!("execution-{day}"));
        assert_eq!(
            next_message_within(&gw, TOKEN, Duration::from_millis(500)),
            None,
            "one execution per occurrence"
        );
    }
    // The executions spent the supplier's next counters.
    gw.advance_counter(1000);

    // 5.2 by ID.
    let read = schedule_request(&gw, "5.2_READ_SCHEDULE_REQUEST_DUIS.XML", id);
    assert_eq!(read.code, "I0", "{}", read.xml);
    assert!(read.xml.contains("<sr:DSPSchedulesRead>"), "{}", read.xml);
    assert!(
        read.xml
            .contains(&format!("<sr:DeviceID>{ESME}</sr:DeviceID>"))
    );
    assert!(
        read.xml
            .contains("<sr:ScheduleFrequency>Daily</sr:ScheduleFrequency>")
    );
    oracle::xml_oracle(&gw, &read.xml, "read");
    let unknown = schedule_request(&gw, "5.2_READ_SCHEDULE_REQUEST_DUIS.XML", id + 1000);
    assert_eq!(unknown.code, "E050201", "{}", unknown.xml);

    // 5.3: deleted, then nothing runs and it reads as unknown.
    let deleted = schedule_request(&gw, "5.3_DELETE_SCHEDULE_REQUEST_DUIS.XML", id);
    assert_eq!(deleted.code, "I0", "{}", deleted.xml);
    assert_eq!(
        element_text(&deleted.xml, "DSPScheduleID").as_deref(),
        Some(id.to_string().as_str())
    );
    clock.set(today + 3 * DAY + 1);
    assert_eq!(
        next_message_within(&gw, TOKEN, Duration::from_secs(1)),
        None
    );
    let gone = schedule_request(&gw, "5.2_READ_SCHEDULE_REQUEST_DUIS.XML", id);
    assert_eq!(gone.code, "E050201", "{}", gone.xml);
    let again = schedule_request(&gw, "5.3_DELETE_SCHEDULE_REQUEST_DUIS.XML", id);
    assert_eq!(again.code, "E050301", "{}", again.xml);

    // Decommissioning the device removes its schedule, with a DCC alert to its owner.
    let second = create(&gw, &date(today + 4 * DAY), None);
    assert_eq!(second.code, "I0", "{}", second.xml);
    let id2: u64 = element_text(&second.xml, "DSPScheduleID")
        .unwrap()
        .parse()
        .unwrap();
    assert!(id2 > id, "IDs are not reused");
    let decommission = set_text(
        &gw.template("8.3_DECOMMISSION_DEVICE_REQUEST_DUIS.XML"),
        "DeviceID",
        ESME,
    );
    let answer = gw.submit(&decommission, SUPPLIER);
    assert!(
        answer.code == "I0" || answer.code == "I99",
        "decommission: {}",
        answer.xml
    );
    let alert = next_message_within(&gw, TOKEN, Duration::from_secs(10)).expect("a DCC alert");
    assert!(alert.contains("<sr:DCCAlertMessage>"), "{alert}");
    assert_eq!(element_text(&alert, "DCCAlertCode").as_deref(), Some("N9"));
    assert!(alert.contains("<sr:DSPScheduleRemoval>"), "{alert}");
    assert_eq!(
        element_text(&alert, "DSPScheduleID").as_deref(),
        Some(id2.to_string().as_str())
    );
    assert_eq!(element_text(&alert, "DeviceID").as_deref(), Some(ESME));
    oracle::xml_oracle(&gw, &alert, "removal-alert");
    let removed = schedule_request(&gw, "5.2_READ_SCHEDULE_REQUEST_DUIS.XML", id2);
    assert_eq!(removed.code, "E050201", "{}", removed.xml);
    clock.set(today + 4 * DAY + 1);
    assert_eq!(
        next_message_within(&gw, TOKEN, Duration::from_secs(1)),
        None
    );
}

/// TLS clients check the server's certificate against their own clocks: a gateway whose
/// (virtual) clock runs a month ahead of the system clock still presents a certificate that
/// is valid now, so a client trusting the local CA connects.
#[test]
fn a_gateway_clock_running_ahead_still_presents_a_certificate_valid_now() {
    let clock = VirtualClock::new("tls-ahead", common::clock::unix_now() + 30 * DAY);
    let file = clock.path();
    let gw = Gateway::start(
        "tls-ahead",
        common::Seeds {
            env: &[("HUBGATE_CLOCK__FOLLOW_FILE", &file)],
            ..common::Seeds::default()
        },
    );
    let (status, body) = gw.get("/health", &[]);
    assert_eq!(status, 200, "GET /health: {body}");
}
