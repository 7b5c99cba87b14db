//! Scenario files (TOML): what to send, how fast, from whom, to which devices, and where the
//! reports go. [`EXAMPLE`] is the default scenario, printed by `loadgen scenario example`.
//!
//! Reading is strict: an unknown key, a value of the wrong type or a value out of range is an
//! error that names the field by its dotted path (`load.profile.rate`, `mix."9.9"`).
//! Relative paths are taken from the scenario file's folder.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use hubgate_protocol::catalogue::Catalogue;
use serde::{Deserialize, Serialize};

use crate::pick::Skew;
use crate::profile::{Profile, Segment};

/// The default scenario: a DCC-like mix from the load-test Users of a local `hubgate serve`.
/// Each share says where it comes from (see also `loadgen/README.md`).
pub const EXAMPLE: &str = include_str!("default_scenario.toml");

/// Why a scenario was refused.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// A field is missing, unknown, of the wrong type or out of range.
    #[error("{origin}: field `{field}`: {message}")]
    Field {
        /// The file (or `<text>`).
        origin: String,
        /// Dotted path of the field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

impl ScenarioError {
    /// The dotted path of the field at fault, when the error is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            ScenarioError::Field { field, .. } => Some(field),
            ScenarioError::Read { .. } => None,
        }
    }
}

/// A whole scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A name for reports.
    #[serde(default = "default_name")]
    pub name: String,
    /// Seed of the SRV and target choices (same seed, same traffic).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// The gateway under test.
    pub gateway: GatewaySection,
    /// The Users that sign the requests.
    pub users: UsersSection,
    /// The devices requests are addressed to.
    pub targets: TargetsSection,
    /// Rate, duration and mode.
    pub load: LoadSection,
    /// The HTTPS listener for asynchronous responses and alerts (none: not started).
    #[serde(default)]
    pub listener: Option<ListenerSection>,
    /// Where the reports are written.
    #[serde(default)]
    pub report: ReportSection,
    /// Which DUIS templates requests are built from.
    #[serde(default)]
    pub templates: TemplatesSection,
    /// SRV → share of the requests (relative weights; they need not add up to 100).
    pub mix: BTreeMap<String, f64>,
}

fn default_name() -> String {
    "scenario".into()
}

fn default_seed() -> u64 {
    1
}

/// `[gateway]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySection {
    /// Base URL of the DUIS listener: `https://host:port` (or `http://` for a gateway's
    /// plain-HTTP listener).
    pub url: String,
    /// CA certificates (PEM) the gateway's TLS certificate chains to (for a local
    /// `hubgate serve`: `<data_dir>/tls/ca.pem`).
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// Server name checked in the gateway's certificate. Default: the URL's host, or
    /// `localhost` when that is an IP address (what the local TLS CA issues for).
    #[serde(default)]
    pub server_name: Option<String>,
}

/// Where the Users' keys come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UsersKind {
    /// A `hubgate serve` data folder's local test PKI (`<dir>/pki/users.toml`).
    Local,
    /// A DCC Boxed (ZAZ1) SMKI folder (`xml-sign-<EUI>-ds.{key,pem}` and the DS keys).
    Zaz1,
}

/// `[users]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersSection {
    /// `local` or `zaz1`.
    pub kind: UsersKind,
    /// The gateway's data folder (`local`) or the SMKI folder (`zaz1`).
    pub dir: PathBuf,
    /// These Users by name (`load-00001`, `import-supplier`) or User ID. Default: see
    /// `count`.
    #[serde(default)]
    pub names: Vec<String>,
    /// How many Users: the first `count` load-test Users (`local`), or the first `count`
    /// Users found (`zaz1`). Default: all load-test Users, else every User found.
    #[serde(default)]
    pub count: Option<usize>,
}

/// `[targets]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetsSection {
    /// Inventory CSV, as `hubgate serve --inventory` takes it.
    pub inventory: PathBuf,
    /// Registration data CSV (`hubgate serve --registration`): a User only addresses the
    /// devices of premises it is registered for. Default: none (every User, every device).
    #[serde(default)]
    pub registration: Option<PathBuf>,
    /// How devices are chosen: `{ kind = "uniform" }` or `{ kind = "zipf", exponent = 1.0 }`
    /// (hubs early in the inventory are hot).
    #[serde(default)]
    pub skew: SkewSpec,
}

/// A skew as written in the scenario: `{ kind = "uniform" }` or
/// `{ kind = "zipf", exponent = 1.0 }`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SkewSpec {
    /// `uniform` or `zipf`.
    pub kind: SkewKind,
    /// Zipf's exponent `s` (> 0). Default 1.0.
    #[serde(default)]
    pub exponent: Option<f64>,
}

/// The kinds of skew.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SkewKind {
    /// Every device equally often.
    #[default]
    Uniform,
    /// Rank `k` with probability proportional to `1 / k^exponent`.
    Zipf,
}

impl SkewSpec {
    /// The sampler's skew.
    pub fn skew(self) -> Skew {
        match self.kind {
            SkewKind::Uniform => Skew::Uniform,
            SkewKind::Zipf => Skew::Zipf {
                exponent: self.exponent.unwrap_or(1.0),
            },
        }
    }
}

/// Open or closed loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Requests at the profile's rate whatever the gateway does; latency from the intended
    /// send time.
    Open,
    /// Each User keeps `depth` requests in flight: the highest rate the gateway sustains.
    Closed,
}

/// `[load]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadSection {
    /// `open` or `closed`.
    pub mode: Mode,
    /// Length of the run in seconds (a `step` profile may leave it out: the steps' sum).
    #[serde(default)]
    pub duration_s: Option<f64>,
    /// The rate profile (open loop).
    #[serde(default)]
    pub profile: Option<ProfileSpec>,
    /// Most requests in flight on one User's connection. Default 64.
    #[serde(default = "default_depth")]
    pub depth: usize,
    /// A send later than this many milliseconds after its intended time counts as late.
    /// Default 10.
    #[serde(default = "default_late_ms")]
    pub late_ms: f64,
    /// Seconds to wait after the last send for synchronous answers still outstanding.
    /// Default 30.
    #[serde(default = "default_answer_wait")]
    pub answer_wait_s: f64,
}

fn default_depth() -> usize {
    64
}

fn default_late_ms() -> f64 {
    10.0
}

fn default_answer_wait() -> f64 {
    30.0
}

/// A rate profile as written: `{ kind = "constant", rate }`, `{ kind = "step", steps }` or
/// `{ kind = "ramp", from, to }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    /// `constant`, `step` or `ramp`.
    pub kind: ProfileKind,
    /// `constant`: requests per second.
    #[serde(default)]
    pub rate: Option<f64>,
    /// `step`: `{ rate, duration_s }` each, in order.
    #[serde(default)]
    pub steps: Option<Vec<StepSpec>>,
    /// `ramp`: the rate at the start.
    #[serde(default)]
    pub from: Option<f64>,
    /// `ramp`: the rate at the end.
    #[serde(default)]
    pub to: Option<f64>,
}

/// The shapes of a rate profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProfileKind {
    /// One rate throughout.
    Constant,
    /// Rates one after the other.
    Step,
    /// A rate changing linearly over the run.
    Ramp,
}

/// One step of a step profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Requests per second.
    pub rate: f64,
    /// Seconds.
    pub duration_s: f64,
}

/// `[listener]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerSection {
    /// Address to listen on (`127.0.0.1:8443`; port 0 picks a free one).
    pub address: SocketAddr,
    /// Certificate chain (PEM) to present. Default: none, meaning a local CA and a
    /// certificate for the address made at start in the report folder (`listener-ca.pem`,
    /// for the gateway's `delivery.ca`).
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// Its private key (PEM); with `cert`.
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// Seconds to wait after the run for asynchronous responses still outstanding.
    /// Default 10.
    #[serde(default = "default_drain")]
    pub drain_s: f64,
}

fn default_drain() -> f64 {
    10.0
}

/// `[report]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSection {
    /// Folder for `report.json` and `report.md`. Default `loadgen-report`.
    #[serde(default = "default_report_dir")]
    pub dir: PathBuf,
}

impl Default for ReportSection {
    fn default() -> Self {
        ReportSection {
            dir: default_report_dir(),
        }
    }
}

fn default_report_dir() -> PathBuf {
    PathBuf::from("loadgen-report")
}

/// `[templates]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplatesSection {
    /// The DUIS templates folder. Default: `duis/templates` of the conformance corpus
    /// (`HUBGATE_CONFORMANCE`, or `../shared/conformance`).
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// Also use future-dated templates (those carrying an `ExecutionDateTime`).
    /// Default false.
    #[serde(default)]
    pub future_dated: bool,
    /// SRV → template file name, to choose a template instead of the default one.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

impl ProfileSpec {
    /// Checks that the fields its kind needs are there and sensible, and no other.
    fn validate(
        &self,
        bad: &dyn Fn(&str, String) -> Result<(), ScenarioError>,
    ) -> Result<(), ScenarioError> {
        let rate_ok = |v: f64| v.is_finite() && v >= 0.0;
        let unused = |field: &str, present: bool| {
            if present {
                bad(
                    &format!("load.profile.{field}"),
                    format!("not used by a {:?} profile", self.kind).to_lowercase(),
                )
            } else {
                Ok(())
            }
        };
        match self.kind {
            ProfileKind::Constant => {
                unused("steps", self.steps.is_some())?;
                unused("from", self.from.is_some())?;
                unused("to", self.to.is_some())?;
                match self.rate {
                    None => bad("load.profile.rate", "missing".into()),
                    Some(r) if !(r.is_finite() && r > 0.0) => {
                        bad("load.profile.rate", format!("{r} must be more than 0"))
                    }
                    Some(_) => Ok(()),
                }
            }
            ProfileKind::Ramp => {
                unused("rate", self.rate.is_some())?;
                unused("steps", self.steps.is_some())?;
                for (name, v) in [("from", self.from), ("to", self.to)] {
                    match v {
                        None => return bad(&format!("load.profile.{name}"), "missing".into()),
                        Some(v) if !rate_ok(v) => {
                            return bad(
                                &format!("load.profile.{name}"),
                                format!("{v} must be 0 or more"),
                            );
                        }
                        Some(_) => {}
                    }
                }
                if self.from.unwrap_or(0.0) + self.to.unwrap_or(0.0) <= 0.0 {
                    return bad("load.profile.to", "from and to are both 0".into());
                }
                Ok(())
            }
            ProfileKind::Step => {
                unused("rate", self.rate.is_some())?;
                unused("from", self.from.is_some())?;
                unused("to", self.to.is_some())?;
                let steps = self.steps.as_deref().unwrap_or_default();
                if steps.is_empty() {
                    return bad("load.profile.steps", "has no step".into());
                }
                for (i, s) in steps.iter().enumerate() {
                    if !rate_ok(s.rate) {
                        return bad(
                            &format!("load.profile.steps[{i}].rate"),
                            format!("{} must be 0 or more", s.rate),
                        );
                    }
                    if !(s.duration_s.is_finite() && s.duration_s > 0.0) {
                        return bad(
                            &format!("load.profile.steps[{i}].duration_s"),
                            format!("{} must be more than 0", s.duration_s),
                        );
                    }
                }
                Ok(())
            }
        }
    }
}

impl Scenario {
    /// Reads and checks a scenario file; relative paths become relative to its folder.
    ///
    /// # Errors
    ///
    /// [`ScenarioError`] naming the file and the field.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut s = Scenario::parse(&text, &path.display().to_string())?;
        let base = path.parent().unwrap_or(Path::new("."));
        s.resolve_paths(base);
        Ok(s)
    }

    /// Parses and checks scenario text; `origin` names it in errors.
    ///
    /// # Errors
    ///
    /// [`ScenarioError::Field`].
    pub fn parse(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
        let de = toml::Deserializer::new(text);
        let s: Scenario = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            let at = inner
                .span()
                .map(|span| {
                    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                    format!(" (line {line})")
                })
                .unwrap_or_default();
            ScenarioError::Field {
                origin: origin.to_string(),
                field: if field == "." {
                    "(top level)".into()
                } else {
                    field
                },
                message: format!("{}{at}", inner.message().trim_end()),
            }
        })?;
        s.validate(origin)?;
        Ok(s)
    }

    /// The default scenario ([`EXAMPLE`]).
    ///
    /// # Errors
    ///
    /// Only if the embedded text were broken (a test checks it is not).
    pub fn example() -> Result<Scenario, ScenarioError> {
        Scenario::parse(EXAMPLE, "the default scenario")
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(ca) = &mut self.gateway.ca {
            fix(ca);
        }
        fix(&mut self.users.dir);
        fix(&mut self.targets.inventory);
        if let Some(r) = &mut self.targets.registration {
            fix(r);
        }
        if let Some(l) = &mut self.listener {
            if let Some(c) = &mut l.cert {
                fix(c);
            }
            if let Some(k) = &mut l.key {
                fix(k);
            }
        }
        fix(&mut self.report.dir);
        if let Some(d) = &mut self.templates.dir {
            fix(d);
        }
    }

    /// Checks what the types alone do not.
    fn validate(&self, origin: &str) -> Result<(), ScenarioError> {
        let bad = |field: &str, message: String| {
            Err(ScenarioError::Field {
                origin: origin.to_string(),
                field: field.to_string(),
                message,
            })
        };
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !(self.gateway.url.starts_with("https://") || self.gateway.url.starts_with("http://")) {
            return bad(
                "gateway.url",
                format!("{:?} is not an https:// or http:// URL", self.gateway.url),
            );
        }
        if crate::client::Endpoint::parse(&self.gateway.url).is_none() {
            return bad(
                "gateway.url",
                format!("{:?} has no host:port", self.gateway.url),
            );
        }
        if self.users.count == Some(0) {
            return bad("users.count", "must be at least 1".into());
        }
        if self.mix.is_empty() {
            return bad("mix", "names no SRV".into());
        }
        let catalogue = Catalogue::get();
        for (srv, share) in &self.mix {
            let field = format!("mix.\"{srv}\"");
            if catalogue.srv(srv).is_none() {
                return bad(&field, format!("{srv:?} is not an SRV of the catalogue"));
            }
            if !(share.is_finite() && *share >= 0.0) {
                return bad(&field, format!("share {share} must be zero or more"));
            }
        }
        if !self.mix.values().any(|s| *s > 0.0) {
            return bad("mix", "every share is zero".into());
        }
        for srv in self.templates.files.keys() {
            if catalogue.srv(srv).is_none() {
                return bad(
                    &format!("templates.files.\"{srv}\""),
                    format!("{srv:?} is not an SRV of the catalogue"),
                );
            }
        }
        if let Some(exponent) = self.targets.skew.exponent {
            if self.targets.skew.kind != SkewKind::Zipf {
                return bad(
                    "targets.skew.exponent",
                    "only a zipf skew has an exponent".into(),
                );
            }
            if !positive(exponent) {
                return bad(
                    "targets.skew.exponent",
                    format!("{exponent} must be more than 0"),
                );
            }
        }
        let l = &self.load;
        if l.depth == 0 {
            return bad("load.depth", "must be at least 1".into());
        }
        if !(l.late_ms.is_finite() && l.late_ms >= 0.0) {
            return bad("load.late_ms", format!("{} must be 0 or more", l.late_ms));
        }
        if !(l.answer_wait_s.is_finite() && l.answer_wait_s >= 0.0) {
            return bad(
                "load.answer_wait_s",
                format!("{} must be 0 or more", l.answer_wait_s),
            );
        }
        if let Some(d) = l.duration_s
            && !positive(d)
        {
            return bad("load.duration_s", format!("{d} must be more than 0"));
        }
        match (&l.mode, &l.profile) {
            (Mode::Open, None) => {
                return bad(
                    "load.profile",
                    "an open loop needs a profile ({ kind = \"constant\", rate = … })".into(),
                );
            }
            (_, Some(p)) => p.validate(&bad)?,
            _ => {}
        }
        let step_profile = l
            .profile
            .as_ref()
            .is_some_and(|p| p.kind == ProfileKind::Step);
        if l.duration_s.is_none() && !(step_profile && l.mode == Mode::Open) {
            return bad("load.duration_s", "missing".into());
        }
        if let Some(li) = &self.listener {
            if li.cert.is_some() != li.key.is_some() {
                return bad("listener.cert", "set both cert and key, or neither".into());
            }
            if !(li.drain_s.is_finite() && li.drain_s >= 0.0) {
                return bad(
                    "listener.drain_s",
                    format!("{} must be 0 or more", li.drain_s),
                );
            }
        }
        Ok(())
    }

    /// Length of the run in seconds.
    pub fn duration_s(&self) -> f64 {
        match (&self.load.profile, self.load.duration_s) {
            (_, Some(d)) => d,
            (Some(p), None) => p.steps.iter().flatten().map(|s| s.duration_s).sum(),
            (None, None) => 0.0,
        }
    }

    /// The open loop's rate profile over the run (`None` for a closed loop).
    pub fn profile(&self) -> Option<Profile> {
        if self.load.mode != Mode::Open {
            return None;
        }
        let seconds = self.duration_s();
        let p = self.load.profile.as_ref()?;
        Some(match p.kind {
            ProfileKind::Constant => Profile::constant(p.rate.unwrap_or(0.0), seconds),
            ProfileKind::Ramp => Profile::new(vec![Segment {
                seconds,
                from: p.from.unwrap_or(0.0),
                to: p.to.unwrap_or(0.0),
            }]),
            ProfileKind::Step => {
                let steps = p.steps.as_deref().unwrap_or_default();
                // Steps in order, cut at the duration (or the last one held until it).
                let mut segs = Vec::new();
                let mut left = seconds;
                for s in steps {
                    if left <= 0.0 {
                        break;
                    }
                    let len = s.duration_s.min(left);
                    segs.push(Segment {
                        seconds: len,
                        from: s.rate,
                        to: s.rate,
                    });
                    left -= len;
                }
                if let (true, Some(last)) = (left > 1e-9, steps.last()) {
                    segs.push(Segment {
                        seconds: left,
                        from: last.rate,
                        to: last.rate,
                    });
                }
                Profile::new(segs)
            }
        })
    }

    /// A one-line description of the load, for reports.
    pub fn load_summary(&self) -> String {
        let Some(p) = self
            .load
            .profile
            .as_ref()
            .filter(|_| self.load.mode == Mode::Open)
        else {
            return match self.load.mode {
                Mode::Closed => format!(
                    "closed loop, {} in flight per User, {:.0} s",
                    self.load.depth,
                    self.duration_s()
                ),
                Mode::Open => "open loop".into(),
            };
        };
        let r = |v: Option<f64>| v.unwrap_or(0.0);
        match p.kind {
            ProfileKind::Constant => format!(
                "open loop, constant {}/s for {:.0} s",
                r(p.rate),
                self.duration_s()
            ),
            ProfileKind::Ramp => format!(
                "open loop, ramp {}/s → {}/s over {:.0} s",
                r(p.from),
                r(p.to),
                self.duration_s()
            ),
            ProfileKind::Step => {
                let s: Vec<String> = p
                    .steps
                    .iter()
                    .flatten()
                    .map(|s| format!("{}/s×{}s", s.rate, s.duration_s))
                    .collect();
                format!("open loop, steps {}", s.join(" → "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_parses_and_describes_an_open_loop() {
        let s = Scenario::example().unwrap();
        assert_eq!(s.load.mode, Mode::Open);
        let total: f64 = s.mix.values().sum();
        assert!((total - 100.0).abs() < 1e-9, "shares add up to {total}");
        let p = s.profile().unwrap();
        assert!(p.total_requests() > 0);
    }

    #[test]
    fn step_profiles_take_their_duration_from_the_steps() {
        let text = EXAMPLE.replace(
            "profile = { kind = \"constant\", rate = 200.0 }",
            "profile = { kind = \"step\", steps = [{ rate = 10.0, duration_s = 2.0 }, { rate = 20.0, duration_s = 3.0 }] }",
        ).replace("duration_s = 60.0\n", "");
        let s = Scenario::parse(&text, "t").unwrap();
        assert!((s.duration_s() - 5.0).abs() < 1e-9);
        assert_eq!(s.profile().unwrap().total_requests(), 80);
    }
}
