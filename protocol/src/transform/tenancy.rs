//! 3.2 Restrict Access for Change of Tenancy: the date from which the previous tenant's data
//! is no longer released, set on the meter.
//!
//! - ECS12 (ESME): a DLMS set of the Change of Tenancy date object (class 1,
//!   0-0:94.44.3.2, attribute 2) to the `RestrictionDateTime` as a COSEM date-time (UTC
//!   fields, day of week `FF`, deviation `8000`, clock status `FF`).
//! - GCS09 (GPF): the Device Management cluster's *Publish Change of Tenancy* (`0x00`,
//!   "disable default response" frame control): provider ID 0, the current time as issuer
//!   event ID, tariff type 0, the `RestrictionDateTime` as implementation date-time, and the
//!   proposed tenancy change control bitmap `0x00000200`.
//!
//! The execution date-time of a future-dated request is the DCC's to hold (DSP pattern): it
//! is not in the command.
//!
//! Both encodings are the RTDS corpus's (`protocol/tests/transform_rtds.rs`): ECS12 byte for
//! byte from its template; GCS09 byte for byte once the template's restriction date is
//! replaced by the one the RTDS command carries (2016-11-22T02:46:56Z; the template has
//! 2015-02-01T00:00:00Z). The provider ID, tariff type and control bitmap are the values the
//! corpus command carries, not values read from the GBCS text.

use super::axdr::{Request, Value, obis};
use super::zcl::{self, Command, Fields, cluster};
use super::{DeviceType, ESME, Input, Origin, TransformError, UseCase, UtcDateTime, any_body};
use crate::duis::model::Body;

pub(crate) static USE_CASES: &[UseCase] = &[
    use_case!("ECS12", "3.2", ESME, Origin::User, ecs12),
    UseCase {
        name: "GCS09",
        srv: "3.2",
        devices: &[DeviceType::Gpf],
        origin: Origin::User,
        fits: any_body,
        build: gcs09,
    },
];

/// The ESME's Change of Tenancy date object (class 1, attribute 2).
const CHANGE_OF_TENANCY_DATE: [u8; 6] = obis(0, 0, 94, 44, 3, 2);

fn restriction(i: &Input<'_>) -> Result<UtcDateTime, TransformError> {
    match i.body {
        Body::RestrictAccessForChangeOfTenancy(b) => {
            i.time("RestrictionDateTime", &b.restriction_date_time)
        }
        _ => Err(i.wrong_body()),
    }
}

/// ECS12: set the Change of Tenancy date.
fn ecs12(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let at = restriction(i)?;
    Ok(Request::new()
        .set(1, CHANGE_OF_TENANCY_DATE, 2, Value::date_time(&at.cosem()))
        .encode(i.counter))
}

/// Device Management cluster *Publish Change of Tenancy*.
const PUBLISH_CHANGE_OF_TENANCY: u8 = 0x00;
/// Proposed tenancy change control, as the corpus command carries it.
const TENANCY_CHANGE_CONTROL: u32 = 0x0000_0200;

/// GCS09: *Publish Change of Tenancy* with the restriction date as implementation time.
fn gcs09(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let at = restriction(i)?
        .zigbee()
        .map_err(|e| i.field("RestrictionDateTime", e.to_string()))?;
    Ok(zcl::encode(&[Command::cluster(
        cluster::DEVICE_MANAGEMENT,
        PUBLISH_CHANGE_OF_TENANCY,
        Fields::new()
            .u32(0)
            .u32(i.now_zigbee()?)
            .u8(0x00)
            .u32(at)
            .u32(TENANCY_CHANGE_CONTROL)
            .done(),
    )
    .frame_control(zcl::CLUSTER_SPECIFIC_NO_DEFAULT_RESPONSE)]))
}
