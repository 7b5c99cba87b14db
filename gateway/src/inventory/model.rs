//! The Smart Metering Inventory record: a [`Device`] with what a DUIS 5.4 `DSPInventory`
//! `Device` carries, plus the association the gateway keeps.
//!
//! Enumerations use the schema's lexical values (`sr:DeviceType`, `sr:DeviceStatus`,
//! `sr:CSPRegion`, `sr:CPLStatus`, `sr:FirmwareVersionStatus`, `sr:Connectivity`), both on
//! the wire and in the store.
//!
//! # Associations
//!
//! Each device records at most one device it is Associated with ([`Device::associated_with`]):
//!
//! | device type | associated with |
//! |---|---|
//! | ESME, GSME (Smart Meters) | the CHF whose HAN the meter is on |
//! | GPF | the GSME it proxies |
//! | HCALCS | the ESME it switches |
//! | PPMID, IHD, CAD | an ESME or a GSME |
//! | CHF | nothing |
//!
//! So the CHF of any device is reached through its meter (see
//! [`crate::inventory::rules`]).

use std::fmt;
use std::str::FromStr;

use hubgate_protocol::duis::model::body;
use hubgate_protocol::duis::model::xsd::{Date, XsdEnum};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A device identifier (EUI-64), written the DUIS way (`00-DB-12-34-56-78-90-A0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Eui(pub [u8; 8]);

impl Eui {
    /// The eight bytes.
    pub fn bytes(&self) -> &[u8; 8] {
        &self.0
    }
}

impl fmt::Display for Eui {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(hubgate_protocol::hex::EuiText::new(&self.0).as_str())
    }
}

/// Why a text is not an EUI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an EUI-64 (eight hex pairs, e.g. 00-DB-12-34-56-78-90-A0): {0:?}")]
pub struct EuiError(pub String);

impl FromStr for Eui {
    type Err = EuiError;

    /// Accepts the DUIS form (`-` separated) or 16 hex digits, with `-` or `:` separators.
    fn from_str(s: &str) -> Result<Eui, EuiError> {
        let t = s.trim();
        hubgate_protocol::hex::parse_eui(t)
            .filter(|_| {
                t.chars()
                    .all(|c| c.is_ascii_hexdigit() || c == '-' || c == ':')
            })
            .map(Eui)
            .ok_or_else(|| EuiError(s.to_owned()))
    }
}

impl Serialize for Eui {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Eui {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Eui, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Defines a unit enum with the schema's lexical values, serde through those values,
/// `as_str` and `FromStr`.
macro_rules! lexical_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $value:literal, )+ }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $value)] $variant, )+
        }

        impl $name {
            /// Every value, in schema order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The schema's lexical value.
            pub fn as_str(self) -> &'static str {
                match self { $( $name::$variant => $value, )+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<$name, String> {
                match s.trim() {
                    $( $value => Ok($name::$variant), )+
                    other => Err(format!(
                        concat!("{:?} is not a ", stringify!($name), " (one of {})"),
                        other,
                        [$($value),+].join(", ")
                    )),
                }
            }
        }
    };
}

lexical_enum! {
    /// `sr:DeviceType`.
    pub enum DeviceType {
        /// Electricity Smart Meter.
        Esme = "ESME",
        /// Gas Smart Meter.
        Gsme = "GSME",
        /// Gas Proxy Function.
        Gpf = "GPF",
        /// Communications Hub Function.
        Chf = "CHF",
        /// HAN Connected Auxiliary Load Control Switch.
        Hcalcs = "HCALCS",
        /// Pre-Payment Interface Device.
        Ppmid = "PPMID",
        /// In-Home Display (Type 2).
        Ihd = "IHD",
        /// Consumer Access Device (Type 2).
        Cad = "CAD",
    }
}

impl DeviceType {
    /// ESME or GSME.
    pub fn is_smart_meter(self) -> bool {
        matches!(self, DeviceType::Esme | DeviceType::Gsme)
    }

    /// IHD or CAD: Type 2 Devices (no SMKI credentials, read-only HAN access).
    pub fn is_type2(self) -> bool {
        matches!(self, DeviceType::Ihd | DeviceType::Cad)
    }

    /// The device types this type may be Associated with (empty: none).
    pub fn association_targets(self) -> &'static [DeviceType] {
        match self {
            DeviceType::Chf => &[],
            DeviceType::Esme | DeviceType::Gsme => &[DeviceType::Chf],
            DeviceType::Gpf => &[DeviceType::Gsme],
            DeviceType::Hcalcs => &[DeviceType::Esme],
            DeviceType::Ppmid | DeviceType::Ihd | DeviceType::Cad => {
                &[DeviceType::Esme, DeviceType::Gsme]
            }
        }
    }
}

impl From<body::DeviceType> for DeviceType {
    fn from(t: body::DeviceType) -> DeviceType {
        match t {
            body::DeviceType::Esme => DeviceType::Esme,
            body::DeviceType::Gsme => DeviceType::Gsme,
            body::DeviceType::Gpf => DeviceType::Gpf,
            body::DeviceType::Chf => DeviceType::Chf,
            body::DeviceType::Hcalcs => DeviceType::Hcalcs,
            body::DeviceType::Ppmid => DeviceType::Ppmid,
            body::DeviceType::Ihd => DeviceType::Ihd,
            body::DeviceType::Cad => DeviceType::Cad,
        }
    }
}

lexical_enum! {
    /// `sr:DeviceStatus`: the Smart Metering Inventory status.
    pub enum DeviceStatus {
        /// Pre-notified and accepted onto the inventory.
        Pending = "Pending",
        /// Added to the CHF's whitelist (HAN device log), not yet joined.
        Whitelisted = "Whitelisted",
        /// Installed (in the CHF's device log) but not commissioned.
        InstalledNotCommissioned = "InstalledNotCommissioned",
        /// Commissioned: the DCC communicates with it.
        Commissioned = "Commissioned",
        /// Removed from DCC services and from the premises.
        Decommissioned = "Decommissioned",
        /// Removed from DCC services (still at the premises).
        Withdrawn = "Withdrawn",
        /// Temporarily out of service (for example, its model left the CPL).
        Suspended = "Suspended",
        /// Undergoing post-compromise recovery.
        Recovery = "Recovery",
        /// Recovered after a compromise, awaiting reinstatement.
        Recovered = "Recovered",
    }
}

lexical_enum! {
    /// `sr:CSPRegion`.
    pub enum CspRegion {
        /// North.
        North = "North",
        /// Central.
        Central = "Central",
        /// South.
        South = "South",
        /// 4G North.
        FourGNorth = "4G North",
        /// 4G Central.
        FourGCentral = "4G Central",
        /// 4G South.
        FourGSouth = "4G South",
        /// Unknown.
        Unknown = "Unknown",
        /// SMETS1.
        Smets1 = "SMETS1",
    }
}

lexical_enum! {
    /// `sr:CPLStatus` (Certified Products List entry status).
    pub enum CplStatus {
        /// Active.
        Active = "Active",
        /// Cancelled.
        Cancelled = "Cancelled",
        /// Expired.
        Expired = "Expired",
        /// Withdrawn.
        Withdrawn = "Withdrawn",
    }
}

lexical_enum! {
    /// `sr:FirmwareVersionStatus`.
    pub enum FirmwareVersionStatus {
        /// Active.
        Active = "Active",
        /// Cancelled.
        Cancelled = "Cancelled",
        /// Expired.
        Expired = "Expired",
        /// Withdrawn.
        Withdrawn = "Withdrawn",
    }
}

lexical_enum! {
    /// `sr:Connectivity`.
    pub enum Connectivity {
        /// Cellular.
        Cellular = "Cellular",
        /// Virtual.
        Virtual = "Virtual",
    }
}

/// Premises as DUIS identifies them (`sr:PropertyFilter`): post code and premises number or
/// name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Premises {
    /// `PostCode` (6 to 8 characters).
    pub post_code: String,
    /// `AddressIdentifier` (at most 30 characters).
    pub address_identifier: String,
}

impl Premises {
    /// The form used for matching: post code upper-cased with spaces removed, address
    /// identifier trimmed and upper-cased, joined by U+001F.
    pub fn match_key(post_code: &str, address_identifier: &str) -> String {
        let mut k = normalise_post_code(post_code);
        k.push('\u{1f}');
        k.push_str(&address_identifier.trim().to_uppercase());
        k
    }
}

/// A post code upper-cased with all whitespace removed (`m22 0rr` → `M220RR`).
pub fn normalise_post_code(p: &str) -> String {
    p.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// One device on the Smart Metering Inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// `DeviceID`.
    pub id: Eui,
    /// `DeviceType`.
    pub device_type: DeviceType,
    /// `DeviceStatus`.
    pub status: DeviceStatus,
    /// `DeviceManufacturer` (at most 30 characters).
    pub manufacturer: String,
    /// `DeviceModel` (at most 30 characters).
    pub model: String,
    /// `SMETSCHTSVersion` (1 to 20 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smets_chts_version: Option<String>,
    /// `DeviceFirmwareVersion` (1 to 8 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware_version: Option<String>,
    /// `DeviceFirmwareVersionStatus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware_version_status: Option<FirmwareVersionStatus>,
    /// `CPLStatus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpl_status: Option<CplStatus>,
    /// `DateCommissioned` (`xs:date`), set when the device is first commissioned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_commissioned: Option<String>,
    /// `ImportMPxN`: the import MPAN (13 digits) or the MPRN (up to 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_mpxn: Option<String>,
    /// `SecondaryImportMPAN` (ESME only, 13 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary_import_mpan: Option<String>,
    /// `ExportMPAN` (ESME only, 13 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_mpan: Option<String>,
    /// `ESMEVariant` (ESME only; a value of `sr:ESMEVariant`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub esme_variant: Option<String>,
    /// `UPRN` (positive, at most 12 digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uprn: Option<u64>,
    /// `PropertyFilter`: post code and premises.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub premises: Option<Premises>,
    /// `CSPRegion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csp_region: Option<CspRegion>,
    /// `DeviceGBCSVersion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_gbcs_version: Option<String>,
    /// `HANVariant`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub han_variant: Option<String>,
    /// `S1SP` (SMETS1 service provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s1sp: Option<String>,
    /// `Connectivity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connectivity: Option<Connectivity>,
    /// The device this one is Associated with (see the module documentation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub associated_with: Option<Eui>,
}

/// A field value the schema would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    /// The DUIS element name.
    pub field: &'static str,
    /// What is wrong.
    pub reason: String,
}

impl FieldError {
    fn new(field: &'static str, reason: impl Into<String>) -> FieldError {
        FieldError {
            field,
            reason: reason.into(),
        }
    }
}

impl Device {
    /// A Pending device with only the mandatory fields.
    pub fn new(id: Eui, device_type: DeviceType, manufacturer: &str, model: &str) -> Device {
        Device {
            id,
            device_type,
            status: DeviceStatus::Pending,
            manufacturer: manufacturer.to_owned(),
            model: model.to_owned(),
            smets_chts_version: None,
            firmware_version: None,
            firmware_version_status: None,
            cpl_status: None,
            date_commissioned: None,
            import_mpxn: None,
            secondary_import_mpan: None,
            export_mpan: None,
            esme_variant: None,
            uprn: None,
            premises: None,
            csp_region: None,
            device_gbcs_version: None,
            han_variant: None,
            s1sp: None,
            connectivity: None,
            associated_with: None,
        }
    }

    /// The MPxNs recorded on the device (import, secondary import, export).
    pub fn mpxns(&self) -> impl Iterator<Item = &str> {
        [
            &self.import_mpxn,
            &self.secondary_import_mpan,
            &self.export_mpan,
        ]
        .into_iter()
        .flatten()
        .map(String::as_str)
    }

    /// Checks every field against the schema's facets for a `DSPInventory` `Device`, and the
    /// fields that only some device types carry.
    ///
    /// # Errors
    ///
    /// The first [`FieldError`].
    pub fn validate(&self) -> Result<(), FieldError> {
        max_len("DeviceManufacturer", &self.manufacturer, 30)?;
        max_len("DeviceModel", &self.model, 30)?;
        opt_len("SMETSCHTSVersion", &self.smets_chts_version, 1, 20)?;
        opt_len("DeviceFirmwareVersion", &self.firmware_version, 1, 8)?;
        if let Some(d) = &self.date_commissioned {
            Date::new(d).map_err(|e| FieldError::new("DateCommissioned", e.to_string()))?;
        }
        opt_len("ImportMPxN", &self.import_mpxn, 1, 13)?;
        opt_len("SecondaryImportMPAN", &self.secondary_import_mpan, 13, 13)?;
        opt_len("ExportMPAN", &self.export_mpan, 13, 13)?;
        let esme_only = [
            ("SecondaryImportMPAN", self.secondary_import_mpan.is_some()),
            ("ExportMPAN", self.export_mpan.is_some()),
            ("ESMEVariant", self.esme_variant.is_some()),
        ];
        for (field, present) in esme_only {
            if present && self.device_type != DeviceType::Esme {
                return Err(FieldError::new(
                    field,
                    format!("only an ESME carries it, not a {}", self.device_type),
                ));
            }
        }
        if let Some(v) = &self.esme_variant
            && <body::ESMEVariant as XsdEnum>::from_value(v).is_none()
        {
            return Err(FieldError::new(
                "ESMEVariant",
                format!(
                    "{v:?} is not one of {}",
                    <body::ESMEVariant as XsdEnum>::VALUES.join(", ")
                ),
            ));
        }
        if let Some(u) = self.uprn
            && !(1..=999_999_999_999).contains(&u)
        {
            return Err(FieldError::new(
                "UPRN",
                format!("{u} is not a positive integer of at most 12 digits"),
            ));
        }
        if let Some(p) = &self.premises {
            let n = p.post_code.chars().count();
            if !(6..=8).contains(&n) {
                return Err(FieldError::new(
                    "PostCode",
                    format!("{:?} must be 6 to 8 characters", p.post_code),
                ));
            }
            max_len("AddressIdentifier", &p.address_identifier, 30)?;
        }
        if self.associated_with == Some(self.id) {
            return Err(FieldError::new(
                "associated_with",
                "a device cannot be Associated with itself",
            ));
        }
        Ok(())
    }
}

fn max_len(field: &'static str, v: &str, max: usize) -> Result<(), FieldError> {
    if v.chars().count() > max {
        return Err(FieldError::new(
            field,
            format!("{v:?} is longer than {max} characters"),
        ));
    }
    Ok(())
}

fn opt_len(
    field: &'static str,
    v: &Option<String>,
    min: usize,
    max: usize,
) -> Result<(), FieldError> {
    if let Some(v) = v {
        let n = v.chars().count();
        if n < min || n > max {
            return Err(FieldError::new(
                field,
                if min == max {
                    format!("{v:?} must be {min} characters")
                } else {
                    format!("{v:?} must be {min} to {max} characters")
                },
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eui_forms() {
        let e: Eui = "00-db-12-34-56-78-90-a0".parse().unwrap();
        assert_eq!(e.to_string(), "00-DB-12-34-56-78-90-A0");
        assert_eq!("00DB1234567890A0".parse::<Eui>().unwrap(), e);
        assert!("00-DB-12-34-56-78-90".parse::<Eui>().is_err());
        assert!("00-DB-12-34-56-78-90-A0 junk".parse::<Eui>().is_err());
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            "\"00-DB-12-34-56-78-90-A0\""
        );
    }

    #[test]
    fn enums_round_trip_the_schema_values() {
        for s in DeviceStatus::ALL {
            assert_eq!(s.as_str().parse::<DeviceStatus>().unwrap(), *s);
        }
        assert_eq!(
            "4G North".parse::<CspRegion>().unwrap(),
            CspRegion::FourGNorth
        );
        assert!("Installed".parse::<DeviceStatus>().is_err());
        assert_eq!(
            serde_json::to_string(&DeviceStatus::InstalledNotCommissioned).unwrap(),
            "\"InstalledNotCommissioned\""
        );
    }

    #[test]
    fn validation_follows_the_schema_facets() {
        let id = Eui([0, 0xDB, 0x12, 0x34, 0x56, 0x78, 0x90, 0xA0]);
        let mut d = Device::new(id, DeviceType::Gsme, "AB01", "010A030B");
        assert_eq!(d.validate(), Ok(()));
        d.esme_variant = Some("A".into());
        assert_eq!(d.validate().unwrap_err().field, "ESMEVariant");
        d.device_type = DeviceType::Esme;
        assert_eq!(d.validate(), Ok(()));
        d.esme_variant = Some("Z".into());
        assert_eq!(d.validate().unwrap_err().field, "ESMEVariant");
        d.esme_variant = None;
        d.export_mpan = Some("123".into());
        assert_eq!(d.validate().unwrap_err().field, "ExportMPAN");
        d.export_mpan = None;
        d.uprn = Some(1_000_000_000_000);
        assert_eq!(d.validate().unwrap_err().field, "UPRN");
        d.uprn = Some(1);
        d.premises = Some(Premises {
            post_code: "M1".into(),
            address_identifier: "1".into(),
        });
        assert_eq!(d.validate().unwrap_err().field, "PostCode");
        d.premises = None;
        d.date_commissioned = Some("2025-13-01".into());
        assert_eq!(d.validate().unwrap_err().field, "DateCommissioned");
        d.date_commissioned = Some("2025-12-01".into());
        d.associated_with = Some(id);
        assert_eq!(d.validate().unwrap_err().field, "associated_with");
    }

    #[test]
    fn premises_keys_ignore_case_and_spaces() {
        assert_eq!(
            Premises::match_key("m22 0rr", " threapwood road "),
            Premises::match_key("M220RR", "Threapwood Road")
        );
    }
}
