//! One registration record: which party holds which role for an MPxN, and from when to when.

use std::fmt;
use std::str::FromStr;

use hubgate_protocol::catalogue::Role;
use hubgate_protocol::hex;

use super::date::{Date, DateError};
use super::mpxn::{Fuel, Mpxn, MpxnError};

/// The relationship to a metering point that registration data records.
///
/// Text forms (either accepted, in any letter case): `import_supplier` / `IS`,
/// `export_supplier` / `ES`, `gas_supplier` / `GS`, `electricity_distributor` / `ED`,
/// `gas_transporter` / `GT`, `supplier_agent` / `RSA`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PartyRole {
    /// The registered import supplier of an MPAN.
    ImportSupplier,
    /// The registered export supplier of an MPAN.
    ExportSupplier,
    /// The registered supplier of an MPRN.
    GasSupplier,
    /// The network operator of an MPAN.
    ElectricityDistributor,
    /// The network operator of an MPRN.
    GasTransporter,
    /// The supplier's registered agent for the MPxN (either fuel).
    SupplierAgent,
}

impl PartyRole {
    /// Every party role.
    pub const ALL: [PartyRole; 6] = [
        PartyRole::ImportSupplier,
        PartyRole::ExportSupplier,
        PartyRole::GasSupplier,
        PartyRole::ElectricityDistributor,
        PartyRole::GasTransporter,
        PartyRole::SupplierAgent,
    ];

    /// The canonical text form (`import_supplier`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            PartyRole::ImportSupplier => "import_supplier",
            PartyRole::ExportSupplier => "export_supplier",
            PartyRole::GasSupplier => "gas_supplier",
            PartyRole::ElectricityDistributor => "electricity_distributor",
            PartyRole::GasTransporter => "gas_transporter",
            PartyRole::SupplierAgent => "supplier_agent",
        }
    }

    /// The fuel this role exists for; `None` for a supplier agent, which exists for both.
    pub fn fuel(self) -> Option<Fuel> {
        match self {
            PartyRole::ImportSupplier
            | PartyRole::ExportSupplier
            | PartyRole::ElectricityDistributor => Some(Fuel::Electricity),
            PartyRole::GasSupplier | PartyRole::GasTransporter => Some(Fuel::Gas),
            PartyRole::SupplierAgent => None,
        }
    }

    /// The registration relationship that a User Role needs for a non-critical Service
    /// Request, or `None` for `OU`, which needs none. See the table in the module docs.
    pub fn required_for(role: Role) -> Option<PartyRole> {
        match role {
            Role::ImportSupplier => Some(PartyRole::ImportSupplier),
            Role::ExportSupplier => Some(PartyRole::ExportSupplier),
            Role::GasSupplier => Some(PartyRole::GasSupplier),
            Role::ElectricityDistributor => Some(PartyRole::ElectricityDistributor),
            Role::GasTransporter => Some(PartyRole::GasTransporter),
            Role::RegisteredSupplierAgent => Some(PartyRole::SupplierAgent),
            Role::OtherUser => None,
        }
    }

    fn code(self) -> &'static str {
        match self {
            PartyRole::ImportSupplier => "IS",
            PartyRole::ExportSupplier => "ES",
            PartyRole::GasSupplier => "GS",
            PartyRole::ElectricityDistributor => "ED",
            PartyRole::GasTransporter => "GT",
            PartyRole::SupplierAgent => "RSA",
        }
    }
}

impl fmt::Display for PartyRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PartyRole {
    type Err = ();

    fn from_str(s: &str) -> Result<PartyRole, ()> {
        PartyRole::ALL
            .into_iter()
            .find(|r| s.eq_ignore_ascii_case(r.as_str()) || s.eq_ignore_ascii_case(r.code()))
            .ok_or(())
    }
}

/// A field of a registration record, named as in the CSV header and the JSON keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    /// `mpxn`.
    Mpxn,
    /// `fuel`.
    Fuel,
    /// `role`.
    Role,
    /// `party`.
    Party,
    /// `effective_from`.
    EffectiveFrom,
    /// `effective_to`.
    EffectiveTo,
}

impl Field {
    /// Every field, in the order of the CSV header.
    pub const ALL: [Field; 6] = [
        Field::Mpxn,
        Field::Fuel,
        Field::Role,
        Field::Party,
        Field::EffectiveFrom,
        Field::EffectiveTo,
    ];

    /// The field's name in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Mpxn => "mpxn",
            Field::Fuel => "fuel",
            Field::Role => "role",
            Field::Party => "party",
            Field::EffectiveFrom => "effective_from",
            Field::EffectiveTo => "effective_to",
        }
    }

    /// The field called `name`, if any.
    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a record's fields do not make a registration. Every variant names its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// A required field is absent or empty.
    #[error("field `{0}`: missing")]
    Missing(Field),
    /// A JSON value that should have been a string (or, for `effective_to`, a string or null).
    #[error("field `{0}`: expected a string")]
    NotAString(Field),
    /// The MPxN is malformed.
    #[error("field `mpxn`: {0}")]
    Mpxn(MpxnError),
    /// The fuel is neither `electricity` nor `gas`.
    #[error("field `fuel`: expected `electricity` or `gas`, got {0:?}")]
    Fuel(String),
    /// The fuel contradicts the MPxN's form (13 digits are electricity, 6 to 10 gas).
    #[error("field `fuel`: `{fuel}` does not match the MPxN, which is {implied}")]
    FuelMismatch {
        /// The fuel given.
        fuel: Fuel,
        /// The fuel the MPxN's form implies.
        implied: Fuel,
    },
    /// The role is not one of the six registration roles.
    #[error(
        "field `role`: expected one of import_supplier, export_supplier, gas_supplier, \
         electricity_distributor, gas_transporter, supplier_agent (or IS, ES, GS, ED, GT, \
         RSA), got {0:?}"
    )]
    Role(String),
    /// The role does not exist for this fuel (for example a gas transporter of an MPAN).
    #[error("field `role`: `{role}` does not apply to {fuel}")]
    RoleFuelMismatch {
        /// The role given.
        role: PartyRole,
        /// The record's fuel.
        fuel: Fuel,
    },
    /// The party is not an EUI-64 User ID.
    #[error(
        "field `party`: expected a User ID of 16 hex digits (optionally `-` or `:` separated), got {0:?}"
    )]
    Party(String),
    /// A date is malformed or does not exist.
    #[error("field `{field}`: {error}")]
    Date {
        /// `effective_from` or `effective_to`.
        field: Field,
        /// What is wrong with it.
        error: DateError,
    },
    /// The registration ends before it starts.
    #[error("field `effective_to`: {to} is before effective_from {from}")]
    EndBeforeStart {
        /// The start.
        from: Date,
        /// The end.
        to: Date,
    },
}

impl RecordError {
    /// The field at fault.
    pub fn field(&self) -> Field {
        match self {
            RecordError::Missing(f) | RecordError::NotAString(f) => *f,
            RecordError::Date { field, .. } => *field,
            RecordError::Mpxn(_) => Field::Mpxn,
            RecordError::Fuel(_) | RecordError::FuelMismatch { .. } => Field::Fuel,
            RecordError::Role(_) | RecordError::RoleFuelMismatch { .. } => Field::Role,
            RecordError::Party(_) => Field::Party,
            RecordError::EndBeforeStart { .. } => Field::EffectiveTo,
        }
    }
}

/// What identifies a record: a refresh that keeps the key but changes the party or the end
/// date *modifies* the record; a new key is an addition.
///
/// At most one record exists per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordKey {
    /// The metering point.
    pub mpxn: Mpxn,
    /// The relationship.
    pub party_role: PartyRole,
    /// The first day of the registration.
    pub effective_from: Date,
}

/// A registration: `party` holds `party_role` for `mpxn` from `effective_from` through
/// `effective_to` (both days included; `None` = open-ended).
///
/// Built only through [`Registration::new`] (or parsing), which checks that the fuel, the
/// MPxN's form and the role agree and that the range is not reversed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Registration {
    mpxn: Mpxn,
    party_role: PartyRole,
    party: [u8; 8],
    effective_from: Date,
    effective_to: Option<Date>,
}

impl Registration {
    /// Checks and builds a registration.
    pub fn new(
        mpxn: Mpxn,
        fuel: Fuel,
        party_role: PartyRole,
        party: [u8; 8],
        effective_from: Date,
        effective_to: Option<Date>,
    ) -> Result<Registration, RecordError> {
        let implied = mpxn.fuel();
        if fuel != implied {
            return Err(RecordError::FuelMismatch { fuel, implied });
        }
        if party_role.fuel().is_some_and(|f| f != fuel) {
            return Err(RecordError::RoleFuelMismatch {
                role: party_role,
                fuel,
            });
        }
        if let Some(to) = effective_to
            && to < effective_from
        {
            return Err(RecordError::EndBeforeStart {
                from: effective_from,
                to,
            });
        }
        Ok(Registration {
            mpxn,
            party_role,
            party,
            effective_from,
            effective_to,
        })
    }

    /// Rebuilds a record from its key and the rest, which must come from a record that
    /// [`Registration::new`] accepted (the index stores records split this way).
    pub(super) fn from_key(key: RecordKey, party: [u8; 8], effective_to: Option<Date>) -> Self {
        Registration {
            mpxn: key.mpxn,
            party_role: key.party_role,
            party,
            effective_from: key.effective_from,
            effective_to,
        }
    }

    /// The metering point.
    pub fn mpxn(&self) -> Mpxn {
        self.mpxn
    }

    /// Its fuel.
    pub fn fuel(&self) -> Fuel {
        self.mpxn.fuel()
    }

    /// The relationship.
    pub fn party_role(&self) -> PartyRole {
        self.party_role
    }

    /// The User ID (EUI-64) of the party.
    pub fn party(&self) -> [u8; 8] {
        self.party
    }

    /// The first day.
    pub fn effective_from(&self) -> Date {
        self.effective_from
    }

    /// The last day, included; `None` when open-ended.
    pub fn effective_to(&self) -> Option<Date> {
        self.effective_to
    }

    /// The identity of this record.
    pub fn key(&self) -> RecordKey {
        RecordKey {
            mpxn: self.mpxn,
            party_role: self.party_role,
            effective_from: self.effective_from,
        }
    }

    /// Whether `at` lies within the effective range, both ends included.
    pub fn covers(&self, at: Date) -> bool {
        self.effective_from <= at && self.effective_to.is_none_or(|to| at <= to)
    }
}

/// A record as text fields, before checking (one CSV row or one JSON object).
#[derive(Debug, Clone, Copy, Default)]
pub struct TextRecord<'a> {
    /// `mpxn`.
    pub mpxn: Option<&'a str>,
    /// `fuel`.
    pub fuel: Option<&'a str>,
    /// `role`.
    pub role: Option<&'a str>,
    /// `party`.
    pub party: Option<&'a str>,
    /// `effective_from`.
    pub effective_from: Option<&'a str>,
    /// `effective_to`; absent or empty means open-ended.
    pub effective_to: Option<&'a str>,
}

impl<'a> TextRecord<'a> {
    /// Sets a field by name.
    pub fn set(&mut self, field: Field, value: Option<&'a str>) {
        match field {
            Field::Mpxn => self.mpxn = value,
            Field::Fuel => self.fuel = value,
            Field::Role => self.role = value,
            Field::Party => self.party = value,
            Field::EffectiveFrom => self.effective_from = value,
            Field::EffectiveTo => self.effective_to = value,
        }
    }

    /// Checks the fields, in header order, and builds the registration. The first fault
    /// found is reported.
    pub fn parse(&self) -> Result<Registration, RecordError> {
        let mpxn: Mpxn = required(Field::Mpxn, self.mpxn)?
            .parse()
            .map_err(RecordError::Mpxn)?;
        let fuel_text = required(Field::Fuel, self.fuel)?;
        let fuel: Fuel = fuel_text
            .parse()
            .map_err(|()| RecordError::Fuel(clip(fuel_text)))?;
        let role_text = required(Field::Role, self.role)?;
        let role: PartyRole = role_text
            .parse()
            .map_err(|()| RecordError::Role(clip(role_text)))?;
        let party_text = required(Field::Party, self.party)?;
        let party =
            hex::parse_eui(party_text).ok_or_else(|| RecordError::Party(clip(party_text)))?;
        let from: Date = required(Field::EffectiveFrom, self.effective_from)?
            .parse()
            .map_err(|error| RecordError::Date {
                field: Field::EffectiveFrom,
                error,
            })?;
        let to = match self.effective_to {
            None | Some("") => None,
            Some(s) => Some(s.parse().map_err(|error| RecordError::Date {
                field: Field::EffectiveTo,
                error,
            })?),
        };
        Registration::new(mpxn, fuel, role, party, from, to)
    }
}

/// A required field's text, or [`RecordError::Missing`] when absent or empty.
fn required(field: Field, value: Option<&str>) -> Result<&str, RecordError> {
    value
        .filter(|s| !s.is_empty())
        .ok_or(RecordError::Missing(field))
}

/// Bounds text echoed back in errors.
fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

impl serde::Serialize for Registration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Repr {
            mpxn: String,
            fuel: &'static str,
            role: &'static str,
            party: String,
            effective_from: Date,
            effective_to: Option<Date>,
        }
        Repr {
            mpxn: self.mpxn.to_string(),
            fuel: self.fuel().as_str(),
            role: self.party_role.as_str(),
            party: hex::eui_duis(&self.party),
            effective_from: self.effective_from,
            effective_to: self.effective_to,
        }
        .serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text<'a>(fields: [&'a str; 6]) -> TextRecord<'a> {
        let mut r = TextRecord::default();
        for (f, v) in Field::ALL.into_iter().zip(fields) {
            r.set(f, Some(v));
        }
        r
    }

    #[test]
    fn parses_a_complete_record() {
        let r = text([
            "1312345678111",
            "electricity",
            "IS",
            "90-B3-D5-1F-30-01-00-00",
            "2024-01-01",
            "",
        ])
        .parse()
        .unwrap();
        assert_eq!(r.party_role(), PartyRole::ImportSupplier);
        assert_eq!(r.party(), [0x90, 0xB3, 0xD5, 0x1F, 0x30, 0x01, 0, 0]);
        assert_eq!(r.effective_to(), None);
        assert_eq!(r.fuel(), Fuel::Electricity);
        let json = serde_json::to_value(r).unwrap();
        assert_eq!(json["party"], "90-B3-D5-1F-30-01-00-00");
        assert_eq!(json["role"], "import_supplier");
        assert_eq!(json["effective_to"], serde_json::Value::Null);
    }

    #[test]
    fn each_fault_names_its_field() {
        let base = [
            "1312345678111",
            "electricity",
            "import_supplier",
            "90b3d51f30010000",
            "2024-01-01",
            "2024-12-31",
        ];
        let cases: [(usize, &str, Field); 10] = [
            (0, "13123456781", Field::Mpxn),
            (0, "", Field::Mpxn),
            (1, "water", Field::Fuel),
            (1, "gas", Field::Fuel),
            (2, "landlord", Field::Role),
            (2, "gas_transporter", Field::Role),
            (3, "90b3d51f300100", Field::Party),
            (4, "2024-02-30", Field::EffectiveFrom),
            (5, "31/12/2024", Field::EffectiveTo),
            (5, "2023-12-31", Field::EffectiveTo),
        ];
        for (i, value, field) in cases {
            let mut fields = base;
            fields[i] = value;
            let err = text(fields).parse().unwrap_err();
            assert_eq!(err.field(), field, "{value}: {err}");
            assert!(
                err.to_string().starts_with(&format!("field `{field}`")),
                "{err}"
            );
        }
    }

    #[test]
    fn supplier_agent_exists_for_both_fuels_and_single_day_ranges_are_allowed() {
        let gas = text([
            "1000999888",
            "gas",
            "supplier_agent",
            "0000000000000001",
            "2024-01-01",
            "2024-01-01",
        ])
        .parse()
        .unwrap();
        assert!(gas.covers("2024-01-01".parse().unwrap()));
        assert!(!gas.covers("2024-01-02".parse().unwrap()));
        assert!(!gas.covers("2023-12-31".parse().unwrap()));
    }

    #[test]
    fn every_user_role_maps() {
        for role in Role::ALL {
            let needed = PartyRole::required_for(role);
            assert_eq!(needed.is_none(), role == Role::OtherUser);
            if let Some(p) = needed {
                assert_eq!(p.code(), role.code());
            }
        }
    }
}
