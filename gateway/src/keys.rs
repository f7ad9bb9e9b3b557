//! Key files on disk: the base64 of a 32-byte secret (an ed25519 seed, or the owner's
//! secret for the `hash` mask). A key never reaches a log or an error message; errors
//! name the file only.

use std::path::Path;

use base64::Engine as _;

use crate::error::{GatewayError, Result};

/// Reads a key file.
pub fn read_key_file(path: &Path) -> Result<[u8; 32]> {
    let bad = |message: String| GatewayError::KeyFile {
        file: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .ok_or_else(|| bad("not the base64 of a 32-byte key".into()))
}

/// Writes a key file for `secret`, readable by its owner only.
pub fn write_key_file(path: &Path, secret: &[u8; 32]) -> Result<()> {
    let text = format!(
        "{}\n",
        base64::engine::general_purpose::STANDARD.encode(secret)
    );
    write_private(path, text.as_bytes())
}

/// Writes a secret file that only its owner can read: created with mode 0600, so the
/// secret is never readable by others, not even for a moment.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let bad = |e: std::io::Error| GatewayError::KeyFile {
        file: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(bad)?;
    file.write_all(bytes).map_err(bad)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(bad)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn key_files_round_trip_privately_and_bad_ones_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.key");
        write_key_file(&path, &[7; 32]).unwrap();
        assert_eq!(read_key_file(&path).unwrap(), [7; 32]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "c2hvcnQ=\n").unwrap();
        let e = read_key_file(&path).unwrap_err().to_string();
        assert!(e.contains("a.key") && !e.contains("c2hvcnQ"), "{e}");
    }
}
