//! [`CacheCommitJob`]: what it holds, how it is built, and its face to the
//! scheduler (`upload::committer`'s `CommitJob`).

use std::sync::Arc;

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::cache::{Cache, CacheError};
use crate::upload::backend::CommitError;
use crate::upload::committer::{CommitJob, JobReport};
use crate::upload::pipeline::Uploader;
use crate::vod::UploadSettings;

/// Commits staged versions from a [`Cache`] with an [`Uploader`].
pub struct CacheCommitJob {
    pub(super) cache: Cache,
    pub(super) uploader: Uploader,
    pub(super) parallel_parts: usize,
    /// Upload settings where no directory sets them.
    pub(super) settings: UploadSettings,
}

impl CacheCommitJob {
    pub fn new(cache: Cache, uploader: Uploader, parallel_parts: usize) -> Self {
        CacheCommitJob {
            cache,
            uploader,
            parallel_parts: parallel_parts.max(1),
            settings: UploadSettings::default(),
        }
    }

    /// The staging store this job commits from.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The uploader this job commits with.
    pub fn uploader(&self) -> &Uploader {
        &self.uploader
    }

    /// The upload settings of files below no directory that sets them
    /// (the mount options).
    pub fn with_settings(mut self, defaults: UploadSettings) -> Self {
        self.settings = defaults;
        self
    }
}

/// Runs cache work off the async threads; a cache error becomes the
/// commit's error.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CacheError> + Send + 'static,
) -> Result<T, CommitError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CommitError::new(format!("cache task failed: {e}")))?
        .map_err(|e| CommitError::new(format!("cache: {e}")))
}

impl CommitJob for Arc<CacheCommitJob> {
    fn run(
        &self,
        ino: u64,
        version: u64,
        cancel: CancellationToken,
        report: JobReport,
    ) -> BoxFuture<'static, Result<(), CommitError>> {
        Box::pin(self.clone().commit(ino, version, cancel, report))
    }

    fn wake(&self) {
        self.uploader.health().wake();
    }

    /// One share for a version of one part (a small file), all for more
    /// or when the cache cannot tell.
    fn shares(&self, ino: u64, version: u64) -> u32 {
        match self.cache.upload(ino, version) {
            Ok(Some(u)) if u.status.parts_total <= 1 => 1,
            _ => crate::upload::committer::SHARES_PER_FILE,
        }
    }
}
