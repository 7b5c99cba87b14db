//! In-process emulated premises: the gateway's default "meters".
//!
//! At start the gateway builds `emulation.hubs` premises with the `hil-rig` emulators (a CHF
//! with an ESME, GSME, GPF, PPMID and IHD each, fresh keys certified by an emulated device CA)
//! that trust the configured supplier, network operator and the Access Control Broker,
//! records them in the Smart Metering Inventory as commissioned (with an MPAN and an MPRN per
//! premises) and registers the supplier and network operator for those MPxNs, so a newcomer
//! can send a read to a real-behaving meter at once. Each hub is a [`HanEndpoint`] of the
//! in-process link: a command is handled on the calling thread, its response and any alerts
//! go back through the hub's actor like a WAN reply would. A ticker thread runs future-dated
//! work when it falls due and forwards the resulting alerts.
//!
//! What this proves and does not: the command the gateway builds is accepted by a device
//! that checks MACs, signatures and counters the way GBCS devices do, and the response
//! travels the same path (matching, authentication, Service Response, delivery) a real one
//! would. It does not prove radio or WAN behaviour. Emulated device state and keys live in
//! memory: a restart builds new keys and fresh meters under the same Device IDs.
//!
//! The devices also trust the gateway's Transitional Change of Supplier party when it has one
//! ([`Estate::build_trusting_cos`]), so SR 6.23 credential updates reach real-behaving meters.
//!
//! With `emulation.mac_fault_devices` set, the devices named answer with a corrupted MAC
//! ([`Estate::set_mac_fault`]): a test of the gateway's rejection of unauthentic answers.
//!
//! With `emulation.record_dir` set, [`Estate::record`] writes what an independent GBCS checker
//! needs to verify the traffic ([`Recorder`]): the devices' and the trusted parties'
//! certificates in a key folder, and every command the devices were sent and every response
//! and alert they produced as hex files.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use hubgate_actors::{HanEndpoint, Inbound, LinkError, Replier};
use hubgate_hil_rig::fleet::{Fleet, Hub, Parties};
use hubgate_protocol::hex;
use hubgate_protocol::smki::{Store, Usage};

use crate::clock::Clock;
use crate::inventory::Inventory;
use crate::inventory::import::{ImportOptions, import_csv};
use crate::registration::RegistrationData;

/// First CHF EUI of the emulated estate; each premises takes the next 16.
pub const FIRST_EUI: u64 = 0x00db_5500_0000_0000;

/// One emulated hub and its devices.
pub struct EmulatedHub {
    hub: Mutex<Hub>,
    clock: Arc<dyn Clock>,
    recorder: OnceLock<Arc<Recorder>>,
}

impl std::fmt::Debug for EmulatedHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatedHub").finish_non_exhaustive()
    }
}

impl EmulatedHub {
    /// Runs `f` on the hub and its devices (`None` when its lock is poisoned): how the
    /// firmware distribution ([`crate::firmware`]) hands an image to the CHF.
    pub fn with_hub<R>(&self, f: impl FnOnce(&mut Hub) -> R) -> Option<R> {
        self.hub.lock().ok().map(|mut h| f(&mut h))
    }
}

impl HanEndpoint for EmulatedHub {
    fn command(&self, device: [u8; 8], command: &[u8], reply: Replier) -> Result<(), LinkError> {
        let now = self.clock.now_ms().div_euclid(1000);
        let answer = {
            let mut hub = self
                .hub
                .lock()
                .map_err(|_| LinkError::Refused("emulated hub poisoned".into()))?;
            let Some(d) = hub.device_mut(&device) else {
                // A hub forwards over its HAN whatever it is given; a device that is not
                // there never answers, and the command times out (E21).
                tracing::info!(device = %hex::eui_duis(&device), "no emulated device behind this hub");
                return Ok(());
            };
            d.handle(command, now)
        };
        if let Some(rec) = self.recorder.get() {
            rec.exchange(&device, command, answer.as_ref().ok());
        }
        match answer {
            Ok(r) => {
                for bytes in std::iter::once(r.response).chain(r.alerts) {
                    if let Err(e) = reply.send(bytes) {
                        tracing::warn!(error = %e, "emulated device answer not taken");
                    }
                }
            }
            // A GBCS device discards what it cannot authenticate or execute: no answer, and
            // the command times out (E21) at the gateway.
            Err(e) => {
                tracing::info!(device = %hex::eui_duis(&device), error = %e, "emulated device discarded a command")
            }
        }
        Ok(())
    }
}

/// The emulated premises.
#[derive(Debug)]
pub struct Estate {
    /// The hubs by CHF EUI.
    pub hubs: Vec<([u8; 8], Arc<EmulatedHub>)>,
    /// The parties each hub's devices trust, in the order of [`Estate::hubs`].
    pub parties: Vec<Parties>,
    /// Every certificate (the parties' given, the devices' generated) and the parties'
    /// private keys.
    pub keys: Store,
    /// The Transitional CoS party the devices trust (EUI, digital-signature certificate DER).
    pub cos: Option<([u8; 8], Vec<u8>)>,
}

/// The MPAN and MPRN of premises `i` (from 0).
fn mpxns(i: usize) -> (String, String) {
    (format!("19{:011}", i + 1), format!("9{:09}", i + 1))
}

impl Estate {
    /// Builds `hubs` premises whose devices trust `parties`, whose certificates (and the
    /// ACB's private key-agreement key) are in `store`.
    ///
    /// # Errors
    ///
    /// When keys cannot be generated.
    pub fn build(
        hubs: usize,
        store: Store,
        parties: Parties,
        clock: Arc<dyn Clock>,
    ) -> Result<Estate, hubgate_hil_rig::DeviceError> {
        Self::build_shared(hubs, store, &[parties], clock)
    }

    /// Builds `hubs` premises shared out among `suppliers` in contiguous runs (the first
    /// `hubs / n` premises trust the first, and so on; the first ones take the remainder), so
    /// that many Users can each drive meters of their own. Every entry's certificates must be
    /// in `store`.
    ///
    /// # Errors
    ///
    /// When keys cannot be generated.
    pub fn build_shared(
        hubs: usize,
        store: Store,
        suppliers: &[Parties],
        clock: Arc<dyn Clock>,
    ) -> Result<Estate, hubgate_hil_rig::DeviceError> {
        Self::build_trusting_cos(hubs, store, suppliers, None, clock)
    }

    /// [`Estate::build_shared`], with every device also holding `cos` (the Transitional
    /// Change of Supplier party's EUI and digital-signature certificate, DER) in its
    /// transitional-CoS cell, so it accepts the credential updates that party signs (SR 6.23,
    /// [`crate::cos`]).
    ///
    /// # Errors
    ///
    /// When keys cannot be generated.
    pub fn build_trusting_cos(
        hubs: usize,
        mut store: Store,
        suppliers: &[Parties],
        cos: Option<([u8; 8], Vec<u8>)>,
        clock: Arc<dyn Clock>,
    ) -> Result<Estate, hubgate_hil_rig::DeviceError> {
        let n = suppliers.len().max(1);
        let mut estate = Estate {
            hubs: Vec::with_capacity(hubs),
            parties: Vec::with_capacity(hubs),
            keys: Store::default(),
            cos: cos.clone(),
        };
        let mut first = FIRST_EUI;
        for (k, parties) in suppliers.iter().enumerate() {
            let count = hubs / n + usize::from(k < hubs % n);
            if count == 0 {
                continue;
            }
            let mut builder = Fleet::builder()
                .hubs(count)
                .first_eui(first)
                .remote_parties(store, *parties);
            if let Some((eui, der)) = &cos {
                builder = builder.trust(
                    hubgate_hil_rig::trust::role::TRANSITIONAL_COS,
                    hubgate_hil_rig::pki::KeyUsage::DigitalSignature,
                    *eui,
                    der.clone(),
                );
            }
            let fleet = builder.build()?;
            first += 16 * count as u64;
            let Fleet {
                hubs: premises,
                store: next,
                ..
            } = fleet;
            store = next;
            for h in premises {
                estate.parties.push(*parties);
                estate.hubs.push((
                    h.chf.eui(),
                    Arc::new(EmulatedHub {
                        hub: Mutex::new(h),
                        clock: Arc::clone(&clock),
                        recorder: OnceLock::new(),
                    }),
                ));
            }
        }
        estate.keys = store;
        Ok(estate)
    }

    /// Records the premises in the inventory (commissioned; rows already there are left as
    /// they are) and registers each premises' supplier (import and gas) and network operator
    /// (electricity distributor and gas transporter) for their MPxNs, keeping the
    /// registration data already loaded.
    ///
    /// # Errors
    ///
    /// When the inventory or the registration data refuses the seed.
    pub fn seed(
        &self,
        inventory: &Inventory,
        registration: &RegistrationData,
    ) -> anyhow::Result<String> {
        let mut inv = String::from(
            "device_id,device_type,device_status,manufacturer,model,import_mpxn,export_mpan,post_code,address_identifier,associated_with\n",
        );
        let mut reg = String::from("mpxn,fuel,role,party,effective_from,effective_to\n");
        let mut summary = Vec::new();
        for (i, ((_, hub), parties)) in self.hubs.iter().zip(&self.parties).enumerate() {
            let (supplier, operator) = (
                hex::eui_duis(&parties.supplier),
                hex::eui_duis(&parties.network_operator),
            );
            let h = hub
                .hub
                .lock()
                .map_err(|_| anyhow::anyhow!("emulated hub poisoned"))?;
            let id = |d: &hubgate_hil_rig::Device| hex::eui_duis(&d.eui());
            let (mpan, mprn) = mpxns(i);
            let premises = i + 1;
            let (chf, esme, gsme) = (id(&h.chf), id(&h.esme), id(&h.gsme));
            inv += &format!("{chf},CHF,Commissioned,106C,433100AC,,,EM1 1AA,{premises},\n");
            inv += &format!(
                "{esme},ESME,Commissioned,EE01,010A030B,{mpan},,EM1 1AA,{premises},{chf}\n"
            );
            inv += &format!(
                "{gsme},GSME,Commissioned,EE01,020A030B,{mprn},,EM1 1AA,{premises},{chf}\n"
            );
            inv += &format!(
                "{},GPF,Commissioned,106C,433100AC,,,EM1 1AA,{premises},{gsme}\n",
                id(&h.gpf)
            );
            inv += &format!(
                "{},PPMID,Commissioned,EE01,040A030B,,,EM1 1AA,{premises},{esme}\n",
                id(&h.ppmid)
            );
            reg += &format!("{mpan},electricity,IS,{supplier},2000-01-01,\n");
            reg += &format!("{mpan},electricity,ED,{operator},2000-01-01,\n");
            reg += &format!("{mprn},gas,GS,{supplier},2000-01-01,\n");
            reg += &format!("{mprn},gas,GT,{operator},2000-01-01,\n");
            summary.push(format!(
                "  premises {premises}: hub {chf}, ESME {esme} (MPAN {mpan}), GSME {gsme} (MPRN {mprn}), supplier {supplier}"
            ));
        }
        let report = import_csv(inventory, inv.as_bytes(), ImportOptions::default())?;
        let fresh = RegistrationData::new();
        fresh.ingest(reg.as_bytes(), crate::registration::Format::Csv)?;
        let mut all = registration.records();
        all.extend(fresh.records());
        registration.refresh(all);
        let trusting = match self.parties.first() {
            Some(p) if self.parties.iter().all(|q| q == p) => format!(
                "trusting supplier {} and network operator {}",
                hex::eui_duis(&p.supplier),
                hex::eui_duis(&p.network_operator)
            ),
            _ => "each trusting the supplier listed with it".to_string(),
        };
        Ok(format!(
            "emulated meters: {} premises ({} inventory rows new), {trusting}\n{}",
            self.hubs.len(),
            report.imported,
            summary.join("\n")
        ))
    }

    /// Makes the emulated device `eui` answer with a corrupted MAC from now on (fault
    /// injection, `emulation.mac_fault_devices`). `false` when no emulated device has that ID.
    pub fn set_mac_fault(&self, eui: &[u8; 8]) -> bool {
        self.hubs.iter().any(|(_, hub)| {
            hub.hub
                .lock()
                .ok()
                .and_then(|mut h| h.device_mut(eui).map(|d| d.state_mut().mac_fault = true))
                .is_some()
        })
    }

    /// Records the devices' traffic from now on in `dir` (see [`Recorder`]), after writing
    /// the key folder an independent checker needs: the devices' certificates and
    /// key-agreement private keys, and the certificates of the `parties` they trust (the
    /// Transitional CoS party's included).
    ///
    /// # Errors
    ///
    /// When the folder cannot be written.
    pub fn record(&self, dir: &Path) -> std::io::Result<()> {
        let rec = Arc::new(Recorder::create(dir)?);
        let keys = rec.keys_dir();
        for (_, hub) in &self.hubs {
            let h = hub
                .hub
                .lock()
                .map_err(|_| std::io::Error::other("emulated hub poisoned"))?;
            for d in h.devices() {
                let id = d.keys().identity();
                let label = hex::eui(&d.eui());
                write_pem(
                    &keys,
                    &format!("{label}-ds.pem"),
                    "CERTIFICATE",
                    id.ds_certificate(),
                )?;
                write_pem(
                    &keys,
                    &format!("{label}-ka.pem"),
                    "CERTIFICATE",
                    id.ka_certificate(),
                )?;
                if let hubgate_hil_rig::Identity::Generated { ka, .. } = id {
                    std::fs::write(keys.join(format!("{label}-ka.key")), ka.private_pem())?;
                }
            }
        }
        let mut parties: Vec<[u8; 8]> = self
            .parties
            .iter()
            .flat_map(|p| p.roles().map(|(_, eui)| eui))
            .collect();
        parties.sort_unstable();
        parties.dedup();
        for party in parties {
            for usage in [Usage::DigitalSignature, Usage::KeyAgreement] {
                let certs = self
                    .keys
                    .public_keys(&party, usage)
                    .flat_map(|e| e.certificates().iter());
                for (n, cert) in certs.enumerate() {
                    let label = hex::eui(&party);
                    let suffix = if n == 0 {
                        String::new()
                    } else {
                        format!("-{n}")
                    };
                    write_pem(
                        &keys,
                        &format!("{label}-{}{suffix}.pem", usage.short()),
                        "CERTIFICATE",
                        cert.der(),
                    )?;
                }
            }
        }
        if let Some((eui, der)) = &self.cos {
            write_pem(
                &keys,
                &format!("{}-ds.pem", hex::eui(eui)),
                "CERTIFICATE",
                der,
            )?;
        }
        for (_, hub) in &self.hubs {
            let _ = hub.recorder.set(Arc::clone(&rec));
        }
        Ok(())
    }

    /// Starts the thread that runs the devices' future-dated work when it falls due and
    /// sends the alerts it produces through `inbound`.
    ///
    /// # Errors
    ///
    /// When the thread cannot be started.
    pub fn start_ticker(&self, inbound: Inbound, clock: Arc<dyn Clock>) -> std::io::Result<()> {
        let hubs: Vec<([u8; 8], Arc<EmulatedHub>)> = self.hubs.clone();
        std::thread::Builder::new()
            .name("hubgate-emulation".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                    let now = clock.now_ms().div_euclid(1000);
                    for (eui, hub) in &hubs {
                        let alerts = {
                            let Ok(mut guard) = hub.hub.lock() else { continue };
                            let h = &mut *guard;
                            let mut out = Vec::new();
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
                                        Ok(a) => out.extend(a),
                                        Err(e) => tracing::warn!(error = %e, "emulated future-dated work failed"),
                                    }
                                }
                            }
                            out
                        };
                        for a in alerts {
                            if let Some(rec) = hub.recorder.get() {
                                rec.alert(&a);
                            }
                            let _ = inbound.deliver(*eui, a);
                        }
                    }
                }
            })?;
        Ok(())
    }
}

/// Writes the emulated devices' traffic for an independent GBCS checker: `<dir>/keys/` holds
/// the key folder (`<eui>-ds.pem`, `<eui>-ka.pem`, `<eui>-ka.key`, the parties'
/// certificates), `<dir>/messages/` one hex file per message, numbered in the order the
/// devices saw them: `<n>_<code>_COMMAND_GBCS.HEX` for a command, `<n>_<code>_RESPONSE_GBCS.HEX`
/// for its response (absent when the device discarded the command), `<n>_<code>_ALERT_<i>.HEX`
/// for the alerts it raised, and `<n>_ALERT_<code>.HEX` for alerts of future-dated work.
///
/// The key folder holds the emulated devices' private keys: it is meant for test runs of
/// emulated meters only. Recording is best effort: a file that cannot be written is logged.
#[derive(Debug)]
pub struct Recorder {
    dir: PathBuf,
    seq: AtomicU64,
}

impl Recorder {
    /// Creates `dir/keys` and `dir/messages`.
    ///
    /// # Errors
    ///
    /// When they cannot be created.
    pub fn create(dir: &Path) -> std::io::Result<Recorder> {
        std::fs::create_dir_all(dir.join("keys"))?;
        std::fs::create_dir_all(dir.join("messages"))?;
        Ok(Recorder {
            dir: dir.to_path_buf(),
            seq: AtomicU64::new(0),
        })
    }

    fn keys_dir(&self) -> PathBuf {
        self.dir.join("keys")
    }

    fn next(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn write(&self, name: &str, bytes: &[u8]) {
        let path = self.dir.join("messages").join(name);
        // Written under another name and renamed, so a process killed mid-write leaves no
        // truncated record for the readers (the oracle, the crash test) to trip over.
        let part = self.dir.join("messages").join(format!(".{name}.part"));
        let written =
            std::fs::write(&part, hex::encode(bytes)).and_then(|()| std::fs::rename(&part, &path));
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), error = %e, "recording a GBCS message failed");
        }
    }

    /// Records a command sent to `device` and what the device answered (`None`: discarded).
    fn exchange(&self, device: &[u8; 8], command: &[u8], answer: Option<&hubgate_hil_rig::Reply>) {
        let n = self.next();
        let code = message_code(command);
        let who = hex::eui(device);
        self.write(&format!("{n:06}_{who}_{code}_COMMAND_GBCS.HEX"), command);
        if let Some(r) = answer {
            self.write(
                &format!("{n:06}_{who}_{code}_RESPONSE_GBCS.HEX"),
                &r.response,
            );
            for (i, a) in r.alerts.iter().enumerate() {
                self.write(&format!("{n:06}_{who}_{code}_ALERT_{i}.HEX"), a);
            }
        }
    }

    /// Records an alert raised by future-dated work.
    fn alert(&self, bytes: &[u8]) {
        let n = self.next();
        let code = message_code(bytes);
        self.write(&format!("{n:06}_ALERT_{code}.HEX"), bytes);
    }
}

/// The GBCS message code of `bytes` as four hex digits (`XXXX` when it cannot be read).
fn message_code(bytes: &[u8]) -> String {
    hubgate_protocol::gbcs::frame::parse(bytes)
        .map(|m| format!("{:04X}", m.header.other_info.message_code))
        .unwrap_or_else(|_| "XXXX".into())
}

fn write_pem(dir: &Path, name: &str, label: &str, der: &[u8]) -> std::io::Result<()> {
    std::fs::write(dir.join(name), hubgate_hil_rig::der::pem(label, der))
}
