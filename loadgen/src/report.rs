//! The final report: one JSON document (`report.json`, for tools and comparisons) and the
//! same facts as Markdown (`report.md`, printed on stdout at the end of a run).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use hubgate_protocol::catalogue::Catalogue;
use serde::{Deserialize, Serialize};

use crate::stats::{ConnStats, Hist, Quantiles, SrvStats};
use crate::tracker::AsyncSummary;

/// Synchronous results of one SRV.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SrvReport {
    /// SRV name from the catalogue.
    pub name: String,
    /// Requests sent (a critical SRV's Transform and Send Command requests both count).
    pub sent: u64,
    /// Answers received.
    pub answered: u64,
    /// Answered `I0`/`I99`.
    pub acknowledged: u64,
    /// Answers by `HTTP-status code`.
    pub codes: BTreeMap<String, u64>,
    /// Intended send to answer.
    pub ack_latency: Option<Quantiles>,
    /// Critical SRVs: Transform requests sent.
    pub transforms: u64,
    /// Pre-Commands received.
    pub precommands: u64,
    /// Signed Pre-Commands sent.
    pub signed_sent: u64,
    /// Signed Pre-Commands acknowledged.
    pub signed_acknowledged: u64,
    /// Transform's intended send to the Send Command's acknowledgement.
    pub critical_loop: Option<Quantiles>,
}

impl SrvReport {
    fn from_stats(srv: &str, s: &SrvStats) -> SrvReport {
        SrvReport {
            name: Catalogue::get()
                .srv(srv)
                .map(|s| s.name.clone())
                .unwrap_or_default(),
            sent: s.sent,
            answered: s.answered,
            acknowledged: s.acknowledged,
            codes: s.codes.clone(),
            ack_latency: s.ack.quantiles(),
            transforms: s.transforms,
            precommands: s.precommands,
            signed_sent: s.signed_sent,
            signed_acknowledged: s.signed_acknowledged,
            critical_loop: s.critical_loop.quantiles(),
        }
    }
}

/// Critical requests over all SRVs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriticalReport {
    /// Transform requests (CommandVariant 4) sent.
    pub transforms: u64,
    /// Pre-Commands received (`I0`).
    pub precommands: u64,
    /// Signed Pre-Commands (CommandVariant 5) sent.
    pub signed_sent: u64,
    /// Of those, acknowledged (`I99`).
    pub signed_acknowledged: u64,
    /// Pre-Commands not signed or not sent on.
    pub signing_failures: u64,
    /// Transform's intended send to the Send Command's acknowledgement.
    pub loop_latency: Option<Quantiles>,
}

/// CPU used by loadgen itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuReport {
    /// User + system seconds during the run.
    pub seconds: f64,
    /// Mean cores busy (seconds over wall-clock seconds).
    pub cores: f64,
    /// Microseconds per request sent.
    pub us_per_request: Option<f64>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// loadgen's version.
    pub loadgen_version: String,
    /// The scenario's name.
    pub scenario: String,
    /// When sending started (RFC 3339, UTC).
    pub started: String,
    /// When the report was made.
    pub finished: String,
    /// The gateway's URL.
    pub gateway: String,
    /// `open` or `closed`.
    pub mode: String,
    /// The load asked for, in words.
    pub load: String,
    /// Users sending.
    pub users: usize,
    /// Hubs in the inventory.
    pub hubs: usize,
    /// Commissioned devices addressed.
    pub devices: usize,
    /// Seconds from the first intended send to the last send.
    pub send_seconds: f64,
    /// Open loop: requests the profile asked for.
    pub planned: Option<u64>,
    /// Open loop: the mean rate asked for.
    pub requested_rate: Option<f64>,
    /// Open loop: the highest rate asked for.
    pub peak_rate: Option<f64>,
    /// Requests sent.
    pub sent: u64,
    /// Sent per second.
    pub sent_rate: f64,
    /// Answers received.
    pub answered: u64,
    /// Answers `I0`/`I99`.
    pub acknowledged: u64,
    /// Acknowledged per second of sending (the closed loop's maximum).
    pub acknowledged_rate: f64,
    /// Answers by `HTTP-status code`, over all SRVs.
    pub codes: BTreeMap<String, u64>,
    /// Intended send to answer, over all SRVs.
    pub ack_latency: Option<Quantiles>,
    /// Sends later than the threshold after their intended time.
    pub late_sends: u64,
    /// Sends later than the threshold because the User held them back behind its own open
    /// critical command to the same device (not in `late_sends`, not held against the rate).
    #[serde(default)]
    pub late_held: u64,
    /// The threshold, ms.
    pub late_threshold_ms: f64,
    /// How late sends were.
    pub lateness: Option<Quantiles>,
    /// Whether the requested rate was kept: no more than 1 % of sends late and every planned
    /// request sent (always true for a closed loop).
    pub kept_rate: bool,
    /// Why not, when it was not.
    pub rate_note: Option<String>,
    /// Requests that could not be built or signed.
    pub build_failures: u64,
    /// Requests sent and never answered (connection lost, or still unanswered at the end).
    pub lost: u64,
    /// Requests planned but never sent.
    pub not_sent: u64,
    /// Connection failures by message.
    pub connection_errors: BTreeMap<String, u64>,
    /// Per SRV.
    pub per_srv: BTreeMap<String, SrvReport>,
    /// Critical requests.
    pub critical: CriticalReport,
    /// Asynchronous responses and alerts (`None` without a listener).
    pub asynchronous: Option<AsyncSummary>,
    /// The listener's URL.
    pub listener: Option<String>,
    /// loadgen's own CPU.
    pub cpu: Option<CpuReport>,
}

/// The run's facts that are not in [`ConnStats`].
#[derive(Debug, Clone)]
pub struct RunFacts {
    /// Scenario name.
    pub scenario: String,
    /// Start, Unix ms.
    pub started_ms: i64,
    /// Gateway URL.
    pub gateway: String,
    /// `open` / `closed`.
    pub mode: String,
    /// The load in words.
    pub load: String,
    /// Users.
    pub users: usize,
    /// Hubs.
    pub hubs: usize,
    /// Devices.
    pub devices: usize,
    /// Seconds of sending.
    pub send_seconds: f64,
    /// Planned requests (open loop).
    pub planned: Option<u64>,
    /// Mean requested rate (open loop).
    pub requested_rate: Option<f64>,
    /// Peak requested rate (open loop).
    pub peak_rate: Option<f64>,
    /// Late threshold, ms.
    pub late_ms: f64,
    /// CPU seconds used.
    pub cpu_seconds: Option<f64>,
    /// Wall seconds of the run (for the CPU share).
    pub wall_seconds: f64,
    /// Listener URL.
    pub listener: Option<String>,
}

impl Report {
    /// Builds the report from what the connections measured and what the listener saw.
    pub fn build(
        facts: &RunFacts,
        stats: &ConnStats,
        asynchronous: Option<AsyncSummary>,
    ) -> Report {
        let mut codes = BTreeMap::new();
        let mut all = Hist::new();
        let (mut sent, mut answered, mut acknowledged) = (0, 0, 0);
        let mut crit = SrvStats::default();
        for s in stats.per_srv.values() {
            sent += s.sent;
            answered += s.answered;
            acknowledged += s.acknowledged;
            for (k, v) in &s.codes {
                *codes.entry(k.clone()).or_default() += v;
            }
            all.merge(&s.ack);
            crit.transforms += s.transforms;
            crit.precommands += s.precommands;
            crit.signed_sent += s.signed_sent;
            crit.signed_acknowledged += s.signed_acknowledged;
            crit.signing_failures += s.signing_failures;
            crit.critical_loop.merge(&s.critical_loop);
        }
        let secs = facts.send_seconds.max(1e-9);
        let late_share = if sent > 0 {
            stats.late_sends as f64 / sent as f64
        } else {
            0.0
        };
        let mut notes = Vec::new();
        if facts.mode == "open" {
            if late_share > 0.01 {
                notes.push(format!(
                    "{} of {} sends ({:.1} %) left more than {} ms after their intended time (latest {:.1} ms late): the generator or the connections could not keep the requested rate",
                    stats.late_sends,
                    sent,
                    late_share * 100.0,
                    facts.late_ms,
                    stats.max_late_us as f64 / 1000.0
                ));
            }
            if stats.not_sent > 0 {
                notes.push(format!(
                    "{} planned requests were never sent",
                    stats.not_sent
                ));
            }
        }
        let cpu = facts.cpu_seconds.map(|s| CpuReport {
            seconds: s,
            cores: s / facts.wall_seconds.max(1e-9),
            us_per_request: (sent > 0).then(|| s * 1e6 / sent as f64),
        });
        Report {
            loadgen_version: env!("CARGO_PKG_VERSION").to_string(),
            scenario: facts.scenario.clone(),
            started: crate::time::format_rfc3339_ms(facts.started_ms),
            finished: crate::time::format_rfc3339_ms(crate::time::now_ms()),
            gateway: facts.gateway.clone(),
            mode: facts.mode.clone(),
            load: facts.load.clone(),
            users: facts.users,
            hubs: facts.hubs,
            devices: facts.devices,
            send_seconds: facts.send_seconds,
            planned: facts.planned,
            requested_rate: facts.requested_rate,
            peak_rate: facts.peak_rate,
            sent,
            sent_rate: sent as f64 / secs,
            answered,
            acknowledged,
            acknowledged_rate: acknowledged as f64 / secs,
            codes,
            ack_latency: all.quantiles(),
            late_sends: stats.late_sends,
            late_held: stats.late_held,
            late_threshold_ms: facts.late_ms,
            lateness: stats.lateness.quantiles(),
            kept_rate: notes.is_empty(),
            rate_note: (!notes.is_empty()).then(|| notes.join("; ")),
            build_failures: stats.build_failures,
            lost: stats.lost,
            not_sent: stats.not_sent,
            connection_errors: stats.connection_errors.clone(),
            per_srv: stats
                .per_srv
                .iter()
                .map(|(k, v)| (k.clone(), SrvReport::from_stats(k, v)))
                .collect(),
            critical: CriticalReport {
                transforms: crit.transforms,
                precommands: crit.precommands,
                signed_sent: crit.signed_sent,
                signed_acknowledged: crit.signed_acknowledged,
                signing_failures: crit.signing_failures,
                loop_latency: crit.critical_loop.quantiles(),
            },
            asynchronous,
            listener: facts.listener.clone(),
            cpu,
        }
    }

    /// Writes `report.json` and `report.md` into `dir`.
    ///
    /// # Errors
    ///
    /// When a file cannot be written.
    pub fn write(&self, dir: &Path) -> Result<(), String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let json = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        let j = dir.join("report.json");
        std::fs::write(&j, json + "\n").map_err(|e| format!("{}: {e}", j.display()))?;
        let m = dir.join("report.md");
        std::fs::write(&m, self.markdown()).map_err(|e| format!("{}: {e}", m.display()))?;
        Ok(())
    }

    /// The report as Markdown tables.
    pub fn markdown(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "# loadgen report: {}\n", self.scenario);
        let _ = writeln!(o, "| | |\n|---|---|");
        let mut row = |k: &str, v: String| {
            let _ = writeln!(o, "| {k} | {v} |");
        };
        row("gateway", self.gateway.clone());
        row("started", self.started.clone());
        row("load", self.load.clone());
        row(
            "Users · hubs · devices",
            format!("{} · {} · {}", self.users, self.hubs, self.devices),
        );
        if let (Some(p), Some(r)) = (self.planned, self.requested_rate) {
            row(
                "requested",
                format!(
                    "{p} requests, {r:.1}/s mean, {:.1}/s peak",
                    self.peak_rate.unwrap_or(r)
                ),
            );
        }
        row(
            "sent",
            format!(
                "{} in {:.1} s ({:.1}/s){}",
                self.sent,
                self.send_seconds,
                self.sent_rate,
                if self.critical.signed_sent > 0 {
                    format!(
                        ", of which {} Signed Pre-Commands following a Transform",
                        self.critical.signed_sent
                    )
                } else {
                    String::new()
                }
            ),
        );
        row(
            "acknowledged (I0/I99)",
            format!(
                "{} of {} answered ({:.1}/s)",
                self.acknowledged, self.answered, self.acknowledged_rate
            ),
        );
        row("answers", codes_text(&self.codes));
        if let Some(q) = &self.ack_latency {
            row("acknowledgement latency", quantiles_text(q));
        }
        row(
            "late sends",
            format!(
                "{} (> {} ms){}{}",
                self.late_sends,
                self.late_threshold_ms,
                if self.late_held > 0 {
                    format!(
                        "; {} more held behind the User's own critical command to the device",
                        self.late_held
                    )
                } else {
                    String::new()
                },
                self.lateness
                    .as_ref()
                    .map(|q| format!("; lateness p99 {:.2} ms, max {:.2} ms", q.p99_ms, q.max_ms))
                    .unwrap_or_default()
            ),
        );
        row(
            "rate kept",
            match &self.rate_note {
                None => "yes".into(),
                Some(n) => format!("**no**: {n}"),
            },
        );
        if self.build_failures + self.lost + self.not_sent > 0 {
            row(
                "not built · lost · not sent",
                format!(
                    "{} · {} · {}",
                    self.build_failures, self.lost, self.not_sent
                ),
            );
        }
        if !self.connection_errors.is_empty() {
            row("connection errors", codes_text(&self.connection_errors));
        }
        if let Some(c) = &self.cpu {
            row(
                "loadgen CPU",
                format!(
                    "{:.2} s ({:.2} cores{})",
                    c.seconds,
                    c.cores,
                    c.us_per_request
                        .map(|u| format!(", {u:.0} µs per request"))
                        .unwrap_or_default()
                ),
            );
        }
        let _ = writeln!(
            o,
            "\n## Acknowledgements per SRV (ms from the intended send)\n"
        );
        let _ = writeln!(
            o,
            "| SRV | name | sent | ack | answers | p50 | p90 | p99 | p99.9 | max |\n|---|---|---:|---:|---|---:|---:|---:|---:|---:|"
        );
        for (srv, s) in &self.per_srv {
            let q = s.ack_latency.as_ref();
            let _ = writeln!(
                o,
                "| {srv} | {} | {} | {} | {} | {} |",
                s.name,
                s.sent,
                s.acknowledged,
                codes_text(&s.codes),
                q.map_or_else(|| "– | – | – | – | –".into(), quantile_cells)
            );
        }
        let c = &self.critical;
        if c.transforms > 0 {
            let _ = writeln!(
                o,
                "\n## Critical requests: Transform → Pre-Command → Signed Pre-Command\n"
            );
            let _ = writeln!(
                o,
                "| SRV | transforms | Pre-Commands (I0) | signed sent | acknowledged (I99) | p50 | p90 | p99 | p99.9 | max |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
            );
            for (srv, s) in self.per_srv.iter().filter(|(_, s)| s.transforms > 0) {
                let _ = writeln!(
                    o,
                    "| {srv} | {} | {} | {} | {} | {} |",
                    s.transforms,
                    s.precommands,
                    s.signed_sent,
                    s.signed_acknowledged,
                    s.critical_loop
                        .as_ref()
                        .map_or_else(|| "– | – | – | – | –".into(), quantile_cells)
                );
            }
            let _ = writeln!(
                o,
                "| all | {} | {} | {} | {} | {} |",
                c.transforms,
                c.precommands,
                c.signed_sent,
                c.signed_acknowledged,
                c.loop_latency
                    .as_ref()
                    .map_or_else(|| "– | – | – | – | –".into(), quantile_cells)
            );
        }
        match &self.asynchronous {
            None => {
                let _ = writeln!(
                    o,
                    "\n## Asynchronous responses\n\nNo listener was configured."
                );
            }
            Some(a) => {
                let _ = writeln!(
                    o,
                    "\n## Asynchronous responses and alerts (listener {})\n",
                    self.listener.as_deref().unwrap_or("-")
                );
                let _ = writeln!(
                    o,
                    "{} received ({}), {} matched, {} still outstanding, {} unmatched, {} duplicates, {} unreadable.\n",
                    a.received,
                    codes_text(&a.kinds),
                    a.matched,
                    a.outstanding,
                    a.unmatched,
                    a.duplicates,
                    a.unreadable
                );
                if !a.per_srv.is_empty() {
                    let _ = writeln!(
                        o,
                        "| SRV | responses | within SEC target | outstanding | codes | p50 | p90 | p99 | p99.9 | max |\n|---|---:|---:|---:|---|---:|---:|---:|---:|---:|"
                    );
                    for (srv, s) in &a.per_srv {
                        let _ = writeln!(
                            o,
                            "| {srv} | {} | {} | {} | {} | {} |",
                            s.received,
                            s.within_target_share
                                .map_or_else(|| "–".into(), |v| format!("{:.1} %", v * 100.0)),
                            s.outstanding,
                            codes_text(&s.codes),
                            s.latency
                                .as_ref()
                                .map_or_else(|| "– | – | – | – | –".into(), quantile_cells)
                        );
                    }
                }
                if !a.alerts.is_empty() {
                    let _ = writeln!(
                        o,
                        "\nAlerts: {}; within 60 s: {}{}.",
                        codes_text(&a.alerts),
                        a.alerts_within_target_share
                            .map_or_else(|| "–".into(), |v| format!("{:.1} %", v * 100.0)),
                        a.alert_latency
                            .as_ref()
                            .map(|q| format!(" (delivery {})", quantiles_text(q)))
                            .unwrap_or_default()
                    );
                }
            }
        }
        o
    }
}

fn codes_text(codes: &BTreeMap<String, u64>) -> String {
    if codes.is_empty() {
        return "–".into();
    }
    codes
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn quantile_cells(q: &Quantiles) -> String {
    format!(
        "{:.2} | {:.2} | {:.2} | {:.2} | {:.2}",
        q.p50_ms, q.p90_ms, q.p99_ms, q.p99_9_ms, q.max_ms
    )
}

fn quantiles_text(q: &Quantiles) -> String {
    format!(
        "p50 {:.2} ms · p90 {:.2} ms · p99 {:.2} ms · p99.9 {:.2} ms · max {:.2} ms",
        q.p50_ms, q.p90_ms, q.p99_ms, q.p99_9_ms, q.max_ms
    )
}
