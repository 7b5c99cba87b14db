//! `hubgate forecast submit FILE` and `hubgate forecast show`: a User's six-month forecast of
//! Service Requests (`hubgate_gateway::demand::forecast`), sent to and read from a running
//! gateway over HTTPS (`POST`/`GET /api/v1/forecasts`).
//!
//! The bearer token is a User's `users.<id>.pull_token` (the forecast is then that User's)
//! or the operators' admin token (the forecast names its User). Exit status: 0 when the
//! gateway took or listed the forecasts, 1 when it refused them (the message names the
//! field), 2 when it could not be reached.

use hubgate_gateway::demand::http::FORECASTS_PATH;

use super::operator_api::{self, Call, Target};

/// `hubgate forecast …`
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Submit a six-month forecast (JSON: {"user": ID, "months": {"YYYY-MM": {group: n}}}),
    /// replacing what was stored for its months.
    Submit {
        /// The forecast file, or - for standard input.
        file: String,
        #[command(flatten)]
        target: Target,
    },
    /// List the stored forecasts (a User: its own).
    Show {
        /// Only this User's (operators).
        #[arg(long, value_name = "ID")]
        user: Option<String>,
        /// Print the gateway's JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
}

/// Runs `hubgate forecast …`.
pub fn run(cmd: Command) -> anyhow::Result<i32> {
    let (method, path, body, target, table) = match &cmd {
        Command::Submit { file, target } => (
            awc::http::Method::POST,
            FORECASTS_PATH.to_string(),
            Some(super::read_input(file)?),
            target,
            false,
        ),
        Command::Show { user, json, target } => (
            awc::http::Method::GET,
            match user {
                Some(u) => format!("{FORECASTS_PATH}?user={u}"),
                None => FORECASTS_PATH.to_string(),
            },
            None,
            target,
            !json,
        ),
    };
    operator_api::run(
        "hubgate forecast",
        target,
        Call {
            method,
            path,
            json: body,
            table: table.then_some(render_table),
        },
    )
}

/// One line per User, month and group.
fn render_table(v: &serde_json::Value) -> String {
    let mut out = format!(
        "{:<23} {:<7} {:<28} {:>12}  {}\n",
        "USER", "MONTH", "GROUP", "REQUESTS", "SUBMITTED"
    );
    for f in v["forecasts"].as_array().into_iter().flatten() {
        let s = |k: &str| f[k].as_str().unwrap_or("").to_string();
        for (group, n) in f["requests"].as_object().into_iter().flatten() {
            out.push_str(&format!(
                "{:<23} {:<7} {:<28} {:>12}  {} by {}\n",
                s("user"),
                s("month"),
                group,
                n.as_u64().unwrap_or(0),
                s("submitted_at"),
                s("submitted_by")
            ));
        }
    }
    out
}
