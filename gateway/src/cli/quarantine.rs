//! `hubgate quarantine list|release ID|delete ID`: the quarantine's admin API
//! (`hubgate_gateway::anomaly::admin`) from the command line, over HTTPS with the admin
//! bearer token.
//!
//! Exit status: 0 when the gateway did what was asked, 1 when it refused (unknown ID,
//! wrong token: the message says which), 2 when it could not be reached.

use hubgate_gateway::anomaly::admin::PATH;

use super::operator_api::{self, Call, Target};

/// `hubgate quarantine …`
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List the quarantined requests, oldest first.
    List {
        /// Print the gateway's JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Release a quarantined request: the gateway carries it out and the User gets its
    /// answer through delivery.
    Release {
        /// The quarantine ID (from `list`).
        id: u64,
        #[command(flatten)]
        target: Target,
    },
    /// Delete a quarantined request: it is never carried out.
    Delete {
        /// The quarantine ID (from `list`).
        id: u64,
        #[command(flatten)]
        target: Target,
    },
}

/// Runs `hubgate quarantine …`.
pub fn run(cmd: Command) -> anyhow::Result<i32> {
    let (method, path, target, table) = match &cmd {
        Command::List { json, target } => (awc::http::Method::GET, PATH.to_string(), target, !json),
        Command::Release { id, target } => (
            awc::http::Method::POST,
            format!("{PATH}/{id}/release"),
            target,
            false,
        ),
        Command::Delete { id, target } => (
            awc::http::Method::DELETE,
            format!("{PATH}/{id}"),
            target,
            false,
        ),
    };
    operator_api::run(
        "hubgate quarantine",
        target,
        Call {
            method,
            path,
            json: None,
            table: table.then_some(render_table),
        },
    )
}

/// The listing as a table: one line per held request.
fn render_table(v: &serde_json::Value) -> String {
    let held = v["held"].as_array().cloned().unwrap_or_default();
    let mut out = format!(
        "{} quarantined request(s)\n{:<6} {:<24} {:<23} {:<8} {:<3} {:<7} {}\n",
        v["count"].as_u64().unwrap_or(held.len() as u64),
        "ID",
        "QUARANTINED AT",
        "USER",
        "SRV",
        "CV",
        "WINDOW",
        "REQUEST ID / REASON"
    );
    for h in &held {
        let s = |k: &str| h[k].as_str().unwrap_or("").to_string();
        out.push_str(&format!(
            "{:<6} {:<24} {:<23} {:<8} {:<3} {:<7} {}\n{:>76} {}\n",
            h["id"].as_u64().unwrap_or(0),
            s("quarantined_at"),
            s("user"),
            s("srv"),
            h["cv"].as_u64().unwrap_or(0),
            s("window"),
            s("request_id"),
            "",
            s("reason"),
        ));
    }
    out
}
