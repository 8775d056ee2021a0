//! Where the mount's account and defaults come from: command-line flags and
//! environment (`VODFS_SECRET_ID`, `VODFS_SECRET_KEY`), then
//! `$XDG_CONFIG_HOME/vodfs/config.toml` (default `~/.config/vodfs/config.toml`).
//!
//! The config file holds a secret, so it is refused when group or others can
//! read it, like ssh refuses a private key. Secrets are kept in [`Secret`],
//! whose `Debug` and `Display` never show the value.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "config file {path}: readable by group or others (mode {mode:o}); run: chmod 600 {path}"
    )]
    TooOpen { path: String, mode: u32 },
    #[error("config file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error(
        "no credentials: set VODFS_SECRET_ID and VODFS_SECRET_KEY, or secret_id/secret_key in {0}"
    )]
    NoCredentials(String),
}

/// A secret string: shown as `***` in every `Debug`/`Display`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The value, for signing only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The contents of `config.toml`; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub secret_id: Option<String>,
    pub secret_key: Option<Secret>,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// The VOD sub-application id (api3's SubAppId).
    pub sub_app_id: Option<u64>,
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// The account a mount signs with: the protocol clients' own type.
pub use crate::vod::Credentials;

/// Default path of the config file.
pub fn default_config_path() -> PathBuf {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("/etc"));
    base.join("vodfs").join("config.toml")
}

/// Default cache directory: `$XDG_CACHE_HOME/vodfs` or `~/.cache/vodfs`.
pub fn default_cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/var/cache"))
        .join("vodfs")
}

/// Loads `path` if it exists; a missing file is an empty config.
pub fn load_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let shown = path.display().to_string();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileConfig::default()),
        Err(source) => {
            return Err(ConfigError::Read {
                path: shown,
                source,
            });
        }
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(ConfigError::TooOpen { path: shown, mode });
    }
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: shown.clone(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: shown,
        // toml's message quotes the offending line; never echo a secret.
        message: e.message().to_string(),
    })
}

/// Resolves credentials: flags/env first, then the config file.
pub fn resolve_credentials(
    flag_id: Option<&str>,
    flag_key: Option<&str>,
    file: &FileConfig,
    config_path: &Path,
) -> Result<Credentials, ConfigError> {
    let id = flag_id
        .map(str::to_string)
        .or_else(|| file.secret_id.clone());
    let key = flag_key
        .map(Secret::new)
        .or_else(|| file.secret_key.clone());
    match (id, key) {
        (Some(secret_id), Some(secret_key)) if !secret_id.is_empty() => {
            Ok(Credentials::new(secret_id, secret_key.expose()))
        }
        _ => Err(ConfigError::NoCredentials(
            config_path.display().to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, mode: u32, text: &str) -> PathBuf {
        let p = dir.join("config.toml");
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn private_file_loads() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            0o600,
            "secret_id = \"AKID1\"\nsecret_key = \"k3y\"\n",
        );
        let f = load_file(&p).unwrap();
        let c = resolve_credentials(None, None, &f, &p).unwrap();
        assert_eq!(c.secret_id, "AKID1");
        assert_eq!(c.secret_key(), "k3y");
        assert!(!format!("{c:?}").contains("k3y"));
    }

    #[test]
    fn the_readme_cloud_config_loads() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            0o600,
            "secret_id = \"AKID1\"\nsecret_key = \"k\"\nendpoint = \"https://vod.tencentcloudapi.com\"\nregion = \"ap-guangzhou\"\nsub_app_id = 1500000001\n",
        );
        let f = load_file(&p).unwrap();
        assert_eq!(
            f.endpoint.as_deref(),
            Some("https://vod.tencentcloudapi.com")
        );
        assert_eq!(f.region.as_deref(), Some("ap-guangzhou"));
        assert_eq!(f.sub_app_id, Some(1_500_000_001));
    }

    #[test]
    fn readable_file_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), 0o644, "secret_key = \"k3y\"\n");
        let e = load_file(&p).unwrap_err();
        assert!(matches!(e, ConfigError::TooOpen { mode: 0o644, .. }), "{e}");
        assert!(!e.to_string().contains("k3y"));
    }

    #[test]
    fn flags_win_and_missing_is_clear() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            0o600,
            "secret_id = \"file\"\nsecret_key = \"fk\"\n",
        );
        let f = load_file(&p).unwrap();
        let c = resolve_credentials(Some("flag"), Some("k"), &f, &p).unwrap();
        assert_eq!(c.secret_id, "flag");
        let e = resolve_credentials(None, None, &FileConfig::default(), &p).unwrap_err();
        assert!(e.to_string().contains("VODFS_SECRET_ID"));
    }

    #[test]
    fn bad_toml_does_not_echo_secret() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), 0o600, "secret_key = \"sup3rsecret\nbroken");
        let e = load_file(&p).unwrap_err();
        assert!(!e.to_string().contains("sup3rsecret"), "{e}");
    }

    #[test]
    fn missing_file_is_empty() {
        let d = tempfile::tempdir().unwrap();
        let f = load_file(&d.path().join("nope.toml")).unwrap();
        assert!(f.secret_id.is_none());
    }
}
