//! The `hil-rig run` process: hubs whose devices are emulated, bridged to a GBCS device on
//! a port, or adapters in front of a lab meter, served to the gateway over the SMWAN link.
//!
//! # What is implemented
//!
//! * [`config`]: `rig.toml`, typed and checked (unknown fields refused, errors naming the
//!   field). Port kinds: `tcp`, `serial`, `slcan` (an SLCAN USB-CAN adapter with an ISO-TP
//!   channel) and `socketcan` (a Linux CAN interface with an ISO-TP channel); lab meter
//!   protocols `dlms` (DLMS/COSEM over HDLC) and `zcl` (ZigBee Metering through a ZNP
//!   dongle).
//! * [`modes`]: the three device modes and exactly what each proves.
//! * [`port`]: one thread per port with a bounded queue, timeouts on every read, unplug
//!   handling (command not answered, WARN line naming port and device, counter) and
//!   reopening with back-off; the length-prefixed framing of bridged devices on TCP and
//!   serial ports, ISO-TP messages on CAN ports.
//! * [`metrics`]: per-port and per-hub metrics (`hubgate_rig_*`) and the `/metrics`
//!   listener; `dashboards/grafana/hil-rig.json` charts them.
//! * [`Rig`]: the [`Responder`] the SMWAN link serves
//!   ([`crate::link::rig::run_with`]: QUIC, registration, reconnection with back-off). It
//!   refuses to start when a `socketcan` port is configured on a kernel without CAN.
//!
//! `hil-rig/README.md` is the guide for test labs: a complete rig file, the metrics, and
//! what each mode and port kind proves.
//!
//! # What is not implemented
//!
//! Adapter identities other than the hub's ESME; HDLC-framed bridged devices (bridged
//! frames are length-prefixed on TCP and serial ports); several bridged devices sharing one
//! CAN bus or adapter (one port, one device); ISO-TP extended or mixed addressing and CAN FD
//! frames on CAN ports; ZigBee meters behind EZSP (Silicon Labs) dongles, and forming a
//! ZigBee network or joining a meter (the dongle must already hold the network with the
//! meter in it); alerts raised by an adapter device on its own (only those its emulator
//! raises while answering, and future-dated ones).
//!
//! # What the tests prove
//!
//! `tests/rig_run.rs`: configuration errors name the field (CAN and ZigBee fields
//! included), and the rig file in the README checks; an adapter ESME reads the gurux DLMS
//! meter simulator over TCP and its GBCS answer (checked with the protocol crate's decoder
//! and decrypted with the supplier's key) carries the simulator's energy register; an
//! adapter ESME in front of the shared fake ZNP dongle (zigpy-znp's frame codec) answers with
//! the Metering summation the dongle reported (123456789 Wh), then with the last values when
//! nothing new arrives; a bridged device behind a TCP peer gets each command byte for byte
//! and its answer comes back byte for byte; a bridged device on an SLCAN adapter (python-can's
//! `slcan` interface on a socat PTY pair, with a small ISO-TP device of ours) gets a
//! 200-byte command as 29 padded ISO-TP frames and its 206-byte answer comes back byte for
//! byte; killing either peer mid-command leaves the command unanswered, counts a `closed`
//! error and drops `hubgate_rig_port_up`, and the port is reopened (and counted) when the
//! peer returns; a `socketcan` port on a kernel without CAN stops the start with "this
//! kernel has no CAN support"; every metric the rig dashboard uses is one the rig exports.
//! `gateway/tests/hil_dlms.rs`: a signed DUIS 4.1.1 from the gateway crosses the SMWAN link
//! to a `hil-rig run` process whose ESME is an adapter in front of the gurux simulator on a
//! PTY (serial transport, HDLC), and the User's signed Service Response carries the
//! simulator's energy register.

pub mod config;
pub mod metrics;
pub mod modes;
pub mod port;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hubgate_protocol::hex;
use hubgate_protocol::smki::Store;

use crate::link::Eui;
use crate::link::rig::{self, Connect, Hubs, Replies, Responder};
use config::{DevicePlan, Mode, PortAddr, RigConfig};
use port::{Job, PortHandle, PortSpec, Refused};

/// The rig: emulated hubs and the ports of their bridged and adapter devices.
#[derive(Debug)]
pub struct Rig {
    hubs: Arc<Hubs>,
    /// Ports by (hub, device).
    ports: HashMap<(Eui, Eui), PortHandle>,
}

impl Rig {
    /// Builds the hubs of `config` (device identities loaded from or generated into its
    /// `keys_out`) and starts a thread for each port.
    ///
    /// # Errors
    /// When the configuration does not check, the parties' certificates or the keys cannot
    /// be read, or a thread cannot start.
    pub fn start(config: &RigConfig) -> anyhow::Result<Rig> {
        let plan = config
            .plan()
            .map_err(|(field, message)| anyhow::anyhow!("{field}: {message}"))?;
        let parties = config
            .parties()
            .map_err(|(field, message)| anyhow::anyhow!("{field}: {message}"))?;
        let mut store = Store::new();
        for dir in &config.trust.parties {
            store
                .load_dir(dir)
                .with_context(|| format!("trust.parties {}", dir.display()))?;
        }
        std::fs::create_dir_all(&config.keys_out)
            .with_context(|| format!("creating {}", config.keys_out.display()))?;
        // A kernel without CAN will never open a SocketCAN port: say so now, plainly, rather
        // than retrying for ever. (A missing interface is retried: it may be plugged in.)
        for h in &plan {
            for d in &h.devices {
                if let DevicePlan::Bridged {
                    port: PortAddr::SocketCan { interface, .. },
                    field,
                    ..
                } = d
                {
                    crate::transport::socketcan::check_kernel(interface)
                        .map_err(|e| anyhow::anyhow!("{field}.socketcan: {}", e.message))?;
                }
            }
        }
        let hub_euis: Vec<Eui> = plan.iter().map(|h| h.eui).collect();
        let identities = rig::load_or_generate_hubs(&config.keys_out, &hub_euis)?;
        let hubs = Arc::new(Hubs::build(identities, &store, parties)?);
        let mut ports = HashMap::new();
        for h in &plan {
            for d in &h.devices {
                let (device, addr, meter, timeout_ms, mode) = match d {
                    DevicePlan::Bridged {
                        eui,
                        port,
                        timeout_ms,
                        ..
                    } => (*eui, port, None, *timeout_ms, Mode::Bridged),
                    DevicePlan::Adapter {
                        eui,
                        port,
                        meter,
                        timeout_ms,
                        ..
                    } => (*eui, port, Some(meter.clone()), *timeout_ms, Mode::Adapter),
                };
                let name = addr.name();
                let timeout = Duration::from_millis(timeout_ms);
                let handle = port::spawn(PortSpec {
                    name: name.clone(),
                    hub: h.eui,
                    device,
                    mode,
                    timeout,
                    opener: port::opener(addr.clone(), name, meter, timeout),
                    hubs: Arc::clone(&hubs),
                })
                .context("starting a port thread")?;
                ports.insert((h.eui, device), handle);
            }
        }
        Ok(Rig { hubs, ports })
    }

    /// The emulated hubs.
    #[must_use]
    pub fn hubs(&self) -> &Arc<Hubs> {
        &self.hubs
    }

    /// Connects to the gateway of `config` and serves until the process ends.
    ///
    /// # Errors
    /// When the client configuration or the local socket cannot be set up.
    pub async fn serve(self: Arc<Self>, connect: Connect) -> anyhow::Result<()> {
        rig::run_with(connect, self).await
    }
}

/// The `hub` label of commands for hubs the rig does not host (`0000000000000000`).
const UNKNOWN_HUB: Eui = [0; 8];

fn count_command(hub: &Eui, mode: &'static str) {
    ::metrics::counter!(metrics::HUB_COMMANDS_TOTAL, "hub" => hex::eui(hub), "mode" => mode)
        .increment(1);
}

fn count_unanswered(hub: &Eui, reason: &'static str) {
    ::metrics::counter!(metrics::HUB_UNANSWERED_TOTAL, "hub" => hex::eui(hub), "reason" => reason)
        .increment(1);
}

impl Responder for Rig {
    fn hub_euis(&self) -> Vec<Eui> {
        self.hubs.euis().to_vec()
    }

    fn command(&self, hub: Eui, device: Eui, command: &[u8], later: &Replies) -> Vec<Vec<u8>> {
        if let Some(p) = self.ports.get(&(hub, device)) {
            count_command(&hub, p.mode.as_str());
            match p.submit(Job {
                command: command.to_vec(),
                replies: later.clone(),
            }) {
                Ok(()) => {}
                Err(Refused::Busy) => {
                    count_unanswered(&hub, "port_busy");
                    tracing::warn!(port = %p.name, device = %hex::eui(&device),
                        "port queue full; command not answered");
                }
                Err(Refused::Gone) => {
                    count_unanswered(&hub, "port_down");
                    tracing::error!(port = %p.name, device = %hex::eui(&device),
                        "port thread has ended; command not answered");
                }
            }
            return Vec::new();
        }
        if self.hubs.with_device(&hub, &device, |_| ()).is_none() {
            // A hub this rig does not host is counted under one label, so that commands
            // naming arbitrary hubs cannot add series to the rig's metrics without end.
            let label = if self.hubs.euis().contains(&hub) {
                hub
            } else {
                UNKNOWN_HUB
            };
            count_command(&label, "none");
            count_unanswered(&label, "no_device");
            tracing::warn!(hub = %hex::eui(&hub), device = %hex::eui(&device),
                "command for a device this rig does not have");
            return Vec::new();
        }
        count_command(&hub, Mode::Emulated.as_str());
        let answers = self.hubs.command(&hub, &device, command);
        if answers.is_empty() {
            count_unanswered(&hub, "discarded");
        }
        ::metrics::counter!(metrics::HUB_ANSWERS_TOTAL, "hub" => hex::eui(&hub))
            .increment(answers.len() as u64);
        answers
    }

    fn tick(&self) -> Vec<(Eui, Vec<u8>)> {
        let alerts = self.hubs.tick();
        for (hub, _) in &alerts {
            ::metrics::counter!(metrics::HUB_ANSWERS_TOTAL, "hub" => hex::eui(hub)).increment(1);
        }
        alerts
    }

    /// Images reach the emulated devices only: a device behind a port (a bridged or lab
    /// meter) cannot be handed an image by the emulated CHF, so its transfer fails.
    fn image_chunk(
        &self,
        hub: Eui,
        chunk: &crate::firmware::Chunk<'_>,
    ) -> crate::firmware::ChunkAnswer {
        if self.ports.contains_key(&(hub, chunk.device)) {
            tracing::warn!(device = %hex::eui(&chunk.device),
                "firmware image for a device behind a port: not passed on");
            return crate::firmware::ChunkAnswer::Done(
                crate::firmware::TransferOutcome::FileTransferFailure,
            );
        }
        self.hubs.image_chunk(&hub, chunk)
    }

    fn link_state(&self, up: bool) {
        ::metrics::gauge!(metrics::GATEWAY_UP).set(if up { 1.0 } else { 0.0 });
        if up {
            ::metrics::counter!(metrics::GATEWAY_REGISTRATIONS_TOTAL).increment(1);
        }
    }
}
