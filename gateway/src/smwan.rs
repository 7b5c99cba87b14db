//! The gateway end of the SMWAN link: a QUIC listener where `hil-rig` processes connect,
//! register the hubs they host, and then carry commands and the hubs' answers (the wire
//! format is in [`hubgate_hil_rig::link`]).
//!
//! [`SmwanLink`] is the [`HubLink`] the hub actors use: a hub that a connected rig
//! registered gets its commands on that rig's connection; any other hub goes to the fallback
//! link (the in-process emulated hubs). When a rig's connection ends (closed, or silent for
//! [`IDLE_TIMEOUT`]), its hubs are unreachable (their commands end with `E20`) until a rig
//! registers them again. A hub registered again by a newer connection moves to it (a rig
//! that restarted before its old connection timed out). The hubs a connection loses that no
//! newer connection took over are reported to the listener set with
//! [`SmwanLink::on_hubs_lost`] (the DCC alerts of [`crate::alerts`]), once per connection end.
//!
//! Firmware images (SR 11.1): [`SmwanLink::images`] is the [`ImageLink`] of the firmware
//! distribution ([`crate::firmware`]). A chunk for a hub a rig registered goes to that rig
//! as a [`Frame::ImageChunk`] (cut to [`hubgate_hil_rig::link::MAX_CHUNK`] bytes) with a sequence number, and the
//! distribution thread waits up to [`CHUNK_TIMEOUT`] for the [`Frame::ChunkAnswer`] with
//! that number from the same rig connection, which must still hold the hub's route: when a
//! newer connection registers the hub, the chunks waiting on an older one end at once (an
//! error the distribution retries) and a late answer from the older one is dropped. The
//! hub's answer (the offset it expects next, or the transfer's outcome) is handed back as it
//! is, so a transfer resumes where the hub is.
//! A chunk for any other hub goes to the fallback image path (the in-process emulated hubs).
//! No answer in time, a full queue, a lost connection or a rig registered with link version
//! 1 (no image frames) is an error: the distribution tries again and, after three failures,
//! counts the hub as unreachable. An answer nobody waits for (too late, or from a connection
//! that does not hold the hub) is dropped.
//!
//! Trust: mutual TLS against the local TLS CA (`<data>/tls/ca.pem`), server certificate
//! `<data>/tls/server.pem`. A rig presents a **rig certificate** issued by that CA
//! (`<data>/tls/rigs/<scope>.pem`, see [`crate::pki::tls`]): subject `OU=SMWAN`, and a
//! common name that is its [`RigScope`], either one CSP region (`North`, `Central`, `South`,
//! `4G North`, `4G Central`, `4G South`) or `any`. A connection whose certificate is not a
//! rig certificate (a User's client certificate, say) is closed before it can register.
//! A registration is taken only for the hubs the Smart Metering Inventory holds as
//! Communications Hubs ([`SmwanLink::known_hubs`]), so a rig cannot make the gateway keep
//! state for hubs of its own invention, and, for a region certificate, only for those whose
//! inventory `CSPRegion` is that region: the communications service provider of one region
//! cannot claim, and so receive the commands of, another region's hubs. A hub with no region
//! in the inventory is taken only from an `any` certificate (a test lab's rig). Hubs left out
//! are counted in the `Registered` answer and logged with the reason. A rig certificate
//! chains to the same CA as the Users' client certificates, so with `tls.mutual_tls` it also
//! passes the DUIS listener's TLS handshake; it names no User there, so it reaches nothing
//! that a User's signing key or pull token guards.
//!
//! Bounds: frames of at most [`hubgate_hil_rig::link::MAX_FRAME`] bytes, at most
//! [`hubgate_hil_rig::link::MAX_HUBS`] hubs per rig, a
//! queue of [`QUEUE`] frames per connection (a full queue refuses the command: `E20`), a
//! registration must arrive within [`REGISTER_WITHIN`].
//!
//! Back-pressure on alerts: a frame from a hub is classified when it is read. A GBCS response
//! (the answer to a command) and a [`Frame::ChunkAnswer`] are handed on at once, whatever the
//! alert queue holds, so an alert storm elsewhere never holds back command answers or
//! firmware. Anything else a hub sends (an alert, or bytes that do not parse as GBCS, which
//! the hub actor drops) is alert-bearing: it goes on to its hub actor directly only while the
//! response writer's alert queue ([`crate::routing::AlertQueue`], set with
//! [`SmwanLink::pace_alerts`]) has room and no earlier alert of the connection still waits;
//! otherwise it joins the connection's backlog of at most [`ALERT_BACKLOG`] frames, handed on
//! in order as room appears (each pause counted in
//! `hubgate_alerts_backpressure_total{at="smwan"}`). While that backlog is full the connection
//! reads no further frame, so QUIC flow control stops the rig from sending; answers queued
//! behind the stalled frame then wait too (only on that rig's connection). A frame whose hub
//! actor has its inbound queue full is offered again every [`PACE_POLL`] for up to
//! [`SATURATED_WAIT`] before it is dropped (logged). An alert may reach its hub actor after a
//! response the rig sent later (never after a later alert).
//!
//! What the pacing does not promise: the room it looks for is not reserved. Between the look
//! and the hub actor's own reservation, other connections and the in-process hubs may take
//! the last places; that actor then waits `routing.alert_queue_wait_ms` and drops the alert,
//! counted in `hubgate_alerts_dropped_total{reason="queue_full"}`. So under an alert flood an
//! alert a rig sent is either delivered or counted as dropped, never lost silently; the pacing
//! keeps such drops rare, it does not rule them out.
//!
//! # What the tests prove
//!
//! The unit tests below check the classification (a GBCS response is an answer; an alert,
//! a command and unparseable bytes are alert-bearing). `gateway/tests/smwan_link.rs` serves a
//! separate rig process over QUIC and its reconnection, `gateway/tests/firmware.rs` carries
//! images over the link, and `gateway/tests/alert_flood.rs` floods a queue of 8 from a rig and
//! checks the bound, the pause and that every alert is delivered or counted as dropped.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use dashmap::DashMap;
use hubgate_actors::{Eui, HubLink, Inbound, LinkError, Outbound};
use hubgate_hil_rig::firmware::{Chunk, ChunkAnswer};
use hubgate_hil_rig::link::{
    ALPN, Frame, FrameError, IMAGE_VERSION, OwnedChunk, read_frame, write_frame,
};
use hubgate_protocol::hex;
use tokio::sync::mpsc;

use crate::firmware::ImageLink;
use crate::inventory::model::CspRegion;

pub use hubgate_hil_rig::link::rig::IDLE_TIMEOUT;

/// Frames waiting to be written on one rig connection.
pub const QUEUE: usize = 4096;
/// Time a new connection has to open its stream and register.
pub const REGISTER_WITHIN: Duration = Duration::from_secs(10);
/// How often a paused connection looks again for room (alert queue, hub inbound queue).
pub const PACE_POLL: Duration = Duration::from_millis(2);
/// Longest a frame waits for its hub actor's full inbound queue before it is dropped.
pub const SATURATED_WAIT: Duration = Duration::from_secs(5);
/// Longest the firmware distribution waits for a rig's answer to one image chunk.
pub const CHUNK_TIMEOUT: Duration = Duration::from_secs(30);
/// Alert-bearing frames one connection holds while the alert queue is full before it stops
/// reading from its rig (each at most [`hubgate_hil_rig::link::MAX_FRAME`] bytes).
pub const ALERT_BACKLOG: usize = 16;

/// Whether bytes a hub sent answer a command (a GBCS response), so that they never wait for
/// room in the alert queue; anything else is treated as alert-bearing.
fn is_answer(bytes: &[u8]) -> bool {
    hubgate_protocol::gbcs::parse(bytes)
        .is_ok_and(|m| m.header.cra == hubgate_protocol::gbcs::Cra::Response)
}

/// The scope of the rig certificate a connection was made with (rustls has checked its
/// chain against the local TLS CA during the handshake).
fn rig_scope(conn: &quinn::Connection) -> Option<RigScope> {
    let certs = conn
        .peer_identity()?
        .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
        .ok()?;
    RigScope::from_certificate(certs.first()?.as_ref())
}

#[derive(Debug, Clone)]
struct Route {
    connection: u64,
    /// The link version the rig registered with.
    version: u8,
    tx: mpsc::Sender<Frame>,
}

/// An image chunk waiting for its answer: the connection and hub it went to, and where the
/// answer goes.
struct Waiting {
    connection: u64,
    hub: Eui,
    answer: std::sync::mpsc::SyncSender<ChunkAnswer>,
}

/// Told of the hubs a rig connection lost when it ended.
type HubsLost = Arc<dyn Fn(Vec<Eui>) + Send + Sync>;
type KnownHub = Arc<dyn Fn(&Eui) -> Option<HubRegion> + Send + Sync>;

/// A Communications Hub of the inventory, as the registration check sees it: its CSP region
/// (`None` when the inventory records none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubRegion(pub Option<CspRegion>);

/// What a rig certificate lets its holder register: the hubs of one CSP region, or any hub
/// of the inventory. It is the certificate's common name under `OU=SMWAN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RigScope {
    /// Any Communications Hub of the inventory, with or without a region (a test lab).
    Any,
    /// The hubs whose inventory `CSPRegion` is this one.
    Region(CspRegion),
}

/// The organisational unit that marks a rig certificate.
pub const RIG_UNIT: &str = "SMWAN";

impl RigScope {
    /// Every scope the local TLS CA makes a certificate for: `any` and the six SMWAN
    /// regions (`Unknown` and `SMETS1` hubs are not reached over this link by region).
    pub const ALL: [RigScope; 7] = [
        RigScope::Any,
        RigScope::Region(CspRegion::North),
        RigScope::Region(CspRegion::Central),
        RigScope::Region(CspRegion::South),
        RigScope::Region(CspRegion::FourGNorth),
        RigScope::Region(CspRegion::FourGCentral),
        RigScope::Region(CspRegion::FourGSouth),
    ];

    /// The certificate's common name: `any` or the region's `CSPRegion` value.
    pub fn common_name(self) -> &'static str {
        match self {
            RigScope::Any => "any",
            RigScope::Region(r) => r.as_str(),
        }
    }

    /// The file stem under `<data>/tls/rigs/`: the common name in lower case, spaces as
    /// dashes (`any`, `north`, `4g-north`).
    pub fn file_stem(self) -> String {
        self.common_name().to_ascii_lowercase().replace(' ', "-")
    }

    /// Whether a rig holding this scope may register a hub in `region`.
    pub fn allows(self, region: HubRegion) -> bool {
        match self {
            RigScope::Any => true,
            RigScope::Region(r) => region.0 == Some(r),
        }
    }

    /// The scope of a rig certificate (DER): its subject has `OU=SMWAN` and a common name
    /// that is a scope. `None` for any other certificate, or input that is not one.
    pub fn from_certificate(der: &[u8]) -> Option<RigScope> {
        use x509_parser::prelude::FromDer as _;
        let (_, x) = x509_parser::certificate::X509Certificate::from_der(der).ok()?;
        let subject = x.subject();
        if !subject
            .iter_organizational_unit()
            .any(|a| a.as_str().ok() == Some(RIG_UNIT))
        {
            return None;
        }
        let mut names = subject.iter_common_name();
        let name = names.next()?.as_str().ok()?;
        if names.next().is_some() {
            return None;
        }
        RigScope::ALL.into_iter().find(|s| s.common_name() == name)
    }
}

/// The hubs registered by rigs, and the way to each.
#[derive(Default)]
struct Routes {
    hubs: DashMap<Eui, Route>,
    next: AtomicU64,
    /// Image chunks sent and not yet answered, by sequence number.
    chunks: DashMap<u32, Waiting>,
    next_chunk: AtomicU32,
    lost: std::sync::OnceLock<HubsLost>,
    /// Which hubs a rig may register (all, when unset).
    known: std::sync::OnceLock<KnownHub>,
    /// Connections read only while this queue has room.
    alerts: std::sync::OnceLock<Arc<crate::routing::AlertQueue>>,
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routes")
            .field("hubs", &self.hubs.len())
            .finish_non_exhaustive()
    }
}

/// A [`HubLink`] that sends a hub's commands to the rig that registered it, and any other
/// hub's to `fallback`.
pub struct SmwanLink {
    routes: Arc<Routes>,
    fallback: Arc<dyn HubLink>,
}

impl std::fmt::Debug for SmwanLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmwanLink")
            .field("rig_hubs", &self.routes.hubs.len())
            .finish_non_exhaustive()
    }
}

impl SmwanLink {
    /// A link with no rig connected, sending every command to `fallback`.
    pub fn new(fallback: Arc<dyn HubLink>) -> Self {
        SmwanLink {
            routes: Arc::new(Routes::default()),
            fallback,
        }
    }

    /// Hubs registered by connected rigs.
    pub fn rig_hubs(&self) -> usize {
        self.routes.hubs.len()
    }

    /// Calls `f` with the hubs a rig connection held when it ends (those no newer
    /// connection took over). Only the first listener set is kept; `false` when one was
    /// already set.
    pub fn on_hubs_lost(&self, f: impl Fn(Vec<Eui>) + Send + Sync + 'static) -> bool {
        self.routes.lost.set(Arc::new(f)).is_ok()
    }

    /// Takes from a rig's registration only the hubs for which `known` gives a region (the
    /// Communications Hubs of the Smart Metering Inventory) that the rig's certificate
    /// allows ([`RigScope::allows`]); the others are left out, counted in the `Registered`
    /// answer and logged. Without a filter every hub is taken. Only the first filter set is
    /// kept; `false` when one was already set.
    pub fn known_hubs(
        &self,
        known: impl Fn(&Eui) -> Option<HubRegion> + Send + Sync + 'static,
    ) -> bool {
        self.routes.known.set(Arc::new(known)).is_ok()
    }

    /// Reads rig connections only while `alerts` (the response writer's alert queue) has
    /// room (see the module documentation). Only the first queue set is kept; `false` when
    /// one was already set.
    pub fn pace_alerts(&self, alerts: Arc<crate::routing::AlertQueue>) -> bool {
        self.routes.alerts.set(alerts).is_ok()
    }

    /// The image path of the firmware distribution: hubs registered by rigs over this link,
    /// `fallback` for any other hub (see the module documentation).
    pub fn images(&self, fallback: Arc<dyn ImageLink>) -> SmwanImages {
        SmwanImages {
            routes: Arc::clone(&self.routes),
            fallback,
        }
    }

    /// Starts the QUIC listener on `listen` (a thread with its own runtime) with the server
    /// certificate `cert`/`key` and client certificates checked against `client_ca`; what
    /// the rigs' hubs send goes to `inbound`. Returns the bound address.
    ///
    /// # Errors
    ///
    /// When the TLS files cannot be used or the socket cannot be bound.
    pub fn listen(
        &self,
        listen: SocketAddr,
        cert: &Path,
        key: &Path,
        client_ca: &Path,
        inbound: Inbound,
    ) -> anyhow::Result<SocketAddr> {
        let mut tls = crate::ingress::tls::server_config(cert, key, Some(client_ca))
            .context("SMWAN TLS configuration")?;
        tls.alpn_protocols = vec![ALPN.to_vec()];
        let quic = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
            .map_err(|e| anyhow::anyhow!("SMWAN TLS configuration: {e}"))?;
        let mut config = quinn::ServerConfig::with_crypto(Arc::new(quic));
        let mut transport = quinn::TransportConfig::default();
        transport
            .max_idle_timeout(Some(quinn::IdleTimeout::try_from(IDLE_TIMEOUT)?))
            .max_concurrent_bidi_streams(1u8.into())
            .max_concurrent_uni_streams(0u8.into());
        config.transport_config(Arc::new(transport));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("hubgate-smwan")
            .enable_all()
            .build()
            .context("starting the SMWAN runtime")?;
        let endpoint = runtime
            .block_on(async { quinn::Endpoint::server(config, listen) })
            .with_context(|| format!("binding the SMWAN listener {listen}"))?;
        let local = endpoint.local_addr()?;
        let routes = Arc::clone(&self.routes);
        std::thread::Builder::new()
            .name("hubgate-smwan".into())
            .spawn(move || {
                runtime.block_on(async move {
                    while let Some(incoming) = endpoint.accept().await {
                        let (routes, inbound) = (Arc::clone(&routes), inbound.clone());
                        tokio::spawn(async move {
                            let peer = incoming.remote_address();
                            if let Err(e) = serve(incoming, routes, inbound).await {
                                tracing::warn!(%peer, error = %format!("{e:#}"), "SMWAN rig connection ended");
                            }
                        });
                    }
                });
            })
            .context("starting the SMWAN thread")?;
        Ok(local)
    }
}

impl HubLink for SmwanLink {
    fn send(&self, out: Outbound, inbound: &Inbound) -> Result<(), LinkError> {
        let Some(route) = self.routes.hubs.get(&out.hub).map(|r| r.value().clone()) else {
            return self.fallback.send(out, inbound);
        };
        let hub = out.hub;
        route
            .tx
            .try_send(Frame::Command {
                hub: out.hub,
                device: out.device,
                bytes: out.bytes,
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => LinkError::Refused("SMWAN queue full".into()),
                mpsc::error::TrySendError::Closed(_) => LinkError::Unreachable(hex::eui(&hub)),
            })
    }
}

/// Firmware image chunks over the SMWAN link ([`SmwanLink::images`]).
pub struct SmwanImages {
    routes: Arc<Routes>,
    fallback: Arc<dyn ImageLink>,
}

impl std::fmt::Debug for SmwanImages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmwanImages").finish_non_exhaustive()
    }
}

impl ImageLink for SmwanImages {
    fn chunk(&self, hub: &[u8; 8], chunk: &Chunk<'_>) -> Result<ChunkAnswer, String> {
        let Some(route) = self.routes.hubs.get(hub).map(|r| r.value().clone()) else {
            return self.fallback.chunk(hub, chunk);
        };
        if route.version < IMAGE_VERSION {
            return Err(format!(
                "the rig holding this hub speaks link version {}, which carries no images",
                route.version
            ));
        }
        let seq = self.routes.next_chunk.fetch_add(1, Ordering::Relaxed);
        let (answer, wait) = std::sync::mpsc::sync_channel(1);
        self.routes.chunks.insert(
            seq,
            Waiting {
                connection: route.connection,
                hub: *hub,
                answer,
            },
        );
        let sent = route.tx.try_send(Frame::ImageChunk {
            seq,
            hub: *hub,
            chunk: OwnedChunk::from_chunk(chunk),
        });
        let result = match sent {
            Err(mpsc::error::TrySendError::Full(_)) => Err("SMWAN queue full".to_string()),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                Err("the rig's connection has ended".to_string())
            }
            Ok(()) => wait.recv_timeout(CHUNK_TIMEOUT).map_err(|e| match e {
                std::sync::mpsc::RecvTimeoutError::Timeout => {
                    format!("no answer to an image chunk within {CHUNK_TIMEOUT:?}")
                }
                std::sync::mpsc::RecvTimeoutError::Disconnected => {
                    "the rig's connection has ended".to_string()
                }
            }),
        };
        self.routes.chunks.remove(&seq);
        result
    }
}

/// Waits, reading nothing from the rig, until the alert queue has room.
async fn wait_for_room(alerts: &crate::routing::AlertQueue, peer: &SocketAddr) {
    if alerts.has_room() {
        return;
    }
    metrics::counter!(crate::metric_name::ALERTS_BACKPRESSURE_TOTAL, "at" => "smwan").increment(1);
    let since = std::time::Instant::now();
    let mut warned = false;
    while !alerts.has_room() {
        if !warned && since.elapsed() >= Duration::from_secs(5) {
            warned = true;
            tracing::warn!(%peer, "SMWAN rig connection paused for 5 s: the alert queue stays full");
        }
        tokio::time::sleep(PACE_POLL).await;
    }
}

/// Hands a frame to its hub actor, waiting (without blocking the runtime) up to
/// [`SATURATED_WAIT`] while the actor's inbound queue is full.
async fn deliver_paced(
    inbound: &Inbound,
    hub: Eui,
    bytes: Vec<u8>,
) -> Result<(), hubgate_actors::DeliverError> {
    let since = std::time::Instant::now();
    loop {
        match inbound.deliver(hub, bytes.clone()) {
            Err(hubgate_actors::DeliverError::Saturated { .. })
                if since.elapsed() < SATURATED_WAIT =>
            {
                tokio::time::sleep(PACE_POLL).await;
            }
            other => return other,
        }
    }
}

/// One rig connection: registration, then frames both ways until it ends; its hubs are
/// unregistered then.
async fn serve(
    incoming: quinn::Incoming,
    routes: Arc<Routes>,
    inbound: Inbound,
) -> anyhow::Result<()> {
    let conn = incoming.await.context("handshake")?;
    let peer = conn.remote_address();
    let Some(scope) = rig_scope(&conn) else {
        conn.close(2u32.into(), b"not an SMWAN rig certificate");
        anyhow::bail!("the client certificate is not an SMWAN rig certificate (OU=SMWAN)");
    };
    let (mut send, mut recv) = tokio::time::timeout(REGISTER_WITHIN, conn.accept_bi())
        .await
        .context("no stream opened in time")?
        .context("accepting the stream")?;
    let (version, hubs) = match tokio::time::timeout(REGISTER_WITHIN, read_frame(&mut recv)).await {
        Ok(Ok(Frame::Register { version, hubs })) => (version, hubs),
        Ok(Ok(_)) => {
            conn.close(1u32.into(), b"expected a registration");
            anyhow::bail!("first frame is not a registration");
        }
        Ok(Err(e)) => {
            conn.close(1u32.into(), b"bad registration");
            return Err(e).context("registration");
        }
        Err(_) => {
            conn.close(1u32.into(), b"no registration in time");
            anyhow::bail!("no registration in time");
        }
    };
    let hubs = match routes.known.get() {
        Some(known) => {
            let (mut unknown, mut elsewhere) = (0usize, 0usize);
            let hubs: Vec<Eui> = hubs
                .into_iter()
                .filter(|h| match known(h) {
                    None => {
                        unknown += 1;
                        false
                    }
                    Some(region) if !scope.allows(region) => {
                        elsewhere += 1;
                        false
                    }
                    Some(_) => true,
                })
                .collect();
            if unknown > 0 {
                tracing::warn!(%peer, left_out = unknown, taken = hubs.len(), "SMWAN registration named hubs that are not Communications Hubs of the inventory: left out");
            }
            if elsewhere > 0 {
                tracing::warn!(%peer, left_out = elsewhere, taken = hubs.len(), scope = scope.common_name(), "SMWAN registration named hubs outside the CSP region of the rig's certificate: left out");
            }
            hubs
        }
        None => hubs,
    };
    let id = routes.next.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::channel::<Frame>(QUEUE);
    write_frame(
        &mut send,
        &Frame::Registered {
            count: hubs.len() as u16,
        },
    )
    .await?;
    for h in &hubs {
        routes.hubs.insert(
            *h,
            Route {
                connection: id,
                version,
                tx: tx.clone(),
            },
        );
    }
    drop(tx);
    // Chunks waiting on an older connection for these hubs get no answer now.
    let taken: std::collections::HashSet<Eui> = hubs.iter().copied().collect();
    routes
        .chunks
        .retain(|_, w| w.connection == id || !taken.contains(&w.hub));
    tracing::info!(%peer, hubs = hubs.len(), version, "SMWAN rig registered");
    let mut writer = tokio::spawn(async move {
        while let Some(f) = rx.recv().await {
            write_frame(&mut send, &f).await?;
        }
        Ok::<_, FrameError>(())
    });
    // Alert-bearing frames that found the alert queue full wait here, in order.
    let backlog = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (alerts_tx, mut alerts_rx) = mpsc::channel::<(Eui, Vec<u8>)>(ALERT_BACKLOG);
    let alert_pacer = {
        let (routes, inbound, backlog) =
            (Arc::clone(&routes), inbound.clone(), Arc::clone(&backlog));
        tokio::spawn(async move {
            while let Some((hub, bytes)) = alerts_rx.recv().await {
                if let Some(alerts) = routes.alerts.get() {
                    wait_for_room(alerts, &peer).await;
                }
                if let Err(e) = deliver_paced(&inbound, hub, bytes).await {
                    tracing::warn!(hub = %hex::eui(&hub), error = %e, "SMWAN alert not taken");
                }
                backlog.fetch_sub(1, Ordering::AcqRel);
            }
        })
    };
    let result = loop {
        tokio::select! {
            frame = read_frame(&mut recv) => match frame {
                Ok(Frame::FromHub { hub, bytes }) => {
                    // Only a hub this connection registered (and still holds) may speak.
                    let owns = routes.hubs.get(&hub).is_some_and(|r| r.connection == id);
                    if !owns {
                        tracing::warn!(hub = %hex::eui(&hub), "SMWAN frame for a hub this rig does not hold: dropped");
                        continue;
                    }
                    // An alert waits for room in the alert queue (behind any earlier one
                    // still waiting); an answer never does.
                    let room = routes.alerts.get().is_none_or(|a| a.has_room());
                    if is_answer(&bytes) || (room && backlog.load(Ordering::Acquire) == 0) {
                        if let Err(e) = deliver_paced(&inbound, hub, bytes).await {
                            tracing::warn!(hub = %hex::eui(&hub), error = %e, "SMWAN answer not taken");
                        }
                        continue;
                    }
                    backlog.fetch_add(1, Ordering::AcqRel);
                    // A full backlog stops the reading here: QUIC flow control holds the rig.
                    if alerts_tx.send((hub, bytes)).await.is_err() {
                        backlog.fetch_sub(1, Ordering::AcqRel);
                        break Err(anyhow::anyhow!("the SMWAN alert pacer ended"));
                    }
                }
                Ok(Frame::ChunkAnswer { seq, hub, answer }) => {
                    // Only the connection the chunk went to may answer it, and only while it
                    // still holds the hub (not after a newer connection took the hub over).
                    let holds = routes.hubs.get(&hub).is_some_and(|r| r.connection == id);
                    match routes
                        .chunks
                        .remove_if(&seq, |_, w| holds && w.connection == id && w.hub == hub)
                    {
                        Some((_, w)) => {
                            let _ = w.answer.try_send(answer);
                        }
                        None => tracing::info!(hub = %hex::eui(&hub), seq, "an image chunk answer nobody waits for: dropped"),
                    }
                }
                Ok(_) => {
                    conn.close(1u32.into(), b"unexpected frame");
                    break Err(anyhow::anyhow!("unexpected frame from the rig"));
                }
                Err(FrameError::Finished) => break Ok(()),
                Err(e @ (FrameError::Length(_) | FrameError::Malformed(_))) => {
                    conn.close(1u32.into(), b"malformed frame");
                    break Err(e.into());
                }
                Err(e) => break Err(e.into()),
            },
            done = &mut writer => break match done {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.into()),
                Err(e) => Err(anyhow::anyhow!("writer: {e}")),
            },
        }
    };
    writer.abort();
    // What the backlog holds still goes on, in order, as room appears; nothing more joins it.
    drop(alerts_tx);
    drop(alert_pacer);
    // Unregister what this connection still holds (a newer connection keeps what it took).
    let lost: Vec<Eui> = hubs
        .iter()
        .filter(|h| routes.hubs.get(*h).is_some_and(|r| r.connection == id))
        .copied()
        .collect();
    routes.hubs.retain(|_, r| r.connection != id);
    // Chunks waiting on this connection get no answer now: their senders see it at once.
    routes.chunks.retain(|_, w| w.connection != id);
    if let Some(f) = routes.lost.get() {
        f(lost);
    }
    tracing::warn!(%peer, "SMWAN rig disconnected: its hubs are unreachable");
    result
}

#[cfg(test)]
mod tests {
    use super::is_answer;
    use hubgate_protocol::gbcs::frame::{LenForm, encode_apdu};
    use hubgate_protocol::gbcs::{Cra, GroupingHeader, OtherInfo, Supplementary};

    /// A GBCS message with flag `cra` from an ESME to a supplier (content unsigned).
    fn message(cra: Cra) -> Vec<u8> {
        let header = GroupingHeader {
            cra,
            counter: 7,
            originator: [0x00, 0xDB, 0x56, 0, 0, 0, 0, 1],
            recipient: [0x90, 0xB3, 0xD5, 0x1F, 0x30, 0x01, 0, 0],
            date_time: None,
            other_info: OtherInfo {
                message_code: 0x0018,
                supplementary: Supplementary::None,
            },
        };
        let content = [0x0f, 0x20, 0, 0, 7, 0x00, 0x02, 0x01, 0x12, 0x8f, 0x0a];
        encode_apdu(
            &header,
            &content,
            Some(None),
            LenForm::minimal(2),
            LenForm::minimal(content.len()),
        )
    }

    #[test]
    fn a_response_is_an_answer_and_alerts_commands_and_garbage_are_alert_bearing() {
        assert!(is_answer(&message(Cra::Response)), "a response never waits");
        assert!(!is_answer(&message(Cra::Alert)), "an alert waits for room");
        assert!(!is_answer(&message(Cra::Command)));
        assert!(!is_answer(&[]));
        assert!(!is_answer(&[0xDD, 0x00, 0x01]));
        let mut cut = message(Cra::Response);
        cut.truncate(cut.len() - 3);
        assert!(!is_answer(&cut), "a truncated response is not taken as one");
    }

    #[test]
    fn rig_certificates_carry_their_scope_and_nothing_else_does() {
        use super::{CspRegion, HubRegion, RigScope};
        let dir = std::env::temp_dir().join(format!("hubgate-rig-scope-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let config = crate::config::Config {
            data_dir: dir.clone(),
            ..crate::config::Config::default()
        };
        let pki = crate::pki::Pki::open(&config, 1_750_000_000).unwrap();
        let files = pki.tls().unwrap();
        let stems: Vec<String> = files
            .rigs
            .iter()
            .map(|(_, c, _)| c.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            stems,
            [
                "any",
                "north",
                "central",
                "south",
                "4g-north",
                "4g-central",
                "4g-south"
            ]
        );
        for (scope, cert, key) in &files.rigs {
            assert!(key.is_file());
            let der = crate::ingress::tls::load_certs(cert).unwrap();
            assert_eq!(RigScope::from_certificate(der[0].as_ref()), Some(*scope));
        }
        // A User's client certificate and the server certificate are not rig certificates.
        let (_, client, _) = files.clients.first().unwrap();
        let client = crate::ingress::tls::load_certs(client).unwrap();
        assert_eq!(RigScope::from_certificate(client[0].as_ref()), None);
        let server = crate::ingress::tls::load_certs(&files.server_cert).unwrap();
        assert_eq!(RigScope::from_certificate(server[0].as_ref()), None);
        assert_eq!(RigScope::from_certificate(b"\x30\x03\x02\x01\x00"), None);

        let north = RigScope::Region(CspRegion::North);
        assert!(north.allows(HubRegion(Some(CspRegion::North))));
        assert!(!north.allows(HubRegion(Some(CspRegion::FourGNorth))));
        assert!(
            !north.allows(HubRegion(None)),
            "a hub with no region needs `any`"
        );
        assert!(RigScope::Any.allows(HubRegion(None)));
        assert!(RigScope::Any.allows(HubRegion(Some(CspRegion::South))));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
