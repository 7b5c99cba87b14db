//! The rig end of the SMWAN link: emulated hubs that a separate process hosts and connects
//! to the gateway.
//!
//! Device keys persist: [`load_or_generate`] keeps each device's identity (private keys
//! included) in `<keys-out>/private/identities.json` and writes its DS and KA certificates
//! as `<keys-out>/<EUI>-ds.pem` and `-ka.pem`, the folder the gateway loads with
//! `--device-keys` (or `smwan.device_keys`) at start. A restarted rig therefore presents the
//! same devices, whose certificates the gateway already holds; device state (counters,
//! registers) starts afresh, like a device whose memory was wiped but whose keys were not.
//!
//! [`run`] connects with back-off (250 ms doubling to 10 s, reset after a registration),
//! registers its hubs, answers commands with the emulated devices and forwards alerts from
//! their future-dated work. Firmware image chunks ([`Frame::ImageChunk`]) go to the hub's
//! CHF ([`Responder::image_chunk`]), which answers the next offset it expects or, once the
//! image is whole and handed to the device, the transfer's outcome
//! ([`crate::firmware`]). [`run_with`] does the same for any [`Responder`]: the
//! `hil-rig run` process ([`crate::rig`]) serves devices whose answers come from ports
//! (bridged devices, lab meters behind adapter devices) and sends them through [`Replies`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use hubgate_protocol::crypto::DerivedKeyCache;
use hubgate_protocol::hex;
use hubgate_protocol::smki::Store;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::mpsc;

use super::{ALPN, Eui, Frame, FrameError, VERSION, read_frame, write_frame};
use crate::device::Device;
use crate::firmware::{Chunk, ChunkAnswer, TransferOutcome};
use crate::fleet::{HUB_KINDS, Hub, Parties, hub_device_state};
use crate::keys::{DeviceKeys, Identity};
use crate::pki::CertificateAuthority;
use crate::trust::TrustedParties;

/// Frames waiting to be written to the gateway; beyond this, command handling waits.
const QUEUE: usize = 1024;
/// Idle time after which a silent connection is considered lost.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// Keep-alive interval (well under [`IDLE_TIMEOUT`]).
pub const KEEP_ALIVE: Duration = Duration::from_secs(1);

/// Where a rig connects and with which credentials.
#[derive(Debug, Clone)]
pub struct Connect {
    /// The gateway's SMWAN address.
    pub gateway: SocketAddr,
    /// The name the gateway's certificate must carry (`localhost`, an IP address…).
    pub server_name: String,
    /// CA certificate(s) (PEM) that issued the gateway's certificate.
    pub ca: PathBuf,
    /// The rig's client certificate chain (PEM).
    pub cert: PathBuf,
    /// The rig's private key (PEM).
    pub key: PathBuf,
}

/// The EUIs of `hubs` premises from `first_eui` (each hub takes 16; devices in
/// [`HUB_KINDS`] order).
fn device_euis(hubs: usize, first_eui: u64) -> Vec<Eui> {
    (0..hubs)
        .flat_map(|h| {
            let base = first_eui.wrapping_add(16 * h as u64);
            (0..HUB_KINDS.len()).map(move |i| base.wrapping_add(i as u64).to_be_bytes())
        })
        .collect()
}

/// The identities of `hubs` premises from `first_eui`: those saved in `keys_out` when they
/// are for exactly these devices, fresh ones (saved there) otherwise. Writes the devices'
/// certificates to `keys_out` either way.
///
/// # Errors
///
/// When the folder cannot be read or written, or keys cannot be generated.
pub fn load_or_generate(
    keys_out: &Path,
    hubs: usize,
    first_eui: u64,
) -> anyhow::Result<Vec<Identity>> {
    load_or_generate_euis(keys_out, device_euis(hubs, first_eui))
}

/// [`load_or_generate`] for premises at any hub EUIs (each hub's devices on the EUIs after
/// it, in [`HUB_KINDS`] order), as `hil-rig run` configures them.
///
/// # Errors
///
/// When the folder cannot be read or written, or keys cannot be generated.
pub fn load_or_generate_hubs(keys_out: &Path, hubs: &[Eui]) -> anyhow::Result<Vec<Identity>> {
    let euis = hubs
        .iter()
        .flat_map(|h| {
            let base = u64::from_be_bytes(*h);
            (0..HUB_KINDS.len()).map(move |i| base.wrapping_add(i as u64).to_be_bytes())
        })
        .collect();
    load_or_generate_euis(keys_out, euis)
}

fn load_or_generate_euis(keys_out: &Path, euis: Vec<Eui>) -> anyhow::Result<Vec<Identity>> {
    let private = keys_out.join("private");
    let saved_path = private.join("identities.json");
    let saved: Option<Vec<Identity>> = match std::fs::read(&saved_path) {
        Ok(b) => Some(
            serde_json::from_slice(&b)
                .with_context(|| format!("reading {}", saved_path.display()))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", saved_path.display())),
    };
    let identities = match saved {
        Some(ids) if ids.iter().map(Identity::eui).eq(euis.iter().copied()) => ids,
        _ => {
            let ca = CertificateAuthority::generate("EMULATED-RIG-DEVICES")
                .map_err(|e| anyhow::anyhow!("generating the device CA: {e}"))?;
            let ids = euis
                .iter()
                .map(|eui| Identity::generate(*eui, &ca))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow::anyhow!("generating device keys: {e}"))?;
            std::fs::create_dir_all(&private)
                .with_context(|| format!("creating {}", private.display()))?;
            write_private(&saved_path, &serde_json::to_vec(&ids)?)?;
            ids
        }
    };
    for id in &identities {
        let label = hex::eui(&id.eui());
        for (suffix, der) in [("ds", id.ds_certificate()), ("ka", id.ka_certificate())] {
            let path = keys_out.join(format!("{label}-{suffix}.pem"));
            std::fs::write(&path, crate::der::pem("CERTIFICATE", der))
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(identities)
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}

/// The emulated hubs a rig hosts.
#[derive(Debug)]
pub struct Hubs {
    order: Vec<Eui>,
    hubs: HashMap<Eui, Mutex<Hub>>,
}

impl Hubs {
    /// Builds the premises of `identities` (6 per hub, in [`HUB_KINDS`] order), trusting
    /// `parties` whose certificates are in `store`.
    ///
    /// # Errors
    ///
    /// When the identities are not whole premises or a device cannot be built.
    pub fn build(
        identities: Vec<Identity>,
        store: &Store,
        parties: Parties,
    ) -> anyhow::Result<Hubs> {
        anyhow::ensure!(
            identities.len().is_multiple_of(HUB_KINDS.len()),
            "identities are not whole premises"
        );
        let trusted = TrustedParties::from_store(store, &parties.roles());
        let cache = Arc::new(DerivedKeyCache::default());
        let mut order = Vec::new();
        let mut hubs = HashMap::new();
        let mut it = identities.into_iter();
        while let Some(first) = it.next() {
            let base = first.eui();
            let eui_of = |i: u64| u64::from_be_bytes(base).wrapping_add(i).to_be_bytes();
            let mut devices = Vec::with_capacity(HUB_KINDS.len());
            for (i, (kind, id)) in HUB_KINDS
                .iter()
                .zip(std::iter::once(first).chain(it.by_ref().take(HUB_KINDS.len() - 1)))
                .enumerate()
            {
                anyhow::ensure!(id.eui() == eui_of(i as u64), "identities out of order");
                let state = hub_device_state(base, id.eui(), *kind, trusted.clone());
                let keys =
                    DeviceKeys::new(id, None).map_err(|e| anyhow::anyhow!("device keys: {e}"))?;
                devices.push(
                    Device::from_parts(state, keys, Arc::clone(&cache))
                        .map_err(|e| anyhow::anyhow!("device: {e}"))?,
                );
            }
            let hub = Hub::from_devices(devices)
                .ok_or_else(|| anyhow::anyhow!("identities are not whole premises"))?;
            order.push(base);
            hubs.insert(base, Mutex::new(hub));
        }
        Ok(Hubs { order, hubs })
    }

    /// Hub EUIs, in order.
    pub fn euis(&self) -> &[Eui] {
        &self.order
    }

    /// Runs `f` on the emulated `device` behind `hub` (holding the hub's lock), or `None`
    /// when this rig hosts no such device. Adapter-mode devices use it to refresh their
    /// registers from a lab meter before answering.
    pub fn with_device<R>(
        &self,
        hub: &Eui,
        device: &Eui,
        f: impl FnOnce(&mut Device) -> R,
    ) -> Option<R> {
        let mut h = self.hubs.get(hub)?.lock().ok()?;
        h.device_mut(device).map(f)
    }

    /// Runs `command` on `device` behind `hub`: the response and any alerts, or nothing
    /// when the hub or device is not here or the device discards the command.
    pub fn command(&self, hub: &Eui, device: &Eui, command: &[u8]) -> Vec<Vec<u8>> {
        let Some(h) = self.hubs.get(hub) else {
            tracing::warn!(hub = %hex::eui(hub), "command for a hub this rig does not host");
            return Vec::new();
        };
        let Ok(mut h) = h.lock() else {
            return Vec::new();
        };
        let Some(d) = h.device_mut(device) else {
            tracing::info!(device = %hex::eui(device), "no emulated device behind this hub");
            return Vec::new();
        };
        match d.handle(command, unix_now()) {
            Ok(r) => std::iter::once(r.response).chain(r.alerts).collect(),
            Err(e) => {
                tracing::info!(device = %hex::eui(device), error = %e, "device discarded a command");
                Vec::new()
            }
        }
    }

    /// The CHF of `hub` takes one chunk of a firmware image
    /// ([`crate::firmware::ImageReceiver::chunk`]); `FileTransferFailure` when this rig does
    /// not host the hub.
    pub fn image_chunk(&self, hub: &Eui, chunk: &Chunk<'_>) -> ChunkAnswer {
        let Some(Ok(mut h)) = self.hubs.get(hub).map(Mutex::lock) else {
            tracing::warn!(hub = %hex::eui(hub), "image chunk for a hub this rig does not host");
            return ChunkAnswer::Done(TransferOutcome::FileTransferFailure);
        };
        h.image_chunk(chunk)
    }

    /// Alerts from future-dated work that has fallen due, by hub.
    pub fn tick(&self) -> Vec<(Eui, Vec<u8>)> {
        let now = unix_now();
        let mut out = Vec::new();
        for eui in &self.order {
            let Some(Ok(mut guard)) = self.hubs.get(eui).map(Mutex::lock) else {
                continue;
            };
            let h = &mut *guard;
            for d in [
                &mut h.chf,
                &mut h.esme,
                &mut h.gsme,
                &mut h.gpf,
                &mut h.ppmid,
                &mut h.ihd,
            ] {
                if d.next_due().is_some_and(|due| due <= d.clock(now)) {
                    match d.tick(now) {
                        Ok(a) => out.extend(a.into_iter().map(|a| (*eui, a))),
                        Err(e) => tracing::warn!(error = %e, "future-dated work failed"),
                    }
                }
            }
        }
        out
    }
}

/// What a rig serves over the link: the hubs it registers, and answers to commands.
///
/// [`Hubs`] answers every command in place with an emulated device. A rig whose devices
/// sit behind ports (the `hil-rig run` process) cannot answer without waiting on a port, so
/// it hands the command to the port's thread and that thread sends the answers later
/// through [`Replies`]; `command` itself must never block.
pub trait Responder: Send + Sync {
    /// The hub EUIs to register, in order.
    fn hub_euis(&self) -> Vec<Eui>;

    /// Handles `command` for `device` behind `hub`: answers to send now, and possibly more
    /// sent later through `later`. An empty answer means none (the gateway times it out).
    fn command(&self, hub: Eui, device: Eui, command: &[u8], later: &Replies) -> Vec<Vec<u8>>;

    /// Alerts that have fallen due, by hub (called every second).
    fn tick(&self) -> Vec<(Eui, Vec<u8>)>;

    /// One chunk of a firmware image for a device behind `hub` (SR 11.1): the next offset
    /// the hub expects, or the transfer's outcome. Must not block for long: it runs on the
    /// link's task. By default no image can be taken (`FileTransferFailure`).
    fn image_chunk(&self, _hub: Eui, _chunk: &Chunk<'_>) -> ChunkAnswer {
        ChunkAnswer::Done(TransferOutcome::FileTransferFailure)
    }

    /// The link to the gateway came up (registered) or went down.
    fn link_state(&self, _up: bool) {}
}

impl Responder for Hubs {
    fn hub_euis(&self) -> Vec<Eui> {
        self.order.clone()
    }

    fn command(&self, hub: Eui, device: Eui, command: &[u8], _later: &Replies) -> Vec<Vec<u8>> {
        Hubs::command(self, &hub, &device, command)
    }

    fn tick(&self) -> Vec<(Eui, Vec<u8>)> {
        Hubs::tick(self)
    }

    fn image_chunk(&self, hub: Eui, chunk: &Chunk<'_>) -> ChunkAnswer {
        Hubs::image_chunk(self, &hub, chunk)
    }
}

/// Where answers produced outside the link's task go: a blocking sender into the current
/// session's write queue. It fails (returns `false`) once that session has ended, so an
/// answer that arrives after a reconnection is dropped rather than sent on a new link.
#[derive(Debug, Clone)]
pub struct Replies {
    tx: mpsc::Sender<Frame>,
}

impl Replies {
    /// Replies into a new queue of `capacity` frames, and its receiving end: for driving a
    /// [`Responder`] without a gateway (tests, tools).
    #[must_use]
    pub fn channel(capacity: usize) -> (Replies, mpsc::Receiver<Frame>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (Replies { tx }, rx)
    }

    /// Queues `bytes` from `hub` for the gateway, waiting while the queue is full. Call it
    /// from a plain thread, never from the runtime.
    pub fn send_blocking(&self, hub: Eui, bytes: Vec<u8>) -> bool {
        self.tx.blocking_send(Frame::FromHub { hub, bytes }).is_ok()
    }

    /// Whether the session these replies belong to has ended.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The QUIC client configuration: TLS 1.3 with aws-lc-rs, the rig's client certificate,
/// the gateway's CA as the only root, keep-alives.
///
/// # Errors
///
/// When a file cannot be read or holds no usable certificate or key.
pub fn client_config(c: &Connect) -> anyhow::Result<quinn::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&c.ca)
        .with_context(|| format!("reading {}", c.ca.display()))?
    {
        roots
            .add(cert.with_context(|| format!("reading {}", c.ca.display()))?)
            .with_context(|| format!("{}: not a usable CA certificate", c.ca.display()))?;
    }
    anyhow::ensure!(!roots.is_empty(), "{}: no certificate", c.ca.display());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&c.cert)
        .with_context(|| format!("reading {}", c.cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading {}", c.cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(&c.key)
        .with_context(|| format!("reading {}", c.key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .context("the rig's certificate and key")?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls)?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    let mut transport = quinn::TransportConfig::default();
    transport
        .keep_alive_interval(Some(KEEP_ALIVE))
        .max_idle_timeout(Some(quinn::IdleTimeout::try_from(IDLE_TIMEOUT)?));
    config.transport_config(Arc::new(transport));
    Ok(config)
}

/// Connects to the gateway, registers `hubs` and serves them; after a failure or a lost
/// connection, connects again with back-off. Runs until the process ends.
///
/// # Errors
///
/// Only when the client configuration or the local socket cannot be set up.
pub async fn run(connect: Connect, hubs: Arc<Hubs>) -> anyhow::Result<()> {
    run_with(connect, hubs).await
}

/// [`run`] for any [`Responder`].
///
/// # Errors
///
/// Only when the client configuration or the local socket cannot be set up.
pub async fn run_with(connect: Connect, hubs: Arc<dyn Responder>) -> anyhow::Result<()> {
    let config = client_config(&connect)?;
    let local: SocketAddr = if connect.gateway.is_ipv6() {
        "[::]:0".parse()?
    } else {
        "0.0.0.0:0".parse()?
    };
    let mut endpoint = quinn::Endpoint::client(local).context("opening a UDP socket")?;
    endpoint.set_default_client_config(config);
    let first = Duration::from_millis(250);
    let mut backoff = first;
    loop {
        let mut registered = false;
        match session(&endpoint, &connect, &hubs, &mut registered).await {
            Ok(()) => eprintln!("hil-rig: the gateway closed the link"),
            Err(e) => eprintln!("hil-rig: link to {}: {e:#}", connect.gateway),
        }
        if registered {
            hubs.link_state(false);
        }
        if registered {
            backoff = first;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

async fn session(
    endpoint: &quinn::Endpoint,
    c: &Connect,
    hubs: &Arc<dyn Responder>,
    registered: &mut bool,
) -> anyhow::Result<()> {
    let conn = endpoint
        .connect(c.gateway, &c.server_name)?
        .await
        .context("connecting")?;
    let (mut send, mut recv) = conn.open_bi().await.context("opening the stream")?;
    write_frame(
        &mut send,
        &Frame::Register {
            version: VERSION,
            hubs: hubs.hub_euis(),
        },
    )
    .await?;
    match read_frame(&mut recv).await {
        Ok(Frame::Registered { count }) => {
            *registered = true;
            hubs.link_state(true);
            // Scripts and tests wait for this line.
            println!("registered {count} hubs with {}", c.gateway);
        }
        Ok(other) => anyhow::bail!("unexpected answer to registration: {other:?}"),
        Err(e) => {
            let reason = conn.close_reason().map(|r| r.to_string());
            anyhow::bail!("registration: {}", reason.unwrap_or_else(|| e.to_string()))
        }
    }
    let (tx, mut rx) = mpsc::channel::<Frame>(QUEUE);
    let mut writer = tokio::spawn(async move {
        while let Some(f) = rx.recv().await {
            match write_frame(&mut send, &f).await {
                // Nothing was written: a device message too long for a frame (a bridged
                // device may send one) is dropped, and the link goes on for the other hubs.
                Err(FrameError::Length(n)) => {
                    tracing::warn!(
                        len = n,
                        "a message longer than an SMWAN frame takes: dropped"
                    );
                }
                other => other?,
            }
        }
        Ok::<_, FrameError>(())
    });
    let later = Replies { tx: tx.clone() };
    let ticker = {
        let (hubs, tx) = (Arc::clone(hubs), tx.clone());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            loop {
                every.tick().await;
                for (hub, bytes) in hubs.tick() {
                    if tx.send(Frame::FromHub { hub, bytes }).await.is_err() {
                        return;
                    }
                }
            }
        })
    };
    let result = loop {
        tokio::select! {
            frame = read_frame(&mut recv) => match frame {
                Ok(Frame::Command { hub, device, bytes }) => {
                    for answer in hubs.command(hub, device, &bytes, &later) {
                        if tx.send(Frame::FromHub { hub, bytes: answer }).await.is_err() {
                            break;
                        }
                    }
                }
                Ok(Frame::ImageChunk { seq, hub, chunk }) => {
                    let answer = hubs.image_chunk(hub, &chunk.as_chunk());
                    if tx.send(Frame::ChunkAnswer { seq, hub, answer }).await.is_err() {
                        break Ok(());
                    }
                }
                Ok(other) => {
                    conn.close(1u32.into(), b"unexpected frame");
                    break Err(anyhow::anyhow!("unexpected frame from the gateway: {other:?}"));
                }
                Err(FrameError::Finished) => break Ok(()),
                Err(e @ (FrameError::Length(_) | FrameError::Malformed(_))) => {
                    conn.close(1u32.into(), b"malformed frame");
                    break Err(e.into());
                }
                Err(e) => break Err(e.into()),
            },
            done = &mut writer => {
                break match done {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(e.into()),
                    Err(e) => Err(anyhow::anyhow!("writer: {e}")),
                };
            }
        }
    };
    ticker.abort();
    writer.abort();
    result
}
