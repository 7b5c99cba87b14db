//! Alerts to Users: who receives a device alert, how a future-dated command's outcome is
//! tied back to its request, and the DCC alerts the gateway raises itself.
//!
//! Everything here runs on the response writer thread of [`crate::routing::ResponseSink`],
//! which signs each message with the DSP key and hands it to the durable outbox.
//!
//! # Device alerts: who receives them
//!
//! A device alert goes, as one signed `DeviceAlertMessage` each, to every User that the
//! Registration Data names, today (GB calendar day), as a supplier (`import_supplier`,
//! `export_supplier`, `gas_supplier`) or network operator (`electricity_distributor`,
//! `gas_transporter`) of the device's MPxNs. These are the parties whose credentials a
//! device holds in the trust roles that receive alerts. The device's MPxNs are looked up in
//! the Smart Metering Inventory: its own (`ImportMPxN`, `ExportMPAN`); else those of the
//! device it is associated with (a PPMID or GPF with its meter); else, for a hub, those of
//! the devices associated with it. The User the GBCS alert is addressed to also receives it
//! when it is not the Access Control Broker (the DCC itself), so that a device holding the
//! credentials of a User no longer registered still reaches it. With no registration and an
//! alert addressed to the ACB, nobody receives it (logged). The `ResponseID` of each copy
//! names the device, the receiving User and the device's alert counter.
//!
//! # Future-dated outcomes (`8F66` executed, `8F67` failed)
//!
//! When a command for an SRV whose DUIS future-dated pattern is `Device` or `DSP & Device`
//! gets its immediate response from the device, the gateway remembers the request
//! (RequestID, Service Reference and Variant) under the device and the GBCS originator
//! counter of the command, and how many future-dated instructions the command holds where
//! it can count them (DLMS: the sets of activation date-time attributes). The execution
//! alert repeats that counter: in the DLMS form inside the alert's record octet-string
//! (message code ‖ counter ‖ …), in the GBZ form in its future-dated record. A match is
//! answered to the requesting User alone as a `ResponseMessage` carrying
//! `FutureDatedDeviceAlertMessage`, with the request's `RequestID` and `ResponseID`, its
//! Service Reference and Variant, `InstructionNumber` (the alerts seen for that request so
//! far, this one included) and `TotalCommandInstructions` (the count taken from the command,
//! or the instruction number where the command could not be counted). An alert that matches
//! nothing (a request from before a restart, the ASN.1 form of the credentials update, which
//! carries no counter) goes out as a `DeviceAlertMessage` to the recipients above. At most
//! [`MAX_FUTURE_DATED`] requests are remembered (oldest forgotten first), in memory only.
//!
//! # DCC alerts
//!
//! * Hub connectivity loss: when an SMWAN rig connection ends, every hub it held that no
//!   newer connection took over is reported as a `PowerOutageEvent` with DCC alert code
//!   `AD1`: the loss of a hub's link is what the gateway can observe of a supply outage at
//!   the premises (the SEC's example of a DCC alert is a power outage reported by a
//!   Communications Hub, and SEC F4.9 sends power outage alerts to the electricity network
//!   operator). Recipients: the `electricity_distributor` registered today for the import
//!   MPAN of each electricity meter associated with the hub; one alert per User per hub
//!   event, naming the first such MPAN. The code meaning (`AD1`) is a judgement: the DUIS
//!   table of DCC alert codes is not in the project's sources.
//! * Change of Supplier (SR 6.23, [`crate::cos`]): when the device's CS02b response reports
//!   a supplier cell replaced, a `ChangeOfSupplier` DCC alert naming the 6.23 request
//!   (`ChangeOfSupplierServiceRequestID`) goes to the gaining supplier (the requester) and to
//!   each losing supplier (the prior EUI of the replaced supplier cells, as the device
//!   reports them), with DCC alert code `N42`. The alert type is the DUIS schema's; the code
//!   is a judgement, like `AD1` above: the DUIS table of alert codes is not in the project's
//!   sources. A device that reports nothing replaced (or a future-dated acceptance) raises
//!   none.
//! * A command not delivered to, or not answered by, its device already ends in a Service
//!   Response with `E20`/`E21`. The DCC alert for a failed command (`CommandFailure`) carries
//!   a DSP schedule ID and belongs to DCC-scheduled and DSP-future-dated commands, which the
//!   gateway does not run yet; no DCC alert is raised for `E20`/`E21`.
//!
//! Not done: throttling (`ThrottledAlertSequenceId`/`Count`), anomaly detection on alerts,
//! persistence of the future-dated requests across a restart, DCC alerts other than the
//! power outage.
//!
//! `gateway/tests/alerts.rs` proves, against a running `hubgate serve` with emulated meters
//! and a separate `hil-rig` process: a future-dated tariff's 8F66 reaches the supplier as a
//! `FutureDatedDeviceAlertMessage` with the request's RequestID; an execution alert the
//! gateway cannot tie to a request (sent before a restart) reaches both the supplier and
//! the network operator registered for the premises; killing the rig raises an `AD1`
//! `PowerOutageEvent` for the network operator; each message is valid against the DUIS XSD
//! and its DSP signature verifies with an independent checker.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use hubgate_actors::DeviceAlert;
use hubgate_protocol::catalogue::FutureDatedPattern;
use hubgate_protocol::duis::model::header::{RequestId, ServiceReference, ServiceReferenceVariant};
use hubgate_protocol::duis::model::response::{
    DccAlertCode, DccAlertMessage, DeviceAlertMessage, FutureDatedAlertCode,
    FutureDatedDeviceAlert, Response, ResponseBody, ResponseCode, ResponseHeader, ResponsePayload,
};
use hubgate_protocol::duis::model::xsd::DateTime;
use hubgate_protocol::duis::xml::Document;
use hubgate_protocol::gbcs::frame;
use hubgate_protocol::gbcs::payload::{self, Payload, data::Data, dlms, gbz};
use hubgate_protocol::hex;

use crate::clock::rfc3339_ms;
use crate::delivery::Kind;
use crate::ingress::respond::{Answer, Responder};
use crate::inventory::{DeviceType, Eui, Inventory, InventoryView as _};
use crate::metric_name;
use crate::registration::{Date, Fuel, Mpxn, PartyRole, RegistrationData};

/// Most future-dated requests remembered for matching their execution alerts.
pub const MAX_FUTURE_DATED: usize = 65_536;

/// (class, attribute) of the COSEM attributes that hold an activation date-time: each set
/// of one in a future-dated command is one instruction with its own execution alert.
const ACTIVATION_ATTRIBUTES: &[(u16, i8)] = &[(20, 10), (113, 7), (9000, 6), (111, 13)];

/// Party roles whose Users receive device alerts: suppliers and network operators.
const ALERTED_ROLES: [PartyRole; 5] = [
    PartyRole::ImportSupplier,
    PartyRole::ExportSupplier,
    PartyRole::GasSupplier,
    PartyRole::ElectricityDistributor,
    PartyRole::GasTransporter,
];

/// One signed message for one User.
pub type Signed = ([u8; 8], Vec<u8>, Kind);

/// Counts an alert message queued for a User.
fn count(kind: &'static str) {
    metrics::counter!(metric_name::ALERTS_TOTAL, "kind" => kind).increment(1);
}

/// `response` signed for `user` as an alert of `kind` (a Device Alert, or a DCC Alert
/// otherwise), counted; `None`, logged, when it cannot be signed.
fn sign(responder: &Responder, user: [u8; 8], response: &Response, kind: Kind) -> Option<Signed> {
    let (label, what) = match kind {
        Kind::DeviceAlert => ("device", "a Device Alert could not be signed"),
        _ => ("dcc", "a DCC Alert could not be signed"),
    };
    match responder.sign_response(response) {
        Ok(body) => {
            count(label);
            Some((user, body, kind))
        }
        Err(e) => {
            tracing::error!(error = %e, "{what}");
            None
        }
    }
}

/// Who receives alerts about a device: the inventory (device → MPxN) and the registration
/// data (MPxN → Users).
#[derive(Clone)]
pub struct Recipients {
    inventory: Arc<Inventory>,
    registration: Arc<RegistrationData>,
    acb: [u8; 8],
}

impl std::fmt::Debug for Recipients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recipients")
            .field("acb", &hex::eui(&self.acb))
            .finish_non_exhaustive()
    }
}

impl Recipients {
    /// Over the inventory and registration data; `acb` is the Access Control Broker, whose
    /// alerts are for the DCC itself.
    pub fn new(
        inventory: Arc<Inventory>,
        registration: Arc<RegistrationData>,
        acb: [u8; 8],
    ) -> Recipients {
        Recipients {
            inventory,
            registration,
            acb,
        }
    }

    /// The MPxNs of `device`: its own, else its associated device's, else (a hub) those of
    /// the devices associated with it.
    fn mpxns_of(&self, device: &[u8; 8]) -> Vec<String> {
        let id = Eui(*device);
        let found = self.inventory.read(|v| {
            let Some(d) = v.device(&id)? else {
                return Ok(Vec::new());
            };
            let own: Vec<String> = d.mpxns().map(str::to_owned).collect();
            if !own.is_empty() {
                return Ok(own);
            }
            if let Some(meter) = d.associated_with
                && let Some(m) = v.device(&meter)?
            {
                let theirs: Vec<String> = m.mpxns().map(str::to_owned).collect();
                if !theirs.is_empty() {
                    return Ok(theirs);
                }
            }
            let mut behind = Vec::new();
            for other in v.associated_to(&id)? {
                if let Some(m) = v.device(&other)? {
                    behind.extend(m.mpxns().map(str::to_owned));
                }
            }
            Ok(behind)
        });
        match found {
            Ok(mut v) => {
                v.sort();
                v.dedup();
                v
            }
            Err(e) => {
                tracing::error!(device = %hex::eui_duis(device), error = %e, "inventory read for alert recipients failed");
                Vec::new()
            }
        }
    }

    /// The Users registered on `now_ms`'s GB day as a supplier or network operator of
    /// `device`'s MPxNs, in a stable order, without repeats.
    pub fn registered_for(&self, device: &[u8; 8], now_ms: i64) -> Vec<[u8; 8]> {
        let Ok(today) = Date::gb_from_unix_ms(now_ms) else {
            return Vec::new();
        };
        let snapshot = self.registration.snapshot();
        let mut users = Vec::new();
        for m in self.mpxns_of(device) {
            let Ok(mpxn) = m.parse::<Mpxn>() else {
                continue;
            };
            for role in ALERTED_ROLES {
                if let Some(r) = snapshot.in_force(mpxn, role, today)
                    && !users.contains(&r.party())
                {
                    users.push(r.party());
                }
            }
        }
        users
    }

    /// The Users a device alert goes to: the registered suppliers and network operators,
    /// and the GBCS recipient unless it is the ACB.
    pub fn for_device_alert(&self, a: &DeviceAlert, now_ms: i64) -> Vec<[u8; 8]> {
        let mut users = self.registered_for(&a.device, now_ms);
        if a.recipient != self.acb && !users.contains(&a.recipient) {
            users.push(a.recipient);
        }
        users
    }

    /// For a hub that went away: each electricity network operator registered today for the
    /// import MPAN of an electricity meter associated with the hub, with the first such MPAN.
    pub fn for_power_outage(&self, hub: &[u8; 8], now_ms: i64) -> Vec<([u8; 8], String)> {
        let Ok(today) = Date::gb_from_unix_ms(now_ms) else {
            return Vec::new();
        };
        let id = Eui(*hub);
        let mpans = self.inventory.read(|v| {
            let mut mpans = Vec::new();
            for other in v.associated_to(&id)? {
                if let Some(m) = v.device(&other)?
                    && m.device_type == DeviceType::Esme
                    && let Some(mpan) = m.import_mpxn
                {
                    mpans.push(mpan);
                }
            }
            Ok(mpans)
        });
        let mpans = match mpans {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(hub = %hex::eui_duis(hub), error = %e, "inventory read for a power outage alert failed");
                return Vec::new();
            }
        };
        let snapshot = self.registration.snapshot();
        let mut out: Vec<([u8; 8], String)> = Vec::new();
        for m in mpans {
            let Ok(mpxn) = m.parse::<Mpxn>() else {
                continue;
            };
            if mpxn.fuel() != Fuel::Electricity {
                continue;
            }
            if let Some(r) = snapshot.in_force(mpxn, PartyRole::ElectricityDistributor, today)
                && !out.iter().any(|(u, _)| *u == r.party())
            {
                out.push((r.party(), m));
            }
        }
        out
    }
}

/// A request whose device will report its execution later.
#[derive(Debug, Clone)]
struct Awaited {
    request_id: RequestId,
    service: (ServiceReference, ServiceReferenceVariant),
    total: Option<u16>,
    seen: u16,
}

/// Future-dated requests by (device, command counter), bounded, oldest forgotten first.
#[derive(Debug, Default)]
pub struct FutureDated {
    by_key: HashMap<([u8; 8], u64), Awaited>,
    order: VecDeque<([u8; 8], u64)>,
}

impl FutureDated {
    /// Requests remembered.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Remembers a request whose command (to `device`, GBCS counter `counter`) the device
    /// accepted; `total` is the number of future-dated instructions it holds, if known.
    pub fn remember(
        &mut self,
        device: [u8; 8],
        counter: u64,
        request_id: RequestId,
        service: (ServiceReference, ServiceReferenceVariant),
        total: Option<u16>,
    ) {
        let key = (device, counter);
        if self
            .by_key
            .insert(
                key,
                Awaited {
                    request_id,
                    service,
                    total,
                    seen: 0,
                },
            )
            .is_none()
        {
            self.order.push_back(key);
        }
        while self.by_key.len() > MAX_FUTURE_DATED {
            match self.order.pop_front() {
                Some(old) => {
                    self.by_key.remove(&old);
                }
                None => break,
            }
        }
    }

    /// Takes one execution alert for (device, counter): the request, this instruction's
    /// number and the total. The request is forgotten once every instruction has reported.
    fn take(&mut self, device: [u8; 8], counter: u64) -> Option<(Awaited, u16, u16)> {
        let key = (device, counter);
        let a = self.by_key.get_mut(&key)?;
        a.seen = a.seen.saturating_add(1);
        let number = a.seen;
        let total = a.total.unwrap_or(number).max(number);
        let out = (a.clone(), number, total);
        if a.total.is_some_and(|t| number >= t) {
            self.by_key.remove(&key);
            self.order.retain(|k| *k != key);
        }
        Some(out)
    }
}

/// Whether an SRV's requests may be executed by the device at a later time.
pub fn device_future_datable(srv: &str) -> bool {
    hubgate_protocol::catalogue::Catalogue::try_get()
        .ok()
        .and_then(|c| c.srv(srv))
        .is_some_and(|s| {
            matches!(
                s.future_dated,
                FutureDatedPattern::Device | FutureDatedPattern::DspAndDevice
            )
        })
}

/// The number of future-dated instructions in a GBCS command, where it can be counted: the
/// sets of activation date-time attributes of a DLMS command. `None` otherwise.
pub fn count_instructions(command: &[u8]) -> Option<u16> {
    let msg = frame::parse(command).ok()?;
    let decoded = payload::decode_with(msg.content, payload::Context::for_message(&msg)).ok()?;
    let Payload::Dlms(dlms::Apdu::AccessRequest(req)) = decoded else {
        return None;
    };
    let n = req
        .specifications
        .iter()
        .filter(|s| match s {
            dlms::AccessRequestSpec::Set(d) => ACTIVATION_ATTRIBUTES.contains(&(d.class_id, d.id)),
            _ => false,
        })
        .count();
    u16::try_from(n).ok().filter(|n| *n > 0)
}

/// A future-dated execution alert: its code, and the command's message code and originator
/// counter when the alert carries them.
fn execution_alert(bytes: &[u8]) -> Option<(FutureDatedAlertCode, Option<(u16, u64)>)> {
    let msg = frame::parse(bytes).ok()?;
    let decoded = payload::decode_with(msg.content, payload::Context::for_message(&msg)).ok()?;
    let as_code = |c: u16| match c {
        0x8F66 => Some(FutureDatedAlertCode::Executed),
        0x8F67 => Some(FutureDatedAlertCode::Failed),
        _ => None,
    };
    match decoded {
        Payload::Gbz(g) => {
            let code = as_code(g.alert?.code)?;
            let record = match g.body {
                gbz::GbzBody::FutureDated(fd) => Some((fd.message_code, fd.originator_counter)),
                _ => None,
            };
            Some((code, record))
        }
        Payload::Dlms(dlms::Apdu::DataNotification(n)) => {
            let Data::Structure(members) = &n.body else {
                return None;
            };
            let code = match members.first() {
                Some(Data::LongUnsigned(c)) => as_code(*c)?,
                _ => return None,
            };
            let record = members.iter().skip(2).find_map(|m| match m {
                Data::OctetString(r) if r.len() >= 10 => {
                    let mc = u16::from_be_bytes([r[0], r[1]]);
                    let mut ctr = [0u8; 8];
                    ctr.copy_from_slice(&r[2..10]);
                    Some((mc, u64::from_be_bytes(ctr)))
                }
                _ => None,
            });
            Some((code, record))
        }
        // The ASN.1 credentials-update form: the code only, no counter.
        Payload::Asn1(_) => {
            let code = crate::routing::alert_code(bytes).and_then(as_code)?;
            Some((code, None))
        }
        Payload::Dlms(_) => None,
    }
}

/// The messages for one device alert: a `FutureDatedDeviceAlertMessage` to the requester
/// when it reports on a remembered future-dated request, else a `DeviceAlertMessage` to each
/// recipient.
pub fn device_alert(
    responder: &Responder,
    recipients: Option<&Recipients>,
    future: &mut FutureDated,
    a: &DeviceAlert,
    code: u16,
    now_ms: i64,
) -> Vec<Signed> {
    if let Some((fd_code, record)) = execution_alert(&a.bytes) {
        let matched = record.and_then(|(_, counter)| future.take(a.device, counter));
        if let Some((req, number, total)) = matched {
            let answer = Answer {
                request_id: Some(req.request_id),
                with_response_id: true,
                code: ResponseCode::I0,
                service: Some(req.service),
                payload: Some(ResponsePayload::FutureDatedDeviceAlertMessage(
                    FutureDatedDeviceAlert {
                        alert_code: fd_code,
                        gbcs_payload: a.bytes.clone(),
                        instruction_number: number,
                        total_command_instructions: total,
                    },
                )),
            };
            return match responder.signed(&answer, now_ms) {
                Ok(body) => {
                    count("future_dated");
                    vec![(req.request_id.originator, body, Kind::DeviceAlert)]
                }
                Err(e) => {
                    tracing::error!(error = %e, "a future-dated alert could not be signed");
                    Vec::new()
                }
            };
        }
        tracing::info!(device = %hex::eui_duis(&a.device), "a future-dated execution alert for no remembered request: sent as a device alert");
    }
    let users = match recipients {
        Some(r) => r.for_device_alert(a, now_ms),
        None => vec![a.recipient],
    };
    if users.is_empty() {
        tracing::warn!(device = %hex::eui_duis(&a.device), "a device alert with no registered User to receive it");
    }
    let Ok(date) = DateTime::new(&rfc3339_ms(now_ms)) else {
        return Vec::new();
    };
    users
        .into_iter()
        .filter_map(|user| {
            let response = Response::new(
                ResponseHeader {
                    request_id: None,
                    response_id: Some(RequestId {
                        originator: a.device,
                        target: user,
                        counter: a.counter,
                    }),
                    response_code: ResponseCode::I0,
                    response_date_time: date.clone(),
                },
                ResponseBody::DeviceAlertMessage(DeviceAlertMessage {
                    alert_code: code.to_be_bytes().to_vec(),
                    throttled_alert_sequence_id: None,
                    throttled_alert_count: None,
                    gbcs_payload: a.bytes.clone(),
                }),
            );
            sign(responder, user, &response, Kind::DeviceAlert)
        })
        .collect()
}

/// The DCC alert code of the Change of Supplier alerts (see the module documentation).
pub const CHANGE_OF_SUPPLIER_CODE: &str = "N42";

/// The `ChangeOfSupplier` DCC alerts for a finished SR 6.23 request `request_id` whose device
/// answered `response` (see the module documentation): one to the requester and one to each
/// supplier whose certificates the device replaced.
pub fn change_of_supplier(
    responder: &Responder,
    request_id: &RequestId,
    response: &[u8],
    now_ms: i64,
) -> Vec<Signed> {
    let Some(losing) = crate::cos::replaced_suppliers(response) else {
        tracing::info!(request = %request_id, "change of supplier: the device replaced no supplier credential; no alert");
        return Vec::new();
    };
    let (Ok(date), Some(code)) = (
        DateTime::new(&rfc3339_ms(now_ms)),
        DccAlertCode::parse(CHANGE_OF_SUPPLIER_CODE),
    ) else {
        return Vec::new();
    };
    let mut users = vec![request_id.originator];
    for old in losing {
        if !users.contains(&old) {
            users.push(old);
        }
    }
    let xml = format!(
        "<sr:DCCAlert xmlns:sr=\"{}\"><sr:ChangeOfSupplier><sr:ChangeOfSupplierServiceRequestID>{request_id}</sr:ChangeOfSupplierServiceRequestID></sr:ChangeOfSupplier></sr:DCCAlert>",
        hubgate_protocol::duis::NS_SR,
    );
    let dcc_alert = match Document::parse_str(&xml) {
        Ok(d) => d.root,
        Err(e) => {
            tracing::error!(error = %e, "a change of supplier alert could not be built");
            return Vec::new();
        }
    };
    users
        .into_iter()
        .filter_map(|user| {
            let response = Response::new(
                ResponseHeader {
                    request_id: None,
                    response_id: None,
                    response_code: ResponseCode::I0,
                    response_date_time: date.clone(),
                },
                ResponseBody::DccAlertMessage(DccAlertMessage {
                    dcc_alert_code: code,
                    throttled_alert_sequence_id: None,
                    throttled_alert_count: None,
                    dcc_alert: dcc_alert.clone(),
                }),
            );
            sign(responder, user, &response, Kind::DccAlert)
        })
        .collect()
}

/// `AD1` `PowerOutageEvent` DCC alerts for hubs whose SMWAN connection ended at `lost_ms`.
pub fn hubs_lost(
    responder: &Responder,
    recipients: Option<&Recipients>,
    hubs: &[[u8; 8]],
    lost_ms: i64,
    now_ms: i64,
) -> Vec<Signed> {
    let Some(recipients) = recipients else {
        return Vec::new();
    };
    let (Ok(date), Some(code)) = (
        DateTime::new(&rfc3339_ms(now_ms)),
        DccAlertCode::parse("AD1"),
    ) else {
        return Vec::new();
    };
    let start = rfc3339_ms(lost_ms);
    let mut out = Vec::new();
    for hub in hubs {
        let users = recipients.for_power_outage(hub, now_ms);
        if users.is_empty() {
            tracing::info!(hub = %hex::eui_duis(hub), "hub connection lost; no electricity network operator registered to alert");
        }
        for (user, mpan) in users {
            let xml = format!(
                "<sr:DCCAlert xmlns:sr=\"{}\"><sr:PowerOutageEvent><sr:CommsHubDeviceID>{}</sr:CommsHubDeviceID><sr:StartDateTime>{start}</sr:StartDateTime><sr:MPxN>{mpan}</sr:MPxN></sr:PowerOutageEvent></sr:DCCAlert>",
                hubgate_protocol::duis::NS_SR,
                hex::eui_duis(hub),
            );
            let dcc_alert = match Document::parse_str(&xml) {
                Ok(d) => d.root,
                Err(e) => {
                    tracing::error!(error = %e, "a power outage alert could not be built");
                    continue;
                }
            };
            let response = Response::new(
                ResponseHeader {
                    request_id: None,
                    response_id: None,
                    response_code: ResponseCode::I0,
                    response_date_time: date.clone(),
                },
                ResponseBody::DccAlertMessage(DccAlertMessage {
                    dcc_alert_code: code,
                    throttled_alert_sequence_id: None,
                    throttled_alert_count: None,
                    dcc_alert,
                }),
            );
            if let Some(signed) = sign(responder, user, &response, Kind::DccAlert) {
                out.push(signed);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> RequestId {
        RequestId::new([1; 8], [2; 8], n)
    }

    fn service() -> (ServiceReference, ServiceReferenceVariant) {
        let r = hubgate_protocol::duis::model::header::RequestHeader::new(
            id(1),
            hubgate_protocol::duis::model::header::CommandVariant::SignedCommand,
            "1.1.1",
        )
        .expect("header");
        (r.service_reference, r.service_reference_variant)
    }

    #[test]
    fn future_dated_requests_are_numbered_and_forgotten_after_the_last_instruction() {
        let mut f = FutureDated::default();
        f.remember([3; 8], 7, id(7), service(), Some(2));
        let (_, n, t) = f.take([3; 8], 7).expect("first");
        assert_eq!((n, t), (1, 2));
        let (_, n, t) = f.take([3; 8], 7).expect("second");
        assert_eq!((n, t), (2, 2));
        assert!(f.take([3; 8], 7).is_none());
        assert!(f.take([4; 8], 7).is_none());
    }

    #[test]
    fn the_table_is_bounded() {
        let mut f = FutureDated::default();
        for c in 0..(MAX_FUTURE_DATED as u64 + 10) {
            f.remember([3; 8], c, id(c), service(), None);
        }
        assert_eq!(f.len(), MAX_FUTURE_DATED);
        assert!(f.take([3; 8], 0).is_none());
        let (_, n, t) = f.take([3; 8], MAX_FUTURE_DATED as u64 + 9).expect("newest");
        assert_eq!((n, t), (1, 1));
    }

    #[test]
    fn garbage_is_not_an_execution_alert() {
        assert!(execution_alert(&[]).is_none());
        assert!(execution_alert(&[0xDF, 0x09, 0x03, 0x00]).is_none());
        assert!(count_instructions(&[0xDD, 0x00]).is_none());
    }
}
