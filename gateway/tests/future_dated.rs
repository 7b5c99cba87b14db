//! DSP future-dated requests (PROTOCOLS.md §1.6): a read whose SRV follows the DSP pattern,
//! with an `ExecutionDateTime` ahead, is acknowledged at once, held by the gateway, and sent
//! to the emulated meter at that time; its Service Response comes only then. The held
//! request is in the write-ahead journal, so it survives a SIGKILL and a restart and is
//! still sent at its time.
//!
//! Needs `curl` and the conformance data.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{
    Gateway, Seeds, element_text, metric_value, pull_answer, rfc3339, set_target, set_text,
};

const TOKEN: &str = "future-dated-pull-token-0123456789abcdef";
const ESME: &str = "00-DB-55-00-00-00-00-01";
const ENV: &[(&str, &str)] = &[
    ("HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN", TOKEN),
    ("HUBGATE_EMULATION__HUBS", "1"),
];

fn seeds() -> Seeds<'static> {
    Seeds {
        env: ENV,
        ..Seeds::default()
    }
}

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A 4.1.1 read of the emulated ESME to run at `at` (Unix seconds).
fn read_at(gw: &Gateway, at: i64) -> String {
    let xml = gw.template("ECS17b_4.1.1_DSP_FUTURE_DATED_REQUEST_DUIS.XML");
    let xml = set_target(&xml, ESME);
    set_text(&xml, "ExecutionDateTime", &rfc3339(at))
}

/// Whether a Service Response to `id` is kept for the supplier (without removing it).
fn answered(gw: &Gateway, id: &str) -> bool {
    let (status, body) = gw.get(
        "/api/v1/responses?limit=100",
        &[&format!("Authorization: Bearer {TOKEN}")],
    );
    assert!(status == 200 || status == 204, "{status}: {body}");
    body.contains(id)
}

fn deferred(gw: &Gateway) -> f64 {
    metric_value(&gw.metrics_text(), "hubgate_routing_deferred_messages", "")
}

#[test]
fn a_dsp_future_dated_read_is_held_until_its_execution_time() {
    let gw = Gateway::start("future-dsp", seeds());
    let at = now_s() + 4;
    let answer = gw.submit(&read_at(&gw, at), common::SUPPLIER);
    assert_eq!(answer.code, "I99", "{}", answer.xml);
    let id = answer.request_id.clone();
    // Held: no answer before its time, and counted as held.
    std::thread::sleep(Duration::from_millis(1_500));
    assert!(now_s() < at, "the machine is too slow for this check");
    assert!(!answered(&gw, &id), "answered before its execution time");
    assert_eq!(deferred(&gw), 1.0);
    let xml = pull_answer(&gw, TOKEN, &id, Duration::from_secs(30));
    assert!(now_s() >= at, "answered before its execution time");
    assert_eq!(
        element_text(&xml, "ResponseCode").as_deref(),
        Some("I0"),
        "{xml}"
    );
    assert!(xml.contains("GBCSPayload"), "{xml}");
    assert_eq!(deferred(&gw), 0.0);

    // An execution time already past: sent at once.
    let answer = gw.submit(&read_at(&gw, now_s() - 60), common::SUPPLIER);
    assert_eq!(answer.code, "I99", "{}", answer.xml);
    let started = Instant::now();
    let xml = pull_answer(&gw, TOKEN, &answer.request_id, Duration::from_secs(20));
    assert_eq!(
        element_text(&xml, "ResponseCode").as_deref(),
        Some("I0"),
        "{xml}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_held_request_survives_a_sigkill_and_runs_at_its_time() {
    let gw = Gateway::start("future-dsp-kill", seeds());
    let at = now_s() + 8;
    let answer = gw.submit(&read_at(&gw, at), common::SUPPLIER);
    assert_eq!(answer.code, "I99", "{}", answer.xml);
    let id = answer.request_id.clone();
    assert_eq!(deferred(&gw), 1.0);
    // SIGKILL, then a new process on the same data directory.
    let gw = gw.restart(seeds());
    assert!(
        gw.startup
            .contains("journal: 1 acknowledged requests sent again"),
        "{}",
        gw.startup
    );
    if now_s() < at - 1 {
        assert_eq!(deferred(&gw), 1.0, "held again after the restart");
        assert!(!answered(&gw, &id));
    }
    let xml = pull_answer(&gw, TOKEN, &id, Duration::from_secs(30));
    assert!(now_s() >= at, "answered before its execution time");
    assert_eq!(
        element_text(&xml, "ResponseCode").as_deref(),
        Some("I0"),
        "{xml}"
    );
}
