//! 6.11 Synchronise Clock and 8.1.1 Commission Device (both critical): set the device's
//! clock to the DCC's time, accepted only within the tolerance period after
//! `CurrentDateTime`.
//!
//! ESME (ECS70 / ECS70Commission): the Clock object (0-0:1.0.0.255): clock base 5, a preset
//! of "not specified" valid from `CurrentDateTime` to `CurrentDateTime + TolerancePeriod`,
//! adjust to the preset, then read the time and status back. GSME (GCS28 /
//! GCS28Commission): the validity interval as two ASN.1 GeneralizedTimes.

use super::axdr::{Request, Value, obis};
use super::der::Der;
use super::{ESME, GSME, Input, Origin, TransformError, UseCase, UtcDateTime};
use crate::duis::model::Body;
use crate::gbcs::CosemDateTime;

pub(crate) static USE_CASES: &[UseCase] = &[
    use_case!("ECS70", "6.11", ESME, Origin::User, esme),
    use_case!("GCS28", "6.11", GSME, Origin::User, gsme),
    use_case!("ECS70Commission", "8.1.1", ESME, Origin::User, esme),
    use_case!("GCS28Commission", "8.1.1", GSME, Origin::User, gsme),
];

/// The validity interval `[CurrentDateTime, CurrentDateTime + TolerancePeriod]`.
fn interval(i: &Input<'_>) -> Result<(UtcDateTime, UtcDateTime), TransformError> {
    let b = match i.body {
        Body::SynchroniseClock(b) | Body::CommissionDeviceSynchroniseClock(b) => b,
        _ => return Err(i.wrong_body()),
    };
    if b.tolerance_period < 0 {
        return Err(i.field("TolerancePeriod", "must not be negative"));
    }
    let start = i.time("CurrentDateTime", &b.current_date_time)?;
    Ok((start, start.plus_seconds(i64::from(b.tolerance_period))))
}

const CLOCK: [u8; 6] = obis(0, 0, 1, 0, 0, 255);
/// Clock base: the GBCS value for a DCC-synchronised clock.
const CLOCK_BASE: u8 = 5;

fn esme(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let (start, end) = interval(i)?;
    let unspecified = CosemDateTime {
        year: 0xffff,
        month: 0xff,
        day: 0xff,
        day_of_week: 0xff,
        hour: 0xff,
        minute: 0xff,
        second: 0xff,
        hundredths: 0xff,
        deviation: i16::MIN,
        clock_status: 0xff,
    };
    Ok(Request::new()
        .set(8, CLOCK, 9, Value::Enum(CLOCK_BASE))
        .action(
            8,
            CLOCK,
            5,
            Value::Structure(vec![
                Value::date_time(&unspecified),
                Value::date_time(&start.cosem()),
                Value::date_time(&end.cosem()),
            ]),
        )
        .action(8, CLOCK, 4, Value::Integer(0))
        .get(8, CLOCK, 2)
        .get(8, CLOCK, 4)
        .encode(i.counter))
}

fn gsme(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let (start, end) = interval(i)?;
    Ok(Der::sequence(vec![
        Der::generalized_time(&start.generalized_time()),
        Der::generalized_time(&end.generalized_time()),
    ])
    .encode())
}
