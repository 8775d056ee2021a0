//! Files whose writer never closed them: the mount was killed (or crashed)
//! while a `cp` was writing. Their bytes are in the cache but may be
//! truncated, so they are never committed silently.
//!
//! Design decisions:
//! - Found once, at mount start ([`Fs::find_interrupted`], from
//!   `resume_pending`): at that moment no process can have a file open, so
//!   every linked file whose current version was never sealed lost its
//!   last close. The set lives in memory; the next mount finds the same
//!   files again from the cache, so nothing needs storing.
//! - The size is what the data file holds (sizes are persisted at close,
//!   so the stored one may lag the bytes the writer got in).
//! - Not one whose write-back close came (`closed_version` in the cache:
//!   its size was persisted with the mark and nothing wrote after it): only
//!   the RELEASE that seals it was lost, so it is sealed and committed as
//!   the close left it.
//! - Such a file shows `user.vod.state` = `interrupted` with the reason and
//!   the way forward in `user.vod.error`; `vodfs wait` fails on it at once
//!   and `vodfs status` lists it. Writing it again (a new `cp`) makes it an
//!   ordinary file; `vodfs retry` / `setfattr -n user.vod.retry` commits it
//!   as it is.

use super::error::FsError;
use super::filesystem::Fs;
use super::io::seal;
use super::reply::Reply;
use crate::cache::{SetAttr, UploadRow, UploadState, UploadStatus};

/// `user.vod.error` of an interrupted file.
pub const INTERRUPTED_ERROR: &str = "the writer did not finish: the mount stopped while the file was open for writing, so it may be truncated and was not committed; copy the file again, or run `vodfs retry FILE` (setfattr -n user.vod.retry -v 1 FILE) to commit it as it is";

impl Fs {
    /// Records every file whose last close never came (see the module
    /// documentation); returns how many. Called once at mount start.
    pub fn find_interrupted(&self) -> Result<usize, FsError> {
        let mut found = Vec::new();
        for u in self.cache.unsealed_files()? {
            let on_disk = std::fs::metadata(self.cache.data_path(u.ino, u.version))
                .map(|m| m.len())
                .unwrap_or(0);
            let size = u.size.max(on_disk);
            if size == 0 {
                continue;
            }
            if u.closed && on_disk == u.size && !self.has_temp_name(u.ino)? {
                // A write-back close came and nothing wrote after it: only
                // its RELEASE (the seal) was lost with the mount.
                tracing::info!(
                    file = %self.cache.display_path(u.ino),
                    size,
                    "closed before the mount stopped: committing it"
                );
                // Sealed here; `resume_pending` schedules its commit with
                // the other pending uploads.
                let live = self.live(u.ino)?;
                let mut g = live.lock();
                g.dirty = true;
                seal(&self.cache, u.ino, &mut g)?;
                drop(g);
                self.drop_if_idle(u.ino);
                continue;
            }
            if size != u.size {
                self.cache.set_attr(
                    u.ino,
                    SetAttr {
                        size: Some(size),
                        ..SetAttr::default()
                    },
                )?;
            }
            tracing::warn!(
                file = %self.cache.display_path(u.ino),
                size,
                "not committed: {INTERRUPTED_ERROR}"
            );
            found.push((u.ino, u.version));
        }
        let n = found.len();
        self.interrupted().extend(found);
        Ok(n)
    }

    fn interrupted(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<u64, u64>> {
        self.interrupted.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The status shown for `ino` at `version` when it is an interrupted
    /// file nobody has written since.
    pub(super) fn interrupted_status(
        &self,
        ino: u64,
        version: u64,
        dirty: bool,
    ) -> Option<UploadRow> {
        if dirty || self.interrupted().get(&ino) != Some(&version) {
            return None;
        }
        Some(UploadRow {
            status: UploadStatus {
                state: UploadState::Interrupted,
                parts_done: 0,
                parts_total: 0,
                bytes_done: 0,
                bytes_total: 0,
                error: Some(INTERRUPTED_ERROR.to_string()),
                waiting: None,
            },
            file_id: None,
            url: None,
            sha1: None,
            service_name: None,
            cover_url: None,
        })
    }

    /// `vodfs retry` of an interrupted file: commit it as it is.
    pub(super) fn commit_interrupted(&self, ino: u64) -> Result<(), FsError> {
        let live = self.live(ino)?;
        live.lock().dirty = true;
        self.interrupted().remove(&ino);
        tracing::info!(file = %self.cache.display_path(ino), "committing an interrupted file as it is (vodfs retry)");
        // Without waiting, sealing answers at once and the commit runs in
        // the background (`vodfs retry` then waits for it).
        match self.finish_content(ino, false) {
            Reply::Now(r) => r,
            Reply::Later(fut) => {
                self.runtime.spawn(async move {
                    if let Err(e) = fut.await {
                        tracing::warn!(ino, "committing an interrupted file failed: {e}");
                    }
                });
                Ok(())
            }
        }
    }
}
