//! DSP schedules across gateway stops, on virtual time: a real `hubgate serve` whose clock
//! follows a file the test writes (`clock.follow_file`), killed with SIGKILL and started
//! again on the same data directory, with signed DUIS requests over HTTPS and the messages
//! pulled from the supplier's pull endpoint.
//!
//! Proved here:
//!
//! * Catch-up: with the gateway down over two daily occurrences of a schedule, the next start
//!   runs it exactly once, as the later occurrence with a read period reaching back over the
//!   earlier one, and the emulated ESME's answer reaches the owner as `DSPScheduledMessage`
//!   with the schedule ID; the following occurrence runs on time, once. Both answers count
//!   against the 24 h target (`future_dated`), none against the 30 s on-demand one.
//! * An execution in flight when the gateway is killed (its meter never answers) is sent again
//!   from the journal at the next start and its answer (`E21`) still carries the
//!   `DSPScheduleID`; its owner also gets the `CommandFailure` DCC alert (`N12`) naming the
//!   execution's RequestID, the schedule and the device. Both are valid against the DUIS XSD
//!   with a DSP signature an independent checker verifies.
//!
//! Needs `curl`, `python3` with lxml and cryptography, and the conformance data.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::clock::{DAY, VirtualClock, date, midnight_today};
use common::pull::next_message_within;
use common::{Gateway, SUPPLIER, Seeds, element_text, metric_value, oracle, rfc3339, set_text};

const TOKEN: &str = "schedules-restart-pull-token-0123456789ab";
/// The emulated premises' ESME.
const ESME: &str = "00-DB-55-00-00-00-00-01";
/// An RTDS ESME behind the emulated hub with no meter answering it.
const SILENT: &str = "00-DB-12-34-56-78-90-A0";

/// SR 5.1 as the supplier: a daily ECS21a read of `device` from `start_date`; the new ID.
fn create(gw: &Gateway, device: &str, start_date: &str) -> u64 {
    let mut xml = gw.template("ECS21a_5.1._DCC_SCHEDULED_REQUEST_DUIS.XML");
    xml = set_text(&xml, "ScheduleStartDate", start_date);
    xml = set_text(&xml, "DeviceID", device);
    let answer = gw.submit(&xml, SUPPLIER);
    assert_eq!(answer.code, "I0", "{}", answer.xml);
    element_text(&answer.xml, "DSPScheduleID")
        .expect("a DSPScheduleID")
        .parse()
        .unwrap()
}

/// A scheduled execution's Service Response: the code, the schedule ID and the device.
fn check_tagged(xml: &str, code: &str, id: u64, device: &str) {
    assert_eq!(
        element_text(xml, "ResponseCode").as_deref(),
        Some(code),
        "{xml}"
    );
    assert_eq!(
        element_text(xml, "DSPScheduleID").as_deref(),
        Some(id.to_string().as_str()),
        "the answer is not tagged with its schedule:\n{xml}"
    );
    assert_eq!(
        element_text(xml, "ServiceReferenceVariant").as_deref(),
        Some("4.6.1")
    );
    let rid = element_text(xml, "RequestID").unwrap();
    assert!(rid.starts_with(&format!("{SUPPLIER}:{device}:")), "{rid}");
}

fn seeds<'a>(env: &'a [(&'a str, &'a str)], rtds: bool) -> Seeds<'a> {
    Seeds {
        env,
        rtds_device_keys: rtds,
        ..Seeds::default()
    }
}

fn target_count(gw: &Gateway, category: &str, within: &str) -> f64 {
    metric_value(
        &gw.metrics_text(),
        "hubgate_target_time_total",
        &format!("category=\"{category}\",within=\"{within}\""),
    )
}

#[test]
fn missed_occurrences_are_caught_up_once_at_start() {
    let today = midnight_today();
    let clock = VirtualClock::new("catch-up", today + DAY / 2);
    let file = clock.path();
    let env = [
        ("HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN", TOKEN),
        ("HUBGATE_EMULATION__HUBS", "1"),
        ("HUBGATE_CLOCK__FOLLOW_FILE", file.as_str()),
        ("HUBGATE_SCHEDULES__TICK_MS", "50"),
        ("HUBGATE_ROUTING__RESPONSE_TIMEOUT_MS", "5000"),
    ];
    let gw = Gateway::start("schedules-catch-up", seeds(&env, false));
    // Daily from tomorrow, 00:00 UTC.
    let id = create(&gw, ESME, &date(today + DAY));
    assert_eq!(
        next_message_within(&gw, TOKEN, Duration::from_millis(500)),
        None
    );

    // Down over the occurrences of days 1 and 2; started again during day 2.
    let dir = gw.stop_keeping_data();
    clock.write(today + 2 * DAY + 600);
    let gw = Gateway::start_in(dir, seeds(&env, false));
    let xml =
        next_message_within(&gw, TOKEN, Duration::from_secs(20)).expect("the catch-up execution");
    check_tagged(&xml, "I0", id, ESME);
    assert!(xml.contains("<sr:DSPScheduledMessage>"), "{xml}");
    oracle::xml_oracle(&gw, &xml, "catch-up");
    assert_eq!(
        next_message_within(&gw, TOKEN, Duration::from_secs(2)),
        None,
        "missed occurrences run once, not once each"
    );
    // It ran as day 2's occurrence, its read period reaching back over day 1's.
    let log = gw.log();
    let line = log
        .lines()
        .find(|l| l.contains("caught up by one execution"))
        .unwrap_or_else(|| panic!("no catch-up in the log:\n{log}"));
    assert!(line.contains(&rfc3339(today + DAY)[..16]), "{line}");
    assert!(line.contains(&rfc3339(today + 2 * DAY)[..16]), "{line}");

    // The next occurrence (day 3) runs on time, once.
    clock.set(today + 3 * DAY - 60);
    assert_eq!(
        next_message_within(&gw, TOKEN, Duration::from_secs(1)),
        None
    );
    clock.set(today + 3 * DAY + 1);
    let xml = next_message_within(&gw, TOKEN, Duration::from_secs(20)).expect("day 3's execution");
    check_tagged(&xml, "I0", id, ESME);
    assert_eq!(
        next_message_within(&gw, TOKEN, Duration::from_secs(1)),
        None
    );

    // Both count against the 24 h target of scheduled services, not the on-demand one.
    assert_eq!(target_count(&gw, "future_dated", "true"), 2.0);
    assert_eq!(target_count(&gw, "on_demand", "true"), 0.0);
    assert_eq!(target_count(&gw, "on_demand", "false"), 0.0);
}

#[test]
fn an_execution_in_flight_at_a_kill_is_answered_as_the_schedules_after_restart() {
    let today = midnight_today();
    let clock = VirtualClock::new("in-flight", today + DAY / 2);
    let file = clock.path();
    let mut env = vec![
        ("HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN", TOKEN),
        ("HUBGATE_EMULATION__HUBS", "1"),
        ("HUBGATE_CLOCK__FOLLOW_FILE", file.as_str()),
        ("HUBGATE_SCHEDULES__TICK_MS", "50"),
        // Long enough that the execution is still in flight when the gateway is killed.
        ("HUBGATE_ROUTING__RESPONSE_TIMEOUT_MS", "600000"),
    ];
    let gw = common::start_with_silent_esme("schedules-in-flight", SILENT, &env);
    let id = create(&gw, SILENT, &date(today + DAY));

    // The occurrence: the command goes out and nothing answers it.
    clock.set(today + DAY + 1);
    let deadline = Instant::now() + Duration::from_secs(20);
    while metric_value(&gw.metrics_text(), "hubgate_routing_commands_total", "") < 1.0 {
        assert!(Instant::now() < deadline, "the execution was not sent");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        next_message_within(&gw, TOKEN, Duration::from_millis(500)),
        None
    );

    // SIGKILL, then a start where the device's silence ends in E21 after 2 s.
    let dir = gw.stop_keeping_data();
    env[4] = ("HUBGATE_ROUTING__RESPONSE_TIMEOUT_MS", "2000");
    let gw = Gateway::start_in(dir, seeds(&env, true));
    assert!(
        gw.startup.contains("acknowledged requests sent again"),
        "the execution was not recovered from the journal:\n{}",
        gw.startup
    );
    let first = next_message_within(&gw, TOKEN, Duration::from_secs(30)).expect("a first message");
    let second =
        next_message_within(&gw, TOKEN, Duration::from_secs(10)).expect("a second message");
    let (response, alert) = if first.contains("<sr:DCCAlertMessage>") {
        (second, first)
    } else {
        (first, second)
    };

    // The recovered execution's answer is still the schedule's.
    check_tagged(&response, "E21", id, SILENT);
    let request_id = element_text(&response, "RequestID").unwrap();
    oracle::xml_oracle(&gw, &response, "recovered-execution");

    // And its owner is told by a CommandFailure DCC alert.
    assert!(alert.contains("<sr:DCCAlertMessage>"), "{alert}");
    assert_eq!(element_text(&alert, "DCCAlertCode").as_deref(), Some("N12"));
    assert!(alert.contains("<sr:CommandFailure>"), "{alert}");
    assert_eq!(
        element_text(&alert, "CommandRequestID").as_deref(),
        Some(request_id.as_str())
    );
    assert_eq!(
        element_text(&alert, "DSPScheduleID").as_deref(),
        Some(id.to_string().as_str())
    );
    assert_eq!(element_text(&alert, "DeviceID").as_deref(), Some(SILENT));
    oracle::xml_oracle(&gw, &alert, "command-failure");
    assert_eq!(
        next_message_within(&gw, TOKEN, Duration::from_secs(1)),
        None
    );
    // Timed against 24 h from the occurrence, not 30 s from the restart.
    assert_eq!(target_count(&gw, "future_dated", "true"), 1.0);
    assert_eq!(target_count(&gw, "on_demand", "false"), 0.0);
}
