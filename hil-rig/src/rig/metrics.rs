//! The rig's metrics, and the `/metrics` listener that serves them.
//!
//! Names follow the gateway's style (`hubgate_<subsystem>_<what>_<unit>`, `_total` for
//! counters, `_seconds` for durations). Unlike the gateway's, the labels name ports and hubs:
//! a rig drives a handful of lab devices, and which port misbehaves is the point of the
//! dashboard (`dashboards/grafana/hil-rig.json`).
//!
//! The exporter is metrics-exporter-prometheus without its HTTP feature (the workspace
//! builds it that way, and the gateway serves its metrics through actix). The rig has no
//! HTTP server, so [`serve`] is a small listener written here: it answers `GET /metrics`
//! with the rendered text and anything else with 404, reading only the request line of a
//! head of at most 8 KiB within 5 s. A scrape endpoint needs nothing more, and this keeps an
//! HTTP stack (hyper or actix) out of the rig.
//!
//! Histograms are served as summaries (quantiles over a sliding window, `_sum`, `_count`),
//! as the gateway's are; `dashboards/README.md` explains what that means for the panels.

use std::net::SocketAddr;

use metrics::{describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Counter: frames through a bridged port, by `port` and `direction` (`in`, `out`).
pub const PORT_FRAMES_TOTAL: &str = "hubgate_rig_port_frames_total";
/// Counter: bytes through a port (framing included), by `port` and `direction`.
pub const PORT_BYTES_TOTAL: &str = "hubgate_rig_port_bytes_total";
/// Counter: port failures, by `port` and `kind` (`LinkErrorKind::as_str`: `closed`,
/// `timeout`, `framing`, `protocol`, `setting`, `unavailable`, `io`).
pub const PORT_ERRORS_TOTAL: &str = "hubgate_rig_port_errors_total";
/// Histogram: seconds from a command written to a bridged port to its answer, or of one
/// meter read on an adapter port, by `port`.
pub const PORT_ROUND_TRIP_SECONDS: &str = "hubgate_rig_port_round_trip_seconds";
/// Gauge: 1 while a port is open, 0 while it is down (unplugged, not yet opened), by `port`.
pub const PORT_UP: &str = "hubgate_rig_port_up";
/// Counter: a port opened again after it was lost, by `port`.
pub const PORT_RECONNECTS_TOTAL: &str = "hubgate_rig_port_reconnects_total";
/// Counter: lab meter reads on adapter ports, by `port` and `outcome` (`ok`, `error`).
pub const PORT_METER_READS_TOTAL: &str = "hubgate_rig_port_meter_reads_total";
/// Counter: GBCS commands from the gateway, by `hub` and device `mode` (`emulated`,
/// `bridged`, `adapter`, `none` for a device the hub does not have).
pub const HUB_COMMANDS_TOTAL: &str = "hubgate_rig_hub_commands_total";
/// Counter: GBCS responses and alerts sent to the gateway, by `hub`.
pub const HUB_ANSWERS_TOTAL: &str = "hubgate_rig_hub_answers_total";
/// Counter: commands left unanswered (the gateway times them out: E20/E21), by `hub` and
/// `reason` (`port_down`, `port_busy`, `port_error`, `discarded`, `no_device`).
pub const HUB_UNANSWERED_TOTAL: &str = "hubgate_rig_hub_unanswered_total";
/// Gauge: 1 while the rig is registered with the gateway.
pub const GATEWAY_UP: &str = "hubgate_rig_gateway_up";
/// Counter: registrations with the gateway (the first one and every reconnection).
pub const GATEWAY_REGISTRATIONS_TOTAL: &str = "hubgate_rig_gateway_registrations_total";

/// Every name above, for tests and the dashboard check.
pub const ALL: &[&str] = &[
    PORT_FRAMES_TOTAL,
    PORT_BYTES_TOTAL,
    PORT_ERRORS_TOTAL,
    PORT_ROUND_TRIP_SECONDS,
    PORT_UP,
    PORT_RECONNECTS_TOTAL,
    PORT_METER_READS_TOTAL,
    HUB_COMMANDS_TOTAL,
    HUB_ANSWERS_TOTAL,
    HUB_UNANSWERED_TOTAL,
    GATEWAY_UP,
    GATEWAY_REGISTRATIONS_TOTAL,
];

/// Registers the HELP texts.
pub fn describe() {
    describe_counter!(PORT_FRAMES_TOTAL, "Frames through a bridged port");
    describe_counter!(PORT_BYTES_TOTAL, "Bytes through a port, framing included");
    describe_counter!(PORT_ERRORS_TOTAL, "Port failures by kind");
    describe_histogram!(
        PORT_ROUND_TRIP_SECONDS,
        metrics::Unit::Seconds,
        "Command to answer on a bridged port, or one meter read on an adapter port"
    );
    describe_gauge!(PORT_UP, "1 while the port is open");
    describe_counter!(PORT_RECONNECTS_TOTAL, "Port opened again after it was lost");
    describe_counter!(PORT_METER_READS_TOTAL, "Lab meter reads by outcome");
    describe_counter!(
        HUB_COMMANDS_TOTAL,
        "GBCS commands from the gateway by device mode"
    );
    describe_counter!(
        HUB_ANSWERS_TOTAL,
        "GBCS responses and alerts sent to the gateway"
    );
    describe_counter!(
        HUB_UNANSWERED_TOTAL,
        "Commands left unanswered (the gateway times them out)"
    );
    describe_gauge!(GATEWAY_UP, "1 while registered with the gateway");
    describe_counter!(
        GATEWAY_REGISTRATIONS_TOTAL,
        "Registrations with the gateway"
    );
}

/// Serves `GET /metrics` from `handle` on `addr`; returns the bound address (port 0 picks
/// one) once listening. The server runs on the current runtime until the process ends.
///
/// # Errors
/// When `addr` cannot be bound.
pub async fn serve(addr: SocketAddr, handle: PrometheusHandle) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                continue;
            };
            let handle = handle.clone();
            tokio::spawn(async move {
                let head =
                    tokio::time::timeout(std::time::Duration::from_secs(5), read_head(&mut sock))
                        .await;
                let (status, body) = match head {
                    Ok(Some(line)) if is_metrics_get(&line) => ("200 OK", handle.render()),
                    Ok(Some(_)) => ("404 Not Found", "GET /metrics\n".to_string()),
                    _ => return,
                };
                let reply = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(reply.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Ok(bound)
}

/// Reads a request head (at most 8 KiB, up to the blank line); its first line.
async fn read_head(sock: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() + n > 8192 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf);
    text.lines().next().map(str::to_string)
}

fn is_metrics_get(request_line: &str) -> bool {
    let mut parts = request_line.split(' ');
    parts.next() == Some("GET")
        && parts
            .next()
            .is_some_and(|p| p == "/metrics" || p.starts_with("/metrics?"))
}
