//! Cancelling future-dated requests (PROTOCOLS.md §1.6, `hubgate_gateway::cancellation`),
//! end to end against a running `hubgate serve` on virtual time (its clock follows a file
//! the test writes), with one in-process emulated premises, signed DUIS over HTTPS and the
//! supplier's messages pulled from its pull endpoint.
//!
//! - DSP pattern: a 4.1.1 read held for an hour, then the same read with an
//!   `ExecutionDateTime` in the year 3000: the held read is answered `E48`, the cancellation
//!   `I0` with no body — exactly these two messages, each valid against the DUIS XSD with a
//!   DSP signature an independent checker verifies; past the read's time nothing is sent to
//!   the meter (no command is handed to a hub) and nothing more reaches the supplier; a
//!   cancellation with nothing held is refused `E47`; a read held after the cancellation
//!   still runs at its time (so moving the clock does send held reads).
//! - The same across two SIGKILLs: the held read is held again after the first, cancelled
//!   after it, and the gateway is killed again straight after the cancellation is
//!   acknowledged; the two answers arrive once each and the read is never sent.
//! - Device pattern: an ECS01a tariff future-dated by an hour (Transform, then the
//!   supplier's Signed Pre-Command), then its CANCELLATION template re-signed the same way:
//!   the meter accepts the cancellation, the gateway forgets the remembered request
//!   (`hubgate_future_dated_cancelled_total{pattern="device"}`), and past the tariff's time
//!   no `8F66` reaches the supplier, in any form; a tariff future-dated afterwards still
//!   raises its `8F66`, tied to its request (so the emulated meter does execute pending
//!   tariffs when the clock passes them).
//! - Superseding: a tariff future-dated by an hour, an immediate tariff (which replaces
//!   nothing pending: `hubgate_future_dated_cancelled_total{pattern="superseded"}` stays 0),
//!   then a tariff future-dated by two hours: the meter keeps only the second, and the
//!   gateway forgets the first (`pattern="superseded"` 1). Past the first's time nothing is
//!   reported; past the second's, every `8F66` arrives as a `FutureDatedDeviceAlertMessage`
//!   naming the second request (as many as its `TotalCommandInstructions`), schema-valid and
//!   DSP-signed, and none names the first.
//!
//! Needs `curl`, `python3` with lxml and cryptography, and the conformance data.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::clock::{VirtualClock, unix_now};
use common::pull::{acknowledge, kept_messages, take_message};
use common::{
    Answer, Gateway, SUPPLIER, Seeds, element_text, metric_value, oracle, rfc3339, set_target,
    set_text,
};

const TOKEN: &str = "future-cancel-pull-token-0123456789abcdef";
/// The emulated premises' ESME.
const ESME: &str = "00-DB-55-00-00-00-00-01";
const HOUR: i64 = 3_600;
const CANCEL_AT: &str = "3000-12-31T00:00:00.00Z";

fn env(clock: &str) -> [(&str, &str); 4] {
    [
        ("HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN", TOKEN),
        ("HUBGATE_EMULATION__HUBS", "1"),
        ("HUBGATE_CLOCK__FOLLOW_FILE", clock),
        ("HUBGATE_ROUTING__RESPONSE_TIMEOUT_MS", "5000"),
    ]
}

/// Waits up to `wait` for `n` messages kept for the supplier, then a little longer for any
/// extra; acknowledges and returns them all.
fn take_all(gw: &Gateway, n: usize, wait: Duration) -> Vec<String> {
    let deadline = Instant::now() + wait;
    while kept_messages(gw, TOKEN).len() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1_000));
    let all = kept_messages(gw, TOKEN);
    for (seq, _) in &all {
        acknowledge(gw, TOKEN, *seq);
    }
    all.into_iter().map(|(_, x)| x).collect()
}

fn deferred(gw: &Gateway) -> f64 {
    metric_value(&gw.metrics_text(), "hubgate_routing_deferred_messages", "")
}

fn commands(gw: &Gateway) -> f64 {
    metric_value(&gw.metrics_text(), "hubgate_routing_commands_total", "")
}

fn cancelled(gw: &Gateway, pattern: &str) -> f64 {
    metric_value(
        &gw.metrics_text(),
        "hubgate_future_dated_cancelled_total",
        &format!("pattern=\"{pattern}\""),
    )
}

/// A 4.1.1 read of the ESME with `ExecutionDateTime` `at`.
fn read_at(gw: &Gateway, at: &str) -> Answer {
    let xml = gw.template("ECS17b_4.1.1_DSP_FUTURE_DATED_REQUEST_DUIS.XML");
    let xml = set_text(&set_target(&xml, ESME), "ExecutionDateTime", at);
    gw.submit(&xml, SUPPLIER)
}

/// The Service Response to `id` among `messages`.
fn answer_to<'a>(messages: &'a [String], id: &str) -> &'a str {
    messages
        .iter()
        .find(|x| element_text(x, "RequestID").as_deref() == Some(id))
        .unwrap_or_else(|| panic!("no answer to {id} in {messages:#?}"))
}

/// Checks the two answers of a DSP cancellation: `E48` for the held read, `I0` with no body
/// for the cancellation; nothing else.
fn check_cancellation_answers(gw: &Gateway, messages: &[String], held: &str, cancel: &str) {
    assert_eq!(messages.len(), 2, "exactly two answers: {messages:#?}");
    let held_answer = answer_to(messages, held);
    assert_eq!(
        element_text(held_answer, "ResponseCode").as_deref(),
        Some("E48"),
        "{held_answer}"
    );
    assert!(!held_answer.contains("GBCSPayload"), "{held_answer}");
    assert_eq!(
        element_text(held_answer, "ServiceReferenceVariant").as_deref(),
        Some("4.1.1")
    );
    assert!(element_text(held_answer, "ResponseID").is_some());
    oracle::xml_oracle(gw, held_answer, "cancelled-read");
    let cancel_answer = answer_to(messages, cancel);
    assert_eq!(
        element_text(cancel_answer, "ResponseCode").as_deref(),
        Some("I0"),
        "{cancel_answer}"
    );
    assert!(!cancel_answer.contains("GBCSPayload"), "{cancel_answer}");
    assert!(element_text(cancel_answer, "ResponseID").is_some());
    oracle::xml_oracle(gw, cancel_answer, "cancellation");
}

#[test]
fn a_cancelled_dsp_read_is_never_sent_and_both_requests_are_answered() {
    let t0 = unix_now();
    let clock = VirtualClock::new("dsp", t0);
    let file = clock.path();
    let env = env(&file);
    let gw = Gateway::start(
        "future-cancel-dsp",
        Seeds {
            env: &env,
            ..Seeds::default()
        },
    );

    // Held for an hour.
    let held = read_at(&gw, &rfc3339(t0 + HOUR));
    assert_eq!(held.code, "I99", "{}", held.xml);
    assert_eq!(deferred(&gw), 1.0);

    // The cancellation: acknowledged, never held; both answered.
    let cancel = read_at(&gw, CANCEL_AT);
    assert_eq!(cancel.code, "I99", "{}", cancel.xml);
    let messages = take_all(&gw, 2, Duration::from_secs(20));
    check_cancellation_answers(&gw, &messages, &held.request_id, &cancel.request_id);
    assert_eq!(deferred(&gw), 0.0);
    assert_eq!(cancelled(&gw, "dsp"), 1.0);

    // Nothing left to cancel.
    let again = read_at(&gw, CANCEL_AT);
    assert_eq!(again.code, "E47", "{}", again.xml);
    oracle::xml_oracle(&gw, &again.xml, "nothing-to-cancel");

    // A read held after the cancellation runs at its time; the cancelled one never does.
    let later = read_at(&gw, &rfc3339(t0 + 2 * HOUR));
    assert_eq!(later.code, "I99", "{}", later.xml);
    clock.set(t0 + HOUR + 60);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(commands(&gw), 0.0, "a command went to the meter");
    assert_nothing_kept(&gw);
    clock.set(t0 + 2 * HOUR + 60);
    let ran = take_message(&gw, TOKEN, Duration::from_secs(20), |x| {
        element_text(x, "RequestID").as_deref() == Some(later.request_id.as_str())
    });
    assert_eq!(element_text(&ran, "ResponseCode").as_deref(), Some("I0"));
    assert!(ran.contains("GBCSPayload"), "{ran}");
    assert_eq!(
        commands(&gw),
        1.0,
        "only the read held after the cancellation"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_nothing_kept(&gw);
}

/// No message is waiting for the supplier.
fn assert_nothing_kept(gw: &Gateway) {
    let kept = kept_messages(gw, TOKEN);
    assert!(kept.is_empty(), "{kept:#?}");
}

#[test]
fn a_dsp_cancellation_holds_across_restarts() {
    let t0 = unix_now();
    let clock = VirtualClock::new("dsp-restart", t0);
    let file = clock.path();
    let env = env(&file);
    let seeds = Seeds {
        env: &env,
        ..Seeds::default()
    };
    let gw = Gateway::start("future-cancel-restart", seeds);
    let held = read_at(&gw, &rfc3339(t0 + HOUR));
    assert_eq!(held.code, "I99", "{}", held.xml);

    // SIGKILL: the held read comes back from the journal.
    let gw = gw.restart(seeds);
    gw.advance_counter(1_000);
    assert_eq!(deferred(&gw), 1.0, "held again after the restart");
    let cancel = read_at(&gw, CANCEL_AT);
    assert_eq!(cancel.code, "I99", "{}", cancel.xml);

    // SIGKILL straight after the acknowledgement: whether or not the answers were stored,
    // each request is answered once.
    let gw = gw.restart(seeds);
    gw.advance_counter(2_000);
    let messages = take_all(&gw, 2, Duration::from_secs(20));
    check_cancellation_answers(&gw, &messages, &held.request_id, &cancel.request_id);
    assert_eq!(deferred(&gw), 0.0);

    // Past the read's time: nothing is sent, nothing more arrives.
    clock.set(t0 + HOUR + 60);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(commands(&gw), 0.0, "a command went to the meter");
    assert_nothing_kept(&gw);
    // A third start finds nothing left in the journal.
    let gw = gw.restart(seeds);
    assert!(
        !gw.startup.contains("acknowledged requests sent again"),
        "{}",
        gw.startup
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_nothing_kept(&gw);
}

/// A stop straight after a cancellation's acknowledgement, and a start only after the held
/// read's time: at the start the journal may still hold both requests, with the read due. It
/// is still never sent, and each request is answered once.
#[test]
fn a_dsp_cancellation_holds_across_a_restart_after_the_held_time() {
    let t0 = unix_now();
    let clock = VirtualClock::new("dsp-restart-late", t0);
    let file = clock.path();
    let env = env(&file);
    let seeds = Seeds {
        env: &env,
        ..Seeds::default()
    };
    let gw = Gateway::start("future-cancel-restart-late", seeds);
    let held = read_at(&gw, &rfc3339(t0 + HOUR));
    assert_eq!(held.code, "I99", "{}", held.xml);
    let cancel = read_at(&gw, CANCEL_AT);
    assert_eq!(cancel.code, "I99", "{}", cancel.xml);

    // SIGKILL at once; the gateway comes back after the read's time.
    let dir = gw.stop_keeping_data();
    clock.set(t0 + HOUR + 60);
    let gw = Gateway::start_in(dir, seeds);
    gw.advance_counter(1_000);
    let messages = take_all(&gw, 2, Duration::from_secs(20));
    check_cancellation_answers(&gw, &messages, &held.request_id, &cancel.request_id);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(commands(&gw), 0.0, "a cancelled read went to the meter");
    assert_nothing_kept(&gw);
}

/// Sends the ECS01a `template` for the ESME as the supplier, with `ExecutionDateTime` `at`
/// when given: CV 4 for the Pre-Command, signed with the supplier's GBCS key, then CV 5.
/// The CV 5 acknowledgement and the RequestID.
fn send_tariff(gw: &Gateway, template: &str, at: Option<&str>) -> (Answer, String) {
    let mut request = set_target(&gw.template(template), ESME);
    if let Some(at) = at {
        request = set_text(&request, "ExecutionDateTime", at);
    }
    common::critical::send_as_supplier(gw, &request)
}

/// Whether `xml` reports a future-dated execution (`8F66`), as a request's outcome or as a
/// device alert.
fn reports_execution(xml: &str) -> bool {
    xml.contains("FutureDatedDeviceAlertMessage")
        || element_text(xml, "AlertCode").as_deref() == Some("8F66")
        || element_text(xml, "FutureDatedAlertCode").is_some()
}

#[test]
fn a_cancelled_device_tariff_raises_no_execution_alert_and_is_forgotten() {
    const FUTURE: &str = "ECS01a_1.1.1_FUTURE_DATED_TOU_BLOCK_SUCCESS_REQUEST_DUIS.XML";
    const CANCEL: &str = "ECS01a_1.1.1_CANCELLATION_TOU_BLOCK_SUCCESS_REQUEST_DUIS.XML";
    let t0 = unix_now();
    let clock = VirtualClock::new("device", t0);
    let file = clock.path();
    let env = env(&file);
    let gw = Gateway::start(
        "future-cancel-device",
        Seeds {
            env: &env,
            ..Seeds::default()
        },
    );

    // The tariff, future-dated by an hour: the meter accepts it (I0).
    let (ack, tariff) = send_tariff(&gw, FUTURE, Some(&rfc3339(t0 + HOUR)));
    assert_eq!(ack.code, "I99", "{}", ack.xml);
    let accepted = take_message(&gw, TOKEN, Duration::from_secs(20), |x| {
        element_text(x, "RequestID").as_deref() == Some(tariff.as_str())
    });
    assert_eq!(
        element_text(&accepted, "ResponseCode").as_deref(),
        Some("I0"),
        "{accepted}"
    );
    assert_eq!(cancelled(&gw, "device"), 0.0);

    // Its CANCELLATION template, re-signed: the meter accepts it, the request is forgotten.
    let (ack, cancel) = send_tariff(&gw, CANCEL, None);
    assert_eq!(ack.code, "I99", "{}", ack.xml);
    let answer = take_message(&gw, TOKEN, Duration::from_secs(20), |x| {
        element_text(x, "RequestID").as_deref() == Some(cancel.as_str())
    });
    assert_eq!(
        element_text(&answer, "ResponseCode").as_deref(),
        Some("I0"),
        "{answer}"
    );
    assert!(answer.contains("GBCSPayload"), "{answer}");
    oracle::xml_oracle(&gw, &answer, "device-cancellation");
    assert_eq!(
        cancelled(&gw, "device"),
        1.0,
        "the remembered tariff is forgotten"
    );

    // Past the tariff's time: no 8F66 reaches the supplier, as an outcome or an alert.
    clock.set(t0 + HOUR + 60);
    std::thread::sleep(Duration::from_secs(3));
    let after = kept_messages(&gw, TOKEN);
    assert!(
        after.iter().all(|(_, x)| !reports_execution(x)),
        "an execution was reported for a cancelled tariff: {after:#?}"
    );
    assert!(after.is_empty(), "{after:#?}");

    // A tariff future-dated afterwards does run, and its outcome names it.
    let (ack, next) = send_tariff(&gw, FUTURE, Some(&rfc3339(t0 + 2 * HOUR)));
    assert_eq!(ack.code, "I99", "{}", ack.xml);
    let _ = take_message(&gw, TOKEN, Duration::from_secs(20), |x| {
        element_text(x, "RequestID").as_deref() == Some(next.as_str()) && !reports_execution(x)
    });
    clock.set(t0 + 2 * HOUR + 60);
    let outcome = take_message(&gw, TOKEN, Duration::from_secs(30), reports_execution);
    assert_eq!(
        element_text(&outcome, "RequestID").as_deref(),
        Some(next.as_str()),
        "{outcome}"
    );
    assert_eq!(
        element_text(&outcome, "FutureDatedAlertCode").as_deref(),
        Some("8F66"),
        "{outcome}"
    );
    // Every outcome of the second tariff names it; none names the cancelled one.
    std::thread::sleep(Duration::from_secs(2));
    for (_, x) in kept_messages(&gw, TOKEN) {
        assert_ne!(
            element_text(&x, "RequestID").as_deref(),
            Some(tariff.as_str()),
            "{x}"
        );
    }
}

#[test]
fn a_newer_future_dated_tariff_supersedes_the_pending_one_which_is_forgotten() {
    const FUTURE: &str = "ECS01a_1.1.1_FUTURE_DATED_TOU_BLOCK_SUCCESS_REQUEST_DUIS.XML";
    const IMMEDIATE: &str = "ECS01a_1.1.1_IMMEDIATE_TOU_SUCCESS_REQUEST_DUIS.XML";
    let t0 = unix_now();
    let clock = VirtualClock::new("supersede", t0);
    let file = clock.path();
    let env = env(&file);
    let gw = Gateway::start(
        "future-cancel-supersede",
        Seeds {
            env: &env,
            ..Seeds::default()
        },
    );
    let accepted = |id: &str| {
        let answer = take_message(&gw, TOKEN, Duration::from_secs(20), |x| {
            element_text(x, "RequestID").as_deref() == Some(id)
        });
        assert_eq!(
            element_text(&answer, "ResponseCode").as_deref(),
            Some("I0"),
            "{answer}"
        );
    };

    // The first tariff, future-dated by an hour.
    let (ack, first) = send_tariff(&gw, FUTURE, Some(&rfc3339(t0 + HOUR)));
    assert_eq!(ack.code, "I99", "{}", ack.xml);
    accepted(&first);

    // A tariff to run now replaces nothing pending.
    let (ack, now) = send_tariff(&gw, IMMEDIATE, None);
    assert_eq!(ack.code, "I99", "{}", ack.xml);
    accepted(&now);
    assert_eq!(
        cancelled(&gw, "superseded"),
        0.0,
        "run now: nothing replaced"
    );

    // The second, future-dated by two hours: the meter keeps only it, the first is forgotten.
    let (ack, second) = send_tariff(&gw, FUTURE, Some(&rfc3339(t0 + 2 * HOUR)));
    assert_eq!(ack.code, "I99", "{}", ack.xml);
    accepted(&second);
    assert_eq!(
        cancelled(&gw, "superseded"),
        1.0,
        "the first tariff is forgotten, and only it"
    );
    assert_eq!(cancelled(&gw, "device"), 0.0);

    // Past the first tariff's time: nothing runs, nothing is reported.
    clock.set(t0 + HOUR + 60);
    std::thread::sleep(Duration::from_secs(3));
    let after = kept_messages(&gw, TOKEN);
    assert!(after.is_empty(), "{after:#?}");

    // Past the second's: its 8F66s arrive, each tied to it; none names the first.
    clock.set(t0 + 2 * HOUR + 60);
    let outcome = take_message(&gw, TOKEN, Duration::from_secs(30), reports_execution);
    let total: usize = element_text(&outcome, "TotalCommandInstructions")
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no TotalCommandInstructions: {outcome}"));
    assert!(total >= 1, "{outcome}");
    oracle::xml_oracle(&gw, &outcome, "superseding-outcome");
    let mut outcomes = vec![outcome];
    outcomes.extend(take_all(&gw, total - 1, Duration::from_secs(20)));
    assert_eq!(outcomes.len(), total, "{outcomes:#?}");
    for x in &outcomes {
        assert!(reports_execution(x), "{x}");
        assert!(x.contains("FutureDatedDeviceAlertMessage"), "{x}");
        assert_eq!(
            element_text(x, "RequestID").as_deref(),
            Some(second.as_str()),
            "{x}"
        );
        assert_eq!(
            element_text(x, "FutureDatedAlertCode").as_deref(),
            Some("8F66"),
            "{x}"
        );
    }
}
