//! The HTTP clients' TLS trust: the system's roots, plus the CA
//! certificates the user names (`--ca-file`), for every request the mount
//! makes (API calls, object storage, playback reads).
//!
//! The cloud is https only; a company proxy or a test endpoint may present
//! a certificate from a private CA. Two ways to trust one:
//! - `--ca-file PEM` (or `-o ca_file=`): its certificates are trusted *in
//!   addition to* the system's ([`add_ca_file`], once at start);
//! - the usual `SSL_CERT_FILE` / `SSL_CERT_DIR` environment variables,
//!   which OpenSSL (native-tls on Linux) reads in place of the system
//!   bundle.
//!
//! The extra roots are process-wide, like the environment variables: they
//! are set once, before any client is built, and every client is built by
//! [`client_builder`]. Imports nothing of the crate.

use std::path::Path;
use std::sync::OnceLock;

/// Roots added by [`add_ca_file`].
static EXTRA_ROOTS: OnceLock<Vec<reqwest::Certificate>> = OnceLock::new();

/// Why a CA file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("--ca-file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("--ca-file {path}: not a PEM certificate bundle: {message}")]
    NotPem { path: String, message: String },
    #[error("--ca-file {path}: no certificate in it")]
    Empty { path: String },
    #[error("the extra CA certificates are set once, at start")]
    AlreadySet,
}

/// Trusts the certificates of the PEM bundle at `path` besides the
/// system's. Call once, before building clients.
pub fn add_ca_file(path: &Path) -> Result<usize, TlsError> {
    let shown = path.display().to_string();
    let pem = std::fs::read(path).map_err(|source| TlsError::Read {
        path: shown.clone(),
        source,
    })?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| TlsError::NotPem {
        path: shown.clone(),
        message: crate::report::chain(&e),
    })?;
    if certs.is_empty() {
        return Err(TlsError::Empty { path: shown });
    }
    let n = certs.len();
    EXTRA_ROOTS.set(certs).map_err(|_| TlsError::AlreadySet)?;
    Ok(n)
}

/// A client builder that trusts the extra roots; every HTTP client of the
/// mount starts here.
pub fn client_builder() -> reqwest::ClientBuilder {
    let mut b = reqwest::Client::builder();
    for c in EXTRA_ROOTS.get().into_iter().flatten() {
        b = b.add_root_certificate(c.clone());
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_not_pem_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        std::fs::write(&p, b"not a certificate").unwrap();
        let e = add_ca_file(&p).unwrap_err().to_string();
        assert!(e.contains("ca.pem"), "{e}");
        let e = add_ca_file(&dir.path().join("missing.pem"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.pem"), "{e}");
        assert!(EXTRA_ROOTS.get().is_none());
    }
}
