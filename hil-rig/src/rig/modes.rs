//! The device modes, and what each proves.
//!
//! | mode | who answers a GBCS command | proves | does not prove |
//! |---|---|---|---|
//! | `emulated` | the rig's emulator, in-process (as `hil-rig emulate`) | the gateway's path to a hub over the SMWAN link, GBCS security and use cases against the emulator | anything about real hardware |
//! | `bridged` | a device that speaks GBCS itself, on a port: the command's bytes go to it untouched and its answers come back untouched | the gateway end to end against the device's own GBCS implementation and keys (MAC, signatures, counters, payloads), through the rig's transport | nothing about the rig's emulator; the device's certificates must be in the gateway's key store |
//! | `adapter` | an emulated device with a rig-held GBCS identity (the hub's ESME), whose registers are refreshed from a lab meter's real readings ([`MeterSource::read`]) just before each command | the rig's GBCS side (checks, MAC and signatures with the identity's keys, encryption) carrying values that came from a real meter over its real protocol (DLMS/COSEM over HDLC, or ZCL Metering through a ZNP dongle), and the meter link's failure handling | the meter's own GBCS security or use-case behaviour: the meter never sees GBCS, and registers other than those mapped below stay emulated |
//!
//! Adapter mapping ([`apply_readings`]): the active import register (OBIS 1.0.1.8.0.255, Wh)
//! becomes the ESME's import energy register, its instantaneous import registers (the ones
//! ECS17b / DUIS 4.1.1 reads) and, for the increase since the last read, its TOU register 1
//! and half-hour profile (as consumption would); the export register becomes the export
//! energy register. Values above 2^32 − 1 Wh (the GBCS `double-long-unsigned`) are
//! clamped and logged. A meter reading lower than the register (a meter reset, another
//! meter) sets the registers without consumption. Power, voltage and the identifier are
//! logged at debug level only: the ESME model has no object the covered use cases read them
//! from.
//!
//! A command for an adapter device whose meter read fails gets no answer (the read error
//! is handled as a port failure, [`super::port`]): answering from stale registers would
//! claim a reading that was not taken. A ZigBee meter differs in one respect: it reports on
//! its own schedule and may sleep through a read, so its source
//! ([`crate::transport::zigbee::meter::ZclMeter`]) answers with the last values it received
//! when no fresh ones arrive in time (logging their age), and fails only when it never had
//! any.

use std::time::Duration;

use hubgate_protocol::hex;

use super::config::{MeterConfig, MeterProtocol};
use crate::cosem::Attr;
use crate::device::Device;
use crate::link::Eui;
use crate::link::rig::Hubs;
use crate::models::{self, obis};
use crate::transport::hdlc::client::ClientConfig;
use crate::transport::hdlc::{Address, DlmsMeter, HdlcConfig, HdlcLink};
use crate::transport::zigbee::meter::{ZclMeter, ZclMeterConfig};
use crate::transport::{ByteStream, LinkError, MeterReadings, MeterSource};
use crate::value::Value;

/// Opens the lab meter of an adapter device on `stream`.
///
/// # Errors
/// As the meter's protocol fails to start.
pub fn open_meter(
    stream: Box<dyn ByteStream>,
    meter: &MeterConfig,
    timeout: Duration,
) -> Result<Box<dyn MeterSource>, LinkError> {
    match meter.protocol {
        MeterProtocol::Dlms => {
            let client = meter.client_address.unwrap_or(16);
            let logical = meter.server_address.unwrap_or(1);
            let server = match meter.physical_address {
                None if logical < 0x80 => Address::one_byte(logical as u8),
                physical => Address::server(logical, physical.unwrap_or(0)),
            };
            let link = HdlcLink::client(
                stream,
                HdlcConfig {
                    client: Address::one_byte(client as u8),
                    server,
                    timeout,
                    ..HdlcConfig::default()
                },
            );
            Ok(Box::new(DlmsMeter::new(
                Box::new(link),
                ClientConfig {
                    timeout,
                    ..ClientConfig::default()
                },
            )))
        }
        MeterProtocol::Zcl => {
            // Checked by the configuration: a zcl meter has a network address.
            let nwk_address = meter.nwk_address.ok_or_else(|| {
                LinkError::new(
                    crate::transport::LinkErrorKind::Setting,
                    "zcl meter without nwk_address",
                )
            })?;
            Ok(Box::new(ZclMeter::open(
                stream,
                ZclMeterConfig {
                    nwk_address,
                    endpoint: meter.endpoint.unwrap_or(1),
                    local_endpoint: meter.local_endpoint.unwrap_or(1),
                    timeout,
                },
            )?))
        }
    }
}

fn clamp_u32(value: u64, what: &str, eui: &[u8; 8]) -> u32 {
    u32::try_from(value).unwrap_or_else(|_| {
        tracing::warn!(device = %hex::eui(eui), value, "{what} above 2^32-1 Wh; clamped");
        u32::MAX
    })
}

/// Writes a lab meter's `readings` into an emulated ESME at `now` (device clock, Unix
/// seconds), as the module documentation describes.
pub fn apply_readings(device: &mut Device, readings: &MeterReadings, now: i64) {
    let eui = device.eui();
    let now = device.clock(now);
    let state = device.state_mut();
    if let Some(wh) = readings.import_active_energy_wh {
        let wh = clamp_u32(wh, "import energy", &eui);
        let current = models::import_energy(state).unwrap_or(0);
        if wh >= current {
            models::consume(state, now, wh - current);
        } else if let Some(o) = state.cosem_mut() {
            o.put(
                Attr::new(3, obis::IMPORT_ENERGY, 2),
                Value::DoubleLongUnsigned(wh),
            );
            if let Some(Value::Structure(mut regs)) =
                o.get(&Attr::new(1, obis::IMPORT_REGISTERS, 2)).cloned()
                && let Some(first) = regs.first_mut()
            {
                *first = Value::DoubleLongUnsigned(wh);
                o.put(
                    Attr::new(1, obis::IMPORT_REGISTERS, 2),
                    Value::Structure(regs),
                );
            }
        }
    }
    if let Some(wh) = readings.export_active_energy_wh {
        let wh = clamp_u32(wh, "export energy", &eui);
        if let Some(o) = state.cosem_mut() {
            o.put(
                Attr::new(3, obis::EXPORT_ENERGY, 2),
                Value::DoubleLongUnsigned(wh),
            );
        }
    }
    tracing::debug!(
        device = %hex::eui(&eui),
        power_w = ?readings.active_power_w,
        voltage_dv = ?readings.voltage_decivolts,
        meter = ?readings.identifier,
        "meter readings applied"
    );
}

/// Refreshes the adapter device `device` behind `hub` from `readings` and runs `command`
/// on it: its response and alerts (none when the device discards the command).
#[must_use]
pub fn answer_adapter(
    hubs: &Hubs,
    hub: Eui,
    device: Eui,
    readings: &MeterReadings,
    command: &[u8],
) -> Vec<Vec<u8>> {
    let now = unix_now();
    if hubs
        .with_device(&hub, &device, |d| apply_readings(d, readings, now))
        .is_none()
    {
        return Vec::new();
    }
    hubs.command(&hub, &device, command)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
