//! DSP schedules that lose their User or their device's fit, end to end on virtual time: a
//! real `hubgate serve` whose clock follows a file the test writes (`clock.follow_file`),
//! one in-process emulated premises, signed DUIS requests over HTTPS and the messages
//! pulled from the supplier's pull endpoint (`hubgate_gateway::schedules`).
//!
//! Proved here:
//!
//! * Suspension: a schedule's owner suspended (`users.<User ID>.suspended`, applied at a
//!   restart) loses the schedule at start with a `DSPScheduleRemoval` DCC alert (`N11`)
//!   naming the schedule and its device; its requests are refused `E3`; past the
//!   occurrence nothing is sent to the meter and nothing reaches the User; lifted again,
//!   the schedule is still gone (`E050201`) and still never runs.
//! * A device that no longer fits: the ESME moved by SR 8.4 to `InstalledNotCommissioned`
//!   (which the scheduled 4.6.1 does not allow, and which removes no schedule) keeps its
//!   schedule (no alert at the change); at the occurrence nothing is sent to the meter, the
//!   owner gets the execution's Service Response `E5` tagged with the `DSPScheduleID` and a
//!   `CommandFailure` DCC alert (`N12`) naming that execution's RequestID, the schedule and
//!   the device; the schedule stays (5.2 still reads it).
//!
//! Every message is checked against the DUIS XSD with its DSP signature verified by an
//! independent checker. Needs `curl`, `python3` with lxml and cryptography, and the
//! conformance data.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::clock::{DAY, VirtualClock, date, midnight_today};
use common::pull::next_message_within;
use common::{
    Gateway, SUPPLIER, Seeds, element_text, metric_value, oracle, replace_element, set_text,
};

const TOKEN: &str = "schedules-removal-pull-token-0123456789ab";
/// The emulated premises' ESME.
const ESME: &str = "00-DB-55-00-00-00-00-01";
const SUSPENDED: &str = "HUBGATE_USERS__90B3D51F30010000__SUSPENDED";

fn env(clock: &str) -> Vec<(&'static str, String)> {
    vec![
        ("HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN", TOKEN.into()),
        ("HUBGATE_EMULATION__HUBS", "1".into()),
        ("HUBGATE_CLOCK__FOLLOW_FILE", clock.into()),
        ("HUBGATE_SCHEDULES__TICK_MS", "50".into()),
        ("HUBGATE_ROUTING__RESPONSE_TIMEOUT_MS", "5000".into()),
    ]
}

fn pairs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// 5.1: a daily 4.6.1 schedule on the ESME from `start_date`; its ID.
fn create(gw: &Gateway, start_date: &str) -> u64 {
    let mut xml = gw.template("ECS21a_5.1._DCC_SCHEDULED_REQUEST_DUIS.XML");
    xml = set_text(&xml, "ScheduleStartDate", start_date);
    xml = set_text(&xml, "DeviceID", ESME);
    let answer = gw.submit(&xml, SUPPLIER);
    assert_eq!(answer.code, "I0", "{}", answer.xml);
    element_text(&answer.xml, "DSPScheduleID")
        .expect("a DSPScheduleID")
        .parse()
        .unwrap()
}

/// 5.2 of schedule `id`; the answer.
fn read(gw: &Gateway, id: u64) -> common::Answer {
    let xml = set_text(
        &gw.template("5.2_READ_SCHEDULE_REQUEST_DUIS.XML"),
        "DSPScheduleID",
        &id.to_string(),
    );
    gw.submit(&xml, SUPPLIER)
}

fn commands(gw: &Gateway) -> f64 {
    metric_value(&gw.metrics_text(), "hubgate_routing_commands_total", "")
}

#[test]
fn suspending_the_owner_removes_its_schedule_with_an_n11_alert() {
    let today = midnight_today();
    let clock = VirtualClock::new("suspended", today + DAY / 2);
    let active = env(&clock.path());
    let active_env = pairs(&active);
    let mut suspended = active.clone();
    suspended.push((SUSPENDED, "true".into()));
    let suspended_env = pairs(&suspended);

    let gw = Gateway::start(
        "schedules-removal-suspended",
        Seeds {
            env: &active_env,
            ..Seeds::default()
        },
    );
    let id = create(&gw, &date(today + DAY));
    assert_eq!(read(&gw, id).code, "I0");
    assert_eq!(
        next_message_within(&gw, TOKEN, Duration::from_millis(500)),
        None
    );

    // Suspended at the next start: the schedule goes, with its alert.
    let gw = gw.restart(Seeds {
        env: &suspended_env,
        ..Seeds::default()
    });
    gw.advance_counter(1_000);
    let alert = next_message_within(&gw, TOKEN, Duration::from_secs(10)).expect("a removal alert");
    assert!(alert.contains("<sr:DCCAlertMessage>"), "{alert}");
    assert_eq!(
        element_text(&alert, "DCCAlertCode").as_deref(),
        Some("N11"),
        "{alert}"
    );
    assert!(alert.contains("<sr:DSPScheduleRemoval>"), "{alert}");
    assert_eq!(
        element_text(&alert, "DSPScheduleID").as_deref(),
        Some(id.to_string().as_str())
    );
    assert_eq!(element_text(&alert, "DeviceID").as_deref(), Some(ESME));
    oracle::xml_oracle(&gw, &alert, "suspension-removal");
    assert_eq!(
        next_message_within(&gw, TOKEN, Duration::from_millis(500)),
        None,
        "one alert"
    );

    // The suspended User's requests are refused.
    assert_eq!(read(&gw, id).code, "E3");

    // Past the occurrence: nothing is sent, nothing arrives.
    clock.set(today + DAY + 1);
    assert_eq!(
        next_message_within(&gw, TOKEN, Duration::from_secs(2)),
        None
    );
    assert_eq!(commands(&gw), 0.0, "a command went to the meter");

    // Lifted: the schedule is gone for good.
    let gw = gw.restart(Seeds {
        env: &active_env,
        ..Seeds::default()
    });
    gw.advance_counter(2_000);
    let gone = read(&gw, id);
    assert_eq!(gone.code, "E050201", "{}", gone.xml);
    clock.set(today + 2 * DAY + 1);
    assert_eq!(
        next_message_within(&gw, TOKEN, Duration::from_secs(2)),
        None
    );
    assert_eq!(commands(&gw), 0.0, "a command went to the meter");
}

#[test]
fn an_execution_for_a_device_that_no_longer_fits_fails_with_a_command_failure_alert() {
    let today = midnight_today();
    let clock = VirtualClock::new("unfit", today + DAY / 2);
    let settings = env(&clock.path());
    let settings = pairs(&settings);
    let gw = Gateway::start(
        "schedules-removal-unfit",
        Seeds {
            env: &settings,
            ..Seeds::default()
        },
    );
    let id = create(&gw, &date(today + DAY));

    // 8.4: the ESME back to InstalledNotCommissioned. Not a removal: no alert.
    let update = replace_element(
        &set_text(
            &gw.template("8.4_UPDATE_INVENTORY_REQUEST_DUIS.XML"),
            "DeviceID",
            ESME,
        ),
        "DeleteDevice",
        "<sr:UpdateDeviceStatusExceptCH>InstalledNotCommissioned</sr:UpdateDeviceStatusExceptCH>",
    );
    let answer = gw.submit(&update, SUPPLIER);
    assert!(
        answer.code == "I0" || answer.code == "I99",
        "8.4: {}",
        answer.xml
    );
    assert_eq!(
        next_message_within(&gw, TOKEN, Duration::from_secs(1)),
        None
    );
    assert_eq!(read(&gw, id).code, "I0", "the schedule stays");

    // The occurrence: not sent; the tagged E5 and the CommandFailure alert.
    clock.set(today + DAY + 1);
    let first = next_message_within(&gw, TOKEN, Duration::from_secs(20)).expect("a first message");
    let second =
        next_message_within(&gw, TOKEN, Duration::from_secs(10)).expect("a second message");
    let (response, alert) = if first.contains("<sr:DCCAlertMessage>") {
        (second, first)
    } else {
        (first, second)
    };
    assert_eq!(
        element_text(&response, "ResponseCode").as_deref(),
        Some("E5"),
        "{response}"
    );
    assert_eq!(
        element_text(&response, "DSPScheduleID").as_deref(),
        Some(id.to_string().as_str()),
        "{response}"
    );
    assert!(!response.contains("GBCSPayload"), "{response}");
    assert_eq!(
        element_text(&response, "ServiceReferenceVariant").as_deref(),
        Some("4.6.1")
    );
    let request_id = element_text(&response, "RequestID").unwrap();
    assert!(
        request_id.starts_with(&format!("{SUPPLIER}:{ESME}:")),
        "{request_id}"
    );
    oracle::xml_oracle(&gw, &response, "unfit-execution");

    assert!(alert.contains("<sr:DCCAlertMessage>"), "{alert}");
    assert_eq!(
        element_text(&alert, "DCCAlertCode").as_deref(),
        Some("N12"),
        "{alert}"
    );
    assert!(alert.contains("<sr:CommandFailure>"), "{alert}");
    assert_eq!(
        element_text(&alert, "CommandRequestID").as_deref(),
        Some(request_id.as_str())
    );
    assert_eq!(
        element_text(&alert, "DSPScheduleID").as_deref(),
        Some(id.to_string().as_str())
    );
    assert_eq!(element_text(&alert, "DeviceID").as_deref(), Some(ESME));
    oracle::xml_oracle(&gw, &alert, "unfit-command-failure");

    assert_eq!(
        next_message_within(&gw, TOKEN, Duration::from_secs(1)),
        None
    );
    assert_eq!(commands(&gw), 0.0, "a command went to the meter");
    // Still scheduled: the device may fit again.
    gw.advance_counter(1_000);
    assert_eq!(read(&gw, id).code, "I0");
}
