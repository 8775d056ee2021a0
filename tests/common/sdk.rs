//! Where the official Python SDKs live for the tests: the virtual
//! environment `scripts/install-sdks` makes from pinned versions
//! (`tests/sdk/requirements.txt`, `requirements-nodeps.txt`) in
//! `${XDG_CACHE_HOME:-~/.cache}/vodfs/sdk-venv-<hash of the requirements>`,
//! or `VODFS_SDK_VENV`. A test that needs it and finds it absent says so
//! and is skipped, unless `VODFS_REQUIRE_SDKS` is set (`.ci/run` sets it):
//! then it fails.

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// `tests/sdk`: the SDK scripts and the requirements.
pub fn sdk_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk")
}

/// The venv `scripts/install-sdks` makes (the same hash it computes).
fn venv() -> PathBuf {
    if let Some(v) = std::env::var_os("VODFS_SDK_VENV") {
        return PathBuf::from(v);
    }
    let mut h = Sha256::new();
    for f in ["requirements.txt", "requirements-nodeps.txt"] {
        h.update(std::fs::read(sdk_dir().join(f)).expect("requirements file"));
    }
    let hash = hex::encode(h.finalize());
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
        });
    cache
        .join("vodfs")
        .join(format!("sdk-venv-{}", &hash[..16]))
}

/// The venv's python, or None (the caller skips its test) when it is absent
/// and not required.
pub fn sdk_python() -> Option<PathBuf> {
    let v = venv();
    let py = v.join("bin/python");
    if py.exists() && v.join(".complete").exists() {
        return Some(py);
    }
    if std::env::var_os("VODFS_REQUIRE_SDKS").is_some() {
        panic!(
            "VODFS_REQUIRE_SDKS is set but the SDK environment {} is missing: run scripts/install-sdks",
            v.display()
        );
    }
    eprintln!(
        "SKIPPED: the official SDKs are not installed ({} is missing); run scripts/install-sdks, \
         or set VODFS_REQUIRE_SDKS=1 to make this a failure",
        v.display()
    );
    None
}
