//! One HTTPS call from a command-line tool (`hubgate quarantine`, `hubgate forecast`) to a
//! running gateway's API, with a bearer token read from a file and the gateway's CA, and
//! what it answered printed. Exit status: 0 for a 2xx answer, 1 when the gateway refused
//! (its `error` is printed), 2 when it could not be reached.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;

/// Where the gateway is and how to authenticate.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// The gateway's DUIS listener.
    #[arg(long, value_name = "URL", default_value = "https://127.0.0.1:8079")]
    url: String,
    /// File holding the bearer token: the admin token (the gateway prints its path at
    /// start), or for forecasts a User's pull token.
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

/// One request to the gateway.
#[derive(Debug)]
pub struct Call {
    /// The HTTP method.
    pub method: awc::http::Method,
    /// The path and query.
    pub path: String,
    /// A JSON body to send.
    pub json: Option<Vec<u8>>,
    /// Renders a 2xx JSON answer as a table; `None` prints the answer as it is.
    pub table: Option<fn(&serde_json::Value) -> String>,
}

/// Makes `call` to `target` and prints the answer; the exit status (see the module docs).
///
/// # Errors
///
/// When the token or the CA cannot be read, or a listing is not JSON.
pub fn run(tool: &str, target: &Target, call: Call) -> anyhow::Result<i32> {
    let token = std::fs::read_to_string(&target.token_file)
        .with_context(|| format!("reading the token {}", target.token_file.display()))?;
    let tls = tls_config(&target.ca)?;
    let url = format!("{}{}", target.url.trim_end_matches('/'), call.path);
    let token = token.trim().to_string();
    let (method, json) = (call.method, call.json);
    let outcome = actix_web::rt::System::new().block_on(async move {
        let client = awc::Client::builder()
            .connector(awc::Connector::new().rustls_0_23(tls))
            .timeout(std::time::Duration::from_secs(60))
            .finish();
        let request = client
            .request(method, &url)
            .insert_header((awc::http::header::AUTHORIZATION, format!("Bearer {token}")));
        let sent = match json {
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
    match call.table {
        Some(render) => {
            let v: serde_json::Value =
                serde_json::from_slice(&body).context("the gateway's list is not JSON")?;
            print!("{}", render(&v));
        }
        None => println!("{}", text.trim()),
    }
    Ok(0)
}

/// rustls with aws-lc-rs, trusting the certificates in `ca` only, HTTP/1.1.
fn tls_config(ca: &Path) -> anyhow::Result<Arc<rustls::ClientConfig>> {
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
