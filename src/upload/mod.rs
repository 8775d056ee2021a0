//! The pipeline from a staged file to a committed media: hashing, part
//! scheduling, retries, pacing, resume.
//!
//! The driving API (called from `upload::committer`):
//! - a [`PartSource`] gives the file's bytes by range (blocking reads, run
//!   off the async threads) and, when the cache has them, precomputed hashes;
//! - an [`UploadJob`] says what to upload and how (service name, type, part
//!   size, parts in flight, settings, a saved resume token);
//! - an [`Observer`] hears the phase, the progress, and the resume token to
//!   save;
//! - [`Uploader::upload`] runs it all over one [`crate::vod::UploadFlow`] and
//!   returns [`Committed`] or an [`UploadError`] naming the action, the
//!   service code and message.
//!
//! Jobs: [`hash`] (SHA-1 and part MD5s in one pass), [`retry`] (backoff with
//! jitter), [`pace`] (per-Action rate limits), [`pipeline`] (the scheduler),
//! [`source`] (the byte source trait), [`fake`] (an in-memory service for
//! tests of whatever drives the pipeline).
//!
//! Driving it (what the committer does):
//!
//! ```text
//! let flow = Arc::new(V4Client::new(V4Config::new(endpoint), Credentials::new(id, key))?);
//! let uploader = Uploader::new(flow, UploaderConfig::default()); // one per mount
//! let job = UploadJob { part_size, parallel_parts, resume_token: saved,
//!                       ..UploadJob::for_file_name(final_name) };
//! let committed = uploader.upload(Arc::new(staged_file), &job, &observer, &cancel).await?;
//! ```
//!
//! The future is `Send + 'static` when its arguments are owned, so it can be
//! spawned; cancelling the token (unlink, new version) stops it promptly
//! with [`UploadError::Cancelled`] and leaves the service's partial upload
//! to be resumed by content hash.

pub mod commit_job;
pub mod committer;
pub mod fake;
pub mod hash;
pub mod object;
pub mod pace;
pub mod pipeline;
pub mod retry;
pub mod source;

use std::ffi::OsStr;

use crate::vod::{UploadSettings, VodError, VodErrorKind, names};

pub use pace::{PaceLimits, Pacer};
pub use pipeline::{Uploader, UploaderConfig};
pub use retry::RetryPolicy;
pub use source::{FileSource, MemorySource, PartSource};

/// What to upload and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadJob {
    /// The service fileName (see [`names::service_name`]).
    pub file_name: String,
    /// The service fileType (see [`names::file_type`]).
    pub file_type: String,
    /// Preferred part size (524288 or 1048576 for v4); the service may
    /// impose another when resuming.
    pub part_size: u32,
    /// Parts in flight at once (clamped to 1..=[`pipeline::MAX_PARALLEL_PARTS`]).
    pub parallel_parts: usize,
    pub settings: UploadSettings,
    /// A token an earlier attempt handed to [`Observer::resume_token`].
    pub resume_token: Option<String>,
}

impl UploadJob {
    /// A job for a local file name with default part size (1 MiB) and
    /// parallelism (4).
    pub fn for_file_name(file_name: &OsStr) -> Self {
        UploadJob {
            file_name: names::service_name(file_name),
            file_type: names::file_type(file_name),
            part_size: 1_048_576,
            parallel_parts: 4,
            settings: UploadSettings::default(),
            resume_token: None,
        }
    }
}

/// Where an upload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Hashing,
    Uploading,
    Committing,
}

/// Parts and bytes the service holds, of the total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    pub parts_done: u64,
    pub parts_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// Hears how an upload goes. Called from the upload's task; keep it quick
/// (record, don't do I/O that blocks for long).
pub trait Observer: Send + Sync {
    fn phase(&self, _phase: Phase) {}
    fn progress(&self, _progress: Progress) {}
    /// An opaque token to save and pass back as [`UploadJob::resume_token`]
    /// if this upload is interrupted.
    fn resume_token(&self, _token: &str) {}
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl Observer for NoObserver {}

/// A committed media.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub file_id: String,
    /// The playback URL; `None`: committed without one (frontwize's null
    /// PlayUrl), to be shown as such, not as an error.
    pub url: Option<String>,
    /// Lower-case hex SHA-1 of the content, as the service has it.
    pub sha1_hex: String,
    /// The cover's URL when a cover went with the upload (apply).
    pub cover_url: Option<String>,
    /// The service already had the content (instant upload).
    pub instant: bool,
    /// Parts and bytes actually sent by this call (resume sends fewer).
    pub parts_sent: u64,
    pub bytes_sent: u64,
}

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

    #[test]
    fn job_from_a_file_name() {
        let j = UploadJob::for_file_name(OsStr::new("my: holiday.MP4"));
        assert_eq!(j.file_name, "my_ holiday");
        assert_eq!(j.file_type, "mp4");
        assert_eq!(j.part_size, 1_048_576);
    }
}
