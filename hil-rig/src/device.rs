//! The device: GBCS command checks, dispatch to the use cases, and framing of responses and
//! alerts (PROTOCOLS.md §4.7–4.10).
//!
//! # What `handle` does with a command
//!
//! 1. Parses the GBCS frame; it must be a command (CRA 1) whose recipient is this device.
//! 2. Checks the MAC of a `DD` command: ECDH between the ACB key-agreement certificate the
//!    device holds and its own KA key, KDF from the grouping header, GMAC over the APDU.
//! 3. Checks a present signature with the digital-signature certificate the device holds for
//!    the grouping-header originator. A command carrying neither is refused; a critical use
//!    case without a signature is refused.
//! 4. Checks that the originator counter is greater than the last one accepted from that
//!    remote party, then records it.
//! 5. Executes the use case and answers as §4.10 says: a device-signed `DF` response for a
//!    signed command (and for CS02b ACB-by-ACB), a `DD` response MAC'd between the device and
//!    the recipient (the command's originator) otherwise. Sensitive payload parts are
//!    encrypted (§4.9) for the supplementary remote party if there is one, else the
//!    recipient. The response header carries the device's date-time for the use cases whose
//!    RTDS responses do.
//!
//! A command failing steps 1–4 is not executed and gets no response (GBCS: the device
//! discards it): `handle` returns the [`DeviceError`] and writes it to the security log.
//!
//! Future-dated commands get their immediate response; the work is kept in
//! [`DeviceState::pending`] and done by [`Device::tick`] once due, which returns the
//! future-dated execution alerts (8F66 success, 8F67 failure): critical, so device-signed.
//! Non-critical alerts (CS14, generic 0x1001 alerts) are MAC'd.

use std::sync::Arc;

use hubgate_protocol::crypto::{self, DerivedKey, DerivedKeyCache, cipher, gmac};
use hubgate_protocol::gbcs::frame::{self, MAC_AAD_PREFIX, encode_apdu};
use hubgate_protocol::gbcs::payload::{self, dlms::LongInvokeId, gbz};
use hubgate_protocol::gbcs::{
    CosemDateTime, Cra, GroupingHeader, LenForm, OtherInfo, SignatureField, Supplementary,
};
use hubgate_protocol::hex;

use crate::error::DeviceError;
use crate::keys::DeviceKeys;
use crate::pki::KeyUsage;
use crate::state::{DeviceKind, DeviceState, Pending};
use crate::trust::role;
use crate::value::Value;
use crate::{cs, dlms, time, zcl};

/// Message codes whose RTDS responses carry a date-time in the grouping header (the same
/// for every response of a use case in the corpus).
pub const RESPONSE_DATE_TIME_CODES: &[u16] = &[
    0x0007, 0x0012, 0x0019, 0x001a, 0x001b, 0x001f, 0x0026, 0x0027, 0x0028, 0x0029, 0x002b, 0x002c,
    0x002d, 0x0039, 0x0043, 0x0054, 0x006b, 0x006c, 0x006d, 0x006f, 0x0075, 0x0097, 0x00a2, 0x00a3,
    0x00b7, 0x00bc, 0x00c7, 0x0102, 0x0103, 0x0104, 0x0105, 0x0107, 0x0109, 0x0125, 0x0126,
];

/// Message codes of critical use cases (GBCS message type `SME.C.C`): a command for one of
/// these must carry the remote party's signature. The credentials updates (CS02b, CS02g)
/// are among them: every one of the corpus is signed except the ACB's own (`0104`).
pub const CRITICAL_CODES: &[u16] = &[
    0x000a, 0x000c, 0x000f, 0x0012, 0x0019, 0x001a, 0x001b, 0x001c, 0x0020, 0x0043, 0x0046, 0x004b,
    0x004f, 0x0051, 0x0053, 0x0062, 0x0068, 0x006b, 0x006c, 0x006d, 0x006e, 0x006f, 0x0070, 0x007c,
    0x007e, 0x007f, 0x0081, 0x0085, 0x0086, 0x00a2, 0x00a3, 0x00af, 0x00b3, 0x00b7, 0x00c0, 0x00c2,
    0x00c7, 0x00ca, 0x00d7, 0x00d8, 0x00db, 0x0102, 0x0103, 0x0105, 0x0107, 0x0109, 0x011e, 0x0125,
    0x0126,
];

/// CS02b update of the network operator's credentials by the network operator.
const CS02B_NO_BY_NO: u16 = 0x0103;
/// CS02b update of the supplier's credentials by the Transitional CoS party (Change of
/// Supplier).
const CS02B_SUPPLIER_BY_TRANS_COS: u16 = 0x0107;

/// Whether a party in trust `role` may sign critical use case `code`. The critical use cases
/// are the supplier's (the ACB signs some on a User's behalf for non-meters), except that a
/// network operator signs the update of its own credentials and the Transitional CoS party
/// the supplier's at a Change of Supplier; neither may sign anything else.
fn may_sign_critical(role: Option<u8>, code: u16) -> bool {
    match role {
        Some(role::NETWORK_OPERATOR) => code == CS02B_NO_BY_NO,
        Some(role::TRANSITIONAL_COS) => code == CS02B_SUPPLIER_BY_TRANS_COS,
        _ => true,
    }
}

/// GCS14 Read GSME prepayment data (from the GPF).
const GCS14: u16 = 0x0075;

/// CS02b update by the ACB: a MAC-only command answered with a signed response.
const CS02B_ACB_BY_ACB: u16 = 0x0104;

/// Alert message codes.
pub mod alert_code {
    /// Future-dated execution alert, DLMS form.
    pub const FUTURE_DATED_DLMS: u16 = 0x00cc;
    /// Future-dated execution alert, GBZ form.
    pub const FUTURE_DATED_GBZ: u16 = 0x00cd;
    /// Future-dated credentials update alert (ASN.1).
    pub const FUTURE_DATED_CREDENTIALS: u16 = 0x00cb;
    /// CS14 device log change alert.
    pub const CS14: u16 = 0x0018;
    /// DBCH09: the CHF's sub-GHz configuration changed.
    pub const DBCH09: u16 = 0x0113;
    /// Generic critical alert.
    pub const GENERIC_CRITICAL: u16 = 0x1000;
    /// Generic non-critical alert.
    pub const GENERIC_NON_CRITICAL: u16 = 0x1001;
}

/// Alert codes (the values inside alert payloads).
pub mod alert {
    /// Future-dated command executed.
    pub const FUTURE_DATED_SUCCESS: u16 = 0x8f66;
    /// Future-dated command failed.
    pub const FUTURE_DATED_FAILURE: u16 = 0x8f67;
    /// CHF device log changed (CS14).
    pub const DEVICE_LOG_CHANGED: u16 = 0x8f12;
    /// CHF sub-GHz configuration changed (DBCH09).
    pub const SUB_GHZ_CONFIGURATION_CHANGED: u16 = 0x8f2a;
}

/// What the device sends back for a command it accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The GBCS response.
    pub response: Vec<u8>,
    /// Alerts the command caused (e.g. CS14 after a CHF device log change), in order.
    pub alerts: Vec<Vec<u8>>,
    /// When a future-dated part of the command falls due (device clock, Unix seconds).
    pub due: Option<i64>,
}

/// The body of an alert, framed once its counter is known.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AlertBody {
    /// A DLMS Data-Notification with this body.
    Dlms(Value),
    /// A GBZ alert with no components, or with the future-dated record.
    Gbz {
        code: u16,
        timestamp: u32,
        record: Option<gbz::FutureDatedAlert>,
    },
    /// An ASN.1 payload.
    Asn1(Vec<u8>),
}

/// An alert to send.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AlertSpec {
    pub message_code: u16,
    pub critical: bool,
    pub recipient: [u8; 8],
    pub body: AlertBody,
}

/// What a use case produced.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub payload: Vec<u8>,
    pub alerts: Vec<AlertSpec>,
    pub pending: Option<Pending>,
}

/// What use cases know about the command being executed.
pub(crate) struct Ctx {
    /// Device clock, Unix seconds.
    pub now: i64,
    /// Message code.
    pub code: u16,
    /// Originator counter.
    pub counter: u64,
    /// The originator's counter the device held before this command (its floor).
    pub previous_counter: Option<u64>,
    /// The remote party that sent the command.
    pub originator: [u8; 8],
    /// This device.
    pub me: [u8; 8],
    /// The supplementary remote party, for commands the ACB sends on a User's behalf.
    pub on_behalf_of: Option<[u8; 8]>,
    /// Whether the command names an unknown remote party by its certificate (URP).
    pub unknown_remote_party: bool,
    /// Whether to answer with the error layout (fault injection).
    pub fault: bool,
    /// The payload encryption key for the response, when one could be derived.
    pub encryption_key: Option<DerivedKey>,
}

impl Ctx {
    /// Encrypts a sensitive payload part: `31 00000000 ‖ ciphertext ‖ tag(12)`.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, DeviceError> {
        let key = self
            .encryption_key
            .as_ref()
            .ok_or(DeviceError::UnknownRemoteParty {
                party: hex::eui(&self.on_behalf_of.unwrap_or(self.originator)),
                usage: "ka",
            })?;
        let sealed = cipher::encrypt(key, &self.me, plaintext)
            .map_err(|_| DeviceError::Internal("payload encryption"))?;
        let mut out = Vec::with_capacity(5 + sealed.len());
        out.extend_from_slice(&payload::SECURITY_HEADER);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Encrypts and returns the ciphertext and tag separately (GBZ components).
    pub fn encrypt_split(&self, plaintext: &[u8]) -> Result<(Vec<u8>, [u8; 12]), DeviceError> {
        let block = self.encrypt(plaintext)?;
        let body = &block[payload::SECURITY_HEADER.len()..];
        let split = body.len() - cipher::TAG_LEN;
        let mut tag = [0u8; 12];
        tag.copy_from_slice(&body[split..]);
        Ok((body[..split].to_vec(), tag))
    }

    /// The recipient of the device's answer and alerts about this command.
    pub fn remote_party(&self) -> [u8; 8] {
        self.originator
    }
}

/// An emulated device: state, keys, and a shared cache of ECDH results.
pub struct Device {
    state: DeviceState,
    keys: DeviceKeys,
    cache: Arc<DerivedKeyCache>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("eui", &hex::eui(&self.state.eui))
            .field("kind", &self.state.kind)
            .finish_non_exhaustive()
    }
}

impl Device {
    /// Puts a device together. The state's EUI must be the keys' EUI.
    pub fn from_parts(
        state: DeviceState,
        keys: DeviceKeys,
        cache: Arc<DerivedKeyCache>,
    ) -> Result<Self, DeviceError> {
        if state.eui != keys.eui() {
            return Err(DeviceError::Internal(
                "state and keys are for different EUIs",
            ));
        }
        Ok(Device { state, keys, cache })
    }

    /// Splits the device into its serialisable state and its keys (to passivate it).
    pub fn into_parts(self) -> (DeviceState, DeviceKeys) {
        (self.state, self.keys)
    }

    /// The device EUI.
    pub fn eui(&self) -> [u8; 8] {
        self.state.eui
    }

    /// The kind of device.
    pub fn kind(&self) -> DeviceKind {
        self.state.kind
    }

    /// The state.
    pub fn state(&self) -> &DeviceState {
        &self.state
    }

    /// The state, mutably (to seed registers, inject faults, …).
    pub fn state_mut(&mut self) -> &mut DeviceState {
        &mut self.state
    }

    /// The keys.
    pub fn keys(&self) -> &DeviceKeys {
        &self.keys
    }

    /// The device clock for a caller clock `now`.
    pub fn clock(&self, now: i64) -> i64 {
        now.saturating_add(self.state.clock_offset)
    }

    /// The earliest due time of a pending future-dated command (device clock).
    pub fn next_due(&self) -> Option<i64> {
        self.state.pending.iter().map(|p| p.due).min()
    }

    /// Handles one GBCS command at caller time `now` (Unix seconds). See the module
    /// documentation for the checks and the answer.
    pub fn handle(&mut self, command: &[u8], now: i64) -> Result<Reply, DeviceError> {
        let device_now = self.clock(now);
        match self.process(command, device_now) {
            Ok(reply) => Ok(reply),
            Err(e) => {
                self.state
                    .security_log
                    .push(device_now, e.kind(), e.to_string());
                Err(e)
            }
        }
    }

    /// Runs the future-dated commands due at caller time `now` and returns their alerts.
    pub fn tick(&mut self, now: i64) -> Result<Vec<Vec<u8>>, DeviceError> {
        let device_now = self.clock(now);
        let mut due = Vec::new();
        let mut i = 0;
        while i < self.state.pending.len() {
            if self.state.pending[i].due <= device_now {
                due.push(self.state.pending.remove(i));
            } else {
                i += 1;
            }
        }
        due.sort_by_key(|p| p.due);
        let mut alerts = Vec::new();
        for p in due {
            let specs = match &p.work {
                crate::state::PendingWork::Dlms { .. } => dlms::run_pending(&mut self.state, &p),
                crate::state::PendingWork::Zcl { .. } => zcl::run_pending(&mut self.state, &p),
                crate::state::PendingWork::Credentials { .. } => {
                    cs::run_pending(&mut self.state, &p, device_now)
                }
            };
            self.state.event_log.push(
                device_now,
                "future-dated-executed",
                format!(
                    "message code {:#06x} counter {} from {}",
                    p.message_code,
                    p.counter,
                    hex::eui(&p.originator)
                ),
            );
            for spec in specs {
                alerts.push(self.frame_alert(&spec)?);
            }
        }
        Ok(alerts)
    }

    /// Raises a generic alert (`0x1000` critical, device-signed; `0x1001` non-critical,
    /// MAC'd) with `code` to the configured alert recipient (default: the supplier): a DLMS
    /// Data-Notification from the ESME and CHF, a GBZ alert from the ZigBee devices. A GSME or
    /// GPF also records the event in its general event log (read by CS10a).
    pub fn raise_alert(
        &mut self,
        code: u16,
        critical: bool,
        now: i64,
    ) -> Result<Vec<u8>, DeviceError> {
        let device_now = self.clock(now);
        let recipient = self
            .state
            .alert_recipient
            .or_else(|| self.state.trusted.eui_of(role::SUPPLIER))
            .ok_or(DeviceError::Internal(
                "no alert recipient and no supplier credential",
            ))?;
        let body = match self.state.kind {
            DeviceKind::Gsme | DeviceKind::Gpf | DeviceKind::Ppmid | DeviceKind::Ihd => {
                AlertBody::Gbz {
                    code,
                    timestamp: time::zigbee_from_unix(device_now),
                    record: None,
                }
            }
            _ => AlertBody::Dlms(Value::Structure(vec![
                Value::LongUnsigned(code),
                Value::OctetString(time::cosem_from_unix(device_now).to_vec()),
            ])),
        };
        let spec = AlertSpec {
            message_code: if critical {
                alert_code::GENERIC_CRITICAL
            } else {
                alert_code::GENERIC_NON_CRITICAL
            },
            critical,
            recipient,
            body,
        };
        let alert = self.frame_alert(&spec)?;
        if let Some(m) = self.state.zigbee_mut() {
            let timestamp = time::zigbee_from_unix(device_now);
            m.log_event(crate::zcl::EVENT_LOG, code, timestamp, &[]);
        }
        Ok(alert)
    }

    fn process(&mut self, command: &[u8], now: i64) -> Result<Reply, DeviceError> {
        let msg = frame::parse(command)?;
        let h = msg.header;
        if h.cra != Cra::Command {
            return Err(DeviceError::NotACommand(h.cra.byte()));
        }
        if h.recipient != self.state.eui {
            return Err(DeviceError::NotAddressedToMe {
                to: hex::eui(&h.recipient),
                me: hex::eui(&self.state.eui),
            });
        }
        let code = h.other_info.message_code;
        let orig = h.originator;
        // Only remote parties the device holds credentials for may command it (so commands
        // from other devices, such as PPMID to GSME, are refused here).
        if self.state.trusted.role_of(&orig).is_none() {
            return Err(DeviceError::UnknownRemoteParty {
                party: hex::eui(&orig),
                usage: "ds",
            });
        }
        let mac_ok = match msg.mac {
            None => false,
            Some(received) => {
                let acb = self
                    .state
                    .trusted
                    .certificate_of_role(role::ACB, KeyUsage::KeyAgreement)
                    .map(|c| c.peer_key().clone())
                    .ok_or(DeviceError::UnknownRemoteParty {
                        party: "ACB".into(),
                        usage: "ka",
                    })?;
                let other = crypto::OtherInfo::new(&orig, h.cra.byte(), h.counter, &h.recipient);
                let key = self.keys.derive(&acb, &other, &self.cache)?;
                gmac::verify(&key, &orig, &[&MAC_AAD_PREFIX, msg.apdu()], received)
                    .map_err(|_| DeviceError::MacInvalid)?;
                true
            }
        };
        let signed = match msg.signature {
            SignatureField::Present(sig) => {
                let party = hex::eui(&orig);
                let cert = self
                    .state
                    .trusted
                    .certificate(&orig, KeyUsage::DigitalSignature)
                    .ok_or(DeviceError::UnknownRemoteParty {
                        party: party.clone(),
                        usage: "ds",
                    })?;
                cert.verifying_key()
                    .verify(msg.signed_bytes(), sig)
                    .map_err(|_| DeviceError::SignatureInvalid(party))?;
                true
            }
            SignatureField::Null | SignatureField::Absent => false,
        };
        if !mac_ok && !signed {
            return Err(DeviceError::Unauthenticated);
        }
        if CRITICAL_CODES.contains(&code) {
            if !signed {
                return Err(DeviceError::SignatureRequired(code));
            }
            let signer = self.state.trusted.role_of(&orig);
            if !may_sign_critical(signer, code) {
                return Err(DeviceError::SignerRole {
                    code,
                    party: hex::eui(&orig),
                    role: signer.unwrap_or(0),
                });
            }
        }
        let last = self.state.counters.get(&orig).copied();
        if let Some(last) = last
            && h.counter <= last
        {
            return Err(DeviceError::Replay {
                party: hex::eui(&orig),
                last,
                got: h.counter,
            });
        }
        self.state.counters.insert(orig, h.counter);

        let on_behalf_of = h.other_info.supplementary.remote_party();
        let party_v = on_behalf_of.unwrap_or(orig);
        // An unknown remote party (URP) sends its KA certificate; the response then carries
        // a supplementary originator counter of the device's own, which the encryption uses.
        let (enc_counter, embedded) = match h.other_info.supplementary {
            Supplementary::Certificate { certificate, .. } => {
                let c = self.state.alert_counter;
                self.state.alert_counter += 1;
                let peer = hubgate_protocol::smki::Certificate::from_der(certificate)
                    .map_err(|e| crate::error::bad(code, format!("embedded certificate: {e}")))?;
                (c, Some(peer.peer_key().clone()))
            }
            s => (s.originator_counter().unwrap_or(h.counter), None),
        };
        let embedded_peer = embedded.is_some();
        let peer_v = match embedded {
            Some(p) => Some(p),
            None => self
                .state
                .trusted
                .certificate(&party_v, KeyUsage::KeyAgreement)
                .map(|c| c.peer_key().clone()),
        };
        let encryption_key = match peer_v {
            Some(peer) => {
                let other = crypto::OtherInfo::new(
                    &self.state.eui,
                    crypto::kdf::MODE_ENCRYPTION,
                    enc_counter,
                    &party_v,
                );
                self.keys.derive(&peer, &other, &self.cache).ok()
            }
            None => None,
        };
        let ctx = Ctx {
            now,
            code,
            counter: h.counter,
            previous_counter: last,
            originator: orig,
            me: self.state.eui,
            on_behalf_of,
            unknown_remote_party: embedded_peer,
            fault: self.state.faults.contains(&code),
            encryption_key,
        };
        let outcome = self.execute(&ctx, msg.content, h.cra)?;
        self.state.event_log.push(
            now,
            "command",
            format!(
                "message code {code:#06x} ({}) counter {} from {}",
                hubgate_protocol::gbcs::message_codes::use_case(code).unwrap_or("?"),
                h.counter,
                hex::eui(&orig)
            ),
        );
        let due = outcome.pending.as_ref().map(|p| p.due);
        if let Some(p) = outcome.pending {
            self.state.pending.push(p);
        }
        let date_time = RESPONSE_DATE_TIME_CODES.contains(&code).then(|| {
            let mut dt = CosemDateTime::from_bytes(&time::cosem_from_unix(now));
            // GCS14 answers carry the data's clock status: 00 for the GPF's own (reliable)
            // copy, as in the RTDS.
            if code == GCS14 {
                dt.clock_status = 0x00;
            }
            dt
        });
        let supplementary = match h.other_info.supplementary {
            Supplementary::None => Supplementary::None,
            Supplementary::RemoteParty { id } => Supplementary::RemoteParty { id },
            Supplementary::RemotePartyCounter { id, counter } => {
                Supplementary::RemotePartyCounter { id, counter }
            }
            Supplementary::OriginatorCounter { id, counter, .. }
            | Supplementary::Certificate { id, counter, .. } => Supplementary::OriginatorCounter {
                id,
                counter,
                originator_counter: enc_counter,
            },
        };
        let header = GroupingHeader {
            cra: Cra::Response,
            counter: h.counter,
            originator: self.state.eui,
            recipient: orig,
            date_time,
            other_info: OtherInfo {
                message_code: code,
                supplementary,
            },
        };
        let sign_response = signed || code == CS02B_ACB_BY_ACB;
        let response = self.frame(&header, &outcome.payload, sign_response)?;
        let mut alerts = Vec::with_capacity(outcome.alerts.len());
        for spec in &outcome.alerts {
            alerts.push(self.frame_alert(spec)?);
        }
        Ok(Reply {
            response,
            alerts,
            due,
        })
    }

    fn execute(&mut self, ctx: &Ctx, content: &[u8], cra: Cra) -> Result<Outcome, DeviceError> {
        let decoded = payload::decode_with(content, payload::Context::new(cra))
            .map_err(|e| crate::error::bad(ctx.code, e.to_string()))?;
        match decoded {
            payload::Payload::Dlms(payload::dlms::Apdu::AccessRequest(req)) => {
                match self.state.kind {
                    DeviceKind::Esme | DeviceKind::Chf => dlms::execute(&mut self.state, ctx, &req),
                    _ => Err(DeviceError::Unsupported(ctx.code)),
                }
            }
            payload::Payload::Gbz(g) => match self.state.kind {
                DeviceKind::Gsme | DeviceKind::Gpf => zcl::execute(&mut self.state, ctx, &g),
                _ => Err(DeviceError::Unsupported(ctx.code)),
            },
            payload::Payload::Asn1(node)
                if ctx.code == cs::code::CS02E && self.state.kind != DeviceKind::Ihd =>
            {
                let payload = cs::own_certificate(ctx, &node, self.keys.identity())?;
                Ok(Outcome {
                    payload,
                    ..Outcome::default()
                })
            }
            payload::Payload::Asn1(node)
                if ctx.code == cs::code::CS02C && self.state.kind != DeviceKind::Ihd =>
            {
                let payload = cs::issue_credentials(&mut self.state, ctx, &node)?;
                Ok(Outcome {
                    payload,
                    ..Outcome::default()
                })
            }
            payload::Payload::Asn1(node) => cs::execute(&mut self.state, ctx, &node, content),
            payload::Payload::Dlms(_) => Err(crate::error::bad(
                ctx.code,
                "a command must carry a DLMS Access-Request",
            )),
        }
    }

    /// Frames an APDU: device-signed `DF`, or MAC'd `DD` with a null signature.
    fn frame(
        &mut self,
        header: &GroupingHeader<'_>,
        content: &[u8],
        signed: bool,
    ) -> Result<Vec<u8>, DeviceError> {
        if signed {
            let mut apdu = encode_apdu(header, content, None, LenForm::Short, LenForm::Short);
            let sig = self.keys.sign(&apdu[1..])?;
            apdu.push(0x40);
            apdu.extend_from_slice(&sig);
            return Ok(apdu);
        }
        let apdu = encode_apdu(header, content, Some(None), LenForm::Short, LenForm::Short);
        let peer = self
            .state
            .trusted
            .certificate(&header.recipient, KeyUsage::KeyAgreement)
            .map(|c| c.peer_key().clone())
            .ok_or(DeviceError::UnknownRemoteParty {
                party: hex::eui(&header.recipient),
                usage: "ka",
            })?;
        let other = crypto::OtherInfo::new(
            &header.originator,
            header.cra.byte(),
            header.counter,
            &header.recipient,
        );
        let key = self.keys.derive(&peer, &other, &self.cache)?;
        let mut mac = gmac::compute(&key, &header.originator, &[&MAC_AAD_PREFIX, &apdu])
            .map_err(|_| DeviceError::Internal("GMAC"))?;
        if self.state.mac_fault
            && let Some(last) = mac.last_mut()
        {
            *last = !*last;
        }
        Ok(frame::encode_mac_wrapper(&apdu, &mac))
    }

    /// Frames an alert with the next alert counter.
    pub(crate) fn frame_alert(&mut self, spec: &AlertSpec) -> Result<Vec<u8>, DeviceError> {
        let counter = self.state.alert_counter;
        self.state.alert_counter += 1;
        let content = match &spec.body {
            AlertBody::Dlms(body) => {
                let mut out = vec![payload::dlms::DATA_NOTIFICATION];
                out.extend_from_slice(&LongInvokeId::for_counter(counter).0.to_be_bytes());
                out.push(0x00);
                out.extend_from_slice(&body.encode());
                out
            }
            AlertBody::Gbz {
                code,
                timestamp,
                record,
            } => {
                let g = gbz::Gbz {
                    alert: Some(gbz::AlertHeader {
                        code: *code,
                        timestamp: *timestamp,
                    }),
                    body: match record {
                        Some(r) => gbz::GbzBody::FutureDated(*r),
                        None => gbz::GbzBody::Components(Vec::new()),
                    },
                };
                let mut out = Vec::new();
                g.encode(&mut out);
                out
            }
            AlertBody::Asn1(bytes) => bytes.clone(),
        };
        let header = GroupingHeader {
            cra: Cra::Alert,
            counter,
            originator: self.state.eui,
            recipient: spec.recipient,
            date_time: None,
            other_info: OtherInfo {
                message_code: spec.message_code,
                supplementary: Supplementary::None,
            },
        };
        self.frame(&header, &content, spec.critical)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hub actors move devices between threads.
    #[test]
    fn devices_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Device>();
        check::<DeviceState>();
    }

    #[test]
    fn response_date_time_and_critical_tables_are_sorted_and_distinct() {
        for table in [RESPONSE_DATE_TIME_CODES, CRITICAL_CODES] {
            assert!(table.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
