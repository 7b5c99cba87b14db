//! Locating the shared conformance corpus (RTDS GBCS files, DUIS schema and vectors, SMKI keys).
//!
//! The corpus is never copied into the project. Tests, benchmarks and tools find it at
//! `$HUBGATE_CONFORMANCE`, or else at `../shared/conformance` relative to the workspace root.

use std::path::PathBuf;

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
