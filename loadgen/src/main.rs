//! `loadgen`: drives a HubGate gateway with signed DUIS traffic (see the library docs and
//! `loadgen/README.md`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use hubgate_loadgen::run::{self, RunOptions};
use hubgate_loadgen::scenario::{self, Scenario};
use hubgate_loadgen::targets;

/// mimalloc instead of the system allocator, as in the gateway binary: loadgen builds and
/// drops many small strings and buffers per request (rendering, signing, reading answers),
/// and with glibc malloc allocation and freeing took a sixth of its CPU under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "loadgen", version, about = "DUIS load generator for HubGate")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs a scenario and writes report.json and report.md.
    Run {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// Write the reports here instead of the scenario's report.dir.
        #[arg(long)]
        out: Option<PathBuf>,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Scenario files.
    Scenario {
        #[command(subcommand)]
        command: ScenarioCommand,
    },
    /// Target devices.
    Targets {
        #[command(subcommand)]
        command: TargetsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ScenarioCommand {
    /// Prints the default scenario (a DCC-like mix), with comments.
    Example,
    /// Reads a scenario and everything it names (Users, inventory, templates) and says what
    /// would be sent, without sending; makes the listener's certificate (and the CA the
    /// gateway must trust, `listener-ca.pem` in the report folder) if it has none yet.
    Check {
        /// The scenario file.
        scenario: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum TargetsCommand {
    /// Writes inventory.csv and registration.csv for load-test Users, to import into the
    /// gateway (`hubgate serve --inventory … --registration …`).
    Generate {
        /// Load-test Users (load-00001 …), as many as the gateway's
        /// HUBGATE_PKI__LOAD_TEST_USERS.
        #[arg(long, default_value_t = 32)]
        users: u32,
        /// Premises per User (each a CHF, an ESME, a GSME and a GPF).
        #[arg(long, default_value_t = 100)]
        premises: u32,
        /// Output folder.
        #[arg(long, default_value = "loadgen-targets")]
        out: PathBuf,
        /// Use these User IDs instead of load-test Users (comma-separated).
        #[arg(long, value_delimiter = ',')]
        ids: Vec<String>,
    },
    /// Writes inventory.csv and registration.csv for the premises a gateway emulates, from
    /// what `hubgate serve` printed at start ("premises N: hub …, ESME … (MPAN …)"): the only
    /// devices a gateway that routes commands holds keys for.
    Emulated {
        /// A file with the gateway's start-up output (`-` for standard input).
        #[arg(long)]
        log: PathBuf,
        /// Output folder.
        #[arg(long, default_value = "loadgen-targets")]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    match run_cli() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run_cli() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Scenario {
            command: ScenarioCommand::Example,
        } => {
            print!("{}", scenario::EXAMPLE);
            Ok(ExitCode::SUCCESS)
        }
        Command::Scenario {
            command: ScenarioCommand::Check { scenario },
        } => {
            let s = Scenario::load(&scenario)?;
            let p = run::prepare(s).map_err(anyhow::Error::msg)?;
            if let Some(l) = p.scenario.listener.as_ref().filter(|l| l.cert.is_none()) {
                let id = hubgate_loadgen::tls::ensure_identity(&p.scenario.report.dir, l.address)
                    .map_err(anyhow::Error::msg)?;
                if let Some(ca) = id.ca {
                    println!(
                        "listener https://{}/duis: the gateway trusts it with HUBGATE_DELIVERY__CA={} \
                         and delivers to it with HUBGATE_DELIVERY__DEFAULT_ENDPOINT=https://{}/duis",
                        l.address,
                        ca.display(),
                        l.address
                    );
                }
            }
            println!(
                "scenario {}: {}",
                p.scenario.name,
                p.scenario.load_summary()
            );
            println!(
                "{} Users, {} hubs, {} devices addressed; templates from {}",
                p.users.len(),
                p.targets.hubs(),
                p.targets.devices(),
                p.library.dir().display()
            );
            let total: f64 = p.srvs.iter().map(|s| s.share).sum();
            for s in &p.srvs {
                let files: Vec<&str> = s.templates.iter().map(|t| t.file.as_str()).collect();
                println!(
                    "  {:<7} {:>5.1} %  {} Users  {}{}",
                    s.name,
                    s.share * 100.0 / total,
                    s.users.len(),
                    if s.critical { "critical, " } else { "" },
                    files.join(", ")
                );
            }
            if let Some(p) = p.scenario.profile() {
                println!(
                    "{} requests planned, {:.1}/s mean, {:.1}/s peak",
                    p.total_requests(),
                    p.mean_rate(),
                    p.peak_rate()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Targets {
            command:
                TargetsCommand::Generate {
                    users,
                    premises,
                    out,
                    ids,
                },
        } => {
            let ids: Vec<[u8; 8]> = if ids.is_empty() {
                (1..=users).map(targets::load_test_user_id).collect()
            } else {
                ids.iter()
                    .map(|i| {
                        hubgate_protocol::hex::parse_eui(i)
                            .with_context(|| format!("--ids: {i:?} is not a User ID"))
                    })
                    .collect::<anyhow::Result<_>>()?
            };
            let g = targets::generate(&out, &ids, premises)?;
            println!(
                "wrote {} premises for {} Users:\n  {}\n  {}",
                g.premises,
                ids.len(),
                g.inventory.display(),
                g.registration.display()
            );
            println!(
                "import them: HUBGATE_PKI__LOAD_TEST_USERS={} hubgate serve --inventory {} --registration {}",
                ids.len(),
                g.inventory.display(),
                g.registration.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Targets {
            command: TargetsCommand::Emulated { log, out },
        } => {
            let text = if log.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("reading standard input")?
            } else {
                std::fs::read_to_string(&log).with_context(|| log.display().to_string())?
            };
            let (supplier, premises) = targets::parse_emulated(&text);
            let g = targets::write_emulated(&out, supplier, &premises)?;
            let whom = match supplier {
                Some(s) => format!(
                    "supplier {}:\n  {}\n  {}\n\
                     send as that User ([users] names = [\"import-supplier\"] with the local test PKI)",
                    hubgate_protocol::hex::eui_duis(&s),
                    g.inventory.display(),
                    g.registration.display()
                ),
                None => format!(
                    "their load-test suppliers:\n  {}\n  {}\n\
                     send as the load-test Users ([users] count = pki.load_test_users)",
                    g.inventory.display(),
                    g.registration.display()
                ),
            };
            println!("wrote {} emulated premises for {whom}", g.premises);
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            scenario,
            out,
            quiet,
        } => {
            let mut s = Scenario::load(&scenario)?;
            if let Some(out) = out {
                s.report.dir = out;
            }
            let dir = s.report.dir.clone();
            let prepared = run::prepare(s).map_err(anyhow::Error::msg)?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the runtime")?;
            let report = rt
                .block_on(run::run(prepared, RunOptions { progress: !quiet }))
                .map_err(anyhow::Error::msg)?;
            print!("{}", report.markdown());
            println!(
                "\nreports: {} and {}",
                dir.join("report.json").display(),
                dir.join("report.md").display()
            );
            Ok(if report.kept_rate {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
