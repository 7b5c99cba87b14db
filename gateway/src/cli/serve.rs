//! `hubgate serve`: the DCC User Gateway.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use hubgate_gateway::anomaly::{self, Anomaly};
use hubgate_gateway::clock::{Clock, PinnedClock, SystemClock};
use hubgate_gateway::config::Config;
use hubgate_gateway::delivery::{self, Delivery};
use hubgate_gateway::emulation::Estate;
use hubgate_gateway::group_commit::GroupCommit;
use hubgate_gateway::ingress::pipeline::Pipeline;
use hubgate_gateway::ingress::registration_push::{self, RegistrationPush, TokenSource};
use hubgate_gateway::ingress::respond::Responder;
use hubgate_gateway::ingress::server::{self, Listeners};
use hubgate_gateway::ingress::{devices::InventoryDirectory, tls};
use hubgate_gateway::inventory::Inventory;
use hubgate_gateway::performance;
use hubgate_gateway::pki::Pki;
use hubgate_gateway::registration::{self as registration_data, RegistrationData};
use hubgate_gateway::routing::{HubStateStore, PendingTable, ResponseSink, Router, RouterParts};
use hubgate_gateway::say;
use hubgate_gateway::store::Store;
use hubgate_gateway::verifier::{PoolConfig, VerifierPool};

/// Arguments of `hubgate serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Configuration file (TOML; `hubgate config example` prints one). `HUBGATE_*`
    /// environment variables override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory (store, local test PKI, TLS files).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// DUIS listener address (port 0 picks a free port; the address is printed).
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
    /// Prometheus metrics listener address.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<std::net::SocketAddr>,
    /// A DCC Boxed key folder (e.g. ../shared/conformance/smki): its test Users and its DSP
    /// XML-signing key replace the local test PKI.
    #[arg(long, value_name = "DIR")]
    smki: Option<PathBuf>,
    /// Serve plain HTTP instead of HTTPS on the DUIS listener (explicit opt-in).
    #[arg(long)]
    plain_http: bool,
    /// Inventory file (CSV or JSON) to import at start; rows in error are reported.
    #[arg(long, value_name = "FILE")]
    inventory: Option<PathBuf>,
    /// Registration data file (CSV or JSON) to load at start.
    #[arg(long, value_name = "FILE")]
    registration: Option<PathBuf>,
    /// A folder of device certificates (and any further party keys) to add to the gateway's
    /// key store, as the DCC holds the SMKI certificates of the devices it commands (e.g.
    /// ../shared/conformance/gbcs/keystore for the RTDS devices); repeatable.
    #[arg(long, value_name = "DIR")]
    device_keys: Vec<PathBuf>,
    /// SM WAN coverage table (CSV) for 12.1 Request WAN Matrix.
    #[arg(long, value_name = "FILE")]
    wan_matrix: Option<PathBuf>,
}

fn init_logging(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_new(&config.logging.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if config.logging.json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Runs the gateway until SIGTERM/SIGINT.
pub fn run(args: Args) -> anyhow::Result<i32> {
    let mut config = Config::load(args.config.as_deref(), std::env::vars())?;
    if let Some(d) = args.data_dir {
        config.data_dir = d;
    }
    if let Some(l) = args.listen {
        config.listen = l;
    }
    if let Some(m) = args.metrics_listen {
        config.metrics_listen = m;
    }
    if let Some(s) = args.smki {
        config.smki_dir = Some(s);
    }
    if args.plain_http {
        config.tls.enabled = false;
    }
    config.validate()?;
    init_logging(&config);

    // Installed before anything takes metric handles (the verifier threads do at start).
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    // Histogram samples wait in the recorder until the next scrape or upkeep: without a
    // periodic upkeep they pile up for as long as nobody scrapes (memory grows with every
    // request).
    let upkeep = prometheus.clone();
    std::thread::Builder::new()
        .name("hubgate-metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(5));
                upkeep.run_upkeep();
            }
        })
        .context("starting the metrics upkeep thread")?;
    hubgate_gateway::metric_name::describe();
    hubgate_actors::metric_name::describe();
    let clock: Arc<dyn Clock> = match (&config.clock.follow_file, config.clock.pinned_ms()) {
        (Some(file), start) => hubgate_gateway::schedules::virtual_time::follow(
            file.clone(),
            start.unwrap_or_else(|| SystemClock.now_ms()),
        )
        .context("starting the virtual clock")?,
        (None, Some(ms)) => Arc::new(PinnedClock::at(ms)),
        (None, None) => Arc::new(SystemClock),
    };
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    // TLS peers check certificates against their own clocks, so the local TLS certificates
    // are dated (and renewed) by the system clock, not by a pinned or virtual one: a gateway
    // whose clock runs ahead must not present a certificate that is not yet valid.
    let pki =
        Pki::open(&config, SystemClock.now_ms().div_euclid(1000)).context("opening the PKI")?;
    say!("{}", pki.summary());

    let cache = usize::try_from(config.store_cache_mib.max(1))
        .unwrap_or(usize::MAX >> 20)
        .saturating_mul(1 << 20);
    let store =
        Arc::new(Store::open_with_cache(&config.data_dir, cache).context("opening the store")?);
    let inventory = Arc::new(Inventory::open(Arc::clone(&store)).context("opening the inventory")?);
    // The monthly Code Performance Measures tally: answers are timed by the response writer
    // (routing), counted in memory and flushed to the store every flush interval.
    let tally = Arc::new(performance::Tally::new(
        Arc::clone(&store),
        Arc::clone(&clock),
        performance::Settings::from_config(&config),
    ));
    performance::install(Arc::clone(&tally));
    if let Err(e) = tally.publish(tally.current_month()) {
        tracing::error!(error = %e, "reading the performance tally");
    }
    let flusher =
        performance::start_flusher(Arc::clone(&tally)).context("starting the performance tally")?;
    say!(
        "performance: Code Performance Measures tally (on-demand target {} ms), report at GET {} on the metrics listener",
        config.performance.on_demand_target_ms,
        performance::PATH
    );
    // Registration data: what earlier starts and pushes stored, then the file (if any).
    let registration = Arc::new(RegistrationData::with_limits(registration_data::Limits {
        max_body_bytes: config.registration.max_push_bytes,
        ..Default::default()
    }));
    let stored =
        registration_data::persist::load(&*store.db()?).context("loading registration data")?;
    if !stored.is_empty() {
        registration.refresh(stored);
        say!(
            "registration data: {} records from the store",
            registration.len()
        );
    }
    if let Some(path) = &args.registration {
        let report = registration
            .refresh_from_file(path)
            .with_context(|| format!("loading registration data {}", path.display()))?;
        registration_data::persist::save_changes(&*store.db()?, &report.changes())
            .context("storing registration data")?;
        say!(
            "registration data {}: {}",
            path.display(),
            serde_json::to_string(&report.summary(5)).unwrap_or_default()
        );
    }
    let (push_token, token_source) =
        registration_push::push_token(&config).context("setting up the registration push token")?;
    let push = Arc::new(RegistrationPush::new(
        Arc::clone(&registration),
        Arc::clone(&store),
        push_token,
        config.registration.max_push_bytes,
    ));
    match token_source {
        TokenSource::Config => say!(
            "registration push: POST {} with the bearer token in registration.push_token",
            registration_push::PATH
        ),
        TokenSource::File { path, created } => say!(
            "registration push: POST {} with the bearer token in {}{}",
            registration_push::PATH,
            path.display(),
            if created { " (new)" } else { "" }
        ),
    }

    // Responses and alerts for Users: delivered to their endpoints, or kept to be pulled.
    let delivery = Arc::new(
        Delivery::start(
            Arc::clone(&store),
            delivery::Settings::from_config(&config).context("configuring delivery")?,
            Arc::clone(&clock),
        )
        .context("starting delivery")?,
    );
    let pull_tokens =
        delivery::identity::PullTokens::from_config(&config).context("configuring pull tokens")?;
    let stats = delivery.stats();
    say!(
        "delivery: {} Users with an endpoint, {} messages waiting, {} kept for pulling (GET {})",
        config
            .users
            .values()
            .filter(|u| u.delivery_endpoint.is_some())
            .count(),
        stats.pending,
        stats.backlog,
        delivery::pull::PATH
    );
    let pull = Arc::new(delivery::pull::PullEndpoint::new(
        Arc::clone(&delivery),
        pull_tokens,
    ));
    // Service Requests per User and month (Annex 5 Table 5.3), counted at check 7 in memory
    // and flushed with the performance tally's interval; forecasts and the 110 % report.
    let demand = Arc::new(hubgate_gateway::demand::Demand::new(
        Arc::clone(&store),
        Arc::clone(&clock),
        Some(hubgate_gateway::demand::Sources {
            inventory: Arc::clone(&inventory),
            registration: Arc::clone(&registration),
        }),
        std::time::Duration::from_millis(config.performance.flush_interval_ms),
    ));
    hubgate_gateway::demand::install(Arc::clone(&demand));

    let wan = match &args.wan_matrix {
        Some(p) => hubgate_gateway::inventory::WanMatrix::load(p)
            .with_context(|| format!("loading the WAN coverage table {}", p.display()))?,
        None => hubgate_gateway::inventory::WanMatrix::new(),
    };
    let users = Arc::new(
        pki.registry()
            .context("building the User registry")?
            .with_overrides(&config.users)
            .context("applying the users.<User ID> settings")?,
    );
    let pool_cfg = PoolConfig {
        threads: config
            .verifier_pool
            .threads_for(std::thread::available_parallelism().map_or(2, |n| n.get())),
        max_batch: config.verifier_pool.max_batch,
        queue_capacity: config.verifier_pool.queue_capacity,
        inline_when_idle: config.verifier_pool.inline_when_idle,
    };
    let pool = VerifierPool::start(pool_cfg, Arc::clone(&users) as _)
        .context("starting verifier threads")?;
    let responder = Responder::new(pki.dsp().to_signing_key()?, pki.dsp().certificate().clone());
    let acb = pki.acb_id().unwrap_or_else(|| {
        tracing::warn!(
            "the key material has no Access Control Broker: device requests cannot be sent"
        );
        [0; 8]
    });
    // Alert-storm throttling, the per-hub alert thresholds and the QuarantinedRequest alert.
    let alert_guard = hubgate_gateway::alerts::AlertGuard::start(
        &config,
        Arc::clone(&store),
        hubgate_gateway::alerts::AlertOutput {
            responder: Arc::new(Responder::new(
                pki.dsp().to_signing_key()?,
                pki.dsp().certificate().clone(),
            )),
            delivery: Arc::clone(&delivery),
            recipients: hubgate_gateway::alerts::Recipients::new(
                Arc::clone(&inventory),
                Arc::clone(&registration),
                Arc::clone(&users),
                acb,
            ),
            clock: Arc::clone(&clock),
        },
    )
    .context("starting the alert thread")?;
    // The requests acknowledged but not answered before the last stop, read once: the
    // schedules take their executions in flight from it, then the router sends it again.
    let journal =
        hubgate_gateway::journal::read_all(&store).context("reading the request journal")?;
    // DSP schedules (SR 5.1-5.3): their runner starts once routing is up.
    let schedules = Arc::new(
        hubgate_gateway::schedules::Schedules::new(
            hubgate_gateway::schedules::Parts {
                store: Arc::clone(&store),
                inventory: Arc::clone(&inventory),
                users: Arc::clone(&users),
                registration: Arc::clone(&registration),
                clock: Arc::clone(&clock),
                responder: Responder::new(
                    pki.dsp().to_signing_key()?,
                    pki.dsp().certificate().clone(),
                ),
                delivery: Arc::clone(&delivery),
                settings: hubgate_gateway::schedules::Settings {
                    max_per_user: usize::try_from(config.schedules.max_per_user)
                        .unwrap_or(usize::MAX),
                    tick: std::time::Duration::from_millis(config.schedules.tick_ms),
                },
            },
            &journal,
        )
        .context("opening the schedules")?,
    );
    // The store's committer: the acknowledged requests' writes, and the barriers that make
    // the response writer's batches durable with them.
    let commit = Arc::new(
        GroupCommit::start_with_delay(
            Arc::clone(&store),
            config.store_write_queue,
            1024,
            std::time::Duration::from_micros(config.store_commit_delay_us),
        )
        .context("starting the store committer")?,
    );
    let mut image_hubs = Vec::new();
    let mut smwan_images = None;
    let router = if config.routing.enabled {
        Some(start_routing(
            &config,
            &commit,
            &pki,
            &args.device_keys,
            acb,
            &inventory,
            &registration,
            &store,
            &clock,
            &delivery,
            Responder::new(pki.dsp().to_signing_key()?, pki.dsp().certificate().clone())
                // SR 11.3: an activated firmware version is recorded in the inventory.
                .with_hook(Arc::new(hubgate_gateway::firmware::ActivationHook::new(
                    Arc::clone(&inventory),
                    Some(Arc::clone(&schedules) as _),
                ))),
            &alert_guard,
            &users,
            &mut image_hubs,
            &mut smwan_images,
            journal,
        )?)
    } else {
        say!(
            "routing disabled: device requests are acknowledged and NOT sent (routing.enabled = false)"
        );
        None
    };
    // After the emulated premises are recorded, so an imported device may name their hubs.
    if let Some(path) = &args.inventory {
        let report =
            hubgate_gateway::inventory::import::import_file(&inventory, path, Default::default())
                .with_context(|| format!("importing {}", path.display()))?;
        say!(
            "inventory {}: {} rows, {} imported, {} refused",
            path.display(),
            report.rows,
            report.imported,
            report.failed
        );
        for e in &report.errors {
            say!(
                "  line {}: {} ({})",
                e.line,
                e.reason,
                e.device_id.as_deref().unwrap_or("no device ID")
            );
        }
    }
    schedules
        .start(router.clone())
        .context("starting the schedule runner")?;
    say!(
        "schedules: {} held, runner every {} ms",
        schedules.table().len(),
        config.schedules.tick_ms
    );
    // SR 11.1: images to the hubs rigs registered over the SMWAN link and to the in-process
    // hubs; distributions left unfinished resume.
    let emulated_images: Arc<dyn hubgate_gateway::firmware::ImageLink> =
        Arc::new(hubgate_gateway::firmware::EmulatedLink::new(image_hubs));
    let images: Arc<dyn hubgate_gateway::firmware::ImageLink> = match &smwan_images {
        Some(smwan) => Arc::new(hubgate_gateway::smwan::SmwanLink::images(
            smwan,
            emulated_images,
        )),
        None => emulated_images,
    };
    let firmware = hubgate_gateway::firmware::Firmware::start(hubgate_gateway::firmware::Parts {
        store: Arc::clone(&store),
        inventory: Arc::clone(&inventory),
        link: images,
        responder: Responder::new(pki.dsp().to_signing_key()?, pki.dsp().certificate().clone()),
        delivery: Arc::clone(&delivery),
        clock: Arc::clone(&clock),
        config: config.firmware.clone(),
    })
    .context("starting the firmware distribution")?;
    let pipeline = Arc::new(Pipeline {
        users,
        pool,
        store: Arc::clone(&store),
        commit: Arc::clone(&commit),
        devices: Arc::new(
            InventoryDirectory::new(Arc::clone(&inventory))
                .with_wan_matrix(wan)
                .with_schedules(Arc::clone(&schedules)),
        ),
        registration,
        anomaly: Arc::new(
            Anomaly::from_config(&config.anomaly)
                .context("anomaly.overrides")?
                .with_alerts(Arc::clone(&alert_guard)),
        ),
        responder,
        clock,
        router,
        acb,
        limits: config.limits.xml_limits(),
        firmware: Some(firmware),
        counters: Default::default(),
    });

    let https = if config.tls.enabled {
        let cert = config.tls_cert_path();
        let key = config.tls_key_path();
        let client_ca = if config.tls.mutual_tls {
            config.client_ca_path()
        } else {
            None
        };
        Some((
            config.listen,
            tls::server_config(&cert, &key, client_ca.as_deref())?,
        ))
    } else {
        None
    };
    let plain = if config.tls.enabled {
        config.plain_http_listen
    } else {
        Some(config.listen)
    };
    let listeners = Listeners {
        https,
        plain_http: plain,
        metrics: Some(config.metrics_listen),
        max_body_bytes: config.limits.max_request_bytes,
        max_device_body_bytes: config.limits.max_device_request_bytes,
        max_inflight_body_bytes: config.limits.max_inflight_request_bytes,
        shutdown_timeout_s: 30,
        workers: 0,
    };
    let (admin_token, admin_source) =
        anomaly::admin::admin_token(&config).context("setting up the quarantine admin token")?;
    match admin_source {
        TokenSource::Config => say!(
            "quarantine admin: {} with the bearer token in anomaly.admin_token",
            anomaly::admin::PATH
        ),
        TokenSource::File { path, created } => say!(
            "quarantine admin: {} with the bearer token in {}{}",
            anomaly::admin::PATH,
            path.display(),
            if created { " (new)" } else { "" }
        ),
    }
    if !config.anomaly.enabled {
        say!("anomaly detection disabled (anomaly.enabled = false): nothing is quarantined");
    }
    let quarantine = Arc::new(anomaly::admin::AdminEndpoint::new(
        Arc::clone(&store),
        Arc::clone(&pipeline),
        Arc::clone(&delivery),
        admin_token,
    ));
    // Started once the inventory holds the emulated premises: the first flush may take the
    // month's count of enrolled Smart Metering Systems.
    let demand_flusher = hubgate_gateway::demand::start_flusher(Arc::clone(&demand))
        .context("starting the demand counts")?;
    let forecasts = Arc::new(hubgate_gateway::demand::http::ForecastEndpoint::new(
        Arc::clone(&demand),
        anomaly::admin::admin_token(&config)
            .context("setting up the forecast admin token")?
            .0,
        delivery::identity::PullTokens::from_config(&config).context("configuring pull tokens")?,
    ));
    say!(
        "demand: forecasts at {} (a User with its pull token or certificate, operators with the quarantine admin token); report at GET {} on the metrics listener",
        hubgate_gateway::demand::http::FORECASTS_PATH,
        hubgate_gateway::demand::http::REPORT_PATH
    );
    let extras = server::Extras {
        pull: Some(pull),
        registration_push: Some(push),
        quarantine: Some(quarantine),
        performance: Some(Arc::clone(&tally)),
        forecasts: Some(forecasts),
        demand: Some(Arc::clone(&demand)),
    };
    actix_web::rt::System::new().block_on(server::run(
        listeners,
        pipeline,
        Some(prometheus),
        extras,
    ))?;
    if let Err(e) = demand_flusher.stop() {
        tracing::error!(error = %e, "writing the demand counts at shutdown");
    }
    // The answers counted since the last flush.
    if let Err(e) = flusher.stop() {
        tracing::error!(error = %e, "writing the performance tally at shutdown");
    }
    say!("hubgate: stopped");
    Ok(0)
}

/// The parties emulated devices trust: with the local test PKI the demo import supplier (or,
/// with `emulation.suppliers = "load-test"`, each load-test User in turn) and the demo
/// electricity distributor, with a DCC Boxed folder its supplier and network operator.
fn emulation_parties(config: &Config, acb: [u8; 8]) -> Vec<hubgate_hil_rig::Parties> {
    if config.smki_dir.is_some() {
        return vec![hubgate_hil_rig::Parties {
            acb,
            ..hubgate_hil_rig::Parties::RTDS
        }];
    }
    let demo = hubgate_hil_rig::Parties {
        supplier: [0x90, 0xb3, 0xd5, 0x1f, 0x40, 0x01, 0x00, 0x00],
        network_operator: [0x90, 0xb3, 0xd5, 0x1f, 0x40, 0x04, 0x00, 0x00],
        acb,
    };
    if config.emulation.suppliers != "load-test" {
        return vec![demo];
    }
    hubgate_gateway::pki::generate::local_users(config.pki.load_test_users)
        .into_iter()
        .filter(|u| u.name.starts_with("load-"))
        .map(|u| hubgate_hil_rig::Parties {
            supplier: u.id,
            ..demo
        })
        .collect()
}

/// The hub actors, the emulated premises on the in-process link, the response writer, and
/// the router that feeds them.
#[allow(clippy::too_many_arguments)]
fn start_routing(
    config: &Config,
    commit: &Arc<GroupCommit>,
    pki: &Pki,
    device_keys: &[PathBuf],
    acb: [u8; 8],
    inventory: &Arc<Inventory>,
    registration: &Arc<RegistrationData>,
    db: &Arc<Store>,
    clock: &Arc<dyn Clock>,
    delivery: &Arc<Delivery>,
    responder: Responder,
    alert_guard: &Arc<hubgate_gateway::alerts::AlertGuard>,
    users: &Arc<hubgate_gateway::users::UserRegistry>,
    image_hubs: &mut Vec<([u8; 8], Arc<hubgate_gateway::emulation::EmulatedHub>)>,
    smwan_images: &mut Option<Arc<hubgate_gateway::smwan::SmwanLink>>,
    journal: Vec<hubgate_gateway::journal::ReadBack>,
) -> anyhow::Result<Arc<Router>> {
    use hubgate_actors::{
        HubRegistry, InProcessLink, RegistryConfig, Services, Unverifiable, Verifier,
    };
    // A key store of its own (the PKI's is shared read-only): the parties' certificates and
    // keys, to which the emulated devices' certificates are added.
    let mut store = pki.reload_store().context("reloading the key store")?;
    for dir in device_keys {
        store
            .load_dir(dir)
            .with_context(|| format!("--device-keys {}", dir.display()))?;
        say!("device keys: {} loaded", dir.display());
    }
    if let Some(dir) = &config.smwan.device_keys {
        store
            .load_dir(dir)
            .with_context(|| format!("smwan.device_keys {}", dir.display()))?;
        say!("device keys: {} loaded (smwan.device_keys)", dir.display());
    }
    let parties = emulation_parties(config, acb);
    // The Change of Supplier party (SR 6.23): its own key, trusted by the emulated meters.
    let start = u64::try_from(clock.now_ms())
        .unwrap_or(0)
        .saturating_mul(1000);
    let cos = hubgate_gateway::cos::CosParty::from_store(pki.store(), start).map(Arc::new);
    match &cos {
        Some(c) => say!(
            "change of supplier: Transitional CoS party {} signs 6.23 credential updates",
            hubgate_protocol::hex::eui_duis(&c.eui())
        ),
        None => say!(
            "change of supplier: no Transitional CoS key (role 05) in the key material: 6.23 is refused"
        ),
    }
    let mut estate = Estate::build_trusting_cos(
        config.emulation.hubs,
        store,
        &parties,
        cos.as_ref()
            .map(|c| (c.eui(), c.certificate().der().to_vec())),
        Arc::clone(clock),
    )
    .context("building the emulated meters")?;
    if config.emulation.hubs > 0 {
        say!(
            "{}",
            estate
                .seed(inventory, registration)
                .context("recording the emulated meters")?
        );
    }
    for id in config
        .emulation
        .mac_fault_devices
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
    {
        let eui = hubgate_protocol::hex::parse_eui(id)
            .with_context(|| format!("emulation.mac_fault_devices: {id:?} is not a Device ID"))?;
        if !estate.set_mac_fault(&eui) {
            anyhow::bail!("emulation.mac_fault_devices: {id} is not an emulated device");
        }
        say!("emulated meters: {id} answers with a corrupted MAC (fault injection)");
    }
    if let Some(dir) = &config.emulation.record_dir {
        estate
            .record(dir)
            .with_context(|| format!("emulation.record_dir {}", dir.display()))?;
        say!(
            "emulated meters: recording GBCS traffic in {}",
            dir.display()
        );
    }
    let link = InProcessLink::new();
    for (eui, hub) in &estate.hubs {
        link.attach(*eui, Arc::clone(hub) as _);
    }
    image_hubs.extend(estate.hubs.iter().cloned());
    // Hubs that rigs register over the SMWAN link, the in-process ones otherwise.
    let smwan = Arc::new(hubgate_gateway::smwan::SmwanLink::new(Arc::new(link)));
    *smwan_images = Some(Arc::clone(&smwan));
    let keys = Arc::new(std::mem::take(&mut estate.keys));
    let cache = Arc::new(hubgate_protocol::crypto::DerivedKeyCache::default());
    let pending: PendingTable = Arc::new(dashmap::DashMap::new());
    let sink = ResponseSink::start_with_hub_responses(
        Arc::clone(&pending),
        Arc::new(responder),
        Arc::clone(delivery),
        Arc::clone(clock),
        hubgate_gateway::alerts::Recipients::new(
            Arc::clone(inventory),
            Arc::clone(registration),
            Arc::clone(users),
            acb,
        )
        .with_guard(Arc::clone(alert_guard)),
        hubgate_gateway::anomaly::HubResponses::from_config(&config.anomaly),
        Arc::clone(users),
    )
    .context("starting the response writer")?
    .with_group_commit(Arc::clone(commit))
    .with_batch_delay(std::time::Duration::from_micros(
        config.store_commit_delay_us,
    ))
    .with_alert_queue(
        config.routing.alert_queue_capacity,
        std::time::Duration::from_millis(config.routing.alert_queue_wait_ms),
    );
    // A rig's SMWAN connection is not read while the alert queue is full.
    smwan.pace_alerts(sink.alert_queue());
    let hub_events = sink.hub_events();
    let sequencing = sink.sequencing();
    smwan.on_hubs_lost(move |hubs| hub_events.hubs_lost(hubs));
    let hub_inventory = Arc::clone(inventory);
    smwan.known_hubs(
        move |hub| match hub_inventory.get(&hubgate_gateway::inventory::Eui(*hub)) {
            Ok(Some(d)) if d.device_type == hubgate_gateway::inventory::DeviceType::Chf => {
                Some(hubgate_gateway::smwan::HubRegion(d.csp_region))
            }
            _ => None,
        },
    );
    // The journal, not the hub state, brings back the commands held at the last stop.
    let stripped = hubgate_gateway::routing::strip_held_commands(db)
        .context("clearing the command queues of stored hub states")?;
    if stripped > 0 {
        tracing::info!(
            hubs = stripped,
            "stored hub queues cleared; their requests come back from the journal"
        );
    }
    let registry = Arc::new(
        HubRegistry::start(
            RegistryConfig {
                idle_timeout: std::time::Duration::from_millis(config.routing.hub_idle_timeout_ms),
                limits: hubgate_actors::hub::HubLimits {
                    queue_capacity: config.routing.hub_queue_capacity,
                    ..hubgate_actors::hub::HubLimits::default()
                },
                ..RegistryConfig::default()
            },
            Services {
                link: Arc::clone(&smwan) as _,
                sink: Arc::new(sink),
                store: Arc::new(HubStateStore::new(Arc::clone(db))),
                // Responses to Users are MAC'd with the User's key: the DCC cannot always check
                // them, and passes on what it cannot check when it is addressed to a party it
                // knows (who checks it); such a message changes no state here, and an alert
                // goes to its recipient alone (`alerts::device_alert`).
                verifier: Verifier::new(Arc::clone(&keys), Arc::clone(&cache), acb)
                    .with_unverifiable(Unverifiable::Forward),
            },
        )
        .map_err(|e| anyhow::anyhow!("starting the hub actors: {e}"))?,
    );
    if let Some(listen) = config.smwan.listen {
        let addr = smwan
            .listen(
                listen,
                &config.tls_cert_path(),
                &config.tls_key_path(),
                &config.data_dir.join("tls").join("ca.pem"),
                registry.inbound(),
            )
            .context("starting the SMWAN listener")?;
        say!("SMWAN listening on quic://{addr}");
    }
    estate
        .start_ticker(registry.inbound(), Arc::clone(clock))
        .context("starting the emulation ticker")?;
    let router = Router::new(RouterParts {
        store: Arc::clone(db),
        registry,
        keys,
        cache,
        inventory: Arc::clone(inventory),
        acb,
        timeout: std::time::Duration::from_millis(config.routing.response_timeout_ms),
        clock: Arc::clone(clock),
        pending,
        users: Arc::clone(users),
    })
    .context("reading the request journal")?
    .with_sequencing(sequencing);
    // SR 6.23 goes to the Change of Supplier party.
    let router = Arc::new(match cos {
        Some(c) => router.with_cos_party(c),
        None => router,
    });
    // Requests acknowledged but not answered before the last stop, before the future-dated
    // thread starts: a held request that fell due meanwhile must not go out before a
    // cancellation of it later in the journal has been seen.
    let recovered = router.recover(journal);
    if recovered != hubgate_gateway::routing::Recovery::default() {
        say!(
            "journal: {} acknowledged requests sent again, {} answered with an error, {} unreadable",
            recovered.resent,
            recovered.answered,
            recovered.unreadable
        );
    }
    router
        .start_deferred()
        .context("starting the future-dated request thread")?;
    Ok(router)
}
