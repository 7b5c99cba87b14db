//! Hardware-in-the-loop rig: emulated GBCS devices that a gateway (or a test) can embed.
//!
//! # What is here
//!
//! A library of stateful device emulators: [`Device`] of kind ESME, GSME, GPF, CHF, PPMID or
//! IHD ([`DeviceKind`]). A device takes a GBCS command and the current time
//! ([`Device::handle`]), checks it as a device does (addressee, MAC with the ACB key, remote
//! party signature, counter anti-replay), executes the use case on its state and answers
//! with a MAC'd or device-signed response, encrypting sensitive data (PROTOCOLS.md §4.7–4.10;
//! details in [`device`]). Future-dated commands run later ([`Device::tick`]) and raise
//! 8F66/8F67 alerts. The state ([`DeviceState`]) is serialisable, so a hub actor can
//! passivate a device and restore it ([`Device::into_parts`], [`Device::from_parts`]).
//!
//! A command that fails parsing, addressing, MAC, signature or counter checks is **not
//! executed and gets no response** (the device discards it); [`Device::handle`] returns the
//! reason and the device writes it to its security log. So do commands for use cases the
//! emulator does not implement ([`DeviceError::Unsupported`]).
//!
//! Use cases covered, each replayed from the RTDS corpus in `tests/` (MAC'd responses come
//! out byte-identical to the RTDS ones, MAC included; signed responses and alerts identical
//! up to the signature):
//!
//! | area | use cases | device |
//! |---|---|---|
//! | DLMS reads | ECS17a, ECS17b, ECS17d (instantaneous registers), ECS20a, ECS20b, ECS20d (billing and daily logs), ECS21a (daily read log), ECS22b (half-hour profile), ECS52 (firmware version), CCS05/CCS06 (CHF device list) | ESME, CHF |
//! | DLMS writes | ECS01a (tariff: immediate, future-dated, cancellation), ECS01c (secondary element tariff), ECS01b, ECS01d (prices), ECS08 (prepay configuration), ECS46c (ALCS scheduler; immediate, future-dated with their 8F66 alerts, cancellation, error), ECS02, ECS03 (payment mode), ECS04a/b (credit), ECS70 (clock) | ESME |
//! | DLMS resets, settings and their reads | ECS15a, ECS28b, ECS29e, ECS57 (resets), ECS16, ECS39a, ECS39b, ECS62Add (sets), ECS23, ECS61c (network data, boost button), ECS19 (prepayment values), ECS21b (prepayment daily reads, also for an unknown remote party), success and error vectors | ESME |
//! | DLMS critical credit, schedules and settings | ECS09 (emergency credit: answered, no state kept), ECS30, ECS30a (billing calendar), ECS48 (tariff block counter reset), ECS28a (load limiting settings, immediate, future-dated and cancelled; a GBCS data object's activation copies its attribute 4 to 2), success and error vectors | ESME |
//! | DLMS voltage settings | ECS29a (success and error), ECS29c (success) | ESME |
//! | DLMS switch event log for the network operator | ECS35g (the RTDS command from the network operator's User ID), success and error vectors | ESME |
//! | DLMS polyphase network data, voltage settings and resets | ECS23b (success and error), ECS29d (success; its error vector fails three items where every other fails two), ECS29f (success and error), on an ESME made polyphase by [`models::make_polyphase`] (emulated ESMEs are single phase otherwise) | ESME |
//! | Change of Tenancy | ECS12 (ESME), GCS09 (GPF): the date is kept, and later profile and log reads by a party other than the supplier return only data from that date on (`tests/change_of_tenancy.rs`) | ESME, GPF |
//! | CHF HAN log | CCS07 (backup), CS14 alert; CCS01, CCS02 (register/unregister device: modelled on DLMS class 104, **no RTDS vector confirms their wire form**) | CHF |
//! | joins | CS03A2, CS03B, CS03C (8.7), CS04AC (8.8) | ESME, GSME, PPMID |
//! | credentials | CS02b supplier by supplier (6.15.1), immediate and future-dated; the other CS02b/CS02g variants share the code path but were not replayed; CS02a / CS02f (6.24.1, the credentials held, role by role, with the parties' counter floors); CS02e (6.24.2, the device's own certificate of the usage asked: an RTDS device gives its substitute DS certificate and its RTDS KA certificate); CS02c (6.17, a PKCS#10 request for a new key pair of the usage asked, which the device keeps: the corpus's request with the new public key, self-signed) | all but IHD (CS02f: ESME) |
//! | ZigBee prepayment daily reads | GCS16b, for a known and an unknown remote party: **same header and payload layout only** (the RTDS answer counts 31 snapshots found while it sends two) | GSME, GPF |
//! | ZigBee credit, calendar and settings | GCS04 (debts: three *Change Debt*), GCS23 (conversion factor and calorific value), GCS24 (uncontrolled flow threshold and supply states), each command answered SUCCESS and the last of its kind kept ([`zcl::ZigbeeModel::published`]), GCS06 (emergency credit), GCS40a/c/d (credit adjustments, which change the credit or balance), GCS25/GCS25a (billing calendar), CS11 (event log clear), GCS44 (supplier name), GCS41 (MPRN), GCS39 (arm supply: a *Supply Status Response* when the *Change Supply* asks for one), success and error vectors | GSME |
//! | ZigBee daily consumption log | GCS61 (*Get Sampled Data*, sample 1: the days from the earliest sample's day to today, at most the number asked for, from the GPF's 731-day log that [`models::consume_gas`] fills; NOT_FOUND when none): the not-found vector byte for byte; the success vector, read for an unknown remote party, in its header fields and decrypted samples (the RTDS answer carries no supplementary originator counter, unlike the corpus's other such answers) | GPF |
//! | dual-band CHF sub-GHz radio | DBCH01 (channel in use), DBCH03 (configuration), DBCH04 (new configuration, reported to the ACB by a DBCH09 alert, byte for byte), DBCH05 (channel scan), success and error vectors ([`models::chf_objects`]) | CHF |
//! | privacy PIN, Customer Identification Number | GCS11 (*Request New Password Response*), GCS36 (*Update CIN*, from the ACB), ECS50 (the ESME's CIN object 0-3:96.13.1.255), success and error vectors | GSME, ESME |
//! | ZigBee gas network data | GCS31 (*Start Sampling*: a *Start Sampling Response* with sample ID 2, or FFFF under fault injection; the GSME then records consumption in 6-minute intervals, at most the 41 asked for, [`zcl::NetworkRecording`]), GCS18 (*Get Sampled Data* of sample 2: the recording from the earliest sample asked for to now; NOT_FOUND when none was started): success, not-found and error vectors byte for byte | GSME |
//! | ZigBee prepayment configuration | GCS21b (Read Attributes of the Prepayment and Price clusters, and the Calendar cluster's gets, answered with the publishes of the calendar last published to the meter, NOT_FOUND when there is none; the meter keeps one calendar), success, not-found and error vectors | GSME |
//! | ZigBee event and security logs | CS10a, CS10b (*Get Event Log*: *Publish Event Log* of the matching events, NOT_FOUND when none; the GSME and GPF log the alerts they raise in their event log), success, not-found and error vectors | GSME, GPF |
//! | ZigBee | GCS38 (firmware version), GCS14 (GPF reads), GCS15b/c (snapshots), GCS15d/e (debt and top-up logs), GCS01a (tariff publishes), GCS01b (price publishes, with their 8F66 alerts), GCS28 (clock window) | GSME, GPF |
//! | ZigBee, no RTDS vector | GCS13a (consumption register), GCS17 (half-hour profile, *Get Profile*), GCS33 (valve status, which GCS32 *Change Supply* sets): answered from [`models::consume_gas`]'s register and profile; checked against the transform's commands and the oracle (`tests/gas_reads.rs`) | GSME, GPF (GCS13a) |
//! | alerts | 8F66/8F67 in their DLMS, GBZ and ASN.1 forms, CS14 (8F12), generic 0x1000/0x1001 ([`Device::raise_alert`]) | all |
//!
//! Other DLMS and ZCL commands are answered as plain attribute access where the payload
//! allows (gets and sets of defined COSEM objects, ZCL Read Attributes). The PPMID and IHD hold a
//! display model refreshed from the meters ([`models::refresh_display`]); the IHD has no GBCS
//! use cases.
//!
//! Some RTDS behaviour is mirrored without a specification to explain it, and is documented
//! where it is implemented: error layouts for fault injection ([`DeviceState::faults`]),
//! CS02b result 10, CS02a/CS02f statuses 25 and 127, join results 2 and 11, GCS28 answers, the GCS14 clock status, the order
//! of snapshots and logs, and the non-minimal ASN.1 lengths of CS02b answers.
//!
//! # Keys
//!
//! Devices use either generated keys ([`Identity::Generated`], as the [`Fleet`] builder does
//! for load tests, with an [`smki::Store`](hubgate_protocol::smki::Store) of every
//! certificate) or an RTDS identity ([`Identity::Rtds`]): the RTDS keystore has no device
//! private keys, so MACs and encryption use the ECDH symmetry with the remote parties'
//! published private keys, and signatures use a substitute key whose certificate verifiers
//! must be given (see [`keys`]).
//!
//! # Transports and the rig process
//!
//! [`transport`]: the [`transport::Link`] interface (frames in, frames out, an error kind)
//! and its implementations — serial ports, CAN over SLCAN adapters with ISO-TP, SocketCAN
//! where the kernel has it, ZigBee dongles (TI ZNP, Silicon Labs EZSP over ASH) with a ZCL
//! codec, DLMS/COSEM over HDLC (client and server). [`link`]: the QUIC SMWAN link to the
//! gateway. [`rig`]: the `hil-rig run` process (emulated, bridged and adapter devices per
//! port, unplug handling, per-port metrics). Each module says which independent peer its
//! tests talk to.
//!
//! # What is not here
//!
//! Device-to-device commands (PCS01/PCS02 are refused: the GSME holds no credential for a PPMID); GBT segmentation;
//! firmware images sent over the SMWAN link (the in-process transfer and CS06 activation are in
//! [`firmware`]); a future-dated CS06; certificate chains beyond "issued by the CA certificate
//! in the CS02b command"; authorisation of use cases by remote party role (apart from
//! CS02b); the GBCS alert raised on a failed authentication.

pub mod cosem;
pub mod cs;
pub mod der;
pub mod device;
pub mod dlms;
pub mod error;
pub mod firmware;
pub mod fleet;
pub mod keys;
pub mod link;
pub mod models;
pub mod pki;
pub mod rig;
mod serde_map;
pub mod state;
pub mod time;
pub mod transport;
pub mod trust;
pub mod value;
pub mod zcl;

pub use device::{Device, Reply};
pub use error::DeviceError;
pub use fleet::{Fleet, FleetBuilder, Hub, Parties};
pub use hubgate_protocol as protocol;
pub use keys::{DeviceKeys, Identity};
pub use state::{DeviceKind, DeviceState};
pub use trust::TrustedParties;
