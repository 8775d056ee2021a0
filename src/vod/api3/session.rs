//! The api3 session the flow keeps between calls (the resume token): the
//! temporary credential and its margin, and the checks made against COS
//! with it (expiry, a completed upload, the completion body).

use std::fmt;

use serde::{Deserialize, Serialize};

pub(super) use super::super::cos::{TempCred, now};

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
