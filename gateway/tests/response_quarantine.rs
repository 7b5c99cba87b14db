//! Service Response thresholds per Communications Hub, end to end against a real
//! `hubgate serve` with one emulated premises: signed DUIS reads over HTTPS, a limit of 3
//! Service Responses a minute for the hub (`anomaly.hub_responses_per_minute`), the request
//! thresholds at their defaults (thousands a minute, so no request is quarantined), the
//! admin API over HTTPS with its bearer token, the `hubgate quarantine` command line, the
//! pull endpoint for what the supplier receives, the metrics endpoint, and the store read
//! back after the gateway stopped.
//!
//! It proves: of five reads to the premises, the first three Service Responses are
//! delivered and the other two are held, listed as kind `response` by the API and the CLI,
//! and announced to the User by a `QuarantinedRequest` DCC alert naming each RequestID
//! (DSP-signed, valid against the DUIS XSD); the held responses survive a restart and their
//! requests are not sent to the meter again; the one released is delivered once, exactly as
//! held (DSP-signed, valid against the DUIS XSD); the one deleted is never delivered; the
//! write-ahead journal holds nothing for any of the five.
//!
//! Needs `curl`, `python3` with lxml and cryptography, and the conformance data.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::admin::{QUARANTINE_PATH, is_dcc_alert, quarantine_held};
use common::pull::{acknowledge, kept_messages};
use common::{
    Answer, Gateway, SUPPLIER, Seeds, element_text, metric_value, path_for_cv, set_target,
};
use hubgate_gateway::store::Store;

const PULL: &str = "response-quarantine-pull-token-0123456789abcdef";
const ADMIN: &str = "response-quarantine-admin-token-0123456789abcdef";
/// The emulated premises' hub and ESME.
const HUB: &str = "00-DB-55-00-00-00-00-00";
const ESME: &str = "00-DB-55-00-00-00-00-01";

const ENV: &[(&str, &str)] = &[
    ("HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN", PULL),
    ("HUBGATE_EMULATION__HUBS", "1"),
    ("HUBGATE_ANOMALY__HUB_RESPONSES_PER_MINUTE", "3"),
    ("HUBGATE_ANOMALY__ADMIN_TOKEN", ADMIN),
];

/// Whether `xml` is the Service Response to `request_id`.
fn answers(xml: &str, request_id: &str) -> bool {
    !is_dcc_alert(xml) && element_text(xml, "RequestID").as_deref() == Some(request_id)
}

/// Waits until the supplier has `n` kept messages matching `pick`, acknowledges them and
/// returns their XML in pull order.
fn collect(gw: &Gateway, n: usize, what: &str, pick: impl Fn(&str) -> bool) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found: Vec<(u64, String)> = kept_messages(gw, PULL)
            .into_iter()
            .filter(|(_, x)| pick(x))
            .collect();
        if found.len() >= n {
            assert_eq!(found.len(), n, "more {what} than expected: {found:?}");
            for (seq, _) in &found {
                acknowledge(gw, PULL, *seq);
            }
            return found.into_iter().map(|(_, x)| x).collect();
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} {what} within 30 s; kept: {:?}",
            found.len(),
            kept_messages(gw, PULL)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Signs `xml` as the supplier and posts it.
fn send(gw: &Gateway, xml: &str) -> Answer {
    let body = gw.sign(xml, SUPPLIER);
    let (http, text) = gw.post(path_for_cv(1), &body);
    Answer::parse(http, &text)
}

#[test]
fn responses_over_the_hub_threshold_are_held_then_released_or_deleted() {
    let gw = Gateway::start(
        "response-quarantine",
        Seeds {
            env: ENV,
            ..Seeds::default()
        },
    );
    let read = set_target(
        &gw.template("ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML"),
        ESME,
    );
    // Five reads to the premises: all acknowledged (no request threshold is near).
    let ids: Vec<String> = (0..5)
        .map(|_| {
            let a = send(&gw, &read);
            assert_eq!(a.code, "I99", "{}", a.xml);
            a.request_id
        })
        .collect();

    // The first three Service Responses are delivered, DSP-signed and schema-valid.
    let delivered = collect(&gw, 3, "Service Responses", |x| {
        ids.iter().any(|id| answers(x, id))
    });
    for (i, xml) in delivered.iter().enumerate() {
        assert!(answers(xml, &ids[i]), "response {i} out of order: {xml}");
        assert_eq!(element_text(xml, "ResponseCode").as_deref(), Some("I0"));
        assert!(element_text(xml, "GBCSPayload").is_some(), "{xml}");
    }
    common::oracle::xml_oracle(&gw, &delivered[0], "delivered-response");

    // The other two are held: listed as kind `response`, with the request they answer.
    let deadline = Instant::now() + Duration::from_secs(20);
    let list = loop {
        let list = quarantine_held(&gw, ADMIN);
        if list.len() >= 2 || Instant::now() > deadline {
            break list;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(list.len(), 2, "{list:?}");
    let quarantine_ids: Vec<u64> = list.iter().map(|h| h["id"].as_u64().unwrap()).collect();
    for (h, request_id) in list.iter().zip(&ids[3..]) {
        assert_eq!(h["kind"], "response", "{h}");
        assert_eq!(h["request_id"], request_id.as_str(), "{h}");
        assert_eq!(h["user"], SUPPLIER, "{h}");
        assert_eq!(h["srv"], "4.1.1", "{h}");
        assert_eq!(h["hub"], HUB, "{h}");
        assert_eq!(h["device"], ESME, "{h}");
        assert_eq!(h["window"], "minute", "{h}");
        assert_eq!(h["messages"], 1, "{h}");
        let reason = h["reason"].as_str().unwrap();
        assert!(
            reason.contains("Service Responses from hub") && reason.contains("threshold of 3"),
            "{reason}"
        );
    }
    // Each one's record holds the signed Service Response it would have been delivered as.
    let (status, body) = gw.call(
        "GET",
        &format!("{QUARANTINE_PATH}/{}", quarantine_ids[0]),
        Some(ADMIN),
    );
    assert_eq!(status, 200, "{body}");
    let detail: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(detail["messages"][0]["user"], SUPPLIER, "{detail}");
    assert_eq!(detail["messages"][0]["kind"], "response", "{detail}");
    let held_xml = detail["messages"][0]["xml"].as_str().unwrap().to_string();
    assert!(answers(&held_xml, &ids[3]), "{held_xml}");

    // The User is told of each: a QuarantinedRequest DCC alert naming the request answered
    // and the quarantine ID; nothing else reached it for those two requests.
    let alerts = collect(&gw, 2, "QuarantinedRequest alerts", |x| {
        is_dcc_alert(x) && x.contains("<sr:QuarantinedRequest>")
    });
    for (alert, (request_id, qid)) in alerts.iter().zip(ids[3..].iter().zip(&quarantine_ids)) {
        assert_eq!(element_text(alert, "DCCAlertCode").as_deref(), Some("N24"));
        assert_eq!(
            element_text(alert, "RequestID").as_deref(),
            Some(request_id.as_str())
        );
        assert_eq!(
            element_text(alert, "QuarantineEventRef"),
            Some(qid.to_string())
        );
    }
    common::oracle::xml_oracle(&gw, &alerts[0], "quarantined-response-alert");
    assert!(
        kept_messages(&gw, PULL).is_empty(),
        "nothing else was delivered: {:?}",
        kept_messages(&gw, PULL)
    );

    // The command line lists them too, with their kind.
    let token_file = gw.dir.join("admin-token");
    std::fs::write(&token_file, format!("{ADMIN}\n")).unwrap();
    let (code, out) = gw.operator_cli(&token_file, &["quarantine", "list", "--json"]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let kinds: Vec<(&str, &str)> = v["held"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["kind"].as_str().unwrap(),
                h["request_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![("response", ids[3].as_str()), ("response", ids[4].as_str())]
    );
    // `--json` is the admin API's listing, unchanged.
    let (status, api) = gw.get(
        "/api/v1/admin/quarantine",
        &[&format!("Authorization: Bearer {ADMIN}")],
    );
    assert_eq!(status, 200, "{api}");
    assert_eq!(v, serde_json::from_str::<serde_json::Value>(&api).unwrap());
    let (code, out) = gw.operator_cli(&token_file, &["quarantine", "list"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("2 quarantined: 0 request(s), 0 alert(s), 2 Service Response(s)"),
        "{out}"
    );
    assert!(out.contains(&ids[3]) && out.contains(&ids[4]), "{out}");
    assert!(out.contains("Service Responses from hub"), "{out}");
    // Each is listed as a response, with the hub and the device that answered.
    for h in v["held"].as_array().unwrap() {
        let rid = h["request_id"].as_str().unwrap();
        let lines: Vec<&str> = out.lines().collect();
        let at = lines.iter().position(|l| l.contains(rid)).unwrap();
        let columns: Vec<&str> = lines[at].split_whitespace().collect();
        assert_eq!(columns[1], "response", "{out}");
        let (hub, device) = (h["hub"].as_str().unwrap(), h["device"].as_str().unwrap());
        assert!(
            lines[at + 1]
                .trim()
                .starts_with(&format!("hub {hub}, device {device}: ")),
            "{out}"
        );
        assert_eq!(
            device,
            rid.split(':').nth(1).unwrap(),
            "the device answered"
        );
    }

    let m = gw.metrics_text();
    assert_eq!(
        metric_value(
            &m,
            "hubgate_quarantine_responses_total",
            "window=\"minute\""
        ),
        2.0,
        "{m}"
    );
    assert_eq!(
        metric_value(&m, "hubgate_quarantine_held_messages", ""),
        2.0
    );

    // A restart: still held, and the journal sends nothing again (their requests reached
    // their outcome when the responses were held).
    let gw = gw.restart(Seeds {
        env: ENV,
        ..Seeds::default()
    });
    assert!(
        !gw.startup.contains("journal: "),
        "requests were sent again: {}",
        gw.startup
    );
    let after: Vec<u64> = quarantine_held(&gw, ADMIN)
        .iter()
        .map(|h| h["id"].as_u64().unwrap())
        .collect();
    assert_eq!(after, quarantine_ids);
    assert_eq!(
        metric_value(&gw.metrics_text(), "hubgate_quarantine_held_messages", ""),
        2.0
    );

    // Release the first from the command line: delivered, exactly as held.
    let (code, out) = gw.operator_cli(
        &token_file,
        &["quarantine", "release", &quarantine_ids[0].to_string()],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\"outcome\":\"delivered\""), "{out}");
    let released = collect(&gw, 1, "released Service Responses", |x| {
        answers(x, &ids[3])
    });
    assert_eq!(released[0], held_xml);
    assert_eq!(
        element_text(&released[0], "ResponseCode").as_deref(),
        Some("I0")
    );
    assert!(element_text(&released[0], "GBCSPayload").is_some());
    common::oracle::xml_oracle(&gw, &released[0], "released-response");
    // Released once only.
    let (status, _) = gw.call(
        "POST",
        &format!("{QUARANTINE_PATH}/{}/release", quarantine_ids[0]),
        Some(ADMIN),
    );
    assert_eq!(status, 404);

    // Delete the second through the API: gone, and never delivered.
    let (status, body) = gw.call(
        "DELETE",
        &format!("{QUARANTINE_PATH}/{}", quarantine_ids[1]),
        Some(ADMIN),
    );
    assert_eq!(status, 200, "{body}");
    assert!(quarantine_held(&gw, ADMIN).is_empty());
    std::thread::sleep(Duration::from_secs(2));
    let left = kept_messages(&gw, PULL);
    assert!(
        left.iter()
            .all(|(_, x)| !ids.iter().any(|id| answers(x, id))),
        "a deleted, repeated or resent response was delivered: {left:?}"
    );

    let m = gw.metrics_text();
    assert_eq!(
        metric_value(
            &m,
            "hubgate_quarantine_outcomes_total",
            "outcome=\"released\""
        ),
        1.0
    );
    assert_eq!(
        metric_value(
            &m,
            "hubgate_quarantine_outcomes_total",
            "outcome=\"deleted\""
        ),
        1.0
    );
    assert_eq!(
        metric_value(&m, "hubgate_quarantine_held_messages", ""),
        0.0
    );

    // The journal holds nothing for the five requests, and the quarantine nothing at all.
    let dir = gw.stop_keeping_data();
    let store = Store::open(&dir.join("data")).unwrap();
    let journal = hubgate_gateway::journal::read_all(&store).unwrap();
    let quarantined = hubgate_gateway::anomaly::quarantine::count(&store).unwrap();
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        journal.is_empty(),
        "journal entries left: {:?}",
        journal.iter().map(|(k, _)| k).collect::<Vec<_>>()
    );
    assert_eq!(quarantined, 0);
}
