//! Supply control: 7.1 Enable Supply, 7.2 Disable Supply, 7.3 Arm Supply (critical) and 7.4
//! Read Supply Status.
//!
//! The ESME's supply is driven through its Script Table (0-0:10.0.106.255) and read from its
//! Disconnect Control object; the GSME's valve is driven with the Metering cluster's *Change
//! Supply* command and read from its *SupplyStatus* attribute.

use super::axdr::{Request, Value, obis};
use super::register_reads::gets;
use super::zcl::{self, Command, Fields, cluster};
use super::{ESME, GSME, Input, Origin, TransformError, UseCase};
use crate::duis::model::Body;

pub(crate) static USE_CASES: &[UseCase] = &[
    use_case!("ECS42", "7.1", ESME, Origin::User, ecs42),
    use_case!("GCS32", "7.2", GSME, Origin::User, gcs32),
    use_case!("ECS44", "7.3", ESME, Origin::User, ecs44),
    use_case!("GCS39", "7.3", GSME, Origin::User, gcs39),
    use_case!("ECS45", "7.4", ESME, Origin::User, ecs45),
    use_case!("GCS33", "7.4", GSME, Origin::User, gcs33),
];

/// The ESME's supply Script Table.
const SUPPLY_SCRIPTS: [u8; 6] = obis(0, 0, 10, 0, 106, 255);
/// Script that enables (reconnects) the supply.
const SCRIPT_ENABLE: u16 = 0x0033;

/// ECS42: execute the enable-supply script.
fn ecs42(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !matches!(i.body, Body::EnableSupply(_)) {
        return Err(i.wrong_body());
    }
    Ok(Request::new()
        .action(9, SUPPLY_SCRIPTS, 1, Value::LongUnsigned(SCRIPT_ENABLE))
        .encode(i.counter))
}

/// Script that arms the supply (the consumer then restores it).
const SCRIPT_ARM: u16 = 0x0036;

/// ECS44: execute the arm-supply script.
fn ecs44(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !matches!(i.body, Body::ArmSupply(_)) {
        return Err(i.wrong_body());
    }
    Ok(Request::new()
        .action(9, SUPPLY_SCRIPTS, 1, Value::LongUnsigned(SCRIPT_ARM))
        .encode(i.counter))
}

/// Metering cluster *Change Supply*.
const CHANGE_SUPPLY: u8 = 0x0b;
/// Proposed supply status: off (valve closed).
const SUPPLY_OFF: u8 = 0x00;
/// Supply control bits: acknowledgement required.
const ACKNOWLEDGE_REQUIRED: u8 = 0x01;

/// Proposed supply status: armed (the consumer opens the valve at the meter).
const SUPPLY_ARMED: u8 = 0x01;

/// *Change Supply* to `proposed`, now (request and implementation times 0), with the current
/// time as issuer event ID.
fn change_supply(i: &Input<'_>, proposed: u8) -> Result<Vec<u8>, TransformError> {
    Ok(zcl::encode(&[Command::cluster(
        cluster::METERING,
        CHANGE_SUPPLY,
        Fields::new()
            .u32(0)
            .u32(i.now_zigbee()?)
            .u32(0)
            .u32(0)
            .u8(proposed)
            .u8(ACKNOWLEDGE_REQUIRED)
            .done(),
    )]))
}

/// GCS32: *Change Supply* to off.
fn gcs32(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !matches!(i.body, Body::DisableSupply(_)) {
        return Err(i.wrong_body());
    }
    change_supply(i, SUPPLY_OFF)
}

/// GCS39: *Change Supply* to armed.
fn gcs39(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !matches!(i.body, Body::ArmSupply(_)) {
        return Err(i.wrong_body());
    }
    change_supply(i, SUPPLY_ARMED)
}

/// ECS45: the Disconnect Control object's control state.
fn ecs45(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !matches!(i.body, Body::ReadSupplyStatus(_)) {
        return Err(i.wrong_body());
    }
    Ok(gets(&[(70, obis(0, 0, 96, 3, 10, 255), 3)], i.counter))
}

/// Metering cluster attribute *SupplyStatus* (enum8: 0 off, 1 armed, 2 on).
pub(crate) const SUPPLY_STATUS: u16 = 0x0014;

/// GCS33: the valve's state, the Metering cluster's *SupplyStatus*, by Read Attributes.
///
/// Derived: the corpus has no GCS33 command; the layout is that of its GBZ attribute reads.
fn gcs33(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !matches!(i.body, Body::ReadSupplyStatus(_)) {
        return Err(i.wrong_body());
    }
    Ok(zcl::encode(&[Command::read_attributes(
        cluster::METERING,
        &[SUPPLY_STATUS],
    )]))
}
