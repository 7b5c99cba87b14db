//! `hubgate report performance [--month YYYY-MM] [--data-dir DIR] [--json]`: the monthly SEC
//! Code Performance Measures report (`hubgate_gateway::performance`), read from the store in
//! the data folder. The gateway must be stopped (only one process can open the store); a
//! running gateway serves the same report at `GET /api/v1/reports/performance` on its metrics
//! listener.
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
    let Command::Performance(args) = cmd;
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
