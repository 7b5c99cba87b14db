//! Bulk import of an inventory file, for test labs and load tests: CSV, a JSON array, or
//! JSON Lines (one object per line).
//!
//! Every row is checked like a direct insert ([`rules::check_record`]: schema facets, the
//! association, and for a Commissioned device the commissioning prerequisites) against the
//! inventory as it stands, including the rows imported before it. So a row must come after
//! the device it is associated with (hubs, then meters, then the other devices). A bad row
//! is reported with its line number and skipped; the good rows are kept. Rows are written in
//! batches, one transaction (one fsync) per batch; a store failure stops the import, keeping
//! the batches already committed.
//!
//! # Columns (CSV header names, JSON keys)
//!
//! | column | required | value |
//! |---|---|---|
//! | `device_id` | yes | EUI-64, `00-DB-12-34-56-78-90-A0` or `00DB1234567890A0` |
//! | `device_type` | yes | `ESME`, `GSME`, `GPF`, `CHF`, `HCALCS`, `PPMID`, `IHD`, `CAD` |
//! | `device_status` | no (Pending) | a `DeviceStatus` value (`Pending`, `InstalledNotCommissioned`, `Commissioned`, …) |
//! | `manufacturer` | yes | at most 30 characters |
//! | `model` | yes | at most 30 characters |
//! | `smets_chts_version` | no | 1–20 characters |
//! | `firmware_version` | no | 1–8 characters |
//! | `firmware_version_status` | no | `Active`, `Cancelled`, `Expired`, `Withdrawn` |
//! | `cpl_status` | no | `Active`, `Cancelled`, `Expired`, `Withdrawn` |
//! | `date_commissioned` | no | `xs:date` (`2025-12-28`) |
//! | `import_mpxn` | no | 1–13 characters |
//! | `secondary_import_mpan` | no | 13 characters (ESME only) |
//! | `export_mpan` | no | 13 characters (ESME only) |
//! | `esme_variant` | no | an `ESMEVariant` value (ESME only) |
//! | `uprn` | no | positive, at most 12 digits (a JSON number or string) |
//! | `post_code` | with `address_identifier` | 6–8 characters |
//! | `address_identifier` | with `post_code` | premises number or name, at most 30 characters |
//! | `csp_region` | no | a `CSPRegion` value (`North`, `4G Central`, …) |
//! | `device_gbcs_version` | no | text (`4.2`) |
//! | `han_variant` | no | text (`Single Band`) |
//! | `s1sp` | no | text |
//! | `connectivity` | no | `Cellular`, `Virtual` |
//! | `associated_with` | no | EUI of the device it is Associated with (meter → CHF, GPF → GSME, PPMID → meter, …) |
//!
//! Empty CSV fields and JSON `null` mean "absent". Unknown columns are refused (a CSV header
//! naming one refuses the file; a JSON key, the row). In CSV, lines starting with `#` are
//! comments and blank lines are skipped (so no field may span lines).
//!
//! ```text
//! device_id,device_type,device_status,manufacturer,model,import_mpxn,post_code,address_identifier,associated_with
//! 00-DB-12-34-56-78-90-A1,CHF,Commissioned,106C,433100AC,,M22 0RR,12,
//! 00-DB-12-34-56-78-90-A0,ESME,Commissioned,AB01,010A030B,1100000000001,M22 0RR,12,00-DB-12-34-56-78-90-A1
//! ```

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::Deserialize;

use crate::inventory::csv_lines::CommentFilter;
use crate::inventory::db::Inventory;
use crate::inventory::error::InventoryError;
use crate::inventory::model::{Device, Eui, Premises};
use crate::inventory::rules::{self, RuleError};
use crate::inventory::view::InventoryView;

/// Rows per transaction unless [`ImportOptions::batch_size`] says otherwise.
pub const DEFAULT_BATCH: usize = 1_000;
/// Most row errors kept in [`ImportReport::errors`] (all are counted).
pub const MAX_REPORTED_ERRORS: usize = 10_000;
/// Largest JSON array file accepted (JSON Lines and CSV stream and have no limit).
pub const MAX_JSON_ARRAY_BYTES: u64 = 512 * 1024 * 1024;

/// The columns, in the documented order.
pub const COLUMNS: &[&str] = &[
    "device_id",
    "device_type",
    "device_status",
    "manufacturer",
    "model",
    "smets_chts_version",
    "firmware_version",
    "firmware_version_status",
    "cpl_status",
    "date_commissioned",
    "import_mpxn",
    "secondary_import_mpan",
    "export_mpan",
    "esme_variant",
    "uprn",
    "post_code",
    "address_identifier",
    "csp_region",
    "device_gbcs_version",
    "han_variant",
    "s1sp",
    "connectivity",
    "associated_with",
];

/// How to import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportOptions {
    /// Rows per transaction (at least 1).
    pub batch_size: usize,
    /// Replace a device already on the inventory instead of refusing the row.
    pub replace_existing: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            batch_size: DEFAULT_BATCH,
            replace_existing: false,
        }
    }
}

/// The file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    /// CSV with a header row.
    Csv,
    /// A JSON array of objects, or JSON Lines.
    Json,
}

impl ImportFormat {
    /// From the file extension: `.csv`; `.json`, `.jsonl`, `.ndjson`.
    pub fn from_path(path: &Path) -> Option<ImportFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(ImportFormat::Csv),
            "json" | "jsonl" | "ndjson" => Some(ImportFormat::Json),
            _ => None,
        }
    }
}

/// A row that was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line where the row starts.
    pub line: u64,
    /// The row's `device_id`, when it could be read.
    pub device_id: Option<String>,
    /// Why.
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Rows read.
    pub rows: u64,
    /// Rows imported.
    pub imported: u64,
    /// Rows refused.
    pub failed: u64,
    /// The first [`MAX_REPORTED_ERRORS`] refusals, in file order.
    pub errors: Vec<RowError>,
}

impl ImportReport {
    fn refuse(&mut self, e: RowError) {
        self.failed += 1;
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(e);
        }
    }
}

/// Why an import stopped (a bad row does not stop it).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("cannot read {what}: {source}")]
    Io {
        /// The file or stream.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file's extension names no known format.
    #[error("unknown inventory file format {0} (expected .csv, .json, .jsonl or .ndjson)")]
    UnknownFormat(String),
    /// The file as a whole is malformed (CSV header, JSON array structure, size).
    #[error("line {line}: {reason}")]
    Malformed {
        /// 1-based line.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// The store failed; batches committed before stay.
    #[error(transparent)]
    Inventory(#[from] InventoryError),
}

/// One row as read.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportRow {
    device_id: Option<String>,
    device_type: Option<String>,
    device_status: Option<String>,
    manufacturer: Option<String>,
    model: Option<String>,
    smets_chts_version: Option<String>,
    firmware_version: Option<String>,
    firmware_version_status: Option<String>,
    cpl_status: Option<String>,
    date_commissioned: Option<String>,
    import_mpxn: Option<String>,
    secondary_import_mpan: Option<String>,
    export_mpan: Option<String>,
    esme_variant: Option<String>,
    uprn: Option<UprnField>,
    post_code: Option<String>,
    address_identifier: Option<String>,
    csp_region: Option<String>,
    device_gbcs_version: Option<String>,
    han_variant: Option<String>,
    s1sp: Option<String>,
    connectivity: Option<String>,
    associated_with: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum UprnField {
    Number(u64),
    Text(String),
}

fn present(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn required(v: Option<String>, column: &str) -> Result<String, String> {
    present(v).ok_or_else(|| format!("{column} is required"))
}

fn parsed<T: std::str::FromStr<Err = String>>(
    v: Option<String>,
    column: &str,
) -> Result<Option<T>, String> {
    present(v)
        .map(|s| s.parse::<T>().map_err(|e| format!("{column}: {e}")))
        .transpose()
}

impl ImportRow {
    fn into_device(self) -> Result<Device, String> {
        let id_text = required(self.device_id, "device_id")?;
        let id: Eui = id_text.parse().map_err(|e| format!("device_id: {e}"))?;
        let device_type = required(self.device_type, "device_type")?
            .parse()
            .map_err(|e| format!("device_type: {e}"))?;
        let manufacturer = required(self.manufacturer, "manufacturer")?;
        let model = required(self.model, "model")?;
        let mut d = Device::new(id, device_type, &manufacturer, &model);
        if let Some(s) = parsed(self.device_status, "device_status")? {
            d.status = s;
        }
        d.smets_chts_version = present(self.smets_chts_version);
        d.firmware_version = present(self.firmware_version);
        d.firmware_version_status =
            parsed(self.firmware_version_status, "firmware_version_status")?;
        d.cpl_status = parsed(self.cpl_status, "cpl_status")?;
        d.date_commissioned = present(self.date_commissioned);
        d.import_mpxn = present(self.import_mpxn);
        d.secondary_import_mpan = present(self.secondary_import_mpan);
        d.export_mpan = present(self.export_mpan);
        d.esme_variant = present(self.esme_variant);
        d.uprn = match self.uprn {
            None => None,
            Some(UprnField::Number(n)) => Some(n),
            Some(UprnField::Text(t)) => match present(Some(t)) {
                None => None,
                Some(t) => Some(
                    t.parse::<u64>()
                        .map_err(|_| format!("uprn: {t:?} is not a positive integer"))?,
                ),
            },
        };
        d.premises = match (present(self.post_code), present(self.address_identifier)) {
            (None, None) => None,
            (Some(post_code), Some(address_identifier)) => Some(Premises {
                post_code,
                address_identifier,
            }),
            _ => return Err("post_code and address_identifier go together".into()),
        };
        d.csp_region = parsed(self.csp_region, "csp_region")?;
        d.device_gbcs_version = present(self.device_gbcs_version);
        d.han_variant = present(self.han_variant);
        d.s1sp = present(self.s1sp);
        d.connectivity = parsed(self.connectivity, "connectivity")?;
        d.associated_with = present(self.associated_with)
            .map(|s| {
                s.parse::<Eui>()
                    .map_err(|e| format!("associated_with: {e}"))
            })
            .transpose()?;
        Ok(d)
    }
}

/// A row read from the file, not yet checked.
struct Pending {
    line: u64,
    device_id: Option<String>,
    row: Result<ImportRow, String>,
}

/// Checks and writes rows in batches.
struct Batcher<'a> {
    inventory: &'a Inventory,
    options: ImportOptions,
    batch: Vec<Pending>,
    report: ImportReport,
}

impl<'a> Batcher<'a> {
    fn new(inventory: &'a Inventory, options: ImportOptions) -> Batcher<'a> {
        Batcher {
            inventory,
            options: ImportOptions {
                batch_size: options.batch_size.max(1),
                ..options
            },
            batch: Vec::new(),
            report: ImportReport::default(),
        }
    }

    fn push(&mut self, p: Pending) -> Result<(), ImportError> {
        self.report.rows += 1;
        self.batch.push(p);
        if self.batch.len() >= self.options.batch_size {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ImportError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        let replace = self.options.replace_existing;
        let outcomes = self.inventory.write(|t| {
            let mut outcomes: Vec<Result<(), RowError>> = Vec::with_capacity(batch.len());
            for p in batch {
                let refuse = |reason: String| RowError {
                    line: p.line,
                    device_id: p.device_id.clone(),
                    reason,
                };
                let d = match p.row.and_then(ImportRow::into_device) {
                    Ok(d) => d,
                    Err(reason) => {
                        outcomes.push(Err(refuse(reason)));
                        continue;
                    }
                };
                let checked = match t.device(&d.id)? {
                    Some(old) if !replace => Err(RuleError::AlreadyOnInventory {
                        id: old.id,
                        status: old.status,
                    }
                    .into()),
                    _ => rules::check_record(t, &d),
                };
                match checked {
                    Ok(()) => {
                        t.put(&d)?;
                        outcomes.push(Ok(()));
                    }
                    Err(InventoryError::Rule(e)) => outcomes.push(Err(refuse(e.to_string()))),
                    Err(e) => return Err(e),
                }
            }
            Ok(outcomes)
        })?;
        for o in outcomes {
            match o {
                Ok(()) => self.report.imported += 1,
                Err(e) => self.report.refuse(e),
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<ImportReport, ImportError> {
        self.flush()?;
        Ok(self.report)
    }
}

/// Imports the file at `path`, its format from the extension ([`ImportFormat::from_path`]).
///
/// # Errors
///
/// [`ImportError`]; bad rows are in the report instead.
pub fn import_file(
    inventory: &Inventory,
    path: &Path,
    options: ImportOptions,
) -> Result<ImportReport, ImportError> {
    let format = ImportFormat::from_path(path)
        .ok_or_else(|| ImportError::UnknownFormat(path.display().to_string()))?;
    let f = std::fs::File::open(path).map_err(|source| ImportError::Io {
        what: path.display().to_string(),
        source,
    })?;
    match format {
        ImportFormat::Csv => import_csv(inventory, f, options),
        ImportFormat::Json => import_json(inventory, f, options),
    }
}

/// Imports CSV (see the module documentation).
///
/// # Errors
///
/// [`ImportError::Malformed`] for a header naming an unknown column or lacking a required
/// one; [`ImportError::Inventory`] if the store fails. Bad rows are in the report.
pub fn import_csv(
    inventory: &Inventory,
    input: impl Read,
    options: ImportOptions,
) -> Result<ImportReport, ImportError> {
    let mut r = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(CommentFilter::new(BufReader::new(input)));
    let headers = r
        .headers()
        .map_err(|e| ImportError::Malformed {
            line: 1,
            reason: e.to_string(),
        })?
        .clone();
    let header_line = r
        .get_ref()
        .input_line(headers.position().map_or(1, |p| p.line()));
    for h in &headers {
        if !COLUMNS.contains(&h) {
            return Err(ImportError::Malformed {
                line: header_line,
                reason: format!("unknown column {h:?} (columns: {})", COLUMNS.join(", ")),
            });
        }
    }
    for required in ["device_id", "device_type", "manufacturer", "model"] {
        if !headers.iter().any(|h| h == required) {
            return Err(ImportError::Malformed {
                line: header_line,
                reason: format!("column {required:?} is missing"),
            });
        }
    }
    let id_col = headers.iter().position(|h| h == "device_id");
    let mut b = Batcher::new(inventory, options);
    let mut record = csv::StringRecord::new();
    loop {
        let before = r.position().line();
        match r.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = r
                    .get_ref()
                    .input_line(record.position().map_or(before, |p| p.line()));
                let device_id = id_col
                    .and_then(|i| record.get(i))
                    .map(str::to_owned)
                    .filter(|s| !s.is_empty());
                let row = record
                    .deserialize::<ImportRow>(Some(&headers))
                    .map_err(|e| e.to_string());
                b.push(Pending {
                    line,
                    device_id,
                    row,
                })?;
            }
            Err(e) => {
                if let csv::ErrorKind::Io(_) = e.kind() {
                    return Err(ImportError::Io {
                        what: "CSV input".into(),
                        source: std::io::Error::other(e.to_string()),
                    });
                }
                let line = r
                    .get_ref()
                    .input_line(e.position().map_or(before, |p| p.line()));
                b.push(Pending {
                    line,
                    device_id: None,
                    row: Err(e.to_string()),
                })?;
            }
        }
    }
    b.finish()
}

/// Imports JSON: an array of row objects, or JSON Lines (see the module documentation).
///
/// # Errors
///
/// [`ImportError::Malformed`] when the array's structure is broken (rows before it that
/// could be delimited are still imported) or the file is too large;
/// [`ImportError::Inventory`] if the store fails. Bad rows are in the report.
pub fn import_json(
    inventory: &Inventory,
    input: impl Read,
    options: ImportOptions,
) -> Result<ImportReport, ImportError> {
    let mut reader = BufReader::new(input);
    let starts_array = loop {
        let buf = reader.fill_buf().map_err(|source| ImportError::Io {
            what: "JSON input".into(),
            source,
        })?;
        match buf.iter().position(|c| !c.is_ascii_whitespace()) {
            Some(i) => break buf[i] == b'[',
            None if buf.is_empty() => break false,
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    };
    let mut b = Batcher::new(inventory, options);
    if starts_array {
        let mut text = String::new();
        reader
            .take(MAX_JSON_ARRAY_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|source| ImportError::Io {
                what: "JSON input".into(),
                source,
            })?;
        if text.len() as u64 > MAX_JSON_ARRAY_BYTES {
            return Err(ImportError::Malformed {
                line: 1,
                reason: format!(
                    "JSON array larger than {MAX_JSON_ARRAY_BYTES} bytes; use JSON Lines"
                ),
            });
        }
        let mut structure_error = None;
        for item in JsonArrayItems::new(&text) {
            match item {
                Ok((line, slice)) => b.push(json_row(line, slice))?,
                Err(e) => {
                    structure_error = Some(e);
                    break;
                }
            }
        }
        b.flush()?;
        if let Some(e) = structure_error {
            return Err(e);
        }
    } else {
        let mut line_no = 0u64;
        let mut line = String::new();
        loop {
            line.clear();
            let n = reader
                .read_line(&mut line)
                .map_err(|source| ImportError::Io {
                    what: "JSON Lines input".into(),
                    source,
                })?;
            if n == 0 {
                break;
            }
            line_no += 1;
            if line.trim().is_empty() {
                continue;
            }
            b.push(json_row(line_no, &line))?;
        }
    }
    b.finish()
}

fn json_row(line: u64, text: &str) -> Pending {
    let row = serde_json::from_str::<ImportRow>(text).map_err(|e| e.to_string());
    let device_id = match &row {
        Ok(r) => r.device_id.clone(),
        Err(_) => serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v.get("device_id")?.as_str().map(str::to_owned)),
    };
    Pending {
        line,
        device_id,
        row,
    }
}

/// The top-level items of a JSON array, with the line each starts on, delimited without
/// parsing them (so one bad item does not hide the others).
struct JsonArrayItems<'a> {
    text: &'a str,
    pos: usize,
    line: u64,
    done: bool,
}

impl<'a> JsonArrayItems<'a> {
    fn new(text: &'a str) -> JsonArrayItems<'a> {
        let mut s = JsonArrayItems {
            text,
            pos: 0,
            line: 1,
            done: false,
        };
        s.skip_ws();
        // The caller checked that the first non-space byte is `[`.
        s.pos += 1;
        s
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn skip_ws(&mut self) {
        while let Some(&c) = self.bytes().get(self.pos) {
            if !c.is_ascii_whitespace() {
                break;
            }
            if c == b'\n' {
                self.line += 1;
            }
            self.pos += 1;
        }
    }

    fn malformed(&mut self, reason: &str) -> Option<Result<(u64, &'a str), ImportError>> {
        self.done = true;
        Some(Err(ImportError::Malformed {
            line: self.line,
            reason: reason.to_owned(),
        }))
    }
}

impl<'a> Iterator for JsonArrayItems<'a> {
    type Item = Result<(u64, &'a str), ImportError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        self.skip_ws();
        match self.bytes().get(self.pos) {
            None => return self.malformed("unterminated JSON array"),
            Some(b']') => {
                self.done = true;
                self.pos += 1;
                self.skip_ws();
                if self.pos < self.text.len() {
                    return self.malformed("data after the JSON array");
                }
                return None;
            }
            Some(_) => {}
        }
        let start = self.pos;
        let start_line = self.line;
        let mut depth = 0usize;
        let mut in_string = false;
        let mut escaped = false;
        while let Some(&c) = self.bytes().get(self.pos) {
            if c == b'\n' {
                self.line += 1;
            }
            if in_string {
                if escaped {
                    escaped = false;
                } else if c == b'\\' {
                    escaped = true;
                } else if c == b'"' {
                    in_string = false;
                }
            } else {
                match c {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' if depth > 0 => depth -= 1,
                    b']' | b',' if depth == 0 => break,
                    _ => {}
                }
            }
            self.pos += 1;
        }
        let Some(&end) = self.bytes().get(self.pos) else {
            return self.malformed("unterminated JSON array");
        };
        let item = &self.text[start..self.pos];
        if end == b',' {
            self.pos += 1;
        }
        Some(Ok((start_line, item)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_items_keep_their_lines() {
        let text = "[\n {\"a\": \"x,]\"},\n {\"b\": [1, 2]}\n,\n 7 ]\n";
        let items: Vec<(u64, &str)> = JsonArrayItems::new(text).map(Result::unwrap).collect();
        assert_eq!(
            items,
            vec![(2, "{\"a\": \"x,]\"}"), (3, "{\"b\": [1, 2]}\n"), (5, "7 ")]
        );
        assert!(
            JsonArrayItems::new("[ {\"a\": 1}, ")
                .any(|r| matches!(r, Err(ImportError::Malformed { .. })))
        );
        assert!(JsonArrayItems::new("[] x").any(|r| r.is_err()));
        assert_eq!(JsonArrayItems::new(" [ ] ").count(), 0);
    }

    #[test]
    fn formats_from_extensions() {
        assert_eq!(
            ImportFormat::from_path(Path::new("a/inv.CSV")),
            Some(ImportFormat::Csv)
        );
        assert_eq!(
            ImportFormat::from_path(Path::new("inv.ndjson")),
            Some(ImportFormat::Json)
        );
        assert_eq!(ImportFormat::from_path(Path::new("inv.xml")), None);
    }
}
