//! A run: the plan made from a scenario ([`prepare`]), then the load itself ([`run`]).
//!
//! # Shape of a run
//!
//! - One task per User owns that User's connection. Its writer takes jobs in order, gives
//!   each the User's next counter, renders and XML-signs the request, waits for a free slot
//!   (at most `load.depth` unanswered), and writes it; its reader takes the answers in the
//!   same order, records them, and for a Transform answered with a Pre-Command hands the
//!   writer a job to send the Signed Pre-Command (same RequestID) ahead of new work.
//! - **Open loop**: one generator walks the rate profile; at each request's intended time it
//!   draws an SRV from the mix, a User that may send it (round robin), a template and a
//!   device (with the skew), and queues the job to that User without waiting for anything.
//!   A send that leaves more than `load.late_ms` after its intended time is *late*; latency
//!   is always measured from the intended time, so queueing anywhere (generator, connection,
//!   gateway) shows in the numbers instead of silently lowering the rate.
//! - **Closed loop**: each User's writer makes a new job whenever a slot frees, until the
//!   duration is over; the acknowledged rate is the highest the gateway sustains at that
//!   depth and number of Users.
//! - Device requests are registered with the [`Tracker`] so that the responses the gateway
//!   later POSTs to the listener are matched to them.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hubgate_protocol::catalogue::Catalogue;
use hubgate_protocol::duis::model::header::RequestId;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::io::AsyncWriteExt as _;
use tokio::sync::{Semaphore, mpsc};

use crate::client::{self, AnswerReader, Endpoint};
use crate::listener::Listener;
use crate::pick::{Rng, Weighted};
use crate::profile::Profile;
use crate::report::{Report, RunFacts};
use crate::scenario::{Mode, Scenario};
use crate::stats::{ConnStats, Live};
use crate::targets::{self, Targets};
use crate::templates::{self, Library, Template};
use crate::tracker::{self, Tracker};
use crate::users::{self, User};

/// One SRV of the mix, ready to send.
#[derive(Debug)]
pub struct SrvPlan {
    /// The SRV.
    pub name: Arc<str>,
    /// Its share of the mix.
    pub share: f64,
    /// Critical (sent as a Transform, then a Signed Pre-Command).
    pub critical: bool,
    /// Its templates (one per device-type group).
    pub templates: Vec<Template>,
    /// Users (indices) that may send it and have a device for it.
    pub users: Vec<usize>,
}

/// Everything a run needs, checked before anything is sent.
#[derive(Debug)]
pub struct Prepared {
    /// The scenario.
    pub scenario: Scenario,
    /// The Users, in order.
    pub users: Vec<User>,
    /// Their devices.
    pub targets: Targets,
    /// The templates read.
    pub library: Library,
    /// The mix.
    pub srvs: Vec<SrvPlan>,
    weights: Weighted,
    per_user: Vec<Option<Weighted>>,
}

/// Reads the Users, the inventory and the templates a scenario names, and checks that every
/// SRV of its mix can be sent by some User to some device.
///
/// # Errors
///
/// A message naming the scenario field at fault where there is one.
pub fn prepare(scenario: Scenario) -> Result<Prepared, String> {
    let users = users::load(&scenario.users).map_err(|e| e.to_string())?;
    let dir = match &scenario.templates.dir {
        Some(d) => d.clone(),
        None => hubgate_protocol::conformance::root()
            .map(|r| r.join("duis").join("templates"))
            .ok_or(
                "templates.dir: not set, and no conformance corpus found (set HUBGATE_CONFORMANCE)",
            )?,
    };
    let library = Library::load(
        &dir,
        scenario.templates.future_dated,
        &scenario.templates.files,
    )?;
    let devices = targets::read_inventory(&scenario.targets.inventory)
        .map_err(|e| format!("targets.inventory: {e}"))?;
    let registration = match &scenario.targets.registration {
        Some(p) => {
            Some(targets::read_registration(p).map_err(|e| format!("targets.registration: {e}"))?)
        }
        None => None,
    };
    let ids: Vec<([u8; 8], Vec<hubgate_protocol::catalogue::Role>)> =
        users.iter().map(|u| (u.id, u.roles.clone())).collect();
    let targets = Targets::new(
        &devices,
        registration.as_ref(),
        &ids,
        scenario.targets.skew.skew(),
    );
    let catalogue = Catalogue::get();
    let mut srvs = Vec::new();
    for (name, share) in scenario.mix.iter().filter(|(_, s)| **s > 0.0) {
        let field = format!("mix.\"{name}\"");
        let srv = catalogue
            .srv(name)
            .ok_or_else(|| format!("{field}: not an SRV of the catalogue"))?;
        let templates = library.for_srv(name).to_vec();
        if templates.is_empty() {
            return Err(format!(
                "{field}: no usable request template for {name} in {}",
                dir.display()
            ));
        }
        let usable = |u: usize, user: &User| {
            user.may_send(srv)
                && (!srv.critical || user.ds_key.is_some())
                && templates
                    .iter()
                    .any(|t| t.kinds.is_empty() || targets.has(u, &t.kinds))
        };
        let eligible: Vec<usize> = users
            .iter()
            .enumerate()
            .filter(|(u, user)| usable(*u, user))
            .map(|(u, _)| u)
            .collect();
        if eligible.is_empty() {
            let kinds: Vec<&str> = templates
                .iter()
                .flat_map(|t| t.kinds.iter().map(|k| k.as_str()))
                .collect();
            let roles: Vec<&str> = srv.roles.iter().map(|r| r.code()).collect();
            return Err(format!(
                "{field}: no User can send it: it needs one of the roles [{}]{}{}; check [users] and [targets]",
                roles.join(" "),
                if kinds.is_empty() {
                    String::new()
                } else {
                    format!(", a commissioned {} of its own", kinds.join(" or "))
                },
                if srv.critical {
                    " and a digital-signature key for the Pre-Command"
                } else {
                    ""
                }
            ));
        }
        srvs.push(SrvPlan {
            name: Arc::from(name.as_str()),
            share: *share,
            critical: srv.critical,
            templates,
            users: eligible,
        });
    }
    let weights = Weighted::new(&srvs.iter().map(|s| s.share).collect::<Vec<_>>())
        .ok_or("mix: every share is zero")?;
    let per_user = (0..users.len())
        .map(|u| {
            let w: Vec<f64> = srvs
                .iter()
                .map(|s| if s.users.contains(&u) { s.share } else { 0.0 })
                .collect();
            Weighted::new(&w)
        })
        .collect();
    Ok(Prepared {
        scenario,
        users,
        targets,
        library,
        srvs,
        weights,
        per_user,
    })
}

/// Devices of one User's connection waiting for a Signed Pre-Command (see `user_task`).
type Locked = Arc<std::sync::Mutex<HashSet<[u8; 8]>>>;

fn is_locked(locked: &Locked, target: Option<&[u8; 8]>) -> bool {
    target.is_some_and(|t| locked.lock().is_ok_and(|l| l.contains(t)))
}

fn lock(locked: &Locked, target: [u8; 8], on: bool) {
    if let Ok(mut l) = locked.lock() {
        if on {
            l.insert(target);
        } else {
            l.remove(&target);
        }
    }
}

/// What to send next on a User's connection.
#[derive(Debug)]
struct Job {
    srv: usize,
    template: usize,
    target: Option<[u8; 8]>,
    body_device: Option<[u8; 8]>,
    intended: Instant,
    kind: JobKind,
    /// When it was held back because its device was waiting for this User's own critical
    /// command, and for how long in all (added when it is let go).
    held_at: Option<Instant>,
    held_for: Duration,
}

#[derive(Debug)]
enum JobKind {
    Fresh,
    Signed {
        request_id: RequestId,
        precommand: Vec<u8>,
        transform_intended: Instant,
    },
}

/// A request written and not yet answered.
#[derive(Debug)]
struct InFlight {
    srv: usize,
    template: usize,
    request_id: RequestId,
    intended: Instant,
    transform: bool,
    transform_intended: Option<Instant>,
    tracked: bool,
}

impl Prepared {
    /// A job of SRV `s` for User `u`.
    fn job(&self, s: usize, u: usize, rng: &mut Rng, intended: Instant) -> Option<Job> {
        let plan = self.srvs.get(s)?;
        let fits: Vec<usize> = plan
            .templates
            .iter()
            .enumerate()
            .filter(|(_, t)| t.kinds.is_empty() || self.targets.has(u, &t.kinds))
            .map(|(i, _)| i)
            .collect();
        if fits.is_empty() {
            return None;
        }
        let t = fits[rng.below(fits.len())];
        let tpl = plan.templates.get(t)?;
        let target = if tpl.kinds.is_empty() {
            None
        } else {
            Some(self.targets.pick(u, &tpl.kinds, rng)?)
        };
        let body_device = if tpl.body_kinds().is_empty() {
            None
        } else {
            self.targets.pick(u, tpl.body_kinds(), rng)
        };
        Some(Job {
            srv: s,
            template: t,
            target,
            body_device,
            intended,
            kind: JobKind::Fresh,
            held_at: None,
            held_for: Duration::ZERO,
        })
    }

    fn template(&self, s: usize, t: usize) -> Option<&Template> {
        self.srvs.get(s)?.templates.get(t)
    }
}

/// How [`run`] shows progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    /// Draw a progress bar on stderr (hidden anyway when stderr is not a terminal).
    pub progress: bool,
}

struct Ctx {
    prepared: Arc<Prepared>,
    tracker: Arc<Tracker>,
    live: Arc<Live>,
    endpoint: Endpoint,
    host: String,
    late: Duration,
    depth: usize,
    /// Closed loop: no new requests after this.
    stop_fresh: Instant,
    /// Nothing is sent, and no answer awaited, after this.
    deadline: Instant,
    start: Instant,
    start_wall_ms: i64,
    closed: bool,
}

impl Ctx {
    fn wall_ms(&self, at: Instant) -> i64 {
        let since = at.saturating_duration_since(self.start).as_millis();
        self.start_wall_ms + i64::try_from(since).unwrap_or(i64::MAX / 2)
    }
}

/// Runs a prepared scenario to its end and returns the report (also written to the report
/// folder).
///
/// # Errors
///
/// Setting-up failures (listener, TLS, connecting); failures during the run are counted in
/// the report instead.
pub async fn run(prepared: Prepared, options: RunOptions) -> Result<Report, String> {
    let prepared = Arc::new(prepared);
    let sc = &prepared.scenario;
    let live = Arc::new(Live::default());
    let tracker = Arc::new(Tracker::new(Arc::clone(&live)));
    let wall0 = Instant::now();
    let cpu0 = crate::cpu::process_seconds();

    let listener = match &sc.listener {
        Some(l) => {
            let (cert, key, ca) = match (&l.cert, &l.key) {
                (Some(c), Some(k)) => (c.clone(), k.clone(), None),
                _ => {
                    let id = crate::tls::ensure_identity(&sc.report.dir, l.address)?;
                    (id.cert, id.key, id.ca)
                }
            };
            let tls = crate::tls::server_config(&cert, &key)?;
            let started = Listener::start(l.address, Some(tls), Arc::clone(&tracker))?;
            let url = format!("https://{}/duis", started.addr);
            eprintln!("loadgen: listening for responses on {url}");
            eprintln!(
                "loadgen: the gateway delivers there with HUBGATE_DELIVERY__DEFAULT_ENDPOINT={url}{}",
                ca.map(|c| format!(" and HUBGATE_DELIVERY__CA={}", c.display()))
                    .unwrap_or_default()
            );
            Some((started, url))
        }
        None => None,
    };

    let endpoint = Endpoint::parse(&sc.gateway.url).ok_or("gateway.url: no host:port")?;
    let tls = if endpoint.tls {
        let ca = sc
            .gateway
            .ca
            .as_ref()
            .ok_or("gateway.ca: needed for an https:// gateway")?;
        Some(client::tls_config(ca).map_err(|e| format!("gateway.ca: {e}"))?)
    } else {
        None
    };
    let server_name = sc.gateway.server_name.clone().unwrap_or_else(|| {
        if endpoint.host.parse::<std::net::IpAddr>().is_ok() {
            "localhost".to_string()
        } else {
            endpoint.host.clone()
        }
    });

    // Connect every User before the clock starts.
    let mut connecting = Vec::new();
    for _ in &prepared.users {
        let (e, t, n) = (endpoint.clone(), tls.clone(), server_name.clone());
        connecting.push(tokio::spawn(async move {
            client::connect(&e, t.as_ref(), &n).await
        }));
    }
    let mut streams = Vec::new();
    for c in connecting {
        streams.push(c.await.map_err(|e| e.to_string())??);
    }

    let profile: Option<Profile> = sc.profile();
    let duration = Duration::from_secs_f64(sc.duration_s());
    let answer_wait = Duration::from_secs_f64(sc.load.answer_wait_s);
    let start = Instant::now() + Duration::from_millis(50);
    let send_window = profile
        .as_ref()
        .map_or(duration, |p| Duration::from_secs_f64(p.seconds()));
    let ctx = Arc::new(Ctx {
        prepared: Arc::clone(&prepared),
        tracker: Arc::clone(&tracker),
        live: Arc::clone(&live),
        host: endpoint.authority(),
        endpoint,
        late: Duration::from_secs_f64(sc.load.late_ms / 1000.0),
        depth: sc.load.depth,
        stop_fresh: start + duration,
        deadline: start + send_window + answer_wait,
        start,
        start_wall_ms: crate::time::now_ms() + 50,
        closed: sc.load.mode == Mode::Closed,
    });

    // Counters: microseconds since the epoch at start, then one more per request; a later
    // run starts above an earlier one's last counter as long as it sent fewer than a
    // million requests per User per second of wall-clock time between them.
    let counter_base = u64::try_from(ctx.start_wall_ms).unwrap_or(0) * 1000;
    let mut senders = Vec::new();
    let mut tasks = Vec::new();
    for (u, io) in streams.into_iter().enumerate() {
        let rx = if ctx.closed {
            None
        } else {
            let (tx, rx) = mpsc::unbounded_channel();
            senders.push(tx);
            Some(rx)
        };
        let seed = sc.seed ^ (u as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        tasks.push(tokio::spawn(user_task(
            Arc::clone(&ctx),
            u,
            io,
            rx,
            counter_base,
            seed,
        )));
    }

    let planned = profile.as_ref().map(Profile::total_requests);
    let bar = progress_bar(options.progress, planned, duration);
    let ticker = {
        let (bar, live) = (bar.clone(), Arc::clone(&live));
        tokio::spawn(async move {
            let t0 = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let sent = Live::get(&live.sent);
                let secs = t0.elapsed().as_secs_f64().max(1e-3);
                if planned.is_some() {
                    bar.set_position(sent);
                } else {
                    bar.set_position(u64::try_from(t0.elapsed().as_millis()).unwrap_or(0));
                }
                bar.set_message(format!(
                    "{:.0}/s · {} acked · {} errors · {} late · {} async",
                    sent as f64 / secs,
                    Live::get(&live.acknowledged),
                    Live::get(&live.errors),
                    Live::get(&live.late),
                    Live::get(&live.delivered)
                ));
            }
        })
    };

    let mut total = ConnStats::default();
    if let Some(p) = &profile {
        total.not_sent += generate(&ctx, senders, p, sc.seed).await;
    }
    for t in tasks {
        match t.await {
            Ok(s) => total.merge(&s),
            Err(e) => {
                *total
                    .connection_errors
                    .entry(format!("a connection task failed: {e}"))
                    .or_default() += 1;
            }
        }
    }
    let send_seconds = total
        .last_send
        .map_or(0.0, |l| l.saturating_duration_since(start).as_secs_f64());
    // loadgen's own CPU over the run proper (set-up and sending), not the drain below.
    let cpu_seconds = crate::cpu::process_seconds().zip(cpu0).map(|(b, a)| b - a);
    let wall_seconds = wall0.elapsed().as_secs_f64();

    // Give the gateway time to deliver what is still owed.
    let asynchronous = match listener {
        Some((l, url)) => {
            let drain = Duration::from_secs_f64(sc.listener.as_ref().map_or(0.0, |l| l.drain_s));
            let until = Instant::now() + drain;
            while tracker.outstanding() > 0 && Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let summary = tracker.summary();
            l.stop().await;
            Some((summary, url))
        }
        None => None,
    };
    ticker.abort();
    bar.finish_and_clear();

    let facts = RunFacts {
        scenario: sc.name.clone(),
        started_ms: ctx.start_wall_ms,
        gateway: sc.gateway.url.clone(),
        mode: match sc.load.mode {
            Mode::Open => "open".into(),
            Mode::Closed => "closed".into(),
        },
        load: sc.load_summary(),
        users: prepared.users.len(),
        hubs: prepared.targets.hubs(),
        devices: prepared.targets.devices(),
        send_seconds,
        planned,
        requested_rate: profile.as_ref().map(Profile::mean_rate),
        peak_rate: profile.as_ref().map(Profile::peak_rate),
        late_ms: sc.load.late_ms,
        cpu_seconds,
        wall_seconds,
        listener: asynchronous.as_ref().map(|(_, u)| u.clone()),
    };
    let report = Report::build(&facts, &total, asynchronous.map(|(s, _)| s));
    report.write(&sc.report.dir)?;
    Ok(report)
}

fn progress_bar(show: bool, planned: Option<u64>, duration: Duration) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let (len, unit) = match planned {
        Some(n) => (n, "{pos}/{len} requests"),
        None => (
            u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            "closed loop",
        ),
    };
    let bar = ProgressBar::new(len);
    let template = format!("{{elapsed_precise}} [{{bar:30}}] {unit} · {{msg}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// The open-loop generator: queues each request to its User at its intended time. Returns
/// how many could not be queued (their User's connection had failed).
async fn generate(
    ctx: &Arc<Ctx>,
    senders: Vec<mpsc::UnboundedSender<Job>>,
    profile: &Profile,
    seed: u64,
) -> u64 {
    let p = &ctx.prepared;
    let mut rng = Rng::new(seed);
    let mut cursors = vec![0usize; p.srvs.len()];
    let mut not_sent = 0;
    for offset in profile.schedule() {
        let at = ctx.start + offset;
        if at > Instant::now() {
            tokio::time::sleep_until(at.into()).await;
        }
        let s = p.weights.pick(&mut rng);
        let Some(plan) = p.srvs.get(s) else { continue };
        let Some(c) = cursors.get_mut(s) else {
            continue;
        };
        let u = plan.users[*c % plan.users.len()];
        *c += 1;
        match p.job(s, u, &mut rng, at) {
            Some(job) => {
                if senders.get(u).is_none_or(|tx| tx.send(job).is_err()) {
                    not_sent += 1;
                }
            }
            None => not_sent += 1,
        }
    }
    not_sent
}

/// The response code of a DUIS answer (`-` when the body is not one) and the Pre-Command it
/// carries, if any (read by [`crate::answer::scan`]).
fn read_answer(body: &[u8]) -> (String, Option<Vec<u8>>) {
    match crate::answer::scan(body) {
        Ok(a) => (a.response_code.to_string(), a.precommand),
        Err(_) => ("-".into(), None),
    }
}

/// One User's connection: writer here, reader on a task of its own.
async fn user_task(
    ctx: Arc<Ctx>,
    u: usize,
    io: Box<dyn client::Io>,
    mut jobs: Option<mpsc::UnboundedReceiver<Job>>,
    counter_base: u64,
    seed: u64,
) -> ConnStats {
    let (rd, mut wr) = tokio::io::split(io);
    let (inflight_tx, inflight_rx) = mpsc::unbounded_channel::<InFlight>();
    let (follow_tx, mut follow_rx) = mpsc::unbounded_channel::<Job>();
    let permits = Arc::new(Semaphore::new(ctx.depth));
    let dead = Arc::new(AtomicBool::new(false));
    let transforms_open = Arc::new(AtomicU64::new(0));
    // Devices with a Transform sent whose Signed Pre-Command has not been sent yet. The
    // Pre-Command carries the Transform's RequestID counter, and a device takes commands from
    // a User only with increasing counters: anything sent to that device in between (with a
    // higher counter) would make it discard the Signed Pre-Command as a replay. So requests
    // to such a device wait, as a real User's would.
    let locked: Locked = Arc::new(std::sync::Mutex::new(HashSet::new()));
    let mut deferred: VecDeque<Job> = VecDeque::new();
    let reader = tokio::spawn(read_answers(
        Arc::clone(&ctx),
        AnswerReader::new(rd),
        inflight_rx,
        follow_tx,
        Arc::clone(&permits),
        Arc::clone(&dead),
        Arc::clone(&transforms_open),
        Arc::clone(&locked),
    ));

    let mut st = ConnStats::default();
    let mut rng = Rng::new(seed);
    let mut counter = counter_base;
    let mut fresh_done = false;
    let p = Arc::clone(&ctx.prepared);
    let Some(user) = p.users.get(u) else {
        return st;
    };
    loop {
        if dead.load(Ordering::Relaxed) {
            break;
        }
        let ready = deferred
            .iter()
            .position(|j| !is_locked(&locked, j.target.as_ref()));
        let mut job = if let Some(mut j) = ready.and_then(|i| deferred.remove(i)) {
            if let Some(at) = j.held_at.take() {
                j.held_for += at.elapsed();
            }
            j
        } else {
            match follow_rx.try_recv() {
                Ok(j) => j,
                Err(_) if fresh_done => {
                    if transforms_open.load(Ordering::Acquire) == 0 {
                        match follow_rx.try_recv() {
                            Ok(j) => j,
                            Err(_) => break,
                        }
                    } else {
                        match tokio::time::timeout(Duration::from_millis(20), follow_rx.recv())
                            .await
                        {
                            Ok(Some(j)) => j,
                            Ok(None) => break,
                            Err(_) => {
                                if Instant::now() > ctx.deadline {
                                    break;
                                }
                                continue;
                            }
                        }
                    }
                }
                Err(_) => match &mut jobs {
                    Some(rx) => tokio::select! {
                        biased;
                        Some(j) = follow_rx.recv() => j,
                        j = rx.recv() => match j {
                            Some(j) => j,
                            None => {
                                fresh_done = true;
                                continue;
                            }
                        },
                    },
                    None => {
                        let now = Instant::now();
                        if now >= ctx.stop_fresh {
                            fresh_done = true;
                            continue;
                        }
                        let Some(w) = p.per_user.get(u).and_then(Option::as_ref) else {
                            fresh_done = true;
                            continue;
                        };
                        let s = w.pick(&mut rng);
                        match p.job(s, u, &mut rng, now) {
                            Some(j) => j,
                            None => {
                                st.build_failures += 1;
                                Live::bump(&ctx.live.errors);
                                continue;
                            }
                        }
                    }
                },
            }
        };
        if matches!(job.kind, JobKind::Fresh) && is_locked(&locked, job.target.as_ref()) {
            job.held_at.get_or_insert_with(Instant::now);
            deferred.push_back(job);
            if fresh_done {
                // Wait for the Transform answers that will release the device.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            continue;
        }
        let Some(tpl) = p.template(job.srv, job.template) else {
            st.build_failures += 1;
            continue;
        };
        let srv_name = Arc::clone(&p.srvs[job.srv].name);
        // Build and sign.
        let built = match &job.kind {
            JobKind::Fresh => {
                counter += 1;
                tpl.render(user, job.target, counter, job.body_device)
                    .and_then(|(doc, id)| templates::sign(user, &doc).map(|b| (b, id)))
                    .map(|(b, id)| (b, id, tpl.path()))
            }
            JobKind::Signed {
                request_id,
                precommand,
                ..
            } => templates::signed_precommand_request(
                user,
                *request_id,
                &srv_name,
                precommand,
                tpl.execution.as_deref(),
            )
            .map(|b| (b, *request_id, templates::service_path(5))),
        };
        let (body, request_id, path) = match built {
            Ok(b) => b,
            Err(e) => {
                st.build_failures += 1;
                if matches!(job.kind, JobKind::Signed { .. }) {
                    st.srv(&srv_name).signing_failures += 1;
                }
                Live::bump(&ctx.live.errors);
                if st.build_failures == 1 {
                    eprintln!("loadgen: {}: {e}", user.name);
                }
                continue;
            }
        };
        // A free slot on the connection.
        let permit = tokio::select! {
            p = permits.acquire() => p,
            () = tokio::time::sleep_until(ctx.deadline.into()) => {
                st.not_sent += 1;
                continue;
            }
        };
        let Ok(permit) = permit else { break };
        permit.forget();
        let now = Instant::now();
        let intended = if ctx.closed && matches!(job.kind, JobKind::Fresh) {
            now
        } else {
            job.intended
        };
        if !ctx.closed && matches!(job.kind, JobKind::Fresh) {
            let (own, lateness) = send_lateness(
                now.saturating_duration_since(intended),
                job.held_for,
                ctx.late,
            );
            st.lateness.record(own);
            st.max_late_us = st
                .max_late_us
                .max(u64::try_from(own.as_micros()).unwrap_or(u64::MAX));
            match lateness {
                Lateness::Late => {
                    st.late_sends += 1;
                    Live::bump(&ctx.live.late);
                }
                Lateness::Held => st.late_held += 1,
                Lateness::OnTime => {}
            }
        }
        let transform = tpl.is_transform() && matches!(job.kind, JobKind::Fresh);
        let transform_intended = match &job.kind {
            JobKind::Signed {
                transform_intended, ..
            } => Some(*transform_intended),
            JobKind::Fresh => None,
        };
        // Device requests that are acknowledged get a response later: track them.
        let tracked = !tpl.kinds.is_empty() && !transform;
        if tracked {
            let from = transform_intended.unwrap_or(intended);
            let deadline_ms = match tpl.execution_ms {
                Some(exec) => exec.saturating_add(tracker::FUTURE_DATED_TARGET_MS),
                None => ctx.wall_ms(from) + tracker::ON_DEMAND_TARGET_MS,
            };
            ctx.tracker.expect(
                &request_id.originator,
                request_id.counter,
                Arc::clone(&srv_name),
                from,
                deadline_ms,
            );
        }
        if transform {
            transforms_open.fetch_add(1, Ordering::AcqRel);
        }
        // Before the request leaves, so the reader's release cannot come first.
        if let Some(t) = job.target {
            if transform {
                lock(&locked, t, true);
            } else if transform_intended.is_some() {
                lock(&locked, t, false);
            }
        }
        let sent = InFlight {
            srv: job.srv,
            template: job.template,
            request_id,
            intended,
            transform,
            transform_intended,
            tracked,
        };
        if inflight_tx.send(sent).is_err() {
            st.not_sent += 1;
            break;
        }
        let wire = client::post(&ctx.host, path, &body);
        let wrote = async {
            wr.write_all(&wire).await?;
            wr.flush().await
        }
        .await;
        if let Err(e) = wrote {
            *st.connection_errors
                .entry(format!("writing to {}: {e}", ctx.endpoint.authority()))
                .or_default() += 1;
            dead.store(true, Ordering::Relaxed);
            break;
        }
        st.last_send = Some(st.last_send.map_or(now, |l| l.max(now)));
        Live::bump(&ctx.live.sent);
        let s = st.srv(&srv_name);
        s.sent += 1;
        if transform {
            s.transforms += 1;
        }
        if transform_intended.is_some() {
            s.signed_sent += 1;
        }
    }
    // Whatever is still queued for this User is not sent.
    if let Some(rx) = &mut jobs {
        rx.close();
        while rx.try_recv().is_ok() {
            st.not_sent += 1;
        }
    }
    drop(inflight_tx);
    match reader.await {
        Ok(r) => st.merge(&r),
        Err(e) => {
            *st.connection_errors
                .entry(format!("answer reader failed: {e}"))
                .or_default() += 1;
        }
    }
    let _ = wr.shutdown().await;
    st
}

/// How a send of an open loop compares with its intended time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lateness {
    /// Within the threshold.
    OnTime,
    /// Late by more than the threshold through the generator or the connection.
    Late,
    /// Late by more than the threshold only because the User held it back.
    Held,
}

/// Classifies a send that left `late` after its intended time, of which the User itself held
/// it back for `held_for` (its critical command to the same device was still open): that
/// hold is late by the workload's design, not because the generator or the connection could
/// not keep the rate, so it is left out of the lateness (the latency still counts from the
/// intended time). Lateness before or after the hold still counts. Returns the lateness
/// that counts and the class.
fn send_lateness(late: Duration, held_for: Duration, threshold: Duration) -> (Duration, Lateness) {
    let own = late.saturating_sub(held_for);
    let class = if own > threshold {
        Lateness::Late
    } else if late > threshold {
        Lateness::Held
    } else {
        Lateness::OnTime
    };
    (own, class)
}

/// Reads the answers of one connection in order.
#[allow(clippy::too_many_arguments)] // the connection's shared state, passed apart on purpose
async fn read_answers<R: tokio::io::AsyncRead + Unpin>(
    ctx: Arc<Ctx>,
    mut reader: AnswerReader<R>,
    mut inflight: mpsc::UnboundedReceiver<InFlight>,
    follow: mpsc::UnboundedSender<Job>,
    permits: Arc<Semaphore>,
    dead: Arc<AtomicBool>,
    transforms_open: Arc<AtomicU64>,
    locked: Locked,
) -> ConnStats {
    let mut st = ConnStats::default();
    let p = Arc::clone(&ctx.prepared);
    while let Some(f) = inflight.recv().await {
        let srv_name = Arc::clone(&p.srvs[f.srv].name);
        let answer = tokio::select! {
            a = reader.next() => a,
            () = tokio::time::sleep_until(ctx.deadline.into()) => {
                Err("no answer before the end of the run".to_string())
            }
        };
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                *st.connection_errors.entry(e).or_default() += 1;
                st.lost += 1;
                Live::bump(&ctx.live.errors);
                if f.transform {
                    transforms_open.fetch_sub(1, Ordering::AcqRel);
                }
                dead.store(true, Ordering::Relaxed);
                permits.close();
                inflight.close();
                while let Some(g) = inflight.recv().await {
                    st.lost += 1;
                    if g.transform {
                        transforms_open.fetch_sub(1, Ordering::AcqRel);
                    }
                }
                break;
            }
        };
        let now = Instant::now();
        let (code, precommand) = read_answer(&answer.body);
        let ok = answer.status == 200 && (code == "I0" || code == "I99");
        {
            let s = st.srv(&srv_name);
            s.answered += 1;
            *s.codes
                .entry(format!("{} {code}", answer.status))
                .or_default() += 1;
            s.ack.record(now.saturating_duration_since(f.intended));
            if ok {
                s.acknowledged += 1;
            }
        }
        if ok {
            Live::bump(&ctx.live.acknowledged);
        } else {
            Live::bump(&ctx.live.errors);
        }
        if f.tracked {
            if ok && code == "I99" {
                ctx.tracker
                    .acknowledged(&f.request_id.originator, f.request_id.counter);
            } else {
                ctx.tracker
                    .forget(&f.request_id.originator, f.request_id.counter);
            }
        }
        if let Some(t0) = f.transform_intended
            && ok
            && code == "I99"
        {
            let s = st.srv(&srv_name);
            s.signed_acknowledged += 1;
            s.critical_loop.record(now.saturating_duration_since(t0));
        }
        if f.transform {
            if let (true, Some(pre)) = (ok && code == "I0", precommand) {
                st.srv(&srv_name).precommands += 1;
                let job = Job {
                    srv: f.srv,
                    template: f.template,
                    target: Some(f.request_id.target),
                    body_device: None,
                    intended: now,
                    kind: JobKind::Signed {
                        request_id: f.request_id,
                        precommand: pre,
                        transform_intended: f.intended,
                    },
                    held_at: None,
                    held_for: Duration::ZERO,
                };
                if follow.send(job).is_err() {
                    st.srv(&srv_name).signing_failures += 1;
                    lock(&locked, f.request_id.target, false);
                }
            } else {
                // No Pre-Command: nothing will follow, the device is free again.
                lock(&locked, f.request_id.target, false);
            }
            // After the follow-up is queued, so the writer never sees zero open transforms
            // while a follow-up is still on its way.
            transforms_open.fetch_sub(1, Ordering::AcqRel);
        }
        permits.add_permits(1);
    }
    st
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: f64) -> Duration {
        Duration::from_secs_f64(v / 1000.0)
    }

    #[test]
    fn a_hold_by_the_user_is_not_lateness_but_what_comes_before_or_after_it_is() {
        let threshold = ms(1.0);
        // On time, held or not.
        assert_eq!(
            send_lateness(ms(0.5), Duration::ZERO, threshold),
            (ms(0.5), Lateness::OnTime)
        );
        assert_eq!(
            send_lateness(ms(0.9), ms(0.4), threshold),
            (ms(0.5), Lateness::OnTime)
        );
        // Late with no hold.
        assert_eq!(
            send_lateness(ms(5.0), Duration::ZERO, threshold),
            (ms(5.0), Lateness::Late)
        );
        // Late only through the hold: 4.5 ms of 5 ms held.
        assert_eq!(
            send_lateness(ms(5.0), ms(4.5), threshold),
            (ms(0.5), Lateness::Held)
        );
        // Held, and late beyond the hold too: 3 ms of 5 ms held leaves 2 ms that count.
        assert_eq!(
            send_lateness(ms(5.0), ms(3.0), threshold),
            (ms(2.0), Lateness::Late)
        );
        // A hold that began before the intended time is longer than the lateness.
        assert_eq!(
            send_lateness(ms(5.0), ms(8.0), threshold),
            (Duration::ZERO, Lateness::Held)
        );
        // The threshold itself is not late.
        assert_eq!(
            send_lateness(threshold, Duration::ZERO, threshold),
            (threshold, Lateness::OnTime)
        );
    }
}
