//! 12.1 Request WAN Matrix: SMWAN coverage for an address, from a coverage table loaded from
//! CSV.
//!
//! # The coverage file
//!
//! UTF-8 CSV with a header row; lines starting with `#` are comments, blank lines are
//! skipped; fields are trimmed.
//!
//! | column | required | meaning | DUIS element |
//! |---|---|---|---|
//! | `postcode_prefix` | yes | start of the post codes the row covers, compared upper-case without spaces (`M22`, `M22 0`, `M220RR`) | — |
//! | `csp_region` | yes | one of `North`, `Central`, `South`, `4G North`, `4G Central`, `4G South`, `Unknown`, `SMETS1` | `CSPRegion` |
//! | `coverage` | yes | `true` / `false` | `CoverageAvailability` |
//! | `wan_technology` | yes | 1–30 characters (`2G`, `4G`, `Mesh`, …) | `WANTechnology` |
//! | `connectivity_likelihood` | yes | `High`, `Medium` or `Low` | `ConnectivityLikelihood` |
//! | `anticipated_coverage_date` | no | `xs:date` (`2026-03-31`) | `AnticipatedCoverageDate` |
//! | `auxiliary_equipment` | no | at most 50 characters | `AuxiliaryEquipmentRequired` |
//! | `additional_information` | no | at most 250 characters | `AdditionalInformation` |
//!
//! ```text
//! postcode_prefix,csp_region,coverage,wan_technology,connectivity_likelihood,anticipated_coverage_date,auxiliary_equipment,additional_information
//! M22,Central,true,4G,High,,,
//! M22 9,Central,false,4G,Low,2026-03-31,External aerial,Coverage improvement planned
//! ```
//!
//! A post code matches the rows with the longest matching prefix; each such row becomes one
//! `DSPWANMatrixResponse` (`CSPRegionResponseCode` I0). A request by UPRN is resolved to a
//! post code through the premises recorded on the inventory.
//!
//! Outcomes: I0 with `DSPWANMatrix`; UPRN not known [`RuleError::UnknownUprn`] (E120101);
//! no row for the post code [`RuleError::NoCoverage`] (E120102).

use std::collections::BTreeMap;
use std::io::{BufReader, Read};
use std::path::Path;

use hubgate_protocol::duis::model::ResponseCode;
use hubgate_protocol::duis::model::body::RequestWANMatrix;
use hubgate_protocol::duis::model::xsd::Date;
use hubgate_protocol::duis::xml::Element;
use serde::Deserialize;

use crate::inventory::csv_lines::CommentFilter;
use crate::inventory::db::Inventory;
use crate::inventory::dsp::{self, leaf, sr};
use crate::inventory::error::InventoryError;
use crate::inventory::model::{CspRegion, normalise_post_code};
use crate::inventory::rules::{InventoryService, RuleError};
use crate::inventory::services::ServiceOutcome;
use crate::inventory::view::InventoryView;

/// Most rows a coverage file may hold.
pub const MAX_ROWS: usize = 1_000_000;

/// `ConnectivityLikelihood`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ConnectivityLikelihood {
    /// High.
    High,
    /// Medium.
    Medium,
    /// Low.
    Low,
}

impl ConnectivityLikelihood {
    /// The schema's value.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectivityLikelihood::High => "High",
            ConnectivityLikelihood::Medium => "Medium",
            ConnectivityLikelihood::Low => "Low",
        }
    }
}

/// One row of the coverage table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    /// `CSPRegion`.
    pub csp_region: CspRegion,
    /// `CoverageAvailability`.
    pub available: bool,
    /// `AnticipatedCoverageDate`.
    pub anticipated_date: Option<String>,
    /// `WANTechnology`.
    pub wan_technology: String,
    /// `ConnectivityLikelihood`.
    pub likelihood: ConnectivityLikelihood,
    /// `AuxiliaryEquipmentRequired`.
    pub auxiliary_equipment: Option<String>,
    /// `AdditionalInformation`.
    pub additional_information: Option<String>,
}

/// Why a coverage file was refused.
#[derive(Debug, thiserror::Error)]
pub enum WanMatrixError {
    /// The file could not be read.
    #[error("cannot read WAN matrix {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A row is malformed.
    #[error("WAN matrix line {line}: {reason}")]
    Row {
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// More than [`MAX_ROWS`] rows.
    #[error("WAN matrix has more than {MAX_ROWS} rows")]
    TooLarge,
}

/// The coverage table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WanMatrix {
    by_prefix: BTreeMap<String, Vec<Coverage>>,
}

#[derive(Debug, Deserialize)]
struct Row {
    postcode_prefix: String,
    csp_region: String,
    coverage: String,
    wan_technology: String,
    connectivity_likelihood: String,
    #[serde(default)]
    anticipated_coverage_date: Option<String>,
    #[serde(default)]
    auxiliary_equipment: Option<String>,
    #[serde(default)]
    additional_information: Option<String>,
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

impl Row {
    fn into_coverage(self) -> Result<(String, Coverage), String> {
        let prefix = normalise_post_code(&self.postcode_prefix);
        if prefix.is_empty() || prefix.chars().count() > 8 {
            return Err(format!(
                "postcode_prefix {:?} must be 1 to 8 characters",
                self.postcode_prefix
            ));
        }
        let csp_region: CspRegion = self.csp_region.parse()?;
        let available = match self.coverage.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            other => return Err(format!("coverage {other:?} is not true or false")),
        };
        let n = self.wan_technology.chars().count();
        if !(1..=30).contains(&n) {
            return Err("wan_technology must be 1 to 30 characters".into());
        }
        let likelihood = match self.connectivity_likelihood.as_str() {
            "High" => ConnectivityLikelihood::High,
            "Medium" => ConnectivityLikelihood::Medium,
            "Low" => ConnectivityLikelihood::Low,
            other => {
                return Err(format!(
                    "connectivity_likelihood {other:?} is not High, Medium or Low"
                ));
            }
        };
        let anticipated_date = non_empty(self.anticipated_coverage_date);
        if let Some(d) = &anticipated_date {
            Date::new(d).map_err(|e| format!("anticipated_coverage_date: {e}"))?;
        }
        let auxiliary_equipment = non_empty(self.auxiliary_equipment);
        if auxiliary_equipment
            .as_ref()
            .is_some_and(|s| s.chars().count() > 50)
        {
            return Err("auxiliary_equipment is longer than 50 characters".into());
        }
        let additional_information = non_empty(self.additional_information);
        if additional_information
            .as_ref()
            .is_some_and(|s| s.chars().count() > 250)
        {
            return Err("additional_information is longer than 250 characters".into());
        }
        Ok((
            prefix,
            Coverage {
                csp_region,
                available,
                anticipated_date,
                wan_technology: self.wan_technology,
                likelihood,
                auxiliary_equipment,
                additional_information,
            },
        ))
    }
}

impl WanMatrix {
    /// An empty table (every request answers E120102).
    pub fn new() -> WanMatrix {
        WanMatrix::default()
    }

    /// Loads the coverage file at `path` (see the module documentation).
    ///
    /// # Errors
    ///
    /// [`WanMatrixError`]: the first bad row refuses the whole file.
    pub fn load(path: &Path) -> Result<WanMatrix, WanMatrixError> {
        let f = std::fs::File::open(path).map_err(|source| WanMatrixError::Io {
            path: path.display().to_string(),
            source,
        })?;
        WanMatrix::from_csv(f)
    }

    /// Reads a coverage table from CSV.
    ///
    /// # Errors
    ///
    /// [`WanMatrixError`]: the first bad row refuses the whole table.
    pub fn from_csv(input: impl Read) -> Result<WanMatrix, WanMatrixError> {
        let mut r = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(CommentFilter::new(BufReader::new(input)));
        let headers = r
            .headers()
            .map_err(|e| WanMatrixError::Row {
                line: 1,
                reason: e.to_string(),
            })?
            .clone();
        let mut m = WanMatrix::new();
        let mut rows = 0usize;
        let mut record = csv::StringRecord::new();
        loop {
            let line = r.position().line();
            match r.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    return Err(WanMatrixError::Row {
                        line: r
                            .get_ref()
                            .input_line(e.position().map_or(line, |p| p.line())),
                        reason: e.to_string(),
                    });
                }
            }
            let line = r
                .get_ref()
                .input_line(record.position().map_or(line, |p| p.line()));
            rows += 1;
            if rows > MAX_ROWS {
                return Err(WanMatrixError::TooLarge);
            }
            let row: Row = record
                .deserialize(Some(&headers))
                .map_err(|e| WanMatrixError::Row {
                    line,
                    reason: e.to_string(),
                })?;
            let (prefix, c) = row
                .into_coverage()
                .map_err(|reason| WanMatrixError::Row { line, reason })?;
            m.by_prefix.entry(prefix).or_default().push(c);
        }
        Ok(m)
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.by_prefix.values().map(Vec::len).sum()
    }

    /// True if the table has no row.
    pub fn is_empty(&self) -> bool {
        self.by_prefix.is_empty()
    }

    /// The rows with the longest prefix of `post_code` (empty: not covered by the table).
    pub fn lookup(&self, post_code: &str) -> &[Coverage] {
        let pc = normalise_post_code(post_code);
        let mut ends: Vec<usize> = pc.char_indices().map(|(i, _)| i).skip(1).collect();
        ends.push(pc.len());
        for end in ends.into_iter().rev() {
            if let Some(rows) = self.by_prefix.get(&pc[..end]) {
                return rows;
            }
        }
        &[]
    }
}

/// Runs 12.1 Request WAN Matrix.
///
/// # Errors
///
/// [`RuleError::UnknownUprn`], [`RuleError::NoCoverage`]; the store's.
pub fn request_wan_matrix(
    inventory: &Inventory,
    matrix: &WanMatrix,
    body: &RequestWANMatrix,
) -> Result<ServiceOutcome, InventoryError> {
    let (post_code, request) = match body {
        RequestWANMatrix::Uprn(u) => {
            let pc = inventory.read(|v| {
                for d in v.devices(&v.with_uprn(*u)?)? {
                    if let Some(p) = d.premises {
                        return Ok(Some(p.post_code));
                    }
                }
                Ok(None)
            })?;
            let pc = pc.ok_or(RuleError::UnknownUprn(*u))?;
            (pc, sr("Request").with_child(leaf("UPRN", &u.to_string())))
        }
        RequestWANMatrix::PartialAddress(a) => (
            a.post_code.clone(),
            sr("Request").with_child(
                sr("PartialAddress")
                    .with_child(leaf("PostCode", &a.post_code))
                    .with_child(leaf("AddressIdentifier", &a.address_identifier)),
            ),
        ),
    };
    let rows = matrix.lookup(&post_code);
    if rows.is_empty() {
        return Err(RuleError::NoCoverage(post_code).into());
    }
    let xml = rows
        .iter()
        .fold(sr("DSPWANMatrix").with_child(request), |e, c| {
            e.with_child(coverage_element(c))
        });
    Ok(ServiceOutcome::success(
        InventoryService::RequestWanMatrix,
        ResponseCode::I0,
        Some(dsp::payload(xml)),
        Vec::new(),
    ))
}

fn coverage_element(c: &Coverage) -> Element {
    let mut e = sr("DSPWANMatrixResponse")
        .with_child(leaf("CSPRegion", c.csp_region.as_str()))
        .with_child(leaf("CSPRegionResponseCode", ResponseCode::I0.as_str()))
        .with_child(leaf(
            "CoverageAvailability",
            if c.available { "true" } else { "false" },
        ));
    if let Some(d) = &c.anticipated_date {
        e = e.with_child(leaf("AnticipatedCoverageDate", d));
    }
    e = e
        .with_child(leaf("WANTechnology", &c.wan_technology))
        .with_child(leaf("ConnectivityLikelihood", c.likelihood.as_str()));
    if let Some(a) = &c.auxiliary_equipment {
        e = e.with_child(leaf("AuxiliaryEquipmentRequired", a));
    }
    if let Some(a) = &c.additional_information {
        e = e.with_child(leaf("AdditionalInformation", a));
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "\
postcode_prefix,csp_region,coverage,wan_technology,connectivity_likelihood,anticipated_coverage_date,auxiliary_equipment,additional_information
# Manchester
M22,Central,true,4G,High,,,
m22 9 ,Central,false,4G,Low,2026-03-31,External aerial,Planned
M22 9,4G Central,true,4G,Medium,,,
";

    #[test]
    fn longest_prefix_wins() {
        let m = WanMatrix::from_csv(CSV.as_bytes()).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m.lookup("M22 0RR").len(), 1);
        assert!(m.lookup("m22 0rr")[0].available);
        let r = m.lookup("M22 9AB");
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].anticipated_date.as_deref(), Some("2026-03-31"));
        assert_eq!(r[1].csp_region, CspRegion::FourGCentral);
        assert!(m.lookup("SW1A 1AA").is_empty());
    }

    #[test]
    fn bad_rows_name_their_line() {
        let bad = CSV.replace("4G,Low", "4G,Sometimes");
        match WanMatrix::from_csv(bad.as_bytes()) {
            Err(WanMatrixError::Row { line, reason }) => {
                assert_eq!(line, 4, "{reason}");
                assert!(reason.contains("Sometimes"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let bad = CSV.replace("M22,Central", "M22,Middle");
        let r = WanMatrix::from_csv(bad.as_bytes());
        assert!(
            matches!(r, Err(WanMatrixError::Row { line: 3, .. })),
            "{r:?}"
        );
        let bad = "postcode_prefix,csp_region\nM22,Central\n";
        assert!(matches!(
            WanMatrix::from_csv(bad.as_bytes()),
            Err(WanMatrixError::Row { line: 2, .. })
        ));
    }
}
