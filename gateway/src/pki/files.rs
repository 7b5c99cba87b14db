//! Reading and writing the PKI's files: whole-file replacement through a temporary file and a
//! rename, and private keys readable by their owner only.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::PkiError;

/// Files larger than this are not key material; refuse to read them whole.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Writes `contents` to `path` (creating its folder), replacing any previous file in one
/// step. With `private`, the file is created with mode 0600 where the platform has modes.
pub fn write(path: &Path, contents: &[u8], private: bool) -> Result<(), PkiError> {
    let io = |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = temporary_name(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(&tmp).map_err(io)?;
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io)
}

/// Reads a file of key material (at most 1 MiB).
pub fn read(path: &Path) -> Result<Vec<u8>, PkiError> {
    let io = |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_FILE_BYTES {
        return Err(PkiError::InvalidFile {
            path: path.to_path_buf(),
            reason: format!("{len} bytes is too large for key material"),
        });
    }
    std::fs::read(path).map_err(io)
}

fn temporary_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_and_keys_are_private() {
        let dir = std::env::temp_dir().join(format!("hubgate-files-{}", std::process::id()));
        let path = dir.join("a/b/key.pem");
        write(&path, b"one", true).unwrap();
        write(&path, b"two", true).unwrap();
        assert_eq!(read(&path).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!dir.join("a/b/key.pem.tmp").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
