//! The api3 session the flow keeps between calls (the resume token): the
//! temporary credential and its margin, and the checks made against COS
//! with it (expiry, a completed upload, the completion body).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::super::error::{VodError, VodErrorKind};

/// Unix seconds now.
pub(super) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A session's temporary credential (ApplyUpload's TempCertificate).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct TempCred {
    pub(super) secret_id: String,
    pub(super) secret_key: String,
    pub(super) token: String,
    /// Unix seconds.
    pub(super) expired_time: u64,
    /// When it was received (Unix seconds): its lifetime sets the margin.
    pub(super) issued: u64,
}

impl TempCred {
    /// How long before expiry the credential is no longer used: a tenth
    /// of its lifetime, between 1 s and 60 s.
    pub(super) fn margin(&self) -> u64 {
        (self.expired_time.saturating_sub(self.issued) / 10).clamp(1, 60)
    }

    /// Whether a request may still start with it at `now`.
    pub(super) fn usable(&self, now: u64) -> bool {
        now + self.margin() < self.expired_time
    }
}

/// What the flow keeps between calls (the session token).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Token {
    pub(super) session_key: String,
    /// `<StorageBucket>.cos.<StorageRegion>.myqcloud.com`
    pub(super) cos_host: String,
    /// MediaStoragePath, with its leading `/`.
    pub(super) key: String,
    /// `None`: the file is one PUT Object (one part or none).
    pub(super) upload_id: Option<String>,
    /// `None`: the service gave no credential; the account's key is used.
    pub(super) cred: Option<TempCred>,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("cos_host", &self.cos_host)
            .field("key", &self.key)
            .field("upload_id", &self.upload_id)
            .finish_non_exhaustive()
    }
}

/// COS refused the session's credential because it ran out: by the
/// service's word (`ExpiredToken`, whatever the local clock says), or any
/// 403 once the local clock says it has.
pub(super) fn credential_ran_out(e: &VodError, c: &TempCred) -> bool {
    match &e.kind {
        VodErrorKind::Rest {
            status: 403, code, ..
        } => code == "ExpiredToken" || !c.usable(now()),
        _ => false,
    }
}

/// COS refused a request because the multipart upload is gone (completed).
pub(super) fn no_such_upload(e: &VodError) -> bool {
    matches!(&e.kind, VodErrorKind::Rest { status: 404, code, .. } if code == "NoSuchUpload")
}
