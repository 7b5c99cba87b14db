//! The HTTP server: actix-web over rustls on the DCC Boxed paths, health and readiness, and a
//! separate Prometheus listener. The DUIS listener also serves the [`Extras`]: the pull
//! endpoint for kept responses ([`crate::delivery::pull`]), the Registration Data push
//! endpoint ([`super::registration_push`]) and the quarantine's admin API
//! ([`crate::anomaly::admin`]). The metrics listener also serves the monthly Code
//! Performance Measures report ([`crate::performance`]) when one is given.
//!
//! Shutdown: actix-web handles SIGTERM and SIGINT by stopping the listeners, letting requests
//! in flight finish (up to `shutdown_timeout`), then returning from [`run`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use metrics_exporter_prometheus::PrometheusHandle;

use super::{Handler, Service};
use crate::metric_name;

/// Where and how to listen.
#[derive(Debug)]
pub struct Listeners {
    /// The HTTPS listener with its TLS configuration.
    pub https: Option<(SocketAddr, rustls::ServerConfig)>,
    /// A plain-HTTP listener (only when explicitly configured).
    pub plain_http: Option<SocketAddr>,
    /// The metrics listener.
    pub metrics: Option<SocketAddr>,
    /// Largest accepted request body (the Non-Device service's, whose 11.1 requests carry
    /// firmware images, and the other endpoints').
    pub max_body_bytes: usize,
    /// Largest body on the Send Command and Transform services (device requests).
    pub max_device_body_bytes: usize,
    /// Most bytes of DUIS request bodies held at once, from the first byte read until the
    /// request is answered (at least `max_body_bytes`).
    pub max_inflight_body_bytes: usize,
    /// Seconds to let requests in flight finish on shutdown.
    pub shutdown_timeout_s: u64,
    /// HTTP worker threads (0: one per core).
    pub workers: usize,
}

/// Endpoints served on the DUIS listener beside the three services, each optional.
#[derive(Debug, Default)]
pub struct Extras {
    /// `GET /api/v1/responses` and its acknowledgements.
    pub pull: Option<Arc<crate::delivery::pull::PullEndpoint>>,
    /// `POST /api/v1/registration`.
    pub registration_push: Option<Arc<super::registration_push::RegistrationPush>>,
    /// `/api/v1/admin/quarantine`: the quarantine's admin API.
    pub quarantine: Option<Arc<crate::anomaly::admin::AdminEndpoint>>,
    /// `GET /api/v1/reports/performance`, served on the metrics listener (not this one).
    pub performance: Option<Arc<crate::performance::Tally>>,
    /// `/api/v1/forecasts`: Users' six-month forecasts.
    pub forecasts: Option<Arc<crate::demand::http::ForecastEndpoint>>,
    /// `GET /api/v1/reports/demand`, served on the metrics listener (not this one).
    pub demand: Option<Arc<crate::demand::Demand>>,
}

struct State {
    handler: Arc<dyn Handler>,
    /// [`Listeners::max_body_bytes`].
    max_body_bytes: usize,
    /// [`Listeners::max_device_body_bytes`].
    max_device_body_bytes: usize,
    /// [`Listeners::max_inflight_body_bytes`].
    budget: Arc<BodyBudget>,
}

/// The bytes of request bodies the DUIS services may hold at once. Each request reserves what
/// it has read, as chunks arrive (never a declared length: a client that announces a large
/// body and sends nothing holds nothing), and gives it back when the work on it is done
/// (which a client going away does not cut short), or as soon as its body is being drained
/// rather than kept; so many concurrent large bodies
/// (the Non-Device service takes firmware images of up to `limits.max_request_bytes`)
/// cannot exhaust memory: past the budget, a request is answered 503 without its body being
/// kept.
#[derive(Debug)]
pub struct BodyBudget {
    limit: usize,
    used: AtomicUsize,
}

impl BodyBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(BodyBudget {
            limit,
            used: AtomicUsize::new(0),
        })
    }

    /// An empty reservation.
    pub fn reservation(self: &Arc<Self>) -> Reservation {
        Reservation {
            budget: self.clone(),
            bytes: 0,
        }
    }

    fn take(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|&u| u <= self.limit)
            })
            .is_ok()
    }
}

/// Bytes held from a [`BodyBudget`], given back on drop.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<BodyBudget>,
    bytes: usize,
}

impl Reservation {
    /// Gives back everything held.
    pub fn release(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
        self.bytes = 0;
    }

    /// Holds at least `n` bytes in all; false (and nothing more held) when the budget has
    /// not that much left.
    pub fn hold(&mut self, n: usize) -> bool {
        if n <= self.bytes {
            return true;
        }
        if self.budget.take(n - self.bytes) {
            self.bytes = n;
            true
        } else {
            false
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.release();
    }
}

async fn service_endpoint(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<State>,
    service: web::Data<Service>,
) -> HttpResponse {
    // The body is read only up to the service's limit: a device request is a few tens of kB,
    // only the Non-Device service's firmware images are large.
    let ct = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let limit = match **service {
        Service::NonDevice => state.max_body_bytes,
        Service::SendCommand | Service::Transform => state.max_device_body_bytes,
    };
    let mut reservation = state.budget.reservation();
    if mime != "application/xml" && mime != "text/xml" {
        let _ = read_body(&req, payload, 0, state.drain_bytes(), &mut reservation).await;
        return HttpResponse::UnsupportedMediaType()
            .content_type("text/plain; charset=utf-8")
            .body("Content-Type must be application/xml\n");
    }
    let body = match read_body(&req, payload, limit, state.drain_bytes(), &mut reservation).await {
        Ok(body) => body,
        Err(BodyError::Read(e)) => {
            return HttpResponse::BadRequest()
                .content_type("text/plain; charset=utf-8")
                .body(format!("request body could not be read: {e}\n"));
        }
        Err(BodyError::TooLarge) => {
            return HttpResponse::PayloadTooLarge()
                .content_type("text/plain; charset=utf-8")
                .body(format!(
                    "request body larger than {limit} bytes, the limit on {}\n",
                    service.path()
                ));
        }
        Err(BodyError::Busy) => {
            metrics::counter!(metric_name::INGRESS_REJECTED_TOTAL, "check" => "0").increment(1);
            return HttpResponse::ServiceUnavailable()
                .insert_header((actix_web::http::header::RETRY_AFTER, "1"))
                .content_type("text/plain; charset=utf-8")
                .body(format!(
                    "request bodies being processed already hold the gateway's {} bytes \
                     (limits.max_inflight_request_bytes); try again\n",
                    state.budget.limit
                ));
        }
    };
    // A request read in full is processed to its end on a task of its own, even when its
    // client goes away meanwhile (actix-web then drops this handler): its acceptance may
    // already be on its way to the store, and an accepted request must be routed and
    // answered, not left in the journal until the next start. The body's bytes stay
    // reserved until that work is done, since it holds them (in the verifier's queue, say).
    let handler = Arc::clone(&state.handler);
    let service = **service;
    let work = actix_web::rt::spawn(async move {
        let reply = handler.handle(service, body).await;
        drop(reservation);
        reply
    });
    let reply = match work.await {
        Ok(reply) => reply,
        Err(e) => {
            tracing::error!(error = %e, "a DUIS request's processing ended abnormally");
            return HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("the request's processing ended abnormally\n");
        }
    };
    HttpResponse::build(
        actix_web::http::StatusCode::from_u16(reply.status)
            .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR),
    )
    .content_type(reply.content_type)
    .body(reply.body)
}

impl State {
    /// How much of a refused body is read and dropped before the connection is given up:
    /// twice the largest body taken.
    fn drain_bytes(&self) -> usize {
        self.max_body_bytes.saturating_mul(2)
    }
}

/// Why a body was not taken.
enum BodyError {
    /// Longer than the limit.
    TooLarge,
    /// The bodies in flight hold the whole [`BodyBudget`].
    Busy,
    /// The stream failed (the connection broke, a malformed chunked encoding).
    Read(String),
}

/// Reads `payload`, keeping at most `keep` bytes. A longer body is still read to its end and
/// dropped, up to `drain` bytes in all, so that the client reads the answer (413, 415) rather
/// than a reset stream; beyond `drain` the connection is given up. A declared length beyond
/// `drain` is refused without reading. What is kept is held in `reservation` as it arrives;
/// when the [`BodyBudget`] has no room for it, the body is read to its end and dropped like
/// a long one, and the answer is [`BodyError::Busy`]. A body being dropped holds nothing.
/// Written on the payload stream because actix-web's limited readers stop at the limit and
/// leave the rest unread.
async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    keep: usize,
    drain: usize,
    reservation: &mut Reservation,
) -> Result<web::Bytes, BodyError> {
    use futures_core::Stream as _;
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > drain as u64) {
        return Err(BodyError::TooLarge);
    }
    // A declared length over the limit: nothing is kept.
    let keep = if declared.is_some_and(|n| n > keep as u64) {
        0
    } else {
        keep
    };
    let mut busy = false;
    let mut buf = web::BytesMut::new();
    let mut seen = 0usize;
    while let Some(chunk) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut payload).poll_next(cx)).await
    {
        let chunk = chunk.map_err(|e| BodyError::Read(e.to_string()))?;
        seen = seen.saturating_add(chunk.len());
        if seen > drain {
            return Err(BodyError::TooLarge);
        }
        if seen <= keep && !busy && reservation.hold(seen) {
            buf.extend_from_slice(&chunk);
        } else {
            busy |= seen <= keep;
            buf = web::BytesMut::new();
            reservation.release();
        }
    }
    if seen > keep {
        return Err(BodyError::TooLarge);
    }
    if busy {
        return Err(BodyError::Busy);
    }
    Ok(buf.freeze())
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

async fn ready(state: web::Data<State>) -> HttpResponse {
    if state.handler.ready() {
        HttpResponse::Ok()
            .content_type("text/plain")
            .body("ready\n")
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("not ready\n")
    }
}

/// Runs the servers until a termination signal. Returns after in-flight requests drained.
pub async fn run(
    listeners: Listeners,
    handler: Arc<dyn Handler>,
    prometheus: Option<PrometheusHandle>,
    extras: Extras,
) -> std::io::Result<()> {
    let state = web::Data::new(State {
        handler,
        max_body_bytes: listeners.max_body_bytes,
        max_device_body_bytes: listeners
            .max_device_body_bytes
            .min(listeners.max_body_bytes),
        budget: BodyBudget::new(
            listeners
                .max_inflight_body_bytes
                .max(listeners.max_body_bytes),
        ),
    });
    let max = listeners.max_body_bytes;
    let pull = extras.pull.map(web::Data::from);
    let push = extras.registration_push.map(web::Data::from);
    let quarantine = extras.quarantine.map(web::Data::from);
    let performance = extras.performance.map(web::Data::from);
    let forecasts = extras.forecasts.map(web::Data::from);
    let demand = extras.demand.map(web::Data::from);
    let mut server = HttpServer::new(move || {
        let mut app = App::new()
            .app_data(state.clone())
            .app_data(web::PayloadConfig::new(max))
            .route("/health", web::get().to(health))
            .route("/ready", web::get().to(ready));
        // The DUIS paths come before the routes with path parameters (pull, quarantine,
        // forecasts): actix-web tries resources in order, and a static path is matched by
        // comparison where a parameterised one runs its pattern on every request.
        for s in Service::ALL {
            app = app.service(
                web::resource(s.path())
                    .app_data(web::Data::new(s))
                    .route(web::post().to(service_endpoint)),
            );
        }
        if let Some(pull) = &pull {
            let pull = pull.clone();
            app = app.configure(move |c| crate::delivery::pull::configure(c, pull));
        }
        if let Some(push) = &push {
            let push = push.clone();
            app = app.configure(move |c| super::registration_push::configure(c, push));
        }
        if let Some(quarantine) = &quarantine {
            let quarantine = quarantine.clone();
            app = app.configure(move |c| crate::anomaly::admin::configure(c, quarantine));
        }
        if let Some(forecasts) = &forecasts {
            let forecasts = forecasts.clone();
            app = app.configure(move |c| crate::demand::http::configure_forecasts(c, forecasts));
        }
        app
    })
    .on_connect(crate::delivery::identity::on_connect)
    // Answers to pipelined requests are small writes that follow each other closely; with
    // Nagle's algorithm each would wait for the client's delayed ACK of the one before (up to
    // 40 ms on Linux). actix-web leaves the socket option alone unless asked.
    .tcp_nodelay(true)
    .shutdown_timeout(listeners.shutdown_timeout_s);
    if listeners.workers > 0 {
        server = server.workers(listeners.workers);
    }
    if let Some((addr, tls)) = listeners.https {
        server = server.bind_rustls_0_23(addr, tls)?;
        for a in server.addrs() {
            crate::say!("DUIS listening on https://{a}");
        }
    }
    if let Some(addr) = listeners.plain_http {
        let before = server.addrs().len();
        server = server.bind(addr)?;
        for a in server.addrs().into_iter().skip(before) {
            crate::say!("DUIS listening on http://{a} (plain HTTP)");
        }
    }
    let main = server.run();
    match (listeners.metrics, prometheus) {
        (Some(addr), Some(handle)) => {
            let handle = web::Data::new(handle);
            let metrics = HttpServer::new(move || {
                let app = App::new().app_data(handle.clone()).route(
                    "/metrics",
                    web::get().to(|h: web::Data<PrometheusHandle>| async move {
                        crate::metric_name::publish_crypto_operations();
                        HttpResponse::Ok()
                            .content_type("text/plain; version=0.0.4")
                            .body(h.render())
                    }),
                );
                let app = match &performance {
                    Some(p) => {
                        let p = p.clone();
                        app.configure(move |c| crate::performance::configure(c, p))
                    }
                    None => app,
                };
                match &demand {
                    Some(d) => {
                        let d = d.clone();
                        app.configure(move |c| crate::demand::http::configure_report(c, d))
                    }
                    None => app,
                }
            })
            .workers(1)
            .bind(addr)?;
            for a in metrics.addrs() {
                crate::say!("metrics listening on http://{a}/metrics");
            }
            let metrics = metrics.run();
            // Each actix server runs only while polled: the metrics one gets its own task.
            let metrics_handle = metrics.handle();
            let metrics_task = actix_web::rt::spawn(metrics);
            let r = main.await;
            metrics_handle.stop(true).await;
            let _ = metrics_task.await;
            r
        }
        _ => main.await,
    }
}

/// Times a request and counts it with its labels.
#[derive(Debug)]
pub struct RequestTimer(Instant);

impl RequestTimer {
    /// Starts timing.
    pub fn start() -> Self {
        RequestTimer(Instant::now())
    }

    /// Records the outcome. The labels are static strings (the SRV, Command Variant and
    /// response code come from closed lists), so recording allocates nothing.
    pub fn finish(self, service: Service, srv: &'static str, cv: &'static str, code: &'static str) {
        metrics::counter!(
            metric_name::INGRESS_REQUESTS_TOTAL,
            "service" => service.label(),
            "srv" => srv,
            "cv" => cv,
            "code" => code
        )
        .increment(1);
        metrics::histogram!(metric_name::INGRESS_REQUEST_SECONDS, "service" => service.label())
            .record(self.0.elapsed().as_secs_f64());
    }
}
