//! The Transform (SEC H4.13–H4.16): a DUIS Service Request becomes the GBCS command the DCC
//! sends to the device.
//!
//! [`transform`] takes a typed [`Request`] and a [`Context`] (the target device's type, the
//! ACB, the current time, and for commands the DCC originates itself its own counter) and
//! returns a [`Transformed`] APDU: the general-signing grouping header (`DF`, CRA 1, the
//! RequestID counter, the User as originator, the device as recipient, the use case's message
//! code) and a payload built with the structured encoders of [`crate::gbcs::payload`]:
//!
//! - for a **critical** SRV, the **Pre-Command** returned to the User on the Transform
//!   service: the bare `DF` APDU without a signature field, exactly as the RTDS PRECOMMAND
//!   files ([`Transformed::precommand`]);
//! - for a **non-critical** SRV, the APDU with a null signature (`00`), which
//!   [`Transformed::command`] MAC-wraps with the ACB's key-agreement key and the device's
//!   key-agreement certificate (`DD` … MAC) to give the Command the DCC sends.
//!
//! Commands the ACB originates on the User's behalf (Join/Unjoin to a PPMID, the CHF device
//! log, the PPMID firmware version, …) name the ACB as originator with the DCC's own counter
//! ([`Context::dcc_counter`]), and carry the User and its RequestID counter as the
//! supplementary remote party (PROTOCOLS.md §4.5). Two kinds differ: the DCC's enquiry of
//! the credentials a device holds (CS02a/CS02f) carries no supplementary remote party, and a
//! read for an unknown remote party carries the User's key-agreement certificate as well
//! (see [Reads for an unknown remote party](#reads-for-an-unknown-remote-party)).
//!
//! # Supported SRVs and use cases
//!
//! | SRV | use cases | payload |
//! |---|---|---|
//! | 1.1.1 Update Import Tariff (Primary Element), critical | ECS01a, GCS01a | DLMS sets of the passive calendar, special days, thresholds and price matrix / GBZ Calendar and Price *Publish* commands |
//! | 1.1.2 Update Import Tariff (Secondary Element), 1.2.1 Update Price (Primary Element), 1.2.2 Update Price (Secondary Element), critical | ECS01c; ECS01b, GCS01b; ECS01d | DLMS sets of the passive Charge objects (for ECS01c also the secondary Activity Calendar and Special Days) and their activation / GBZ *Publish Tariff Information* and *Publish Price Matrix* (`tariff.rs`) |
//! | 1.5 Update Meter Balance, 2.5 Activate Emergency Credit, critical | ECS04a (adjust), ECS04b (reset), ECS09; GCS40a, GCS40c, GCS40d, GCS06 | DLMS Credit methods (`credit.rs`) / GBZ *Credit Adjustment*, *Select Available Emergency Credit* (`gas_settings.rs`) |
//! | 1.6 Update Payment Mode, critical | ECS02, ECS03, GCS02, GCS03 | DLMS Account sets / GBZ *Change Payment Mode* |
//! | 2.1 Update Prepay Configuration, critical | ECS08 (ESME; the gas meter's GCS05 is not built) | DLMS sets of the non-disablement special days and schedule, the credit thresholds and their activation (`prepay_config.rs`) |
//! | 2.2 Top Up Device | CS01a, CS01b | DLMS Token Gateway `enter` / GBZ *Consumer Top Up* |
//! | 2.3 Update Debt, 6.6 Update Device Configuration (Gas Conversion), 6.7 (Gas Flow), critical, on the gas meter | GCS04, GCS23, GCS24 (the integer flow rate; GCS24a, the decimal one, has no message code) | GBZ *Change Debt* ×3 / *Publish Conversion Factor* and *Publish Calorific Value* / *Set Uncontrolled Flow Threshold* and *Set Supply Status* (`gas_settings.rs`) |
//! | 3.1 Display Message | ECS10, GCS07 | DLMS set / GBZ *Display Message* |
//! | 3.2 Restrict Access for Change of Tenancy | ECS12, GCS09 (GPF) | DLMS set of the Change of Tenancy date / GBZ *Publish Change of Tenancy* |
//! | 3.3 Clear Event Log, 3.4 Update Supplier Name, 3.5 Disable Privacy PIN, 6.20.1 Set Import MPRN, on the gas meter | CS11, GCS44, GCS11, GCS41 | GBZ *Clear Event Log Request*, *Publish Change of Supplier*, *Request New Password Response* (an empty consumer password), *Update Site ID* (`gas_settings.rs`) |
//! | 3.3 Clear Event Log, 3.4 Update Supplier Name, 6.4.2 Load Limiting Counter Reset, 6.18.2 Reset Maximum Demand Registers, 6.20.1 / 6.20.2 Set Import MPxN / Export MPAN, 6.27 RMS Voltage Counter Reset, 7.9 Add Auxiliary Load to Boost Button | ECS15a, ECS16, ECS28b, ECS57, ECS39a, ECS39b (ACB), ECS29e (single phase), ECS29f (polyphase), ECS62Add | DLMS `reset` methods / sets (`device_settings.rs`) |
//! | 4.1.1, 4.1.2 Read Instantaneous Import Registers / TOU Matrices | ECS17b, ECS17d, GCS13a (GSME or GPF, **derived**) | DLMS protected get / GBZ Read Attributes of *CurrentSummationDelivered* |
//! | 4.2 Read Instantaneous Export Registers, 4.12.1 / 4.12.2 Read Maximum Demand Import / Export Registers, 4.13 Read Prepayment Configuration, 4.15 Read Load Limit Data, 4.16 Read Active Power Import, 4.18 Read Meter Balance | ECS17a, ECS18b, ECS18a, ECS26a, GCS21b, ECS27, ECS17c, ECS82, GCS60 | DLMS gets of a fixed list / GBZ Read Attributes (and, for GCS21b, the Calendar cluster's gets of the friendly credit calendar) (`meter_reads.rs`) |
//! | 4.3 Read Instantaneous Prepay Values | ECS19, GCS14 (GSME or GPF) | DLMS protected get / GBZ Read Attributes of the Price and Prepayment clusters |
//! | 4.4.2 – 4.4.5 billing data logs | ECS20b, GCS15b, GCS15c, ECS20a, GCS15d (ACB), ECS20d, GCS15e | DLMS (protected) range reads / GBZ *Get Snapshot*, *Get Debt Repayment Log*, *Get Top Up Log* |
//! | 4.6.1 Retrieve Import Daily Read Log, 4.14 Read Prepayment Daily Read Log | ECS21a, GCS16a, ECS21b, GCS16b | DLMS protected range read / GBZ *Get Snapshot*, *Get Prepay Snapshot* |
//! | 4.8.1 Read Active Import Profile Data | ECS22b, GCS17 (**derived**) | DLMS protected range read / GBZ *Get Profile*, one per day of the period |
//! | 4.8.3 Read Export Profile Data, 4.10 Read Network Data, 7.11 Read Boost Button Details | ECS22a, ECS23 (single phase), ECS23b (polyphase), ECS61c | DLMS range read restricted by the UTC timestamp register (and gets) |
//! | 4.10 Read Network Data (gas), 14.1 Record Network Data (GAS) | GCS18; GCS31 (ACB, for the gas transporter) | GBZ *Get Sampled Data* of the whole four-hour recording / *Start Sampling* of 41 six-minute samples from now (`log_reads.rs`) |
//! | 4.11.1, 4.11.2 Read Tariff | ECS24, GCS21f, ECS24b | DLMS gets / GBZ reads |
//! | 4.17 Retrieve Daily Consumption Log | ECS66; GCS61 (the GPF's gas log, also for an unknown remote party) | DLMS protected range read / GBZ *Get Sampled Data* of whole days |
//! | 6.2.1 – 6.2.10 Read Device Configuration | ECS26k, ECS26c, ECS26d, ECS26l, GCS21k, ECS26m, ECS26i (ACB), GCS21e, GCS21m, ECS40, GCS46, GCS21a, ECS26j, ECS25r1, ECS25r2, GCS20r | DLMS gets / GBZ reads |
//! | 6.28 Set CHF Sub GHz Configuration, 6.29 Request CHF Sub GHz Channel Scan, 6.30 Read CHF Sub GHz Configuration, 6.31 Read CHF Sub GHz Channel | DBCH04, DBCH05, DBCH03, DBCH01 (ACB) | DLMS set / get of the CHF's sub-GHz GBCS data objects (`sub_ghz.rs`) |
//! | 6.8 Update Device Configuration (Billing Calendar), 6.26 (Daily Resetting of Tariff Block Counter Matrix), critical | ECS30a, ECS30 (monthly, when asked for), ECS48; GCS25a, GCS25 (monthly, when asked for) | DLMS sets of Single Action Schedules (`schedules.rs`; periodicities other than monthly and quarterly, and ECS48 off, **derived**) / GBZ *Publish Billing Period* and *Publish Block Period* (daily, weekly, quarterly and yearly **derived**) |
//! | 6.11 Synchronise Clock, critical | ECS70, GCS28 | DLMS clock preset / ASN.1 validity interval |
//! | 6.4.1 Update Device Configuration (Load Limiting General Settings), critical; 6.5 Update Device Configuration (Voltage) | ECS28a; ECS29a, ECS29c (counters not reset), ECS29d (polyphase, counters not reset) | DLMS sets of GBCS data objects with their activation time / of the voltage Limiters, thresholds and profile period, and counter resets (`config_writes.rs`) |
//! | 6.12 Update Device Configuration (Instantaneous Power Threshold), 6.14.1 (Auxiliary Load Control Description), 6.14.2 (Auxiliary Load Control Scheduler), critical | ECS34, ECS46a, ECS46c | DLMS sets of the Register Monitor thresholds / switch descriptions / switch identities, special days and Schedule (`config_writes.rs`) |
//! | 6.13 Read Event or Security Log | ECS35a (Event), ECS35b (Security), ECS35d (Security on the CHF, ACB), ECS35f (ALCSEvent; ECS35g when a network operator asks); CS10a (Event), CS10b (Security) on the GSME or GPF | DLMS range read restricted by the UTC timestamp register / GBZ *Get Event Log* |
//! | 6.15.1 Update Security Credentials (KRP), critical | CS02bSupplierBySupplier, CS02bNOByNO, CS02gLoadControllerBySupplier | ASN.1 credential replacement |
//! | 6.23 Update Security Credentials (CoS) | CS02bSupplierByTransCoS (originated and signed by the Transitional CoS party) | ASN.1 credential replacement |
//! | 6.24.1 Retrieve Device Security Credentials (KRP) | CS02aMAC; CS02fMAC (ESME only, when the load controller is asked for); sent by the ACB on its own account | ASN.1 list of remote party roles |
//! | 6.17 Issue Security Credentials, 6.24.2 Retrieve Device Security Credentials (Device), critical | CS02c, CS02e | ASN.1 key usage |
//! | 6.25 Set Electricity Supply Tamper State, critical | ECS81 | DLMS set |
//! | 7.1 Enable Supply, critical | ECS42 | DLMS script execution |
//! | 7.2 Disable Supply, critical | GCS32 | GBZ *Change Supply* |
//! | 7.3 Arm Supply, critical | ECS44, GCS39 | DLMS script execution / GBZ *Change Supply* |
//! | 7.4 Read Supply Status | ECS45, GCS33 (**derived**) | DLMS get / GBZ Read Attributes of *SupplyStatus* |
//! | 7.5, 7.6, 7.8 Activate / Deactivate / Reset Auxiliary Load, 7.12 Set Randomised Offset Limit (critical), 7.15 Read Auxiliary Controller Operational Data | ECS47Activate, ECS47Deactivate, ECS47Reset, ECS38, ECS61e | DLMS duration set and switch script / set / gets (`auxiliary.rs`) |
//! | 9.1 Request Customer Identification Number | ECS50, GCS36 (ACB, with the CIN the DCC draws, [`Context::cin`]) | DLMS set of 0-3:96.13.1.255 / GBZ *Update CIN* (`customer.rs`) |
//! | 8.1.1 Commission Device, critical | ECS70Commission, GCS28Commission | as 6.11 |
//! | 8.7.1, 8.7.2 Join Service | CS03CCritical, CS03B, CS03A2NonCritical (ACB, signed by the ACB), CS03CNonCritical (ACB, signed by the ACB) | ASN.1 join method, other device EUI and GBCS type, and for method C its key-agreement certificate, from [`Context::join_peer`] |
//! | 8.8.1, 8.8.2 Unjoin Service | CS04ACCritical, CS04ACNonCritical (ACB, signed by the ACB) | ASN.1 device ID |
//! | 8.9 Read Device Log | CCS06, CCS05CCS04, CCS07 (ACB), CS07 | DLMS device-log reads / ASN.1 NULL |
//! | 8.11 Update HAN Device Log | CCS01 (`Add`), CCS02 (`Remove`) (ACB) | DLMS class 104 register_device / unregister_device (**derived**: no reference encoding in the corpus, see [The HAN device logs](#the-han-device-logs)) |
//! | 8.12.1 Restore HAN Device Log | CCS03 (ACB) | DLMS class 104 restore_PAN with the DCC's copy of the old CHF's log from [`Context::device_log`] (**derived**) |
//! | 8.12.2 Restore GPF Device Log | GCS59 | ASN.1 list of (EUI, GBCS device type) from [`Context::device_log`] |
//! | 11.2 Read Firmware Version | ECS52, GCS38, CS08 (ACB) | DLMS get / GBZ read / ASN.1 NULL |
//! | 11.3 Activate Firmware | CS06 | ASN.1 image hash, counter and optional execution time |
//!
//! Not transformed, each refused with a [`TransformError`] naming the SRV, use case and reason:
//! a Join (8.7.1 / 8.7.2) whose context has no [`Context::join_peer`] (the command carries the
//! other device's GBCS device type, and for method C its key-agreement certificate, which come
//! from the Smart Metering Inventory and the key store, not the request), or whose other device
//! is of a type no corpus join names (HCALCS, CHF, GPF); CS03A1, CS03A2Critical and ECS29b (6.5
//! for a polyphase meter with its counters reset: no message code for them in the corpus or
//! the catalogue); 6.5 with single-phase settings for a meter the inventory marks polyphase
//! ([`Context::polyphase`]); 9.1 whose context has no or a malformed [`Context::cin`]; a
//! restore (8.12.1 / 8.12.2) whose context has no
//! [`Context::device_log`] (the command carries the DCC's copy of the old device's log, not the
//! request's data), or, for GCS59, whose copy has an entry without a GBCS device type; a read
//! for an unknown remote party whose `KAPublicSecurityCredentials` is not a key-agreement
//! certificate of the requesting User; and every use case not in the table above, whether or
//! not the corpus has a reference encoding of it (it has, for example, of GCS05, ECS25a1
//! and ECS47a; it has none of ECS43, GCS13c, ECS20c, CS04B), refused as a use
//! case HubGate does not build. Nothing panics on any input.
//!
//! # Conformance with the RTDS corpus
//!
//! `protocol/tests/transform_rtds.rs` transforms every DUIS template of these SRVs that has
//! a PRECOMMAND or COMMAND in the corpus (205 templates), with the corpus's counter and date
//! (2015-01-01T00:00:00Z) and, for joins, the other device's type as the RTDS command records
//! it and its key-agreement certificate from the RTDS key store, and records:
//!
//! | result | templates | use cases |
//! |---|---|---|
//! | exact (Pre-Command, or APDU and MAC'd Command byte for byte) | 182 | all of ECS46c, ECS08, ECS01c, ECS01b, ECS01d, GCS01b, CS02c, GCS04, GCS23, GCS24, DBCH01, DBCH03, DBCH04, DBCH05, GCS11, GCS18, GCS31, ECS50, GCS36 (with the RTDS command's CIN), ECS35g, ECS23b, ECS29d, ECS29f, GCS21b, GCS39, CS10a, CS10b, CS02e, ECS28a, ECS29a, ECS29c, ECS19, GCS14, ECS21b and GCS16b (for a known remote party), CS02aMAC, CS02fMAC, CS11, GCS06, GCS25, GCS25a, GCS40a, GCS40c, GCS40d, GCS41, GCS44, ECS04a, ECS04b, ECS09, ECS30, ECS30a, ECS48, ECS15a, ECS16, ECS23, ECS28b, ECS29e, ECS39a, ECS39b, ECS57, ECS61c, ECS62Add, ECS17a, ECS18a, ECS18b, ECS26a, ECS27, ECS17c, ECS82, GCS60, ECS22a, ECS34, ECS46a, ECS66, ECS35a, ECS35b, ECS35d, ECS35f, ECS44, ECS47Activate, ECS47Reset, ECS38, ECS61e, ECS81, ECS01a, GCS01a, ECS02, ECS03, GCS02, GCS03, CS01a, CS01b, ECS10, GCS07, ECS12, ECS17b, ECS17d, ECS20a, ECS20b, ECS20d, GCS15b, GCS15d, GCS15e, ECS21a, GCS16a, ECS22b, ECS24, ECS24b, GCS21f, the 6.2.x reads, ECS70, GCS28, ECS70Commission, GCS28Commission, ECS42, GCS32, ECS45, CS03B, CS04ACCritical, CCS05CCS04, CCS06, CCS07, CS07, ECS52, GCS38, CS08, GCS59 (with the RTDS command's GPF log as the DCC's copy) |
//! | exact up to the signer's ECDSA signature (randomised; ours verifies) | 2 | CS03A2NonCritical, CS04ACNonCritical |
//! | exact once the template's values are replaced by the RTDS request's | 17 | ECS21b, GCS16b and GCS61 for an unknown remote party (the templates carry another certificate, GCS16b's and GCS61's another period, than the RTDS requests); CS02bSupplierBySupplier ×3, CS02bNOByNO, CS02gLoadControllerBySupplier ×3, CS02bSupplierByTransCoS ×3 (the templates carry other replacement and certification-path certificates than the RTDS requests); GCS15c (the RTDS reads 2015-01-01T00:00:01Z – 2016-01-01T00:00:01Z, the template another period); GCS09 (the RTDS command restricts from 2016-11-22T02:46:56Z, the template from 2015-02-01T00:00:00Z); CS03CCritical, CS03CNonCritical (the RTDS commands carry another key-agreement certificate than the key store's for the other device: one not in the key store, and the one of …A1 for …94) |
//! | refused | 3 | GCS05 (2.1 for the gas meter: its prepayment and calendar publishes are not built) |
//! | differs | 1 | ECS47Deactivate (the RTDS command sets the duration object of switch 2, 0-0:94.44.119.2, while it runs switch 3's script; HubGate sets the duration of the switch it runs) |
//!
//! # Reads for an unknown remote party
//!
//! A log read whose body carries `KAPublicSecurityCredentials` is for a party the device
//! holds no credentials of: the ACB sends it with the DCC's counter, and the grouping header
//! carries the User as supplementary remote party with its counter and that key-agreement
//! certificate, to which the device encrypts its answer (PROTOCOLS.md §4). The payload is
//! the same as the User's own read; a protected read's parameters still name the User. The
//! certificate must be an X.509 key-agreement certificate whose subject is the requesting
//! User, of at most 1 KiB; its issuer is not checked against the SMKI store here.
//!
//! # The HAN device logs
//!
//! CCS01, CCS02 and CCS03 have no command, response or message code in the corpus: their
//! encodings and message codes (0x0001–0x0003) are derived from the use-case table, the DUIS
//! XSD and the corpus's CCS06/CCS07/CS14/GCS59 messages, as `device_log.rs` documents
//! point by point, with how sure each part is. The same module reads back what those
//! commands, their responses and the CS14 alert do to a CHF Device Log
//! ([`chf_log_change`], [`chf_log_succeeded`], [`chf_log_alert`]), for the DCC's copy the hub
//! actor keeps.
//!
//! # The gas meter's register, profile and valve reads
//!
//! GCS13a (4.1.1), GCS17 (4.8.1) and GCS33 (7.4) have DUIS templates but no command,
//! response or message in the corpus. Their message codes come from GBCS's table
//! ([`crate::gbcs::message_codes::DERIVED`]); their payloads are built the way the corpus
//! builds the GBZ reads it does have (GCS14's Read Attributes, GCS15x/GCS16a's one command
//! per component), with the ZigBee Smart Energy attributes and command that hold the data:
//! Metering *CurrentSummationDelivered* (0x0000), Metering *SupplyStatus* (0x0014), and
//! Metering *Get Profile* (interval channel 0, consumption delivered). What is sure: the
//! GBZ framing, the clusters, attribute IDs and command layout (ZigBee SE). What is not:
//! whether GBCS asks for further attributes in the same read, and how it splits a long
//! profile read (here a day per *Get Profile*).
//!
//! Constants inferred from the corpus rather than read from the GBCS text: the snapshot
//! counts (12 billing, 31 daily), the debt/top-up log sizes (10, 5), the GSME tariff's
//! issuer tariff ID 1, price trailing digit and threshold divisor, the ESME currency flag
//! (true for GBP), the payment-mode charge tables, and the cancellation encodings.

/// A [`UseCase`] table entry for a use case that any body of its SRV selects:
/// `use_case!(name, srv, devices, origin, build)`.
macro_rules! use_case {
    ($name:literal, $srv:literal, $dev:expr, $origin:expr, $build:ident) => {
        $crate::transform::UseCase {
            name: $name,
            srv: $srv,
            devices: $dev,
            origin: $origin,
            fits: $crate::transform::any_body,
            build: $build,
        }
    };
}

/// Device lists of the [`UseCase`] tables.
const ESME: &[DeviceType] = &[DeviceType::Esme];
const GSME: &[DeviceType] = &[DeviceType::Gsme];
const CHF: &[DeviceType] = &[DeviceType::Chf];

mod auxiliary;
mod axdr;
mod config_reads;
mod config_writes;
mod credentials;
mod credit;
mod customer;
mod der;
mod device_log;
mod device_settings;
mod firmware;
mod gas_settings;
mod join;
mod log_reads;
mod messages;
mod meter_reads;
mod payment_mode;
mod prepay_config;
mod register_reads;
mod schedules;
mod sub_ghz;
mod supply;
mod synchronise_clock;
mod tariff;
mod tenancy;
pub mod time;
mod top_up;
mod zcl;

use std::fmt;
use std::str::FromStr;

use crate::catalogue::Catalogue;
use crate::crypto::DerivedKeyCache;
use crate::duis::model::Body;
use crate::duis::model::header::CommandVariant;
use crate::duis::model::request::Request;
use crate::gbcs::auth::{self, AuthError};
use crate::gbcs::frame::{self, Cra, GroupingHeader, LenForm, OtherInfo, Supplementary};
use crate::hex;
use crate::smki::{Store, Usage};

pub use customer::{CIN_DIGITS, cin_in_command, cin_taken, is_cin, random_cin};
pub use device_log::{
    CHF_LOG_CODES, LogChange, LogEntry, MAX_RESTORE_ENTRIES, chf_log_alert, chf_log_change,
    chf_log_succeeded,
};
pub use join::{JoinDeviceType, JoinPeer};
pub use time::{TimeError, UtcDateTime};

/// The kind of device a command is for: it decides the use case (and so the payload) where
/// an SRV exists for several device types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceType {
    /// Electricity Smart Metering Equipment.
    Esme,
    /// Gas Smart Metering Equipment.
    Gsme,
    /// Gas Proxy Function.
    Gpf,
    /// Communications Hub Function.
    Chf,
    /// Prepayment Meter Interface Device.
    Ppmid,
    /// HAN Connected Auxiliary Load Control Switch.
    Hcalcs,
}

impl DeviceType {
    /// Every device type.
    pub const ALL: [DeviceType; 6] = [
        DeviceType::Esme,
        DeviceType::Gsme,
        DeviceType::Gpf,
        DeviceType::Chf,
        DeviceType::Ppmid,
        DeviceType::Hcalcs,
    ];

    /// The DUIS name (`ESME`, `GSME`, `GPF`, `CHF`, `PPMID`, `HCALCS`).
    pub fn name(self) -> &'static str {
        match self {
            DeviceType::Esme => "ESME",
            DeviceType::Gsme => "GSME",
            DeviceType::Gpf => "GPF",
            DeviceType::Chf => "CHF",
            DeviceType::Ppmid => "PPMID",
            DeviceType::Hcalcs => "HCALCS",
        }
    }
}

impl fmt::Display for DeviceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error for a string that is not a device type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown device type {0:?} (expected ESME, GSME, GPF, CHF, PPMID or HCALCS)")]
pub struct UnknownDeviceType(pub String);

impl FromStr for DeviceType {
    type Err = UnknownDeviceType;

    /// The DUIS name, in either case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeviceType::ALL
            .into_iter()
            .find(|d| d.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownDeviceType(s.to_owned()))
    }
}

/// What the transform needs beyond the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The target device's type (from the Smart Metering Inventory).
    pub device_type: DeviceType,
    /// Whether an ESME is a twin-element meter (it has a secondary element whose registers
    /// some commands also address).
    pub twin_element: bool,
    /// Whether an ESME is a polyphase meter: 4.10 and 6.27 then produce their polyphase use
    /// cases (ECS23b, ECS29f), which address every phase ([`POLYPHASE_FORMS`]).
    pub polyphase: bool,
    /// Whether the requesting User acts as a network operator (its roles are Electricity
    /// Distributor or Gas Transporter, and no supplier's): 6.13's ALCS event log read is then
    /// ECS35g rather than ECS35f ([`NETWORK_OPERATOR_FORMS`]).
    pub network_operator: bool,
    /// The Access Control Broker's EUI: originator of the commands the DCC sends on a User's
    /// behalf, and the key-agreement party of every command MAC.
    pub acb: [u8; 8],
    /// The current time: ZigBee commands carry it as their issuer event ID.
    pub now: UtcDateTime,
    /// The DCC's own originator counter, for commands the ACB originates (required for
    /// those use cases; the User's RequestID counter then travels as the supplementary
    /// remote party counter).
    pub dcc_counter: Option<u64>,
    /// The Transitional Change of Supplier party and its originator counter, for 6.23
    /// (the CoS party originates and signs the credential update).
    pub cos_party: Option<([u8; 8], u64)>,
    /// The User's GBCS identity, when it is not the RequestID originator.
    pub originator: Option<[u8; 8]>,
    /// The use case to produce, where the SRV has several for the device type (for
    /// example `ECS26d` or `ECS26l` for 6.2.3); by default the first supported one that fits
    /// the device type and the body.
    pub use_case: Option<String>,
    /// For a Join (8.7.1 / 8.7.2): the other device's type from the Smart Metering Inventory
    /// and, for method C, its key-agreement certificate from the key store. Joins are
    /// refused without it.
    pub join_peer: Option<JoinPeer>,
    /// For a restore (8.12.1 / 8.12.2): the DCC's copy of the old CHF's or GPF's device log
    /// (the gateway takes it from the hub actor's copy). Restores are refused without it.
    pub device_log: Option<Vec<LogEntry>>,
    /// For 9.1 Request Customer Identification Number: the new CIN (four digits) the DCC
    /// drew ([`random_cin`]). The request is refused without it.
    pub cin: Option<String>,
}

impl Context {
    /// A context for a device of type `device_type`, with `acb` and the current time.
    pub fn new(device_type: DeviceType, acb: [u8; 8], now: UtcDateTime) -> Self {
        Context {
            device_type,
            twin_element: false,
            polyphase: false,
            network_operator: false,
            acb,
            now,
            dcc_counter: None,
            cos_party: None,
            originator: None,
            use_case: None,
            join_peer: None,
            device_log: None,
            cin: None,
        }
    }
}

/// Why a request cannot be transformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransformError {
    /// The SRV is not in the catalogue.
    #[error("SRV {0} is not a known Service Reference Variant")]
    UnknownSrv(String),
    /// The SRV is handled by the DCC itself: no device command results.
    #[error("SRV {0} is a non-device service: the DCC answers it without a GBCS command")]
    NonDevice(String),
    /// A Signed Pre-Command (CommandVariant 5/6/7) is already GBCS: it is MAC-wrapped, not
    /// transformed.
    #[error(
        "SRV {srv} with CommandVariant {cv} carries a Signed Pre-Command: it is MAC-wrapped, \
         not transformed"
    )]
    SignedPreCommand {
        /// The SRV.
        srv: String,
        /// The CommandVariant.
        cv: u8,
    },
    /// The header and body disagree (see [`Request::check_consistency`]).
    #[error("SRV {srv}: {reason}")]
    Inconsistent {
        /// The SRV.
        srv: String,
        /// What is wrong.
        reason: String,
    },
    /// The SRV (or the chosen use case) has no transform here.
    #[error("SRV {srv}{}: not supported by the transform ({reason})",
        use_case.as_deref().map(|u| format!(" use case {u}")).unwrap_or_default())]
    Unsupported {
        /// The SRV.
        srv: String,
        /// The use case, when one was chosen.
        use_case: Option<String>,
        /// Why.
        reason: String,
    },
    /// The SRV has no supported use case for the target device type.
    #[error("SRV {srv} has no supported use case for a {device_type} (supported: {supported})")]
    DeviceType {
        /// The SRV.
        srv: String,
        /// The context's device type.
        device_type: DeviceType,
        /// The supported use cases of the SRV, with their device types.
        supported: String,
    },
    /// [`Context::use_case`] names a use case that is not the SRV's.
    #[error("use case {use_case} is not one of SRV {srv}'s ({allowed})")]
    UseCase {
        /// The SRV.
        srv: String,
        /// The requested use case.
        use_case: String,
        /// The SRV's use cases.
        allowed: String,
    },
    /// A body value cannot be encoded.
    #[error("SRV {srv}: {field}: {reason}")]
    Field {
        /// The SRV.
        srv: String,
        /// The body field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The Transitional CoS party originates this use case, and the context does not name it.
    #[error(
        "SRV {srv} use case {use_case} is originated by the Transitional CoS party: the context needs its EUI and counter"
    )]
    NoCosParty {
        /// The SRV.
        srv: String,
        /// The use case.
        use_case: String,
    },
    /// The ACB originates this use case, and the context has no DCC counter.
    #[error(
        "SRV {srv} use case {use_case} is originated by the ACB: the context needs the DCC counter"
    )]
    NoDccCounter {
        /// The SRV.
        srv: String,
        /// The use case.
        use_case: String,
    },
    /// A critical command needs the User's signature before it can be MAC-wrapped.
    #[error("SRV {0} is critical: the Pre-Command must be signed by the User before it is sent")]
    Critical(String),
    /// A key needed to MAC-wrap the command is not in the key store.
    #[error("no {what} for {eui} in the key store")]
    MissingKey {
        /// Which key.
        what: &'static str,
        /// Whose.
        eui: String,
    },
    /// MAC-wrapping failed.
    #[error("MAC-wrapping: {0}")]
    Auth(#[from] AuthError),
}

/// Who originates the command in the grouping header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The User, with its RequestID counter.
    User,
    /// The ACB, with the DCC's counter; the User is the supplementary remote party.
    Acb,
    /// The ACB on its own account, with the DCC's counter and no supplementary remote
    /// party (the DCC's enquiry of the credentials a device holds, CS02a / CS02f).
    AcbOwn,
    /// As [`Origin::Acb`], and the ACB signs the command with its digital-signature key
    /// (join and unjoin commands the DCC sends to a PPMID or HCALCS).
    AcbSigned,
    /// The Transitional Change of Supplier party ([`Context::cos_party`]), with its own
    /// counter; it signs the command.
    TransCoS,
}

/// What a payload builder gets.
#[derive(Debug)]
pub(crate) struct Input<'a> {
    /// The SRV, for error messages.
    pub(crate) srv: &'a str,
    /// The request body.
    pub(crate) body: &'a Body,
    /// The context.
    pub(crate) ctx: &'a Context,
    /// The grouping-header originator counter (the DLMS invoke-id derives from it).
    pub(crate) counter: u64,
    /// The User the command is for: the originator, or the supplementary remote party of a
    /// command the ACB sends on its behalf (whose protected reads are still the User's).
    pub(crate) user: [u8; 8],
    /// The target device.
    pub(crate) target: [u8; 8],
}

impl Input<'_> {
    /// A [`TransformError::Field`] for this SRV.
    pub(crate) fn field(&self, field: &'static str, reason: impl Into<String>) -> TransformError {
        TransformError::Field {
            srv: self.srv.to_owned(),
            field,
            reason: reason.into(),
        }
    }

    /// Parses a date-time leaf of the body.
    pub(crate) fn time(
        &self,
        field: &'static str,
        v: &crate::duis::model::xsd::DateTime,
    ) -> Result<UtcDateTime, TransformError> {
        UtcDateTime::from_xsd(v).map_err(|e| self.field(field, e.to_string()))
    }

    /// ZigBee time of the context's current time (issuer event IDs).
    pub(crate) fn now_zigbee(&self) -> Result<u32, TransformError> {
        self.ctx
            .now
            .zigbee()
            .map_err(|e| self.field("current time", e.to_string()))
    }

    /// When a command with this optional `ExecutionDateTime` takes effect on the device.
    pub(crate) fn execution(
        &self,
        v: Option<&crate::duis::model::xsd::DateTime>,
    ) -> Result<Execution, TransformError> {
        let Some(v) = v else {
            return Ok(Execution::Now);
        };
        let t = self.time("ExecutionDateTime", v)?;
        Ok(if t.fields().0 >= CANCELLATION_YEAR {
            Execution::Cancel
        } else {
            Execution::At(t)
        })
    }

    /// A non-negative `xs:decimal` leaf as a whole number of `10^-digits` units
    /// (`fixed_point(.., "1.02264", 5)` is 102264), at most `max`; `digits` is at most 18.
    /// More fraction digits than `digits`, a value below zero, or a value above `max` is a
    /// field error (`+1.5` and `-0.0` are read as 1.5 and 0).
    pub(crate) fn fixed_point(
        &self,
        field: &'static str,
        d: &crate::duis::model::xsd::Decimal,
        digits: usize,
        max: u64,
    ) -> Result<u64, TransformError> {
        let text = d.as_str();
        let bad = |why: &str| self.field(field, format!("{text}: {why}"));
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let whole = whole.strip_prefix('+').unwrap_or(whole);
        let fraction = fraction.trim_end_matches('0');
        let (negative, whole) = match whole.strip_prefix('-') {
            Some(w) => (true, w),
            None => (false, whole),
        };
        if negative && !(whole.bytes().all(|b| b == b'0') && fraction.is_empty()) {
            return Err(bad("negative"));
        }
        debug_assert!(digits <= 18, "10^digits must fit a u64");
        if fraction.len() > digits {
            return Err(bad(&format!("more than {digits} fraction digits")));
        }
        let digits_of = |s: &str| -> Result<u64, TransformError> {
            if s.is_empty() {
                return Ok(0);
            }
            s.parse::<u64>().map_err(|_| bad("not a number"))
        };
        let scale = 10u64.pow(u32::try_from(digits).unwrap_or(u32::MAX).min(18));
        let fraction =
            digits_of(fraction)? * 10u64.pow(u32::try_from(digits - fraction.len()).unwrap_or(0));
        digits_of(whole)?
            .checked_mul(scale)
            .and_then(|w| w.checked_add(fraction))
            .filter(|v| *v <= max)
            .ok_or_else(|| bad(&format!("more than {max} units of 10^-{digits}")))
    }

    /// A body of an unexpected element (the dispatch makes this unreachable in practice).
    pub(crate) fn wrong_body(&self) -> TransformError {
        TransformError::Inconsistent {
            srv: self.srv.to_owned(),
            reason: format!(
                "body element {} does not carry this SRV",
                self.body.element_name()
            ),
        }
    }
}

/// Execution date-times in this year or later cancel a pending future-dated command of the
/// same kind (the DUIS "CANCELLATION" requests use `3000-12-31T00:00:00Z`).
pub const CANCELLATION_YEAR: i64 = 3000;

/// When a device-executed (future-datable) command takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Execution {
    /// No `ExecutionDateTime`: immediately.
    Now,
    /// At this time.
    At(UtcDateTime),
    /// A cancellation ([`CANCELLATION_YEAR`] or later).
    Cancel,
}

/// A use case the transform implements.
#[derive(Debug)]
pub(crate) struct UseCase {
    /// Use-case name as in the catalogue and the RTDS corpus.
    pub(crate) name: &'static str,
    /// The SRV it belongs to.
    pub(crate) srv: &'static str,
    /// Device types it addresses.
    pub(crate) devices: &'static [DeviceType],
    /// Who originates it.
    pub(crate) origin: Origin,
    /// Whether the body selects it (for SRVs whose use case depends on the body).
    pub(crate) fits: fn(&Body) -> bool,
    /// Builds the payload.
    pub(crate) build: fn(&Input<'_>) -> Result<Vec<u8>, TransformError>,
}

/// For [`UseCase::fits`]: any body.
pub(crate) fn any_body(_: &Body) -> bool {
    true
}

/// Every implemented use case, SRV by SRV, in the order defaults are chosen.
fn use_cases() -> impl Iterator<Item = &'static UseCase> {
    [
        tariff::USE_CASES,
        tariff::GAS_USE_CASES,
        payment_mode::USE_CASES,
        top_up::USE_CASES,
        messages::USE_CASES,
        tenancy::USE_CASES,
        register_reads::USE_CASES,
        meter_reads::USE_CASES,
        device_settings::USE_CASES,
        credit::USE_CASES,
        schedules::USE_CASES,
        gas_settings::USE_CASES,
        log_reads::USE_CASES,
        config_reads::USE_CASES,
        config_writes::USE_CASES,
        synchronise_clock::USE_CASES,
        supply::USE_CASES,
        auxiliary::USE_CASES,
        credentials::USE_CASES,
        join::USE_CASES,
        device_log::USE_CASES,
        firmware::USE_CASES,
        customer::USE_CASES,
        sub_ghz::USE_CASES,
        prepay_config::USE_CASES,
    ]
    .into_iter()
    .flatten()
}

/// Use cases of the SRVs in scope that have no transform, and why.
const NOT_TRANSFORMED: &[(&str, &str)] = &[
    (
        "CS03A1",
        "the conformance corpus has no message code for this Join use case",
    ),
    (
        "CS03A2Critical",
        "the conformance corpus has no message code for this Join use case",
    ),
];

/// The use cases whose request is the same for a single-phase and a polyphase ESME, and
/// the polyphase form the transform produces for a polyphase meter ([`Context::polyphase`]).
/// 6.5's polyphase forms (ECS29b, ECS29d) follow from the request's
/// `PolyPhaseVoltageSettings` instead. The gateway takes the flag from the Smart Metering
/// Inventory's ESME variant (C and its derivatives).
pub const POLYPHASE_FORMS: &[(&str, &str)] = &[("ECS23", "ECS23b"), ("ECS29e", "ECS29f")];

/// The use cases whose request is the same whoever sends it, and the form the transform
/// produces when a network operator sends it ([`Context::network_operator`]): the corpus's
/// ECS35g is ECS35f's command sent by the network operator's User ID.
pub const NETWORK_OPERATOR_FORMS: &[(&str, &str)] = &[("ECS35f", "ECS35g")];

/// Use cases chosen by their request alone that a polyphase meter must not get: 6.5's
/// single-phase settings (a polyphase meter is refused them rather than left with phases L2
/// and L3 unset). A meter not marked polyphase may still get the polyphase forms its request
/// asks for: an ESME variant missing from the inventory does not make it single phase.
const SINGLE_PHASE_ONLY: &[&str] = &["ECS29a", "ECS29c"];

/// Why a use case has no transform.
fn not_transformed(use_case: &str) -> String {
    NOT_TRANSFORMED
        .iter()
        .find(|(prefix, _)| use_case.starts_with(prefix))
        .map_or("HubGate does not build this use case", |(_, why)| why)
        .to_owned()
}

/// The implemented use cases of `srv`: `(use case, device types)`.
pub fn supported_use_cases(srv: &str) -> Vec<(&'static str, &'static [DeviceType])> {
    use_cases()
        .filter(|u| u.srv == srv)
        .map(|u| (u.name, u.devices))
        .collect()
}

/// The result of a transform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transformed {
    /// The SRV.
    pub srv: String,
    /// The GBCS use case produced.
    pub use_case: &'static str,
    /// Its message code.
    pub message_code: u16,
    /// Whether the SRV is critical (the APDU is a Pre-Command).
    pub critical: bool,
    /// Whether the ACB is the command's originator.
    pub acb_originated: bool,
    /// The party that signs the command before it is MAC-wrapped (the ACB, or the
    /// Transitional CoS party): [`Transformed::command`] adds its signature.
    pub signer: Option<[u8; 8]>,
    /// The ACB EUI of the context.
    pub acb: [u8; 8],
    apdu: Vec<u8>,
}

impl Transformed {
    /// The general-signing APDU: the Pre-Command (no signature field) for a critical SRV,
    /// the APDU with a null signature for a non-critical one, and the APDU without its
    /// signature field for a command the ACB or the Transitional CoS party signs.
    pub fn apdu(&self) -> &[u8] {
        &self.apdu
    }

    /// The Pre-Command, for a critical SRV.
    pub fn precommand(&self) -> Option<&[u8]> {
        self.critical.then_some(self.apdu.as_slice())
    }

    /// What the gateway sends: the Pre-Command for a critical SRV (to the User, for
    /// signing), the MAC-wrapped Command for a non-critical one (to the device).
    ///
    /// # Errors
    ///
    /// As [`Transformed::command`].
    pub fn output(
        &self,
        store: &Store,
        cache: &DerivedKeyCache,
    ) -> Result<Vec<u8>, TransformError> {
        if self.critical {
            Ok(self.apdu.clone())
        } else {
            self.command(store, cache)
        }
    }

    /// The Command of a non-critical SRV: the APDU MAC-wrapped (`DD` … MAC) with the ACB's
    /// key-agreement key and the recipient device's key-agreement certificate from `store`;
    /// first signed with the [`Transformed::signer`]'s digital-signature key, if any
    /// (ECDSA is randomised, so that signature, and the MAC, differ on every call).
    ///
    /// # Errors
    ///
    /// [`TransformError::Critical`] for a critical SRV; [`TransformError::MissingKey`] when
    /// `store` lacks the ACB's private KA key, the signer's private DS key or the device's
    /// KA certificate.
    pub fn command(
        &self,
        store: &Store,
        cache: &DerivedKeyCache,
    ) -> Result<Vec<u8>, TransformError> {
        if self.critical {
            return Err(TransformError::Critical(self.srv.clone()));
        }
        let recipient = frame::parse(&self.apdu)
            .map_err(AuthError::from)?
            .header
            .recipient;
        let acb = store
            .private_keys(&self.acb, Usage::KeyAgreement)
            .find_map(|e| e.agreement_key())
            .ok_or_else(|| TransformError::MissingKey {
                what: "ACB private key-agreement key",
                eui: hex::eui(&self.acb),
            })?;
        let device = store
            .public_keys(&recipient, Usage::KeyAgreement)
            .next()
            .ok_or_else(|| TransformError::MissingKey {
                what: "device key-agreement certificate",
                eui: hex::eui(&recipient),
            })?;
        if let Some(eui) = self.signer {
            // A party's XML-signing keys (SMKI roles 0x80 and above) share its EUI and the
            // digital-signature usage; its devices hold its GBCS certificate (an organisation
            // role below 0x80), so that key signs when the store has it.
            let gbcs = |e: &&crate::smki::KeyEntry| {
                e.certificate()
                    .and_then(|c| c.role())
                    .is_some_and(|r| r < 0x80)
            };
            let signer = store
                .private_keys(&eui, Usage::DigitalSignature)
                .filter(gbcs)
                .find_map(|e| e.signing_key())
                .or_else(|| {
                    store
                        .private_keys(&eui, Usage::DigitalSignature)
                        .find_map(|e| e.signing_key())
                })
                .ok_or_else(|| TransformError::MissingKey {
                    what: "private digital-signature key",
                    eui: hex::eui(&eui),
                })?;
            let signed = auth::sign_precommand(&self.apdu, signer)?;
            return Ok(auth::mac_wrap(&signed, acb, device.peer_key(), cache)?);
        }
        Ok(auth::mac_wrap(&self.apdu, acb, device.peer_key(), cache)?)
    }
}

/// Transforms a Service Request into its GBCS command (see the module documentation).
///
/// # Errors
///
/// A [`TransformError`] naming the SRV (and the use case or field) when the request cannot
/// be transformed.
pub fn transform(request: &Request, ctx: &Context) -> Result<Transformed, TransformError> {
    let srv_name = request.header.service_reference_variant.as_str().to_owned();
    let srv = Catalogue::get()
        .srv(&srv_name)
        .ok_or_else(|| TransformError::UnknownSrv(srv_name.clone()))?;
    let cv = request.header.command_variant;
    if request.is_signed_pre_command() {
        return Err(TransformError::SignedPreCommand {
            srv: srv_name,
            cv: cv.as_u8(),
        });
    }
    if srv.non_device || cv == CommandVariant::NonDevice {
        return Err(TransformError::NonDevice(srv_name));
    }
    request
        .check_consistency()
        .map_err(|e| TransformError::Inconsistent {
            srv: srv_name.clone(),
            reason: e.to_string(),
        })?;
    let uc = choose(&srv_name, srv, request, ctx)?;
    let code = srv
        .use_cases
        .iter()
        .find(|u| u.name == uc.name)
        .and_then(|u| u.message_code)
        .or_else(|| crate::gbcs::message_codes::code_of(uc.name))
        .or_else(|| {
            device_log::DERIVED_MESSAGE_CODES
                .iter()
                .find(|(n, _)| *n == uc.name)
                .map(|(_, c)| *c)
        })
        .ok_or_else(|| TransformError::Unsupported {
            srv: srv_name.clone(),
            use_case: Some(uc.name.to_owned()),
            reason: "no message code is known for it".to_owned(),
        })?;
    let id = &request.header.request_id;
    let user = ctx.originator.unwrap_or(id.originator);
    let urp = unknown_remote_party(&request.body);
    if let Some(certificate) = urp {
        check_urp_certificate(&srv_name, certificate, &user)?;
    }
    let dcc_counter = || {
        ctx.dcc_counter.ok_or_else(|| TransformError::NoDccCounter {
            srv: srv_name.clone(),
            use_case: uc.name.to_owned(),
        })
    };
    let (originator, counter, supplementary) = match (uc.origin, urp) {
        // A read for a remote party the device does not know: the ACB sends it with the
        // User's key-agreement certificate, for the device to encrypt its answer to.
        (Origin::User, Some(certificate)) => (
            ctx.acb,
            dcc_counter()?,
            Supplementary::Certificate {
                id: user,
                counter: id.counter,
                certificate,
            },
        ),
        (Origin::User, None) => (user, id.counter, Supplementary::None),
        (Origin::TransCoS, _) => {
            let (eui, counter) = ctx.cos_party.ok_or_else(|| TransformError::NoCosParty {
                srv: srv_name.clone(),
                use_case: uc.name.to_owned(),
            })?;
            (eui, counter, Supplementary::None)
        }
        (Origin::Acb | Origin::AcbSigned | Origin::AcbOwn, _) => {
            let dcc = dcc_counter()?;
            let supplementary = if uc.origin == Origin::AcbOwn {
                Supplementary::None
            } else {
                Supplementary::RemotePartyCounter {
                    id: user,
                    counter: id.counter,
                }
            };
            (ctx.acb, dcc, supplementary)
        }
    };
    let input = Input {
        srv: &srv_name,
        body: &request.body,
        ctx,
        counter,
        user,
        target: id.target,
    };
    let content = (uc.build)(&input)?;
    let header = GroupingHeader {
        cra: Cra::Command,
        counter,
        originator,
        recipient: id.target,
        date_time: None,
        other_info: OtherInfo {
            message_code: code,
            supplementary,
        },
    };
    let signer = match uc.origin {
        Origin::AcbSigned | Origin::TransCoS => Some(originator),
        Origin::User | Origin::Acb | Origin::AcbOwn => None,
    };
    let signature = if srv.critical || signer.is_some() {
        None
    } else {
        Some(None)
    };
    let oi_len = match supplementary {
        Supplementary::None => 2,
        Supplementary::Certificate { certificate, .. } => 18 + certificate.len(),
        _ => 18,
    };
    let apdu = frame::encode_apdu(
        &header,
        &content,
        signature,
        LenForm::minimal(oi_len),
        LenForm::minimal(content.len()),
    );
    Ok(Transformed {
        srv: srv_name,
        use_case: uc.name,
        message_code: code,
        critical: srv.critical,
        acb_originated: originator == ctx.acb && uc.origin != Origin::TransCoS,
        signer,
        acb: ctx.acb,
        apdu,
    })
}

/// The key-agreement certificate a read request carries for a remote party the device does
/// not know (`KAPublicSecurityCredentials`).
fn unknown_remote_party(body: &Body) -> Option<&[u8]> {
    match body {
        Body::RetrieveCoMOrTariffTriggeredBillingDataLog(b)
        | Body::RetrieveBillingCalendarTriggeredBillingDataLog(b)
        | Body::RetrieveImportDailyReadLog(b)
        | Body::ReadActiveImportProfileData(b)
        | Body::ReadNetworkData(b)
        | Body::ReadPrepaymentDailyReadLog(b)
        | Body::RetrieveDailyConsumptionLog(b) => b.ka_public_security_credentials.as_deref(),
        _ => None,
    }
}

/// Largest certificate a read for an unknown remote party may carry.
const MAX_URP_CERTIFICATE_BYTES: usize = 1024;

/// An unknown remote party's certificate must be an X.509 key-agreement certificate whose
/// subject is the requesting User, for the device to encrypt its answer to, and small
/// enough for the grouping header (SMKI certificates are a few hundred bytes).
fn check_urp_certificate(srv: &str, der: &[u8], user: &[u8; 8]) -> Result<(), TransformError> {
    let field = |reason: String| TransformError::Field {
        srv: srv.to_owned(),
        field: "KAPublicSecurityCredentials",
        reason,
    };
    if der.len() > MAX_URP_CERTIFICATE_BYTES {
        return Err(field(format!(
            "{} bytes, more than the {MAX_URP_CERTIFICATE_BYTES} a certificate may have",
            der.len()
        )));
    }
    let c = crate::smki::Certificate::from_der(der).map_err(|e| field(e.to_string()))?;
    if c.usage() != Some(crate::smki::Usage::KeyAgreement) {
        return Err(field("not a key-agreement certificate".to_owned()));
    }
    match c.eui() {
        Some(eui) if &eui == user => Ok(()),
        Some(eui) => Err(field(format!(
            "issued to {}, not to the requesting User {}",
            crate::hex::eui_duis(&eui),
            crate::hex::eui_duis(user)
        ))),
        None => Err(field("names no EUI".to_owned())),
    }
}

/// Picks the use case: the context's choice, or the first implemented one for the device
/// type that fits the body.
fn choose(
    srv_name: &str,
    srv: &crate::catalogue::Srv,
    request: &Request,
    ctx: &Context,
) -> Result<&'static UseCase, TransformError> {
    let implemented: Vec<&'static UseCase> = use_cases().filter(|u| u.srv == srv_name).collect();
    let catalogue_names = || {
        srv.use_cases
            .iter()
            .map(|u| u.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(wanted) = &ctx.use_case {
        if !srv.use_cases.iter().any(|u| &u.name == wanted) {
            return Err(TransformError::UseCase {
                srv: srv_name.to_owned(),
                use_case: wanted.clone(),
                allowed: catalogue_names(),
            });
        }
        let uc = implemented
            .iter()
            .find(|u| u.name == wanted)
            .ok_or_else(|| TransformError::Unsupported {
                srv: srv_name.to_owned(),
                use_case: Some(wanted.clone()),
                reason: not_transformed(wanted),
            })?;
        if !(uc.fits)(&request.body) {
            return Err(TransformError::Inconsistent {
                srv: srv_name.to_owned(),
                reason: format!("the body does not ask for use case {wanted}"),
            });
        }
        return Ok(uc);
    }
    if implemented.is_empty() {
        return Err(TransformError::Unsupported {
            srv: srv_name.to_owned(),
            use_case: None,
            reason: if srv.use_cases.is_empty() {
                "no GBCS use case is known for it".to_owned()
            } else {
                let mut reasons: Vec<(String, Vec<&str>)> = Vec::new();
                for u in &srv.use_cases {
                    let why = not_transformed(&u.name);
                    match reasons.iter_mut().find(|(w, _)| *w == why) {
                        Some((_, names)) => names.push(&u.name),
                        None => reasons.push((why, vec![&u.name])),
                    }
                }
                reasons
                    .iter()
                    .map(|(why, names)| format!("{}: {why}", names.join(", ")))
                    .collect::<Vec<_>>()
                    .join("; ")
            },
        });
    }
    let fits =
        |u: &&'static UseCase| u.devices.contains(&ctx.device_type) && (u.fits)(&request.body);
    // The use case's other form in `forms`, where it is implemented and fits.
    let other_form = |u: &'static UseCase, forms: &[(&str, &str)]| {
        forms
            .iter()
            .find(|(usual, _)| *usual == u.name)
            .and_then(|(_, other)| implemented.iter().find(|p| p.name == *other))
            .copied()
            .filter(fits)
            .unwrap_or(u)
    };
    let polyphase_meter = ctx.polyphase && ctx.device_type == DeviceType::Esme;
    // Each table of other forms, and whether it applies to this request.
    let alternatives = [
        (POLYPHASE_FORMS, polyphase_meter),
        (NETWORK_OPERATOR_FORMS, ctx.network_operator),
    ];
    let uc = implemented
        .iter()
        .filter(|u| {
            !alternatives
                .iter()
                .flat_map(|(forms, _)| forms.iter())
                .any(|(_, other)| *other == u.name)
        })
        .find(|u| fits(u))
        .map(|u| {
            alternatives
                .iter()
                .filter(|(_, applies)| *applies)
                .fold(*u, |u, (forms, _)| other_form(u, forms))
        })
        .ok_or_else(|| TransformError::DeviceType {
            srv: srv_name.to_owned(),
            device_type: ctx.device_type,
            supported: implemented
                .iter()
                .map(|u| {
                    let d: Vec<&str> = u.devices.iter().map(|d| d.name()).collect();
                    format!("{} for {}", u.name, d.join("/"))
                })
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    if polyphase_meter && SINGLE_PHASE_ONLY.contains(&uc.name) {
        return Err(TransformError::Inconsistent {
            srv: srv_name.to_owned(),
            reason: format!(
                "the meter is polyphase (its ESME variant) and {} sets a single-phase meter: \
                 the request must give PolyPhaseVoltageSettings",
                uc.name
            ),
        });
    }
    Ok(uc)
}
