//! The family D session the flow keeps between calls (the resume token the
//! cache holds): the vodSessionKey, where the object goes, the multipart
//! upload, the temporary credential and the signature terms, plus what a
//! signer must be told again for the later calls.

use std::fmt;

use serde::{Deserialize, Serialize};

pub(super) use super::super::cos::{TempCred, is_no_such_upload as no_such_upload, now};
use super::super::error::{VodError, VodErrorKind};
use super::super::flow::UploadSettings;

/// How long a client-upload session lives at the service (one day, the
/// documented resume window).
pub(super) const SESSION_LIFETIME: u64 = 24 * 3600;

/// What the signer is told for every call of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct FileFacts {
    pub(super) file_name: String,
    pub(super) file_type: String,
    pub(super) file_sha: String,
    pub(super) file_size: u64,
    /// The settings the signature carries (classId, procedure, sourceContext).
    pub(super) settings: UploadSettings,
}

/// The session token of the `ugc` flow.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Token {
    pub(super) session_key: String,
    /// `<storageBucket>-<storageAppId>.cos.<storageRegionV5>.myqcloud.com`
    pub(super) cos_host: String,
    /// video.storagePath, with its leading `/`.
    pub(super) key: String,
    /// `None`: the file is one PUT Object (one part or none).
    pub(super) upload_id: Option<String>,
    pub(super) cred: TempCred,
    /// When the session was applied for (Unix seconds): it lives a day.
    pub(super) applied: u64,
    /// A signature the later calls may reuse (not one-time, not expiring);
    /// `None`: ask the signer for each call.
    pub(super) signature: Option<String>,
    pub(super) facts: FileFacts,
}

impl Token {
    pub(super) fn read(token: Option<&str>, action: &'static str) -> Result<Token, VodError> {
        token
            .and_then(|t| serde_json::from_str(t).ok())
            .ok_or_else(|| VodError::new(action, VodErrorKind::Request("no ugc session".into())))
    }

    pub(super) fn write(&self, action: &'static str) -> Result<String, VodError> {
        serde_json::to_string(self)
            .map_err(|e| VodError::new(action, VodErrorKind::Request(e.to_string())))
    }

    /// Whether the service still keeps the session at `now` (a minute's
    /// margin).
    pub(super) fn alive(&self, now: u64) -> bool {
        now + 60 < self.applied + SESSION_LIFETIME
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("cos_host", &self.cos_host)
            .field("key", &self.key)
            .field("upload_id", &self.upload_id)
            .field("applied", &self.applied)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_lives_a_day_and_a_credential_its_margin_less() {
        let cred = TempCred {
            secret_id: "id".into(),
            secret_key: "k".into(),
            token: "t".into(),
            expired_time: 1000 + 1800,
            issued: 1000,
        };
        assert!(cred.usable(1000 + 1739));
        assert!(!cred.usable(1000 + 1740));
        let tok = Token {
            session_key: "s".into(),
            cos_host: "h".into(),
            key: "/k".into(),
            upload_id: None,
            cred,
            applied: 5000,
            signature: None,
            facts: FileFacts {
                file_name: "a".into(),
                file_type: "mp4".into(),
                file_sha: String::new(),
                file_size: 1,
                settings: UploadSettings::default(),
            },
        };
        assert!(tok.alive(5000 + SESSION_LIFETIME - 61));
        assert!(!tok.alive(5000 + SESSION_LIFETIME - 60));
        let text = tok.write("X").unwrap();
        assert_eq!(Token::read(Some(&text), "X").unwrap(), tok);
        assert!(!format!("{tok:?}").contains("\"k\""));
        // A family B token (a bare signature) is not a ugc session.
        assert!(Token::read(Some("c2lnbmF0dXJl"), "X").is_err());
    }
}
