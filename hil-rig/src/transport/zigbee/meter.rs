//! A ZigBee Smart Energy meter read through a TI Z-Stack (ZNP) coordinator dongle, as a
//! [`MeterSource`]: the lab meter behind a `hil-rig run` adapter device with
//! `meter = { protocol = "zcl", … }`.
//!
//! # What is implemented
//!
//! [`ZclMeter`] owns a [`ZnpLink`]. Opening it pings the dongle (SYS.Ping must answer),
//! registers the rig's endpoint (AF.Register, Smart Energy profile, Metering as an output
//! cluster) and starts the stack (ZDO.StartupFromApp, which restores the network the dongle
//! has in its NVRAM); a dongle that refuses the last two with an RPC error is logged and
//! used anyway, since a dongle already running (or a test fake) may not take them.
//!
//! The meter keeps the latest Metering (0x0702) values it has seen from the configured
//! network address and endpoint, from `AF_INCOMING_MSG` callbacks carrying ZCL **Report
//! Attributes** or **Read Attributes Response** frames ([`MeteringValues`]):
//! CurrentSummationDelivered (0x0000) and CurrentSummationReceived (0x0001) become Wh, and
//! InstantaneousDemand (0x0400) becomes W, through Multiplier (0x0301) and Divisor (0x0302)
//! as the meter reported them: `Wh = raw × multiplier × 1000 / divisor` (the summation
//! counts kWh). Until the meter has reported them, multiplier 1 and divisor 1000 are
//! assumed, i.e. the raw summation counts Wh, as most Smart Energy meters publish it.
//!
//! [`MeterSource::read`] takes what has arrived since the last read, sends a ZCL Read
//! Attributes for those five attributes in an AF.DataRequest to the meter, and waits up to
//! the configured timeout for the answer or a report. When nothing new arrives it returns
//! the last values, logging how old they are, or a [`LinkErrorKind::Timeout`] error when it
//! never had any. When the dongle refuses the request but reports have just arrived, those
//! are returned without waiting. A closed port is [`LinkErrorKind::Closed`], as everywhere.
//!
//! # What is not implemented
//!
//! Forming a network, permitting joins, binding and Configure Reporting (the meter must
//! already be joined to the dongle's network and report or answer reads), APS
//! acknowledgements and AF.DataConfirm checking, ZigBee security (CBKE, install codes), the
//! UnitOfMeasure attribute (kWh is assumed), EZSP dongles, and the Basic cluster's
//! identifiers.
//!
//! # What the tests prove
//!
//! The unit tests below apply the zigpy-encoded Metering report and read-response frames
//! (the shared ZCL vectors) and check the Wh/W arithmetic. `tests/rig_run.rs` runs a
//! `hil-rig run` adapter ESME in front of the shared fake ZNP dongle (built on zigpy-znp's
//! frame codec) and checks that the GBCS answer carries the dongle's reported summation.

use std::time::{Duration, Instant};

use super::zcl::{
    Direction, GeneralCommand, PROFILE_SMART_ENERGY, ZclFrame, ZclPayload, ZclValue, cluster,
    metering,
};
use super::znp::{DataRequest, EndpointRegistration, MtCommand, MtType, ZnpLink, cmd, subsystem};
use crate::transport::{ByteStream, Link, LinkError, LinkErrorKind, MeterReadings, MeterSource};

/// The Metering attributes a read asks for.
pub const READ_ATTRIBUTES: [u16; 5] = [
    metering::CURRENT_SUMMATION_DELIVERED,
    metering::CURRENT_SUMMATION_RECEIVED,
    metering::MULTIPLIER,
    metering::DIVISOR,
    metering::INSTANTANEOUS_DEMAND,
];

/// The Smart Energy device id the rig registers its endpoint as (Energy Service Interface).
const ESI_DEVICE_ID: u16 = 0x0500;

/// Where the meter is and how long to wait for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZclMeterConfig {
    /// The meter's network (short) address.
    pub nwk_address: u16,
    /// The meter's endpoint with the Metering server cluster.
    pub endpoint: u8,
    /// The endpoint the rig registers on the dongle and sends from.
    pub local_endpoint: u8,
    /// How long a read (and each dongle request) may take.
    pub timeout: Duration,
}

/// The latest Metering values a meter reported, raw, with the arithmetic to Wh and W.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeteringValues {
    /// CurrentSummationDelivered, raw.
    pub delivered: Option<u64>,
    /// CurrentSummationReceived, raw.
    pub received: Option<u64>,
    /// InstantaneousDemand, raw.
    pub demand: Option<i64>,
    /// Multiplier, as reported.
    pub multiplier: Option<u64>,
    /// Divisor, as reported.
    pub divisor: Option<u64>,
}

impl MeteringValues {
    /// Takes the Metering attributes of a Report Attributes or Read Attributes Response
    /// frame; returns how many it took (other frames and attributes are ignored).
    pub fn apply(&mut self, frame: &ZclFrame) -> usize {
        let mut taken = 0;
        let mut put = |id: u16, value: &ZclValue| {
            let slot = match id {
                metering::CURRENT_SUMMATION_DELIVERED => {
                    self.delivered = value.as_u64();
                    self.delivered.is_some()
                }
                metering::CURRENT_SUMMATION_RECEIVED => {
                    self.received = value.as_u64();
                    self.received.is_some()
                }
                metering::INSTANTANEOUS_DEMAND => {
                    self.demand = value.as_i64();
                    self.demand.is_some()
                }
                metering::MULTIPLIER => {
                    self.multiplier = value.as_u64();
                    self.multiplier.is_some()
                }
                metering::DIVISOR => {
                    self.divisor = value.as_u64();
                    self.divisor.is_some()
                }
                _ => false,
            };
            taken += usize::from(slot);
        };
        match &frame.payload {
            ZclPayload::General(GeneralCommand::ReportAttributes(records)) => {
                for r in records {
                    put(r.id, &r.value);
                }
            }
            ZclPayload::General(GeneralCommand::ReadAttributesResponse(statuses)) => {
                for s in statuses {
                    if let Some(v) = &s.value {
                        put(s.id, v);
                    }
                }
            }
            _ => {}
        }
        taken
    }

    /// `(multiplier, divisor)` in use: as reported, or 1 and 1000 (raw counts Wh / W).
    #[must_use]
    pub fn scale(&self) -> (u64, u64) {
        match (self.multiplier, self.divisor) {
            (m, Some(d)) if d > 0 => (m.unwrap_or(1), d),
            (Some(m), _) => (m, 1000),
            _ => (1, 1000),
        }
    }

    fn to_milli(&self, raw: i128) -> i128 {
        let (m, d) = self.scale();
        // The cluster defines 24-bit multipliers and 48-bit summations, but a peer may report
        // wider types: saturate rather than overflow.
        raw.saturating_mul(i128::from(m)).saturating_mul(1000) / i128::from(d)
    }

    /// The values as readings (energy in Wh, power in W).
    #[must_use]
    pub fn readings(&self) -> MeterReadings {
        let wh = |raw: u64| u64::try_from(self.to_milli(i128::from(raw))).unwrap_or(u64::MAX);
        MeterReadings {
            import_active_energy_wh: self.delivered.map(wh),
            export_active_energy_wh: self.received.map(wh),
            active_power_w: self
                .demand
                .map(|raw| i64::try_from(self.to_milli(i128::from(raw))).unwrap_or(i64::MAX)),
            voltage_decivolts: None,
            identifier: None,
        }
    }

    fn any(&self) -> bool {
        self.delivered.is_some() || self.received.is_some() || self.demand.is_some()
    }
}

/// A ZigBee meter behind a ZNP dongle.
#[derive(Debug)]
pub struct ZclMeter<S: ByteStream> {
    znp: ZnpLink<S>,
    config: ZclMeterConfig,
    name: String,
    tsn: u8,
    values: MeteringValues,
    /// When the last new value arrived.
    updated: Option<Instant>,
}

impl<S: ByteStream> ZclMeter<S> {
    /// Opens the dongle on `stream` as the module documentation says.
    ///
    /// # Errors
    /// As the dongle fails to answer SYS.Ping ([`LinkErrorKind::Timeout`] for a silent one)
    /// or the port fails.
    pub fn open(stream: S, config: ZclMeterConfig) -> Result<Self, LinkError> {
        let name = format!(
            "zcl:{:04x}/{}@{}",
            config.nwk_address,
            config.endpoint,
            stream.name()
        );
        let mut znp = ZnpLink::new(stream);
        let caps = znp.ping(config.timeout)?;
        tracing::debug!(meter = %name, capabilities = format!("{caps:#06x}"), "ZNP dongle answers");
        let registration = EndpointRegistration {
            endpoint: config.local_endpoint,
            profile_id: PROFILE_SMART_ENERGY,
            device_id: ESI_DEVICE_ID,
            device_version: 0,
            input_clusters: Vec::new(),
            output_clusters: vec![cluster::METERING],
        };
        let tolerate = |what: &str, r: Result<u8, LinkError>| match r {
            Ok(0) => Ok(()),
            Ok(status) => {
                tracing::info!(meter = %name, status, "{what}: status {status:#04x}; going on");
                Ok(())
            }
            Err(e) if e.kind == LinkErrorKind::Protocol => {
                tracing::warn!(meter = %name, error = %e, "{what} refused by the dongle; going on");
                Ok(())
            }
            Err(e) => Err(e),
        };
        tolerate(
            "AF.Register",
            znp.af_register(&registration, config.timeout),
        )?;
        tolerate(
            "ZDO.StartupFromApp",
            znp.startup_from_app(100, config.timeout),
        )?;
        Ok(Self {
            znp,
            config,
            name,
            tsn: 0,
            values: MeteringValues::default(),
            updated: None,
        })
    }

    /// The values seen so far, raw.
    #[must_use]
    pub fn values(&self) -> &MeteringValues {
        &self.values
    }

    /// Takes MT frames until `deadline`; returns `Ok(true)` as soon as a Metering frame
    /// from the meter brought values (or, with `until_new` false, after taking everything
    /// that arrived by `deadline`).
    fn take_frames(&mut self, deadline: Instant, until_new: bool) -> Result<bool, LinkError> {
        let mut got = false;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let bytes = match self.znp.recv(left) {
                Ok(b) => b,
                Err(e) if e.kind == LinkErrorKind::Timeout => return Ok(got),
                Err(e) if e.kind == LinkErrorKind::Framing => {
                    tracing::warn!(meter = %self.name, error = %e, "dropping a bad MT frame");
                    continue;
                }
                Err(e) => return Err(e),
            };
            let c = match MtCommand::from_link_bytes(&bytes) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(meter = %self.name, error = %e, "dropping a bad MT frame");
                    continue;
                }
            };
            if !(c.kind == MtType::Areq
                && c.subsystem == subsystem::AF
                && c.id == cmd::AF_INCOMING_MSG)
            {
                tracing::trace!(meter = %self.name, frame = ?c, "MT frame skipped");
                continue;
            }
            if self.incoming(&c.data) {
                got = true;
                self.updated = Some(Instant::now());
                if until_new {
                    return Ok(true);
                }
            }
        }
    }

    /// Applies one `AF_INCOMING_MSG`; true when it brought Metering values from our meter.
    fn incoming(&mut self, data: &[u8]) -> bool {
        let msg = match super::znp::AfIncomingMsg::decode(data) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(meter = %self.name, error = %e, "bad AF_INCOMING_MSG dropped");
                return false;
            }
        };
        if msg.cluster_id != cluster::METERING
            || msg.src_addr != self.config.nwk_address
            || msg.src_endpoint != self.config.endpoint
        {
            tracing::debug!(meter = %self.name, cluster = msg.cluster_id, from = msg.src_addr,
                endpoint = msg.src_endpoint, "ZCL frame for another cluster or node; ignored");
            return false;
        }
        match msg.zcl() {
            Ok(frame) => self.values.apply(&frame) > 0,
            Err(e) => {
                tracing::warn!(meter = %self.name, error = %e, data = ?msg.data,
                    "Metering frame that does not decode; ignored");
                false
            }
        }
    }

    /// Sends the Read Attributes; `false` when the dongle did not take it.
    fn request(&mut self) -> Result<bool, LinkError> {
        self.tsn = self.tsn.wrapping_add(1);
        let zcl = ZclFrame::general(
            self.tsn,
            Direction::ClientToServer,
            GeneralCommand::ReadAttributes(READ_ATTRIBUTES.to_vec()),
        )
        .encode()
        .map_err(LinkError::from)?;
        let req = DataRequest {
            dst_addr: self.config.nwk_address,
            dst_endpoint: self.config.endpoint,
            src_endpoint: self.config.local_endpoint,
            cluster_id: cluster::METERING,
            trans_id: self.tsn,
            options: 0,
            radius: 30,
            data: zcl,
        };
        match self.znp.af_data_request(&req, self.config.timeout) {
            Ok(0) => Ok(true),
            Ok(status) => {
                tracing::warn!(meter = %self.name, status, "AF.DataRequest not accepted by the dongle");
                Ok(false)
            }
            Err(e) if matches!(e.kind, LinkErrorKind::Protocol | LinkErrorKind::Timeout) => {
                tracing::warn!(meter = %self.name, error = %e, "Read Attributes not sent");
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}

impl<S: ByteStream> MeterSource for ZclMeter<S> {
    fn read(&mut self) -> Result<MeterReadings, LinkError> {
        let started = Instant::now();
        // What arrived since the last read (reports the meter sent on its own).
        let queued = self.take_frames(started + Duration::from_millis(5), false)?;
        let sent = self.request()?;
        let fresh = if queued && !sent {
            true
        } else {
            self.take_frames(started + self.config.timeout, true)? || queued
        };
        if fresh {
            return Ok(self.values.readings());
        }
        match self.updated {
            Some(at) if self.values.any() => {
                tracing::warn!(meter = %self.name, age_s = at.elapsed().as_secs_f64(),
                    "no fresh Metering values within {:?}; using the last ones, {:.1} s old",
                    self.config.timeout, at.elapsed().as_secs_f64());
                Ok(self.values.readings())
            }
            _ => Err(LinkError::new(
                LinkErrorKind::Timeout,
                format!(
                    "{}: no Metering values from the meter within {:?}",
                    self.name, self.config.timeout
                ),
            )),
        }
    }

    fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn frame(hex: &str) -> ZclFrame {
        let bytes = hubgate_protocol::hex::decode(hex).unwrap();
        ZclFrame::decode(cluster::METERING, &bytes).unwrap()
    }

    #[test]
    fn a_summation_report_counts_wh_until_multiplier_and_divisor_are_known() {
        let mut v = MeteringValues::default();
        // zigpy: Report Attributes CurrentSummationDelivered = 123456789 (uint48).
        assert_eq!(v.apply(&frame("18420a00002515cd5b070000")), 1);
        assert_eq!(v.delivered, Some(123_456_789));
        let r = v.readings();
        assert_eq!(r.import_active_energy_wh, Some(123_456_789));
        assert_eq!(r.export_active_energy_wh, None);
        // Divisor 100 and multiplier 1: the raw value counts 0.01 kWh = 10 Wh.
        v.divisor = Some(100);
        v.multiplier = Some(1);
        assert_eq!(v.readings().import_active_energy_wh, Some(1_234_567_890));
        // A divisor of 0 is ignored.
        v.divisor = Some(0);
        assert_eq!(v.readings().import_active_energy_wh, Some(123_456_789));
    }

    #[test]
    fn a_read_attributes_response_sets_what_the_meter_supports() {
        let mut v = MeteringValues::default();
        // zigpy: Read Attributes Rsp: 0x0000 = 123456789 (uint48), 0x0300 = 0 (enum8),
        // 0x0301 = 1 (uint24), 0x0302 unsupported (status 0x86).
        let f = frame(
            &"18 11 01 00 00 00 25 15 cd 5b 07 00 00 00 03 00 30 00 01 03 00 22 01 00 00 02 03 86"
                .replace(' ', ""),
        );
        assert_eq!(v.apply(&f), 2);
        assert_eq!(
            (v.delivered, v.multiplier, v.divisor),
            (Some(123_456_789), Some(1), None)
        );
        assert_eq!(v.scale(), (1, 1000));
        assert_eq!(v.readings().import_active_energy_wh, Some(123_456_789));
    }

    #[test]
    fn demand_is_w_and_other_frames_are_ignored() {
        let mut v = MeteringValues::default();
        let f = ZclFrame::general(
            1,
            Direction::ServerToClient,
            GeneralCommand::ReportAttributes(vec![
                super::super::zcl::AttributeRecord {
                    id: metering::INSTANTANEOUS_DEMAND,
                    value: ZclValue::Int(3, -1500),
                },
                super::super::zcl::AttributeRecord {
                    id: 0x0200,
                    value: ZclValue::Bitmap(1, 0),
                },
            ]),
        );
        assert_eq!(v.apply(&f), 1);
        assert_eq!(v.readings().active_power_w, Some(-1500));
        let read = ZclFrame::general(
            2,
            Direction::ClientToServer,
            GeneralCommand::ReadAttributes(READ_ATTRIBUTES.to_vec()),
        );
        assert_eq!(v.apply(&read), 0);
        assert!(v.any());
    }
}
