//! `hubgate quarantine list|release ID|delete ID`: the quarantine's admin API
//! (`hubgate_gateway::anomaly::admin`) from the command line, over HTTPS with the admin
//! bearer token.
//!
//! Exit status: 0 when the gateway did what was asked, 1 when it refused (unknown ID,
//! wrong token: the message says which), 2 when it could not be reached.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use hubgate_gateway::anomaly::admin::PATH;

/// Where the gateway is and how to authenticate.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// The gateway's DUIS listener.
    #[arg(long, value_name = "URL", default_value = "https://127.0.0.1:8079")]
    url: String,
    /// File holding the admin bearer token (the gateway prints its path at start).
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
    let token = std::fs::read_to_string(&target.token_file)
        .with_context(|| format!("reading the admin token {}", target.token_file.display()))?;
    let tls = tls_config(&target.ca)?;
    let url = format!("{}{path}", target.url.trim_end_matches('/'));
    let token = token.trim().to_string();
    let outcome = actix_web::rt::System::new().block_on(async move {
        let client = awc::Client::builder()
            .connector(awc::Connector::new().rustls_0_23(tls))
            .timeout(std::time::Duration::from_secs(60))
            .finish();
        let mut response = client
            .request(method, &url)
            .insert_header((awc::http::header::AUTHORIZATION, format!("Bearer {token}")))
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let body = response
            .body()
            .limit(64 << 20)
            .await
            .map_err(|e| format!("{url}: reading the answer: {e}"))?;
        Ok::<_, String>((response.status().as_u16(), body))
    });
    super::quarantine::print_answer(
        "hubgate quarantine",
        outcome.map(|(status, body)| (status, body.to_vec())),
        table.then_some(render_table),
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

/// rustls with aws-lc-rs, trusting the certificates in `ca` only, HTTP/1.1.
pub(super) fn tls_config(ca: &Path) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for c in hubgate_gateway::ingress::tls::load_certs(ca)
        .with_context(|| format!("reading the CA {}", ca.display()))?
    {
        roots.add(c).context("adding the CA certificate")?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Prints what the gateway answered a command-line tool (`tool`): the body, or the table
/// `table` renders from its JSON; the exit status: 0 for a 2xx answer, 1 for another
/// answer (its `error` printed), 2 when the gateway could not be asked.
pub(super) fn print_answer(
    tool: &str,
    outcome: Result<(u16, Vec<u8>), String>,
    table: Option<fn(&serde_json::Value) -> String>,
) -> anyhow::Result<i32> {
    let (status, body) = match outcome {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{tool}: {e}");
            return Ok(2);
        }
    };
    let text = String::from_utf8_lossy(&body);
    if !(200..300).contains(&status) {
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or_else(|| text.trim().to_string());
        eprintln!("{tool}: the gateway answered {status}: {message}");
        return Ok(1);
    }
    match table {
        Some(render) => {
            let v: serde_json::Value =
                serde_json::from_slice(&body).context("the gateway's list is not JSON")?;
            print!("{}", render(&v));
        }
        None => println!("{}", text.trim()),
    }
    Ok(0)
}
