//! The monthly SEC Code Performance Measures report from a real gateway: `hubgate serve` with
//! emulated meters and a small on-demand target (`performance.on_demand_target_ms`). Reads
//! answered by the emulated meter come back within the target; a meter on the inventory
//! with nothing behind it never answers, so its E21 comes after the routing timeout, outside
//! the target. The HTTP endpoint on the metrics listener, the `hubgate_performance_within_ratio`
//! gauge and, after the gateway is killed, `hubgate report performance` over its store all
//! show the same counts and percentages.
//!
//! Needs `curl`.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Gateway, SUPPLIER, element_text, hubgate, metric_value, pull_answer, set_target};
use hubgate_gateway::performance::Month;

const TOKEN: &str = "performance-report-pull-token-0123456789abcdef";
/// The first emulated premises' ESME: answers.
const ESME: &str = "00-DB-55-00-00-00-00-01";
/// An ESME behind the emulated hub with no emulated meter: never answers.
const SILENT: &str = "00-DB-12-34-56-78-90-A0";
/// The on-demand target for this test, and the routing timeout that falls outside it.
const TARGET_MS: &str = "2000";
const TIMEOUT_MS: &str = "4000";

fn start(name: &str) -> Gateway {
    common::start_with_silent_esme(
        name,
        SILENT,
        &[
            ("HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN", TOKEN),
            ("HUBGATE_EMULATION__HUBS", "1"),
            ("HUBGATE_ROUTING__RESPONSE_TIMEOUT_MS", TIMEOUT_MS),
            ("HUBGATE_PERFORMANCE__ON_DEMAND_TARGET_MS", TARGET_MS),
            ("HUBGATE_PERFORMANCE__FLUSH_INTERVAL_MS", "200"),
        ],
    )
}

/// GET on the metrics listener: status and body.
fn metrics_get(gw: &Gateway, path: &str) -> (u16, String) {
    let base = gw.metrics.trim_end_matches("/metrics");
    let out = Command::new("curl")
        .args(["-sS", "-w", "\n%{http_code}"])
        .arg(format!("{base}{path}"))
        .output()
        .expect("curl is needed for the end-to-end tests");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.trim().parse().unwrap(), body.to_string())
}

/// Sends a 4.1.1 read to `device` and waits for its Service Response; the response code.
fn read(gw: &Gateway, device: &str) -> String {
    let request = set_target(
        &gw.template("ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML"),
        device,
    );
    let ack = gw.submit(&request, SUPPLIER);
    assert_eq!(ack.code, "I99", "{}", ack.xml);
    let xml = pull_answer(gw, TOKEN, &ack.request_id, Duration::from_secs(30));
    element_text(&xml, "ResponseCode").unwrap_or_default()
}

fn on_demand(report: &serde_json::Value) -> &serde_json::Value {
    report["measures"]
        .as_array()
        .and_then(|m| m.iter().find(|r| r["category"] == "on_demand"))
        .unwrap_or_else(|| panic!("no on_demand row: {report}"))
}

#[test]
fn answers_within_and_outside_the_target_are_reported_by_http_metrics_and_cli() {
    let gw = start("performance");
    let month = Month::of_ms(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    )
    .to_string();

    for _ in 0..3 {
        assert_eq!(read(&gw, ESME), "I0");
    }
    assert_eq!(read(&gw, SILENT), "E21");

    // The live report: the four on-demand answers, three within 2 s, the E21 (after 4 s)
    // outside.
    let path = format!("/api/v1/reports/performance?month={month}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let report = loop {
        let (status, body) = metrics_get(&gw, &path);
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        if on_demand(&v)["answers"] == 4 {
            break v;
        }
        assert!(Instant::now() < deadline, "answers not counted: {v}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let row = on_demand(&report);
    assert_eq!(report["month"], month.as_str());
    assert_eq!(row["within_target"], 3, "{report}");
    assert_eq!(row["outside_target"], 1, "{report}");
    assert_eq!(row["within_percent"], 75.0, "{report}");
    assert_eq!(row["standing"], "below_minimum", "{report}");
    assert_eq!(row["target_response_ms"], 2000, "{report}");
    assert_eq!(report["target_service_level_percent"], 99);
    assert_eq!(report["minimum_service_level_percent"], 96);
    for (category, classified) in [("future_dated", true), ("firmware", true)] {
        let r = report["measures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["category"] == category)
            .unwrap();
        assert_eq!(r["classified"], classified, "{report}");
        assert_eq!(r["answers"], 0, "{report}");
    }
    // Without a month: the current one; a bad month is refused.
    let (status, body) = metrics_get(&gw, "/api/v1/reports/performance");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&format!("\"month\":\"{month}\"")), "{body}");
    let (status, body) = metrics_get(&gw, "/api/v1/reports/performance?month=2026-13");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("YYYY-MM"), "{body}");
    // A month with nothing counted.
    let (status, body) = metrics_get(&gw, "/api/v1/reports/performance?month=2001-01");
    assert_eq!(status, 200, "{body}");
    let empty: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(on_demand(&empty)["answers"], 0);
    assert_eq!(on_demand(&empty)["standing"], "no_answers");

    // The gauge is set when the tally is written to the store: once it shows 0.75, the
    // store holds the four answers.
    let labels = format!("category=\"on_demand\",month=\"{month}\"");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = gw.metrics_text();
        if (metric_value(&text, "hubgate_performance_within_ratio", &labels) - 0.75).abs() < 1e-9 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no hubgate_performance_within_ratio{{{labels}}} = 0.75:\n{}",
            text.lines()
                .filter(|l| l.contains("performance"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let alerts_live = report["measures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["category"] == "alert")
        .unwrap()["answers"]
        .as_u64()
        .unwrap();

    // Killed (no orderly shutdown): what was flushed is in the store, which the CLI reads.
    let dir = gw.stop_keeping_data();
    let data = dir.join("data");
    let out = hubgate()
        .args(["report", "performance", "--json", "--month", &month])
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(on_demand(&cli), row, "the CLI and the endpoint agree");
    let alerts_stored = cli["measures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["category"] == "alert")
        .unwrap()["answers"]
        .as_u64()
        .unwrap();
    assert!(alerts_stored >= alerts_live, "{cli}");

    // The table.
    let out = hubgate()
        .args(["report", "performance", "--month", &month])
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    let line = table
        .lines()
        .find(|l| l.starts_with("on_demand"))
        .unwrap_or_else(|| panic!("{table}"));
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        cols,
        [
            "on_demand",
            "1",
            "2",
            "s",
            "4",
            "3",
            "1",
            "75.00",
            "below",
            "minimum"
        ],
        "{table}"
    );
    assert!(
        table.contains("Target Service Level 99 %, Minimum Service Level 96 %"),
        "{table}"
    );
    // Every category is counted now (11.1 since its distribution is timed).
    assert!(!table.contains("Not classified yet:"), "{table}");

    // Refusals: a bad month, a folder with no store.
    let out = hubgate()
        .args(["report", "performance", "--month", "2026-13"])
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("YYYY-MM"));
    let out = hubgate()
        .args(["report", "performance"])
        .arg("--data-dir")
        .arg(dir.join("nothing-here"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no store"));
    assert!(
        !dir.join("nothing-here").exists(),
        "the CLI creates nothing"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
