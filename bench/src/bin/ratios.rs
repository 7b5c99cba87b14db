//! Ratio harness: measures every protocol operation against bare aws-lc-rs ECDSA P-256 in
//! one process, checks the performance goals, and compares XML-DSig verification with
//! `xmlsec1`.
//!
//! ```text
//! ratios [--seconds S] [--reps R] [--json OUT] [--xmlsec1 N | --no-xmlsec1]
//!        [--xmlsec1-docs K] [--list] [--profile] [FILTER ...]
//! ```
//!
//! Each operation runs for `S` seconds in all (default 1), split into `R` reps (default 5)
//! taken in interleaved rounds, so that a slow spell on the machine hits every operation
//! alike. Rates come from the thread's CPU time where Linux provides it (time lost to other
//! processes is left out), else from wall time; the median over reps is reported. Ratios
//! are against bare ECDSA verify (and bare sign) measured in the same run. `FILTER`s keep
//! the operations whose `group/case` contains one of them; the baselines always run.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hubgate_bench::cpu::ThreadCpuClock;
use hubgate_bench::{Fixtures, Op, STAGES_LARGE, STAGES_SMALL, groups, operations};
use hubgate_protocol::duis::dsig;
use serde_json::{Value, json};

/// `xmldsig_verify/ecs17b` must reach this fraction of bare ECDSA verify throughput.
const GOAL_XMLDSIG_VERIFY: f64 = 0.75;
/// `gbcs_verify_signature/*` must reach this fraction of bare ECDSA verify throughput.
const GOAL_GBCS_SIGNATURE: f64 = 0.9;
/// The XML-DSig row the goal applies to (a typical read request).
const XMLDSIG_GOAL_ID: &str = "xmldsig_verify/ecs17b";

const BASE_VERIFY: &str = "ecdsa_verify/p256_100B";
const BASE_SIGN: &str = "ecdsa_sign/p256_100B";

const USAGE: &str =
    "usage: ratios [--seconds S] [--reps R] [--json OUT] [--xmlsec1 N | --no-xmlsec1] \
                     [--xmlsec1-docs K] [--list] [--profile] [FILTER ...]

  --seconds S       measured time per operation, all reps together (default 1)
  --reps R          reps per operation, interleaved across operations (default 5)
  --json OUT        also write the results as JSON to OUT
  --xmlsec1 N       compare with `xmlsec1 --verify --repeat N` (default 100 when xmlsec1 is
                    on PATH); 0 or --no-xmlsec1 turns it off
  --xmlsec1-docs K  number of signed templates in that comparison (default 20)
  --list            list the operations and exit
  --profile         run only the operations matching FILTER, S seconds each, with no
                    baselines, table or xmlsec1 (for `perf record`)
  FILTER            keep operations whose group/case contains FILTER (baselines always run)";

#[derive(Debug)]
struct Args {
    seconds: f64,
    reps: usize,
    json: Option<PathBuf>,
    xmlsec1: Option<usize>,
    xmlsec1_docs: usize,
    list: bool,
    profile: bool,
    filters: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        seconds: 1.0,
        reps: 5,
        json: None,
        xmlsec1: None,
        xmlsec1_docs: 20,
        list: false,
        profile: false,
        filters: Vec::new(),
    };
    let mut xmlsec1_given = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--seconds" => {
                args.seconds = value("--seconds")?
                    .parse()
                    .map_err(|e| format!("--seconds: {e}"))?;
                if !(args.seconds > 0.0 && args.seconds.is_finite()) {
                    return Err("--seconds must be positive".into());
                }
            }
            "--reps" => {
                args.reps = value("--reps")?
                    .parse()
                    .map_err(|e| format!("--reps: {e}"))?;
                args.reps = args.reps.max(1);
            }
            "--json" => args.json = Some(PathBuf::from(value("--json")?)),
            "--xmlsec1" => {
                let n: usize = value("--xmlsec1")?
                    .parse()
                    .map_err(|e| format!("--xmlsec1: {e}"))?;
                args.xmlsec1 = (n > 0).then_some(n);
                xmlsec1_given = true;
            }
            "--no-xmlsec1" => {
                args.xmlsec1 = None;
                xmlsec1_given = true;
            }
            "--xmlsec1-docs" => {
                args.xmlsec1_docs = value("--xmlsec1-docs")?
                    .parse()
                    .map_err(|e| format!("--xmlsec1-docs: {e}"))?;
                args.xmlsec1_docs = args.xmlsec1_docs.max(1);
            }
            "--list" => args.list = true,
            "--profile" => args.profile = true,
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s => args.filters.push(s.to_owned()),
        }
    }
    if !xmlsec1_given && xmlsec1_version().is_some() {
        args.xmlsec1 = Some(100);
    }
    Ok(args)
}

// ------------------------------------------------------------------------------------------
// Measuring
// ------------------------------------------------------------------------------------------

/// One rep of one operation.
#[derive(Debug, Clone, Copy)]
struct Sample {
    ops: u64,
    wall: Duration,
    cpu: Option<Duration>,
}

impl Sample {
    fn wall_rate(&self) -> f64 {
        self.ops as f64 / self.wall.as_secs_f64()
    }

    /// Ops per CPU-second of this thread, or per wall second without a CPU clock.
    fn rate(&self) -> f64 {
        match self.cpu {
            Some(c) if !c.is_zero() => self.ops as f64 / c.as_secs_f64(),
            _ => self.wall_rate(),
        }
    }

    fn util(&self) -> Option<f64> {
        self.cpu.map(|c| c.as_secs_f64() / self.wall.as_secs_f64())
    }
}

struct Bench {
    op: Op,
    /// Calls between clock readings, so that reading the clock costs well under 1%.
    batch: u64,
    samples: Vec<Sample>,
}

/// Runs `op` in batches until `dur` has passed.
fn run_for(op: &mut Op, batch: u64, dur: Duration, clock: &mut Option<ThreadCpuClock>) -> Sample {
    let c0 = clock.as_mut().and_then(ThreadCpuClock::now);
    let t0 = Instant::now();
    let mut ops = 0u64;
    loop {
        for _ in 0..batch {
            black_box((op.run)());
        }
        ops += batch;
        if t0.elapsed() >= dur {
            break;
        }
    }
    let wall = t0.elapsed();
    let c1 = clock.as_mut().and_then(ThreadCpuClock::now);
    let cpu = match (c0, c1) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    Sample { ops, wall, cpu }
}

/// Warms `op` up for about `dur` and picks a batch size of about 1 ms.
fn calibrate(op: &mut Op, dur: Duration) -> u64 {
    let t0 = Instant::now();
    let mut n = 0u64;
    while t0.elapsed() < dur {
        black_box((op.run)());
        n += 1;
    }
    let per_op = t0.elapsed().as_secs_f64() / n.max(1) as f64;
    ((1e-3 / per_op) as u64).clamp(1, 1 << 20)
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// The summary of one operation.
struct Row {
    id: String,
    group: &'static str,
    detail: String,
    rate: f64,
    wall_rate: f64,
    min: f64,
    max: f64,
    util: Option<f64>,
}

impl Row {
    fn of(b: &Bench) -> Row {
        let rates: Vec<f64> = b.samples.iter().map(Sample::rate).collect();
        let min = rates.iter().copied().fold(f64::INFINITY, f64::min);
        let max = rates.iter().copied().fold(0.0, f64::max);
        let utils: Vec<f64> = b.samples.iter().filter_map(Sample::util).collect();
        Row {
            id: b.op.id(),
            group: b.op.group,
            detail: b.op.detail.clone(),
            rate: median(rates),
            wall_rate: median(b.samples.iter().map(Sample::wall_rate).collect()),
            min,
            max,
            util: (!utils.is_empty()).then(|| median(utils)),
        }
    }

    fn us(&self) -> f64 {
        1e6 / self.rate
    }
}

/// A goal and whether this run met it.
struct Goal {
    id: String,
    ratio: f64,
    target: f64,
}

impl Goal {
    fn pass(&self) -> bool {
        self.ratio >= self.target
    }

    fn verdict(&self) -> &'static str {
        if self.pass() { "PASS" } else { "FAIL" }
    }
}

fn goal_for(id: &str) -> Option<f64> {
    if id == XMLDSIG_GOAL_ID {
        Some(GOAL_XMLDSIG_VERIFY)
    } else if id.starts_with(&format!("{}/", groups::GBCS_VERIFY_SIGNATURE)) {
        Some(GOAL_GBCS_SIGNATURE)
    } else {
        None
    }
}

// ------------------------------------------------------------------------------------------
// Reporting
// ------------------------------------------------------------------------------------------

fn machine() -> Value {
    let nproc = std::thread::available_parallelism().map_or(0, usize::from);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
    };
    json!({
        "nproc": nproc,
        "cpu_model": field("model name"),
        "cpu_family": field("cpu family"),
        "cpu_model_number": field("model\t"),
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
    })
}

fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1} k", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

fn fmt_us(us: f64) -> String {
    if us >= 100.0 {
        format!("{us:.0}")
    } else if us >= 1.0 {
        format!("{us:.2}")
    } else {
        format!("{us:.3}")
    }
}

fn print_table(rows: &[Row], verify: f64, sign: Option<f64>) {
    let w = rows.iter().map(|r| r.id.len()).max().unwrap_or(9);
    println!(
        "{:<w$} {:>9} {:>10} {:>8} {:>8} {:>7} {:>5}  {:<14} input",
        "operation", "µs/op", "ops/s", "×verify", "×sign", "spread", "util", "goal"
    );
    println!("{}", "-".repeat(w + 84));
    let mut last_group = "";
    for r in rows {
        if !last_group.is_empty() && r.group != last_group {
            println!();
        }
        last_group = r.group;
        let x_sign = match (sign, r.group) {
            (Some(s), groups::ECDSA_SIGN | groups::XMLDSIG_SIGN) => format!("{:.3}", r.rate / s),
            _ => String::new(),
        };
        let spread = if r.rate > 0.0 {
            format!("±{:.0}%", 50.0 * (r.max - r.min) / r.rate)
        } else {
            String::new()
        };
        let goal = goal_for(&r.id).map_or(String::new(), |t| {
            let g = Goal {
                id: r.id.clone(),
                ratio: r.rate / verify,
                target: t,
            };
            format!("≥{:.2} {}", t, g.verdict())
        });
        println!(
            "{:<w$} {:>9} {:>10} {:>8.3} {:>8} {:>7} {:>5}  {:<14} {}",
            r.id,
            fmt_us(r.us()),
            fmt_rate(r.rate),
            r.rate / verify,
            x_sign,
            spread,
            r.util.map_or(String::from("-"), |u| format!("{u:.2}")),
            goal,
            r.detail
        );
    }
}

fn print_breakdown(rows: &[Row], verify_id: &str, stages: &[&str; 3]) -> Option<Value> {
    let find = |id: &str| rows.iter().find(|r| r.id == id).map(Row::us);
    let stage = |i: usize| find(&format!("{}/{}", groups::XMLDSIG_STAGES, stages[i]));
    let (parse, digest, signed_info) = (stage(0)?, stage(1)?, stage(2)?);
    let full = find(verify_id)?;
    let ecdsa = find(BASE_VERIFY)?;
    let rest = full - signed_info - ecdsa;
    println!();
    let floor = verify_id
        .split_once('/')
        .and_then(|(_, case)| find(&format!("{}/{case}", groups::XML_FLOOR)));
    println!("XML-DSig verify breakdown ({verify_id}), µs per document:");
    println!("  xml::parse (and dropping the tree)                 {parse:>8.2}");
    if let Some(f) = floor {
        println!(
            "    of which quick-xml tokenizing (xml_floor row)  {f:>8.2}   (tree building and checks {:.2})",
            parse - f
        );
    }
    println!(
        "  + inclusive C14N + SHA-256 (Reference digest)      {:>8.2}   (total {digest:.2})",
        digest - parse
    );
    println!(
        "  + exclusive C14N of SignedInfo                     {:>8.2}   (total {signed_info:.2})",
        signed_info - digest
    );
    println!("  + ECDSA P-256 verify (bare row)                    {ecdsa:>8.2}");
    println!(
        "  + the rest (profile checks, base64, signer lookup) {rest:>8.2}   (full verify {full:.2})"
    );
    println!(
        "  XML work {:.2} µs = {:.0}% of the verify; ≥{GOAL_XMLDSIG_VERIFY}× bare verify allows {:.2} µs",
        full - ecdsa,
        100.0 * (full - ecdsa) / full,
        ecdsa * (1.0 / GOAL_XMLDSIG_VERIFY - 1.0)
    );
    Some(json!({
        "document": verify_id,
        "parse_us": parse,
        "tokenize_floor_us": floor,
        "c14n_digest_us": digest - parse,
        "signed_info_c14n_us": signed_info - digest,
        "ecdsa_verify_us": ecdsa,
        "rest_us": rest,
        "full_us": full,
    }))
}

// ------------------------------------------------------------------------------------------
// xmlsec1
// ------------------------------------------------------------------------------------------

fn xmlsec1_version() -> Option<String> {
    let out = Command::new("xmlsec1")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A temporary folder removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir, String> {
        let p = std::env::temp_dir().join(format!("hubgate-bench-{}", std::process::id()));
        std::fs::create_dir_all(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One run of `xmlsec1 --verify --repeat n` over some files.
#[derive(Debug, Clone, Copy)]
struct Xmlsec1Run {
    /// Wall time of the process, start to exit.
    wall: f64,
    /// The time xmlsec1 reports itself (`Executed N tests in X msec`): process CPU time
    /// (`clock()`) of the verification loop over all files, without process start, library
    /// set-up and key loading.
    own: Option<f64>,
}

/// Reads `Executed N tests in X msec` from xmlsec1's standard error.
fn xmlsec1_own_time(stderr: &str) -> Option<f64> {
    let line = stderr.lines().find(|l| l.starts_with("Executed "))?;
    let ms = line.split(" in ").nth(1)?.split_whitespace().next()?;
    ms.parse::<f64>().ok().map(|ms| ms / 1e3)
}

/// Runs `xmlsec1 --verify --repeat n` over `files` and times it.
fn time_xmlsec1(cert: &Path, files: &[PathBuf], repeat: usize) -> Result<Xmlsec1Run, String> {
    let t0 = Instant::now();
    let out = Command::new("xmlsec1")
        .arg("--verify")
        .arg("--repeat")
        .arg(repeat.to_string())
        .arg("--pubkey-cert-pem")
        .arg(cert)
        .args(files)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("running xmlsec1: {e}"))?;
    let wall = t0.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // xmlsec1 prints one `OK` per file (not per repeat) and stops at the first failure.
    let oks = stderr.lines().filter(|l| l.trim() == "OK").count();
    if !out.status.success() || oks < files.len() {
        let tail: String = stderr.lines().take(20).collect::<Vec<_>>().join("\n");
        return Err(format!(
            "xmlsec1 --verify failed ({}; {oks} OK for {} files):\n{tail}",
            out.status,
            files.len()
        ));
    }
    Ok(Xmlsec1Run {
        wall,
        own: xmlsec1_own_time(&stderr),
    })
}

fn xmlsec1_compare(
    fx: &Fixtures,
    docs: usize,
    repeat: usize,
    reps: usize,
) -> Result<Value, String> {
    let version = xmlsec1_version().ok_or("xmlsec1 is not on PATH")?;
    let signed = fx.signed_templates(docs)?;
    if signed.is_empty() {
        return Err("no template could be signed".into());
    }
    let k = signed.len();
    let dir = TempDir::new()?;
    let mut files = Vec::with_capacity(k);
    for (name, bytes) in &signed {
        let p = dir.0.join(name);
        std::fs::write(&p, bytes).map_err(|e| format!("{}: {e}", p.display()))?;
        files.push(p);
    }
    let total_bytes: usize = signed.iter().map(|(_, b)| b.len()).sum();
    let cert = &fx.duis_cert_path;

    // Warm the page cache and check that xmlsec1 accepts every document.
    time_xmlsec1(cert, &files, 1)?;
    let reps = reps.clamp(1, 5);
    let mut t1 = Vec::new();
    let mut tn = Vec::new();
    let mut own = Vec::new();
    let mut ours = Vec::new();
    let mut ours_cpu = Vec::new();
    let mut clock = ThreadCpuClock::open();
    for _ in 0..reps {
        t1.push(time_xmlsec1(cert, &files, 1)?.wall);
        let run = time_xmlsec1(cert, &files, repeat)?;
        tn.push(run.wall);
        own.extend(run.own);
        let c0 = clock.as_mut().and_then(ThreadCpuClock::now);
        let t0 = Instant::now();
        for _ in 0..repeat {
            for (name, bytes) in &signed {
                dsig::verify(black_box(bytes), &fx.duis_cert)
                    .map_err(|e| format!("our verify of {name}: {e}"))?;
            }
        }
        ours.push(t0.elapsed().as_secs_f64());
        if let (Some(a), Some(b)) = (c0, clock.as_mut().and_then(ThreadCpuClock::now)) {
            ours_cpu.push(b.saturating_sub(a).as_secs_f64());
        }
    }
    let (t1, tn, ours) = (median(t1), median(tn), median(ours));
    let n_docs = (k * repeat) as f64;
    let theirs_total = n_docs / tn;
    let theirs_steady = if repeat > 1 && tn > t1 {
        (k * (repeat - 1)) as f64 / (tn - t1)
    } else {
        f64::NAN
    };
    let theirs_own = (!own.is_empty()).then(|| n_docs / median(own));
    let ours_rate = n_docs / ours;
    let ours_cpu_rate = (!ours_cpu.is_empty()).then(|| n_docs / median(ours_cpu));

    let verdict = |r: f64| {
        if r > 1.0 {
            "ours faster"
        } else {
            "ours NOT faster"
        }
    };
    let wall_ratio = ours_rate / theirs_steady;
    let cpu_ratio = match (ours_cpu_rate, theirs_own) {
        (Some(o), Some(t)) => Some(o / t),
        _ => None,
    };

    println!();
    println!(
        "XML-DSig verify vs {version}: {k} templates signed here ({} B on average), each \
         verified {repeat} times, one thread each (median of {reps})",
        total_bytes / k
    );
    println!("  wall time:");
    println!(
        "    xmlsec1 --verify --repeat {repeat}, one process, {k} files: {tn:.3} s -> {} docs/s \
         (start-up included)",
        fmt_rate(theirs_total)
    );
    println!(
        "    xmlsec1 with start-up removed (t[{repeat}] - t[1] = {:.3} s, {} docs): {} docs/s, \
         {:.1} µs/doc",
        tn - t1,
        k * (repeat - 1),
        fmt_rate(theirs_steady),
        1e6 / theirs_steady
    );
    println!(
        "    hubgate dsig::verify, same documents in memory: {ours:.3} s -> {} docs/s, \
         {:.1} µs/doc",
        fmt_rate(ours_rate),
        1e6 / ours_rate
    );
    println!(
        "    ours / xmlsec1: {wall_ratio:.2}× (start-up removed), {:.2}× (total) -> {}",
        ours_rate / theirs_total,
        verdict(wall_ratio)
    );
    if let (Some(o), Some(t), Some(r)) = (ours_cpu_rate, theirs_own, cpu_ratio) {
        println!("  CPU time (not affected by other load on the machine):");
        println!(
            "    xmlsec1's own timer (clock(), verification loop only): {} docs/s, {:.1} µs/doc",
            fmt_rate(t),
            1e6 / t
        );
        println!(
            "    hubgate, thread CPU time: {} docs/s, {:.1} µs/doc",
            fmt_rate(o),
            1e6 / o
        );
        println!("    ours / xmlsec1: {r:.2}× -> {}", verdict(r));
    }
    Ok(json!({
        "xmlsec1_version": version,
        "documents": k,
        "repeat": repeat,
        "mean_document_bytes": total_bytes / k,
        "xmlsec1_repeat1_wall_s": t1,
        "xmlsec1_repeatN_wall_s": tn,
        "xmlsec1_docs_per_s_total": theirs_total,
        "xmlsec1_docs_per_s_startup_removed": theirs_steady,
        "xmlsec1_docs_per_cpu_s_own_timer": theirs_own,
        "ours_wall_s": ours,
        "ours_docs_per_s": ours_rate,
        "ours_docs_per_cpu_s": ours_cpu_rate,
        "ratio_wall_startup_removed": wall_ratio,
        "ratio_wall_total": ours_rate / theirs_total,
        "ratio_cpu": cpu_ratio,
        "files": signed.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
    }))
}

// ------------------------------------------------------------------------------------------

fn run() -> Result<bool, String> {
    let args = parse_args().map_err(|e| {
        if e.is_empty() {
            USAGE.to_owned()
        } else {
            format!("{e}\n{USAGE}")
        }
    })?;
    let fx = Arc::new(Fixtures::load()?);
    let all = operations(&fx)?;
    if args.list {
        for op in &all {
            println!("{:<54} {}", op.id(), op.detail);
        }
        return Ok(true);
    }
    if args.profile {
        for mut op in all.into_iter().filter(|op| {
            let id = op.id();
            args.filters.iter().any(|f| id.contains(f.as_str()))
        }) {
            let s = run_for(
                &mut op,
                64,
                Duration::from_secs_f64(args.seconds),
                &mut ThreadCpuClock::open(),
            );
            println!("{:<54} {} ops, {:.2} µs/op", op.id(), s.ops, 1e6 / s.rate());
        }
        return Ok(true);
    }
    let keep = |op: &Op| {
        let id = op.id();
        id == BASE_VERIFY
            || id == BASE_SIGN
            || args.filters.is_empty()
            || args.filters.iter().any(|f| id.contains(f.as_str()))
    };
    let mut benches: Vec<Bench> = all
        .into_iter()
        .filter(keep)
        .map(|op| Bench {
            op,
            batch: 1,
            samples: Vec::new(),
        })
        .collect();

    let mut clock = ThreadCpuClock::open();
    let basis = if clock.is_some() {
        "thread CPU time (/proc/thread-self/schedstat)"
    } else {
        "wall time"
    };
    let m = machine();
    println!(
        "hubgate ratios: {} ops, {} s each in {} reps, rates per {basis}; {} CPUs, {} \
         (family {}, model {})",
        benches.len(),
        args.seconds,
        args.reps,
        m["nproc"],
        m["cpu_model"].as_str().unwrap_or("unknown CPU"),
        m["cpu_family"].as_str().unwrap_or("?"),
        m["cpu_model_number"].as_str().unwrap_or("?"),
    );

    for b in &mut benches {
        b.batch = calibrate(&mut b.op, Duration::from_millis(100));
    }
    let per_rep = Duration::from_secs_f64(args.seconds / args.reps as f64);
    for _ in 0..args.reps {
        for b in &mut benches {
            let s = run_for(&mut b.op, b.batch, per_rep, &mut clock);
            b.samples.push(s);
        }
    }

    let rows: Vec<Row> = benches.iter().map(Row::of).collect();
    let rate_of = |id: &str| rows.iter().find(|r| r.id == id).map(|r| r.rate);
    let verify = rate_of(BASE_VERIFY).ok_or("the baseline did not run")?;
    let sign = rate_of(BASE_SIGN);
    println!();
    print_table(&rows, verify, sign);

    let goals: Vec<Goal> = rows
        .iter()
        .filter_map(|r| {
            goal_for(&r.id).map(|target| Goal {
                id: r.id.clone(),
                ratio: r.rate / verify,
                target,
            })
        })
        .collect();
    let breakdown: Vec<Value> = [
        (XMLDSIG_GOAL_ID, &STAGES_SMALL),
        ("xmldsig_verify/ecs46d_large", &STAGES_LARGE),
    ]
    .into_iter()
    .filter_map(|(id, stages)| print_breakdown(&rows, id, stages))
    .collect();

    if !goals.is_empty() {
        println!();
        println!("Goals (throughput relative to bare ECDSA verify, same run):");
        for g in &goals {
            println!(
                "  {:<44} {:.3} ≥ {:.2}  {}",
                g.id,
                g.ratio,
                g.target,
                g.verdict()
            );
        }
    }

    let xmlsec1 = match args.xmlsec1 {
        Some(n) if args.filters.is_empty() || args.filters.iter().any(|f| f.contains("xmlsec")) => {
            match xmlsec1_compare(&fx, args.xmlsec1_docs, n, 3) {
                Ok(v) => Some(v),
                Err(e) => {
                    println!("\nxmlsec1 comparison not done: {e}");
                    Some(json!({ "error": e }))
                }
            }
        }
        _ => None,
    };

    if let Some(path) = &args.json {
        let results: Vec<Value> = rows
            .iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "group": r.group,
                    "input": r.detail,
                    "ops_per_s": r.rate,
                    "us_per_op": r.us(),
                    "wall_ops_per_s": r.wall_rate,
                    "min_ops_per_s": r.min,
                    "max_ops_per_s": r.max,
                    "util": r.util,
                    "ratio_vs_verify": r.rate / verify,
                    "ratio_vs_sign": match (sign, r.group) {
                        (Some(s), groups::ECDSA_SIGN | groups::XMLDSIG_SIGN) => Some(r.rate / s),
                        _ => None,
                    },
                })
            })
            .collect();
        let doc = json!({
            "machine": m,
            "basis": basis,
            "seconds_per_op": args.seconds,
            "reps": args.reps,
            "results": results,
            "goals": goals.iter().map(|g| json!({
                "id": g.id, "ratio": g.ratio, "target": g.target, "pass": g.pass(),
            })).collect::<Vec<_>>(),
            "xmldsig_breakdown": breakdown,
            "xmlsec1": xmlsec1,
        });
        let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
        println!("\nJSON written to {}", path.display());
    }
    Ok(goals.iter().all(Goal::pass))
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}
