//! Reading registration files and pushes: CSV and JSON, row by row.
//!
//! A malformed row is rejected with its line number and a reason naming the field; the valid
//! rows around it are kept. Only faults that leave no row readable (a bad CSV header, JSON
//! that is not an array or not JSON at all, an empty or oversized body) reject the whole body.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use super::record::{Field, RecordError, RecordKey, Registration, TextRecord};

/// The encoding of a registration file or push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Comma-separated values with the header
    /// `mpxn,fuel,role,party,effective_from,effective_to` (columns in any order, names in
    /// any letter case). Fields are trimmed; a field may be double-quoted (`""` inside quotes
    /// is a quote) but may not span lines. Blank lines are skipped; an empty `effective_to`
    /// means open-ended.
    Csv,
    /// A JSON array of objects with the keys `mpxn`, `fuel`, `role`, `party`,
    /// `effective_from` (strings) and `effective_to` (a string, `null`, `""` or absent for
    /// open-ended). Other keys are refused, so a misspelt `effective_to` cannot silently
    /// make a registration open-ended. The whole document is parsed before any element is
    /// read, taking several times the body's size in memory: prefer CSV for bulk refreshes.
    Json,
}

impl Format {
    /// The format named by a file's extension (`.csv` or `.json`, any letter case).
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?;
        if ext.eq_ignore_ascii_case("csv") {
            Some(Format::Csv)
        } else if ext.eq_ignore_ascii_case("json") {
            Some(Format::Json)
        } else {
            None
        }
    }
}

/// A rejected row (CSV) or array element (JSON).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct RowError {
    /// The 1-based line the row (or the JSON element) starts on.
    pub line: usize,
    /// What is wrong with it.
    pub problem: RowProblem,
}

impl RowError {
    /// The field at fault, when the fault is in one field.
    pub fn field(&self) -> Option<Field> {
        self.problem.field()
    }
}

/// What is wrong with a rejected row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowProblem {
    /// A field's value (the message names the field).
    #[error(transparent)]
    Record(#[from] RecordError),
    /// A CSV row with the wrong number of fields.
    #[error("expected {expected} fields, found {found}")]
    FieldCount {
        /// Columns in the header.
        expected: usize,
        /// Fields in the row.
        found: usize,
    },
    /// Broken CSV quoting.
    #[error("{0}")]
    Quoting(&'static str),
    /// The row is not UTF-8.
    #[error("not valid UTF-8")]
    NotUtf8,
    /// A JSON element that is not an object.
    #[error("expected a JSON object")]
    NotAnObject,
    /// A JSON key that is not a registration field.
    #[error("field {0:?}: not a registration field")]
    UnknownField(String),
    /// Another row gives the same MPxN, role and effective_from with a different party or
    /// effective_to. Neither is applied, as the body does not say which is right.
    #[error(
        "fields `mpxn`, `role`, `effective_from`: conflicts with line {other_line}, which \
         gives the same registration a different party or effective_to"
    )]
    Conflict {
        /// A conflicting row.
        other_line: usize,
    },
}

impl RowProblem {
    /// The field at fault, when the fault is in one field.
    pub fn field(&self) -> Option<Field> {
        match self {
            RowProblem::Record(e) => Some(e.field()),
            _ => None,
        }
    }
}

impl serde::Serialize for RowError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Repr {
            line: usize,
            field: Option<&'static str>,
            reason: String,
        }
        Repr {
            line: self.line,
            field: self.field().map(Field::as_str),
            reason: self.problem.to_string(),
        }
        .serialize(s)
    }
}

/// A body refused as a whole: no row of it can be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// The body is larger than the configured limit.
    #[error("body of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Bytes received.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The body holds no records. An empty push is refused rather than read as "remove
    /// everything"; clearing the data is an explicit [`super::RegistrationData::refresh`]
    /// with no records.
    #[error("no records in the body")]
    Empty,
    /// The CSV header is not the expected one.
    #[error("line {line}: CSV header: {reason}")]
    Header {
        /// The header's line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The JSON does not parse.
    #[error("line {line}, column {column}: JSON syntax: {message}")]
    Json {
        /// Line of the fault.
        line: usize,
        /// Column of the fault.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// The JSON is not an array.
    #[error("JSON: expected an array of registration records")]
    NotAnArray,
}

/// The outcome of reading a body: the valid records and the rejected rows.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// The valid records, one per [`RecordKey`], in key order.
    pub records: Vec<Registration>,
    /// Rejected rows in line order: the first `max_rejects` found.
    pub rejected: Vec<RowError>,
    /// How many rows were rejected in all.
    pub rejected_total: usize,
}

/// Reads a body. `max_rejects` bounds how many [`RowError`]s are kept (all are counted).
pub fn parse(body: &[u8], format: Format, max_rejects: usize) -> Result<Parsed, IngestError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let mut sink = Sink {
        valid: Vec::new(),
        rejected: Vec::new(),
        rejected_total: 0,
        max_rejects,
    };
    match format {
        Format::Csv => parse_csv(body, &mut sink)?,
        Format::Json => parse_json(body, &mut sink)?,
    }
    if sink.valid.is_empty() && sink.rejected_total == 0 {
        return Err(IngestError::Empty);
    }
    Ok(sink.finish())
}

struct Sink {
    valid: Vec<(usize, Registration)>,
    rejected: Vec<RowError>,
    rejected_total: usize,
    max_rejects: usize,
}

impl Sink {
    fn reject(&mut self, line: usize, problem: RowProblem) {
        self.rejected_total += 1;
        if self.rejected.len() < self.max_rejects {
            self.rejected.push(RowError { line, problem });
        }
    }

    /// Resolves repeated keys: identical repeats collapse into one record; conflicting
    /// ones are all rejected.
    fn finish(mut self) -> Parsed {
        let mut by_key: BTreeMap<RecordKey, Vec<(usize, Registration)>> = BTreeMap::new();
        for (line, r) in std::mem::take(&mut self.valid) {
            by_key.entry(r.key()).or_default().push((line, r));
        }
        let mut records = Vec::with_capacity(by_key.len());
        for rows in by_key.into_values() {
            let Some(&(first_line, first)) = rows.first() else {
                continue;
            };
            if rows.iter().all(|(_, r)| *r == first) {
                records.push(first);
                continue;
            }
            for &(line, _) in &rows {
                let other_line = rows
                    .iter()
                    .map(|&(l, _)| l)
                    .find(|&l| l != line)
                    .unwrap_or(first_line);
                self.reject(line, RowProblem::Conflict { other_line });
            }
        }
        self.rejected.sort_by_key(|e| e.line);
        Parsed {
            records,
            rejected: self.rejected,
            rejected_total: self.rejected_total,
        }
    }
}

fn parse_csv(body: &[u8], sink: &mut Sink) -> Result<(), IngestError> {
    let mut columns: Option<Vec<Field>> = None;
    for (index, raw) in body.split(|&b| b == b'\n').enumerate() {
        let line = index + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let Some(columns) = &columns else {
            columns = Some(parse_header(raw, line)?);
            continue;
        };
        let Ok(text) = std::str::from_utf8(raw) else {
            sink.reject(line, RowProblem::NotUtf8);
            continue;
        };
        let fields = match split_fields(text) {
            Ok(f) => f,
            Err(why) => {
                sink.reject(line, RowProblem::Quoting(why));
                continue;
            }
        };
        if fields.len() != columns.len() {
            sink.reject(
                line,
                RowProblem::FieldCount {
                    expected: columns.len(),
                    found: fields.len(),
                },
            );
            continue;
        }
        let mut record = TextRecord::default();
        for (&field, value) in columns.iter().zip(&fields) {
            record.set(field, Some(value));
        }
        match record.parse() {
            Ok(r) => sink.valid.push((line, r)),
            Err(e) => sink.reject(line, e.into()),
        }
    }
    if columns.is_none() {
        return Err(IngestError::Empty);
    }
    Ok(())
}

fn parse_header(raw: &[u8], line: usize) -> Result<Vec<Field>, IngestError> {
    let header = |reason: String| IngestError::Header { line, reason };
    let text = std::str::from_utf8(raw).map_err(|_| header("not valid UTF-8".into()))?;
    let names = split_fields(text).map_err(|why| header(why.into()))?;
    let mut columns = Vec::with_capacity(names.len());
    for name in &names {
        let lower = name.to_ascii_lowercase();
        let field = Field::from_name(&lower).ok_or_else(|| {
            header(format!(
                "unknown column {:?}; expected mpxn,fuel,role,party,effective_from,effective_to",
                name.chars().take(40).collect::<String>()
            ))
        })?;
        if columns.contains(&field) {
            return Err(header(format!("column `{field}` appears twice")));
        }
        columns.push(field);
    }
    if let Some(missing) = Field::ALL.into_iter().find(|f| !columns.contains(f)) {
        return Err(header(format!("column `{missing}` is missing")));
    }
    Ok(columns)
}

/// Splits one CSV line into trimmed fields, undoing double-quoting.
fn split_fields(line: &str) -> Result<Vec<Cow<'_, str>>, &'static str> {
    let mut out = Vec::new();
    let mut rest = line;
    loop {
        let t = rest.trim_start();
        if let Some(quoted) = t.strip_prefix('"') {
            let mut value = String::new();
            let mut end = None;
            let mut chars = quoted.char_indices().peekable();
            while let Some((i, c)) = chars.next() {
                if c != '"' {
                    value.push(c);
                } else if chars.peek().is_some_and(|&(_, n)| n == '"') {
                    value.push('"');
                    chars.next();
                } else {
                    end = Some(i + 1);
                    break;
                }
            }
            let end = end.ok_or("unterminated quoted field")?;
            out.push(Cow::Owned(value));
            let after = quoted.get(end..).unwrap_or("").trim_start();
            if after.is_empty() {
                return Ok(out);
            }
            rest = after
                .strip_prefix(',')
                .ok_or("characters after a closing quote")?;
        } else {
            let (field, next) = match t.split_once(',') {
                Some((f, n)) => (f, Some(n)),
                None => (t, None),
            };
            if field.contains('"') {
                return Err("a quote inside an unquoted field");
            }
            out.push(Cow::Borrowed(field.trim_end()));
            match next {
                Some(n) => rest = n,
                None => return Ok(out),
            }
        }
    }
}

fn parse_json(body: &[u8], sink: &mut Sink) -> Result<(), IngestError> {
    use serde_json::Value;

    let value: Value = serde_json::from_slice(body).map_err(|e| IngestError::Json {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let Value::Array(items) = value else {
        return Err(IngestError::NotAnArray);
    };
    let lines = element_lines(body);
    for (i, item) in items.iter().enumerate() {
        let line = lines.get(i).copied().unwrap_or(1);
        let Value::Object(object) = item else {
            sink.reject(line, RowProblem::NotAnObject);
            continue;
        };
        let mut record = TextRecord::default();
        let mut fault = None;
        for (key, value) in object {
            let Some(field) = Field::from_name(key) else {
                fault = Some(RowProblem::UnknownField(key.chars().take(40).collect()));
                break;
            };
            match value {
                Value::String(s) => record.set(field, Some(s)),
                Value::Null => record.set(field, None),
                _ => {
                    fault = Some(RecordError::NotAString(field).into());
                    break;
                }
            }
        }
        match fault.map_or_else(|| record.parse().map_err(RowProblem::from), Err) {
            Ok(r) => sink.valid.push((line, r)),
            Err(problem) => sink.reject(line, problem),
        }
    }
    Ok(())
}

/// The 1-based line on which each element of a top-level JSON array starts. `body` must
/// already have parsed as JSON.
fn element_lines(body: &[u8]) -> Vec<usize> {
    let mut lines = Vec::new();
    let (mut line, mut depth) = (1usize, 0usize);
    let (mut in_string, mut escaped, mut expect_element) = (false, false, false);
    for &b in body {
        if b == b'\n' {
            line += 1;
        }
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        if b.is_ascii_whitespace() {
            continue;
        }
        if depth == 1 && b == b',' {
            expect_element = true;
            continue;
        }
        if depth == 1 && expect_element && b != b']' {
            lines.push(line);
            expect_element = false;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth == 1 {
                    expect_element = true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_csv_fields() {
        let f = split_fields(r#" a , "b,""c""" ,, "" "#).unwrap();
        assert_eq!(f, ["a", "b,\"c\"", "", ""]);
        assert_eq!(split_fields("a,").unwrap(), ["a", ""]);
        assert_eq!(
            split_fields("\"a").unwrap_err(),
            "unterminated quoted field"
        );
        assert_eq!(
            split_fields("\"a\"b,c").unwrap_err(),
            "characters after a closing quote"
        );
        assert_eq!(
            split_fields("a\"b,c").unwrap_err(),
            "a quote inside an unquoted field"
        );
    }

    #[test]
    fn finds_element_lines() {
        let body = b"[\n {\"a\": \"x,]\\\"[\"},\n\n {\"b\": [1,\n 2]}, \"s\",\n 7\n]";
        assert!(serde_json::from_slice::<serde_json::Value>(body).is_ok());
        assert_eq!(element_lines(body), [2, 4, 5, 6]);
        assert_eq!(element_lines(b"[]"), Vec::<usize>::new());
        assert_eq!(element_lines(b"[[],{}]"), [1, 1]);
    }

    #[test]
    fn format_from_extension() {
        assert_eq!(Format::from_path(Path::new("a/b.CSV")), Some(Format::Csv));
        assert_eq!(Format::from_path(Path::new("b.json")), Some(Format::Json));
        assert_eq!(Format::from_path(Path::new("b.txt")), None);
        assert_eq!(Format::from_path(Path::new("csv")), None);
    }

    #[test]
    fn header_faults_reject_the_body() {
        let e = parse(
            b"\n\nmpxn,fuel,role,party,effective_from\n",
            Format::Csv,
            10,
        );
        assert!(
            matches!(&e, Err(IngestError::Header { line: 3, reason }) if reason.contains("effective_to")),
            "{e:?}"
        );
        let e = parse(
            b"mpxn,fuel,role,party,effective_from,effective_to,colour\n",
            Format::Csv,
            10,
        );
        assert!(matches!(e, Err(IngestError::Header { line: 1, .. })));
        assert!(matches!(
            parse(b"\n \n", Format::Csv, 10),
            Err(IngestError::Empty)
        ));
        assert!(matches!(
            parse(
                b"mpxn,fuel,role,party,effective_from,effective_to\n",
                Format::Csv,
                10
            ),
            Err(IngestError::Empty)
        ));
        assert!(matches!(
            parse(b"[]", Format::Json, 10),
            Err(IngestError::Empty)
        ));
        assert!(matches!(
            parse(b"{}", Format::Json, 10),
            Err(IngestError::NotAnArray)
        ));
        assert!(matches!(
            parse(b"[\n{\"mpxn\": }]", Format::Json, 10),
            Err(IngestError::Json { line: 2, .. })
        ));
    }
}
