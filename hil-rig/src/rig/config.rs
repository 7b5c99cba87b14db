//! `rig.toml`: what a `hil-rig run` process serves.
//!
//! The file is typed TOML read with serde; unknown fields are refused, and every error names
//! the field it is about as a path (`hubs[0].devices[1].port.baud`), with the line for
//! syntax errors. Relative paths are relative to the folder of the file.
//!
//! ```toml
//! keys_out = "rig-keys"                 # device identities (as `emulate --keys-out`)
//! metrics_listen = "127.0.0.1:9465"     # optional; `--metrics-listen` overrides it
//!
//! [gateway]                             # as `emulate` takes it
//! address = "127.0.0.1:4433"            # the gateway's smwan.listen
//! server_name = "localhost"             # optional: the name its certificate carries
//! ca = "data/tls/ca.pem"
//! cert = "data/tls/rigs/any.pem"       # a rig certificate: `any`, or the hubs' CSP region
//! key = "data/tls/rigs/any.key"
//!
//! [trust]                               # the remote parties the devices trust
//! parties = ["../shared/conformance/smki"]
//! # supplier, network_operator, acb: 16 hex digits (default: the RTDS parties)
//!
//! [[hubs]]
//! eui = "00db560000000000"              # the CHF; the premises take the next 5 EUIs
//!
//! [[hubs.devices]]                      # a lab DLMS meter behind the hub's ESME identity
//! slot = "esme"
//! mode = "adapter"
//! port = { serial = "/dev/ttyUSB0", baud = 9600 }
//! meter = { protocol = "dlms", client_address = 16, server_address = 1 }
//!
//! [[hubs.devices]]                      # a device that speaks GBCS itself
//! eui = "00db5600000000a0"
//! mode = "bridged"
//! port = { tcp = "127.0.0.1:5000" }
//! timeout_ms = 5000
//!
//! [[hubs.devices]]                      # one on a CAN bus, SLCAN adapter, ISO-TP framing
//! eui = "00db5600000000a1"
//! mode = "bridged"
//! port = { slcan = "/dev/ttyACM0", bitrate = 500000, isotp = { tx_id = 0x7E0, rx_id = 0x7E8, padding = 0xCC, block_size = 8, st_min_us = 1000 } }
//! # or: port = { socketcan = "can0", isotp = { tx_id = 0x18DA10F1, rx_id = 0x18DAF110, extended = true } }
//! ```
//!
//! A ZigBee meter behind the ESME instead: `port = { serial = "/dev/ttyUSB1" }` (a ZNP dongle,
//! 115200 baud by default) and `meter = { protocol = "zcl", nwk_address = 0x1234, endpoint = 1 }`.
//! `hil-rig/README.md` has a complete, commented file with every port kind.
//!
//! Each hub is a whole emulated premises (CHF, ESME, GSME, GPF, PPMID, IHD on consecutive
//! EUIs from `eui`, as `emulate` builds them). `devices` changes how some of them answer
//! (see [`super::modes`]): `emulated` (the default for every slot not listed), `adapter`
//! (a slot whose registers come from a lab meter) or `bridged` (an extra device, with its own
//! EUI, that answers GBCS itself on a port).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::state::DeviceKind;
use crate::transport::isotp::IsoTpConfig;
use crate::transport::serial::{FlowControl, Parity, SerialSettings};

/// Default time a port may take to answer one command or meter read.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;

/// A configuration error: the field (a path such as `hubs[0].devices[1].port`) and what is
/// wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {field}: {message}")]
pub struct ConfigError {
    /// The file.
    pub file: String,
    /// The field, as a path from the top of the file (`.` for the file as a whole).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RigConfig {
    /// Folder of the device identities and certificates (as `emulate --keys-out`).
    pub keys_out: PathBuf,
    /// Where to serve `/metrics` (Prometheus text format).
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    /// The gateway to connect to.
    pub gateway: GatewayConfig,
    /// The remote parties the devices trust.
    pub trust: TrustConfig,
    /// The hubs.
    pub hubs: Vec<HubConfig>,
}

/// Where the gateway is and the rig's TLS credentials.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// `HOST:PORT` of the gateway's SMWAN listener.
    pub address: String,
    /// The name the gateway's certificate must carry (default: the host of `address`).
    #[serde(default)]
    pub server_name: Option<String>,
    /// CA certificate(s) that issued the gateway's certificate (PEM).
    pub ca: PathBuf,
    /// The rig's client certificate (PEM).
    pub cert: PathBuf,
    /// The rig's private key (PEM).
    pub key: PathBuf,
}

/// The parties the emulated (and adapter) devices trust.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustConfig {
    /// Folders with the parties' certificates (a DCC Boxed SMKI folder, the gateway's PKI).
    pub parties: Vec<PathBuf>,
    /// Supplier EUI (default: the RTDS supplier).
    #[serde(default)]
    pub supplier: Option<String>,
    /// Network operator EUI (default: the RTDS network operator).
    #[serde(default)]
    pub network_operator: Option<String>,
    /// Access Control Broker EUI (default: the RTDS ACB).
    #[serde(default)]
    pub acb: Option<String>,
}

/// One hub.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    /// The hub's (its CHF's) EUI; the premises' devices take the next EUIs.
    pub eui: String,
    /// Devices that do not answer with the plain emulator.
    #[serde(default)]
    pub devices: Vec<DeviceConfig>,
}

/// How a device answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The emulator answers in-process.
    Emulated,
    /// The device speaks GBCS on a port; frames pass through untouched.
    Bridged,
    /// An emulated identity whose registers come from a lab meter.
    Adapter,
}

impl Mode {
    /// Lower-case name (metric label).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Emulated => "emulated",
            Mode::Bridged => "bridged",
            Mode::Adapter => "adapter",
        }
    }
}

/// One of the emulated devices of a hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Slot {
    /// Communications hub function (the hub's EUI).
    Chf,
    /// Electricity meter (hub EUI + 1).
    Esme,
    /// Gas meter (+ 2).
    Gsme,
    /// Gas proxy function (+ 3).
    Gpf,
    /// Prepayment interface (+ 4).
    Ppmid,
    /// In-home display (+ 5).
    Ihd,
}

impl Slot {
    /// Offset from the hub's EUI (the order of [`crate::fleet::HUB_KINDS`]).
    #[must_use]
    pub fn offset(self) -> u64 {
        match self {
            Slot::Chf => 0,
            Slot::Esme => 1,
            Slot::Gsme => 2,
            Slot::Gpf => 3,
            Slot::Ppmid => 4,
            Slot::Ihd => 5,
        }
    }

    /// The device kind in this slot.
    #[must_use]
    pub fn kind(self) -> DeviceKind {
        crate::fleet::HUB_KINDS[self.offset() as usize]
    }
}

/// A device entry as written; [`RigConfig::plan`] checks it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    /// How it answers.
    pub mode: Mode,
    /// Which of the hub's emulated devices (`emulated`, `adapter`).
    #[serde(default)]
    pub slot: Option<Slot>,
    /// The device's own EUI (`bridged`).
    #[serde(default)]
    pub eui: Option<String>,
    /// Where it is (`bridged`, `adapter`).
    #[serde(default)]
    pub port: Option<PortConfig>,
    /// The lab meter's protocol (`adapter`).
    #[serde(default)]
    pub meter: Option<MeterConfig>,
    /// Time allowed for one command (bridged) or meter read (adapter), ms.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// A port: a TCP address, a serial device, an SLCAN adapter or a SocketCAN interface
/// (exactly one).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortConfig {
    /// `HOST:PORT` of a meter, simulator or serial-to-TCP bridge.
    #[serde(default)]
    pub tcp: Option<String>,
    /// Path of a serial device (USB-serial adapter, PTY).
    #[serde(default)]
    pub serial: Option<PathBuf>,
    /// Path of the serial device of an SLCAN (Lawicel) USB-CAN adapter (bridged devices on
    /// a CAN bus; needs `isotp`).
    #[serde(default)]
    pub slcan: Option<PathBuf>,
    /// Name of a Linux SocketCAN interface (`can0`, `vcan0`; bridged devices; needs `isotp`).
    #[serde(default)]
    pub socketcan: Option<String>,
    /// SLCAN: the CAN bit rate, bits per second (default 500000).
    #[serde(default)]
    pub bitrate: Option<u32>,
    /// CAN ports: the ISO-TP channel the bridged device's GBCS frames travel on.
    #[serde(default)]
    pub isotp: Option<IsoTpPortConfig>,
    /// Serial and SLCAN: the serial line's baud rate (default 9600; 115200 for an SLCAN
    /// adapter or a ZigBee dongle).
    #[serde(default)]
    pub baud: Option<u32>,
    /// Serial: data bits, 5 to 8 (default 8).
    #[serde(default)]
    pub data_bits: Option<u8>,
    /// Serial: `none`, `even` or `odd` (default `none`).
    #[serde(default)]
    pub parity: Option<Parity>,
    /// Serial: 1 or 2 (default 1).
    #[serde(default)]
    pub stop_bits: Option<u8>,
    /// Serial: `none`, `software` or `hardware` (default `none`).
    #[serde(default)]
    pub flow_control: Option<FlowControl>,
}

/// The ISO-TP channel of a bridged device on a CAN bus (normal addressing).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IsoTpPortConfig {
    /// Identifier the rig sends on (the device's receive identifier).
    pub tx_id: u32,
    /// Identifier the device answers on.
    pub rx_id: u32,
    /// 29-bit identifiers (default false: 11-bit).
    #[serde(default)]
    pub extended: Option<bool>,
    /// Pad every frame to 8 bytes with this byte (default: no padding).
    #[serde(default)]
    pub padding: Option<u8>,
    /// Block size the rig asks of the device when receiving (default 0: no limit).
    #[serde(default)]
    pub block_size: Option<u8>,
    /// STmin the rig asks of the device when receiving, microseconds (default 0; 100 to
    /// 900 in 100 µs steps, or whole milliseconds up to 127000).
    #[serde(default)]
    pub st_min_us: Option<u32>,
}

/// The protocol of a lab meter behind an adapter device.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeterConfig {
    /// The protocol.
    pub protocol: MeterProtocol,
    /// DLMS: client HDLC address (default 16, the public client).
    #[serde(default)]
    pub client_address: Option<u16>,
    /// DLMS: server (logical device) HDLC address (default 1).
    #[serde(default)]
    pub server_address: Option<u16>,
    /// DLMS: physical device HDLC address (default: none, a one-byte server address).
    #[serde(default)]
    pub physical_address: Option<u16>,
    /// ZCL: the meter's ZigBee network (short) address.
    #[serde(default)]
    pub nwk_address: Option<u16>,
    /// ZCL: the meter's endpoint with the Metering cluster (default 1).
    #[serde(default)]
    pub endpoint: Option<u8>,
    /// ZCL: the endpoint the rig registers on the dongle and sends from (default 1).
    #[serde(default)]
    pub local_endpoint: Option<u8>,
}

/// Lab meter protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeterProtocol {
    /// DLMS/COSEM over HDLC (IEC 62056-46), no security, logical name referencing.
    Dlms,
    /// A ZigBee Smart Energy meter's Metering cluster, through a TI Z-Stack (ZNP) dongle.
    Zcl,
}

impl MeterProtocol {
    /// Lower-case name, as in the file.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            MeterProtocol::Dlms => "dlms",
            MeterProtocol::Zcl => "zcl",
        }
    }
}

/// Where a port is, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortAddr {
    /// A TCP peer.
    Tcp(String),
    /// A serial device.
    Serial(SerialConfig),
    /// An SLCAN adapter on a serial device, with the ISO-TP channel of the device.
    Slcan {
        /// The adapter's serial line.
        serial: SerialConfig,
        /// CAN bit rate.
        bitrate: u32,
        /// The ISO-TP channel.
        isotp: IsoTpConfig,
    },
    /// A SocketCAN interface, with the ISO-TP channel of the device.
    SocketCan {
        /// The interface name.
        interface: String,
        /// The ISO-TP channel.
        isotp: IsoTpConfig,
    },
}

/// A serial port, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialConfig {
    /// The device path.
    pub path: PathBuf,
    /// Its settings (verified by reading them back when the port opens).
    pub settings: SerialSettings,
}

impl PortAddr {
    /// The port's name for logs and metric labels (`tcp://HOST:PORT`, the serial path,
    /// `slcan:PATH`, `socketcan:IFNAME`).
    #[must_use]
    pub fn name(&self) -> String {
        match self {
            PortAddr::Tcp(a) => format!("tcp://{a}"),
            PortAddr::Serial(s) => s.path.display().to_string(),
            PortAddr::Slcan { serial, .. } => format!("slcan:{}", serial.path.display()),
            PortAddr::SocketCan { interface, .. } => format!("socketcan:{interface}"),
        }
    }
}

/// A device, checked: what the rig runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DevicePlan {
    /// A bridged device.
    Bridged {
        /// Its EUI.
        eui: [u8; 8],
        /// Its port.
        port: PortAddr,
        /// Where the port is in the file (`hubs[0].devices[1].port`), for errors at start.
        field: String,
        /// Time allowed for an answer.
        timeout_ms: u64,
    },
    /// An adapter device.
    Adapter {
        /// The emulated identity's slot.
        slot: Slot,
        /// Its EUI (hub EUI + slot offset).
        eui: [u8; 8],
        /// The meter's port.
        port: PortAddr,
        /// The meter.
        meter: MeterConfig,
        /// Time allowed for a meter read.
        timeout_ms: u64,
    },
}

/// A hub, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubPlan {
    /// The hub's EUI.
    pub eui: [u8; 8],
    /// Its devices that are not plain emulated ones.
    pub devices: Vec<DevicePlan>,
}

/// Parses 16 hex digits (dashes allowed) into an EUI.
///
/// # Errors
/// A message when it is not an EUI.
pub fn parse_eui(text: &str) -> Result<[u8; 8], String> {
    let compact: String = text.chars().filter(|c| *c != '-').collect();
    hubgate_protocol::hex::decode(&compact)
        .ok()
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .ok_or_else(|| format!("{text:?} is not an EUI (16 hex digits)"))
}

impl RigConfig {
    /// Reads and checks `path`; relative paths in it become relative to its folder.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the field.
    pub fn load(path: &Path) -> Result<RigConfig, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            field: ".".into(),
            message: format!("cannot read: {e}"),
        })?;
        let mut config = RigConfig::parse(&text, &file)?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve(base);
        Ok(config)
    }

    /// Parses and checks `text` (`file` names it in errors).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the field.
    pub fn parse(text: &str, file: &str) -> Result<RigConfig, ConfigError> {
        let de = toml::Deserializer::new(text);
        let config: RigConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let line = inner
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let mut message = inner.message().to_string();
            if let Some(l) = line {
                message = format!("{message} (line {l})");
            }
            ConfigError {
                file: file.to_string(),
                field: if path.is_empty() { ".".into() } else { path },
                message,
            }
        })?;
        config.plan().map_err(|(field, message)| ConfigError {
            file: file.to_string(),
            field,
            message,
        })?;
        Ok(config)
    }

    fn resolve(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.keys_out);
        fix(&mut self.gateway.ca);
        fix(&mut self.gateway.cert);
        fix(&mut self.gateway.key);
        self.trust.parties.iter_mut().for_each(fix);
        for h in &mut self.hubs {
            for d in &mut h.devices {
                if let Some(port) = &mut d.port {
                    if let Some(p) = &mut port.serial {
                        fix(p);
                    }
                    if let Some(p) = &mut port.slcan {
                        fix(p);
                    }
                }
            }
        }
    }

    /// The trusted parties, defaults filled in.
    ///
    /// # Errors
    /// `(field, message)` for an EUI that does not parse.
    pub fn parties(&self) -> Result<crate::Parties, (String, String)> {
        let rtds = crate::Parties::RTDS;
        let get = |v: &Option<String>, name: &str, default| match v {
            None => Ok(default),
            Some(t) => parse_eui(t).map_err(|m| (format!("trust.{name}"), m)),
        };
        Ok(crate::Parties {
            supplier: get(&self.trust.supplier, "supplier", rtds.supplier)?,
            network_operator: get(
                &self.trust.network_operator,
                "network_operator",
                rtds.network_operator,
            )?,
            acb: get(&self.trust.acb, "acb", rtds.acb)?,
        })
    }

    /// Checks the hubs and devices and returns what to run.
    ///
    /// # Errors
    /// `(field, message)` for the first problem.
    pub fn plan(&self) -> Result<Vec<HubPlan>, (String, String)> {
        self.parties()?;
        if self.hubs.is_empty() {
            return Err(("hubs".into(), "at least one hub is needed".into()));
        }
        if self.hubs.len() > crate::link::MAX_HUBS {
            return Err((
                "hubs".into(),
                format!("at most {} hubs", crate::link::MAX_HUBS),
            ));
        }
        let mut out: Vec<HubPlan> = Vec::with_capacity(self.hubs.len());
        let mut taken: Vec<([u8; 8], String)> = Vec::new();
        let mut ports: Vec<(String, String)> = Vec::new();
        for (i, h) in self.hubs.iter().enumerate() {
            let at = format!("hubs[{i}]");
            let hub = parse_eui(&h.eui).map_err(|m| (format!("{at}.eui"), m))?;
            let base = u64::from_be_bytes(hub);
            for o in 0..6u64 {
                let e = base.wrapping_add(o).to_be_bytes();
                if let Some((_, other)) = taken.iter().find(|(t, _)| *t == e) {
                    return Err((
                        format!("{at}.eui"),
                        format!(
                            "its premises overlap {other} (device {})",
                            hubgate_protocol::hex::eui(&e)
                        ),
                    ));
                }
                taken.push((e, format!("{at}.eui")));
            }
            let mut devices = Vec::new();
            let mut slots: Vec<(Slot, String)> = Vec::new();
            for (j, d) in h.devices.iter().enumerate() {
                let at = format!("{at}.devices[{j}]");
                let missing = |what: &str| {
                    (
                        format!("{at}.{what}"),
                        format!("required for mode \"{}\"", d.mode.as_str()),
                    )
                };
                let refuse = |what: &str, present: bool| -> Result<(), (String, String)> {
                    if present {
                        Err((
                            format!("{at}.{what}"),
                            format!("not used by mode \"{}\"", d.mode.as_str()),
                        ))
                    } else {
                        Ok(())
                    }
                };
                let timeout_ms = match d.timeout_ms {
                    Some(0) => {
                        return Err((format!("{at}.timeout_ms"), "must be above 0".into()));
                    }
                    Some(t) if t > 600_000 => {
                        return Err((
                            format!("{at}.timeout_ms"),
                            "at most 600000 (10 minutes)".into(),
                        ));
                    }
                    Some(t) => t,
                    None => DEFAULT_TIMEOUT_MS,
                };
                let mut check_slot = |slot: Slot| -> Result<(), (String, String)> {
                    if let Some((_, other)) = slots.iter().find(|(s, _)| *s == slot) {
                        return Err((
                            format!("{at}.slot"),
                            format!("already configured by {other}"),
                        ));
                    }
                    slots.push((slot, format!("{at}.slot")));
                    Ok(())
                };
                let mut check_port =
                    |p: &PortConfig, default_baud: u32| -> Result<PortAddr, (String, String)> {
                        let addr = port_addr(p, default_baud)
                            .map_err(|(f, m)| (format!("{at}.port{f}"), m))?;
                        // What the port occupies: an SLCAN adapter's serial path is the
                        // same device as a serial port on that path.
                        let name = match &addr {
                            PortAddr::Slcan { serial, .. } => serial.path.display().to_string(),
                            other => other.name(),
                        };
                        if let Some((_, other)) = ports.iter().find(|(n, _)| *n == name) {
                            return Err((
                                format!("{at}.port"),
                                format!("{name} is already used by {other}"),
                            ));
                        }
                        ports.push((name, format!("{at}.port")));
                        Ok(addr)
                    };
                match d.mode {
                    Mode::Emulated => {
                        refuse("eui", d.eui.is_some())?;
                        refuse("port", d.port.is_some())?;
                        refuse("meter", d.meter.is_some())?;
                        refuse("timeout_ms", d.timeout_ms.is_some())?;
                        check_slot(d.slot.ok_or_else(|| missing("slot"))?)?;
                    }
                    Mode::Bridged => {
                        refuse("slot", d.slot.is_some())?;
                        refuse("meter", d.meter.is_some())?;
                        let text = d.eui.as_deref().ok_or_else(|| missing("eui"))?;
                        let eui = parse_eui(text).map_err(|m| (format!("{at}.eui"), m))?;
                        if let Some((_, other)) = taken.iter().find(|(t, _)| *t == eui) {
                            return Err((format!("{at}.eui"), format!("already used by {other}")));
                        }
                        taken.push((eui, format!("{at}.eui")));
                        let port =
                            check_port(d.port.as_ref().ok_or_else(|| missing("port"))?, 9600)?;
                        devices.push(DevicePlan::Bridged {
                            eui,
                            port,
                            field: format!("{at}.port"),
                            timeout_ms,
                        });
                    }
                    Mode::Adapter => {
                        refuse("eui", d.eui.is_some())?;
                        let slot = d.slot.ok_or_else(|| missing("slot"))?;
                        if slot != Slot::Esme {
                            return Err((
                                format!("{at}.slot"),
                                "adapter mode maps electricity meter readings: only \"esme\""
                                    .into(),
                            ));
                        }
                        check_slot(slot)?;
                        let meter = d.meter.clone().ok_or_else(|| missing("meter"))?;
                        check_meter(&meter).map_err(|(f, m)| (format!("{at}.meter.{f}"), m))?;
                        let default_baud = match meter.protocol {
                            MeterProtocol::Dlms => 9600,
                            MeterProtocol::Zcl => 115_200,
                        };
                        let port = check_port(
                            d.port.as_ref().ok_or_else(|| missing("port"))?,
                            default_baud,
                        )?;
                        if matches!(port, PortAddr::Slcan { .. } | PortAddr::SocketCan { .. }) {
                            return Err((
                                format!("{at}.port"),
                                "a lab meter is on a tcp or serial port; CAN ports carry bridged devices"
                                    .into(),
                            ));
                        }
                        devices.push(DevicePlan::Adapter {
                            slot,
                            eui: base.wrapping_add(slot.offset()).to_be_bytes(),
                            port,
                            meter,
                            timeout_ms,
                        });
                    }
                }
            }
            out.push(HubPlan { eui: hub, devices });
        }
        Ok(out)
    }
}

fn check_meter(meter: &MeterConfig) -> Result<(), (String, String)> {
    let protocol = meter.protocol.as_str();
    let not_for = |name: &str, set: bool| {
        if set {
            Err((
                name.to_string(),
                format!("not used by protocol \"{protocol}\""),
            ))
        } else {
            Ok(())
        }
    };
    match meter.protocol {
        MeterProtocol::Dlms => {
            not_for("nwk_address", meter.nwk_address.is_some())?;
            not_for("endpoint", meter.endpoint.is_some())?;
            not_for("local_endpoint", meter.local_endpoint.is_some())?;
            for (name, v, low, high) in [
                ("client_address", meter.client_address, 1, 0x7f),
                ("server_address", meter.server_address, 1, 0x3fff),
                ("physical_address", meter.physical_address, 0, 0x3fff),
            ] {
                if v.is_some_and(|a| a < low || a > high) {
                    return Err((name.into(), format!("an HDLC {name} is {low} to {high}")));
                }
            }
        }
        MeterProtocol::Zcl => {
            not_for("client_address", meter.client_address.is_some())?;
            not_for("server_address", meter.server_address.is_some())?;
            not_for("physical_address", meter.physical_address.is_some())?;
            match meter.nwk_address {
                None => {
                    return Err((
                        "nwk_address".into(),
                        "required for protocol \"zcl\" (the meter's network address)".into(),
                    ));
                }
                Some(a) if a >= 0xfff8 => {
                    return Err((
                        "nwk_address".into(),
                        format!("{a:#06x} is a broadcast address; give the meter's own"),
                    ));
                }
                Some(_) => {}
            }
            for (name, v) in [
                ("endpoint", meter.endpoint),
                ("local_endpoint", meter.local_endpoint),
            ] {
                if v.is_some_and(|e| e == 0 || e > 240) {
                    return Err((name.into(), "an application endpoint is 1 to 240".into()));
                }
            }
        }
    }
    Ok(())
}

/// Refuses `name` when `set`: it belongs to other port kinds.
fn only_for(name: &str, set: bool, kinds: &str) -> Result<(), (String, String)> {
    if set {
        Err((format!(".{name}"), format!("only for {kinds}")))
    } else {
        Ok(())
    }
}

fn serial_config(
    p: &PortConfig,
    path: &Path,
    default_baud: u32,
) -> Result<SerialConfig, (String, String)> {
    let baud = p.baud.unwrap_or(default_baud);
    if baud == 0 {
        return Err((".baud".into(), "must be above 0".into()));
    }
    let data_bits = p.data_bits.unwrap_or(8);
    if !(5..=8).contains(&data_bits) {
        return Err((".data_bits".into(), "5, 6, 7 or 8".into()));
    }
    let stop_bits = p.stop_bits.unwrap_or(1);
    if !(1..=2).contains(&stop_bits) {
        return Err((".stop_bits".into(), "1 or 2".into()));
    }
    Ok(SerialConfig {
        path: path.to_path_buf(),
        settings: SerialSettings {
            baud,
            data_bits,
            parity: p.parity.unwrap_or(Parity::None),
            stop_bits,
            flow_control: p.flow_control.unwrap_or(FlowControl::None),
            ..SerialSettings::default()
        },
    })
}

fn isotp_config(p: &PortConfig) -> Result<IsoTpConfig, (String, String)> {
    let Some(c) = &p.isotp else {
        return Err((
            ".isotp".into(),
            "required for a CAN port: { tx_id = ..., rx_id = ... }".into(),
        ));
    };
    let extended = c.extended.unwrap_or(false);
    let (max, bits) = if extended {
        (crate::transport::can::MAX_EXTENDED_ID, 29)
    } else {
        (crate::transport::can::MAX_STANDARD_ID, 11)
    };
    for (name, id) in [("tx_id", c.tx_id), ("rx_id", c.rx_id)] {
        if id > max {
            return Err((
                format!(".isotp.{name}"),
                format!(
                    "{id:#X} does not fit {bits} bits{}",
                    if extended {
                        ""
                    } else {
                        " (set extended = true for 29-bit identifiers)"
                    }
                ),
            ));
        }
    }
    if c.tx_id == c.rx_id {
        return Err((
            ".isotp.rx_id".into(),
            "must differ from tx_id (one identifier per direction)".into(),
        ));
    }
    let st_min_us = c.st_min_us.unwrap_or(0);
    let step = if st_min_us < 1000 { 100 } else { 1000 };
    if st_min_us > 127_000 || st_min_us % step != 0 {
        return Err((
            ".isotp.st_min_us".into(),
            "0, 100 to 900 in steps of 100, or 1000 to 127000 (whole milliseconds)".into(),
        ));
    }
    let mut config = IsoTpConfig::new(c.tx_id, c.rx_id);
    config.extended = extended;
    config.padding = c.padding;
    config.block_size = c.block_size.unwrap_or(0);
    config.st_min = std::time::Duration::from_micros(u64::from(st_min_us));
    Ok(config)
}

fn port_addr(p: &PortConfig, default_baud: u32) -> Result<PortAddr, (String, String)> {
    let given: Vec<&str> = [
        ("tcp", p.tcp.is_some()),
        ("serial", p.serial.is_some()),
        ("slcan", p.slcan.is_some()),
        ("socketcan", p.socketcan.is_some()),
    ]
    .into_iter()
    .filter_map(|(n, set)| set.then_some(n))
    .collect();
    if given.len() > 1 {
        return Err((
            String::new(),
            format!(
                "give one of tcp, serial, slcan or socketcan, not {}",
                given.join(" and ")
            ),
        ));
    }
    let serial_fields = [
        ("baud", p.baud.is_some()),
        ("data_bits", p.data_bits.is_some()),
        ("parity", p.parity.is_some()),
        ("stop_bits", p.stop_bits.is_some()),
        ("flow_control", p.flow_control.is_some()),
    ];
    if let Some(addr) = &p.tcp {
        for (name, set) in serial_fields {
            only_for(name, set, "a serial port")?;
        }
        only_for("bitrate", p.bitrate.is_some(), "an slcan port")?;
        only_for("isotp", p.isotp.is_some(), "a CAN port (slcan, socketcan)")?;
        if addr
            .rsplit_once(':')
            .is_none_or(|(h, port)| h.is_empty() || port.parse::<u16>().is_err())
        {
            return Err((".tcp".into(), format!("{addr:?} is not HOST:PORT")));
        }
        return Ok(PortAddr::Tcp(addr.clone()));
    }
    if let Some(path) = &p.serial {
        only_for("bitrate", p.bitrate.is_some(), "an slcan port")?;
        only_for("isotp", p.isotp.is_some(), "a CAN port (slcan, socketcan)")?;
        return serial_config(p, path, default_baud).map(PortAddr::Serial);
    }
    if let Some(path) = &p.slcan {
        let bitrate = p.bitrate.unwrap_or(500_000);
        crate::transport::slcan::bitrate_command(bitrate)
            .map_err(|e| (".bitrate".to_string(), e.message))?;
        let serial = serial_config(p, path, 115_200)?;
        let isotp = isotp_config(p)?;
        return Ok(PortAddr::Slcan {
            serial,
            bitrate,
            isotp,
        });
    }
    if let Some(interface) = &p.socketcan {
        for (name, set) in serial_fields {
            only_for(name, set, "a serial or slcan port")?;
        }
        only_for(
            "bitrate",
            p.bitrate.is_some(),
            "an slcan port (a SocketCAN interface's bit rate is set with `ip link`)",
        )?;
        // IFNAMSIZ is 16 with the terminating NUL.
        if interface.is_empty() || interface.len() > 15 || interface.contains(['/', ' ', '\0']) {
            return Err((
                ".socketcan".into(),
                format!("{interface:?} is not a network interface name (1 to 15 characters)"),
            ));
        }
        let isotp = isotp_config(p)?;
        return Ok(PortAddr::SocketCan {
            interface: interface.clone(),
            isotp,
        });
    }
    Err((
        String::new(),
        "give tcp = \"HOST:PORT\", serial = \"PATH\", slcan = \"PATH\" or socketcan = \"IFNAME\""
            .into(),
    ))
}
