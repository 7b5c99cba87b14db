//! The Service Reference Variant catalogue.
//!
//! Every DUIS Service Reference Variant (SRV) with its attributes: name, criticality,
//! on-demand and DCC-scheduled flags, future-dated response pattern, whether it is a
//! non-device request, eligible User roles, the `Body` element that carries it, the
//! CommandVariants it may be sent with, and the GBCS use cases (with 16-bit message codes)
//! it maps to. A second table describes GBCS use cases by name.
//!
//! The data lives in `protocol/data/srv_catalogue.json`, generated once from the shared
//! conformance corpus by `protocol/data/gen_catalogue.py` and then reviewed by hand. It is
//! embedded at build time and parsed on first use.
//!
//! ```
//! use hubgate_protocol::catalogue::{Catalogue, Role};
//! let srv = Catalogue::get().srv("4.1.1").expect("known SRV");
//! assert!(!srv.critical);
//! assert!(srv.allows_role(Role::GasSupplier));
//! assert_eq!(srv.body_elements, ["ReadInstantaneousImportRegisters"]);
//! ```

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use serde::{Deserialize, Deserializer};

/// A DUIS User role allowed to send Service Requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
pub enum Role {
    /// `IS`: import supplier.
    #[serde(rename = "IS")]
    ImportSupplier,
    /// `ES`: export supplier.
    #[serde(rename = "ES")]
    ExportSupplier,
    /// `GS`: gas supplier.
    #[serde(rename = "GS")]
    GasSupplier,
    /// `ED`: electricity distributor.
    #[serde(rename = "ED")]
    ElectricityDistributor,
    /// `GT`: gas transporter.
    #[serde(rename = "GT")]
    GasTransporter,
    /// `OU`: other user.
    #[serde(rename = "OU")]
    OtherUser,
    /// `RSA`: registered supplier agent.
    #[serde(rename = "RSA")]
    RegisteredSupplierAgent,
}

impl Role {
    /// Every role, in the order DUIS lists them.
    pub const ALL: [Role; 7] = [
        Role::ImportSupplier,
        Role::ExportSupplier,
        Role::GasSupplier,
        Role::ElectricityDistributor,
        Role::GasTransporter,
        Role::OtherUser,
        Role::RegisteredSupplierAgent,
    ];

    /// The DUIS abbreviation (`IS`, `ES`, `GS`, `ED`, `GT`, `OU`, `RSA`).
    pub fn code(self) -> &'static str {
        match self {
            Role::ImportSupplier => "IS",
            Role::ExportSupplier => "ES",
            Role::GasSupplier => "GS",
            Role::ElectricityDistributor => "ED",
            Role::GasTransporter => "GT",
            Role::OtherUser => "OU",
            Role::RegisteredSupplierAgent => "RSA",
        }
    }

    /// Parses a DUIS abbreviation (exact, upper case).
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Error returned when a string is not a role abbreviation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown User role {0:?} (expected IS, ES, GS, ED, GT, OU or RSA)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::parse(s).ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// How a future-dated request is executed (DUIS "Future Dated Response Pattern").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum FutureDatedPattern {
    /// The DCC holds the request and sends it at the execution time.
    #[serde(rename = "DSP")]
    Dsp,
    /// The execution time goes into the GBCS command; the device raises an alert later.
    #[serde(rename = "Device")]
    Device,
    /// Either, depending on the request.
    #[serde(rename = "DSP & Device")]
    DspAndDevice,
    /// Not future-datable.
    #[serde(rename = "No")]
    No,
}

impl FutureDatedPattern {
    /// The label used in the DUIS request matrix.
    pub fn label(self) -> &'static str {
        match self {
            FutureDatedPattern::Dsp => "DSP",
            FutureDatedPattern::Device => "Device",
            FutureDatedPattern::DspAndDevice => "DSP & Device",
            FutureDatedPattern::No => "No",
        }
    }

    /// Whether a request for such an SRV may carry an `ExecutionDateTime`.
    pub fn is_future_datable(self) -> bool {
        self != FutureDatedPattern::No
    }
}

impl fmt::Display for FutureDatedPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A GBCS use case an SRV maps to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UseCaseRef {
    /// Use-case name as used by the templates and the RTDS corpus (`ECS17b`,
    /// `CS02bSupplierBySupplier`, `ECS70Commission`, …).
    pub name: String,
    /// GBCS message code, where the RTDS corpus shows it; `None` when unknown.
    #[serde(deserialize_with = "de_code")]
    pub message_code: Option<u16>,
}

/// One Service Reference Variant.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Srv {
    /// The Service Reference Variant, e.g. `4.1.1`.
    pub srv: String,
    /// The Service Reference (service group), e.g. `4.1`.
    pub service_reference: String,
    /// Service Request name (whitespace normalised).
    pub name: String,
    /// Critical: sent as CV 4 (transform) and then as a signed Pre-Command (CV 5/6/7).
    pub critical: bool,
    /// Available on demand.
    pub on_demand: bool,
    /// Future-dated response pattern.
    pub future_dated: FutureDatedPattern,
    /// May be DCC-scheduled (SRV 5.1).
    pub dcc_scheduled: bool,
    /// Handled by the DCC itself (CV 8), with no device command.
    pub non_device: bool,
    /// Roles allowed to send it (empty where the matrix lists none).
    pub roles: Vec<Role>,
    /// Name(s) of the `sr:Body` child element for a Service Request of this SRV. Requests
    /// sent as CV 5/6/7 carry `SignedPreCommand` instead.
    pub body_elements: Vec<String>,
    /// CommandVariants this SRV may be sent with.
    pub command_variants: Vec<u8>,
    /// GBCS use cases.
    pub use_cases: Vec<UseCaseRef>,
}

impl Srv {
    /// Whether `role` may send this SRV.
    pub fn allows_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether `cv` (1–8) is allowed for this SRV.
    pub fn allows_command_variant(&self, cv: u8) -> bool {
        self.command_variants.contains(&cv)
    }

    /// Whether a request for this SRV with CommandVariant `cv` may carry the body element
    /// `element` (`SignedPreCommand` for CV 5/6/7 of a critical SRV).
    pub fn accepts_body(&self, element: &str, cv: u8) -> bool {
        if !self.allows_command_variant(cv) {
            return false;
        }
        if matches!(cv, 5..=7) {
            element == "SignedPreCommand"
        } else {
            self.body_elements.iter().any(|e| e == element)
        }
    }

    /// Message codes of the use cases known for this SRV: the corpus's, else GBCS's table
    /// ([`crate::gbcs::message_codes`]).
    pub fn message_codes(&self) -> impl Iterator<Item = u16> + '_ {
        self.use_cases.iter().filter_map(|u| {
            u.message_code
                .or_else(|| crate::gbcs::message_codes::code_of(&u.name))
        })
    }
}

/// A GBCS use case.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UseCase {
    /// Name as used by the templates and the RTDS corpus.
    pub name: String,
    /// GBCS message code, where the RTDS corpus shows it.
    #[serde(deserialize_with = "de_code")]
    pub message_code: Option<u16>,
    /// The GBCS use case this one is a variant of (`CS02b` for `CS02bSupplierBySupplier`),
    /// where the GBCS use-case table lists it; equal to `name` for a plain use case.
    pub base: Option<String>,
    /// Title from the GBCS use-case table (of `base`).
    pub title: Option<String>,
    /// GBCS message type (`SME.C.C`, `SME.C.NC`, `SME.A.C`, …) of `base`.
    pub message_type: Option<String>,
}

/// Why the catalogue data could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// The JSON does not have the expected shape.
    #[error("catalogue JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The data is well-formed but inconsistent.
    #[error("catalogue data: {0}")]
    Invalid(String),
}

/// The SRV and use-case tables, with indexes.
#[derive(Debug)]
pub struct Catalogue {
    srvs: Vec<Srv>,
    use_cases: Vec<UseCase>,
    by_srv: HashMap<String, usize>,
    by_element: HashMap<String, Vec<usize>>,
    by_use_case: HashMap<String, usize>,
    by_code: HashMap<u16, Vec<usize>>,
}

/// The catalogue file embedded in the crate.
pub const EMBEDDED_JSON: &str = include_str!("../data/srv_catalogue.json");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalogue {
    srvs: Vec<Srv>,
    use_cases: Vec<UseCase>,
}

impl Catalogue {
    /// The embedded catalogue, parsed once.
    ///
    /// Panics only if the embedded file is malformed, which the crate's own tests rule out;
    /// use [`Catalogue::try_get`] to handle that case instead.
    #[allow(clippy::panic)]
    pub fn get() -> &'static Catalogue {
        match Catalogue::try_get() {
            Ok(c) => c,
            Err(e) => panic!("embedded SRV catalogue is invalid: {e}"),
        }
    }

    /// The embedded catalogue, or why it could not be parsed.
    pub fn try_get() -> Result<&'static Catalogue, &'static CatalogueError> {
        static CELL: OnceLock<Result<Catalogue, CatalogueError>> = OnceLock::new();
        CELL.get_or_init(|| Catalogue::from_json(EMBEDDED_JSON))
            .as_ref()
    }

    /// Parses and checks catalogue data in the format of `srv_catalogue.json`.
    pub fn from_json(json: &str) -> Result<Catalogue, CatalogueError> {
        let raw: RawCatalogue = serde_json::from_str(json)?;
        let mut by_srv = HashMap::new();
        let mut by_element: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, s) in raw.srvs.iter().enumerate() {
            if by_srv.insert(s.srv.clone(), i).is_some() {
                return Err(CatalogueError::Invalid(format!(
                    "SRV {} listed twice",
                    s.srv
                )));
            }
            let within = s.srv == s.service_reference
                || s.srv
                    .strip_prefix(&s.service_reference)
                    .is_some_and(|r| r.starts_with('.'));
            if !within {
                return Err(CatalogueError::Invalid(format!(
                    "SRV {} is not in service reference {}",
                    s.srv, s.service_reference
                )));
            }
            if s.body_elements.is_empty() {
                return Err(CatalogueError::Invalid(format!(
                    "SRV {} has no body element",
                    s.srv
                )));
            }
            if s.command_variants.is_empty()
                || s.command_variants.iter().any(|cv| !(1..=8).contains(cv))
            {
                return Err(CatalogueError::Invalid(format!(
                    "SRV {} has CommandVariants outside 1..=8",
                    s.srv
                )));
            }
            for e in &s.body_elements {
                by_element.entry(e.clone()).or_default().push(i);
            }
        }
        let mut by_use_case = HashMap::new();
        let mut by_code: HashMap<u16, Vec<usize>> = HashMap::new();
        for (i, u) in raw.use_cases.iter().enumerate() {
            if by_use_case.insert(u.name.clone(), i).is_some() {
                return Err(CatalogueError::Invalid(format!(
                    "use case {} listed twice",
                    u.name
                )));
            }
            if let Some(code) = u.message_code {
                by_code.entry(code).or_default().push(i);
            }
        }
        for s in &raw.srvs {
            for r in &s.use_cases {
                let Some(&i) = by_use_case.get(&r.name) else {
                    return Err(CatalogueError::Invalid(format!(
                        "SRV {} names unknown use case {}",
                        s.srv, r.name
                    )));
                };
                if raw.use_cases[i].message_code != r.message_code {
                    return Err(CatalogueError::Invalid(format!(
                        "SRV {} and the use-case table disagree on the code of {}",
                        s.srv, r.name
                    )));
                }
            }
        }
        Ok(Catalogue {
            srvs: raw.srvs,
            use_cases: raw.use_cases,
            by_srv,
            by_element,
            by_use_case,
            by_code,
        })
    }

    /// The SRV `srv` (e.g. `"6.15.1"`).
    pub fn srv(&self, srv: &str) -> Option<&Srv> {
        self.by_srv.get(srv).map(|&i| &self.srvs[i])
    }

    /// Every SRV, in SRV order.
    pub fn srvs(&self) -> &[Srv] {
        &self.srvs
    }

    /// Iterates over every SRV, in SRV order.
    pub fn iter(&self) -> std::slice::Iter<'_, Srv> {
        self.srvs.iter()
    }

    /// Number of SRVs.
    pub fn len(&self) -> usize {
        self.srvs.len()
    }

    /// Whether the catalogue has no SRV.
    pub fn is_empty(&self) -> bool {
        self.srvs.is_empty()
    }

    /// The SRVs whose Service Request body element is `element` (one for every element of
    /// the schema's request choice except `SignedPreCommand`, which critical SRVs share).
    pub fn by_body_element<'a>(&'a self, element: &str) -> impl Iterator<Item = &'a Srv> + 'a {
        let found: &'a [usize] = if element == "SignedPreCommand" {
            &[]
        } else {
            self.by_element
                .get(element)
                .map(Vec::as_slice)
                .unwrap_or(&[])
        };
        let critical = element == "SignedPreCommand";
        found
            .iter()
            .map(|&i| &self.srvs[i])
            .chain(self.srvs.iter().filter(move |s| critical && s.critical))
    }

    /// The use case called `name`.
    pub fn use_case(&self, name: &str) -> Option<&UseCase> {
        self.by_use_case.get(name).map(|&i| &self.use_cases[i])
    }

    /// Every use case; plain GBCS use cases first, then variants, each sorted by name.
    pub fn use_cases(&self) -> &[UseCase] {
        &self.use_cases
    }

    /// The first use case with message code `code`. Several use cases can share a code
    /// (e.g. `ECS70` and `ECS70Commission`); plain GBCS use cases come before variants.
    pub fn use_case_by_code(&self, code: u16) -> Option<&UseCase> {
        self.use_cases_by_code(code).next()
    }

    /// Every use case with message code `code`.
    pub fn use_cases_by_code(&self, code: u16) -> impl Iterator<Item = &UseCase> + '_ {
        self.by_code
            .get(&code)
            .into_iter()
            .flatten()
            .map(|&i| &self.use_cases[i])
    }

    /// The SRVs that map to a use case with message code `code`.
    pub fn srvs_by_message_code(&self, code: u16) -> impl Iterator<Item = &Srv> + '_ {
        self.srvs
            .iter()
            .filter(move |s| s.message_codes().any(|c| c == code))
    }
}

impl<'a> IntoIterator for &'a Catalogue {
    type Item = &'a Srv;
    type IntoIter = std::slice::Iter<'a, Srv>;

    fn into_iter(self) -> Self::IntoIter {
        self.srvs.iter()
    }
}

/// Message codes are stored as four hex digits (`"0027"`), or `null` when unknown.
fn de_code<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    match s {
        None => Ok(None),
        Some(s) if s.len() == 4 => u16::from_str_radix(&s, 16)
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("bad message code {s:?}"))),
        Some(s) => Err(serde::de::Error::custom(format!("bad message code {s:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_file_parses() {
        let c = Catalogue::try_get().map_err(|e| e.to_string());
        assert!(c.is_ok(), "{c:?}");
        assert_eq!(Catalogue::get().len(), 129);
    }

    #[test]
    fn lookups() {
        let c = Catalogue::get();
        let s = c.srv("1.1.1").expect("1.1.1");
        assert!(s.critical);
        assert_eq!(s.command_variants, [4, 5, 6, 7]);
        assert!(s.accepts_body("SignedPreCommand", 5));
        assert!(s.accepts_body("UpdateImportTariffPrimaryElement", 4));
        assert!(!s.accepts_body("UpdateImportTariffPrimaryElement", 5));
        assert_eq!(s.future_dated, FutureDatedPattern::Device);
        let by: Vec<_> = c
            .by_body_element("ReadInventory")
            .map(|s| s.srv.as_str())
            .collect();
        assert_eq!(by, ["8.2"]);
        assert_eq!(c.by_body_element("SignedPreCommand").count(), 37);
        assert_eq!(c.by_body_element("Nope").count(), 0);
        assert_eq!(
            c.use_case_by_code(0x0027).map(|u| u.name.as_str()),
            Some("ECS17b")
        );
        assert_eq!(
            c.use_case_by_code(0x0062).map(|u| u.name.as_str()),
            Some("ECS70")
        );
        assert_eq!(c.use_cases_by_code(0x0055).count(), 3);
        let u = c.use_case("CS02bSupplierBySupplier").expect("use case");
        assert_eq!(u.base.as_deref(), Some("CS02b"));
        assert_eq!(u.message_code, Some(0x0102));
        assert!(c.srvs_by_message_code(0x0102).any(|s| s.srv == "6.21"));
    }

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.to_string().parse::<Role>(), Ok(r));
        }
        assert!("is".parse::<Role>().is_err());
        assert_eq!(Role::parse("RSA"), Some(Role::RegisteredSupplierAgent));
    }

    #[test]
    fn rejects_inconsistent_data() {
        let dup = r#"{"srvs":[
            {"srv":"2.2","service_reference":"2.2","name":"a","critical":false,"on_demand":true,
             "future_dated":"No","dcc_scheduled":false,"non_device":false,"roles":["IS"],
             "body_elements":["TopUpDevice"],"command_variants":[1],"use_cases":[]},
            {"srv":"2.2","service_reference":"2.2","name":"a","critical":false,"on_demand":true,
             "future_dated":"No","dcc_scheduled":false,"non_device":false,"roles":["IS"],
             "body_elements":["TopUpDevice"],"command_variants":[1],"use_cases":[]}],
            "use_cases":[]}"#;
        assert!(matches!(
            Catalogue::from_json(dup),
            Err(CatalogueError::Invalid(_))
        ));
        let bad_role = dup.replacen("\"IS\"", "\"XX\"", 1);
        assert!(matches!(
            Catalogue::from_json(&bad_role),
            Err(CatalogueError::Json(_))
        ));
    }
}
