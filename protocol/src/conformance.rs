//! Locating the shared conformance corpus (RTDS GBCS files, DUIS schema and vectors, SMKI keys).
//!
//! The corpus is never copied into the project. Tests, benchmarks and tools find it at
//! `$HUBGATE_CONFORMANCE`, or else at `../shared/conformance` relative to the workspace root.

use std::path::{Path, PathBuf};

/// Environment variable that overrides where the conformance corpus lives.
pub const ENV_VAR: &str = "HUBGATE_CONFORMANCE";

/// The conformance root, if it exists.
///
/// Looks at `$HUBGATE_CONFORMANCE` first, then at `shared/conformance` beside the workspace
/// (the workspace root is found from this crate's manifest directory at build time, and from
/// the current directory at run time).
pub fn root() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(ENV_VAR) {
        let p = PathBuf::from(p);
        return p.is_dir().then(|| p.canonicalize().unwrap_or(p));
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut candidates = vec![manifest.join("../../shared/conformance")];
    if let Ok(cwd) = std::env::current_dir() {
        candidates.push(cwd.join("../shared/conformance"));
        candidates.push(cwd.join("../../shared/conformance"));
    }
    candidates
        .into_iter()
        .find(|p| p.is_dir())
        .map(|p| p.canonicalize().unwrap_or(p))
}

/// The conformance root, or a panic with a clear message saying how to provide it.
///
/// For tests and benchmarks only: they cannot run without the corpus, and must say so loudly.
#[allow(clippy::panic)]
pub fn require() -> PathBuf {
    match root() {
        Some(p) => p,
        None => panic!(
            "the shared conformance corpus is missing: expected ../shared/conformance beside the \
             workspace, or set {ENV_VAR} to its path"
        ),
    }
}

/// The RTDS GBCS files (`gbcs/rtds/<SRV>_<UseCase>/*.HEX`), sorted by path.
pub fn rtds_files(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(root.join("gbcs/rtds"))? {
        let dir = dir?.path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir)? {
            let f = f?.path();
            if f.extension().is_some_and(|e| e.eq_ignore_ascii_case("hex")) {
                out.push(f);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The path of an RTDS file relative to `gbcs/rtds`, with `/` separators: the key of
/// `expected.csv`.
pub fn rtds_key(root: &Path, file: &Path) -> String {
    let base = root.join("gbcs/rtds");
    file.strip_prefix(&base)
        .unwrap_or(file)
        .to_string_lossy()
        .replace('\\', "/")
}

/// One row of `gbcs/expected.csv`: the independent oracle's verdicts for one RTDS file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedRow {
    /// Path relative to `gbcs/rtds`.
    pub path: String,
    /// `COMMAND`, `PRECOMMAND`, `RESPONSE` or `ALERT`.
    pub kind: String,
    /// `command`, `response` or `alert`.
    pub cra: String,
    /// Four upper-case hex digits.
    pub message_code: String,
    /// 16 lower-case hex digits.
    pub originator: String,
    /// 16 lower-case hex digits.
    pub recipient: String,
    /// `verified`, `failed`, `no-key`, `null` or `absent`.
    pub signature_result: String,
    /// The certificate that verified the signature.
    pub signer_cert: String,
    /// `valid`, `invalid`, `no-key` or `none`.
    pub mac_result: String,
    /// `private-key x public-key` labels.
    pub mac_key_pair: String,
    /// Encrypted blocks the oracle decrypted.
    pub decrypted_blocks: usize,
    /// Free text.
    pub note: String,
}

/// Reads `gbcs/expected.csv`, keyed by path.
pub fn expected(root: &Path) -> std::io::Result<std::collections::BTreeMap<String, ExpectedRow>> {
    let bad = |line: usize, what: &str| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("expected.csv line {line}: {what}"),
        )
    };
    let text = std::fs::read_to_string(root.join("gbcs/expected.csv"))?;
    let mut out = std::collections::BTreeMap::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.is_empty() {
            continue;
        }
        // The last column (note) may itself contain commas.
        let c: Vec<&str> = line.splitn(12, ',').collect();
        if c.len() != 12 {
            return Err(bad(i + 1, "fewer than 12 columns"));
        }
        let row = ExpectedRow {
            path: c[0].to_string(),
            kind: c[1].to_string(),
            cra: c[2].to_string(),
            message_code: c[3].to_string(),
            originator: c[4].to_string(),
            recipient: c[5].to_string(),
            signature_result: c[6].to_string(),
            signer_cert: c[7].to_string(),
            mac_result: c[8].to_string(),
            mac_key_pair: c[9].to_string(),
            decrypted_blocks: c[10]
                .parse()
                .map_err(|_| bad(i + 1, "decrypted_blocks is not a number"))?,
            note: c[11].to_string(),
        };
        out.insert(row.path.clone(), row);
    }
    Ok(out)
}
