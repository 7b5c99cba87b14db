//! `hubgate forecast submit FILE` and `hubgate forecast show`: a User's six-month forecast of
//! Service Requests (`hubgate_gateway::demand::forecast`), sent to and read from a running
//! gateway over HTTPS (`POST`/`GET /api/v1/forecasts`).
//!
//! The bearer token is a User's `users.<id>.pull_token` (the forecast is then that User's)
//! or the operators' admin token (the forecast names its User). Exit status: 0 when the
//! gateway took or listed the forecasts, 1 when it refused them (the message names the
//! field), 2 when it could not be reached.

use std::path::PathBuf;

use anyhow::Context as _;
use hubgate_gateway::demand::http::FORECASTS_PATH;

/// Where the gateway is and how to authenticate.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// The gateway's DUIS listener.
    #[arg(long, value_name = "URL", default_value = "https://127.0.0.1:8079")]
    url: String,
    /// File holding the bearer token: a User's pull token, or the admin token.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "./hubgate-data/anomaly/admin-token"
    )]
    token_file: PathBuf,
    /// CA certificate(s) to trust for the gateway's TLS certificate (PEM).
    #[arg(long, value_name = "FILE", default_value = "./hubgate-data/tls/ca.pem")]
    ca: PathBuf,
}

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
    let token = std::fs::read_to_string(&target.token_file)
        .with_context(|| format!("reading the token {}", target.token_file.display()))?;
    let tls = super::quarantine::tls_config(&target.ca)?;
    let url = format!("{}{path}", target.url.trim_end_matches('/'));
    let token = token.trim().to_string();
    let outcome = actix_web::rt::System::new().block_on(async move {
        let client = awc::Client::builder()
            .connector(awc::Connector::new().rustls_0_23(tls))
            .timeout(std::time::Duration::from_secs(60))
            .finish();
        let request = client
            .request(method, &url)
            .insert_header((awc::http::header::AUTHORIZATION, format!("Bearer {token}")));
        let sent = match body {
            Some(b) => {
                request
                    .insert_header((awc::http::header::CONTENT_TYPE, "application/json"))
                    .send_body(b)
                    .await
            }
            None => request.send().await,
        };
        let mut response = sent.map_err(|e| format!("{url}: {e}"))?;
        let body = response
            .body()
            .limit(64 << 20)
            .await
            .map_err(|e| format!("{url}: reading the answer: {e}"))?;
        Ok::<_, String>((response.status().as_u16(), body))
    });
    super::quarantine::print_answer(
        "hubgate forecast",
        outcome.map(|(status, body)| (status, body.to_vec())),
        table.then_some(render_table),
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
