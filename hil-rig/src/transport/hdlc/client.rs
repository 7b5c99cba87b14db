//! The DLMS/COSEM client: the rig reading a lab meter.
//!
//! [`DlmsClient`] opens the data link ([`DlmsLink::open`]: SNRM/UA on HDLC), associates
//! (AARQ/AARE, LN referencing, lowest level authentication), reads attributes with
//! GET-Request-Normal (following GET-Response-with-datablock through GET-Request-Next), and
//! releases (RLRQ/RLRE, then DISC/UA). [`DlmsMeter`] reads the usual registers of a lab meter
//! and implements [`MeterSource`].
//!
//! Errors keep the transport's kind ([`LinkErrorKind::Closed`] when the stream died,
//! [`LinkErrorKind::Timeout`] when the meter is silent); a meter that refuses something is a
//! [`LinkErrorKind::Protocol`] error whose message names the DLMS data-access-result or
//! association diagnostic. Reconnecting is left to the caller.

use std::time::Duration;

use hubgate_protocol::gbcs::CosemDateTime;

use super::super::{LinkError, LinkErrorKind, MeterReadings, MeterSource};
use super::DlmsLink;
use super::apdu::{
    self, AttributeRef, GetRequest, GetResponse, InitiateRequest, InitiateResponse, conformance,
};
use crate::value::Value;

/// Association settings of the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientConfig {
    /// client-max-receive-pdu-size proposed in the AARQ (the meter uses block transfer for
    /// longer answers).
    pub max_receive_pdu: u16,
    /// Proposed conformance block.
    pub conformance: u32,
    /// How long to wait for each answer.
    pub timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            max_receive_pdu: 0xFFFF,
            conformance: conformance::GET
                | conformance::BLOCK_TRANSFER_WITH_GET
                | conformance::SELECTIVE_ACCESS,
            timeout: Duration::from_secs(5),
        }
    }
}

/// A DLMS/COSEM client over a [`DlmsLink`] (HDLC or the TCP wrapper).
#[derive(Debug)]
pub struct DlmsClient<L> {
    link: L,
    cfg: ClientConfig,
    invoke: u8,
    association: Option<InitiateResponse>,
}

impl<L: DlmsLink> DlmsClient<L> {
    /// A client on `link`; nothing is sent until [`Self::connect`].
    pub fn new(link: L, cfg: ClientConfig) -> Self {
        Self {
            link,
            cfg,
            invoke: 0,
            association: None,
        }
    }

    /// The link.
    pub fn link(&self) -> &L {
        &self.link
    }

    /// The negotiated InitiateResponse while associated.
    pub fn association(&self) -> Option<&InitiateResponse> {
        self.association.as_ref()
    }

    fn protocol(&self, msg: impl std::fmt::Display) -> LinkError {
        LinkError::new(
            LinkErrorKind::Protocol,
            format!("{}: {msg}", self.link.name()),
        )
    }

    fn exchange(&mut self, apdu: &[u8]) -> Result<Vec<u8>, LinkError> {
        self.link.send(apdu)?;
        let reply = self.link.recv(self.cfg.timeout)?;
        match reply.first() {
            Some(0xD8) => Err(self.protocol(format!(
                "meter answered exception-response {:02X?}",
                &reply[1..]
            ))),
            Some(0x0E) => Err(self.protocol(format!(
                "meter answered confirmedServiceError {:02X?}",
                &reply[1..]
            ))),
            Some(_) => Ok(reply),
            None => Err(self.protocol("empty APDU")),
        }
    }

    /// Opens the data link and the association.
    ///
    /// # Errors
    /// Transport errors as they come; [`LinkErrorKind::Protocol`] when the meter rejects the
    /// association (the diagnostic is named).
    pub fn connect(&mut self) -> Result<InitiateResponse, LinkError> {
        self.association = None;
        self.link.open()?;
        let aarq = apdu::encode_aarq(&InitiateRequest {
            dlms_version: 6,
            conformance: self.cfg.conformance,
            max_receive_pdu: self.cfg.max_receive_pdu,
            dedicated_key: false,
        });
        let reply = self.exchange(&aarq)?;
        let aare = apdu::decode_aare(&reply).map_err(|m| self.protocol(m))?;
        if aare.result != 0 {
            let (src, diag) = aare.diagnostic.unwrap_or((0, 0));
            let why = match (src, diag) {
                (1, 2) => "application-context-name-not-supported".to_owned(),
                (1, 11) => "authentication-mechanism-name-not-recognised".to_owned(),
                (1, 13) => "authentication-required".to_owned(),
                (1, 1) => "no-reason-given".to_owned(),
                (s, d) => format!("diagnostic {d} from source {s}"),
            };
            let detail = aare
                .initiate
                .err()
                .map(|m| format!(", {m}"))
                .unwrap_or_default();
            return Err(self.protocol(format!(
                "association rejected (result {}): {why}{detail}",
                aare.result
            )));
        }
        let init = aare
            .initiate
            .map_err(|m| self.protocol(format!("association refused: {m}")))?;
        self.association = Some(init);
        Ok(init)
    }

    fn next_invoke(&mut self) -> u8 {
        self.invoke = (self.invoke + 1) & 0x0F;
        0xC0 | self.invoke
    }

    /// Reads an attribute as encoded A-XDR `Data`, following block transfer.
    ///
    /// # Errors
    /// [`LinkErrorKind::Protocol`] naming the data-access-result when the meter refuses.
    pub fn get_raw(&mut self, attr: AttributeRef) -> Result<Vec<u8>, LinkError> {
        if self.association.is_none() {
            return Err(self.protocol("no association (call connect first)"));
        }
        let invoke = self.next_invoke();
        let req = GetRequest::Normal {
            invoke,
            attr,
            selection: None,
        };
        let mut reply = self.exchange(&req.encode())?;
        let mut data = Vec::new();
        let mut expect_block = 1u32;
        loop {
            let resp =
                GetResponse::decode(&reply).map_err(|m| self.protocol(format!("{attr}: {m}")))?;
            let (got_invoke, result, more) = match resp {
                GetResponse::Normal { invoke, result } => {
                    if expect_block != 1 {
                        return Err(self.protocol(format!(
                            "{attr}: get-response-normal in the middle of a block transfer"
                        )));
                    }
                    (invoke, result, None)
                }
                GetResponse::Block {
                    invoke,
                    last,
                    block,
                    result,
                } => {
                    if block != expect_block && result.is_ok() {
                        return Err(self.protocol(format!(
                            "{attr}: data block {block}, expected {expect_block}"
                        )));
                    }
                    (invoke, result, Some((last, block)))
                }
            };
            if got_invoke & 0x0F != invoke & 0x0F {
                return Err(self.protocol(format!(
                    "{attr}: answer for invoke-id {}, expected {}",
                    got_invoke & 0x0F,
                    invoke & 0x0F
                )));
            }
            let bytes = result.map_err(|code| {
                self.protocol(format!(
                    "{attr}: meter refused: {}",
                    apdu::data_access_result_name(code)
                ))
            })?;
            if data.len() + bytes.len() > MAX_BLOCK_DATA {
                return Err(self.protocol(format!(
                    "{attr}: block transfer longer than {MAX_BLOCK_DATA} bytes"
                )));
            }
            data.extend_from_slice(&bytes);
            match more {
                None | Some((true, _)) => return Ok(data),
                Some((false, block)) => {
                    expect_block = block.checked_add(1).ok_or_else(|| {
                        self.protocol(format!("{attr}: block number past {}", u32::MAX))
                    })?;
                    reply = self.exchange(&GetRequest::Next { invoke, block }.encode())?;
                }
            }
        }
    }

    /// Reads an attribute and decodes it.
    ///
    /// # Errors
    /// As [`Self::get_raw`]; [`LinkErrorKind::Protocol`] when the value is not valid A-XDR.
    pub fn get(&mut self, attr: AttributeRef) -> Result<Value, LinkError> {
        let raw = self.get_raw(attr)?;
        apdu::decode_data(&raw).map_err(|m| self.protocol(format!("{attr}: {m}")))
    }

    /// Releases the association (RLRQ/RLRE).
    ///
    /// # Errors
    /// Transport errors; [`LinkErrorKind::Protocol`] for a malformed RLRE or a reason other
    /// than normal.
    pub fn release(&mut self) -> Result<(), LinkError> {
        self.association = None;
        let reply = self.exchange(&apdu::encode_rlrq())?;
        match apdu::decode_rlre(&reply).map_err(|m| self.protocol(m))? {
            None | Some(0) => Ok(()),
            Some(r) => Err(self.protocol(format!("release answered with reason {r}"))),
        }
    }

    /// Releases the association and closes the data link (DISC/UA).
    ///
    /// # Errors
    /// As [`Self::release`] and [`DlmsLink::close`].
    pub fn disconnect(&mut self) -> Result<(), LinkError> {
        let released = self.release();
        let closed = self.link.close();
        released.and(closed)
    }
}

/// A scaled register value: the raw integer and its scaler/unit (attribute 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scaled {
    /// Attribute 2 as an integer.
    pub raw: i64,
    /// Power of ten applied to `raw`.
    pub scaler: i8,
    /// DLMS unit enumeration (30 Wh, 35 V, ...).
    pub unit: u8,
}

impl Scaled {
    /// `raw * 10^(scaler + extra)`, truncated towards zero, or `None` on overflow.
    #[must_use]
    pub fn in_units(&self, extra: i8) -> Option<i64> {
        let e = i32::from(self.scaler) + i32::from(extra);
        let p = 10i64.checked_pow(e.unsigned_abs())?;
        if e >= 0 {
            self.raw.checked_mul(p)
        } else {
            Some(self.raw / p)
        }
    }
}

/// Everything [`DlmsMeter::read_all`] read; `None` for objects the meter does not have.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DlmsReadings {
    /// Logical device name (0.0.42.0.0.255).
    pub logical_device_name: Option<Vec<u8>>,
    /// Active energy import (1.0.1.8.0.255).
    pub energy: Option<Scaled>,
    /// Voltage L1 (1.0.32.7.0.255).
    pub voltage: Option<Scaled>,
    /// Clock time (0.0.1.0.0.255 attribute 2).
    pub clock: Option<CosemDateTime>,
}

impl DlmsReadings {
    /// Maps into [`MeterReadings`]: energy in Wh, voltage in decivolts.
    ///
    /// # Errors
    /// [`LinkErrorKind::Protocol`] when a unit is not the expected one (Wh, V) or the value
    /// does not fit.
    pub fn to_meter_readings(&self, name: &str) -> Result<MeterReadings, LinkError> {
        let bad = |m: String| LinkError::new(LinkErrorKind::Protocol, format!("{name}: {m}"));
        let import_active_energy_wh = match self.energy {
            None => None,
            Some(e) if e.unit != UNIT_WH => {
                return Err(bad(format!(
                    "energy register unit {} is not Wh (30)",
                    e.unit
                )));
            }
            Some(e) => Some(
                e.in_units(0)
                    .and_then(|v| u64::try_from(v).ok())
                    .ok_or_else(|| bad(format!("energy {e:?} does not fit in Wh")))?,
            ),
        };
        let voltage_decivolts = match self.voltage {
            None => None,
            Some(v) if v.unit != UNIT_V => {
                return Err(bad(format!(
                    "voltage register unit {} is not V (35)",
                    v.unit
                )));
            }
            Some(v) => Some(
                v.in_units(1)
                    .ok_or_else(|| bad(format!("voltage {v:?} does not fit")))?,
            ),
        };
        Ok(MeterReadings {
            import_active_energy_wh,
            voltage_decivolts,
            identifier: self
                .logical_device_name
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned()),
            ..MeterReadings::default()
        })
    }
}

/// The most data a block transfer (GET with blocks) may carry in all: far more than any
/// attribute this client reads, so a meter that never sends its last block is refused
/// instead of being buffered without end.
const MAX_BLOCK_DATA: usize = 1 << 20;

const UNIT_WH: u8 = 30;
const UNIT_V: u8 = 35;

/// Logical device name.
pub const LDN: AttributeRef = AttributeRef {
    class_id: 1,
    obis: [0, 0, 42, 0, 0, 255],
    attribute: 2,
};
/// Active energy import register value.
pub const ENERGY: [u8; 6] = [1, 0, 1, 8, 0, 255];
/// Voltage L1 register.
pub const VOLTAGE: [u8; 6] = [1, 0, 32, 7, 0, 255];
/// Clock.
pub const CLOCK: AttributeRef = AttributeRef {
    class_id: 8,
    obis: [0, 0, 1, 0, 0, 255],
    attribute: 2,
};

/// A lab meter read over DLMS/COSEM: logical device name, energy and voltage registers
/// (scaled by their attribute 3, read once per association) and the clock.
#[derive(Debug)]
pub struct DlmsMeter {
    client: DlmsClient<Box<dyn DlmsLink>>,
    scalers: std::collections::HashMap<[u8; 6], (i8, u8)>,
    name: String,
}

impl std::fmt::Debug for dyn DlmsLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DlmsLink({})", self.name())
    }
}

impl DlmsMeter {
    /// A meter behind `link`; the association is opened by the first read.
    #[must_use]
    pub fn new(link: Box<dyn DlmsLink>, cfg: ClientConfig) -> Self {
        let name = link.name().to_owned();
        Self {
            client: DlmsClient::new(link, cfg),
            scalers: std::collections::HashMap::new(),
            name,
        }
    }

    /// The client, for reads of other attributes.
    pub fn client(&mut self) -> &mut DlmsClient<Box<dyn DlmsLink>> {
        &mut self.client
    }

    fn ensure_connected(&mut self) -> Result<(), LinkError> {
        if self.client.association().is_none() {
            self.scalers.clear();
            self.client.connect()?;
        }
        Ok(())
    }

    /// `Ok(None)` when the meter says the object does not exist.
    fn optional(r: Result<Value, LinkError>) -> Result<Option<Value>, LinkError> {
        match r {
            Ok(v) => Ok(Some(v)),
            Err(e)
                if e.kind == LinkErrorKind::Protocol && e.message.contains("object-undefined") =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Reads a register (class 3): attribute 3 once per association, attribute 2 each time.
    ///
    /// # Errors
    /// As the client; [`LinkErrorKind::Protocol`] when the values have the wrong types.
    pub fn read_register(&mut self, obis: [u8; 6]) -> Result<Option<Scaled>, LinkError> {
        self.ensure_connected()?;
        let attr = |attribute| AttributeRef {
            class_id: 3,
            obis,
            attribute,
        };
        if !self.scalers.contains_key(&obis) {
            let Some(su) = Self::optional(self.client.get(attr(3)))? else {
                return Ok(None);
            };
            let pair = su.as_structure().and_then(|s| match s {
                [Value::Integer(sc), Value::Enum(u)] => Some((*sc, *u)),
                _ => None,
            });
            let pair = pair.ok_or_else(|| {
                LinkError::new(
                    LinkErrorKind::Protocol,
                    format!(
                        "{}: {} is not structure {{integer, enum}}: {su:?}",
                        self.name,
                        attr(3)
                    ),
                )
            })?;
            self.scalers.insert(obis, pair);
        }
        let Some(v) = Self::optional(self.client.get(attr(2)))? else {
            return Ok(None);
        };
        let raw = v.as_i64().ok_or_else(|| {
            LinkError::new(
                LinkErrorKind::Protocol,
                format!("{}: {} is not an integer: {v:?}", self.name, attr(2)),
            )
        })?;
        let (scaler, unit) = self.scalers.get(&obis).copied().unwrap_or((0, 255));
        Ok(Some(Scaled { raw, scaler, unit }))
    }

    /// Reads the logical device name, energy, voltage and clock.
    ///
    /// # Errors
    /// As the client.
    pub fn read_all(&mut self) -> Result<DlmsReadings, LinkError> {
        self.ensure_connected()?;
        let ldn = Self::optional(self.client.get(LDN))?;
        let logical_device_name = match ldn {
            None => None,
            Some(Value::OctetString(b) | Value::VisibleString(b)) => Some(b),
            Some(other) => {
                return Err(LinkError::new(
                    LinkErrorKind::Protocol,
                    format!("{}: logical device name is {other:?}", self.name),
                ));
            }
        };
        let energy = self.read_register(ENERGY)?;
        let voltage = self.read_register(VOLTAGE)?;
        let clock = match Self::optional(self.client.get(CLOCK))? {
            None => None,
            Some(Value::OctetString(b)) if b.len() == 12 => {
                let mut a = [0u8; 12];
                a.copy_from_slice(&b);
                Some(CosemDateTime::from_bytes(&a))
            }
            Some(Value::DateTime(a)) => Some(CosemDateTime::from_bytes(&a)),
            Some(other) => {
                return Err(LinkError::new(
                    LinkErrorKind::Protocol,
                    format!("{}: clock time is {other:?}", self.name),
                ));
            }
        };
        Ok(DlmsReadings {
            logical_device_name,
            energy,
            voltage,
            clock,
        })
    }

    /// Reads the buffer (attribute 2) of a profile generic object (class 7): one row of
    /// captured values per entry.
    ///
    /// # Errors
    /// As the client; [`LinkErrorKind::Protocol`] when the buffer is not an array of
    /// structures.
    pub fn read_profile_buffer(&mut self, obis: [u8; 6]) -> Result<Vec<Vec<Value>>, LinkError> {
        self.ensure_connected()?;
        let attr = AttributeRef {
            class_id: 7,
            obis,
            attribute: 2,
        };
        let v = self.client.get(attr)?;
        v.as_array()
            .and_then(|rows| {
                rows.iter()
                    .map(|r| r.as_structure().map(<[Value]>::to_vec))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| {
                LinkError::new(
                    LinkErrorKind::Protocol,
                    format!("{}: {attr} is not an array of structures", self.name),
                )
            })
    }

    /// Releases the association and closes the data link.
    ///
    /// # Errors
    /// As [`DlmsClient::disconnect`].
    pub fn close(&mut self) -> Result<(), LinkError> {
        self.client.disconnect()
    }
}

impl MeterSource for DlmsMeter {
    fn read(&mut self) -> Result<MeterReadings, LinkError> {
        let r = self.read_all()?;
        r.to_meter_readings(&self.name)
    }

    fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_to_wh_and_decivolts() {
        let v = Scaled {
            raw: 2304,
            scaler: -1,
            unit: 35,
        };
        assert_eq!(v.in_units(1), Some(2304));
        let e = Scaled {
            raw: 12,
            scaler: 3,
            unit: 30,
        };
        assert_eq!(e.in_units(0), Some(12_000));
        let r = DlmsReadings {
            energy: Some(e),
            voltage: Some(v),
            ..DlmsReadings::default()
        };
        let m = r.to_meter_readings("m").ok();
        assert_eq!(
            m.as_ref().and_then(|m| m.import_active_energy_wh),
            Some(12_000)
        );
        assert_eq!(m.and_then(|m| m.voltage_decivolts), Some(2304));
        let wrong = DlmsReadings {
            energy: Some(Scaled { unit: 35, ..e }),
            ..DlmsReadings::default()
        };
        assert_eq!(
            wrong.to_meter_readings("m").err().map(|e| e.kind),
            Some(LinkErrorKind::Protocol)
        );
    }
}
