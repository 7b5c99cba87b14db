//! `hubs`: what Communications Hubs cost in memory, active and passivated, and what a large
//! inventory costs on disk.
//!
//! 1. Activates `--active` hub actors (default 100 000) with `HubRegistry::activate` and
//!    reads the process RSS before and after: bytes per active actor.
//! 2. Lets them all passivate (idle timeout 1 s) and reports the state each keeps in the
//!    state store (bytes per passivated hub) and the RSS left.
//! 3. Imports `--inventory` hubs (default 1 000 000) into the gateway's Smart Metering
//!    Inventory (redb) through the bulk CSV import, and reports rows per second and file
//!    bytes per hub.
//!
//! RSS is read from `/proc/self/status` (`VmRSS`); the allocator may keep freed pages, so the
//! RSS after passivation is an upper bound of what idle hubs cost.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hubgate_actors::{
    HubLink, HubRegistry, Inbound, LinkError, MemoryStateStore, Outbound, OutcomeSink,
    RegistryConfig, Services, Verifier,
};

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// A link to nowhere: this benchmark sends no commands.
struct NoLink;

impl HubLink for NoLink {
    fn send(&self, _out: Outbound, _inbound: &Inbound) -> Result<(), LinkError> {
        Err(LinkError::Unreachable("no link in this benchmark".into()))
    }
}

struct NoSink;

impl OutcomeSink for NoSink {
    fn outcome(&self, _o: hubgate_actors::Outcome) {}
    fn alert(&self, _a: hubgate_actors::DeviceAlert) {}
}

fn hub(n: u64) -> [u8; 8] {
    (0x00db_7700_0000_0000_u64 + n * 16).to_be_bytes()
}

fn arg(name: &str, default: u64) -> Result<u64, String> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .ok_or(format!("{name} needs a value"))?
            .parse()
            .map_err(|_| format!("{name}: not a number")),
        None => Ok(default),
    }
}

fn run() -> Result<(), String> {
    let active = arg("--active", 100_000)?;
    let inventory_hubs = arg("--inventory", 1_000_000)?;

    // 1. Active actors.
    let store = Arc::new(MemoryStateStore::new());
    let keys = Arc::new(hubgate_protocol::smki::Store::new());
    let cache = Arc::new(hubgate_protocol::crypto::DerivedKeyCache::default());
    let registry = HubRegistry::start(
        RegistryConfig {
            idle_timeout: Duration::from_secs(1),
            max_active_hubs: usize::try_from(active).unwrap_or(usize::MAX).max(1),
            ..RegistryConfig::default()
        },
        Services {
            link: Arc::new(NoLink),
            sink: Arc::new(NoSink),
            store: Arc::clone(&store) as _,
            verifier: Verifier::new(keys, cache, [0; 8]),
        },
    )
    .map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_millis(200));
    let before = rss_bytes();
    let t = Instant::now();
    for n in 0..active {
        registry.activate(hub(n)).map_err(|e| e.to_string())?;
    }
    // Activation is asynchronous: wait until every actor is up.
    let deadline = Instant::now() + Duration::from_secs(120);
    while registry.active_hubs() < active as usize && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let up = registry.active_hubs();
    let activation_s = t.elapsed().as_secs_f64();
    let with_active = rss_bytes();
    let per_active = (with_active.saturating_sub(before)) as f64 / up.max(1) as f64;

    // 2. Passivated.
    let deadline = Instant::now() + Duration::from_secs(300);
    while registry.active_hubs() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let left = registry.active_hubs();
    let after_passivation = rss_bytes();
    let per_passivated = store.bytes() as f64 / store.len().max(1) as f64;

    // 3. A large inventory on disk.
    let dir = std::env::temp_dir().join(format!("hubgate-hubs-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = Arc::new(hubgate_gateway::store::Store::open(&dir).map_err(|e| e.to_string())?);
    let inventory =
        hubgate_gateway::inventory::Inventory::open(Arc::clone(&db)).map_err(|e| e.to_string())?;
    let mut csv = String::with_capacity(inventory_hubs as usize * 64);
    csv += "device_id,device_type,device_status,manufacturer,model,import_mpxn,export_mpan,post_code,address_identifier,associated_with\n";
    for n in 0..inventory_hubs {
        let id = hubgate_protocol::hex::eui_duis(&hub(n));
        csv += &format!(
            "{id},CHF,Commissioned,106C,433100AC,,,M22 0RR,{},\n",
            n % 1000 + 1
        );
    }
    let t = Instant::now();
    let report = hubgate_gateway::inventory::import::import_csv(
        &inventory,
        csv.as_bytes(),
        Default::default(),
    )
    .map_err(|e| e.to_string())?;
    let import_s = t.elapsed().as_secs_f64();
    drop(inventory);
    let file = std::fs::metadata(dir.join("hubgate.redb")).map_or(0, |m| m.len());
    let _ = std::fs::remove_dir_all(&dir);

    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| active hub actors | {up} of {active} up in {activation_s:.1} s; RSS {:.1} MiB → {:.1} MiB |",
        before as f64 / 1048576.0,
        with_active as f64 / 1048576.0
    );
    println!("| bytes per active actor (RSS delta / actors) | {per_active:.0} (goal ≤ 4096) |");
    println!(
        "| after passivation | {left} active; {} states stored, {per_passivated:.0} bytes each; RSS {:.1} MiB |",
        store.len(),
        after_passivation as f64 / 1048576.0
    );
    println!(
        "| inventory | {} hubs imported in {import_s:.1} s ({:.0} rows/s); store file {:.1} MiB, {:.0} bytes per hub |",
        report.imported,
        report.imported as f64 / import_s,
        file as f64 / 1048576.0,
        file as f64 / report.imported.max(1) as f64
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hubs: {e}");
            ExitCode::FAILURE
        }
    }
}
