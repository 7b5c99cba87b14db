//! GBZ: the ZigBee Smart Energy container of GBCS payloads (profile ID `0x0109`).
//!
//! ```text
//! GBZ        01 09 ‖ n ‖ [alert code (2) ‖ timestamp (4)]  (alerts only) ‖ body
//! component  control (1) ‖ cluster ID (2) ‖ length (2, BE, of everything that follows)
//!            ‖ [additional header control (1) ‖ frame counter (1)]   control bit 0x02
//!            ‖ [from-date-time (4, ZigBee UTC)]                       control bit 0x10
//!            ‖ ZCL header (frame control, [manufacturer code], sequence number, command ID)
//!            ‖ ZCL payload, or, when encrypted:
//!              ciphered length (2) ‖ 31 00000000 ‖ ciphertext ‖ tag (12)
//! ```
//!
//! Control bit `0x01` marks the last component and must be set on it alone. Other control
//! bits are rejected.
//!
//! Alerts put the alert code and a timestamp after the count. What follows depends on the
//! alert: nothing (count 0); GBZ components; for the future-dated execution alerts
//! (`8F66`, `8F67`) a length-prefixed record of the instruction (message code, originator
//! counter, cluster ID, ZCL frame control and command ID); for `81A0` the two bytes of alert
//! data that the DLMS form of the same alert carries as an octet-string.

use serde_json::{Value, json};

use super::block::{BlockSource, EncryptedBlock, MIN_BLOCK_LEN, SECURITY_HEADER, TAG_LEN, Writer};
use super::cursor::Cursor;
use super::error::PayloadError;
use super::render::Render;
use crate::hex;

/// The ZigBee Smart Energy profile ID that opens every GBZ payload.
pub const PROFILE_ID: u16 = 0x0109;
/// Control bit: last component.
pub const CONTROL_LAST: u8 = 0x01;
/// Control bit: encrypted component.
pub const CONTROL_ENCRYPTED: u8 = 0x02;
/// Control bit: from-date-time present.
pub const CONTROL_FROM_DATE_TIME: u8 = 0x10;
/// ZCL frame-control bit: manufacturer code present.
pub const ZCL_MANUFACTURER_SPECIFIC: u8 = 0x04;
/// Alert codes of the future-dated execution alerts.
pub const FUTURE_DATED_ALERTS: [u16; 2] = [0x8f66, 0x8f67];
/// Alert codes whose GBZ form carries two bytes of alert data instead of components.
pub const ALERTS_WITH_DATA: [u16; 1] = [0x81a0];
/// Length of a future-dated alert record after its length byte.
const FUTURE_DATED_LEN: u8 = 14;

/// Alert code and timestamp of a GBZ alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AlertHeader {
    /// The alert code.
    pub code: u16,
    /// ZigBee UTC time (seconds since 2000-01-01T00:00:00Z).
    pub timestamp: u32,
}

/// The instruction a future-dated execution alert reports on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FutureDatedAlert {
    /// Message code of the original command.
    pub message_code: u16,
    /// Originator counter of the original command.
    pub originator_counter: u64,
    /// Cluster of the executed command.
    pub cluster_id: u16,
    /// ZCL frame control of the executed command.
    pub frame_control: u8,
    /// ZCL command ID of the executed command.
    pub command_id: u8,
}

/// A ZCL frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ZclHeader {
    /// Frame control.
    pub frame_control: u8,
    /// Manufacturer code, present when frame-control bit `0x04` is set.
    pub manufacturer_code: Option<u16>,
    /// Transaction sequence number.
    pub sequence_number: u8,
    /// Command ID.
    pub command_id: u8,
}

impl ZclHeader {
    fn read(c: &mut Cursor<'_>) -> Result<Self, PayloadError> {
        let frame_control = c.u8("ZCL frame control")?;
        let manufacturer_code = if frame_control & ZCL_MANUFACTURER_SPECIFIC != 0 {
            Some(u16::from_le_bytes(c.array("ZCL manufacturer code")?))
        } else {
            None
        };
        Ok(ZclHeader {
            frame_control,
            manufacturer_code,
            sequence_number: c.u8("ZCL sequence number")?,
            command_id: c.u8("ZCL command ID")?,
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.push(self.frame_control);
        if let Some(m) = self.manufacturer_code {
            out.extend_from_slice(&m.to_le_bytes());
        }
        out.push(self.sequence_number);
        out.push(self.command_id);
    }

    fn json(&self) -> Value {
        json!({
            "frame_control": format!("{:02x}", self.frame_control),
            "manufacturer_code": self.manufacturer_code.map(|m| format!("{m:04x}")),
            "sequence_number": self.sequence_number,
            "command_id": format!("{:02x}", self.command_id),
        })
    }
}

/// The security fields of an encrypted component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EncryptionHeader {
    /// Additional header control.
    pub additional_header_control: u8,
    /// Frame counter.
    pub frame_counter: u8,
}

/// What follows the ZCL header of a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ComponentBody<'a> {
    /// A clear ZCL payload.
    Plain(&'a [u8]),
    /// An encrypted ZCL payload.
    Encrypted {
        /// The security fields in front of the ZCL header.
        header: EncryptionHeader,
        /// The ciphertext, after `31 00000000` and without the tag.
        ciphertext: &'a [u8],
        /// The 12-byte tag.
        tag: &'a [u8; TAG_LEN],
    },
}

/// One GBZ component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Component<'a> {
    /// ZigBee cluster ID.
    pub cluster_id: u16,
    /// From-date-time (ZigBee UTC), when control bit `0x10` is set.
    pub from_date_time: Option<u32>,
    /// ZCL header.
    pub zcl: ZclHeader,
    /// ZCL payload, clear or encrypted.
    pub body: ComponentBody<'a>,
}

impl<'a> Component<'a> {
    /// Whether the component is encrypted (control bit `0x02`).
    pub fn is_encrypted(&self) -> bool {
        matches!(self.body, ComponentBody::Encrypted { .. })
    }

    /// The control byte this component is written with.
    pub fn control(&self, last: bool) -> u8 {
        let mut c = 0;
        if last {
            c |= CONTROL_LAST;
        }
        if self.is_encrypted() {
            c |= CONTROL_ENCRYPTED;
        }
        if self.from_date_time.is_some() {
            c |= CONTROL_FROM_DATE_TIME;
        }
        c
    }

    fn read(c: &mut Cursor<'a>, last: bool) -> Result<Self, PayloadError> {
        let offset = c.offset();
        let control = c.u8("GBZ component control")?;
        let known = CONTROL_LAST | CONTROL_ENCRYPTED | CONTROL_FROM_DATE_TIME;
        if control & !known != 0 {
            return Err(PayloadError::Unexpected {
                offset,
                what: "GBZ component control",
                found: u64::from(control),
                expected: "only bits 01 (last), 02 (encrypted) and 10 (from-date-time)",
            });
        }
        if (control & CONTROL_LAST != 0) != last {
            return Err(PayloadError::Unexpected {
                offset,
                what: "GBZ component control",
                found: u64::from(control),
                expected: if last {
                    "bit 01 set on the last component"
                } else {
                    "bit 01 clear on every component but the last"
                },
            });
        }
        let cluster_id = c.u16("GBZ cluster ID")?;
        let len_offset = c.offset();
        let len = usize::from(c.u16("GBZ component length")?);
        if len > c.remaining() {
            return Err(PayloadError::Length {
                offset: len_offset,
                what: "GBZ component length",
                declared: len,
                expected: format!("at most the {} byte(s) that remain", c.remaining()),
            });
        }
        let mut b = c.sub(len, "GBZ component")?;
        let encryption = if control & CONTROL_ENCRYPTED != 0 {
            Some(EncryptionHeader {
                additional_header_control: b.u8("additional header control")?,
                frame_counter: b.u8("frame counter")?,
            })
        } else {
            None
        };
        let from_date_time = if control & CONTROL_FROM_DATE_TIME != 0 {
            Some(b.u32("from-date-time")?)
        } else {
            None
        };
        let zcl = ZclHeader::read(&mut b)?;
        let body = match encryption {
            None => ComponentBody::Plain(b.take(b.remaining(), "ZCL payload")?),
            Some(header) => {
                let clen_offset = b.offset();
                let clen = usize::from(b.u16("ciphered information length")?);
                if clen != b.remaining() || clen < MIN_BLOCK_LEN {
                    return Err(PayloadError::Length {
                        offset: clen_offset,
                        what: "ciphered information length",
                        declared: clen,
                        expected: format!(
                            "the {} byte(s) left in the component, at least {MIN_BLOCK_LEN}",
                            b.remaining()
                        ),
                    });
                }
                let sh_offset = b.offset();
                let sh: [u8; 5] = b.array("security header")?;
                if sh != SECURITY_HEADER {
                    return Err(PayloadError::Invalid {
                        offset: sh_offset,
                        what: "security header",
                        detail: "expected 31 00 00 00 00",
                    });
                }
                let ciphertext = b.take(clen - MIN_BLOCK_LEN, "ciphertext")?;
                let tag = b.take(TAG_LEN, "tag")?;
                let tag = <&[u8; TAG_LEN]>::try_from(tag).map_err(|_| PayloadError::Truncated {
                    offset: sh_offset,
                    what: "tag",
                    needed: TAG_LEN,
                    available: tag.len(),
                })?;
                ComponentBody::Encrypted {
                    header,
                    ciphertext,
                    tag,
                }
            }
        };
        b.finish("the GBZ component")?;
        Ok(Component {
            cluster_id,
            from_date_time,
            zcl,
            body,
        })
    }

    fn write(&self, w: &mut Writer, index: usize, last: bool) {
        w.out.push(self.control(last));
        w.out.extend_from_slice(&self.cluster_id.to_be_bytes());
        let len_at = w.out.len();
        w.out.extend_from_slice(&[0, 0]);
        let start = w.out.len();
        if let ComponentBody::Encrypted { header, .. } = &self.body {
            w.out.push(header.additional_header_control);
            w.out.push(header.frame_counter);
        }
        if let Some(t) = self.from_date_time {
            w.out.extend_from_slice(&t.to_be_bytes());
        }
        self.zcl.write(&mut w.out);
        match &self.body {
            ComponentBody::Plain(p) => w.out.extend_from_slice(p),
            ComponentBody::Encrypted {
                ciphertext, tag, ..
            } => {
                let clen = MIN_BLOCK_LEN + ciphertext.len();
                let lstart = w.out.len();
                w.out
                    .extend_from_slice(&u16::try_from(clen).unwrap_or(u16::MAX).to_be_bytes());
                let bstart = w.out.len();
                w.out.extend_from_slice(&SECURITY_HEADER);
                w.out.extend_from_slice(ciphertext);
                w.out.extend_from_slice(*tag);
                w.blocks.push(EncryptedBlock::at(
                    BlockSource::GbzComponent {
                        index,
                        cluster_id: self.cluster_id,
                    },
                    lstart..bstart,
                    bstart,
                    clen,
                ));
            }
        }
        let len = u16::try_from(w.out.len() - start)
            .unwrap_or(u16::MAX)
            .to_be_bytes();
        if let Some(slot) = w.out.get_mut(len_at..len_at + 2) {
            slot.copy_from_slice(&len);
        }
    }

    fn json(&self, index: usize, last: bool, r: &mut Render<'_>) -> Value {
        let mut o = json!({
            "index": index,
            "control": format!("{:02x}", self.control(last)),
            "cluster_id": format!("{:04x}", self.cluster_id),
            "encrypted": self.is_encrypted(),
            "from_date_time": self.from_date_time.map(zigbee_time_json),
            "zcl_header": self.zcl.json(),
        });
        match &self.body {
            ComponentBody::Plain(p) => o["zcl_payload"] = json!(hex::encode(p)),
            ComponentBody::Encrypted {
                header,
                ciphertext,
                tag,
            } => {
                o["additional_header_control"] =
                    json!(format!("{:02x}", header.additional_header_control));
                o["frame_counter"] = json!(header.frame_counter);
                o["ciphered"] = r.gbz_block(ciphertext, *tag);
            }
        }
        o
    }
}

/// What follows the count (and, in alerts, the alert header).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GbzBody<'a> {
    /// GBZ components (possibly none, in alerts without data).
    Components(Vec<Component<'a>>),
    /// The record of a future-dated execution alert.
    FutureDated(FutureDatedAlert),
    /// Two bytes of opaque alert data (alerts in [`ALERTS_WITH_DATA`]).
    AlertData(&'a [u8]),
}

/// A decoded GBZ payload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Gbz<'a> {
    /// Alert code and timestamp, for alerts.
    pub alert: Option<AlertHeader>,
    /// Components or alert data.
    pub body: GbzBody<'a>,
}

impl<'a> Gbz<'a> {
    /// Decodes a GBZ payload filling `content`; `alert` says whether the grouping header's CRA
    /// flag marks an alert (the alert form has an alert code and timestamp).
    pub fn decode(content: &'a [u8], alert: bool) -> Result<Self, PayloadError> {
        let mut c = Cursor::new(content);
        let g = Gbz::read(&mut c, alert)?;
        c.finish("the GBZ payload")?;
        Ok(g)
    }

    pub(crate) fn read(c: &mut Cursor<'a>, alert: bool) -> Result<Self, PayloadError> {
        let offset = c.offset();
        let profile = c.u16("GBZ profile ID")?;
        if profile != PROFILE_ID {
            return Err(PayloadError::Unexpected {
                offset,
                what: "GBZ profile ID",
                found: u64::from(profile),
                expected: "0109 (ZigBee Smart Energy)",
            });
        }
        let count_offset = c.offset();
        let n = c.u8("GBZ component count")?;
        let alert = if alert {
            Some(AlertHeader {
                code: c.u16("GBZ alert code")?,
                timestamp: c.u32("GBZ alert timestamp")?,
            })
        } else {
            None
        };
        let special = alert.filter(|a| {
            FUTURE_DATED_ALERTS.contains(&a.code) || ALERTS_WITH_DATA.contains(&a.code)
        });
        if let Some(a) = special
            && n > 0
        {
            if n != 1 {
                return Err(PayloadError::Length {
                    offset: count_offset,
                    what: "GBZ component count",
                    declared: usize::from(n),
                    expected: "0 or 1 for this alert code".to_owned(),
                });
            }
            if ALERTS_WITH_DATA.contains(&a.code) {
                let data = c.take(2, "alert data")?;
                return Ok(Gbz {
                    alert,
                    body: GbzBody::AlertData(data),
                });
            }
            let len_offset = c.offset();
            let len = c.u8("future-dated alert record length")?;
            if len != FUTURE_DATED_LEN {
                return Err(PayloadError::Length {
                    offset: len_offset,
                    what: "future-dated alert record length",
                    declared: usize::from(len),
                    expected: format!("{FUTURE_DATED_LEN}"),
                });
            }
            let fd = FutureDatedAlert {
                message_code: c.u16("message code")?,
                originator_counter: c.u64("originator counter")?,
                cluster_id: c.u16("cluster ID")?,
                frame_control: c.u8("ZCL frame control")?,
                command_id: c.u8("ZCL command ID")?,
            };
            return Ok(Gbz {
                alert,
                body: GbzBody::FutureDated(fd),
            });
        }
        let mut components = Vec::with_capacity(usize::from(n).min(c.remaining() / 8));
        for i in 0..n {
            components.push(Component::read(c, i + 1 == n)?);
        }
        Ok(Gbz {
            alert,
            body: GbzBody::Components(components),
        })
    }

    /// The components (empty for alert records and alert data).
    pub fn components(&self) -> &[Component<'a>] {
        match &self.body {
            GbzBody::Components(v) => v,
            _ => &[],
        }
    }

    /// The count byte this payload is written with.
    pub fn count(&self) -> u8 {
        match &self.body {
            GbzBody::Components(v) => u8::try_from(v.len()).unwrap_or(u8::MAX),
            GbzBody::FutureDated(_) | GbzBody::AlertData(_) => 1,
        }
    }

    /// Appends the encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer::new(std::mem::take(out));
        self.write(&mut w);
        *out = w.out;
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        w.out.extend_from_slice(&PROFILE_ID.to_be_bytes());
        w.out.push(self.count());
        if let Some(a) = &self.alert {
            w.out.extend_from_slice(&a.code.to_be_bytes());
            w.out.extend_from_slice(&a.timestamp.to_be_bytes());
        }
        match &self.body {
            GbzBody::Components(v) => {
                for (i, comp) in v.iter().enumerate() {
                    comp.write(w, i, i + 1 == v.len());
                }
            }
            GbzBody::FutureDated(fd) => {
                w.out.push(FUTURE_DATED_LEN);
                w.out.extend_from_slice(&fd.message_code.to_be_bytes());
                w.out
                    .extend_from_slice(&fd.originator_counter.to_be_bytes());
                w.out.extend_from_slice(&fd.cluster_id.to_be_bytes());
                w.out.push(fd.frame_control);
                w.out.push(fd.command_id);
            }
            GbzBody::AlertData(d) => w.out.extend_from_slice(d),
        }
    }

    pub(crate) fn json(&self, r: &mut Render<'_>) -> Value {
        let mut o = json!({"kind": "gbz", "profile_id": format!("{PROFILE_ID:04x}"), "count": self.count()});
        if let Some(a) = &self.alert {
            o["alert_code"] = json!(format!("{:04x}", a.code));
            o["timestamp"] = zigbee_time_json(a.timestamp);
        }
        match &self.body {
            GbzBody::Components(v) => {
                o["components"] = Value::Array(
                    v.iter()
                        .enumerate()
                        .map(|(i, c)| c.json(i, i + 1 == v.len(), r))
                        .collect(),
                );
            }
            GbzBody::FutureDated(fd) => {
                o["future_dated"] = json!({
                    "message_code": format!("{:04x}", fd.message_code),
                    "originator_counter": fd.originator_counter,
                    "cluster_id": format!("{:04x}", fd.cluster_id),
                    "frame_control": format!("{:02x}", fd.frame_control),
                    "command_id": format!("{:02x}", fd.command_id),
                });
            }
            GbzBody::AlertData(d) => o["alert_data"] = json!(hex::encode(d)),
        }
        o
    }
}

/// Seconds since 2000-01-01T00:00:00Z as an ISO-8601 string; `FFFFFFFF` reads as not
/// specified (`None`).
pub fn zigbee_time_iso(t: u32) -> Option<String> {
    if t == u32::MAX {
        return None;
    }
    // 2000-01-01 is day 10957 after 1970-01-01.
    let days = i64::from(t / 86_400) + 10_957;
    let secs = t % 86_400;
    // Civil date from days since the Unix epoch (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    ))
}

fn zigbee_time_json(t: u32) -> Value {
    json!({"raw": format!("{t:08x}"), "utc": zigbee_time_iso(t)})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigbee_time() {
        assert_eq!(zigbee_time_iso(0).as_deref(), Some("2000-01-01T00:00:00Z"));
        assert_eq!(
            zigbee_time_iso(0x1c37_4a80).as_deref(),
            Some("2015-01-01T00:00:00Z")
        );
        assert_eq!(zigbee_time_iso(u32::MAX), None);
    }
}
