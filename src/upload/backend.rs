//! The interfaces the filesystem calls downwards into the upload side:
//! [`Backend`] (when to commit a file) and [`RemoteRead`] (the bytes of a
//! committed file whose content left the cache).
//!
//! They live here, not in `crate::fs`, so that the filesystem imports the
//! upload side and never the other way round: `upload::committer`
//! implements [`Backend`], `vod`'s [`PlaybackReader`] implements
//! [`RemoteRead`]; tests of `crate::fs` use fakes (`fs::testing`).
//!
//! The filesystem decides *when* a file is committed (last close, rename of a
//! temp file to its final name, fsync); the backend decides *how* (protocol,
//! retries, pacing) and records the outcome (state, progress, fileId, url,
//! error) in the cache, where the filesystem reads it back for xattrs.

use std::time::Duration;

use futures::future::BoxFuture;

use crate::vod::playback::PlaybackReader;

/// Why a commit did not happen. The detailed state is already recorded in
/// the cache (`user.vod.error`) by the time this is returned.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{message}")]
pub struct CommitError {
    pub message: String,
    /// The waiter gave up while the upload goes on (it waits for the
    /// service past `--retry-for`): nothing logged it for this file yet.
    pub still_waiting: bool,
}

impl CommitError {
    pub fn new(message: impl Into<String>) -> Self {
        CommitError {
            message: message.into(),
            still_waiting: false,
        }
    }
}

/// What the filesystem asks of the commit scheduler.
pub trait Backend: Send + Sync + 'static {
    /// Commit content version `version` of file `ino` now; resolves when the
    /// media is committed or the commit failed for good. Joining a commit of
    /// the same (ino, version) already under way is allowed and shares it.
    fn commit(&self, ino: u64, version: u64) -> BoxFuture<'static, Result<(), CommitError>>;

    /// Write-back mode: commit (ino, version) once `quiet` has passed without
    /// another call for the same inode (each call restarts the timer).
    fn commit_after(&self, ino: u64, version: u64, quiet: Duration);

    /// Resolves when no commit of `ino` is scheduled or under way; with the
    /// outcome of the last one (fsync in write-back mode, `vodfs wait`).
    fn wait(&self, ino: u64) -> BoxFuture<'static, Result<(), CommitError>>;

    /// The file was unlinked or its content replaced: cancel a scheduled or
    /// running upload of `ino`.
    fn cancel(&self, ino: u64);

    /// Ends the waits of uploads waiting for the service: their calls try
    /// again now (`vodfs retry` on a waiting file).
    fn retry_now(&self) {}

    /// True when parts of a file being written may go up before its close
    /// (`upload::early`): the filesystem then reports sealed parts.
    fn early_parts(&self) -> bool {
        false
    }

    /// Part `index` of version `version` of `ino`, being written, is sealed
    /// with this MD5 (told once, from a hashing thread: keep it quick).
    fn part_sealed(&self, _ino: u64, _version: u64, _index: u64, _md5: [u8; 16]) {}

    /// Bytes `[offset, offset + len)` of version `version` of `ino` were
    /// written (told only when [`Backend::early_parts`]; keep it quick).
    fn written(&self, _ino: u64, _version: u64, _offset: u64, _len: u64) {}

    /// Version `version` of `ino` was cut to `size` bytes (as `written`).
    fn truncated(&self, _ino: u64, _version: u64, _size: u64) {}

    /// `ino` got another name (a rename): a session started under its old
    /// name is aborted when the new one is temporary or another media name.
    fn renamed(&self, _ino: u64) {}

    /// `ino` lost its last name: whatever went up before its close is
    /// aborted.
    fn removed(&self, _ino: u64) {}
}

/// Why a remote read failed: the URL and the cause, in one message.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct RemoteReadError(pub String);

/// Reads of committed content no longer in the cache.
pub trait RemoteRead: Send + Sync + 'static {
    /// Reads `len` bytes at `offset` of a committed media from its playback
    /// URL.
    fn read_remote(
        &self,
        url: &str,
        offset: u64,
        len: u32,
    ) -> BoxFuture<'static, Result<Vec<u8>, RemoteReadError>>;
}

/// Range requests over the playback URL (the mount's HTTP client).
impl RemoteRead for PlaybackReader {
    fn read_remote(
        &self,
        url: &str,
        offset: u64,
        len: u32,
    ) -> BoxFuture<'static, Result<Vec<u8>, RemoteReadError>> {
        let reader = self.clone();
        let url = url.to_string();
        Box::pin(async move {
            reader
                .read(&url, offset, len)
                .await
                .map(|b| b.to_vec())
                .map_err(|e| RemoteReadError(format!("reading {url}: {e}")))
        })
    }
}
