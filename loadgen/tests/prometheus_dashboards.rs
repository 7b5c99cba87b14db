//! The shipped Grafana dashboards and Prometheus rules (`dashboards/`) against a real
//! Prometheus scraping a real `hubgate serve` under load.
//!
//! `promtool` checks the shipped configuration and rules. Then a gateway is started, loadgen
//! drives a few hundred real DUIS requests at its emulated premises, and a handful of refused
//! ones (malformed, tampered signature, replayed counter) follow, so that rejection series
//! exist. Prometheus scrapes the gateway every second with the shipped rules loaded; through
//! its HTTP API every dashboard expression and every rule must parse and evaluate, every
//! dashboard query must return data unless what it shows needs events this short run cannot
//! cause (`NO_DATA_ALLOWED`, each with its reason, and then the series must really be
//! absent), and every metric name used must be one the gateway or the hub actors export
//! (`gateway/src/metric_name.rs`, `actors/src/metric_name.rs`).
//!
//! Prometheus and promtool come from the Debian package `prometheus` (`scripts/test`
//! installs it). Without them the test fails when `CI=true` and is skipped otherwise.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, hubgate_bin};
use hubgate_loadgen::targets;
use serde_json::Value;

/// Selectors whose series need events the test's short run cannot cause. A dashboard or
/// recording-rule query that returns nothing is accepted only when it uses one of these and
/// Prometheus really holds no series for it.
const NO_DATA_ALLOWED: &[(&str, &str)] = &[
    (
        "hubgate_delivery_failed_attempts_total",
        "needs a User endpoint that fails; the test's listener accepts every delivery",
    ),
    (
        "hubgate_delivery_undelivered_total",
        "needs a User without an endpoint or a delivery that exhausts its retries; every User \
         here delivers to the test's listener",
    ),
    (
        "hubgate_delivery_refused_total",
        "needs a User holding delivery.max_messages_per_user (100 000) messages",
    ),
    (
        "hubgate_routing_answers_lost_total",
        "needs the outbox to refuse an answer (User at its limit, store failure)",
    ),
    (
        "hubgate_registration_pushes_total",
        "needs a Registration Data push to /api/v1/registration",
    ),
    (
        "hubgate_verifier_rejected_total",
        "needs the verifier queue full (4096 signature checks waiting)",
    ),
    (
        "hubgate_store_commit_refused_total",
        "needs the store's commit queue full",
    ),
    (
        "hubgate_routing_answers_total{kind=\"alert\"}",
        "needs a device alert; the emulated meters raise none on the requests sent",
    ),
    (
        "hubgate_delivery_delivered_total",
        "needs a device response delivered within the run; the emulated hubs answer \
         commands one at a time, so the first may come after the run",
    ),
    (
        "hubgate_delivery_latency_seconds",
        "recorded on the first delivery (as hubgate_delivery_delivered_total)",
    ),
];

/// What the dashboards' template variables stand for when the test evaluates a query.
const SUBSTITUTIONS: &[(&str, &str)] = &[
    ("$__rate_interval", "1m"),
    ("$__range", "5m"),
    ("$job", ".*"),
    ("$instance", ".*"),
    ("$srv", ".*"),
    ("$cv", ".*"),
];

/// Names that are not the gateway's but Prometheus' own.
const PROMETHEUS_NAMES: &[&str] = &["up"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `name` on `PATH`.
fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// The metric names a `metric_name.rs` declares (`pub const X: &str = "…";`), each with
/// whether the doc comment above it says it is a histogram (served as a summary, so
/// `_sum` and `_count` exist too).
fn declared_metrics(file: &Path) -> BTreeMap<String, bool> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut out = BTreeMap::new();
    let mut histogram = false;
    for line in text.lines().map(str::trim) {
        if let Some(doc) = line.strip_prefix("///") {
            if doc.trim_start().starts_with("Histogram") {
                histogram = true;
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("pub const ")
            && let Some((_, value)) = rest.split_once(": &str = \"")
        {
            let name = value.trim_end_matches("\";");
            out.insert(name.to_string(), histogram);
        }
        histogram = false;
    }
    assert!(!out.is_empty(), "no metric names in {}", file.display());
    out
}

/// The metric names (and recorded series names) a PromQL expression selects: identifiers
/// outside strings, label matchers and ranges that are neither functions, aggregations,
/// keywords nor grouping labels.
fn metric_names(expr: &str) -> Vec<String> {
    const AGGREGATIONS: &[&str] = &[
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
    ];
    const WITH_LIST: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    const KEYWORDS: &[&str] = &["bool", "and", "or", "unless", "offset", "inf", "nan"];
    let b = expr.as_bytes();
    let mut names = Vec::new();
    let mut i = 0;
    let skip_to = |i: usize, close: u8| -> usize {
        let mut j = i + 1;
        let mut quote = None;
        while j < b.len() {
            match (quote, b[j]) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), b'\\') => j += 1,
                (Some(_), _) => {}
                (None, b'"' | b'\'' | b'`') => quote = Some(b[j]),
                (None, c) if c == close => return j + 1,
                _ => {}
            }
            j += 1;
        }
        j
    };
    while i < b.len() {
        let c = b[i];
        match c {
            b'"' | b'\'' | b'`' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != c {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                i = j + 1;
            }
            b'{' => i = skip_to(i, b'}'),
            b'[' => i = skip_to(i, b']'),
            b'0'..=b'9' | b'.' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b':' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':')
                {
                    i += 1;
                }
                let word = &expr[start..i];
                let mut k = i;
                while k < b.len() && b[k].is_ascii_whitespace() {
                    k += 1;
                }
                let lower = word.to_ascii_lowercase();
                if WITH_LIST.contains(&lower.as_str()) {
                    if k < b.len() && b[k] == b'(' {
                        i = skip_to(k, b')');
                    }
                } else if k < b.len() && b[k] == b'(' {
                    // A function call: its arguments are scanned in turn.
                } else if AGGREGATIONS.contains(&lower.as_str())
                    || KEYWORDS.contains(&lower.as_str())
                {
                } else {
                    names.push(word.to_string());
                }
            }
            _ => i += 1,
        }
    }
    names
}

#[test]
fn metric_names_are_found_in_promql() {
    let e = r#"sum by (code) (rate(a_total{job=~"$job",x="b_total"}[1m])) / ignoring (code) group_left sum(rate(c_seconds_count[5m] offset 1h)) or vector(0) > bool 0.5 and job:d:rate5m"#;
    assert_eq!(
        metric_names(e),
        ["a_total", "c_seconds_count", "job:d:rate5m"]
    );
    assert_eq!(metric_names("max(x{quantile=\"0.99\"}) > 1e3"), ["x"]);
}

/// One PromQL expression of a dashboard or a rule, with where it comes from.
#[derive(Debug, Clone)]
struct Expr {
    origin: String,
    promql: String,
}

/// The targets of every panel (rows included) and the queries of every template variable
/// of the dashboards in `dir`; the number of dashboards.
fn dashboard_exprs(dir: &Path) -> (Vec<Expr>, Vec<Expr>, usize) {
    let mut panels_out = Vec::new();
    let mut variables = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        // The HIL rig's dashboard charts the `hil-rig run` process (hubgate_rig_*), which
        // this test does not start; hil-rig/tests/rig_run.rs checks it against the rig.
        .filter(|p| p.file_name().is_none_or(|n| n != "hil-rig.json"))
        .collect();
    files.sort();
    for file in &files {
        let d: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let title = d["title"].as_str().unwrap().to_string();
        assert!(
            d["uid"].as_str().is_some_and(|u| !u.is_empty()),
            "{title}: uid"
        );
        let mut stack: Vec<&Value> = d["panels"].as_array().unwrap().iter().collect();
        while let Some(p) = stack.pop() {
            if let Some(inner) = p["panels"].as_array() {
                stack.extend(inner);
            }
            let ptitle = p["title"].as_str().unwrap_or("?");
            let targets = p["targets"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            if !matches!(p["type"].as_str(), Some("row" | "text")) {
                assert!(!targets.is_empty(), "{title} / {ptitle}: no query");
                let ds = p["datasource"]["uid"].as_str();
                assert_eq!(ds, Some("${datasource}"), "{title} / {ptitle}: datasource");
            }
            for t in targets {
                let promql = t["expr"].as_str().unwrap().to_string();
                panels_out.push(Expr {
                    origin: format!(
                        "{title} / {ptitle} / {}",
                        t["refId"].as_str().unwrap_or("?")
                    ),
                    promql,
                });
            }
        }
        for v in d["templating"]["list"].as_array().unwrap() {
            if v["type"] == "query" {
                let q = v["query"]["query"]
                    .as_str()
                    .or(v["query"].as_str())
                    .unwrap();
                variables.push(Expr {
                    origin: format!("{title} / ${}", v["name"].as_str().unwrap()),
                    promql: q.to_string(),
                });
            }
        }
    }
    (panels_out, variables, files.len())
}

fn substitute(promql: &str) -> String {
    let mut s = promql.to_string();
    for (var, value) in SUBSTITUTIONS {
        s = s.replace(var, value);
    }
    assert!(!s.contains('$'), "unknown template variable in {promql}");
    s
}

/// A `GET` over plain HTTP/1.0 (Prometheus' API); the status and the body.
fn http_get(addr: &str, path_and_query: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "GET {path_and_query} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, body.to_string())
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A running Prometheus, killed (its folder removed) on drop.
struct Prometheus {
    child: Child,
    addr: String,
    dir: PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!(
                "prometheus log (last lines, newest first):\n{}",
                tail.join("\n")
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Prometheus {
    fn start(bin: &Path, target: &str, rules: &Path) -> Prometheus {
        let dir = std::env::temp_dir().join(format!("hubgate-prometheus-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: hubgate\n    metrics_path: /metrics\n    \
             static_configs:\n      - targets: [\"{target}\"]\n",
            rules.display()
        );
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let child = Command::new(bin)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .unwrap();
        let p = Prometheus { child, addr, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect(&p.addr).is_ok() && http_get(&p.addr, "/-/ready").0 == 200 {
                break p;
            }
            assert!(Instant::now() < deadline, "prometheus did not become ready");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `GET /api/v1/<path>`; the `data` of a successful answer, or the error.
    fn api(&self, path: &str) -> Result<Value, String> {
        let (status, body) = http_get(&self.addr, &format!("/api/v1/{path}"));
        let v: Value =
            serde_json::from_str(&body).map_err(|e| format!("HTTP {status}: {e}: {body}"))?;
        if v["status"] == "success" {
            Ok(v["data"].clone())
        } else {
            Err(format!(
                "HTTP {status}: {} {}",
                v["errorType"].as_str().unwrap_or(""),
                v["error"].as_str().unwrap_or("")
            ))
        }
    }

    /// The result vector of an instant query.
    fn query(&self, promql: &str) -> Result<Vec<Value>, String> {
        let d = self.api(&format!("query?query={}", urlencode(promql)))?;
        Ok(d["result"].as_array().cloned().unwrap_or_default())
    }
}

/// `hubgate serve` with its emulated meters, delivering to a loadgen listener.
struct Gateway {
    child: Child,
    url: String,
    metrics: String,
    dir: PathBuf,
    startup: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default();
            eprintln!("gateway stderr:\n{log}");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Gateway {
    fn start(listener_port: u16) -> Gateway {
        let dir = std::env::temp_dir().join(format!("loadgen-it-prom-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("report")).unwrap();
        // The listener's certificate first: the gateway reads the CA it trusts at start.
        let id = hubgate_loadgen::tls::ensure_identity(
            &dir.join("report"),
            format!("127.0.0.1:{listener_port}").parse().unwrap(),
        )
        .unwrap();
        let mut child = Command::new(hubgate_bin())
            .arg("serve")
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
            .env("HUBGATE_LOG_LEVEL", "warn")
            .env(
                "HUBGATE_DELIVERY__DEFAULT_ENDPOINT",
                format!("https://127.0.0.1:{listener_port}/duis"),
            )
            .env("HUBGATE_DELIVERY__CA", id.ca.unwrap())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut url, mut metrics, mut startup) = (None, None, String::new());
        for line in lines.by_ref() {
            let line = line.unwrap();
            startup += &line;
            startup.push('\n');
            if let Some(a) = line.strip_prefix("DUIS listening on ") {
                url = Some(a.trim().to_string());
            }
            if let Some(a) = line.strip_prefix("metrics listening on http://") {
                metrics = Some(a.trim().trim_end_matches("/metrics").to_string());
            }
            if url.is_some() && metrics.is_some() {
                break;
            }
        }
        std::thread::spawn(move || lines.for_each(drop));
        let (Some(url), Some(metrics)) = (url, metrics) else {
            let err = std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
            panic!("gateway did not listen:\n{startup}\n{err}");
        };
        Gateway {
            child,
            url,
            metrics,
            dir,
            startup,
        }
    }

    /// POSTs `body` to `path` with curl; the HTTP status.
    fn post(&self, path: &str, body: &[u8]) -> u16 {
        let mut child = Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(self.dir.join("data/tls/ca.pem"))
            .args(["-H", "Content-Type: application/xml", "--data-binary", "@-"])
            .arg(format!("{}{path}", self.url))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("curl is needed");
        child.stdin.take().unwrap().write_all(body).unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0)
    }
}

/// Drives the load: loadgen at the emulated premises (device, non-device, critical and
/// not-provided SRVs), then malformed, tampered and replayed requests.
fn drive(gw: &Gateway, listener_port: u16, root: &Path) {
    let (supplier, premises) = targets::parse_emulated(&gw.startup);
    let supplier = supplier.expect("the gateway lists its emulated premises");
    assert!(!premises.is_empty(), "{}", gw.startup);
    targets::write_emulated(&gw.dir.join("emulated"), Some(supplier), &premises).unwrap();
    let d = gw.dir.display();
    let text = format!(
        "name = \"prometheus\"\nseed = 11\n\n[gateway]\nurl = \"{}\"\nca = \"{d}/data/tls/ca.pem\"\n\n\
         [users]\nkind = \"local\"\ndir = \"{d}/data\"\nnames = [\"import-supplier\"]\n\n\
         [targets]\ninventory = \"{d}/emulated/inventory.csv\"\n\
         registration = \"{d}/emulated/registration.csv\"\n\n\
         [load]\nmode = \"open\"\nduration_s = 4.0\nprofile = {{ kind = \"constant\", rate = 60.0 }}\n\
         depth = 8\nanswer_wait_s = 10.0\n\n[listener]\naddress = \"127.0.0.1:{listener_port}\"\n\
         drain_s = 1.0\n\n[report]\ndir = \"{d}/report\"\n\n\
         [mix]\n\"4.1.1\" = 3.0\n\"2.2\" = 1.0\n\"8.2\" = 1.0\n\"7.1\" = 1.0\n\"11.1\" = 1.0\n",
        gw.url
    );
    let report = common::run_scenario(&text);
    assert!(report.sent >= 200, "{:?}", report.codes);
    assert!(report.acknowledged > 0, "{:?}", report.codes);

    // Refused requests: a body that is not XML (check 1, E31), a tampered signature
    // (check 2), and a RequestID counter below those loadgen used, twice (check 4, E42).
    let status = gw.post("/api/v1/serviceD", b"not xml");
    assert_eq!(status, 400);
    let template =
        std::fs::read_to_string(root.join("duis/templates/8.2_READ_INVENTORY_REQUEST_DUIS.XML"))
            .unwrap();
    let user = hubgate_protocol::hex::eui_duis(&supplier);
    let request = template.replacen("90-B3-D5-1F-30-01-00-00:", &format!("{user}:"), 1);
    let keys = gw.dir.join("data/pki/users/import-supplier");
    let mut sign = Command::new(hubgate_bin())
        .args(["duis", "sign", "--counter", "5", "--key"])
        .arg(keys.join("xml-sign.key"))
        .arg("--cert")
        .arg(keys.join("xml-sign.pem"))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    sign.stdin
        .take()
        .unwrap()
        .write_all(request.as_bytes())
        .unwrap();
    let signed = sign.wait_with_output().unwrap();
    assert!(signed.status.success());
    let signed = String::from_utf8(signed.stdout).unwrap();
    assert_eq!(gw.post("/api/v1/serviceD", signed.as_bytes()), 200);
    assert_eq!(gw.post("/api/v1/serviceD", signed.as_bytes()), 200);
    let tampered = signed.replacen("<sr:DeviceID>00-DB-12", "<sr:DeviceID>00-DB-13", 1);
    assert_ne!(tampered, signed);
    assert_eq!(gw.post("/api/v1/serviceD", tampered.as_bytes()), 200);
}

/// `promql` selects the metric of an allow-list entry, with the entry's label matchers.
fn mentions(promql: &str, selector: &str) -> bool {
    let name = &metric_names(selector)[0];
    let matchers = selector
        .split_once('{')
        .map_or("", |(_, m)| m.trim_end_matches('}'));
    metric_names(promql)
        .iter()
        .any(|n| n.starts_with(name.as_str()))
        && promql.contains(matchers)
}

/// The selector of an allow-list entry holds no series in Prometheus.
fn absent(prom: &Prometheus, selector: &str) -> bool {
    let name = metric_names(selector).remove(0);
    let (bare, matchers) = match selector.split_once('{') {
        Some((_, m)) => (name.clone(), format!(",{}", m.trim_end_matches('}'))),
        None => (name.clone(), String::new()),
    };
    let any = format!("{{__name__=~\"{bare}(_sum|_count)?\"{matchers}}}");
    prom.query(&format!("count({any})")).unwrap().is_empty()
}

#[test]
fn dashboards_and_rules_work_against_a_real_prometheus() {
    let (Some(prometheus), Some(promtool)) = (which("prometheus"), which("promtool")) else {
        let msg = "prometheus and promtool are not installed (Debian package `prometheus`; \
                   scripts/test installs it)";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg}");
        }
        eprintln!("skipped: {msg}");
        return;
    };
    let root = hubgate_protocol::conformance::require();
    let dashboards = repo().join("dashboards");
    let rules_file = dashboards.join("prometheus/rules.yml");

    // The shipped files pass promtool.
    for args in [vec!["check", "config"], vec!["check", "rules"]] {
        let file = if args[1] == "config" {
            dashboards.join("prometheus/prometheus.yml")
        } else {
            rules_file.clone()
        };
        let out = Command::new(&promtool)
            .args(&args)
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?} {}:\n{}{}",
            file.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Metric names the gateway and the hub actors declare.
    let mut declared = declared_metrics(&repo().join("gateway/src/metric_name.rs"));
    declared.extend(declared_metrics(&repo().join("actors/src/metric_name.rs")));
    let mut known: BTreeSet<String> = BTreeSet::new();
    for (name, histogram) in &declared {
        known.insert(name.clone());
        if *histogram {
            known.insert(format!("{name}_sum"));
            known.insert(format!("{name}_count"));
        }
    }
    known.extend(PROMETHEUS_NAMES.iter().map(|s| s.to_string()));

    let (panels, variables, dashboards_found) = dashboard_exprs(&dashboards.join("grafana"));
    assert!(dashboards_found >= 4, "{dashboards_found} dashboards");
    assert!(panels.len() >= 40, "{} panel queries", panels.len());
    for (selector, _) in NO_DATA_ALLOWED {
        let name = &metric_names(selector)[0];
        assert!(declared.contains_key(name), "allow-list names {name}");
    }

    let listener_port = free_port();
    let gw = Gateway::start(listener_port);
    let prom = Prometheus::start(&prometheus, &gw.metrics, &rules_file);
    drive(&gw, listener_port, &root);

    // A few scrapes after the last refused request, and every rule evaluated since.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let replays = prom
            .query("count_over_time(hubgate_ingress_rejected_total{check=\"4\"}[1m])")
            .unwrap();
        let scraped = replays
            .first()
            .and_then(|r| r["value"][1].as_str())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        let groups = prom.api("rules").unwrap();
        let evaluated = groups["groups"].as_array().unwrap().iter().all(|g| {
            g["rules"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["health"] == "ok")
        });
        if scraped >= 3.0 && evaluated {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no scrapes of the refused requests ({scraped}) or rules not all healthy:\n{groups:#}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let target = prom.api("targets").unwrap();
    assert_eq!(target["activeTargets"][0]["health"], "up", "{target:#}");

    // Rules: what Prometheus loaded is what rules.yml holds, all healthy.
    let rules_text = std::fs::read_to_string(&rules_file).unwrap();
    let in_file = |key: &str| -> BTreeSet<String> {
        rules_text
            .lines()
            .filter_map(|l| l.trim().strip_prefix(key))
            .map(|n| n.trim().to_string())
            .collect()
    };
    let (records_in_file, alerts_in_file) = (in_file("- record:"), in_file("- alert:"));
    let groups = prom.api("rules").unwrap();
    let mut rules = Vec::new();
    let (mut records, mut alerts) = (BTreeSet::new(), BTreeSet::new());
    for g in groups["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            let name = r["name"].as_str().unwrap().to_string();
            assert_eq!(r["health"], "ok", "rule {name}: {r:#}");
            if r["type"] == "recording" {
                records.insert(name.clone());
            } else {
                alerts.insert(name.clone());
            }
            rules.push((
                name,
                r["type"] == "recording",
                r["query"].as_str().unwrap().to_string(),
            ));
        }
    }
    assert_eq!(records, records_in_file);
    assert_eq!(alerts, alerts_in_file);
    assert!(
        records.len() >= 5 && alerts.len() >= 8,
        "{records:?} {alerts:?}"
    );
    known.extend(records.iter().cloned());

    let mut failures = Vec::new();
    let mut allowed_empty = Vec::new();
    // `context` is the text an allow-list entry must appear in (the query itself, or for a
    // recorded series the rule's expression).
    let mut check = |origin: &str, promql: &str, needs_data: bool, context: &str| {
        for name in metric_names(promql) {
            if !known.contains(&name) {
                failures.push(format!("{origin}: `{name}` is not a declared metric name"));
            }
        }
        let evaluated = substitute(promql);
        match prom.query(&evaluated) {
            Err(e) => failures.push(format!("{origin}: {e}\n  {evaluated}")),
            Ok(result) if result.is_empty() && needs_data => {
                let context = substitute(context);
                match NO_DATA_ALLOWED
                    .iter()
                    .find(|(sel, _)| mentions(&context, sel) && absent(&prom, sel))
                {
                    Some((sel, why)) => allowed_empty.push(format!("{origin}: {sel} ({why})")),
                    None => failures.push(format!("{origin}: no data\n  {evaluated}")),
                }
            }
            Ok(_) => {}
        }
    };
    for e in &panels {
        check(&e.origin, &e.promql, true, &e.promql);
    }
    for (name, recording, query) in &rules {
        // Recording rules must produce series like dashboards; alerts may stay silent.
        check(&format!("rule {name}"), query, false, query);
        if *recording {
            check(&format!("rule {name} (recorded)"), name, true, query);
        }
    }
    // Template variables: `label_values(<selector>, <label>)` must find that label.
    for v in &variables {
        let inner = v
            .promql
            .strip_prefix("label_values(")
            .and_then(|s| s.strip_suffix(')'))
            .unwrap_or_else(|| panic!("{}: not label_values(…): {}", v.origin, v.promql));
        let (selector, label) = inner.rsplit_once(',').unwrap();
        let (selector, label) = (substitute(selector.trim()), label.trim());
        for name in metric_names(&selector) {
            assert!(known.contains(&name), "{}: {name}", v.origin);
        }
        let series = prom
            .api(&format!("series?match[]={}", urlencode(&selector)))
            .unwrap();
        let values: BTreeSet<&str> = series
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s[label].as_str())
            .collect();
        if values.is_empty() {
            failures.push(format!(
                "{}: no values of `{label}` in {selector}",
                v.origin
            ));
        }
    }
    eprintln!(
        "{} panel queries, {} rules, {} variables; empty and allowed:\n  {}",
        panels.len(),
        rules.len(),
        variables.len(),
        allowed_empty.join("\n  ")
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
