//! loadgen against a real `hubgate serve` (debug build): a few seconds at a low rate, every
//! request acknowledged and counted in a well-formed report; the Transform → Pre-Command →
//! Signed Pre-Command loop of a critical SRV; a closed loop.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::{Gateway, run_scenario};
use hubgate_loadgen::report::Report;

fn codes_sum(codes: &BTreeMap<String, u64>) -> u64 {
    codes.values().sum()
}

#[test]
fn open_loop_requests_are_all_acknowledged_and_reported() {
    let (gw, port) = Gateway::start_delivering("open", 3, 4, &[]);
    let text = gw.scenario(
        "mode = \"open\"\nduration_s = 3.0\nprofile = { kind = \"constant\", rate = 20.0 }\ndepth = 8\nanswer_wait_s = 20.0",
        Some(&format!("address = \"127.0.0.1:{port}\"\ndrain_s = 0.5")),
        &[("4.1.1", 3.0), ("2.2", 1.0), ("4.8.1", 1.0), ("8.2", 1.0)],
    );
    let report = run_scenario(&text);

    assert_eq!(report.planned, Some(60));
    assert_eq!(report.sent, 60, "{report:#?}");
    assert_eq!(report.answered, 60);
    assert_eq!(report.acknowledged, 60, "codes {:?}", report.codes);
    assert_eq!(
        (report.lost, report.not_sent, report.build_failures),
        (0, 0, 0)
    );
    assert!(
        report.connection_errors.is_empty(),
        "{:?}",
        report.connection_errors
    );
    assert!(
        report.codes.keys().all(|k| k == "200 I99" || k == "200 I0"),
        "{:?}",
        report.codes
    );
    // Read Inventory is a non-device request: answered in full (I0); the rest are device
    // requests, acknowledged (I99).
    let inventory = &report.per_srv["8.2"];
    assert_eq!(inventory.codes.get("200 I0"), Some(&inventory.sent));
    let per_srv_sent: u64 = report.per_srv.values().map(|s| s.sent).sum();
    assert_eq!(per_srv_sent, 60);
    for (srv, s) in &report.per_srv {
        assert_eq!(codes_sum(&s.codes), s.sent, "{srv}");
        assert_eq!(s.ack_latency.unwrap().count, s.sent, "{srv}");
    }
    assert_eq!(report.per_srv.len(), 4, "every SRV of the mix was drawn");
    assert_eq!(report.ack_latency.unwrap().count, 60);
    assert!(report.cpu.is_some());

    // Every acknowledged device request is either answered by now or still awaited.
    let a = report.asynchronous.as_ref().unwrap();
    let device_acks: u64 = report
        .per_srv
        .iter()
        .filter(|(srv, _)| *srv != "8.2")
        .map(|(_, s)| s.codes.get("200 I99").copied().unwrap_or(0))
        .sum();
    assert_eq!(a.matched + a.outstanding, device_acks, "{a:#?}");
    assert_eq!(a.unreadable, 0);

    // The JSON written is the same report, and the Markdown names every SRV.
    let json = std::fs::read_to_string(gw.dir.join("report/report.json")).unwrap();
    assert_eq!(json, serde_json::to_string_pretty(&report).unwrap() + "\n");
    let back: Report = serde_json::from_str(&json).unwrap();
    assert_eq!((back.sent, back.acknowledged), (60, 60));
    assert_eq!(back.codes, report.codes);
    assert_eq!(
        back.per_srv.keys().collect::<Vec<_>>(),
        report.per_srv.keys().collect::<Vec<_>>()
    );
    let md = std::fs::read_to_string(gw.dir.join("report/report.md")).unwrap();
    for srv in ["4.1.1", "2.2", "4.8.1", "8.2"] {
        assert!(md.contains(&format!("| {srv} |")), "{srv} missing in\n{md}");
    }
}

#[test]
fn critical_requests_go_through_transform_and_signed_precommand() {
    let gw = Gateway::start("critical", 2, 2, &[]);
    let text = gw.scenario(
        "mode = \"open\"\nduration_s = 2.0\nprofile = { kind = \"constant\", rate = 10.0 }\nanswer_wait_s = 20.0",
        None,
        &[("7.1", 1.0), ("1.6", 1.0)],
    );
    let report = run_scenario(&text);
    let c = &report.critical;
    assert_eq!(c.transforms, 20, "{report:#?}");
    assert_eq!(
        c.precommands, 20,
        "every Transform answered I0 with a Pre-Command"
    );
    assert_eq!(c.signed_sent, 20);
    assert_eq!(
        c.signed_acknowledged, 20,
        "every Signed Pre-Command acknowledged I99"
    );
    assert_eq!(c.signing_failures, 0);
    assert_eq!(c.loop_latency.unwrap().count, 20);
    for srv in ["7.1", "1.6"] {
        let s = &report.per_srv[srv];
        assert_eq!(s.transforms, s.precommands, "{srv}");
        assert_eq!(
            s.codes.get("200 I0"),
            Some(&s.transforms),
            "{srv}: {:?}",
            s.codes
        );
        assert_eq!(
            s.codes.get("200 I99"),
            Some(&s.signed_sent),
            "{srv}: {:?}",
            s.codes
        );
        assert_eq!(s.sent, 2 * s.transforms);
    }
    assert_eq!(report.sent, 40);
    assert_eq!(report.acknowledged, 40);
    assert!(report.asynchronous.is_none());
}

#[test]
fn closed_loop_keeps_every_user_busy() {
    let gw = Gateway::start("closed", 2, 2, &[]);
    let text = gw.scenario(
        "mode = \"closed\"\nduration_s = 1.5\ndepth = 4\nanswer_wait_s = 20.0",
        None,
        &[("4.1.1", 1.0), ("7.4", 1.0)],
    );
    let report = run_scenario(&text);
    assert_eq!(report.mode, "closed");
    assert!(report.sent >= 20, "{report:#?}");
    assert_eq!(report.acknowledged, report.sent, "{:?}", report.codes);
    assert_eq!(report.lost, 0);
    assert!(report.acknowledged_rate > 0.0);
    assert!(report.kept_rate, "a closed loop has no rate to keep");
    assert_eq!(report.planned, None);
}
