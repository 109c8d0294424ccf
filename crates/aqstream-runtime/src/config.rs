//! Configuration files: TOML with strict keys.
//!
//! Every component's configuration is a struct with `#[serde(deny_unknown_fields)]`, a
//! doc comment on every field and a `Default` that works on one machine. Command-line
//! flags and `AQSTREAM_*` environment variables (through clap) override the file.

use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for the expected structure (unknown keys included).
    #[error("invalid config {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (names the key and line).
        message: String,
    },
}

/// Loads `T` from a TOML file, or `T::default()` when no file is given.
pub fn load<T: DeserializeOwned + Default>(path: Option<&Path>) -> Result<T, ConfigError> {
    let Some(path) = path else {
        return Ok(T::default());
    };
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Demo {
        /// A port.
        port: u16,
        /// A name.
        name: String,
    }

    #[test]
    fn loads_defaults_files_and_rejects_unknown_keys() {
        assert_eq!(load::<Demo>(None).unwrap(), Demo::default());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "port = 8080\n").unwrap();
        assert_eq!(load::<Demo>(Some(&p)).unwrap().port, 8080);
        std::fs::write(&p, "port = 8080\nprot = 1\n").unwrap();
        let e = load::<Demo>(Some(&p)).unwrap_err().to_string();
        assert!(e.contains("prot"), "{e}");
        assert!(load::<Demo>(Some(&dir.path().join("missing.toml"))).is_err());
    }
}
