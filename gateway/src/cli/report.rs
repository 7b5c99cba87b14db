//! `hubgate report performance [--month YYYY-MM] [--data-dir DIR] [--json]`: the monthly SEC
//! Code Performance Measures report (`hubgate_gateway::performance`), read from the store in
//! the data folder. The gateway must be stopped (only one process can open the store); a
//! running gateway serves the same report at `GET /api/v1/reports/performance` on its metrics
//! listener.
//!
//! `hubgate report demand [--month YYYY-MM] [--user ID] [--data-dir DIR] [--json]`: the
//! monthly Service Request demand report (`hubgate_gateway::demand`): requests against
//! forecasts and the Annex 5 Table 5.3 metrics against their thresholds, rows at or above
//! 110 % marked reportable; the same as `GET /api/v1/reports/demand` on the metrics listener.
//!
//! Exit status: 0 with the report printed, 1 when the store cannot be read (the message says
//! why).

use std::path::PathBuf;

use hubgate_gateway::config::Config;
use hubgate_gateway::performance::{self, Month};
use hubgate_gateway::store::{self, Store};

/// `hubgate report …`
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// The monthly Code Performance Measures: answers within their Target Response Time
    /// per category, against the 99 % target and the 96 % minimum service level.
    Performance(Args),
    /// Service Requests per User against their forecasts, and the Annex 5 Table 5.3
    /// Monthly Service Metrics against their thresholds; usage at or above 110 % is marked
    /// reportable.
    Demand(DemandArgs),
}

/// Arguments of `hubgate report demand`.
#[derive(Debug, clap::Args)]
pub struct DemandArgs {
    /// Only this User (User ID).
    #[arg(long, value_name = "ID", value_parser = parse_user)]
    user: Option<[u8; 8]>,
    #[command(flatten)]
    common: Args,
}

fn parse_user(s: &str) -> Result<[u8; 8], String> {
    hubgate_protocol::hex::parse_eui(s).ok_or_else(|| format!("{s:?} is not a User ID"))
}

/// Arguments of `hubgate report performance`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The month (GB calendar), `YYYY-MM`. Default: the current month.
    #[arg(long, value_name = "YYYY-MM", value_parser = parse_month)]
    month: Option<Month>,
    /// Configuration file (for `data_dir` and `performance.on_demand_target_ms`).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The gateway's data directory. Default: `data_dir` of the configuration.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Print JSON (the same as the HTTP endpoint's) instead of a table.
    #[arg(long)]
    json: bool,
}

fn parse_month(s: &str) -> Result<Month, String> {
    Month::parse(s).map_err(|e| e.to_string())
}

/// Runs `hubgate report …`.
pub fn run(cmd: Command) -> anyhow::Result<i32> {
    let args = match cmd {
        Command::Performance(args) => args,
        Command::Demand(d) => return run_demand(d),
    };
    let mut config = Config::load(args.config.as_deref(), std::env::vars())?;
    if let Some(d) = args.data_dir {
        config.data_dir = d;
    }
    let file = config.data_dir.join(store::FILE_NAME);
    if !file.is_file() {
        eprintln!(
            "hubgate report: no store at {} (is --data-dir the gateway's data folder?)",
            file.display()
        );
        return Ok(1);
    }
    let store = match Store::open(&config.data_dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "hubgate report: {e} (a running gateway holds its store: stop it, or read \
                 GET {} on its metrics listener)",
                performance::PATH
            );
            return Ok(1);
        }
    };
    let month = args.month.unwrap_or_else(|| {
        use hubgate_gateway::clock::{Clock as _, SystemClock};
        Month::of_ms(
            config
                .clock
                .pinned_ms()
                .unwrap_or_else(|| SystemClock.now_ms()),
        )
    });
    let target = i64::try_from(config.performance.on_demand_target_ms).unwrap_or(i64::MAX);
    let report = match performance::read_report(&store, month, target) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("hubgate report: {e}");
            return Ok(1);
        }
    };
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.render_table());
        let others: Vec<String> = performance::months(&store)
            .unwrap_or_default()
            .into_iter()
            .filter(|m| *m != month)
            .map(|m| m.to_string())
            .collect();
        if !others.is_empty() {
            println!("\nOther months in the store: {}", others.join(", "));
        }
    }
    Ok(0)
}

/// The store of the data folder `args` name, opened; or the exit status, with the reason
/// printed.
fn open_store(args: &Args) -> anyhow::Result<Result<(Config, Store), i32>> {
    let mut config = Config::load(args.config.as_deref(), std::env::vars())?;
    if let Some(d) = &args.data_dir {
        config.data_dir.clone_from(d);
    }
    let file = config.data_dir.join(store::FILE_NAME);
    if !file.is_file() {
        eprintln!(
            "hubgate report: no store at {} (is --data-dir the gateway's data folder?)",
            file.display()
        );
        return Ok(Err(1));
    }
    match Store::open(&config.data_dir) {
        Ok(s) => Ok(Ok((config, s))),
        Err(e) => {
            eprintln!(
                "hubgate report: {e} (a running gateway holds its store: stop it, or read \
                 GET {} on its metrics listener)",
                hubgate_gateway::demand::http::REPORT_PATH
            );
            Ok(Err(1))
        }
    }
}

fn run_demand(args: DemandArgs) -> anyhow::Result<i32> {
    let (config, store) = match open_store(&args.common)? {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let month = args.common.month.unwrap_or_else(|| {
        use hubgate_gateway::clock::{Clock as _, SystemClock};
        Month::of_ms(
            config
                .clock
                .pinned_ms()
                .unwrap_or_else(|| SystemClock.now_ms()),
        )
    });
    let ledger = match hubgate_gateway::demand::read_ledger(&store) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("hubgate report: {e}");
            return Ok(1);
        }
    };
    let report = hubgate_gateway::demand::report::Report::build(&ledger, month, args.user);
    if args.common.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.render_table());
    }
    Ok(0)
}
