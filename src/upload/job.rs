//! What the pipeline is given and what it hands back: the job, the phases
//! and progress an observer hears, and the committed media.

use std::ffi::OsStr;

use crate::vod::{UploadSettings, names};

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
    /// Parts in flight at once (clamped to 1..=`pipeline::MAX_PARALLEL_PARTS`).
    pub parallel_parts: usize,
    pub settings: UploadSettings,
    /// A token an earlier attempt handed to [`Observer::resume_token`].
    pub resume_token: Option<String>,
}

/// Parts of one file in flight unless told otherwise (`--parallel-parts`).
/// Over loopback a part's round trip is mostly the service's fixed cost per
/// part (its file, syncs and answer), so 4 in flight left both cores part
/// idle: 8 took the upload after the close from ~315 to ~420 MB/s and the
/// end-to-end rows 9–14 % faster (doc/bench.md, issue 16, seventh stop).
/// Memory: 8 MiB of part buffers per file in 1 MiB parts; a grown layout
/// keeps at most 64 base parts' worth in flight (`pipeline::parallel_for`).
pub const DEFAULT_PARALLEL_PARTS: usize = 8;

impl UploadJob {
    /// A job for a local file name with default part size (1 MiB) and
    /// parallelism ([`DEFAULT_PARALLEL_PARTS`]).
    pub fn for_file_name(file_name: &OsStr) -> Self {
        UploadJob {
            file_name: names::service_name(file_name),
            file_type: names::file_type(file_name),
            part_size: crate::vod::rules::parts::DEFAULT_PART_SIZE,
            parallel_parts: DEFAULT_PARALLEL_PARTS,
            settings: UploadSettings::default(),
            resume_token: None,
        }
    }
}

impl UploadJob {
    /// What a session started for this job depends on: the name, type,
    /// part size and settings sent at the start (the cover by its SHA-1).
    /// An early session (`upload::early`) is resumed by the commit only
    /// when the commit's job has the same fingerprint.
    pub fn fingerprint(&self) -> String {
        let settings = serde_json::to_string(&self.settings).unwrap_or_default();
        let cover = self.settings.cover.as_ref().map(|c| c.sha1_hex.as_str());
        format!(
            "{}\n{}\n{}\n{settings}\n{cover:?}",
            self.file_name, self.file_type, self.part_size
        )
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
    /// Resolves once the last resume token given is saved where a restart
    /// finds it; the pipeline waits for it before it commits, so a commit
    /// the service made is never lost with its session (flows without
    /// instant upload would upload the file again as a second media).
    fn token_saved(&self) -> futures::future::BoxFuture<'_, ()> {
        Box::pin(async {})
    }
    /// The upload waits for the service (`Some`: its last error, since when,
    /// the next try; repeated at every try) or waits no more (`None`).
    fn waiting(&self, _waiting: Option<&super::retry::Waiting>) {}
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
    /// Parts whose MD5 this call computed by reading and hashing them (a
    /// whole-file hash pass counts every part once): 0 when the source knew
    /// and verified every part's MD5 ([`super::PartSource::md5s_verified`]).
    pub parts_hashed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_from_a_file_name() {
        let j = UploadJob::for_file_name(OsStr::new("my: holiday.MP4"));
        assert_eq!(j.file_name, "my_ holiday");
        assert_eq!(j.file_type, "mp4");
        assert_eq!(j.part_size, 1_048_576);
    }
}
