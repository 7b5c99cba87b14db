//! Anomaly detection and the quarantine against a real `hubgate serve` with emulated meters:
//! a threshold of 3 requests a minute for one User and SRV, signed DUIS over HTTPS, the
//! admin API over HTTPS with its bearer token, the `hubgate quarantine` command line, the
//! pull endpoint for what released requests produce (and for the `QuarantinedRequest` DCC
//! alert each quarantined request raises), and the metrics endpoint.
//!
//! Needs `curl`, `python3` with lxml and cryptography, and the conformance data.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::admin::{QUARANTINE_PATH, is_dcc_alert, quarantine_cli, quarantine_held};
use common::pull::kept_messages;
use common::{Answer, Gateway, SUPPLIER, Seeds, element_text, path_for_cv, set_target, set_text};

const PULL: &str = "quarantine-test-pull-token-0123456789abcdef";
const ADMIN: &str = "quarantine-test-admin-token-0123456789abcdef";
/// The first emulated premises' ESME.
const ESME: &str = "00-DB-55-00-00-00-00-01";

fn start(name: &str, env: &'static [(&'static str, &'static str)]) -> Gateway {
    Gateway::start(
        name,
        Seeds {
            env,
            ..Seeds::default()
        },
    )
}

/// Waits for the supplier's Service Response to `request_id`, acknowledges it and returns it.
fn answer_to(gw: &Gateway, request_id: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = kept_messages(gw, PULL).into_iter().find(|(_, xml)| {
            !is_dcc_alert(xml) && element_text(xml, "RequestID").as_deref() == Some(request_id)
        });
        if let Some((seq, xml)) = found {
            let (status, _) = gw.call("DELETE", &format!("/api/v1/responses/{seq}"), Some(PULL));
            assert!(
                status == 200 || status == 204,
                "acknowledging {seq}: {status}"
            );
            return xml;
        }
        assert!(
            Instant::now() < deadline,
            "no Service Response to {request_id} within 20 s; kept: {:?}",
            kept_messages(gw, PULL)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Signs `xml` as the supplier, posts it; the answer and the signed body.
fn send(gw: &Gateway, xml: &str) -> (Answer, Vec<u8>) {
    let body = gw.sign(xml, SUPPLIER);
    let cv: u8 = element_text(xml, "CommandVariant")
        .unwrap()
        .parse()
        .unwrap();
    let (http, text) = gw.post(path_for_cv(cv), &body);
    (Answer::parse(http, &text), body)
}

/// Waits for the supplier's `QuarantinedRequest` DCC alert naming `request_id`,
/// acknowledges it and returns it.
fn quarantined_alert(gw: &Gateway, request_id: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = kept_messages(gw, PULL).into_iter().find(|(_, xml)| {
            is_dcc_alert(xml)
                && xml.contains("<sr:QuarantinedRequest>")
                && element_text(xml, "RequestID").as_deref() == Some(request_id)
        });
        if let Some((seq, xml)) = found {
            let (status, _) = gw.call("DELETE", &format!("/api/v1/responses/{seq}"), Some(PULL));
            assert!(
                status == 200 || status == 204,
                "acknowledging {seq}: {status}"
            );
            return xml;
        }
        assert!(
            Instant::now() < deadline,
            "no QuarantinedRequest alert for {request_id} within 20 s; kept: {:?}",
            kept_messages(gw, PULL)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .filter_map(|l| l.strip_prefix(series))
        .filter_map(|rest| rest.strip_prefix(' '))
        .filter_map(|v| v.trim().parse::<f64>().ok())
        .sum()
}

#[test]
fn a_breach_is_quarantined_then_released_to_the_meter_or_deleted() {
    let gw = start(
        "breach",
        &[
            ("HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN", PULL),
            ("HUBGATE_EMULATION__HUBS", "1"),
            (
                "HUBGATE_ANOMALY__OVERRIDES",
                "90-B3-D5-1F-30-01-00-00:4.1.1=3,-",
            ),
            ("HUBGATE_ANOMALY__ADMIN_TOKEN", ADMIN),
        ],
    );
    let read = set_target(
        &gw.template("ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML"),
        ESME,
    );
    // Three reads a minute are within the threshold and reach the meter.
    for _ in 0..3 {
        let (a, _) = send(&gw, &read);
        assert_eq!(a.code, "I99", "{}", a.xml);
        let r = answer_to(&gw, &a.request_id);
        assert_eq!(element_text(&r, "ResponseCode").as_deref(), Some("I0"));
    }
    // The fourth and fifth breach it: E43, not executed.
    let (fourth, fourth_body) = send(&gw, &read);
    assert_eq!(fourth.code, "E43", "{}", fourth.xml);
    let (fifth, _) = send(&gw, &read);
    assert_eq!(fifth.code, "E43", "{}", fifth.xml);
    // Another SRV of the same User is counted apart.
    let inventory = set_text(
        &gw.template("8.2_READ_INVENTORY_REQUEST_DUIS.XML"),
        "DeviceID",
        ESME,
    );
    let (other, _) = send(&gw, &inventory);
    assert_eq!(other.code, "I0", "{}", other.xml);

    // The admin API lists both, with what they are and why.
    let list = quarantine_held(&gw, ADMIN);
    assert_eq!(list.len(), 2, "{list:?}");
    let ids: Vec<u64> = list.iter().map(|h| h["id"].as_u64().unwrap()).collect();
    assert_eq!(list[0]["request_id"], fourth.request_id.as_str());
    assert_eq!(list[1]["request_id"], fifth.request_id.as_str());
    for h in &list {
        assert_eq!(h["user"], SUPPLIER);
        assert_eq!(h["srv"], "4.1.1");
        assert_eq!(h["cv"], 1);
        assert_eq!(h["window"], "minute");
        assert!(
            h["reason"].as_str().unwrap().contains("threshold of 3"),
            "{h}"
        );
    }
    for h in &list {
        assert_eq!(h["kind"], "request", "{h}");
    }
    // The User is told of each: a QuarantinedRequest DCC alert naming the request and its
    // quarantine ID, valid against the DUIS XSD and signed by the DSP.
    for (quarantined, id) in [(&fourth, ids[0]), (&fifth, ids[1])] {
        let alert = quarantined_alert(&gw, &quarantined.request_id);
        assert_eq!(
            element_text(&alert, "DCCAlertCode").as_deref(),
            Some("N24"),
            "{alert}"
        );
        assert!(alert.contains("<sr:ADDCCThresholdBreach>"), "{alert}");
        assert_eq!(
            element_text(&alert, "QuarantineEventRef"),
            Some(id.to_string()),
            "{alert}"
        );
        common::oracle::xml_oracle(&gw, &alert, &format!("quarantined-request-{id}"));
    }
    // With the full signed body as received.
    let (status, body) = gw.call("GET", &format!("{QUARANTINE_PATH}/{}", ids[0]), Some(ADMIN));
    assert_eq!(status, 200);
    assert_eq!(body.as_bytes(), fourth_body.as_slice());

    // No token, or the wrong one: 401, and nothing changes.
    let wrong = "not-the-admin-token-0123456789abcdefghijkl";
    for (method, path) in [
        ("GET", QUARANTINE_PATH.to_string()),
        ("GET", format!("{QUARANTINE_PATH}/{}", ids[0])),
        ("POST", format!("{QUARANTINE_PATH}/{}/release", ids[0])),
        ("DELETE", format!("{QUARANTINE_PATH}/{}", ids[1])),
    ] {
        for token in [None, Some(wrong)] {
            let (status, body) = gw.call(method, &path, token);
            assert_eq!(status, 401, "{method} {path} with {token:?}: {body}");
        }
    }
    assert_eq!(quarantine_held(&gw, ADMIN).len(), 2);

    // The command line lists them too; with a wrong token it fails and says why.
    let token_file = gw.dir.join("admin-token");
    std::fs::write(&token_file, format!("{ADMIN}\n")).unwrap();
    let (code, out) = quarantine_cli(&gw, &token_file, &["list"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("2 quarantined: 2 request(s), 0 alert(s), 0 Service Response(s)"),
        "{out}"
    );
    assert!(
        out.contains(&fourth.request_id) && out.contains(&fifth.request_id),
        "{out}"
    );
    for id in [&fourth.request_id, &fifth.request_id] {
        let line = out.lines().find(|l| l.contains(id.as_str())).unwrap();
        assert_eq!(line.split_whitespace().nth(1), Some("request"), "{out}");
    }
    let bad_file = gw.dir.join("bad-token");
    std::fs::write(&bad_file, wrong).unwrap();
    let (code, out) = quarantine_cli(&gw, &bad_file, &["list"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("401"), "{out}");

    // The held request's counter is spent: the same signed request again is a replay.
    let (http, text) = gw.post(path_for_cv(1), &fourth_body);
    assert_eq!(Answer::parse(http, &text).code, "E42", "{text}");

    let routed_before = metric(&gw.metrics_text(), "hubgate_routing_commands_total");

    // Release the fourth from the command line: it goes to the meter (not refused as a
    // replay, not quarantined again) and its Service Response reaches the User.
    let (code, out) = quarantine_cli(&gw, &token_file, &["release", &ids[0].to_string()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\"outcome\":\"routed\""), "{out}");
    let r = answer_to(&gw, &fourth.request_id);
    assert_eq!(
        element_text(&r, "ResponseCode").as_deref(),
        Some("I0"),
        "{r}"
    );
    assert!(element_text(&r, "GBCSPayload").is_some(), "{r}");
    // Released once only.
    let (status, _) = gw.call(
        "POST",
        &format!("{QUARANTINE_PATH}/{}/release", ids[0]),
        Some(ADMIN),
    );
    assert_eq!(status, 404);

    // Delete the fifth through the API: gone, and never executed.
    let (status, body) = gw.call(
        "DELETE",
        &format!("{QUARANTINE_PATH}/{}", ids[1]),
        Some(ADMIN),
    );
    assert_eq!(status, 200, "{body}");
    assert!(quarantine_held(&gw, ADMIN).is_empty());
    let (code, out) = quarantine_cli(&gw, &token_file, &["delete", &ids[1].to_string()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("404"), "{out}");
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        kept_messages(&gw, PULL)
            .iter()
            .all(|(_, xml)| is_dcc_alert(xml)
                || element_text(xml, "RequestID").as_deref() != Some(&fifth.request_id)),
        "the deleted request was answered"
    );

    // Metrics: two quarantined (minute window), one released, one deleted, none held; one
    // command routed since the release (the released one), none for the deleted one.
    let m = gw.metrics_text();
    assert_eq!(
        metric(&m, "hubgate_routing_commands_total") - routed_before,
        1.0,
        "{m}"
    );
    assert_eq!(
        metric(&m, "hubgate_quarantine_requests_total{window=\"minute\"}"),
        2.0,
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            "hubgate_quarantine_outcomes_total{outcome=\"released\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(&m, "hubgate_quarantine_outcomes_total{outcome=\"deleted\"}"),
        1.0
    );
    assert_eq!(metric(&m, "hubgate_quarantine_held_messages"), 0.0, "{m}");
    assert_eq!(
        metric(
            &m,
            "hubgate_ingress_requests_total{service=\"send_command\",srv=\"4.1.1\",cv=\"1\",code=\"E43\"}"
        ),
        2.0,
        "{m}"
    );
}

#[test]
fn held_requests_survive_a_restart_and_a_released_non_device_request_is_answered() {
    const ENV: &[(&str, &str)] = &[
        ("HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN", PULL),
        ("HUBGATE_EMULATION__HUBS", "1"),
        ("HUBGATE_ANOMALY__OVERRIDES", "*:8.2=1,-"),
    ];
    let gw = start("restart", ENV);
    // The admin token was generated in the data folder, and the start-up output says where.
    let token_file = gw.dir.join("data/anomaly/admin-token");
    assert!(
        gw.startup.contains(&token_file.display().to_string()),
        "{}",
        gw.startup
    );
    let token = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_string();
    let read = set_text(
        &gw.template("8.2_READ_INVENTORY_REQUEST_DUIS.XML"),
        "DeviceID",
        ESME,
    );
    let (first, _) = send(&gw, &read);
    assert_eq!(first.code, "I0", "{}", first.xml);
    let (second, _) = send(&gw, &read);
    assert_eq!(second.code, "E43", "{}", second.xml);
    assert_eq!(quarantine_held(&gw, &token).len(), 1);

    let gw = gw.restart(Seeds {
        env: ENV,
        ..Seeds::default()
    });
    // Still held, with the same token, and counted as held.
    let list = quarantine_held(&gw, &token);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["request_id"], second.request_id.as_str());
    assert_eq!(list[0]["srv"], "8.2");
    assert_eq!(
        metric(&gw.metrics_text(), "hubgate_quarantine_held_messages"),
        1.0
    );
    let (code, out) = quarantine_cli(&gw, &token_file, &["list"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&second.request_id), "{out}");

    // Released: the inventory read runs and its answer reaches the User through delivery.
    let id = list[0]["id"].as_u64().unwrap();
    let (status, body) = gw.call(
        "POST",
        &format!("{QUARANTINE_PATH}/{id}/release"),
        Some(&token),
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["outcome"], "answered");
    assert_eq!(v["code"], "I0");
    let r = answer_to(&gw, &second.request_id);
    assert_eq!(
        element_text(&r, "ResponseCode").as_deref(),
        Some("I0"),
        "{r}"
    );
    let answer = Answer::parse(200, &r);
    let devices = answer.devices();
    // The device read, and those associated with it.
    assert_eq!(devices[0]["DeviceID"], ESME, "{r}");
    assert_eq!(devices[0]["DeviceType"], "ESME", "{r}");
    assert!(quarantine_held(&gw, &token).is_empty());
}
