//! SR 11.1 Update Firmware: acceptance, durable image storage, distribution to the devices'
//! Communications Hubs, and the completion alerts.
//!
//! # Ingress (CommandVariant 8, `/api/v1/serviceD`)
//!
//! 11.1 is a non-device request (CV 8), so it arrives on the Non-Device web service and goes
//! through checks 1–4 and 7 like the other CV 8 requests (check 5 and 6 are per device here).
//! The pipeline then asks [`Firmware::plan`] to check each device of `DeviceIDList`, in
//! order, against the Smart Metering Inventory:
//!
//! | check | list in `DSPUpdateFirmwareWarning` |
//! |---|---|
//! | not in the inventory, listed twice, or the requester is not registered today (check 6) for any of its MPxNs | `InvalidDeviceIDList` |
//! | status other than `Commissioned` | `NotCommissionedDeviceIDList` |
//! | not an ESME or GSME (11.4 carries PPMID images; hubs take theirs from their CSP), or the inventory already records `FirmwareVersion` for it | `NotApplicableFirmwareDeviceIDList` |
//! | named by another 11.1 still being distributed | `OtherRequestInProgressList` |
//!
//! `InvalidGBCSVersionList` is never used: the inventory's GBCS version is not compared with
//! the image (the gateway does not read the image's header). A device the requester is not
//! registered for is listed as invalid rather than refusing the whole request (judgement: the
//! schema has no list for it, and it must not reveal more than an unknown device does).
//!
//! The answer (a judgement on the DUIS codes, following the schema's intent that the warning
//! accompanies an accepted request): `I99` when every device passed; `W110101` with a
//! `DSPUpdateFirmwareWarning` listing the devices that failed, when some did (the others are
//! distributed to; a request whose every device failed is answered the same way and nothing
//! is distributed). Both answers are synchronous; what follows arrives as DCC alerts.
//!
//! # Durability
//!
//! The image is stored in the acceptance transaction (the one that spends the request's
//! counter, [`insert_in`]), content-addressed by its SHA-256 in the table `firmware.images`
//! (an image sent again under another request is stored once), with the distribution record
//! (`firmware.requests`, keyed by RequestID: requester, version, hash, accepted time, each
//! device with its hub and its outcome once known). Nothing acknowledged is lost: a
//! distribution in progress at a crash is picked up again at the next start
//! ([`Firmware::start`]), device by device, skipping the devices with an outcome. The image
//! is deleted when the last distribution naming it finishes. Bounds: an image of at most
//! [`MAX_IMAGE_BYTES`] (the XSD's); at most [`MAX_DEVICES`] devices named in one request
//! (the record naming them all is rewritten after each device's outcome; more are refused
//! `Malformed`, naming `DeviceIDList`); at most `firmware.max_open` distributions stored or
//! being accepted at once (the stored records plus the plans claimed and not yet dropped;
//! more are refused as busy: the store keeps at most that many images).
//!
//! `FirmwareVersion` must be even-length hex of 2 to 8 characters (what the inventory
//! records and what the hub is given as bytes); anything else, though the XSD allows any 1
//! to 8 characters, is refused `Malformed` naming the field. The alerts escape every text
//! they carry all the same.
//!
//! # Distribution
//!
//! One thread (`hubgate-firmware`) takes the distributions in acceptance order. For each
//! device it offers the image to the device's Communications Hub (the CHF the inventory
//! associates it with) in chunks of `firmware.chunk_bytes` (default 64 KiB), waiting
//! `firmware.chunk_pause_ms` between chunks (default 0: a pacing knob for a narrow WAN). The
//! hub answers each chunk with the offset it expects next, so a resumed transfer continues
//! where the hub is ([`hubgate_hil_rig::firmware`]); the hub hands the complete image to the
//! device and answers the `TransferResponseCode`. With the outcome stored, the requester
//! receives a `CommsHubAlert` DCC alert (alert code [`FIRMWARE_TRANSFER_CODE`]) naming the
//! hub, the CHF alert code [`CHF_TRANSFER_ALERT`], and a `FirmwareTransferAlert` with the
//! request's ID, the device, the firmware version and the code. Devices whose hub cannot be
//! reached (no hub in the inventory, a hub the gateway has no image path to, or a link
//! that keeps failing) are reported together in one `FirmwareDistributionFailure` DCC
//! alert (alert code [`DISTRIBUTION_FAILURE_CODE`]) naming the request and those devices,
//! sent once the last device has its outcome.
//!
//! A chunk the hub does not take is retried with back-off (200 ms, doubling to 2 s) for
//! about 12 s since the last chunk that moved the transfer on, so a rig reconnecting
//! (its back-off and a handshake) does not fail a device; past that the device is
//! unreachable. The highest offset the hub has asked for is kept: a hub whose answers stop
//! raising it (more in a row than the image has chunks, plus 3, or more answers in all
//! than three per KiB of image) ends the device `FileTransferFailure`, so one hub cannot
//! hold the thread and every later distribution.
//!
//! Each device's outcome is stored in the transaction that hands its alert to the durable
//! outbox, and the record is removed in the one that hands over the failure alert (or
//! alone, when there is none): a crash leaves both or neither. When the outbox refuses the
//! alert (the requester's queue is full) the outcome is unset again (or the record and its
//! image put back) and the distribution is left for a later scan, which sends that device
//! the image again (a hub that holds it answers at once) and retries the alert. Between
//! that refusal and the undo a crash would lose the alert with its outcome kept (logged).
//! The thread also scans the stored distributions every 5 s, so a record stored by an
//! acceptance whose handler was dropped before queueing it is distributed without waiting
//! for a restart.
//! The alert codes are judgements, like the other DCC alert codes of [`crate::alerts`]: the
//! DUIS table of alert codes is not in the project's sources.
//!
//! Image paths ([`ImageLink`]): the gateway's emulated premises ([`crate::emulation`])
//! receive the chunks in process ([`EmulatedLink`]); a hub that a `hil-rig` process
//! registered over the SMWAN link receives them as image-chunk frames on that link
//! ([`crate::smwan::SmwanLink::images`], frames of at most
//! [`hubgate_hil_rig::link::MAX_CHUNK`] bytes: a longer chunk is cut, and the hub's answer
//! names the offset it expects next, as in process). The rig's CHF hands the whole image to
//! its meter and answers the outcome. A hub that is neither (no emulated hub, no rig holding
//! it, or a rig speaking link version 1) is unreachable: its devices end in the
//! `FirmwareDistributionFailure` alert.
//!
//! # Concurrent requests and released requests
//!
//! The in-progress check and the acceptance are made atomic with an in-memory claim set:
//! [`Firmware::plan`] reads the stored distributions and the claims under one lock and
//! claims the devices that pass; the claim lasts until the plan is dropped (by then the
//! record is stored, or the request was refused). Of two requests for one device checked
//! together, the second lists it in `OtherRequestInProgressList`. A consequence, accepted
//! as the conservative side: when the first is then refused after its checks (its counter
//! lost a race, the store failed), the second has still been told the device is busy, and
//! neither distributes; the requester sends again.
//!
//! An 11.1 held in quarantine (check 7) and released is checked ([`Firmware::plan`]) at its
//! release, stored in a transaction of its own and distributed like an accepted one; its
//! answer (`I99` or `W110101`) reaches the requester as the released request's Service
//! Response. That answer is queued by the quarantine endpoint in a later transaction (the
//! quarantine record is taken before the release, and the pipeline holds no outbox): a
//! crash between the two distributes the request (its alerts arrive) without the
//! synchronous answer. Not closed: it would need the release, the record's removal and the
//! answer in one transaction across the quarantine endpoint.
//!
//! # The inventory's firmware version
//!
//! [`ActivationHook`] sees each Service Response before it is signed. For an `I0` answer to
//! 11.3 (CS06) whose GBCS payload, from the target device, reports result 0 with the
//! version now running (`SEQUENCE { INTEGER 0, OCTET STRING version }`, the RTDS layout),
//! the device's `FirmwareVersion` in the inventory becomes that version in upper-case hex
//! (the form 11.1's `FirmwareVersion` takes). The version is the device's own report, not
//! the one 11.1 announced. A version over 4 bytes (more than the inventory's 8 characters)
//! is not recorded (logged). A future-dated activation, answered later by an alert, is not
//! followed.
//!
//! # Service level
//!
//! When the last device of a distribution has its outcome, the request is counted in the
//! `firmware` category of [`crate::performance`] against 5 days, from its acknowledgement to
//! that last alert.
//!
//! # What the tests prove
//!
//! `gateway/tests/firmware.rs`, with a real `hubgate serve`, emulated meters and signed
//! requests over HTTPS: 11.1 for an emulated ESME and an unknown device is answered
//! `W110101` with the unknown device in `InvalidDeviceIDList` (XSD-valid, DSP-signed); the
//! requester receives the `CommsHubAlert` with `FileTransferSuccess`; 11.3 (CS06, critical:
//! Transform, then the Signed Pre-Command) with the image's SHA-256 activates it on the
//! meter and 11.2 reads the new version; 8.2 then shows the new `DeviceFirmwareVersion` and
//! an 11.1 with that version is not applicable; the performance report counts one firmware
//! request within target; a gateway killed with SIGKILL in the middle of a paced
//! distribution finishes it after restart. The same flow (alert, 11.3, 11.2) with the meter
//! hosted by a separate `hil-rig` process over QUIC. A meter whose hub is neither emulated
//! nor on a rig ends in the `FirmwareDistributionFailure` alert (XSD-valid, DSP-signed)
//! naming the request and the meter, timed in the `firmware` category. Two requests for
//! one meter sent together are never both accepted for it; a request released from
//! quarantine is answered `I99` and distributed (its own completion alert). A
//! `FirmwareVersion` that is not short even hex, or more than [`MAX_DEVICES`] devices, is
//! refused `E31`. With room for one message per User, a second completion alert is refused
//! by the outbox: the distribution stays open (not counted as finished) and, once the first
//! alert is pulled, the scan sends it again and its alert arrives.
//!
//! Unit tests (a scripted hub): a hub answering the same offset forever ends the device
//! `FileTransferFailure` in a bounded number of chunks; failures after each chunk taken do
//! not add up; a link down for a while is waited for, a dead one given up after the retry
//! window; version validation; alert text escaping. Not tested: the claims counted against
//! `firmware.max_open` (a race between acceptances) and the scan picking up a record whose
//! handler was dropped (it shares the path of the refused alert's retry, which is tested).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hubgate_hil_rig::firmware::{Chunk, ChunkAnswer, TransferOutcome};
use hubgate_protocol::duis::model::Body;
use hubgate_protocol::duis::model::request::Request;
use hubgate_protocol::duis::model::response::{ResponseCode, ResponsePayload};
use hubgate_protocol::duis::xml::Element;
use hubgate_protocol::hex;
use redb::{ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::alerts::dcc_alert_message;
use crate::clock::{Clock, rfc3339_ms};
use crate::delivery::{Delivery, Kind, Outgoing};
use crate::emulation::EmulatedHub;
use crate::ingress::codes::Rejection;
use crate::ingress::respond::{Answer, AnswerHook, Responder};
use crate::inventory::dsp::sr;
use crate::inventory::model::{DeviceStatus, DeviceType, Eui};
use crate::inventory::{HubOf, Inventory, InventoryView as _};
use crate::store::{Store, StoreError, StrTable};

/// Images by SHA-256 (lower-case hex).
pub const IMAGES: StrTable = TableDefinition::new("firmware.images");
/// Distribution records by RequestID (JSON [`Distribution`]).
pub const REQUESTS: StrTable = TableDefinition::new("firmware.requests");

/// The largest image (the XSD bound on `FirmwareImage`).
pub const MAX_IMAGE_BYTES: usize = 10_240_000;
/// DCC alert code of the `CommsHubAlert` (judgement).
pub const FIRMWARE_TRANSFER_CODE: &str = "N43";
/// DCC alert code of the `FirmwareDistributionFailure` (judgement; one code per alert type
/// across the gateway, see `crate::alerts`).
pub const DISTRIBUTION_FAILURE_CODE: &str = "N44";
/// The CHF alert code carried in the `CommsHubAlert` (judgement).
pub const CHF_TRANSFER_ALERT: &str = "8F84";
/// The stored outcome of a device whose hub could not be reached.
const UNREACHABLE: &str = "Unreachable";
/// The most devices one 11.1 may name: the distribution record (which lists them all) is
/// rewritten after each device's outcome, so its size is bounded.
pub const MAX_DEVICES: usize = 10_000;
/// How often the distribution thread looks for stored distributions it has not been handed.
const RESCAN: Duration = Duration::from_secs(5);

/// How long a hub may fail to take chunks before its device ends `Unreachable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Retry {
    /// Failures are retried for at least this long since the last chunk the hub took.
    window: Duration,
    /// The first pause after a failure; doubled after each, up to `max_pause`.
    first_pause: Duration,
    /// The longest pause.
    max_pause: Duration,
}

impl Retry {
    /// About 12 s: a rig's reconnection (its back-off and a handshake) fits well inside.
    const DEFAULT: Retry = Retry {
        window: Duration::from_secs(12),
        first_pause: Duration::from_millis(200),
        max_pause: Duration::from_secs(2),
    };
}

/// `firmware.*` configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FirmwareConfig {
    /// Bytes per chunk sent to a hub (1 KiB – 1 MiB). Default 65536.
    pub chunk_bytes: usize,
    /// Pause between chunks, milliseconds. Default 0.
    pub chunk_pause_ms: u64,
    /// Distributions in progress at most (each holds its image in the store). Default 64.
    pub max_open: usize,
}

impl Default for FirmwareConfig {
    fn default() -> Self {
        FirmwareConfig {
            chunk_bytes: 65_536,
            chunk_pause_ms: 0,
            max_open: 64,
        }
    }
}

/// One device of a distribution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// Device ID (DUIS form).
    pub device: String,
    /// Its hub (DUIS form), when the inventory names one.
    pub hub: Option<String>,
    /// `TransferResponseCode`, or `Unreachable`, once known.
    pub outcome: Option<String>,
}

/// A distribution record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Distribution {
    /// The 11.1 RequestID.
    pub request_id: String,
    /// The requester (DUIS form).
    pub user: String,
    /// `FirmwareVersion` (hex text as sent).
    pub version: String,
    /// SHA-256 of the image (hex).
    pub hash: String,
    /// When it was acknowledged (Unix ms).
    pub accepted_ms: i64,
    /// The devices that passed the checks.
    pub targets: Vec<Target>,
}

/// An accepted 11.1, before it is stored.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The record (`None` when no device passed).
    pub record: Option<Distribution>,
    /// The image.
    pub image: Arc<Vec<u8>>,
    /// The warning, when a device failed a check.
    pub warning: Option<Element>,
    /// The devices this plan claimed (released when the last copy of the plan is dropped:
    /// by then its record is stored, or the request was refused).
    _claim: Option<Arc<Claim>>,
}

/// What the plans not yet stored or refused hold.
#[derive(Debug, Default)]
struct Claims {
    /// Their devices.
    devices: BTreeSet<String>,
    /// How many there are (each counts against `firmware.max_open`).
    plans: usize,
}

/// Devices claimed by a plan between its checks and its acceptance transaction.
#[derive(Debug)]
struct Claim {
    devices: Vec<String>,
    set: Arc<Mutex<Claims>>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut set = match self.set.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        for d in &self.devices {
            set.devices.remove(d);
        }
        set.plans = set.plans.saturating_sub(1);
    }
}

/// Stores `plan` in `t`, the acceptance transaction.
///
/// # Errors
///
/// [`StoreError`]: nothing of the transaction is kept.
pub fn insert_in(t: &WriteTransaction, plan: &Plan) -> Result<(), StoreError> {
    let Some(record) = &plan.record else {
        return Ok(());
    };
    {
        let mut images = t.open_table(IMAGES)?;
        if images.get(record.hash.as_str())?.is_none() {
            images.insert(record.hash.as_str(), plan.image.as_slice())?;
        }
    }
    put_record(t, record)
}

/// How the gateway reaches hubs with image chunks.
pub trait ImageLink: Send + Sync {
    /// Offers one chunk to `hub`; `Err` when the hub cannot be reached.
    ///
    /// # Errors
    ///
    /// Why the hub was not reached.
    fn chunk(&self, hub: &[u8; 8], chunk: &Chunk<'_>) -> Result<ChunkAnswer, String>;
}

/// The in-process emulated hubs.
#[derive(Debug, Default)]
pub struct EmulatedLink {
    hubs: Vec<([u8; 8], Arc<EmulatedHub>)>,
}

impl EmulatedLink {
    /// The link to these hubs.
    pub fn new(hubs: Vec<([u8; 8], Arc<EmulatedHub>)>) -> EmulatedLink {
        EmulatedLink { hubs }
    }
}

impl ImageLink for EmulatedLink {
    fn chunk(&self, hub: &[u8; 8], chunk: &Chunk<'_>) -> Result<ChunkAnswer, String> {
        let (_, h) = self.hubs.iter().find(|(e, _)| e == hub).ok_or_else(|| {
            "no image path to this hub (not emulated, and no rig holds it)".to_string()
        })?;
        h.with_hub(|hub| hub.image_chunk(chunk))
            .ok_or_else(|| "emulated hub poisoned".to_string())
    }
}

/// What the distribution needs.
pub struct Parts {
    /// The store.
    pub store: Arc<Store>,
    /// The Smart Metering Inventory.
    pub inventory: Arc<Inventory>,
    /// Hubs.
    pub link: Arc<dyn ImageLink>,
    /// Signs the alerts.
    pub responder: Responder,
    /// Delivers them.
    pub delivery: Arc<Delivery>,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Settings.
    pub config: FirmwareConfig,
}

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The 11.1 service.
pub struct Firmware {
    parts: Arc<Parts>,
    jobs: crossbeam_channel::Sender<String>,
    /// Devices named by plans not yet stored or refused (see [`Firmware::plan`]).
    claims: Arc<Mutex<Claims>>,
}

impl std::fmt::Debug for Firmware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Firmware").finish_non_exhaustive()
    }
}

impl Firmware {
    /// Starts the distribution thread and queues the distributions left unfinished.
    ///
    /// # Errors
    ///
    /// When the store cannot be read or the thread cannot start.
    pub fn start(parts: Parts) -> anyhow::Result<Arc<Firmware>> {
        let (tx, rx) = crossbeam_channel::unbounded::<String>();
        parts.store.ensure_table(IMAGES)?;
        parts.store.ensure_table(REQUESTS)?;
        let open = open_ids(&parts.store)?;
        if !open.is_empty() {
            tracing::info!(n = open.len(), "firmware distributions resumed");
        }
        for id in open {
            let _ = tx.send(id);
        }
        let parts = Arc::new(parts);
        let worker = Arc::clone(&parts);
        std::thread::Builder::new()
            .name("hubgate-firmware".into())
            .spawn(move || {
                // Besides the queued jobs, the stored distributions are scanned every
                // `RESCAN`: one stored by an acceptance whose handler went away before
                // queueing it, or one left for later (an alert the outbox refused), is
                // taken up then. A record found both ways is distributed once (the second
                // finds it gone).
                let mut scanned = Instant::now();
                loop {
                    match rx.recv_timeout(RESCAN) {
                        Ok(id) => distribute(&worker, &id),
                        Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                    }
                    if scanned.elapsed() >= RESCAN {
                        scanned = Instant::now();
                        match open_ids(&worker.store) {
                            Ok(ids) => {
                                for id in ids {
                                    distribute(&worker, &id);
                                }
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "firmware distributions could not be listed");
                            }
                        }
                    }
                }
            })?;
        Ok(Arc::new(Firmware {
            parts,
            jobs: tx,
            claims: Arc::default(),
        }))
    }

    /// The per-device checks of an 11.1 request (see the module documentation).
    ///
    /// The devices that pass are claimed until the returned plan is dropped, and the
    /// in-progress check reads the stored distributions and the claims under one lock: of
    /// two requests for one device checked at the same time, the second sees the first's
    /// claim (or, once the first is stored and its plan dropped, its record) and lists the
    /// device in `OtherRequestInProgressList`.
    ///
    /// # Errors
    ///
    /// `Busy` when the store cannot be read or too many distributions are open or being
    /// accepted; `Malformed` for an image over the bound, a `FirmwareVersion` that is not
    /// even-length hex of 2 to 8 characters, or more than [`MAX_DEVICES`] devices.
    pub fn plan(
        &self,
        request: &Request,
        now_ms: i64,
        registered: &dyn Fn(&[&str]) -> bool,
    ) -> Result<Option<Plan>, Rejection> {
        let Body::UpdateFirmware(b) = &request.body else {
            return Ok(None);
        };
        if b.firmware_image.len() > MAX_IMAGE_BYTES || b.firmware_image.is_empty() {
            return Err(Rejection::Malformed(format!(
                "FirmwareImage: {} bytes (1 to {MAX_IMAGE_BYTES})",
                b.firmware_image.len()
            )));
        }
        check_version(&b.firmware_version)?;
        let named = b.device_id_list.split(',').count();
        if named > MAX_DEVICES {
            return Err(Rejection::Malformed(format!(
                "DeviceIDList: {named} devices (at most {MAX_DEVICES} in one request)"
            )));
        }
        let busy = |e: StoreError| Rejection::Busy(format!("firmware: {e}"));
        // Held to the end: the claims and the stored records are read as one.
        let mut claims = match self.claims.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        let open = open_records(&self.parts.store).map_err(busy)?;
        // A claimed plan may already be stored (its record is then counted twice until the
        // plan is dropped): the conservative side of the bound.
        let counted = open.len().saturating_add(claims.plans);
        if counted >= self.parts.config.max_open {
            return Err(Rejection::Busy(format!(
                "firmware: {counted} distributions in progress or being accepted"
            )));
        }
        let in_progress: BTreeSet<String> = open
            .iter()
            .flat_map(|d| d.targets.iter().filter(|t| t.outcome.is_none()))
            .map(|t| t.device.to_ascii_uppercase())
            .chain(claims.devices.iter().cloned())
            .collect();
        let mut lists: [Vec<String>; 4] = Default::default();
        let mut seen = BTreeSet::new();
        let mut targets = Vec::new();
        for id in b.device_id_list.split(',') {
            let id = id.trim().to_ascii_uppercase();
            let Some(eui) = hex::parse_eui(&id).filter(|_| seen.insert(id.clone())) else {
                lists[0].push(id);
                continue;
            };
            let device = self
                .parts
                .inventory
                .get(&Eui(eui))
                .map_err(|e| Rejection::Busy(format!("inventory: {e}")))?;
            let Some(d) = device else {
                lists[0].push(id);
                continue;
            };
            let mpxns: Vec<&str> = [&d.import_mpxn, &d.secondary_import_mpan, &d.export_mpan]
                .into_iter()
                .filter_map(|m| m.as_deref())
                .collect();
            if !registered(&mpxns) {
                // Not a device this User may address (check 6): as if unknown to it.
                lists[0].push(id);
                continue;
            }
            if d.status != DeviceStatus::Commissioned {
                lists[1].push(id);
            } else if !matches!(d.device_type, DeviceType::Esme | DeviceType::Gsme)
                || d.firmware_version
                    .as_deref()
                    .is_some_and(|v| v.eq_ignore_ascii_case(&b.firmware_version))
            {
                lists[2].push(id);
            } else if in_progress.contains(&id) {
                lists[3].push(id);
            } else {
                let hub = self.hub_of(eui)?;
                targets.push(Target {
                    device: id,
                    hub: hub.map(|h| hex::eui_duis(&h)),
                    outcome: None,
                });
            }
        }
        let names = [
            "InvalidDeviceIDList",
            "NotCommissionedDeviceIDList",
            "NotApplicableFirmwareDeviceIDList",
            "OtherRequestInProgressList",
        ];
        let warning = lists.iter().any(|l| !l.is_empty()).then(|| {
            names
                .iter()
                .zip(&lists)
                .filter(|(_, l)| !l.is_empty())
                .fold(sr("DSPUpdateFirmwareWarning"), |e, (name, l)| {
                    e.with_child(sr(name).with_text(&l.join(",")))
                })
        });
        let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &b.firmware_image);
        let claim = (!targets.is_empty()).then(|| {
            let devices: Vec<String> = targets.iter().map(|t| t.device.clone()).collect();
            claims.devices.extend(devices.iter().cloned());
            claims.plans = claims.plans.saturating_add(1);
            Arc::new(Claim {
                devices,
                set: Arc::clone(&self.claims),
            })
        });
        drop(claims);
        let record = (!targets.is_empty()).then(|| Distribution {
            request_id: request.header.request_id.to_string(),
            user: hex::eui_duis(&request.header.request_id.originator),
            version: b.firmware_version.clone(),
            hash: hex::encode(hash.as_ref()).to_ascii_lowercase(),
            accepted_ms: now_ms,
            targets,
        });
        Ok(Some(Plan {
            record,
            image: Arc::new(b.firmware_image.clone()),
            warning,
            _claim: claim,
        }))
    }

    /// The answer to a stored plan; its distribution is queued.
    pub fn accepted(&self, plan: &Plan) -> (ResponseCode, Option<ResponsePayload>) {
        if let Some(r) = &plan.record {
            let _ = self.jobs.send(r.request_id.clone());
        }
        match &plan.warning {
            None => (ResponseCode::I99, None),
            Some(w) => (
                ResponseCode::parse("W110101").unwrap_or(ResponseCode::I99),
                Some(crate::inventory::dsp::payload(w.clone())),
            ),
        }
    }

    fn hub_of(&self, device: [u8; 8]) -> Result<Option<[u8; 8]>, Rejection> {
        match self
            .parts
            .inventory
            .hub_of(&Eui(device))
            .map_err(|e| Rejection::Busy(format!("inventory: {e}")))?
        {
            HubOf::Hub(hub) => Ok(Some(hub.0)),
            HubOf::Missing(_) | HubOf::NoHub => Ok(None),
        }
    }
}

/// The SRV whose device response carries an activated firmware version (CS06).
const ACTIVATE_SRV: &str = "11.3";

/// Learns the firmware version a device activated from its CS06 response (SR 11.3), and
/// records it as the device's `FirmwareVersion` in the inventory; then shows the answer to
/// the next hook, whose payload it returns.
pub struct ActivationHook {
    inventory: Arc<Inventory>,
    next: Option<Arc<dyn AnswerHook>>,
}

impl std::fmt::Debug for ActivationHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivationHook").finish_non_exhaustive()
    }
}

impl ActivationHook {
    /// The hook, before `next`.
    pub fn new(inventory: Arc<Inventory>, next: Option<Arc<dyn AnswerHook>>) -> ActivationHook {
        ActivationHook { inventory, next }
    }

    fn learn(&self, device: [u8; 8], gbcs: &[u8]) {
        let Some(version) = activated_version(device, gbcs) else {
            return;
        };
        let text = hex::encode(&version).to_ascii_uppercase();
        if text.is_empty() || text.len() > 8 {
            tracing::info!(device = %hex::eui_duis(&device), version = %text, "an activated firmware version that does not fit the inventory: not recorded");
            return;
        }
        let written = self.inventory.write(|t| {
            let Some(mut d) = t.device(&Eui(device))? else {
                return Ok(false);
            };
            if d.firmware_version.as_deref() == Some(text.as_str()) {
                return Ok(false);
            }
            d.firmware_version = Some(text.clone());
            t.put(&d)?;
            Ok(true)
        });
        match written {
            Ok(true) => {
                tracing::info!(device = %hex::eui_duis(&device), version = %text, "firmware version recorded after activation");
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(device = %hex::eui_duis(&device), error = %e, "an activated firmware version could not be recorded");
            }
        }
    }
}

impl AnswerHook for ActivationHook {
    fn payload(&self, answer: &Answer) -> Option<Option<ResponsePayload>> {
        if answer.with_response_id
            && answer.code == ResponseCode::I0
            && answer
                .service
                .is_some_and(|(_, v)| v.as_str() == ACTIVATE_SRV)
            && let (Some(id), Some(ResponsePayload::GbcsPayload(p))) =
                (answer.request_id, &answer.payload)
        {
            self.learn(id.target, p);
        }
        self.next.as_ref().and_then(|h| h.payload(answer))
    }
}

/// The version in a CS06 response from `device` reporting success: `SEQUENCE { INTEGER 0,
/// OCTET STRING version }` as the GBCS payload's content. `None` for anything else (an
/// error result, another originator, another shape).
pub fn activated_version(device: [u8; 8], gbcs: &[u8]) -> Option<Vec<u8>> {
    use hubgate_protocol::gbcs::payload::asn1::{Node, TagClass, universal};
    let msg = hubgate_protocol::gbcs::frame::parse(gbcs).ok()?;
    if msg.header.originator != device {
        return None;
    }
    let node = Node::decode(msg.content).ok()?;
    let is =
        |n: &Node<'_>, number: u32| n.tag.class == TagClass::Universal && n.tag.number == number;
    match node.children.as_slice() {
        [result, version]
            if is(&node, universal::SEQUENCE)
                && is(result, universal::INTEGER)
                && result.value == [0]
                && is(version, universal::OCTET_STRING) =>
        {
            Some(version.value.to_vec())
        }
        _ => None,
    }
}

fn open_records(store: &Store) -> Result<Vec<Distribution>, StoreError> {
    store.read(|t| {
        let tab = match t.open_table(REQUESTS) {
            Ok(tab) => tab,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for item in tab.iter()? {
            let (_, v) = item?;
            match serde_json::from_slice::<Distribution>(v.value()) {
                Ok(d) => out.push(d),
                Err(e) => tracing::error!(error = %e, "an unreadable firmware distribution record"),
            }
        }
        Ok(out)
    })
}

fn open_ids(store: &Store) -> Result<Vec<String>, StoreError> {
    let mut records = open_records(store)?;
    records.sort_by_key(|d| d.accepted_ms);
    Ok(records.into_iter().map(|d| d.request_id).collect())
}

/// `FirmwareVersion` as 11.1 accepts it: even-length hex of 2 to 8 characters (1 to 4
/// bytes, what the inventory's `FirmwareVersion` holds).
///
/// # Errors
///
/// `Malformed` naming the field.
pub fn check_version(version: &str) -> Result<(), Rejection> {
    let ok = (2..=8).contains(&version.len())
        && version.len().is_multiple_of(2)
        && version.bytes().all(|c| c.is_ascii_hexdigit());
    if ok {
        Ok(())
    } else {
        Err(Rejection::Malformed(format!(
            "FirmwareVersion: {:?} is not even-length hex of 2 to 8 characters",
            version.chars().take(16).collect::<String>()
        )))
    }
}

/// Writes `record` as it is now (in `t`).
fn put_record(t: &WriteTransaction, record: &Distribution) -> Result<(), StoreError> {
    let value = serde_json::to_vec(record).map_err(|source| StoreError::Encode {
        table: "firmware.requests".into(),
        source,
    })?;
    t.open_table(REQUESTS)?
        .insert(record.request_id.as_str(), value.as_slice())?;
    Ok(())
}

/// Removes the finished distribution `record` (in `t`), and its image when no other
/// distribution names it.
fn remove_in(t: &WriteTransaction, record: &Distribution) -> Result<(), StoreError> {
    t.open_table(REQUESTS)?.remove(record.request_id.as_str())?;
    let still_used = {
        let tab = t.open_table(REQUESTS)?;
        let mut used = false;
        for item in tab.iter()? {
            let (_, v) = item?;
            if serde_json::from_slice::<Distribution>(v.value())
                .is_ok_and(|d| d.hash == record.hash)
            {
                used = true;
            }
        }
        used
    };
    if !still_used {
        t.open_table(IMAGES)?.remove(record.hash.as_str())?;
    }
    Ok(())
}

/// Sends the image to each device still without an outcome, then removes the record.
///
/// Each device's outcome is stored in the transaction that hands its alert to the outbox,
/// and the record is removed in the one that hands over the failure alert (if any). When the
/// outbox refuses an alert (the requester's queue is full) or the store fails, the outcome
/// stays unset (the record stays): the distribution is taken up again by a later scan.
fn distribute(parts: &Parts, id: &str) {
    let mut record = match parts.store.get_json::<_, Distribution>(REQUESTS, id) {
        Ok(Some(r)) => r,
        // Finished already (queued and also found by a scan).
        Ok(None) => return,
        Err(e) => {
            tracing::error!(request = id, error = %e, "a firmware distribution record could not be read");
            return;
        }
    };
    let mut image = match parts.store.get(IMAGES, record.hash.as_str()) {
        Ok(Some(i)) => i,
        other => {
            tracing::error!(
                request = id,
                ?other,
                "the firmware image of a distribution is missing"
            );
            Vec::new()
        }
    };
    let version = match check_version(&record.version)
        .ok()
        .and_then(|()| hex::decode(&record.version).ok())
    {
        Some(v) => v,
        None => {
            // Only a record stored before the version was checked: its devices fail.
            tracing::error!(
                request = id,
                "a firmware distribution with an invalid version"
            );
            image = Vec::new();
            Vec::new()
        }
    };
    for k in 0..record.targets.len() {
        if record.targets[k].outcome.is_some() {
            continue;
        }
        let target = record.targets[k].clone();
        let outcome = transfer(
            parts.link.as_ref(),
            &parts.config,
            Retry::DEFAULT,
            &record,
            &target,
            &image,
            &version,
        );
        let mut next = record.clone();
        next.targets[k].outcome = Some(
            outcome
                .map_or(UNREACHABLE, TransferOutcome::as_str)
                .to_string(),
        );
        let sent = match outcome {
            Some(o) => {
                let content = transfer_content(
                    target.hub.as_deref().unwrap_or_default(),
                    &rfc3339_ms(parts.clock.now_ms()),
                    &record,
                    &target.device,
                    o,
                );
                send_with(parts, &record.user, FIRMWARE_TRANSFER_CODE, &content, |t| {
                    put_record(t, &next)
                })
            }
            None => match parts.store.write(|t| put_record(t, &next)) {
                Ok(()) => Sent::Queued,
                Err(e) => {
                    tracing::error!(error = %e, request = id, "a firmware outcome could not be stored");
                    Sent::Failed
                }
            },
        };
        match sent {
            Sent::Queued | Sent::Unsent => record = next,
            Sent::Refused => {
                // The outcome was written with the refused alert: unset it again.
                if let Err(e) = parts.store.write(|t| put_record(t, &record)) {
                    tracing::error!(error = %e, request = id, "a firmware outcome could not be unset after its alert was refused");
                }
                return;
            }
            Sent::Failed => return,
        }
    }
    // Taken from the record, so devices found unreachable before a restart are reported too.
    let unreachable: Vec<String> = record
        .targets
        .iter()
        .filter(|t| t.outcome.as_deref() == Some(UNREACHABLE))
        .map(|t| t.device.clone())
        .collect();
    let elapsed = parts.clock.now_ms().saturating_sub(record.accepted_ms);
    let sent = if unreachable.is_empty() {
        match parts.store.write(|t| remove_in(t, &record)) {
            Ok(()) => Sent::Queued,
            Err(e) => {
                tracing::error!(error = %e, request = id, "a finished firmware distribution could not be removed");
                Sent::Failed
            }
        }
    } else {
        let content = failure_content(&record, &unreachable);
        send_with(
            parts,
            &record.user,
            DISTRIBUTION_FAILURE_CODE,
            &content,
            |t| remove_in(t, &record),
        )
    };
    match sent {
        Sent::Queued | Sent::Unsent => {}
        Sent::Refused => {
            // Removed with the refused alert: put it back for a later scan.
            let restored = parts.store.write(|t| {
                put_record(t, &record)?;
                if !image.is_empty() {
                    let mut images = t.open_table(IMAGES)?;
                    if images.get(record.hash.as_str())?.is_none() {
                        images.insert(record.hash.as_str(), image.as_slice())?;
                    }
                }
                Ok::<_, StoreError>(())
            });
            if let Err(e) = restored {
                tracing::error!(error = %e, request = id, "a firmware distribution could not be kept after its failure alert was refused");
            }
            return;
        }
        Sent::Failed => return,
    }
    crate::performance::record("firmware", elapsed);
    metrics::counter!(crate::metric_name::FIRMWARE_DISTRIBUTIONS_TOTAL).increment(1);
}

/// The chunks for one device; `None` when its hub cannot be reached.
///
/// The hub's answers are followed (a hub may ask for an earlier offset, after its own
/// restart, say), but the highest offset reached is kept: more answers in a row that do not
/// raise it than the image has chunks, plus 3, or more answers in all than three times the
/// image's 1 KiB pieces, plus 8, end the device `FileTransferFailure`. A chunk the hub does
/// not take is retried with back-off for `retry.window` since the last chunk that raised
/// the offset (or since the start); past it the hub counts as unreachable.
fn transfer(
    link: &dyn ImageLink,
    config: &FirmwareConfig,
    retry: Retry,
    record: &Distribution,
    target: &Target,
    image: &[u8],
    version: &[u8],
) -> Option<TransferOutcome> {
    let hub = target.hub.as_deref().and_then(hex::parse_eui)?;
    let device = hex::parse_eui(&target.device)?;
    if image.is_empty() {
        return Some(TransferOutcome::FileTransferFailure);
    }
    let size = config.chunk_bytes.clamp(1024, 1 << 20);
    let pause = Duration::from_millis(config.chunk_pause_ms);
    let total = image.len() as u64;
    let stall_limit = total.div_ceil(size as u64).saturating_add(3);
    let answer_limit = total.div_ceil(1024).saturating_mul(3).saturating_add(8);
    let mut offset = 0u64;
    let mut highest = 0u64;
    let mut stalled = 0u64;
    let mut answers = 0u64;
    let mut failing_since: Option<Instant> = None;
    let mut backoff = retry.first_pause;
    loop {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(image.len());
        let end = start.saturating_add(size).min(image.len());
        let chunk = Chunk {
            transfer: &record.request_id,
            device,
            total,
            version,
            offset,
            data: &image[start..end],
        };
        match link.chunk(&hub, &chunk) {
            Ok(ChunkAnswer::Done(o)) => return Some(o),
            Ok(ChunkAnswer::Next(next)) => {
                metrics::counter!(crate::metric_name::FIRMWARE_CHUNKS_TOTAL).increment(1);
                answers = answers.saturating_add(1);
                let next = next.min(total);
                if next > highest {
                    highest = next;
                    stalled = 0;
                    failing_since = None;
                    backoff = retry.first_pause;
                } else {
                    stalled = stalled.saturating_add(1);
                }
                if stalled > stall_limit || answers > answer_limit {
                    tracing::warn!(hub = %hex::eui_duis(&hub), device = %target.device, highest, answers, "a hub makes no progress with a firmware image: transfer failed");
                    return Some(TransferOutcome::FileTransferFailure);
                }
                offset = next;
            }
            Err(e) => {
                let since = *failing_since.get_or_insert_with(Instant::now);
                tracing::info!(hub = %hex::eui_duis(&hub), error = %e, "firmware chunk not taken");
                if since.elapsed() >= retry.window {
                    return None;
                }
                std::thread::sleep(backoff);
                backoff = backoff.saturating_mul(2).min(retry.max_pause);
                continue;
            }
        }
        if !pause.is_zero() {
            std::thread::sleep(pause);
        }
    }
}

/// What became of an alert and the write that goes with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    /// Queued, the write committed with it.
    Queued,
    /// The alert could not be made (logged); the write committed alone.
    Unsent,
    /// The outbox refused it; the write committed with the refusal.
    Refused,
    /// The store failed: nothing committed.
    Failed,
}

/// Signs the DCC alert `code` with `content` for `user` and hands it to delivery with
/// `also` in the same transaction.
fn send_with(
    parts: &Parts,
    user: &str,
    code: &str,
    content: &str,
    also: impl FnOnce(&WriteTransaction) -> Result<(), StoreError>,
) -> Sent {
    let now = parts.clock.now_ms();
    let message = hex::parse_eui(user)
        .zip(dcc_alert_message(code, content, now))
        .and_then(
            |(user, response)| match parts.responder.sign_response(&response) {
                Ok(body) => Some((user, body)),
                Err(e) => {
                    tracing::error!(error = %e, "a firmware DCC alert could not be signed");
                    None
                }
            },
        );
    let Some((user, body)) = message else {
        tracing::error!(
            code,
            "a firmware DCC alert could not be made; the outcome is kept without it"
        );
        return match parts.store.write(also) {
            Ok(()) => Sent::Unsent,
            Err(e) => {
                tracing::error!(error = %e, "a firmware outcome could not be stored");
                Sent::Failed
            }
        };
    };
    let result = parts.delivery.submit_batch_with(
        vec![Outgoing {
            user,
            body,
            kind: Kind::DccAlert,
        }],
        also,
    );
    match result {
        Ok(results) => match results.into_iter().next() {
            Some(Ok(_)) => Sent::Queued,
            Some(Err(e)) => {
                tracing::error!(error = %e, code, "a firmware DCC alert was refused by delivery; retried later");
                Sent::Refused
            }
            None => Sent::Refused,
        },
        Err(e) => {
            tracing::error!(error = %e, code, "a firmware DCC alert could not be stored for delivery");
            Sent::Failed
        }
    }
}

/// `s` as XML character data.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    hubgate_protocol::duis::writer::escape_text(s, &mut out);
    out
}

fn transfer_content(
    hub: &str,
    timestamp: &str,
    record: &Distribution,
    device: &str,
    o: TransferOutcome,
) -> String {
    format!(
        "<sr:CommsHubAlert><sr:CommsHubDeviceID>{}</sr:CommsHubDeviceID><sr:AlertCode>{CHF_TRANSFER_ALERT}</sr:AlertCode><sr:TimeStamp>{}</sr:TimeStamp><sr:FirmwareTransferAlert><sr:UpdateFirmwareRequestID>{}</sr:UpdateFirmwareRequestID><sr:OtherDeviceID>{}</sr:OtherDeviceID><sr:FirmwareVersion>{}</sr:FirmwareVersion><sr:TransferResponseCode>{}</sr:TransferResponseCode></sr:FirmwareTransferAlert></sr:CommsHubAlert>",
        esc(hub),
        esc(timestamp),
        esc(&record.request_id),
        esc(device),
        esc(&record.version),
        o.as_str(),
    )
}

fn failure_content(record: &Distribution, devices: &[String]) -> String {
    format!(
        "<sr:FirmwareDistributionFailure><sr:UpdateFirmwareRequestID>{}</sr:UpdateFirmwareRequestID><sr:MeterIDs>{}</sr:MeterIDs></sr:FirmwareDistributionFailure>",
        esc(&record.request_id),
        esc(&devices.join(",")),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A hub that keeps what it is given in order and answers the offset it expects next,
    /// failing the calls `fails` says to fail (by call number).
    struct Hub {
        received: Mutex<Vec<u8>>,
        calls: Mutex<u64>,
        fails: Box<dyn Fn(u64) -> bool + Send + Sync>,
        stuck: bool,
    }

    impl Hub {
        fn new(fails: impl Fn(u64) -> bool + Send + Sync + 'static) -> Hub {
            Hub {
                received: Mutex::default(),
                calls: Mutex::default(),
                fails: Box::new(fails),
                stuck: false,
            }
        }
        fn calls(&self) -> u64 {
            *self.calls.lock().unwrap()
        }
    }

    impl ImageLink for Hub {
        fn chunk(&self, _hub: &[u8; 8], chunk: &Chunk<'_>) -> Result<ChunkAnswer, String> {
            let n = {
                let mut c = self.calls.lock().unwrap();
                *c += 1;
                *c
            };
            if (self.fails)(n) {
                return Err("link down".into());
            }
            if self.stuck {
                return Ok(ChunkAnswer::Next(0));
            }
            let mut got = self.received.lock().unwrap();
            if chunk.offset == got.len() as u64 {
                got.extend_from_slice(chunk.data);
            }
            if got.len() as u64 == chunk.total {
                return Ok(ChunkAnswer::Done(TransferOutcome::FileTransferSuccess));
            }
            Ok(ChunkAnswer::Next(got.len() as u64))
        }
    }

    fn record() -> (Distribution, Target) {
        let target = Target {
            device: "00-DB-55-00-00-00-00-01".into(),
            hub: Some("00-DB-55-00-00-00-00-00".into()),
            outcome: None,
        };
        let record = Distribution {
            request_id: "90-B3-D5-1F-30-01-00-00:00-DB-55-00-00-00-00-01:1".into(),
            user: "90-B3-D5-1F-30-01-00-00".into(),
            version: "00000002".into(),
            hash: String::new(),
            accepted_ms: 0,
            targets: vec![target.clone()],
        };
        (record, target)
    }

    fn config() -> FirmwareConfig {
        FirmwareConfig {
            chunk_bytes: 1024,
            ..FirmwareConfig::default()
        }
    }

    const QUICK: Retry = Retry {
        window: Duration::from_millis(600),
        first_pause: Duration::from_millis(5),
        max_pause: Duration::from_millis(50),
    };

    fn image() -> Vec<u8> {
        (0..10 * 1024).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn a_hub_answering_the_same_offset_forever_ends_the_transfer_failed() {
        let hub = Hub {
            stuck: true,
            ..Hub::new(|_| false)
        };
        let (record, target) = record();
        let started = Instant::now();
        let out = transfer(&hub, &config(), QUICK, &record, &target, &image(), &[2]);
        assert_eq!(out, Some(TransferOutcome::FileTransferFailure));
        // 10 chunks: at most 10 + 3 answers that do not raise the offset, plus the first.
        assert!(hub.calls() <= 15, "{} calls", hub.calls());
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn failures_after_each_chunk_taken_do_not_add_up() {
        // Every chunk fails five times before it is taken: 50 failures in all, never more
        // than five in a row.
        let hub = Hub::new(|n| n % 6 != 0);
        let (record, target) = record();
        let image = image();
        let out = transfer(&hub, &config(), QUICK, &record, &target, &image, &[2]);
        assert_eq!(out, Some(TransferOutcome::FileTransferSuccess));
        assert_eq!(*hub.received.lock().unwrap(), image);
    }

    #[test]
    fn a_link_down_for_a_while_is_waited_for_and_a_dead_one_gives_up_after_the_window() {
        let down_until = Instant::now() + Duration::from_millis(300);
        let hub = Hub::new(move |_| Instant::now() < down_until);
        let (record, target) = record();
        let image = image();
        let out = transfer(&hub, &config(), QUICK, &record, &target, &image, &[2]);
        assert_eq!(out, Some(TransferOutcome::FileTransferSuccess));
        assert_eq!(*hub.received.lock().unwrap(), image);

        let dead = Hub::new(|_| true);
        let started = Instant::now();
        let out = transfer(&dead, &config(), QUICK, &record, &target, &image, &[2]);
        assert_eq!(out, None);
        assert!(started.elapsed() >= QUICK.window);
        assert!(started.elapsed() < QUICK.window * 3);
        // The default window outlasts a rig's reconnection (about 250 ms and a handshake).
        assert!(Retry::DEFAULT.window >= Duration::from_secs(10));
    }

    #[test]
    fn only_even_length_hex_versions_of_two_to_eight_characters_are_accepted() {
        for ok in ["00", "0A0b", "00000002", "FFFFFFFF"] {
            assert!(check_version(ok).is_ok(), "{ok}");
        }
        for bad in ["", "0", "ABC", "0000000002", "GG", "0<", "</sr:A>", "00 0"] {
            let err = check_version(bad).unwrap_err();
            assert!(matches!(err, Rejection::Malformed(_)), "{bad}");
            assert!(err.to_string().contains("FirmwareVersion"), "{err}");
        }
    }

    #[test]
    fn alert_text_is_escaped() {
        let (mut record, _) = record();
        record.version = "<x>&".into();
        record.request_id = "a&b".into();
        let xml = transfer_content(
            "00-DB",
            "t",
            &record,
            "<d>",
            TransferOutcome::FileTransferSuccess,
        );
        assert!(xml.contains("<sr:FirmwareVersion>&lt;x&gt;&amp;</sr:FirmwareVersion>"));
        assert!(xml.contains("<sr:OtherDeviceID>&lt;d&gt;</sr:OtherDeviceID>"));
        assert!(!xml.contains("<x>") && !xml.contains("<d>"));
        let xml = failure_content(&record, &["<m>".into()]);
        assert!(xml.contains("a&amp;b") && xml.contains("&lt;m&gt;"));
    }
}
