//! Serialisable device state: everything a device remembers between commands, so that a hub
//! actor can passivate a device into a store and restore it later
//! ([`Device::from_parts`](crate::Device::from_parts)).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::cosem::Objects;
use crate::trust::TrustedParties;
use crate::value::Value;
use crate::zcl::ZigbeeModel;

/// The kinds of emulated device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeviceKind {
    /// Electricity smart meter (DLMS COSEM).
    Esme,
    /// Gas smart meter (ZigBee GBZ).
    Gsme,
    /// Gas proxy function on the comms hub (ZigBee GBZ, mirrors the GSME).
    Gpf,
    /// Communications hub function (DLMS COSEM for its own use cases).
    Chf,
    /// Prepayment meter interface device.
    Ppmid,
    /// In-home display (a type 2 device: no GBCS commands of its own).
    Ihd,
}

impl DeviceKind {
    /// Short upper-case name.
    pub fn name(self) -> &'static str {
        match self {
            DeviceKind::Esme => "ESME",
            DeviceKind::Gsme => "GSME",
            DeviceKind::Gpf => "GPF",
            DeviceKind::Chf => "CHF",
            DeviceKind::Ppmid => "PPMID",
            DeviceKind::Ihd => "IHD",
        }
    }

    /// The first alert counter value (the RTDS alerts of these devices count from here).
    pub fn first_alert_counter(self) -> u64 {
        match self {
            DeviceKind::Esme | DeviceKind::Ppmid | DeviceKind::Ihd => 2000,
            DeviceKind::Gsme | DeviceKind::Gpf => 3000,
            DeviceKind::Chf => 4000,
        }
    }
}

/// One log record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Device clock, Unix seconds.
    pub time: i64,
    /// Short stable name of what happened.
    pub kind: String,
    /// Details.
    pub detail: String,
}

/// A bounded log, oldest entries dropped first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Log {
    /// The records, oldest first.
    pub entries: Vec<LogEntry>,
    /// Most records kept.
    pub capacity: usize,
}

impl Log {
    /// An empty log holding at most `capacity` records.
    pub fn new(capacity: usize) -> Self {
        Log {
            entries: Vec::new(),
            capacity,
        }
    }

    /// Appends a record.
    pub fn push(&mut self, time: i64, kind: &str, detail: impl Into<String>) {
        self.entries.push(LogEntry {
            time,
            kind: kind.to_owned(),
            detail: detail.into(),
        });
        if self.entries.len() > self.capacity {
            let excess = self.entries.len() - self.capacity;
            self.entries.drain(..excess);
        }
    }

    /// The records of one kind.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a LogEntry> + 'a {
        self.entries.iter().filter(move |e| e.kind == kind)
    }
}

/// A device joined to this one over the HAN (the device log of an ESME, GSME or PPMID,
/// changed by CS03 joins and CS04 unjoins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinedDevice {
    /// The other device's EUI.
    pub eui: [u8; 8],
    /// The first INTEGER of the CS03 command (the join method as GBCS numbers it).
    pub method: i64,
    /// The third INTEGER of the CS03 command (the other device's type).
    pub device_type: i64,
    /// The other device's certificate, for method C joins.
    pub certificate: Option<Vec<u8>>,
}

/// A future-dated command waiting for its execution time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    /// Execution time (device clock, Unix seconds).
    pub due: i64,
    /// Message code of the command.
    pub message_code: u16,
    /// The remote party that sent it (the alert goes to it).
    pub originator: [u8; 8],
    /// Its originator counter (echoed by the alert).
    pub counter: u64,
    /// What to do.
    pub work: PendingWork,
}

/// The deferred part of a future-dated command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PendingWork {
    /// DLMS sets to apply, then the activations (one 8F66 alert each).
    Dlms {
        /// Attribute writes, in command order.
        sets: Vec<(crate::cosem::Attr, Value)>,
        /// The activation-time attributes, in command order.
        activations: Vec<crate::cosem::Attr>,
        /// The execution date-time as the command wrote it (echoed by the alerts).
        execution: Vec<u8>,
    },
    /// ZigBee publish commands to make active (one 8F66 alert each).
    Zcl {
        /// (cluster, frame control, command ID, payload) of each publish.
        publishes: Vec<(u16, u8, u8, Vec<u8>)>,
        /// The execution time (ZigBee seconds).
        execution: u32,
    },
    /// A credentials update (CS02b): the command payload, executed again at the due time.
    Credentials {
        /// The ASN.1 payload of the command.
        content: Vec<u8>,
    },
}

/// What a device model answers from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Model {
    /// DLMS COSEM objects (ESME, CHF).
    Cosem(Objects),
    /// ZigBee clusters (GSME, GPF).
    Zigbee(ZigbeeModel),
    /// What a HAN display shows (PPMID, IHD): no GBCS use case reads it.
    Display(Display),
}

/// The data a PPMID or IHD displays, as last fetched over the HAN from the meters
/// ([`crate::models::refresh_display`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Display {
    /// ESME active import register, Wh.
    pub electricity_import_wh: Option<u32>,
    /// ESME payment mode (1 credit, 2 prepayment).
    pub electricity_payment_mode: Option<u8>,
    /// GSME CurrentSummationDelivered (raw uint48).
    pub gas_summation: Option<u64>,
    /// When it was last refreshed (device clock, Unix seconds).
    pub updated: Option<i64>,
}

/// Everything a device remembers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceState {
    /// The device EUI.
    pub eui: [u8; 8],
    /// What kind of device.
    pub kind: DeviceKind,
    /// Firmware version, as the firmware-version reads return it.
    pub firmware_version: Vec<u8>,
    /// Remote party credentials.
    pub trusted: TrustedParties,
    /// Highest originator counter accepted from each remote party.
    #[serde(with = "crate::serde_map")]
    pub counters: BTreeMap<[u8; 8], u64>,
    /// Originator counter of the device's next alert.
    pub alert_counter: u64,
    /// Device clock minus the caller's clock, seconds (changed by time synchronisation).
    pub clock_offset: i64,
    /// Use cases executed and other events.
    pub event_log: Log,
    /// Refused commands and credential changes.
    pub security_log: Log,
    /// Devices joined over the HAN.
    pub joined: Vec<JoinedDevice>,
    /// The HAN whitelists of a CHF (class 104 objects), empty on other devices.
    pub han_networks: Vec<crate::dlms::HanNetwork>,
    /// Future-dated commands not yet executed.
    pub pending: Vec<Pending>,
    /// Message codes answered with an error (fault injection, mirroring the RTDS ERROR
    /// vectors).
    pub faults: BTreeSet<u16>,
    /// Answer with a corrupted MAC (fault injection): the last byte of the MAC of every
    /// MAC'd response and alert is inverted, so the receiver's MAC check must reject them.
    /// Signed messages are unaffected. Default `false`.
    #[serde(default)]
    pub mac_fault: bool,
    /// Where non-critical generic alerts go (default: the supplier cell).
    pub alert_recipient: Option<[u8; 8]>,
    /// The firmware image its hub transferred to it and CS06 has not activated yet
    /// ([`crate::firmware`]). Default: none.
    #[serde(default)]
    pub pending_firmware: Option<PendingFirmware>,
    /// Key pairs generated for 6.17 Issue Security Credentials (CS02c), by usage, awaiting
    /// their certificates: the newest of each usage. Default: none.
    #[serde(default)]
    pub requested_keys: Vec<(crate::pki::KeyUsage, crate::pki::GeneratedKey)>,
    /// The application data model.
    pub model: Model,
}

/// A firmware image a device holds, not yet active.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingFirmware {
    /// SHA-256 of the image: what CS06 names to activate it.
    pub hash: Vec<u8>,
    /// The firmware version the image brings (four bytes, as the version reads return it).
    pub version: Vec<u8>,
    /// The image's length in bytes.
    pub size: u64,
}

impl DeviceState {
    /// A device with no credentials and an empty model of its kind; see
    /// [`crate::models`] for populated ones.
    pub fn new(eui: [u8; 8], kind: DeviceKind) -> Self {
        DeviceState {
            eui,
            kind,
            firmware_version: vec![0x01, 0x23, 0xab, 0xcd],
            trusted: TrustedParties::new(),
            counters: BTreeMap::new(),
            alert_counter: kind.first_alert_counter(),
            clock_offset: 0,
            event_log: Log::new(256),
            security_log: Log::new(256),
            joined: Vec::new(),
            han_networks: Vec::new(),
            pending: Vec::new(),
            faults: BTreeSet::new(),
            mac_fault: false,
            alert_recipient: None,
            pending_firmware: None,
            requested_keys: Vec::new(),
            model: match kind {
                DeviceKind::Esme | DeviceKind::Chf => Model::Cosem(Objects::new()),
                DeviceKind::Gsme | DeviceKind::Gpf => Model::Zigbee(ZigbeeModel::new()),
                DeviceKind::Ppmid | DeviceKind::Ihd => Model::Display(Display::default()),
            },
        }
    }

    /// The COSEM objects of a DLMS device.
    pub fn cosem(&self) -> Option<&Objects> {
        match &self.model {
            Model::Cosem(o) => Some(o),
            _ => None,
        }
    }

    /// The COSEM objects of a DLMS device, mutably.
    pub fn cosem_mut(&mut self) -> Option<&mut Objects> {
        match &mut self.model {
            Model::Cosem(o) => Some(o),
            _ => None,
        }
    }

    /// The ZigBee model of a GSME or GPF.
    pub fn zigbee(&self) -> Option<&ZigbeeModel> {
        match &self.model {
            Model::Zigbee(z) => Some(z),
            _ => None,
        }
    }

    /// What a PPMID or IHD displays.
    pub fn display(&self) -> Option<&Display> {
        match &self.model {
            Model::Display(d) => Some(d),
            _ => None,
        }
    }

    /// The ZigBee model of a GSME or GPF, mutably.
    pub fn zigbee_mut(&mut self) -> Option<&mut ZigbeeModel> {
        match &mut self.model {
            Model::Zigbee(z) => Some(z),
            _ => None,
        }
    }
}
