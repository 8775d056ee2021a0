//! The error of an upload: which call failed and what the service said.

use crate::vod::{VodError, VodErrorKind};

/// Why an upload did not commit.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// A call other than a part upload failed (start, finish).
    #[error("{0}")]
    Service(VodError),
    /// A part upload failed for good.
    #[error("{action} (part {index} at offset {offset}): {kind}")]
    Part {
        action: &'static str,
        index: u64,
        offset: u64,
        kind: VodErrorKind,
    },
    #[error("reading the staged file at offset {offset}: {source}")]
    Source {
        offset: u64,
        #[source]
        source: std::io::Error,
    },
    /// The staged bytes are not those the hashes describe.
    #[error("staged file changed during upload: {0}")]
    SourceChanged(String),
    #[error("invalid upload job: {0}")]
    InvalidJob(String),
    #[error("upload cancelled")]
    Cancelled,
}

impl UploadError {
    /// The service error behind this failure, if any.
    pub fn vod_kind(&self) -> Option<&VodErrorKind> {
        match self {
            UploadError::Service(e) => Some(&e.kind),
            UploadError::Part { kind, .. } => Some(kind),
            _ => None,
        }
    }

    /// The session must be started over (its credential ran out).
    pub fn is_session_expired(&self) -> bool {
        matches!(self.vod_kind(), Some(VodErrorKind::SessionExpired(_)))
    }

    /// The service refused a part as larger than it takes (COS
    /// `EntityTooLarge`; `vodfs serve --max-body`).
    pub fn is_part_too_large(&self) -> bool {
        matches!(self.vod_kind(), Some(VodErrorKind::Rest { code, .. }) if code == "EntityTooLarge")
    }

    /// The service's code, if the service answered with one.
    pub fn code(&self) -> Option<i64> {
        match self.vod_kind() {
            Some(VodErrorKind::Service { code, .. }) => Some(*code),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_error_message_names_action_part_code_and_message() {
        let e = UploadError::Part {
            action: "UploadPart",
            index: 3,
            offset: 3_145_728,
            kind: VodErrorKind::Service {
                code: -10006,
                message: "invalid packet size".into(),
                code_desc: String::new(),
                can_retry: false,
            },
        };
        assert_eq!(
            e.to_string(),
            "UploadPart (part 3 at offset 3145728): service code -10006: invalid packet size"
        );
        assert_eq!(e.code(), Some(-10006));
    }
}
