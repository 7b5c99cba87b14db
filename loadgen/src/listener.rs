//! The HTTPS listener that receives what the gateway delivers asynchronously: Service
//! Responses, future-dated outcomes, device and DCC alerts, POSTed as signed DUIS XML with a
//! `HubGate-Message-ID` header (any path). Each body goes to the [`Tracker`], which matches it
//! to its request; the listener answers `200` to every DUIS message (a duplicate included, so
//! the gateway stops retrying it) and `400` to a body that is not one.
//!
//! It runs actix-web with rustls (aws-lc-rs) on a thread of its own, so its work does not
//! share a scheduler with the request senders.

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

use crate::tracker::{Outcome, Tracker};

/// The header that identifies a delivered message across attempts.
pub const MESSAGE_ID_HEADER: &str = "HubGate-Message-ID";
/// Largest body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// A running listener.
#[derive(Debug)]
pub struct Listener {
    /// The address it listens on (with the port chosen when 0 was asked for).
    pub addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    tracker: web::Data<Arc<Tracker>>,
) -> HttpResponse {
    if req.method() != actix_web::http::Method::POST {
        return HttpResponse::MethodNotAllowed().finish();
    }
    let id = req
        .headers()
        .get(MESSAGE_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // Matched here, on the listener's own thread: reading an answer is a streaming scan of a
    // few microseconds, cheaper than the thread hand-off a blocking pool would add to each
    // delivery (measured: that hop was about a sixth of loadgen's CPU in the e2e benchmark).
    match tracker.deliver(id.as_deref(), &body, crate::time::now_ms()) {
        Outcome::Unreadable => HttpResponse::BadRequest()
            .content_type("text/plain")
            .body("not a DUIS response\n"),
        _ => HttpResponse::Ok().finish(),
    }
}

impl Listener {
    /// Starts listening on `addr` with `tls` (plain HTTP when `None`), handing every message
    /// to `tracker`; returns once it listens.
    ///
    /// # Errors
    ///
    /// When the address cannot be bound or the thread cannot start.
    pub fn start(
        addr: SocketAddr,
        tls: Option<rustls::ServerConfig>,
        tracker: Arc<Tracker>,
    ) -> Result<Listener, String> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("loadgen-listener".into())
            .spawn(move || {
                actix_web::rt::System::new().block_on(async move {
                    let data = web::Data::new(tracker);
                    let server = HttpServer::new(move || {
                        App::new()
                            .app_data(data.clone())
                            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
                            .default_service(web::to(receive))
                    })
                    .workers(2)
                    // Small answers in quick succession: no waiting for delayed ACKs.
                    .tcp_nodelay(true)
                    .disable_signals()
                    .shutdown_timeout(1);
                    let bound = match tls {
                        Some(tls) => server.bind_rustls_0_23(addr, tls),
                        None => server.bind(addr),
                    };
                    match bound {
                        Ok(server) => {
                            let addrs = server.addrs();
                            let running = server.run();
                            let _ = tx.send(Ok((addrs, running.handle())));
                            if let Err(e) = running.await {
                                eprintln!("loadgen: listener stopped: {e}");
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(format!("listening on {addr}: {e}")));
                        }
                    }
                });
            })
            .map_err(|e| format!("starting the listener thread: {e}"))?;
        let (addrs, handle) = rx
            .recv()
            .map_err(|_| "the listener thread ended before listening".to_string())??;
        let addr = addrs.first().copied().unwrap_or(addr);
        Ok(Listener {
            addr,
            handle,
            thread: Some(thread),
        })
    }

    /// Stops listening (requests being handled finish first) and waits for the thread.
    pub async fn stop(mut self) {
        self.handle.stop(true).await;
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}
