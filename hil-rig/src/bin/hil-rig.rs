//! `hil-rig`: hosts emulated Communications Hubs and connects them to a gateway over the
//! SMWAN link (QUIC, mutual TLS).
//!
//! ```text
//! hil-rig emulate --hubs 2 --gateway 127.0.0.1:4433 \
//!     --ca DATA/tls/ca.pem --cert DATA/tls/rigs/SCOPE.pem --key DATA/tls/rigs/SCOPE.key \
//!     --parties ../shared/conformance/smki --keys-out ./rig-keys
//! hil-rig keys --hubs 2 --keys-out ./rig-keys
//! hil-rig run --config rig.toml --metrics-listen 127.0.0.1:9465
//! hil-rig ports [--json]
//! ```
//!
//! `keys` only writes the devices' certificates (for the gateway's `--device-keys`, which it
//! reads at start); `emulate` writes them too (the same ones when the folder already has
//! them) and then serves until killed. `run` serves the hubs a rig file describes, with
//! devices on ports (bridged GBCS devices, lab meters behind adapter devices); the file's
//! format and the modes are documented in `hubgate_hil_rig::rig`. `ports` lists the serial
//! ports the system shows (kind, USB vendor:product, manufacturer, product, serial number).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use hubgate_hil_rig::Parties;
use hubgate_hil_rig::link::rig::{self, Connect, Hubs};
use hubgate_protocol::smki::Store;

#[derive(Debug, Parser)]
#[command(
    name = "hil-rig",
    version,
    about = "Emulated Communications Hubs on the SMWAN link"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Args)]
struct Premises {
    /// Number of emulated premises (a CHF with an ESME, GSME, GPF, PPMID and IHD each).
    #[arg(long, default_value_t = 1)]
    hubs: usize,
    /// EUI of the first hub's CHF (16 hex digits); each hub takes the next 16 EUIs.
    #[arg(long, value_name = "HEX", default_value = "00db560000000000")]
    first_eui: String,
    /// Folder for the device certificates (`<EUI>-ds.pem`, `<EUI>-ka.pem`, for the
    /// gateway's `--device-keys`) and the devices' private keys (`private/`).
    #[arg(long, value_name = "DIR")]
    keys_out: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Hosts emulated hubs and serves them to the gateway, reconnecting with back-off.
    Emulate {
        #[command(flatten)]
        premises: Premises,
        /// The gateway's SMWAN address (its `smwan.listen`).
        #[arg(long, value_name = "HOST:PORT")]
        gateway: String,
        /// The CA that issued the gateway's certificate (`<data>/tls/ca.pem`).
        #[arg(long, value_name = "FILE")]
        ca: PathBuf,
        /// The rig's certificate, issued by the gateway's local TLS CA: `<data>/tls/rigs/any.pem`,
        /// or the one of its hubs' CSP region (`north.pem`, `4g-south.pem`, …).
        #[arg(long, value_name = "FILE")]
        cert: PathBuf,
        /// The rig's private key.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Folder(s) with the certificates of the parties the devices trust (a DCC Boxed
        /// SMKI folder, or the gateway's `<data>/pki` folders); repeatable.
        #[arg(long, value_name = "DIR", required = true)]
        parties: Vec<PathBuf>,
        /// The supplier the devices trust (16 hex digits). Default: the RTDS supplier.
        #[arg(long, value_name = "HEX")]
        supplier: Option<String>,
        /// The network operator the devices trust. Default: the RTDS network operator.
        #[arg(long, value_name = "HEX")]
        network_operator: Option<String>,
        /// The Access Control Broker the devices trust. Default: the RTDS ACB.
        #[arg(long, value_name = "HEX")]
        acb: Option<String>,
    },
    /// Writes the devices' certificates (and keeps their keys) without connecting.
    Keys {
        #[command(flatten)]
        premises: Premises,
    },
    /// Serves the hubs of a rig file: emulated devices, devices bridged to a port, and
    /// adapter devices in front of lab meters (see `hubgate_hil_rig::rig`).
    Run {
        /// The rig file (TOML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Where to serve Prometheus metrics (overrides `metrics_listen` in the file).
        #[arg(long, value_name = "HOST:PORT")]
        metrics_listen: Option<SocketAddr>,
    },
    /// Lists the serial ports the system shows, with USB vendor and product ids.
    Ports {
        /// Prints JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn eui(text: &str) -> anyhow::Result<[u8; 8]> {
    let compact: String = text.chars().filter(|c| *c != '-').collect();
    let bytes = hubgate_protocol::hex::decode(&compact)
        .ok()
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .ok_or_else(|| anyhow::anyhow!("{text:?} is not an EUI (16 hex digits)"))?;
    Ok(bytes)
}

fn identities(p: &Premises) -> anyhow::Result<Vec<hubgate_hil_rig::Identity>> {
    anyhow::ensure!(
        (1..=4096).contains(&p.hubs),
        "--hubs must be between 1 and 4096"
    );
    std::fs::create_dir_all(&p.keys_out)
        .with_context(|| format!("creating {}", p.keys_out.display()))?;
    rig::load_or_generate(&p.keys_out, p.hubs, u64::from_be_bytes(eui(&p.first_eui)?))
}

async fn resolve(gateway: &str) -> anyhow::Result<(SocketAddr, String)> {
    let (host, _) = gateway
        .rsplit_once(':')
        .ok_or_else(|| anyhow::anyhow!("--gateway {gateway:?}: expected HOST:PORT"))?;
    let addr = tokio::net::lookup_host(gateway)
        .await
        .with_context(|| format!("resolving {gateway}"))?
        .next()
        .ok_or_else(|| anyhow::anyhow!("{gateway}: no address"))?;
    Ok((
        addr,
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
    ))
}

fn main() -> std::process::ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HIL_RIG_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hil-rig: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `hil-rig ports`: the serial ports as a table, or as JSON with `--json`.
fn ports(json: bool) -> anyhow::Result<()> {
    use hubgate_hil_rig::transport::serial::{UsbInfo, list_ports};
    let list = list_ports()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    if list.is_empty() {
        println!("no serial ports (PTYs are not listed; name them in the configuration)");
        return Ok(());
    }
    let rows: Vec<[String; 6]> = list
        .iter()
        .map(|p| {
            let usb = p.usb.as_ref();
            let text = |f: fn(&UsbInfo) -> &Option<String>| {
                usb.and_then(|u| f(u).clone())
                    .unwrap_or_else(|| "-".to_owned())
            };
            [
                p.name.clone(),
                p.kind.to_string(),
                usb.map_or_else(
                    || "-".to_owned(),
                    |u| format!("{:04x}:{:04x}", u.vid, u.pid),
                ),
                text(|u| &u.manufacturer),
                text(|u| &u.product),
                text(|u| &u.serial_number),
            ]
        })
        .collect();
    let header = [
        "PORT",
        "KIND",
        "VID:PID",
        "MANUFACTURER",
        "PRODUCT",
        "SERIAL",
    ];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 6]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header);
    for row in &rows {
        line(row.each_ref().map(String::as_str));
    }
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Ports { json } => ports(json),
        Command::Run {
            config,
            metrics_listen,
        } => run_rig(&config, metrics_listen),
        Command::Keys { premises } => {
            let ids = identities(&premises)?;
            println!(
                "{} device certificates in {}",
                ids.len(),
                premises.keys_out.display()
            );
            Ok(())
        }
        Command::Emulate {
            premises,
            gateway,
            ca,
            cert,
            key,
            parties,
            supplier,
            network_operator,
            acb,
        } => {
            let mut store = Store::new();
            for dir in &parties {
                store
                    .load_dir(dir)
                    .with_context(|| format!("--parties {}", dir.display()))?;
            }
            let rtds = Parties::RTDS;
            let trusted = Parties {
                supplier: supplier.as_deref().map_or(Ok(rtds.supplier), eui)?,
                network_operator: network_operator
                    .as_deref()
                    .map_or(Ok(rtds.network_operator), eui)?,
                acb: acb.as_deref().map_or(Ok(rtds.acb), eui)?,
            };
            let hubs = Arc::new(Hubs::build(identities(&premises)?, &store, trusted)?);
            hosting(&hubs, &premises.keys_out);
            let runtime = runtime()?;
            runtime.block_on(async move {
                let (addr, server_name) = resolve(&gateway).await?;
                rig::run(
                    Connect {
                        gateway: addr,
                        server_name,
                        ca,
                        cert,
                        key,
                    },
                    hubs,
                )
                .await
            })
        }
    }
}

/// The rig's runtime: two worker threads are plenty for a bench of hubs.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")
}

/// Says what the rig hosts and where the device certificates went.
fn hosting(hubs: &Hubs, keys_out: &std::path::Path) {
    println!(
        "hosting {} hubs; device certificates in {}",
        hubs.euis().len(),
        keys_out.display()
    );
}

/// `hil-rig run`: loads the rig file, starts the ports and the metrics listener, and serves
/// the gateway until killed.
fn run_rig(file: &std::path::Path, metrics_listen: Option<SocketAddr>) -> anyhow::Result<()> {
    use hubgate_hil_rig::rig::{Rig, config::RigConfig, metrics};
    let config = RigConfig::load(file)?;
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    // Histogram samples wait in the recorder until a scrape or an upkeep: keep them bounded
    // when nobody scrapes.
    let upkeep = prometheus.clone();
    std::thread::Builder::new()
        .name("hil-rig-metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(5));
                upkeep.run_upkeep();
            }
        })
        .context("starting the metrics upkeep thread")?;
    metrics::describe();
    let rig = Arc::new(Rig::start(&config)?);
    hosting(rig.hubs(), &config.keys_out);
    let runtime = runtime()?;
    runtime.block_on(async move {
        if let Some(addr) = metrics_listen.or(config.metrics_listen) {
            let bound = metrics::serve(addr, prometheus)
                .await
                .with_context(|| format!("metrics_listen {addr}"))?;
            // Scripts and tests read the address from this line.
            println!("metrics listening on http://{bound}/metrics");
        }
        let (addr, host) = resolve(&config.gateway.address)
            .await
            .context("gateway.address")?;
        rig.serve(Connect {
            gateway: addr,
            server_name: config.gateway.server_name.clone().unwrap_or(host),
            ca: config.gateway.ca.clone(),
            cert: config.gateway.cert.clone(),
            key: config.gateway.key.clone(),
        })
        .await
    })
}
