//! The dual-band Communications Hub's sub-GHz radio: 6.28 Set CHF Sub GHz Configuration
//! (DBCH04), 6.29 Request CHF Sub GHz Channel Scan (DBCH05), 6.30 Read CHF Sub GHz
//! Configuration (DBCH03) and 6.31 Read CHF Sub GHz Channel (DBCH01). The ACB sends each to
//! the CHF on the User's behalf, as DLMS on three GBCS data objects (class 1, attribute 2):
//!
//! | object | holds | used by |
//! |---|---|---|
//! | `0-0:94.44.10.0` | the configuration: a structure of four channel masks and eleven thresholds | DBCH04 (set), DBCH03 (get) |
//! | `0-0:94.44.10.1` | the channel scan request: `unsigned` 0 starts one | DBCH05 (set) |
//! | `0-0:94.44.10.2` | the channel in use, as a channel mask | DBCH01 (get) |
//!
//! A channel mask is a 32-bit `bit-string`, ZigBee's channel page form: the page in the top
//! five bits (28: sub-GHz lower band channels 0–26, 29: lower band 27–34, 30: lower band
//! 35–61, 31: upper band 0–26) and one bit per channel of the page below them, the page's
//! first channel in bit 0. The thresholds follow the request's order; the DUIS decimals
//! (duty cycle thresholds with one fraction digit, percentages with two) are sent in
//! hundredths as `long-unsigned`; channel changes per week, the quieter and noisier
//! thresholds and the poor-comms measurement periods as `unsigned`, the rest as
//! `long-unsigned`. All of it is checked byte for byte against the RTDS commands in
//! `protocol/tests/transform_rtds.rs`.

use super::axdr::{Request, Value, obis};
use super::{CHF, Input, Origin, TransformError, UseCase};
use crate::duis::model::Body;
use crate::duis::model::body::{Channels0To26, Channels27To34, Channels35To61};
use crate::duis::model::xsd::Decimal;

pub(crate) static USE_CASES: &[UseCase] = &[
    use_case!("DBCH04", "6.28", CHF, Origin::Acb, dbch04),
    use_case!("DBCH05", "6.29", CHF, Origin::Acb, dbch05),
    use_case!("DBCH03", "6.30", CHF, Origin::Acb, dbch03),
    use_case!("DBCH01", "6.31", CHF, Origin::Acb, dbch01),
];

/// The configuration, channel scan and current channel objects.
const CONFIGURATION: [u8; 6] = obis(0, 0, 94, 44, 10, 0);
const CHANNEL_SCAN: [u8; 6] = obis(0, 0, 94, 44, 10, 1);
const CHANNEL: [u8; 6] = obis(0, 0, 94, 44, 10, 2);

/// ZigBee channel pages of the sub-GHz bands.
const PAGE_LOWER_0_26: u32 = 28;
const PAGE_LOWER_27_34: u32 = 29;
const PAGE_LOWER_35_61: u32 = 30;
const PAGE_UPPER_0_26: u32 = 31;

/// The bits of the channels present, the first field in bit 0.
macro_rules! channel_bits {
    ($c:expr; $($field:ident),+ $(,)?) => {{
        let present = [$($c.$field.is_some()),+];
        present
            .iter()
            .enumerate()
            .fold(0u32, |mask, (bit, on)| if *on { mask | (1 << bit) } else { mask })
    }};
}

fn lower_0_26(c: &Channels0To26) -> u32 {
    channel_bits!(c; channel0, channel1, channel2, channel3, channel4, channel5, channel6,
        channel7, channel8, channel9, channel10, channel11, channel12, channel13, channel14,
        channel15, channel16, channel17, channel18, channel19, channel20, channel21, channel22,
        channel23, channel24, channel25, channel26)
}

fn lower_27_34(c: &Channels27To34) -> u32 {
    channel_bits!(c; channel27, channel28, channel29, channel30, channel31, channel32,
        channel33, channel34)
}

fn lower_35_61(c: &Channels35To61) -> u32 {
    channel_bits!(c; channel35, channel36, channel37, channel38, channel39, channel40,
        channel41, channel42, channel43, channel44, channel45, channel46, channel47, channel48,
        channel49, channel50, channel51, channel52, channel53, channel54, channel55, channel56,
        channel57, channel58, channel59, channel60, channel61)
}

/// A channel mask of `page` with the channel bits `bits`.
fn mask(page: u32, bits: u32) -> Value {
    Value::BitString {
        bits: 32,
        bytes: ((page << 27) | bits).to_be_bytes().to_vec(),
    }
}

/// A non-negative decimal of at most two fraction digits, in hundredths (1.3 → 130).
fn hundredths(i: &Input<'_>, field: &'static str, d: &Decimal) -> Result<u16, TransformError> {
    let v = i.fixed_point(field, d, 2, u64::from(u16::MAX))?;
    Ok(u16::try_from(v).unwrap_or(u16::MAX))
}

/// A whole number the command carries as `unsigned`.
fn unsigned(i: &Input<'_>, field: &'static str, v: u16) -> Result<Value, TransformError> {
    u8::try_from(v)
        .map(Value::Unsigned)
        .map_err(|_| i.field(field, format!("{v} is more than 255")))
}

/// DBCH04: set the configuration object.
fn dbch04(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::SetCHFSubGHzConfiguration(c) = i.body else {
        return Err(i.wrong_body());
    };
    let configuration = Value::Structure(vec![
        mask(
            PAGE_LOWER_0_26,
            lower_0_26(&c.lower_band_sub_g_hz_channels0_to26),
        ),
        mask(
            PAGE_LOWER_27_34,
            lower_27_34(&c.lower_band_sub_g_hz_channels27_to34),
        ),
        mask(
            PAGE_LOWER_35_61,
            lower_35_61(&c.lower_band_sub_g_hz_channels35_to61),
        ),
        mask(
            PAGE_UPPER_0_26,
            lower_0_26(&c.upper_band_sub_g_hz_channels0_to26),
        ),
        Value::LongUnsigned(hundredths(
            i,
            "NormalLimitedDutyCycleThreshold",
            &c.normal_limited_duty_cycle_threshold,
        )?),
        Value::LongUnsigned(hundredths(
            i,
            "LimitedCriticalDutyCycleThreshold",
            &c.limited_critical_duty_cycle_threshold,
        )?),
        unsigned(
            i,
            "MaximumSubGHzChannelChangesPerWeek",
            c.maximum_sub_g_hz_channel_changes_per_week,
        )?,
        Value::LongUnsigned(c.gsme_curfew),
        unsigned(i, "ChannelQuieterThreshold", c.channel_quieter_threshold)?,
        unsigned(i, "ChannelNoisierThreshold", c.channel_noisier_threshold)?,
        Value::LongUnsigned(hundredths(
            i,
            "NonGSMEPoorCommsPercentageThreshold",
            &c.non_gsme_poor_comms_percentage_threshold,
        )?),
        unsigned(
            i,
            "NonGSMEPoorCommsMeasurementPeriods",
            c.non_gsme_poor_comms_measurement_periods,
        )?,
        Value::LongUnsigned(c.local_ch_noise_measurement_period),
        Value::LongUnsigned(hundredths(
            i,
            "LocalCHFailurePercentage",
            &c.local_ch_failure_percentage,
        )?),
        Value::LongUnsigned(hundredths(
            i,
            "LocalCHRetryPercentage",
            &c.local_ch_retry_percentage,
        )?),
    ]);
    Ok(Request::new()
        .set(1, CONFIGURATION, 2, configuration)
        .encode(i.counter))
}

/// DBCH05: start a channel scan.
fn dbch05(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !matches!(i.body, Body::RequestCHFSubGHzChannelScan(_)) {
        return Err(i.wrong_body());
    }
    Ok(Request::new()
        .set(1, CHANNEL_SCAN, 2, Value::Unsigned(0))
        .encode(i.counter))
}

/// DBCH03: read the configuration.
fn dbch03(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !matches!(i.body, Body::ReadCHFSubGHzConfiguration(_)) {
        return Err(i.wrong_body());
    }
    Ok(Request::new().get(1, CONFIGURATION, 2).encode(i.counter))
}

/// DBCH01: read the channel in use.
fn dbch01(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !matches!(i.body, Body::ReadCHFSubGHzChannel(_)) {
        return Err(i.wrong_body());
    }
    Ok(Request::new().get(1, CHANNEL, 2).encode(i.counter))
}
