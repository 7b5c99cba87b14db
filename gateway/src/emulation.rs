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

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hubgate_actors::{HanEndpoint, Inbound, LinkError, Replier};
use hubgate_hil_rig::fleet::{Fleet, Hub, Parties};
use hubgate_protocol::hex;
use hubgate_protocol::smki::Store;

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
}

impl std::fmt::Debug for EmulatedHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatedHub").finish_non_exhaustive()
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
    /// Every certificate (the parties' given, the devices' generated) and the parties'
    /// private keys.
    pub keys: Store,
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
        let fleet = Fleet::builder()
            .hubs(hubs)
            .first_eui(FIRST_EUI)
            .remote_parties(store, parties)
            .build()?;
        let Fleet {
            hubs: premises,
            store,
            ..
        } = fleet;
        Ok(Estate {
            hubs: premises
                .into_iter()
                .map(|h| {
                    (
                        h.chf.eui(),
                        Arc::new(EmulatedHub {
                            hub: Mutex::new(h),
                            clock: Arc::clone(&clock),
                        }),
                    )
                })
                .collect(),
            keys: store,
        })
    }

    /// Records the premises in the inventory (commissioned; rows already there are left as
    /// they are) and registers `supplier` (import and gas) and `network_operator`
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
        parties: &Parties,
    ) -> anyhow::Result<String> {
        let mut inv = String::from(
            "device_id,device_type,device_status,manufacturer,model,import_mpxn,export_mpan,post_code,address_identifier,associated_with\n",
        );
        let mut reg = String::from("mpxn,fuel,role,party,effective_from,effective_to\n");
        let (supplier, operator) = (
            hex::eui_duis(&parties.supplier),
            hex::eui_duis(&parties.network_operator),
        );
        let mut summary = Vec::new();
        for (i, (_, hub)) in self.hubs.iter().enumerate() {
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
                "  premises {premises}: hub {chf}, ESME {esme} (MPAN {mpan}), GSME {gsme} (MPRN {mprn})"
            ));
        }
        let report = import_csv(inventory, inv.as_bytes(), ImportOptions::default())?;
        let fresh = RegistrationData::new();
        fresh.ingest(reg.as_bytes(), crate::registration::Format::Csv)?;
        let mut all = registration.records();
        all.extend(fresh.records());
        registration.refresh(all);
        Ok(format!(
            "emulated meters: {} premises ({} inventory rows new), trusting supplier {supplier} and network operator {operator}\n{}",
            self.hubs.len(),
            report.imported,
            summary.join("\n")
        ))
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
                            let _ = inbound.deliver(*eui, a);
                        }
                    }
                }
            })?;
        Ok(())
    }
}
