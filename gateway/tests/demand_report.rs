//! The monthly demand report (SEC Annex 5 Table 5.3 and the 110 % rule) from a real
//! gateway: `hubgate serve` with the DCC Boxed ZAZ1 Users and one emulated premises (an ESME
//! and a GSME, the supplier registered for both, the network operator as ED and GT), its
//! clock pinned so that the Users' first requests fall in September 2026 and the counted
//! ones in October, their First Service Month.
//!
//! The supplier submits its own forecast over HTTPS with its pull token; an operator submits
//! the network operator's with `hubgate forecast submit` and the admin token. Signed Service
//! Requests go over HTTPS; the report on the metrics listener, the
//! `hubgate_demand_usage_ratio` gauge and, after the gateway is killed, `hubgate report
//! demand` flag exactly the rows at or above 110 %, worked out by hand below.
//!
//! Needs `curl`.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{
    Gateway, NETWORK_OPERATOR, SUPPLIER, Seeds, element_text, hubgate, metric_value, set_target,
    set_text,
};

const PULL_TOKEN: &str = "demand-report-supplier-pull-token-0123456789";
const ADMIN_TOKEN: &str = "demand-report-operator-admin-token-0123456789";
/// The emulated premises' ESME.
const ESME: &str = "00-DB-55-00-00-00-00-01";

fn env(pinned: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("HUBGATE_CLOCK__PINNED", pinned),
        ("HUBGATE_EMULATION__HUBS", "1"),
        ("HUBGATE_PERFORMANCE__FLUSH_INTERVAL_MS", "200"),
        ("HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN", PULL_TOKEN),
        ("HUBGATE_ANOMALY__ADMIN_TOKEN", ADMIN_TOKEN),
    ]
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

/// Sends the conformance template `name` to the ESME as `user`; the request must pass the
/// checks (any answer but a refusal by checks 1–6 will do: what is counted is the request).
fn send(gw: &Gateway, name: &str, user: &str) {
    let request = set_target(&gw.template(name), ESME);
    let id = element_text(&request, "RequestID").unwrap();
    let (_, rest) = id.split_once(':').unwrap();
    let request = set_text(&request, "RequestID", &format!("{user}:{rest}"));
    let answer = gw.submit(&request, user);
    assert!(
        ["I99", "I0", "E100"].contains(&answer.code.as_str()),
        "{name} from {user}: {}",
        answer.xml
    );
}

fn forecast_body(user: Option<&str>, groups: &str) -> String {
    let months = [
        "2026-10", "2026-11", "2026-12", "2027-01", "2027-02", "2027-03",
    ];
    let inner: Vec<String> = months
        .iter()
        .map(|m| format!("\"{m}\": {groups}"))
        .collect();
    let user = user.map_or_else(String::new, |u| format!("\"user\": \"{u}\", "));
    format!("{{{user}\"months\": {{{}}}}}", inner.join(", "))
}

fn post_forecast(gw: &Gateway, token: Option<&str>, body: &str) -> (u16, serde_json::Value) {
    post_forecast_with(gw, token, body, &[])
}

/// [`post_forecast`] with extra curl arguments.
fn post_forecast_with(
    gw: &Gateway,
    token: Option<&str>,
    body: &str,
    extra: &[&str],
) -> (u16, serde_json::Value) {
    let auth = token.map(|t| format!("Authorization: Bearer {t}"));
    let mut args = extra.to_vec();
    args.extend(["-H", "Content-Type: application/json"]);
    if let Some(a) = &auth {
        args.extend(["-H", a.as_str()]);
    }
    let (status, text) = gw.post_with("/api/v1/forecasts", &args, body.as_bytes());
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| serde_json::json!({ "raw": text })),
    )
}

fn report(gw: &Gateway, month: &str) -> serde_json::Value {
    let (status, body) = metrics_get(gw, &format!("/api/v1/reports/demand?month={month}"));
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn row<'a>(r: &'a serde_json::Value, user: &str, item: &str) -> &'a serde_json::Value {
    r["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["user"] == user && x["item"] == item)
        .unwrap_or_else(|| panic!("no {user} {item} row: {r:#}"))
}

fn reportable(r: &serde_json::Value) -> Vec<(String, String)> {
    r["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["reportable"] == true)
        .map(|x| {
            (
                x["user"].as_str().unwrap().to_string(),
                x["item"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_report_flags_exactly_the_usage_at_or_over_110_percent() {
    // September: one request from each User. Their First Service Month is October.
    let gw = Gateway::start(
        "demand",
        Seeds {
            env: &env("2026-09-20T12:00:00Z"),
            ..Seeds::default()
        },
    );
    send(
        &gw,
        "ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML",
        SUPPLIER,
    );
    send(
        &gw,
        "ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML",
        NETWORK_OPERATOR,
    );
    // No metric is determined before the First Service Month; the request rows are there.
    let deadline = Instant::now() + Duration::from_secs(20);
    let sep = loop {
        let r = report(&gw, "2026-09");
        if r["rows"].as_array().is_some_and(|rows| rows.len() == 2) {
            break r;
        }
        assert!(Instant::now() < deadline, "September not counted: {r:#}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(row(&sep, SUPPLIER, "all")["actual"], 1.0, "{sep:#}");
    assert_eq!(row(&sep, NETWORK_OPERATOR, "all")["actual"], 1.0, "{sep:#}");
    // October. A graceful stop writes September's counts (also those counted since the
    // last periodic flush) before the restart.
    let gw = gw.restart_after_graceful_stop(Seeds {
        env: &env("2026-10-20T12:00:00Z"),
        ..Seeds::default()
    });
    gw.advance_counter(1_000);

    // Forecasts. Refused ones name their field; a User may not file another's; no token, 401.
    let (status, v) = post_forecast(
        &gw,
        Some(PULL_TOKEN),
        &forecast_body(None, r#"{"all": 20, "display_mesage": 2}"#),
    );
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["field"], "months.2026-10.display_mesage", "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("unknown group"),
        "{v}"
    );
    let (status, v) = post_forecast(
        &gw,
        Some(PULL_TOKEN),
        &forecast_body(Some(NETWORK_OPERATOR), r#"{"all": 1}"#),
    );
    assert_eq!(status, 403, "{v}");
    // An unauthenticated caller's body is never read: on HTTP/2 its stream is reset with
    // the 401, which curl reports as an error when it had not sent the body yet, so this
    // one goes over HTTP/1.1.
    let (status, v) = post_forecast_with(
        &gw,
        None,
        &forecast_body(None, r#"{"all": 1}"#),
        &["--http1.1"],
    );
    assert_eq!(status, 401, "{v}");
    // A body over 64 KiB is refused as too large, with its limit named.
    let (status, v) = post_forecast(&gw, Some(PULL_TOKEN), &" ".repeat((64 << 10) + 1));
    assert_eq!(status, 413, "{v}");
    assert!(v["error"].as_str().unwrap().contains("65536"), "{v}");
    // The supplier's own: 20 requests in all, 2 Display Messages, 10 profile reads a month.
    let (status, v) = post_forecast(
        &gw,
        Some(PULL_TOKEN),
        &forecast_body(
            None,
            r#"{"all": 20, "display_message": 2, "read_profile_data_supplier": 10}"#,
        ),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["user"].as_str(), v["stored"].as_u64()),
        (Some(SUPPLIER), Some(6))
    );
    // The network operator's, by an operator with the CLI: 4 in all, 100 profile reads.
    let file = gw.dir.join("forecast.json");
    std::fs::write(
        &file,
        forecast_body(
            Some(NETWORK_OPERATOR),
            r#"{"all": 4, "read_profile_data_network": 100}"#,
        ),
    )
    .unwrap();
    let token_file = gw.dir.join("admin-token");
    std::fs::write(&token_file, ADMIN_TOKEN).unwrap();
    let cli = |args: &[&str]| {
        let out = hubgate()
            .args(args)
            .args(["--url", &format!("https://{}", gw.addr)])
            .arg("--token-file")
            .arg(&token_file)
            .arg("--ca")
            .arg(gw.dir.join("data/tls/ca.pem"))
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, stdout, stderr) = cli(&["forecast", "submit", file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains(NETWORK_OPERATOR), "{stdout}");
    let (code, stdout, stderr) = cli(&["forecast", "show"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("read_profile_data_network") && stdout.contains("display_message"),
        "{stdout}"
    );
    std::fs::write(
        &file,
        forecast_body(Some(NETWORK_OPERATOR), r#"{"all": -4}"#),
    )
    .unwrap();
    let (code, _, stderr) = cli(&["forecast", "submit", file.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("months.2026-10.all"), "{stderr}");

    // October's requests: the supplier 3 Display Messages and 2 profile reads, the network
    // operator 4 profile reads.
    for _ in 0..3 {
        send(&gw, "ECS10_3.1_SUCCESS_REQUEST_DUIS.XML", SUPPLIER);
    }
    for _ in 0..2 {
        send(
            &gw,
            "ECS22b_4.8.1_SINGLE_SUCCESS_REQUEST_DUIS.XML",
            SUPPLIER,
        );
    }
    for _ in 0..4 {
        send(
            &gw,
            "ECS22b_4.8.1_SINGLE_SUCCESS_REQUEST_DUIS.XML",
            NETWORK_OPERATOR,
        );
    }

    let deadline = Instant::now() + Duration::from_secs(20);
    let oct = loop {
        let r = report(&gw, "2026-10");
        if r["rows"].as_array().is_some_and(|rows| {
            rows.iter()
                .any(|x| x["item"] == "read_profile_data_network" && x["actual"] == 4.0)
        }) && r["enrolment_counted_at"].is_string()
        {
            break r;
        }
        assert!(Instant::now() < deadline, "October not counted: {r:#}");
        std::thread::sleep(Duration::from_millis(100));
    };
    // Enrolled on 15 October: the ESME and the GSME, both supplied by the supplier, the
    // network operator their ED and GT.
    assert_eq!(oct["enrolled"][SUPPLIER]["supplier"], 2, "{oct:#}");
    assert_eq!(oct["enrolled"][NETWORK_OPERATOR]["network"], 2, "{oct:#}");
    assert_eq!(oct["days_in_month"], 31);

    // Supplier. Display Messages 3 of a forecast of 2: 150 %, reportable.
    let dm = row(&oct, SUPPLIER, "display_message");
    assert_eq!(
        (dm["actual"].as_f64(), dm["forecast"].as_u64()),
        (Some(3.0), Some(2))
    );
    assert_eq!(dm["percent"], 150.0);
    // All: 5 of 20 (25 %); profile reads 2 of 10 (20 %).
    assert_eq!(row(&oct, SUPPLIER, "all")["percent"], 25.0, "{oct:#}");
    assert_eq!(
        row(&oct, SUPPLIER, "read_profile_data_supplier")["percent"],
        20.0
    );
    // 3.1 over twelve months: R12 = 3, ASMSm = 2 (September, before the First Service Month,
    // disregarded), one month since it: 3 / 2 × 12 / 1 = 18, 75 % of 24.
    let dm12 = row(&oct, SUPPLIER, "display_message_12m");
    assert_eq!(
        (dm12["actual"].as_f64(), dm12["percent"].as_f64()),
        (Some(18.0), Some(75.0))
    );
    // 4.8 per system: 2 / 2 = 1 of 31 days.
    let p = row(&oct, SUPPLIER, "read_profile_data_supplier_month");
    assert_eq!(
        (p["actual"].as_f64(), p["threshold"].as_f64()),
        (Some(1.0), Some(31.0))
    );

    // Network operator. All: 4 of 4 (100 %); profile reads 4 of 100.
    assert_eq!(row(&oct, NETWORK_OPERATOR, "all")["percent"], 100.0);
    // 4.8 per system: 4 / 2 = 2 against 10⁻³ × 48 × 31 = 1.488: 134.41 %, reportable.
    let n = row(&oct, NETWORK_OPERATOR, "read_profile_data_network_month");
    assert_eq!(
        (n["actual"].as_f64(), n["threshold"].as_f64()),
        (Some(2.0), Some(1.488))
    );
    assert_eq!(n["percent"], 134.41);
    // Over twelve months: 4 / 2 × 12 / 1 = 24 against 4: 600 %, reportable.
    let n12 = row(&oct, NETWORK_OPERATOR, "read_profile_data_network_12m");
    assert_eq!(
        (n12["actual"].as_f64(), n12["percent"].as_f64()),
        (Some(24.0), Some(600.0))
    );

    let expected = vec![
        (SUPPLIER.to_string(), "display_message".to_string()),
        (
            NETWORK_OPERATOR.to_string(),
            "read_profile_data_network_month".to_string(),
        ),
        (
            NETWORK_OPERATOR.to_string(),
            "read_profile_data_network_12m".to_string(),
        ),
    ];
    assert_eq!(reportable(&oct), expected, "{oct:#}");
    assert_eq!(oct["reportable"], 3);
    // The text form and a bad month.
    let (status, text) = metrics_get(&gw, "/api/v1/reports/demand?month=2026-10&format=text");
    assert_eq!(status, 200);
    assert!(
        text.contains("REPORTABLE") && text.contains("3 reportable row(s)"),
        "{text}"
    );
    let (status, body) = metrics_get(&gw, "/api/v1/reports/demand?month=2026-13");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("month"), "{body}");

    // The gauges, set when the counts are written to the store.
    let labels = format!(
        "user=\"{SUPPLIER}\",item=\"display_message\",against=\"forecast\",month=\"2026-10\""
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = gw.metrics_text();
        let network = metric_value(
            &text,
            "hubgate_demand_usage_ratio",
            &format!(
                "user=\"{NETWORK_OPERATOR}\",item=\"read_profile_data_network_12m\",against=\"threshold\",month=\"2026-10\""
            ),
        );
        if (metric_value(&text, "hubgate_demand_usage_ratio", &labels) - 1.5).abs() < 1e-9
            && (network - 6.0).abs() < 1e-9
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no hubgate_demand_usage_ratio{{{labels}}} = 1.5:\n{}",
            text.lines()
                .filter(|l| l.starts_with("hubgate_demand"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Killed: the CLI reads the same report from the store.
    let dir = gw.stop_keeping_data();
    let out = hubgate()
        .args([
            "report",
            "demand",
            "--month",
            "2026-10",
            "--json",
            "--data-dir",
        ])
        .arg(dir.join("data"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stored: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reportable(&stored), expected, "{stored:#}");
    assert_eq!(stored["rows"], oct["rows"]);
    let out = hubgate()
        .args([
            "report",
            "demand",
            "--month",
            "2026-09",
            "--user",
            SUPPLIER,
            "--data-dir",
        ])
        .arg(dir.join("data"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("0 reportable row(s)") && !text.contains(NETWORK_OPERATOR),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
