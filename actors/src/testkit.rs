//! Test support for this crate and its users: scripted GBCS devices behind a hub, GBCS
//! builders on the protocol crate's helpers, and a sink that collects what hub actors hand
//! out.
//!
//! [`ScriptedDevices`] is a [`HanEndpoint`]: it parses every command, checks its MAC as a
//! device would (the ACB's key-agreement key with the device's), and answers according to a
//! per-device script with a properly structured, properly MAC'd response: same counter and
//! message code, EUIs swapped, a DLMS Access-Response whose invoke-id carries the counter.
//! The test key store holds no device private keys, so the device-side MAC key is derived
//! from the other end of the same ECDH pair (the recipient's private key with the device's
//! certificate); ECDH is symmetric, so the MAC is the one the device would compute.

use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hubgate_protocol::crypto::{self, DerivedKeyCache, gmac};
use hubgate_protocol::gbcs::auth::{self, MacVerdict};
use hubgate_protocol::gbcs::frame::{self, LenForm, MAC_AAD_PREFIX};
use hubgate_protocol::gbcs::{Cra, GroupingHeader, OtherInfo, Supplementary};
use hubgate_protocol::smki::{SmkiError, Store, Usage};

use crate::Eui;
use crate::link::{HanEndpoint, LinkError, Replier};
use crate::outcome::{DeviceAlert, Outcome, OutcomeSink};
use crate::verify::Verifier;

/// The supplier of the test PKI (`GITTESTSUPPLIER`).
pub const SUPPLIER: Eui = [0x90, 0xb3, 0xd5, 0x1f, 0x30, 0x01, 0x00, 0x00];
/// The network operator of the test PKI.
pub const NETWORK_OPERATOR: Eui = [0x90, 0xb3, 0xd5, 0x1f, 0x30, 0x02, 0x00, 0x00];
/// The Access Control Broker of the test PKI.
pub const ACB: Eui = auth::TEST_ACB;
/// The RTDS electricity meter.
pub const ESME: Eui = [0x00, 0xdb, 0x12, 0x34, 0x56, 0x78, 0x90, 0xa0];
/// The RTDS gas meter.
pub const GSME: Eui = [0x00, 0xdb, 0x12, 0x34, 0x56, 0x78, 0x90, 0xa1];
/// The RTDS Communications Hub Function.
pub const CHF: Eui = [0x00, 0xdb, 0x12, 0x34, 0x56, 0x78, 0x90, 0xa2];
/// The RTDS gas proxy function.
pub const GPF: Eui = [0x00, 0xdb, 0x12, 0x34, 0x56, 0x78, 0x90, 0xa3];
/// The RTDS prepayment interface device.
pub const PPMID: Eui = [0x00, 0xdb, 0x12, 0x34, 0x56, 0x78, 0x90, 0xa4];

/// Why a test message could not be built.
#[derive(Debug, thiserror::Error)]
pub enum KitError {
    /// The key store holds no suitable key.
    #[error("no {0} key for {1}")]
    NoKey(&'static str, String),
    /// The protocol crate refused.
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    /// The crypto library failed.
    #[error(transparent)]
    Crypto(#[from] crypto::CryptoError),
}

/// The test key store and ECDH cache.
#[derive(Debug, Clone)]
pub struct Keys {
    /// Certificates and keys.
    pub store: Arc<Store>,
    /// ECDH results.
    pub cache: Arc<DerivedKeyCache>,
}

impl Keys {
    /// Loads the conformance key material found under `root`.
    pub fn load(root: &Path) -> Result<Keys, SmkiError> {
        Ok(Keys {
            store: Arc::new(Store::load_conformance(root)?),
            cache: Arc::new(DerivedKeyCache::default()),
        })
    }

    /// A verifier over these keys, with the test ACB.
    pub fn verifier(&self) -> Verifier {
        Verifier::new(Arc::clone(&self.store), Arc::clone(&self.cache), ACB)
    }

    /// A MAC-wrapped, non-critical command from `originator` to `device` as the DCC builds
    /// it: a null signature, MAC'd with the ACB's key-agreement key and the device's.
    pub fn command(
        &self,
        originator: Eui,
        device: Eui,
        counter: u64,
        message_code: u16,
        content: &[u8],
    ) -> Result<Vec<u8>, KitError> {
        let apdu = apdu(
            Cra::Command,
            originator,
            device,
            counter,
            message_code,
            content,
        );
        let acb = self
            .store
            .private_keys(&ACB, Usage::KeyAgreement)
            .find_map(|e| e.agreement_key())
            .ok_or_else(|| KitError::NoKey("ACB key-agreement", hex(&ACB)))?;
        let peer = self
            .store
            .public_keys(&device, Usage::KeyAgreement)
            .next()
            .ok_or_else(|| KitError::NoKey("device key-agreement", hex(&device)))?;
        Ok(auth::mac_wrap(&apdu, acb, peer.peer_key(), &self.cache)?)
    }

    /// A MAC-wrapped response or alert from `device` to `recipient`, MAC'd with the key
    /// device and recipient share.
    pub fn device_message(
        &self,
        cra: Cra,
        device: Eui,
        recipient: Eui,
        counter: u64,
        message_code: u16,
        content: &[u8],
    ) -> Result<Vec<u8>, KitError> {
        let apdu = apdu(cra, device, recipient, counter, message_code, content);
        let local = self
            .store
            .private_keys(&recipient, Usage::KeyAgreement)
            .find_map(|e| e.agreement_key())
            .ok_or_else(|| KitError::NoKey("recipient key-agreement", hex(&recipient)))?;
        let peer = self
            .store
            .public_keys(&device, Usage::KeyAgreement)
            .next()
            .ok_or_else(|| KitError::NoKey("device key-agreement", hex(&device)))?;
        let other = crypto::OtherInfo::new(&device, cra.byte(), counter, &recipient);
        let key = self.cache.derive(local, peer.peer_key(), &other)?;
        let mac = gmac::compute(&key, &device, &[&MAC_AAD_PREFIX, &apdu])?;
        Ok(frame::encode_mac_wrapper(&apdu, &mac))
    }

    /// The response `device` gives to `command`: same counter and message code, EUIs
    /// swapped, a DLMS Access-Response carrying the counter in its invoke-id.
    pub fn response_to(&self, command: &[u8]) -> Result<Vec<u8>, KitError> {
        let m = frame::parse(command).map_err(auth::AuthError::from)?;
        let h = &m.header;
        self.device_message(
            Cra::Response,
            h.recipient,
            h.originator,
            h.counter,
            h.other_info.message_code,
            &access_response(h.counter),
        )
    }
}

/// A DLMS Access-Response: invoke-id `20` ‖ low 24 bits of the counter, no date-time, one
/// `null-data` result, one `success` access result.
pub fn access_response(counter: u64) -> Vec<u8> {
    let c = counter.to_be_bytes();
    vec![
        0xda, 0x20, c[5], c[6], c[7], 0x00, 0x01, 0x00, 0x01, 0x00, 0x00,
    ]
}

/// A DLMS Data-Notification alert body carrying `alert_code`.
pub fn alert_notification(counter: u64, alert_code: u16) -> Vec<u8> {
    let c = counter.to_be_bytes();
    let a = alert_code.to_be_bytes();
    vec![
        0x0f, 0x20, c[5], c[6], c[7], 0x00, 0x02, 0x01, 0x12, a[0], a[1],
    ]
}

fn apdu(
    cra: Cra,
    originator: Eui,
    recipient: Eui,
    counter: u64,
    message_code: u16,
    content: &[u8],
) -> Vec<u8> {
    let header = GroupingHeader {
        cra,
        counter,
        originator,
        recipient,
        date_time: None,
        other_info: OtherInfo {
            message_code,
            supplementary: Supplementary::None,
        },
    };
    frame::encode_apdu(
        &header,
        content,
        Some(None),
        LenForm::minimal(2),
        LenForm::minimal(content.len()),
    )
}

fn hex(e: &Eui) -> String {
    hubgate_protocol::hex::eui(e)
}

/// How a scripted device answers one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// A correct response, at once.
    Respond,
    /// A correct response after a delay.
    RespondAfter(Duration),
    /// Nothing, ever.
    Silent,
    /// A response whose MAC has one bit flipped.
    BadMac,
    /// A correct response, after a delay, preceded at once by a copy with a bad MAC.
    ForgedThenGenuine(Duration),
    /// A correctly MAC'd response carrying the counter plus one.
    WrongCounter,
    /// A correctly MAC'd response carrying another message code.
    WrongMessageCode,
    /// The link refuses the command.
    Refuse,
    /// These bytes (a recorded response, for example a device-signed RTDS one).
    Answer(Vec<u8>),
}

/// A command as a scripted device saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The hub it came through.
    pub hub: Eui,
    /// The device.
    pub device: Eui,
    /// Its counter.
    pub counter: u64,
    /// Its message code.
    pub message_code: u16,
}

#[derive(Debug, Default)]
struct Observed {
    received: Vec<Received>,
    bad_commands: usize,
    busy: HashMap<(Eui, Eui), usize>,
    busy_hub: HashMap<Eui, usize>,
    max_busy_device: usize,
    max_busy_hub: usize,
    reply_failures: usize,
}

/// Devices that answer commands according to a script. See the module documentation.
pub struct ScriptedDevices {
    keys: Keys,
    default: Mutex<Behaviour>,
    scripts: Mutex<HashMap<Eui, VecDeque<Behaviour>>>,
    observed: Arc<Mutex<Observed>>,
    timer: Timer,
}

impl std::fmt::Debug for ScriptedDevices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedDevices").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ScriptedDevices {
    /// Devices that all behave as `default` unless scripted otherwise.
    pub fn new(keys: Keys, default: Behaviour) -> Arc<Self> {
        Arc::new(ScriptedDevices {
            keys,
            default: Mutex::new(default),
            scripts: Mutex::new(HashMap::new()),
            observed: Arc::new(Mutex::new(Observed::default())),
            timer: Timer::start(),
        })
    }

    /// Changes the behaviour of devices with no script left.
    pub fn set_default(&self, b: Behaviour) {
        *lock(&self.default) = b;
    }

    /// Queues behaviours for the next commands to `device`, one each.
    pub fn script(&self, device: Eui, behaviours: impl IntoIterator<Item = Behaviour>) {
        lock(&self.scripts)
            .entry(device)
            .or_default()
            .extend(behaviours);
    }

    /// Commands received with a valid MAC, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.observed).received.clone()
    }

    /// Commands dropped because their MAC did not verify.
    pub fn bad_commands(&self) -> usize {
        lock(&self.observed).bad_commands
    }

    /// Most commands one device (behind one hub) held unanswered at once.
    pub fn max_busy_per_device(&self) -> usize {
        lock(&self.observed).max_busy_device
    }

    /// Most commands held unanswered at once behind one hub.
    pub fn max_busy_per_hub(&self) -> usize {
        lock(&self.observed).max_busy_hub
    }

    /// Replies the registry refused.
    pub fn reply_failures(&self) -> usize {
        lock(&self.observed).reply_failures
    }

    fn next_behaviour(&self, device: &Eui) -> Behaviour {
        lock(&self.scripts)
            .get_mut(device)
            .and_then(VecDeque::pop_front)
            .unwrap_or_else(|| lock(&self.default).clone())
    }
}

/// Marks a device (and its hub) free again when a reply leaves.
fn release(observed: &Mutex<Observed>, hub: Eui, device: Eui) {
    let mut o = lock(observed);
    if let Some(n) = o.busy.get_mut(&(hub, device)) {
        *n = n.saturating_sub(1);
    }
    if let Some(n) = o.busy_hub.get_mut(&hub) {
        *n = n.saturating_sub(1);
    }
}

fn send_reply(observed: &Mutex<Observed>, reply: &Replier, bytes: Vec<u8>) {
    if reply.send(bytes).is_err() {
        lock(observed).reply_failures += 1;
    }
}

impl HanEndpoint for ScriptedDevices {
    fn command(&self, device: Eui, command: &[u8], reply: Replier) -> Result<(), LinkError> {
        let Ok(msg) = frame::parse(command) else {
            lock(&self.observed).bad_commands += 1;
            return Ok(());
        };
        let mac_ok = matches!(
            auth::verify_mac(&msg, &self.keys.store, &ACB, &self.keys.cache),
            Ok(MacVerdict::Valid { .. })
        );
        if !mac_ok || msg.header.recipient != device || msg.header.cra != Cra::Command {
            lock(&self.observed).bad_commands += 1;
            return Ok(());
        }
        let behaviour = self.next_behaviour(&device);
        if behaviour == Behaviour::Refuse {
            return Err(LinkError::Refused("scripted refusal".into()));
        }
        let hub = reply.hub();
        {
            let mut o = lock(&self.observed);
            o.received.push(Received {
                hub,
                device,
                counter: msg.header.counter,
                message_code: msg.header.other_info.message_code,
            });
            let n = o.busy.entry((hub, device)).or_default();
            *n += 1;
            let n = *n;
            o.max_busy_device = o.max_busy_device.max(n);
            let h = o.busy_hub.entry(hub).or_default();
            *h += 1;
            let h = *h;
            o.max_busy_hub = o.max_busy_hub.max(h);
        }
        let h = &msg.header;
        let genuine = || self.keys.response_to(command).map_err(|e| e.to_string());
        let made = match behaviour {
            Behaviour::Respond | Behaviour::RespondAfter(_) | Behaviour::ForgedThenGenuine(_) => {
                genuine()
            }
            Behaviour::Silent => return Ok(()),
            Behaviour::BadMac => genuine().map(|mut b| {
                if let Some(last) = b.last_mut() {
                    *last ^= 0x01;
                }
                b
            }),
            Behaviour::WrongCounter => self
                .keys
                .device_message(
                    Cra::Response,
                    device,
                    h.originator,
                    h.counter.wrapping_add(1),
                    h.other_info.message_code,
                    &access_response(h.counter),
                )
                .map_err(|e| e.to_string()),
            Behaviour::WrongMessageCode => self
                .keys
                .device_message(
                    Cra::Response,
                    device,
                    h.originator,
                    h.counter,
                    h.other_info.message_code ^ 0x0100,
                    &access_response(h.counter),
                )
                .map_err(|e| e.to_string()),
            Behaviour::Answer(ref bytes) => Ok(bytes.clone()),
            Behaviour::Refuse => return Err(LinkError::Refused("scripted refusal".into())),
        };
        let bytes = made.map_err(LinkError::Refused)?;
        match behaviour {
            Behaviour::RespondAfter(d) | Behaviour::ForgedThenGenuine(d) => {
                if matches!(behaviour, Behaviour::ForgedThenGenuine(_)) {
                    let mut forged = bytes.clone();
                    if let Some(last) = forged.last_mut() {
                        *last ^= 0x80;
                    }
                    send_reply(&self.observed, &reply, forged);
                }
                let observed = Arc::clone(&self.observed);
                self.timer.after(
                    d,
                    Box::new(move || {
                        release(&observed, hub, device);
                        send_reply(&observed, &reply, bytes);
                    }),
                );
            }
            _ => {
                release(&self.observed, hub, device);
                send_reply(&self.observed, &reply, bytes);
            }
        }
        Ok(())
    }
}

type Job = Box<dyn FnOnce() + Send>;

struct Timed {
    at: Instant,
    seq: u64,
    job: Job,
}

impl PartialEq for Timed {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Timed {}
impl PartialOrd for Timed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timed {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Earliest first in a max-heap.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// One thread running delayed replies in deadline order.
struct Timer {
    tx: Mutex<mpsc::Sender<(Instant, Job)>>,
}

impl Timer {
    fn start() -> Timer {
        let (tx, rx) = mpsc::channel::<(Instant, Job)>();
        let spawned = std::thread::Builder::new()
            .name("scripted-devices".into())
            .spawn(move || {
                let mut heap = BinaryHeap::new();
                let mut seq = 0u64;
                loop {
                    let next = heap.peek().map(|t: &Timed| t.at);
                    let got = match next {
                        None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                        Some(at) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
                    };
                    match got {
                        Ok((at, job)) => {
                            seq += 1;
                            heap.push(Timed { at, seq, job });
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                    let now = Instant::now();
                    while heap.peek().is_some_and(|t| t.at <= now) {
                        if let Some(t) = heap.pop() {
                            (t.job)();
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start the scripted devices' timer thread: {e}");
        }
        Timer { tx: Mutex::new(tx) }
    }

    fn after(&self, delay: Duration, job: Job) {
        let _ = lock(&self.tx).send((Instant::now() + delay, job));
    }
}

/// An [`OutcomeSink`] that keeps everything, for assertions.
#[derive(Debug, Default)]
pub struct CollectingSink {
    outcomes: Mutex<Vec<Outcome>>,
    alerts: Mutex<Vec<DeviceAlert>>,
}

impl CollectingSink {
    /// An empty sink.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Outcomes so far, in arrival order.
    pub fn outcomes(&self) -> Vec<Outcome> {
        lock(&self.outcomes).clone()
    }

    /// Number of outcomes so far.
    pub fn outcome_count(&self) -> usize {
        lock(&self.outcomes).len()
    }

    /// Alerts so far, in arrival order.
    pub fn alerts(&self) -> Vec<DeviceAlert> {
        lock(&self.alerts).clone()
    }
}

impl OutcomeSink for CollectingSink {
    fn outcome(&self, outcome: Outcome) {
        lock(&self.outcomes).push(outcome);
    }

    fn alert(&self, alert: DeviceAlert) {
        lock(&self.alerts).push(alert);
    }
}

/// Polls `condition` every few milliseconds until it holds or `timeout` passes; returns
/// whether it held. For async tests on an actix runtime.
pub async fn eventually(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        actix::clock::sleep(Duration::from_millis(2)).await;
    }
}
