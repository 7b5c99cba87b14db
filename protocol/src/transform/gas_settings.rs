//! The gas meter's counterparts of the electricity meter's credit, calendar and settings
//! services, as GBZ (ZigBee Smart Energy) commands: 1.5 Update Meter Balance (GCS40a, c, d,
//! critical), 2.5 Activate Emergency Credit (GCS06, critical), 3.3 Clear Event Log (CS11),
//! 3.4 Update Supplier Name (GCS44), 6.8 Update Device Configuration (Billing Calendar)
//! (GCS25a, GCS25 monthly, critical) and 6.20.1 Set Device Configuration (Import MPRN)
//! (GCS41).
//!
//! Each is one GBZ component per ZCL command, with the fields the RTDS commands carry
//! (`protocol/tests/transform_rtds.rs` compares them byte for byte); "now" fields hold the
//! current time as issuer event ID, and provider IDs are 0, as in the corpus:
//!
//! - Prepayment *Select Available Emergency Credit* (`00`): issue date-time 0, originating
//!   device 0.
//! - Prepayment *Credit Adjustment* (`05`): issuer event ID, start time 0 (now), the
//!   adjustment type and the signed value. Types: 0 credit incremental (prepayment mode
//!   adjust, GCS40a), 2 meter balance absolute (credit mode reset, GCS40d), 3 meter balance
//!   incremental (credit mode adjust, GCS40c); a reset sends 0. The prepayment mode reset
//!   (GCS40b) is not built: neither the corpus nor the catalogue gives its message code.
//! - Events *Clear Event Log Request* (`01`): log 3, the event log.
//! - Device Management *Publish Change of Supplier* (`01`): tariff type 0, proposed provider
//!   ID 0, implementation time 0 (now), change control `0x00001800`, then the supplier's name
//!   and telephone number as ZCL octet strings.
//! - Device Management *Update Site ID* (`03`): site ID time 0 (now), then the MPRN.
//! - Price *Publish Billing Period* (`09`) and *Publish Block Period* (`01`): the billing
//!   period start, its duration and the duration type `0x23` (months, "control not
//!   specified"), tariff type 0; the block period also with control 2 (repeating) and tariff
//!   resolution period 1. Monthly and six-monthly calendars are the corpus's; daily (`0x21`,
//!   1), weekly (`0x22`, 1), quarterly (3 months) and yearly (12 months) are **derived** from
//!   the same layout.

use super::zcl::{self, CLUSTER_SPECIFIC_NO_DEFAULT_RESPONSE, Command, Fields, cluster};
use super::{GSME, Input, Origin, TransformError, UseCase, UtcDateTime};
use crate::duis::model::Body;
use crate::duis::model::body::{
    AdjustOrReset, BillingCalendar, Periodicity, SetDeviceConfigurationImportMPxNChoice,
    UpdateMeterBalance,
};

pub(crate) static USE_CASES: &[UseCase] = &[
    UseCase {
        name: "GCS40a",
        srv: "1.5",
        devices: GSME,
        origin: Origin::User,
        fits: |b| adjustment(b) == Some(CREDIT_INCREMENTAL),
        build: gcs40,
    },
    UseCase {
        name: "GCS40c",
        srv: "1.5",
        devices: GSME,
        origin: Origin::User,
        fits: |b| adjustment(b) == Some(BALANCE_INCREMENTAL),
        build: gcs40,
    },
    UseCase {
        name: "GCS40d",
        srv: "1.5",
        devices: GSME,
        origin: Origin::User,
        fits: |b| adjustment(b) == Some(BALANCE_ABSOLUTE),
        build: gcs40,
    },
    use_case!("GCS06", "2.5", GSME, Origin::User, gcs06),
    UseCase {
        name: "CS11",
        srv: "3.3",
        devices: GSME,
        origin: Origin::User,
        fits: |b| matches!(b, Body::ClearEventLog(c) if c.esme_event_log_type.is_none()),
        build: cs11,
    },
    use_case!("GCS11", "3.5", GSME, Origin::User, gcs11),
    use_case!("GCS44", "3.4", GSME, Origin::User, gcs44),
    use_case!("GCS25a", "6.8", GSME, Origin::User, gcs25),
    UseCase {
        name: "GCS25",
        srv: "6.8",
        devices: GSME,
        origin: Origin::User,
        fits: |b| gas_calendar(b).is_some_and(|(_, p)| p == Periodicity::Monthly),
        build: gcs25,
    },
    UseCase {
        name: "GCS41",
        srv: "6.20.1",
        devices: GSME,
        origin: Origin::User,
        fits: |b| {
            matches!(b, Body::SetDeviceConfigurationImportMPxN(s)
                if matches!(s.choice, SetDeviceConfigurationImportMPxNChoice::ImportMPRN(_)))
        },
        build: gcs41,
    },
];

/// Credit Adjustment types.
const CREDIT_INCREMENTAL: u8 = 0;
const CREDIT_ABSOLUTE: u8 = 1;
const BALANCE_ABSOLUTE: u8 = 2;
const BALANCE_INCREMENTAL: u8 = 3;

/// The Credit Adjustment type of a 1.5 request.
fn adjustment(b: &Body) -> Option<u8> {
    let Body::UpdateMeterBalance(u) = b else {
        return None;
    };
    Some(match &**u {
        UpdateMeterBalance::PrepaymentMode(AdjustOrReset::AdjustMeterBalance(_)) => {
            CREDIT_INCREMENTAL
        }
        UpdateMeterBalance::PrepaymentMode(AdjustOrReset::ResetMeterBalance(_)) => CREDIT_ABSOLUTE,
        UpdateMeterBalance::CreditMode(AdjustOrReset::AdjustMeterBalance(_)) => BALANCE_INCREMENTAL,
        UpdateMeterBalance::CreditMode(AdjustOrReset::ResetMeterBalance(_)) => BALANCE_ABSOLUTE,
    })
}

/// Prepayment cluster commands.
const SELECT_EMERGENCY_CREDIT: u8 = 0x00;
const CREDIT_ADJUSTMENT: u8 = 0x05;
/// Events cluster *Clear Event Log Request*.
const CLEAR_EVENT_LOG: u8 = 0x01;
/// Device Management commands.
const PUBLISH_CHANGE_OF_SUPPLIER: u8 = 0x01;
const UPDATE_SITE_ID: u8 = 0x03;
const REQUEST_NEW_PASSWORD_RESPONSE: u8 = 0x02;
/// *Request New Password Response* password type: the consumer's (the privacy PIN).
const CONSUMER_PASSWORD: u8 = 0x02;
/// The provider change control the corpus's GCS44 carries.
const PROVIDER_CHANGE_CONTROL: u32 = 0x0000_1800;
/// Price cluster commands.
const PUBLISH_BLOCK_PERIOD: u8 = 0x01;
const PUBLISH_BILLING_PERIOD: u8 = 0x09;
/// The block period control the corpus's GCS25 and GCS25a carry (repeating block).
const BLOCK_PERIOD_CONTROL: u8 = 0x02;

/// GCS40a–d: *Credit Adjustment* of the request's type and value (0 for a reset).
fn gcs40(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let (Some(kind), Body::UpdateMeterBalance(u)) = (adjustment(i.body), i.body) else {
        return Err(i.wrong_body());
    };
    let value = match &**u {
        UpdateMeterBalance::PrepaymentMode(c) | UpdateMeterBalance::CreditMode(c) => match c {
            AdjustOrReset::AdjustMeterBalance(v) => *v,
            AdjustOrReset::ResetMeterBalance(_) => 0,
        },
    };
    Ok(zcl::encode(&[Command::cluster(
        cluster::PREPAYMENT,
        CREDIT_ADJUSTMENT,
        Fields::new()
            .u32(i.now_zigbee()?)
            .u32(0)
            .u8(kind)
            .u32(u32::from_le_bytes(value.to_le_bytes()))
            .done(),
    )]))
}

/// GCS06: *Select Available Emergency Credit*.
fn gcs06(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !matches!(i.body, Body::ActivateEmergencyCredit(_)) {
        return Err(i.wrong_body());
    }
    Ok(zcl::encode(&[Command::cluster(
        cluster::PREPAYMENT,
        SELECT_EMERGENCY_CREDIT,
        Fields::new().u32(0).u8(0).done(),
    )]))
}

/// CS11: *Clear Event Log Request* for the event log.
fn cs11(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !matches!(i.body, Body::ClearEventLog(c) if c.esme_event_log_type.is_none()) {
        return Err(i.wrong_body());
    }
    Ok(zcl::encode(&[Command::cluster(
        cluster::EVENTS,
        CLEAR_EVENT_LOG,
        vec![zcl::log::EVENT],
    )]))
}

/// GCS44: *Publish Change of Supplier* with the supplier's name and telephone number.
fn gcs44(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::UpdateSupplierName(b) = i.body else {
        return Err(i.wrong_body());
    };
    Ok(zcl::encode(&[Command::cluster(
        cluster::DEVICE_MANAGEMENT,
        PUBLISH_CHANGE_OF_SUPPLIER,
        Fields::new()
            .u32(0)
            .u32(i.now_zigbee()?)
            .u8(0)
            .u32(0)
            .u32(0)
            .u32(PROVIDER_CHANGE_CONTROL)
            .string(b.supplier_name.as_bytes())
            .string(b.supplier_telephone_number.as_bytes())
            .done(),
    )
    .frame_control(CLUSTER_SPECIFIC_NO_DEFAULT_RESPONSE)]))
}

/// GCS11: *Request New Password Response* setting an empty consumer password, which
/// disables the privacy PIN: issuer event ID now, implementation time 0 (now), duration 0.
fn gcs11(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !matches!(i.body, Body::DisablePrivacyPIN(_)) {
        return Err(i.wrong_body());
    }
    Ok(zcl::encode(&[Command::cluster(
        cluster::DEVICE_MANAGEMENT,
        REQUEST_NEW_PASSWORD_RESPONSE,
        Fields::new()
            .u32(i.now_zigbee()?)
            .u32(0)
            .u16(0)
            .u8(CONSUMER_PASSWORD)
            .string(&[])
            .done(),
    )
    .frame_control(CLUSTER_SPECIFIC_NO_DEFAULT_RESPONSE)]))
}

/// GCS41: *Update Site ID* with the MPRN.
fn gcs41(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::SetDeviceConfigurationImportMPxN(s) = i.body else {
        return Err(i.wrong_body());
    };
    let SetDeviceConfigurationImportMPxNChoice::ImportMPRN(mprn) = &s.choice else {
        return Err(i.field("ImportMPANs", "a gas meter takes ImportMPRN"));
    };
    Ok(zcl::encode(&[Command::cluster(
        cluster::DEVICE_MANAGEMENT,
        UPDATE_SITE_ID,
        Fields::new()
            .u32(i.now_zigbee()?)
            .u32(0)
            .u32(0)
            .string(mprn.as_bytes())
            .done(),
    )
    .frame_control(CLUSTER_SPECIFIC_NO_DEFAULT_RESPONSE)]))
}

/// A 6.8 request's gas billing calendar: its start and periodicity.
fn gas_calendar(b: &Body) -> Option<(&crate::duis::model::xsd::DateTime, Periodicity)> {
    match b {
        Body::UpdateDeviceConfigurationBillingCalendar(c) => match &**c {
            BillingCalendar::GasBillingCalendar(g) => {
                Some((&g.billing_period_start, g.periodicity))
            }
            BillingCalendar::ElectricityBillingCalendar(_) => None,
        },
        _ => None,
    }
}

/// GCS25 / GCS25a: *Publish Billing Period* and *Publish Block Period* from the billing
/// period start, for the periodicity's duration.
fn gcs25(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Some((start, periodicity)) = gas_calendar(i.body) else {
        return Err(i.field(
            "ElectricityBillingCalendar",
            "a gas meter takes GasBillingCalendar",
        ));
    };
    let start = UtcDateTime::from_xsd(start)
        .and_then(|t| t.zigbee())
        .map_err(|e| i.field("BillingPeriodStart", e.to_string()))?;
    // (duration, duration type): timebase in the low nibble (1 days, 2 weeks, 3 months),
    // "control not specified" (2) in the high one.
    let (duration, duration_type) = match periodicity {
        Periodicity::Daily => (1, 0x21),
        Periodicity::Weekly => (1, 0x22),
        Periodicity::Monthly => (1, 0x23),
        Periodicity::Quarterly => (3, 0x23),
        Periodicity::SixMonthly => (6, 0x23),
        Periodicity::Yearly => (12, 0x23),
    };
    let now = i.now_zigbee()?;
    let period = || Fields::new().u32(0).u32(now).u32(start).u24(duration);
    Ok(zcl::encode(&[
        Command::cluster(
            cluster::PRICE,
            PUBLISH_BILLING_PERIOD,
            period().u8(duration_type).u8(0).done(),
        )
        .frame_control(CLUSTER_SPECIFIC_NO_DEFAULT_RESPONSE),
        Command::cluster(
            cluster::PRICE,
            PUBLISH_BLOCK_PERIOD,
            period()
                .u8(BLOCK_PERIOD_CONTROL)
                .u8(duration_type)
                .u8(0)
                .u8(1)
                .done(),
        )
        .frame_control(CLUSTER_SPECIFIC_NO_DEFAULT_RESPONSE),
    ]))
}
