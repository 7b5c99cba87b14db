//! The DLMS/COSEM server: the rig answering as a meter (for instance in front of an
//! emulated meter, whose readings it publishes through an [`ObjectTable`]).
//!
//! Served: AARQ → AARE (LN referencing, lowest level authentication; other application
//! contexts, authentication mechanisms and ciphering are rejected with the matching
//! diagnostic), GET-Request-Normal on the table (attribute 1 of every object is its logical
//! name; the Association LN object list is built from the table), with
//! GET-Response-with-datablock when the answer exceeds the client's PDU size, RLRQ → RLRE
//! (with every length computed from the content), and the exception response for services
//! not served. Unknown objects get data-access-result object-undefined. The HDLC part (SNRM →
//! UA with the parameter block, DISC → UA) is [`HdlcLink`]'s.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hubgate_protocol::gbcs::CosemDateTime;

use super::super::{LinkError, LinkErrorKind, MeterReadings, TcpByteStream};
use super::apdu::{
    self, AttributeRef, GetRequest, GetResponse, InitiateResponse, conformance, diagnostic,
};
use super::{DlmsLink, HdlcConfig, HdlcLink, WrapperLink};
use crate::value::Value;

/// data-access-result codes the server uses.
mod dar {
    pub const OBJECT_UNDEFINED: u8 = 4;
    pub const OBJECT_CLASS_INCONSISTENT: u8 = 9;
    pub const NO_LONG_GET_IN_PROGRESS: u8 = 16;
    pub const DATA_BLOCK_NUMBER_INVALID: u8 = 19;
    pub const OTHER_REASON: u8 = 250;
}

/// Logical name of the current Association LN object.
pub const ASSOCIATION_LN: [u8; 6] = [0, 0, 40, 0, 0, 255];

/// One COSEM object: class, version, logical name and attribute values (attribute 1, the
/// logical name, is implied).
#[derive(Debug, Clone, PartialEq)]
pub struct CosemObject {
    /// Interface class.
    pub class_id: u16,
    /// Interface class version.
    pub version: u8,
    /// Logical name.
    pub obis: [u8; 6],
    /// Attribute values by index (2 and up).
    pub attributes: BTreeMap<i8, Value>,
}

/// The objects a server publishes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectTable {
    objects: Vec<CosemObject>,
}

impl ObjectTable {
    /// An empty table.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) an object.
    pub fn insert(
        &mut self,
        class_id: u16,
        version: u8,
        obis: [u8; 6],
        attributes: Vec<(i8, Value)>,
    ) {
        self.objects.retain(|o| o.obis != obis);
        self.objects.push(CosemObject {
            class_id,
            version,
            obis,
            attributes: attributes.into_iter().collect(),
        });
    }

    /// Sets one attribute of an existing object; `false` when there is no such object.
    pub fn set(&mut self, obis: [u8; 6], attribute: i8, value: Value) -> bool {
        match self.objects.iter_mut().find(|o| o.obis == obis) {
            Some(o) => {
                o.attributes.insert(attribute, value);
                true
            }
            None => false,
        }
    }

    /// The objects.
    #[must_use]
    pub fn objects(&self) -> &[CosemObject] {
        &self.objects
    }

    /// The table of a simple electricity meter: logical device name (Data), active energy
    /// import in Wh (Register, scaler 0), voltage L1 in decivolts (Register, scaler -1, V),
    /// clock, and the Association LN object.
    #[must_use]
    pub fn lab_meter(ldn: &[u8], energy_wh: u32, voltage_dv: u16, clock: &CosemDateTime) -> Self {
        let mut t = Self::new();
        t.insert(
            1,
            0,
            [0, 0, 42, 0, 0, 255],
            vec![(2, Value::OctetString(ldn.to_vec()))],
        );
        t.insert(
            3,
            0,
            [1, 0, 1, 8, 0, 255],
            vec![
                (2, Value::DoubleLongUnsigned(energy_wh)),
                (
                    3,
                    Value::Structure(vec![Value::Integer(0), Value::Enum(30)]),
                ),
            ],
        );
        t.insert(
            3,
            0,
            [1, 0, 32, 7, 0, 255],
            vec![
                (2, Value::LongUnsigned(voltage_dv)),
                (
                    3,
                    Value::Structure(vec![Value::Integer(-1), Value::Enum(35)]),
                ),
            ],
        );
        t.insert(
            8,
            0,
            [0, 0, 1, 0, 0, 255],
            vec![(2, Value::OctetString(clock.to_bytes().to_vec()))],
        );
        t.insert(15, 0, ASSOCIATION_LN, vec![]);
        t
    }

    /// Publishes an emulated meter's readings into the objects of [`Self::lab_meter`].
    pub fn apply_readings(&mut self, r: &MeterReadings) {
        if let Some(wh) = r.import_active_energy_wh {
            let v = u32::try_from(wh).map_or(Value::Long64Unsigned(wh), Value::DoubleLongUnsigned);
            self.set([1, 0, 1, 8, 0, 255], 2, v);
        }
        if let Some(dv) = r.voltage_decivolts {
            let v = u16::try_from(dv).map_or(Value::Long64(dv), Value::LongUnsigned);
            self.set([1, 0, 32, 7, 0, 255], 2, v);
        }
        if let Some(id) = &r.identifier {
            self.set(
                [0, 0, 42, 0, 0, 255],
                2,
                Value::OctetString(id.as_bytes().to_vec()),
            );
        }
    }

    /// The value of an attribute, or the data-access-result refusing it.
    ///
    /// # Errors
    /// object-undefined for unknown objects and attributes, object-class-inconsistent when
    /// the class does not match.
    pub fn get(&self, a: &AttributeRef) -> Result<Value, u8> {
        let o = self
            .objects
            .iter()
            .find(|o| o.obis == a.obis)
            .ok_or(dar::OBJECT_UNDEFINED)?;
        if o.class_id != a.class_id {
            return Err(dar::OBJECT_CLASS_INCONSISTENT);
        }
        if a.attribute == 1 {
            return Ok(Value::OctetString(o.obis.to_vec()));
        }
        if let Some(v) = o.attributes.get(&a.attribute) {
            return Ok(v.clone());
        }
        if o.class_id == 15 && a.attribute == 2 {
            return Ok(self.object_list());
        }
        Err(dar::OBJECT_UNDEFINED)
    }

    /// Association LN attribute 2: every object with read-only access to its attributes.
    fn object_list(&self) -> Value {
        let items = self
            .objects
            .iter()
            .map(|o| {
                let mut ids: Vec<i8> = std::iter::once(1)
                    .chain(o.attributes.keys().copied())
                    .collect();
                if o.class_id == 15 && !ids.contains(&2) {
                    ids.push(2);
                }
                let attrs = ids
                    .into_iter()
                    .map(|id| {
                        Value::Structure(vec![Value::Integer(id), Value::Enum(1), Value::Null])
                    })
                    .collect();
                Value::Structure(vec![
                    Value::LongUnsigned(o.class_id),
                    Value::Unsigned(o.version),
                    Value::OctetString(o.obis.to_vec()),
                    Value::Structure(vec![Value::Array(attrs), Value::Array(vec![])]),
                ])
            })
            .collect();
        Value::Array(items)
    }
}

/// Server settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerConfig {
    /// server-max-receive-pdu-size announced in the AARE.
    pub max_receive_pdu: u16,
    /// Conformance offered (ANDed with the client's proposal).
    pub conformance: u32,
    /// How often [`DlmsServer::serve`] looks at its stop flag.
    pub poll: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_receive_pdu: 1024,
            conformance: conformance::GET | conformance::BLOCK_TRANSFER_WITH_GET,
            poll: Duration::from_millis(100),
        }
    }
}

/// The state of one association.
#[derive(Debug, Default)]
pub struct Session {
    association: Option<Association>,
    long_get: Option<LongGet>,
}

#[derive(Debug, Clone, Copy)]
struct Association {
    response: InitiateResponse,
    client_max_pdu: u16,
}

#[derive(Debug)]
struct LongGet {
    invoke: u8,
    blocks: Vec<Vec<u8>>,
    /// Number of the last block sent (from 1).
    sent: u32,
}

/// A DLMS/COSEM server over a table of objects.
#[derive(Debug)]
pub struct DlmsServer {
    table: Arc<Mutex<ObjectTable>>,
    cfg: ServerConfig,
}

impl DlmsServer {
    /// A server publishing `table`, which the caller may keep updating.
    #[must_use]
    pub fn new(table: Arc<Mutex<ObjectTable>>, cfg: ServerConfig) -> Self {
        Self { table, cfg }
    }

    /// Answers APDUs on `link` until the peer goes away ([`LinkErrorKind::Closed`], returned
    /// as `Ok`) or `stop` is set. Frames that fail to decode are dropped.
    ///
    /// # Errors
    /// Transport errors other than time-outs, framing and closure.
    pub fn serve(&self, link: &mut dyn DlmsLink, stop: &AtomicBool) -> Result<(), LinkError> {
        let mut session = Session::default();
        while !stop.load(Ordering::Relaxed) {
            let r = link.recv(self.cfg.poll);
            if link.take_reset() {
                session = Session::default();
            }
            match r {
                Ok(req) => {
                    let reply = self.handle(&mut session, &req);
                    link.send(&reply)?;
                }
                Err(e) => match e.kind {
                    LinkErrorKind::Timeout => {}
                    LinkErrorKind::Framing | LinkErrorKind::Protocol => {
                        tracing::debug!(error = %e, "DLMS server dropped a frame");
                    }
                    LinkErrorKind::Closed => return Ok(()),
                    _ => return Err(e),
                },
            }
        }
        Ok(())
    }

    /// Answers one APDU.
    pub fn handle(&self, s: &mut Session, req: &[u8]) -> Vec<u8> {
        match req.first() {
            Some(0x60) => self.associate(s, req),
            Some(0x62) => match apdu::decode_rlrq(req) {
                Ok(with_info) => {
                    let info = s.association.take().map(|a| a.response);
                    s.long_get = None;
                    apdu::encode_rlre(if with_info { info.as_ref() } else { None })
                }
                Err(m) => {
                    tracing::debug!(%m, "malformed RLRQ");
                    apdu::encode_exception(2, 3)
                }
            },
            Some(0xC0) => match s.association {
                None => apdu::encode_exception(1, 1),
                Some(a) => self.get(s, a, req),
            },
            _ => apdu::encode_exception(2, 2),
        }
    }

    fn associate(&self, s: &mut Session, req: &[u8]) -> Vec<u8> {
        s.association = None;
        s.long_get = None;
        let aarq = match apdu::decode_aarq(req) {
            Ok(a) => a,
            Err(m) => {
                tracing::debug!(%m, "malformed AARQ");
                return apdu::encode_aare(1, diagnostic::NO_REASON, &apdu::initiate_error(0));
            }
        };
        if aarq.context != apdu::CONTEXT_LN_NO_CIPHER {
            return apdu::encode_aare(
                1,
                diagnostic::CONTEXT_NOT_SUPPORTED,
                &apdu::initiate_error(0),
            );
        }
        if aarq
            .mechanism
            .as_ref()
            .is_some_and(|m| m.last() != Some(&0))
        {
            return apdu::encode_aare(
                1,
                diagnostic::MECHANISM_NOT_RECOGNISED,
                &apdu::initiate_error(0),
            );
        }
        let init = match aarq.initiate {
            Ok(i) => i,
            Err(m) => {
                tracing::debug!(%m, "bad InitiateRequest");
                return apdu::encode_aare(1, diagnostic::NO_REASON, &apdu::initiate_error(0));
            }
        };
        let refuse =
            |reason| apdu::encode_aare(1, diagnostic::NO_REASON, &apdu::initiate_error(reason));
        if init.dedicated_key {
            return refuse(0);
        }
        if init.dlms_version < 6 {
            return refuse(1);
        }
        let conf = init.conformance & self.cfg.conformance;
        if conf & conformance::GET == 0 {
            return refuse(2);
        }
        if init.max_receive_pdu < 12 {
            return refuse(3);
        }
        let response = InitiateResponse {
            dlms_version: 6,
            conformance: conf,
            max_receive_pdu: self.cfg.max_receive_pdu,
            vaa_name: 0x0007,
        };
        s.association = Some(Association {
            response,
            client_max_pdu: init.max_receive_pdu,
        });
        apdu::encode_aare_accept(&response)
    }

    fn get(&self, s: &mut Session, a: Association, req: &[u8]) -> Vec<u8> {
        let req = match GetRequest::decode(req) {
            Ok(r) => r,
            Err(m) => {
                tracing::debug!(%m, "malformed GET-Request");
                return apdu::encode_exception(2, 3);
            }
        };
        match req {
            GetRequest::Normal { invoke, attr, .. } => {
                s.long_get = None;
                let value = match self.table.lock() {
                    Ok(t) => t.get(&attr),
                    Err(_) => Err(dar::OTHER_REASON),
                };
                let data = match value {
                    Ok(v) => v.encode(),
                    Err(code) => {
                        return GetResponse::Normal {
                            invoke,
                            result: Err(code),
                        }
                        .encode();
                    }
                };
                let max = usize::from(a.client_max_pdu);
                if data.len() + 4 <= max {
                    return GetResponse::Normal {
                        invoke,
                        result: Ok(data),
                    }
                    .encode();
                }
                if a.response.conformance & conformance::BLOCK_TRANSFER_WITH_GET == 0 {
                    return GetResponse::Normal {
                        invoke,
                        result: Err(dar::OTHER_REASON),
                    }
                    .encode();
                }
                // C4 02 invoke last block(4) choice length(up to 3): 13 bytes of overhead.
                let size = max.saturating_sub(13).max(1);
                let blocks: Vec<Vec<u8>> = data.chunks(size).map(<[u8]>::to_vec).collect();
                let mut lg = LongGet {
                    invoke,
                    blocks,
                    sent: 0,
                };
                let out = Self::next_block(&mut lg);
                if lg.sent < lg.blocks.len() as u32 {
                    s.long_get = Some(lg);
                }
                out
            }
            GetRequest::Next { invoke, block } => {
                let Some(mut lg) = s.long_get.take() else {
                    return GetResponse::Block {
                        invoke,
                        last: true,
                        block,
                        result: Err(dar::NO_LONG_GET_IN_PROGRESS),
                    }
                    .encode();
                };
                if block != lg.sent || invoke & 0x0F != lg.invoke & 0x0F {
                    return GetResponse::Block {
                        invoke,
                        last: true,
                        block,
                        result: Err(dar::DATA_BLOCK_NUMBER_INVALID),
                    }
                    .encode();
                }
                let out = Self::next_block(&mut lg);
                if lg.sent < lg.blocks.len() as u32 {
                    s.long_get = Some(lg);
                }
                out
            }
            GetRequest::WithList { .. } => apdu::encode_exception(2, 2),
        }
    }

    fn next_block(lg: &mut LongGet) -> Vec<u8> {
        let i = lg.sent as usize;
        lg.sent += 1;
        GetResponse::Block {
            invoke: lg.invoke,
            last: i + 1 == lg.blocks.len(),
            block: lg.sent,
            result: Ok(lg.blocks.get(i).cloned().unwrap_or_default()),
        }
        .encode()
    }
}

/// How the TCP server frames APDUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpFraming {
    /// HDLC on the TCP stream.
    Hdlc(HdlcConfig),
    /// The IEC 62056-47 wrapper, at this server wPort.
    Wrapper(u16),
}

/// A TCP DLMS server thread; stopped and joined on drop.
#[derive(Debug)]
pub struct TcpServerHandle {
    /// The address it listens on.
    pub addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for TcpServerHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves `server` on `listener`, one connection at a time, each with a fresh session.
///
/// # Errors
/// When the listener cannot be switched to non-blocking accepts.
pub fn spawn_tcp(
    listener: TcpListener,
    framing: TcpFraming,
    server: Arc<DlmsServer>,
) -> std::io::Result<TcpServerHandle> {
    let addr = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let thread = std::thread::spawn(move || {
        while !flag.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(false).is_err() {
                        continue;
                    }
                    let bs = Box::new(TcpByteStream::accepted(stream));
                    let mut link: Box<dyn DlmsLink> = match framing {
                        TcpFraming::Hdlc(cfg) => Box::new(HdlcLink::server(bs, cfg)),
                        TcpFraming::Wrapper(wport) => Box::new(WrapperLink::server(bs, wport)),
                    };
                    if let Err(e) = server.serve(link.as_mut(), &flag) {
                        tracing::debug!(error = %e, "DLMS TCP connection ended");
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "DLMS TCP accept failed");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    });
    Ok(TcpServerHandle {
        addr,
        stop,
        thread: Some(thread),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn server() -> DlmsServer {
        let clock = CosemDateTime::from_bytes(&[0x07, 0xEA, 1, 2, 0xFF, 3, 4, 5, 0, 0, 0, 0]);
        let t = ObjectTable::lab_meter(b"RIG0000001", 123_456, 2304, &clock);
        DlmsServer::new(Arc::new(Mutex::new(t)), ServerConfig::default())
    }

    fn aarq(max_pdu: u16) -> Vec<u8> {
        apdu::encode_aarq(&apdu::InitiateRequest {
            dlms_version: 6,
            conformance: conformance::GET | conformance::BLOCK_TRANSFER_WITH_GET,
            max_receive_pdu: max_pdu,
            dedicated_key: false,
        })
    }

    #[test]
    fn unknown_object_is_object_undefined_and_get_needs_association() {
        let srv = server();
        let mut s = Session::default();
        let get = |o: [u8; 6]| {
            GetRequest::Normal {
                invoke: 0xC1,
                attr: AttributeRef {
                    class_id: 3,
                    obis: o,
                    attribute: 2,
                },
                selection: None,
            }
            .encode()
        };
        assert_eq!(srv.handle(&mut s, &get([1, 0, 1, 8, 0, 255]))[0], 0xD8);
        let aare = apdu::decode_aare(&srv.handle(&mut s, &aarq(0xFFFF))).unwrap();
        assert_eq!(aare.result, 0);
        let r = GetResponse::decode(&srv.handle(&mut s, &get([1, 0, 99, 8, 0, 255]))).unwrap();
        assert_eq!(
            r,
            GetResponse::Normal {
                invoke: 0xC1,
                result: Err(4)
            }
        );
    }

    #[test]
    fn long_answers_go_in_blocks_that_reassemble() {
        let srv = server();
        let mut s = Session::default();
        srv.handle(&mut s, &aarq(40));
        let list = AttributeRef {
            class_id: 15,
            obis: ASSOCIATION_LN,
            attribute: 2,
        };
        let mut reply = srv.handle(
            &mut s,
            &GetRequest::Normal {
                invoke: 0xC2,
                attr: list,
                selection: None,
            }
            .encode(),
        );
        let mut data = Vec::new();
        loop {
            assert!(reply.len() <= 40);
            let GetResponse::Block {
                last,
                block,
                result,
                ..
            } = GetResponse::decode(&reply).unwrap()
            else {
                panic!("expected blocks")
            };
            data.extend(result.unwrap());
            if last {
                break;
            }
            reply = srv.handle(
                &mut s,
                &GetRequest::Next {
                    invoke: 0xC2,
                    block,
                }
                .encode(),
            );
        }
        let v = apdu::decode_data(&data).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 5);
    }
}
